// STOW -> QIDO -> WADO with the `dicomweb-client` npm package, the way a web viewer talks
// to the server: what goes in comes back byte for byte.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dicomwebClient } from './lib/client.mjs';
import { first, makeSeries, pnAlphabetic, TAGS, values } from './lib/dicomweb.mjs';
import { pixelDataOf } from './lib/dicom.mjs';
import { startWithTenants, toArrayBuffer } from './lib/fixture.mjs';

let server;
let client;
let series;

before(async () => {
  const s = await startWithTenants('round-trip-client', ['alpha']);
  server = s.server;
  client = dicomwebClient(server, s.tokens.alpha);
  series = await makeSeries({ slices: 4, rows: 64, cols: 48, patientName: 'CLIENT^ROUNDTRIP', patientId: 'PIDCLIENT1', seed: 11 });
});

after(async () => {
  await server?.dispose();
});

const bySop = () => new Map(series.instances.map((i) => [i.sop, i]));

test('storeInstances stores every instance and answers with a ReferencedSOPSequence', async () => {
  const response = await client.storeInstances({ datasets: series.instances.map((i) => toArrayBuffer(i.bytes)) });
  const json = typeof response === 'string' ? JSON.parse(response) : response;
  const refs = values(json, TAGS.ReferencedSOPSequence);
  assert.ok(Array.isArray(refs), `no ReferencedSOPSequence in ${JSON.stringify(json).slice(0, 300)}`);
  assert.deepEqual(refs.map((r) => first(r, TAGS.ReferencedSOPInstanceUID)).sort(), [...series.sop_instance_uids].sort());
  assert.equal(values(json, TAGS.FailedSOPSequence), undefined, 'no failures expected');
});

test('searchForStudies finds the study by PatientID with computed counts', async () => {
  const studies = await client.searchForStudies({ queryParams: { PatientID: 'PIDCLIENT1' } });
  assert.equal(studies.length, 1);
  assert.equal(first(studies[0], TAGS.StudyInstanceUID), series.study_uid);
  assert.equal(pnAlphabetic(studies[0], TAGS.PatientName), 'CLIENT^ROUNDTRIP');
  assert.equal(first(studies[0], TAGS.NumberOfStudyRelatedInstances), 4);
  assert.equal(first(studies[0], TAGS.NumberOfStudyRelatedSeries), 1);
});

test('searchForSeries and searchForInstances list the series and its 4 instances', async () => {
  const s = await client.searchForSeries({ studyInstanceUID: series.study_uid });
  assert.equal(s.length, 1);
  assert.equal(first(s[0], TAGS.SeriesInstanceUID), series.series_uid);
  assert.equal(first(s[0], TAGS.Modality), 'CT');
  const inst = await client.searchForInstances({ studyInstanceUID: series.study_uid, seriesInstanceUID: series.series_uid });
  assert.deepEqual(inst.map((r) => first(r, TAGS.SOPInstanceUID)).sort(), [...series.sop_instance_uids].sort());
});

test('retrieveInstance returns the stored file byte-identical', async () => {
  const one = series.instances[2];
  const ab = await client.retrieveInstance({ studyInstanceUID: series.study_uid, seriesInstanceUID: series.series_uid, sopInstanceUID: one.sop });
  assert.ok(Buffer.from(ab).equals(one.bytes), `retrieved ${ab.byteLength} bytes, stored ${one.bytes.length}; not identical`);
});

test('retrieveSeries returns all instances byte-identical', async () => {
  const parts = await client.retrieveSeries({ studyInstanceUID: series.study_uid, seriesInstanceUID: series.series_uid });
  assert.equal(parts.length, 4);
  const want = series.instances.map((i) => i.bytes.toString('base64')).sort();
  const got = parts.map((p) => Buffer.from(p).toString('base64')).sort();
  assert.ok(want.every((w, k) => w === got[k]), 'series parts differ from the stored files');
});

test('retrieveStudyMetadata returns DICOM JSON with PN as Alphabetic and PixelData as BulkDataURI', async () => {
  const md = await client.retrieveStudyMetadata({ studyInstanceUID: series.study_uid });
  assert.equal(md.length, 4);
  const sops = bySop();
  for (const m of md) {
    const sop = first(m, TAGS.SOPInstanceUID);
    assert.ok(sops.has(sop), `unexpected SOP ${sop}`);
    assert.deepEqual(m[TAGS.PatientName], { vr: 'PN', Value: [{ Alphabetic: 'CLIENT^ROUNDTRIP' }] });
    assert.equal(first(m, TAGS.Rows), 64);
    assert.equal(first(m, TAGS.Columns), 48);
    assert.equal(typeof m[TAGS.PixelData]?.BulkDataURI, 'string', 'PixelData needs a BulkDataURI');
  }
});

test('retrieveInstanceFrames returns frame 1 as the native pixel bytes', async () => {
  const one = series.instances[0];
  const frames = await client.retrieveInstanceFrames({
    studyInstanceUID: series.study_uid,
    seriesInstanceUID: series.series_uid,
    sopInstanceUID: one.sop,
    frameNumbers: [1],
  });
  assert.equal(frames.length, 1);
  const px = pixelDataOf(one.bytes);
  assert.equal(frames[0].byteLength, px.length);
  assert.ok(Buffer.from(frames[0]).equals(px), 'frame bytes differ from PixelData');
});
