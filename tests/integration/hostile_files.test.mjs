// Hostile files against the real server, from one clinic's valid token, while another
// clinic (beta) keeps being served: a STOW part nesting sequences 40,000 levels deep and a
// deflate bomb part (each fails alone, the rest of the batch is stored), Rows/Columns sent
// as UL (every pixel read 422), NRRD sizes whose product passes 2^64 (it used to end the
// process) and gzip-bomb NIfTI files through the MONAI Label upload and the segmentation
// label upload (refused, with the server's peak memory measured). Afterwards the server is
// healthy and beta's instances are unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_DICOM, get, makeSeries, qido, sortedUids, stow, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { assertHealthy } from './lib/fixture.mjs';
import { bearer, request } from './lib/http.mjs';
import { answered, assertClinicUntouched, deflateBombInstance, withManyValuedDecimals, formData, gzipBomb, metricsText, niftiHeader, nrrd, otherClinicIsServed, sample, startClinics, withDeepSequence, withRowsColumnsUL } from './lib/hostile.mjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

// An upload and, at the same time, the other clinic's own work; returns the upload's answer.
async function duringOtherClinic(server, tokens, clinic, what, attack) {
  const [res, served] = await Promise.all([attack(), otherClinicIsServed(server, tokens.beta, clinic, what)]);
  return { res, served };
}

// ErrorComment (0000,0902) of each FailedSOPSequence item: the readable reason.
function failureComments(json) {
  return (json?.[TAGS.FailedSOPSequence]?.Value ?? []).map((item) => item['00000902']?.Value?.[0] ?? '');
}

function errorMessage(res) {
  const j = res.json();
  return j.detail ?? j.error?.message ?? '';
}

describe('hostile DICOM in a STOW-RS batch', () => {
  let server;
  let tokens;
  let clinic;
  before(async () => {
    ({ server, tokens, clinic } = await startClinics('hostile-stow-parts', { seed: 7401 }));
  });
  after(async () => {
    await server?.dispose();
  });

  test('a part nesting sequences 40,000 levels deep fails alone with a reason; the other parts are stored', { timeout: 120_000 }, async (t) => {
    const s = await makeSeries({ slices: 3, rows: 32, cols: 32, patientId: 'PIDMALLORY1', seed: 7402 });
    const deep = withDeepSequence(s.instances[1].bytes, 40_000);
    const failuresBefore = sample(await metricsText(server), 'voxelgate_ingest_failures_total');
    const { res: r, served } = await duringOtherClinic(server, tokens, clinic, 'a deeply nested STOW part',
      () => stow(server, tokens.mallory, [s.instances[0].bytes, deep, s.instances[2].bytes]));
    t.diagnostic(`other clinic during the upload: ${JSON.stringify(served.timings)}; STOW answered ${r.res.status}: ${JSON.stringify(r.failed)} ${failureComments(r.json)}`);
    assert.equal(r.res.status, 202, r.res.text().slice(0, 400));
    assert.equal(r.failed.length, 1, `FailedSOPSequence: ${JSON.stringify(r.failed)}`);
    assert.equal(r.failed[0].uid, s.instances[1].sop, 'the failed item names the nested instance');
    assert.equal(typeof r.failed[0].reason, 'number', 'FailureReason (0008,1197) is a US number');
    assert.match(failureComments(r.json)[0], /nest|deep|level/i, `the ErrorComment says why: ${failureComments(r.json)[0]}`);
    assert.deepEqual([...r.stored].sort(), [s.instances[0].sop, s.instances[2].sop].sort());
    assert.ok(sample(await metricsText(server), 'voxelgate_ingest_failures_total') >= failuresBefore + 1, 'voxelgate_ingest_failures_total counts the refusal');
    const found = await qido(server, tokens.mallory, `/studies/${s.study_uid}/instances`);
    assert.deepEqual(sortedUids(found, TAGS.SOPInstanceUID), [s.instances[0].sop, s.instances[2].sop].sort());
    assert.equal((await get(server, tokens.mallory, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[1].sop}`, ACCEPT_DICOM)).status, 404);
    for (const i of [s.instances[0], s.instances[2]]) {
      const [got] = await wadoParts(server, tokens.mallory, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${i.sop}`);
      assert.ok(got.equals(i.bytes), 'the good parts are stored as sent');
    }
    await assertHealthy(server, 'a deeply nested part');
    await assertClinicUntouched(server, tokens.beta, clinic, 'a deeply nested part');
  });

  test('a Deflated Explicit VR part inflating to 1.25 GiB fails alone with a reason; the server\'s memory is measured', { timeout: 120_000 }, async (t) => {
    const s = await makeSeries({ slices: 2, rows: 32, cols: 32, patientId: 'PIDMALLORY2', seed: 7403 });
    const bomb = deflateBombInstance(s.instances[1].bytes, 1280 * MiB);
    assert.ok(bomb.length < 2 * MiB, `the bomb is small on the wire (${bomb.length} bytes)`);
    const hwmBefore = server.procStatusKb('VmHWM');
    const failuresBefore = sample(await metricsText(server), 'voxelgate_ingest_failures_total');
    const { res: r, served } = await duringOtherClinic(server, tokens, clinic, 'a deflate bomb STOW part',
      () => stow(server, tokens.mallory, [s.instances[0].bytes, bomb]));
    const hwmAfter = server.procStatusKb('VmHWM');
    t.diagnostic(`deflate bomb: ${bomb.length} bytes on the wire, 1.25 GiB inflated; server VmHWM ${(hwmBefore / 1024).toFixed(0)} -> ${(hwmAfter / 1024).toFixed(0)} MB; other clinic: ${JSON.stringify(served.timings)}; failed ${JSON.stringify(r.failed)} ${failureComments(r.json)}`);
    assert.equal(r.res.status, 202, r.res.text().slice(0, 400));
    assert.equal(r.failed.length, 1, `FailedSOPSequence: ${JSON.stringify(r.failed)}`);
    assert.equal(r.failed[0].uid, s.instances[1].sop, 'the failed item names the bomb (from its file meta)');
    assert.equal(typeof r.failed[0].reason, 'number');
    assert.match(failureComments(r.json)[0], /inflat|decompress/i, `the ErrorComment says why: ${failureComments(r.json)[0]}`);
    assert.deepEqual(r.stored, [s.instances[0].sop]);
    assert.ok(sample(await metricsText(server), 'voxelgate_ingest_failures_total') >= failuresBefore + 1, 'voxelgate_ingest_failures_total counts the refusal');
    const [got] = await wadoParts(server, tokens.mallory, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[0].sop}`);
    assert.ok(got.equals(s.instances[0].bytes));
    // The refusal comes at the inflation ceiling (1 GiB), so the peak stays below what a
    // full inflation would need.
    assert.ok(hwmAfter < 2.5 * 1024 * 1024, `peak RSS ${(hwmAfter / 1024).toFixed(0)} MB after a 1.25 GiB deflate bomb`);
    await assertHealthy(server, 'a deflate bomb part');
    await assertClinicUntouched(server, tokens.beta, clinic, 'a deflate bomb part');
  });

  test('an instance of 20 decimal strings of 32,767 values each is stored at once, its metadata whole, while the other clinic is served', { timeout: 120_000 }, async (t) => {
    // DCMTK 3.6.7 writes such an element to JSON in time quadratic in its values (11 s for
    // one of 32,000): 20 of them held a core for minutes. Now one pass each.
    const s = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDMALLORY5', seed: 7405 });
    const many = withManyValuedDecimals(s.instances[0].bytes, { elements: 20, values: 32_767 });
    const started = Date.now();
    const { res: r, served } = await duringOtherClinic(server, tokens, clinic, 'an instance of many-valued decimals',
      () => stow(server, tokens.mallory, [many], { timeoutMs: 90_000 }));
    t.diagnostic(`STOW of ${many.length} bytes: ${r.res.status} in ${Date.now() - started} ms; other clinic: ${JSON.stringify(served.timings)}`);
    assert.equal(r.res.status, 200, r.res.text().slice(0, 400));
    const metadata = await get(server, tokens.mallory, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[0].sop}/metadata`, 'application/dicom+json');
    assert.equal(metadata.status, 200);
    const item = metadata.json()[0];
    for (let e = 0; e < 20; ++e) {
      const tag = `0011${(0x1010 + e).toString(16).toUpperCase()}`;
      assert.equal(item[tag]?.vr, 'DS', tag);
      assert.equal(item[tag].Value.length, 32_767, tag);
      assert.equal(item[tag].Value[32_766], 6, tag);
    }
    await assertHealthy(server, 'many-valued decimals');
    await assertClinicUntouched(server, tokens.beta, clinic, 'many-valued decimals');
  });

  test('Rows/Columns sent with VR UL (Rows 65552: 16 as a wrapped US): every pixel read of those instances answers 422 naming VR US', { timeout: 120_000 }, async (t) => {
    const s = await makeSeries({ slices: 3, rows: 16, cols: 16, patientId: 'PIDMALLORY4', seed: 7404 });
    const r = await stow(server, tokens.mallory, s.instances.map((i) => withRowsColumnsUL(i.bytes, 65536 + 16, 16)));
    t.diagnostic(`STOW of 3 instances with UL Rows/Columns: ${r.res.status}, failed ${JSON.stringify(r.failed)} ${failureComments(r.json)}`);
    assert.ok([200, 409].includes(r.res.status), `stored as sent, or refused whole: HTTP ${r.res.status}`);
    if (r.res.status === 200) {
      const base = `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[0].sop}`;
      const reads = [
        [`/api/v1/series/${s.series_uid}/volume.nii.gz`, undefined],
        [`/dicomweb${base}/frames/1`, 'multipart/related; type="application/octet-stream"'],
        [`/dicomweb${base}/rendered`, 'image/png'],
        [`/dicomweb${base}/thumbnail`, 'image/jpeg'],
      ];
      const answers = await Promise.all([
        ...reads.map(([path, accept]) => request(server.baseUrl, { path, headers: { ...bearer(tokens.mallory), ...(accept ? { Accept: accept } : {}) }, timeoutMs: 60_000 })),
        otherClinicIsServed(server, tokens.beta, clinic, 'pixel reads of UL Rows/Columns'),
      ]);
      reads.forEach(([path], k) => {
        const res = answers[k];
        assert.equal(res.status, 422, `${path}: HTTP ${res.status} ${res.text().slice(0, 200)}`);
        assert.match(errorMessage(res), /Rows.*Columns.*US/, path);
      });
    }
    await assertHealthy(server, 'UL Rows/Columns');
    await assertClinicUntouched(server, tokens.beta, clinic, 'UL Rows/Columns');
  });
});

describe('hostile image files: NRRD sizes past 2^64, gzip-bomb NIfTI', () => {
  let server;
  let tokens;
  let clinic;
  let hwmAtStart;
  before(async () => {
    ({ server, tokens, clinic } = await startClinics('hostile-image-files', { seed: 7501 }));
    hwmAtStart = server.procStatusKb('VmHWM');
  });
  after(async () => {
    await server?.dispose();
  });

  const upload = (image, filename, data) => {
    const { body, contentType } = formData({ params: '{"client_id":"mallory"}' }, { file: { filename, data } });
    return request(server.baseUrl, { method: 'PUT', path: `/monailabel/datastore/?image=${encodeURIComponent(image)}`, headers: { ...bearer(tokens.mallory), 'Content-Type': contentType }, body, timeoutMs: 120_000 });
  };
  const uploadLabel = (image, filename, data) => {
    const { body, contentType } = formData({ params: '{"client_id":"mallory"}' }, { label: { filename, data } });
    return request(server.baseUrl, { method: 'PUT', path: `/monailabel/datastore/label?image=${encodeURIComponent(image)}`, headers: { ...bearer(tokens.mallory), 'Content-Type': contentType }, body, timeoutMs: 120_000 });
  };

  test('NRRD sizes whose product passes 2^64: a clear 4xx from the MONAI Label image and label uploads, and the server stays up', { timeout: 120_000 }, async (t) => {
    const counted = async () => (await answered(server, 'monailabel_upload', 400)) + (await answered(server, 'monailabel_upload', 413)) +
      (await answered(server, 'monailabel_label', 400)) + (await answered(server, 'monailabel_label', 413));
    const before = await counted();
    for (const sizes of ['4294967296 4294967296 4294967296', '1073741824 1073741824 1073741824', '2097152 2097152 4']) {
      const { res, served } = await duringOtherClinic(server, tokens, clinic, `a NRRD of sizes ${sizes}`, () => upload(`overflow-${sizes.split(' ')[0]}`, 'overflow.nrrd', nrrd(sizes)));
      t.diagnostic(`image upload, sizes ${sizes}: ${res.status} ${errorMessage(res)}; other clinic ${JSON.stringify(served.timings)}`);
      assert.ok([400, 413, 422].includes(res.status), `sizes ${sizes}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
      assert.match(errorMessage(res), /NRRD.*(size|voxel)/i, 'the answer says what is wrong');
      await assertHealthy(server, `a NRRD of sizes ${sizes}`);
    }
    // A real image, then labels for it whose sizes overflow.
    const ok = await upload('mallory-small', 'small.nrrd', nrrd('16 16 4', Buffer.alloc(16 * 16 * 4, 7)));
    assert.equal(ok.status, 200, `a well-formed NRRD is accepted: ${ok.text().slice(0, 300)}`);
    for (const sizes of ['4294967296 4294967296 4294967296', '1073741824 1073741824 1073741824']) {
      const res = await uploadLabel('mallory-small', 'label.nrrd', nrrd(sizes));
      t.diagnostic(`label upload, sizes ${sizes}: ${res.status} ${errorMessage(res)}`);
      assert.ok([400, 413, 422].includes(res.status), `label sizes ${sizes}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
      assert.match(errorMessage(res), /NRRD.*(size|voxel)/i);
      await assertHealthy(server, `a NRRD label of sizes ${sizes}`);
    }
    assert.equal(await counted(), before + 5, 'voxelgate_http_requests_total counts the five refusals (400/413) of the upload routes');
    await assertClinicUntouched(server, tokens.beta, clinic, 'NRRD size overflows');
  });

  test('gzip-bomb NIfTI (2 GiB of zeros in 2 MB; a grid of 32767^3): refused or cut at the declared grid, and the peak RSS stays bounded', { timeout: 120_000 }, async (t) => {
    // A 16x16x4 grid followed by 2 GiB of zeros: only the declared grid may be read.
    const small = gzipBomb(niftiHeader([16, 16, 4]), 2 * GiB);
    assert.ok(small.length < 3 * MiB, `${small.length} bytes`);
    const { res: a, served } = await duringOtherClinic(server, tokens, clinic, 'a gzip bomb NIfTI', () => upload('bomb-small-grid', 'bomb.nii.gz', small));
    t.diagnostic(`small grid + 2 GiB of zeros (${small.length} bytes): ${a.status} ${a.text().slice(0, 200)}; other clinic ${JSON.stringify(served.timings)}`);
    if (a.status === 200) {
      // Accepted: exactly the declared 4 slices were made, nothing of the trailing zeros.
      const found = await qido(server, tokens.mallory, `/instances?SeriesInstanceUID=${a.json().series_uid}`);
      assert.equal(found.length, 4, 'the declared 16x16x4 grid, no more');
    } else {
      assert.ok([413, 422].includes(a.status), `HTTP ${a.status} ${a.text().slice(0, 300)}`);
    }
    // A header declaring 32767^3 voxels (3.5e13): refused before anything is sized.
    const refusedBefore = (await answered(server, 'monailabel_upload', 413)) + (await answered(server, 'segmentations_create', 413)) + (await answered(server, 'segmentations_create', 422));
    const huge = gzipBomb(niftiHeader([32767, 32767, 32767]), 1 * GiB);
    const b = await upload('bomb-huge-grid', 'bomb.nii.gz', huge);
    t.diagnostic(`32767^3 grid + 1 GiB of zeros: ${b.status} ${errorMessage(b)}`);
    assert.ok([413, 422].includes(b.status), `HTTP ${b.status} ${b.text().slice(0, 300)}`);
    assert.match(errorMessage(b), /voxels|limit/i);
    // The same through the segmentation label upload of a stored series.
    const s = await makeSeries({ slices: 4, rows: 16, cols: 16, patientId: 'PIDMALLORY3', seed: 7502 });
    await stowOk(server, tokens.mallory, s.instances.map((i) => i.bytes));
    for (const [what, labels] of [['32767^3 grid', huge], ['16x16x4 uint8 + 2 GiB', gzipBomb(niftiHeader([16, 16, 4], { datatype: 2, bitpix: 8 }), 2 * GiB)]]) {
      const form = new FormData();
      form.append('meta', JSON.stringify({ segments: [{ label: 1, name: 'Bomb' }] }));
      form.append('labels', new Blob([labels]), 'labels.nii.gz');
      const req = new Request('http://localhost/', { method: 'POST', body: form });
      const res = await request(server.baseUrl, {
        method: 'POST', path: `/api/v1/series/${s.series_uid}/segmentations`,
        headers: { ...bearer(tokens.mallory), 'Content-Type': req.headers.get('content-type') }, body: Buffer.from(await req.arrayBuffer()), timeoutMs: 120_000,
      });
      t.diagnostic(`segmentation labels, ${what}: ${res.status} ${res.text().slice(0, 200)}`);
      if (what.startsWith('32767')) {
        // Refused before anything is inflated or sized: it cannot be on this series' grid.
        assert.equal(res.status, 400, `segmentation labels ${what}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
        assert.match(res.text(), /larger than the series' grid/);
      } else {
        // Exactly the declared 16x16x4 is read and the zeros after it never are: a refusal,
        // or a version on the grid.
        assert.ok([201, 400, 413, 422].includes(res.status), `segmentation labels ${what}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
      }
    }
    const refusedAfter = (await answered(server, 'monailabel_upload', 413)) + (await answered(server, 'segmentations_create', 413)) + (await answered(server, 'segmentations_create', 422));
    assert.ok(refusedAfter >= refusedBefore + 1, 'voxelgate_http_requests_total counts the refusals');
    const hwm = server.procStatusKb('VmHWM');
    t.diagnostic(`server VmHWM ${(hwmAtStart / 1024).toFixed(0)} MB at start, ${(hwm / 1024).toFixed(0)} MB after the bombs`);
    assert.ok(hwm - hwmAtStart < 256 * 1024, `peak RSS grew by ${((hwm - hwmAtStart) / 1024).toFixed(0)} MB for a few MB of uploads`);
    await assertHealthy(server, 'gzip bombs');
    await assertClinicUntouched(server, tokens.beta, clinic, 'gzip bombs');
  });
});

// The most memory a small upload can make the server use: a gzip NIfTI declaring the
// largest grid an image upload accepts (2^27 voxels, 512x512x512) as float64. Its voxels
// are inflated 8 MiB at a time and kept as float (4 bytes a voxel, 512 MiB), the series
// made one slice at a time: docs/limits.md states 4 bytes a voxel plus 256 MiB of working
// memory above the server's baseline. One voxel more is refused with 413 before anything
// is inflated.
test('a small gzip NIfTI declaring the largest accepted grid (2^27 float64 voxels) keeps the server within its stated bound (768 MiB above baseline); a larger grid is refused', { timeout: 240_000 }, async (t) => {
  // The bound is the product's; under ASan (make test-asan) its quarantine and redzones
  // add their own, so only the refusal and the answer are checked there.
  const sanitized = (process.env.ASAN_OPTIONS ?? '') !== '';
  const { server, tokens } = await startClinics('hostile-nifti-max-grid', { seed: 7601 });
  t.after(() => server.dispose());
  const baseline = server.procStatusKb('VmHWM');
  const tooLarge = gzipBomb(niftiHeader([512, 512, 513], { datatype: 64, bitpix: 64 }), 64 * MiB);
  const refused = formData({}, { file: { filename: 'over.nii.gz', data: tooLarge } });
  const over = await request(server.baseUrl, { method: 'PUT', path: '/monailabel/datastore/?image=over-grid', headers: { ...bearer(tokens.mallory), 'Content-Type': refused.contentType }, body: refused.body, timeoutMs: 60_000 });
  assert.equal(over.status, 413, `one voxel over the limit: HTTP ${over.status} ${over.text().slice(0, 200)}`);
  const bomb = gzipBomb(niftiHeader([512, 512, 512], { datatype: 64, bitpix: 64 }), 1024 * MiB);
  const { body, contentType } = formData({}, { file: { filename: 'max.nii.gz', data: bomb } });
  const res = await request(server.baseUrl, { method: 'PUT', path: '/monailabel/datastore/?image=max-grid', headers: { ...bearer(tokens.mallory), 'Content-Type': contentType }, body, timeoutMs: 230_000 });
  const hwm = server.procStatusKb('VmHWM');
  t.diagnostic(`${(bomb.length / MiB).toFixed(1)} MB uploaded: HTTP ${res.status}; server VmHWM ${(baseline / 1024).toFixed(0)} MB before, ${(hwm / 1024).toFixed(0)} MB after`);
  assert.equal(res.status, 200, res.text().slice(0, 300));
  if (sanitized) t.diagnostic('sanitized build: the peak RSS bound is checked on the plain build only');
  else assert.ok(hwm - baseline < 768 * 1024, `peak RSS grew by ${((hwm - baseline) / 1024).toFixed(0)} MB for a ${(bomb.length / MiB).toFixed(1)} MB upload`);
  await assertHealthy(server, 'the largest accepted image upload');
});
