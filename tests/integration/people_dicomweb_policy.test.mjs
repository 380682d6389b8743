// One policy for DICOMweb: a bearer token needs the action's scope; a signed-in person
// (session cookie) needs a clinic role, and their unsafe requests need the CSRF token.
// Vendor staff have no access to a clinic's images by role; a clinic's people see only
// their own clinic's data. Refusals are audited under the person's name.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeSeries, stowOk } from './lib/dicomweb.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { request } from './lib/http.mjs';
import { multipartBody } from './lib/multipart.mjs';
import { auditListEventually, createUser, signIn as signInAs } from './lib/people.mjs';

let server;
let tokens;
let A;

const signIn = (username) => signInAs(server, username);

const qidoAs = (session, path) => request(server.baseUrl, {
  path: `/dicomweb${path}`, headers: { Cookie: session.cookie, Accept: 'application/dicom+json' },
});

before(async () => {
  ({ server, tokens } = await startWithTenants('people-policy', ['clinic-a', 'clinic-b']));
  A = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDPOLICY', seed: 81 });
  await stowOk(server, tokens['clinic-a'], A.instances.map((i) => i.bytes));
  await createUser(server, 'clinic-a', 'rad.a', 'radiologist');
  await createUser(server, 'clinic-b', 'phys.b', 'physician');
  await createUser(server, 'provider', 'support.v', 'provider_support');
});

after(async () => {
  await server?.dispose();
});

test('a radiologist signed in reads their clinic\'s studies through the session cookie', async () => {
  const rad = await signIn('rad.a');
  const res = await qidoAs(rad, '/studies');
  assert.equal(res.status, 200);
  const studies = JSON.parse(res.body.toString());
  assert.deepEqual(studies.map((s) => s['0020000D'].Value[0]), [A.study_uid]);
});

test('a cookie-authenticated STOW needs the CSRF token', async () => {
  const rad = await signIn('rad.a');
  const B = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDPOLICY2', seed: 82 });
  const { body, contentType } = multipartBody(B.instances.map((i) => i.bytes));
  const post = (headers) => request(server.baseUrl, {
    method: 'POST', path: '/dicomweb/studies', headers: { 'Content-Type': contentType, Cookie: rad.cookie, ...headers }, body,
  });
  const without = await post({});
  assert.equal(without.status, 403);
  assert.match(without.body.toString(), /CSRF/);
  const withToken = await post({ 'X-CSRF-Token': rad.csrf });
  assert.equal(withToken.status, 200);
});

test('vendor staff cannot open a clinic\'s images by role', async () => {
  const support = await signIn('support.v');
  const res = await qidoAs(support, '/studies');
  assert.equal(res.status, 403);
  assert.match(res.body.toString(), /only under a support grant/);
});

test('another clinic\'s physician sees none of it', async () => {
  const phys = await signIn('phys.b');
  const list = await qidoAs(phys, '/studies');
  assert.equal(list.status, 200);
  assert.deepEqual(JSON.parse(list.body.toString()), []);
  const guessed = await request(server.baseUrl, {
    path: `/dicomweb/studies/${A.study_uid}/metadata`, headers: { Cookie: phys.cookie, Accept: 'application/dicom+json' },
  });
  assert.equal(guessed.status, 404);
});

test('refusals are audited under the person\'s name', async () => {
  // The refusals of the tests above, under the names of the people refused. Audit records
  // are written in batches: wait for all three (the deadline is the failure).
  const refusals = [
    /support\.v\tdicomweb\.qido\t[^\t]*\tdenied 403/,
    /rad\.a\tdicomweb\.stow\t[^\t]*\tdenied 403/,
    /phys\.b\tdicomweb\.metadata\t[^\t]*\tfailed 404/,
  ];
  let missing = refusals;
  await auditListEventually(server, () => `records matching ${missing.join(', ')}`,
    (out) => (missing = refusals.filter((r) => !r.test(out))).length === 0);
});
