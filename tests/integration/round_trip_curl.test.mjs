// STOW -> QIDO -> WADO with curl, as a script or another PACS would: a >1 MB upload
// (curl then sends "Expect: 100-continue"), then search and retrieve.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, makeSeries, TAGS, values } from './lib/dicomweb.mjs';
import { makeTempDir } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { multipartBody, parseMultipart } from './lib/multipart.mjs';

const execFileP = promisify(execFile);
let server;
let token;
let series;
let work;

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('round-trip-curl', ['alpha']));
  series = await makeSeries({ slices: 10, rows: 256, cols: 256, patientName: 'CURL^ROUNDTRIP', patientId: 'PIDCURL1', seed: 12 });
  work = makeTempDir('curl');
});

after(async () => {
  await server?.dispose();
});

// Runs curl; returns {status, contentType, body: Buffer}.
async function curl(args) {
  const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await execFileP('curl', ['-sS', '-o', out, '-w', '%{http_code} %{content_type}', ...args], { maxBuffer: 1 << 20 });
  const sp = stdout.indexOf(' ');
  return { status: Number(stdout.slice(0, sp)), contentType: stdout.slice(sp + 1), body: readFileSync(out) };
}

const auth = () => ['-H', `Authorization: Bearer ${token}`];

test('curl STOW of a 10-instance, >1 MB body answers 200 with all instances referenced', async () => {
  const { body, contentType } = multipartBody(series.instances.map((i) => i.bytes), { quoted: true });
  assert.ok(body.length > 1 << 20, 'body should exceed 1 MB so curl sends Expect: 100-continue');
  const bodyPath = join(work, 'stow.body');
  writeFileSync(bodyPath, body);
  const r = await curl([...auth(), '-H', `Content-Type: ${contentType}`, '-H', 'Accept: application/dicom+json', '--data-binary', `@${bodyPath}`, `${server.dicomweb}/studies`]);
  assert.equal(r.status, 200, r.body.toString().slice(0, 400));
  assert.match(r.contentType, /^application\/dicom\+json/);
  const json = JSON.parse(r.body);
  const refs = values(json, TAGS.ReferencedSOPSequence) ?? [];
  assert.deepEqual(refs.map((x) => first(x, TAGS.ReferencedSOPInstanceUID)).sort(), [...series.sop_instance_uids].sort());
  for (const ref of refs) {
    assert.match(first(ref, TAGS.RetrieveURL) ?? '', /\/studies\/.+\/series\/.+\/instances\/.+/, 'each referenced SOP carries a RetrieveURL');
  }
});

test('curl QIDO with a percent-encoded PatientName finds the study', async () => {
  const r = await curl([...auth(), '-H', 'Accept: application/dicom+json', `${server.dicomweb}/studies?PatientName=CURL%5EROUNDTRIP`]);
  assert.equal(r.status, 200);
  const j = JSON.parse(r.body);
  assert.equal(j.length, 1);
  assert.equal(first(j[0], TAGS.StudyInstanceUID), series.study_uid);
  assert.equal(first(j[0], TAGS.NumberOfStudyRelatedInstances), 10);
});

test('curl QIDO instances of the series lists all 10 SOP Instance UIDs', async () => {
  const r = await curl([...auth(), `${server.dicomweb}/studies/${series.study_uid}/series/${series.series_uid}/instances`]);
  assert.equal(r.status, 200);
  const j = JSON.parse(r.body);
  assert.deepEqual(j.map((x) => first(x, TAGS.SOPInstanceUID)).sort(), [...series.sop_instance_uids].sort());
});

test('curl WADO instance is one application/dicom part, byte-identical', async () => {
  const one = series.instances[7];
  const r = await curl([...auth(), '-H', 'Accept: multipart/related; type="application/dicom"', `${server.dicomweb}/studies/${series.study_uid}/series/${series.series_uid}/instances/${one.sop}`]);
  assert.equal(r.status, 200);
  const parts = parseMultipart(r.body, r.contentType);
  assert.equal(parts.length, 1);
  assert.match(parts[0].headers['content-type'] ?? '', /^application\/dicom/);
  assert.ok(parts[0].body.equals(one.bytes), 'retrieved instance differs from the file sent');
});

test('curl WADO study returns every instance byte-identical', async () => {
  const r = await curl([...auth(), '-H', 'Accept: multipart/related; type="application/dicom"', `${server.dicomweb}/studies/${series.study_uid}`]);
  assert.equal(r.status, 200);
  const parts = parseMultipart(r.body, r.contentType);
  assert.equal(parts.length, 10);
  const want = new Set(series.instances.map((i) => i.bytes.toString('base64')));
  for (const p of parts) assert.ok(want.has(p.body.toString('base64')), 'a study part is not one of the files sent');
});
