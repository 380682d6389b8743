#!/usr/bin/env node
// Clinical-path benchmark (issues 5 and 7): volumes, NIfTI, SEG and algorithm runs on the
// 275-slice LIDC chest CT (../shared/data/ct-chest-lidc), with dcm2niix timed on the same
// files in the same run; and the job platform's overhead on 50 tiny jobs.
//
// usage: node bench/clinical.mjs [--runs N]   (needs build/voxelgate; tests/integration's
//        npm packages; dcm2niix, bubblewrap and /usr/bin/python3 with numpy and nibabel)
// Prints a table and, on its last line, a JSON summary. Exit 0 also when skipped.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSeries, stowOk } from '../tests/integration/lib/dicomweb.mjs';
import { makeTempDir, sharedDataDir } from '../tests/integration/lib/env.mjs';
import { dicomFilesUnder } from '../tests/integration/lib/files.mjs';
import { VoxelgateServer } from '../tests/integration/lib/server.mjs';
import { apiGet, apiJson, fetchLabels, saveLabels } from '../tests/integration/lib/volumes.mjs';

const execFileP = promisify(execFile);
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rows = [];
const row = (figure, value, unit, peer = '', target = '') => {
  rows.push({ figure, value, unit, peer, target });
  console.log(`${figure.padEnd(58)} ${String(value).padStart(9)} ${unit.padEnd(6)} ${String(peer).padStart(12)}  ${target}`);
};

async function timed(fn) {
  const t = process.hrtime.bigint();
  const out = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, out };
}

async function waitJob(server, token, id) {
  for (;;) {
    const job = (await apiGet(server, token, `/api/v1/jobs/${id}`)).json();
    if (!['queued', 'running'].includes(job.state)) return job;
    await sleep(20);
  }
}

async function runJob(server, token, algorithm, series) {
  const res = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm, series });
  if (res.status !== 202) throw new Error(`submit ${algorithm}: ${res.status} ${res.text()}`);
  const job = await waitJob(server, token, res.json().id);
  if (job.state !== 'succeeded') throw new Error(`${algorithm} job ${job.id}: ${job.state} ${job.error}`);
  return job;
}

async function startServer(name, extra = [], wrap = null) {
  const server = await VoxelgateServer.start({ name, args: ['--max-body-bytes', '1000000000', '--workers', '2', ...extra], wrap });
  await server.createTenant('bench');
  const token = await server.createToken({ tenant: 'bench', name: 'bench-rw' });
  return { server, token };
}

console.log(`${'figure'.padEnd(58)} ${'voxelgate'.padStart(9)} ${''.padEnd(6)} ${'dcm2niix'.padStart(12)}  target`);
const summary = {};
const dir = sharedDataDir('ct-chest-lidc');
if (!dir) {
  console.log('bench clinical: the LIDC CT part is skipped: ../shared/data/ct-chest-lidc is absent');
} else {
  const { files } = dicomFilesUnder(dir);
  const series = files[0].series;
  const { server, token } = await startServer('bench-clinical');
  try {
    for (let i = 0; i < files.length; i += 60) await stowOk(server, token, files.slice(i, i + 60).map((f) => f.bytes));
    await apiGet(server, token, `/api/v1/series/${series}/geometry`);  // warm the page cache

    const geometry = [];
    for (let r = 0; r < RUNS; ++r) geometry.push((await timed(() => apiGet(server, token, `/api/v1/series/${series}/geometry`))).ms);
    row('series geometry (decrypt + parse 275 files), ms', median(geometry).toFixed(0), 'ms');

    const nifti = [];
    let niftiBytes = 0;
    for (let r = 0; r < RUNS; ++r) {
      const t = await timed(() => apiGet(server, token, `/api/v1/series/${series}/volume.nii.gz`));
      nifti.push(t.ms);
      niftiBytes = t.out.body.length;
    }
    const d2n = [];
    for (let r = 0; r < RUNS; ++r) {
      const out = makeTempDir('d2n');
      d2n.push((await timed(() => execFileP('dcm2niix', ['-z', 'y', '-f', 'v', '-o', out, dir], { maxBuffer: 16 << 20 }))).ms);
    }
    row('volume.nii.gz of the CT (assemble + NIfTI + gzip), ms', median(nifti).toFixed(0), 'ms', median(d2n).toFixed(0));
    const d2nRaw = [];
    for (let r = 0; r < RUNS; ++r) {
      const out = makeTempDir('d2n');
      d2nRaw.push((await timed(() => execFileP('dcm2niix', ['-z', 'n', '-f', 'v', '-o', out, dir], { maxBuffer: 16 << 20 }))).ms);
    }
    row('  (dcm2niix without compression, for reference), ms', '', '', median(d2nRaw).toFixed(0));

    const lungs = [];
    let lastLungs;
    for (let r = 0; r < RUNS; ++r) {
      lastLungs = await runJob(server, token, 'ct-lungs', series);
      lungs.push(lastLungs.timings_ms);
    }
    const med = (k) => median(lungs.map((t) => t[k]));
    row('volume assembly in a job (decrypt + decode + order), ms', med('fetch'), 'ms', '', '<= 1000');
    row('ct-lungs run (2 cores), ms', med('run'), 'ms');
    row('algorithm end -> SEG stored (SEG + labels + index), ms', med('store'), 'ms', '', '< 100');
    row('submission -> worker start, ms', med('queued'), 'ms', '', '< 100');
    summary.lidc = { geometry_ms: median(geometry), nifti_ms: median(nifti), nifti_bytes: niftiBytes, dcm2niix_ms: median(d2n),
      dcm2niix_uncompressed_ms: median(d2nRaw), ct_lungs: lungs };

    const labels = await fetchLabels(server, token, lastLungs.segmentation_id);
    const segments = [{ label: 1, name: 'Right lung' }, { label: 2, name: 'Left lung' }];
    const seg = [];
    for (let r = 0; r < RUNS; ++r) seg.push((await timed(() => saveLabels(server, token, series, labels, { segments }))).ms);
    row('save a segmentation version (upload + SEG write + store), ms', median(seg).toFixed(0), 'ms');
    summary.lidc.save_segmentation_ms = median(seg);
  } finally {
    await server.dispose();
  }
  // One core: the server pinned to CPU 0.
  const pinned = await startServer('bench-clinical-1core', [], ['taskset', '-c', '0']);
  try {
    for (let i = 0; i < files.length; i += 60) await stowOk(pinned.server, pinned.token, files.slice(i, i + 60).map((f) => f.bytes));
    const one = [];
    for (let r = 0; r < RUNS; ++r) one.push((await runJob(pinned.server, pinned.token, 'ct-lungs', series)).timings_ms.run);
    row('ct-lungs run on one core (server pinned to CPU 0), ms', median(one), 'ms', '', '< 5000');
    summary.lidc.ct_lungs_one_core_ms = median(one);
  } finally {
    await pinned.server.dispose();
  }
}

// 50 tiny jobs: the platform's own cost (sandbox, NIfTI in and out, SEG, index) per run.
{
  const { server, token } = await startServer('bench-clinical-tiny');
  try {
    const s = await makeSeries({ slices: 4, rows: 32, cols: 32, seed: 99 });
    await stowOk(server, token, s.instances.map((i) => i.bytes));
    const g = (await apiGet(server, token, `/api/v1/series/${s.series_uid}/geometry`)).json();
    const labels = Buffer.alloc(g.dims[0] * g.dims[1] * g.dims[2]);
    labels.fill(1, 0, 100);
    const saved = (await saveLabels(server, token, s.series_uid, labels, { segments: [{ label: 1, name: 'Dot' }] })).json();
    const nifti = (await apiGet(server, token, `/api/v1/segmentations/${saved.id}/labels.nii.gz`)).body;
    const algo = makeTempDir('tiny-algo');
    writeFileSync(join(algo, 'labels.nii.gz'), nifti);
    writeFileSync(join(algo, 'manifest.toml'), 'id = "tiny"\nversion = "1"\nname = "Tiny"\n[[output.segments]]\nlabel = 1\nname = "Dot"\n' +
      `[runner]\nkind = "process"\ncommand = ["/bin/cp", "/algorithm/labels.nii.gz", "/job/output/"]\ndirectory = "${algo}"\n`);
    await server.admin('algorithm', 'add', join(algo, 'manifest.toml'));
    const start = process.hrtime.bigint();
    const ids = [];
    for (let i = 0; i < 50; ++i) ids.push((await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: s.series_uid })).json().id);
    const jobs = [];
    for (const id of ids) jobs.push(await waitJob(server, token, id));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const failed = jobs.filter((j) => j.state !== 'succeeded').length;
    row(`50 tiny process jobs, 2 workers (${failed} failed), jobs/s`, (50 / seconds).toFixed(1), 'jobs/s');
    row('  per tiny job: sandboxed run, ms (median)', median(jobs.map((j) => j.timings_ms?.run ?? 0)), 'ms');
    row('  per tiny job: result stored, ms (median)', median(jobs.map((j) => j.timings_ms?.store ?? 0)), 'ms', '', '< 100');
    summary.tiny = { jobs_per_s: 50 / seconds, failed, run_ms: median(jobs.map((j) => j.timings_ms?.run ?? 0)),
      store_ms: median(jobs.map((j) => j.timings_ms?.store ?? 0)) };
  } finally {
    await server.dispose();
  }
}
console.log(JSON.stringify(summary));
