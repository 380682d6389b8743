// People and sessions: users created by the admin CLI sign in with a password (argon2id,
// at least 12 characters) and get an HttpOnly, SameSite=Strict session cookie plus a CSRF
// token; wrong passwords and unknown users fail alike; sign-out needs the CSRF token;
// disabling a user ends their session at once; the vendor's tenant exists from the start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { binaryPath } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { request } from './lib/http.mjs';
import { login as loginAs } from './lib/people.mjs';

let server;

function adminWithStdin(args, input) {
  return new Promise((resolve) => {
    const child = execFile(binaryPath, [...server.cliArgs('admin'), ...args], { env: server.cliEnv }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
    child.stdin.end(input);
  });
}

const login = (username, password) => loginAs(server, username, password);
const me = (cookie) => request(server.baseUrl, { path: '/api/v1/me', headers: cookie ? { Cookie: cookie } : {} });
const logout = (cookie, csrf) => request(server.baseUrl, {
  method: 'DELETE', path: '/api/v1/session',
  headers: { Cookie: cookie, ...(csrf ? { 'X-CSRF-Token': csrf } : {}) },
});

before(async () => {
  ({ server } = await startWithTenants('people', ['clinic-a', 'clinic-b']));
  const created = await adminWithStdin(['user', 'create', '--tenant', 'clinic-a', '--username', 'rad.one', '--role', 'radiologist', '--password-stdin'], 'correct horse battery\n');
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await server?.dispose();
});

test('the provider tenant exists from the first start', async () => {
  const { stdout } = await server.admin('tenant', 'list');
  assert.match(stdout, /^provider\t/m);
});

test('passwords shorter than 12 characters, roles of the wrong tenant and taken usernames are refused', async () => {
  const short = await adminWithStdin(['user', 'create', '--tenant', 'clinic-a', '--username', 'short', '--role', 'physician', '--password-stdin'], 'elevenchars\n');
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /at least 12 characters/);
  const wrongRole = await adminWithStdin(['user', 'create', '--tenant', 'clinic-a', '--username', 'vendorish', '--role', 'provider_admin', '--password-stdin'], 'a long enough password\n');
  assert.notEqual(wrongRole.code, 0);
  const taken = await adminWithStdin(['user', 'create', '--tenant', 'clinic-b', '--username', 'rad.one', '--role', 'radiologist', '--password-stdin'], 'another long password\n');
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /taken/);
});

test('sign-in sets an HttpOnly SameSite=Strict cookie and /me names the user, tenant and role', async () => {
  const { res, cookie, setCookie, body } = await login('rad.one', 'correct horse battery');
  assert.equal(res.status, 200);
  assert.ok(cookie);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.ok(body.csrf_token.length >= 40);
  const who = await me(cookie);
  assert.equal(who.status, 200);
  // A second tab of the app learns the session's CSRF token from /me (the cookie proves it).
  assert.deepEqual(JSON.parse(who.body.toString()), { username: 'rad.one', tenant: 'clinic-a', role: 'radiologist', must_change_password: false, csrf_token: body.csrf_token });
});

test('a wrong password and an unknown user get the same answer', async () => {
  const wrong = await login('rad.one', 'not the password at all');
  const unknown = await login('nobody.here', 'not the password at all');
  assert.equal(wrong.res.status, 401);
  assert.equal(unknown.res.status, 401);
  assert.equal(wrong.res.body.toString(), unknown.res.body.toString());
  assert.equal(wrong.cookie, undefined);
});

test('each sign-in is a new session', async () => {
  const a = await login('rad.one', 'correct horse battery');
  const b = await login('rad.one', 'correct horse battery');
  assert.notEqual(a.cookie, b.cookie);
  assert.notEqual(a.body.csrf_token, b.body.csrf_token);
});

test('sign-out needs the CSRF token, then the session is over', async () => {
  const { cookie, body } = await login('rad.one', 'correct horse battery');
  assert.equal((await logout(cookie)).status, 403);
  assert.equal((await logout(cookie, 'wrong-token')).status, 403);
  assert.equal((await me(cookie)).status, 200, 'a refused sign-out leaves the session alone');
  assert.equal((await logout(cookie, body.csrf_token)).status, 204);
  assert.equal((await me(cookie)).status, 401);
});

test('disabling a user ends their session at once, and they cannot sign in', async () => {
  await adminWithStdin(['user', 'create', '--tenant', 'clinic-b', '--username', 'phys.two', '--role', 'physician', '--password-stdin'], 'physician password 2\n');
  const { cookie } = await login('phys.two', 'physician password 2');
  assert.equal((await me(cookie)).status, 200);
  await server.admin('user', 'disable', '--username', 'phys.two');
  assert.equal((await me(cookie)).status, 401);
  assert.equal((await login('phys.two', 'physician password 2')).res.status, 401);
});

test('no cookie: /me is 401', async () => {
  assert.equal((await me(null)).status, 401);
});
