// Tenancy over DIMSE: what is stored through tenant A's AE title is invisible through
// tenant B's. B's C-FIND returns nothing of A's at any level (even when asked for A's
// UIDs), a C-MOVE or C-GET of A's study UID through B moves 0 instances and the
// destination receives nothing, and B may store objects with A's UIDs without touching A's.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { datasetOf, describeRun, findscu, getscu, movescu, StoreScp, storescu } from './lib/dcmtk.mjs';
import { first, makeSeries, qido, sortedUids, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { addNode, startDimseServer } from './lib/dimse_fixture.mjs';
import { eventually } from './lib/fixture.mjs';

let server;
let port;
let tokens;
let dest;
let A; // tenant alpha's study (5 CT slices)
let B; // tenant beta's own study (3 CT slices)

const T = { PatientID: '00100020', StudyInstanceUID: '0020000D', SeriesInstanceUID: '0020000E', SOPInstanceUID: '00080018' };

before(async () => {
  ({ server, dicomPort: port, tokens } = await startDimseServer('dimse-tenant-isolation', [{ slug: 'alpha' }, { slug: 'beta' }]));
  dest = await StoreScp.start({ aet: 'STORESCP' });
  // The same destination is a registered node of both tenants.
  await addNode(server, { tenant: 'alpha', ae: 'STORESCP', port: dest.port });
  await addNode(server, { tenant: 'beta', ae: 'STORESCP', port: dest.port });
  A = await makeSeries({ slices: 5, rows: 64, cols: 64, patientName: 'ALPHA^ONLY', patientId: 'PIDALPHA', studyDate: '20200101', seed: 41 });
  B = await makeSeries({ slices: 3, rows: 64, cols: 64, patientName: 'BETA^ONLY', patientId: 'PIDBETA', studyDate: '20200101', seed: 42 });
  for (const [ae, s] of [['ALPHA', A], ['BETA', B]]) {
    const r = await storescu({ port, calledAe: ae, files: s.files, extra: ['-xe'] });
    assert.equal(r.successes, s.files.length, `storescu to ${ae}${describeRun(r)}`);
  }
});

after(async () => {
  await dest?.stop();
  await server?.dispose();
});

async function findVia(calledAe, model, keys) {
  const r = await findscu({ port, calledAe, model, keys });
  assert.equal(r.code, 0, `findscu via ${calledAe}${describeRun(r)}`);
  assert.equal(r.final, 0, `final C-FIND status via ${calledAe}${describeRun(r)}`);
  return r.matches;
}

test('findscu through tenant B\'s AE finds only B\'s data at every level, nothing of A\'s', async (t) => {
  await t.test('PATIENT level (patient root): only B\'s patient', async () => {
    const m = await findVia('BETA', 'P', [['QueryRetrieveLevel', 'PATIENT'], ['PatientID'], ['PatientName']]);
    assert.deepEqual(m.map((x) => x[T.PatientID]), ['PIDBETA']);
  });
  await t.test('STUDY level (study root), universal: only B\'s study', async () => {
    const m = await findVia('BETA', 'S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID'], ['PatientID']]);
    assert.deepEqual(m.map((x) => x[T.StudyInstanceUID]), [B.study_uid]);
  });
  await t.test('STUDY level with A\'s study UID, and with A\'s patient ID: nothing', async () => {
    assert.deepEqual(await findVia('BETA', 'S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', A.study_uid]]), []);
    assert.deepEqual(await findVia('BETA', 'S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID'], ['PatientID', 'PIDALPHA']]), []);
    assert.deepEqual(await findVia('BETA', 'S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID'], ['PatientName', 'ALPHA*']]), []);
  });
  await t.test('SERIES and IMAGE level with A\'s UIDs: nothing', async () => {
    assert.deepEqual(await findVia('BETA', 'S', [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', A.study_uid], ['SeriesInstanceUID']]), []);
    assert.deepEqual(await findVia('BETA', 'S', [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', A.study_uid], ['SeriesInstanceUID', A.series_uid], ['SOPInstanceUID']]), []);
    assert.deepEqual(await findVia('BETA', 'P', [['QueryRetrieveLevel', 'IMAGE'], ['PatientID', 'PIDALPHA'], ['StudyInstanceUID', A.study_uid], ['SeriesInstanceUID', A.series_uid], ['SOPInstanceUID']]), []);
  });
  await t.test('the same query through A\'s AE finds A\'s study (the data is there)', async () => {
    const m = await findVia('ALPHA', 'S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', A.study_uid]]);
    assert.deepEqual(m.map((x) => x[T.StudyInstanceUID]), [A.study_uid]);
  });
});

test('movescu of A\'s study UID through B\'s AE moves 0 instances and storescp receives nothing', { timeout: 60_000 }, async () => {
  const associations = () => (dest.log.match(/Association Received/g) ?? []).length;
  const earlier = associations();
  const r = await movescu({ port, calledAe: 'BETA', moveDestination: 'STORESCP', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', A.study_uid]] });
  assert.ok(r.final, `no final C-MOVE response${describeRun(r)}`);
  assert.ok(!r.final.completed, `completed sub-operations: ${r.final.completed}${describeRun(r)}`);
  assert.ok(!r.final.failed && !r.final.warning, `failed/warning sub-operations: ${r.final.failed}/${r.final.warning}${describeRun(r)}`);
  // Also at IMAGE level, naming A's instance outright.
  const r2 = await movescu({ port, calledAe: 'BETA', moveDestination: 'STORESCP', keys: [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', A.study_uid], ['SeriesInstanceUID', A.series_uid], ['SOPInstanceUID', A.sop_instance_uids[0]]] });
  assert.ok(r2.final && !r2.final.completed, `IMAGE level: completed ${r2.final?.completed}${describeRun(r2)}`);
  // A move's sub-operations end before its final response, and storescp writes what it
  // receives before it answers: whatever B's moves sent is there by now.
  assert.deepEqual(dest.files().map((f) => f.sop), [], 'storescp received instances');

  // Control: the same move through A's AE moves all 5.
  const ok = await movescu({ port, calledAe: 'ALPHA', moveDestination: 'STORESCP', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', A.study_uid]] });
  assert.equal(ok.final?.completed, 5, `control move through ALPHA${describeRun(ok)}`);
  assert.deepEqual(dest.files().map((f) => f.sop).sort(), [...A.sop_instance_uids].sort());
  // Nor did anything of B's moves land late: the control move's association is the only
  // one storescp has had in this test (its log comes through a pipe: wait for that line).
  await eventually('storescp to log the control move\'s association', () => associations() > earlier, 30_000, 50);
  assert.equal(associations(), earlier + 1, `associations storescp received in this test:\n${dest.log}`);
});

test('getscu of A\'s study UID through B\'s AE retrieves nothing', { timeout: 60_000 }, async () => {
  const r = await getscu({ port, calledAe: 'BETA', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', A.study_uid]] });
  assert.ok(r.final, `no final C-GET response${describeRun(r)}`);
  assert.ok(!r.final.completed, `completed sub-operations: ${r.final.completed}${describeRun(r)}`);
  assert.deepEqual(readdirSync(r.dir), [], 'getscu received files');
});

test('B stores objects with A\'s UIDs in its own space: no conflict, A\'s copy untouched', { timeout: 60_000 }, async () => {
  const r = await storescu({ port, calledAe: 'BETA', files: A.files.slice(0, 2), extra: ['-xe'] });
  assert.equal(r.successes, 2, `storescu of A's files to BETA${describeRun(r)}`);
  const inB = await qido(server, tokens.beta, `/studies/${A.study_uid}/series/${A.series_uid}/instances`);
  assert.equal(inB.length, 2);
  const [a] = await qido(server, tokens.alpha, `/studies?StudyInstanceUID=${A.study_uid}`);
  assert.equal(first(a, TAGS.NumberOfStudyRelatedInstances), 5);
  const parts = await wadoParts(server, tokens.alpha, `/studies/${A.study_uid}/series/${A.series_uid}`);
  assert.deepEqual(parts.map((p) => datasetOf(p).sop).sort(), [...A.sop_instance_uids].sort());
  assert.deepEqual(sortedUids(await qido(server, tokens.beta, '/studies'), TAGS.StudyInstanceUID), [A.study_uid, B.study_uid].sort());
});
