// Volumes, segmentations and annotations through the JSON API, and the independent
// checks of tests/tools/volume_checks.py (nibabel, pydicom).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { makeTempDir, python, repoRoot } from './env.mjs';
import { request } from './http.mjs';

const execFileP = promisify(execFile);
const checksScript = join(repoRoot, 'tests', 'tools', 'volume_checks.py');

export const bearer = (token) => ({ Authorization: `Bearer ${token}` });

export async function apiGet(server, token, path, { timeoutMs = 120_000 } = {}) {
  return request(server.baseUrl, { path, headers: bearer(token), timeoutMs });
}

export async function apiJson(server, token, method, path, json) {
  return request(server.baseUrl, {
    method, path, headers: { ...bearer(token), 'Content-Type': 'application/json' },
    body: json === undefined ? undefined : Buffer.from(JSON.stringify(json)),
  });
}

// multipart/form-data with a JSON "meta" part and a "labels" part, as a browser sends it.
export async function formBody(meta, labels) {
  const form = new FormData();
  form.append('meta', JSON.stringify(meta));
  form.append('labels', new Blob([labels]));
  const req = new Request('http://localhost/', { method: 'POST', body: form });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get('content-type') };
}

// POST /api/v1/series/{series}/segmentations with raw labels (gzip-compressed here).
export async function saveLabels(server, token, series, labels, meta, { headers = {} } = {}) {
  const { body, contentType } = await formBody(meta, gzipSync(labels));
  return request(server.baseUrl, {
    method: 'POST', path: `/api/v1/series/${series}/segmentations`,
    headers: { ...bearer(token), 'Content-Type': contentType, ...headers }, body, timeoutMs: 120_000,
  });
}

export async function saveSeg(server, token, series, segBytes) {
  return request(server.baseUrl, {
    method: 'POST', path: `/api/v1/series/${series}/segmentations`,
    headers: { ...bearer(token), 'Content-Type': 'application/dicom' }, body: segBytes, timeoutMs: 120_000,
  });
}

// The labels of a version as raw bytes (the server sends them gzip-encoded).
// `layer`: one layer of a version whose segments overlap (else every layer flattened).
export async function fetchLabels(server, token, id, { layer } = {}) {
  const res = await apiGet(server, token, `/api/v1/segmentations/${id}/labels${layer === undefined ? '' : `?layer=${layer}`}`);
  if (res.status !== 200) throw new Error(`labels of ${id}: ${res.status} ${res.text()}`);
  return gunzipSync(res.body);
}

export async function geometry(server, token, series) {
  const res = await apiGet(server, token, `/api/v1/series/${series}/geometry`);
  if (res.status !== 200) throw new Error(`geometry of ${series}: ${res.status} ${res.text()}`);
  return res.json();
}

// Runs a volume_checks.py command; files given as Buffers are written to a temp dir first.
export async function volumeCheck(command, ...args) {
  const dir = makeTempDir('checks');
  const paths = args.map((a, i) => {
    if (!Buffer.isBuffer(a)) return String(a);
    // nibabel tells formats by file name.
    const gz = a[0] === 0x1f && a[1] === 0x8b;
    const nifti = a.length >= 348 && a.readInt32LE(0) === 348;
    const p = join(dir, `arg${i}${gz ? '.nii.gz' : nifti ? '.nii' : '.bin'}`);
    writeFileSync(p, a);
    return p;
  });
  const { stdout } = await execFileP(python, [checksScript, command, ...paths], { maxBuffer: 64 << 20, timeout: 300_000 });
  return JSON.parse(stdout);
}

export const dimsText = (g) => g.dims.join(',');
