// Algorithms as a service through the real server: the built-in ct-lungs on a synthetic
// chest phantom (Dice against its truth) and on the LIDC chest CT, the example process
// algorithm, failures and the sandbox (network, writes outside output/, time, memory),
// cancellation, a worker killed mid-job, and tenancy.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, makeSeries, qido, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot, sharedDataDir, binaryPath } from './lib/env.mjs';
import { eventually, sleep, startWithTenants } from './lib/fixture.mjs';
import { dicomFilesUnder } from './lib/files.mjs';
import { VoxelgateServer } from './lib/server.mjs';
import { apiGet, apiJson, fetchLabels } from './lib/volumes.mjs';
import { call, createUser, signIn } from './lib/people.mjs';

const execFileP = promisify(execFile);
let server;
let tokens;
let phantom;

before(async () => {
  ({ server, tokens } = await startWithTenants('algorithms', ['alpha', 'beta'], { args: ['--max-body-bytes', '1000000000', '--workers', '2'] }));
  const out = makeTempDir('phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out], { maxBuffer: 16 << 20 });
  phantom = JSON.parse(stdout);
  await stowOk(server, tokens.alpha, phantom.files.map((f) => readFileSync(f)));
});

after(async () => {
  await server?.dispose();
});

async function submit(token, body) {
  const res = await apiJson(server, token, 'POST', '/api/v1/jobs', body);
  return res;
}

// `get(path)` answers a GET on the job's server (as the job's tenant).
// Polls a job until it has ended (neither queued nor running); returns it.
async function jobEnded(get, id, timeoutMs) {
  let last = null;
  return eventually(() => `job ${id} to end (last: ${JSON.stringify(last)?.slice(0, 500)})`, async () => {
    last = (await get(`/api/v1/jobs/${id}`)).json();
    return !['queued', 'running'].includes(last.state) && last;
  }, timeoutMs, 100);
}

// Polls a job until it is running; returns it. Fails at once if it ended first.
async function jobRunning(get, id, timeoutMs = 60_000) {
  let last = null;
  return eventually(() => `job ${id} to be running (last: ${JSON.stringify(last)?.slice(0, 500)})`, async () => {
    last = (await get(`/api/v1/jobs/${id}`)).json();
    if (!['queued', 'running'].includes(last.state)) throw new Error(`job ${id} ended (${last.state}) before it was seen running: ${JSON.stringify(last)}`);
    return last.state === 'running' && last;
  }, timeoutMs, 100);
}

async function waitFor(token, id, { timeoutMs = 120_000 } = {}) {
  return jobEnded((path) => apiGet(server, token, path), id, timeoutMs);
}

async function run(token, body, opts) {
  const res = await submit(token, body);
  assert.equal(res.status, 202, res.text());
  return waitFor(token, res.json().id, opts);
}

const dice = (a, b, label) => {
  let both = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; ++i) {
    const x = a[i] === label, y = b[i] === label;
    if (x) ++na;
    if (y) ++nb;
    if (x && y) ++both;
  }
  return (2 * both) / (na + nb);
};

test('ct-lungs finds both lungs of the chest phantom (Dice >= 0.95 each) and stores a valid SEG', { timeout: 120_000 }, async () => {
  const algorithms = (await apiGet(server, tokens.alpha, '/api/v1/algorithms')).json();
  const lungs = algorithms.find((a) => a.id === 'ct-lungs');
  assert.ok(lungs, 'ct-lungs ships with voxelgate');
  assert.equal(lungs.not_for_diagnostic_use, true);
  assert.deepEqual(lungs.segments.map((s) => s.name), ['Right lung', 'Left lung']);

  const job = await run(tokens.alpha, { algorithm: 'ct-lungs', series: phantom.series_uid });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.algorithm.version, '1.0.0');
  assert.ok(job.timings_ms.run >= 0 && job.timings_ms.fetch >= 0 && job.timings_ms.store >= 0);
  assert.equal(job.metrics.right_lung_components, 1);
  assert.equal(job.metrics.left_lung_components, 1);
  const truth = readFileSync(phantom.truth);
  const got = await fetchLabels(server, tokens.alpha, job.segmentation_id);
  const right = dice(got, truth, 1), left = dice(got, truth, 2);
  assert.ok(right >= 0.95, `right lung Dice ${right}`);
  assert.ok(left >= 0.95, `left lung Dice ${left}`);

  const version = (await apiGet(server, tokens.alpha, `/api/v1/segmentations/${job.segmentation_id}`)).json();
  assert.equal(version.source, 'algorithm');
  assert.deepEqual(version.algorithm, { name: 'ct-lungs', version: '1.0.0' });
  assert.equal(version.job_id, job.id);
  const [seg] = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${job.seg_series_uid}`);
  const path = join(makeTempDir('seg'), 'seg.dcm');
  writeFileSync(path, seg);
  const { stdout, stderr } = await execFileP('dciodvfy', ['-new', path]).catch((e) => e);
  const errors = `${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('Error'));
  assert.deepEqual(errors, []);
  assert.ok(seg.includes(Buffer.from('AUTOMATIC')), 'segments are marked AUTOMATIC');
});

test('ct-lungs on the LIDC chest CT: two lungs, on the right sides, of plausible size', { timeout: 240_000 }, async (t) => {
  const dir = sharedDataDir('ct-chest-lidc');
  if (!dir) return t.skip('../shared/data/ct-chest-lidc is absent (real data is not part of a fresh clone)');
  const { files } = dicomFilesUnder(dir);
  for (let i = 0; i < files.length; i += 60) await stowOk(server, tokens.alpha, files.slice(i, i + 60).map((f) => f.bytes));
  const job = await run(tokens.alpha, { algorithm: 'ct-lungs', series: files[0].series }, { timeoutMs: 200_000 });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.metrics.right_lung_components, 1, 'exactly one right lung component');
  assert.equal(job.metrics.left_lung_components, 1, 'exactly one left lung component');
  // LIDC-IDRI-0314 has a large right pleural effusion: its aerated right lung measures
  // 0.88 L (0.95 L even counting everything below -150 HU), so the right lung's lower
  // bound is 0.5 L here; the left is a normal 1.8 L.
  assert.ok(job.metrics.left_lung_ml >= 1000 && job.metrics.left_lung_ml <= 4500, `left ${job.metrics.left_lung_ml} mL`);
  assert.ok(job.metrics.right_lung_ml >= 500 && job.metrics.right_lung_ml <= 4500, `right ${job.metrics.right_lung_ml} mL`);
  // Which side is which: in DICOM LPS the patient's left is +x, i.e. larger column index here.
  const g = (await apiGet(server, tokens.alpha, `/api/v1/series/${files[0].series}/geometry`)).json();
  assert.equal(g.direction[0], 1, 'rows run towards the patient\'s left in this series');
  const labels = await fetchLabels(server, tokens.alpha, job.segmentation_id);
  const meanColumn = (label) => {
    let sum = 0, n = 0;
    for (let i = 0; i < labels.length; ++i) if (labels[i] === label) { sum += i % g.dims[0]; ++n; }
    return sum / n;
  };
  assert.ok(meanColumn(2) > meanColumn(1), 'the left lung (2) lies on the patient\'s left');
});

test('the example process algorithm runs in the sandbox and produces a SEG and metrics', { timeout: 120_000 }, async () => {
  // Installed as a vendor would: copied into the algorithms root.
  const installed = join(makeTempDir('threshold-demo'), 'threshold-python');
  cpSync(join(repoRoot, 'examples/threshold-python'), installed, { recursive: true });
  await server.admin('algorithm', 'add', join(installed, 'manifest.toml'));
  const job = await run(tokens.alpha, { algorithm: 'threshold-demo', series: phantom.series_uid });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.ok(job.metrics.low_density_ml > 100, JSON.stringify(job.metrics));
  assert.ok(job.seg_series_uid);
  assert.match(job.log_tail, /threshold-demo 1.0.0/);
  const series = await qido(server, tokens.alpha, `/studies/${phantom.study_uid}/series?Modality=SEG`);
  assert.ok(series.some((s) => first(s, TAGS.SeriesInstanceUID) === job.seg_series_uid));
});

// A process algorithm written by the test: `body` is Python run as run.py.
async function registerScript(id, body, limits = {}) {
  const dir = makeTempDir(`algo-${id}`);
  writeFileSync(join(dir, 'run.py'), body);
  const manifest = `id = "${id}"\nversion = "1"\nname = "${id}"\n[input]\nmodality = "CT"\n` +
    (limits.headers ? `dicom_headers = "${limits.headers}"\n` : '') +
    `[[output.segments]]\nlabel = 1\nname = "Thing"\n` +
    `[runner]\nkind = "process"\ncommand = ["/usr/bin/python3", "run.py"]\ndirectory = "${dir}"\n` +
    `[limits]\nwall_seconds = ${limits.wall ?? 60}\nmemory_mb = ${limits.memory ?? 1024}\nthreads = 1\n`;
  writeFileSync(join(dir, 'manifest.toml'), manifest);
  await server.admin('algorithm', 'add', join(dir, 'manifest.toml'));
  return dir;
}

const processManifest = (id, dir) => `id = "${id}"\nversion = "1"\nname = "${id}"\n[input]\nmodality = "CT"\n` +
  `[[output.segments]]\nlabel = 1\nname = "Thing"\n[runner]\nkind = "process"\ncommand = ["/bin/true"]\ndirectory = "${dir}"\n`;

test('an algorithm folder outside the algorithms root, or holding the data folder, is refused by the API and the CLI', async () => {
  await createUser(server, 'provider', 'v.algo', 'provider_admin');
  const vendor = await signIn(server, 'v.algo');
  const register = (id, dir) => call(server, vendor, 'POST', '/api/v1/algorithms', { body: Buffer.from(processManifest(id, dir)), headers: { 'Content-Type': 'application/toml' } });
  // "/" and a folder beside the data but outside the root.
  const outside = makeTempDir('outside-root');
  const confined = await VoxelgateServer.start({ name: 'algo-root', algorithmsRoot: makeTempDir('root') });
  try {
    const admin = async (...a) => confined.admin(...a).then(() => 'ok', (e) => e.message);
    for (const [dir, reason] of [['/', /outside the algorithms root/], [outside, /outside the algorithms root/], [confined.dataDir, /outside the algorithms root/]]) {
      writeFileSync(join(outside, 'manifest.toml'), processManifest('escape', dir));
      assert.match(await admin('algorithm', 'add', join(outside, 'manifest.toml')), reason, dir);
    }
    // A link inside the root that leads out of it leads out.
    const link = join(confined.algorithmsRoot, 'looks-inside');
    symlinkSync('/', link);
    writeFileSync(join(outside, 'manifest.toml'), processManifest('escape', link));
    assert.match(await admin('algorithm', 'add', join(outside, 'manifest.toml')), /outside the algorithms root/);
  } finally {
    await confined.dispose();
  }
  // This suite's root is the temporary folder, which also holds the data folder: the root
  // itself (which holds it) and the data folder are refused, with the reason.
  for (const dir of ['/', server.algorithmsRoot, server.dataDir, join(server.dataDir, 'keys')]) {
    const r = await register('escape', dir);
    assert.equal(r.status, 400, `${dir}: ${r.text()}`);
    assert.match(r.json().error.message, /outside the algorithms root|holds or is inside|not a folder/, dir);
  }
  const list = (await apiGet(server, tokens.alpha, '/api/v1/algorithms')).json();
  assert.ok(!JSON.stringify(list).includes('escape'), 'nothing was registered');
});

// Every python3 run.py of a sandbox still alive on the machine.
async function sandboxedScripts() {
  const { stdout } = await execFileP('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((l) => l.trim() === '/usr/bin/python3 run.py').length;
}

test('a fork bomb is stopped at its process limit, every process of it is gone, and the server stays healthy', { timeout: 120_000 }, async () => {
  // Bounded so that a broken watchdog cannot take the test machine down: 2^12 at most.
  await registerScript('forkbomb', 'import os, time\ndepth = 0\nwhile depth < 12:\n    try:\n        os.fork()\n    except OSError:\n        break\n    depth += 1\ntime.sleep(600)\n');
  const job = await run(tokens.alpha, { algorithm: 'forkbomb', series: phantom.series_uid });
  assert.equal(job.state, 'failed');
  assert.match(job.error, /more than 64 processes at once/);
  assert.equal((await apiGet(server, tokens.alpha, '/healthz')).status, 200);
  await eventually('no process of the sandbox left', async () => (await sandboxedScripts()) === 0, 20_000);
});

test('processes that each stay under the memory limit but not together are stopped', { timeout: 120_000 }, async () => {
  await registerScript('forkhog', 'import os, time\nfor i in range(4):\n    if os.fork() == 0:\n        hog = b"x" * (300 << 20)\n        break\ntime.sleep(600)\n', { memory: 512 });
  const job = await run(tokens.alpha, { algorithm: 'forkhog', series: phantom.series_uid });
  assert.equal(job.state, 'failed');
  assert.match(job.error, /more than its memory limit of 512 MB with all its processes together/);
  assert.equal((await apiGet(server, tokens.alpha, '/healthz')).status, 200);
  await eventually('no process of the sandbox left', async () => (await sandboxedScripts()) === 0, 20_000);
});

test('an output that is a symbolic link (to the master key, say) fails the run with the reason', async () => {
  await registerScript('linker', 'import os\nos.symlink("/etc/ld.so.cache", "/job/output/labels.nii.gz")\n');
  const job = await run(tokens.alpha, { algorithm: 'linker', series: phantom.series_uid });
  assert.equal(job.state, 'failed');
  assert.match(job.error, /output\/labels\.nii\.gz is a symbolic link: outputs must be regular files/);
});

test('the algorithm gets the DICOM headers its manifest asks for: de-identified by default, none, or full only where the clinic allows', { timeout: 180_000 }, async () => {
  const [study] = await qido(server, tokens.alpha, `/studies?StudyInstanceUID=${phantom.study_uid}&includefield=PatientName,PatientID`);
  const realId = first(study, TAGS.PatientID);
  assert.ok(realId, 'the phantom has a patient ID');
  const script = 'import glob, sys, pydicom\nfs = sorted(glob.glob("/job/input/dicom/*.dcm"))\n' +
    'd = pydicom.dcmread(fs[0]) if fs else None\n' +
    'print("FILES=%d ID=%s SOP=%s" % (len(fs), d.PatientID if d else "-", d.SOPInstanceUID if d else "-"))\nsys.exit(3)\n';
  const seen = async (id) => {
    const job = await run(tokens.alpha, { algorithm: id, series: phantom.series_uid });
    assert.equal(job.state, 'failed');
    return job.error;
  };
  await registerScript('headers-default', script);
  const deid = await seen('headers-default');
  assert.match(deid, /FILES=[1-9]\d* ID=VG[A-Z2-9]{14} SOP=2\.25\./, 'a pseudonym and remapped UIDs');
  assert.ok(!deid.includes(realId), deid);
  await registerScript('headers-none', script, { headers: 'none' });
  assert.match(await seen('headers-none'), /FILES=0 /);
  await registerScript('headers-full', script, { headers: 'full' });
  assert.match(await seen('headers-full'), /asks for the series' full DICOM headers .* which this clinic does not allow/);
  await createUser(server, 'alpha', 'alpha.settings', 'clinic_admin');
  const admin = await signIn(server, 'alpha.settings');
  const allowed = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { algorithms_full_dicom_headers: true } });
  assert.equal(allowed.status, 200, allowed.text());
  try {
    const full = await seen('headers-full');
    assert.ok(full.includes(`ID=${realId}`), `the clinic allowed the full headers: ${full}`);
  } finally {
    await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { algorithms_full_dicom_headers: false } });
  }
});

test('an algorithm that exits 1 fails with its own message; the server stays healthy', async () => {
  await registerScript('fails', 'import sys\nprint("loading weights", file=sys.stderr)\nprint("model weights missing: /algorithm/model.pt", file=sys.stderr)\nsys.exit(1)\n');
  const job = await run(tokens.alpha, { algorithm: 'fails', series: phantom.series_uid });
  assert.equal(job.state, 'failed');
  assert.match(job.error, /exited with status 1: .*model weights missing/s);
  assert.equal((await apiGet(server, tokens.alpha, '/healthz')).status, 200);
});

test('the sandbox: no network, no writes outside output/, killed on time, held to its memory', { timeout: 120_000 }, async () => {
  const listener = net.createServer((socket) => socket.end('hello'));
  await new Promise((r) => listener.listen(0, '127.0.0.1', r));
  const port = listener.address().port;
  let connections = 0;
  listener.on('connection', () => ++connections);
  const hostFile = join(makeTempDir('escape'), 'escaped.txt');
  try {
    await registerScript('phones-home', `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=3)\nprint(s.recv(10))\n`);
    await registerScript('writes-out', `import os\nfor p in ["/job/input/x", "/algorithm/x", "/usr/x", ${JSON.stringify(hostFile)}]:\n` +
      '    try:\n        open(p, "w").write("x")\n        print("wrote", p)\n    except OSError as e:\n        print("refused", p, e.strerror)\n' +
      'raise SystemExit("could not write outside output/")\n');
    await registerScript('sleeps', 'import time\ntime.sleep(60)\n', { wall: 2 });
    await registerScript('hungry', 'x = bytearray(2 * 1024 * 1024 * 1024)\nprint(len(x))\n', { memory: 512 });

    const net1 = await run(tokens.alpha, { algorithm: 'phones-home', series: phantom.series_uid });
    assert.equal(net1.state, 'failed');
    assert.match(net1.error, /exited with status 1: .*(Connection refused|Network is unreachable|OSError)/s);
    assert.equal(connections, 0, 'the listener on the host saw no connection');

    const write = await run(tokens.alpha, { algorithm: 'writes-out', series: phantom.series_uid });
    assert.equal(write.state, 'failed');
    assert.match(write.error, /could not write outside output/);
    assert.ok(!existsSync(hostFile), 'nothing was written on the host');

    // The script sleeps 60 s under a 2 s limit: ending before its 60 s is what being
    // killed means (how far past 2 s that is depends on the machine's load, not the server).
    const started = Date.now();
    const slow = await run(tokens.alpha, { algorithm: 'sleeps', series: phantom.series_uid });
    assert.equal(slow.state, 'failed');
    assert.match(slow.error, /time limit of 2 s/);
    assert.ok(Date.now() - started < 60_000, `killed by the limit, not left to run its 60 s (${Date.now() - started} ms)`);

    const mem = await run(tokens.alpha, { algorithm: 'hungry', series: phantom.series_uid });
    assert.equal(mem.state, 'failed');
    assert.match(mem.error, /memory/i);
    assert.equal((await apiGet(server, tokens.alpha, '/healthz')).status, 200);
  } finally {
    listener.close();
  }
});

test('an algorithm inherits no descriptor of the server: no listening socket, client connection or file', async () => {
  await registerScript('counts-fds', 'import os\nleaked = []\nfor fd in range(3, 65536):\n' +
    '    try:\n        os.fstat(fd)\n        leaked.append(fd)\n    except OSError:\n        pass\n' +
    'raise SystemExit("inherited descriptors: %s" % leaked if leaked else "no inherited descriptors")\n');
  const job = await run(tokens.alpha, { algorithm: 'counts-fds', series: phantom.series_uid });
  assert.equal(job.state, 'failed');
  assert.match(job.error, /no inherited descriptors/);
});

test('a running job can be cancelled; a queued one is cancelled at once', { timeout: 180_000 }, async () => {
  // The script runs long on purpose: it must still be running when it is cancelled.
  await registerScript('slow', 'import time\ntime.sleep(30)\n', { wall: 60 });
  const res = await submit(tokens.alpha, { algorithm: 'slow', series: phantom.series_uid });
  assert.equal(res.status, 202, res.text());
  const id = res.json().id;
  await jobRunning((path) => apiGet(server, tokens.alpha, path), id);
  const cancel = await apiJson(server, tokens.alpha, 'POST', `/api/v1/jobs/${id}/cancel`);
  assert.equal(cancel.status, 202);
  const job = await waitFor(tokens.alpha, id, { timeoutMs: 60_000 });
  assert.equal(job.state, 'cancelled');
  assert.equal((await apiJson(server, tokens.alpha, 'POST', `/api/v1/jobs/${id}/cancel`)).status, 409, 'an ended job cannot be cancelled');
});

test('progress streams as Server-Sent Events until the job ends', { timeout: 60_000 }, async () => {
  const res = await submit(tokens.alpha, { algorithm: 'ct-lungs', series: phantom.series_uid });
  const id = res.json().id;
  const events = await fetch(`${server.baseUrl}/api/v1/jobs/${id}/events`, { headers: { Authorization: `Bearer ${tokens.alpha}` } });
  assert.equal(events.headers.get('content-type'), 'text/event-stream');
  const text = await events.text();
  const states = [...text.matchAll(/^data: (\{.*\})$/gm)].map((m) => JSON.parse(m[1])).filter((j) => j.id === id).map((j) => j.state);
  assert.equal(states.at(-1), 'succeeded', text.slice(-500));
  assert.match(text, /event: end/);
});

test('bad requests and another clinic: 404 for its series and its jobs, 422 for a series the algorithm does not take', async () => {
  assert.equal((await submit(tokens.beta, { algorithm: 'ct-lungs', series: phantom.series_uid })).status, 404);
  const done = (await apiGet(server, tokens.alpha, '/api/v1/jobs?limit=1')).json()[0];
  assert.equal((await apiGet(server, tokens.beta, `/api/v1/jobs/${done.id}`)).status, 404);
  assert.equal((await apiJson(server, tokens.beta, 'POST', `/api/v1/jobs/${done.id}/cancel`)).status, 404);
  assert.ok(!(await apiGet(server, tokens.beta, '/api/v1/jobs')).json().some((j) => j.id === done.id));
  assert.equal((await submit(tokens.alpha, { algorithm: 'no-such', series: phantom.series_uid })).status, 404);
  const mr = await makeSeries({ modality: 'MR', slices: 3, rows: 16, cols: 16, seed: 70 });
  await stowOk(server, tokens.alpha, mr.instances.map((i) => i.bytes));
  const wrong = await submit(tokens.alpha, { algorithm: 'ct-lungs', series: mr.series_uid });
  assert.equal(wrong.status, 422);
  assert.match(wrong.json().error.message, /takes CT series; this one is MR/);
  const few = await makeSeries({ slices: 5, rows: 16, cols: 16, seed: 71 });
  await stowOk(server, tokens.alpha, few.instances.map((i) => i.bytes));
  const short = await submit(tokens.alpha, { algorithm: 'ct-lungs', series: few.series_uid });
  assert.equal(short.status, 422);
  assert.match(short.json().error.message, /at least 30 slices; this series has 5/);
});

test('an auto-run rule runs the algorithm once on each new matching series, after it has been quiet', { timeout: 240_000 }, async () => {
  await server.createTenant('gamma');
  const token = await server.createToken({ tenant: 'gamma', name: 'gamma-rw' });
  // Rules are a clinic admin's: a token with the admin scope of the tenant's service user
  // is refused (service users are not admins), so the rule is made by a signed-in admin.
  const { createUser, signIn, call } = await import('./lib/people.mjs');
  await createUser(server, 'gamma', 'g.admin', 'clinic_admin');
  const admin = await signIn(server, 'g.admin');
  const rule = await call(server, admin, 'POST', '/api/v1/auto-rules', { json: { algorithm: 'ct-lungs', min_instances: 50, quiet_seconds: 1 } });
  assert.equal(rule.status, 201, rule.text());
  await stowOk(server, token, phantom.files.map((f) => readFileSync(f)));
  const jobsOf = async (query = '') => (await apiGet(server, token, `/api/v1/jobs${query}`)).json();
  const jobs = await eventually('the rule to fire on the new series', async () => {
    const listed = await jobsOf();
    return listed.length > 0 && listed;
  }, 60_000);
  assert.equal(jobs.length, 1, 'one run fired');
  assert.equal(jobs[0].params.trigger, 'auto');
  const job = await waitFor(token, jobs[0].id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  // "Once" is about the scans after the firing. A second matching series stored now fires
  // on a later scan, which has looked at the first series again; once its run is there, the
  // first series still has exactly one.
  const second = await makeSeries({ slices: 50, rows: 32, cols: 32, seed: 76 });
  await stowOk(server, token, second.instances.map((i) => i.bytes));
  await eventually('the rule to fire on the second series', async () => (await jobsOf(`?series=${second.series_uid}`)).length > 0, 60_000);
  assert.deepEqual((await jobsOf(`?series=${phantom.series_uid}`)).map((j) => j.id), [job.id], 'the rule fires once per series');
  assert.equal((await jobsOf(`?series=${second.series_uid}`)).length, 1, 'and once on the second');
  assert.equal((await jobsOf()).length, 2, 'nothing else fired');
  // Filters apply before the page limit: the run is found by its series even on a page of one.
  const filtered = (await apiGet(server, token, `/api/v1/jobs?series=${phantom.series_uid}&algorithm=ct-lungs&limit=1`)).json();
  assert.deepEqual(filtered.map((j) => j.id), [job.id]);
  assert.deepEqual((await apiGet(server, token, '/api/v1/jobs?series=1.2.3.no.such&limit=1')).json(), []);
  const removed = await call(server, admin, 'DELETE', `/api/v1/auto-rules/${rule.json().id}`);
  assert.equal(removed.status, 204, `a rule that has fired can be deleted: ${removed.text()}`);
});

test('a worker killed with -9 in the middle of a job: the job runs again elsewhere, once, with one SEG', { timeout: 240_000 }, async () => {
  const slow = await VoxelgateServer.start({ name: 'algorithms-kill9', args: ['--workers', '0'] });
  try {
    await slow.createTenant('delta');
    const token = await slow.createToken({ tenant: 'delta', name: 'delta-rw' });
    await stowOk(slow, token, phantom.files.map((f) => readFileSync(f)));
    const dir = makeTempDir('algo-slowlungs');
    // Sleeps, then writes what ct-lungs would: the phantom's truth on the input grid.
    writeFileSync(join(dir, 'run.py'), 'import time, nibabel as nib, numpy as np\n' +
      'img = nib.load("/job/input/image.nii.gz")\ntime.sleep(4)\n' +
      `truth = np.fromfile("/algorithm/truth.raw", dtype=np.uint8).reshape(${phantom.dims[2]}, ${phantom.dims[1]}, ${phantom.dims[0]})\n` +
      'out = nib.Nifti1Image(np.ascontiguousarray(truth.transpose(2, 1, 0)), img.affine)\nout.set_data_dtype(np.uint8)\n' +
      'nib.save(out, "/job/output/labels.nii.gz")\n');
    writeFileSync(join(dir, 'truth.raw'), readFileSync(phantom.truth));
    writeFileSync(join(dir, 'manifest.toml'), 'id = "slow-lungs"\nversion = "1"\nname = "Slow lungs"\n[[output.segments]]\nlabel = 1\nname = "Right lung"\n' +
      '[[output.segments]]\nlabel = 2\nname = "Left lung"\n[runner]\nkind = "process"\ncommand = ["/usr/bin/python3", "run.py"]\n' +
      `directory = "${dir}"\n`);
    await slow.admin('algorithm', 'add', join(dir, 'manifest.toml'));
    const submitted = await request(slow, token, 'POST', '/api/v1/jobs', { algorithm: 'slow-lungs', series: phantom.series_uid });
    assert.equal(submitted.status, 202, submitted.text());
    const id = submitted.json().id;
    const startWorker = () => execFileChild([...slow.cliArgs('worker'), '--algorithms-root', slow.algorithmsRoot, '--lease-seconds', '3'], slow.cliEnv);
    const get = (path) => request(slow, token, 'GET', path);
    const doomed = startWorker();
    await jobRunning(get, id);
    // Part of the scenario: let the attempt get into the algorithm (it sleeps 4 s after
    // loading its input) before the kill. The job must still be running when it comes.
    await sleep(1000);
    const atKill = (await get(`/api/v1/jobs/${id}`)).json();
    assert.equal(atKill.state, 'running', `the job is still running when its worker is killed: ${JSON.stringify(atKill)}`);
    assert.equal(atKill.attempts, 1);
    // The doomed worker's job folder holds the decrypted input as it is killed.
    const jobsDir = join(slow.dataDir, 'tmp', 'jobs');
    const doomedFolders = () => readdirSync(jobsDir).filter((f) => f.startsWith(`p-${doomed.pid}-`));
    const [folder] = doomedFolders();
    assert.ok(folder, `the doomed worker has its folder under ${jobsDir}: ${readdirSync(jobsDir)}`);
    const [jobFolder] = readdirSync(join(jobsDir, folder)).filter((f) => f.startsWith('job-'));
    assert.ok(jobFolder && existsSync(join(jobsDir, folder, jobFolder, 'input', 'image.nii.gz')), 'the input is there');
    const exited = once(doomed, 'exit');
    doomed.kill('SIGKILL');
    await exited;
    const rescuer = startWorker();
    try {
      const job = await jobEnded(get, id, 120_000);
      assert.equal(job.state, 'succeeded', JSON.stringify(job));
      assert.equal(job.attempts, 2, 'run twice: the killed attempt and the retry');
      const segs = await qido(slow, token, `/studies/${phantom.study_uid}/series?Modality=SEG`);
      assert.equal(segs.length, 1, 'exactly one SEG series');
      const versions = (await request(slow, token, 'GET', `/api/v1/studies/${phantom.study_uid}/segmentations`)).json();
      assert.equal(versions.length, 1);
      assert.deepEqual(doomedFolders(), [], 'the next worker to start removed what the killed one left');
    } finally {
      rescuer.kill('SIGTERM');
    }
  } finally {
    await slow.dispose();
  }
});

function execFileChild(args, env = process.env) {
  return execFile(binaryPath, args, { env }, () => {});
}

async function request(srv, token, method, path, json) {
  const { request: raw } = await import('./lib/http.mjs');
  return raw(srv.baseUrl, {
    method, path, headers: { Authorization: `Bearer ${token}`, ...(json ? { 'Content-Type': 'application/json' } : {}) },
    body: json ? Buffer.from(JSON.stringify(json)) : undefined,
  });
}

