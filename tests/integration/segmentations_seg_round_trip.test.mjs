// Segmentation versions through the real server: labels in -> a DICOM SEG series in the
// study (checked by dciodvfy and decoded frame by frame with pydicom) -> labels out
// identical, also through NIfTI; SEGs made elsewhere (dcmqi's test data: BINARY with
// overlaps, sparse LABELMAPs with and without padding) read onto their source series.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, makeSeries, qido, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { uidsOf } from './lib/dicom.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import {
  apiGet, apiJson, dimsText, fetchLabels, formBody, geometry, saveLabels, saveSeg, volumeCheck,
} from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server;
let tokens;
let ct;  // a synthetic CT stored in alpha
let grid;

before(async () => {
  ({ server, tokens } = await startWithTenants('segmentations', ['alpha', 'beta']));
  ct = await makeSeries({ slices: 10, rows: 40, cols: 36, seed: 21 });
  await stowOk(server, tokens.alpha, ct.instances.map((i) => i.bytes));
  grid = await geometry(server, tokens.alpha, ct.series_uid);
});

after(async () => {
  await server?.dispose();
});

// A box of label 1 on slices 2..5 and a smaller one of label 2 on slice 7.
function paintedLabels(g) {
  const [x, y, z] = g.dims;
  const labels = Buffer.alloc(x * y * z);
  for (let k = 2; k <= 5; ++k) for (let j = 5; j < 25; ++j) for (let i = 4; i < 20; ++i) labels[(k * y + j) * x + i] = 1;
  for (let j = 10; j < 14; ++j) for (let i = 10; i < 13; ++i) labels[(7 * y + j) * x + i] = 2;
  return labels;
}

const segments = [
  { label: 1, name: 'Left lung', colour: '#c06040', category: { code: '123037004', scheme: 'SCT', meaning: 'Anatomical Structure' }, type: { code: '44029006', scheme: 'SCT', meaning: 'Left lung' } },
  { label: 2, name: 'Nodule', colour: '#20a0ff', category: { code: '49755003', scheme: 'SCT', meaning: 'Morphologically Altered Structure' }, type: { code: '27925004', scheme: 'SCT', meaning: 'Nodule' } },
];

test('saved labels come back identical, as raw labels and as NIfTI, and the version is listed', async () => {
  const labels = paintedLabels(grid);
  const res = await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments, comment: 'first pass' });
  assert.equal(res.status, 201, res.text());
  const v = res.json();
  assert.equal(v.source, 'manual');
  assert.equal(v.study_uid, ct.study_uid);
  assert.equal(v.parent_id, null);
  assert.equal(v.comment, 'first pass');
  assert.deepEqual(v.segments.map((s) => [s.label, s.name, s.colour, s.type.code]),
    [[1, 'Left lung', '#c06040', '44029006'], [2, 'Nodule', '#20a0ff', '27925004']]);

  assert.ok(Buffer.from(await fetchLabels(server, tokens.alpha, v.id)).equals(labels), 'labels round trip');
  const nifti = await apiGet(server, tokens.alpha, `/api/v1/segmentations/${v.id}/labels.nii.gz`);
  assert.equal(nifti.status, 200);
  assert.deepEqual(await volumeCheck('nifti-labels', nifti.body, labels), { equal: true });

  const listed = (await apiGet(server, tokens.alpha, `/api/v1/studies/${ct.study_uid}/segmentations`)).json();
  assert.ok(listed.some((x) => x.id === v.id));
});

test('the SEG is a new series of the study: QIDO finds it, WADO returns it, dciodvfy accepts it, pydicom decodes it to the labels', async () => {
  const labels = paintedLabels(grid);
  const v = (await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments })).json();
  const series = await qido(server, tokens.alpha, `/studies/${ct.study_uid}/series?Modality=SEG`);
  assert.ok(series.some((s) => first(s, TAGS.SeriesInstanceUID) === v.seg_series_uid), 'QIDO sees the SEG series');
  const [seg] = await wadoParts(server, tokens.alpha, `/studies/${ct.study_uid}/series/${v.seg_series_uid}`);
  const direct = await apiGet(server, tokens.alpha, `/api/v1/segmentations/${v.id}/seg.dcm`);
  assert.ok(direct.body.equals(seg), 'seg.dcm is the instance WADO serves');

  const dir = join(process.env.TMPDIR ?? '/tmp', `vg-seg-${process.pid}.dcm`);
  await import('node:fs').then((fs) => fs.writeFileSync(dir, seg));
  const { stdout, stderr } = await execFileP('dciodvfy', ['-new', dir]).catch((e) => e);
  const report = `${stdout}${stderr}`;
  const errors = report.split('\n').filter((l) => l.startsWith('Error'));
  assert.deepEqual(errors, [], `dciodvfy:\n${report}`);

  const check = await volumeCheck('seg-matches-labels', seg, labels, dimsText(grid),
    Buffer.from(JSON.stringify(grid)), Buffer.from(JSON.stringify([1, 2])));
  assert.equal(check.mismatched_frames, 0, JSON.stringify(check));
  assert.equal(check.frames, check.frames_expected, 'one frame per segment and non-empty slice');
  assert.equal(check.frames, 4 + 1);
});

test('a named segment nobody has painted yet is kept: the SEG carries it with a blank frame', async () => {
  const [x, y, z] = grid.dims;
  const labels = Buffer.alloc(x * y * z);
  for (let j = 10; j < 14; ++j) for (let i = 10; i < 13; ++i) labels[(7 * y + j) * x + i] = 2;  // only label 2
  const res = await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments });
  assert.equal(res.status, 201, res.text());
  const v = res.json();
  assert.deepEqual(v.segments.map((s) => s.label), [1, 2]);
  assert.deepEqual(await fetchLabels(server, tokens.alpha, v.id), labels, 'the blank frame adds no voxel');
  const [seg] = await wadoParts(server, tokens.alpha, `/studies/${ct.study_uid}/series/${v.seg_series_uid}`);
  const path = join((await import('./lib/env.mjs')).makeTempDir('blank-seg'), 'seg.dcm');
  (await import('node:fs')).writeFileSync(path, seg);
  const { stdout, stderr } = await execFileP('dciodvfy', ['-new', path]).catch((e) => e);
  assert.deepEqual(`${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('Error')), []);
  const none = await saveLabels(server, tokens.alpha, ct.series_uid, Buffer.alloc(x * y * z), { segments });
  assert.equal(none.status, 400, 'a segmentation without any painted voxel is still refused');
  assert.match(none.json().error.message, /empty/);
});

test('a new version names its parent and leaves the parent untouched', async () => {
  const labels = paintedLabels(grid);
  const parent = (await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments })).json();
  const edited = Buffer.from(labels);
  for (let i = 0; i < 50; ++i) edited[(3 * grid.dims[1] + 30) * grid.dims[0] + (i % 30)] = 1;
  const child = await saveLabels(server, tokens.alpha, ct.series_uid, edited, { segments, parent_id: parent.id });
  assert.equal(child.status, 201, child.text());
  assert.equal(child.json().parent_id, parent.id);
  assert.ok(Buffer.from(await fetchLabels(server, tokens.alpha, parent.id)).equals(labels), 'parent unchanged');
  assert.ok(Buffer.from(await fetchLabels(server, tokens.alpha, child.json().id)).equals(edited));
});

test('bad labels are refused with a reason and store nothing', async () => {
  const before = (await apiGet(server, tokens.alpha, `/api/v1/studies/${ct.study_uid}/segmentations`)).json().length;
  const labels = paintedLabels(grid);
  const short = await saveLabels(server, tokens.alpha, ct.series_uid, labels.subarray(0, 100), { segments });
  assert.equal(short.status, 400);
  assert.match(short.json().error.message, /voxels/);
  const unlisted = Buffer.from(labels);
  unlisted[0] = 9;
  const r2 = await saveLabels(server, tokens.alpha, ct.series_uid, unlisted, { segments });
  assert.equal(r2.status, 400);
  assert.match(r2.json().error.message, /value 9/);
  const empty = await saveLabels(server, tokens.alpha, ct.series_uid, Buffer.alloc(labels.length), { segments });
  assert.ok(empty.status >= 400);
  assert.match(empty.json().error.message, /empty/);
  const noSegments = await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments: [] });
  assert.equal(noSegments.status, 400);
  const after = (await apiGet(server, tokens.alpha, `/api/v1/studies/${ct.study_uid}/segmentations`)).json().length;
  assert.equal(after, before);
});

test('a NIfTI label image on the series\' grid is accepted; on another grid it is refused', async () => {
  const labels = paintedLabels(grid);
  const v = (await saveLabels(server, tokens.alpha, ct.series_uid, labels, { segments })).json();
  const nifti = (await apiGet(server, tokens.alpha, `/api/v1/segmentations/${v.id}/labels.nii.gz`)).body;
  const { body, contentType } = await formBody({ segments }, nifti);
  const post = (b) => call(server, { kind: 'token', token: tokens.alpha }, 'POST', `/api/v1/series/${ct.series_uid}/segmentations`, { body: b, headers: { 'Content-Type': contentType } });
  const res = await post(body);
  assert.equal(res.status, 201, res.text());
  assert.ok(Buffer.from(await fetchLabels(server, tokens.alpha, res.json().id)).equals(labels));
  // Another series' grid (a different size) is refused.
  const other = await makeSeries({ slices: 4, rows: 20, cols: 20, seed: 22 });
  await stowOk(server, tokens.alpha, other.instances.map((i) => i.bytes));
  const wrong = await call(server, { kind: 'token', token: tokens.alpha }, 'POST', `/api/v1/series/${other.series_uid}/segmentations`, { body, headers: { 'Content-Type': contentType } });
  assert.equal(wrong.status, 400);
  assert.match(wrong.json().error.message, /label image is/);
});

test('SEGs from dcmqi read onto their source series as the NRRD label maps say', { timeout: 120_000 }, async (t) => {
  const dir = sharedDataDir('seg-dcmqi');
  if (!dir) return t.skip('../shared/data/seg-dcmqi is absent');
  const seg = join(dir, 'segmentations');
  await server.createTenant('dcmqi');
  const token = await server.createToken({ tenant: 'dcmqi', name: 'dcmqi-rw' });
  const store = async (files) => stowOk(server, token, files.map((f) => readFileSync(f)));
  await store(['01', '02', '03'].map((n) => join(seg, 'ct-3slice', `${n}.dcm`)));
  await store(['IMG0001', 'IMG0002', 'IMG0003'].map((n) => join(seg, '24x38x3', 'image', `${n}.dcm`)));
  const ctSeries = (name) => uidsOf(readFileSync(join(seg, name))).series;
  const cases = [
    { file: 'liver.dcm', source: ctSeries('ct-3slice/01.dcm'), nrrd: ['liver_seg.nrrd'] },
    { file: 'partial_overlaps.dcm', source: ctSeries('ct-3slice/01.dcm'), nrrd: ['partial_overlaps-1.nrrd', 'partial_overlaps-2.nrrd', 'partial_overlaps-3.nrrd'] },
    { file: 'sparse-labelmap-noppv.dcm', source: ctSeries('24x38x3/image/IMG0001.dcm'), nrrd: ['sparse_labelmap_noppv_seg.nrrd'] },
    { file: 'sparse-labelmap-ppv5.dcm', source: ctSeries('24x38x3/image/IMG0001.dcm'), nrrd: ['sparse_labelmap_ppv5_seg.nrrd'], padding: 5 },
  ];
  for (const c of cases) {
    const res = await saveSeg(server, token, c.source, readFileSync(join(seg, c.file)));
    assert.equal(res.status, 201, `${c.file}: ${res.text()}`);
    const g = await geometry(server, token, c.source);
    const labels = await fetchLabels(server, token, res.json().id);
    const args = ['labels-vs-nrrd', Buffer.from(labels), dimsText(g), c.nrrd.map((n) => join(seg, n)).join(',')];
    if (c.padding !== undefined) args.push('--padding', String(c.padding));
    const check = await volumeCheck(...args);
    assert.ok(check.equal, `${c.file}: ${JSON.stringify(check)}`);
  }
});

test('another clinic sees no version: 404 for every segmentation route', async () => {
  const v = (await saveLabels(server, tokens.alpha, ct.series_uid, paintedLabels(grid), { segments })).json();
  for (const path of [`/api/v1/segmentations/${v.id}`, `/api/v1/segmentations/${v.id}/labels`,
    `/api/v1/segmentations/${v.id}/seg.dcm`, `/api/v1/segmentations/${v.id}/labels.nii.gz`,
    `/api/v1/studies/${ct.study_uid}/segmentations`]) {
    assert.equal((await apiGet(server, tokens.beta, path)).status, 404, path);
  }
  const res = await saveLabels(server, tokens.beta, ct.series_uid, paintedLabels(grid), { segments });
  assert.equal(res.status, 404);
});

test('a physician saves segmentations only where the clinic allows it', async () => {
  await createUser(server, 'alpha', 'phys.a', 'physician');
  await createUser(server, 'alpha', 'admin.a', 'clinic_admin');
  const physician = await signIn(server, 'phys.a');
  const admin = await signIn(server, 'admin.a');
  const { body, contentType } = await formBody({ segments }, paintedLabels(grid));
  const save = () => call(server, physician, 'POST', `/api/v1/series/${ct.series_uid}/segmentations`, { body, headers: { 'Content-Type': contentType } });
  const refused = await save();
  assert.equal(refused.status, 403);
  assert.match(refused.json().error.message, /physicians/);
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { physicians_edit_segmentations: true } });
  assert.equal(set.status, 200, set.text());
  assert.equal(set.json().settings.physicians_edit_segmentations, true);
  const allowed = await save();
  assert.equal(allowed.status, 201, allowed.text());
  assert.equal(allowed.json().author, 'phys.a');
  const physicianSettings = await call(server, physician, 'PATCH', '/api/v1/tenant/settings', { json: { physicians_edit_segmentations: false } });
  assert.equal(physicianSettings.status, 403, 'only a clinic admin changes settings');
});

test('the tenant endpoint names the clinic and its settings', async () => {
  const res = await apiJson(server, tokens.alpha, 'GET', '/api/v1/tenant');
  // Tokens cannot read the clinic record (it is for signed-in people).
  assert.equal(res.status, 403);
});
