// Storing the same instance twice is harmless (200, still one copy); a different object
// under an existing SOP Instance UID is refused for that instance only and the stored
// object is kept; an instance whose study does not match /studies/{study} fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { first, makeSeries, qido, sortedUids, stow, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { newUid, withUids, withValues } from './lib/dicom.mjs';
import { assertHealthy, startWithTenants } from './lib/fixture.mjs';

let server;
let token;
let S;

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('idempotency-conflicts', ['alpha']));
  S = await makeSeries({ slices: 2, rows: 32, cols: 32, patientName: 'SAME^AGAIN', patientId: 'PIDSAME', seed: 61 });
  const r = await stow(server, token, S.instances.map((i) => i.bytes));
  assert.equal(r.res.status, 200);
});

after(async () => {
  await server?.dispose();
});

const instPath = (i) => `/studies/${S.study_uid}/series/${S.series_uid}/instances/${i.sop}`;

async function studyCount() {
  const [st] = await qido(server, token, `/studies?StudyInstanceUID=${S.study_uid}`);
  return first(st, TAGS.NumberOfStudyRelatedInstances);
}

test('re-storing identical instances answers 200 with both referenced and keeps one copy each', async () => {
  const r = await stow(server, token, S.instances.map((i) => i.bytes));
  assert.equal(r.res.status, 200, r.res.text().slice(0, 300));
  assert.deepEqual([...r.stored].sort(), [...S.sop_instance_uids].sort());
  assert.equal(r.failed.length, 0);
  assert.equal(await studyCount(), 2);
  const inst = await qido(server, token, `/studies/${S.study_uid}/instances`);
  assert.equal(inst.length, 2);
});

test('re-storing an identical instance to /studies/{its study} also answers 200', async () => {
  const r = await stow(server, token, [S.instances[0].bytes], { study: S.study_uid });
  assert.equal(r.res.status, 200);
  assert.deepEqual(r.stored, [S.instances[0].sop]);
});

test('a different object under an existing SOP Instance UID: 409, that UID in FailedSOPSequence, original kept', async () => {
  const original = S.instances[0];
  const changed = withValues(original.bytes, { '00200013': '99' }); // InstanceNumber
  assert.ok(!changed.equals(original.bytes));
  const r = await stow(server, token, [changed]);
  assert.equal(r.res.status, 409, r.res.text().slice(0, 300));
  assert.equal(r.failed.length, 1);
  assert.equal(r.failed[0].uid, original.sop);
  assert.equal(typeof r.failed[0].reason, 'number');
  assert.equal(r.stored.length, 0);
  const [got] = await wadoParts(server, token, instPath(original));
  assert.ok(got.equals(original.bytes), 'the stored object was replaced');
  assert.equal(await studyCount(), 2);
});

test('a conflicting object next to a new one: 202, the new one stored, the conflict failed', async () => {
  const freshSop = newUid();
  const fresh = withUids(S.instances[1].bytes, { sop: freshSop });
  const conflicting = withValues(S.instances[1].bytes, { '00080090': 'OTHER^REFERRER' });
  const r = await stow(server, token, [fresh, conflicting]);
  assert.equal(r.res.status, 202, r.res.text().slice(0, 300));
  assert.deepEqual(r.stored, [freshSop]);
  assert.deepEqual(r.failed.map((f) => f.uid), [S.instances[1].sop]);
  const [kept] = await wadoParts(server, token, instPath(S.instances[1]));
  assert.ok(kept.equals(S.instances[1].bytes));
  assert.equal(await studyCount(), 3);
});

test('an instance of another study posted to /studies/{study}: that instance fails (409)', async () => {
  const other = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDOTHERSTUDY', seed: 62 });
  const r = await stow(server, token, [other.instances[0].bytes], { study: S.study_uid });
  assert.equal(r.res.status, 409, r.res.text().slice(0, 300));
  assert.equal(r.failed.length, 1);
  assert.equal(r.failed[0].uid, other.instances[0].sop);
  assert.deepEqual(await qido(server, token, '/studies?PatientID=PIDOTHERSTUDY'), []);
  assert.deepEqual(sortedUids(await qido(server, token, `/instances?SOPInstanceUID=${other.instances[0].sop}`), TAGS.SOPInstanceUID), []);
  await assertHealthy(server, 'conflicts');
});
