// Training-set exports through the real server: cases chosen by tags and workflow status,
// built in the background (a durable job with progress), downloaded as tar or zip, in
// nnU-Net v2 layout or as DICOM. Checked with Python's tarfile/zipfile and nibabel.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeSeries, stowOk } from './lib/dicomweb.mjs';
import { eventually, startWithTenants } from './lib/fixture.mjs';
import { auditListEventually, call, createUser, signIn } from './lib/people.mjs';
import { apiGet, geometry, saveLabels, volumeCheck } from './lib/volumes.mjs';

let server;
let tokens;
let rad;
let otherRad;
const cases = [];

const segmentsA = [{ label: 1, name: 'Liver' }, { label: 2, name: 'Tumour' }];
const segmentsB = [{ label: 5, name: 'Tumour' }];  // same name, another value: renumbered in the set

before(async () => {
  ({ server, tokens } = await startWithTenants('exports', ['alpha', 'beta']));
  await createUser(server, 'alpha', 'rad.x', 'radiologist');
  await createUser(server, 'beta', 'rad.y', 'radiologist');
  rad = await signIn(server, 'rad.x');
  otherRad = await signIn(server, 'rad.y');
  await call(server, rad, 'POST', '/api/v1/tags', { json: { name: 'train' } });
  const specs = [
    { patientName: 'EXPORTED^ANNA', patientId: 'EXP-001', segments: segmentsA, status: 'reviewed', tag: 'train' },
    { patientName: 'EXPORTED^BORIS', patientId: 'EXP-002', segments: segmentsB, status: 'reviewed', tag: 'train' },
    { patientName: 'EXPORTED^CARLA', patientId: 'EXP-003', segments: segmentsA, status: 'done', tag: 'train' },
    { patientName: 'EXPORTED^DORA', patientId: 'EXP-004', segments: null, status: 'reviewed', tag: 'train' },
  ];
  for (const [i, spec] of specs.entries()) {
    const s = await makeSeries({ patientName: spec.patientName, patientId: spec.patientId, slices: 6, rows: 24, cols: 20, seed: 40 + i });
    await stowOk(server, tokens.alpha, s.instances.map((x) => x.bytes));
    if (spec.segments) {
      const g = await geometry(server, tokens.alpha, s.series_uid);
      const labels = Buffer.alloc(g.dims[0] * g.dims[1] * g.dims[2]);
      for (let k = 1; k < 4; ++k) for (let p = 0; p < 40; ++p) labels[k * g.dims[0] * g.dims[1] + 30 + p] = spec.segments[0].label;
      if (spec.segments[1]) labels[4 * g.dims[0] * g.dims[1] + 5] = spec.segments[1].label;
      const saved = await saveLabels(server, tokens.alpha, s.series_uid, labels, { segments: spec.segments });
      assert.equal(saved.status, 201, saved.text());
    }
    await call(server, rad, 'PUT', `/api/v1/studies/${s.study_uid}/status`, { json: { status: spec.status } });
    await call(server, rad, 'POST', `/api/v1/studies/${s.study_uid}/tags`, { json: { name: spec.tag } });
    cases.push({ ...spec, series: s });
  }
});

after(async () => {
  await server?.dispose();
});

async function runExport(who, request) {
  const submitted = await call(server, who, 'POST', '/api/v1/exports', { json: request });
  assert.equal(submitted.status, 202, submitted.text());
  const id = submitted.json().id;
  let last = null;
  return eventually(() => `export ${id} to end (last: ${JSON.stringify(last)})`, async () => {
    last = (await call(server, who, 'GET', `/api/v1/exports/${id}`)).json();
    return ['succeeded', 'failed', 'cancelled'].includes(last.state) && last;
  }, 60_000, 100);
}

const patientWords = () => cases.flatMap((c) => [c.patientName, c.patientId, c.patientName.split('^')[1]]).join(',');

test('an nnU-Net export of the reviewed cases has the right tree, dataset.json and geometry, and no patient data', async () => {
  const job = await runExport(rad, { format: 'nnunet', container: 'tar', segmentation: 'latest_reviewed', filter: { tags: ['train'] }, dataset_name: 'Liver set' });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.cases, 2, 'two reviewed studies with a segmentation');
  assert.deepEqual(job.skipped.map((s) => s.reason), ['no segmentation']);
  assert.equal(job.progress.done, job.progress.total);
  assert.ok(!('blob' in job), 'the storage location is not shown');

  const download = await apiGet(server, tokens.alpha, `/api/v1/exports/${job.id}/download`);
  assert.equal(download.status, 403, 'tokens of service users cannot export');
  const res = await call(server, rad, 'GET', `/api/v1/exports/${job.id}/download`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/x-tar');
  assert.equal(res.body.length, job.size);
  const bundle = await volumeCheck('inspect-bundle', res.body, patientWords());
  const root = 'Dataset001_Liverset';
  assert.deepEqual(bundle.entries, [
    `${root}/dataset.json`,
    `${root}/imagesTr/case_0001_0000.nii.gz`, `${root}/imagesTr/case_0002_0000.nii.gz`,
    `${root}/labelsTr/case_0001.nii.gz`, `${root}/labelsTr/case_0002.nii.gz`,
  ]);
  const ds = bundle.dataset_json;
  assert.deepEqual(ds.channel_names, { 0: 'CT' });
  assert.deepEqual(ds.labels, { background: 0, Liver: 1, Tumour: 2 });
  assert.equal(ds.numTraining, 2);
  assert.equal(ds.file_ending, '.nii.gz');
  for (const [name, c] of Object.entries(bundle.cases)) assert.ok(c.same_grid, `${name}: label and image grids differ`);
  assert.deepEqual(bundle.cases.case_0001.labels, [0, 1, 2]);
  assert.deepEqual(bundle.cases.case_0002.labels, [0, 2], 'Tumour (5 in its version) is 2 in the set');
  assert.deepEqual(bundle.found, [], `patient data in the export: ${bundle.found}`);
});

test('"latest" takes every tagged case with a segmentation, whatever its status; zip works too', async () => {
  const job = await runExport(rad, { format: 'nnunet', container: 'zip', segmentation: 'latest', filter: { tags: ['train'] } });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.cases, 3);
  const res = await call(server, rad, 'GET', `/api/v1/exports/${job.id}/download`);
  assert.equal(res.headers['content-type'], 'application/zip');
  const bundle = await volumeCheck('inspect-bundle', res.body, '');
  assert.equal(bundle.entries.filter((e) => e.includes('/labelsTr/')).length, 3);
});

test('a DICOM export holds each case\'s series and its SEG', async () => {
  const job = await runExport(rad, { format: 'dicom', container: 'tar', segmentation: 'latest_reviewed' });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.cases, 2);
  const res = await call(server, rad, 'GET', `/api/v1/exports/${job.id}/download`);
  const bundle = await volumeCheck('inspect-bundle', res.body, '');
  const images = bundle.entries.filter((e) => e.includes('/case_0001/image/'));
  assert.equal(images.length, 6);
  assert.ok(bundle.entries.includes('Dataset001_voxelgate/case_0001/seg.dcm'));
});

test('bad requests are refused; another clinic cannot see or download an export', async () => {
  for (const bad of [{ format: 'png' }, { container: 'rar' }, { segmentation: 'best' }, { filter: { colour: 'red' } }, { filter: { date: '2024' } }]) {
    const res = await call(server, rad, 'POST', '/api/v1/exports', { json: bad });
    assert.equal(res.status, 400, JSON.stringify(bad));
  }
  const job = await runExport(rad, { format: 'nnunet' });
  assert.equal((await call(server, otherRad, 'GET', `/api/v1/exports/${job.id}`)).status, 404);
  assert.equal((await call(server, otherRad, 'GET', `/api/v1/exports/${job.id}/download`)).status, 404);
  assert.ok(!(await call(server, otherRad, 'GET', '/api/v1/exports')).json().some((j) => j.id === job.id));
});

test('every export and download is audited', async () => {
  const job = await runExport(rad, { format: 'nnunet' });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const download = await call(server, rad, 'GET', `/api/v1/exports/${job.id}/download`);
  assert.equal(download.status, 200, 'the download happened');
  // Audit records are written in batches: wait for both (the deadline is the failure).
  await auditListEventually(server, `the records of the request and of the download of export ${job.id}`,
    (out) => out.includes(`export=${job.id} format=nnunet`) && out.includes(`export=${job.id} downloaded`), { tenant: 'alpha' });
});
