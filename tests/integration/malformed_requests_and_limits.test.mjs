// Bad input gets a clear 4xx and never takes the server down: malformed multipart (400),
// wrong media type (415), a truncated or non-DICOM part in a batch (fails alone: 202),
// an oversized header (431) or body (413) naming the limit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_DICOM, get, makeSeries, qido, sortedUids, stow, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { makeTempDir } from './lib/env.mjs';
import { assertHealthy, startWithTenants } from './lib/fixture.mjs';
import { bearer, errorBody, rawExchange, rawHead, request } from './lib/http.mjs';
import { CRLF, multipartBody, newBoundary, partHeader, stowContentType } from './lib/multipart.mjs';

const execFileP = promisify(execFile);
const MAX_HEADER = 8192;
const MAX_BODY = 4_000_000;
let server;
let token;
let S;

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('malformed-limits', ['alpha'], {
    args: ['--max-header-bytes', String(MAX_HEADER), '--max-body-bytes', String(MAX_BODY)],
  }));
  S = await makeSeries({ slices: 4, rows: 32, cols: 32, patientName: 'BAD^INPUT', patientId: 'PIDBAD', seed: 51 });
});

after(async () => {
  await server?.dispose();
});

async function post(body, contentType, extra = {}) {
  const headers = { ...bearer(token), Accept: 'application/dicom+json', ...extra };
  if (contentType) headers['Content-Type'] = contentType;
  if (Buffer.isBuffer(body) && !('Transfer-Encoding' in extra)) headers['Content-Length'] = body.length;
  return request(server.baseUrl, { method: 'POST', path: '/dicomweb/studies', headers, body, timeoutMs: 30_000 });
}

// A STOW body of 10 512x512 slices (~5.2 MB), over MAX_BODY.
async function bigBody(patientId, seed) {
  const s = await makeSeries({ slices: 10, rows: 512, cols: 512, patientId, seed });
  const b = multipartBody(s.instances.map((i) => i.bytes));
  assert.ok(b.body.length > MAX_BODY);
  return b;
}

function* slices(buf, size) {
  for (let o = 0; o < buf.length; o += size) yield buf.subarray(o, o + size);
}

async function nothingStoredFor(patientId) {
  assert.deepEqual(await qido(server, token, `/studies?PatientID=${patientId}`), [], `something was stored for ${patientId}`);
}

describe('malformed multipart', () => {
  test('multipart/related without a boundary parameter: 400 naming the boundary', async () => {
    const { body } = multipartBody([S.instances[0].bytes]);
    const res = await post(body, 'multipart/related; type="application/dicom"');
    assert.equal(res.status, 400);
    assert.match(errorBody(res).message, /boundary/i);
    await assertHealthy(server, 'no boundary');
  });
  test('a body that never contains the declared boundary: 400', async () => {
    const res = await post(Buffer.from('this is not a multipart body at all\r\n'.repeat(20)), stowContentType(newBoundary()));
    assert.equal(res.status, 400);
    assert.match(errorBody(res).message, /multipart|boundary/i);
    await assertHealthy(server, 'missing boundary');
  });
  test('a multipart body cut before its closing delimiter: 400 and nothing stored', async () => {
    const s = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDNOCLOSE', seed: 52 });
    const b = newBoundary();
    const body = Buffer.concat([partHeader(b), s.instances[0].bytes, CRLF, partHeader(b), s.instances[1].bytes]);
    const res = await post(body, stowContentType(b));
    assert.equal(res.status, 400);
    assert.match(errorBody(res).message, /multipart|boundary|delimiter|truncat|end/i);
    await nothingStoredFor('PIDNOCLOSE');
    await assertHealthy(server, 'no closing delimiter');
  });
  test('an empty body: 400', async () => {
    const res = await post(Buffer.alloc(0), stowContentType(newBoundary()));
    assert.equal(res.status, 400);
    errorBody(res);
    await assertHealthy(server, 'empty body');
  });
  test('a part header block that never ends: 400', async () => {
    const b = newBoundary();
    const body = Buffer.concat([Buffer.from(`--${b}\r\nContent-Type: application/dicom\r\n`), Buffer.from('X-Junk: y\r\n'.repeat(200))]);
    const res = await post(body, stowContentType(b));
    assert.equal(res.status, 400);
    errorBody(res);
    await assertHealthy(server, 'unterminated part headers');
  });
  test('Content-Type application/json: 415', async () => {
    const res = await post(Buffer.from('{"a":1}'), 'application/json');
    assert.equal(res.status, 415);
    errorBody(res);
    await assertHealthy(server, 'application/json');
  });
  test('no Content-Type at all: 415 or 400', async () => {
    const res = await post(S.instances[0].bytes, undefined);
    assert.ok(res.status === 415 || res.status === 400, `HTTP ${res.status}`);
    errorBody(res);
  });
  test('a garbage HTTP request line gets 400 and the server stays up', async () => {
    const reply = await new Promise((resolve, reject) => {
      const sock = net.connect(server.port, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => resolve(data));
      sock.on('error', (e) => (data ? resolve(data) : reject(e)));
      sock.write('NOT HTTP AT ALL\r\n\r\n');
      setTimeout(() => sock.end(), 2000);
    });
    assert.match(reply, /^HTTP\/1\.[01] 400/);
    await assertHealthy(server, 'garbage request line');
  });
});

describe('a bad instance in a batch fails alone', () => {
  test('a truncated file among 4: 202, one FailedSOPSequence item, the other 3 stored', async () => {
    const s = await makeSeries({ slices: 4, rows: 32, cols: 32, patientName: 'TRUNC^BATCH', patientId: 'PIDTRUNC', seed: 53 });
    const bad = s.instances[2];
    const truncated = bad.bytes.subarray(0, bad.bytes.length - 700); // cut inside PixelData
    const parts = s.instances.map((i) => (i === bad ? truncated : i.bytes));
    const r = await stow(server, token, parts);
    assert.equal(r.res.status, 202, r.res.text().slice(0, 400));
    assert.equal(r.failed.length, 1, `FailedSOPSequence: ${JSON.stringify(r.failed)}`);
    assert.equal(r.failed[0].uid, bad.sop, 'the failed item names the truncated instance');
    assert.equal(typeof r.failed[0].reason, 'number', 'FailureReason (0008,1197) is a US number');
    assert.deepEqual([...r.stored].sort(), s.instances.filter((i) => i !== bad).map((i) => i.sop).sort());
    const found = await qido(server, token, `/studies/${s.study_uid}/instances`);
    assert.deepEqual(sortedUids(found, TAGS.SOPInstanceUID), r.stored.sort());
    const res = await get(server, token, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${bad.sop}`, ACCEPT_DICOM);
    assert.equal(res.status, 404);
    for (const i of s.instances.filter((x) => x !== bad)) {
      const [got] = await wadoParts(server, token, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${i.sop}`);
      assert.ok(got.equals(i.bytes));
    }
    await assertHealthy(server, 'truncated part');
  });
  test('a part that is not DICOM among 3: 202, one failure, 2 stored', async () => {
    const s = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDGARBAGE', seed: 54 });
    const garbage = Buffer.from('%PDF-1.4 definitely not DICOM '.repeat(50));
    const r = await stow(server, token, [s.instances[0].bytes, garbage, s.instances[1].bytes]);
    assert.equal(r.res.status, 202, r.res.text().slice(0, 400));
    assert.equal(r.failed.length, 1);
    assert.equal(typeof r.failed[0].reason, 'number');
    assert.deepEqual([...r.stored].sort(), s.sop_instance_uids.slice().sort());
    await assertHealthy(server, 'garbage part');
  });
  test('only bad parts: 409 with every part in FailedSOPSequence', async () => {
    const s = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDALLBAD', seed: 55 });
    const r = await stow(server, token, s.instances.map((i) => i.bytes.subarray(0, 300)));
    assert.equal(r.res.status, 409, r.res.text().slice(0, 400));
    assert.equal(r.failed.length, 2);
    assert.equal(r.stored.length, 0);
    await nothingStoredFor('PIDALLBAD');
  });
});

describe('limits', () => {
  test(`a request header over --max-header-bytes ${MAX_HEADER}: 431 naming the limit`, async () => {
    const head = rawHead('GET', '/dicomweb/studies', { ...bearer(token), 'X-Padding': 'p'.repeat(2 * MAX_HEADER) });
    const res = await rawExchange(server.port, head);
    assert.equal(res.status, 431);
    const e = errorBody(res);
    assert.match(e.message, /header/i);
    assert.ok(e.message.includes(String(MAX_HEADER)) || /max.header.bytes/i.test(e.message), `message should name the limit: ${e.message}`);
    await assertHealthy(server, '431');
  });
  test('many small headers adding up over the limit: 431', async () => {
    const headers = { ...bearer(token) };
    for (let i = 0; i < 200; i++) headers[`X-H${i}`] = 'v'.repeat(60);
    const res = await rawExchange(server.port, rawHead('GET', '/dicomweb/studies', headers));
    assert.equal(res.status, 431);
    errorBody(res);
    await assertHealthy(server, '431 many headers');
  });
  test(`a body over --max-body-bytes ${MAX_BODY} with Content-Length: 413 naming the limit, nothing stored`, async () => {
    const { body, contentType } = await bigBody('PIDTOOBIG', 56);
    const head = rawHead('POST', '/dicomweb/studies', { ...bearer(token), 'Content-Type': contentType, 'Content-Length': body.length });
    // The server may answer from the headers alone; give it the chance before sending.
    const res = await rawExchange(server.port, head, slices(body, 64 * 1024), { pauseAfterHeadMs: 300 });
    assert.equal(res.status, 413);
    const e = errorBody(res);
    assert.match(e.message, /body|request|large|size/i);
    assert.ok(e.message.includes(String(MAX_BODY)) || /max.body.bytes/i.test(e.message), `message should name the limit: ${e.message}`);
    await nothingStoredFor('PIDTOOBIG');
    await assertHealthy(server, '413');
  });
  for (const [label, extra] of [
    ['with Expect: 100-continue', []],
    ['sending the whole body at once (no Expect)', ['-H', 'Expect:']],
  ]) {
    test(`curl uploading an oversized body ${label} sees the 413`, async () => {
      const pid = `PIDTOOBIGCURL${extra.length}`;
      const { body, contentType } = await bigBody(pid, 58);
      const dir = makeTempDir('curl413');
      writeFileSync(join(dir, 'body'), body);
      const args = ['-sS', '-o', join(dir, 'out'), '-w', '%{http_code}', ...extra, '-H', `Authorization: Bearer ${token}`, '-H', `Content-Type: ${contentType}`, '--data-binary', `@${join(dir, 'body')}`, `${server.dicomweb}/studies`];
      const { stdout } = await execFileP('curl', args).catch((e) => ({ stdout: `curl failed: ${e.stderr}` }));
      assert.equal(stdout, '413');
      assert.match(readFileSync(join(dir, 'out'), 'utf8'), /max.body.bytes|4000000/i);
      await nothingStoredFor(pid);
      await assertHealthy(server, `413 curl ${label}`);
    });
  }
  test('a chunked body that grows over the limit: 413, nothing stored', async () => {
    const { body, contentType } = await bigBody('PIDTOOBIGCHUNKED', 57);
    const chunked = function* () {
      for (const c of slices(body, 64 * 1024)) yield Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, CRLF]);
      yield Buffer.from('0\r\n\r\n');
    };
    const head = rawHead('POST', '/dicomweb/studies', { ...bearer(token), 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' });
    const res = await rawExchange(server.port, head, chunked());
    assert.equal(res.status, 413);
    errorBody(res);
    await nothingStoredFor('PIDTOOBIGCHUNKED');
    await assertHealthy(server, '413 chunked');
  });
  test('a body under the limit still works after the limit errors', async () => {
    const r = await stow(server, token, S.instances.map((i) => i.bytes));
    assert.equal(r.res.status, 200);
    assert.equal(r.stored.length, 4);
  });
});
