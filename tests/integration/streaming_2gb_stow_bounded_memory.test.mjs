// Streaming: one ~2 GB STOW request (4,000 distinct 512x512 instances generated on the
// fly) is stored while the server's peak RSS (VmHWM) stays under 300 MB, i.e. the server
// streams parts to storage instead of buffering the request. Skip with VOXELGATE_SKIP_BIG=1.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { first, makeSeries, qido, stowResult, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { newUid, uidTemplate } from './lib/dicom.mjs';
import { assertHealthy, startWithTenants } from './lib/fixture.mjs';
import { bearer, request } from './lib/http.mjs';
import { closingDelimiter, CRLF, multipartLength, newBoundary, partHeader, stowContentType } from './lib/multipart.mjs';

const SKIP = process.env.VOXELGATE_SKIP_BIG === '1' ? 'VOXELGATE_SKIP_BIG=1' : false;
const TARGET_BYTES = Number(process.env.VOXELGATE_STREAM_BYTES || 2 * 1024 ** 3); // override to debug
const RSS_LIMIT_KB = 300 * 1024;
let server;

after(async () => {
  await server?.dispose();
});

test('a ~2 GB STOW streams through with peak server RSS under 300 MB', { skip: SKIP, timeout: 420_000 }, async () => {
  let tokens;
  ({ server, tokens } = await startWithTenants('streaming-2gb', ['alpha'], { args: ['--max-body-bytes', String(4 * 1024 ** 3), '--request-timeout-s', '600'] }));
  const token = tokens.alpha;
  const seed = await makeSeries({ slices: 1, rows: 512, cols: 512, patientName: 'STREAM^BIG', patientId: 'PIDSTREAM', seed: 91 });
  const study = newUid();
  const series = newUid();
  const tpl = uidTemplate(seed.instances[0].bytes, { study, series });
  const count = Math.ceil(TARGET_BYTES / tpl.size);
  const boundary = newBoundary();
  const total = multipartLength(new Array(count).fill(tpl.size), boundary);
  const header = partHeader(boundary);

  let peakRssKb = 0;
  const sampler = setInterval(() => {
    try {
      peakRssKb = Math.max(peakRssKb, server.procStatusKb('VmRSS'));
    } catch {}
  }, 200);
  async function* body() {
    for (let i = 0; i < count; i++) {
      yield header;
      for (const piece of tpl.instance(i)) yield piece;
      yield CRLF;
    }
    yield closingDelimiter(boundary);
  }
  const started = Date.now();
  let res;
  try {
    res = await request(server.baseUrl, {
      method: 'POST',
      path: '/dicomweb/studies',
      headers: { ...bearer(token), 'Content-Type': stowContentType(boundary), 'Content-Length': total, Accept: 'application/dicom+json' },
      body: body(),
      timeoutMs: 400_000,
    });
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  const hwmKb = server.procStatusKb('VmHWM');
  const info = `${count} instances, ${(total / 1024 ** 3).toFixed(2)} GiB in ${seconds.toFixed(1)} s; VmHWM ${(hwmKb / 1024).toFixed(0)} MB, sampled VmRSS peak ${(peakRssKb / 1024).toFixed(0)} MB`;
  console.log(`# streaming: ${info}`);
  assert.equal(res.status, 200, `${info}; body ${res.text().slice(0, 300)}`);
  const r = stowResult(res);
  assert.equal(r.stored.length, count, 'every instance referenced');
  assert.equal(r.failed.length, 0);
  assert.ok(hwmKb < RSS_LIMIT_KB, `peak RSS ${(hwmKb / 1024).toFixed(0)} MB >= 300 MB (${info})`);

  const [st] = await qido(server, token, `/studies?StudyInstanceUID=${study}`);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedInstances), count);
  for (const i of [0, Math.floor(count / 2), count - 1]) {
    const [got] = await wadoParts(server, token, `/studies/${study}/series/${series}/instances/${tpl.sopUid(i)}`);
    assert.ok(got.equals(tpl.bytesOf(i)), `instance ${i} differs`);
  }
  await assertHealthy(server, 'after the 2 GB request');
});
