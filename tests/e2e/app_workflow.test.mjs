// The browser app end to end, against the real server serving the built app (issue 6):
// sign in, upload, view in three planes, window presets, scrolling, paint and save a
// segmentation, reload and find it (in the page and in the server's SEG), tags and status
// that persist, and another clinic that sees none of it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { makeSeries, qido, TAGS, first } from '../integration/lib/dicomweb.mjs';
import { makeTempDir, sharedDataDir } from '../integration/lib/env.mjs';
import { call, createUser, passwordOf, signIn } from '../integration/lib/people.mjs';
import { VoxelgateServer } from '../integration/lib/server.mjs';
import { eventually } from '../integration/lib/fixture.mjs';
import { openViewer, overlaysAndLinesShown, pixelDiff, pixelStats, settledShot, shot, signInUi, sliceOf, useTool, watch } from './lib/app.mjs';
import { launch } from './lib/browser.mjs';
import { requireWebBuild, webArgs } from './lib/web.mjs';

const VIEWS = ['axial', 'sagittal', 'coronal'];

describe('browser app: upload, view, segment, tag', () => {
  let server;
  let browser;
  let page;
  let seen = [];
  let series; // the synthetic CT
  let token;
  let savedId = null;
  let paintedWorld = null;

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-app', args: webArgs });
    await server.createTenant('clinic');
    await createUser(server, 'clinic', 'rad1', 'radiologist');
    token = await server.createToken({ tenant: 'clinic', name: 'e2e-reader', scopes: ['dicomweb:read'] });
    series = await makeSeries({ slices: 40, rows: 128, cols: 128, patientName: 'E2E^PATIENT', patientId: 'E2E001', seed: 3 });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    seen = watch(page, 'rad1');
  });

  after(async () => {
    const csp = seen.filter((l) => /Content Security Policy|Refused to/i.test(l));
    if (csp.length) console.log(`CSP violations:\n  ${csp.join('\n  ')}`);
    if (seen.length) console.log(`page events:\n  ${seen.slice(-40).join('\n  ')}`);
    await browser?.close();
    await server?.dispose();
  });

  test('1. sign in: a wrong password is refused with a message, then the user and role are shown', async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.waitForSelector('form.login');
    await page.fill('input[name=username]', 'rad1');
    await page.fill('input[name=password]', 'not the password at all');
    await page.click('form.login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('[data-testid=login-error]')?.textContent?.length > 0);
    assert.match(await page.textContent('[data-testid=login-error]'), /wrong username or password/i);
    await signInUi(page, server.baseUrl, 'rad1');
    const who = await page.textContent('[data-testid=who]');
    assert.match(who, /rad1/);
    assert.match(who, /radiologist/);
  });

  test('2. upload: a synthetic CT (non-DICOM skipped), then again (nothing changes)', async () => {
    const junk = join(makeTempDir('e2e-junk'), 'notes.txt');
    writeFileSync(junk, 'not a DICOM file\n'.repeat(20));
    await page.goto(`${server.baseUrl}/upload`);
    await page.setInputFiles('[data-testid=file-input]', [...series.files, junk]);
    await page.waitForSelector('[data-testid=uploaded-study]', { timeout: 60_000 });
    assert.match(await page.textContent('[data-testid=skipped]'), /notes\.txt/);
    assert.match(await page.textContent('[data-testid=upload-progress]'), /40 of 40 files/);
    assert.equal(await page.locator('[data-testid=failures] li').count(), 0, await page.textContent('[data-testid=failures]'));
    await shot(page.locator('main'), 'upload-synthetic.png');
    const stored = await qido(server, token, `/studies/${series.study_uid}/series/${series.series_uid}/instances`);
    assert.equal(stored.length, 40);

    // The same files again: every batch succeeds and the archive holds the same.
    await page.goto(`${server.baseUrl}/upload`);
    await page.setInputFiles('[data-testid=file-input]', series.files);
    await page.waitForSelector('[data-testid=uploaded-study]', { timeout: 60_000 });
    assert.equal(await page.locator('[data-testid=failures] li').count(), 0);
    assert.equal((await qido(server, token, `/studies/${series.study_uid}/series/${series.series_uid}/instances`)).length, 40);
    assert.equal((await qido(server, token, '/studies')).length, 1);
  });

  test('2a. upload: files dropped on the page', async () => {
    await page.goto(`${server.baseUrl}/upload`);
    // The page renders after its script runs: the drop zone must be there before the drop.
    await page.waitForSelector('[data-testid=dropzone]');
    const files = [
      { name: 'a.dcm', b64: series.instances[0].bytes.toString('base64') },
      { name: 'b.dcm', b64: series.instances[1].bytes.toString('base64') },
      { name: 'readme.md', b64: Buffer.from('# not DICOM\n'.repeat(30)).toString('base64') },
    ];
    await page.evaluate((list) => {
      const dt = new DataTransfer();
      for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
      const zone = document.querySelector('[data-testid=dropzone]');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, files);
    await page.waitForSelector('[data-testid=uploaded-study]', { timeout: 30_000 });
    assert.match(await page.textContent('[data-testid=upload-progress]'), /2 of 2 files/);
    assert.match(await page.textContent('[data-testid=skipped]'), /readme\.md/);
  });

  test('2b. upload: the 275-slice chest CT from shared data', async (t) => {
    const dir = sharedDataDir('ct-chest-lidc');
    if (!dir) return t.skip('../shared/data/ct-chest-lidc is absent: the real CT upload is not tested');
    const files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => join(dir, f));
    await page.goto(`${server.baseUrl}/upload`);
    await page.setInputFiles('[data-testid=file-input]', files);
    await page.waitForSelector('[data-testid=uploaded-study]', { timeout: 180_000 });
    assert.match(await page.textContent('[data-testid=upload-progress]'), new RegExp(`${files.length} of ${files.length} files`));
    assert.equal(await page.locator('[data-testid=failures] li').count(), 0, await page.textContent('[data-testid=failures]'));
    const studies = await qido(server, token, '/studies?includefield=00201208');
    const lidc = studies.find((s) => first(s, TAGS.StudyInstanceUID) !== series.study_uid);
    assert.ok(lidc, 'the chest CT study is listed');
    assert.equal(Number(first(lidc, TAGS.NumberOfStudyRelatedInstances)), files.length);
  });

  test('2c. upload: per-file failures carry the server reason, and a failed batch can be retried', async () => {
    // A different object under a stored SOP Instance UID: the server refuses it (0x0111).
    const dir = makeTempDir('e2e-conflict');
    const changed = Buffer.from(series.instances[0].bytes);
    changed[changed.length - 1] ^= 0xff; // a pixel changes, the UIDs do not
    const conflicting = join(dir, 'changed-slice.dcm');
    writeFileSync(conflicting, changed);
    await page.goto(`${server.baseUrl}/upload`);
    await page.setInputFiles('[data-testid=file-input]', [conflicting]);
    await page.waitForSelector('[data-testid=failures] li', { timeout: 30_000 });
    const failure = await page.textContent('[data-testid=failures] li');
    assert.match(failure, /changed-slice\.dcm/);
    assert.match(failure, /0x0111/);

    // A batch the server does not answer properly fails as a whole, then goes through on retry.
    let refused = 0;
    await page.route('**/dicomweb/studies', async (route) => {
      if (route.request().method() === 'POST' && refused === 0) {
        refused++;
        return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'storage is busy' } }) });
      }
      return route.continue();
    });
    await page.goto(`${server.baseUrl}/upload`);
    await page.setInputFiles('[data-testid=file-input]', series.files.slice(0, 3));
    const failedBatch = page.locator('[data-testid=batches] li[data-state=failed]');
    await failedBatch.waitFor({ timeout: 30_000 });
    assert.match(await failedBatch.textContent(), /storage is busy/);
    await failedBatch.locator('button', { hasText: 'Retry' }).click();
    await page.waitForSelector('[data-testid=batches] li[data-state=done]', { timeout: 30_000 });
    assert.equal(refused, 1);
    await page.unroute('**/dicomweb/studies');
  });

  test('3. viewer: each of the three views shows an image with non-uniform pixels', async () => {
    await openViewer(page, server.baseUrl, series.study_uid, { series: series.series_uid });
    assert.match(await page.textContent('[data-testid=load-text]'), /40 images/);
    // Overlays and crosshair lines off: the pixels measured are the image's own.
    await page.keyboard.press('o');
    await page.keyboard.press('x');
    await overlaysAndLinesShown(page, false);
    for (const v of VIEWS) {
      const png = await settledShot(page.locator(`[data-viewport=${v}]`), `viewer-${v}.png`);
      const s = await pixelStats(page, png);
      assert.ok(s.distinct >= 20 && s.std > 8, `${v} view looks uniform: ${JSON.stringify(s)}`);
    }
    await page.keyboard.press('o');
    await page.keyboard.press('x');
    await shot(page.locator('body'), 'viewer-page.png');
  });

  test('4. a window preset changes the rendered pixels', async () => {
    await page.keyboard.press('o');
    await page.keyboard.press('x');
    await overlaysAndLinesShown(page, false);
    const before = await settledShot(page.locator('[data-viewport=axial]'));
    await page.click('button[data-preset=lung]');
    await page.waitForFunction(() => /W 1500\s+L -600/.test(document.querySelector('[data-testid=wl-axial]')?.textContent ?? ''));
    const after = await settledShot(page.locator('[data-viewport=axial]'), 'viewer-axial-lung.png');
    const diff = await pixelDiff(page, before, after);
    assert.ok(diff > 2, `the lung preset changed the axial view by only ${diff.toFixed(2)} grey levels on average`);
    await page.click('button[data-preset=mediastinum]');
    await page.keyboard.press('o');
    await page.keyboard.press('x');
  });

  test('5. scrolling changes the slice number', async () => {
    const start = await sliceOf(page, 'axial');
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 5; i++) await page.mouse.wheel(0, 120);
    await page.waitForFunction((s) => Number(document.querySelector('[data-testid=slice-axial]')?.dataset.slice) !== s, start);
    const afterWheel = await sliceOf(page, 'axial');
    assert.notEqual(afterWheel, start);
    await page.keyboard.press('ArrowUp');
    await page.waitForFunction((s) => Number(document.querySelector('[data-testid=slice-axial]')?.dataset.slice) !== s, afterWheel);
    assert.equal(Math.abs((await sliceOf(page, 'axial')) - afterWheel), 1);
  });

  test('6. paint a brush stroke on a known slice and save it', async () => {
    await page.waitForSelector('[data-testid=seg-panel]');
    const slice = await sliceOf(page, 'axial');
    await useTool(page, 'brush', 'b');
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    // A point in the body, off the centre lines: a short horizontal stroke.
    const x = box.x + box.width * 0.42;
    const y = box.y + box.height * 0.62;
    await page.mouse.move(x, y);
    await page.waitForFunction(() => document.querySelector('[data-viewport=axial]')?.parentElement?.querySelector('[data-role=cursor]')?.dataset.world);
    paintedWorld = (await page.getAttribute('.vp[data-view=axial] [data-role=cursor]', 'data-world')).split(',').map(Number);
    await page.mouse.down();
    await page.mouse.move(x + 3, y, { steps: 3 });
    await page.mouse.up();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > 0, null, { timeout: 10_000 });
    assert.equal(await sliceOf(page, 'axial'), slice, 'painting does not move the slice');
    await shot(page.locator('[data-viewport=axial]'), 'viewer-painted.png');
    await page.click('[data-testid=seg-save]');
    await page.waitForFunction(() => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId, null, { timeout: 20_000 });
    savedId = Number(await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id'));
    assert.ok(savedId > 0);
    assert.equal(await page.getAttribute('[data-testid=seg-panel]', 'data-dirty'), 'false');
  });

  test('7. after a reload the stroke is there, and the server SEG has it at the painted place', async () => {
    assert.ok(savedId, 'step 6 saved a segmentation');
    await page.reload();
    await page.waitForSelector('[data-testid=viewer][data-ready=true]', { timeout: 60_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > 0, null, { timeout: 20_000 });
    await shot(page.locator('body'), 'viewer-reloaded.png');

    const rad = await signIn(server, 'rad1');
    const geo = (await call(server, rad, 'GET', `/api/v1/series/${series.series_uid}/geometry`)).json();
    const res = await call(server, rad, 'GET', `/api/v1/segmentations/${savedId}/labels`);
    assert.equal(res.status, 200, res.text());
    let labels = res.body;
    if (labels[0] === 0x1f && labels[1] === 0x8b) labels = gunzipSync(labels);
    const [nx, ny, nz] = geo.dims;
    assert.equal(labels.length, nx * ny * nz);
    // Painted voxels, in patient coordinates.
    const d = geo.direction;
    const world = (i, j, k) => [0, 1, 2].map((a) => geo.origin[a] + i * geo.spacing[0] * d[a] + j * geo.spacing[1] * d[3 + a] + k * geo.spacing[2] * d[6 + a]);
    let n = 0;
    const sum = [0, 0, 0];
    const ks = new Set();
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++)
          if (labels[k * nx * ny + j * nx + i] === 1) {
            n++;
            ks.add(k);
            world(i, j, k).forEach((v, a) => (sum[a] += v));
          }
    assert.ok(n > 0, 'the saved SEG has painted voxels');
    const centre = sum.map((v) => v / n);
    // The stroke is one slice thick, on the slice under the cursor ...
    const kPainted = [...ks];
    const kExpected = Math.round(((paintedWorld[0] - geo.origin[0]) * d[6] + (paintedWorld[1] - geo.origin[1]) * d[7] + (paintedWorld[2] - geo.origin[2]) * d[8]) / geo.spacing[2]);
    assert.deepEqual(kPainted, [kExpected], `painted slices ${kPainted} vs the slice under the cursor ${kExpected}`);
    // ... and its centre is within one voxel (plus the stroke's own few pixels) of the point painted.
    const inPlane = (a) => Math.abs(centre[a] - paintedWorld[a]);
    const strokeMm = 3 * (geo.spacing[0] * nx) / (await page.locator('[data-viewport=axial]').boundingBox()).width;
    assert.ok(inPlane(0) <= geo.spacing[0] + strokeMm, `x: SEG centre ${centre[0].toFixed(2)} vs painted ${paintedWorld[0]}`);
    assert.ok(inPlane(1) <= geo.spacing[1] + strokeMm, `y: SEG centre ${centre[1].toFixed(2)} vs painted ${paintedWorld[1]}`);
    assert.ok(Math.abs(centre[2] - paintedWorld[2]) <= geo.spacing[2], `z: SEG centre ${centre[2].toFixed(2)} vs painted ${paintedWorld[2]}`);
    // The SEG is an ordinary series of the study.
    const segSeries = await qido(server, token, `/studies/${series.study_uid}/series?Modality=SEG`);
    assert.equal(segSeries.length, 1);
  });

  test('7b. undo and redo a stroke; leaving with unsaved changes asks first', async () => {
    const count = () => page.getAttribute('[data-testid=segments] li[data-label="1"]', 'data-voxels').then(Number);
    const before = await count();
    await useTool(page, 'brush', 'b');
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6 + 4, box.y + box.height * 0.3, { steps: 2 });
    await page.mouse.up();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > n, before);
    assert.equal(await page.getAttribute('[data-testid=seg-panel]', 'data-dirty'), 'true');

    // Leaving asks; dismissing keeps the page and the changes.
    let asked = 0;
    let dismissed = null;
    const dismiss = (d) => {
      asked++;
      dismissed = d.dismiss();
    };
    page.on('dialog', dismiss);
    await page.click('.viewer-toolbar a.back');
    await eventually('the question before leaving', () => asked > 0, 30_000, 50);
    await dismissed;
    page.off('dialog', dismiss);
    assert.equal(asked, 1, 'a confirmation was asked');
    // Asked in the page's click handler: once the page has answered this, the handler that
    // would have navigated has run.
    assert.match(await page.evaluate(() => location.pathname), /\/studies\//);

    await page.keyboard.press('Control+z');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) === n, before);
    await page.keyboard.press('Control+y');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > n, before);
    await page.keyboard.press('Control+z');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) === n, before);
    // The help panel lists the shortcuts.
    await page.keyboard.press('?');
    await page.waitForSelector('[data-testid=help]');
    assert.match(await page.textContent('[data-testid=help]'), /Undo/);
    await page.keyboard.press('Escape');
    // Accepting leaves (and drops the changes); back to the viewer for the next step.
    page.once('dialog', (d) => void d.accept());
    await page.click('.viewer-toolbar a.back');
    await page.waitForSelector('[data-testid=worklist]');
    await openViewer(page, server.baseUrl, series.study_uid, { series: series.series_uid });
  });

  test('8. a tag and the status "done" persist after a reload', async () => {
    await page.waitForSelector('[data-testid=annotations]');
    await page.fill('[data-testid=tag-input]', 'e2e follow-up');
    await page.press('[data-testid=tag-input]', 'Enter');
    await page.waitForSelector('[data-testid=tags] [data-tag="e2e follow-up"]', { timeout: 10_000 });
    // A vocabulary tag (added to the vocabulary on the way) on the series.
    await page.fill('[data-testid=tag-input]', 'nodule');
    await page.selectOption('[data-testid=tag-kind]', 'vocabulary');
    await page.selectOption('select[name=scope]', 'series');
    await page.click('[data-testid=tag-add]');
    await page.waitForSelector('[data-testid=tags] [data-tag="nodule"].series', { timeout: 10_000 });
    const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname.endsWith('/status'));
    await page.selectOption('[data-testid=status]', 'done');
    const answer = await saved;
    assert.equal(answer.status(), 200, 'the status was saved');
    assert.equal(await page.textContent('[data-testid=annotation-error]'), '');
    await page.reload();
    await page.waitForSelector('[data-testid=tags] [data-tag="e2e follow-up"]', { timeout: 20_000 });
    await page.waitForSelector('[data-testid=tags] [data-tag="nodule"]');
    assert.equal(await page.inputValue('[data-testid=status]'), 'done');
    // The worklist shows both.
    await page.goto(`${server.baseUrl}/`);
    const row = page.locator(`tr[data-study="${series.study_uid}"]`);
    await row.waitFor({ timeout: 20_000 });
    assert.match(await row.textContent(), /e2e follow-up/);
    assert.match(await row.textContent(), /Done/);
    assert.match(await row.textContent(), /nodule/);
    // Filtering by the vocabulary tag is done by the server.
    await page.fill('input[name=tag]', 'nodule');
    await page.press('input[name=tag]', 'Enter');
    await page.waitForFunction(() => /tag=nodule/.test(location.search));
    await page.waitForSelector(`tr[data-study="${series.study_uid}"]`);
    assert.equal(await page.locator('tr[data-study]').count(), 1);
    await shot(page.locator('body'), 'worklist.png');
  });

  test('no Content-Security-Policy violation in the whole session', () => {
    const csp = seen.filter((l) => /Content Security Policy|Refused to (load|execute|compile|create|connect|apply)/i.test(l));
    assert.deepEqual(csp, []);
  });

  test('9. another clinic: the study is not in its list and its viewer URL is "not found"', async () => {
    await server.createTenant('other');
    await createUser(server, 'other', 'rad-other', 'radiologist');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const other = await ctx.newPage();
    watch(other, 'rad-other');
    await signInUi(other, server.baseUrl, 'rad-other');
    await other.waitForSelector('[data-testid=worklist-state]');
    await other.waitForFunction(() => !/Loading/.test(document.querySelector('[data-testid=worklist-state]').textContent));
    assert.doesNotMatch(await other.textContent('[data-testid=worklist-state]'), /could not/, await other.textContent('[data-testid=worklist-state]'));
    assert.equal(await other.locator(`tr[data-study="${series.study_uid}"]`).count(), 0);
    await other.goto(`${server.baseUrl}/studies/${series.study_uid}`);
    await other.waitForSelector('[data-testid=not-found]', { timeout: 20_000 });
    assert.match(await other.textContent('[data-testid=not-found]'), /not found/i);
    await shot(other.locator('body'), 'other-clinic-not-found.png');
    await ctx.close();
  });
});

describe('browser app: a stroke on the real chest CT lands where it was painted', () => {
  // The LIDC files are shuffled and the viewer sorts slices its own way: the labels the
  // server stores must still be at the painted place (slices matched by position).
  let server;
  let browser;
  const dir = sharedDataDir('ct-chest-lidc');

  before(async () => {
    if (!dir) return;
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-lidc', args: webArgs });
    await server.createTenant('clinic');
    await createUser(server, 'clinic', 'rad1', 'radiologist');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  test('paint, save, and compare with the server SEG', async (t) => {
    if (!dir) return t.skip('../shared/data/ct-chest-lidc is absent');
    const rad = await signIn(server, 'rad1');
    const { multipartBody } = await import('../integration/lib/multipart.mjs');
    const files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => readFileSync(join(dir, f)));
    for (let i = 0; i < files.length; i += 60) {
      const { body, contentType } = multipartBody(files.slice(i, i + 60));
      const res = await call(server, rad, 'POST', '/dicomweb/studies', { body, headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' } });
      assert.equal(res.status, 200, res.text());
    }
    const studies = (await call(server, rad, 'GET', '/dicomweb/studies', { headers: { Accept: 'application/dicom+json' } })).json();
    const study = first(studies[0], TAGS.StudyInstanceUID);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const seen = watch(page, 'lidc');
    try {
      await signInUi(page, server.baseUrl, 'rad1');
      await openViewer(page, server.baseUrl, study, { timeout: 120_000 });
      // Away from the middle slice, so that a reversed slice order would show.
      const box = await page.locator('[data-viewport=axial]').boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const start = await sliceOf(page, 'axial');
      for (let i = 0; i < 12; i++) await page.mouse.wheel(0, 120);
      // One slice a wheel step: the view has moved when it is 12 slices away.
      await page.waitForFunction((s) => Math.abs(Number(document.querySelector('[data-testid=slice-axial]')?.dataset.slice) - s) === 12, start);
      await useTool(page, 'brush', 'b');
      const x = box.x + box.width * 0.35;
      const y = box.y + box.height * 0.45;
      await page.mouse.move(x, y);
      await page.waitForFunction(() => document.querySelector('.vp[data-view=axial] [data-role=cursor]')?.dataset.world);
      const painted = (await page.getAttribute('.vp[data-view=axial] [data-role=cursor]', 'data-world')).split(',').map(Number);
      await page.mouse.down();
      await page.mouse.move(x + 2, y, { steps: 2 });
      await page.mouse.up();
      await page.waitForFunction(() => Number(document.querySelector('[data-testid=segments] li[data-label="1"]')?.dataset.voxels) > 0, null, { timeout: 10_000 });
      await page.click('[data-testid=seg-save]');
      await page.waitForFunction(() => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId, null, { timeout: 60_000 });
      const id = Number(await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id'));
      await shot(page.locator('body'), 'lidc-painted.png');

      const series = first((await call(server, rad, 'GET', `/dicomweb/studies/${study}/series?Modality=CT`, { headers: { Accept: 'application/dicom+json' } })).json()[0], TAGS.SeriesInstanceUID);
      const geo = (await call(server, rad, 'GET', `/api/v1/series/${series}/geometry`)).json();
      const res = await call(server, rad, 'GET', `/api/v1/segmentations/${id}/labels`);
      let labels = res.body;
      if (labels[0] === 0x1f && labels[1] === 0x8b) labels = gunzipSync(labels);
      const [nx, ny, nz] = geo.dims;
      const d = geo.direction;
      const ks = new Set();
      const sum = [0, 0];
      let n = 0;
      for (let k = 0; k < nz; k++)
        for (let j = 0; j < ny; j++)
          for (let i = 0; i < nx; i++)
            if (labels[k * nx * ny + j * nx + i] === 1) {
              ks.add(k);
              sum[0] += i;
              sum[1] += j;
              n++;
            }
      assert.ok(n > 0);
      const rel = [0, 1, 2].map((a) => painted[a] - geo.origin[a]);
      const along = (o) => rel[0] * d[o] + rel[1] * d[o + 1] + rel[2] * d[o + 2];
      const expected = { i: along(0) / geo.spacing[0], j: along(3) / geo.spacing[1], k: along(6) / geo.spacing[2] };
      assert.deepEqual([...ks], [Math.round(expected.k)], `painted slice(s) ${[...ks]} vs ${expected.k.toFixed(2)} under the cursor`);
      const strokeVoxels = (2 * nx * geo.spacing[0]) / box.width / geo.spacing[0];
      assert.ok(Math.abs(sum[0] / n - expected.i) <= 1 + strokeVoxels, `column ${(sum[0] / n).toFixed(2)} vs ${expected.i.toFixed(2)}`);
      assert.ok(Math.abs(sum[1] / n - expected.j) <= 1, `row ${(sum[1] / n).toFixed(2)} vs ${expected.j.toFixed(2)}`);
    } finally {
      if (seen.length) console.log(`lidc page events:\n  ${seen.slice(-20).join('\n  ')}`);
      await page.close();
    }
  });
});

describe('browser app: segmentation tools and versions', () => {
  let server;
  let browser;
  let page;
  let s;
  const voxels = (label) => page.getAttribute(`[data-testid=segments] li[data-label="${label}"]`, 'data-voxels').then(Number);
  // Waits until segment `label` has voxels within [min, max] (the page's CSP forbids eval).
  const waitVoxels = (label, min, max = min) =>
    page.waitForFunction(
      ([l, lo, hi]) => {
        const n = Number(document.querySelector(`[data-testid=segments] li[data-label="${l}"]`)?.dataset.voxels);
        return n >= lo && n <= hi;
      },
      [label, min, max],
      { timeout: 10_000 },
    );

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-tools', args: webArgs });
    await server.createTenant('clinic');
    await createUser(server, 'clinic', 'rad1', 'radiologist');
    s = await makeSeries({ slices: 12, rows: 128, cols: 128, seed: 8 });
    const rad = await signIn(server, 'rad1');
    const { multipartBody } = await import('../integration/lib/multipart.mjs');
    const { body, contentType } = multipartBody(s.instances.map((i) => i.bytes));
    assert.equal((await call(server, rad, 'POST', '/dicomweb/studies', { body, headers: { 'Content-Type': contentType } })).status, 200);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInUi(page, server.baseUrl, 'rad1');
    await openViewer(page, server.baseUrl, s.study_uid);
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  const stroke = async (from, to) => {
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    await page.mouse.move(box.x + box.width * from[0], box.y + box.height * from[1]);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * to[0], box.y + box.height * to[1], { steps: 8 });
    await page.mouse.up();
  };

  test('the threshold brush paints only voxels in its HU range', async () => {
    // Across the edge of the left "lung" (-850 HU) into the body (40 HU).
    await useTool(page, 'brush');
    await stroke([0.3, 0.5], [0.2, 0.5]);
    await waitVoxels(1, 1, Infinity);
    const plain = await voxels(1);
    await page.keyboard.press('Control+z');
    await waitVoxels(1, 0);
    await page.fill('input[name=hu-min]', '-1000');
    await page.fill('input[name=hu-max]', '-500');
    await page.press('input[name=hu-max]', 'Enter');
    await useTool(page, 'threshold');
    await stroke([0.3, 0.5], [0.2, 0.5]);
    await waitVoxels(1, 1, Infinity);
    const limited = await voxels(1);
    assert.ok(limited < plain * 0.9, `threshold stroke ${limited} voxels vs plain ${plain}`);
  });

  test('fill on a slice, undone and redone', async () => {
    await page.click('[data-testid=seg-add]');
    await page.waitForSelector('[data-testid=segments] li[data-label="2"].active');
    await useTool(page, 'fill');
    const box = await page.locator('[data-viewport=axial]').boundingBox();
    await page.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.45);
    await waitVoxels(2, 1001, Infinity);
    const filled = await voxels(2);
    await page.keyboard.press('Control+z');
    await waitVoxels(2, 0);
    await page.keyboard.press('Control+y');
    await waitVoxels(2, filled);
  });

  test('versions: save twice, open the first again', async () => {
    await page.click('[data-testid=seg-save]');
    await page.waitForFunction(() => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId);
    const first = await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id');
    const v1 = { 1: await voxels(1), 2: await voxels(2) };
    await page.keyboard.press('Control+z'); // the fill goes
    await waitVoxels(2, 0);
    await page.click('[data-testid=seg-save]');
    await page.waitForFunction((f) => document.querySelector('[data-testid=seg-panel]')?.dataset.savedId !== f, first);
    assert.equal(await page.locator('[data-testid=versions] option[value]:not([value=""])').count(), 2);
    const second = await page.getAttribute('[data-testid=seg-panel]', 'data-saved-id');
    const v2 = (await call(server, await signIn(server, 'rad1'), 'GET', `/api/v1/segmentations/${second}`)).json();
    assert.deepEqual(v2.segments.map((x) => x.label), [1], 'the emptied segment is not part of the new version');
    assert.equal(v2.parent_id, Number(first));
    await page.selectOption('[data-testid=versions]', first);
    await waitVoxels(2, v1[2]);
    assert.equal(await voxels(1), v1[1]);
    assert.match(await page.textContent('[data-testid=seg-state]'), new RegExp(`Version ${first}\\b`));
  });

  test('a change the server refuses is shown, and the view shows what is stored', async () => {
    await page.route('**/api/v1/studies/*/status', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'the catalog is busy' } }) }));
    await page.selectOption('[data-testid=status]', 'reviewed');
    await page.waitForFunction(() => /the catalog is busy/.test(document.querySelector('[data-testid=annotation-error]')?.textContent ?? ''));
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.value === 'todo');
    await page.unroute('**/api/v1/studies/*/status');
  });
});

describe('browser app: roles', () => {
  let server;
  let browser;

  before(async () => {
    requireWebBuild();
    server = await VoxelgateServer.start({ name: 'e2e-roles', args: webArgs });
    await server.createTenant('clinic');
    await createUser(server, 'clinic', 'doc1', 'physician');
    await createUser(server, 'provider', 'vendor1', 'provider_support');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  test('a vendor user sees no clinic worklist, with a clear message', async () => {
    const page = await browser.newPage();
    await signInUi(page, server.baseUrl, 'vendor1');
    await page.waitForSelector('[data-testid=no-worklist]');
    assert.match(await page.textContent('[data-testid=no-worklist]'), /support grant/);
    await page.close();
  });

  test('a physician views segmentations but cannot edit them while the clinic does not allow it', async () => {
    const s = await makeSeries({ slices: 8, rows: 64, cols: 64, seed: 5 });
    const doc = await signIn(server, 'doc1');
    const { multipartBody } = await import('../integration/lib/multipart.mjs');
    const { body, contentType } = multipartBody(s.instances.map((i) => i.bytes));
    const res = await call(server, doc, 'POST', '/dicomweb/studies', { body, headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' } });
    assert.equal(res.status, 200, res.text());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInUi(page, server.baseUrl, 'doc1');
    await openViewer(page, server.baseUrl, s.study_uid);
    await page.waitForSelector('[data-testid=seg-panel]');
    assert.match(await page.textContent('[data-testid=seg-panel]'), /view only|cannot edit|not edit/i);
    assert.equal(await page.locator('[data-testid=seg-save]').count(), 0);
    await page.close();
  });

  test('a physician edits segmentations once the clinic allows it', async () => {
    await createUser(server, 'clinic', 'admin1', 'clinic_admin');
    const admin = await signIn(server, 'admin1');
    const res = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { physicians_edit_segmentations: true } });
    assert.equal(res.status, 200, res.text());
    const s = await makeSeries({ slices: 6, rows: 64, cols: 64, seed: 6 });
    const { multipartBody } = await import('../integration/lib/multipart.mjs');
    const { body, contentType } = multipartBody(s.instances.map((i) => i.bytes));
    assert.equal((await call(server, admin, 'POST', '/dicomweb/studies', { body, headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' } })).status, 200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInUi(page, server.baseUrl, 'doc1');
    await openViewer(page, server.baseUrl, s.study_uid);
    assert.equal(await page.locator('[data-testid=seg-save]').count(), 1);
    assert.doesNotMatch(await page.textContent('[data-testid=seg-panel]'), /view only/);
    await page.close();
  });

  test('a new user with a one-time password must choose a new one first', async () => {
    const admin = await signIn(server, 'admin1');
    const res = await call(server, admin, 'POST', '/api/v1/users', { json: { username: 'newrad', role: 'radiologist' } });
    assert.equal(res.status, 201, res.text());
    const once = res.json().one_time_password;
    assert.ok(once);
    const page = await browser.newPage();
    await page.goto(`${server.baseUrl}/login`);
    await page.fill('input[name=username]', 'newrad');
    await page.fill('input[name=password]', once);
    await page.click('form.login button[type=submit]');
    await page.waitForFunction(() => location.pathname === '/password');
    await page.fill('input[name=current]', once);
    await page.fill('input[name=new]', 'a brand new long password');
    await page.fill('input[name=again]', 'a brand new long password');
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('[data-testid=worklist-state]');
    assert.match(await page.textContent('[data-testid=who]'), /newrad/);
    // Sign out, and in again with the new password.
    await page.click('[data-testid=sign-out]');
    await page.waitForSelector('form.login');
    await signInUi(page, server.baseUrl, 'newrad', 'a brand new long password');
    await page.close();
  });

  test('vendor support reads a clinic under its support grant, read only', async () => {
    const admin = await signIn(server, 'admin1');
    const g = await call(server, admin, 'POST', '/api/v1/support-grants', { json: { support_user: 'vendor1', study_uid: '', hours: 2, reason: 'e2e ticket 42' } });
    assert.equal(g.status, 201, g.text());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const seen = watch(page, 'vendor1');
    await signInUi(page, server.baseUrl, 'vendor1');
    const open = page.locator('[data-testid=support-grants] button[data-tenant=clinic]');
    await open.waitFor({ timeout: 10_000 });
    await open.click();
    await page.waitForSelector('[data-testid=support-banner]');
    const row = page.locator('tr[data-study]').first();
    await row.waitFor({ timeout: 10_000 });
    assert.ok((await page.locator('tr[data-study]').count()) >= 1, 'the clinic worklist is shown');
    await row.click();
    await page.waitForSelector('[data-testid=mpr][data-loaded=true]', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=viewer][data-ready=true]');
    assert.equal(await page.locator('[data-testid=seg-save]').count(), 0, 'no editing under a support grant');
    assert.equal(await page.locator('[data-testid=tag-input]').count(), 0, 'no tagging under a support grant');
    assert.equal(await page.isDisabled('[data-testid=status]'), true);
    assert.deepEqual(seen.filter((l) => /HTTP 40[13]/.test(l)), []);
    await page.close();
  });

  test('sign-in throttling shows the delay', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.baseUrl}/login`);
    let msg = '';
    for (let i = 0; i < 8 && !/try again in/i.test(msg); i++) {
      await page.fill('input[name=username]', 'doc1');
      await page.fill('input[name=password]', `wrong password ${i}`);
      await page.waitForSelector('form.login button[type=submit]:not([disabled])', { timeout: 20_000 });
      await page.click('form.login button[type=submit]');
      await page.waitForFunction(() => document.querySelector('[data-testid=login-error]')?.textContent?.length > 0);
      msg = await page.textContent('[data-testid=login-error]');
    }
    assert.match(msg, /too many failed sign-ins\. try again in \d+ s/i);
    assert.equal(await page.isDisabled('form.login button[type=submit]'), true);
    await page.close();
  });
});
