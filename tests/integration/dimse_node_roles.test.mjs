// DIMSE goes through the same policy as HTTP: a node registered as `uploader` (a
// modality) may store and echo but not query or retrieve; a `service` node (a PACS) may
// do all of it. Refusals answer 0x0124 "Refused: Not authorized" with a reason, and are
// audited.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeRun, echoscu, finalRetrieveResponse, findscu, getscu, storescu } from './lib/dcmtk.mjs';
import { makeSeries } from './lib/dicomweb.mjs';
import { startDimseServer } from './lib/dimse_fixture.mjs';
import { auditEventually, createUser, signIn } from './lib/people.mjs';

let server;
let port;
let S;

before(async () => {
  ({ server, dicomPort: port } = await startDimseServer('dimse-node-roles', [{ slug: 'alpha', callers: ['FINDSCU'] }]));
  await server.admin('dicom-node', 'add', '--tenant', 'alpha', '--ae', 'MODALITY', '--host', '127.0.0.1', '--port', '4242', '--role', 'uploader');
  S = await makeSeries({ slices: 2, rows: 32, cols: 32, patientId: 'PIDROLES', seed: 44 });
});

after(async () => {
  await server?.dispose();
});

test('an uploader node echoes and stores', async () => {
  const echo = await echoscu({ port, calledAe: 'ALPHA', callingAe: 'MODALITY' });
  assert.equal(echo.code, 0, describeRun(echo));
  const stored = await storescu({ port, calledAe: 'ALPHA', callingAe: 'MODALITY', files: S.files });
  assert.equal(stored.successes, S.files.length, describeRun(stored));
});

test('an uploader node may not query or retrieve: 0x0124 with a reason', async () => {
  const find = await findscu({ port, calledAe: 'ALPHA', callingAe: 'MODALITY', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', '']] });
  assert.equal(find.final, 0x0124, describeRun(find));
  assert.equal(find.matches.length, 0);
  assert.match(find.output, /may not do this/);
  const get = await getscu({ port, calledAe: 'ALPHA', callingAe: 'MODALITY', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', S.study_uid]] });
  assert.equal(finalRetrieveResponse(get.output, 'C-GET RSP')?.status, 0x0124, describeRun(get));
});

test('a service node finds what the uploader stored', async () => {
  const find = await findscu({ port, calledAe: 'ALPHA', callingAe: 'FINDSCU', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', S.study_uid]] });
  assert.equal(find.final, 0, describeRun(find));
  assert.equal(find.matches.length, 1);
});

test('the refusals are in the clinic\'s audit trail', async () => {
  await createUser(server, 'alpha', 'alpha.admin', 'clinic_admin');
  const admin = await signIn(server, 'alpha.admin');
  const records = await auditEventually(server, admin, 'actor=dimse:MODALITY', (r) => r.some((x) => x.action === 'dimse.get'));
  assert.ok(records.some((r) => r.action === 'dimse.find' && r.outcome === 'denied 0124'), JSON.stringify(records));
  assert.ok(records.some((r) => r.action === 'dimse.get' && r.outcome === 'denied 0124'));
  assert.ok(records.some((r) => r.action === 'dimse.store' && r.outcome.startsWith('ok')));
});
