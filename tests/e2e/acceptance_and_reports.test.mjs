// Local acceptance and results as standard DICOM in the browser app
// (docs/algorithm-lifecycle.md "Local acceptance", "Results as standard DICOM"): a
// radiologist runs the built-in ct-lungs on a synthetic chest CT and the viewer shows the
// result's stored measurement report (right and left lung volumes in mL, equal to the run's
// metrics, "from the DICOM SR (TID 1500)"); the radiologist marks that result as the
// series' reference case from the viewer (and removes and marks it again); the clinic admin
// runs an acceptance of ct-lungs 1.0.0 from the Versions page, which is polled to its
// verdict (one reference case where the criteria need three: not passed, with the reason
// and each lung's mean Dice), and opens its report page; a version without criteria and
// an unknown version are refused with the server's reason. The clinic admin then requires
// acceptance in the settings: the vendor's promotion of another version is refused with
// that reason on the Releases page, where the vendor also sees the clinic's acceptance
// runs and starts one at the chosen clinics, each clinic's outcome shown.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { stowOk } from '../integration/lib/dicomweb.mjs';
import { makeTempDir, python, repoRoot } from '../integration/lib/env.mjs';
import { call, createUser, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { eventually, registerBox } from './lib/algorithms.mjs';
import { shot, signInUi, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

const execFileP = promisify(execFile);

describe('browser app: local acceptance and the measurement report', () => {
  let server;
  let browser;
  let rad; // alpha's radiologist's page
  let admin; // alpha's clinic admin's page
  let vendor; // the provider_admin's page
  let seen = [];
  let phantom;
  let job; // the radiologist's ct-lungs run, with its forms

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-acceptance', args: [...webArgs, '--workers', '2'] });
    await server.createTenant('alpha', 'Alpha Clinic');
    await server.createTenant('beta', 'Beta Clinic');
    await createUser(server, 'provider', 'v.release', 'provider_admin');
    await createUser(server, 'alpha', 'a.rad', 'radiologist');
    await createUser(server, 'alpha', 'a.admin', 'clinic_admin');
    // Two versions of a process algorithm without acceptance criteria, for the promotion
    // the clinic's requirement refuses.
    await registerBox(server, 'box', { version: '1.0', name: 'Box' });
    await registerBox(server, 'box', { version: '1.1', name: 'Box' });
    // A synthetic chest CT with two lungs, for the built-in ct-lungs.
    const out = makeTempDir('e2e-phantom');
    const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out], { maxBuffer: 16 << 20 });
    phantom = JSON.parse(stdout);
    const token = await server.createToken({ tenant: 'alpha', name: 'e2e-phantom' });
    await stowOk(server, token, phantom.files.map((f) => readFileSync(f)));
    browser = await launch();
    rad = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    admin = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    vendor = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    seen = [watch(rad, 'a.rad'), watch(admin, 'a.admin'), watch(vendor, 'v.release')];
    await signInUi(rad, server.baseUrl, 'a.rad');
    await signInUi(admin, server.baseUrl, 'a.admin');
    await signInUi(vendor, server.baseUrl, 'v.release');
  });

  after(async () => {
    const events = seen.flat();
    if (events.length) console.log(`page events:\n  ${events.slice(-30).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  // Opens the viewer on the phantom, on segmentation version `seg` when given.
  async function openPhantom(page, seg) {
    await page.goto(`${server.baseUrl}/studies/${encodeURIComponent(phantom.study_uid)}${seg ? `?seg=${seg}` : ''}`);
    await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout: 120_000 });
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
  }

  test('a radiologist runs ct-lungs: the viewer shows the stored report\'s lung volumes, equal to the run\'s metrics', { timeout: 400_000 }, async () => {
    await openPhantom(rad);
    // No result shown yet: no measurements.
    assert.equal(await rad.getByTestId('measurements').isVisible(), false);
    await rad.getByRole('button', { name: 'Run algorithm…' }).click();
    const dialog = rad.getByRole('dialog', { name: 'Run an algorithm on this series' });
    await dialog.waitFor();
    await dialog.getByRole('radio', { name: /^\s*CT lungs\b/ }).check();
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    const id = Number(await rad.locator('[data-testid=runs] li[data-job]').first().getAttribute('data-job'));
    await rad.waitForSelector(`[data-testid=runs] li[data-job="${id}"][data-state=succeeded]`, { timeout: 300_000 });
    await rad.waitForFunction(() => /Result of ct-lungs 1\.0\.0/.test(document.querySelector('[data-testid=seg-state]')?.textContent ?? ''), null, { timeout: 60_000 });

    // The report is stored by the run's result-forms job, after the run: once it is, the
    // result opened again shows it.
    const session = await signIn(server, 'a.rad');
    job = await eventually(() => `run ${id}'s forms to end (${JSON.stringify(job?.forms)})`, async () => {
      job = (await call(server, session, 'GET', `/api/v1/jobs/${id}`)).json();
      return ['succeeded', 'failed'].includes(job.forms?.state) && job;
    }, 240_000, 250);
    assert.equal(job.state, 'succeeded', JSON.stringify(job).slice(0, 1000));
    assert.equal(job.forms.state, 'succeeded', JSON.stringify(job.forms));
    const { right_lung_ml: right, left_lung_ml: left } = job.metrics;
    assert.ok(right > 0 && left > 0, JSON.stringify(job.metrics));

    await openPhantom(rad, job.segmentation_id);
    const panel = rad.getByTestId('measurements');
    await panel.waitFor({ timeout: 30_000 });
    assert.equal(await panel.getAttribute('data-segmentation'), String(job.segmentation_id));
    const rows = await panel.getByTestId('measurement').evaluateAll((trs) => trs.map((tr) => ({
      label: tr.dataset.label,
      value: Number(tr.dataset.value),
      cells: [...tr.querySelectorAll('th, td')].map((c) => c.textContent),
    })));
    assert.deepEqual(rows.map((r) => r.cells), [
      ['Right lung', 'Volume', `${right} mL`],
      ['Left lung', 'Volume', `${left} mL`],
    ]);
    assert.deepEqual(rows.map((r) => [r.label, r.value]), [['1', right], ['2', left]]);
    assert.equal(await panel.getByTestId('measurements-source').textContent(), 'from the DICOM SR (TID 1500)');
    await shot(rad.locator('aside.right'), 'viewer-measurements.png');

    // The same numbers as the API's (read back from the stored SR).
    const api = await call(server, session, 'GET', `/api/v1/segmentations/${job.segmentation_id}/report`);
    assert.equal(api.status, 200, api.text());
    assert.deepEqual(api.json().measurements.map((m) => m.value).sort(), [right, left].sort());
  });

  test('the radiologist marks the result as the series\' reference case from the viewer, removes it and marks it again', async () => {
    assert.ok(job, 'the ct-lungs run of the first test');
    const panel = rad.getByTestId('reference-case');
    const state = rad.getByTestId('reference-state');
    await state.waitFor();
    assert.equal(await state.textContent(), 'This series is not a reference case.');
    await rad.getByRole('button', { name: 'Use as reference case', exact: true }).click();
    await rad.waitForSelector('[data-testid=reference-state][data-shown=true]');
    assert.match(await state.textContent(), /^This version is the series’ reference case \(marked by a\.rad, .+\)\.$/);
    assert.equal(await panel.getAttribute('data-reference'), String(job.segmentation_id));
    assert.equal(await rad.getByTestId('reference-mark').count(), 0, 'nothing to mark: the version shown is the reference');
    const session = await signIn(server, 'a.rad');
    let refs = (await call(server, session, 'GET', '/api/v1/reference-cases')).json();
    assert.deepEqual(refs.map((r) => [r.series_uid, r.segmentation_id, r.marked_by]), [[phantom.series_uid, job.segmentation_id, 'a.rad']]);

    await rad.getByRole('button', { name: 'Remove reference case' }).click();
    await rad.waitForFunction(() => document.querySelector('[data-testid=reference-state]')?.textContent === 'This series is not a reference case.');
    refs = (await call(server, session, 'GET', '/api/v1/reference-cases')).json();
    assert.deepEqual(refs, []);

    await rad.getByRole('button', { name: 'Use as reference case', exact: true }).click();
    await rad.waitForSelector('[data-testid=reference-state][data-shown=true]');
    // Still marked after a reload (the server's list).
    await openPhantom(rad, job.segmentation_id);
    await rad.waitForSelector('[data-testid=reference-state][data-shown=true]');
    await shot(rad.locator('aside.right'), 'viewer-reference-case.png');
  });

  test('the clinic admin runs an acceptance of ct-lungs 1.0.0 from the Versions page and follows it to its verdict and report', { timeout: 400_000 }, async () => {
    await admin.getByRole('link', { name: 'Versions', exact: true }).click();
    const card = admin.locator('[data-testid=versions] [data-algorithm=ct-lungs]');
    await card.waitFor();
    const section = card.getByTestId('acceptance-ct-lungs');
    assert.match(await section.getByTestId('reference-count').textContent(), /^1 reference case in your clinic\./);
    await admin.locator('[data-testid="acceptance-state-ct-lungs"]').filter({ hasText: 'No acceptance run yet.' }).waitFor();

    // An unknown version and a version without criteria are refused with the server's reason.
    const version = section.getByLabel('Version', { exact: true });
    await version.fill('9.9.9');
    await section.getByRole('button', { name: 'Run acceptance of version 9.9.9' }).click();
    await admin.waitForFunction(() => /^Not started: /.test(document.querySelector('[data-testid=acceptance-ct-lungs] [data-testid=acceptance-error]')?.textContent ?? ''));
    const box = admin.getByTestId('acceptance-box');
    await box.getByLabel('Version', { exact: true }).fill('1.0');
    await box.getByRole('button', { name: 'Run acceptance of version 1.0' }).click();
    await admin.waitForFunction(() => /Not started: .*states no acceptance criteria/.test(document.querySelector('[data-testid=acceptance-box] [data-testid=acceptance-error]')?.textContent ?? ''));

    // ct-lungs 1.0.0 (the version in use, offered) on the one reference case.
    assert.deepEqual(await section.locator('datalist option').evaluateAll((os) => os.map((o) => o.value)), ['1.0.0']);
    await version.fill('1.0.0');
    await section.getByRole('button', { name: 'Run acceptance of version 1.0.0' }).click();
    const row = section.locator('[data-testid=acceptance-runs-ct-lungs] tr[data-run]');
    await row.first().waitFor();
    assert.equal(await section.getByTestId('acceptance-error').textContent(), '');
    // Polled until it ends.
    await section.locator('[data-testid=acceptance-runs-ct-lungs] tr[data-run]:not([data-state=queued])').waitFor({ timeout: 300_000 });
    assert.equal(await row.count(), 1);
    assert.equal(await row.getAttribute('data-state'), 'failed');
    assert.equal(await row.locator('[data-role=version]').textContent(), '1.0.0');
    assert.equal(await row.locator('[data-role=passed]').textContent(), 'no');
    assert.match(await row.locator('[data-role=verdict]').textContent(), /^Not passed: 1 reference case; the criteria need at least 3$/);
    // The algorithm against its own result: full agreement, one case (no interval).
    assert.deepEqual(await row.locator('[data-role=dice] div').allTextContents(), ['Right lung: 1.000', 'Left lung: 1.000']);
    await shot(admin.locator('main'), 'versions-acceptance.png');

    // The report page, in a new tab, authorised by the session cookie.
    const link = row.getByRole('link', { name: 'Report' });
    const runId = Number(await row.getAttribute('data-run'));
    assert.equal(await link.getAttribute('href'), `/api/v1/acceptance-runs/${runId}/report.html`);
    assert.equal(await link.getAttribute('target'), '_blank');
    const [tab] = await Promise.all([admin.waitForEvent('popup'), link.click()]);
    await tab.waitForLoadState();
    const text = await tab.textContent('body');
    assert.match(text, /Passed|Not passed/);
    assert.match(text, /Not passed/);
    assert.match(text, /1 reference case; the criteria need at least 3/);
    await tab.close();
  });

  test('the clinic admin requires acceptance: the vendor\'s promotion is refused with the reason; the vendor sees and starts acceptance runs', { timeout: 400_000 }, async () => {
    await admin.getByRole('link', { name: 'Settings' }).click();
    const setting = admin.getByTestId('setting-require_acceptance');
    await setting.waitFor();
    assert.equal(await setting.isChecked(), false);
    await setting.check();
    const session = await signIn(server, 'a.admin');
    await eventually('require_acceptance to be saved', async () =>
      (await call(server, session, 'GET', '/api/v1/tenant')).json().settings?.require_acceptance === true);
    await admin.reload();
    await admin.getByTestId('setting-require_acceptance').waitFor();
    assert.equal(await admin.getByTestId('setting-require_acceptance').isChecked(), true);

    // The vendor promotes box 1.1 at alpha: refused, the clinic's reason in the dialog and
    // in the outcome.
    await vendor.goto(`${server.baseUrl}/vendor/releases?algorithm=box`);
    await vendor.getByTestId('releases-page').waitFor();
    await vendor.waitForFunction(() => document.querySelector('select[name=algorithm]')?.value === 'box');
    await vendor.locator('[data-testid=release-clinics] tr[data-clinic=alpha]').waitFor();
    await vendor.getByRole('checkbox', { name: 'Select alpha' }).check();
    await vendor.getByRole('button', { name: 'Promote…', exact: true }).click();
    const dialog = vendor.getByTestId('release-action-dialog');
    await dialog.getByLabel('Version').selectOption('1.1');
    await dialog.getByRole('button', { name: 'Promote', exact: true }).click();
    await vendor.waitForFunction(() => /Nothing changed: alpha: this clinic requires a passed acceptance run before box 1\.1 reaches it/.test(document.querySelector('[data-testid=dialog-error]')?.textContent ?? ''));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    const refused = vendor.locator('[data-testid=release-outcome] li[data-clinic=alpha]');
    assert.equal(await refused.getAttribute('data-ok'), 'false');
    assert.match(await refused.textContent(), /alpha: this clinic requires a passed acceptance run before box 1\.1 reaches it; there is none/);
    assert.match(await refused.locator('[data-role=hint]').textContent(), /start one under Acceptance below/);
    assert.equal(await vendor.locator('[data-testid=release-clinics] tr[data-clinic=alpha] [data-role=pinned]').textContent(), '1.0');

    // ct-lungs: the clinic's run, numbers only.
    await vendor.goto(`${server.baseUrl}/vendor/releases?algorithm=ct-lungs`);
    await vendor.waitForFunction(() => document.querySelector('select[name=algorithm]')?.value === 'ct-lungs');
    const runs = vendor.locator('[data-testid=release-acceptance-runs] tr[data-run]');
    await runs.first().waitFor();
    const first = await runs.first().locator('td').allTextContents();
    assert.equal(first[0], 'alpha');
    assert.equal(first[1], '1.0.0');
    assert.match(first[2], /^not passedNot passed: 1 reference case; the criteria need at least 3$/);
    assert.equal(first[3], 'no');
    assert.deepEqual(await runs.first().locator('[data-role=dice] div').allTextContents(), ['Right lung: 1.000', 'Left lung: 1.000']);
    assert.equal(await vendor.getByTestId('release-acceptance').getByRole('link', { name: 'Report' }).count(), 0, 'no report page (pictures) for the vendor');

    // The vendor starts a run at alpha and beta: alpha's starts, beta has no reference case.
    const start = vendor.getByTestId('release-acceptance-start');
    await vendor.locator('[data-testid=release-clinics] tr[data-clinic=alpha]').waitFor();
    assert.equal(await start.isDisabled(), true, 'no clinic chosen');
    await vendor.getByRole('checkbox', { name: 'Select alpha' }).check();
    await vendor.getByRole('checkbox', { name: 'Select beta' }).check();
    await start.click();
    const runDialog = vendor.getByTestId('release-acceptance-dialog');
    await runDialog.waitFor();
    assert.match(await runDialog.getByTestId('release-acceptance-targets').textContent(), /Clinics: alpha, beta\./);
    await runDialog.getByLabel('Version').selectOption('1.0.0');
    await runDialog.getByRole('button', { name: 'Run acceptance', exact: true }).click();
    await runDialog.waitFor({ state: 'detached' }).catch(async (e) => {
      throw new Error(`${e.message}; the dialog says: ${await runDialog.getByTestId('dialog-error').textContent()}`);
    });
    const outcome = vendor.getByTestId('release-acceptance-outcome');
    assert.match(await outcome.textContent(), /Acceptance of 1\.0\.0: started at 1 of 2 clinics/);
    assert.equal(await outcome.locator('li[data-clinic=alpha]').getAttribute('data-ok'), 'true');
    assert.match(await outcome.locator('li[data-clinic=alpha]').textContent(), /^alpha: run #\d+ of 1\.0\.0 started$/);
    assert.equal(await outcome.locator('li[data-clinic=beta]').getAttribute('data-ok'), 'false');
    assert.match(await outcome.locator('li[data-clinic=beta]').textContent(), /^beta: this clinic has no reference case/);
    const newId = (await outcome.locator('li[data-clinic=alpha]').textContent()).match(/#(\d+)/)[1];
    // Polled on the page until it ends.
    await vendor.locator(`[data-testid=release-acceptance-runs] tr[data-run="${newId}"]:not([data-state=queued])`).waitFor({ timeout: 300_000 });
    assert.equal(await vendor.locator(`[data-testid=release-acceptance-runs] tr[data-run="${newId}"]`).getAttribute('data-state'), 'failed');
    await shot(vendor.locator('main'), 'releases-acceptance.png');

    // The clinic sees the vendor's run too.
    await admin.getByRole('link', { name: 'Versions', exact: true }).click();
    await admin.locator(`[data-testid=acceptance-runs-ct-lungs] tr[data-run="${newId}"][data-state=failed]`).waitFor();
  });
});
