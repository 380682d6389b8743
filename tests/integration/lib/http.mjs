// Minimal HTTP/1.1 client on node:http for tests: full control over headers and over how
// (and how slowly) a body is sent; the response is buffered.
import http from 'node:http';
import net from 'node:net';
import { checkAnswer } from './openapi.mjs';

// request(baseUrl, {method, path, headers, body, timeoutMs, localAddress}) ->
//   {status, headers, body: Buffer, text(), json()}
// `body` is a Buffer/string, or an (async) iterable of Buffers sent as they come (with
// back-pressure). When the server answers before the body is sent (e.g. 413) the answer
// is returned and the rest of the body is dropped.
// `localAddress`: the source address to connect from (e.g. 127.0.0.2, for per-address limits).
// Every answer is checked against docs/openapi.json (lib/openapi.mjs): a 2xx answer the
// description does not describe rejects, naming the operation and what differs.
export function request(baseUrl, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 60_000, signal, localAddress } = {}) {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    let settled = false;
    let responded = false;
    const done = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(v);
    };
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent: false, signal, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        responded = true;
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => done(reject, e));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          try {
            checkAnswer({ method, path: url.pathname, status: res.statusCode, headers: res.headers, body: buf });
          } catch (e) {
            return done(reject, e);
          }
          done(resolve, {
            status: res.statusCode,
            headers: res.headers,
            body: buf,
            text: () => buf.toString('utf8'),
            json: () => JSON.parse(buf.toString('utf8')),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${path} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      if (!responded) done(reject, e);
    });
    sendBody(req, body).catch((e) => {
      if (!responded) done(reject, e);
    });
  });
}

async function sendBody(req, body) {
  if (body === undefined || body === null) return req.end();
  if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) return req.end(body);
  for await (const chunk of body) {
    if (req.destroyed) return;
    if (!req.write(chunk)) {
      await drained(req);
    }
  }
  if (!req.destroyed) req.end();
}

// Resolves on 'drain' or 'close', leaving no listener behind.
function drained(emitter) {
  return new Promise((resolve) => {
    const done = () => {
      emitter.off('drain', done);
      emitter.off('close', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
  });
}

export function bearer(token) {
  return { Authorization: `Bearer ${token}` };
}

// Parses an error body {"error":{"code","message"}}; returns it or throws with context.
export function errorBody(res) {
  let j;
  try {
    j = res.json();
  } catch {
    throw new Error(`expected a JSON error body for HTTP ${res.status}, got: ${res.text().slice(0, 300)}`);
  }
  if (!j || typeof j.error !== 'object' || typeof j.error.code !== 'string' || typeof j.error.message !== 'string') {
    throw new Error(`error body is not {"error":{"code","message"}}: ${res.text().slice(0, 300)}`);
  }
  return j.error;
}

// A raw HTTP/1.1 exchange on one socket for requests the server may answer before it has
// read them (413, 431): sends `head` (request line + headers, ending in CRLFCRLF) and then
// the body chunks, stops sending as soon as response bytes arrive, ignores write errors,
// and returns the parsed response {status, headers, body, text(), json()}. With
// pauseAfterHeadMs the body starts only after that pause (a server may answer first).
export function rawExchange(port, head, bodyChunks = [], { timeoutMs = 30_000, pauseAfterHeadMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const got = [];
    let answered = false;
    let finished = false;
    const finish = (e) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(got);
      if (!buf.length) return reject(e ?? new Error('connection closed without a response'));
      try {
        resolve(parseRawResponse(buf));
      } catch (pe) {
        reject(pe);
      }
    };
    const timer = setTimeout(() => finish(new Error('timed out')), timeoutMs);
    sock.on('data', (d) => {
      answered = true;
      got.push(d);
      const buf = Buffer.concat(got);
      if (responseComplete(buf)) finish();
    });
    sock.on('end', () => finish());
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish());
    (async () => {
      sock.write(head);
      if (pauseAfterHeadMs) await new Promise((r) => setTimeout(r, pauseAfterHeadMs));
      for await (const c of bodyChunks) {
        if (answered || sock.destroyed) return;
        if (!sock.write(c)) await drained(sock);
      }
    })().catch(() => {});
  });
}

function splitHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${lines[0].slice(0, 80)}`);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, bodyStart: end + 4 };
}

function dechunk(buf) {
  const out = [];
  let p = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol < 0) return null;
    const n = parseInt(buf.toString('latin1', p, eol), 16);
    if (Number.isNaN(n)) throw new Error('bad chunk size');
    if (n === 0) return Buffer.concat(out);
    if (eol + 2 + n + 2 > buf.length) return null;
    out.push(buf.subarray(eol + 2, eol + 2 + n));
    p = eol + 2 + n + 2;
  }
}

function responseComplete(buf) {
  const h = splitHead(buf);
  if (!h) return false;
  const rest = buf.subarray(h.bodyStart);
  if (h.headers['content-length'] !== undefined) return rest.length >= Number(h.headers['content-length']);
  if (/chunked/i.test(h.headers['transfer-encoding'] ?? '')) return dechunk(rest) !== null;
  return false; // close-delimited
}

function parseRawResponse(buf) {
  const h = splitHead(buf);
  if (!h) throw new Error(`incomplete HTTP response: ${buf.toString('latin1', 0, 200)}`);
  let body = buf.subarray(h.bodyStart);
  if (h.headers['content-length'] !== undefined) body = body.subarray(0, Number(h.headers['content-length']));
  else if (/chunked/i.test(h.headers['transfer-encoding'] ?? '')) body = dechunk(body) ?? body;
  return { status: h.status, headers: h.headers, body, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) };
}

// The request line and headers of a raw request, ending with the blank line.
export function rawHead(method, path, headers) {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}
