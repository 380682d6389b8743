// The algorithm's life in the clinics, through the real server: each clinic pinned to a
// version, a second version run in shadow and compared, promoted at one clinic, named by
// a clinic only when deployed to it, rolled back, scheduled, as a canary; every change
// audited, shown to the clinic and delivered to the webhook; the vendor's actions refused
// to clinic staff; shadow results never reach clinicians.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, qido, stowOk, TAGS } from './lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot } from './lib/env.mjs';
import { eventually, startWithTenants } from './lib/fixture.mjs';
import { apiGet, apiJson, fetchLabels, formBody } from './lib/volumes.mjs';
import { request } from './lib/http.mjs';
import { call, createUser, signIn } from './lib/people.mjs';

const execFileP = promisify(execFile);
let server, tokens, phantom, vendor, clinicAdmin, webhook;
const delivered = [];

// Two versions of one process algorithm that differ measurably: air below a threshold.
function writeVersion(version, threshold) {
  const dir = makeTempDir(`lung-thresh-${version}`);
  writeFileSync(join(dir, 'run.py'), `import json, nibabel as nib, numpy as np
image = nib.load("/job/input/image.nii.gz")
hu = np.asanyarray(image.dataobj).astype(np.float32)
labels = np.zeros(hu.shape, dtype=np.uint8)
mx, my = max(1, hu.shape[0] * 15 // 100), max(1, hu.shape[1] * 15 // 100)
inner = np.zeros(hu.shape, dtype=bool)
inner[mx:-mx, my:-my, :] = True
labels[(hu < ${threshold}) & inner] = 1
out = nib.Nifti1Image(labels, image.affine)
out.set_data_dtype(np.uint8)
nib.save(out, "/job/output/labels.nii.gz")
ml = float(labels.sum()) * float(np.prod(image.header.get_zooms()[:3])) / 1000.0
json.dump({"metrics": {"air_ml": round(ml, 1)}}, open("/job/output/result.json", "w"))
`);
  writeFileSync(join(dir, 'manifest.toml'), `id = "lung-thresh"\nversion = "${version}"\nname = "Lung threshold"\n` +
    `[input]\nmodality = "CT"\n[[output.segments]]\nlabel = 1\nname = "Air"\n` +
    `[runner]\nkind = "process"\ncommand = ["/usr/bin/python3", "run.py"]\ndirectory = "${dir}"\n` +
    `[limits]\nwall_seconds = 120\nmemory_mb = 2048\nthreads = 1\n`);
  return join(dir, 'manifest.toml');
}

before(async () => {
  webhook = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try { delivered.push(JSON.parse(Buffer.concat(chunks).toString())); } catch { /* not ours */ }
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${webhook.address().port}/hook`;
  ({ server, tokens } = await startWithTenants('versions', ['alpha', 'beta'],
    { args: ['--workers', '2', '--alert-webhook', url, '--alert-interval-s', '3600'] }));
  const out = makeTempDir('phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out], { maxBuffer: 16 << 20 });
  phantom = JSON.parse(stdout);
  for (const t of [tokens.alpha, tokens.beta]) await stowOk(server, t, phantom.files.map((f) => readFileSync(f)));
  await server.admin('algorithm', 'add', writeVersion('1.0', -400));
  await server.admin('algorithm', 'add', writeVersion('1.1', -850));
  await createUser(server, 'provider', 'v.release', 'provider_admin');
  vendor = await signIn(server, 'v.release');
  await createUser(server, 'alpha', 'a.admin', 'clinic_admin');
  clinicAdmin = await signIn(server, 'a.admin');
});

after(async () => {
  await server?.dispose();
  webhook?.close();
});

const act = (action, body) => call(server, vendor, 'POST', `/api/v1/algorithms/lung-thresh/deployments/${action}`, { json: body });

async function runOn(token, body = {}) {
  const res = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'lung-thresh', series: phantom.series_uid, ...body });
  assert.equal(res.status, 202, res.text());
  const id = res.json().id;
  return eventually(`job ${id} to end`, async () => {
    const job = (await apiGet(server, token, `/api/v1/jobs/${id}`)).json();
    return !['queued', 'running'].includes(job.state) && job;
  }, 120_000, 100);
}

const ownDeployment = async (who) => {
  const r = await call(server, who, 'GET', '/api/v1/deployments');
  assert.equal(r.status, 200, r.text());
  return r.json().find((d) => d.algorithm === 'lung-thresh');
};

test('each clinic is pinned to the default version, and a run uses it and names it', { timeout: 180_000 }, async () => {
  const mine = await ownDeployment(clinicAdmin);
  assert.equal(mine.pinned, '1.0');
  assert.deepEqual(mine.history.map((e) => e.action), ['pinned']);
  const job = await runOn(tokens.alpha);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.algorithm.version, '1.0');
});

test('a version in shadow runs beside the pinned one, is compared per case, and never reaches clinicians', { timeout: 240_000 }, async () => {
  const started = await act('shadow', { clinics: ['alpha'], version: '1.1', reason: 'validation' });
  assert.equal(started.status, 200, started.text());
  const segsBefore = (await qido(server, tokens.alpha, `/studies/${phantom.study_uid}/series?Modality=SEG`)).length;
  const jobsBefore = (await apiGet(server, tokens.alpha, '/api/v1/jobs?limit=500')).json().length;
  const pinned = await runOn(tokens.alpha);
  assert.equal(pinned.state, 'succeeded', JSON.stringify(pinned));
  assert.equal(pinned.algorithm.version, '1.0');
  const comparison = await eventually('the shadow run to be compared', async () => {
    const r = await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/shadow?version=1.1');
    assert.equal(r.status, 200, r.text());
    const c = r.json();
    const mine = c.cases.find((k) => k.pinned_job_id === pinned.id);
    return mine && mine.state !== 'queued' && c;
  }, 180_000, 200);
  const mine = comparison.cases.find((k) => k.pinned_job_id === pinned.id);
  assert.equal(mine.state, 'succeeded', JSON.stringify(mine));
  assert.equal(mine.clinic, 'alpha');
  assert.equal(mine.pinned_version, '1.0');
  assert.equal(mine.shadow_version, '1.1');
  // -850 HU (the lungs' mean) takes about half of what -400 HU takes: the versions differ, measurably and plausibly.
  const air = mine.agreement.find((a) => a.label === 1);
  assert.ok(air.dice > 0.3 && air.dice < 0.999, JSON.stringify(air));
  assert.ok(air.volume_shadow_ml < air.volume_pinned_ml, JSON.stringify(air));
  assert.ok(typeof air.hd95_mm === 'number');
  assert.ok(mine.shadow.metrics.air_ml < mine.pinned.metrics.air_ml, JSON.stringify(mine));
  assert.equal(comparison.summary.failures.shadow, 0);
  assert.ok(comparison.summary.labels[0].dice.n >= 1);
  assert.ok(comparison.summary.metrics.air_ml.pinned.n >= 1 && comparison.summary.metrics.air_ml.shadow.n >= 1);
  // Nothing of the shadow for the clinic: one more SEG (the pinned run's), one more run.
  const segsAfter = (await qido(server, tokens.alpha, `/studies/${phantom.study_uid}/series?Modality=SEG`)).length;
  assert.equal(segsAfter, segsBefore + 1);
  const jobs = (await apiGet(server, tokens.alpha, '/api/v1/jobs?limit=500')).json();
  assert.equal(jobs.length, jobsBefore + 1);
  assert.ok(jobs.every((j) => j.algorithm?.version !== '1.1'), 'no 1.1 run is the clinic\'s');
  const versions = (await apiGet(server, tokens.alpha, `/api/v1/studies/${phantom.study_uid}/segmentations`)).json();
  assert.ok(!JSON.stringify(versions).includes('"1.1"'), 'no segmentation version of 1.1');
  // A clinician corrects the pinned result (the upper half of it erased): each version's
  // agreement with the correction is kept with the case, the pinned one equal to the
  // run's own correction feedback.
  const nifti = await fetchLabels(server, tokens.alpha, pinned.segmentation_id);
  const offset = nifti.readFloatLE(108);
  nifti.fill(0, offset, offset + Math.floor((nifti.length - offset) / 2));
  const form = await formBody({ segments: [{ label: 1, name: 'Air' }], parent_id: pinned.segmentation_id }, nifti);
  const corrected = await request(server.baseUrl, { method: 'POST', path: `/api/v1/series/${phantom.series_uid}/segmentations`,
    headers: { Authorization: `Bearer ${tokens.alpha}`, 'Content-Type': form.contentType }, body: form.body });
  assert.equal(corrected.status, 201, corrected.text());
  const withCorrection = await eventually('the shadow case to be compared with the correction', async () => {
    const c = (await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/shadow?version=1.1')).json();
    const k = c.cases.find((x) => x.pinned_job_id === pinned.id);
    return k?.correction && c;
  }, 60_000, 200);
  const fixed = withCorrection.cases.find((x) => x.pinned_job_id === pinned.id).correction;
  assert.equal(fixed.segmentation_id, corrected.json().id);
  const feedback = (await apiGet(server, tokens.alpha, `/api/v1/jobs/${pinned.id}/feedback`)).json().find((f) => f.verdict === 'correct');
  assert.ok(Math.abs(fixed.pinned[0].dice - feedback.metrics[0].dice) < 1e-9, JSON.stringify({ fixed, feedback }));
  assert.ok(fixed.pinned[0].dice < 0.9 && fixed.shadow[0].dice < fixed.pinned[0].dice, JSON.stringify(fixed));
  assert.equal(withCorrection.summary.corrections.cases, 1);
  // A clinic without a shadow gets none.
  const beta = await runOn(tokens.beta);
  assert.equal(beta.state, 'succeeded');
  const all = (await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/shadow')).json();
  assert.ok(!all.cases.some((k) => k.clinic === 'beta'));
  assert.equal((await act('end-shadow', { clinics: ['alpha'] })).status, 200);
});

test('a promotion moves one clinic only; another may not name the new version; rollback goes back', { timeout: 240_000 }, async () => {
  const promoted = await act('promote', { clinics: ['alpha'], version: '1.1', reason: 'shadow agreed' });
  assert.equal(promoted.status, 200, promoted.text());
  assert.equal(promoted.json().results[0].deployment.pinned, '1.1');
  assert.equal((await runOn(tokens.alpha)).algorithm.version, '1.1');
  assert.equal((await runOn(tokens.beta)).algorithm.version, '1.0');
  const named = await apiJson(server, tokens.beta, 'POST', '/api/v1/jobs', { algorithm: 'lung-thresh', series: phantom.series_uid, version: '1.1' });
  assert.equal(named.status, 403, named.text());
  assert.equal(named.json().error.code ?? named.json().error, 'version_not_deployed', named.text());
  const again = await act('promote', { clinics: ['alpha'], version: '1.1' });
  assert.equal(again.status, 409, again.text());
  const back = await act('rollback', { clinics: ['alpha'], reason: 'clinician complaints' });
  assert.equal(back.status, 200, back.text());
  assert.equal((await runOn(tokens.alpha)).algorithm.version, '1.0');
  const history = (await ownDeployment(clinicAdmin)).history.map((e) => e.action);
  assert.deepEqual(history.slice(0, 2), ['rolled_back', 'promoted']);
  const rolled = (await ownDeployment(clinicAdmin)).history[0];
  assert.equal(rolled.from, '1.1');
  assert.equal(rolled.to, '1.0');
  assert.equal(rolled.detail.reason, 'clinician complaints');
  assert.ok(Math.abs(rolled.at - Date.now() / 1000) < 600);
});

test('a canary lets the clinic run the new version beside the pinned one; rollback ends it', { timeout: 120_000 }, async () => {
  const canary = await act('promote', { clinics: ['beta'], version: '1.1', canary_percent: 50 });
  assert.equal(canary.status, 200, canary.text());
  const d = canary.json().results[0].deployment;
  assert.equal(d.pinned, '1.0');
  assert.deepEqual(d.canary, { version: '1.1', percent: 50 });
  assert.equal((await runOn(tokens.beta, { version: '1.1' })).algorithm.version, '1.1');
  assert.equal((await act('rollback', { clinics: ['beta'] })).status, 200);
  const named = await apiJson(server, tokens.beta, 'POST', '/api/v1/jobs', { algorithm: 'lung-thresh', series: phantom.series_uid, version: '1.1' });
  assert.equal(named.status, 403, named.text());
});

test('a scheduled promotion is shown to the clinic first and takes effect at its time', { timeout: 120_000 }, async () => {
  const at = Math.floor(Date.now() / 1000) + 3;
  const scheduled = await act('promote', { clinics: ['alpha'], version: '1.1', effective_at: at });
  assert.equal(scheduled.status, 200, scheduled.text());
  const before = await ownDeployment(clinicAdmin);
  assert.equal(before.pinned, '1.0');
  assert.equal(before.scheduled.version, '1.1');
  assert.equal(before.scheduled.at, at);
  await eventually('the scheduled promotion to take effect', async () => (await ownDeployment(clinicAdmin)).pinned === '1.1', 30_000, 250);
  const after = await ownDeployment(clinicAdmin);
  assert.equal(after.scheduled, null);
  assert.equal(after.history[0].action, 'promoted');
  assert.equal(after.history[0].detail.scheduled_at, at);
});

test('promote to every clinic, and every change reaches the webhook with its clinic, in order', { timeout: 60_000 }, async () => {
  const all = await act('promote', { clinics: 'all', version: '1.1' });
  assert.equal(all.status, 200, all.text());
  // alpha runs 1.1 already (refused, with the reason); beta is promoted.
  const byClinic = Object.fromEntries(all.json().results.map((r) => [r.clinic, r]));
  assert.equal(byClinic.alpha.ok, false);
  assert.equal(byClinic.beta.ok, true);
  const events = await eventually('the deployment events to be delivered', async () => {
    const mine = delivered.filter((d) => d.kind === 'deployment' && d.event.algorithm === 'lung-thresh');
    return mine.some((d) => d.event.clinic === 'beta' && d.event.action === 'promoted') && mine;
  }, 30_000, 200);
  const alpha = events.filter((d) => d.event.clinic === 'alpha').map((d) => d.event.action);
  assert.deepEqual(alpha.slice(0, 3), ['pinned', 'shadow_started', 'shadow_ended']);
  assert.ok(alpha.includes('rolled_back') && alpha.includes('scheduled'));
  const ids = events.map((d) => d.event.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in order');
  assert.equal(new Set(ids).size, ids.length, 'each once');
  const listed = await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/deployments');
  assert.equal(listed.status, 200);
  const clinics = Object.fromEntries(listed.json().clinics.map((c) => [c.clinic, c]));
  assert.equal(clinics.alpha.pinned, '1.1');
  assert.equal(clinics.beta.pinned, '1.1');
  assert.equal(clinics.beta.previous, '1.0');
});

test('the evidence pack of a version holds every part, the build\'s SBOM, and no patient identifier', { timeout: 60_000 }, async () => {
  const r = await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/evidence?version=1.1');
  assert.equal(r.status, 200, r.text());
  assert.match(r.headers['content-type'], /application\/zip/);
  const dir = makeTempDir('evidence');
  writeFileSync(join(dir, 'pack.zip'), r.body);
  await execFileP('unzip', ['-q', join(dir, 'pack.zip'), '-d', join(dir, 'x')]);
  const root = join(dir, 'x', 'evidence-lung-thresh-1.1');
  const read = (f) => readFileSync(join(root, f), 'utf8');
  const index = JSON.parse(read('index.json'));
  for (const f of ['manifest.json', 'history.json', 'acceptance.json', 'shadow.json', 'runs.json', 'assessments.json', 'assessments.csv', 'bug_reports.json', 'sbom.cdx.json'])
    assert.ok(index.files.includes(f), `${f} in ${index.files}`);
  assert.equal(JSON.parse(read('manifest.json')).version, '1.1');
  const history = JSON.parse(read('history.json'));
  const actions = history.events.map((e) => `${e.clinic}:${e.action}`);
  for (const a of ['alpha:shadow_started', 'alpha:promoted', 'alpha:rolled_back', 'beta:canary_started', 'beta:promoted'])
    assert.ok(actions.includes(a), `${a} in ${actions}`);
  const shadow = JSON.parse(read('shadow.json'));
  assert.ok(shadow.summary.cases >= 1 && shadow.summary.corrections.cases >= 1, JSON.stringify(shadow.summary));
  const runs = JSON.parse(read('runs.json'));
  assert.ok(runs.runs >= 2, JSON.stringify(runs).slice(0, 300));
  const sbom = JSON.parse(read('sbom.cdx.json'));
  assert.equal(sbom.bomFormat, 'CycloneDX');
  assert.ok(sbom.components.some((c) => c.name.startsWith('libdcmtk')), 'DCMTK is in the bill of materials');
  // No patient data anywhere in it.
  const all = index.files.map((f) => read(f)).join('\n');
  for (const identifier of ['PHANTOM^CHEST', 'PHANTOM1', 'PHANTOM']) assert.ok(!all.includes(identifier), `${identifier} in the pack`);
  // One clinic's pack holds that clinic's history only.
  const beta = await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/evidence?version=1.1&clinic=beta');
  assert.equal(beta.status, 200);
  writeFileSync(join(dir, 'beta.zip'), beta.body);
  const { stdout } = await execFileP('unzip', ['-p', join(dir, 'beta.zip'), 'evidence-lung-thresh-1.1/history.json']);
  assert.ok(JSON.parse(stdout).events.every((e) => e.clinic === 'beta'));
  const clinic = await call(server, clinicAdmin, 'GET', '/api/v1/algorithms/lung-thresh/evidence?version=1.1');
  assert.equal(clinic.status, 403);
});

test('hostile deployment actions get a clear 400 or 404, change nothing, and the server stays healthy', async () => {
  const before = (await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/deployments')).text();
  const cases = [
    [{ clinics: ['alpha'], version: '1.0', canary_percent: 1e30 }, 400],
    [{ clinics: ['alpha'], version: '1.0', canary_percent: 0 }, 400],
    [{ clinics: ['alpha'], version: '1.0', effective_at: -5 }, 400],
    [{ clinics: ['alpha'], version: '1.0', effective_at: 9.2e18 }, 400],
    [{ clinics: ['alpha'], version: '1.0', reason: 'x'.repeat(501) }, 400],
    [{ clinics: Array.from({ length: 1001 }, () => 'alpha'), version: '1.0' }, 400],
    [{ clinics: [{ slug: 'alpha' }], version: '1.0' }, 400],
    [{ clinics: 'everyone', version: '1.0' }, 400],
    [{ clinics: ['provider'], version: '1.0' }, 404],
    [{ clinics: ['no-such-clinic'], version: '1.0' }, 404],
    [{ clinics: ['alpha'], version: 'x'.repeat(10000) }, 404],
  ];
  for (const [json, status] of cases) {
    const r = await act('promote', json);
    assert.equal(r.status, status, `${JSON.stringify(json).slice(0, 80)}: ${r.text().slice(0, 200)}`);
    assert.ok(r.json().error?.message, 'a reason');
  }
  const deep = await call(server, vendor, 'POST', '/api/v1/algorithms/lung-thresh/deployments/promote',
    { body: Buffer.from('{"clinics":' + '['.repeat(100000)), headers: { 'Content-Type': 'application/json' } });
  assert.ok([400, 413].includes(deep.status), `${deep.status}`);
  assert.equal((await call(server, vendor, 'GET', '/api/v1/algorithms/lung-thresh/deployments')).text(), before, 'nothing changed');
  const health = await call(server, null, 'GET', '/healthz');
  assert.equal(health.status, 200);
});

test('clinic staff may read what their clinic runs but not deploy, and never see another clinic', async () => {
  for (const [method, path, json] of [
    ['POST', '/api/v1/algorithms/lung-thresh/deployments/rollback', { clinics: ['alpha'] }],
    ['GET', '/api/v1/algorithms/lung-thresh/deployments'],
    ['GET', '/api/v1/algorithms/lung-thresh/shadow'],
    ['GET', '/api/v1/algorithms/lung-thresh/deployment-events'],
    ['POST', '/api/v1/algorithms/lung-thresh/default', { version: '1.0' }],
  ]) {
    const r = await call(server, clinicAdmin, method, path, { json });
    assert.equal(r.status, 403, `${method} ${path}: ${r.text()}`);
  }
  const mine = await ownDeployment(clinicAdmin);
  assert.ok(mine.history.every((e) => e.clinic === undefined));
  const beta = (await apiGet(server, tokens.beta, '/api/v1/deployments')).json().find((d) => d.algorithm === 'lung-thresh');
  assert.ok(!beta.history.some((e) => ['shadow_started', 'scheduled'].includes(e.action)), 'alpha\'s changes are alpha\'s');
  // Every vendor action is in the audit trail.
  const audit = await call(server, vendor, 'GET', '/api/v1/audit?action=deployments.write&limit=500');
  assert.equal(audit.status, 200, audit.text());
  const acts = audit.json().records;
  assert.ok(acts.length >= 8, JSON.stringify(acts.slice(0, 3)));
  assert.ok(acts.some((e) => /action=rollback/.test(e.object) && /clinics=alpha/.test(e.object)));
});
