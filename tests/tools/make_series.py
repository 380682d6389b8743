#!/usr/bin/python3
"""Writes a synthetic single-series DICOM study for tests (run with /usr/bin/python3).

Each slice is a Part 10 file (file meta + Explicit VR Little Endian) with a realistic
CT/MR image header and non-trivial pixels: a body ellipse, "lungs", a sphere that moves
with the slice, a seeded noise field. Prints one JSON object on stdout:
{"study_uid", "series_uid", "sop_instance_uids", "files", "patient_name", "patient_id"}.

Example:
  /usr/bin/python3 tests/tools/make_series.py --out /tmp/s --slices 200 --rows 512 \
      --cols 512 --patient-name 'DOE^JOHN' --patient-id PID1 --study-date 20200115 \
      --modality CT --seed 7
"""

import argparse
import json
import os
import sys
import uuid

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

SOP_CLASS_BY_MODALITY = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
IMPLEMENTATION_CLASS_UID = "2.25.284374893047512003817311120473512733245"


def NewUid():
    return "2.25." + str(uuid.uuid4().int)


def ParseArgs(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--slices", type=int, required=True)
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--cols", type=int, default=512)
    p.add_argument("--patient-name", default="DOE^JOHN")
    p.add_argument("--patient-id", default="PID0001")
    p.add_argument("--study-date", default="20200115", help="YYYYMMDD")
    p.add_argument("--study-time", default="101500")
    p.add_argument("--modality", default="CT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--study-uid", default=None, help="add the series to this study")
    p.add_argument("--series-uid", default=None)
    p.add_argument("--series-number", type=int, default=1)
    p.add_argument("--study-description", default="SYNTHETIC CHEST")
    p.add_argument("--series-description", default=None)
    p.add_argument("--accession", default="ACC0001")
    p.add_argument("--birth-date", default="19600101")
    p.add_argument("--sex", default="O")
    p.add_argument("--prefix", default="slice", help="file name prefix")
    args = p.parse_args(argv)
    if args.slices < 1 or args.rows < 8 or args.cols < 8:
        p.error("need --slices >= 1 and --rows/--cols >= 8")
    if len(args.study_date) != 8 or not args.study_date.isdigit():
        p.error("--study-date must be YYYYMMDD")
    return args


def Phantom(rows, cols, slices, seed):
    """Returns a generator of int16 HU-like slices (stored value = HU + 1024)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2.0, cols / 2.0
    body = ((x - cx) / (0.45 * cols)) ** 2 + ((y - cy) / (0.35 * rows)) ** 2 <= 1.0
    lung_l = ((x - 0.33 * cols) / (0.1 * cols)) ** 2 + ((y - cy) / (0.2 * rows)) ** 2 <= 1.0
    lung_r = ((x - 0.67 * cols) / (0.1 * cols)) ** 2 + ((y - cy) / (0.2 * rows)) ** 2 <= 1.0
    base = np.full((rows, cols), -1000.0, dtype=np.float32)
    base[body] = 40.0
    base[lung_l | lung_r] = -850.0
    # Texture: a smooth gradient so no two columns are equal.
    base += (x / cols) * 30.0 - (y / rows) * 20.0
    # One noise field reused with a per-slice roll: fast and still slice-specific.
    noise = rng.normal(0.0, 15.0, size=(rows, cols)).astype(np.float32)
    radius = 0.08 * min(rows, cols)
    for k in range(slices):
        z = (k - slices / 2.0) / max(slices / 2.0, 1.0)
        r2 = max(radius * radius * (1.0 - z * z), 0.0)
        img = base + np.roll(noise, shift=(k * 7) % rows, axis=0)
        if r2 > 0:
            sphere = (x - 0.67 * cols) ** 2 + (y - cy) ** 2 <= r2
            img[sphere] = 60.0 + (5.0 * k) % 50
        img[k % rows, :] += 100.0  # a marker row that differs per slice
        stored = np.clip(img + 1024.0, 0, 4095).astype(np.int16)
        yield stored


def MakeSlice(args, uids, k, pixels):
    sop_uid = uids["sop"][k]
    sop_class = SOP_CLASS_BY_MODALITY.get(args.modality, SECONDARY_CAPTURE)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "VXGATE_TEST"

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.is_little_endian = True
    ds.is_implicit_VR = False

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = args.study_date
    ds.SeriesDate = args.study_date
    ds.ContentDate = args.study_date
    ds.StudyTime = args.study_time
    ds.SeriesTime = args.study_time
    ds.ContentTime = args.study_time
    ds.AccessionNumber = args.accession
    ds.Modality = args.modality
    ds.Manufacturer = "VOXELGATE TEST"
    ds.InstitutionName = "SYNTHETIC HOSPITAL"
    ds.ReferringPhysicianName = "REFERRER^ROBERT"
    ds.StudyDescription = args.study_description
    ds.SeriesDescription = args.series_description or f"SYNTHETIC {args.modality}"
    ds.ManufacturerModelName = "make_series.py"
    ds.PatientName = args.patient_name
    ds.PatientID = args.patient_id
    ds.PatientBirthDate = args.birth_date
    ds.PatientSex = args.sex
    ds.PatientAge = "060Y"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.25"
    if args.modality == "CT":
        ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.StudyID = "1"
    ds.SeriesNumber = args.series_number
    ds.InstanceNumber = k + 1
    z = -100.0 + 1.25 * k
    ds.ImagePositionPatient = ["-200.0", "-200.0", f"{z:.2f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{z:.2f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = args.rows
    ds.Columns = args.cols
    ds.PixelSpacing = ["0.78125", "0.78125"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 1
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = pixels.astype("<i2").tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def main(argv):
    args = ParseArgs(argv)
    os.makedirs(args.out, exist_ok=True)
    uids = {
        "study": args.study_uid or NewUid(),
        "series": args.series_uid or NewUid(),
        "frame": NewUid(),
        "sop": [NewUid() for _ in range(args.slices)],
    }
    files = []
    for k, pixels in enumerate(Phantom(args.rows, args.cols, args.slices, args.seed)):
        ds = MakeSlice(args, uids, k, pixels)
        path = os.path.join(args.out, f"{args.prefix}{k + 1:04d}.dcm")
        pydicom.dcmwrite(path, ds, write_like_original=False)
        files.append(os.path.abspath(path))
    json.dump(
        {
            "study_uid": uids["study"],
            "series_uid": uids["series"],
            "sop_instance_uids": uids["sop"],
            "files": files,
            "patient_name": args.patient_name,
            "patient_id": args.patient_id,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
