// Segmentations from every tool and for every PACS, through the real server: DICOM SEGs
// (dcmqi's test data: BINARY, overlapping segments, sparse LABELMAPs, odd sizes) stored by
// STOW-RS and by dcmtk's storescu become imported versions equal, segment by segment, to
// the NRRD label maps dcmqi ships beside them; an RT structure set written by pydicom
// becomes a version within Dice 0.97 of the phantom's truth; a SEG stored before its
// source waits for it; another clinic's SEG never attaches to this clinic's series. Out:
// an algorithm's result also as an RT structure set (dciodvfy; imported back within Dice
// 0.97) and as overlay images (one per slice that holds lung, outlines checked by pixel).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { describeRun, storescu } from './lib/dcmtk.mjs';
import { first, qido, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { newUid, parsePart10, uidsOf, withUids } from './lib/dicom.mjs';
import { DIMSE_TS, withAssociation } from './lib/dimse.mjs';
import { startDimseServer } from './lib/dimse_fixture.mjs';
import { makeTempDir, python, repoRoot, sharedDataDir } from './lib/env.mjs';
import { eventually } from './lib/fixture.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import { apiGet, apiJson, fetchLabels, geometry, saveLabels, volumeCheck } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server;
let tokens;
let dicomPort;
let phantom;  // the chest phantom, stored in alpha

const LABEL_MAP_SEG = '1.2.840.10008.5.1.4.1.1.66.7';
const dcmqiDir = sharedDataDir('seg-dcmqi');
const segDir = dcmqiDir ? join(dcmqiDir, 'segmentations') : null;
const file = (name) => join(segDir, name);

// The dcmqi SEGs, their source images and the NRRD label maps of the same segmentation.
const DCMQI = [
  { seg: 'liver.dcm', images: 'ct-3slice', nrrd: ['liver_seg.nrrd'] },
  { seg: 'partial_overlaps.dcm', images: 'ct-3slice', nrrd: ['partial_overlaps-1.nrrd', 'partial_overlaps-2.nrrd', 'partial_overlaps-3.nrrd'], overlapping: true },
  { seg: 'sparse-labelmap-noppv.dcm', images: '24x38x3/image', nrrd: ['sparse_labelmap_noppv_seg.nrrd'] },
  // Its pixel padding value (5) is not a segment: the NRRD holds it, the version must not.
  // dcmqi gave it the same SOP Instance UID as the one above: it is stored under a new one.
  { seg: 'sparse-labelmap-ppv5.dcm', images: '24x38x3/image', nrrd: ['sparse_labelmap_ppv5_seg.nrrd'], padding: 5, newSop: newUid() },
  { seg: '23x38x3/seg/label.seg', images: '23x38x3/image', nrrd: ['23x38x3/nrrd/label.nrrd'] },
  { seg: '24x38x3/seg/label.seg', images: '24x38x3/image', nrrd: ['24x38x3/nrrd/label.nrrd'] },
];
const segBytes = (c) => (c.newSop ? withUids(readFileSync(file(c.seg)), { sop: c.newSop }) : readFileSync(file(c.seg)));
const segSop = (c) => c.newSop ?? uidsOf(readFileSync(file(c.seg))).sop;
const imagesOf = (dir) => ['01', '02', '03'].map((n) => file(`${dir}/${dir === 'ct-3slice' ? '' : 'IMG00'}${n}.dcm`));

before(async () => {
  ({ server, tokens, dicomPort } = await startDimseServer('seg-interop',
    [{ slug: 'alpha' }, { slug: 'beta' }, { slug: 'gamma' }, { slug: 'delta' }, { slug: 'epsilon' }],
    { args: ['--workers', '2', '--max-body-bytes', '1000000000'] }));
  await server.subscribeEverything('alpha');
  const out = makeTempDir('phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out,
    '--slices', '40', '--spacing-z', '5'], { maxBuffer: 16 << 20 });
  phantom = JSON.parse(stdout);
  await stowOk(server, tokens.alpha, phantom.files.map((f) => readFileSync(f)));
});

after(async () => {
  await server?.dispose();
});

const importOf = async (token, sop) => {
  const res = await apiGet(server, token, `/api/v1/segmentation-imports/${sop}`);
  return res.status === 200 ? res.json() : null;
};

// Polls until the importer has recorded `state` for the object; returns the record.
async function importState(token, sop, states, timeoutMs = 60_000) {
  let last = null;
  return eventually(() => `the import of ${sop} to be ${states} (last: ${JSON.stringify(last)})`, async () => {
    last = await importOf(token, sop);
    if (last?.state === 'failed' && !states.includes('failed')) throw new Error(`import failed: ${last.message}`);
    return last && states.includes(last.state) && last;
  }, timeoutMs, 200);
}

// The imported version of a stored SEG/RTSTRUCT, once there.
async function importedVersion(token, sop, timeoutMs) {
  const record = await importState(token, sop, ['imported'], timeoutMs);
  const res = await apiGet(server, token, `/api/v1/segmentations/${record.segmentation_id}`);
  assert.equal(res.status, 200, res.text());
  return res.json();
}

// Every segment of the version, on its own layer, equals the voxels of its number in the NRRDs.
async function assertSegmentsEqualNrrd(token, c, version) {
  const g = await geometry(server, token, version.source_series_uid);
  const dims = g.dims.join(',');
  for (const s of version.segments) {
    const labels = await fetchLabels(server, token, version.id, { layer: version.layers > 1 ? s.layer : undefined });
    const check = await volumeCheck('segment-vs-nrrd', Buffer.from(labels), dims, s.label, c.nrrd.map((n) => file(n)).join(','));
    assert.ok(check.equal && check.voxels > 0, `${c.seg} segment ${s.label} (${s.name}): ${JSON.stringify(check)}`);
  }
  if (c.padding !== undefined) {
    const flat = await fetchLabels(server, token, version.id);
    assert.ok(!flat.includes(c.padding), `${c.seg}: the padding value is not a label`);
  }
}

function assertImportedFromDcmqi(c, v, source) {
  assert.equal(v.source, 'imported', c.seg);
  assert.equal(v.read_only, true);
  assert.equal(v.origin.format, 'SEG');
  assert.equal(v.origin.manufacturer, 'QIICR');
  assert.equal(v.source_series_uid, source);
  assert.equal(v.seg_sop_uid, segSop(c));
  assert.ok(v.segments.length >= 1 && v.segments.every((s) => s.label >= 1 && /^#[0-9a-f]{6}$/.test(s.colour)));
}

test('dcmqi SEGs stored by STOW-RS with their CTs become imported versions equal, segment by segment, to the NRRD label maps', { timeout: 240_000 }, async (t) => {
  if (!segDir) return t.skip('../shared/data/seg-dcmqi is absent');
  for (const dir of ['ct-3slice', '24x38x3/image', '23x38x3/image']) {
    const segs = DCMQI.filter((c) => c.images === dir).map(segBytes);
    // A viewer sends the image series and its SEGs in one request.
    await stowOk(server, tokens.alpha, [...imagesOf(dir).map((f) => readFileSync(f)), ...segs]);
  }
  for (const c of DCMQI) {
    const v = await importedVersion(tokens.alpha, segSop(c));
    assertImportedFromDcmqi(c, v, uidsOf(readFileSync(imagesOf(c.images)[0])).series);
    await assertSegmentsEqualNrrd(tokens.alpha, c, v);
    if (c.overlapping) {
      assert.ok(v.layers > 1, 'overlapping segments are kept in layers');
      assert.deepEqual(v.segments.map((s) => s.name), ['GREEN', 'ORANGE', 'PURPLE', 'LIGHT_BLUE', 'DARK_BLUE']);
      const green = v.segments[0].colour;
      const [r, gr, b] = [1, 3, 5].map((i) => parseInt(green.slice(i, i + 2), 16));
      assert.ok(gr > r && gr > b, `GREEN's CIELab colour is green in RGB (${green})`);
    }
  }
  // The study lists them with the other versions; the SEG instance is served as seg.dcm.
  const study = uidsOf(readFileSync(file('liver.dcm'))).study;
  const listed = (await apiGet(server, tokens.alpha, `/api/v1/studies/${study}/segmentations`)).json();
  assert.equal(listed.filter((v) => v.source === 'imported').length, 2);
  const liver = listed.find((v) => v.origin?.sop_uid === uidsOf(readFileSync(file('liver.dcm'))).sop);
  const dcm = await apiGet(server, tokens.alpha, `/api/v1/segmentations/${liver.id}/seg.dcm`);
  assert.ok(dcm.body.equals(readFileSync(file('liver.dcm'))), 'the imported SEG is served as it was stored');
});

test('the same SEGs sent over DICOM (storescu; LABELMAP by a C-STORE client of its own) become the same imported versions', { timeout: 240_000 }, async (t) => {
  if (!segDir) return t.skip('../shared/data/seg-dcmqi is absent');
  // dcmtk 3.6.7's storescu refuses the Label Map Segmentation class (newer than its list):
  // those go through the suite's own DIMSE client, which proposes any class.
  const labelMaps = DCMQI.filter((c) => c.seg.startsWith('sparse-labelmap'));
  const binary = DCMQI.filter((c) => !labelMaps.includes(c));
  const files = [...new Set(DCMQI.flatMap((c) => imagesOf(c.images))), ...binary.map((c) => file(c.seg))];
  // -R: propose the SOP classes the files need (storescu's default list of 128 has no
  // Segmentation Storage), as a PACS does.
  const r = await storescu({ port: dicomPort, calledAe: 'BETA', files, extra: ['-R'] });
  assert.equal(r.code, 0, `storescu${describeRun(r)}`);
  assert.equal(r.successes, files.length, `C-STORE successes${describeRun(r)}`);
  const contexts = [{ abstractSyntax: LABEL_MAP_SEG, transferSyntaxes: [DIMSE_TS.explicitLE] }];
  await withAssociation({ port: dicomPort, calledAe: 'BETA', contexts }, async (a) => {
    for (const c of labelMaps) {
      const bytes = segBytes(c);
      const stored = await a.store({ sopClass: LABEL_MAP_SEG, sopInstance: segSop(c), dataset: bytes.subarray(parsePart10(bytes).datasetOffset) });
      assert.equal(stored.status, 0, `${c.seg}: C-STORE status ${stored.status} ${stored.errorComment ?? ''}`);
    }
  });
  for (const c of DCMQI) {
    const v = await importedVersion(tokens.beta, segSop(c));
    assertImportedFromDcmqi(c, v, uidsOf(readFileSync(imagesOf(c.images)[0])).series);
    await assertSegmentsEqualNrrd(tokens.beta, c, v);
  }
});

test('a SEG stored before its source series waits, and is imported once the series has arrived', { timeout: 120_000 }, async (t) => {
  if (!segDir) return t.skip('../shared/data/seg-dcmqi is absent');
  const c = DCMQI[0];
  const sop = uidsOf(readFileSync(file(c.seg))).sop;
  await stowOk(server, tokens.gamma, [readFileSync(file(c.seg))]);
  const waiting = await importState(tokens.gamma, sop, ['waiting']);
  assert.match(waiting.message, /source series/);
  const study = uidsOf(readFileSync(file(c.seg))).study;
  assert.deepEqual((await apiGet(server, tokens.gamma, `/api/v1/studies/${study}/segmentations`)).json(), []);
  await stowOk(server, tokens.gamma, imagesOf(c.images).map((f) => readFileSync(f)));
  const v = await importedVersion(tokens.gamma, sop);
  await assertSegmentsEqualNrrd(tokens.gamma, c, v);
});

test("another clinic's SEG naming this clinic's series never attaches to it", { timeout: 120_000 }, async (t) => {
  if (!segDir) return t.skip('../shared/data/seg-dcmqi is absent');
  // alpha holds ct-3slice (first test); delta stores only a SEG that references it.
  const c = DCMQI[1];
  const { sop, study } = uidsOf(readFileSync(file(c.seg)));
  const before = (await apiGet(server, tokens.alpha, `/api/v1/studies/${study}/segmentations`)).json();
  assert.ok(before.length >= 1, 'alpha holds the series and its versions (precondition)');
  await stowOk(server, tokens.delta, [readFileSync(file(c.seg))]);
  const record = await importState(tokens.delta, sop, ['waiting']);
  assert.equal(record.segmentation_id, null);
  assert.deepEqual((await apiGet(server, tokens.delta, `/api/v1/studies/${study}/segmentations`)).json(), []);
  const after = (await apiGet(server, tokens.alpha, `/api/v1/studies/${study}/segmentations`)).json();
  assert.deepEqual(after.map((v) => v.id), before.map((v) => v.id), "alpha's versions are unchanged");
  assert.equal((await apiGet(server, tokens.alpha, `/api/v1/segmentation-imports/${sop}`)).json().segmentation_id,
    before.find((v) => v.origin?.sop_uid === sop)?.id ?? null, "alpha's record is its own");
});

test('an RT structure set from another product becomes a version within Dice 0.97 of the truth per lung, and passes dciodvfy', { timeout: 120_000 }, async () => {
  const out = join(makeTempDir('rtstruct'), 'lungs-rt.dcm');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_rtstruct.py'), '--phantom-files', phantom.files.join(','), '--out', out]);
  const rt = JSON.parse(stdout);
  const check = await execFileP('dciodvfy', [out]).catch((e) => e);
  assert.ok(!/^Error/m.test(`${check.stdout}${check.stderr}`), `dciodvfy: ${check.stderr}`);
  await stowOk(server, tokens.alpha, [readFileSync(out)]);
  const v = await importedVersion(tokens.alpha, rt.sop_uid);
  assert.equal(v.origin.format, 'RTSTRUCT');
  assert.equal(v.origin.manufacturer, 'OtherVendor');
  assert.equal(v.source_series_uid, phantom.series_uid);
  assert.deepEqual(v.segments.map((s) => s.name), ['Right lung', 'Left lung']);
  assert.equal(v.segments[0].type.meaning.toLowerCase().includes('lung'), true, JSON.stringify(v.segments[0].type));
  const labels = await fetchLabels(server, tokens.alpha, v.id);
  const dims = phantom.dims.join(',');
  for (const [label, truth] of [[1, 1], [2, 2]]) {
    const d = await volumeCheck('dice', Buffer.from(labels), phantom.truth, dims, label, truth);
    assert.ok(d.dice >= 0.97, `${v.segments[label - 1].name}: Dice ${d.dice} (${JSON.stringify(d)})`);
  }
});

test('an imported SEG is edited into a new version whose Dice against it is given, and goes into a training-set export', { timeout: 120_000 }, async (t) => {
  if (!segDir) return t.skip('../shared/data/seg-dcmqi is absent');
  const { sop } = uidsOf(readFileSync(file('liver.dcm')));
  const imported = await importedVersion(tokens.alpha, sop);
  const original = Buffer.from(await fetchLabels(server, tokens.alpha, imported.id));
  // A correction: the liver with one slice removed.
  const g = await geometry(server, tokens.alpha, imported.source_series_uid);
  const corrected = Buffer.from(original);
  corrected.fill(0, 0, g.dims[0] * g.dims[1]);
  const saved = await saveLabels(server, tokens.alpha, imported.source_series_uid, corrected,
    { segments: [{ label: 1, name: 'Liver' }], parent_id: imported.id });
  assert.equal(saved.status, 201, saved.text());
  assert.equal(saved.json().parent_id, imported.id);
  assert.equal(saved.json().source, 'manual');
  const compared = await apiGet(server, tokens.alpha, `/api/v1/segmentations/${saved.json().id}/compare/${imported.id}`);
  assert.equal(compared.status, 200, compared.text());
  const liver = compared.json().labels.find((l) => l.label === 1);
  const d = await volumeCheck('dice', corrected, original, g.dims.join(','), 1, 1);
  assert.ok(Math.abs(liver.dice - d.dice) < 1e-6 && liver.dice < 1 && liver.dice > 0.3, JSON.stringify(liver));

  // The imported version itself is what a training-set export takes when it is the newest.
  const admin = 'admin.alpha';
  await createUser(server, 'alpha', admin, 'clinic_admin');
  const session = await signIn(server, admin);
  const study = uidsOf(readFileSync(file('24x38x3/seg/label.seg'))).study;
  const vocabulary = await call(server, session, 'POST', '/api/v1/tags', { json: { name: 'imported-set', colour: '#30a0e0' } });
  assert.equal(vocabulary.status, 201, vocabulary.text());
  const tag = await call(server, session, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'imported-set' } });
  assert.ok([200, 201].includes(tag.status), tag.text());
  const submitted = await call(server, session, 'POST', '/api/v1/exports', { json: { format: 'nnunet', container: 'tar', segmentation: 'latest', filter: { tags: ['imported-set'] }, dataset_name: 'Imported' } });
  assert.equal(submitted.status, 202, submitted.text());
  let job = null;
  job = await eventually(() => `the export to end (${JSON.stringify(job)})`, async () => {
    job = (await call(server, session, 'GET', `/api/v1/exports/${submitted.json().id}`)).json();
    return ['succeeded', 'failed'].includes(job.state) && job;
  }, 60_000, 200);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.cases, 1, JSON.stringify(job));
  const bundle = await volumeCheck('inspect-bundle', (await call(server, session, 'GET', `/api/v1/exports/${job.id}/download`)).body, '');
  const [only] = Object.values(bundle.cases);
  assert.ok(only.same_grid && only.labels.length >= 1, JSON.stringify(bundle.cases));
});

test("a clinic's results also go out as an RT structure set and as overlay images, both valid, the structure set imports back within Dice 0.97", { timeout: 240_000 }, async () => {
  await createUser(server, 'alpha', 'forms.admin', 'clinic_admin');
  const admin = await signIn(server, 'forms.admin');
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { results_as_rtstruct: true, results_as_overlay: true } });
  assert.equal(set.status, 200, set.text());
  assert.equal(set.json().settings.results_as_rtstruct, true);
  assert.equal(set.json().settings.results_as_overlay, true);

  const submitted = await apiJson(server, tokens.alpha, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: phantom.series_uid });
  assert.equal(submitted.status, 202, submitted.text());
  let job = null;
  job = await eventually(() => `the run to end (${JSON.stringify(job)?.slice(0, 400)})`, async () => {
    job = (await apiGet(server, tokens.alpha, `/api/v1/jobs/${submitted.json().id}`)).json();
    return !['queued', 'running'].includes(job.state) && job;
  }, 180_000, 200);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  // The result does not wait for its other forms: they follow in a job of their own.
  assert.ok(job.forms_job_id, 'the run names the job of its other forms');
  job = await eventually(() => `the result's forms (${JSON.stringify(job.forms)})`, async () => {
    job = (await apiGet(server, tokens.alpha, `/api/v1/jobs/${submitted.json().id}`)).json();
    return ['succeeded', 'failed'].includes(job.forms?.state) && job;
  }, 180_000, 200);
  assert.equal(job.forms.state, 'succeeded', JSON.stringify(job.forms));
  const forms = Object.fromEntries(job.forms.forms.map((f) => [f.form, f]));
  assert.ok(forms.rtstruct && forms.overlay, JSON.stringify(job.forms));
  const result = Buffer.from(await fetchLabels(server, tokens.alpha, job.segmentation_id));
  const dims = phantom.dims.join(',');

  // The RT structure set: in the study, valid, ours (never imported here as a version).
  const rtSeries = await qido(server, tokens.alpha, `/studies/${phantom.study_uid}/series?Modality=RTSTRUCT`);
  assert.ok(rtSeries.some((s) => first(s, TAGS.SeriesInstanceUID) === forms.rtstruct.series_uid));
  const [rt] = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${forms.rtstruct.series_uid}`);
  const dir = makeTempDir('forms');
  writeFileSync(join(dir, 'rt.dcm'), rt);
  const rtCheck = await execFileP('dciodvfy', [join(dir, 'rt.dcm')]).catch((e) => e);
  assert.ok(!/^Error/m.test(`${rtCheck.stdout}${rtCheck.stderr}`), `dciodvfy: ${rtCheck.stderr}`);
  assert.equal((await importOf(tokens.alpha, uidsOf(rt).sop)), null, 'our own structure set is not imported as a version');

  // Another clinic with the same CT imports it back within Dice 0.97 of the result.
  await stowOk(server, tokens.epsilon, [...phantom.files.map((f) => readFileSync(f)), rt]);
  const back = await importedVersion(tokens.epsilon, uidsOf(rt).sop);
  const backLabels = Buffer.from(await fetchLabels(server, tokens.epsilon, back.id));
  for (const s of back.segments) {
    const d = await volumeCheck('dice', backLabels, result, dims, s.label, s.label);
    assert.ok(d.dice >= 0.97, `${s.name}: Dice ${d.dice}`);
  }

  // The overlay series: one image per slice that holds lung, outlines where the boundary is.
  const overlay = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${forms.overlay.series_uid}`);
  const [x, y, z] = phantom.dims;
  let slicesWithLung = 0;
  for (let k = 0; k < z; ++k) if (result.subarray(k * x * y, (k + 1) * x * y).some((v) => v !== 0)) ++slicesWithLung;
  assert.equal(overlay.length, slicesWithLung);
  for (const image of [overlay[0], overlay[Math.floor(overlay.length / 2)]]) {
    const path = join(dir, `overlay-${uidsOf(image).sop}.dcm`);
    writeFileSync(path, image);
    const v = await execFileP('dciodvfy', [path]).catch((e) => e);
    assert.ok(!/^Error/m.test(`${v.stdout}${v.stderr}`), `dciodvfy: ${v.stderr}`);
    const c = await volumeCheck('overlay-vs-labels', path, result, dims);
    assert.deepEqual(c.image_type.slice(0, 2), ['DERIVED', 'SECONDARY']);
    assert.match(c.series_description, /ct-lungs .*not for primary diagnosis/);
    assert.ok(c.boundary > 0 && c.boundary_coloured >= 0.99, JSON.stringify(c));
    assert.ok(c.interior_grey >= 0.99 && c.outside_grey >= 0.99, JSON.stringify(c));
  }
});
