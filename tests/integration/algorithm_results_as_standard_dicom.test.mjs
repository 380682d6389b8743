// An algorithm's result in the forms IHE AI Results asks for, through the real server:
// the SEG and a TID 1500 measurement report (Enhanced SR) whose volumes are the run's
// metrics, both naming the algorithm as Contributing Equipment, both valid by dciodvfy
// and pydicom, both retrievable by DICOMweb and by DIMSE (getscu), the report readable
// by the API for the viewer, and another clinic's report never visible.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { describeRun, getscu } from './lib/dcmtk.mjs';
import { first, qido, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { startDimseServer } from './lib/dimse_fixture.mjs';
import { makeTempDir, python, repoRoot } from './lib/env.mjs';
import { eventually } from './lib/wait.mjs';
import { apiGet, apiJson } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server, port, tokens, phantom, job;
const dir = makeTempDir('ai-results');

async function inspect(bytes, name) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/ai_results.py'), path]);
  return { path, facts: JSON.parse(stdout) };
}

async function dciodvfyErrors(path) {
  const { stdout, stderr } = await execFileP('dciodvfy', ['-new', path]).catch((e) => e);
  return `${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('Error'));
}

before(async () => {
  ({ server, dicomPort: port, tokens } = await startDimseServer('ai-results', [{ slug: 'alpha' }, { slug: 'beta' }], { args: ['--workers', '2'] }));
  await server.subscribeEverything('alpha');
  const out = makeTempDir('phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out], { maxBuffer: 16 << 20 });
  phantom = JSON.parse(stdout);
  await stowOk(server, tokens.alpha, phantom.files.map((f) => readFileSync(f)));
  const submitted = await apiJson(server, tokens.alpha, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: phantom.series_uid });
  assert.equal(submitted.status, 202, submitted.text());
  job = await eventually(() => `the run and its forms to end (${JSON.stringify(job)?.slice(0, 400)})`, async () => {
    job = (await apiGet(server, tokens.alpha, `/api/v1/jobs/${submitted.json().id}`)).json();
    if (['failed', 'cancelled'].includes(job.state)) return job;
    return job.state === 'succeeded' && ['succeeded', 'failed'].includes(job.forms?.state) && job;
  }, 240_000, 200);
});

after(async () => {
  await server?.dispose();
});

test('each run stores a measurement report whose volumes are the run\'s metrics, on the SEG\'s segments', async () => {
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.forms.state, 'succeeded', JSON.stringify(job.forms));
  const sr = job.forms.forms.find((f) => f.form === 'sr');
  assert.ok(sr, `a report among the forms: ${JSON.stringify(job.forms)}`);
  const series = await qido(server, tokens.alpha, `/studies/${phantom.study_uid}/series?Modality=SR`);
  assert.ok(series.some((s) => first(s, TAGS.SeriesInstanceUID) === sr.series_uid));
  const [file] = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${sr.series_uid}`);
  const { path, facts } = await inspect(file, 'sr.dcm');
  assert.deepEqual(await dciodvfyErrors(path), [], 'dciodvfy finds no error in the report');
  assert.equal(facts.sop_class, '1.2.840.10008.5.1.4.1.1.88.22', 'Enhanced SR');
  assert.equal(facts.study_uid, phantom.study_uid);
  const byName = Object.fromEntries(facts.measurements.map((m) => [m.tracking_id, m]));
  assert.equal(byName['Right lung'].value, job.metrics.right_lung_ml);
  assert.equal(byName['Left lung'].value, job.metrics.left_lung_ml);
  for (const m of facts.measurements) {
    assert.deepEqual(m.quantity, { code: '118565006', scheme: 'SCT', meaning: 'Volume' });
    assert.deepEqual(m.unit, { code: 'mL', scheme: 'UCUM', meaning: 'milliliter' });
    assert.equal(m.seg_sop_uid, job.seg_sop_uid, 'measured on the result\'s SEG');
  }
  assert.equal(byName['Right lung'].segment, 1);
  assert.equal(byName['Left lung'].segment, 2);
  // The viewer reads the same numbers from the stored report.
  const api = await apiGet(server, tokens.alpha, `/api/v1/segmentations/${job.segmentation_id}/report`);
  assert.equal(api.status, 200, api.text());
  assert.deepEqual(api.json().measurements.map((m) => [m.tracking_id, m.segment, m.value]).sort(),
    facts.measurements.map((m) => [m.tracking_id, m.segment, m.value]).sort());
  assert.equal(api.json().observer, 'ct-lungs');
});

test('the SEG and the report name the algorithm as Contributing Equipment, both valid', async () => {
  const [seg] = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${job.seg_series_uid}`);
  const segFacts = await inspect(seg, 'seg.dcm');
  assert.deepEqual(await dciodvfyErrors(segFacts.path), [], 'dciodvfy finds no error in the SEG');
  const sr = job.forms.forms.find((f) => f.form === 'sr');
  const [report] = await wadoParts(server, tokens.alpha, `/studies/${phantom.study_uid}/series/${sr.series_uid}`);
  const srFacts = await inspect(report, 'sr2.dcm');
  for (const { facts } of [segFacts, srFacts]) {
    assert.deepEqual(facts.contributing_equipment, [{
      manufacturer: 'voxelgate', model: 'ct-lungs', software_versions: job.algorithm.version,
      purpose: { code: '109102', scheme: 'DCM', meaning: 'Processing Equipment' },
    }], JSON.stringify(facts));
  }
});

test('the report is retrieved over DIMSE (C-GET) like every instance of the study', { timeout: 60_000 }, async () => {
  const sr = job.forms.forms.find((f) => f.form === 'sr');
  const r = await getscu({ port, calledAe: 'ALPHA', model: 'S', keys: [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', phantom.study_uid], ['SeriesInstanceUID', sr.series_uid]] });
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(r.final?.completed, 1, describeRun(r));
  const files = readdirSync(r.dir);
  assert.equal(files.length, 1);
  const { facts } = await inspect(readFileSync(join(r.dir, files[0])), 'sr-get.dcm');
  assert.equal(facts.modality, 'SR');
  assert.equal(facts.measurements.length, 2);
});

test('another clinic sees no report of this one', async () => {
  const r = await apiGet(server, tokens.beta, `/api/v1/segmentations/${job.segmentation_id}/report`);
  assert.equal(r.status, 404, r.text());
  const series = await qido(server, tokens.beta, `/studies/${phantom.study_uid}/series?Modality=SR`);
  assert.equal(series.length, 0);
});
