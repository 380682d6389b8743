// Releasing algorithm versions in the browser app (docs/algorithm-lifecycle.md): the vendor
// admin's releases page lists every clinic on the default version, promotes a second
// version at one clinic (its outcome shown, pinned in the table, a second promotion's
// refusal kept in the dialog); that clinic's admin sees the new version and the promotion
// in its history on the algorithm versions page; a rollback through the vendor's page
// takes it back. Then a version run in shadow is compared case by case on the page, and
// vendor support sees it all without an action.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { eventually, registerBox, runJob, storeSeries } from './lib/algorithms.mjs';
import { shot, signInUi, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

describe('browser app: releases of algorithm versions', () => {
  let server;
  let browser;
  let vendor; // the provider_admin's page
  let clinic; // alpha's clinic admin's page
  let seen = []; // what each page saw go wrong

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-releases', args: [...webArgs, '--workers', '2'] });
    await server.createTenant('alpha', 'Alpha Clinic');
    await server.createTenant('beta', 'Beta Clinic');
    await createUser(server, 'provider', 'v.release', 'provider_admin');
    await createUser(server, 'provider', 'v.support', 'provider_support');
    await createUser(server, 'alpha', 'a.admin', 'clinic_admin');
    // Two versions of one process algorithm, registered as the vendor does (`admin
    // algorithm add MANIFEST`): the first is the default, the second changes nothing yet.
    await registerBox(server, 'box', { version: '1.0', name: 'Box' });
    await registerBox(server, 'box', { version: '1.1', name: 'Box' });
    browser = await launch();
    vendor = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    clinic = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    seen = [watch(vendor, 'v.release'), watch(clinic, 'a.admin')];
    await signInUi(vendor, server.baseUrl, 'v.release');
    await signInUi(clinic, server.baseUrl, 'a.admin');
  });

  after(async () => {
    const events = seen.flat();
    if (events.length) console.log(`page events:\n  ${events.slice(-30).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  const cell = (clinicSlug, role) => vendor.locator(`[data-testid=release-clinics] tr[data-clinic="${clinicSlug}"] [data-role=${role}]`);

  // A clinic's cell in the vendor's table once it shows `expected` (the table reloads on its
  // own after an action). Fails at the deadline, naming what it showed.
  async function cellShows(clinicSlug, role, expected) {
    let text = null;
    await eventually(() => `${clinicSlug}'s ${role} to show ${expected} (it shows ${text})`, async () => {
      text = await cell(clinicSlug, role).textContent({ timeout: 5_000 }).catch(() => null);
      return text === expected;
    }, 30_000, 100);
  }

  // Opens an action's dialog, fills it, confirms, and waits until it closes (failing with
  // what the dialog says when it stays open).
  async function act(label, fill = async () => {}) {
    await vendor.getByRole('button', { name: `${label}…`, exact: true }).click();
    const dialog = vendor.getByTestId('release-action-dialog');
    await dialog.waitFor();
    await fill(dialog);
    await dialog.getByRole('button', { name: label, exact: true }).click();
    await dialog.waitFor({ state: 'detached' }).catch(async (e) => {
      throw new Error(`${e.message}; the dialog says: ${await dialog.getByTestId('dialog-error').textContent()}`);
    });
  }

  async function openReleases(page) {
    await page.getByRole('link', { name: 'Releases' }).click();
    await page.getByTestId('releases-page').waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('select[name=algorithm] option')].some((o) => o.value === 'box'));
    await page.getByLabel('Algorithm', { exact: true }).selectOption('box');
    await page.waitForFunction(() => /[?&]algorithm=box\b/.test(location.search));
    await page.locator('[data-testid=release-clinics] tr[data-clinic=alpha]').waitFor();
  }

  test('the vendor admin sees every clinic pinned to the default version', async () => {
    await openReleases(vendor);
    await cellShows('alpha', 'pinned', '1.0');
    await cellShows('beta', 'pinned', '1.0');
    assert.equal(await cell('alpha', 'previous').textContent(), '–');
    assert.equal(await cell('alpha', 'scheduled').textContent(), '–');
    assert.match(await vendor.getByTestId('release-versions').textContent(), /1\.0 \(default\), 1\.1/);
    // Nothing to act on until clinics are chosen.
    assert.equal(await vendor.getByRole('button', { name: 'Promote…' }).isDisabled(), true);
  });

  test('the vendor admin promotes 1.1 at one clinic: its outcome, pinned in the table, the others unchanged', async () => {
    await vendor.getByRole('checkbox', { name: 'Select alpha' }).check();
    await vendor.waitForFunction(() => document.querySelector('[data-testid=release-selection]')?.textContent === '1 clinic selected');
    await act('Promote', async (dialog) => {
      assert.match(await dialog.getByTestId('release-targets').textContent(), /Clinics: alpha\./);
      await dialog.getByLabel('Version').selectOption('1.1');
      await dialog.getByLabel('Reason (optional)').fill('shadow agreed');
    });
    const outcome = vendor.locator('[data-testid=release-outcome] li[data-clinic=alpha]');
    await outcome.waitFor();
    assert.equal(await outcome.getAttribute('data-ok'), 'true');
    assert.match(await outcome.textContent(), /alpha: done: runs 1\.1/);
    assert.match(await vendor.getByTestId('release-outcome').textContent(), /Promote: 1 of 1 clinic changed/);
    await cellShows('alpha', 'pinned', '1.1');
    await cellShows('alpha', 'previous', '1.0');
    assert.equal(await cell('alpha', 'scheduled').textContent(), '–', 'nothing scheduled');
    assert.equal(await cell('alpha', 'canary').textContent(), '–');
    assert.equal(await cell('beta', 'pinned').textContent(), '1.0');
    const latest = vendor.locator('[data-testid=release-history] tbody tr').first();
    await vendor.waitForFunction(() => document.querySelector('[data-testid=release-history] tbody tr')?.dataset.action === 'promoted');
    assert.match(await latest.textContent(), /alpha.*promoted.*1\.0 → 1\.1.*shadow agreed.*v\.release/);
    await shot(vendor.locator('main'), 'releases-promoted.png');

    // The same promotion again: refused by the server, the reason kept in the dialog.
    await vendor.getByRole('button', { name: 'Promote…', exact: true }).click();
    const dialog = vendor.getByTestId('release-action-dialog');
    await dialog.getByLabel('Version').selectOption('1.1');
    await dialog.getByRole('button', { name: 'Promote', exact: true }).click();
    await vendor.waitForFunction(() => /Nothing changed: alpha: the clinic runs 1\.1 already/.test(document.querySelector('[data-testid=dialog-error]')?.textContent ?? ''));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await vendor.locator('[data-testid=release-outcome] li[data-clinic=alpha]').getAttribute('data-ok'), 'false');
  });

  test('the clinic admin sees the new version in use and the promotion in the history', async () => {
    await clinic.getByRole('link', { name: 'Versions', exact: true }).click();
    await clinic.getByRole('heading', { name: 'Algorithm versions' }).waitFor();
    const box = clinic.locator('[data-testid=versions] [data-algorithm=box]');
    await box.waitFor();
    assert.equal(await box.locator('[data-role=pinned]').textContent(), '1.1');
    assert.equal(await box.getByTestId('scheduled-notice').count(), 0, 'nothing scheduled');
    const promoted = box.locator('tr[data-action=promoted]');
    assert.equal(await promoted.count(), 1);
    const cells = await promoted.locator('td').allTextContents();
    assert.deepEqual(cells.slice(1), ['promoted', '1.0 → 1.1', 'shadow agreed', 'v.release']);
    assert.ok(cells[0].length > 0, 'dated');
    assert.equal(await box.locator('tbody tr').first().getAttribute('data-action'), 'promoted', 'newest first');
    assert.equal(await box.locator('tbody tr').last().getAttribute('data-action'), 'pinned');
    await shot(clinic.locator('main'), 'versions-promoted.png');
  });

  test('the vendor admin rolls back through the page: the clinic runs 1.0 again', async () => {
    await vendor.reload();
    await vendor.locator('[data-testid=release-clinics] tr[data-clinic=alpha]').waitFor();
    await cellShows('alpha', 'pinned', '1.1');
    await vendor.getByRole('checkbox', { name: 'Select alpha' }).check();
    await act('Roll back', async (dialog) => {
      assert.equal(await dialog.getByLabel('Version').count(), 0, 'a rollback names no version');
      await dialog.getByLabel('Reason (optional)').fill('clinician complaints');
    });
    await vendor.locator('[data-testid=release-outcome] li[data-clinic=alpha][data-ok=true]').waitFor();
    await cellShows('alpha', 'pinned', '1.0');
    await cellShows('alpha', 'previous', '–');
    assert.equal(await cell('beta', 'pinned').textContent(), '1.0');
    await vendor.waitForFunction(() => document.querySelector('[data-testid=release-history] tbody tr')?.dataset.action === 'rolled_back');
    assert.match(await vendor.locator('[data-testid=release-history] tbody tr').first().textContent(), /alpha.*rolled back.*1\.1 → 1\.0.*clinician complaints/);

    await clinic.reload();
    const box = clinic.locator('[data-testid=versions] [data-algorithm=box]');
    await box.waitFor();
    assert.equal(await box.locator('[data-role=pinned]').textContent(), '1.0');
    assert.deepEqual(await box.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action)), ['rolled_back', 'promoted', 'pinned']);
  });

  test('a version in shadow is compared case by case on the page; ending it clears the column', async () => {
    await act('Start shadow', async (dialog) => {
      await dialog.getByLabel('Version').selectOption('1.1');
    });
    await cellShows('alpha', 'shadow', '1.1');
    assert.equal(await cell('beta', 'shadow').textContent(), '–');

    // A run of the clinic's (on the pinned 1.0) brings a shadow run of 1.1 on the same series.
    const series = await storeSeries(server, 'alpha');
    const job = await runJob(server, await signIn(server, 'a.admin'), { algorithm: 'box', series: series.series_uid });
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.equal(job.algorithm.version, '1.0');
    const row = vendor.locator(`[data-testid=shadow-cases] tr[data-case="${job.id}"]`);
    await eventually('the shadow case to be compared on the page', async () => {
      await vendor.getByRole('button', { name: 'Show', exact: true }).click();
      return (await row.count()) === 1 && (await row.getAttribute('data-state')) === 'succeeded';
    }, 90_000, 500);
    assert.equal(await vendor.getByLabel('Shadow version').inputValue(), '1.1');
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[0], 'alpha');
    assert.equal(await row.locator('td').nth(1).getAttribute('title'), series.series_uid);
    assert.equal(cells[2], '1.0 / 1.1');
    // The two versions label the same box: they agree fully, and their metrics are equal.
    assert.match(await row.locator('[data-role=agreement]').textContent(), /Box: Dice 1\.000, HD95 0\.0 mm/);
    assert.match(await row.locator('[data-role=metrics]').textContent(), /box_ml: ([\d.]+) \/ \1$/);
    assert.match(await vendor.getByTestId('shadow-summary').textContent(), /1 case, 0 pending, 1 compared; failures: pinned 0, shadow 0, both 0/);
    const label = await vendor.locator('[data-testid=shadow-labels] tr[data-label="1"] td').allTextContents();
    assert.deepEqual(label.slice(0, 5), ['Box', '1', '1.000', '1.000', '1.000']);
    const metric = await vendor.locator('[data-testid=shadow-metrics] tr[data-metric=box_ml] td').allTextContents();
    assert.equal(metric[1], '1');
    assert.equal(metric[2], metric[5], 'the same mean for both versions');
    await shot(vendor.locator('main'), 'releases-shadow.png');

    await act('End shadow');
    await cellShows('alpha', 'shadow', '–');
    await vendor.waitForFunction(() => document.querySelector('[data-testid=release-history] tbody tr')?.dataset.action === 'shadow_ended');
  });

  test('vendor support sees the releases read only', async () => {
    const support = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await signInUi(support, server.baseUrl, 'v.support');
    await openReleases(support);
    await support.locator('[data-testid=release-clinics] tr[data-clinic=alpha] [data-role=pinned]').waitFor();
    assert.equal(await support.locator('[data-testid=release-clinics] tr[data-clinic=alpha] [data-role=pinned]').textContent(), '1.0');
    await support.locator('[data-testid=release-history] tbody tr').first().waitFor();
    assert.equal(await support.getByRole('checkbox').count(), 0);
    for (const name of ['Promote…', 'Roll back…', 'Start shadow…', 'End shadow…']) assert.equal(await support.getByRole('button', { name }).count(), 0, name);
    assert.match(await support.getByTestId('releases-page').textContent(), /Only vendor admins release versions\./);
    await support.close();
  });
});
