// The loop the product exists for, with a real network: a clinic labels synthetic chest
// CTs and exports them in nnU-Net layout; the vendor trains the example 3D U-Net
// (examples/pytorch-unet, PyTorch on the CPU) on that export for a bounded time, registers
// it as version 2.0 of an algorithm the clinic runs at 1.0, shadows it there, the clinic's
// acceptance set passes it (and fails 1.0), and it is promoted: the clinic's next run is the
// trained model's, and its result agrees with the phantom's truth.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { writeLungThreshold } from './lib/algorithms.mjs';
import { stowOk } from './lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot } from './lib/env.mjs';
import { eventually, startWithTenants } from './lib/fixture.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import { apiGet, apiJson, fetchLabels, saveLabels } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
const ID = 'lungs-unet';
const SEGMENTS = [{ label: 1, name: 'Right lung' }, { label: 2, name: 'Left lung' }];
let server, tokens, vendor, radiologist, admin;
const training = [];   // labelled, tagged "train", exported
const reference = [];  // the clinic's acceptance set, never exported
let weights;           // the folder train.py wrote

function phantom(seed) {
  const out = makeTempDir(`unet-phantom-${seed}`);
  return execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out, '--seed', String(seed),
    '--size', '96', '--slices', '48', '--patient-name', `LOOP^CASE${seed}`, '--patient-id', `LOOP-${seed}`],
  { maxBuffer: 16 << 20 }).then(({ stdout }) => JSON.parse(stdout));
}

// Version 1.0: the vendor's first, crude release (a threshold that finds about half of
// each lung), with the example's segments and acceptance criteria.
function baselineManifest() {
  const dir = makeTempDir('lungs-threshold');
  writeLungThreshold(dir, -950, -860);
  return exampleManifest('1.0', dir, { threads: 1 });
}

// The example's own manifest, with the version and the installed folder filled in.
function exampleManifest(version, dir, { threads } = {}) {
  let text = readFileSync(join(repoRoot, 'examples/pytorch-unet/manifest.toml'), 'utf8');
  text = text.replace(/^version = ".*"$/m, `version = "${version}"`).replace(/^directory = ".*"$/m, `directory = "${dir}"`);
  if (threads) text = text.replace(/^threads = \d+$/m, `threads = ${threads}`);
  assert.ok(text.includes(`version = "${version}"`) && text.includes(`directory = "${dir}"`), 'the example manifest has version and directory lines');
  return text;
}

const register = (manifest) => call(server, vendor, 'POST', '/api/v1/algorithms', { body: Buffer.from(manifest), headers: { 'Content-Type': 'application/toml' } });
const act = (action, body) => call(server, vendor, 'POST', `/api/v1/algorithms/${ID}/deployments/${action}`, { json: body });

before(async () => {
  const { stdout } = await execFileP(python, ['-c', 'import torch; print(torch.__version__)']);
  assert.ok(stdout.trim(), 'PyTorch (Debian python3-torch, installed by scripts/bootstrap) is importable');
  ({ server, tokens } = await startWithTenants('unet-loop', ['alpha'], { args: ['--workers', '2'] }));
  const made = await Promise.all([11, 12, 13, 14, 15, 21, 22, 23].map(phantom));
  training.push(...made.slice(0, 5));
  reference.push(...made.slice(5));
  for (const p of made) await stowOk(server, tokens.alpha, p.files.map((f) => readFileSync(f)));
  await createUser(server, 'provider', 'v.unet', 'provider_admin');
  vendor = await signIn(server, 'v.unet');
  await createUser(server, 'alpha', 'a.unet.rad', 'radiologist');
  radiologist = await signIn(server, 'a.unet.rad');
  await createUser(server, 'alpha', 'a.unet.adm', 'clinic_admin');
  admin = await signIn(server, 'a.unet.adm');
  const first = await register(baselineManifest());
  assert.equal(first.status, 201, first.text());
});

after(async () => {
  await server?.dispose();
});

async function jobEnded(token, id) {
  return eventually(`job ${id} to end`, async () => {
    const job = (await apiGet(server, token, `/api/v1/jobs/${id}`)).json();
    return !['queued', 'running'].includes(job.state) && job;
  }, 240_000, 200);
}

async function acceptanceEnded(id) {
  return eventually(`acceptance run ${id} to end`, async () => {
    const r = await call(server, admin, 'GET', `/api/v1/acceptance-runs/${id}`);
    assert.equal(r.status, 200, r.text());
    return !['queued', 'running'].includes(r.json().state) && r.json();
  }, 420_000, 500);
}

function diceAgainstTruth(nifti, truthPath, label) {
  const truth = readFileSync(truthPath);
  const offset = nifti.readFloatLE(108);
  const labels = nifti.subarray(offset);
  assert.equal(labels.length, truth.length, 'the result is on the series\' grid');
  let both = 0, a = 0, b = 0;
  for (let i = 0; i < truth.length; ++i) {
    const x = labels[i] === label, y = truth[i] === label;
    a += x; b += y; both += x && y;
  }
  return (2 * both) / (a + b);
}

test('the clinic labels and tags five cases and exports them in nnU-Net layout, with no patient data', { timeout: 180_000 }, async () => {
  assert.equal((await call(server, radiologist, 'POST', '/api/v1/tags', { json: { name: 'train' } })).status, 201);
  for (const p of training) {
    const saved = await saveLabels(server, tokens.alpha, p.series_uid, readFileSync(p.truth), { segments: SEGMENTS, comment: 'drawn' });
    assert.equal(saved.status, 201, saved.text());
    assert.equal((await call(server, radiologist, 'POST', `/api/v1/studies/${p.study_uid}/tags`, { json: { name: 'train' } })).status, 201);
  }
  const submitted = await call(server, radiologist, 'POST', '/api/v1/exports', { json: { format: 'nnunet', container: 'tar', segmentation: 'latest', filter: { tags: ['train'] }, dataset_name: 'Lungs' } });
  assert.equal(submitted.status, 202, submitted.text());
  const job = await eventually('the export to end', async () => {
    const j = (await call(server, radiologist, 'GET', `/api/v1/exports/${submitted.json().id}`)).json();
    return !['queued', 'running'].includes(j.state) && j;
  }, 120_000, 200);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.cases, 5);
  const download = await call(server, radiologist, 'GET', `/api/v1/exports/${job.id}/download`);
  assert.equal(download.status, 200);
  for (const p of training) assert.ok(!download.body.includes(Buffer.from(`LOOP-${p.series_uid}`)));
  assert.ok(!download.body.includes(Buffer.from('LOOP^CASE')), 'no patient name in the export');
  const tar = join(makeTempDir('unet-export'), 'lungs.tar');
  writeFileSync(tar, download.body);

  // The vendor trains on it, bounded: it stops when both lungs reach a held-out Dice of
  // 0.95, or after 300 steps (under a minute or two on two cores).
  weights = makeTempDir('unet-weights');
  const trained = await execFileP(python, [join(repoRoot, 'examples/pytorch-unet/train.py'), '--export', tar, '--out', weights,
    '--target-dice', '0.95', '--max-steps', '300', '--max-minutes', '8', '--threads', '2'], { maxBuffer: 16 << 20, timeout: 600_000 });
  const summary = JSON.parse(trained.stdout.trim().split('\n').pop());
  assert.equal(summary.stopped, 'target_dice', trained.stderr);
  const record = JSON.parse(readFileSync(join(weights, 'training.json'), 'utf8'));
  assert.deepEqual(record.classes, ['Right lung', 'Left lung'], 'the classes are the export\'s label names');
  assert.equal(record.trained_on.length + record.validated_on.length, 5);
});

test('the trained model is registered as version 2.0 and runs in the shadow of 1.0 at the clinic', { timeout: 360_000 }, async () => {
  assert.ok(weights, 'the model was trained');
  const installed = join(makeTempDir('lungs-unet-2.0'), 'lungs-unet');
  cpSync(join(repoRoot, 'examples/pytorch-unet'), installed, { recursive: true });
  cpSync(join(weights, 'model.pt'), join(installed, 'model.pt'));
  const added = await register(exampleManifest('2.0', installed));
  assert.equal(added.status, 201, added.text());
  const mine = (await call(server, admin, 'GET', '/api/v1/deployments')).json().find((d) => d.algorithm === ID);
  assert.equal(mine.pinned, '1.0', 'a new version reaches no clinic by itself');

  assert.equal((await act('shadow', { clinics: ['alpha'], version: '2.0', reason: 'trained on the clinic\'s export' })).status, 200);
  const p = reference[0];
  const submitted = await apiJson(server, tokens.alpha, 'POST', '/api/v1/jobs', { algorithm: ID, series: p.series_uid });
  assert.equal(submitted.status, 202, submitted.text());
  const pinned = await jobEnded(tokens.alpha, submitted.json().id);
  assert.equal(pinned.state, 'succeeded', JSON.stringify(pinned));
  assert.equal(pinned.algorithm.version, '1.0');
  const compared = await eventually('the shadow run of 2.0 to be compared', async () => {
    const c = (await call(server, vendor, 'GET', `/api/v1/algorithms/${ID}/shadow?version=2.0`)).json();
    const k = c.cases?.find((x) => x.pinned_job_id === pinned.id);
    return k && k.state !== 'queued' && k;
  }, 300_000, 500);
  assert.equal(compared.state, 'succeeded', JSON.stringify(compared));
  // 1.0 finds about half of each lung, 2.0 nearly all: they differ, and 2.0 finds more.
  for (const a of compared.agreement) {
    assert.ok(a.dice > 0.2 && a.dice < 0.95, JSON.stringify(a));
    assert.ok(a.volume_shadow_ml > a.volume_pinned_ml, JSON.stringify(a));
  }
  assert.ok(compared.shadow.metrics.label_1_ml > 0, JSON.stringify(compared.shadow));
  assert.equal((await act('end-shadow', { clinics: ['alpha'] })).status, 200);
});

test('the clinic\'s acceptance set fails 1.0 and passes 2.0, which is then promoted and runs for the clinic', { timeout: 900_000 }, async () => {
  for (const p of reference) {
    const saved = await saveLabels(server, tokens.alpha, p.series_uid, readFileSync(p.truth), { segments: SEGMENTS, comment: 'approved' });
    assert.equal(saved.status, 201, saved.text());
    const marked = await call(server, radiologist, 'PUT', `/api/v1/reference-cases/${p.series_uid}`, { json: { segmentation_id: saved.json().id } });
    assert.equal(marked.status, 200, marked.text());
  }
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { require_acceptance: true } });
  assert.equal(set.status, 200, set.text());
  const gated = await act('promote', { clinics: ['alpha'], version: '2.0' });
  assert.equal(gated.status, 409, gated.text());

  const runs = {};
  for (const version of ['1.0', '2.0']) {
    const started = await call(server, vendor, 'POST', `/api/v1/algorithms/${ID}/acceptance-runs`, { json: { clinics: ['alpha'], version } });
    assert.equal(started.status, 202, started.text());
    runs[version] = await acceptanceEnded(started.json().results[0].run.id);
  }
  assert.equal(runs['1.0'].state, 'failed', JSON.stringify(runs['1.0'].report?.reasons));
  assert.ok(runs['1.0'].report.reasons.some((r) => /min_mean_dice/.test(r)), JSON.stringify(runs['1.0'].report.reasons));
  const passed = runs['2.0'];
  assert.equal(passed.state, 'passed', JSON.stringify(passed.report?.reasons ?? passed));
  assert.equal(passed.report.cases.length, 3);
  for (const l of passed.report.labels) assert.ok(l.mean_dice >= 0.9 && l.mean_hd95_mm <= 10, JSON.stringify(l));

  const promoted = await act('promote', { clinics: ['alpha'], version: '2.0', reason: 'passed acceptance' });
  assert.equal(promoted.status, 200, promoted.text());
  const p = reference[1];
  const submitted = await apiJson(server, tokens.alpha, 'POST', '/api/v1/jobs', { algorithm: ID, series: p.series_uid });
  assert.equal(submitted.status, 202, submitted.text());
  const job = await jobEnded(tokens.alpha, submitted.json().id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.algorithm.version, '2.0');
  const labels = await fetchLabels(server, tokens.alpha, job.segmentation_id);
  for (const s of SEGMENTS) {
    const dice = diceAgainstTruth(labels, p.truth, s.label);
    assert.ok(dice >= 0.9, `${s.name}: Dice ${dice} against the phantom's truth`);
  }
});
