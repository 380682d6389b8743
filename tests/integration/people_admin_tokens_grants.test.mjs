// Account administration through the API: an admin manages the people and tokens of their
// own tenant; a token never does more than its user; disabling or resetting takes effect
// at once; support grants let vendor support read exactly what the clinic granted, until
// revoked; the audit trail is readable (filters, paging, CSV) by the right admins; failed
// sign-ins are throttled without revealing whether a password was right.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { first, makeSeries, stowOk, TAGS } from './lib/dicomweb.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { ACCEPT_DICOM } from './lib/dicomweb.mjs';
import { asToken, auditEventually, call, createUser, login, passwordOf, signIn } from './lib/people.mjs';
import { request } from './lib/http.mjs';
import { multipartBody } from './lib/multipart.mjs';

let server;
let tokens;
let A1;
let A2;
let boss;     // clinic-a's clinic_admin
let bossB;    // clinic-b's clinic_admin
let helper;   // provider_support
let vendor;   // provider_admin

const JSON_ACCEPT = { Accept: 'application/dicom+json' };

before(async () => {
  ({ server, tokens } = await startWithTenants('people-admin', ['clinic-a', 'clinic-b']));
  A1 = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDGRANT1', seed: 61 });
  A2 = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDGRANT2', seed: 62 });
  await stowOk(server, tokens['clinic-a'], [...A1.instances, ...A2.instances].map((i) => i.bytes));
  await createUser(server, 'clinic-a', 'a.boss', 'clinic_admin');
  await createUser(server, 'clinic-b', 'b.boss', 'clinic_admin');
  await createUser(server, 'provider', 'v.helper', 'provider_support');
  await createUser(server, 'provider', 'v.admin', 'provider_admin');
  boss = await signIn(server, 'a.boss');
  bossB = await signIn(server, 'b.boss');
  helper = await signIn(server, 'v.helper');
  vendor = await signIn(server, 'v.admin');
});

after(async () => {
  await server?.dispose();
});

test('an admin adds a colleague, who must change the one-time password before anything else', async () => {
  const created = await call(server, boss, 'POST', '/api/v1/users', { json: { username: 'new.doc', role: 'physician' } });
  assert.equal(created.status, 201, created.text());
  const { one_time_password: oneTime, must_change_password: mustChange } = created.json();
  assert.equal(mustChange, true);
  const doc = await signIn(server, 'new.doc', oneTime);
  assert.equal(doc.body.must_change_password, true);
  const blocked = await call(server, doc, 'GET', '/dicomweb/studies', { headers: JSON_ACCEPT });
  assert.equal(blocked.status, 403);
  assert.match(blocked.text(), /change your password/);
  const short = await call(server, doc, 'PUT', '/api/v1/me/password', { json: { current_password: oneTime, new_password: 'short' } });
  assert.equal(short.status, 400);
  const changed = await call(server, doc, 'PUT', '/api/v1/me/password', { json: { current_password: oneTime, new_password: 'a fresh long password' } });
  assert.equal(changed.status, 204, changed.text());
  assert.equal((await call(server, doc, 'GET', '/dicomweb/studies', { headers: JSON_ACCEPT })).status, 200);
  const listed = await call(server, boss, 'GET', '/api/v1/users');
  assert.ok(listed.json().some((u) => u.username === 'new.doc' && u.role === 'physician'));
  assert.ok(!listed.json().some((u) => u.username === 'b.boss'), 'another clinic\'s people are not listed');
});

test('an admin cannot reach another tenant\'s people, nor create vendor roles', async () => {
  assert.equal((await call(server, bossB, 'PATCH', '/api/v1/users/new.doc', { json: { disabled: true } })).status, 404);
  assert.equal((await call(server, bossB, 'POST', '/api/v1/users/new.doc/password-reset')).status, 404);
  const vendorRole = await call(server, boss, 'POST', '/api/v1/users', { json: { username: 'fake.vendor', role: 'provider_admin' } });
  assert.equal(vendorRole.status, 400);
  const notAdmin = await signIn(server, 'new.doc', 'a fresh long password');
  assert.equal((await call(server, notAdmin, 'GET', '/api/v1/users')).status, 403);
});

test('a token never does more than its user: an uploader token stores but cannot read', async () => {
  const pacs = await call(server, boss, 'POST', '/api/v1/users', { json: { username: 'a.pacs', role: 'uploader' } });
  assert.equal(pacs.status, 201, pacs.text());
  assert.equal(pacs.json().one_time_password, undefined);
  const tooMuch = await call(server, boss, 'POST', '/api/v1/tokens', { json: { name: 'pacs-read', user: 'a.pacs', scopes: ['dicomweb:read'] } });
  assert.equal(tooMuch.status, 403);
  assert.match(tooMuch.text(), /more than its user/);
  const made = await call(server, boss, 'POST', '/api/v1/tokens', { json: { name: 'pacs', user: 'a.pacs', scopes: ['dicomweb:write'], expires_in_days: 30 } });
  assert.equal(made.status, 201, made.text());
  const token = asToken(made.json().token);
  const s = await makeSeries({ slices: 1, rows: 16, cols: 16, patientId: 'PIDUPLOADER', seed: 63 });
  const { body, contentType } = multipartBody(s.instances.map((i) => i.bytes));
  const stored = await call(server, token, 'POST', '/dicomweb/studies', { body, headers: { 'Content-Type': contentType, ...JSON_ACCEPT } });
  assert.equal(stored.status, 200, stored.text());
  assert.equal((await call(server, token, 'GET', '/dicomweb/studies', { headers: JSON_ACCEPT })).status, 403);
  // A signed-in physician's own token: read yes, admin no, someone else's no.
  const doc = await signIn(server, 'new.doc', 'a fresh long password');
  assert.equal((await call(server, doc, 'POST', '/api/v1/tokens', { json: { name: 'doc-admin', scopes: ['admin'] } })).status, 403);
  assert.equal((await call(server, doc, 'POST', '/api/v1/tokens', { json: { name: 'doc-other', user: 'a.boss', scopes: ['dicomweb:read'] } })).status, 403);
  const own = await call(server, doc, 'POST', '/api/v1/tokens', { json: { name: 'doc-slicer', scopes: ['dicomweb:read'] } });
  assert.equal(own.status, 201);
  const docTokens = (await call(server, doc, 'GET', '/api/v1/tokens')).json();
  assert.deepEqual(docTokens.map((t) => t.name), ['doc-slicer']);
  const allTokens = (await call(server, boss, 'GET', '/api/v1/tokens')).json().map((t) => t.name);
  assert.ok(allTokens.includes('doc-slicer') && allTokens.includes('pacs'));
  // Tokens cannot manage tokens.
  assert.equal((await call(server, token, 'GET', '/api/v1/tokens')).status, 403);
});

test('disabling a user ends their sessions and tokens at once; a forced reset ends sessions', async () => {
  await call(server, boss, 'POST', '/api/v1/users', { json: { username: 'leaver', role: 'radiologist', password: 'leaver long password' } });
  const leaver = await signIn(server, 'leaver', 'leaver long password');
  const made = await call(server, leaver, 'POST', '/api/v1/tokens', { json: { name: 'leaver-token', scopes: ['dicomweb:read'] } });
  const token = asToken(made.json().token);
  assert.equal((await call(server, token, 'GET', '/dicomweb/studies', { headers: JSON_ACCEPT })).status, 200);
  const disabled = await call(server, boss, 'PATCH', '/api/v1/users/leaver', { json: { disabled: true } });
  assert.equal(disabled.status, 200, disabled.text());
  assert.equal((await call(server, token, 'GET', '/dicomweb/studies', { headers: JSON_ACCEPT })).status, 401);
  assert.equal((await call(server, leaver, 'GET', '/api/v1/me')).status, 401);
  assert.equal((await call(server, boss, 'PATCH', '/api/v1/users/a.boss', { json: { disabled: true } })).status, 409);

  const doc = await signIn(server, 'new.doc', 'a fresh long password');
  const reset = await call(server, boss, 'POST', '/api/v1/users/new.doc/password-reset');
  assert.equal(reset.status, 200);
  assert.equal((await call(server, doc, 'GET', '/api/v1/me')).status, 401);
  const again = await signIn(server, 'new.doc', reset.json().one_time_password);
  assert.equal(again.body.must_change_password, true);
});

test('support reads exactly what a grant covers, under the clinic\'s eyes, until it is revoked', async () => {
  const asSupport = (path, tenant = 'clinic-a', accept = JSON_ACCEPT) =>
    call(server, helper, 'GET', path, { headers: { ...accept, 'X-Voxelgate-Tenant': tenant } });
  assert.equal((await asSupport('/dicomweb/studies')).status, 403);
  const doc = await signIn(server, 'v.admin');
  assert.equal((await call(server, doc, 'POST', '/api/v1/support-grants', { json: { hours: 1 } })).status, 403, 'vendors cannot grant themselves');
  const unnamed = await call(server, boss, 'POST', '/api/v1/support-grants', { json: { study_uid: A1.study_uid, hours: 2, reason: 'ticket 42' } });
  assert.equal(unnamed.status, 400, 'a grant names the support user it is for');
  const grant = await call(server, boss, 'POST', '/api/v1/support-grants', { json: { support_user: 'v.helper', study_uid: A1.study_uid, hours: 2, reason: 'ticket 42' } });
  assert.equal(grant.status, 201, grant.text());
  assert.equal(grant.json().support_user, 'v.helper');
  // Another support user of the vendor is not covered by it.
  await createUser(server, 'provider', 'v.helper2', 'provider_support');
  const otherHelper = await signIn(server, 'v.helper2');
  assert.equal((await call(server, otherHelper, 'GET', '/dicomweb/studies', { headers: { ...JSON_ACCEPT, 'X-Voxelgate-Tenant': 'clinic-a' } })).status, 403,
    'a grant made out to v.helper does not cover v.helper2');
  const studies = await asSupport('/dicomweb/studies');
  assert.equal(studies.status, 200);
  assert.deepEqual(studies.json().map((s) => first(s, TAGS.StudyInstanceUID)), [A1.study_uid]);
  assert.equal((await asSupport(`/dicomweb/studies/${A1.study_uid}/metadata`)).status, 200);
  assert.equal((await asSupport(`/dicomweb/studies/${A1.study_uid}`, 'clinic-a', { Accept: ACCEPT_DICOM })).status, 200);
  assert.equal((await asSupport(`/dicomweb/studies/${A2.study_uid}/metadata`)).status, 403, 'a study outside the grant');
  assert.equal((await asSupport('/dicomweb/studies', 'clinic-b')).status, 403, 'a clinic that granted nothing');
  const write = await call(server, helper, 'POST', '/dicomweb/studies', { body: Buffer.from('x'), headers: { 'X-Voxelgate-Tenant': 'clinic-a', 'Content-Type': 'multipart/related; type="application/dicom"; boundary=b' } });
  assert.equal(write.status, 403, 'grants are read-only');
  // The clinic sees the access, labelled; the vendor's admin sees its staff's actions.
  const trail = await auditEventually(server, boss, 'actor=v.helper&outcome=ok', (r) => r.length >= 3);
  assert.ok(trail.length >= 3);
  for (const r of trail) {
    assert.equal(r.actor_kind, 'support');
    assert.equal(r.actor_tenant, 'provider');
    assert.match(r.detail, /support grant \d+/);
  }
  const vendorView = (await call(server, vendor, 'GET', '/api/v1/audit?actor=v.helper')).json().records;
  assert.ok(vendorView.some((r) => r.tenant === 'clinic-a' && r.action === 'dicomweb.metadata'));
  // Another clinic's admin cannot revoke it; the granting clinic can, at once.
  const id = grant.json().id;
  assert.equal((await call(server, bossB, 'DELETE', `/api/v1/support-grants/${id}`)).status, 404);
  const listedForVendor = (await call(server, helper, 'GET', '/api/v1/support-grants')).json();
  assert.ok(listedForVendor.some((g) => g.id === id && g.tenant === 'clinic-a'));
  assert.equal((await call(server, boss, 'DELETE', `/api/v1/support-grants/${id}`)).status, 204);
  assert.equal((await asSupport(`/dicomweb/studies/${A1.study_uid}/metadata`)).status, 403);
});

test('the audit trail pages, filters and exports CSV for the clinic admin only', async () => {
  const page1 = await call(server, boss, 'GET', '/api/v1/audit?limit=5');
  assert.equal(page1.status, 200);
  const { records, next_before_id: next } = page1.json();
  assert.equal(records.length, 5);
  assert.ok(records[0].id > records[4].id, 'newest first');
  assert.ok(records.every((r) => r.tenant === 'clinic-a'));
  const page2 = (await call(server, boss, 'GET', `/api/v1/audit?limit=5&before_id=${next}`)).json().records;
  assert.ok(page2[0].id < records[4].id);
  const logins = (await call(server, boss, 'GET', '/api/v1/audit?action=session.login')).json().records;
  assert.ok(logins.length > 0 && logins.every((r) => r.action === 'session.login'));
  const csv = await call(server, boss, 'GET', '/api/v1/audit?format=csv&limit=20');
  assert.equal(csv.status, 200);
  assert.match(csv.headers['content-type'], /^text\/csv/);
  const lines = csv.text().trim().split('\r\n');
  assert.equal(lines[0], 'id,time,tenant,actor_tenant,actor,actor_kind,action,object,outcome,remote,detail');
  assert.equal(lines.length, 21);
  assert.equal((await call(server, boss, 'GET', '/api/v1/audit?bogus=1')).status, 400);
  assert.equal((await call(server, boss, 'GET', '/api/v1/audit?since=yesterday')).status, 400);
  assert.equal((await call(server, helper, 'GET', '/api/v1/audit')).status, 403);
  assert.equal((await call(server, bossB, 'GET', `/api/v1/audit?actor=a.boss`)).json().records.length, 0);
});

test('by the 20th wrong password in a minute the answer is 429 with Retry-After, right password or not', async () => {
  await createUser(server, 'clinic-a', 'victim', 'physician');
  const statuses = [];
  let last;
  for (let i = 0; i < 20; ++i) {
    last = await login(server, 'victim', `wrong password ${i}`);
    statuses.push(last.res.status);
  }
  assert.equal(statuses[0], 401);
  assert.equal(statuses[19], 429, `statuses: ${statuses.join(',')}`);
  assert.ok(Number(last.res.headers['retry-after']) >= 1);
  assert.match(last.res.text(), /try again in \d+ second/);
  const right = await login(server, 'victim');
  assert.equal(right.res.status, 429, 'a blocked account does not reveal that the password was right');
  const logged = await auditEventually(server, boss, 'action=session.login&outcome=throttled', (r) => r.length > 0);
  assert.ok(logged.length > 0 && logged.every((r) => r.actor === 'victim'), 'the clinic sees the attack on its account');
});

test('a third party failing from another address cannot lock a known account out; the guesser is blocked', async () => {
  await createUser(server, 'clinic-a', 'owner', 'physician');
  const signInFrom = (localAddress, password) => request(server.baseUrl, {
    method: 'POST', path: '/api/v1/session', localAddress, headers: { 'Content-Type': 'application/json' },
    body: Buffer.from(JSON.stringify({ username: 'owner', password })),
  });
  assert.equal((await signInFrom('127.0.0.5', passwordOf('owner'))).status, 200, 'the owner signs in from her usual address');
  const statuses = [];
  for (let i = 0; i < 20; ++i) statuses.push((await signInFrom('127.0.0.3', `wrong ${i}`)).status);
  assert.equal(statuses[19], 429, `the guesser is blocked: ${statuses.join(',')}`);
  assert.equal((await signInFrom('127.0.0.3', passwordOf('owner'))).status, 429, 'even with the right password, from there');
  assert.equal((await signInFrom('127.0.0.5', passwordOf('owner'))).status, 200, 'the owner still signs in');
});

test('signing in with a planted session cookie issues a different one', async () => {
  const planted = 'vg_session=attacker-chosen-value';
  const r = await login(server, 'a.boss', undefined, { Cookie: planted });
  assert.equal(r.res.status, 200);
  assert.notEqual(r.cookie, planted);
  assert.equal((await call(server, { kind: 'session', cookie: planted }, 'GET', '/api/v1/me')).status, 401);
});
