#!/usr/bin/env node
// Cluster ingest benchmark (issue 19): the same CT instances (300 by default: 512x512 16-bit
// slices of bench/gen_ct.py, the 2 x 200-slice series of build/bench-data that bench/run
// uses) stored by STOW-RS, in one run, three ways:
//   (a) SQLite + folder (the embedded default), 1 node, for comparison;
//   (b) PostgreSQL + S3, 1 node;
//   (c) PostgreSQL + S3, 2 nodes: two `serve` processes on one SharedStorage (one catalog
//       schema, one bucket prefix, one master key), the instances split between them.
// Every node is `serve --workers 0 --dicom-listen off`, on a data dir of its own; every
// configuration gets fresh data dirs and, for (b) and (c), a fresh SharedStorage.
//
// The client is the same in all three: 4 concurrent STOW-RS requests (--clients) of 25
// instances each (--per-request), each client sending its share one request after the other;
// with 2 nodes, clients 1 and 3 go to the first node and 2 and 4 to the second (2 + 2), so
// the total concurrency is the same as on one node. Why 4 x 25: 4 requests keep both cores
// of a 2-core machine busy (parsing and encrypting one request while others wait for their
// objects and their commit) and give each of 2 nodes 2 requests; 25 instances (about 13 MB)
// per request is a modality-sized batch and gives 12 requests, so 12 catalog commits per
// configuration (one transaction per request).
//
// Reported for each: instances/s; from each node's GET /metrics (before and after; the
// difference; summed over the nodes for (c)) the histogram voxelgate_storage_operation_seconds:
// catalog_commit (one per ingest batch transaction) p50 and p99, blob_put (one per S3 object
// PUT) p50 and p99, estimated from the cumulative buckets by linear interpolation inside
// the bucket (as Prometheus' histogram_quantile); and CPU time per instance from /proc:
// the serve processes (utime + stime), PostgreSQL and Swift (when this runs under
// scripts/with-engines, whose processes it can find), this client, and the rest of the machine.
// Then the ratio 2-node / 1-node instances/s on PostgreSQL + S3.
//
// usage: scripts/with-engines node bench/cluster.mjs [--runs N] [--instances N]
//          [--clients N] [--per-request N] [--bin PATH]
// Skips (exit 0, saying why) when VOXELGATE_TEST_PG_URI or S3_ENDPOINT is not set. Prints a
// table and, on its last line, a JSON summary. Figures only: nothing is asserted
// (tests/integration/cluster_acceptance.test.mjs checks the behaviour). Exit 1 when a
// configuration failed (a STOW error, a node that did not start), 2 on a bad argument.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const argValue = (name) => (process.argv.indexOf(name) > 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const argInt = (name, fallback) => {
  const v = argValue(name);
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench cluster: ${name} takes a positive integer, not ${v}`);
    process.exit(2);
  }
  return n;
};
// The binary must be known before lib/env.mjs is imported (it reads VOXELGATE_BIN once).
if (argValue('--bin')) process.env.VOXELGATE_BIN = resolve(argValue('--bin'));
else if (!process.env.VOXELGATE_BIN) process.env.VOXELGATE_BIN = join(ROOT, 'build', 'voxelgate');

const RUNS = argInt('--runs', 1);
const INSTANCES = argInt('--instances', 300);
const CLIENTS = argInt('--clients', 4);
const PER_REQUEST = argInt('--per-request', 25);
if (CLIENTS < 2) {
  console.error('bench cluster: --clients must be at least 2 (the 2-node run splits them between the nodes)');
  process.exit(2);
}

const { SharedStorage, sharedEnginesMissing } = await import('../tests/integration/lib/shared_storage.mjs');
const missing = sharedEnginesMissing();
if (missing) {
  console.log(`bench cluster: skipped: ${missing}; run it as: scripts/with-engines node bench/cluster.mjs`);
  console.log(JSON.stringify({ bench: 'cluster', skipped: missing }));
  process.exit(0);
}

const { binaryPath, makeTempDir } = await import('../tests/integration/lib/env.mjs');
const { withUids, newUid } = await import('../tests/integration/lib/dicom.mjs');
const { stowResult } = await import('../tests/integration/lib/dicomweb.mjs');
const { bearer, request } = await import('../tests/integration/lib/http.mjs');
const { multipartBody } = await import('../tests/integration/lib/multipart.mjs');
const { VoxelgateServer } = await import('../tests/integration/lib/server.mjs');

if (!existsSync(binaryPath)) {
  console.error(`bench cluster: no server binary at ${binaryPath} (build it, or pass --bin PATH)`);
  process.exit(2);
}

const log = (s) => process.stderr.write(`bench cluster: ${s}\n`);
const median = (xs) => {
  const nums = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!nums.length) return xs.find((x) => x === Infinity) ?? null;
  return [...nums].sort((a, b) => a - b)[Math.floor(nums.length / 2)];
};
const msOf = (s) => (s === null ? null : s * 1000);
const REQUEST_TIMEOUT_MS = 600_000;
const NODE_ARGS = ['--workers', '0', '--dicom-listen', 'off', '--max-body-bytes', '1000000000'];
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// Everything this process started goes when it ends, however it ends: the serve processes
// (lib/server.mjs kills them on 'exit'), the temp dirs (lib/env.mjs), and here the catalog
// schemas of the shared storages still in use. A signal ends the process through 'exit'.
const liveStorages = new Set();
process.on('exit', () => {
  for (const s of liveStorages) s.dispose();
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

// --- the data: the same instances for every configuration --------------------------------
const data = await loadInstances(INSTANCES);
const totalBytes = data.files.reduce((n, b) => n + b.length, 0);
const requests = [];
for (let k = 0; k < data.files.length; k += PER_REQUEST) {
  const parts = data.files.slice(k, k + PER_REQUEST);
  requests.push({ ...multipartBody(parts), count: parts.length });
}
log(`${data.files.length} instances (${(totalBytes / 1e6).toFixed(0)} MB, ${data.source}) in ${requests.length} STOW requests of up to ${PER_REQUEST}, ${CLIENTS} at a time`);

const engines = findEngines();
const pgSettings = pgSettingsOf();

const CONFIGS = [
  { key: 'embedded', label: 'SQLite+folder, 1 node', shared: false, nodes: 1 },
  { key: 'pg_s3_1', label: 'PG+S3, 1 node', shared: true, nodes: 1 },
  { key: 'pg_s3_2', label: 'PG+S3, 2 nodes', shared: true, nodes: 2 },
];

// Runs alternate the configurations (a, b, c, a, b, c, ...), so that a change in the
// machine's load during the bench falls on all three.
const results = Object.fromEntries(CONFIGS.map((c) => [c.key, []]));
const notes = [];
for (let run = 0; run < RUNS; run++) {
  for (const config of CONFIGS) {
    log(`run ${run + 1} of ${RUNS}: ${config.label}`);
    let r;
    try {
      r = await measure(config, run);
    } catch (e) {
      log(`${config.label}: ERROR ${e.stack ?? e}`);
      r = { error: String(e.message ?? e).split('\n')[0].slice(0, 400) };
    }
    results[config.key].push(r);
    for (const n of r.notes ?? []) notes.push(`${config.label}, run ${run + 1}: ${n}`);
    if (r.error) notes.push(`${config.label}, run ${run + 1}: ERROR ${r.error}`);
  }
}
report();
process.exit(Object.values(results).flat().some((r) => r.error) ? 1 : 0);

// --- one configuration, one run ------------------------------------------------------------
async function measure(config, run) {
  const storage = config.shared ? new SharedStorage(`bench${config.key.replace(/_/g, '')}`) : null;
  if (storage) liveStorages.add(storage);
  const nodes = [];
  const r = { notes: [] };
  try {
    for (let i = 0; i < config.nodes; i++) {
      const name = `bench-cluster-${config.key}-r${run + 1}-n${i + 1}`;
      // A data dir of our own: kept until the end (lib/env.mjs removes it at exit), because
      // deleting a big folder just before the next run slows its file creation (bench.py).
      nodes.push(new VoxelgateServer({ name, dataDir: makeTempDir(name), args: NODE_ARGS, storage }));
    }
    for (const node of nodes) await node.start();
    await nodes[0].createTenant('bench');
    const token = await nodes[0].createToken({ tenant: 'bench', name: 'bench-rw' });
    const auth = bearer(token);

    // One untimed instance per node, of a study of its own: the first request's costs
    // (catalog connections, the tenant's first rows, the bucket's first object) are not ingest.
    for (const node of nodes) {
      const warm = withUids(data.files[0], { sop: newUid(), study: newUid(), series: newUid() });
      await stowRequest(node, auth, { ...multipartBody([warm]), count: 1 });
    }

    // Client c sends requests c, c + CLIENTS, ... to node c % nodes, one after the other.
    const clients = Array.from({ length: CLIENTS }, (_, c) => ({
      node: nodes[c % nodes.length],
      requests: requests.filter((_, k) => k % CLIENTS === c),
    }));
    const perNode = nodes.map((node) => clients.filter((c) => c.node === node).reduce((n, c) => n + c.requests.reduce((m, q) => m + q.count, 0), 0));

    const metricsBefore = await Promise.all(nodes.map(storageHistograms));
    const cpuBefore = cpuSnapshot(nodes);
    const t0 = performance.now();
    const latencies = [];
    await Promise.all(clients.map(async (client) => {
      for (const req of client.requests) {
        const s0 = performance.now();
        await stowRequest(client.node, auth, req);
        latencies.push(performance.now() - s0);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpuAfter = cpuSnapshot(nodes);
    const metricsAfter = await Promise.all(nodes.map(storageHistograms));

    const n = data.files.length;
    r.instancesPerS = n / seconds;
    r.mbPerS = totalBytes / 1e6 / seconds;
    r.seconds = seconds;
    r.requestMsP50 = median(latencies);
    r.requestMsMax = Math.max(...latencies);
    const hist = sumHistograms(nodes.map((_, i) => diffHistograms(metricsAfter[i], metricsBefore[i])));
    for (const [op, key] of [['catalog_commit', 'commit'], ['blob_put', 'put']]) {
      const h = hist[op];
      r[`${key}Count`] = h?.count ?? 0;
      r[`${key}MsP50`] = msOf(quantile(h, 0.5));
      r[`${key}MsP99`] = msOf(quantile(h, 0.99));
      r[`${key}MsMean`] = h?.count ? (h.sum / h.count) * 1000 : null;
    }
    // How many PUTs were in flight on average: their summed time over the wall time.
    r.putsInFlight = hist.blob_put?.count ? hist.blob_put.sum / seconds : null;
    const cpu = cpuDelta(cpuBefore, cpuAfter);
    r.perNode = nodes.map((_, i) => ({ instances: perNode[i], cpuS: cpu.nodes[i], cpuMsPerInstance: (cpu.nodes[i] * 1000) / perNode[i] }));
    const serverCpu = cpu.nodes.reduce((a, b) => a + b, 0);
    r.serverCpuMsPerInstance = (serverCpu * 1000) / n;
    r.serverCpuMsPerRequest = (serverCpu * 1000) / requests.length;
    r.enginesCpuMsPerInstance = cpu.engines === null ? null : (cpu.engines * 1000) / n;
    r.pgCpuMsPerInstance = cpu.pg === null ? null : (cpu.pg * 1000) / n;
    r.s3CpuMsPerInstance = cpu.s3 === null ? null : (cpu.s3 * 1000) / n;
    r.clientCpuMsPerInstance = (cpu.client * 1000) / n;
    r.machineBusyShare = cpu.busy / (cpu.wall * availableParallelism());
    r.otherCpuShare = Math.max(0, cpu.tasks - serverCpu - (cpu.engines ?? 0) - cpu.client) / (cpu.wall * availableParallelism());
    r.stealShare = cpu.steal / (cpu.wall * availableParallelism());

    // Untimed: every instance is listed by QIDO, on every node.
    for (const [i, node] of nodes.entries()) {
      const found = await countInstances(node, auth);
      if (found !== n) r.notes.push(`node ${i + 1}: QIDO lists ${found} of the ${n} instances`);
    }
    return r;
  } finally {
    for (const [i, node] of nodes.entries()) {
      if (node.running) {
        const exit = await node.stop();
        if (exit && (exit.code !== 0 || exit.signal)) r.notes.push(`node ${i + 1} exited ${JSON.stringify(exit)} on SIGTERM`);
      }
      // The embedded configuration keeps its master key in the data folder, as a demo does,
      // and the node says so: expected here, not a finding.
      const expected = config.shared ? [] : ['master_key_inside_data_folder'];
      for (const line of logComplaints(node, expected)) r.notes.push(`node ${i + 1} log: ${line}`);
      await node.dispose();
    }
    if (storage) {
      storage.dispose();
      liveStorages.delete(storage);
    }
  }
}

async function stowRequest(node, auth, { body, contentType, count }) {
  const res = await request(node.baseUrl, {
    method: 'POST', path: '/dicomweb/studies', body, timeoutMs: REQUEST_TIMEOUT_MS,
    headers: { ...auth, 'Content-Type': contentType, Accept: 'application/dicom+json', 'Content-Length': body.length },
  });
  const { stored, failed } = stowResult(res);
  if (res.status !== 200 || stored.length !== count) {
    throw new Error(`STOW of ${count} instances to ${node.name}: HTTP ${res.status}, ${stored.length} stored, failed ${JSON.stringify(failed.slice(0, 3))}: ${res.text().slice(0, 300)}`);
  }
}

async function countInstances(node, auth) {
  let total = 0;
  for (const { study, series } of data.series) {
    const res = await request(node.baseUrl, {
      path: `/dicomweb/studies/${study}/series/${series}/instances?limit=100000`, timeoutMs: 60_000,
      headers: { ...auth, Accept: 'application/dicom+json' },
    });
    if (res.status === 200) total += res.json().length;
    else if (res.status !== 204) throw new Error(`QIDO on ${node.name}: HTTP ${res.status} ${res.text().slice(0, 200)}`);
  }
  return total;
}

// Warnings and errors in a node's log (JSON lines), counted by event.
function logComplaints(node, expected = []) {
  const counts = new Map();
  for (const line of node.logText().split('\n')) {
    const m = /"level":"(warning|warn|error|critical)","event":"([^"]*)"/.exec(line);
    if (!m || expected.includes(m[2])) continue;
    const key = `${m[1]} ${m[2]}`;
    const c = counts.get(key) ?? { n: 0, first: line };
    c.n++;
    counts.set(key, c);
  }
  return [...counts].map(([key, c]) => `${c.n} x ${key}: ${c.first.slice(0, 300)} (${node.logPath})`);
}

// --- /metrics: the storage histograms ------------------------------------------------------
// {operation: {bounds: [s], cum: [cumulative counts], count, sum}} from a node's /metrics.
async function storageHistograms(node) {
  const res = await request(node.baseUrl, { path: '/metrics', timeoutMs: 30_000 });
  if (res.status !== 200) throw new Error(`GET /metrics on ${node.name}: HTTP ${res.status}`);
  const out = {};
  const get = (op) => (out[op] ??= { bounds: [], cum: [], count: 0, sum: 0 });
  for (const line of res.text().split('\n')) {
    let m = /^voxelgate_storage_operation_seconds_bucket\{operation="([^"]+)",le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) {
      if (m[2] !== '+Inf') {
        get(m[1]).bounds.push(Number(m[2]));
        get(m[1]).cum.push(Number(m[3]));
      }
      continue;
    }
    m = /^voxelgate_storage_operation_seconds_(sum|count)\{operation="([^"]+)"\} (\S+)$/.exec(line);
    if (m) get(m[2])[m[1]] = Number(m[3]);
  }
  return out;
}

function diffHistograms(after, before) {
  const out = {};
  for (const [op, a] of Object.entries(after)) {
    const b = before[op];
    out[op] = { bounds: a.bounds, cum: a.cum.map((c, i) => c - (b?.cum[i] ?? 0)), count: a.count - (b?.count ?? 0), sum: a.sum - (b?.sum ?? 0) };
  }
  return out;
}

function sumHistograms(list) {
  const out = {};
  for (const h of list) {
    for (const [op, x] of Object.entries(h)) {
      const o = out[op];
      if (!o) out[op] = { ...x, cum: [...x.cum] };
      else {
        if (o.bounds.join() !== x.bounds.join()) throw new Error(`the nodes' ${op} histograms have different buckets`);
        o.cum = o.cum.map((c, i) => c + x.cum[i]);
        o.count += x.count;
        o.sum += x.sum;
      }
    }
  }
  return out;
}

// The q-quantile (s) of a cumulative histogram: the bucket its rank falls in, and a linear
// interpolation between that bucket's bounds (the first bucket's lower bound is 0), as
// Prometheus' histogram_quantile. Above the last finite bound: Infinity. No samples: null.
function quantile(h, q) {
  if (!h || !h.count) return null;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.cum[i] >= rank) return lower + ((h.bounds[i] - lower) * (rank - below)) / (h.cum[i] - below);
    lower = h.bounds[i];
    below = h.cum[i];
  }
  return Infinity;
}


// --- CPU time from /proc ---------------------------------------------------------------------
// After the ") " of /proc/PID/stat: state [0], ppid [1], utime [11], stime [12], cutime [13],
// cstime [14] (clock ticks).
function statFields(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ').map(Number);
  } catch {
    return null;
  }
}

// PostgreSQL and Swift as scripts/with-engines starts them: the postmaster is the
// `postgres -D WORK/pg/data -p PORT` of the catalog's port, and Swift's servers' pids (and
// memcached's) are in WORK/s3/run/*.pid. The engines' CPU is that of these processes and
// their descendants, reaped ones included (cutime + cstime).
function findEngines() {
  const found = { pg: null, s3: [], why: [] };
  const port = new URL(process.env.VOXELGATE_TEST_PG_URI).port || '5432';
  let dataDir = null;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv;
    try {
      argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!/(^|\/)postgres$/.test(argv[0]) || argv[argv.indexOf('-p') + 1] !== port || !argv.includes('-D')) continue;
    found.pg = Number(d);
    dataDir = argv[argv.indexOf('-D') + 1];
    break;
  }
  if (!found.pg) found.why.push(`PostgreSQL's postmaster (postgres -D ... -p ${port}) not found`);
  const run = dataDir ? join(dataDir, '..', '..', 's3', 'run') : null;
  if (run && existsSync(run)) {
    found.s3 = readdirSync(run).filter((f) => f.endsWith('.pid')).map((f) => Number(readFileSync(join(run, f), 'utf8').trim())).filter((p) => p > 1);
  }
  if (!found.s3.length) found.why.push("Swift's processes not found (no WORK/s3/run/*.pid beside PostgreSQL's WORK/pg/data)");
  return found;
}

// CPU seconds of a process and its descendants, reaped ones included.
function treeCpu(roots, children) {
  let total = 0;
  const seen = new Set();
  const stack = [...roots];
  while (stack.length) {
    const pid = stack.pop();
    if (seen.has(pid)) continue;
    seen.add(pid);
    const f = statFields(pid);
    if (!f) continue;
    total += (f[11] + f[12] + f[13] + f[14]) / CLK_TCK;
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return total;
}

function cpuSnapshot(nodes) {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal: busy is what ran on the cores (not idle,
  // iowait, nor steal, the hypervisor's); `tasks` the part of it processes are charged for.
  const busy = (line[0] + line[1] + line[2] + line[5] + line[6]) / CLK_TCK;
  const tasks = (line[0] + line[1] + line[2]) / CLK_TCK;
  const steal = line[7] / CLK_TCK;
  let children = null;
  if (engines.pg || engines.s3.length) {
    children = new Map();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const f = statFields(d);
      if (!f) continue;
      if (!children.has(f[1])) children.set(f[1], []);
      children.get(f[1]).push(Number(d));
    }
  }
  const node = (s) => {
    const f = statFields(s.pid);
    if (!f) throw new Error(`${s.name} (pid ${s.pid}) is gone`);
    return (f[11] + f[12]) / CLK_TCK;
  };
  const usage = process.cpuUsage();
  return {
    wall: performance.now() / 1000,
    busy,
    tasks,
    steal,
    nodes: nodes.map(node),
    pg: engines.pg ? treeCpu([engines.pg], children) : null,
    s3: engines.s3.length ? treeCpu(engines.s3, children) : null,
    client: (usage.user + usage.system) / 1e6,
  };
}

function cpuDelta(a, b) {
  const d = (k) => (a[k] === null || b[k] === null ? null : b[k] - a[k]);
  const pg = d('pg');
  const s3 = d('s3');
  return {
    wall: b.wall - a.wall, busy: b.busy - a.busy, tasks: b.tasks - a.tasks, steal: b.steal - a.steal, client: b.client - a.client,
    nodes: b.nodes.map((x, i) => x - a.nodes[i]),
    pg, s3, engines: pg === null && s3 === null ? null : (pg ?? 0) + (s3 ?? 0),
  };
}

function pgSettingsOf() {
  try {
    const out = execFileSync('psql', [process.env.VOXELGATE_TEST_PG_URI, '-XAtF=', '-c',
      "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'server_version')"], { encoding: 'utf8' });
    return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')));
  } catch (e) {
    return { error: String(e.message ?? e).split('\n')[0] };
  }
}

// --- the instances ---------------------------------------------------------------------------
// build/bench-data (bench/gen_ct.py: 2 series x 200 CT slices, 512x512, 16 bits; generated
// here if absent, with the same stamp bench/bench.py and bench/hostile.mjs look for); the
// first N of them, and past 400, copies of them in further series (new UIDs).
async function loadInstances(n) {
  const ddir = join(ROOT, 'build', 'bench-data');
  const stamp = join(ddir, '.complete');
  const manifestPath = join(ddir, 'manifest.json');
  const usable = () => {
    if (!existsSync(stamp) || !existsSync(manifestPath)) return null;
    const man = JSON.parse(readFileSync(manifestPath, 'utf8'));
    return man.series?.length && man.series.every((s) => s.files.every((f) => existsSync(f.path))) ? man : null;
  };
  let man = usable();
  if (!man) {
    log(`generating 2 series of 200 CT slices with bench/gen_ct.py into ${ddir} ...`);
    mkdirSync(ddir, { recursive: true });
    const t0 = performance.now();
    execFileSync('/usr/bin/python3', [join(HERE, 'gen_ct.py'), ddir, '1', '2', '200'], { cwd: ddir, timeout: 600_000, stdio: ['ignore', 'ignore', 'inherit'] });
    writeFileSync(stamp, JSON.stringify({ generator: join(HERE, 'gen_ct.py'), args: [1, 2, 200], seconds: Math.round((performance.now() - t0) / 100) / 10 }));
    man = usable();
    if (!man) throw new Error(`bench/gen_ct.py did not leave a usable data set in ${ddir}`);
  }
  const originals = man.series.flatMap((s) => s.files.map((f) => ({ path: f.path, study: s.study, series: s.series })));
  const files = [];
  const series = new Map();
  let copy = null;
  for (let i = 0; i < n; i++) {
    const o = originals[i % originals.length];
    const round = Math.floor(i / originals.length);
    let bytes = readFileSync(o.path);
    let { study, series: seriesUid } = o;
    if (round > 0) {
      if (!copy || copy.round !== round) copy = { round, study: newUid(), series: new Map() };
      if (!copy.series.has(o.series)) copy.series.set(o.series, newUid());
      study = copy.study;
      seriesUid = copy.series.get(o.series);
      bytes = withUids(bytes, { sop: newUid(), study, series: seriesUid });
    }
    files.push(bytes);
    series.set(seriesUid, { study, series: seriesUid });
  }
  return { files, series: [...series.values()], source: `bench/gen_ct.py, ${ddir}` };
}

// --- the table -------------------------------------------------------------------------------
function report() {
  const med = (key, k) => median(results[key].filter((r) => !r.error).map((r) => (typeof k === 'function' ? k(r) : r[k])));
  const summaryOf = (key) => {
    const ok = results[key].filter((r) => !r.error);
    if (!ok.length) return { error: results[key].find((r) => r.error)?.error ?? 'no run' };
    const fields = ['instancesPerS', 'mbPerS', 'seconds', 'requestMsP50', 'requestMsMax', 'commitCount', 'commitMsP50', 'commitMsP99', 'commitMsMean',
      'putCount', 'putMsP50', 'putMsP99', 'putMsMean', 'putsInFlight', 'serverCpuMsPerInstance', 'serverCpuMsPerRequest', 'enginesCpuMsPerInstance',
      'pgCpuMsPerInstance', 's3CpuMsPerInstance', 'clientCpuMsPerInstance', 'machineBusyShare', 'otherCpuShare', 'stealShare'];
    const s = Object.fromEntries(fields.map((f) => [f, med(key, f)]));
    s.perNodeCpuMsPerInstance = ok[0].perNode.map((_, i) => med(key, (r) => r.perNode[i].cpuMsPerInstance));
    s.runs = ok.map((r) => Math.round(r.instancesPerS * 10) / 10);
    if (ok.length < results[key].length) s.failedRuns = results[key].length - ok.length;
    return s;
  };
  const summary = Object.fromEntries(CONFIGS.map((c) => [c.key, summaryOf(c.key)]));
  const one = summary.pg_s3_1.instancesPerS;
  const two = summary.pg_s3_2.instancesPerS;
  const ratio = typeof one === 'number' && typeof two === 'number' ? two / one : null;

  const f = (v, d = 1) => (v === null || v === undefined ? '-' : v === Infinity ? '> 8192' : typeof v === 'number' ? v.toFixed(d) : String(v));
  const pct = (v) => (typeof v === 'number' ? `${(100 * v).toFixed(0)} %` : '-');
  const W = 50;
  const C = 22;
  console.log(`\ncluster ingest: ${data.files.length} CT instances (512x512, 16 bits, ${(totalBytes / 1e6).toFixed(0)} MB), STOW-RS, ` +
    `${requests.length} requests of up to ${PER_REQUEST} instances, ${CLIENTS} concurrent (2 nodes: ${Math.ceil(CLIENTS / 2)} + ${Math.floor(CLIENTS / 2)}); ` +
    `${RUNS} run${RUNS > 1 ? 's, medians' : ''}; ${availableParallelism()} cores; ${binaryPath}`);
  console.log(`nodes: serve ${NODE_ARGS.join(' ')}, default fsync (on); PostgreSQL ${pgSettings.server_version ?? '?'} ` +
    `(fsync ${pgSettings.fsync ?? '?'}, synchronous_commit ${pgSettings.synchronous_commit ?? '?'}, full_page_writes ${pgSettings.full_page_writes ?? '?'}); S3: ${process.env.S3_ENDPOINT}`);
  console.log(`${'figure'.padEnd(W)} ${CONFIGS.map((c) => c.label.padStart(C)).join(' ')}`);
  const line = (name, fn, d = 1) => console.log(`${name.padEnd(W)} ${CONFIGS.map((c) => (summary[c.key].error ? 'ERROR' : f(fn(summary[c.key]), d)).padStart(C)).join(' ')}`);
  const text = (name, fn) => console.log(`${name.padEnd(W)} ${CONFIGS.map((c) => (summary[c.key].error ? 'ERROR' : fn(summary[c.key])).padStart(C)).join(' ')}`);
  line('instances/s', (s) => s.instancesPerS);
  line('MB/s', (s) => s.mbPerS);
  line('wall time, s', (s) => s.seconds, 2);
  text(`STOW request of ${PER_REQUEST}, p50 / max, ms`, (s) => `${f(s.requestMsP50, 0)} / ${f(s.requestMsMax, 0)}`);
  text('catalog commits (one per request), count', (s) => f(s.commitCount, 0));
  line('catalog commit p50, ms (*)', (s) => s.commitMsP50);
  line('catalog commit p99, ms (*)', (s) => s.commitMsP99);
  line('catalog commit mean, ms', (s) => s.commitMsMean);
  text('S3 PUTs, count', (s) => (s.putCount ? f(s.putCount, 0) : 'n/a (folder)'));
  line('S3 PUT p50, ms (*)', (s) => s.putMsP50);
  line('S3 PUT p99, ms (*)', (s) => s.putMsP99);
  line('S3 PUT mean, ms', (s) => s.putMsMean);
  line('S3 PUTs in flight, mean (PUT time / wall time)', (s) => s.putsInFlight);
  line('server CPU per instance (all nodes), ms', (s) => s.serverCpuMsPerInstance, 2);
  text('  per node, ms', (s) => s.perNodeCpuMsPerInstance.map((x) => f(x, 2)).join(' / '));
  line(`server CPU per STOW request of ${PER_REQUEST}, ms`, (s) => s.serverCpuMsPerRequest, 0);
  line('  inst/s per server core if CPU-bound (1000/ms)', (s) => (s.serverCpuMsPerInstance > 0 ? 1000 / s.serverCpuMsPerInstance : null), 0);
  line('PostgreSQL CPU per instance, ms', (s) => s.pgCpuMsPerInstance, 2);
  line('S3 (Swift) CPU per instance, ms', (s) => s.s3CpuMsPerInstance, 2);
  line('client (this bench) CPU per instance, ms', (s) => s.clientCpuMsPerInstance, 2);
  text('machine busy (all cores)', (s) => pct(s.machineBusyShare));
  text('  of it, other processes', (s) => pct(s.otherCpuShare));
  text('time the hypervisor took (steal)', (s) => pct(s.stealShare));
  console.log(`2 nodes / 1 node, PG+S3 instances/s: ${f(ratio, 2)}   (issue 19's bar on one 2-core machine: >= 0.90${ratio === null ? '' : ratio >= 0.9 ? ', met' : ', MISSED'})`);
  console.log('(*) estimated from the /metrics histogram voxelgate_storage_operation_seconds (cumulative buckets 0.25 ms .. 8.192 s, doubling), ' +
    'by linear interpolation inside the bucket the rank falls in (as Prometheus histogram_quantile); the 2-node figures are from the two nodes\' histograms summed. ' +
    `With ${requests.length} commits per run the commit p99 is in effect the slowest commit's bucket.`);
  console.log('CPU: utime + stime of each serve process (/proc/PID/stat) over the timed ingest; PostgreSQL and Swift: their processes and descendants ' +
    '(reaped ones included); "other processes": the time the machine charged to processes (user + system) minus all of these; "machine busy" also counts interrupts. The engines share the machine with the nodes here; ' +
    'on N machines each node brings its own cores, and the catalog and the object store are the shared part.');
  for (const c of CONFIGS) {
    const s = summary[c.key];
    if (s.runs && RUNS > 1) console.log(`${c.label}: instances/s per run: ${s.runs.join(', ')}`);
  }
  if (engines.why.length) console.log(`note: ${engines.why.join('; ')}: their CPU is counted under "other processes"`);
  if (pgSettings.fsync === 'off') console.log('note: this PostgreSQL runs with fsync off (scripts/with-engines, PG_FAST=1): its commits are faster than a durable one would be');
  for (const n of notes) console.log(`note: ${n}`);
  if (CONFIGS.some((c) => typeof summary[c.key].otherCpuShare === 'number' && summary[c.key].otherCpuShare > 0.05)) {
    console.log('note: other processes used more than 5 % of the machine during the measurements: figures are DISTURBED, rerun on an idle machine');
  }
  console.log(JSON.stringify({
    bench: 'cluster', instances: data.files.length, bytes: totalBytes, requests: requests.length, perRequest: PER_REQUEST, clients: CLIENTS, runs: RUNS,
    cores: availableParallelism(), postgres: pgSettings, ratio2to1: ratio, ...summary,
  }));
}
