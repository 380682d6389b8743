// Behind a TLS-terminating proxy: only from a trusted proxy (--trusted-proxy) are
// X-Forwarded-For and X-Forwarded-Proto believed. Then the session cookie is Secure when the
// client's request was HTTPS, and the login throttle and the audit trail see the real
// client; from anyone else the headers change nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from './lib/http.mjs';
import { auditListEventually, createUser, passwordOf } from './lib/people.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const PROXY = '127.0.0.9';
let server;

before(async () => {
  server = await VoxelgateServer.start({ name: 'proxy', args: ['--trusted-proxy', PROXY] });
  await server.createTenant('clinic');
  await createUser(server, 'clinic', 'p.user', 'physician');
});

after(async () => {
  await server?.dispose();
});

const signIn = (localAddress, headers, password = passwordOf('p.user')) => request(server.baseUrl, {
  method: 'POST', path: '/api/v1/session', localAddress,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: Buffer.from(JSON.stringify({ username: 'p.user', password })),
});
const cookieOf = (res) => [res.headers['set-cookie']].flat().filter(Boolean).join('\n');

test('through the trusted proxy an HTTPS client gets a Secure cookie and the audit names the client', async () => {
  const res = await signIn(PROXY, { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' });
  assert.equal(res.status, 200, res.text());
  assert.match(cookieOf(res), /vg_session=[^;]+;.*; Secure/);
  await auditListEventually(server, 'the sign-in from 203.0.113.7', (out) =>
    out.split('\n').some((l) => l.includes('session.login') && l.endsWith('\t203.0.113.7')));
});

test('from anyone else the headers are ignored: no Secure over plain HTTP, the audit names the real peer', async () => {
  const res = await signIn('127.0.0.1', { 'X-Forwarded-For': '198.51.100.1', 'X-Forwarded-Proto': 'https' });
  assert.equal(res.status, 200, res.text());
  assert.doesNotMatch(cookieOf(res), /Secure/);
  const out = await auditListEventually(server, 'the sign-in from 127.0.0.1', (o) =>
    o.split('\n').some((l) => l.includes('session.login') && l.endsWith('\t127.0.0.1')));
  assert.ok(!out.includes('198.51.100.1'), 'a client cannot choose the address it is recorded under');
});

test('the throttle counts the client behind the proxy: one guesser is blocked, another client is not', async () => {
  const statuses = [];
  for (let i = 0; i < 20; ++i)
    statuses.push((await signIn(PROXY, { 'X-Forwarded-For': '192.0.2.66', 'X-Forwarded-Proto': 'https' }, `wrong ${i}`)).status);
  assert.equal(statuses[19], 429, statuses.join(','));
  const other = await signIn(PROXY, { 'X-Forwarded-For': '192.0.2.10', 'X-Forwarded-Proto': 'https' });
  assert.equal(other.status, 200, 'the proxy\'s address is not blocked for everyone behind it');
  // A guesser cannot escape its block by naming another address unless it is the proxy.
  const spoofed = await signIn('127.0.0.3', { 'X-Forwarded-For': '192.0.2.99' }, 'wrong again');
  assert.equal(spoofed.status, 401);
});
