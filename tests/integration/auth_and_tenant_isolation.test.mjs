// Bearer tokens and tenants: no token or a bad/revoked/expired one is 401, a token without
// the scope is 403, and one tenant can neither find nor fetch nor collide with another
// tenant's data (its UIDs answer 404, exactly like UIDs that exist nowhere).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_DICOM, ACCEPT_OCTET, first, get, makeSeries, qido, sortedUids, stow, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { newUid, withValues } from './lib/dicom.mjs';
import { assertHealthy, eventually, startWithTenants } from './lib/fixture.mjs';
import { errorBody, request } from './lib/http.mjs';
import { multipartBody } from './lib/multipart.mjs';

let server;
let tokens;
let A; // alpha's series
let B; // beta's series

before(async () => {
  ({ server, tokens } = await startWithTenants('auth-isolation', ['alpha', 'beta']));
  A = await makeSeries({ slices: 3, rows: 16, cols: 16, patientName: 'ALPHA^ONLY', patientId: 'PIDALPHA', seed: 41 });
  B = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'BETA^ONLY', patientId: 'PIDBETA', seed: 42 });
  await stowOk(server, tokens.alpha, A.instances.map((i) => i.bytes));
  await stowOk(server, tokens.beta, B.instances.map((i) => i.bytes));
});

after(async () => {
  await server?.dispose();
});

const aInst = (k) => `/studies/${A.study_uid}/series/${A.series_uid}/instances/${A.instances[k].sop}`;

async function rawGet(path, headers = {}) {
  return request(server.baseUrl, { path: `/dicomweb${path}`, headers: { Accept: 'application/dicom+json', ...headers } });
}

describe('authentication', () => {
  test('no Authorization header: 401 with a JSON error', async () => {
    const res = await rawGet('/studies');
    assert.equal(res.status, 401);
    const e = errorBody(res);
    assert.ok(e.message.length > 0);
  });
  test('unknown bearer token: 401', async () => {
    for (const h of ['Bearer not-a-real-token', `Bearer ${tokens.alpha}x`, 'Bearer ', `Basic ${Buffer.from('a:b').toString('base64')}`, tokens.alpha]) {
      const res = await rawGet('/studies', { Authorization: h });
      assert.equal(res.status, 401, `Authorization: ${h.slice(0, 20)}...`);
      errorBody(res);
    }
  });
  test('STOW without a token is 401 and stores nothing', async () => {
    const s = await makeSeries({ slices: 1, rows: 8, cols: 8, patientId: 'PIDNOAUTH', seed: 43 });
    const { body, contentType } = multipartBody([s.instances[0].bytes]);
    const res = await request(server.baseUrl, { method: 'POST', path: '/dicomweb/studies', headers: { 'Content-Type': contentType }, body });
    assert.equal(res.status, 401);
    errorBody(res);
    assert.deepEqual(await qido(server, tokens.alpha, '/studies?PatientID=PIDNOAUTH'), []);
  });
  test('a revoked token stops working while the server runs', async () => {
    const t = await server.createToken({ tenant: 'alpha', name: 'to-revoke' });
    assert.equal((await rawGet('/studies', { Authorization: `Bearer ${t}` })).status, 200);
    await server.revokeToken({ tenant: 'alpha', name: 'to-revoke' });
    const res = await rawGet('/studies', { Authorization: `Bearer ${t}` });
    assert.equal(res.status, 401);
    errorBody(res);
  });
  test('an expired token is rejected', async () => {
    // A token with a lifetime works: the 401 below is its expiry, not a token that never worked.
    const lasting = await server.createToken({ tenant: 'alpha', name: 'long-lived', expiresIn: 3600 });
    assert.equal((await rawGet('/studies', { Authorization: `Bearer ${lasting}` })).status, 200);
    const t = await server.createToken({ tenant: 'alpha', name: 'short-lived', expiresIn: 1 });
    const { stdout } = await server.admin('token', 'list', '--tenant', 'alpha');
    const listed = stdout.split('\n').find((l) => l.startsWith('short-lived\t'));
    const expiry = /\tactive\texpires=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.exec(listed ?? '');
    assert.ok(expiry, `the short-lived token is listed, not revoked, with an expiry: ${stdout}`);
    // The condition is the clock passing the expiry the server recorded (same machine,
    // same clock); from then on the token must be refused, at the first try.
    const expiresAt = Date.parse(expiry[1]);
    await eventually(`the clock to pass the token's expiry ${expiry[1]}`, () => Date.now() >= expiresAt, 30_000, 100);
    const res = await rawGet('/studies', { Authorization: `Bearer ${t}` });
    assert.equal(res.status, 401);
    errorBody(res);
  });
  test('health endpoints need no token', async () => {
    await assertHealthy(server, 'auth tests');
    assert.equal((await request(server.baseUrl, { path: '/readyz' })).status, 200);
  });
});

describe('scopes', () => {
  test('a read-only token can search but STOW is 403 and stores nothing', async () => {
    const ro = await server.createToken({ tenant: 'alpha', name: 'read-only', scopes: ['dicomweb:read'] });
    assert.equal(sortedUids(await qido(server, ro, '/studies?PatientID=PIDALPHA'), TAGS.StudyInstanceUID)[0], A.study_uid);
    const s = await makeSeries({ slices: 1, rows: 8, cols: 8, patientId: 'PIDREADONLY', seed: 44 });
    const r = await stow(server, ro, [s.instances[0].bytes]);
    assert.equal(r.res.status, 403);
    errorBody(r.res);
    assert.deepEqual(await qido(server, tokens.alpha, '/studies?PatientID=PIDREADONLY'), []);
  });
  test('a write-only token can STOW but QIDO and WADO are 403', async () => {
    const wo = await server.createToken({ tenant: 'alpha', name: 'write-only', scopes: ['dicomweb:write'] });
    const s = await makeSeries({ slices: 1, rows: 8, cols: 8, patientId: 'PIDWRITEONLY', seed: 45 });
    const r = await stow(server, wo, [s.instances[0].bytes]);
    assert.equal(r.res.status, 200);
    for (const [path, accept] of [['/studies', 'application/dicom+json'], [aInst(0), ACCEPT_DICOM], [`${aInst(0)}/metadata`, 'application/dicom+json']]) {
      const res = await get(server, wo, path, accept);
      assert.equal(res.status, 403, path);
      errorBody(res);
    }
  });
});

describe('tenant isolation', () => {
  test('beta searching finds none of alpha\'s studies, series or instances', async () => {
    const studies = sortedUids(await qido(server, tokens.beta, '/studies'), TAGS.StudyInstanceUID);
    assert.ok(!studies.includes(A.study_uid), 'alpha\'s study listed for beta');
    assert.ok(studies.includes(B.study_uid), 'beta\'s own study missing');
    assert.deepEqual(await qido(server, tokens.beta, `/studies?StudyInstanceUID=${A.study_uid}`), []);
    assert.deepEqual(await qido(server, tokens.beta, '/studies?PatientID=PIDALPHA'), []);
    assert.deepEqual(await qido(server, tokens.beta, '/studies?PatientName=ALPHA*'), []);
    assert.deepEqual(await qido(server, tokens.beta, `/series?SeriesInstanceUID=${A.series_uid}`), []);
    assert.deepEqual(await qido(server, tokens.beta, `/instances?SOPInstanceUID=${A.instances[0].sop}`), []);
    const all = await qido(server, tokens.beta, '/instances');
    assert.ok(!all.some((i) => first(i, TAGS.StudyInstanceUID) === A.study_uid));
  });
  test('beta\'s nested QIDO on alpha\'s study is 404 or empty', async () => {
    for (const path of [`/studies/${A.study_uid}/series`, `/studies/${A.study_uid}/instances`, `/studies/${A.study_uid}/series/${A.series_uid}/instances`]) {
      const res = await get(server, tokens.beta, path, 'application/dicom+json');
      if (res.status === 404) continue;
      assert.ok(res.status === 200 || res.status === 204, `${path}: HTTP ${res.status}`);
      assert.deepEqual(res.body.length ? res.json() : [], [], `${path} leaked alpha's data to beta`);
    }
  });
  test('alpha does not see beta\'s study', async () => {
    const studies = sortedUids(await qido(server, tokens.alpha, '/studies'), TAGS.StudyInstanceUID);
    assert.ok(studies.includes(A.study_uid));
    assert.ok(!studies.includes(B.study_uid));
  });
  test('every WADO resource of alpha\'s data is 404 for beta, same as a UID that does not exist', async () => {
    const cases = [
      [`/studies/${A.study_uid}`, ACCEPT_DICOM],
      [`/studies/${A.study_uid}/series/${A.series_uid}`, ACCEPT_DICOM],
      [aInst(0), ACCEPT_DICOM],
      [`/studies/${A.study_uid}/metadata`, 'application/dicom+json'],
      [`/studies/${A.study_uid}/series/${A.series_uid}/metadata`, 'application/dicom+json'],
      [`${aInst(1)}/metadata`, 'application/dicom+json'],
      [`${aInst(1)}/frames/1`, ACCEPT_OCTET],
      [`${aInst(2)}/rendered`, 'image/jpeg'],
      [`${aInst(2)}/thumbnail`, 'image/jpeg'],
    ];
    const guessed = `/studies/${newUid()}/series/${newUid()}/instances/${newUid()}`;
    const ref = await get(server, tokens.beta, guessed, ACCEPT_DICOM);
    assert.equal(ref.status, 404, 'a guessed UID');
    const refCode = errorBody(ref).code;
    for (const [path, accept] of cases) {
      const res = await get(server, tokens.beta, path, accept);
      assert.equal(res.status, 404, `beta GET ${path}`);
      assert.equal(errorBody(res).code, refCode, `beta GET ${path}: error code differs from a guessed UID's`);
      assert.ok(!res.body.includes(Buffer.from('ALPHA')), 'error body leaks alpha data');
    }
  });
  test('alpha still retrieves its own instance', async () => {
    const parts = await wadoParts(server, tokens.alpha, aInst(0));
    assert.ok(parts[0].equals(A.instances[0].bytes));
  });
  test('beta storing a different object under alpha\'s SOP Instance UID succeeds without touching alpha\'s', async () => {
    const original = A.instances[1];
    const forged = withValues(original.bytes, { '00100010': 'BETA^FORGED', '00100020': 'PIDBETAFORGED' });
    assert.ok(!forged.equals(original.bytes));
    const r = await stow(server, tokens.beta, [forged]);
    assert.equal(r.res.status, 200, `a 409 here would tell beta that alpha holds this UID: ${r.res.text().slice(0, 300)}`);
    const alphaParts = await wadoParts(server, tokens.alpha, aInst(1));
    assert.ok(alphaParts[0].equals(original.bytes), 'alpha\'s instance changed');
    const betaParts = await wadoParts(server, tokens.beta, aInst(1));
    assert.ok(betaParts[0].equals(forged), 'beta gets its own object back');
    const [alphaStudy] = await qido(server, tokens.alpha, `/studies?StudyInstanceUID=${A.study_uid}`);
    assert.equal(first(alphaStudy, TAGS.PatientID), 'PIDALPHA');
    assert.equal(first(alphaStudy, TAGS.NumberOfStudyRelatedInstances), 3);
  });
  test('the server is healthy after the isolation tests', async () => {
    await assertHealthy(server, 'tenant isolation');
  });
});
