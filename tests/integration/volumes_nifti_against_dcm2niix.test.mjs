// Series -> volume -> NIfTI through the real server, checked against Debian's dcm2niix on
// the same files: the real LIDC chest CT (shuffled file names) and one MR slice in nine
// transfer syntaxes (dcm2niix's own outputs in Ref/). Both images are reoriented to the
// closest canonical layout by nibabel before comparing: dcm2niix flips rows, voxelgate
// keeps DICOM's order (as ITK does); the geometry in patient space must agree.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { makeSeries, qido, stowOk, first, TAGS } from './lib/dicomweb.mjs';
import { makeTempDir, sharedDataDir } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { dicomFilesUnder } from './lib/files.mjs';
import { auditListEventually } from './lib/people.mjs';
import { apiGet, geometry, volumeCheck } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server;
let tokens;

before(async () => {
  ({ server, tokens } = await startWithTenants('volumes', ['alpha', 'beta'], { args: ['--max-body-bytes', '1000000000'] }));
});

after(async () => {
  await server?.dispose();
});

async function seriesOf(token, study) {
  const found = await qido(server, token, `/studies/${study}/series`);
  return found.map((s) => first(s, TAGS.SeriesInstanceUID));
}

test('the LIDC chest CT assembles into the volume dcm2niix makes of it', { timeout: 300_000 }, async (t) => {
  const dir = sharedDataDir('ct-chest-lidc');
  if (!dir) return t.skip('../shared/data/ct-chest-lidc is absent (real data is not part of a fresh clone)');
  const { files } = dicomFilesUnder(dir);
  for (let i = 0; i < files.length; i += 60) await stowOk(server, tokens.alpha, files.slice(i, i + 60).map((f) => f.bytes));
  const series = files[0].series;

  const g = await geometry(server, tokens.alpha, series);
  assert.deepEqual(g.dims, [512, 512, 275]);
  assert.ok(Math.abs(g.spacing[2] - 1.0) < 1e-4, `slice spacing from positions: ${g.spacing[2]}`);
  assert.equal(g.slices.length, 275);
  // Ordered by position: the first slice is the lowest (z = -679.8), not the first file name.
  assert.ok(Math.abs(g.origin[2] - -679.8) < 1e-3, JSON.stringify(g.origin));

  const volume = await apiGet(server, tokens.alpha, `/api/v1/series/${series}/volume.nii.gz`);
  assert.equal(volume.status, 200, volume.text().slice(0, 200));
  assert.equal(volume.headers['content-type'], 'application/gzip');

  const out = makeTempDir('dcm2niix');
  await execFileP('dcm2niix', ['-z', 'y', '-f', 'ref', '-o', out, dir], { timeout: 240_000, maxBuffer: 16 << 20 });
  const cmp = await volumeCheck('compare-nifti', volume.body, join(out, 'ref.nii.gz'));
  assert.ok(cmp.shape_equal, JSON.stringify(cmp));
  assert.ok(cmp.max_affine_diff < 1e-3, `sform differs from dcm2niix's by ${cmp.max_affine_diff} mm`);
  assert.equal(cmp.max_value_diff, 0, 'voxel values differ from dcm2niix (both in HU)');
  assert.equal(cmp.ours_qform_code, 1);
  assert.equal(cmp.ours_sform_code, 1);
});

test('an MR slice in nine transfer syntaxes matches dcm2niix\'s reference NIfTI for each', { timeout: 300_000 }, async (t) => {
  const dir = sharedDataDir('mr-slice-transfer-syntaxes');
  if (!dir) return t.skip('../shared/data/mr-slice-transfer-syntaxes is absent');
  // The nine files are one object re-encoded under one SOP Instance UID: one tenant each.
  for (let n = 1; n <= 9; ++n) {
    const slug = `mr${n}`;
    await server.createTenant(slug);
    const token = await server.createToken({ tenant: slug, name: `${slug}-rw` });
    const bytes = readFileSync(join(dir, 'In', `${n}.dcm`));
    await stowOk(server, token, [bytes]);
    const [series] = await seriesOf(token, (await qido(server, token, '/studies')).map((s) => first(s, TAGS.StudyInstanceUID))[0]);
    const volume = await apiGet(server, token, `/api/v1/series/${series}/volume.nii.gz`);
    assert.equal(volume.status, 200, `${n}.dcm: ${volume.text().slice(0, 200)}`);
    const cmp = await volumeCheck('compare-nifti', volume.body, join(dir, 'Ref', `${n}.nii`));
    assert.ok(cmp.shape_equal, `${n}.dcm ${JSON.stringify(cmp)}`);
    assert.ok(cmp.max_affine_diff < 1e-3, `${n}.dcm affine differs by ${cmp.max_affine_diff} mm`);
    assert.equal(cmp.max_value_diff, 0, `${n}.dcm voxels differ from dcm2niix's`);
  }
});

test('a series with a missing slice is refused with 422 and the gap named', async () => {
  const s = await makeSeries({ slices: 8, rows: 32, cols: 32, seed: 5 });
  const kept = s.instances.filter((_, i) => i !== 4);
  await stowOk(server, tokens.alpha, kept.map((i) => i.bytes));
  const res = await apiGet(server, tokens.alpha, `/api/v1/series/${s.series_uid}/geometry`);
  assert.equal(res.status, 422, res.text());
  const message = res.json().error.message;
  assert.match(message, /1 slice missing between \(.*\) mm and \(.*\) mm/);
  const nifti = await apiGet(server, tokens.alpha, `/api/v1/series/${s.series_uid}/volume.nii.gz`);
  assert.equal(nifti.status, 422);
});

test('a synthetic series assembles whatever order its files were stored in', async () => {
  const s = await makeSeries({ slices: 12, rows: 48, cols: 40, seed: 9 });
  const shuffled = [...s.instances].sort((a, b) => (a.sop < b.sop ? -1 : 1));
  await stowOk(server, tokens.alpha, shuffled.map((i) => i.bytes));
  const g = await geometry(server, tokens.alpha, s.series_uid);
  assert.deepEqual(g.dims, [40, 48, 12]);
  // Slices ascend along the normal: each one's position is origin + k * spacing * normal.
  const normal = g.direction.slice(6, 9);
  assert.ok(normal.every(Number.isFinite));
  assert.equal(new Set(g.slices.map((x) => x.sop_uid)).size, 12);
});

test('another clinic cannot see a series\' geometry or volume (404, like an absent UID)', async () => {
  const s = await makeSeries({ slices: 3, rows: 16, cols: 16, seed: 11 });
  await stowOk(server, tokens.alpha, s.instances.map((i) => i.bytes));
  assert.equal((await apiGet(server, tokens.alpha, `/api/v1/series/${s.series_uid}/geometry`)).status, 200);
  for (const path of [`/api/v1/series/${s.series_uid}/geometry`, `/api/v1/series/${s.series_uid}/volume.nii.gz`]) {
    const res = await apiGet(server, tokens.beta, path);
    assert.equal(res.status, 404, `${path} as beta: ${res.status}`);
  }
  const absent = await apiGet(server, tokens.beta, '/api/v1/series/1.2.3.4.5/geometry');
  assert.equal(absent.status, 404);
  assert.equal(absent.json().error.message, (await apiGet(server, tokens.beta, `/api/v1/series/${s.series_uid}/geometry`)).json().error.message);
});

test('every volume export is in the audit trail under the series UID', async () => {
  const s = await makeSeries({ slices: 3, rows: 16, cols: 16, seed: 12 });
  await stowOk(server, tokens.alpha, s.instances.map((i) => i.bytes));
  assert.equal((await apiGet(server, tokens.alpha, `/api/v1/series/${s.series_uid}/volume.nii.gz`)).status, 200);
  // Audit records are written in batches: wait for this one (the deadline is the failure).
  await auditListEventually(server, `the volumes.read record of series ${s.series_uid}`,
    (out) => out.split('\n').some((l) => l.includes('volumes.read') && l.includes(s.series_uid)), { tenant: 'alpha' });
});
