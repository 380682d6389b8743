#!/usr/bin/env node
// Viewer benchmark (issue 6): in headless Chromium on loopback, for the 275-slice chest CT
// (../shared/data/ct-chest-lidc), the time from opening the viewer URL to the first image,
// to the full volume loaded, and the frames per second while scrolling the axial view.
//
// usage: node bench/viewer.mjs [--runs N]    (needs build/voxelgate, web/dist built, and
//        tests/e2e's npm packages: `make build` and `cd tests/e2e && npm ci`)
// Prints one line per figure and a JSON summary on the last line. Exit 0 also when skipped.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stow } from '../tests/integration/lib/dicomweb.mjs';
import { sharedDataDir } from '../tests/integration/lib/env.mjs';
import { createUser } from '../tests/integration/lib/people.mjs';
import { VoxelgateServer } from '../tests/integration/lib/server.mjs';
import { signInUi } from '../tests/e2e/lib/app.mjs';
import { launch } from '../tests/e2e/lib/browser.mjs';
import { requireWebBuild, webArgs } from '../tests/e2e/lib/web.mjs';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const TARGET_FIRST_MS = 1000;
const TARGET_LOADED_MS = 3000;
const SCROLL_MS = 3000;

const dir = sharedDataDir('ct-chest-lidc');
if (!dir) {
  console.log('bench viewer: skipped: ../shared/data/ct-chest-lidc is absent');
  process.exit(0);
}
requireWebBuild();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await VoxelgateServer.start({ name: 'bench-viewer', args: [...webArgs, '--fsync', 'off'] });
let browser;
try {
  await server.createTenant('bench');
  await createUser(server, 'bench', 'rad', 'radiologist');
  const token = await server.createToken({ tenant: 'bench', name: 'bench-upload' });
  const files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => readFileSync(join(dir, f)));
  for (let i = 0; i < files.length; i += 50) {
    const r = await stow(server, token, files.slice(i, i + 50));
    if (r.res.status !== 200) throw new Error(`STOW failed: HTTP ${r.res.status} ${r.res.text().slice(0, 200)}`);
  }
  const studies = JSON.parse((await (await fetch(`${server.dicomweb}/studies`, { headers: { Authorization: `Bearer ${token}` } })).text()));
  const study = studies[0]['0020000D'].Value[0];

  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signInUi(page, server.baseUrl, 'rad');
  const url = `${server.baseUrl}/studies/${encodeURIComponent(study)}`;
  // One unmeasured open: the browser caches the app's own files, as it would for a user.
  await page.goto(url);
  await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout: 120_000 });

  const first = [];
  const loaded = [];
  for (let run = 0; run < RUNS; run++) {
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout: 120_000 });
    // Marks are relative to navigation start: app code, study metadata and pixels included.
    const marks = await page.evaluate(() => ({
      first: performance.getEntriesByName('vg:first-image')[0]?.startTime,
      loaded: performance.getEntriesByName('vg:volume-loaded')[0]?.startTime,
    }));
    if (run === 0) {
      const all = await page.evaluate(() => performance.getEntriesByType('mark').map((m) => `${m.name.replace('vg:', '')} ${m.startTime.toFixed(0)}`));
      console.log(`marks (ms from navigation start): ${all.join(', ')}`);
    }
    first.push(marks.first);
    loaded.push(marks.loaded);
    console.log(`run ${run + 1}: first image ${marks.first.toFixed(0)} ms, volume loaded ${marks.loaded.toFixed(0)} ms`);
  }

  // Scrolling: wheel events on the axial view, one per animation frame, for SCROLL_MS;
  // frames = images the viewport rendered. Once as opened (no segmentation shown), once
  // with the segmentation editor's labelmap in the views (after choosing the brush).
  const measureScroll = () => page.evaluate(async (ms) => {
    const el = document.querySelector('[data-viewport=axial]');
    const r = el.getBoundingClientRect();
    let rendered = 0;
    const onRender = () => rendered++;
    el.addEventListener('CORNERSTONE_IMAGE_RENDERED', onRender);
    const slices = new Set();
    let dir = 1;
    let lastSlice = null;
    const t0 = performance.now();
    await new Promise((resolve) => {
      const step = () => {
        if (performance.now() - t0 >= ms) return resolve();
        const s = document.querySelector('[data-testid=slice-axial]')?.dataset.slice;
        if (s === lastSlice && slices.size > 1) dir = -dir; // at an end: turn round
        lastSlice = s;
        slices.add(s);
        el.dispatchEvent(new WheelEvent('wheel', { deltaY: 100 * dir, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2, bubbles: true, cancelable: true }));
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    el.removeEventListener('CORNERSTONE_IMAGE_RENDERED', onRender);
    const seconds = (performance.now() - t0) / 1000;
    return { fps: rendered / seconds, slicesVisited: slices.size };
  }, SCROLL_MS);
  const scroll = await measureScroll();
  await page.click('button.tool[data-mode=brush]');
  await page.waitForSelector('button.tool.on[data-mode=brush]');
  await page.click('button.tool[data-mode=windowLevel]');
  const scrollSeg = await measureScroll();

  const summary = {
    series_slices: files.length,
    first_image_ms: Math.round(median(first)),
    volume_loaded_ms: Math.round(median(loaded)),
    scroll_fps: Number(scroll.fps.toFixed(1)),
    scroll_fps_with_segmentation: Number(scrollSeg.fps.toFixed(1)),
    runs: RUNS,
  };
  console.log(`viewer: first image ${summary.first_image_ms} ms (target < ${TARGET_FIRST_MS} ms) ${summary.first_image_ms < TARGET_FIRST_MS ? 'OK' : 'MISSED'}`);
  console.log(`viewer: full volume loaded ${summary.volume_loaded_ms} ms (target < ${TARGET_LOADED_MS} ms) ${summary.volume_loaded_ms < TARGET_LOADED_MS ? 'OK' : 'MISSED'}`);
  console.log(`viewer: scrolling ${summary.scroll_fps} frames/s (${scroll.slicesVisited} slices visited in ${SCROLL_MS / 1000} s); with a segmentation shown ${summary.scroll_fps_with_segmentation} frames/s`);
  console.log(JSON.stringify(summary));
} finally {
  await browser?.close();
  await server.dispose();
}
