// Helpers for driving the app: sign-in through the page, pixel statistics of screenshots
// (decoded by the browser itself, so no image library is needed: luminance, colour,
// difference), and waiting for the viewer.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { eventually } from '../../integration/lib/fixture.mjs';
import { passwordOf } from '../../integration/lib/people.mjs';
import { artifactPath } from './browser.mjs';

export async function signInUi(page, baseUrl, username, password = passwordOf(username)) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('form.login button[type=submit]');
  await page.waitForFunction(() => !location.pathname.startsWith('/login'));
  await page.waitForSelector('[data-testid=who]');
}

// Collects page errors and failed requests, so a failing test can say what the page saw.
export function watch(page, label) {
  const seen = [];
  page.on('pageerror', (e) => seen.push(`${label} pageerror: ${e.stack}`));
  page.on('console', (m) => m.type() === 'error' && seen.push(`${label} console: ${m.text().slice(0, 300)}`));
  page.on('response', (r) => r.status() >= 400 && seen.push(`${label} HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
  return seen;
}

export async function shot(locator, name) {
  const png = await locator.screenshot();
  writeFileSync(artifactPath(name), png);
  return png;
}

// A screenshot of `locator` once what it shows has settled: two in a row are the same (the
// viewer renders on animation frames after a change, later on a loaded machine). Saved as
// `name` when one is given. `options` go to screenshot() (a page's `clip`, say).
export async function settledShot(locator, name, options) {
  let last = null;
  const png = await eventually(`${name ?? 'the view'} to stop changing`, async () => {
    const now = await locator.screenshot(options);
    const same = last !== null && now.equals(last);
    last = now;
    return same && now;
  }, 30_000, 100);
  if (name) writeFileSync(artifactPath(name), png);
  return png;
}

// Waits until the viewer shows (or hides) its overlays and crosshair lines, as its toggle
// buttons report once it has applied them.
export async function overlaysAndLinesShown(page, shown) {
  await page.waitForSelector(`[data-testid=mpr]${shown ? ':not(.no-overlays)' : '.no-overlays'}`);
  await page.waitForSelector(`button[title^="Show or hide overlays"][aria-pressed="${shown}"]`);
  await page.waitForSelector(`button[title^="Show or hide the crosshairs"][aria-pressed="${shown}"]`);
}

// {distinct, std, mean} of the luminance of a PNG.
export async function pixelStats(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    let sum = 0;
    let sum2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const y = Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
      seen.add(y);
      sum += y;
      sum2 += y * y;
    }
    const mean = sum / n;
    return { distinct: seen.size, mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
  }, png.toString('base64'));
}

// Share (0..1) of a PNG's pixels that are coloured, not grey: the spread of R, G and B above
// `spread`. A CT alone has none; a segment's overlay colours the pixels it covers.
export async function colourShare(page, png, spread = 30) {
  return page.evaluate(
    async ([b64, minSpread]) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > minSpread) coloured++;
      }
      return coloured / (d.length / 4);
    },
    [png.toString('base64'), spread],
  );
}

// Mean absolute difference (0..255) of two same-sized PNGs.
export async function pixelDiff(page, a, b) {
  return page.evaluate(
    async ([x, y]) => {
      const load = async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width;
        c.height = img.height;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, c.width, c.height).data;
      };
      const [p, q] = [await load(x), await load(y)];
      if (p.length !== q.length) return 255;
      let s = 0;
      for (let i = 0; i < p.length; i += 4) s += Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]);
      return s / (p.length / 4) / 3;
    },
    [a.toString('base64'), b.toString('base64')],
  );
}

// Opens a study's viewer and waits until the volume is fully loaded and the editor ready.
export async function openViewer(page, baseUrl, studyUid, { series, timeout = 60_000 } = {}) {
  const q = series ? `?series=${encodeURIComponent(series)}` : '';
  await page.goto(`${baseUrl}/studies/${encodeURIComponent(studyUid)}${q}`);
  await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout });
  await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout });
}

export async function sliceOf(page, view = 'axial') {
  const v = await page.getAttribute(`[data-testid=slice-${view}]`, 'data-slice');
  assert.ok(v, `no slice number shown in the ${view} view`);
  return Number(v);
}

// Chooses a mouse tool (by its key, or by its button) and waits until it is on.
export async function useTool(page, mode, key) {
  if (key) await page.keyboard.press(key);
  else await page.click(`button.tool[data-mode=${mode}]`);
  await page.waitForSelector(`.viewer-toolbar button.tool.on[data-mode=${mode}], .seg-panel button.tool.on[data-mode=${mode}]`, { timeout: 10_000 });
}

