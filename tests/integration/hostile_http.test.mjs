// Hostile HTTP clients against the real server, each attack from its own clinic's token
// and from 127.0.0.2-9, while another clinic (beta, at 127.0.0.1) keeps being served:
// slowloris headers (408 at limits.header_timeout_s, no handler thread held), bodies
// slower than limits.min_body_rate (408), and more connections from one address than
// limits.max_connections_per_address (503 at once). Each refusal is counted in /metrics;
// afterwards the server is healthy and the other clinic's instances are unchanged.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { qido } from './lib/dicomweb.mjs';
import { assertHealthy, eventually } from './lib/fixture.mjs';
import { bearer, rawHead, request } from './lib/http.mjs';
import { ATTACK_ADDRESSES, assertClinicUntouched, gauge, otherClinicIsServed, receivedText, refusals, refusalsEventually, SlowBodies, StalledConnections, startClinics, writeConfig } from './lib/hostile.mjs';
import { newBoundary, stowContentType } from './lib/multipart.mjs';

const jsonError = (body) => JSON.parse(body).error;

test('slowloris: 400 connections that send one byte get 408 after limits.header_timeout_s, hold no handler thread, and another clinic is served meanwhile', { timeout: 120_000 }, async (t) => {
  // Two handler threads only: 400 stalled connections could not all hold one.
  const { server, tokens, clinic } = await startClinics('hostile-slowloris', { args: ['--header-timeout-s', '2', '--threads', '2'], seed: 7101 });
  t.after(() => server.dispose());
  const before = await refusals(server, 'http', 'header_timeout_s');
  // A sustained attack: a connection the server closes is opened again at once.
  const attack = await StalledConnections.open({ port: server.port, count: 400, sustain: true });
  t.after(() => attack.stop());
  await eventually(async () => `the server to hold the 400 stalled connections (gauge ${await gauge(server, 'voxelgate_http_connections_open')})`,
    async () => (await gauge(server, 'voxelgate_http_connections_open')) >= 400, 30_000);

  const { timings, stored } = await otherClinicIsServed(server, tokens.beta, clinic, 'a slowloris attack', { stowSeed: 7102 });
  t.diagnostic(`other clinic during the attack: ${JSON.stringify(timings)}; attack connections open ${attack.openCount}`);
  await attack.waitConnected(350); // the attack goes on (dropped connections are re-opened)

  // Every attacking connection the server has ended by now got a 408 naming the limit,
  // about header_timeout_s after it connected.
  await eventually(() => `400 stalled connections ended by the server (${attack.finished.length})`, () => attack.finished.length >= 400, 60_000);
  const ended = attack.stop();
  for (const rec of ended) {
    const text = receivedText(rec);
    assert.match(text, /^HTTP\/1\.1 408 /, `a stalled connection from ${rec.address} got: ${text.slice(0, 120)} (${rec.error ?? ''})`);
    const error = jsonError(text.slice(text.indexOf('\r\n\r\n') + 4));
    assert.match(error.message, /limits\.header_timeout_s/);
    // From the client's 'connect' event, which a busy event loop sees late: a margin below 2 s.
    assert.ok(rec.firstDataMs >= 1500 && rec.firstDataMs <= 12_000, `408 after ${rec.firstDataMs?.toFixed(0)} ms, header timeout 2 s`);
  }
  const ms = ended.map((r) => r.firstDataMs).sort((a, b) => a - b);
  t.diagnostic(`${ended.length} connections ended with 408; ms from connect: min ${ms[0].toFixed(0)}, median ${ms[ms.length >> 1].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)}`);
  await refusalsEventually(server, 'http', 'header_timeout_s', before, ended.length);
  await eventually(async () => 'the stalled connections to be gone from voxelgate_http_connections_open',
    async () => (await gauge(server, 'voxelgate_http_connections_open')) <= 2, 30_000);

  await assertHealthy(server, 'the slowloris attack');
  await assertClinicUntouched(server, tokens.beta, clinic, 'the slowloris attack');
  await assertClinicUntouched(server, tokens.beta, stored, 'the slowloris attack (stored during it)');
});

test('slow bodies: STOW bodies sent slower than limits.min_body_rate get 408 after limits.body_grace_s, and another clinic is served meanwhile', { timeout: 120_000 }, async (t) => {
  const config = writeConfig('[limits]\nbody_grace_s = 1\n');
  const { server, tokens, clinic } = await startClinics('hostile-slow-body', { args: ['--config', config, '--min-body-rate', '1000'], seed: 7201 });
  t.after(() => server.dispose());
  const before = await refusals(server, 'http', 'min_body_rate');
  const boundary = newBoundary();
  // The attacker's own valid token: the request is authorised, only its body is slow.
  const head = rawHead('POST', '/dicomweb/studies', {
    ...bearer(tokens.mallory), 'Content-Type': stowContentType(boundary), Accept: 'application/dicom+json', 'Content-Length': '100000',
  });
  // 8 clients at 40 bytes/s each: fewer than the handler threads (at least 16), so the
  // server is not saturated and each keeps its grace (the next test saturates it).
  const attack = SlowBodies.start({ port: server.port, head, count: 8, chunk: Buffer.from(`--${boundary}`.slice(0, 10)), everyMs: 250 });
  t.after(() => attack.stop());
  await eventually(() => `8 slow bodies being sent (${attack.sending})`, () => attack.sending >= 8, 30_000, 20);

  const { timings, stored } = await otherClinicIsServed(server, tokens.beta, clinic, 'a slow-body attack', { stowSeed: 7202 });
  t.diagnostic(`other clinic during the attack: ${JSON.stringify(timings)}; slow bodies answered so far ${attack.answered.length}`);

  await eventually(() => `16 slow bodies answered (${attack.answered.length})`, () => attack.answered.length >= 16, 60_000);
  const answered = attack.stop();
  for (const a of answered) {
    assert.equal(a.status, 408, `a slow body from ${a.address} got: ${a.text.slice(0, 200)}`);
    assert.match(jsonError(a.body).message, /limits\.min_body_rate/);
    // The rate counts after 1 s of waiting: the answer comes soon after, not at the request timeout.
    assert.ok(a.ms >= 900 && a.ms <= 15_000, `408 after ${a.ms?.toFixed(0)} ms (grace 1 s)`);
  }
  const ms = answered.map((a) => a.ms).sort((x, y) => x - y);
  t.diagnostic(`${answered.length} slow bodies got 408; ms from the head: min ${ms[0].toFixed(0)}, median ${ms[ms.length >> 1].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)}`);
  await refusalsEventually(server, 'http', 'min_body_rate', before, answered.length);

  await assertHealthy(server, 'the slow-body attack');
  assert.deepEqual(await qido(server, tokens.mallory, '/studies'), [], 'nothing of the slow bodies was stored');
  await assertClinicUntouched(server, tokens.beta, clinic, 'the slow-body attack');
  await assertClinicUntouched(server, tokens.beta, stored, 'the slow-body attack (stored during it)');
});

test('per-address cap: 30 connections from 127.0.0.2 with limits.max_connections_per_address 20: 10 get 503 at once, 127.0.0.1 is still served, and 127.0.0.2 again once it lets go', { timeout: 120_000 }, async (t) => {
  const { server, tokens, clinic } = await startClinics('hostile-per-address', { args: ['--max-connections-per-address', '20', '--header-timeout-s', '60'], seed: 7301 });
  t.after(() => server.dispose());
  const before = await refusals(server, 'http', 'max_connections_per_address');
  const flood = new StalledConnections({ port: server.port, count: 30, addresses: ['127.0.0.2'], firstBytes: null });
  t.after(() => flood.stop());
  for (let i = 0; i < 30; i++) flood.connect('127.0.0.2');
  await eventually(() => `20 connections held and 10 refused (open ${flood.openCount}, ended ${flood.finished.length})`,
    () => flood.openCount === 20 && flood.finished.length === 10, 30_000, 50);
  for (const rec of flood.finished) {
    const text = receivedText(rec);
    assert.match(text, /^HTTP\/1\.1 503 /, `a connection past the cap got: ${text.slice(0, 120)}`);
    assert.match(jsonError(text.slice(text.indexOf('\r\n\r\n') + 4)).message, /limits\.max_connections_per_address/);
    assert.ok(rec.firstDataMs <= 2000, `the 503 came ${rec.firstDataMs?.toFixed(0)} ms after the connect: not at once`);
  }
  assert.equal(await refusalsEventually(server, 'http', 'max_connections_per_address', before, 10), before + 10);
  // A real request from the capped address is refused too; from 127.0.0.1 it is served.
  const refused = await request(server.baseUrl, { path: '/healthz', localAddress: '127.0.0.2', timeoutMs: 10_000 });
  assert.equal(refused.status, 503);
  const { timings, stored } = await otherClinicIsServed(server, tokens.beta, clinic, 'the per-address cap', { stowSeed: 7302 });
  t.diagnostic(`other clinic while 127.0.0.2 is capped: ${JSON.stringify(timings)}`);
  // Other attacking addresses have caps of their own.
  const other = await request(server.baseUrl, { path: '/healthz', localAddress: ATTACK_ADDRESSES[1], timeoutMs: 10_000 });
  assert.equal(other.status, 200, `${ATTACK_ADDRESSES[1]} is under its own cap`);

  flood.stop();
  await eventually('127.0.0.2 to be served again once its connections are closed', async () => {
    const res = await request(server.baseUrl, { path: '/healthz', localAddress: '127.0.0.2', timeoutMs: 10_000 });
    return res.status === 200;
  }, 30_000);
  await assertHealthy(server, 'the per-address flood');
  await assertClinicUntouched(server, tokens.beta, clinic, 'the per-address flood');
  await assertClinicUntouched(server, tokens.beta, stored, 'the per-address flood (stored during it)');
});

// More slow bodies than handler threads (8 per core, at least 16), with the default limits
// (10 s of grace, 4096 bytes/s): once every thread is busy the grace is dropped, so the
// trickles are cut at once (408) instead of holding the threads, and another clinic is
// served meanwhile.
const SLOW = Math.max(16, 8 * Math.max(1, availableParallelism())) + 4;
test(`slow bodies with the default limits: ${SLOW} slow STOW bodies (more than the handler threads) get 408 without their grace, and another clinic waits no more than 5 s`, { timeout: 120_000 }, async (t) => {
  const { server, tokens, clinic } = await startClinics('hostile-slow-body-defaults', { seed: 7251 });
  t.after(() => server.dispose());
  const boundary = newBoundary();
  const head = rawHead('POST', '/dicomweb/studies', {
    ...bearer(tokens.mallory), 'Content-Type': stowContentType(boundary), Accept: 'application/dicom+json', 'Content-Length': '100000',
  });
  const attack = SlowBodies.start({ port: server.port, head, count: SLOW, chunk: Buffer.from('0123456789'), everyMs: 250 });
  t.after(() => attack.stop());
  await eventually(() => `${SLOW} slow bodies being sent (${attack.sending})`, () => attack.sending >= SLOW, 30_000, 20);
  const t0 = performance.now();
  try {
    const { timings } = await otherClinicIsServed(server, tokens.beta, clinic, 'slow bodies at the default limits');
    t.diagnostic(`other clinic: ${JSON.stringify(timings)}`);
  } finally {
    t.diagnostic(`the other clinic's /healthz + QIDO took ${(performance.now() - t0).toFixed(0)} ms in all`);
  }
  // The trickles were cut (408 naming the rate), well before the 10 s grace would end.
  await eventually(() => `slow bodies answered (${attack.answered.length})`, () => attack.answered.length >= SLOW, 60_000);
  const answered = attack.stop();
  const early = answered.filter((a) => a.status === 408 && a.ms < 9_000);
  assert.ok(early.length > 0, `some slow bodies were cut before their grace: ${answered.slice(0, 5).map((a) => `${a.status} ${a.ms?.toFixed(0)} ms`).join(', ')}`);
  for (const a of answered) {
    assert.equal(a.status, 408, `a slow body got: ${a.text.slice(0, 200)}`);
    assert.match(jsonError(a.body).message, /limits\.min_body_rate/);
  }
  await assertHealthy(server, 'slow bodies at the default limits');
  await assertClinicUntouched(server, tokens.beta, clinic, 'slow bodies at the default limits');
});
