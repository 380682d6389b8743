// The newcomer's first minute (issue 21): `make run`'s own script, scripts/run-demo, on a new
// data folder starts the real server in demo mode, stores the synthetic chest CT into the demo
// clinic and says where to click; following those words in the browser (sign in as
// demo-radiologist, open the phantom from the worklist, "Run algorithm…" → CT lungs) shows the
// lungs segmented in under a minute. Ctrl-C stops the script and the server cleanly; a second
// start on the same data folder stores nothing again. The screenshot of the viewer with the
// lungs is build/e2e-artifacts/newcomer-viewer-lungs.png (the README's, docs/images/).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { binaryPath, ensureLogDir, makeTempDir, repoRoot, requireBinary } from '../integration/lib/env.mjs';
import { request } from '../integration/lib/http.mjs';
import { call, signIn } from '../integration/lib/people.mjs';
import { freePort } from '../integration/lib/server.mjs';
import { eventually } from '../integration/lib/fixture.mjs';
import { colourShare, settledShot, signInUi, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild } from './lib/web.mjs';

const WHERE_TO_CLICK = 'Your first minute:';
const FIRST_MINUTE_MS = 60_000;

// scripts/run-demo as `make run` starts it, in a process group of its own like a terminal's
// foreground job, so that interrupt() is a terminal's Ctrl-C: SIGINT to the whole group.
// Its stdout is kept (and logged with its stderr, the server's log lines, in build/test-logs/).
class RunDemo {
  constructor(dataDir, httpPort, dicomPort) {
    this.dataDir = dataDir;
    this.baseUrl = `http://127.0.0.1:${httpPort}`;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.logPath = join(ensureLogDir(), `newcomer-${stamp}-${process.pid}.log`);
    const log = openSync(this.logPath, 'a');
    this.child = spawn(join(repoRoot, 'scripts', 'run-demo'),
      [binaryPath, dataDir, `127.0.0.1:${httpPort}`, `127.0.0.1:${dicomPort}`],
      { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    this.stdout = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (s) => {
      this.stdout += s;
    });
    this.exitInfo = null;
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve((this.exitInfo = { code, signal }))));
    // A test that dies half-way leaves no server behind: the script stops it on SIGTERM.
    process.on('exit', () => this.exitInfo || this.child.kill('SIGTERM'));
  }

  // Waits until the script has printed where to click (after storing the study, if it does).
  async whereToClick(timeoutMs = 120_000) {
    await eventually(() => `run-demo to say where to click; stdout:\n${this.stdout}\nlog ${this.logPath}`, () => {
      if (this.exitInfo) throw new Error(`run-demo exited ${JSON.stringify(this.exitInfo)}; stdout:\n${this.stdout}\nlog ${this.logPath}`);
      return this.stdout.includes(WHERE_TO_CLICK) && /over the CT once the run has succeeded\.\n/.test(this.stdout);
    }, timeoutMs, 100);
  }

  // The serve process this run started (its command line names the data folder).
  serverPid() {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (argv[0] === binaryPath && argv[1] === 'serve' && argv.includes(this.dataDir)) return Number(pid);
      } catch {} // gone meanwhile
    }
    return null;
  }

  interrupt() {
    process.kill(-this.child.pid, 'SIGINT');
  }

  async stop() {
    if (this.exitInfo) return;
    process.kill(this.child.pid, 'SIGTERM');
    await this.exited;
  }
}

function password(stdout, username) {
  const m = stdout.match(new RegExp(`^\\s*demo\\s+${username}\\s+\\w+\\s+(\\S+)\\s*$`, 'm'));
  assert.ok(m, `no password for ${username} in the printed logins:\n${stdout}`);
  return m[1];
}

async function answers(baseUrl) {
  try {
    return (await request(baseUrl, { path: '/healthz', timeoutMs: 2000 })).status === 200;
  } catch {
    return false;
  }
}

describe('the newcomer\'s first minute: make run', () => {
  let dataDir;
  let httpPort;
  let dicomPort;
  let demo;
  let browser;
  let page;
  let seen = [];

  before(async () => {
    requireBinary();
    requireWebBuild();
    dataDir = join(makeTempDir('newcomer'), 'var');
    httpPort = await freePort();
    do dicomPort = await freePort(); while (dicomPort === httpPort);
    demo = new RunDemo(dataDir, httpPort, dicomPort);
    await demo.whereToClick();
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    seen = watch(page, 'demo-radiologist');
  });

  after(async () => {
    if (seen.length) console.log(`page events:\n  ${seen.slice(-30).join('\n  ')}`);
    await browser?.close();
    await demo?.stop();
  });

  test('make run stores the synthetic chest CT once and says where to click', async () => {
    const out = demo.stdout;
    assert.match(out, /Logins \(also in .*demo-logins\.txt\):/);
    assert.match(out, /Storing a synthetic chest CT into the demo clinic/);
    assert.ok(out.includes(`Open ${demo.baseUrl} and sign in as demo-radiologist`), out);
    assert.match(out, /open the study "PHANTOM CHEST \(synthetic CT, not a patient\)"/);
    assert.match(out, /"Run algorithm…", choose "CT lungs" \(ct-lungs\)/);
    // The where-to-click comes after the server's own lines (URL and logins), not lost among them.
    assert.ok(out.indexOf('voxelgate listening on') < out.indexOf(WHERE_TO_CLICK), out);
    assert.ok(existsSync(join(dataDir, 'demo-study-loaded')), 'the marker of the stored study');
  });

  test('signed in as demo-radiologist, the phantom is opened from the worklist and ct-lungs shows the lungs within a minute', { timeout: 180_000 }, async (t) => {
    const steps = [];
    const started = Date.now();
    const step = (name) => steps.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)} s`);

    await signInUi(page, demo.baseUrl, 'demo-radiologist', password(demo.stdout, 'demo-radiologist'));
    step('signed in');
    const row = page.locator('[data-testid=worklist] tr[data-study]', { hasText: 'PHANTOM CHEST' });
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('[data-testid=worklist] tr[data-study]').count(), 1, 'the demo clinic holds the phantom only');
    assert.match(await row.textContent(), /DEMO, CHEST/);
    assert.match(await row.textContent(), /1 \/ 100/);
    await row.getByRole('link').first().click();
    await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout: 60_000 });
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    step('viewer loaded');
    const axial = page.locator('[data-viewport=axial]');
    const before = await colourShare(page, await settledShot(axial));

    // The app's passing notices (3 s each), however briefly shown.
    await page.evaluate(() => {
      window.__toasts = [];
      new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) => n.classList?.contains('toast') && window.__toasts.push(n.textContent))))
        .observe(document.body, { subtree: true, childList: true });
    });
    await page.getByRole('button', { name: 'Run algorithm…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Run an algorithm on this series' });
    await dialog.waitFor();
    await dialog.getByRole('radio', { name: /^\s*CT lungs\b/ }).check();
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    const id = Number(await page.locator('[data-testid=runs] li[data-job]').first().getAttribute('data-job'));
    step(`run ${id} submitted`);
    await page.waitForSelector(`[data-testid=runs] li[data-job="${id}"][data-state=succeeded]`, { timeout: 120_000 });
    step('run succeeded');
    // The app says so once it has opened the result.
    await page.waitForFunction(() => window.__toasts.includes('The result of ct-lungs 1.0.0 is shown.'), null, { timeout: 60_000 });
    await page.waitForFunction(() => /Result of ct-lungs 1\.0\.0/.test(document.querySelector('[data-testid=seg-state]')?.textContent ?? ''), null, { timeout: 60_000 });
    for (const label of [1, 2]) {
      await page.waitForFunction((l) => Number(document.querySelector(`[data-testid=segments] li[data-label="${l}"]`)?.dataset.voxels) > 0, label, { timeout: 30_000 });
    }
    // On screen: the axial view coloured where the lungs are (two ellipses, a fifth of the view
    // and more), beyond what the crosshair lines colour without them.
    let after = 0;
    await eventually(() => `the lungs to be drawn in the axial view (coloured share ${after} after, ${before} before)`, async () => {
      after = await colourShare(page, await settledShot(axial));
      return after > before + 0.1;
    }, 60_000, 200);
    step('lungs shown');
    const elapsed = Date.now() - started;
    t.diagnostic(`first minute: ${steps.join('; ')}`);
    assert.ok(elapsed < FIRST_MINUTE_MS, `sign-in to the lungs shown took ${elapsed} ms: ${steps.join('; ')}`);

    const names = await page.locator('[data-testid=segments] li[data-label] input.seg-name').evaluateAll((inputs) => inputs.map((i) => i.value));
    assert.deepEqual(names, ['Right lung', 'Left lung']);
    // The README's picture, once the app's passing notice ("The result of … is shown.") has
    // gone from over the runs.
    await page.waitForSelector('#toasts .toast', { state: 'detached', timeout: 30_000 });
    await settledShot(page.locator('[data-testid=viewer]'), 'newcomer-viewer-lungs.png');
  });

  test('Ctrl-C stops the script and the server cleanly', { timeout: 60_000 }, async () => {
    const server = demo.serverPid();
    assert.ok(server, 'the server is running');
    demo.interrupt();
    const exit = await eventually(`run-demo to end after Ctrl-C; log ${demo.logPath}`, () => demo.exitInfo, 30_000, 50);
    assert.deepEqual(exit, { code: 0, signal: null }, `run-demo after Ctrl-C; log ${demo.logPath}`);
    assert.equal(existsSync(`/proc/${server}`), false, 'the server has ended');
    assert.equal(await answers(demo.baseUrl), false, 'nothing answers on the port any more');
    const log = readFileSync(demo.logPath, 'utf8');
    assert.match(log, /"event":"server_stopping"/);
    assert.match(log, /"event":"server_stopped"/, 'the server finished its shutdown');
  });

  test('a second start on the same data folder stores nothing again', { timeout: 180_000 }, async () => {
    demo = new RunDemo(dataDir, httpPort, dicomPort);
    await demo.whereToClick();
    assert.doesNotMatch(demo.stdout, /Storing a synthetic chest CT/);
    assert.match(demo.stdout, /demo-radiologist/, 'the logins on file are printed again');
    const who = await signIn({ baseUrl: demo.baseUrl }, 'demo-radiologist', password(demo.stdout, 'demo-radiologist'));
    const res = await call({ baseUrl: demo.baseUrl }, who, 'GET', '/api/v1/worklist');
    assert.equal(res.status, 200, res.text());
    assert.equal(res.json().total, 1, 'one study, stored once');
    demo.interrupt();
    assert.deepEqual(await demo.exited, { code: 0, signal: null });
  });
});
