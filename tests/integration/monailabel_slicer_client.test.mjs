// The MONAI Label–compatible surface through the real server, driven by a client that
// behaves like 3D Slicer's MONAI Label module (tests/tools/monailabel_client.py, Debian's
// python3 and http.client only): sign in, info, upload a synthetic chest CT as NIfTI, infer
// ct-lungs, get the label back on the input's grid, save a correction. The run is metered
// and monitored (the correction's Dice as the client computed it); a suspended clinic gets
// the refusal as Slicer shows it; API tokens work; next sample hands out a signed link that
// downloads without a token; training is not available.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { makeSeries, stowOk } from './lib/dicomweb.mjs';
import { python, repoRoot } from './lib/env.mjs';
import { eventually } from './lib/fixture.mjs';
import { request } from './lib/http.mjs';
import { auditEventually, call, createUser, passwordOf, signIn } from './lib/people.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const execFileP = promisify(execFile);
const CLIENT = join(repoRoot, 'tests/tools/monailabel_client.py');
let server;
let seen;

const client = (...extra) => execFileP(python, [CLIENT, '--server', server.baseUrl, '--username', 'rad.slicer', '--password', passwordOf('rad.slicer'), ...extra], { maxBuffer: 16 << 20 });
const ml = (path, opts = {}) => request(server.baseUrl, { path: `/monailabel${path}`, ...opts });

before(async () => {
  server = await VoxelgateServer.start({ name: 'monailabel', args: ['--workers', '2'] });
  await server.createTenant('slicer-clinic');
  await createUser(server, 'slicer-clinic', 'rad.slicer', 'radiologist');
  await createUser(server, 'slicer-clinic', 'admin.slicer', 'clinic_admin');
});

after(async () => {
  await server?.dispose();
});

test('a Slicer-like client signs in, uploads a NIfTI, runs ct-lungs and gets the label back on the input grid', { timeout: 180_000 }, async () => {
  const { stdout } = await client();
  seen = JSON.parse(stdout);
  assert.deepEqual(seen.model, { type: 'segmentation', labels: { 'Right lung': 1, 'Left lung': 2 }, dimension: 3 });
  assert.equal(seen.labels[0], 'background');
  assert.equal(seen.same_grid, true, JSON.stringify(seen.result));
  assert.match(seen.result.file, /^label_ct-lungs_\d+\.nrrd$/);
  assert.ok(seen.result.voxels_right > 10_000 && seen.result.voxels_left > 10_000, JSON.stringify(seen.result));
  assert.ok(Math.abs(seen.result.voxels_right - seen.result.voxels_left) / seen.result.voxels_left < 0.05, 'a symmetric phantom: two similar lungs');
  assert.ok(seen.saved.parent_id, 'the correction is a new version whose parent is the algorithm result');
});

test('the run is metered and monitored; the saved label is a correction with the Dice the client expects', { timeout: 60_000 }, async () => {
  const rad = await signIn(server, 'rad.slicer');
  const runs = (await call(server, rad, 'GET', '/api/v1/monitoring/runs')).json();
  const run = runs.find((r) => r.id === seen.result.job_id);
  assert.ok(run, 'the run is in the run records');
  assert.equal(run.algorithm, 'ct-lungs');
  assert.equal(run.created_by, 'rad.slicer');
  const feedback = await eventually('the correction recorded as feedback on the run', async () => {
    const list = (await call(server, rad, 'GET', `/api/v1/jobs/${seen.result.job_id}/feedback`)).json();
    return list.find((f) => f.verdict === 'correct');
  }, 30_000, 100);
  const right = feedback.metrics.find((m) => m.label === 1);
  const left = feedback.metrics.find((m) => m.label === 2);
  assert.ok(Math.abs(right.dice - seen.expected_dice_right) < 1e-9, `Dice ${right.dice} vs ${seen.expected_dice_right}`);
  assert.equal(left.dice, 1);
  const admin = await signIn(server, 'admin.slicer');
  const usage = (await call(server, admin, 'GET', '/api/v1/usage')).json();
  assert.ok(JSON.stringify(usage).includes('ct-lungs'), JSON.stringify(usage).slice(0, 500));
  await auditEventually(server, admin, 'action=monailabel&limit=100',
    (records) => records.some((r) => r.action === 'monailabel.infer' && r.actor === 'rad.slicer'));
});

test('a suspended clinic gets the refusal as Slicer shows it: status 402 and a detail naming the suspension', { timeout: 60_000 }, async () => {
  await server.admin('subscription', 'suspend', '--tenant', 'slicer-clinic', '--reason', 'invoice unpaid');
  try {
    const { stdout } = await client('--expect-refusal', '--image', 'SecondUpload');
    const refusal = JSON.parse(stdout);
    assert.equal(refusal.status, 402);
    const body = JSON.parse(refusal.body);
    assert.match(body.detail, /suspended/i);
    assert.equal(body.error.code, 'subscription_suspended');
  } finally {
    await server.admin('subscription', 'resume', '--tenant', 'slicer-clinic', '--reason', 'paid');
  }
});

test('API tokens work as well; the datastore lists the image with its labels; next sample downloads by signed link', { timeout: 60_000 }, async () => {
  const { stdout } = await server.admin('token', 'create', '--tenant', 'slicer-clinic', '--name', 'slicer', '--user', 'rad.slicer', '--scope', 'dicomweb:read,dicomweb:write');
  const headers = { Authorization: `Bearer ${stdout.trim()}` };
  assert.equal((await ml('/info/')).status, 401, 'credentials are needed');
  const info = await ml('/info', { headers });
  assert.equal(info.status, 200);
  const store = (await ml('/datastore/?output=all', { headers })).json();
  const object = store.objects[seen.upload.series_uid];
  assert.ok(object.labels.original && object.labels.final, JSON.stringify(object));
  const label = await ml(`/datastore/label?label=SlicerChest&tag=final`, { headers });
  assert.equal(label.status, 200);
  assert.match(label.headers['content-disposition'], /filename=".*\.nii\.gz"/);
  // A study still to annotate, then Slicer's way of getting it: a download without a token.
  const ct = await makeSeries({ slices: 4, rows: 32, cols: 32, seed: 44 });
  const token = await server.createToken({ tenant: 'slicer-clinic', name: 'stow' });
  await stowOk(server, token, ct.instances.map((i) => i.bytes));
  const sample = (await ml('/activelearning/first', { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: Buffer.from('{"client_id":"user-xyz"}') })).json();
  assert.ok(sample.id && sample.name.endsWith('.nii.gz'), JSON.stringify(sample));
  assert.ok(['CT', 'MR'].includes(sample.Modality));
  const download = await ml(`/datastore/image?image=${encodeURIComponent(sample.id)}`);
  assert.equal(download.status, 200, download.text());
  assert.equal(download.body[0], 0x1f, 'a .nii.gz');
  const tampered = sample.id.slice(0, -1) + (sample.id.endsWith('0') ? '1' : '0');
  assert.equal((await ml(`/datastore/image?image=${encodeURIComponent(tampered)}`)).status, 404);
  assert.equal((await ml(`/datastore/image?image=${encodeURIComponent(seen.upload.series_uid)}`)).status, 401, 'an unsigned id needs credentials');
  assert.equal((await ml(`/datastore/image?image=${encodeURIComponent(seen.upload.series_uid)}`, { headers })).status, 200);
});

test('training is not available, and says so; a session upload names an image for inference', { timeout: 120_000 }, async () => {
  // A token from MONAI Label's own sign-in (the session token, as a bearer token).
  const auth = { Authorization: `Bearer ${(await request(server.baseUrl, {
    method: 'POST', path: '/monailabel/auth/token', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: Buffer.from(`username=rad.slicer&password=${encodeURIComponent(passwordOf('rad.slicer'))}&grant_type=password`),
  })).json().access_token}` };
  assert.equal((await ml('/train/?check_if_running=true', { headers: auth })).status, 404);
  const train = await ml('/train/ct-lungs', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: Buffer.from('{}') });
  assert.equal(train.status, 501);
  assert.match(train.json().detail, /not available/);
  // A session made of DICOM files (what Slicer's getSessionId uploads for a local volume).
  const ct = await makeSeries({ slices: 30, rows: 32, cols: 32, seed: 45 });
  const boundary = 'xYzBoundary';
  const parts = ct.instances.map((inst, n) => Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="IM${n}.dcm"\r\nContent-Type: application/dicom\r\n\r\n`),
    inst.bytes, Buffer.from('\r\n')]));
  const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="client_id"\r\n\r\nuser-xyz\r\n`), ...parts, Buffer.from(`--${boundary}--\r\n`)]);
  const created = await ml('/session/', { method: 'PUT', headers: { ...auth, 'Content-Type': `multipart/form-data; boundary=${boundary}` }, body });
  assert.equal(created.status, 200, created.text());
  const sessionId = created.json().session_id;
  assert.equal((await ml(`/session/${sessionId}`, { headers: auth })).status, 200);
  const inferred = await ml(`/infer/ct-lungs?image=local&session_id=${sessionId}&output=json`, { method: 'POST', headers: auth });
  // A synthetic noise series has no lungs: the refusal says why, as Slicer would show it.
  assert.equal(inferred.status, 422, inferred.text());
  assert.match(inferred.json().detail, /^the run failed: no lungs found: /);
  assert.equal((await ml(`/session/${sessionId}`, { method: 'DELETE', headers: auth })).status, 200);
  assert.equal((await ml(`/session/${sessionId}`, { headers: auth })).status, 404);
});

// A sample's signed link as a user with its own token gets it (POST /activelearning/first).
async function signedSample(target, username) {
  const { stdout } = await target.admin('token', 'create', '--tenant', 'slicer-clinic', '--name', `t-${username}`, '--user', username, '--scope', 'dicomweb:read,dicomweb:write');
  const headers = { Authorization: `Bearer ${stdout.trim()}`, 'Content-Type': 'application/json' };
  const res = await request(target.baseUrl, { method: 'POST', path: '/monailabel/activelearning/first', headers, body: Buffer.from('{}') });
  assert.equal(res.status, 200, res.text());
  assert.ok(res.json().id, res.text());
  return res.json().id;
}
const fetchSigned = (target, id) => request(target.baseUrl, { path: `/monailabel/datastore/image?image=${encodeURIComponent(id)}` });

test('a signed link names its user: it stops working once the user is disabled', { timeout: 60_000 }, async () => {
  await createUser(server, 'slicer-clinic', 'rad.link', 'radiologist');
  const id = await signedSample(server, 'rad.link');
  assert.equal((await fetchSigned(server, id)).status, 200);
  await server.admin('user', 'disable', '--username', 'rad.link');
  const refused = await fetchSigned(server, id);
  assert.equal(refused.status, 403, refused.text());
  assert.match(refused.text(), /may no longer read/);
});

test('a signed link expires after --monailabel-link-seconds', { timeout: 60_000 }, async () => {
  const short = await VoxelgateServer.start({ name: 'monailabel-links', args: ['--monailabel-link-seconds', '1'] });
  try {
    await short.createTenant('slicer-clinic');
    await createUser(short, 'slicer-clinic', 'rad.short', 'radiologist');
    const ct = await makeSeries({ slices: 4, rows: 32, cols: 32, seed: 45 });
    await stowOk(short, await short.createToken({ tenant: 'slicer-clinic', name: 'stow' }), ct.instances.map((i) => i.bytes));
    const id = await signedSample(short, 'rad.short');
    const [, , , expires] = id.split('~');
    assert.ok(Number(expires) - Date.now() / 1000 <= 2, `the link lasts a second: ${id}`);
    let last;
    await eventually('the link to have expired', async () => {
      last = await fetchSigned(short, id);
      return last.status === 404;
    }, 20_000);
    assert.match(last.text(), /expired/);
  } finally {
    await short.dispose();
  }
});
