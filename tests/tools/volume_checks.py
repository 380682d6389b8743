#!/usr/bin/python3
"""Independent checks of voxelgate's volumes and segmentations, with nibabel and pydicom
(run with /usr/bin/python3). Each command prints one JSON object on stdout.

  compare-nifti OURS REF          both reoriented to the closest canonical (RAS) layout:
                                  {"shape_equal", "max_affine_diff", "max_value_diff", ...}
  seg-matches-labels SEG RAW DIMS GEOMETRY_JSON LABELS_JSON
                                  decodes every SEG frame with pydicom and compares it with
                                  the raw label volume (one byte per voxel, DIMS "x,y,z"):
                                  {"frames", "mismatched_frames", "frames_expected"}
  labels-vs-nrrd RAW DIMS NRRD[,NRRD...] [--padding V]
                                  compares the raw labels with the label maps of dcmqi's NRRD
                                  files (highest label wins where they overlap; the padding
                                  value counts as background): {"equal", "differing_voxels"}
  segment-vs-nrrd RAW DIMS LABEL NRRD[,NRRD...]
                                  one segment on its own: the voxels of RAW equal to LABEL against
                                  the voxels equal to LABEL in any of the NRRD files (dcmqi writes
                                  overlapping segments to several): {"equal", "differing_voxels", "voxels"}
  dice RAW_A RAW_B DIMS LABEL_A LABEL_B
                                  {"dice", "voxels_a", "voxels_b"} of RAW_A == LABEL_A against RAW_B == LABEL_B
  overlay-vs-labels DCM RAW DIMS  an overlay image (Secondary Capture, RGB) of slice InstanceNumber-1
                                  against the labels: {"slice", "boundary", "boundary_coloured",
                                  "interior_grey", "outside_grey", "rows", "columns", "image_type",
                                  "series_description"}: boundary = labelled voxels with an in-plane
                                  4-neighbour of another value
  nifti-labels NIFTI RAW          {"equal"}: the NIfTI's voxels are the raw labels
  inspect-bundle BUNDLE WORDS     a tar or zip export: {"entries", "dataset_json", "cases":
                                  {case: {"same_grid", "labels"}}, "found": [WORDS found in
                                  any entry, .gz entries decompressed]} (WORDS: comma-separated)
"""

import gzip
import json
import sys

import numpy as np


def Load(path):
    with open(path, "rb") as f:
        return f.read()


def RawLabels(path, dims):
    x, y, z = (int(v) for v in dims.split(","))
    data = Load(path)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return np.frombuffer(data, dtype=np.uint8).reshape(z, y, x)


def CompareNifti(ours, ref):
    import nibabel as nib

    original = nib.load(ours)
    a = nib.as_closest_canonical(original)
    b = nib.as_closest_canonical(nib.load(ref))
    out = {"shape_ours": list(a.shape), "shape_ref": list(b.shape), "shape_equal": a.shape == b.shape}
    out["max_affine_diff"] = float(np.abs(a.affine - b.affine).max())
    if a.shape == b.shape:
        va = np.asanyarray(a.dataobj).astype(np.float64) if a.header["scl_slope"] in (0, 1) else a.get_fdata()
        vb = b.get_fdata()
        out["max_value_diff"] = float(np.abs(va - vb).max())
    out["ours_qform_code"] = int(original.header["qform_code"])
    out["ours_sform_code"] = int(original.header["sform_code"])
    return out


def SegMatchesLabels(seg_path, raw_path, dims, geometry_json, labels_json):
    import pydicom

    labels = RawLabels(raw_path, dims)
    geometry = json.loads(Load(geometry_json))
    segment_labels = json.loads(Load(labels_json))  # segment number (1-based order) -> label
    origin = np.array(geometry["origin"])
    normal = np.array(geometry["direction"][6:9])
    spacing = geometry["spacing"][2]
    seg = pydicom.dcmread(seg_path)
    frames = seg.pixel_array
    if frames.ndim == 2:
        frames = frames[None]
    mismatched = 0
    for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
        k = int(round(float(np.dot(position - origin, normal)) / spacing))
        expected = labels[k] == segment_labels[number - 1]
        if not np.array_equal(frames[i].astype(bool), expected):
            mismatched += 1
    expected_frames = sum(int((labels[k] == v).any()) for v in segment_labels for k in range(labels.shape[0]))
    return {"frames": int(frames.shape[0]), "mismatched_frames": mismatched, "frames_expected": expected_frames}


def ReadNrrd(path):
    raw = Load(path)
    cut = raw.index(b"\n\n")
    header = raw[:cut].decode()
    fields = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line)
    data = raw[cut + 2:]
    if fields.get("encoding") == "gzip":
        data = gzip.decompress(data)
    sizes = [int(v) for v in fields["sizes"].split()]
    dtype = {"short": "<i2", "unsigned char": "u1", "uchar": "u1", "ushort": "<u2", "int": "<i4"}[fields["type"]]
    return np.frombuffer(data, dtype=dtype).reshape(sizes[::-1])


def LabelsVsNrrd(raw_path, dims, nrrd_paths, padding):
    labels = RawLabels(raw_path, dims)
    expected = None
    for path in nrrd_paths.split(","):
        values = ReadNrrd(path).astype(np.int32)
        if padding is not None:
            values[values == padding] = 0
        expected = values if expected is None else np.maximum(expected, values)
    differing = int((labels.astype(np.int32) != expected).sum()) if labels.shape == expected.shape else -1
    return {"equal": differing == 0, "differing_voxels": differing, "shape": list(labels.shape)}


def SegmentVsNrrd(raw_path, dims, label, nrrd_paths):
    ours = RawLabels(raw_path, dims) == label
    theirs = None
    for path in nrrd_paths.split(","):
        values = ReadNrrd(path) == label
        theirs = values if theirs is None else (theirs | values)
    differing = int((ours != theirs).sum()) if ours.shape == theirs.shape else -1
    return {"equal": differing == 0, "differing_voxels": differing, "voxels": int(theirs.sum())}


def Dice(raw_a, raw_b, dims, label_a, label_b):
    a = RawLabels(raw_a, dims) == label_a
    b = RawLabels(raw_b, dims) == label_b
    total = int(a.sum()) + int(b.sum())
    return {"dice": 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total, "voxels_a": int(a.sum()), "voxels_b": int(b.sum())}


def OverlayVsLabels(dcm_path, raw_path, dims):
    import pydicom

    ds = pydicom.dcmread(dcm_path)
    labels = RawLabels(raw_path, dims)
    k = int(ds.InstanceNumber) - 1
    rgb = ds.pixel_array.astype(np.int32)  # rows, columns, 3
    plane = labels[k]
    inside = plane != 0
    padded = np.pad(plane, 1, mode="edge")
    differs = np.zeros_like(inside)
    for dj, di in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        differs |= padded[1 + dj:1 + dj + plane.shape[0], 1 + di:1 + di + plane.shape[1]] != plane
    boundary = inside & differs
    interior = inside & ~differs
    grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
    outside = ~inside
    # Pixels next to the boundary outside may be painted by a wider outline: only those
    # two pixels away from any label count as "outside".
    near = np.zeros_like(inside)
    padded_inside = np.pad(inside, 2)
    for dj in range(-2, 3):
        for di in range(-2, 3):
            near |= padded_inside[2 + dj:2 + dj + plane.shape[0], 2 + di:2 + di + plane.shape[1]]
    far = outside & ~near
    return {"slice": k, "boundary": int(boundary.sum()),
            "boundary_coloured": float((~grey & boundary).sum() / max(1, boundary.sum())),
            "interior_grey": float((grey & interior).sum() / max(1, interior.sum())),
            "outside_grey": float((grey & far).sum() / max(1, far.sum())),
            "rows": int(ds.Rows), "columns": int(ds.Columns), "image_type": list(ds.ImageType),
            "series_description": str(ds.get("SeriesDescription", ""))}


def NiftiLabels(nifti_path, raw_path):
    import nibabel as nib

    image = nib.load(nifti_path)
    x, y, z = image.shape[:3]
    values = np.asanyarray(image.dataobj)  # x, y, z
    labels = RawLabels(raw_path, f"{x},{y},{z}")  # z, y, x
    return {"equal": bool(np.array_equal(np.transpose(values, (2, 1, 0)), labels))}


def InspectBundle(path, words):
    import io
    import tarfile
    import zipfile

    import nibabel as nib

    entries = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                entries[name] = z.read(name)
    else:
        with tarfile.open(path) as t:
            for member in t.getmembers():
                if member.isfile():
                    entries[member.name] = t.extractfile(member).read()
    out = {"entries": sorted(entries), "cases": {}, "found": []}
    for name, data in entries.items():
        if name.endswith("dataset.json"):
            out["dataset_json"] = json.loads(data)
    wanted = [w for w in words.split(",") if w]
    for name, data in entries.items():
        plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for w in wanted:
            if w.encode() in plain and w not in out["found"]:
                out["found"].append(w)
    for name, data in entries.items():
        if "/labelsTr/" not in name:
            continue
        case = name.rsplit("/", 1)[1][: -len(".nii.gz")]
        image_name = name.replace("/labelsTr/", "/imagesTr/").replace(".nii.gz", "_0000.nii.gz")
        label = nib.Nifti1Image.from_bytes(gzip.decompress(data))
        image = nib.Nifti1Image.from_bytes(gzip.decompress(entries[image_name]))
        same = label.shape == image.shape and bool(np.allclose(label.affine, image.affine, atol=1e-4))
        values = sorted(int(v) for v in np.unique(np.asanyarray(label.dataobj)))
        out["cases"][case] = {"same_grid": same, "labels": values}
    return out


def Main(argv):
    command = argv[1]
    if command == "compare-nifti":
        out = CompareNifti(argv[2], argv[3])
    elif command == "seg-matches-labels":
        out = SegMatchesLabels(*argv[2:7])
    elif command == "labels-vs-nrrd":
        padding = int(argv[argv.index("--padding") + 1]) if "--padding" in argv else None
        out = LabelsVsNrrd(argv[2], argv[3], argv[4], padding)
    elif command == "segment-vs-nrrd":
        out = SegmentVsNrrd(argv[2], argv[3], int(argv[4]), argv[5])
    elif command == "dice":
        out = Dice(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    elif command == "overlay-vs-labels":
        out = OverlayVsLabels(argv[2], argv[3], argv[4])
    elif command == "inspect-bundle":
        out = InspectBundle(argv[2], argv[3] if len(argv) > 3 else "")
    elif command == "nifti-labels":
        out = NiftiLabels(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    Main(sys.argv)
