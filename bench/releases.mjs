#!/usr/bin/env node
// The algorithm's release process (issue 20) on the 275-slice LIDC chest CT
// (../shared/data/ct-chest-lidc), else on the synthetic chest phantom:
//   * a clinic's own result, submission -> SEG stored and the run ended, without and with a
//     shadow version on the same series (the same run of this benchmark: the shadow must
//     not slow the clinic's results); runs are submitted back to back, so a shadow of the
//     previous run competes with the next clinic run as it would in use;
//   * the shadow's own end (pinned run ended -> comparison recorded);
//   * the measurement report (TID 1500 SR) made after a result;
//   * an acceptance run, per case; an evidence pack.
// usage: node bench/releases.mjs [--runs N]  (needs build/voxelgate and tests/integration's
//        npm packages). Prints a table and, on its last line, a JSON summary. No peer on this
//        machine manages versions (Orthanc, MONAI Label run a model; none releases one).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stowOk } from '../tests/integration/lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot, sharedDataDir } from '../tests/integration/lib/env.mjs';
import { dicomFilesUnder } from '../tests/integration/lib/files.mjs';
import { call, createUser, signIn } from '../tests/integration/lib/people.mjs';
import { VoxelgateServer } from '../tests/integration/lib/server.mjs';
import { apiGet, apiJson, fetchLabels, saveLabels } from '../tests/integration/lib/volumes.mjs';

const execFileP = promisify(execFile);
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const row = (figure, value, unit, note = '') =>
  console.log(`${figure.padEnd(62)} ${String(value).padStart(9)} ${unit.padEnd(6)}  ${note}`);

async function until(what, fn, timeoutMs = 600_000, pollMs = 20) {
  const start = now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

// Submission -> the run ended (its SEG stored and indexed before it ends).
async function timedRun(server, token, series) {
  const start = now();
  const res = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series });
  if (res.status !== 202) throw new Error(`submit: ${res.status} ${res.text()}`);
  const job = await until(`job ${res.json().id}`, async () => {
    const j = (await apiGet(server, token, `/api/v1/jobs/${res.json().id}`)).json();
    return !['queued', 'running'].includes(j.state) && j;
  });
  if (job.state !== 'succeeded') throw new Error(`job ${job.id}: ${job.state} ${job.error}`);
  return { ms: now() - start, job };
}

console.log(`${'figure'.padEnd(62)} ${'voxelgate'.padStart(9)}`);
const summary = {};
let files, series, source;
const dir = sharedDataDir('ct-chest-lidc');
if (dir) {
  ({ files } = dicomFilesUnder(dir));
  series = files[0].series;
  files = files.map((f) => f.bytes);
  source = 'LIDC chest CT, 275 slices';
} else {
  const out = makeTempDir('bench-phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out], { maxBuffer: 16 << 20 });
  const phantom = JSON.parse(stdout);
  files = phantom.files.map((f) => readFileSync(f));
  series = phantom.series_uid;
  source = 'synthetic chest phantom (../shared/data/ct-chest-lidc is absent)';
}
console.log(`on the ${source}, ${RUNS} runs each, medians`);
const server = await VoxelgateServer.start({ name: 'bench-releases', args: ['--max-body-bytes', '1000000000', '--workers', '2'] });
try {
  await server.createTenant('bench');
  const token = await server.createToken({ tenant: 'bench', name: 'bench-rw' });
  for (let i = 0; i < files.length; i += 60) await stowOk(server, token, files.slice(i, i + 60));
  // A second version of ct-lungs, the same built-in code under another version.
  const manifest = readFileSync(join(repoRoot, 'src/services/algorithms.cpp'), 'utf8').match(/R"toml\(([\s\S]*?)\)toml"/)[1]
    .replace('version = "1.0.0"', 'version = "1.1.0"');
  await createUser(server, 'provider', 'bench.vendor', 'provider_admin');
  const vendor = await signIn(server, 'bench.vendor');
  const registered = await call(server, vendor, 'POST', '/api/v1/algorithms', { body: Buffer.from(manifest), headers: { 'Content-Type': 'application/toml' } });
  if (registered.status !== 201) throw new Error(`register 1.1.0: ${registered.status} ${registered.text()}`);
  await timedRun(server, token, series);  // warm: the first run reads the series from disk

  const without = [];
  for (let r = 0; r < RUNS; ++r) without.push((await timedRun(server, token, series)).ms);
  const shadowOn = await call(server, vendor, 'POST', '/api/v1/algorithms/ct-lungs/deployments/shadow', { json: { clinics: ['bench'], version: '1.1.0' } });
  if (shadowOn.status !== 200) throw new Error(`shadow: ${shadowOn.status} ${shadowOn.text()}`);
  const withShadow = [], shadowEnd = [];
  const pinnedJobs = [];
  for (let r = 0; r < RUNS; ++r) {
    const { ms, job } = await timedRun(server, token, series);
    withShadow.push(ms);
    pinnedJobs.push({ id: job.id, ended: now() });
  }
  // Each shadow's end after its pinned run's (they queue behind the clinic's runs).
  for (const p of pinnedJobs) {
    await until(`the shadow of job ${p.id}`, async () => {
      const c = (await call(server, vendor, 'GET', '/api/v1/algorithms/ct-lungs/shadow?version=1.1.0')).json();
      const k = c.cases.find((x) => x.pinned_job_id === p.id);
      return k && k.state !== 'queued' && k;
    }, 600_000, 50);
    shadowEnd.push(now() - p.ended);
  }
  row('clinic run, submission -> SEG stored and run ended, no shadow', Math.round(median(without)), 'ms');
  row('  the same, with a shadow version on every run', Math.round(median(withShadow)), 'ms',
    `${((median(withShadow) / median(without) - 1) * 100).toFixed(0)}% (back to back; shadows yield to clinic runs)`);
  row('  shadow comparison recorded after its clinic run ended', Math.round(median(shadowEnd)), 'ms', 'incl. its wait in the queue');
  summary.clinic_run_ms = { without_shadow: without, with_shadow: withShadow, shadow_after_ms: shadowEnd };

  // The measurement report: the result-forms job's own time for the SR.
  const { job } = await timedRun(server, token, series);
  const forms = await until('the forms', async () => {
    const j = (await apiGet(server, token, `/api/v1/jobs/${job.id}`)).json();
    return ['succeeded', 'failed'].includes(j.forms?.state) && j.forms;
  });
  const sr = forms.forms.find((f) => f.form === 'sr');
  row('measurement report (TID 1500 SR: write, store), ms', sr?.took_ms ?? 'n/a', 'ms');
  summary.sr_ms = sr?.took_ms;

  // Acceptance: the result as the reference (a radiologist approved it), one case.
  const labels = await fetchLabels(server, token, job.segmentation_id);
  const ref = await saveLabels(server, token, series, labels, { segments: [{ label: 1, name: 'Right lung' }, { label: 2, name: 'Left lung' }] });
  if (ref.status !== 201) throw new Error(`reference: ${ref.status} ${ref.text()}`);
  await createUser(server, 'bench', 'bench.rad', 'radiologist');
  const rad = await signIn(server, 'bench.rad');
  await call(server, rad, 'PUT', `/api/v1/reference-cases/${series}`, { json: { segmentation_id: ref.json().id } });
  const start = now();
  const run = await call(server, rad, 'POST', '/api/v1/acceptance-runs', { json: { algorithm: 'ct-lungs', version: '1.1.0' } });
  if (run.status !== 202) throw new Error(`acceptance: ${run.status} ${run.text()}`);
  const ended = await until('the acceptance run', async () => {
    const r = (await call(server, rad, 'GET', `/api/v1/acceptance-runs/${run.json().id}`)).json();
    return r.state !== 'queued' && r;
  });
  row('acceptance run, one case (run, Dice + HD95, picture), ms', Math.round(now() - start), 'ms',
    `${ended.state} (ct-lungs asks for 3 cases)`);
  summary.acceptance_one_case_ms = now() - start;

  const packStart = now();
  const pack = await call(server, vendor, 'GET', '/api/v1/algorithms/ct-lungs/evidence?version=1.1.0');
  if (pack.status !== 200) throw new Error(`evidence: ${pack.status}`);
  row('evidence pack of 1.1.0, ms', Math.round(now() - packStart), 'ms', `${pack.body.length} bytes`);
  summary.evidence_ms = now() - packStart;
} finally {
  await server.dispose();
}
console.log(JSON.stringify({ bench: 'releases', source, runs: RUNS, ...summary }));
