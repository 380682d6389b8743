#!/usr/bin/python3
"""A MONAI Label client that behaves like 3D Slicer's MONAI Label module (same calls, same
wire format: trailing slashes, a hand-built multipart body whose boundary holds '$', the
temp-file path as the upload's filename, the auth pre-flight before every action), written
with Debian's python3 standard library only (http.client).

usage: monailabel_client.py --server URL --username U --password P [--prefix /monailabel]
                             [--expect-refusal] [--token TOKEN]

Flow: auth check, token, info, upload a synthetic chest CT as NIfTI, infer ct-lungs,
check that the label comes back on the input's grid, then save a corrected label (one
lung trimmed). Prints one JSON line with what it saw. With --expect-refusal it stops at
the inference and prints the refusal (status and body) instead.
"""
import argparse
import gzip
import http.client
import json
import math
import struct
import sys
import urllib.parse
from array import array

BOUNDARY = "----------lImIt_of_THE_fIle_eW_$"  # what Slicer's client uses
SIZE, SLICES = 96, 48
DX, DZ = 2.5, 4.0


class Fail(Exception):
    pass


class Client:
    def __init__(self, server, prefix):
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port or 80
        self.prefix = prefix.rstrip("/")
        self.headers = {}

    def call(self, method, selector, body=None, content_type=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        h = dict(self.headers)
        if headers:
            h.update(headers)
        if body is not None:
            h["content-type"] = content_type
            h["content-length"] = str(len(body))
        conn.request(method, self.prefix + "/" + selector.lstrip("/"), body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        result = (r.status, data, {k.lower(): v for k, v in r.getheaders()})
        conn.close()
        return result

    # Slicer's pre-flight before each action: is auth on; is our token still good.
    def preflight(self, username, password):
        status, body, _ = self.call("GET", "/auth/")
        if status != 200:
            raise Fail(f"GET /auth/ answered {status}")
        if not json.loads(body).get("enabled", False):
            return
        if "authorization" in self.headers:
            status, _, _ = self.call("GET", "/auth/token/valid")
            if status == 200:
                return
        form = urllib.parse.urlencode({"username": username, "password": password, "grant_type": "password"}).encode()
        status, body, _ = self.call("POST", "/auth/token", form, "application/x-www-form-urlencoded")
        if status != 200:
            raise Fail(f"POST /auth/token answered {status}: {body[:300]!r}")
        token = json.loads(body)
        self.headers["authorization"] = f"{token['token_type']} {token['access_token']}"


def multipart(fields, files):
    """Slicer's encode_multipart_formdata: fields first, then files (filename = local path)."""
    lines = []
    for key, value in fields.items():
        lines += [b"--" + BOUNDARY.encode(), f'Content-Disposition: form-data; name="{key}"'.encode(), b"", value.encode()]
    for key, (filename, data) in files.items():
        lines += [b"--" + BOUNDARY.encode(),
                  f'Content-Disposition: form-data; name="{key}"; filename="{filename}"'.encode(),
                  b"Content-Type: application/octet-stream", b"", data]
    lines += [b"--" + BOUNDARY.encode() + b"--", b""]
    return b"\r\n".join(lines), "multipart/form-data; boundary=%s" % BOUNDARY


def parse_multipart(body, content_type):
    boundary = content_type.split("boundary=")[1].strip().strip('"').encode()
    fields, files = {}, {}
    for chunk in body.split(b"--" + boundary):
        if not chunk.strip() or chunk.strip() == b"--":
            continue
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        disposition = [l for l in head.decode().split("\r\n") if l.lower().startswith("content-disposition")][0]
        name = disposition.split('name="')[1].split('"')[0]
        if 'filename="' in disposition:
            files[disposition.split('filename="')[1].split('"')[0]] = data
        else:
            fields[name] = data
    return fields, files


def chest_phantom():
    """HU values of a synthetic chest (body, two lungs, spine) on a 96 x 96 x 48 grid,
    i fastest; LPS: i increases to the patient's left."""
    values = array("h")
    for k in range(SLICES):
        z = (k - (SLICES - 1) / 2.0) * DZ
        for j in range(SIZE):
            y = (j - (SIZE - 1) / 2.0) * DX
            for i in range(SIZE):
                x = (i - (SIZE - 1) / 2.0) * DX
                v = -1000
                if (x / 110.0) ** 2 + (y / 85.0) ** 2 <= 1.0:
                    v = 40
                    if ((x + 55) / 40.0) ** 2 + (y / 55.0) ** 2 + (z / 100.0) ** 2 <= 1.0:
                        v = -850
                    if ((x - 55) / 40.0) ** 2 + (y / 55.0) ** 2 + (z / 100.0) ** 2 <= 1.0:
                        v = -850
                    if (x / 15.0) ** 2 + ((y - 60) / 15.0) ** 2 <= 1.0:
                        v = 700
                # A little deterministic texture.
                v += int(8 * math.sin(i * 1.7 + j * 2.3 + k * 0.9))
                values.append(v)
    return values


ORIGIN_LPS = (-(SIZE - 1) / 2.0 * DX, -(SIZE - 1) / 2.0 * DX, -(SLICES - 1) / 2.0 * DZ)


def nifti(values, datatype, bitpix):
    """A NIfTI-1 file: LPS-aligned axes written as the RAS affine NIfTI wants."""
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, SIZE, SIZE, SLICES, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, datatype, bitpix)
    struct.pack_into("<8f", hdr, 76, 1.0, DX, DX, DZ, 0, 0, 0, 0)
    struct.pack_into("<f", hdr, 108, 352.0)
    struct.pack_into("<ff", hdr, 112, 1.0, 0.0)
    struct.pack_into("<hh", hdr, 252, 0, 1)  # qform 0, sform 1 (scanner)
    ox, oy, oz = ORIGIN_LPS
    struct.pack_into("<4f", hdr, 280, -DX, 0, 0, -ox)
    struct.pack_into("<4f", hdr, 296, 0, -DX, 0, -oy)
    struct.pack_into("<4f", hdr, 312, 0, 0, DZ, oz)
    hdr[344:348] = b"n+1\0"
    return gzip.compress(bytes(hdr) + b"\0\0\0\0" + values.tobytes(), 1)


def read_nrrd(data):
    head, _, raw = data.partition(b"\n\n")
    fields = {}
    for line in head.decode().splitlines()[1:]:
        if ": " in line and not line.startswith("#"):
            key, value = line.split(": ", 1)
            fields[key] = value
    if fields.get("encoding") == "gzip":
        raw = gzip.decompress(raw)
    return fields, raw


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--prefix", default="/monailabel")
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--image", default="SlicerChest")
    ap.add_argument("--expect-refusal", action="store_true")
    args = ap.parse_args(argv)
    client = Client(args.server, args.prefix)
    seen = {}

    client.preflight(args.username, args.password)
    status, body, _ = client.call("GET", "/info/")
    if status != 200:
        raise Fail(f"GET /info/ answered {status}: {body[:300]!r}")
    info = json.loads(body)
    if info.get("config"):
        raise Fail("the server's info has a top-level config: Slicer would refuse it")
    model = info["models"]["ct-lungs"]
    seen["model"] = {"type": model["type"], "labels": model["labels"], "dimension": model["dimension"]}
    seen["labels"] = info["labels"]
    client.call("GET", "/train/?check_if_running=true")  # Slicer's GUI refresh

    phantom = chest_phantom()
    client.preflight(args.username, args.password)
    body, ctype = multipart({"params": json.dumps({"client_id": "user-xyz"})},
                            {"file": ("/tmp/Slicer-user/slicer-monai-label/tmpk3x9.nii.gz", nifti(phantom, 4, 16))})
    status, answer, _ = client.call("PUT", "/datastore/?image=" + urllib.parse.quote_plus(args.image), body, ctype)
    if status != 200:
        raise Fail(f"upload answered {status}: {answer[:300]!r}")
    seen["upload"] = json.loads(answer)

    client.preflight(args.username, args.password)
    params = {"result_extension": ".nrrd", "result_dtype": "uint8", "client_id": "user-xyz"}
    body, ctype = multipart({"params": json.dumps(params)}, {})
    status, answer, headers = client.call("POST", "/infer/ct-lungs?image=" + urllib.parse.quote_plus(args.image), body, ctype)
    if args.expect_refusal:
        print(json.dumps({"status": status, "body": answer.decode(errors="replace")}))
        return 0
    if status != 200 or "multipart" not in headers.get("content-type", ""):
        raise Fail(f"infer answered {status} {headers.get('content-type')}: {answer[:300]!r}")
    fields, files = parse_multipart(answer, headers["content-type"])
    result = json.loads(fields["params"])
    (filename, label_bytes), = files.items()
    if not filename.endswith(".nrrd") or "/" in filename:
        raise Fail(f"the label file is named {filename!r}")
    nrrd, raw = read_nrrd(label_bytes)
    sizes = [int(s) for s in nrrd["sizes"].split()]
    directions = [[float(v) for v in d.strip("()").split(",")] for d in nrrd["space directions"].split()]
    origin = [float(v) for v in nrrd["space origin"].strip("()").split(",")]
    seen["result"] = {"label_names": result["label_names"], "job_id": result["job_id"], "file": filename,
                      "sizes": sizes, "space": nrrd["space"], "directions": directions, "origin": origin,
                      "voxels_right": raw.count(1), "voxels_left": raw.count(2)}
    expected_directions = [[DX, 0, 0], [0, DX, 0], [0, 0, DZ]]
    seen["same_grid"] = (sizes == [SIZE, SIZE, SLICES] and nrrd["space"] == "left-posterior-superior" and
                         all(abs(a - b) < 1e-3 for d, e in zip(directions, expected_directions) for a, b in zip(d, e)) and
                         all(abs(a - b) < 1e-3 for a, b in zip(origin, ORIGIN_LPS)))

    # The radiologist trims the right lung's lowest slices and saves: a correction.
    corrected = bytearray(raw)
    plane = SIZE * SIZE
    trimmed = 0
    for k in range(SLICES // 2):
        for p in range(plane):
            if corrected[k * plane + p] == 1:
                corrected[k * plane + p] = 0
                trimmed += 1
    client.preflight(args.username, args.password)
    label_info = [{"name": name, "idx": idx} for name, idx in result["label_names"].items()]
    body, ctype = multipart({"params": json.dumps({"label_info": label_info, "client_id": "user-xyz"})},
                            {"label": ("/tmp/Slicer-user/slicer-monai-label/tmpl4b.nii.gz", nifti(array("B", corrected), 2, 8))})
    status, answer, _ = client.call("PUT", "/datastore/label?image=" + urllib.parse.quote_plus(args.image), body, ctype)
    if status != 200:
        raise Fail(f"save label answered {status}: {answer[:300]!r}")
    seen["saved"] = json.loads(answer)
    seen["trimmed_voxels"] = trimmed
    seen["expected_dice_right"] = 2.0 * (raw.count(1) - trimmed) / (raw.count(1) + raw.count(1) - trimmed)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        print(f"monailabel_client: {e}", file=sys.stderr)
        sys.exit(1)
