// DICOMweb calls used across tests (STOW-RS, QIDO-RS, WADO-RS) over lib/http.mjs, DICOM
// JSON accessors, and the synthetic series generator.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { makeSeriesScript, makeTempDir, python } from './env.mjs';
import { bearer, request } from './http.mjs';
import { multipartBody, parseMultipart } from './multipart.mjs';

const execFileP = promisify(execFile);

export const TAGS = {
  SpecificCharacterSet: '00080005',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  AccessionNumber: '00080050',
  ModalitiesInStudy: '00080061',
  Modality: '00080060',
  RetrieveURL: '00081190',
  FailedSOPSequence: '00081198',
  FailureReason: '00081197',
  ReferencedSOPSequence: '00081199',
  ReferencedSOPInstanceUID: '00081155',
  ReferencedSOPClassUID: '00081150',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientName: '00100010',
  PatientID: '00100020',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  Rows: '00280010',
  Columns: '00280011',
  PixelData: '7FE00010',
};

export const ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*';
export const ACCEPT_OCTET = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';

// --- DICOM JSON accessors --------------------------------------------------------------
export function values(obj, tag) {
  return obj?.[tag]?.Value;
}
export function first(obj, tag) {
  return obj?.[tag]?.Value?.[0];
}
export function pnAlphabetic(obj, tag) {
  return obj?.[tag]?.Value?.[0]?.Alphabetic;
}
export function uidsIn(results, tag) {
  return results.map((r) => first(r, tag));
}
export function sortedUids(results, tag) {
  return uidsIn(results, tag).sort();
}

// --- STOW-RS ---------------------------------------------------------------------------
// Stores `parts` (Buffers) in one request. Returns {res, json, stored: [sop uids],
// failed: [{uid, reason}]} where json is the parsed response when there is one.
export async function stow(server, token, parts, { study, quoted = false, timeoutMs = 120_000 } = {}) {
  const { body, contentType } = multipartBody(parts, { quoted });
  const path = study ? `/dicomweb/studies/${study}` : '/dicomweb/studies';
  const res = await request(server.baseUrl, {
    method: 'POST',
    path,
    headers: { ...bearer(token), 'Content-Type': contentType, Accept: 'application/dicom+json', 'Content-Length': body.length },
    body,
    timeoutMs,
  });
  return { res, ...stowResult(res) };
}

export function stowResult(res) {
  let json;
  try {
    json = res.body.length ? res.json() : undefined;
  } catch {
    json = undefined;
  }
  const ref = values(json, TAGS.ReferencedSOPSequence) ?? [];
  const fail = values(json, TAGS.FailedSOPSequence) ?? [];
  return {
    json,
    stored: ref.map((i) => first(i, TAGS.ReferencedSOPInstanceUID)),
    failed: fail.map((i) => ({ uid: first(i, TAGS.ReferencedSOPInstanceUID), reason: first(i, TAGS.FailureReason) })),
  };
}

// Stores and asserts 200 with every instance referenced; throws with details otherwise.
export async function stowOk(server, token, parts, opts) {
  const r = await stow(server, token, parts, opts);
  if (r.res.status !== 200 || r.stored.length !== parts.length) {
    throw new Error(`STOW of ${parts.length} instances: HTTP ${r.res.status}, ${r.stored.length} referenced, failed ${JSON.stringify(r.failed)}; body ${r.res.text().slice(0, 500)}`);
  }
  return r;
}

// --- QIDO-RS / WADO-RS -------------------------------------------------------------------
export async function get(server, token, path, accept) {
  const headers = { ...bearer(token) };
  if (accept) headers.Accept = accept;
  return request(server.baseUrl, { path: `/dicomweb${path}`, headers, timeoutMs: 120_000 });
}

// QIDO search: returns the results array ([] on 204). Throws on other statuses.
export async function qido(server, token, path) {
  const res = await get(server, token, path, 'application/dicom+json');
  if (res.status === 204) return [];
  if (res.status !== 200) throw new Error(`QIDO ${path}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
  const ct = res.headers['content-type'] ?? '';
  if (!ct.startsWith('application/dicom+json')) throw new Error(`QIDO ${path}: Content-Type '${ct}'`);
  const j = res.body.length ? res.json() : [];
  if (!Array.isArray(j)) throw new Error(`QIDO ${path}: body is not a JSON array`);
  return j;
}

// WADO-RS multipart retrieve: returns the parts' bodies. Throws unless 200 multipart.
export async function wadoParts(server, token, path, accept = ACCEPT_DICOM) {
  const res = await get(server, token, path, accept);
  if (res.status !== 200) throw new Error(`WADO ${path}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
  return parseMultipart(res.body, res.headers['content-type']).map((p) => p.body);
}

// --- synthetic data ----------------------------------------------------------------------
// Runs tests/tools/make_series.py. opts: {slices, rows, cols, patientName, patientId,
// studyDate, modality, seed, studyUid, seriesNumber, studyDescription, seriesDescription,
// accession}. Returns the script's JSON plus `instances`: [{path, bytes, sop}].
export async function makeSeries(opts = {}) {
  const out = opts.out ?? makeTempDir('series');
  const args = [
    makeSeriesScript,
    '--out', out,
    '--slices', String(opts.slices ?? 3),
    '--rows', String(opts.rows ?? 64),
    '--cols', String(opts.cols ?? 64),
    '--patient-name', opts.patientName ?? 'DOE^JOHN',
    '--patient-id', opts.patientId ?? 'PID0001',
    '--study-date', opts.studyDate ?? '20200115',
    '--modality', opts.modality ?? 'CT',
    '--seed', String(opts.seed ?? 1),
  ];
  if (opts.studyUid) args.push('--study-uid', opts.studyUid);
  if (opts.seriesNumber) args.push('--series-number', String(opts.seriesNumber));
  if (opts.studyDescription) args.push('--study-description', opts.studyDescription);
  if (opts.seriesDescription) args.push('--series-description', opts.seriesDescription);
  if (opts.accession) args.push('--accession', opts.accession);
  if (opts.prefix) args.push('--prefix', opts.prefix);
  const { stdout } = await execFileP(python, args, { maxBuffer: 64 << 20, timeout: 120_000 });
  const j = JSON.parse(stdout);
  j.dir = out;
  j.instances = j.files.map((path, i) => ({ path, bytes: readFileSync(path), sop: j.sop_instance_uids[i] }));
  return j;
}
