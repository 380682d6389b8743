// Privacy at ingest through the real server: a clinic whose tenant de-identifies every
// upload (STOW-RS and DIMSE) keeps only pseudonymised objects (nothing of the patient in
// the catalog file, the decrypted instances or the index), deterministically (the same
// study over DIMSE is "already stored"), refuses series that carry burned-in text, and
// segments the de-identified series as usual; the clinic admin sets the policy through
// the API; and `voxelgate deid` de-identifies a folder with a report.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, makeSeries, qido, stow, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { storescu } from './lib/dcmtk.mjs';
import { binaryPath, makeTempDir } from './lib/env.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import { freePort, VoxelgateServer } from './lib/server.mjs';
import { saveLabels, apiGet } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server;
let token;
let plainToken;
let series;

const filesUnder = (dir) => readdirSync(dir, { recursive: true }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());

before(async () => {
  const dicomPort = await freePort();
  server = await VoxelgateServer.start({ name: 'privacy', args: ['--dicom-listen', `127.0.0.1:${dicomPort}`] });
  server.dicomPort = dicomPort;
  await server.createTenant('private');
  await server.createTenant('plain');
  await server.admin('tenant', 'set', 'private', '--deid', 'basic+retain-long-modified-dates', '--deid-reject-modalities', 'SC,OT',
    '--deid-reject-descriptions', 'dose report', '--accept-any-caller', 'on');
  token = await server.createToken({ tenant: 'private', name: 'private-rw' });
  plainToken = await server.createToken({ tenant: 'plain', name: 'plain-rw' });
  series = await makeSeries({ slices: 4, rows: 32, cols: 32, patientName: 'WHITAKER^JOSEPHINE', patientId: 'MRN-88231', studyDate: '20230517', seed: 61 });
});

after(async () => {
  await server?.dispose();
});

let stored;

test('STOW into a de-identifying clinic stores pseudonymised objects only', async () => {
  const r = await stow(server, token, series.instances.map((i) => i.bytes));
  assert.equal(r.res.status, 200, r.res.text());
  stored = r.stored;
  assert.equal(stored.length, 4);
  for (const uid of stored) assert.ok(uid.startsWith('2.25.') && !series.sop_instance_uids.includes(uid), 'new instance UIDs');
  const studies = await qido(server, token, '/studies?includefield=PatientName,PatientID,StudyDate');
  assert.equal(studies.length, 1);
  const pseudonym = first(studies[0], TAGS.PatientID);
  assert.match(pseudonym, /^VG[A-Z2-9]{14}$/);
  assert.equal(first(studies[0], TAGS.PatientName).Alphabetic, pseudonym);
  assert.notEqual(first(studies[0], TAGS.StudyInstanceUID), series.study_uid);
  const date = first(studies[0], TAGS.StudyDate);
  assert.ok(date && date !== '20230517' && date < '20230517', `the study date moves back consistently: ${date}`);
  const parts = await wadoParts(server, token, `/studies/${first(studies[0], TAGS.StudyInstanceUID)}`);
  assert.equal(parts.length, 4);
  for (const part of parts) {
    const text = part.toString('latin1');
    assert.ok(!text.includes('WHITAKER') && !text.includes('MRN-88231') && !text.includes('20230517'), 'nothing of the patient in what is stored');
    assert.ok(text.includes('PS3.15 E.1 basic+retain-long-modified-dates'), 'the method is recorded');
  }
  const catalog = readFileSync(join(server.dataDir, 'catalog.db')).toString('latin1');
  assert.ok(!catalog.includes('WHITAKER') && !catalog.includes('MRN-88231'));
  // The patient's real ID finds nothing; the pseudonym finds the study.
  assert.equal((await qido(server, token, '/studies?PatientID=MRN-88231')).length, 0);
  assert.equal((await qido(server, token, `/studies?PatientID=${pseudonym}`)).length, 1);
});

test('the same study over DIMSE maps to the same pseudonymised objects: already stored, nothing doubled', async () => {
  const r = await storescu({ port: server.dicomPort, calledAe: 'PRIVATE', files: series.files });
  assert.equal(r.successes, 4, r.output.slice(-2000));
  const instances = await qido(server, token, '/instances');
  assert.equal(instances.length, 4);
  assert.deepEqual(instances.map((i) => first(i, TAGS.SOPInstanceUID)).sort(), [...stored].sort());
});

test('series that carry text in their pixels are refused with the reason, before anything is written', async () => {
  const sc = await makeSeries({ slices: 1, rows: 16, cols: 16, modality: 'SC', patientName: 'WHITAKER^JOSEPHINE', seed: 62 });
  const r = await stow(server, token, sc.instances.map((i) => i.bytes));
  assert.equal(r.res.status, 409);
  assert.match(r.res.text(), /burned into the pixels/);
  const dimse = await storescu({ port: server.dicomPort, calledAe: 'PRIVATE', files: sc.files });
  assert.equal(dimse.successes, 0);
  assert.equal((await qido(server, token, '/instances')).length, 4);
});

test('a segmentation of the de-identified series is stored beside it, not de-identified twice', async () => {
  const [study] = await qido(server, token, '/studies');
  const [s] = await qido(server, token, `/studies/${first(study, TAGS.StudyInstanceUID)}/series`);
  const seriesUid = first(s, TAGS.SeriesInstanceUID);
  const g = (await apiGet(server, token, `/api/v1/series/${seriesUid}/geometry`)).json();
  const labels = Buffer.alloc(g.dims[0] * g.dims[1] * g.dims[2]);
  labels.fill(1, 100, 300);
  const saved = await saveLabels(server, token, seriesUid, labels, { segments: [{ label: 1, name: 'Lesion' }] });
  assert.equal(saved.status, 201, saved.text());
  const [seg] = await wadoParts(server, token, `/studies/${first(study, TAGS.StudyInstanceUID)}/series/${saved.json().seg_series_uid}`);
  assert.ok(seg.includes(Buffer.from(seriesUid)), 'the SEG references the stored series as it is');
});

test('a clinic without a policy keeps what it sends; the clinic admin sets the policy over the API, audited', async () => {
  const r = await stow(server, plainToken, series.instances.map((i) => i.bytes));
  assert.equal(r.res.status, 200);
  assert.deepEqual([...r.stored].sort(), [...series.sop_instance_uids].sort());
  await createUser(server, 'plain', 'p.admin', 'clinic_admin');
  const admin = await signIn(server, 'p.admin');
  const bad = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { deid_profile: 'basic+everything' } });
  assert.equal(bad.status, 400);
  assert.match(bad.json().error.message, /everything/);
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { deid_profile: 'basic+clean_descriptors', deid_reject_modalities: ['SC'] } });
  assert.equal(set.status, 200, set.text());
  assert.equal(set.json().settings.deid_profile, 'basic+clean-descriptors');
  assert.deepEqual(set.json().settings.deid_reject_modalities, ['SC']);
  const next = await makeSeries({ slices: 1, rows: 16, cols: 16, patientName: 'NEW^PATIENT', patientId: 'MRN-1', seed: 63 });
  const r2 = await stow(server, plainToken, next.instances.map((i) => i.bytes));
  assert.equal(r2.res.status, 200);
  assert.ok(r2.stored[0].startsWith('2.25.'), 'applies to the next upload');
  const rad = await (async () => { await createUser(server, 'plain', 'p.rad', 'radiologist'); return signIn(server, 'p.rad'); })();
  assert.equal((await call(server, rad, 'PATCH', '/api/v1/tenant/settings', { json: { deid_profile: 'off' } })).status, 403);
});

test('voxelgate deid de-identifies a folder, names outputs by their new UIDs, and reports without values', async () => {
  const out = makeTempDir('deid-out');
  const key = join(makeTempDir('deid-key'), 'deid.key');
  const run = async () => execFileP(binaryPath, ['deid', '--profile', 'basic+retain-patient-chars', '--key-file', key, series.dir, out]);
  const { stdout } = await run();
  assert.match(stdout, /de-identified 4 file\(s\) with basic\+retain-patient-chars; 0 failed/);
  const files = filesUnder(out).filter((f) => f.endsWith('.dcm'));
  assert.equal(files.length, 4);
  for (const f of files) {
    const bytes = readFileSync(f).toString('latin1');
    assert.ok(!bytes.includes('WHITAKER') && !bytes.includes('MRN-88231'));
    assert.ok(!f.includes(series.study_uid));
  }
  const report = JSON.parse(readFileSync(join(out, 'deid-report.json'), 'utf8'));
  assert.equal(report.summary.de_identified, 4);
  assert.ok(report.files[0].changes.some((c) => c.keyword === 'PatientName' && c.action === 'D'));
  assert.ok(!JSON.stringify(report).includes('WHITAKER'));
  // The same key again: the same outputs.
  const before = files.map((f) => readFileSync(f)).map((b) => b.toString('base64')).sort();
  await run();
  const again = filesUnder(out).filter((f) => f.endsWith('.dcm')).map((f) => readFileSync(f).toString('base64')).sort();
  assert.deepEqual(again, before);
  // dciodvfy finds nothing wrong that the original did not have.
  const { stdout: v, stderr } = await execFileP('dciodvfy', ['-new', files[0]]).catch((e) => e);
  assert.ok(!/Error - .*(Patient|Study Instance|Series Instance)/.test(`${v}${stderr}`), `${v}${stderr}`.slice(0, 2000));
});

// A sender's claim to have de-identified (PatientIdentityRemoved YES, a DeidentificationMethod
// of voxelgate's) counts only from the user the clinic trusts to de-identify, and even then
// what it left is checked.
const forgeClaim = async (files) => {
  for (const f of files)
    await execFileP('dcmodify', ['-nb', '-i', '(0012,0062)=YES', '-i', '(0012,0063)=PS3.15 E.1 Basic Application Level Confidentiality Profile', f]);
  return files.map((f) => readFileSync(f));
};

test('an instance that only claims to be de-identified is de-identified again: its patient name and ID are not stored', async () => {
  const forged = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'CLAIMED^ANONYMOUS', patientId: 'MRN-CLAIM-1', seed: 71 });
  const r = await stow(server, token, await forgeClaim(forged.files));
  assert.equal(r.res.status, 200, r.res.text());
  assert.equal(r.stored.length, 2);
  for (const uid of r.stored) assert.ok(!forged.sop_instance_uids.includes(uid), 'the UIDs were remapped: the instance was de-identified');
  const studies = await qido(server, token, '/studies?includefield=PatientName,PatientID');
  assert.ok(!JSON.stringify(studies).includes('CLAIMED') && !JSON.stringify(studies).includes('MRN-CLAIM-1'), JSON.stringify(studies));
});

test("the clinic's trusted de-identifier: its identified instance is refused naming what is left, its de-identified one is stored as sent", async () => {
  const admin = await (async () => { await createUser(server, 'private', 'priv.admin', 'clinic_admin'); return signIn(server, 'priv.admin'); })();
  const nobody = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { deid_trusted_senders: ['no.such.user'] } });
  assert.equal(nobody.status, 400, nobody.text());
  assert.match(nobody.json().error.message, /no user 'no\.such\.user'/);
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { deid_trusted_senders: ['service:private'] } });
  assert.equal(set.status, 200, set.text());
  assert.deepEqual(set.json().settings.deid_trusted_senders, ['service:private']);

  const forged = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'TRUSTED^BUTWRONG', patientId: 'MRN-TRUST-2', seed: 72 });
  const refused = await stow(server, token, await forgeClaim(forged.files));
  assert.equal(refused.res.status, 409, refused.res.text());
  assert.match(refused.res.text(), /still carries PatientName, PatientID/);
  const studies = await qido(server, token, '/studies?includefield=PatientName');
  assert.ok(!JSON.stringify(studies).includes('TRUSTED'), 'nothing of the refused instances is stored');

  // De-identified by the same profile elsewhere (as the clinic's gateway does): kept as sent.
  const source = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'GATEWAY^SENT', patientId: 'MRN-GW-3', seed: 73 });
  const out = makeTempDir('trusted-deid');
  await execFileP(binaryPath, ['deid', '--profile', 'basic+retain-long-modified-dates', '--key-file', join(makeTempDir('gw-key'), 'k'), source.dir, out]);
  const files = filesUnder(out).filter((f) => f.endsWith('.dcm'));
  assert.equal(files.length, 2);
  const sentUids = [];
  for (const f of files) {
    const { stdout } = await execFileP('dcmdump', ['+P', '0008,0018', f]);
    sentUids.push(/\[([0-9.]+)\]/.exec(stdout)[1]);
  }
  const kept = await stow(server, token, files.map((f) => readFileSync(f)));
  assert.equal(kept.res.status, 200, kept.res.text());
  assert.deepEqual([...kept.stored].sort(), [...sentUids].sort(), 'stored under the UIDs it was sent with: not de-identified twice');
});
