#!/usr/bin/python3
"""Writes an RT structure set of the chest phantom's two lungs (tests/tools/make_chest_phantom.py),
as another product would: pydicom, one ROI per lung ("Right lung", "Left lung", ORGAN), on every
slice the lung crosses a CLOSED_PLANAR contour of the ellipse the phantom's ellipsoid cuts there
(`--points` vertices), each naming its slice in a Contour Image Sequence. Prints one JSON object:
{"path", "sop_uid", "series_uid", "rois": [names]}.

  /usr/bin/python3 tests/tools/make_rtstruct.py --phantom-files F1,F2,... --out FILE [--points 96]
"""

import argparse
import datetime
import json
import math
import sys

import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
# The phantom's lungs: ((x - cx) / 40)^2 + (y / 55)^2 + (z / 100)^2 <= 1 (make_chest_phantom.py).
LUNGS = (("Right lung", -55.0, (255, 128, 128)), ("Left lung", 55.0, (128, 128, 255)))


def Ds(value):
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def Main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phantom-files", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--points", type=int, default=96)
    args = ap.parse_args(argv)
    slices = [pydicom.dcmread(p, stop_before_pixels=True) for p in args.phantom_files.split(",")]
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    first = slices[0]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_STRUCT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(args.out, {}, file_meta=meta, preamble=b"\0" * 128)
    now = datetime.datetime.now()
    ds.SOPClassUID = RT_STRUCT
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        setattr(ds, keyword, getattr(first, keyword, ""))
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 77
    ds.SeriesDescription = "Lungs from a planning system"
    ds.Manufacturer = "OtherVendor"
    ds.SoftwareVersions = "TPS 4.2"
    ds.StructureSetLabel = "LUNGS"
    ds.StructureSetDate = now.strftime("%Y%m%d")
    ds.StructureSetTime = now.strftime("%H%M%S")
    ds.InstanceNumber = 1
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.PositionReferenceIndicator = ""

    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    images = []
    for s in slices:
        item = Dataset()
        item.ReferencedSOPClassUID = s.SOPClassUID
        item.ReferencedSOPInstanceUID = s.SOPInstanceUID
        images.append(item)
    series.ContourImageSequence = Sequence(images)
    study.RTReferencedSeriesSequence = Sequence([series])
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])

    rois, contours, observations = [], [], []
    for number, (name, cx, colour) in enumerate(LUNGS, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        roi_contour.ROIDisplayColor = list(colour)
        items = []
        for s in slices:
            z = float(s.ImagePositionPatient[2])
            scale = 1.0 - (z / 100.0) ** 2
            if scale <= 0:
                continue
            a, b = 40.0 * math.sqrt(scale), 55.0 * math.sqrt(scale)
            data = []
            for p in range(args.points):
                t = 2.0 * math.pi * p / args.points
                data += [Ds(cx + a * math.cos(t)), Ds(b * math.sin(t)), Ds(z)]
            c = Dataset()
            image = Dataset()
            image.ReferencedSOPClassUID = s.SOPClassUID
            image.ReferencedSOPInstanceUID = s.SOPInstanceUID
            c.ContourImageSequence = Sequence([image])
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = args.points
            c.ContourData = data
            items.append(c)
        roi_contour.ContourSequence = Sequence(items)
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = "ORGAN"
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    pydicom.dcmwrite(args.out, ds, write_like_original=False)
    json.dump({"path": args.out, "sop_uid": ds.SOPInstanceUID, "series_uid": ds.SeriesInstanceUID,
               "rois": [name for name, _, _ in LUNGS]}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(Main(sys.argv[1:]))
