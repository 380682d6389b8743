// Segmentations imported from other tools (issue 23): dcmqi's liver SEG, stored by STOW-RS
// beside the 3-slice CT it references, becomes a read-only version of that CT labelled with
// its origin; the viewer draws it where the server has the liver; an edit is saved as a new
// version whose parent is the imported one. A SEG with overlapping segments (layers) opens
// composited. And the clinic admin's "also send results as RTSTRUCT / overlay images"
// settings persist.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { uidsOf } from '../integration/lib/dicom.mjs';
import { stowOk } from '../integration/lib/dicomweb.mjs';
import { sharedDataDir } from '../integration/lib/env.mjs';
import { eventually } from '../integration/lib/fixture.mjs';
import { call, createUser, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { colourShare, openViewer, pixelDiff, pixelStats, shot, signInUi, useTool, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

const segData = sharedDataDir('seg-dcmqi');
const dataDir = segData && join(segData, 'segmentations');
const IMPORT_WAIT_MS = 60_000;

// The labels the server sends (raw bytes or a NIfTI-1 image, gzipped or not) as layers of
// nx*ny*nz voxels in its geometry's order.
function labelLayers(body, dims) {
  let b = body;
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  const n = dims[0] * dims[1] * dims[2];
  let offset = 0;
  let layers = b.length / n;
  if (b.length >= 352 && b.readInt32LE(0) === 348 && b.toString('latin1', 344, 347) === 'n+1') {
    const dim = Array.from({ length: 8 }, (_, i) => b.readInt16LE(40 + 2 * i));
    assert.deepEqual(dim.slice(1, 4), dims, 'the labels are on the series grid');
    assert.equal(b.readInt16LE(70), 2, 'uint8 labels');
    layers = dim[0] >= 4 ? dim[4] : 1;
    offset = Math.round(b.readFloatLE(108));
  }
  assert.ok(Number.isInteger(layers) && layers >= 1, `labels of ${b.length} bytes on a grid of ${n}`);
  return Array.from({ length: layers }, (_, l) => b.subarray(offset + l * n, offset + (l + 1) * n));
}

// Every layer of version `v`: from /labels, or, when that sends them flattened, from the
// stored NIfTI (4-D when the version has layers).
async function layersOf(server, who, v, dims) {
  const want = v.layers ?? 1;
  const sent = labelLayers((await call(server, who, 'GET', `/api/v1/segmentations/${v.id}/labels`)).body, dims);
  if (sent.length === want) return sent;
  const nifti = await call(server, who, 'GET', `/api/v1/segmentations/${v.id}/labels.nii.gz`);
  assert.equal(nifti.status, 200, nifti.text());
  const stored = labelLayers(nifti.body, dims);
  assert.equal(stored.length, want, `version ${v.id} has ${want} layers; /labels sent ${sent.length}, labels.nii.gz ${stored.length}`);
  return stored;
}

// Later layers over earlier ones, as the viewer shows them.
function composite(layers) {
  const out = Buffer.alloc(layers[0].length);
  for (const layer of layers) for (let i = 0; i < layer.length; i++) if (layer[i]) out[i] = layer[i];
  return out;
}

describe('browser app: segmentations imported from other tools', { skip: dataDir ? false : '../shared/data/seg-dcmqi is absent: imported SEGs are not tested' }, () => {
  let server;
  let browser;
  let page;
  let seen = [];
  let rad;
  let token;
  let ct; // {study, series} of the 3-slice CT
  let imported; // the liver SEG's version
  let editedId = null;

  // Polls the study's versions until one imported from the SEG `sop` is there.
  const importedVersion = (sop) => {
    let listed = [];
    const what = () => `the server to list an imported version of the CT for the SEG ${sop} within ${IMPORT_WAIT_MS / 1000} s ` +
      `(listed: ${JSON.stringify(listed.map((v) => ({ id: v.id, source: v.source, origin: v.origin })))})`;
    return eventually(what, async () => {
      const res = await call(server, rad, 'GET', `/api/v1/studies/${ct.study}/segmentations?series=${ct.series}`);
      assert.equal(res.status, 200, res.text());
      listed = res.json();
      return listed.find((v) => v.source === 'imported' && v.origin?.sop_uid === sop);
    }, IMPORT_WAIT_MS, 250);
  };

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-imported-seg', args: webArgs });
    await server.createTenant('clinic', 'St. Test Clinic');
    await createUser(server, 'clinic', 'rad1', 'radiologist');
    rad = await signIn(server, 'rad1');
    token = await server.createToken({ tenant: 'clinic', name: 'e2e-imported' });
    const slices = readdirSync(join(dataDir, 'ct-3slice')).filter((f) => f.endsWith('.dcm')).sort().map((f) => readFileSync(join(dataDir, 'ct-3slice', f)));
    const uids = uidsOf(slices[0]);
    ct = { study: uids.study, series: uids.series };
    await stowOk(server, token, slices);
    const liver = readFileSync(join(dataDir, 'liver.dcm'));
    await stowOk(server, token, [liver]);
    imported = await importedVersion(uidsOf(liver).sop);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    seen = watch(page, 'rad1');
    await signInUi(page, server.baseUrl, 'rad1');
  });

  after(async () => {
    if (seen.length) console.log(`page events:\n  ${seen.slice(-40).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  test('the SEG stored by STOW-RS is a read-only version of the CT it references, with its origin', () => {
    assert.equal(imported.source_series_uid, ct.series);
    assert.equal(imported.read_only, true);
    assert.equal(imported.layers, 1);
    assert.equal(imported.origin.format, 'SEG');
    assert.equal(imported.origin.manufacturer, 'QIICR');
    assert.equal(imported.origin.series_description, 'Liver Segmentation');
    assert.deepEqual(imported.segments.map((s) => s.name), ['Liver']);
  });

  test('the viewer lists it under "imported" with its origin and draws it where the liver is', async () => {
    await openViewer(page, server.baseUrl, ct.study, { series: ct.series });
    await page.selectOption('[data-testid=versions]', String(imported.id));
    const label = imported.segments[0].label;
    const segmentRow = `[data-testid=segments] li[data-label="${label}"]`;
    await page.waitForFunction((row) => Number(document.querySelector(row)?.dataset.voxels) > 0, segmentRow, { timeout: 20_000 });
    const origin = page.getByTestId('seg-version-origin');
    assert.equal(await origin.getAttribute('data-source'), 'imported');
    assert.match(await origin.textContent(), /^imported: SEG from QIICR\b/);
    assert.equal(await page.locator('[data-testid=versions] optgroup[label=imported] option:checked').getAttribute('value'), String(imported.id));
    assert.match(await page.textContent('[data-testid=seg-state]'), new RegExp(`Version ${imported.id}, imported: SEG from QIICR .*saving makes a new version`));

    // The viewer's voxel count is the server's.
    const geo = (await call(server, rad, 'GET', `/api/v1/series/${ct.series}/geometry`)).json();
    const labels = composite(await layersOf(server, rad, imported, geo.dims));
    const serverCount = labels.reduce((n, v) => n + (v === label ? 1 : 0), 0);
    assert.equal(Number(await page.getAttribute(segmentRow, 'data-voxels')), serverCount);

    // Where the liver is on screen: the axial view's screen-to-patient mapping, read from the
    // cursor readout at two points, and the slice shown.
    await page.click('button[title^="Show or hide the crosshairs"]');
    await page.waitForSelector('button[title^="Show or hide the crosshairs"][aria-pressed="false"]');
    const vp = await page.locator('[data-viewport=axial]').boundingBox();
    const worldAt = async (fx, fy) => {
      const x = vp.x + vp.width * fx;
      const y = vp.y + vp.height * fy;
      await page.mouse.move(x, y);
      const w = await eventually('the cursor readout', async () => {
        const s = await page.getAttribute('.vp[data-view=axial] [data-role=cursor]', 'data-world');
        const p = s?.split(',').map(Number);
        return p && (!last || Math.abs(p[0] - last[0]) + Math.abs(p[1] - last[1]) > 1e-6) && p;
      }, 10_000, 50);
      last = w;
      return { x, y, w };
    };
    let last = null;
    const a = await worldAt(0.3, 0.3);
    const b = await worldAt(0.7, 0.7);
    await page.mouse.move(0, 0);
    const sx = (b.x - a.x) / (b.w[0] - a.w[0]);
    const sy = (b.y - a.y) / (b.w[1] - a.w[1]);
    const d = geo.direction;
    const k = Math.round(((a.w[0] - geo.origin[0]) * d[6] + (a.w[1] - geo.origin[1]) * d[7] + (a.w[2] - geo.origin[2]) * d[8]) / geo.spacing[2]);
    assert.ok(k >= 0 && k < geo.dims[2], `slice ${k} shown`);

    // A liver voxel on that slice deep inside the liver (its 17 x 17 neighbourhood all liver),
    // nearest the liver's centre there.
    const [nx, ny] = geo.dims;
    const at = (i, j) => labels[k * nx * ny + j * nx + i] === label;
    let ci = 0;
    let cj = 0;
    let n = 0;
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (at(i, j)) (ci += i), (cj += j), n++;
    assert.ok(n > 0, `the server has liver on slice ${k}`);
    [ci, cj] = [ci / n, cj / n];
    let best = null;
    const R = 8;
    for (let j = R; j < ny - R; j++) {
      for (let i = R; i < nx - R; i++) {
        if (!at(i, j)) continue;
        const dist = (i - ci) ** 2 + (j - cj) ** 2;
        if (best && dist >= best.dist) continue;
        let inside = true;
        for (let dj = -R; dj <= R && inside; dj += 2) for (let di = -R; di <= R && inside; di += 2) inside = at(i + di, j + dj);
        if (inside) best = { i, j, dist };
      }
    }
    assert.ok(best, 'the liver has an inside');
    const world = [0, 1].map((ax) => geo.origin[ax] + best.i * geo.spacing[0] * d[ax] + best.j * geo.spacing[1] * d[3 + ax]);
    const px = a.x + (world[0] - a.w[0]) * sx;
    const py = a.y + (world[1] - a.w[1]) * sy;
    const half = Math.max(3, Math.floor((R * geo.spacing[0] * Math.min(Math.abs(sx), Math.abs(sy))) / 2));
    const clip = { x: Math.round(px - half), y: Math.round(py - half), width: 2 * half, height: 2 * half };
    assert.ok(clip.x > vp.x && clip.y > vp.y && clip.x + clip.width < vp.x + vp.width && clip.y + clip.height < vp.y + vp.height, `the liver patch ${JSON.stringify(clip)} is in the view ${JSON.stringify(vp)}`);

    // Coloured there with the segment shown, grey with it hidden.
    const patch = () => page.screenshot({ clip });
    const shown = await eventually('the liver overlay to be drawn', async () => {
      const png = await patch();
      return (await colourShare(page, png)) > 0.8 && png;
    }, 20_000, 200);
    await shot(page.locator('[data-testid=viewer]'), 'imported-seg.png');
    const eye = page.locator(`${segmentRow} input[aria-label=Visible]`);
    await eye.uncheck();
    const hidden = await eventually('the liver overlay to be hidden', async () => {
      const png = await patch();
      return (await colourShare(page, png)) < 0.05 && png;
    }, 20_000, 200);
    const stats = await pixelStats(page, shown);
    assert.ok(stats.mean > 20, `the overlay is not dark: ${JSON.stringify(stats)}`);
    assert.ok((await pixelDiff(page, shown, hidden)) > 10, 'the overlay changes the pixels');
    await eye.check();
    await page.click('button[title^="Show or hide the crosshairs"]');
  });

  test('an edit of the imported version is saved as a new version whose parent it is', async () => {
    const label = imported.segments[0].label;
    const before = Number(await page.getAttribute(`[data-testid=segments] li[data-label="${label}"]`, 'data-voxels'));
    await useTool(page, 'brush', 'b');
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    // Outside the liver (the right of the image is the patient's left): voxels are added.
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.84, box.y + box.height * 0.5, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(([row, n]) => Number(document.querySelector(row)?.dataset.voxels) > n, [`[data-testid=segments] li[data-label="${label}"]`, before], { timeout: 10_000 });
    assert.equal(await page.getAttribute('[data-testid=seg-panel]', 'data-dirty'), 'true');
    await page.click('[data-testid=seg-save]');
    await page.waitForFunction(() => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId, null, { timeout: 20_000 });
    editedId = Number(await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id'));
    assert.notEqual(editedId, imported.id);

    const edited = (await call(server, rad, 'GET', `/api/v1/segmentations/${editedId}`)).json();
    assert.equal(edited.parent_id, imported.id);
    assert.equal(edited.source, 'manual');
    assert.notEqual(edited.read_only, true);
    assert.deepEqual(edited.segments.map((s) => s.name), ['Liver']);
    const still = (await call(server, rad, 'GET', `/api/v1/segmentations/${imported.id}`)).json();
    const facts = (v) => ({ read_only: v.read_only, seg_sop_uid: v.seg_sop_uid, segments: v.segments, origin: v.origin });
    assert.deepEqual(facts(still), facts(imported), 'the imported version is unchanged');
    assert.match(await page.getByTestId('seg-version-origin').textContent(), /^voxelgate · rad1/);
    assert.match(await page.textContent('[data-testid=seg-state]'), new RegExp(`Version ${editedId} by rad1, edited from version ${imported.id} \\(imported: SEG`));
    assert.equal(await page.locator(`[data-testid=versions] optgroup[label=voxelgate] option[value="${editedId}"]`).count(), 1);
    assert.equal(await page.locator(`[data-testid=versions] optgroup[label=imported] option[value="${imported.id}"]`).count(), 1);
  });

  test('a SEG whose segments overlap (layers) opens composited, with a notice', async () => {
    const file = readFileSync(join(dataDir, 'partial_overlaps.dcm'));
    await stowOk(server, token, [file]);
    const layered = await importedVersion(uidsOf(file).sop);
    assert.ok(layered.layers > 1, `layers: ${layered.layers}`);
    assert.equal(layered.segments.length, 5);
    for (const s of layered.segments) assert.ok(s.layer >= 0 && s.layer < layered.layers, JSON.stringify(s));
    const geo = (await call(server, rad, 'GET', `/api/v1/series/${ct.series}/geometry`)).json();
    const flat = composite(await layersOf(server, rad, layered, geo.dims));

    const errorsBefore = seen.filter((l) => /pageerror/.test(l)).length;
    await page.goto(`${server.baseUrl}/studies/${encodeURIComponent(ct.study)}?series=${encodeURIComponent(ct.series)}&seg=${layered.id}`);
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    const notice = page.getByTestId('seg-overlap-notice');
    await notice.waitFor();
    assert.equal(await notice.getAttribute('data-layers'), String(layered.layers));
    assert.match(await notice.textContent(), /overlap.*saved as a new version without the overlaps/s);
    assert.match(await page.getByTestId('seg-version-origin').textContent(), /^imported: SEG from QIICR/);
    // Every segment listed, each with the voxels it has in the composite (later layers on top).
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=segments] li[data-label]').length === n && [...document.querySelectorAll('[data-testid=segments] li[data-label]')].some((li) => Number(li.dataset.voxels) > 0), layered.segments.length, { timeout: 20_000 });
    for (const s of layered.segments) {
      const want = flat.reduce((n, v) => n + (v === s.label ? 1 : 0), 0);
      assert.equal(Number(await page.getAttribute(`[data-testid=segments] li[data-label="${s.label}"]`, 'data-voxels')), want, `segment ${s.name}`);
    }
    assert.equal(await page.locator('.toast.error').count(), 0, 'no error shown');
    assert.equal(seen.filter((l) => /pageerror/.test(l)).length, errorsBefore, 'no page error');
    await shot(page.locator('[data-testid=viewer]'), 'imported-seg-overlaps.png');
  });
});

describe('browser app: algorithm results also as RTSTRUCT and overlay images (clinic settings)', () => {
  let server;
  let browser;
  let page;
  let seen = [];

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-result-forms', args: webArgs });
    await server.createTenant('clinic', 'St. Test Clinic');
    await createUser(server, 'clinic', 'admin1', 'clinic_admin');
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    seen = watch(page, 'admin1');
    await signInUi(page, server.baseUrl, 'admin1');
  });

  after(async () => {
    if (seen.length) console.log(`page events:\n  ${seen.slice(-40).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  const KEYS = ['results_as_rtstruct', 'results_as_overlay'];
  const box = (key) => page.getByTestId(`setting-${key}`);

  // Clicks a setting's checkbox and waits for the server's answer to its PATCH.
  async function toggle(key) {
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/tenant/settings' && r.request().method() === 'PATCH');
    await box(key).click();
    const res = await answer;
    assert.equal(res.status(), 200, `PATCH ${key}: ${await res.text()}`);
    await page.waitForSelector(`[data-testid=setting-${key}]:not([disabled])`);
  }

  test('both checkboxes, with their explanation, persist across a reload', async () => {
    await page.goto(`${server.baseUrl}/settings`);
    await box(KEYS[0]).waitFor();
    await page.getByLabel('Also send algorithm results as an RT structure set').waitFor();
    await page.getByLabel('Also send algorithm results as overlay images (secondary capture)').waitFor();
    for (const key of KEYS) {
      assert.equal(await box(key).isChecked(), false, `${key} is off at first`);
      assert.match(await page.locator(`#vg-setting-${key}`).textContent(), /PACS viewers that cannot show a DICOM SEG/);
    }
    for (const key of KEYS) await toggle(key);
    await page.reload();
    await box(KEYS[0]).waitFor();
    for (const key of KEYS) assert.equal(await box(key).isChecked(), true, `${key} is on after a reload`);
    const admin = await signIn(server, 'admin1');
    const settings = (await call(server, admin, 'GET', '/api/v1/tenant')).json().settings;
    assert.equal(settings.results_as_rtstruct, true);
    assert.equal(settings.results_as_overlay, true);

    await toggle('results_as_overlay');
    await page.reload();
    await box(KEYS[0]).waitFor();
    assert.equal(await box('results_as_rtstruct').isChecked(), true);
    assert.equal(await box('results_as_overlay').isChecked(), false, 'switched off, and stays off');
  });
});
