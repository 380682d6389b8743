"""The network and the preprocessing shared by train.py and run.py (one definition, so
what is trained is what runs).

A small 3D U-Net (two poolings, instance norm) for CPU. Its input is two channels: the
CT in Hounsfield units, clipped and scaled, and each voxel's patient left-right position
(RAS x in decimetres). The second channel tells the right lung from the left: a network
that sees only intensities within its receptive field cannot know which side it is on.
"""

import numpy as np
import torch
from scipy import ndimage
from torch import nn

HU_RANGE = (-1024.0, 400.0)
MULTIPLE = 4  # two poolings: each side a multiple of 4


def Block(cin, cout):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01, inplace=True))


class UNet3D(nn.Module):
    def __init__(self, classes, width=8, channels=2):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = Block(channels, w), Block(w, 2 * w), Block(2 * w, 4 * w)
        self.pool = nn.MaxPool3d(2)
        self.up2, self.dec2 = nn.ConvTranspose3d(4 * w, 2 * w, 2, stride=2), Block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose3d(2 * w, w, 2, stride=2), Block(2 * w, w)
        self.head = nn.Conv3d(w, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def Inputs(hu, affine):
    """The network's input for a volume (numpy, NIfTI voxel order i, j, k) and its affine
    (voxel to RAS mm): an array of shape (2, i, j, k), float32."""
    lo, hi = HU_RANGE
    scaled = (np.clip(hu, lo, hi) - lo) / (hi - lo) * 2.0 - 1.0
    i = np.arange(hu.shape[0], dtype=np.float32)[:, None, None]
    j = np.arange(hu.shape[1], dtype=np.float32)[None, :, None]
    k = np.arange(hu.shape[2], dtype=np.float32)[None, None, :]
    x_mm = affine[0, 0] * i + affine[0, 1] * j + affine[0, 2] * k + affine[0, 3]
    return np.stack([scaled.astype(np.float32), np.broadcast_to(x_mm / 100.0, hu.shape).astype(np.float32)])


def PadToMultiple(x):
    """Pads the last three axes of a tensor (at their ends) to multiples of MULTIPLE;
    returns the padded tensor and the original shape, to crop the output back."""
    shape = x.shape[-3:]
    pad = []
    for n in reversed(shape):
        pad += [0, (-n) % MULTIPLE]
    return nn.functional.pad(x, pad, mode="replicate" if x.dim() == 5 else "constant"), shape


def Segment(model, x, classes):
    """Labels 0..classes (numpy, uint8) for one volume's input (2, i, j, k): the network's
    most likely class per voxel, then, per class, only its largest connected part (as
    nnU-Net's postprocessing does for organs that are in one piece: a stray blob in an
    airway or outside the body would otherwise dominate the Hausdorff distance)."""
    with torch.no_grad():
        padded, shape = PadToMultiple(torch.from_numpy(x)[None])
        predicted = model(padded)[0, :, : shape[0], : shape[1], : shape[2]].argmax(0).numpy().astype(np.uint8)
    for label in range(1, classes + 1):
        parts, n = ndimage.label(predicted == label)
        if n > 1:
            sizes = np.bincount(parts.ravel())
            sizes[0] = 0
            predicted[(parts != 0) & (parts != sizes.argmax())] = 0
    return predicted


def Save(path, model, classes, meta):
    """classes: the names of output channels 1..K (0 is background), as in dataset.json."""
    torch.save({"state": model.state_dict(), "classes": classes, "width": model.enc1[0].out_channels, "meta": meta}, path)


def Load(path):
    saved = torch.load(path, map_location="cpu")
    model = UNet3D(len(saved["classes"]) + 1, width=saved["width"])
    model.load_state_dict(saved["state"])
    model.eval()
    return model, saved["classes"], saved.get("meta", {})
