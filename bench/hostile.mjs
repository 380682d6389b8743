#!/usr/bin/env node
// Hostile-client benchmark: what well-behaved clients get while the server is under a cheap
// connection attack. Quiet, then with 1,000 stalled HTTP connections (one byte each, 125
// from each of 127.0.0.2-9, re-opened as the server drops them at limits.header_timeout_s):
// /healthz latency over 500 requests and STOW-RS throughput of a 200-slice CT (4 requests
// of 50). Quiet, then with 200 stalled DICOM connections (one byte of an A-ASSOCIATE-RQ,
// re-opened at ARTIM): C-ECHO (echoscu) and storescu of the 200 slices. The attackers run in
// a child process of their own, so their sockets do not share the measuring event loop.
//
// The peer, in the same run and under the same attacks: Debian's Orthanc with its DICOMweb
// plugin, started as bench/bench.py starts it (the peer study's tuned configuration). It has
// no /healthz: its figure is GET /system. Its HTTP server has a fixed pool of threads and its
// DICOM listener reads one association request at a time, so under attack it may not answer
// at all: every request has a timeout (--timeout, 10 s) and every figure a deadline
// (--deadline, 60 s), and a figure that got no answer within them says so ('no answer')
// instead of a number; the notes under the table say how many requests went unanswered.
//
// usage: node bench/hostile.mjs [--bin PATH] [--only voxelgate|orthanc] [--requests N] [--runs N]
//          [--http-stalled N] [--dicom-stalled N] [--timeout S] [--deadline S]
//        (the binary: --bin, else $VOXELGATE_BIN, else build/voxelgate)
// Prints a table (figure, then quiet, under attack and ratio for each server, target) and, on
// its last line, a JSON summary (voxelgate's figures at the top level, Orthanc's under
// "orthanc"). Figures only: nothing is asserted (tests/integration/hostile_*.test.mjs check
// the behaviour).
import { execFile, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

// What a figure is when there is no number for it: no answer within the request timeout or the
// figure's deadline, or an answer that was an error. Strings, so that they print and go into
// the JSON summary as they are.
const NO_ANSWER = 'no answer';
const FAILED = 'failed';

// --- the attacker child: `node bench/hostile.mjs --attack PORT COUNT FIRSTBYTEHEX` -------------
if (process.argv[2] === '--attack') {
  const [port, count, first] = process.argv.slice(3);
  const attack = new StalledConnections({ port: Number(port), count: Number(count), sustain: true, firstBytes: Buffer.from(first, 'hex') });
  for (let i = 0; i < attack.count; i++) attack.connect(attack.addresses[i % attack.addresses.length]);
  // A server whose accept queue is full (Orthanc's DICOM listener takes one association at a
  // time, behind a backlog of 50) leaves the rest of the connections trying: the attack goes on
  // with those open after 10 s, and says how many that is.
  await attack.waitConnected(attack.count, 10_000).catch(() => {});
  // closed: connections that were open and that the server closed; failed: connects that failed.
  const status = () => `open ${attack.openCount} closed ${attack.finished.filter((r) => r.connected).length} failed ${attack.failedConnects}`;
  process.stdout.write(`ready ${attack.openCount}\n`);
  // The parent gone (killed, so it could not stop us): stop too, rather than stall its server forever.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
    process.stdout.write(`${status()}\n`);
  }, 1000);
  process.on('SIGTERM', () => {
    process.stdout.write(`stopped ${status()}\n`); // before stop(): its own closing is not the server's
    attack.stop();
    process.exit(0);
  });
} else {
  await main();
}

async function main() {
  const { binaryPath, ensureLogDir, makeTempDir } = await import('../tests/integration/lib/env.mjs');
  const { CALLERS, CALLER_ONLY_PORT, startDimseServer } = await import('../tests/integration/lib/dimse_fixture.mjs');
  const { canConnect, runTool, storescu } = await import('../tests/integration/lib/dcmtk.mjs');
  const { withUids, newUid } = await import('../tests/integration/lib/dicom.mjs');
  const { bearer, request } = await import('../tests/integration/lib/http.mjs');
  const { multipartBody } = await import('../tests/integration/lib/multipart.mjs');
  const { freePort } = await import('../tests/integration/lib/server.mjs');
  const execFileP = promisify(execFile);

  const REQUESTS = argNumber('--requests', 500);
  const RUNS = argNumber('--runs', 3);
  const HTTP_STALLED = argNumber('--http-stalled', 1000);
  const DICOM_STALLED = argNumber('--dicom-stalled', 200);
  const TIMEOUT_S = argNumber('--timeout', 10); // any one request: /healthz, a STOW request, an echoscu, an association
  const DEADLINE_S = argNumber('--deadline', 60); // any one figure: 10 echoes, a STOW run, a storescu run
  const TIMEOUT_MS = TIMEOUT_S * 1000;
  const DEADLINE_MS = DEADLINE_S * 1000;
  const ONLY = argValue('--only');
  if (ONLY !== undefined && ONLY !== 'voxelgate' && ONLY !== 'orthanc') {
    console.error(`hostile: --only takes voxelgate or orthanc, not ${ONLY}`);
    process.exit(2);
  }
  const ORTHANC_TUNED = resolve(ROOT, '..', 'shared', 'peers', 'orthanc', 'config', 'orthanc-tuned.json');
  // The median as this bench always took it (ascending, the element at n/2: the upper of the two
  // middle ones); a run without a number counts as the worst: last for times, first for rates.
  const medianOf = (xs, { higherIsBetter = false } = {}) => {
    const key = (x) => (typeof x === 'number' ? x : higherIsBetter ? -Infinity : Infinity);
    const sorted = [...xs].sort((a, b) => (key(a) === key(b) ? 0 : key(a) < key(b) ? -1 : 1));
    return sorted[Math.floor(sorted.length / 2)];
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const log = (s) => process.stderr.write(`hostile: ${s}\n`);
  const isTimeout = (e) => /timed out/.test(e?.message ?? '');
  const lastLines = (text, n = 3) => text.split('\n').filter((l) => l.trim()).slice(-n).join(' | ');

  // Every child of this process is killed when it ends, however it ends: the attackers and
  // Orthanc here (VoxelgateServer kills voxelgate on 'exit' itself). A signal would end the
  // process without 'exit', so INT and TERM (bench/run's time limit) exit through it.
  const children = new Set();
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));

  const peer = ONLY === 'voxelgate' ? null : findOrthanc();
  if (ONLY !== 'orthanc' && !existsSync(binaryPath)) {
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

  // One server at a time, voxelgate first (as bench/bench.py). A server that fails keeps
  // the other's figures: its error is printed and goes into the summary.
  const results = {};
  const starts = [];
  if (ONLY !== 'orthanc') starts.push(['voxelgate', startVoxelgate]);
  if (peer?.skipped) {
    log(`Orthanc peer skipped: ${peer.skipped}`);
    results.orthanc = { skipped: peer.skipped };
  } else if (peer) starts.push(['orthanc', () => startOrthanc(peer)]);
  for (const [name, start] of starts) {
    let target;
    try {
      target = await start();
      results[name] = await measure(target);
    } catch (e) {
      log(`${name}: ERROR ${e.stack ?? e}`);
      results[name] = { error: String(e.message ?? e) };
    } finally {
      await target?.stop();
    }
  }

  report(results);
  process.exit(results.voxelgate?.error ? 1 : 0);

  // --- the servers --------------------------------------------------------------------------
  // A server as the measurements see it: where it listens, what it is asked, how it is stopped;
  // `metrics`: what it alone can tell (voxelgate's /metrics), or null.
  async function startVoxelgate() {
    const { server, dicomPort, tokens } = await startDimseServer('bench-hostile', [{ slug: 'bench' }], { args: ['--max-body-bytes', '1000000000'] });
    return {
      name: 'voxelgate', label: 'voxelgate', description: binaryPath,
      baseUrl: server.baseUrl, port: server.port, pid: server.pid, dicomPort, calledAe: 'BENCH',
      healthPath: '/healthz', dicomweb: '/dicomweb', auth: bearer(tokens.bench),
      metrics: {
        httpOpen: () => gauge(server, 'voxelgate_http_connections_open'),
        http408: () => refusals(server, 'http', 'header_timeout_s'),
        artim: () => refusals(server, 'dicom', 'artim_timeout_s'),
      },
      stop: () => server.dispose(),
    };
  }

  // Orthanc, where this machine has it: {bin, plugins, config} or {skipped: why}.
  function findOrthanc() {
    const executable = (p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    };
    const bin = ['/usr/sbin/Orthanc', ...(process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'Orthanc'))].find(executable);
    if (!bin) return { skipped: 'Orthanc is not installed (no /usr/sbin/Orthanc, none on PATH)' };
    if (!existsSync(ORTHANC_TUNED)) return { skipped: `the peer study's configuration ${ORTHANC_TUNED} is absent` };
    const config = JSON.parse(readFileSync(ORTHANC_TUNED, 'utf8'));
    // The plugin the configuration names, else Debian's (bench/bench.py looks in the same places).
    let plugins = (config.Plugins ?? []).filter((p) => existsSync(p));
    if (!plugins.length) {
      const dirs = ['/usr/lib/orthanc', '/usr/share/orthanc/plugins'].filter((d) => existsSync(d));
      plugins = dirs.flatMap((d) => readdirSync(d).sort().filter((f) => f.includes('DicomWeb')).map((f) => join(d, f))).slice(0, 1);
    }
    if (!plugins.length) return { skipped: 'the Orthanc DICOMweb plugin is not installed (orthanc-dicomweb)' };
    return { bin, plugins, config };
  }

  // Orthanc as bench/bench.py starts it: the tuned configuration with a new storage dir, free
  // ports and the DICOMweb plugin patched in, TCP_NODELAY=1 in its environment (the peer
  // study's "tuned"). Its log goes to build/test-logs, next to voxelgate's.
  async function startOrthanc({ bin, plugins, config }) {
    const dir = makeTempDir('bench-hostile-orthanc');
    const port = await freePort();
    let dicomPort = await freePort();
    while (dicomPort === port) dicomPort = await freePort();
    const cfg = structuredClone(config);
    Object.assign(cfg, {
      StorageDirectory: join(dir, 'db'), IndexDirectory: join(dir, 'db'), HttpPort: port, DicomPort: dicomPort, Plugins: plugins,
      // Its callers, as voxelgate's tenant has them (startDimseServer registers CALLERS). C-ECHO
      // and C-STORE do not need it (DicomAlwaysAllowEcho/Store are on in the tuned configuration).
      DicomModalities: { ...cfg.DicomModalities, ...Object.fromEntries(CALLERS.map((ae) => [ae.toLowerCase(), [ae, '127.0.0.1', CALLER_ONLY_PORT]])) },
      DicomWeb: { ...cfg.DicomWeb, Host: `127.0.0.1:${port}` },
    });
    mkdirSync(join(dir, 'db'));
    const cfgPath = join(dir, 'orthanc.json');
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 1));
    const logPath = join(ensureLogDir(), `orthanc-hostile-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
    const logFd = openSync(logPath, 'a');
    const child = spawn(bin, [cfgPath], { cwd: dir, stdio: ['ignore', logFd, logFd], env: { ...process.env, TCP_NODELAY: '1' } });
    closeSync(logFd);
    children.add(child);
    const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(kill);
      }
      children.delete(child);
    };
    const baseUrl = `http://127.0.0.1:${port}`;
    const logTail = () => lastLines(existsSync(logPath) ? readFileSync(logPath, 'utf8') : '', 10);
    try {
      const t0 = performance.now();
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Orthanc exited during start-up; log ${logPath}: ${logTail()}`);
        if (performance.now() - t0 > 60_000) throw new Error(`Orthanc did not answer GET /system within 60 s; log ${logPath}: ${logTail()}`);
        const res = await request(baseUrl, { path: '/system', timeoutMs: 2000 }).catch(() => null);
        if (res?.status === 200 && (await canConnect(dicomPort))) break;
        await sleep(100);
      }
      const system = (await request(baseUrl, { path: '/system', timeoutMs: TIMEOUT_MS })).json();
      const plugin = await request(baseUrl, { path: '/plugins/dicom-web', timeoutMs: TIMEOUT_MS });
      const pluginVersion = plugin.status === 200 ? plugin.json().Version : '?';
      return {
        name: 'orthanc', label: 'Orthanc', description: `Orthanc ${system.Version}, DICOMweb plugin ${pluginVersion}, ${ORTHANC_TUNED} (tuned), TCP_NODELAY=1; log ${logPath}`,
        version: { orthanc: system.Version, dicomweb: pluginVersion },
        baseUrl, port, pid: child.pid, dicomPort, calledAe: cfg.DicomAet ?? 'ORTHANC',
        healthPath: '/system', dicomweb: '/dicom-web', auth: {}, metrics: null, stop,
      };
    } catch (e) {
      await stop();
      throw e;
    }
  }

  // --- the measurements, the same for both servers ------------------------------------------
  async function measure(t) {
    const r = { notes: [] };
    const say = (s) => log(`${t.label}: ${s}`);
    // A counter from voxelgate's /metrics; 'no answer' when /metrics did not answer in time.
    const counter = async (name) => (t.metrics ? t.metrics[name]().catch(() => NO_ANSWER) : undefined);
    const minus = (a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : a === undefined ? undefined : NO_ANSWER);
    let attacker;
    try {
      // --- HTTP: /healthz latency and STOW-RS, quiet and under stalled connections ----------
      const cpu0 = cpuSnapshot(t.pid);
      say(`quiet: ${REQUESTS} x ${t.healthPath}`);
      r.healthzQuiet = await healthz(t, 'quiet', r.notes);
      const before408 = await counter('http408');
      attacker = await startAttacker(t.port, HTTP_STALLED, '47'); // 'G'
      r.httpOpenUnderAttack = await counter('httpOpen');
      say(`under attack: ${attacker.ready} stalled HTTP connections${t.metrics ? ` (server: ${r.httpOpenUnderAttack} open)` : ''}: ${REQUESTS} x ${t.healthPath}`);
      r.healthzAttack = await healthz(t, 'under attack', r.notes);
      r.http408 = minus(await counter('http408'), before408);
      r.httpAttack = await stopAttacker(attacker);
      attacker = undefined;
      await answersAgain(t, 'HTTP', r.notes);

      // STOW runs alternate quiet and under attack, so that a change in the machine's load
      // during the bench falls on both.
      const stowQuiet = [];
      const stowAttack = [];
      for (let run = 0; run < RUNS; run++) {
        say(`STOW of ${files.length}, run ${run + 1} of ${RUNS}: quiet, then under ${HTTP_STALLED} stalled connections`);
        stowQuiet.push(await stowRun(t, `quiet, run ${run + 1}`, r.notes));
        attacker = await startAttacker(t.port, HTTP_STALLED, '47');
        stowAttack.push(await stowRun(t, `under attack, run ${run + 1}`, r.notes));
        await stopAttacker(attacker);
        attacker = undefined;
        await answersAgain(t, 'HTTP', r.notes);
      }
      r.stowQuiet = medianOf(stowQuiet, { higherIsBetter: true });
      r.stowAttack = medianOf(stowAttack, { higherIsBetter: true });
      const round = (x) => (typeof x === 'number' ? Math.round(x) : x);
      r.stowRuns = { quiet: stowQuiet.map(round), attack: stowAttack.map(round) };

      // --- DIMSE: C-ECHO and storescu, quiet and under stalled connections -------------------
      const echoQuiet = [];
      const echoAttack = [];
      const storeQuiet = [];
      const storeAttack = [];
      r.dicomAttacks = [];
      const beforeArtim = await counter('artim');
      for (let run = 0; run < RUNS; run++) {
        say(`10 x echoscu and storescu of ${files.length}, run ${run + 1} of ${RUNS}: quiet, then under ${DICOM_STALLED} stalled DICOM connections`);
        echoQuiet.push(await echoMedian(t, `quiet, run ${run + 1}`, r.notes));
        storeQuiet.push(await storeRun(t, `quiet, run ${run + 1}`, r.notes));
        attacker = await startAttacker(t.dicomPort, DICOM_STALLED, '01'); // the PDU type of an A-ASSOCIATE-RQ
        echoAttack.push(await echoMedian(t, `under attack, run ${run + 1}`, r.notes));
        storeAttack.push(await storeRun(t, `under attack, run ${run + 1}`, r.notes));
        r.dicomAttacks.push(await stopAttacker(attacker));
        attacker = undefined;
        await answersAgain(t, 'DICOM', r.notes);
      }
      r.echoQuiet = medianOf(echoQuiet);
      r.echoAttack = medianOf(echoAttack);
      r.storeQuiet = medianOf(storeQuiet);
      r.storeAttack = medianOf(storeAttack);
      r.dicomArtim = minus(await counter('artim'), beforeArtim);
      r.foreignCpuShare = foreignCpuShare(cpu0, cpuSnapshot(t.pid));
      r.peakRssMb = Math.round(procStatusKb(t.pid, 'VmHWM') / 1024);
      r.server = t.description;
      if (t.version) r.version = t.version;
      return r;
    } finally {
      if (attacker) await stopAttacker(attacker);
    }
  }

  // `path` (/healthz; Orthanc's /system) one request at a time on a new connection each, paced
  // to one every 15 ms so that 500 requests span 7.5 s: longer than voxelgate's
  // limits.header_timeout_s (5 s), so the attack's connections are dropped (408) and re-opened
  // while they are measured. Each request waits TIMEOUT_MS at most; none is sent after the paced
  // span plus DEADLINE_MS. A request without an answer (or with an error status), and one the
  // deadline left unsent, counts as slower than any answer in the percentiles.
  async function healthz(t, when, notes) {
    const times = [];
    let noAnswer = 0;
    const failed = [];
    const start = performance.now();
    const deadline = start + REQUESTS * 15 + DEADLINE_MS;
    for (let i = 0; i < REQUESTS && performance.now() < deadline; i++) {
      const wait = start + i * 15 - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      try {
        const res = await request(t.baseUrl, { path: t.healthPath, timeoutMs: TIMEOUT_MS });
        if (res.status === 200) times.push(performance.now() - t0);
        else failed.push(`HTTP ${res.status}`);
      } catch (e) {
        if (isTimeout(e)) noAnswer++;
        else failed.push(e.code ?? e.message);
      }
    }
    const answered = times.length;
    const notSent = REQUESTS - answered - noAnswer - failed.length;
    while (times.length < REQUESTS) times.push(Infinity);
    times.sort((a, b) => a - b);
    const figure = (ms) => (ms !== Infinity ? ms : failed.length && !noAnswer ? FAILED : NO_ANSWER);
    if (answered < REQUESTS) {
      notes.push(`${t.healthPath} ${when}: ${answered} of ${REQUESTS} answered 200` +
        (noAnswer ? `; ${noAnswer} no answer within ${TIMEOUT_S} s` : '') +
        (failed.length ? `; ${failed.length} failed (${[...new Set(failed)].slice(0, 3).join(', ')})` : '') +
        (notSent ? `; ${notSent} not sent (deadline: the paced ${(REQUESTS * 0.015).toFixed(1)} s + ${DEADLINE_S} s)` : ''));
    }
    return { p50: figure(percentile(times, 50)), p99: figure(percentile(times, 99)), max: figure(times[times.length - 1]), answered, noAnswer, failed: failed.length, notSent };
  }

  // A STOW-RS of a fresh copy of the series, 4 requests of 50 on new connections; then QIDO
  // must list every instance. Returns instances/s, or NO_ANSWER / FAILED (with a note).
  async function stowRun(t, when, notes) {
    const copy = freshCopy();
    const bodies = [];
    for (let k = 0; k < copy.files.length; k += 50) bodies.push(multipartBody(copy.files.slice(k, k + 50)));
    const t0 = performance.now();
    for (const [k, { body, contentType }] of bodies.entries()) {
      const what = `STOW ${when}: request ${k + 1} of ${bodies.length}`;
      if (performance.now() - t0 > DEADLINE_MS) {
        notes.push(`${what} not sent: the run passed its ${DEADLINE_S} s deadline`);
        return NO_ANSWER;
      }
      let res;
      try {
        res = await request(t.baseUrl, {
          method: 'POST', path: `${t.dicomweb}/studies`, body, timeoutMs: TIMEOUT_MS,
          headers: { ...t.auth, 'Content-Type': contentType, Accept: 'application/dicom+json', 'Content-Length': body.length },
        });
      } catch (e) {
        notes.push(`${what}: ${isTimeout(e) ? `no answer within ${TIMEOUT_S} s` : e.code ?? e.message}`);
        return isTimeout(e) ? NO_ANSWER : FAILED;
      }
      if (res.status !== 200) {
        notes.push(`${what}: HTTP ${res.status}: ${res.text().slice(0, 200)}`);
        return FAILED;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    try {
      const found = await qidoInstances(t, copy);
      if (found !== copy.files.length) {
        notes.push(`STOW ${when}: QIDO lists ${found} of ${copy.files.length} instances`);
        return FAILED;
      }
    } catch (e) {
      notes.push(`STOW ${when}: the stored instances could not be counted (${e.message}); the figure stands`);
    }
    return copy.files.length / seconds;
  }

  async function qidoInstances(t, copy) {
    const res = await request(t.baseUrl, {
      path: `${t.dicomweb}/studies/${copy.study}/series/${copy.series}/instances?limit=1000`, timeoutMs: TIMEOUT_MS,
      headers: { ...t.auth, Accept: 'application/dicom+json' },
    });
    if (res.status === 204) return 0;
    if (res.status !== 200) throw new Error(`QIDO answered ${res.status}`);
    return res.json().length;
  }

  // The median of 10 echoscu runs, each from spawn to exit and killed at TIMEOUT_MS; none is
  // started after DEADLINE_MS. One without an answer, or not started, counts as the slowest.
  async function echoMedian(t, when, notes) {
    const times = [];
    let noAnswer = 0;
    const failed = [];
    const deadline = performance.now() + DEADLINE_MS;
    for (let i = 0; i < 10 && performance.now() < deadline; i++) {
      const t0 = performance.now();
      const r = await runTool('echoscu', ['-v', '-aet', 'ECHOSCU', '-aec', t.calledAe, '127.0.0.1', String(t.dicomPort)], { timeoutMs: TIMEOUT_MS });
      if (r.timedOut) noAnswer++;
      else if (r.code !== 0) failed.push(lastLines(r.output, 1));
      else times.push(performance.now() - t0);
    }
    const answered = times.length;
    if (answered < 10) {
      const notSent = 10 - answered - noAnswer - failed.length;
      notes.push(`C-ECHO ${when}: ${answered} of 10 answered` + (noAnswer ? `; ${noAnswer} no answer within ${TIMEOUT_S} s` : '') +
        (failed.length ? `; ${failed.length} failed (${failed[0]})` : '') + (notSent ? `; ${notSent} not started (${DEADLINE_S} s deadline)` : ''));
    }
    const m = medianOf([...times, ...Array(10 - answered).fill(undefined)]);
    return m ?? (failed.length && !noAnswer ? FAILED : NO_ANSWER);
  }

  // storescu of a fresh copy of the series, one association; seconds from spawn to exit. The
  // connection and the association request wait TIMEOUT_S each (-to, -ta), the run DEADLINE_MS.
  async function storeRun(t, when, notes) {
    const copy = freshCopy();
    const dir = makeTempDir('bench-hostile-store');
    const paths = copy.files.map((b, i) => {
      const p = join(dir, `IM${String(i).padStart(4, '0')}.dcm`);
      writeFileSync(p, b);
      return p;
    });
    const t0 = performance.now();
    const r = await storescu({ port: t.dicomPort, calledAe: t.calledAe, files: paths, extra: ['-to', String(TIMEOUT_S), '-ta', String(TIMEOUT_S)], timeoutMs: DEADLINE_MS });
    const seconds = (performance.now() - t0) / 1000;
    if (r.successes === paths.length) return seconds;
    const timedOut = r.timedOut || /time ?out|timed out/i.test(r.output);
    notes.push(`storescu ${when}: stored ${r.successes} of ${paths.length}, ` +
      (r.timedOut ? `killed at the ${DEADLINE_S} s deadline` : `exit ${r.code} after ${seconds.toFixed(1)} s: ${lastLines(r.output, 1)}`));
    return timedOut ? NO_ANSWER : FAILED;
  }

  // After an attack the server must answer again before the next quiet figure: one /healthz
  // (HTTP) or C-ECHO (DICOM) at a time until one is answered, for DEADLINE_MS at most.
  async function answersAgain(t, listener, notes) {
    const t0 = performance.now();
    while (performance.now() - t0 < DEADLINE_MS) {
      const answered = listener === 'HTTP'
        ? (await request(t.baseUrl, { path: t.healthPath, timeoutMs: TIMEOUT_MS }).catch(() => null))?.status === 200
        : (await runTool('echoscu', ['-aet', 'ECHOSCU', '-aec', t.calledAe, '127.0.0.1', String(t.dicomPort)], { timeoutMs: TIMEOUT_MS })).code === 0;
      if (answered) {
        const s = (performance.now() - t0) / 1000;
        if (s > 1) notes.push(`${listener} answered again ${s.toFixed(1)} s after the attack stopped`);
        return;
      }
      await sleep(200);
    }
    notes.push(`${listener}: no answer within ${DEADLINE_S} s after the attack stopped: the next quiet figures are not quiet`);
  }

  // --- the attackers ----------------------------------------------------------------------------
  // The attacker runs in a child process (this file with --attack); resolves once its
  // connections are open (or as many as the server let open within 10 s). Returns {child, ready, requested}.
  function startAttacker(port, count, firstHex) {
    return new Promise((resolveStart, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--attack', String(port), String(count), firstHex], {
        stdio: ['ignore', 'pipe', 'inherit'], env: process.env,
      });
      children.add(child);
      const attacker = { child, ready: undefined, requested: count, out: '' };
      const tooLong = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout.on('data', (d) => {
        attacker.out = (attacker.out + d).slice(-4000);
        const m = /ready (\d+)/.exec(attacker.out);
        if (m && attacker.ready === undefined) {
          clearTimeout(tooLong);
          attacker.ready = Number(m[1]);
          resolveStart(attacker);
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(tooLong);
        children.delete(child);
        reject(new Error(`the attacker exited (${code ?? signal}) before its connections were open: ${attacker.out.slice(-300)}`));
      });
    });
  }

  // Stops the attacker; returns what it saw: {requested, open (when it was ready), closedByServer,
  // failedConnects}.
  async function stopAttacker(attacker) {
    if (attacker.child.exitCode === null && attacker.child.signalCode === null) {
      const exited = new Promise((r) => attacker.child.once('exit', r));
      attacker.child.kill('SIGTERM');
      await exited;
    }
    const m = /stopped open \d+ closed (\d+) failed (\d+)/.exec(attacker.out);
    return { requested: attacker.requested, open: attacker.ready, closedByServer: m ? Number(m[1]) : undefined, failedConnects: m ? Number(m[2]) : undefined };
  }

  // --- the table ------------------------------------------------------------------------------
  function report(all) {
    const measured = Object.entries(all).filter(([, r]) => !r.skipped && !r.error);
    const labels = { voxelgate: 'voxelgate', orthanc: 'Orthanc (peer)' };
    const f = (v, d = 1) => (typeof v === 'number' ? v.toFixed(d) : v === undefined ? '-' : String(v));
    const ratioOf = (quiet, attack) => (typeof quiet === 'number' && typeof attack === 'number' ? f(attack / quiet, 2) : '-');
    const rows = [
      // figure, quiet and attack of one server's results, target and whether it is met (no `met`: no target)
      { name: '/healthz p50 (ms)', quiet: (r) => r.healthzQuiet.p50, attack: (r) => r.healthzAttack.p50, target: '(ref)' },
      { name: '/healthz p99 (ms)', quiet: (r) => r.healthzQuiet.p99, attack: (r) => r.healthzAttack.p99, target: '< 50 ms under attack', met: (q, a) => a < 50 },
      { name: '/healthz max (ms)', quiet: (r) => r.healthzQuiet.max, attack: (r) => r.healthzAttack.max, target: '(ref)' },
      { name: `STOW-RS ${files.length} slices, 4 x 50 (inst/s)`, quiet: (r) => r.stowQuiet, attack: (r) => r.stowAttack, target: '>= 80 % of quiet', met: (q, a) => a >= 0.8 * q },
      { name: 'C-ECHO, echoscu (ms, median of 10)', quiet: (r) => r.echoQuiet, attack: (r) => r.echoAttack, target: '<= 1.5 x quiet', met: (q, a) => a <= 1.5 * q },
      { name: `storescu ${files.length} slices (s)`, quiet: (r) => r.storeQuiet, attack: (r) => r.storeAttack, target: '<= 1.5 x quiet', met: (q, a) => a <= 1.5 * q },
    ];
    // A figure without a number under attack misses its target; without a quiet one it cannot be judged.
    const verdict = (row, q, a) => (!row.met ? '' : typeof a !== 'number' ? 'MISSED' : typeof q !== 'number' ? 'n/a' : row.met(q, a) ? 'ok' : 'MISSED');

    console.log(`\nhostile clients: HTTP attack: ${HTTP_STALLED} stalled connections from ${ATTACK_ADDRESSES.length} addresses; DICOM attack: ${DICOM_STALLED}; ` +
      `each request waits ${TIMEOUT_S} s at most, each figure ${DEADLINE_S} s ('${NO_ANSWER}': none within them)`);
    for (const [name, r] of measured) console.log(`${labels[name]}: ${r.server}`);
    if (all.orthanc && !all.orthanc.skipped && !all.orthanc.error) {
      console.log('Orthanc has no /healthz: its rows are GET /system; its STOW-RS is POST /dicom-web/studies (DICOMweb plugin); C-ECHO and storescu call its DicomAet');
    }
    // Over each server's three columns, its name: ------ voxelgate ------
    const cell = (s) => `${'-'.repeat(Math.max(0, Math.floor((28 - s.length - 2) / 2)))} ${s} `.padEnd(28, '-');
    if (measured.length) {
      console.log(`${''.padEnd(42)} ${measured.map(([name]) => cell(labels[name])).join('  ')}`);
      console.log(`${'figure'.padEnd(42)} ${measured.map(() => `${'quiet'.padStart(9)} ${'attack'.padStart(9)} ${'ratio'.padStart(7)}`).join('  ')}  target`);
    }
    for (const row of measured.length ? rows : []) {
      const cells = [];
      const verdicts = [];
      for (const [name, r] of measured) {
        const [q, a] = [row.quiet(r), row.attack(r)];
        cells.push(`${f(q).padStart(9)} ${f(a).padStart(9)} ${ratioOf(q, a).padStart(7)}`);
        if (row.met) verdicts.push(measured.length > 1 ? `${labels[name].split(' ')[0]} ${verdict(row, q, a)}` : verdict(row, q, a));
      }
      console.log(`${row.name.padEnd(42)} ${cells.join('  ')}  ${row.target}${verdicts.length ? `  ${verdicts.join(', ')}` : ''}`);
    }

    for (const [name, r] of measured) {
      const label = labels[name];
      console.log(name === 'voxelgate'
        ? `voxelgate server: ${r.httpOpenUnderAttack} HTTP connections open under the HTTP attack, ${r.http408} answered 408 (header timeout) during the /healthz run; ${r.dicomArtim} DICOM connections dropped at ARTIM; peak RSS ${r.peakRssMb} MB`
        : `${label} server: peak RSS ${r.peakRssMb} MB (it has no counters of refused connections)`);
      // The attackers' side, the same for both: how many of their connections were open, and
      // how many the server closed while it was measured.
      const dicom = r.dicomAttacks.reduce((s, a) => ({ open: Math.min(s.open, a.open), closed: s.closed + (a.closedByServer ?? 0) }), { open: Infinity, closed: 0 });
      console.log(`${label}, as the attackers saw it: HTTP: ${r.httpAttack.open} of ${r.httpAttack.requested} stalled connections open, ` +
        `${r.httpAttack.closedByServer ?? '?'} closed by the server during the /healthz run; DICOM: ${dicom.open} of ${DICOM_STALLED} open (fewest over the runs), ` +
        `${dicom.closed} closed by the server during the runs`);
      console.log(`${label} STOW runs (inst/s): quiet ${r.stowRuns.quiet.join(', ')}; under attack ${r.stowRuns.attack.join(', ')}`);
      for (const note of r.notes) console.log(`${label} note: ${note}`);
    }
    for (const [name, r] of Object.entries(all)) {
      if (r.skipped) console.log(`${labels[name]} skipped: ${r.skipped}`);
      if (r.error) console.log(`${labels[name]} ERROR: ${r.error}`);
    }
    if (measured.length) {
      const shares = measured.map(([name, r]) => `${(100 * r.foreignCpuShare).toFixed(0)}% during ${labels[name].split(' ')[0]}'s figures`);
      const disturbed = measured.some(([, r]) => r.foreignCpuShare > 0.05);
      console.log(`other processes used the machine's CPU: ${shares.join(', ')}${disturbed ? ' -- figures are DISTURBED, rerun on an idle machine' : ' (quiet)'}`);
    }
    // voxelgate's figures at the top level (as before the peer was added), the peer's under its name.
    const { voxelgate, ...rest } = all;
    console.log(JSON.stringify({ bench: 'hostile', timeoutS: TIMEOUT_S, deadlineS: DEADLINE_S, ...voxelgate, ...rest }));
  }

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

// /proc/PID/status field in kB (VmHWM, VmRSS, ...).
function procStatusKb(pid, field) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`${field} not in /proc/${pid}/status`);
  return Number(m[1]);
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
