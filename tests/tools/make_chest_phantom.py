#!/usr/bin/python3
"""Writes a synthetic chest CT with known lungs, for testing lung segmentation (run with
/usr/bin/python3). Body (40 HU), two ellipsoid lungs (-850 HU, with vessels of 40 HU
inside), a trachea that splits into two bronchi entering the lungs (-1000 HU), a spine
(700 HU), air around (-1000 HU), Gaussian noise. Truth: 1 = right lung (patient's right,
DICOM -x), 2 = left lung; the airways outside the lungs are not lung.

Prints one JSON object: {"study_uid", "series_uid", "files", "truth" (a raw file: one byte
per voxel, column fastest, then row, then slice from the lowest z), "dims",
"right_ml", "left_ml"}.

  /usr/bin/python3 tests/tools/make_chest_phantom.py --out DIR [--size 160] [--slices 100]
"""

import argparse
import json
import os
import sys

import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_series  # noqa: E402  (same folder: its slice writer and UIDs)


def Segment(p, a, b, radius):
    """Boolean mask of points within `radius` of segment a-b (arrays of shape (..., 3))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1) <= radius


def Phantom(size, slices, spacing_xy, spacing_z, seed):
    rng = np.random.default_rng(seed)
    xs = (np.arange(size) - (size - 1) / 2.0) * spacing_xy
    zs = (np.arange(slices) - (slices - 1) / 2.0) * spacing_z
    z, y, x = np.meshgrid(zs, xs, xs, indexing="ij")  # [k, j, i]; +x patient left, +y posterior
    p = np.stack([x, y, z], axis=-1)
    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    body = (x / 110.0) ** 2 + (y / 85.0) ** 2 <= 1.0
    hu[body] = 40.0
    # Lungs well inside the body wall, 30 mm apart at the midline (the mediastinum).
    right = ((x + 55.0) / 40.0) ** 2 + (y / 55.0) ** 2 + (z / 100.0) ** 2 <= 1.0
    left = ((x - 55.0) / 40.0) ** 2 + (y / 55.0) ** 2 + (z / 100.0) ** 2 <= 1.0
    hu[right | left] = -850.0
    for cx in (-55.0, 55.0):  # vessels inside each lung: tissue, yet lung in the truth
        for dx, dy in ((-15.0, -20.0), (12.0, 10.0), (0.0, 30.0)):
            vessel = Segment(p, (cx + dx, dy, -60.0), (cx + dx * 0.5, dy * 0.8, 60.0), 2.5)
            hu[vessel & (right | left)] = 40.0
    top = zs.max() + spacing_z
    airway = Segment(p, (0.0, -30.0, top), (0.0, -30.0, 40.0), 8.0)
    airway |= Segment(p, (0.0, -30.0, 40.0), (-40.0, -10.0, 10.0), 5.0)
    airway |= Segment(p, (0.0, -30.0, 40.0), (40.0, -10.0, 10.0), 5.0)
    hu[airway & body] = -1000.0
    spine = (x / 15.0) ** 2 + ((y - 60.0) / 15.0) ** 2 <= 1.0
    hu[spine] = 700.0
    hu += rng.normal(0.0, 20.0, size=hu.shape).astype(np.float32)
    truth = np.zeros(x.shape, dtype=np.uint8)
    truth[right] = 1
    truth[left] = 2
    return hu, truth, xs, zs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--spacing-xy", type=float, default=1.5)
    ap.add_argument("--spacing-z", type=float, default=2.5)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--patient-name", default="PHANTOM^CHEST")
    ap.add_argument("--patient-id", default="PHANTOM1")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    hu, truth, xs, zs = Phantom(args.size, args.slices, args.spacing_xy, args.spacing_z, args.seed)
    series_args = make_series.ParseArgs(["--out", args.out, "--slices", str(args.slices), "--rows", str(args.size),
                                         "--cols", str(args.size), "--patient-name", args.patient_name,
                                         "--patient-id", args.patient_id])
    series_args.study_description = "PHANTOM CHEST"
    uids = {"study": make_series.NewUid(), "series": make_series.NewUid(), "frame": make_series.NewUid(),
            "sop": [make_series.NewUid() for _ in range(args.slices)]}
    files = []
    # Written in reverse order of position and with shuffled names: the reader must sort.
    for k in range(args.slices):
        stored = np.clip(hu[k] + 1024.0, 0, 2047).astype(np.int16)  # 12-bit signed, as make_series
        ds = make_series.MakeSlice(series_args, uids, k, stored)
        ds.InstanceNumber = args.slices - k
        ds.ImagePositionPatient = [f"{xs[0]:.3f}", f"{xs[0]:.3f}", f"{zs[k]:.3f}"]
        ds.SliceLocation = f"{zs[k]:.3f}"
        ds.PixelSpacing = [f"{args.spacing_xy}", f"{args.spacing_xy}"]
        ds.SliceThickness = f"{args.spacing_z}"
        path = os.path.join(args.out, f"im{(k * 37) % 1000:04d}_{k}.dcm")
        pydicom.dcmwrite(path, ds, write_like_original=False)
        files.append(os.path.abspath(path))
    truth_path = os.path.join(args.out, "truth.raw")
    truth.tofile(truth_path)
    voxel_ml = args.spacing_xy * args.spacing_xy * args.spacing_z / 1000.0
    json.dump({"study_uid": uids["study"], "series_uid": uids["series"], "files": files, "truth": truth_path,
               "dims": [args.size, args.size, args.slices], "right_ml": float((truth == 1).sum() * voxel_ml),
               "left_ml": float((truth == 2).sum() * voxel_ml)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
