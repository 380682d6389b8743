// Whole series in and out: the real LIDC chest CT (275 Implicit VR slices, ../shared/data)
// and a 200-slice 512x512 synthetic CT are each stored in one request, found by QIDO with
// exact counts, and returned by WADO series retrieve byte-identical.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { first, get, makeSeries, qido, sortedUids, stowOk, TAGS, values, wadoParts } from './lib/dicomweb.mjs';
import { readDicomFile } from './lib/dicom.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';

let server;
let token;

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('real-and-synthetic', ['alpha'], { args: ['--max-body-bytes', '1000000000'] }));
});

after(async () => {
  await server?.dispose();
});

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function roundTripSeries(instances, { modality }) {
  const study = instances[0].study;
  const series = instances[0].series;
  assert.ok(instances.every((i) => i.study === study && i.series === series), 'one series expected');
  const r = await stowOk(server, token, instances.map((i) => i.bytes), { timeoutMs: 240_000 });
  assert.deepEqual([...r.stored].sort(), instances.map((i) => i.sop).sort());

  const [st] = await qido(server, token, `/studies?StudyInstanceUID=${study}`);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedInstances), instances.length);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedSeries), 1);
  assert.deepEqual(values(st, TAGS.ModalitiesInStudy), [modality]);
  const [se] = await qido(server, token, `/studies/${study}/series`);
  assert.equal(first(se, TAGS.NumberOfSeriesRelatedInstances), instances.length);
  const inst = await qido(server, token, `/studies/${study}/series/${series}/instances`);
  assert.deepEqual(sortedUids(inst, TAGS.SOPInstanceUID), instances.map((i) => i.sop).sort());

  const parts = await wadoParts(server, token, `/studies/${study}/series/${series}`);
  assert.equal(parts.length, instances.length);
  const sent = new Set(instances.map((i) => sha256(i.bytes)));
  const got = new Set(parts.map(sha256));
  const missing = [...sent].filter((h) => !got.has(h)).length;
  assert.equal(missing, 0, `${missing} of ${instances.length} stored files do not come back byte-identical`);

  const md = await get(server, token, `/studies/${study}/series/${series}/metadata`, 'application/dicom+json');
  assert.equal(md.status, 200);
  assert.equal(md.json().length, instances.length);
}

test('the real LIDC chest CT (275 slices) is stored and retrieved byte-identical', { timeout: 300_000 }, async (t) => {
  const dir = sharedDataDir('ct-chest-lidc');
  if (!dir) {
    t.skip('../shared/data/ct-chest-lidc is absent (real data is not part of a fresh clone)');
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).sort();
  assert.equal(files.length, 275);
  const instances = files.map((f) => readDicomFile(join(dir, f)));
  await roundTripSeries(instances, { modality: 'CT' });
});

test('a synthetic 200-slice 512x512 CT series is stored and retrieved byte-identical', { timeout: 300_000 }, async () => {
  const s = await makeSeries({ slices: 200, rows: 512, cols: 512, patientName: 'SYNTH^LARGE', patientId: 'PIDSYNTH200', seed: 111 });
  const instances = s.instances.map((i) => ({ ...i, study: s.study_uid, series: s.series_uid }));
  await roundTripSeries(instances, { modality: 'CT' });
});
