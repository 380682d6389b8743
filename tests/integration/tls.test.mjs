// HTTPS on the HTTP listener (`serve --tls-cert --tls-key`) and the security headers of
// every response. A self-signed certificate for CN=localhost is made with openssl; clients
// (node's https, curl) verify it against that certificate as their only CA. Over TLS:
// requests, keep-alive, STOW and WADO byte-identical, HSTS and the security headers on
// answers and on the server's own errors (404, 405, 408, 413, 431), a Secure session
// cookie, TLS 1.2 minimum, plain HTTP refused, idle and stalled handshakes closed in time.
// Without TLS: the same security headers, no HSTS, no Secure cookie. A bad key, cert or
// half the flags stop `serve` at start with a message naming the problem.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makeSeries } from './lib/dicomweb.mjs';
import { binaryPath, makeTempDir } from './lib/env.mjs';
import { eventually } from './lib/fixture.mjs';
import { rawExchange, rawHead, request } from './lib/http.mjs';
import { multipartBody, parseMultipart } from './lib/multipart.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const execFileP = promisify(execFile);
const TIMEOUT_S = 3; // --request-timeout-s, --header-timeout-s and --idle-timeout-s of the TLS server
const MAX_BODY = 8 << 20;
// 'wasm-unsafe-eval' lets the viewer compile its WebAssembly codecs; JavaScript eval stays off.
const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; " +
  "object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
const HSTS = 'max-age=31536000; includeSubDomains';
const PASSWORD = 'correct horse battery';

let work;
let certPath;
let keyPath;
let ca;
let server; // TLS
let plain;

// The harness's server, reached over HTTPS: readiness is polled with a verifying client.
class TlsServer extends VoxelgateServer {
  static async start(opts) {
    const s = new TlsServer(opts);
    try {
      await s.start();
    } catch (e) {
      await s.dispose();
      throw e;
    }
    return s;
  }

  get baseUrl() {
    return `https://127.0.0.1:${this.port}`;
  }

  async waitReady(timeoutMs = 30_000) {
    let last = '';
    await eventually(() => `voxelgate to be ready over HTTPS within ${timeoutMs} ms (last: ${last}):\n${this.logTail()}`, async () => {
      if (this.exitInfo) throw new Error(`voxelgate exited before ready (${JSON.stringify(this.exitInfo)}):\n${this.logTail()}`);
      try {
        const res = await httpsRequest(this.port, { path: '/readyz', timeoutMs: 2000 });
        last = `HTTP ${res.status}`;
        return res.status === 200;
      } catch (e) {
        last = e.message;
        return false;
      }
    }, timeoutMs, 100);
  }
}

// One HTTPS request on a fresh connection, the certificate verified for "localhost".
// When the server answers before the body is sent (413), the answer is returned.
function httpsRequest(port, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn, v) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        fn(v);
      }
    };
    const req = https.request(
      { host: '127.0.0.1', port, servername: 'localhost', ca, method, path, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => done(reject, e));
        res.on('end', () => done(resolve, { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), protocol: res.socket?.getProtocol?.() }));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`HTTPS ${method} ${path} timed out`)), timeoutMs);
    req.on('error', (e) => done(reject, e));
    req.end(body);
  });
}

// A raw exchange over TLS for what node's client will not send (a stalled header): writes
// `chunks` in order, reads until the server closes; returns {status, headers, ms}.
function rawTlsExchange(port, chunks, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const got = [];
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      for (const c of chunks) sock.write(c);
    });
    const timer = setTimeout(() => sock.destroy(new Error('no close from the server')), timeoutMs);
    sock.on('data', (d) => got.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(got).toString('latin1');
      const [head] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]), headers, ms: Date.now() - started });
    });
  });
}

// Opens a TCP connection, sends `bytes` (maybe none) and resolves with the ms until the
// server closes it.
function msUntilClosed(port, bytes) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect(port, '127.0.0.1', () => {
      if (bytes) sock.write(bytes);
    });
    const timer = setTimeout(() => sock.destroy(new Error('still open after 30 s')), 30_000);
    const closed = () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    };
    sock.on('data', () => {});
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? closed() : (clearTimeout(timer), reject(e))));
    sock.on('close', closed);
  });
}

async function curl(port, args) {
  const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await execFileP('curl', [
    '-sS', '--cacert', certPath, '--resolve', `localhost:${port}:127.0.0.1`,
    '-o', out, '-w', '%{http_code} %{content_type}', ...args,
  ]);
  const sp = stdout.indexOf(' ');
  return { status: Number(stdout.slice(0, sp)), contentType: stdout.slice(sp + 1), body: readFileSync(out) };
}

// Runs `serve` expecting it to stop at start; returns {code, stderr}.
async function serveFails(args) {
  const dataDir = makeTempDir('tls-bad');
  try {
    await execFileP(binaryPath, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--dicom-listen', 'off', ...args], { timeout: 20_000 });
  } catch (e) {
    if (e.killed) throw new Error(`serve ${args.join(' ')} was still running after 20 s`);
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`serve ${args.join(' ')} exited 0`);
}

function adminWithStdin(target, args, input) {
  return new Promise((resolve) => {
    const child = execFile(binaryPath, [...target.cliArgs('admin'), ...args], { env: target.cliEnv }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function createUser(target, username) {
  await target.createTenant('clinic');
  const made = await adminWithStdin(target, ['user', 'create', '--tenant', 'clinic', '--username', username, '--role', 'radiologist', '--password-stdin'], `${PASSWORD}\n`);
  assert.equal(made.code, 0, made.stderr);
}

const signIn = (username) => ({
  method: 'POST', path: '/api/v1/session', headers: { 'Content-Type': 'application/json' },
  body: Buffer.from(JSON.stringify({ username, password: PASSWORD })),
});

function assertSecurityHeaders(headers, what, { hsts }) {
  assert.equal(headers['content-security-policy'], CSP, `CSP on ${what}`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `nosniff on ${what}`);
  assert.equal(headers['referrer-policy'], 'no-referrer', `Referrer-Policy on ${what}`);
  assert.equal(headers['x-frame-options'], 'DENY', `X-Frame-Options on ${what}`);
  if (hsts) assert.equal(headers['strict-transport-security'], HSTS, `HSTS on ${what}`);
  else assert.equal(headers['strict-transport-security'], undefined, `no HSTS without TLS (${what})`);
}

before(async () => {
  work = makeTempDir('tls');
  certPath = join(work, 'cert.pem');
  keyPath = join(work, 'key.pem');
  await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', keyPath, '-out', certPath]);
  ca = readFileSync(certPath);
  server = await TlsServer.start({
    name: 'tls',
    args: ['--tls-cert', certPath, '--tls-key', keyPath, '--request-timeout-s', String(TIMEOUT_S), '--header-timeout-s', String(TIMEOUT_S), '--idle-timeout-s', String(TIMEOUT_S),
      '--max-body-bytes', String(MAX_BODY)],
  });
  plain = await VoxelgateServer.start({ name: 'tls-plain', args: ['--max-body-bytes', String(MAX_BODY)] });
});

after(async () => {
  await server?.dispose();
  await plain?.dispose();
});

describe('with TLS', () => {
  test('GET /healthz over HTTPS is 200, TLS 1.2 or later, the certificate verified', async () => {
    const res = await httpsRequest(server.port, { path: '/healthz' });
    assert.equal(res.status, 200);
    assert.match(res.protocol, /^TLSv1\.[23]$/);
    assert.match(server.stdoutText(), /voxelgate listening on https:\/\/127\.0\.0\.1:/);
  });

  test('answers and the server\'s own errors carry HSTS and the security headers', async () => {
    assertSecurityHeaders((await httpsRequest(server.port, { path: '/healthz' })).headers, '200', { hsts: true });
    const missing = await httpsRequest(server.port, { path: '/api/v1/no/such/endpoint' });
    assert.equal(missing.status, 404);
    assertSecurityHeaders(missing.headers, '404', { hsts: true });
    const wrongMethod = await httpsRequest(server.port, { method: 'DELETE', path: '/healthz' });
    assert.equal(wrongMethod.status, 405);
    assertSecurityHeaders(wrongMethod.headers, '405', { hsts: true });
    const bigHeader = await httpsRequest(server.port, { path: '/healthz', headers: { 'X-Big': 'a'.repeat(20_000) } });
    assert.equal(bigHeader.status, 431);
    assertSecurityHeaders(bigHeader.headers, '431', { hsts: true });
    const bigBody = await httpsRequest(server.port, {
      method: 'POST', path: '/dicomweb/studies', headers: { 'Content-Type': 'application/dicom' }, body: Buffer.alloc(MAX_BODY + 1024 * 1024),
    });
    assert.equal(bigBody.status, 413);
    assertSecurityHeaders(bigBody.headers, '413', { hsts: true });
  });

  test('a request whose header stalls gets 408 with the headers within the header timeout', async () => {
    const res = await rawTlsExchange(server.port, [Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 'latin1')]);
    assert.equal(res.status, 408);
    assertSecurityHeaders(res.headers, '408', { hsts: true });
    assert.ok(res.ms < (TIMEOUT_S + 2) * 1000, `408 after ${res.ms} ms`);
  });

  test('curl keeps the connection alive across requests', async () => {
    const url = `https://localhost:${server.port}`;
    const { stdout } = await execFileP('curl', ['-sS', '--cacert', certPath, '--resolve', `localhost:${server.port}:127.0.0.1`,
      '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${url}/healthz`, `${url}/readyz`]);
    assert.deepEqual(stdout.trim().split('\n'), ['200 1', '200 0']);
  });

  test('STOW over HTTPS (>1 MB, Expect: 100-continue) answers with https URLs, then WADO returns the instance byte-identical', async () => {
    await server.createTenant('alpha');
    const token = await server.createToken({ tenant: 'alpha', name: 'tls-rw' });
    const series = await makeSeries({ slices: 10, rows: 256, cols: 256, patientName: 'TLS^ROUNDTRIP', patientId: 'PIDTLS1', seed: 41 });
    const { body, contentType } = multipartBody(series.instances.map((i) => i.bytes), { quoted: true });
    assert.ok(body.length > 1 << 20);
    const bodyPath = join(work, 'stow.body');
    writeFileSync(bodyPath, body);
    const base = `https://localhost:${server.port}/dicomweb`;
    const auth = ['-H', `Authorization: Bearer ${token}`];
    const stored = await curl(server.port, [...auth, '-H', `Content-Type: ${contentType}`, '--data-binary', `@${bodyPath}`, `${base}/studies`]);
    assert.equal(stored.status, 200, stored.body.toString().slice(0, 400));
    // URLs in answers name the scheme the client used.
    const retrieveUrl = JSON.parse(stored.body.toString())['00081190'].Value[0];
    assert.ok(retrieveUrl.startsWith(`${base}/studies/`), retrieveUrl);
    const one = series.instances[3];
    const got = await curl(server.port, [...auth, '-H', 'Accept: multipart/related; type="application/dicom"',
      `${base}/studies/${series.study_uid}/series/${series.series_uid}/instances/${one.sop}`]);
    assert.equal(got.status, 200);
    const parts = parseMultipart(got.body, got.contentType);
    assert.equal(parts.length, 1);
    assert.ok(parts[0].body.equals(one.bytes), 'retrieved instance differs from the one sent');
  });

  test('signing in over HTTPS sets a Secure, HttpOnly session cookie', async () => {
    await createUser(server, 'rad.tls');
    const res = await httpsRequest(server.port, signIn('rad.tls'));
    assert.equal(res.status, 200, res.body.toString());
    const cookie = [res.headers['set-cookie']].flat().find((c) => /^vg_session=/.test(c ?? ''));
    assert.ok(cookie, 'a session cookie');
    assert.match(cookie, /;\s*Secure(;|$)/);
    assert.match(cookie, /;\s*HttpOnly(;|$)/);
  });

  test('plain HTTP to the TLS port gets no HTTP answer, and the server stays up', async () => {
    await assert.rejects(request(`http://127.0.0.1:${server.port}`, { path: '/healthz', timeoutMs: 10_000 }));
    assert.equal((await httpsRequest(server.port, { path: '/healthz' })).status, 200);
  });

  test('TLS 1.1 is refused by the server', async () => {
    const err = await new Promise((resolve) => {
      const sock = tls.connect({
        host: '127.0.0.1', port: server.port, servername: 'localhost', ca,
        minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0',
      }, () => {
        sock.destroy();
        resolve(null);
      });
      sock.on('error', resolve);
    });
    assert.ok(err, 'a TLS 1.1 handshake succeeded');
    // The server's "protocol version" alert, not a client that refused to try.
    assert.match(`${err.code} ${err.message}`, /PROTOCOL_VERSION|protocol version/i);
  });

  test('a connection that sends nothing is closed within the header timeout', async () => {
    const ms = await msUntilClosed(server.port, null);
    assert.ok(ms >= (TIMEOUT_S - 1) * 1000 && ms < (TIMEOUT_S + 2) * 1000, `closed after ${ms} ms`);
  });

  test('a handshake that stalls is closed within the header timeout, and the server stays up', async () => {
    // The first bytes of a ClientHello record, then nothing.
    const stalled = await Promise.all([1, 2, 3].map(() => msUntilClosed(server.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))));
    for (const ms of stalled) assert.ok(ms < (TIMEOUT_S + 2) * 1000, `closed after ${ms} ms`);
    assert.equal((await httpsRequest(server.port, { path: '/healthz' })).status, 200);
  });
});

describe('without TLS', () => {
  test('200, 404 and the server\'s own 413/431 carry the security headers, and no HSTS', async () => {
    const ok = await request(plain.baseUrl, { path: '/healthz' });
    assert.equal(ok.status, 200);
    assertSecurityHeaders(ok.headers, '200', { hsts: false });
    const missing = await request(plain.baseUrl, { path: '/api/v1/no/such/endpoint' });
    assert.equal(missing.status, 404);
    assertSecurityHeaders(missing.headers, '404', { hsts: false });
    const bigHeader = await rawExchange(plain.port, rawHead('GET', '/healthz', { 'X-Big': 'a'.repeat(20_000) }));
    assert.equal(bigHeader.status, 431);
    assertSecurityHeaders(bigHeader.headers, '431', { hsts: false });
    const bigBody = await rawExchange(plain.port, rawHead('POST', '/dicomweb/studies', { 'Content-Type': 'application/dicom', 'Content-Length': String(MAX_BODY + 1) }));
    assert.equal(bigBody.status, 413);
    assertSecurityHeaders(bigBody.headers, '413', { hsts: false });
  });

  test('the session cookie is not Secure', async () => {
    await createUser(plain, 'rad.plain');
    const res = await request(plain.baseUrl, signIn('rad.plain'));
    assert.equal(res.status, 200, res.body.toString());
    const cookie = [res.headers['set-cookie']].flat().find((c) => /^vg_session=/.test(c ?? ''));
    assert.ok(cookie);
    assert.doesNotMatch(cookie, /Secure/);
  });
});

describe('serve refuses to start', () => {
  test('with a key file that holds no key, naming the file', async () => {
    const bad = join(work, 'not-a-key.pem');
    writeFileSync(bad, 'this is not a key\n');
    const r = await serveFails(['--tls-cert', certPath, '--tls-key', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /TLS key file '.*not-a-key\.pem' holds no usable PEM private key/);
  });

  test('with a missing key file', async () => {
    const r = await serveFails(['--tls-cert', certPath, '--tls-key', join(work, 'missing.pem')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot read TLS key file '.*missing\.pem': No such file/);
  });

  test('with the key of another certificate', async () => {
    const otherKey = join(work, 'other-key.pem');
    await execFileP('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey]);
    const r = await serveFails(['--tls-cert', certPath, '--tls-key', otherKey]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not match the certificate/);
  });

  test('with a certificate file that holds no certificate', async () => {
    const r = await serveFails(['--tls-cert', keyPath, '--tls-key', keyPath]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /TLS certificate file '.*key\.pem' holds no usable PEM certificate chain/);
  });

  test('with only one of --tls-cert and --tls-key', async () => {
    const r = await serveFails(['--tls-cert', certPath]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--tls-cert and --tls-key go together/);
  });
});
