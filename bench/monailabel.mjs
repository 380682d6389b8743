#!/usr/bin/env node
// MONAI Label surface benchmark (issue 11): what a 3D Slicer user waits for. On the
// 275-slice LIDC chest CT (../shared/data/ct-chest-lidc): uploading it as NIfTI (converted to
// a DICOM series in the archive), a ct-lungs inference through /monailabel (submission, run,
// NRRD answer) against the same run through the plain jobs API, and saving a label back.
// No MONAI Label server is installed on this machine, so the figures stand alone.
//
// usage: node bench/monailabel.mjs [--runs N]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stowOk } from '../tests/integration/lib/dicomweb.mjs';
import { makeTempDir, sharedDataDir } from '../tests/integration/lib/env.mjs';
import { dicomFilesUnder } from '../tests/integration/lib/files.mjs';
import { request } from '../tests/integration/lib/http.mjs';
import { VoxelgateServer } from '../tests/integration/lib/server.mjs';
import { apiGet, apiJson } from '../tests/integration/lib/volumes.mjs';

const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (figure, value, unit) => console.log(`${figure.padEnd(64)} ${String(value).padStart(9)} ${unit}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const timed = async (fn) => {
  const t = process.hrtime.bigint();
  const out = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, out };
};

function form(fields, files) {
  const boundary = '----------lImIt_of_THE_fIle_eW_$';
  const chunks = [];
  for (const [k, v] of Object.entries(fields)) chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const [k, [name, data]] of Object.entries(files)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`), data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

const dir = sharedDataDir('ct-chest-lidc');
if (!dir) {
  console.log('bench monailabel: skipped: ../shared/data/ct-chest-lidc is absent');
  process.exit(0);
}
const server = await VoxelgateServer.start({ name: 'bench-monailabel', args: ['--max-body-bytes', '2000000000', '--workers', '2'] });
const summary = {};
try {
  await server.createTenant('bench');
  const token = await server.createToken({ tenant: 'bench', name: 'bench' });
  const auth = { Authorization: `Bearer ${token}` };
  const { files } = dicomFilesUnder(dir);
  for (let i = 0; i < files.length; i += 60) await stowOk(server, token, files.slice(i, i + 60).map((f) => f.bytes));
  const series = files[0].series;
  const nifti = (await apiGet(server, token, `/api/v1/series/${series}/volume.nii.gz`)).body;
  writeFileSync(join(makeTempDir('bench-ml'), 'ct.nii.gz'), nifti);

  const upload = [];
  for (let r = 0; r < RUNS; ++r) {
    const f = form({ params: '{"client_id":"bench"}' }, { file: ['/tmp/slicer/tmp1.nii.gz', nifti] });
    const t = await timed(() => request(server.baseUrl, { method: 'PUT', path: `/monailabel/datastore/?image=Chest${r}`, headers: { ...auth, 'Content-Type': f.type }, body: f.body, timeoutMs: 300_000 }));
    if (t.out.status !== 200) throw new Error(`upload ${t.out.status} ${t.out.text()}`);
    upload.push(t.ms);
  }
  row(`upload a ${(nifti.length / 1e6).toFixed(0)} MB NIfTI (275 slices -> DICOM series), ms`, median(upload).toFixed(0), 'ms');

  const viaMonai = [], viaJobs = [];
  let labelBytes = 0;
  for (let r = 0; r < RUNS; ++r) {
    const f = form({ params: '{"result_extension":".nrrd","result_dtype":"uint8","client_id":"bench"}' }, {});
    const t = await timed(() => request(server.baseUrl, { method: 'POST', path: `/monailabel/infer/ct-lungs?image=${series}`, headers: { ...auth, 'Content-Type': f.type }, body: f.body, timeoutMs: 600_000 }));
    if (t.out.status !== 200) throw new Error(`infer ${t.out.status} ${t.out.text()}`);
    viaMonai.push(t.ms);
    labelBytes = t.out.body.length;
    const j = await timed(async () => {
      const res = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series });
      for (;;) {
        const job = (await apiGet(server, token, `/api/v1/jobs/${res.json().id}`)).json();
        if (!['queued', 'running'].includes(job.state)) return job;
        await sleep(20);
      }
    });
    viaJobs.push(j.ms);
  }
  row('ct-lungs through /monailabel/infer (answer: multipart with NRRD), ms', median(viaMonai).toFixed(0), 'ms');
  row('the same run through /api/v1/jobs, polled to the end, ms', median(viaJobs).toFixed(0), 'ms');
  row('  the label answer, bytes', labelBytes, 'B');
  Object.assign(summary, { upload_ms: median(upload), infer_monailabel_ms: median(viaMonai), infer_jobs_ms: median(viaJobs), label_bytes: labelBytes });
} finally {
  await server.dispose();
}
console.log(JSON.stringify({ bench: 'monailabel', ...summary }));
