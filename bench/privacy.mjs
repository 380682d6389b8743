#!/usr/bin/env node
// Privacy benchmark (issue 10): de-identification of the 275-slice LIDC chest CT with
// `voxelgate deid` and, in the same run, Orthanc's own anonymization of the same study
// (POST /studies/{id}/anonymize, the Debian package, its tuned configuration); STOW-RS ingest
// into a clinic that de-identifies on arrival against one that does not; and the gateway's
// end-to-end rate (storescu -> gateway -> de-identify -> STOW-RS -> server).
//
// usage: node bench/privacy.mjs [--runs N]   Prints a table and a JSON summary line.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSeries, qido, stow } from '../tests/integration/lib/dicomweb.mjs';
import { binaryPath, makeTempDir, repoRoot, sharedDataDir } from '../tests/integration/lib/env.mjs';
import { dicomFilesUnder } from '../tests/integration/lib/files.mjs';
import { request } from '../tests/integration/lib/http.mjs';
import { freePort, VoxelgateServer } from '../tests/integration/lib/server.mjs';

const execFileP = promisify(execFile);
const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const summary = {};
const row = (figure, value, unit, peer = '') =>
  console.log(`${figure.padEnd(60)} ${String(value).padStart(9)} ${unit.padEnd(7)} ${String(peer).padStart(10)}`);
const seconds = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

console.log(`${'figure'.padEnd(60)} ${'voxelgate'.padStart(9)} ${''.padEnd(7)} ${'Orthanc'.padStart(10)}`);
const lidc = sharedDataDir('ct-chest-lidc');

// 1. De-identifying a whole CT: voxelgate deid vs Orthanc /anonymize.
if (!lidc) {
  console.log('bench privacy: the LIDC part is skipped: ../shared/data/ct-chest-lidc is absent');
} else {
  const { files } = dicomFilesUnder(lidc);
  const bytes = files.reduce((n, f) => n + f.bytes.length, 0);
  const key = join(makeTempDir('bench-deid-key'), 'deid.key');
  const times = [];
  for (let r = 0; r < RUNS; ++r) {
    const out = makeTempDir('bench-deid-out');
    times.push(await seconds(() => execFileP(binaryPath, ['deid', '--profile', 'basic+retain-long-modified-dates', '--key-file', key, lidc, out])));
    rmSync(out, { recursive: true, force: true });
  }
  const ours = median(times);
  let orthanc = null;
  const orthancBin = '/usr/sbin/Orthanc';
  const tuned = join(repoRoot, '..', 'shared', 'peers', 'orthanc', 'config', 'orthanc-tuned.json');
  if (existsSync(orthancBin) && existsSync(tuned)) {
    const dir = makeTempDir('bench-orthanc');
    const port = await freePort();
    const dicomPort = await freePort();
    const cfg = JSON.parse(readFileSync(tuned, 'utf8'));
    Object.assign(cfg, { StorageDirectory: join(dir, 'db'), IndexDirectory: join(dir, 'db'), HttpPort: port, DicomPort: dicomPort, Plugins: [] });
    mkdirSync(join(dir, 'db'));
    writeFileSync(join(dir, 'orthanc.json'), JSON.stringify(cfg));
    const log = openSync(join(dir, 'orthanc.log'), 'a');
    const child = spawn(orthancBin, [join(dir, 'orthanc.json')], { stdio: ['ignore', log, log], env: { ...process.env, TCP_NODELAY: '1' } });
    closeSync(log);
    try {
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; i < 100; ++i) {
        try { if ((await request(base, { path: '/system', timeoutMs: 1000 })).status === 200) break; } catch { /* starting */ }
        await sleep(100);
      }
      for (const f of files) await request(base, { method: 'POST', path: '/instances', body: f.bytes, headers: { 'Content-Type': 'application/dicom' } });
      const [study] = (await request(base, { path: '/studies' })).json();
      const peer = [];
      for (let r = 0; r < RUNS; ++r) {
        peer.push(await seconds(async () => {
          const res = await request(base, { method: 'POST', path: `/studies/${study}/anonymize`, body: Buffer.from('{}'), headers: { 'Content-Type': 'application/json' }, timeoutMs: 600_000 });
          if (res.status !== 200) throw new Error(`Orthanc anonymize: ${res.status} ${res.text()}`);
          const made = res.json().ID;
          await request(base, { method: 'DELETE', path: `/studies/${made}` });
        }));
      }
      orthanc = median(peer);
    } finally {
      child.kill('SIGKILL');
    }
  }
  row(`de-identify the ${files.length}-slice CT (${(bytes / 1e6).toFixed(0)} MB), s`, ours.toFixed(2), 's', orthanc === null ? 'n/a' : orthanc.toFixed(2));
  row('  instances per second', (files.length / ours).toFixed(0), 'inst/s', orthanc === null ? 'n/a' : (files.length / orthanc).toFixed(0));
  Object.assign(summary, { deid_ct_s: ours, deid_inst_per_s: files.length / ours, orthanc_anonymize_s: orthanc });
}

// 2. Ingest with and without de-identification on arrival (STOW-RS, 200 synthetic slices).
{
  const server = await VoxelgateServer.start({ name: 'bench-privacy' });
  try {
    await server.createTenant('plain');
    await server.createTenant('private');
    await server.admin('tenant', 'set', 'private', '--deid', 'basic+retain-long-modified-dates');
    const tokens = { plain: await server.createToken({ tenant: 'plain' }), private: await server.createToken({ tenant: 'private' }) };
    const rate = {};
    for (const slug of ['plain', 'private']) {
      const t = [];
      for (let r = 0; r < RUNS; ++r) {
        const other = await makeSeries({ slices: 200, rows: 256, cols: 256, seed: 100 + r });  // a new study each run
        t.push(await seconds(async () => {
          for (let i = 0; i < 200; i += 50) {
            const res = await stow(server, tokens[slug], other.instances.slice(i, i + 50).map((x) => x.bytes));
            if (res.res.status !== 200) throw new Error(`STOW ${slug}: ${res.res.status}`);
          }
        }));
      }
      rate[slug] = 200 / median(t);
    }
    row('STOW-RS ingest, 200 slices of 256x256, no de-identification', rate.plain.toFixed(0), 'inst/s');
    row('STOW-RS ingest, the same, de-identified on arrival', rate.private.toFixed(0), 'inst/s');
    Object.assign(summary, { stow_plain_inst_per_s: rate.plain, stow_deid_inst_per_s: rate.private });

    // 3. The gateway: storescu -> gateway -> STOW-RS -> server, until the server holds them all.
    const gwDir = makeTempDir('bench-gateway');
    const tokenFile = join(gwDir, 'token');
    writeFileSync(tokenFile, `${tokens.plain}\n`);
    const dicomPort = await freePort();
    const statusPort = await freePort();
    writeFileSync(join(gwDir, 'gateway.toml'), `[gateway]\ndata_dir = "${join(gwDir, 'data')}"\ndicom_port = ${dicomPort}\n` +
      `callers = ["STORESCU"]\nstatus_listen = "127.0.0.1:${statusPort}"\nbatch_instances = 25\n[server]\nurl = "${server.baseUrl}"\n` +
      `allow_insecure_http = true\ntoken_file = "${tokenFile}"\n` +
      `poll_seconds = 3600\n[pacs]\nae_title = "PACS"\nport = 104\n`);
    const log = openSync(join(gwDir, 'gateway.log'), 'a');
    const gw = spawn(binaryPath, ['gateway', '--config', join(gwDir, 'gateway.toml')], { stdio: ['ignore', log, log] });
    closeSync(log);
    try {
      for (let i = 0; i < 100; ++i) {
        try { if ((await request(`http://127.0.0.1:${statusPort}`, { path: '/status', timeoutMs: 1000 })).status === 200) break; } catch { /* starting */ }
        await sleep(100);
      }
      const before = (await qido(server, tokens.plain, '/instances')).length;
      const gwSeries = await makeSeries({ slices: 200, rows: 256, cols: 256, seed: 90 });
      const elapsed = await seconds(async () => {
        await execFileP('storescu', ['-aec', 'VGGATEWAY', '+sd', '127.0.0.1', String(dicomPort), gwSeries.dir], { env: { ...process.env, TCP_NODELAY: '1' } });
        while ((await qido(server, tokens.plain, '/instances')).length < before + 200) await sleep(50);
      });
      row('gateway end to end: storescu -> de-identify -> STOW-RS -> stored', (200 / elapsed).toFixed(0), 'inst/s');
      summary.gateway_inst_per_s = 200 / elapsed;
    } finally {
      gw.kill('SIGTERM');
    }
  } finally {
    await server.dispose();
  }
}
console.log(JSON.stringify({ bench: 'privacy', ...summary }));
