// Monitoring, feedback and bug reports in the browser app (issue 9): a physician rejects an
// algorithm's result with a reason and corrects it (the server's Dice shows up with the
// run's feedback), accepts another, reports a problem from the viewer with a screenshot;
// the vendor's dashboard shows the run, the correction's Dice and the bug report, exports
// CSV, and the vendor triages the report, which the clinic sees and answers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { call, createUser, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { eventually, registerBox, runJob, storeSeries } from './lib/algorithms.mjs';
import { openViewer, pixelStats, shot, signInUi, useTool, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

const execFileP = promisify(execFile);

describe('browser app: feedback, bug reports, monitoring', () => {
  let server;
  let browser;
  let page; // the physician
  let seen = [];
  let series;
  let doc;
  let run; // the result that is rejected and corrected
  let correctionDice;
  let report;

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-monitoring', args: [...webArgs, '--workers', '2'] });
    await server.createTenant('clinic', 'St. Test Clinic');
    await createUser(server, 'clinic', 'doc1', 'physician');
    await createUser(server, 'clinic', 'admin1', 'clinic_admin');
    await createUser(server, 'provider', 'v.support', 'provider_support');
    const admin = await signIn(server, 'admin1');
    const allowed = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { physicians_edit_segmentations: true } });
    assert.equal(allowed.status, 200, allowed.text());
    await registerBox(server, 'box');
    series = await storeSeries(server, 'clinic');
    doc = await signIn(server, 'doc1');
    run = await runJob(server, doc, { algorithm: 'box', series: series.series_uid });
    assert.equal(run.state, 'succeeded', JSON.stringify(run));
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    seen = watch(page, 'doc1');
    await signInUi(page, server.baseUrl, 'doc1');
  });

  after(async () => {
    if (seen.length) console.log(`page events:\n  ${seen.slice(-30).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  const resultUrl = (job) => `${server.baseUrl}/studies/${encodeURIComponent(series.study_uid)}?series=${encodeURIComponent(series.series_uid)}&seg=${job.segmentation_id}`;

  test('a physician rejects a result with a reason and corrects it; the server\'s Dice appears with the feedback', async () => {
    await page.goto(resultUrl(run));
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    const panel = page.getByTestId('result-panel');
    await panel.waitFor();
    assert.equal(await page.textContent('[data-testid=result-label]'), 'box 1');

    await panel.getByRole('button', { name: 'Reject' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reject the result of box 1' });
    await dialog.getByLabel('Reason').selectOption({ label: 'Boundary error' });
    await dialog.getByLabel('Details').fill('the box misses the right side of the lesion');
    await dialog.getByLabel('Then correct the result (edit it and save)').check();
    await dialog.getByRole('button', { name: 'Reject' }).click();
    await dialog.waitFor({ state: 'detached' });
    const rejected = page.locator('[data-testid=feedback] li[data-verdict=reject]');
    await rejected.waitFor();
    assert.match(await rejected.textContent(), /Rejected \(Boundary error\) by doc1.*the box misses the right side of the lesion/s);

    // Correcting: the brush is on; a stroke beside the box, then Save.
    await page.waitForSelector('.seg-panel button.tool.on[data-mode=brush]');
    const before = Number(await page.getAttribute('[data-testid=segments] li[data-label="1"]', 'data-voxels'));
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.6);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.66, box.y + box.height * 0.6, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > n, before);
    await page.getByTestId('seg-save').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId, null, { timeout: 20_000 });
    const savedId = Number(await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id'));
    await page.getByTestId('correction-label').waitFor();

    const metric = page.locator('[data-testid=feedback] li[data-verdict=correct] [data-testid=correction-metric]');
    await metric.waitFor({ timeout: 60_000 });
    correctionDice = Number(await metric.getAttribute('data-dice'));
    assert.ok(correctionDice > 0.5 && correctionDice < 1, `Dice ${correctionDice}`);
    assert.match(await metric.textContent(), new RegExp(`Box: Dice ${correctionDice.toFixed(3)}, volume \\+\\d+\\.\\d\\d mL, HD95 \\d+\\.\\d mm`));
    await shot(page.locator('[data-testid=viewer]'), 'correction.png');

    // What the server holds: a new version whose parent is the algorithm's, and both verdicts.
    const version = (await call(server, doc, 'GET', `/api/v1/segmentations/${savedId}`)).json();
    assert.equal(version.parent_id, run.segmentation_id);
    assert.equal(version.source, 'manual');
    const feedback = (await call(server, doc, 'GET', `/api/v1/jobs/${run.id}/feedback`)).json();
    assert.deepEqual(feedback.map((f) => f.verdict).sort(), ['correct', 'reject']);
    const reject = feedback.find((f) => f.verdict === 'reject');
    assert.equal(reject.reason, 'boundary_error');
    assert.equal(reject.comment, 'the box misses the right side of the lesion');
    assert.equal(feedback.find((f) => f.verdict === 'correct').segmentation_id, savedId);
  });

  test('another result is accepted', async () => {
    const second = await runJob(server, doc, { algorithm: 'box', series: series.series_uid });
    await page.goto(resultUrl(second));
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    await page.getByTestId('result-panel').getByRole('button', { name: 'Accept' }).click();
    await page.locator('[data-testid=feedback] li[data-verdict=accept]').waitFor();
    assert.equal((await call(server, doc, 'GET', `/api/v1/jobs/${second.id}/feedback`)).json()[0].verdict, 'accept');
  });

  test('"Report a problem" from the viewer: attached to the shown result, with a screenshot, the browser and the app version', async () => {
    await page.goto(resultUrl(run));
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    await page.getByTestId('result-panel').waitFor();
    await page.getByRole('button', { name: 'Report a problem', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Report a problem' });
    await dialog.waitFor();
    assert.equal(await dialog.getByRole('img', { name: 'Screenshot of the viewer' }).count(), 1);
    assert.match(await dialog.getByTestId('bug-context').textContent(), /your browser \(Mozilla.*\) and the app version \(web \d+\.\d+\.\d+/);
    await dialog.getByLabel('Severity').selectOption('high');
    await dialog.getByLabel('Description').fill('The box is in the wrong place on slice 6');
    await dialog.getByLabel('Steps to reproduce').fill('1. run box\n2. look at slice 6');
    assert.equal(await dialog.getByLabel(/Attach to the shown result \(run #\d+, box 1\)/).isChecked(), true);
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await dialog.waitFor({ state: 'detached' });

    const list = (await call(server, doc, 'GET', '/api/v1/bug-reports')).json();
    report = list.find((b) => b.description === 'The box is in the wrong place on slice 6');
    assert.ok(report, JSON.stringify(list));
    assert.equal(report.job_id, run.id);
    assert.equal(report.severity, 'high');
    assert.equal(report.has_screenshot, true);
    assert.match(report.browser, /Chrome/);
    assert.match(report.app_version, /^web \d+\.\d+\.\d+(\+[0-9a-f]+)?$/);
    assert.equal(report.steps, '1. run box\n2. look at slice 6');
    const png = (await call(server, doc, 'GET', `/api/v1/bug-reports/${report.id}/screenshot`)).body;
    const stats = await pixelStats(page, png);
    assert.ok(stats.distinct > 20 && stats.std > 5, `the screenshot shows the images: ${JSON.stringify(stats)}`);
  });

  test('the vendor dashboard shows the run, the correction\'s Dice and the bug report', async () => {
    const vendor = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await signInUi(vendor, server.baseUrl, 'v.support');
    await vendor.getByRole('link', { name: 'Dashboard' }).click();
    const row = vendor.locator('[data-testid=summary] tr[data-group="box@1@clinic"]');
    await row.waitFor({ timeout: 20_000 });
    assert.equal(await row.locator('[data-role=runs]').textContent(), '2');
    assert.equal(await row.locator('[data-role=mean-dice]').textContent(), correctionDice.toFixed(3));
    assert.equal(await row.locator('[data-role=open-bugs]').textContent(), '1');
    assert.match(await row.textContent(), /33 %/, 'acceptance: 1 of accept, reject, correct');

    const runRow = vendor.locator(`[data-testid=runs] tr[data-run="${run.id}"]`);
    await runRow.waitFor();
    assert.equal(await runRow.getAttribute('data-state'), 'succeeded');
    assert.equal(await runRow.locator('[data-role=dice]').textContent(), correctionDice.toFixed(3));
    assert.match(await runRow.locator('[data-role=feedback]').textContent(), /rejected 1, corrected 1/);
    assert.match(await runRow.textContent(), /clinic.*box.*CT, 12 images/s);

    const bug = vendor.locator(`[data-testid=dashboard-bugs] tr[data-bug="${report.id}"]`);
    await bug.waitFor();
    assert.match(await bug.textContent(), /clinic.*high.*new.*#\d+.*The box is in the wrong place on slice 6/s);

    // Charts drawn in the page: runs per day, failure rate, feedback and the output metric.
    assert.ok(await vendor.locator('svg[role=img][aria-label^="Runs per day"]').count() >= 2);
    assert.equal(await vendor.locator('[data-testid=chart-runs-per-day] rect.bar[data-value="2"]').count(), 1, 'today: 2 runs');
    assert.equal(await vendor.locator('svg[aria-label="Distribution of box_ml, box 1 at clinic"]').count(), 1);
    await shot(vendor.locator('main'), 'dashboard.png');

    const [csv] = await Promise.all([vendor.waitForEvent('download'), vendor.getByTestId('summary-csv').click()]);
    const text = readFileSync(await csv.path(), 'utf8');
    assert.match(text, /^algorithm,version,tenant,runs,failed,failure_rate/);
    assert.match(text, new RegExp(`^box,1,clinic,2,0,0,.*,${Number(correctionDice.toPrecision(4))},no,1\\r?$`, 'm'));
    const [runsCsv] = await Promise.all([vendor.waitForEvent('download'), vendor.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.match(readFileSync(await runsCsv.path(), 'utf8'), new RegExp(`^${run.id},clinic,box,1,succeeded,`, 'm'));

    // A range with no runs shows none.
    await vendor.getByLabel('Range').selectOption('custom');
    await vendor.getByLabel('From').fill('2020-01-01');
    await vendor.getByLabel('To').fill('2020-01-31');
    await vendor.getByRole('button', { name: 'Show' }).click();
    await vendor.waitForFunction(() => /2020-01-01 to 2020-01-31/.test(document.querySelector('[data-testid=dashboard-state]')?.textContent ?? ''));
    assert.equal(await vendor.locator('[data-testid=summary] tr[data-group="box@1@clinic"] [data-role=runs]').textContent(), '0');
    await vendor.close();
  });

  test('the vendor triages the report and downloads its bundle; the clinic sees the comment and replies', async () => {
    const vendor = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signInUi(vendor, server.baseUrl, 'v.support');
    await vendor.getByRole('link', { name: 'Bug reports' }).click();
    await vendor.getByRole('link', { name: `#${report.id}` }).click();
    await vendor.getByTestId('bug-description').waitFor();
    assert.match(await vendor.textContent('[data-testid=bug-report-page]'), /A screenshot is attached; it stays with the clinic/);
    assert.equal(await vendor.getByTestId('bug-screenshot').count(), 0);
    const triage = vendor.getByRole('form', { name: 'Triage' });
    await triage.getByLabel('Status').selectOption('triaged');
    await triage.getByLabel('Comment').fill('Reproduced; fix in 1.0.1');
    await triage.getByRole('button', { name: 'Change status' }).click();
    await vendor.waitForFunction(() => document.querySelector('[data-testid=bug-status]')?.textContent === 'Triaged');
    assert.match(await vendor.textContent('[data-testid=bug-comments]'), /v\.support \(vendor\).*Reproduced; fix in 1\.0\.1/s);
    const [bundle] = await Promise.all([vendor.waitForEvent('download'), vendor.getByTestId('bug-bundle').click()]);
    assert.equal(bundle.suggestedFilename(), `bug-${report.id}.zip`);
    const { stdout } = await execFileP('unzip', ['-Z1', await bundle.path()]);
    assert.ok(stdout.includes(`bug-${report.id}/report.json`) && stdout.includes(`bug-${report.id}/run.json`), stdout);
    await vendor.close();

    await page.getByRole('link', { name: 'Bug reports' }).click();
    const row = page.locator(`[data-testid=bug-reports] tr[data-bug="${report.id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'triaged');
    await row.getByRole('link', { name: `#${report.id}` }).click();
    await page.getByTestId('bug-screenshot').waitFor();
    assert.match(await page.textContent('[data-testid=bug-comments]'), /Reproduced; fix in 1\.0\.1/);
    await page.getByLabel('Reply to the vendor').fill('Thanks, waiting for 1.0.1');
    await page.getByRole('button', { name: 'Add comment' }).click();
    await page.waitForFunction(() => /doc1 \(clinic\)[\s\S]*Thanks, waiting for 1\.0\.1/.test(document.querySelector('[data-testid=bug-comments]')?.textContent ?? ''));
    // The run's algorithm is filled in once the job itself has loaded.
    await page.waitForFunction(() => /Run.*#\d+ box 1/s.test(document.querySelector('[data-testid=bug-report-page]')?.textContent ?? ''));
    await shot(page.locator('main'), 'bug-report.png');
  });

  test('the clinic sees the same dashboard for its own runs', async () => {
    await page.getByRole('link', { name: 'Monitoring' }).click();
    const row = page.locator('[data-testid=summary] tr[data-group="box@1@clinic"]');
    await row.waitFor({ timeout: 20_000 });
    assert.equal(await row.locator('[data-role=mean-dice]').textContent(), correctionDice.toFixed(3));
    assert.equal(await page.getByLabel('Clinic', { exact: true }).count(), 0, 'no other clinic to choose');
    assert.match(await page.textContent('h2'), /this clinic/);
    // A run links to its result for the clinic's people.
    await page.locator(`[data-testid=runs] tr[data-run="${run.id}"] a`).click();
    await page.waitForSelector('[data-testid=result-panel]:not([hidden])', { timeout: 60_000 });
  });

  test('the clinic admin shares cases in the settings: the vendor then sees the screenshot and gets the images in the bundle', async () => {
    const admin = await browser.newPage();
    await signInUi(admin, server.baseUrl, 'admin1');
    await admin.getByRole('link', { name: 'Settings' }).click();
    const share = admin.getByLabel('Share cases with the vendor');
    await share.waitFor();
    assert.equal(await share.isChecked(), false);
    await share.check();
    await admin.waitForFunction(() => /Share cases with the vendor: on/.test(document.getElementById('toasts')?.textContent ?? ''));
    await admin.close();

    const vendor = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signInUi(vendor, server.baseUrl, 'v.support');
    await vendor.goto(`${server.baseUrl}/bug-reports/${report.id}`);
    const img = vendor.getByTestId('bug-screenshot');
    await img.waitFor();
    await vendor.waitForFunction(() => document.querySelector('[data-testid=bug-screenshot]')?.naturalWidth > 0);
    const [bundle] = await Promise.all([vendor.waitForEvent('download'), vendor.getByTestId('bug-bundle').click()]);
    const { stdout } = await execFileP('unzip', ['-Z1', await bundle.path()]);
    assert.ok(stdout.includes(`bug-${report.id}/inputs/image.nii.gz`) && stdout.includes(`bug-${report.id}/outputs/labels.nii.gz`), stdout);
    await vendor.close();
  });
});
