// The authorization matrix: every registered HTTP route (from `voxelgate admin routes`)
// against every role, against tokens, against no credentials, and against another
// tenant's data. A route without a policy entry fails the test (and the server would not
// start). Expectations come from the policy each route names, and two rules hold on
// top: vendor roles never reach clinic data by role, and no one reads another tenant's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { first, makeSeries, stowOk, TAGS } from './lib/dicomweb.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { asToken, auditEventually, call, createUser, signIn } from './lib/people.mjs';

let server;
let tokens;
let routes;
let A;
let B;
const principals = {};  // label -> {who, role, token?: {scopes}}

const PEOPLE = [
  ['clinic-a', 'm.clinic_admin', 'clinic_admin'],
  ['clinic-a', 'm.radiologist', 'radiologist'],
  ['clinic-a', 'm.physician', 'physician'],
  ['provider', 'm.provider_admin', 'provider_admin'],
  ['provider', 'm.provider_support', 'provider_support'],
];

before(async () => {
  ({ server, tokens } = await startWithTenants('authz-matrix', ['clinic-a', 'clinic-b']));
  A = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDMATRIXA', seed: 91 });
  B = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDMATRIXB', seed: 92 });
  await stowOk(server, tokens['clinic-a'], A.instances.map((i) => i.bytes));
  await stowOk(server, tokens['clinic-b'], B.instances.map((i) => i.bytes));
  for (const [tenant, username, role] of PEOPLE) {
    await createUser(server, tenant, username, role);
    principals[role] = { who: await signIn(server, username), role };
  }
  await createUser(server, 'clinic-a', 'm.target', 'physician');  // acted upon by user routes
  await createUser(server, 'clinic-a', 'm.pacs', 'uploader');
  const uploaderToken = (await server.admin('token', 'create', '--tenant', 'clinic-a', '--name', 'm-pacs',
    '--scope', 'dicomweb:write', '--user', 'm.pacs')).stdout.trim();
  principals['uploader token'] = { who: asToken(uploaderToken), role: 'uploader', scopes: ['dicomweb:write'] };
  principals['service token'] = { who: asToken(tokens['clinic-a']), role: 'service', scopes: ['dicomweb:read', 'dicomweb:write'] };
  const adminToken = (await server.admin('token', 'create', '--tenant', 'clinic-a', '--name', 'm-admin',
    '--scope', 'admin,dicomweb:read', '--user', 'm.clinic_admin')).stdout.trim();
  principals['clinic_admin token'] = { who: asToken(adminToken), role: 'clinic_admin', scopes: ['admin', 'dicomweb:read'] };
  routes = JSON.parse((await server.admin('routes')).stdout);
});

after(async () => {
  await server?.dispose();
});

function pathFor(route, study) {
  const values = {
    study: study.study_uid, series: study.series_uid, instance: study.instances[0].sop,
    frames: '1', tag: '7FE00010', username: 'm.target', name: 'no-such-token', id: '999999',
    // Vendor routes act on clinic B: renewing an active subscription and purging a live
    // clinic are refused (409), so the matrix changes nothing.
    slug: 'clinic-b', action: 'renew',
    model: 'no-such-model', strategy: 'first', sop: study.instances[0].sop, other: '999998',
  };
  return route.pattern.replace(/\{(\w+)\}/g, (_, key) => {
    assert.ok(key in values, `no test value for path parameter {${key}} of ${route.name}`);
    return encodeURIComponent(values[key]);
  });
}

// Requests that leave the fixtures alone when they are allowed: empty JSON bodies fail
// validation (400), DICOMweb gets a harmless STOW body.
function options(route) {
  if (['GET', 'HEAD', 'DELETE'].includes(route.method)) return { headers: { Accept: '*/*' } };
  if (route.action === 'dicomweb.stow') return { body: Buffer.from('x'), headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=b' } };
  return { json: {} };
}

// Conditional roles are allowed only where the clinic's setting (route.condition) is on;
// every clinic starts with its settings off.
function expectedAllowed(route, principal) {
  if (route.public) return true;
  if (!route.roles.includes(principal.role)) return false;
  if (principal.scopes) return route.scope !== '' && principal.scopes.includes(route.scope);
  return true;
}

test('every route names an action that has a policy entry', () => {
  assert.ok(routes.length >= 30, `only ${routes.length} routes`);
  for (const route of routes) assert.ok(Array.isArray(route.roles), `route ${route.name} (${route.action}) has no policy entry`);
});

test('without credentials, every route but the public ones is 401', async () => {
  for (const route of routes) {
    if (route.action === 'session.login') continue;  // its 400/401 is about the body
    const res = await call(server, null, route.method, pathFor(route, A), options(route));
    // The MONAI Label image download is public for a signed link only: without one it asks for credentials.
    if (route.action === 'monailabel.download') assert.equal(res.status, 401, route.name);
    else if (route.public) assert.notEqual(res.status, 401, `${route.name}`);
    else assert.equal(res.status, 401, `${route.method} ${route.pattern} (${route.name}) without credentials: ${res.status}`);
  }
});

test('every role and token gets exactly what the policy of each route says', async () => {
  const mismatches = [];
  for (const route of routes) {
    if (route.public) continue;
    for (const [label, principal] of Object.entries(principals)) {
      let who = principal.who;
      // Signing out ends the session the rest of the matrix needs: use a fresh one.
      if (route.action === 'session.logout' && who.kind === 'session') who = await signIn(server, who.username);
      const res = await call(server, who, route.method, pathFor(route, A), options(route));
      const allowed = expectedAllowed(route, principal);
      const ok = allowed ? res.status !== 401 && res.status !== 403 : res.status === 403;
      if (!ok) mismatches.push(`${route.method} ${route.pattern} as ${label}: ${res.status} (expected ${allowed ? 'allowed' : '403'}) ${res.text().slice(0, 120)}`);
    }
  }
  assert.deepEqual(mismatches, []);
});

test('vendor roles never reach a clinic\'s data by role', () => {
  for (const route of routes.filter((r) => r.action.startsWith('dicomweb.'))) {
    assert.ok(!route.roles.includes('provider_admin'), route.name);
    assert.ok(!route.roles.includes('provider_support'), route.name);
  }
});

test('on another tenant\'s UIDs, every data route finds nothing', async () => {
  const radiologistA = principals.radiologist.who;
  for (const route of routes.filter((r) => r.action.startsWith('dicomweb.') && r.method === 'GET')) {
    const path = pathFor(route, B);  // clinic-b's study, asked for by clinic-a
    const res = await call(server, radiologistA, route.method, path, { headers: { Accept: route.action === 'dicomweb.qido' ? 'application/dicom+json' : '*/*' } });
    if (route.action === 'dicomweb.qido' && res.status === 200) {
      assert.ok(!res.text().includes(B.study_uid), `${route.name} showed clinic-b's study`);
    } else {
      assert.ok([204, 404].includes(res.status), `${route.name} on clinic-b's UIDs: ${res.status}`);
    }
  }
  const qido = await call(server, radiologistA, 'GET', '/dicomweb/studies', { headers: { Accept: 'application/dicom+json' } });
  const seen = qido.json().map((s) => first(s, TAGS.StudyInstanceUID));
  assert.ok(seen.includes(A.study_uid) && !seen.includes(B.study_uid));
});

test('naming another tenant is refused and audited for everyone but support with a grant', async () => {
  for (const label of ['radiologist', 'clinic_admin', 'provider_admin', 'provider_support', 'service token']) {
    const res = await call(server, principals[label].who, 'GET', '/dicomweb/studies',
      { headers: { Accept: 'application/dicom+json', 'X-Voxelgate-Tenant': 'clinic-b' } });
    assert.equal(res.status, 403, label);
  }
  const attempt = (records) => records.some((r) => r.actor === 'm.radiologist');
  const records = await auditEventually(server, principals.clinic_admin.who, 'action=dicomweb.qido&outcome=denied', attempt);
  assert.ok(attempt(records), 'the cross-tenant attempt is in clinic-a\'s trail');
});
