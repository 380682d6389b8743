// Crash safety: acknowledged STOW requests survive a kill -9 that lands while a large STOW
// is being streamed; after a restart on the same data dir every acknowledged instance is
// retrievable byte-identical, and nothing of the killed request is visible (one request,
// one transaction). Re-sending the killed request then succeeds.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ACCEPT_DICOM, first, get, makeSeries, qido, sortedUids, stowOk, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { assertHealthy, eventually, sleep, startWithTenants } from './lib/fixture.mjs';
import { bearer, request } from './lib/http.mjs';
import { closingDelimiter, CRLF, multipartLength, newBoundary, partHeader, stowContentType } from './lib/multipart.mjs';

let server;

after(async () => {
  await server?.dispose();
});

test('kill -9 during a streamed 150-instance STOW loses no acknowledged instance and leaves no partial request', { timeout: 240_000 }, async () => {
  let tokens;
  ({ server, tokens } = await startWithTenants('crash-kill9', ['alpha'], { args: ['--max-body-bytes', '1000000000'] }));
  const token = tokens.alpha;

  // 1. Three acknowledged requests (two studies; the second study gets two series).
  const acked = [];
  const s1 = await makeSeries({ slices: 5, rows: 128, cols: 128, patientName: 'ACKED^ONE', patientId: 'PIDACK1', seed: 71 });
  const s2 = await makeSeries({ slices: 4, rows: 128, cols: 128, patientName: 'ACKED^TWO', patientId: 'PIDACK2', seed: 72 });
  const s3 = await makeSeries({ slices: 3, rows: 128, cols: 128, patientName: 'ACKED^TWO', patientId: 'PIDACK2', studyUid: s2.study_uid, seriesNumber: 2, seed: 73, prefix: 's3-' });
  for (const s of [s1, s2, s3]) {
    await stowOk(server, token, s.instances.map((i) => i.bytes));
    acked.push(...s.instances.map((i) => ({ ...i, study: s.study_uid, series: s.series_uid })));
  }

  // 2. A large STOW streamed slowly; kill -9 once 100 of its 150 instances are on the wire.
  const big = await makeSeries({ slices: 150, rows: 512, cols: 512, patientName: 'KILLED^REQUEST', patientId: 'PIDKILLED', seed: 74 });
  const boundary = newBoundary();
  const total = multipartLength(big.instances.map((i) => i.bytes.length), boundary);
  let killedAt = -1;
  let killed; // the kill -9 promise: the socket may close before the exit is reported
  // Each part the server reads is staged as a file in blobs/.staged until the request commits.
  const staged = () => readdirSync(join(server.dataDir, 'blobs', '.staged')).length;
  async function* slowBody() {
    for (let k = 0; k < big.instances.length; k++) {
      if (k === 100) {
        // Let the server chew on what it has: the kill must find it holding the request's
        // parts, staged. 99: every part whose end it has seen (the hundredth ends at the
        // next boundary, which is not sent before the kill).
        await eventually(() => `the server to stage 99 parts (${staged()} so far)`, () => staged() >= 99, 60_000, 50);
        killedAt = k;
        killed = server.kill9();
        await killed;
      }
      yield partHeader(boundary);
      yield big.instances[k].bytes;
      yield CRLF;
      await sleep(15); // pacing a slow client
    }
    yield closingDelimiter(boundary);
  }
  const inFlight = request(server.baseUrl, {
    method: 'POST',
    path: '/dicomweb/studies',
    headers: { ...bearer(token), 'Content-Type': stowContentType(boundary), 'Content-Length': total },
    body: slowBody(),
    timeoutMs: 120_000,
  }).then(
    (res) => ({ res }),
    (err) => ({ err }),
  );
  const outcome = await inFlight;
  assert.equal(killedAt, 100, 'the kill happened mid-stream');
  await killed;
  assert.ok(outcome.err || outcome.res.status >= 500, `the killed request must not be acknowledged (got HTTP ${outcome.res?.status})`);
  assert.equal(server.exitInfo.signal, 'SIGKILL');

  // 3. Restart on the same data dir.
  await server.start();
  await assertHealthy(server, 'restart after kill -9');

  // 4. Every acknowledged instance is there, byte-identical; counts are exact.
  for (const i of acked) {
    const [got] = await wadoParts(server, token, `/studies/${i.study}/series/${i.series}/instances/${i.sop}`);
    assert.ok(got.equals(i.bytes), `acknowledged instance ${i.sop} differs after restart`);
  }
  const [st2] = await qido(server, token, `/studies?StudyInstanceUID=${s2.study_uid}`);
  assert.equal(first(st2, TAGS.NumberOfStudyRelatedInstances), 7);
  assert.equal(first(st2, TAGS.NumberOfStudyRelatedSeries), 2);
  assert.deepEqual(sortedUids(await qido(server, token, '/studies'), TAGS.StudyInstanceUID), [s1.study_uid, s2.study_uid].sort());

  // 5. Nothing of the killed request is visible.
  assert.deepEqual(await qido(server, token, `/studies?StudyInstanceUID=${big.study_uid}`), []);
  assert.deepEqual(await qido(server, token, '/studies?PatientID=PIDKILLED'), []);
  assert.deepEqual(await qido(server, token, `/instances?StudyInstanceUID=${big.study_uid}`), []);
  assert.deepEqual(await qido(server, token, `/instances?SOPInstanceUID=${big.instances[0].sop}`), []);
  const res = await get(server, token, `/studies/${big.study_uid}/series/${big.series_uid}/instances/${big.instances[0].sop}`, ACCEPT_DICOM);
  assert.equal(res.status, 404);
  const all = await qido(server, token, '/instances');
  assert.equal(all.length, acked.length, 'instance count after restart equals the acknowledged count');

  // 6. The killed request sent again is stored in full (no leftover lock or half-state).
  const again = await stowOk(server, token, big.instances.map((i) => i.bytes), { timeoutMs: 180_000 });
  assert.equal(again.stored.length, 150);
  const [bs] = await qido(server, token, `/studies?StudyInstanceUID=${big.study_uid}`);
  assert.equal(first(bs, TAGS.NumberOfStudyRelatedInstances), 150);
  const [b0] = await wadoParts(server, token, `/studies/${big.study_uid}/series/${big.series_uid}/instances/${big.instances[99].sop}`);
  assert.ok(b0.equals(big.instances[99].bytes));
  const stop = await server.stop();
  assert.equal(stop.code, 0, `clean SIGTERM exit after recovery, got ${JSON.stringify(stop)}`);
});
