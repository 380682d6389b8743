// Local acceptance testing through the real server: a clinic marks reference cases (three
// synthetic chest CTs, each with its approved segmentation), requires acceptance, and
// then a version whose output is worse fails its acceptance run (with the reason, per
// segment, with confidence intervals) and cannot be promoted there, while a good version
// passes (started by the vendor, who sees numbers but no pixels) and is promoted; the
// HTML report shows the worst cases to the clinic; another clinic sees none of it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { writeLungThreshold } from './lib/algorithms.mjs';
import { stowOk } from './lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot } from './lib/env.mjs';
import { eventually, startWithTenants } from './lib/fixture.mjs';
import { apiGet, apiJson, saveLabels } from './lib/volumes.mjs';
import { call, createUser, signIn } from './lib/people.mjs';

const execFileP = promisify(execFile);
let server, tokens, vendor, radiologist, admin;
const phantoms = [];

// Lungs by threshold, split left/right at the midline: `low` < HU < `high`.
function writeVersion(version, low, high) {
  const dir = makeTempDir(`lungs-${version}`);
  writeLungThreshold(dir, low, high);
  writeFileSync(join(dir, 'manifest.toml'), `id = "lungs"\nversion = "${version}"\nname = "Lungs"\n` +
    `[input]\nmodality = "CT"\n` +
    `[[output.segments]]\nlabel = 1\nname = "Right lung"\n[[output.segments]]\nlabel = 2\nname = "Left lung"\n` +
    `[acceptance]\nmin_cases = 3\n` +
    `[[acceptance.segments]]\nlabel = 1\nmin_mean_dice = 0.85\nmax_failure_rate = 0.0\n` +
    `[[acceptance.segments]]\nlabel = 2\nmin_mean_dice = 0.85\nmax_hd95_mm = 30\n` +
    `[runner]\nkind = "process"\ncommand = ["/usr/bin/python3", "run.py"]\ndirectory = "${dir}"\n` +
    `[limits]\nwall_seconds = 120\nmemory_mb = 2048\nthreads = 1\n`);
  return join(dir, 'manifest.toml');
}

before(async () => {
  ({ server, tokens } = await startWithTenants('acceptance', ['alpha', 'beta'], { args: ['--workers', '2'] }));
  for (const seed of [3, 4, 5]) {
    const out = makeTempDir(`phantom-${seed}`);
    const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out, '--seed', String(seed),
      '--size', '96', '--slices', '48'], { maxBuffer: 16 << 20 });
    phantoms.push(JSON.parse(stdout));
  }
  for (const p of phantoms) await stowOk(server, tokens.alpha, p.files.map((f) => readFileSync(f)));
  await server.admin('algorithm', 'add', writeVersion('1.0', -960, -600));
  await server.admin('algorithm', 'add', writeVersion('1.1', -950, -860));  // about half of each lung
  await server.admin('algorithm', 'add', writeVersion('1.2', -965, -590));
  await createUser(server, 'provider', 'v.accept', 'provider_admin');
  vendor = await signIn(server, 'v.accept');
  await createUser(server, 'alpha', 'a.rad', 'radiologist');
  radiologist = await signIn(server, 'a.rad');
  await createUser(server, 'alpha', 'a.adm', 'clinic_admin');
  admin = await signIn(server, 'a.adm');
});

after(async () => {
  await server?.dispose();
});

async function runEnded(who, id) {
  return eventually(`acceptance run ${id} to end`, async () => {
    const r = await call(server, who, 'GET', `/api/v1/acceptance-runs/${id}`);
    assert.equal(r.status, 200, r.text());
    return r.json().state !== 'queued' && r.json();
  }, 180_000, 250);
}

test('a radiologist marks three series with their approved segmentation as reference cases', async () => {
  for (const p of phantoms) {
    const saved = await saveLabels(server, tokens.alpha, p.series_uid, readFileSync(p.truth),
      { segments: [{ label: 1, name: 'Right lung' }, { label: 2, name: 'Left lung' }], comment: 'approved' });
    assert.equal(saved.status, 201, saved.text());
    const marked = await call(server, radiologist, 'PUT', `/api/v1/reference-cases/${p.series_uid}`, { json: { segmentation_id: saved.json().id } });
    assert.equal(marked.status, 200, marked.text());
  }
  const list = (await call(server, radiologist, 'GET', '/api/v1/reference-cases')).json();
  assert.equal(list.length, 3);
  // A segmentation of another series is not this series' reference.
  const otherSeries = list.find((r) => r.series_uid !== phantoms[0].series_uid);
  const wrong = await call(server, radiologist, 'PUT', `/api/v1/reference-cases/${phantoms[0].series_uid}`, { json: { segmentation_id: otherSeries.segmentation_id } });
  assert.equal(wrong.status, 400, wrong.text());
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { require_acceptance: true } });
  assert.equal(set.status, 200, set.text());
  assert.equal(set.json().settings.require_acceptance, true);
});

test('without a passed acceptance run, a version cannot be promoted to the clinic', async () => {
  const refused = await call(server, vendor, 'POST', '/api/v1/algorithms/lungs/deployments/promote', { json: { clinics: ['alpha'], version: '1.1' } });
  assert.equal(refused.status, 409, refused.text());
  assert.equal(refused.json().results[0].error.code, 'acceptance_required');
  assert.match(refused.json().results[0].error.message, /requires a passed acceptance run/);
  // A clinic that does not require it is promoted.
  const other = await call(server, vendor, 'POST', '/api/v1/algorithms/lungs/deployments/promote', { json: { clinics: ['beta'], version: '1.1' } });
  assert.equal(other.status, 200, other.text());
});

test('a worse version fails its acceptance run, segment by segment, with the reason', { timeout: 240_000 }, async () => {
  const started = await call(server, admin, 'POST', '/api/v1/acceptance-runs', { json: { algorithm: 'lungs', version: '1.1' } });
  assert.equal(started.status, 202, started.text());
  const run = await runEnded(admin, started.json().id);
  assert.equal(run.state, 'failed', JSON.stringify(run).slice(0, 2000));
  assert.equal(run.passed, false);
  const report = run.report;
  assert.equal(report.cases.length, 3);
  assert.ok(report.cases.every((c) => c.state === 'succeeded'), JSON.stringify(report.cases.map((c) => c.error)));
  const right = report.labels.find((l) => l.label === 1);
  assert.ok(right.mean_dice < 0.85 && right.mean_dice > 0.2, JSON.stringify(right));
  assert.ok(right.dice_ci95[0] <= right.mean_dice && right.mean_dice <= right.dice_ci95[1], JSON.stringify(right));
  assert.deepEqual(right.failure_rate_ci95.length, 2);
  assert.ok(right.checks.some((c) => c.criterion === 'min_mean_dice' && !c.passed));
  assert.ok(report.reasons.some((r) => /Right lung: min_mean_dice/.test(r)), JSON.stringify(report.reasons));
  assert.ok(report.subgroups.some((g) => g.by === 'slice_thickness' && g.n === 3), JSON.stringify(report.subgroups));
  const promote = await call(server, vendor, 'POST', '/api/v1/algorithms/lungs/deployments/promote', { json: { clinics: ['alpha'], version: '1.1' } });
  assert.equal(promote.status, 409, 'a failed run does not open the gate');
});

test('a good version, run by the vendor, passes and is promoted; the vendor sees no pixels', { timeout: 240_000 }, async () => {
  const started = await call(server, vendor, 'POST', '/api/v1/algorithms/lungs/acceptance-runs', { json: { clinics: ['alpha'], version: '1.2' } });
  assert.equal(started.status, 202, started.text());
  const id = started.json().results[0].run.id;
  const run = await runEnded(admin, id);
  assert.equal(run.state, 'passed', JSON.stringify(run.report?.reasons ?? run.report));
  for (const l of run.report.labels) assert.ok(l.mean_dice >= 0.85, JSON.stringify(l));
  const vendorView = await call(server, vendor, 'GET', '/api/v1/algorithms/lungs/acceptance-runs?clinic=alpha&version=1.2');
  assert.equal(vendorView.status, 200, vendorView.text());
  assert.equal(vendorView.json()[0].state, 'passed');
  assert.ok(!vendorView.text().includes('data:image'), 'no pictures for the vendor');
  const promoted = await call(server, vendor, 'POST', '/api/v1/algorithms/lungs/deployments/promote', { json: { clinics: ['alpha'], version: '1.2' } });
  assert.equal(promoted.status, 200, promoted.text());
  const job = await apiJson(server, tokens.alpha, 'POST', '/api/v1/jobs', { algorithm: 'lungs', series: phantoms[0].series_uid });
  assert.equal(job.status, 202, job.text());
  assert.equal(job.json().params?.version ?? (await apiGet(server, tokens.alpha, `/api/v1/jobs/${job.json().id}`)).json().algorithm.version, '1.2');
  // The clinic's page: the verdict, the chart and the worst cases' pictures, nothing active.
  const html = await call(server, admin, 'GET', `/api/v1/acceptance-runs/${id}/report.html`);
  assert.equal(html.status, 200, html.text());
  assert.match(html.headers['content-type'], /text\/html/);
  assert.match(html.headers['content-security-policy'], /default-src 'none'/);
  assert.match(html.text(), /Passed/);
  assert.match(html.text(), /<svg/);
  assert.equal((html.text().match(/data:image\/png;base64,/g) ?? []).length, 3);
  assert.ok(!/<script/i.test(html.text()));
});

test('another clinic sees none of this clinic\'s reference cases or runs', async () => {
  const runs = (await call(server, admin, 'GET', '/api/v1/acceptance-runs')).json();
  assert.ok(runs.length >= 2);
  await createUser(server, 'beta', 'b.adm', 'clinic_admin');
  const other = await signIn(server, 'b.adm');
  assert.deepEqual((await call(server, other, 'GET', '/api/v1/reference-cases')).json(), []);
  assert.deepEqual((await call(server, other, 'GET', '/api/v1/acceptance-runs')).json(), []);
  const r = await call(server, other, 'GET', `/api/v1/acceptance-runs/${runs[0].id}`);
  assert.equal(r.status, 404);
  const html = await call(server, other, 'GET', `/api/v1/acceptance-runs/${runs[0].id}/report.html`);
  assert.equal(html.status, 404);
});
