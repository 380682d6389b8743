// Graceful shutdown: SIGTERM while a STOW is still being uploaded lets that request finish
// (200, all stored) and then the server exits 0; after a restart the data is there.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeSeries, stowResult, wadoParts } from './lib/dicomweb.mjs';
import { eventually, sleep, startWithTenants } from './lib/fixture.mjs';
import { bearer, request } from './lib/http.mjs';
import { closingDelimiter, CRLF, multipartLength, newBoundary, partHeader, stowContentType } from './lib/multipart.mjs';

let server;

after(async () => {
  await server?.dispose();
});

test('SIGTERM during an in-flight STOW: the request completes with 200, then exit code 0', { timeout: 120_000 }, async () => {
  let tokens;
  ({ server, tokens } = await startWithTenants('sigterm-inflight', ['alpha']));
  const s = await makeSeries({ slices: 12, rows: 256, cols: 256, patientName: 'SIG^TERM', patientId: 'PIDSIGTERM', seed: 101 });
  const boundary = newBoundary();
  const total = multipartLength(s.instances.map((i) => i.bytes.length), boundary);
  let signalled = false;
  // Each part the server reads is staged as a file in blobs/.staged until the request commits.
  const staged = () => readdirSync(join(server.dataDir, 'blobs', '.staged')).length;
  async function* slowBody() {
    for (let k = 0; k < s.instances.length; k++) {
      if (k === 3) {
        // The request must be in the server's hands when the signal comes: it has begun
        // staging the parts sent so far.
        await eventually('the server to stage the first part', () => staged() > 0, 30_000, 20);
        server.child.kill('SIGTERM');
        signalled = true;
      }
      yield partHeader(boundary);
      yield s.instances[k].bytes;
      yield CRLF;
      await sleep(150); // pacing a slow client: ~1.5 s of upload after the signal
    }
    yield closingDelimiter(boundary);
  }
  const res = await request(server.baseUrl, {
    method: 'POST',
    path: '/dicomweb/studies',
    headers: { ...bearer(tokens.alpha), 'Content-Type': stowContentType(boundary), 'Content-Length': total },
    body: slowBody(),
    timeoutMs: 60_000,
  });
  assert.ok(signalled);
  assert.equal(res.status, 200, `in-flight request after SIGTERM: ${res.text().slice(0, 300)}; log ${server.logPath}`);
  assert.equal(stowResult(res).stored.length, 12);
  const exit = await eventually('the server to exit after SIGTERM once idle', () => server.exitInfo, 30_000, 100);
  assert.deepEqual(exit, { code: 0, signal: null });

  await server.start();
  for (const i of s.instances) {
    const [got] = await wadoParts(server, tokens.alpha, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${i.sop}`);
    assert.ok(got.equals(i.bytes));
  }
});

test('SIGTERM on an idle server exits 0 promptly', { timeout: 60_000 }, async () => {
  await server.restart();
  const t0 = Date.now();
  const exit = await server.stop({ timeoutMs: 15_000 });
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
});
