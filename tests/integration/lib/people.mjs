// People helpers: users made with the admin CLI, sign-in, and JSON API calls as a signed-in
// person (cookie + CSRF token) or as a bearer token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { binaryPath } from './env.mjs';
import { request } from './http.mjs';

export const passwordOf = (username) => `${username} long password`;

// `admin user create`; people get passwordOf(username), token-only roles none.
export function createUser(server, tenant, username, role) {
  const tokenOnly = role === 'uploader' || role === 'service';
  const args = ['admin', '--data-dir', server.dataDir, 'user', 'create', '--tenant', tenant, '--username', username,
    '--role', role, ...(tokenOnly ? [] : ['--password-stdin'])];
  return new Promise((resolve, reject) => {
    const child = execFile(binaryPath, args, (e, out, err) => (e ? reject(new Error(`${args.join(' ')}: ${err}`)) : resolve(out)));
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

// The audit trail is written in batches (about every 200 ms): poll until `check(records)`.
export async function auditEventually(server, who, query, check, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  let records = [];
  while (Date.now() < deadline) {
    const res = await call(server, who, 'GET', `/api/v1/audit?${query}`);
    assert.equal(res.status, 200, res.text());
    records = res.json().records;
    if (check(records)) return records;
    await new Promise((r) => setTimeout(r, 100));
  }
  return records;
}
