#!/usr/bin/python3
"""Synthetic CT series generator for the voxelgate benchmark (pydicom + numpy only).

usage: /usr/bin/python3 bench/gen_ct.py OUTDIR [patients=1] [series_per_study=2] [slices=200]

Writes OUTDIR/P<pp>/S<ss>/IM<nnnn>.dcm: CT Image Storage, 512x512, 16 bits allocated / 12 stored,
Explicit VR Little Endian (~0.5 MB per file), with a realistic header (patient/study/series/SOP/FoR
UIDs, geometry, acquisition and display attributes) and a noisy phantom (body, lungs, spine,
liver, sigma 12 HU noise) so pixel data does not compress trivially. Deterministic output.
Also writes OUTDIR/manifest.json in the same layout as the Orthanc peer's gen_dataset.py:
{"series": [{"patient", "patient_name", "study", "series", "dir", "files": [{"path", "sop", "size"}]}],
 "total_bytes", "n_instances"}.
"""
import json
import os
import sys
from multiprocessing import Pool

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.8.498."
NAMES = ["DOE^JOHN", "SMITH^ANNA", "MARTIN^PAUL", "GARCIA^MARIA", "MULLER^HANS"]
DESCS = ["AXIAL 1.25mm STD", "AXIAL 1.25mm BONE", "AXIAL 2.5mm SOFT", "CORONAL MPR"]
N = 512


def uid(*parts):
    return generate_uid(prefix=ROOT, entropy_srcs=["voxelgate-bench"] + [str(p) for p in parts])


def phantom(rng, z, nz):
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float32)
    cx, cy = N / 2, N / 2 + 10
    f = 0.85 + 0.15 * np.sin(np.pi * z / max(nz - 1, 1))
    hu = np.full((N, N), -1000.0, np.float32)
    hu[((xx - cx) / (200 * f)) ** 2 + ((yy - cy) / (150 * f)) ** 2 <= 1] = 40
    for lx in (cx - 80 * f, cx + 80 * f):
        hu[((xx - lx) / (60 * f)) ** 2 + ((yy - cy + 20) / (90 * f)) ** 2 <= 1] = -820
    hu[((xx - cx + 60) / (70 * f)) ** 2 + ((yy - cy - 60) / (40 * f)) ** 2 <= (z / nz)] = 60
    hu[((xx - cx) / 25) ** 2 + ((yy - (cy + 100 * f)) / 25) ** 2 <= 1] = 700
    hu += rng.normal(0, 12, hu.shape).astype(np.float32)
    return np.clip(hu + 1024, 0, 4095).astype(np.uint16)


def make_series(args):
    outdir, p, s, nsl = args
    rng = np.random.default_rng(7919 * p + s)
    study, series, fref = uid(p, "study"), uid(p, s, "series"), uid(p, "for")
    sdir = os.path.join(outdir, f"P{p:02d}", f"S{s:02d}")
    os.makedirs(sdir, exist_ok=True)
    name = NAMES[p % len(NAMES)] if p < len(NAMES) else f"PATIENT^{p:04d}"
    files = []
    for i in range(nsl):
        sop = uid(p, s, i, "sop")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = ROOT + "2"
        meta.ImplementationVersionName = "VXGBENCH_1"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, sop
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = f"2024{p % 12 + 1:02d}15"
        ds.StudyTime, ds.SeriesTime = "101500", f"1016{s:02d}"
        ds.AcquisitionTime = ds.ContentTime = f"1016{s:02d}.{i:06d}"
        ds.AccessionNumber = f"ACC{p:06d}"
        ds.Modality = "CT"
        ds.Manufacturer, ds.ManufacturerModelName = "SYNTHETIC", "SynthCT 1000"
        ds.InstitutionName, ds.StationName = "BENCH HOSPITAL", "CT01"
        ds.ReferringPhysicianName = "REF^DOC"
        ds.StudyDescription = "CT CHEST ABDOMEN"
        ds.SeriesDescription = DESCS[s % len(DESCS)]
        ds.PatientName, ds.PatientID = name, f"BENCH{p:04d}"
        ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = f"19{50 + p % 50:02d}0101", "MF"[p % 2], f"{70 - p % 50:03d}Y"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness, ds.KVP = "1.25", "120"
        ds.DataCollectionDiameter, ds.ReconstructionDiameter = "500", "360"
        ds.GantryDetectorTilt, ds.TableHeight, ds.RotationDirection = "0", "150", "CW"
        ds.ExposureTime, ds.XRayTubeCurrent, ds.Exposure = "500", "250", "125"
        ds.ConvolutionKernel, ds.PatientPosition = "STANDARD", "HFS"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyID, ds.SeriesNumber, ds.AcquisitionNumber, ds.InstanceNumber = str(p + 1), s + 1, 1, i + 1
        z = -100.0 - 1.25 * i
        ds.ImagePositionPatient = [-180.0, -180.0, z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = fref, ""
        ds.SliceLocation = z
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = N
        ds.PixelSpacing = [0.703125, 0.703125]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.PixelData = phantom(rng, i, nsl).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        fn = os.path.join(sdir, f"IM{i + 1:04d}.dcm")
        ds.save_as(fn, write_like_original=False)
        files.append({"path": fn, "sop": sop, "size": os.path.getsize(fn)})
    return {"patient": f"BENCH{p:04d}", "patient_name": name, "study": study, "series": series,
            "dir": sdir, "files": files}


def main():
    outdir = os.path.abspath(sys.argv[1])
    defaults = [1, 2, 200]
    npat, nser, nsl = (int(sys.argv[2 + k]) if len(sys.argv) > 2 + k else d for k, d in enumerate(defaults))
    jobs = [(outdir, p, s, nsl) for p in range(npat) for s in range(nser)]
    with Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        series = pool.map(make_series, jobs)
    total = sum(f["size"] for se in series for f in se["files"])
    with open(os.path.join(outdir, "manifest.json"), "w") as fh:
        json.dump({"series": series, "total_bytes": total,
                   "n_instances": sum(len(se["files"]) for se in series)}, fh, indent=1)
    print(f"{len(series)} series, {total / 1e6:.1f} MB in {outdir}")


if __name__ == "__main__":
    main()
