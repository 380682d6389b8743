// Issue 11, Cornerstone3D: a viewer on another origin loads a series through /dicomweb with
// a bearer token, as OHIF does. The page (lib/cross_origin_page, built with web/'s Vite and
// Cornerstone3D) is served by a small server of its own on another port; voxelgate allows
// that origin with --cors-origin. The browser's preflights and requests are read through the
// DevTools protocol, so the test sees the headers that crossed the wire.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_OCTET, makeSeries, stowOk } from '../integration/lib/dicomweb.mjs';
import { makeTempDir } from '../integration/lib/env.mjs';
import { eventually } from '../integration/lib/fixture.mjs';
import { parseMultipart } from '../integration/lib/multipart.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { shot } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { buildPage, servePage } from './lib/cross_origin.mjs';

const ROWS = 48;
const COLS = 64;

// The page's exchanges with voxelgate, by DevTools request id: method, path, type, the
// request and response headers as sent (names lowercased), status, CORS error.
async function recordExchanges(page, serverUrl) {
  const byId = new Map();
  const entry = (id) => byId.get(id) ?? byId.set(id, { id, requestHeaders: {} }).get(id);
  const lower = (h) => Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Network.requestWillBeSent', (e) => {
    if (!e.request.url.startsWith(serverUrl)) return;
    Object.assign(entry(e.requestId), { method: e.request.method, path: new URL(e.request.url).pathname, ours: true });
  });
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => Object.assign(entry(e.requestId).requestHeaders, lower(e.headers)));
  cdp.on('Network.responseReceived', (e) => {
    Object.assign(entry(e.requestId), { type: e.type, status: e.response.status, responseHeaders: lower(e.response.headers) });
  });
  cdp.on('Network.loadingFailed', (e) => Object.assign(entry(e.requestId), { failed: e.errorText, corsError: e.corsErrorStatus?.corsError }));
  await cdp.send('Network.enable');
  const ours = () => [...byId.values()].filter((x) => x.ours);
  return {
    preflights: () => ours().filter((x) => x.method === 'OPTIONS'),
    requests: () => ours().filter((x) => x.method !== 'OPTIONS'),
  };
}

// DevTools events may come after the page has seen the outcome: wait for them.
const reported = (what, fn) => eventually(what, fn, 30_000, 50);

const headerList = (v) => (v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

describe('a viewer on another origin loads a series through /dicomweb with a bearer token (CORS)', () => {
  let server;
  let browser;
  let viewerSite; // the origin voxelgate allows
  let foreignSite; // the same page on an origin it does not
  let token;
  let series;

  before(async () => {
    const dist = makeTempDir('cross-origin-page');
    await buildPage(dist);
    viewerSite = await servePage(dist);
    foreignSite = await servePage(dist);
    server = await VoxelgateServer.start({ name: 'e2e-cross-origin', args: ['--cors-origin', viewerSite.origin] });
    await server.createTenant('clinic');
    const writer = await server.createToken({ tenant: 'clinic', scopes: ['dicomweb:write'] });
    token = await server.createToken({ tenant: 'clinic', scopes: ['dicomweb:read'] });
    series = await makeSeries({ slices: 3, rows: ROWS, cols: COLS, seed: 11 });
    await stowOk(server, writer, series.instances.map((i) => i.bytes));
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
    await viewerSite?.close();
    await foreignSite?.close();
  });

  async function openPage(site) {
    const page = await browser.newPage({ viewport: { width: 400, height: 400 } });
    const seen = { console: [], frames: [] };
    page.on('console', (m) => m.type() === 'error' && seen.console.push(m.text()));
    page.on('pageerror', (e) => seen.console.push(`pageerror: ${e.message}`));
    page.on('response', (r) => r.url().includes('/frames/') && seen.frames.push(r));
    const exchanges = await recordExchanges(page, server.baseUrl);
    await page.goto(`${site.origin}/`);
    await page.waitForFunction(() => typeof window.loadSeries === 'function');
    const load = (bearer = token) => page.evaluate((c) => window.loadSeries(c), { base: server.baseUrl, bearer, study: series.study_uid });
    return { page, seen, exchanges, load };
  }

  test("Cornerstone's WADO-RS loader on the allowed origin: preflights pass, metadata and frames arrive, the image is drawn", async () => {
    const { page, seen, exchanges, load } = await openPage(viewerSite);
    try {
      const got = await load();

      assert.deepEqual(got.series, [series.series_uid]);
      assert.equal(got.instances, 3);
      assert.deepEqual([got.rows, got.columns, got.bitsAllocated], [ROWS, COLS, 16]);
      assert.equal(got.image.rows, ROWS);
      assert.equal(got.image.columns, COLS);
      assert.equal(got.image.pixels, ROWS * COLS);
      assert.ok(got.image.max > got.image.min, `decoded pixels are uniform: ${JSON.stringify(got.image)}`);
      assert.ok(got.canvas.distinct >= 20 && got.canvas.std > 5, `the viewport's canvas looks blank: ${JSON.stringify(got.canvas)}`);
      await shot(page.locator('#view'), 'cross-origin-viewer.png');

      // What the page asked for, all with the token, all answered for this origin.
      const prefix = `/dicomweb/studies/${series.study_uid}/series`;
      const requests = exchanges.requests();
      await reported('every answer to be reported', () => requests.every((r) => r.status || r.failed));
      const qido = requests.find((r) => r.path === prefix);
      const metadata = requests.find((r) => r.path === `${prefix}/${series.series_uid}/metadata`);
      const frames = requests.filter((r) => r.path.endsWith('/frames/1'));
      assert.ok(qido && metadata && frames.length >= 1, `requests seen: ${requests.map((r) => r.path).join(', ')}`);
      assert.equal(qido.requestHeaders.accept, 'application/dicom+json');
      assert.equal(metadata.requestHeaders.accept, 'application/dicom+json');
      for (const f of frames) {
        assert.match(f.path, new RegExp(`^${prefix}/${series.series_uid}/instances/[0-9.]+/frames/1$`));
        assert.equal(f.requestHeaders.accept, ACCEPT_OCTET);
      }
      for (const r of requests) {
        assert.equal(r.requestHeaders.authorization, `Bearer ${token}`, r.path);
        assert.equal(r.requestHeaders.origin, viewerSite.origin, r.path);
        assert.equal(r.status, 200, `${r.path}: HTTP ${r.status}`);
        assert.equal(r.responseHeaders['access-control-allow-origin'], viewerSite.origin, r.path);
        assert.match(r.responseHeaders.vary ?? '', /\bOrigin\b/i, r.path);
        assert.equal(r.failed, undefined, `${r.path}: ${r.failed} ${r.corsError ?? ''}`);
      }

      // Every request forced a preflight (Authorization; the quoted Accept too), and each
      // answer allowed this origin, GET and exactly the headers asked for.
      const preflights = exchanges.preflights();
      assert.ok(preflights.length >= 3, `${preflights.length} preflights`);
      for (const p of preflights) {
        const asked = headerList(p.requestHeaders['access-control-request-headers']);
        assert.equal(p.requestHeaders['access-control-request-method'], 'GET');
        assert.equal(p.requestHeaders.origin, viewerSite.origin);
        assert.equal(p.type, 'Preflight');
        assert.ok(p.status >= 200 && p.status < 300, `OPTIONS ${p.path}: HTTP ${p.status}`);
        const h = p.responseHeaders;
        assert.equal(h['access-control-allow-origin'], viewerSite.origin, `OPTIONS ${p.path}`);
        assert.ok(headerList(h['access-control-allow-methods']).includes('get'), h['access-control-allow-methods']);
        const allowed = headerList(h['access-control-allow-headers']);
        for (const name of asked) assert.ok(allowed.includes(name), `OPTIONS ${p.path}: '${name}' asked, allowed: ${h['access-control-allow-headers']}`);
        assert.ok(asked.includes('authorization'), `OPTIONS ${p.path} asked for ${asked}`);
      }
      const framePreflight = preflights.find((p) => p.path.endsWith('/frames/1'));
      assert.ok(framePreflight, 'no preflight for the frame');
      assert.deepEqual(headerList(framePreflight.requestHeaders['access-control-request-headers']).sort(), ['accept', 'authorization']);

      // The frame itself: one part of rows × columns × 2 bytes (16-bit, uncompressed).
      assert.ok(seen.frames.length >= 1, 'no frame response seen by the page');
      const frame = seen.frames[0];
      const parts = parseMultipart(await frame.body(), frame.headers()['content-type']);
      assert.equal(parts.length, 1);
      assert.equal(parts[0].body.length, ROWS * COLS * 2);
      assert.match(parts[0].headers['content-type'] ?? '', /^application\/octet-stream/);
      assert.deepEqual(seen.console, []);
    } finally {
      await page.close();
    }
  });

  test('a wrong token on the allowed origin: the page reads the 401, not a CORS error', async () => {
    const { page, load } = await openPage(viewerSite);
    try {
      await assert.rejects(load('not-a-token'), /HTTP 401 from \/dicomweb\/studies\//);
    } finally {
      await page.close();
    }
  });

  test('the same page on an origin not in --cors-origin is refused by the browser: a CORS error, no data', async () => {
    const { page, seen, exchanges, load } = await openPage(foreignSite);
    try {
      await assert.rejects(load(), /Failed to fetch/);
      assert.ok(seen.console.some((m) => /blocked by CORS policy/.test(m)), `console: ${seen.console.join(' | ')}`);

      const [preflight, ...more] = exchanges.preflights();
      assert.equal(more.length, 0, 'the page went on after its first refusal');
      assert.equal(preflight.requestHeaders.origin, foreignSite.origin);
      assert.equal(preflight.responseHeaders?.['access-control-allow-origin'], undefined, 'voxelgate allowed an origin it was not given');
      const [qido, ...others] = exchanges.requests();
      assert.equal(others.length, 0);
      await reported('the refused QIDO request to be reported', () => qido.failed);
      assert.equal(qido.status, undefined, 'the QIDO request got an answer into the page');
      assert.equal(qido.corsError, 'PreflightMissingAllowOriginHeader');
      assert.equal(seen.frames.length, 0);
    } finally {
      await page.close();
    }
  });
});
