// DICOMweb as 3D Slicer's DICOMweb browser (dicomweb-client in Python) and OHIF
// (Cornerstone's loaders) call it: their exact Accept headers, includefield and paging,
// the series /metadata and /frames patterns, bearer-token auth, and the CORS preflight a
// viewer on another origin sends first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { first, makeSeries, stowOk, TAGS } from './lib/dicomweb.mjs';
import { request } from './lib/http.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const VIEWER = 'https://viewer.example.org';
let server;
let token;
let series;

const get = (path, accept, extra = {}) =>
  request(server.baseUrl, { path: `/dicomweb${path}`, headers: { Authorization: `Bearer ${token}`, Accept: accept, ...extra } });

before(async () => {
  server = await VoxelgateServer.start({ name: 'slicer-ohif', args: ['--cors-origin', VIEWER] });
  await server.createTenant('alpha');
  token = await server.createToken({ tenant: 'alpha', name: 'viewer' });
  series = await makeSeries({ slices: 3, rows: 32, cols: 32, seed: 51 });
  await stowOk(server, token, series.instances.map((i) => i.bytes));
});

after(async () => {
  await server?.dispose();
});

test('OHIF study list: QIDO with includefield, limit, offset and fuzzymatching', async () => {
  const res = await get('/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060', 'application/dicom+json');
  assert.equal(res.status, 200);
  const [study] = res.json();
  assert.equal(first(study, TAGS.StudyInstanceUID), series.study_uid);
  assert.ok(study['00080061'], 'ModalitiesInStudy is there (OHIF shows it)');
});

test('OHIF series metadata and frames: the Accept headers Cornerstone sends, quoted or not', async () => {
  const meta = await get(`/studies/${series.study_uid}/series/${series.series_uid}/metadata`, 'application/dicom+json');
  assert.equal(meta.status, 200);
  const instances = meta.json();
  assert.equal(instances.length, 3);
  const sop = first(instances[0], TAGS.SOPInstanceUID);
  for (const accept of ['multipart/related; type=application/octet-stream; transfer-syntax=*',
    'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    'multipart/related; type="application/octet-stream"']) {
    const frames = await get(`/studies/${series.study_uid}/series/${series.series_uid}/instances/${sop}/frames/1`, accept);
    assert.equal(frames.status, 200, `${accept}: ${frames.status}`);
    assert.match(frames.headers['content-type'], /^multipart\/related/);
    assert.ok(frames.body.length > 32 * 32 * 2, 'one 32x32 16-bit frame');
  }
});

test('Slicer DICOMweb browser: series retrieve as application/dicom, and instance retrieve', async () => {
  const res = await get(`/studies/${series.study_uid}/series/${series.series_uid}`, 'multipart/related; type="application/dicom"');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /type="?application\/dicom"?/);
  const sop = series.sop_instance_uids[0];
  const one = await get(`/studies/${series.study_uid}/series/${series.series_uid}/instances/${sop}`, 'multipart/related; type="application/dicom"; transfer-syntax=*');
  assert.equal(one.status, 200);
  const seriesQido = await get(`/studies/${series.study_uid}/series?includefield=0008103E`, 'application/dicom+json');
  assert.equal(first(seriesQido.json()[0], TAGS.SeriesInstanceUID), series.series_uid);
});

test('a viewer on another origin: the preflight admits Authorization, answers carry the origin; others are not admitted', async () => {
  const preflight = await request(server.baseUrl, {
    method: 'OPTIONS', path: `/dicomweb/studies/${series.study_uid}/series/${series.series_uid}/metadata`,
    headers: { Origin: VIEWER, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,accept' },
  });
  assert.ok([200, 204].includes(preflight.status), `preflight ${preflight.status}`);
  assert.equal(preflight.headers['access-control-allow-origin'], VIEWER);
  assert.match(preflight.headers['access-control-allow-headers'].toLowerCase(), /authorization/);
  assert.match(preflight.headers['access-control-allow-methods'], /GET/);
  const real = await get(`/studies/${series.study_uid}/series/${series.series_uid}/metadata`, 'application/dicom+json', { Origin: VIEWER });
  assert.equal(real.status, 200);
  assert.equal(real.headers['access-control-allow-origin'], VIEWER);
  const stranger = await request(server.baseUrl, {
    method: 'OPTIONS', path: `/dicomweb/studies/${series.study_uid}/series`,
    headers: { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  assert.notEqual(stranger.headers['access-control-allow-origin'], 'https://evil.example.com');
  // The MONAI Label surface answers the same preflight (OHIF's panel calls it from the viewer's origin).
  const ml = await request(server.baseUrl, {
    method: 'OPTIONS', path: '/monailabel/info/',
    headers: { Origin: VIEWER, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  assert.equal(ml.headers['access-control-allow-origin'], VIEWER);
});
