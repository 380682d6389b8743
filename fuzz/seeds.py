#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (fuzz/targets.h): one folder per target under OUT.

Synthetic inputs are made here (DICOM through tests/tools/make_series.py, NIfTI with
nibabel, NRRD, multipart bodies, PDU streams, queries, JSON, TOML, S3's XML answers in the
forms AWS and Swift's s3api send them); real files come from
../shared/data when it is there (small ones only). The checked-in regression inputs of
tests/fuzz_regressions/ are seeds too.

usage: fuzz/seeds.py OUT
"""
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
MAX_REAL_BYTES = 600 * 1024


def write(out, target, name, data):
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def real_files(*subdirs, suffixes=(".dcm",), limit=40):
    found = []
    for sub in subdirs:
        base = os.path.join(SHARED, sub)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                if suffixes and not name.endswith(suffixes) and suffixes != ("",):
                    continue
                if os.path.getsize(path) <= MAX_REAL_BYTES:
                    found.append(path)
    return found[:limit]


def synthetic_series(slices=3, rows=16, cols=16, seed=1):
    out = tempfile.mkdtemp(prefix="vg-seeds-")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "tools", "make_series.py"), "--out", out,
                    "--slices", str(slices), "--rows", str(rows), "--cols", str(cols), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)
    files = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".dcm"))
    data = [open(f, "rb").read() for f in files]
    shutil.rmtree(out, ignore_errors=True)
    return data


def nifti(dims=(4, 3, 2), dtype="uint8"):
    import nibabel
    import numpy
    image = nibabel.Nifti1Image(numpy.arange(numpy.prod(dims), dtype=dtype).reshape(dims) % 3, numpy.diag([0.5, 0.5, 2, 1]))
    buffer = io.BytesIO()
    file_map = nibabel.Nifti1Image.make_file_map({"image": buffer, "header": buffer})
    image.to_file_map(file_map)
    return buffer.getvalue()


def nrrd(sizes=(4, 3, 2), encoding="raw"):
    data = bytes(i % 3 for i in range(sizes[0] * sizes[1] * sizes[2]))
    if encoding == "gzip":
        data = gzip.compress(data)
    head = ("NRRD0004\ntype: uint8\ndimension: 3\nspace: left-posterior-superior\n"
            f"sizes: {sizes[0]} {sizes[1]} {sizes[2]}\nspace directions: (1,0,0) (0,1,0) (0,0,2.5)\n"
            f"kinds: domain domain domain\nendian: little\nencoding: {encoding}\nspace origin: (0,0,0)\n\n")
    return head.encode() + data


def pdu(kind, body):
    return bytes([kind, 0]) + struct.pack(">I", len(body)) + body


def item(kind, value):
    return bytes([kind, 0]) + struct.pack(">H", len(value)) + value


def implicit(group, element, value):
    return struct.pack("<HHI", group, element, len(value)) + value


def command(fields):
    body = b"".join(implicit(0, e, v) for e, v in sorted(fields.items()))
    return implicit(0, 0, struct.pack("<I", len(body))) + body


def pdata(context, control, data):
    pdv = struct.pack(">I", len(data) + 2) + bytes([context, control]) + data
    return pdu(4, pdv)


def associate_rq():
    head = struct.pack(">HH", 1, 0) + b"VOXELGATE".ljust(16) + b"FUZZSCU".ljust(16) + bytes(32)
    items = item(0x10, b"1.2.840.10008.3.1.1.1")
    items += item(0x20, bytes([1, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2"))
    items += item(0x20, bytes([3, 0, 0, 0]) + item(0x30, b"1.2.840.10008.5.1.4.1.2.2.1") + item(0x40, b"1.2.840.10008.1.2.1"))
    items += item(0x50, item(0x51, struct.pack(">I", 131072)))
    return pdu(1, head + items)


S3_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
S3_NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def s3_answers():
    """S3's answers, keyed by seed name: what storage/s3_xml.h reads (keys under clinic/t1/,
    as the fuzz target asks)."""
    def contents(key, modified, size):
        return (f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified>"
                f"<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>{size}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>")

    def upload(key, upload_id, initiated):
        return (f"<Upload><Key>{key}</Key><UploadId>{upload_id}</UploadId>"
                "<Initiator><ID>test:tester</ID><DisplayName>test:tester</DisplayName></Initiator>"
                "<Owner><ID>test:tester</ID><DisplayName>test:tester</DisplayName></Owner>"
                f"<StorageClass>STANDARD</StorageClass><Initiated>{initiated}</Initiated></Upload>")

    return {
        "list-aws-first-page": S3_DECLARATION + f"<ListBucketResult{S3_NS}><Name>vg-archive</Name>"
        "<Prefix>clinic/t1/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        + contents("clinic/t1/0f3a9c", "2024-05-01T12:34:56.789Z", 1048576)
        + contents("clinic/t1/7be2d1", "2024-04-30T09:15:02.000Z", 0) + "</ListBucketResult>",
        "list-swift-last-page": "<?xml version='1.0' encoding='UTF-8'?>\n"
        f"<ListBucketResult{S3_NS}><Name>vg-archive</Name><Prefix>clinic/t1/</Prefix><MaxKeys>1000</MaxKeys>"
        "<KeyCount>1</KeyCount><ContinuationToken>T1</ContinuationToken><IsTruncated>false</IsTruncated>"
        + contents("clinic/t1/c4d5e6", "2024-05-01T12:34:56.000Z", 5) + "</ListBucketResult>",
        "list-empty": S3_DECLARATION + f"<ListBucketResult{S3_NS}><Name>vg-archive</Name><Prefix>clinic/t9/</Prefix>"
        "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>",
        "list-escaped-keys": f"<ListBucketResult{S3_NS}><IsTruncated>false</IsTruncated>"
        + contents("clinic/t1/a&amp;b&lt;&#xE9;&#x1F600;<![CDATA[<c>]]>", "2024-05-01T12:34:56Z", 7)
        + "<!-- a comment --><?pi data?></ListBucketResult>",
        "uploads-aws-first-page": S3_DECLARATION + f"<ListMultipartUploadsResult{S3_NS}><Bucket>vg-archive</Bucket>"
        "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>clinic/t1/7be2d1</NextKeyMarker>"
        "<NextUploadIdMarker>xY7.Zq-2v_bnMtOWf9KZ3Q</NextUploadIdMarker><Prefix>clinic/</Prefix>"
        "<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>"
        + upload("clinic/t1/0f3a9c", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", "2024-05-01T12:34:56.000Z")
        + upload("clinic/t1/7be2d1", "xY7.Zq-2v_bnMtOWf9KZ3Q", "2024-04-30T09:15:02.000Z") + "</ListMultipartUploadsResult>",
        "uploads-swift-last-page": "<?xml version='1.0' encoding='UTF-8'?>\n"
        f"<ListMultipartUploadsResult{S3_NS}><Bucket>vg-archive</Bucket><KeyMarker/><UploadIdMarker/>"
        "<NextKeyMarker/><NextUploadIdMarker/><Prefix>clinic/</Prefix><MaxUploads>1000</MaxUploads>"
        "<IsTruncated>false</IsTruncated>"
        + upload("clinic/t2/aa11", "NjJmNDc0ZjAtNjBhMi00ZTQ4LWE0NmQtMmI4ODQ3ZmE1OWYz", "2024-05-01T12:34:56.000Z")
        + "</ListMultipartUploadsResult>",
        "initiate": S3_DECLARATION + f"<InitiateMultipartUploadResult{S3_NS}><Bucket>vg-archive</Bucket>"
        "<Key>clinic/t1/0f3a9c</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
        "</InitiateMultipartUploadResult>",
        "complete-after-heartbeats": S3_DECLARATION + " " * 24 + f"<CompleteMultipartUploadResult{S3_NS}>"
        "<Location>http://127.0.0.1:8080/vg-archive/clinic/t1/0f3a9c</Location><Bucket>vg-archive</Bucket>"
        "<Key>clinic/t1/0f3a9c</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-2&quot;</ETag>"
        "</CompleteMultipartUploadResult>",
        "complete-error-in-200": S3_DECLARATION + " " * 12 + "<Error><Code>InternalError</Code>"
        "<Message>We encountered an internal error. Please try again.</Message>"
        "<RequestId>656c76696e6727732072657175657374</RequestId></Error>",
        "error-no-such-key": S3_DECLARATION + "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
        "</Message><Key>clinic/t1/0f3a9c</Key><RequestId>4442587FB7D0A2F9</RequestId>"
        "<HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId></Error>",
        "error-prefixed-with-attributes": "\ufeff<s3:Error xmlns:s3='http://s3.amazonaws.com/doc/2006-03-01/' lang=\"en\">"
        "<s3:Code a='&gt;'>SlowDown</s3:Code></s3:Error>",
        "time": "2024-05-01T12:34:56.789Z",
        "etag": "\"3858f62230ac3c915f300c664312c11f-9\"",
    }


def rtstruct():
    """An RT structure set of two ROIs on a 16 x 16 grid at z 0..3 (one with a hole)."""
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.4242"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("rt", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.4243"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.4244"
    frame = Dataset()
    frame.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.4245"
    study = Dataset()
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.4246"
    study.RTReferencedSeriesSequence = Sequence([series])
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois, contours = [], []
    for number, squares in ((1, [(2, 2, 10), (4, 4, 6)]), (2, [(8, 8, 14)])):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = f"ROI {number}"
        rois.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, 0, 0]
        items = []
        for z in range(4):
            for lo_x, lo_y, hi in squares:
                c = Dataset()
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = 4
                c.ContourData = [lo_x, lo_y, z, hi, lo_y, z, hi, hi, z, lo_x, hi, z]
                items.append(c)
        rc.ContourSequence = Sequence(items)
        contours.append(rc)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, write_like_original=False)
    return buffer.getvalue()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    # DICOM: synthetic slices and, when present, real files of every transfer syntax.
    series = synthetic_series()
    dicom = list(series)
    dicom += [open(p, "rb").read() for p in real_files("transfer-syntaxes", "multiframe-and-codecs", "mr-slice-transfer-syntaxes",
                                                      suffixes=("",))]
    dicom = [d for d in dicom if len(d) > 132 and d[128:132] == b"DICM"]
    for i, d in enumerate(dicom):
        write(out, "dicom_ingest", f"dicom-{i}", d)
        write(out, "structure", f"dicom-{i}", d)
    marker = b"\n--slice--\n"
    write(out, "volume", "three-slices", marker.join(series))
    write(out, "volume", "one-slice", series[0])
    for i, p in enumerate(real_files("seg-dcmqi", "multiframe-and-codecs", suffixes=(".dcm",))):
        if "liver" in p or "seg" in p.lower() or "labelmap" in p or "overlaps" in p:
            write(out, "seg", f"seg-{i}", open(p, "rb").read())
    write(out, "seg", "not-a-seg", series[0])
    # RT structure sets: pydicom's (Debian's python3-pydicom) and a small one of our own.
    pydicom_rt = "/usr/lib/python3/dist-packages/pydicom/data/test_files/rtstruct.dcm"
    if os.path.exists(pydicom_rt):
        write(out, "rtstruct", "pydicom-rtstruct", open(pydicom_rt, "rb").read())
    write(out, "rtstruct", "small", rtstruct())
    write(out, "rtstruct", "not-an-rtstruct", series[0])
    # Structured reports: pydicom's, and an image that is not one.
    for name in ("reportsi.dcm", "test-SR.dcm"):
        path = "/usr/lib/python3/dist-packages/pydicom/data/test_files/" + name
        if os.path.exists(path):
            write(out, "measurement_report", name, open(path, "rb").read())
    write(out, "measurement_report", "not-a-report", series[0])

    # Images and labels.
    write(out, "nifti", "uint8.nii", nifti())
    write(out, "nifti", "int16.nii.gz", gzip.compress(nifti(dtype="int16")))
    write(out, "nifti", "float32.nii", nifti(dtype="float32"))
    write(out, "nrrd", "raw.nrrd", nrrd())
    write(out, "nrrd", "gzip.nrrd", nrrd(encoding="gzip"))
    for i, p in enumerate(real_files("seg-dcmqi", suffixes=(".nrrd",), limit=10)):
        write(out, "nrrd", f"real-{i}", open(p, "rb").read())

    # HTTP surface.
    boundary = "vgBoundary"
    parts = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + d[:300] + b"\r\n" for d in series)
    write(out, "multipart", "stow", boundary.encode() + b"\n" + parts + b"--" + boundary.encode() + b"--\r\n")
    form = (b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="params"\r\n\r\n{"a":1}\r\n'
            b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="x.nii.gz"\r\n\r\nGZ\r\n'
            b"--" + boundary.encode() + b"--\r\n")
    write(out, "multipart", "form", boundary.encode() + b"\n" + form)
    for i, text in enumerate(['multipart/related; type="application/dicom"; boundary=abc',
                              'multipart/related; type=application/dicom; transfer-syntax=*, application/json;q=0.5',
                              'text/html;charset="utf-8";q=0.1, */*;q=0.01', "PatientName=DOE%5EJOHN&limit=10&includefield=all"]):
        write(out, "media_types", f"m-{i}", text)
    for i, q in enumerate(["PatientName=DOE*&StudyDate=20200101-20201231&limit=5",
                           "00100020=ID1&includefield=00081030&offset=3", "SeriesInstanceUID=1.2.3\\1.2.4&fuzzymatching=true",
                           "ModalitiesInStudy=CT&StudyTime=-1200"]):
        write(out, "qido", f"q-{i}", bytes([i % 3]) + q.encode())
    write(out, "qido", "match", b"\x00PN\x00DOE*\x00DOE^JOHN")
    for i, j in enumerate(['{"segments":[{"label":1,"name":"Lung","category":{"code":"123037004","scheme":"SCT","meaning":"Anatomical Structure"}}]}',
                           '{"format":"nifti","dataset_name":"x","container":"zip","studies":["1.2.3"]}',
                           '{"a":[[[[{"b":"\\u0041"}]]]]}', '{"hours": 18446744073709551615}']):
        write(out, "json_bodies", f"j-{i}", j)

    # TOML: the example manifest and a configuration.
    manifest = os.path.join(ROOT, "examples", "threshold-python", "manifest.toml")
    if os.path.exists(manifest):
        write(out, "toml", "manifest", open(manifest, "rb").read())
    write(out, "toml", "config", "[limits]\nheader_timeout_s = 5\nmax_connections = 100\n[dicom]\nmax_associations = 4\n")

    # DIMSE: an association with a C-ECHO, a C-FIND with an identifier, a release.
    echo = command({0x0002: b"1.2.840.10008.1.1\x00", 0x0100: struct.pack("<H", 0x30), 0x0110: struct.pack("<H", 1),
                    0x0800: struct.pack("<H", 0x0101)})
    find = command({0x0002: b"1.2.840.10008.5.1.4.1.2.2.1\x00", 0x0100: struct.pack("<H", 0x20), 0x0110: struct.pack("<H", 2),
                    0x0700: struct.pack("<H", 0), 0x0800: struct.pack("<H", 0x0102)})
    identifier = struct.pack("<HH", 0x0008, 0x0052) + b"CS" + struct.pack("<H", 6) + b"STUDY "
    stream = associate_rq() + pdata(1, 3, echo) + pdata(3, 3, find) + pdata(3, 2, identifier) + pdu(5, bytes(4))
    write(out, "pdu", "echo-find-release", stream)

    # S3's XML answers.
    for name, text in s3_answers().items():
        write(out, "s3_xml", name, text)

    # The checked-in regression inputs.
    regressions = os.path.join(ROOT, "tests", "fuzz_regressions")
    if os.path.isdir(regressions):
        for target in os.listdir(regressions):
            for name in os.listdir(os.path.join(regressions, target)):
                write(out, target, "regression-" + name, open(os.path.join(regressions, target, name), "rb").read())


if __name__ == "__main__":
    main()
