#!/usr/bin/env node
// Hostile-client benchmark: what well-behaved clients get while the server is under a cheap
// connection attack. Quiet, then with 1,000 stalled HTTP connections (one byte each, 125
// from each of 127.0.0.2-9, re-opened as the server drops them at limits.header_timeout_s):
// /healthz latency over 500 requests and STOW-RS throughput of a 200-slice CT (4 requests
// of 50). Quiet, then with 200 stalled DICOM connections (one byte of an A-ASSOCIATE-RQ,
// re-opened at ARTIM): C-ECHO (echoscu) and storescu of the 200 slices. The attackers run in
// a child process of their own, so their sockets do not share the measuring event loop.
//
// usage: node bench/hostile.mjs [--bin PATH] [--requests N] [--runs N] [--http-stalled N] [--dicom-stalled N]
//        (the binary: --bin, else $VOXELGATE_BIN, else build/voxelgate)
// Prints a table (figure, quiet, under attack, ratio, target) and, on its last line, a JSON
// summary. Figures only: nothing is asserted (tests/integration/hostile_*.test.mjs check
// the behaviour).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const argValue = (name) => (process.argv.indexOf(name) > 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const argNumber = (name, fallback) => Number(argValue(name) ?? fallback);
// The binary must be known before lib/env.mjs is imported (it reads VOXELGATE_BIN once).
if (argValue('--bin')) process.env.VOXELGATE_BIN = resolve(argValue('--bin'));
else if (!process.env.VOXELGATE_BIN) process.env.VOXELGATE_BIN = join(ROOT, 'build', 'voxelgate');

const { ATTACK_ADDRESSES, StalledConnections, gauge, percentile, refusals } = await import('../tests/integration/lib/hostile.mjs');

// --- the attacker child: `node bench/hostile.mjs --attack PORT COUNT FIRSTBYTEHEX` -------------
if (process.argv[2] === '--attack') {
  const [port, count, first] = process.argv.slice(3);
  const attack = await StalledConnections.open({ port: Number(port), count: Number(count), sustain: true, firstBytes: Buffer.from(first, 'hex') });
  process.stdout.write(`ready ${attack.openCount}\n`);
  setInterval(() => process.stdout.write(`open ${attack.openCount} ended ${attack.finished.length}\n`), 1000);
  process.on('SIGTERM', () => {
    attack.stop();
    process.exit(0);
  });
} else {
  await main();
}

async function main() {
  const { binaryPath, makeTempDir } = await import('../tests/integration/lib/env.mjs');
  const { startDimseServer } = await import('../tests/integration/lib/dimse_fixture.mjs');
  const { echoscu, storescu } = await import('../tests/integration/lib/dcmtk.mjs');
  const { withUids, newUid } = await import('../tests/integration/lib/dicom.mjs');
  const { qido } = await import('../tests/integration/lib/dicomweb.mjs');
  const { bearer, request } = await import('../tests/integration/lib/http.mjs');
  const { multipartBody } = await import('../tests/integration/lib/multipart.mjs');
  const execFileP = promisify(execFile);

  const REQUESTS = argNumber('--requests', 500);
  const RUNS = argNumber('--runs', 3);
  const HTTP_STALLED = argNumber('--http-stalled', 1000);
  const DICOM_STALLED = argNumber('--dicom-stalled', 200);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const log = (s) => process.stderr.write(`hostile: ${s}\n`);
  if (!existsSync(binaryPath)) {
    console.error(`hostile: no server binary at ${binaryPath} (build it, or pass --bin PATH)`);
    process.exit(2);
  }

  // The 200-slice CT of bench/run (build/bench-data), generated once if absent.
  const series = await ensureSeries();
  const files = series.files.map((f) => readFileSync(f.path));
  log(`series: ${files.length} slices, ${(files.reduce((n, b) => n + b.length, 0) / 1e6).toFixed(0)} MB`);
  // Each timed run stores a copy with new UIDs, so every run stores new instances.
  const freshCopy = () => {
    const study = newUid();
    const seriesUid = newUid();
    return { study, series: seriesUid, files: files.map((b) => withUids(b, { sop: newUid(), study, series: seriesUid })) };
  };

  const { server, dicomPort, tokens } = await startDimseServer('bench-hostile', [{ slug: 'bench' }], { args: ['--max-body-bytes', '1000000000'] });
  const token = tokens.bench;
  const results = {};
  let attacker;
  try {
    // --- HTTP: /healthz latency and STOW-RS, quiet and under stalled connections ----------
    // /healthz one request at a time on a new connection each, paced to one every 15 ms
    // so that 500 requests span 7.5 s: longer than limits.header_timeout_s (5 s), so the
    // attack's connections are dropped (408) and re-opened while they are measured.
    const healthz = async () => {
      const times = [];
      const start = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const wait = start + i * 15 - performance.now();
        if (wait > 0) await sleep(wait);
        const t0 = performance.now();
        const res = await request(server.baseUrl, { path: '/healthz', timeoutMs: 60_000 });
        times.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
      }
      times.sort((a, b) => a - b);
      return { p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] };
    };
    const stowRun = async () => {
      const copy = freshCopy();
      const bodies = [];
      for (let k = 0; k < copy.files.length; k += 50) bodies.push(multipartBody(copy.files.slice(k, k + 50)));
      const t0 = performance.now();
      for (const { body, contentType } of bodies) {
        const res = await request(server.baseUrl, {
          method: 'POST', path: '/dicomweb/studies', body, timeoutMs: 600_000,
          headers: { ...bearer(token), 'Content-Type': contentType, Accept: 'application/dicom+json', 'Content-Length': body.length },
        });
        if (res.status !== 200) throw new Error(`STOW answered ${res.status}: ${res.text().slice(0, 300)}`);
      }
      const seconds = (performance.now() - t0) / 1000;
      const found = await qido(server, token, `/studies/${copy.study}/series/${copy.series}/instances?limit=1000`);
      if (found.length !== copy.files.length) throw new Error(`STOW: ${found.length} of ${copy.files.length} instances listed`);
      return copy.files.length / seconds;
    };
    const cpu0 = cpuSnapshot(server.pid);

    log(`quiet: ${REQUESTS} x /healthz`);
    results.healthzQuiet = await healthz();
    const before408 = await refusals(server, 'http', 'header_timeout_s');
    attacker = await startAttacker(server.port, HTTP_STALLED, '47'); // 'G'
    results.httpOpenUnderAttack = await gauge(server, 'voxelgate_http_connections_open');
    log(`under attack: ${attacker.ready} stalled HTTP connections (server: ${results.httpOpenUnderAttack} open): ${REQUESTS} x /healthz`);
    results.healthzAttack = await healthz();
    results.http408 = (await refusals(server, 'http', 'header_timeout_s')) - before408;
    await stopAttacker(attacker);
    attacker = undefined;

    // STOW runs alternate quiet and under attack, so that a change in the machine's load
    // during the bench falls on both.
    const stowQuiet = [];
    const stowAttack = [];
    for (let r = 0; r < RUNS; r++) {
      log(`STOW of ${files.length}, run ${r + 1} of ${RUNS}: quiet, then under ${HTTP_STALLED} stalled connections`);
      stowQuiet.push(await stowRun());
      attacker = await startAttacker(server.port, HTTP_STALLED, '47');
      stowAttack.push(await stowRun());
      await stopAttacker(attacker);
      attacker = undefined;
    }
    results.stowQuiet = median(stowQuiet);
    results.stowAttack = median(stowAttack);
    results.stowRuns = { quiet: stowQuiet.map((x) => Math.round(x)), attack: stowAttack.map((x) => Math.round(x)) };

    // --- DIMSE: C-ECHO and storescu, quiet and under stalled connections -------------------
    const echoMedian = async () => {
      const times = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const r = await echoscu({ port: dicomPort, calledAe: 'BENCH' });
        times.push(performance.now() - t0);
        if (r.code !== 0) throw new Error(`echoscu failed: ${r.output.slice(-500)}`);
      }
      return median(times);
    };
    const storeRun = async () => {
      const copy = freshCopy();
      const dir = makeTempDir('bench-hostile-store');
      const paths = copy.files.map((b, i) => {
        const p = join(dir, `IM${String(i).padStart(4, '0')}.dcm`);
        writeFileSync(p, b);
        return p;
      });
      const t0 = performance.now();
      const r = await storescu({ port: dicomPort, calledAe: 'BENCH', files: paths, extra: [], timeoutMs: 600_000 });
      const seconds = (performance.now() - t0) / 1000;
      if (r.successes !== paths.length) throw new Error(`storescu stored ${r.successes} of ${paths.length}: ${r.output.slice(-500)}`);
      return seconds;
    };
    const echoQuiet = [];
    const echoAttack = [];
    const storeQuiet = [];
    const storeAttack = [];
    const beforeArtim = await refusals(server, 'dicom', 'artim_timeout_s');
    for (let r = 0; r < RUNS; r++) {
      log(`10 x echoscu and storescu of ${files.length}, run ${r + 1} of ${RUNS}: quiet, then under ${DICOM_STALLED} stalled DICOM connections`);
      echoQuiet.push(await echoMedian());
      storeQuiet.push(await storeRun());
      attacker = await startAttacker(dicomPort, DICOM_STALLED, '01'); // the PDU type of an A-ASSOCIATE-RQ
      echoAttack.push(await echoMedian());
      storeAttack.push(await storeRun());
      await stopAttacker(attacker);
      attacker = undefined;
    }
    results.echoQuiet = median(echoQuiet);
    results.echoAttack = median(echoAttack);
    results.storeQuiet = median(storeQuiet);
    results.storeAttack = median(storeAttack);
    results.dicomArtim = (await refusals(server, 'dicom', 'artim_timeout_s')) - beforeArtim;
    results.foreignCpuShare = foreignCpuShare(cpu0, cpuSnapshot(server.pid));
    results.peakRssMb = Math.round(server.procStatusKb('VmHWM') / 1024);
  } finally {
    if (attacker) await stopAttacker(attacker);
    await server.dispose();
  }

  // --- the table ------------------------------------------------------------------------------
  const f = (v, d = 1) => (typeof v === 'number' ? v.toFixed(d) : String(v));
  const rows = [
    // [figure, quiet, attack, ratio (attack/quiet), target, met]
    ['/healthz p50 (ms)', results.healthzQuiet.p50, results.healthzAttack.p50, null, '(ref)', null],
    ['/healthz p99 (ms)', results.healthzQuiet.p99, results.healthzAttack.p99, null, '< 50 ms under attack', results.healthzAttack.p99 < 50],
    ['/healthz max (ms)', results.healthzQuiet.max, results.healthzAttack.max, null, '(ref)', null],
    [`STOW-RS ${files.length} slices, 4 x 50 (inst/s)`, results.stowQuiet, results.stowAttack, null, '>= 80 % of quiet', results.stowAttack >= 0.8 * results.stowQuiet],
    ['C-ECHO, echoscu (ms, median of 10)', results.echoQuiet, results.echoAttack, null, '<= 1.5 x quiet', results.echoAttack <= 1.5 * results.echoQuiet],
    [`storescu ${files.length} slices (s)`, results.storeQuiet, results.storeAttack, null, '<= 1.5 x quiet', results.storeAttack <= 1.5 * results.storeQuiet],
  ];
  console.log(`\nvoxelgate under hostile clients (${binaryPath}); HTTP attack: ${HTTP_STALLED} stalled connections from ${ATTACK_ADDRESSES.length} addresses; DICOM attack: ${DICOM_STALLED}`);
  console.log(`${'figure'.padEnd(42)} ${'quiet'.padStart(9)} ${'attack'.padStart(9)} ${'ratio'.padStart(7)}  target`);
  for (const [name, quiet, attack, , target, met] of rows) {
    const ratio = attack / quiet;
    console.log(`${name.padEnd(42)} ${f(quiet).padStart(9)} ${f(attack).padStart(9)} ${f(ratio, 2).padStart(7)}  ${target}${met === null ? '' : met ? '  ok' : '  MISSED'}`);
  }
  console.log(`server: ${results.httpOpenUnderAttack} HTTP connections open under the HTTP attack, ${results.http408} answered 408 (header timeout) during the /healthz runs; ${results.dicomArtim} DICOM connections dropped at ARTIM; peak RSS ${results.peakRssMb} MB`);
  console.log(`STOW runs (inst/s): quiet ${results.stowRuns.quiet.join(', ')}; under attack ${results.stowRuns.attack.join(', ')}`);
  const share = results.foreignCpuShare;
  console.log(`other processes used ${(100 * share).toFixed(0)}% of the machine's CPU during the bench${share > 0.05 ? ' -- figures are DISTURBED, rerun on an idle machine' : ' (quiet)'}`);
  console.log(JSON.stringify({ bench: 'hostile', ...results }));

  async function ensureSeries() {
    const ddir = join(ROOT, 'build', 'bench-data');
    const stamp = join(ddir, '.complete');
    const manifest = join(ddir, 'manifest.json');
    const usable = () => {
      if (!existsSync(stamp) || !existsSync(manifest)) return null;
      const man = JSON.parse(readFileSync(manifest, 'utf8'));
      const s = man.series?.[0];
      return s && s.files.length === 200 && s.files.every((x) => existsSync(x.path)) ? s : null;
    };
    const found = usable();
    if (found) return found;
    // The same data and stamp as bench/bench.py's ensure_dataset, so bench/run reuses it.
    log(`generating the 200-slice CT series with bench/gen_ct.py into ${ddir} ...`);
    mkdirSync(ddir, { recursive: true });
    const gen = join(HERE, 'gen_ct.py');
    const t0 = performance.now();
    await execFileP('/usr/bin/python3', [gen, ddir, '1', '2', '200'], { cwd: ddir, timeout: 600_000, maxBuffer: 64 << 20 });
    writeFileSync(stamp, JSON.stringify({ generator: gen, args: [1, 2, 200], seconds: Math.round((performance.now() - t0) / 100) / 10 }));
    const s = usable();
    if (!s) throw new Error(`bench/gen_ct.py did not leave a usable series in ${ddir}`);
    return s;
  }
}

// CPU time (s) of the whole machine (busy), of this process and its reaped children (the
// attackers, dcmtk tools), and of the server: what other processes used is the rest.
function cpuSnapshot(serverPid) {
  const tick = 100; // USER_HZ on Linux
  const total = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  const busy = (total.reduce((a, b) => a + b, 0) - total[3] - total[4]) / tick; // minus idle and iowait
  const fields = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ').map(Number);
  const self = fields('self'); // after the name: state is [0], utime [11], stime [12], cutime [13], cstime [14]
  const srv = fields(serverPid);
  return { busy, ours: (self[11] + self[12] + self[13] + self[14] + srv[11] + srv[12]) / tick, wall: performance.now() / 1000 };
}

// As bench/bench.py: CPU seconds used by others over (wall seconds x cores).
function foreignCpuShare(a, b) {
  const foreign = Math.max(0, b.busy - a.busy - (b.ours - a.ours));
  return foreign / ((b.wall - a.wall) * availableParallelism());
}

// The attacker runs in a child process (this file with --attack); resolves once its
// connections are open. Returns {child, ready}.
function startAttacker(port, count, firstHex) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--attack', String(port), String(count), firstHex], {
      stdio: ['ignore', 'pipe', 'inherit'], env: process.env,
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolveStart({ child, ready: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`the attacker exited (${code}) before its connections were open: ${out.slice(-300)}`)));
  });
}

async function stopAttacker(attacker) {
  if (attacker.child.exitCode !== null) return;
  const exited = new Promise((r) => attacker.child.once('exit', r));
  attacker.child.kill('SIGTERM');
  await exited;
}
