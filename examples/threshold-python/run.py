#!/usr/bin/python3
"""Threshold demo: the smallest useful process algorithm for voxelgate.

Contract (docs/algorithm-contract.md): read /job/input/image.nii.gz (and job.json), write
/job/output/labels.nii.gz on the same grid and, optionally, /job/output/result.json.
Exit 0 on success; on failure print the reason to stderr and exit non-zero.
"""

import json
import sys

import nibabel as nib
import numpy as np

INPUT = "/job/input"
OUTPUT = "/job/output"


def main():
    job = json.load(open(f"{INPUT}/job.json"))
    image = nib.load(f"{INPUT}/image.nii.gz")
    hu = np.asanyarray(image.dataobj).astype(np.float32)  # nibabel applies scl_slope/scl_inter here
    labels = np.zeros(hu.shape, dtype=np.uint8)
    # Air below -400 HU, except a margin of 15% along each in-plane edge (outside the body).
    mx, my = max(1, hu.shape[0] * 15 // 100), max(1, hu.shape[1] * 15 // 100)
    inner = np.zeros(hu.shape, dtype=bool)
    inner[mx:-mx, my:-my, :] = True
    labels[(hu < -400) & inner] = 1
    out = nib.Nifti1Image(labels, image.affine)  # the input's affine: the same grid
    out.set_data_dtype(np.uint8)
    nib.save(out, f"{OUTPUT}/labels.nii.gz")
    voxel_ml = float(np.prod(image.header.get_zooms()[:3])) / 1000.0
    result = {
        "metrics": {"low_density_ml": round(float(labels.sum()) * voxel_ml, 1), "slices": int(hu.shape[2])},
        "warnings": [] if labels.any() else ["nothing below -400 HU away from the edges"],
    }
    json.dump(result, open(f"{OUTPUT}/result.json", "w"))
    print(f"threshold-demo {job['algorithm']['version']}: {int(labels.sum())} voxels", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
