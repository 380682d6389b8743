// Subscriptions, licences and metering through the real server: a clinic without a
// subscription, a plan's quota and algorithms, suspension (refused runs, readable data,
// held jobs, resume), usage reports, the vendor's API, and offline licence files
// (valid, expired, tampered, another key, a clock moved back).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { makeSeries, qido, stowOk } from './lib/dicomweb.mjs';
import { binaryPath, makeTempDir, python, repoRoot } from './lib/env.mjs';
import { eventually } from './lib/fixture.mjs';
import { auditListEventually, call, createUser, signIn } from './lib/people.mjs';
import { VoxelgateServer } from './lib/server.mjs';
import { apiGet, apiJson, saveLabels } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
let server;
let vendor;
let series;

// A tiny process algorithm (a sandboxed copy of a prepared label file): runs in ~30 ms.
async function registerTiny(srv, token, seriesUid, id = 'tiny') {
  const g = (await apiGet(srv, token, `/api/v1/series/${seriesUid}/geometry`)).json();
  const labels = Buffer.alloc(g.dims[0] * g.dims[1] * g.dims[2]);
  labels.fill(1, 0, 50);
  const saved = await saveLabels(srv, token, seriesUid, labels, { segments: [{ label: 1, name: 'Dot' }] });
  assert.equal(saved.status, 201, saved.text());
  const nifti = (await apiGet(srv, token, `/api/v1/segmentations/${saved.json().id}/labels.nii.gz`)).body;
  const dir = makeTempDir(`algo-${id}`);
  writeFileSync(join(dir, 'labels.nii.gz'), nifti);
  writeFileSync(join(dir, 'manifest.toml'), `id = "${id}"\nversion = "1"\nname = "${id}"\n[[output.segments]]\nlabel = 1\nname = "Dot"\n` +
    `[runner]\nkind = "process"\ncommand = ["/bin/cp", "/algorithm/labels.nii.gz", "/job/output/"]\ndirectory = "${dir}"\n`);
  await srv.admin('algorithm', 'add', join(dir, 'manifest.toml'));
}

async function runJob(srv, token, body) {
  const res = await apiJson(srv, token, 'POST', '/api/v1/jobs', body);
  if (res.status !== 202) return { res };
  const job = await jobEnded(srv, token, res.json().id);
  return { res, job };
}

// Polls a job until it has ended (neither queued nor running); returns it.
async function jobEnded(srv, token, id, timeoutMs = 60_000) {
  let last = null;
  return eventually(() => `job ${id} to end (last: ${JSON.stringify(last)})`, async () => {
    last = (await apiGet(srv, token, `/api/v1/jobs/${id}`)).json();
    return !['queued', 'running'].includes(last.state) && last;
  }, timeoutMs, 50);
}

const act = (who, slug, action, body = {}) => call(server, who, 'POST', `/api/v1/tenants/${slug}/subscription/${action}`, { json: body });

before(async () => {
  server = await VoxelgateServer.start({ name: 'subscriptions' });
  // The vendor's people: a provider_admin signs in to the API.
  await createUser(server, 'provider', 'v.admin', 'provider_admin');
  vendor = await signIn(server, 'v.admin');
  series = await makeSeries({ slices: 3, rows: 16, cols: 16, seed: 80 });
});

after(async () => {
  await server?.dispose();
});

test('a clinic without a subscription stores and reads, but runs and annotates nothing (402 no_subscription)', async () => {
  await server.createTenant('bare', 'Bare', { subscription: false });
  const token = await server.createToken({ tenant: 'bare', name: 'bare-rw' });
  await stowOk(server, token, series.instances.map((i) => i.bytes));
  assert.equal((await qido(server, token, '/studies')).length, 1, 'reading is never refused');
  const run = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: series.series_uid });
  assert.equal(run.status, 402);
  assert.equal(run.json().error.code, 'no_subscription');
  await createUser(server, 'bare', 'b.rad', 'radiologist');
  const tag = await call(server, await signIn(server, 'b.rad'), 'PUT', `/api/v1/studies/${series.study_uid}/status`, { json: { status: 'done' } });
  assert.equal(tag.status, 402);
  assert.equal(tag.json().error.code, 'no_subscription');
  const own = (await apiGet(server, token, '/api/v1/subscription')).json();
  assert.equal(own.state, 'none');
});

test('the vendor makes plans (versioned) and activates subscriptions over the API; changes are audited with their reason', async () => {
  const plan = await call(server, vendor, 'POST', '/api/v1/plans', { json: { name: 'basic', included_runs: 2, algorithms: ['tiny'], features: ['annotation', 'export'], overage: 'block', price_note: '99 EUR/month' } });
  assert.equal(plan.status, 201, plan.text());
  assert.equal(plan.json().version, 1);
  const v2 = await call(server, vendor, 'POST', '/api/v1/plans', { json: { name: 'basic', included_runs: 2, algorithms: ['tiny'], features: ['annotation', 'export'], price_note: '109 EUR/month' } });
  assert.equal(v2.json().version, 2, 'editing makes a new version');
  assert.equal((await call(server, vendor, 'POST', '/api/v1/plans', { json: { name: 'bad', included_runs: 1, features: ['flying'] } })).status, 400);

  await server.createTenant('alpha', 'Alpha', { subscription: false });
  const activated = await act(vendor, 'alpha', 'activate', { plan: 'basic', reason: 'signed contract' });
  assert.equal(activated.status, 200, activated.text());
  assert.equal(activated.json().state, 'active');
  assert.equal(activated.json().plan.version, 2);
  assert.equal((await act(vendor, 'alpha', 'activate', { plan: 'basic' })).status, 409, 'already active: a clear refusal');
  assert.equal((await act(vendor, 'alpha', 'suspend', {})).status, 409, 'a suspension needs a reason');
  assert.equal((await act(vendor, 'nowhere', 'activate', { plan: 'basic' })).status, 404);
  const clinicAdmin = await (async () => { await createUser(server, 'alpha', 'a.admin', 'clinic_admin'); return signIn(server, 'a.admin'); })();
  assert.equal((await act(clinicAdmin, 'alpha', 'renew', {})).status, 403, 'a clinic cannot manage its own subscription');
  const listed = (await call(server, vendor, 'GET', '/api/v1/tenants')).json();
  assert.equal(listed.find((t) => t.slug === 'alpha').subscription.state, 'active');
  // Audit records are written in batches: wait for this one (the deadline is the failure).
  await auditListEventually(server, 'the activation with its reason',
    (out) => /subscription activate plan=basic state=active reason=signed contract/.test(out));
});

test('quota: with the block policy the run past the included ones is refused with quota_exhausted; the plan limits algorithms', async () => {
  const token = await server.createToken({ tenant: 'alpha', name: 'alpha-rw' });
  await stowOk(server, token, series.instances.map((i) => i.bytes));
  await registerTiny(server, token, series.series_uid);
  for (let i = 0; i < 2; ++i) {
    const { job } = await runJob(server, token, { algorithm: 'tiny', series: series.series_uid });
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
  }
  const third = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
  assert.equal(third.status, 402);
  assert.equal(third.json().error.code, 'quota_exhausted');
  assert.match(third.json().error.message, /all 2 runs of this period are used/);
  const own = (await apiGet(server, token, '/api/v1/subscription')).json();
  assert.equal(own.used_runs, 2);
  assert.equal(own.remaining_runs, 0);
  const other = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: series.series_uid });
  assert.equal(other.status, 402);
  assert.equal(other.json().error.code, 'algorithm_not_in_plan');
  const autoRule = await call(server, await signIn(server, 'a.admin'), 'POST', '/api/v1/auto-rules', { json: { algorithm: 'tiny' } });
  assert.equal(autoRule.status, 402, 'auto_run is not in the plan');
  assert.equal(autoRule.json().error.code, 'feature_not_in_plan');
});

test('usage is reported per clinic and period, as JSON and CSV; a clinic sees only its own', async () => {
  const month = new Date().toISOString().slice(0, 7);
  const report = (await call(server, vendor, 'GET', `/api/v1/usage?tenant=alpha&period=${month}`)).json();
  const alpha = report.tenants.find((t) => t.tenant === 'alpha');
  assert.equal(alpha.plan, 'basic');
  assert.equal(alpha.included_runs, 2);
  assert.equal(alpha.used_runs, 2);
  assert.equal(alpha.overage_runs, 0);
  assert.deepEqual(alpha.by_algorithm, { 'tiny@1': { runs: 2, succeeded: 2 } });
  const csv = await call(server, vendor, 'GET', `/api/v1/usage?period=${month}&format=csv`);
  assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
  assert.match(csv.text(), /^period,tenant,plan,included_runs,used_runs/);
  assert.match(csv.text(), new RegExp(`${month},alpha,basic,2,2,0,0,[0-9.]+,tiny@1,2,2`));
  const mine = (await call(server, await signIn(server, 'a.admin'), 'GET', `/api/v1/usage?tenant=bare&period=${month}`)).json();
  assert.deepEqual(mine.tenants.map((t) => t.tenant), ['alpha'], 'a clinic admin gets their own clinic, whatever is asked');
});

test('suspension: runs refused with its reason and date, reads and exports go on, annotation stops; resume restores', async () => {
  await call(server, vendor, 'POST', '/api/v1/plans', { json: { name: 'big', included_runs: 100, algorithms: 'all', features: ['annotation', 'export'] } });
  assert.equal((await act(vendor, 'alpha', 'change-plan', { plan: 'big', reason: 'upgrade' })).status, 200);
  const token = await server.createToken({ tenant: 'alpha', name: 'alpha-rw2' });
  const suspended = await act(vendor, 'alpha', 'suspend', { reason: 'invoice 2026-11 unpaid' });
  assert.equal(suspended.json().state, 'suspended');
  const run = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
  assert.equal(run.status, 402);
  assert.equal(run.json().error.code, 'subscription_suspended');
  assert.match(run.json().error.message, /invoice 2026-11 unpaid/);
  assert.ok(run.json().error.since > 0);
  assert.equal((await qido(server, token, '/studies')).length, 1, 'studies stay readable');
  const versions = (await apiGet(server, token, `/api/v1/studies/${series.study_uid}/segmentations`)).json();
  assert.ok(versions.length >= 3, 'results stay readable');
  const admin = await signIn(server, 'a.admin');
  const exported = await call(server, admin, 'POST', '/api/v1/exports', { json: { format: 'nnunet', segmentation: 'latest' } });
  assert.equal(exported.status, 202, 'a suspended clinic can still export its results');
  const annotate = await call(server, admin, 'PUT', `/api/v1/studies/${series.study_uid}/status`, { json: { status: 'done' } });
  assert.equal(annotate.status, 402);
  const view = (await call(server, admin, 'GET', '/api/v1/subscription')).json();
  assert.ok(view.notices.some((n) => n.level === 'error' && /suspended: invoice 2026-11 unpaid/.test(n.message)), JSON.stringify(view.notices));
  assert.equal((await act(vendor, 'alpha', 'resume', {})).json().state, 'active');
  const { job } = await runJob(server, token, { algorithm: 'tiny', series: series.series_uid });
  assert.equal(job.state, 'succeeded');
});

test('a suspended clinic\'s queued runs are held, and run after it is resumed', { timeout: 180_000 }, async () => {
  const quiet = await VoxelgateServer.start({ name: 'subscriptions-held', args: ['--workers', '0'] });
  try {
    await quiet.createTenant('beta');
    const token = await quiet.createToken({ tenant: 'beta', name: 'beta-rw' });
    await stowOk(quiet, token, series.instances.map((i) => i.bytes));
    await registerTiny(quiet, token, series.series_uid);
    const queued = await apiJson(quiet, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
    assert.equal(queued.status, 202);
    await quiet.admin('subscription', 'suspend', '--tenant', 'beta', '--reason', 'audit pending');
    // A clinic in good standing queues a run after beta's. The worker takes the oldest job
    // it may run, so when this later one has run, the worker has passed over beta's.
    await quiet.createTenant('epsilon');
    const other = await quiet.createToken({ tenant: 'epsilon', name: 'epsilon-rw' });
    await stowOk(quiet, other, series.instances.map((i) => i.bytes));
    const later = await apiJson(quiet, other, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
    assert.equal(later.status, 202, later.text());
    assert.ok(later.json().id > queued.json().id, 'queued after beta\'s run');
    const worker = execFile(binaryPath, [...quiet.cliArgs('worker'), '--algorithms-root', quiet.algorithmsRoot], { env: quiet.cliEnv }, () => {});
    try {
      const ran = await jobEnded(quiet, other, later.json().id);
      assert.equal(ran.state, 'succeeded', `the other clinic's run: ${JSON.stringify(ran)}`);
      const held = (await apiGet(quiet, token, `/api/v1/jobs/${queued.json().id}`)).json();
      assert.equal(held.state, 'queued', 'held while suspended');
      assert.equal(held.attempts, 0);
      await quiet.admin('subscription', 'resume', '--tenant', 'beta');
      const job = await jobEnded(quiet, token, queued.json().id);
      assert.equal(job.state, 'succeeded');
    } finally {
      worker.kill('SIGTERM');
    }
  } finally {
    await quiet.dispose();
  }
});

test('cancelling at once ends runs; the clinic is told until when it can export', async () => {
  await server.createTenant('gamma', 'Gamma', { subscription: false });
  await act(vendor, 'gamma', 'activate', { plan: 'big', trial: true });
  const cancelled = await act(vendor, 'gamma', 'cancel', { immediately: true, reason: 'end of trial' });
  assert.equal(cancelled.json().state, 'cancelled');
  assert.ok(cancelled.json().purge_after > cancelled.json().ended_at);
  const token = await server.createToken({ tenant: 'gamma', name: 'gamma-rw' });
  const run = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
  assert.equal(run.status, 402);
  assert.equal(run.json().error.code, 'subscription_expired');
});

// ---- offline licences ----

async function licenceTool(...args) {
  return execFileP(binaryPath, ['licence', ...args]);
}

async function serveWithLicence(name, dataDir, licence, publicKey) {
  const srv = new VoxelgateServer({ name, dataDir, args: ['--licence', licence, ...(publicKey ? ['--licence-public-key', publicKey] : [])] });
  try {
    await srv.start();
    return { srv };
  } catch (e) {
    return { error: `${e.message}\n${srv.stderrText?.() ?? ''}${readFileSync(srv.logPath, 'utf8')}${readFileSync(srv.stdoutPath, 'utf8')}` };
  }
}

test('offline licence: valid runs within its cap; expired, tampered, self-signed and other installations\' are refused saying which; the clock cannot be edited', { timeout: 120_000 }, async () => {
  const dir = makeTempDir('licence');
  // The vendor's key: the one this build trusts (a test pair made for the build folder at
  // configure time, beside the binary: scripts/test-licence-key).
  const vendorKey = join(dirname(binaryPath), 'test-licence-vendor.key');
  assert.ok(existsSync(vendorKey), `the build's test licence key ${vendorKey} (made by cmake)`);
  await licenceTool('keygen', '--out', join(dir, 'other'));  // anyone can make a key of their own

  // The installation: a data folder with the licensed clinic, and its id.
  const base = await VoxelgateServer.start({ name: 'licence-setup' });
  await base.createTenant('onprem', 'On-prem clinic', { subscription: false });
  const token = await base.createToken({ tenant: 'onprem', name: 'onprem-rw' });
  await stowOk(base, token, series.instances.map((i) => i.bytes));
  await registerTiny(base, token, series.series_uid).catch(() => {});  // saving needs annotation rights: set below
  const installation = (await base.admin('installation')).stdout.trim();
  assert.match(installation, /^[0-9a-f]{32}$/);
  const dataDir = base.dataDir;
  base.ownsDataDir = false;
  await base.dispose();

  const today = new Date();
  const date = (days) => new Date(today.getTime() + days * 86400e3).toISOString().slice(0, 10);
  const issue = (file, from, until, { key = vendorKey, forInstallation = installation } = {}) => licenceTool('issue', '--key', key,
    '--tenant', 'onprem', '--installation', forInstallation, '--plan', 'hospital', '--not-before', from, '--not-after', until,
    '--algorithms', 'tiny', '--max-runs', '1', '--out', join(dir, file));
  await issue('valid.lic', date(-10), date(300));
  await issue('expired.lic', date(-400), date(-30));
  await issue('selfsigned.lic', date(-10), date(3000), { key: join(dir, 'other.key') });
  await issue('elsewhere.lic', date(-10), date(300), { forInstallation: 'another-installation' });
  const valid = readFileSync(join(dir, 'valid.lic'), 'utf8');
  writeFileSync(join(dir, 'tampered.lic'), valid.replace('max_runs = 1', 'max_runs = 9'));

  for (const [file, key, expected] of [
    ['expired.lic', null, /expired on/],
    ['tampered.lic', null, /altered/],
    ['selfsigned.lic', null, /signed with another key/],
    // The operator cannot name a key of their own for the server to trust.
    ['selfsigned.lic', join(dir, 'other.pub'), /exists only in development builds/],
    ['elsewhere.lic', null, /it is for installation another-installation, not this one/]]) {
    const { srv, error } = await serveWithLicence(`licence-${file}`, dataDir, join(dir, file), key);
    if (srv) await srv.dispose();
    assert.ok(!srv, `${file} with ${key} must be refused`);
    assert.match(error, expected, `${file}: ${error.slice(0, 400)}`);
  }

  const { srv, error } = await serveWithLicence('licence-valid', dataDir, join(dir, 'valid.lic'));
  assert.ok(srv, error);
  try {
    srv.ownsDataDir = false;
    const own = (await apiGet(srv, token, '/api/v1/subscription')).json();
    assert.equal(own.licensed, true);
    assert.equal(own.state, 'active');
    await registerTiny(srv, token, series.series_uid, 'tiny');
    const first = await runJob(srv, token, { algorithm: 'tiny', series: series.series_uid });
    assert.equal(first.job?.state, 'succeeded', first.res.text());
    const second = await apiJson(srv, token, 'POST', '/api/v1/jobs', { algorithm: 'tiny', series: series.series_uid });
    assert.equal(second.status, 402, 'the licence caps runs at 1 a month');
    assert.equal(second.json().error.code, 'quota_exhausted');
    const notLicensed = await apiJson(srv, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: series.series_uid });
    assert.equal(notLicensed.json().error.code, 'algorithm_not_in_plan');
  } finally {
    await srv.dispose();
  }

  // The clock's high-water mark is sealed with a key of the master key's: moved in the
  // catalog (back, to revive a licence; or anywhere), it no longer matches its seal.
  await execFileP(python, ['-c', `import sqlite3; c = sqlite3.connect(${JSON.stringify(join(dataDir, 'catalog.db'))}); ` +
    `c.execute("UPDATE licence_clock SET high_water = high_water - 400 * 86400"); c.commit()`]);
  const later = await serveWithLicence('licence-clock', dataDir, join(dir, 'valid.lic'));
  if (later.srv) await later.srv.dispose();
  assert.ok(!later.srv, 'an edited licence clock is refused');
  assert.match(later.error, /licence clock in the catalog was altered by hand/);
});

test('after the end and the retention window, the vendor purges a clinic: its key is shredded, its data gone', { timeout: 60_000 }, async () => {
  const dir = makeTempDir('purge-config');
  writeFileSync(join(dir, 'voxelgate.toml'), '[subscriptions]\nretention_days = 0\n');
  const srv = await VoxelgateServer.start({ name: 'subscriptions-purge', args: ['--config', join(dir, 'voxelgate.toml')] });
  try {
    await srv.createTenant('leaving');
    await srv.createTenant('staying');
    const token = await srv.createToken({ tenant: 'leaving', name: 'leaving-rw' });
    const other = await srv.createToken({ tenant: 'staying', name: 'staying-rw' });
    await stowOk(srv, token, series.instances.map((i) => i.bytes));
    const s2 = await makeSeries({ slices: 2, rows: 16, cols: 16, seed: 81 });
    await stowOk(srv, other, s2.instances.map((i) => i.bytes));
    await createUser(srv, 'provider', 'p.admin', 'provider_admin');
    const admin = await signIn(srv, 'p.admin');
    const early = await call(srv, admin, 'DELETE', '/api/v1/tenants/leaving/data');
    assert.equal(early.status, 409, 'a live clinic is not purged');
    await srv.admin('subscription', 'cancel', '--tenant', 'leaving', '--immediately', '--reason', 'contract ended');
    // The wrapped key as the catalog holds it, to look for it in the files afterwards.
    const wrapped = Buffer.from((await execFileP(python, ['-c', `import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT hex(wrapped_key) FROM tenants WHERE slug='leaving'").fetchone()[0])`,
      join(srv.dataDir, 'catalog.db')])).stdout.trim(), 'hex');
    assert.ok(wrapped.length >= 32, 'the clinic has a wrapped key before the purge');
    const purged = await call(srv, admin, 'DELETE', '/api/v1/tenants/leaving/data');
    assert.equal(purged.status, 204, purged.text());
    // Neither the catalog's pages (free ones included) nor its WAL hold the key any more.
    for (const file of ['catalog.db', 'catalog.db-wal']) {
      const path = join(srv.dataDir, file);
      if (existsSync(path)) assert.ok(!readFileSync(path).includes(wrapped.subarray(0, 32)), `${file} still holds the purged clinic's wrapped key`);
    }
    const after = await apiGet(srv, token, '/dicomweb/studies');
    assert.equal(after.status, 401, 'its tokens are revoked');
    const fresh = await srv.createToken({ tenant: 'leaving', name: 'leaving-after' }).catch((e) => e);
    if (typeof fresh === 'string') {
      const res = await apiGet(srv, fresh, '/dicomweb/studies');
      assert.ok(res.status === 204 || (res.status === 200 && res.json().length === 0), 'nothing is left to find');
    }
    const { readdirSync } = await import('node:fs');
    const tenantDirs = readdirSync(join(srv.dataDir, 'blobs')).filter((d) => /^t[0-9]+$/.test(d));
    assert.equal(tenantDirs.length, 1, `only the staying clinic keeps blobs: ${tenantDirs}`);
    assert.equal((await qido(srv, other, '/studies')).length, 1, 'the other clinic is untouched');
    // A purged clinic's shredded key is not a wrong master key: the server starts again.
    await srv.restart();
    assert.equal((await qido(srv, other, '/studies')).length, 1, 'after a restart the other clinic is still served');
    await srv.admin('tenant', 'list');
  } finally {
    await srv.dispose();
  }
});
