// Minimal HTTP/1.1 client on node:http for tests: full control over headers and over how
// (and how slowly) a body is sent; the response is buffered.
import http from 'node:http';
import { once } from 'node:events';

// request(baseUrl, {method, path, headers, body, timeoutMs}) ->
//   {status, headers, body: Buffer, text(), json()}
// `body` is a Buffer/string, or an (async) iterable of Buffers sent as they come (with
// back-pressure). When the server answers before the body is sent (e.g. 413) the answer
// is returned and the rest of the body is dropped.
export function request(baseUrl, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 60_000, signal } = {}) {
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
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent: false, signal },
      (res) => {
        responded = true;
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => done(reject, e));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
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
      await Promise.race([once(req, 'drain'), once(req, 'close')]);
    }
  }
  if (!req.destroyed) req.end();
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
