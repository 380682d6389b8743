// Subscriptions in the browser app (issue 8): the vendor's plans and clinics pages (a plan
// and its new version, activation and suspension confirmed in a dialog with a reason), the
// clinic's banner and its Run action disabled with the reason while suspended (and again
// when the quota is used), resume, usage with its CSV, and read-only vendor support.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, createUser, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { eventually, registerBox, runJob, storeSeries } from './lib/algorithms.mjs';
import { openViewer, shot, signInUi } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

describe('browser app: plans, subscriptions, usage', () => {
  let server;
  let browser;
  let vendor; // provider_admin's page
  let doctor; // the clinic physician's page
  let series;

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-subscriptions', args: webArgs });
    await server.createTenant('clinic', 'St. Test Clinic', { subscription: false });
    await createUser(server, 'provider', 'v.admin', 'provider_admin');
    await createUser(server, 'provider', 'v.support', 'provider_support');
    await createUser(server, 'clinic', 'doc1', 'physician');
    await createUser(server, 'clinic', 'admin1', 'clinic_admin');
    await registerBox(server, 'box');
    series = await storeSeries(server, 'clinic');
    browser = await launch();
    vendor = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    doctor = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await signInUi(vendor, server.baseUrl, 'v.admin');
    await signInUi(doctor, server.baseUrl, 'doc1');
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  const tenantRow = () => vendor.locator('[data-testid=tenants] tr[data-tenant=clinic]');

  async function act(action, fill = async () => {}) {
    await vendor.goto(`${server.baseUrl}/vendor/tenants`);
    await tenantRow().waitFor();
    await vendor.getByRole('button', { name: `${action} clinic`, exact: true }).click();
    const dialog = vendor.getByTestId('subscription-action-dialog');
    await dialog.waitFor();
    await fill(dialog);
    await dialog.getByRole('button', { name: action, exact: true }).click();
    await dialog.waitFor({ state: 'detached' }).catch(async (e) => {
      throw new Error(`${e.message}; the dialog says: ${await dialog.getByTestId('dialog-error').textContent()}`);
    });
  }

  // The clinic's state in the vendor's list, once it shows `expected`: after a dialog
  // closes, the list reloads on its own time. Fails at the deadline, naming the state seen.
  const stateOf = async (expected) => {
    await vendor.waitForFunction(() => !document.querySelector('[data-testid=tenants-state]')?.textContent?.includes('Loading'));
    let state = null;
    return eventually(() => `the clinic's state in the vendor's list to be ${expected} (it is ${state})`, async () => {
      state = await tenantRow().getAttribute('data-state');
      return state === expected && state;
    }, 30_000, 100);
  };

  test('a clinic without a subscription: the banner says so and Run is disabled', async () => {
    await doctor.goto(`${server.baseUrl}/`);
    const banner = doctor.getByTestId('subscription-banner');
    await banner.waitFor();
    assert.match(await banner.textContent(), /no subscription yet/i);
    await openViewer(doctor, server.baseUrl, series.study_uid);
    await doctor.waitForSelector('[data-testid=run-algorithm]:disabled');
    assert.match(await doctor.textContent('[data-testid=run-disabled-reason]'), /Run is disabled: no subscription/);
  });

  test('the vendor admin makes a plan, then a new version of it', async () => {
    await vendor.getByRole('link', { name: 'Plans' }).click();
    await vendor.getByRole('button', { name: 'New plan' }).click();
    const dialog = vendor.getByRole('dialog', { name: 'New plan' });
    await dialog.getByLabel('Name').fill('standard');
    await dialog.getByLabel('Included runs per month').fill('2');
    await dialog.getByLabel('Price note').fill('990 EUR / month');
    await dialog.getByRole('button', { name: 'Create plan' }).click();
    await vendor.waitForSelector('[data-testid=plans] tr[data-plan=standard]');
    assert.match(await vendor.textContent('[data-testid=plans] tr[data-plan=standard]'), /standard.*v1.*2.*block.*all.*Annotation, Export, Auto-run.*990 EUR/s);

    await vendor.getByRole('button', { name: 'New version of standard' }).click();
    const next = vendor.getByRole('dialog', { name: 'New version of the plan standard' });
    await next.getByLabel('Included runs per month').fill('3');
    await next.getByRole('button', { name: 'Save as a new version' }).click();
    await vendor.waitForFunction(() => /v2/.test(document.querySelector('[data-testid=plans] tr[data-plan=standard]')?.textContent ?? ''));
  });

  test('the vendor admin activates the clinic\'s subscription in a confirmation dialog', async () => {
    await vendor.getByRole('link', { name: 'Clinics' }).click();
    await tenantRow().waitFor();
    assert.equal(await stateOf('none'), 'none');
    await act('Activate', async (dialog) => {
      assert.match(await dialog.textContent(), /Starts a subscription on the chosen plan/);
      await dialog.getByLabel('Plan').selectOption('standard');
      await dialog.getByLabel('Reason (optional)').fill('contract 2026-042');
    });
    assert.equal(await stateOf('active'), 'active');
    assert.match(await tenantRow().textContent(), /standard v2.*0 \/ 3/s);
  });

  test('an active clinic: no banner, and Run is enabled', async () => {
    await openViewer(doctor, server.baseUrl, series.study_uid);
    await doctor.waitForSelector('[data-testid=run-algorithm]:enabled');
    assert.equal(await doctor.getByTestId('subscription-banner').count(), 0);
    assert.equal(await doctor.isHidden('[data-testid=run-disabled-reason]'), true);
  });

  test('suspended with a reason: the physician sees the banner and Run is disabled with the reason', async () => {
    await act('Suspend', async (dialog) => {
      // A suspension needs a reason: the clinic is shown it.
      await dialog.getByRole('button', { name: 'Suspend', exact: true }).click();
      assert.equal(await dialog.isVisible(), true, 'not sent without a reason');
      await dialog.getByLabel('Reason', { exact: true }).fill('invoice 2026-11 unpaid');
    });
    assert.equal(await stateOf('suspended'), 'suspended');
    assert.match(await tenantRow().textContent(), /invoice 2026-11 unpaid/);
    await shot(vendor.locator('main'), 'vendor-clinics.png');

    await openViewer(doctor, server.baseUrl, series.study_uid);
    const banner = doctor.getByTestId('subscription-banner');
    await banner.waitFor();
    assert.match(await banner.textContent(), /The subscription is suspended: invoice 2026-11 unpaid\. Algorithm runs are stopped; your studies and results stay readable and can be exported\./);
    const run = doctor.getByRole('button', { name: 'Run algorithm…' });
    await doctor.waitForSelector('[data-testid=run-algorithm]:disabled');
    assert.equal(await run.isDisabled(), true);
    assert.equal(await run.getAttribute('title'), 'Run is disabled: subscription suspended: invoice 2026-11 unpaid');
    assert.equal(await doctor.textContent('[data-testid=run-disabled-reason]'), 'Run is disabled: subscription suspended: invoice 2026-11 unpaid.');
    await shot(doctor.locator('body'), 'suspended-viewer.png');

    // The banner is on every page; the subscription page says the same.
    await doctor.getByRole('link', { name: 'Subscription', exact: true }).click();
    await doctor.waitForSelector('[data-testid=subscription-state-badge]');
    assert.equal(await doctor.textContent('[data-testid=subscription-state-badge]'), 'Suspended');
    assert.match(await doctor.textContent('[data-testid=subscription-page]'), /Reason: invoice 2026-11 unpaid/);
    assert.equal(await doctor.getByTestId('subscription-banner').count(), 1);
  });

  test('resumed: the banner goes and Run works again', async () => {
    await act('Resume');
    assert.equal(await stateOf('active'), 'active');
    await openViewer(doctor, server.baseUrl, series.study_uid);
    await doctor.waitForSelector('[data-testid=run-algorithm]:enabled');
    assert.equal(await doctor.getByTestId('subscription-banner').count(), 0);
  });

  test('suspended while the viewer is open: the refusal shows in the Run dialog, then Run is disabled', async () => {
    await openViewer(doctor, server.baseUrl, series.study_uid);
    await doctor.waitForSelector('[data-testid=run-algorithm]:enabled');
    const admin = await signIn(server, 'v.admin');
    const suspend = await call(server, admin, 'POST', '/api/v1/tenants/clinic/subscription/suspend', { json: { reason: 'audit pending' } });
    assert.equal(suspend.status, 200, suspend.text());
    try {
      await doctor.getByRole('button', { name: 'Run algorithm…' }).click();
      const dialog = doctor.getByRole('dialog', { name: 'Run an algorithm on this series' });
      await dialog.getByRole('button', { name: 'Run', exact: true }).click();
      await dialog.getByTestId('dialog-error').filter({ hasText: 'the subscription is suspended: audit pending' }).waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await doctor.waitForSelector('[data-testid=run-algorithm]:disabled');
      assert.equal(await doctor.textContent('[data-testid=run-disabled-reason]'), 'Run is disabled: subscription suspended: audit pending.');
      await doctor.getByTestId('subscription-banner').waitFor();
    } finally {
      assert.equal((await call(server, admin, 'POST', '/api/v1/tenants/clinic/subscription/resume', { json: {} })).status, 200);
    }
  });

  test('the quota used up: Run is disabled with the reason, and the subscription page shows the count', async () => {
    const doc = await signIn(server, 'doc1');
    for (let i = 0; i < 3; i++) assert.equal((await runJob(server, doc, { algorithm: 'box', series: series.series_uid })).state, 'succeeded');
    await openViewer(doctor, server.baseUrl, series.study_uid);
    await doctor.waitForSelector('[data-testid=run-algorithm]:disabled');
    assert.equal(await doctor.textContent('[data-testid=run-disabled-reason]'), 'Run is disabled: quota used: all 3 runs of this period.');
    assert.match(await doctor.getByTestId('subscription-banner').textContent(), /All 3 runs of this period are used/);
    await doctor.goto(`${server.baseUrl}/subscription`);
    await doctor.waitForSelector('[data-testid=quota]');
    assert.match(await doctor.textContent('[data-testid=quota]'), /3 of 3 runs used — 0 left this period\. Runs beyond these are refused/);
  });

  test('usage: the vendor sees the clinic\'s runs and downloads the CSV; the clinic admin sees its own', async () => {
    await vendor.getByRole('link', { name: 'Usage' }).click();
    const row = vendor.locator('[data-testid=usage] tr[data-tenant=clinic]');
    await row.waitFor();
    assert.equal(await row.locator('[data-role=used]').textContent(), '3');
    assert.match(await row.textContent(), /standard v2.*box@1: 3 of 3/s);
    const [download] = await Promise.all([vendor.waitForEvent('download'), vendor.getByTestId('usage-csv').click()]);
    assert.match(download.suggestedFilename(), /^usage-\d{4}-\d{2}\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8');
    assert.match(csv, /^period,tenant,plan,included_runs,used_runs/);
    assert.match(csv, /,clinic,standard,3,3,0,0,/);

    const admin = await browser.newPage();
    await signInUi(admin, server.baseUrl, 'admin1');
    await admin.getByRole('link', { name: 'Usage' }).click();
    await admin.waitForSelector('[data-testid=usage] tr[data-tenant=clinic]');
    assert.equal(await admin.locator('[data-testid=usage] tr').count(), 2, 'its own clinic only (and the header)');
    assert.equal(await admin.getByLabel('Clinic', { exact: true }).count(), 0);
    await admin.close();
  });

  test('vendor support reads clinics and plans but changes nothing', async () => {
    const support = await browser.newPage();
    await signInUi(support, server.baseUrl, 'v.support');
    await support.getByRole('link', { name: 'Clinics' }).click();
    await support.waitForSelector('[data-testid=tenants] tr[data-tenant=clinic]');
    assert.equal(await support.locator('[data-testid=tenants] button').count(), 0);
    assert.equal(await support.getByRole('button', { name: 'New clinic' }).count(), 0);
    await support.getByRole('link', { name: 'Plans' }).click();
    await support.waitForSelector('[data-testid=plans] tr[data-plan=standard]');
    assert.equal(await support.getByRole('button', { name: 'New plan' }).count(), 0);
    await support.close();
  });

  test('a refused action shows the server\'s reason in the dialog', async () => {
    // Renewing is for a past-due subscription; the page does not offer it for an active one,
    // so the API is asked directly and the dialog path is exercised with change-plan to a
    // plan that does not exist.
    const admin = await signIn(server, 'v.admin');
    const refused = await call(server, admin, 'POST', '/api/v1/tenants/clinic/subscription/renew', { json: {} });
    assert.equal(refused.status, 409);
    await vendor.goto(`${server.baseUrl}/vendor/tenants`);
    await tenantRow().waitFor();
    await vendor.route('**/api/v1/tenants/clinic/subscription/change-plan', (route) =>
      route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify({ error: { code: 'conflict', message: 'the plan standard is the current one' } }) }));
    await vendor.getByRole('button', { name: 'Change plan clinic' }).click();
    const dialog = vendor.getByTestId('subscription-action-dialog');
    await dialog.getByRole('button', { name: 'Change plan', exact: true }).click();
    await dialog.getByTestId('dialog-error').filter({ hasText: 'the plan standard is the current one' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await vendor.unroute('**/api/v1/tenants/clinic/subscription/change-plan');
  });
});
