// WADO-RS resources and media types: instance/series/study as multipart application/dicom
// (byte-identical), metadata as DICOM JSON, BulkDataURI and frames as octet-stream,
// rendered and thumbnail as JPEG/PNG, 406 for media types the server does not offer.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ACCEPT_DICOM, ACCEPT_OCTET, first, get, makeSeries, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { newUid, pixelDataOf } from './lib/dicom.mjs';
import { assertHealthy, startWithTenants } from './lib/fixture.mjs';
import { bearer, errorBody, request } from './lib/http.mjs';
import { parseMultipart } from './lib/multipart.mjs';

let server;
let token;
let ct;
let mr;

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('wado-formats', ['alpha']));
  ct = await makeSeries({ slices: 3, rows: 64, cols: 64, patientName: 'WADO^FORMATS', patientId: 'PIDWADO', seed: 21 });
  mr = await makeSeries({ slices: 2, rows: 32, cols: 40, modality: 'MR', studyUid: ct.study_uid, seriesNumber: 2, patientName: 'WADO^FORMATS', patientId: 'PIDWADO', seed: 22, prefix: 'mr' });
  await stowOk(server, token, [...ct.instances, ...mr.instances].map((i) => i.bytes));
});

after(async () => {
  await server?.dispose();
});

const instPath = (s, i) => `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[i].sop}`;
const asSet = (bufs) => bufs.map((b) => b.toString('base64')).sort();

test('WADO instance: one part, Content-Type application/dicom, byte-identical', async () => {
  const res = await get(server, token, instPath(ct, 1), ACCEPT_DICOM);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^multipart\/related/);
  assert.match(res.headers['content-type'], /type="?application\/dicom"?/);
  const parts = parseMultipart(res.body, res.headers['content-type']);
  assert.equal(parts.length, 1);
  assert.match(parts[0].headers['content-type'] ?? '', /^application\/dicom/);
  assert.ok(parts[0].body.equals(ct.instances[1].bytes));
});

test('WADO series returns exactly that series, byte-identical', async () => {
  const parts = await wadoParts(server, token, `/studies/${ct.study_uid}/series/${ct.series_uid}`);
  assert.deepEqual(asSet(parts), asSet(ct.instances.map((i) => i.bytes)));
  const mrParts = await wadoParts(server, token, `/studies/${mr.study_uid}/series/${mr.series_uid}`);
  assert.deepEqual(asSet(mrParts), asSet(mr.instances.map((i) => i.bytes)));
});

test('WADO study returns both series, byte-identical', async () => {
  const parts = await wadoParts(server, token, `/studies/${ct.study_uid}`);
  assert.deepEqual(asSet(parts), asSet([...ct.instances, ...mr.instances].map((i) => i.bytes)));
});

test('WADO without Accept header defaults to multipart application/dicom', async () => {
  const res = await get(server, token, instPath(ct, 0));
  assert.equal(res.status, 200);
  const parts = parseMultipart(res.body, res.headers['content-type']);
  assert.equal(parts.length, 1);
  assert.ok(parts[0].body.equals(ct.instances[0].bytes));
});

test('series metadata is application/dicom+json, one object per instance, PixelData as BulkDataURI', async () => {
  const res = await get(server, token, `/studies/${ct.study_uid}/series/${ct.series_uid}/metadata`, 'application/dicom+json');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^application\/dicom\+json/);
  const md = res.json();
  assert.equal(md.length, 3);
  for (const m of md) {
    assert.deepEqual(m[TAGS.StudyInstanceUID], { vr: 'UI', Value: [ct.study_uid] });
    assert.deepEqual(m[TAGS.PatientName], { vr: 'PN', Value: [{ Alphabetic: 'WADO^FORMATS' }] });
    assert.deepEqual(m[TAGS.Rows], { vr: 'US', Value: [64] });
    assert.equal(m[TAGS.PixelData]?.vr, 'OW');
    assert.equal(typeof m[TAGS.PixelData]?.BulkDataURI, 'string');
    assert.equal(m[TAGS.PixelData]?.InlineBinary, undefined, 'pixel data must not be inlined');
  }
});

test('study and instance metadata cover 5 and 1 instances', async () => {
  const study = await get(server, token, `/studies/${ct.study_uid}/metadata`, 'application/dicom+json');
  assert.equal(study.status, 200);
  assert.equal(study.json().length, 5);
  const inst = await get(server, token, `${instPath(mr, 0)}/metadata`, 'application/dicom+json');
  assert.equal(inst.status, 200);
  const j = inst.json();
  assert.equal(j.length, 1);
  assert.equal(first(j[0], TAGS.SOPInstanceUID), mr.instances[0].sop);
});

test('the PixelData BulkDataURI returns the native pixel bytes', async () => {
  const md = (await get(server, token, `${instPath(ct, 2)}/metadata`, 'application/dicom+json')).json();
  const uri = md[0][TAGS.PixelData].BulkDataURI;
  const url = new URL(uri, `${server.dicomweb}/`);
  assert.equal(url.host, `127.0.0.1:${server.port}`, `BulkDataURI ${uri} must point at this server`);
  const res = await request(server.baseUrl, { path: url.pathname + url.search, headers: { ...bearer(token), Accept: ACCEPT_OCTET } });
  assert.equal(res.status, 200, `GET ${uri}`);
  const parts = parseMultipart(res.body, res.headers['content-type']);
  assert.equal(parts.length, 1);
  assert.ok(parts[0].body.equals(pixelDataOf(ct.instances[2].bytes)), 'bulk data differs from PixelData');
});

test('frames/1 is one application/octet-stream part with the frame bytes', async () => {
  const res = await get(server, token, `${instPath(mr, 1)}/frames/1`, ACCEPT_OCTET);
  assert.equal(res.status, 200);
  const parts = parseMultipart(res.body, res.headers['content-type']);
  assert.equal(parts.length, 1);
  assert.match(parts[0].headers['content-type'] ?? '', /^application\/octet-stream/);
  assert.equal(parts[0].body.length, 32 * 40 * 2);
  assert.ok(parts[0].body.equals(pixelDataOf(mr.instances[1].bytes)));
});

const JPEG = Buffer.from([0xff, 0xd8, 0xff]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

for (const [resource, accept, magic] of [
  ['rendered', 'image/jpeg', JPEG],
  ['rendered', 'image/png', PNG],
  ['thumbnail', 'image/jpeg', JPEG],
  ['thumbnail', 'image/png', PNG],
]) {
  test(`instance /${resource} with Accept ${accept} is a ${accept} image`, async () => {
    const res = await get(server, token, `${instPath(ct, 0)}/${resource}`, accept);
    assert.equal(res.status, 200, res.text().slice(0, 300));
    assert.match(res.headers['content-type'], new RegExp(`^${accept.replace('/', '\\/')}`));
    assert.ok(res.body.length > magic.length && res.body.subarray(0, magic.length).equals(magic), `body does not start with the ${accept} signature`);
  });
}

test('instance /rendered without an Accept header is an image', async () => {
  const res = await get(server, token, `${instPath(ct, 0)}/rendered`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^image\/(jpeg|png)/);
});

test('unsupported Accept gets 406 with a JSON error, and the server stays up', async () => {
  for (const [path, accept] of [
    [instPath(ct, 0), 'text/html'],
    [instPath(ct, 0), 'multipart/related; type="image/gif"'],
    [`${instPath(ct, 0)}/metadata`, 'application/pdf'],
    [`${instPath(ct, 0)}/rendered`, 'text/html'],
  ]) {
    const res = await get(server, token, path, accept);
    assert.equal(res.status, 406, `${path} Accept ${accept}`);
    errorBody(res);
  }
  await assertHealthy(server, '406s');
});

test('unknown study, series and instance answer 404', async () => {
  const cases = [
    `/studies/${newUid()}`,
    `/studies/${ct.study_uid}/series/${newUid()}`,
    `/studies/${ct.study_uid}/series/${ct.series_uid}/instances/${newUid()}`,
    `/studies/${newUid()}/metadata`,
  ];
  for (const path of cases) {
    const accept = path.endsWith('metadata') ? 'application/dicom+json' : ACCEPT_DICOM;
    const res = await get(server, token, path, accept);
    assert.equal(res.status, 404, path);
    errorBody(res);
  }
});
