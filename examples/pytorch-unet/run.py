#!/usr/bin/python3
"""Runs the example 3D U-Net (weights in model.pt, from train.py) under voxelgate's
process-algorithm contract (docs/algorithm-contract.md): reads /job/input/image.nii.gz
and job.json, writes /job/output/labels.nii.gz on the input's grid and result.json with
each segment's volume.

The network's classes are matched to the manifest's segments by name (the export names
its labels after the segments that were painted), so a label value in the manifest may
differ from the class's position in the model.
"""

import json
import os
import sys

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import unet  # noqa: E402

INPUT = "/job/input"
OUTPUT = "/job/output"


def main():
    job = json.load(open(f"{INPUT}/job.json"))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model, classes, meta = unet.Load(os.path.join(HERE, "model.pt"))
    segments = {s["name"]: s["label"] for s in job["segments"]}
    missing = [c for c in classes if c not in segments]
    if missing:
        print(f"the model's classes {missing} are not segments of this manifest ({sorted(segments)})", file=sys.stderr)
        return 2
    image = nib.load(f"{INPUT}/image.nii.gz")
    hu = np.asanyarray(image.dataobj).astype(np.float32)
    x = unet.Inputs(hu, image.affine)
    predicted = unet.Segment(model, x, len(classes))
    labels = np.zeros(hu.shape, dtype=np.uint8)
    voxel_ml = float(np.prod(image.header.get_zooms()[:3])) / 1000.0
    metrics = {}
    for k, name in enumerate(classes):
        mask = predicted == k + 1
        labels[mask] = segments[name]
        metrics[f"label_{segments[name]}_ml"] = round(float(mask.sum()) * voxel_ml, 1)
    out = nib.Nifti1Image(labels, image.affine)
    out.set_data_dtype(np.uint8)
    nib.save(out, f"{OUTPUT}/labels.nii.gz")
    warnings = [f"{name}: nothing found" for k, name in enumerate(classes) if not (predicted == k + 1).any()]
    json.dump({"metrics": metrics, "warnings": warnings}, open(f"{OUTPUT}/result.json", "w"))
    print(f"unet {job['algorithm']['version']}: trained {meta.get('steps')} steps", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
