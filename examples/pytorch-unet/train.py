#!/usr/bin/python3
"""Trains the example 3D U-Net (unet.py) on a voxelgate nnU-Net export and writes the
weights that run.py uses.

  /usr/bin/python3 train.py --export export.tar --out weights/ [--max-steps 400]
                            [--target-dice 0.9] [--max-minutes 10] [--threads 2]

The export is what `POST /api/v1/exports {"format": "nnunet"}` produced (tar or zip, or
the folder it was unpacked into): DatasetNNN_Name/{dataset.json, imagesTr, labelsTr}.
One case in five (at least one, when there are three or more) is held out to validate;
training stops when every class reaches --target-dice on the held-out cases, after
--max-steps, or after --max-minutes, whichever comes first, and says which. Runs are
repeatable: the seed fixes the split, the crops and the initial weights.

Writes OUT/model.pt (weights and class names) and OUT/training.json (what was trained on,
for how long, and the held-out Dice per class), which belongs in the version's records.
"""

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
import zipfile

import nibabel as nib
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet  # noqa: E402


def Unpack(export, into):
    """The folder holding dataset.json, unpacking a tar or zip first (names are checked:
    an archive may not write outside `into`)."""
    if os.path.isdir(export):
        root = export
    else:
        if zipfile.is_zipfile(export):
            archive = zipfile.ZipFile(export)
            names = archive.namelist()
        else:
            archive = tarfile.open(export)
            names = [m.name for m in archive.getmembers() if m.isfile() or m.isdir()]
            if len(names) != len(archive.getmembers()):
                raise SystemExit(f"{export}: links or devices in the archive; an export holds only files")
        for name in names:
            if os.path.isabs(name) or ".." in name.split("/"):
                raise SystemExit(f"{export}: the entry {name!r} would land outside the folder")
        archive.extractall(into)
        root = into
    found = [d for d, _, files in os.walk(root) if "dataset.json" in files]
    if len(found) != 1:
        raise SystemExit(f"{export}: expected one dataset.json, found {len(found)}")
    return found[0]


def LoadCases(root):
    dataset = json.load(open(os.path.join(root, "dataset.json")))
    if list(dataset.get("channel_names", {}).values()) != ["CT"]:
        raise SystemExit(f"this example trains on one CT channel; the export has {dataset.get('channel_names')}")
    labels = {name: value for name, value in dataset["labels"].items() if value != 0}
    classes = [name for name, _ in sorted(labels.items(), key=lambda kv: kv[1])]
    if [labels[c] for c in classes] != list(range(1, len(classes) + 1)):
        raise SystemExit(f"the export's labels are not 1..K: {dataset['labels']}")
    cases = []
    for label_file in sorted(os.listdir(os.path.join(root, "labelsTr"))):
        name = label_file[: -len(".nii.gz")]
        image = nib.load(os.path.join(root, "imagesTr", f"{name}_0000.nii.gz"))
        label = nib.load(os.path.join(root, "labelsTr", label_file))
        hu = np.asanyarray(image.dataobj).astype(np.float32)
        y = np.asanyarray(label.dataobj).astype(np.int64)
        if y.shape != hu.shape or not np.allclose(label.affine, image.affine, atol=0.01):
            raise SystemExit(f"{name}: its labels are not on its image's grid")
        cases.append({"name": name, "x": unet.Inputs(hu, image.affine), "y": y})
    if not cases:
        raise SystemExit("the export holds no case")
    return classes, cases


def Crop(case, size, rng):
    """A random crop of at most `size` (multiples of 4), centred on foreground half the time."""
    shape = case["y"].shape
    size = [min(s, (n // unet.MULTIPLE) * unet.MULTIPLE) for s, n in zip(size, shape)]
    fg = np.argwhere(case["y"] > 0)
    if len(fg) and rng.random() < 0.5:
        centre = fg[rng.integers(len(fg))]
        start = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, size, shape)]
    else:
        start = [int(rng.integers(0, n - s + 1)) for s, n in zip(size, shape)]
    sl = tuple(slice(a, a + s) for a, s in zip(start, size))
    return case["x"][(slice(None),) + sl], case["y"][sl]


def Loss(logits, y, classes):
    ce = nn.functional.cross_entropy(logits, y)
    probs = torch.softmax(logits, 1)[:, 1:]
    onehot = nn.functional.one_hot(y, classes + 1).permute(0, 4, 1, 2, 3)[:, 1:].float()
    inter = (probs * onehot).sum((0, 2, 3, 4))
    denom = probs.sum((0, 2, 3, 4)) + onehot.sum((0, 2, 3, 4))
    return ce + (1.0 - ((2 * inter + 1.0) / (denom + 1.0)).mean())


def Dice(pred, truth, label):
    a, b = pred == label, truth == label
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-steps", type=int, default=400)
    ap.add_argument("--target-dice", type=float, default=0.9)
    ap.add_argument("--max-minutes", type=float, default=10.0)
    ap.add_argument("--validate-every", type=int, default=25)
    ap.add_argument("--crop", type=int, nargs=3, default=[64, 64, 32])
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        classes, cases = LoadCases(Unpack(args.export, scratch))
    order = rng.permutation(len(cases))
    held = max(1, len(cases) // 5) if len(cases) >= 3 else 0
    validation = [cases[i] for i in order[:held]] or cases  # too few to hold out: validate on the training set
    training = [cases[i] for i in order[held:]]
    model = unet.UNet3D(len(classes) + 1, width=args.width)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    history, stopped, step = [], "max_steps", 0
    while step < args.max_steps:
        model.train()
        x, y = Crop(training[step % len(training)], args.crop, rng)
        logits = model(torch.from_numpy(np.ascontiguousarray(x))[None])
        loss = Loss(logits, torch.from_numpy(np.ascontiguousarray(y))[None], len(classes))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % args.validate_every == 0 or step == args.max_steps:
            model.eval()
            preds = [unet.Segment(model, c["x"], len(classes)) for c in validation]
            dice = {name: float(np.mean([Dice(p, c["y"], k + 1) for p, c in zip(preds, validation)]))
                    for k, name in enumerate(classes)}
            minutes = (time.monotonic() - began) / 60.0
            history.append({"step": step, "loss": round(float(loss), 4), "dice": dice, "minutes": round(minutes, 2)})
            print(f"step {step}: loss {float(loss):.3f}, held-out Dice "
                  + ", ".join(f"{n} {d:.3f}" for n, d in dice.items()), file=sys.stderr, flush=True)
            if min(dice.values()) >= args.target_dice:
                stopped = "target_dice"
                break
            if minutes >= args.max_minutes:
                stopped = "max_minutes"
                break
    os.makedirs(args.out, exist_ok=True)
    meta = {"trained_on": [c["name"] for c in training], "validated_on": [c["name"] for c in validation],
            "steps": step, "stopped": stopped, "seed": args.seed}
    unet.Save(os.path.join(args.out, "model.pt"), model, classes, meta)
    report = dict(meta, classes=classes, held_out_dice=history[-1]["dice"] if history else {},
                  seconds=round(time.monotonic() - began, 1), history=history)
    json.dump(report, open(os.path.join(args.out, "training.json"), "w"), indent=2)
    print(json.dumps({k: report[k] for k in ("steps", "stopped", "held_out_dice", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
