// People helpers: users made with the admin CLI, sign-in, and JSON API calls as a signed-in
// person (cookie + CSRF token) or as a bearer token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { binaryPath } from './env.mjs';
import { request } from './http.mjs';
import { eventually } from './wait.mjs';

export const passwordOf = (username) => `${username} long password`;

// `admin user create`; people get passwordOf(username), token-only roles none.
export function createUser(server, tenant, username, role) {
  const tokenOnly = role === 'uploader' || role === 'service';
  const args = [...server.cliArgs('admin'), 'user', 'create', '--tenant', tenant, '--username', username,
    '--role', role, ...(tokenOnly ? [] : ['--password-stdin'])];
  return new Promise((resolve, reject) => {
    const child = execFile(binaryPath, args, { env: server.cliEnv }, (e, out, err) => (e ? reject(new Error(`${args.join(' ')}: ${err}`)) : resolve(out)));
    child.stdin.end(tokenOnly ? '' : `${passwordOf(username)}\n`);
  });
}

// POST /api/v1/session; returns the raw response and its Set-Cookie text, and on 200
// {cookie: "vg_session=...", csrf, body}.
export async function login(server, username, password = passwordOf(username), headers = {}) {
  const res = await request(server.baseUrl, {
    method: 'POST', path: '/api/v1/session', headers: { 'Content-Type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify({ username, password })),
  });
  const setCookie = [res.headers['set-cookie']].flat().filter(Boolean).join('\n');
  if (res.status !== 200) return { res, setCookie };
  const cookie = setCookie.match(/vg_session=([^;]+)/)[1];
  const body = res.json();
  return { res, setCookie, cookie: `vg_session=${cookie}`, csrf: body.csrf_token, body };
}

export async function signIn(server, username, password) {
  const r = await login(server, username, password);
  assert.equal(r.res.status, 200, `sign-in of ${username}: ${r.res.text()}`);
  return { kind: 'session', username, cookie: r.cookie, csrf: r.csrf, body: r.body };
}

export const asToken = (token) => ({ kind: 'token', token });

// A request as `who` (a session from signIn, a token from asToken, or null). JSON bodies
// are serialised; extra headers win.
export function call(server, who, method, path, { json, body, headers = {} } = {}) {
  const h = {};
  if (who?.kind === 'session') {
    h.Cookie = who.cookie;
    if (!['GET', 'HEAD'].includes(method)) h['X-CSRF-Token'] = who.csrf;
  } else if (who?.kind === 'token') {
    h.Authorization = `Bearer ${who.token}`;
  }
  let payload = body;
  if (json !== undefined) {
    payload = Buffer.from(JSON.stringify(json));
    h['Content-Type'] = 'application/json';
  }
  return request(server.baseUrl, { method, path, headers: { ...h, ...headers }, body: payload });
}

// The audit trail is written in batches (about every 200 ms), so a request's record shows
// up a little after its answer: these poll until the records wanted are there, and fail
// at the deadline (a bound on failure, not the time it takes).

// The audit API as `who`: polls `GET /api/v1/audit?QUERY` until `check(records)`; returns
// those records.
export async function auditEventually(server, who, query, check, timeoutMs = 30_000) {
  let records = [];
  await eventually(() => `audit records of ${query} passing the check (last: ${JSON.stringify(records).slice(0, 2000)})`, async () => {
    const res = await call(server, who, 'GET', `/api/v1/audit?${query}`);
    assert.equal(res.status, 200, res.text());
    records = res.json().records;
    return check(records);
  }, timeoutMs, 100);
  return records;
}

// `voxelgate admin audit list` (every tenant's, or `tenant`'s): polls until `check(stdout)`;
// returns that output. `what` (a string, or a function called at the deadline) names the
// records waited for.
export async function auditListEventually(server, what, check, { tenant, timeoutMs = 30_000 } = {}) {
  const args = ['audit', 'list', ...(tenant ? ['--tenant', tenant] : []), '--limit', '100000'];
  let stdout = '';
  await eventually(() => `${typeof what === 'function' ? what() : what} in \`voxelgate admin ${args.join(' ')}\``, async () => {
    ({ stdout } = await server.admin(...args));
    return check(stdout);
  }, timeoutMs);
  return stdout;
}
