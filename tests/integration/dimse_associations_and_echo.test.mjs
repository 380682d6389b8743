// The DICOM (DIMSE) listener's association rules, with echoscu and a small DIMSE client
// (lib/dimse.mjs): a tenant's called AE title (default: the slug upper-cased, at most 16
// characters, or --ae-title), calling nodes registered with `dicom-node add` (AE + host),
// rejections for an unknown called AE and an unlisted (or wrong-host) calling AE,
// --accept-any-caller, `dicom-node list/remove`, --dicom-max-associations, the max PDU
// (128 KiB, and no PDU larger than the peer accepts), round trips not held back by
// Nagle's algorithm (TCP_NODELAY), and nothing new on stdout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeSeries, qido } from './lib/dicomweb.mjs';
import { associationOutcome, describeRun, echoscu } from './lib/dcmtk.mjs';
import { parsePart10 } from './lib/dicom.mjs';
import { DIMSE_TS, encodeIdentifier, SOP, statusHex, tryAssociate, withAssociation } from './lib/dimse.mjs';
import { addNode, CALLER_ONLY_PORT, listNodes, removeNode, serverStdoutWithoutBanners, setAcceptAnyCaller, startDimseServer } from './lib/dimse_fixture.mjs';
import { assertHealthy, eventually } from './lib/fixture.mjs';

let server;
let port;
let tokens;

const LONG_SLUG = 'radiology-department-north'; // 26 characters
const LONG_SLUG_AE = 'RADIOLOGY-DEPART'; // upper-cased, first 16

before(async () => {
  ({ server, dicomPort: port, tokens } = await startDimseServer('dimse-associations', [
    { slug: 'alpha' },
    { slug: 'beta', aeTitle: 'BETA_CUSTOM', callers: ['ECHOSCU', 'NODECLIENT'] },
    { slug: LONG_SLUG, callers: ['ECHOSCU'] },
    { slug: 'gamma', callers: [] },
  ]));
});

after(async () => {
  await server?.dispose();
});

const echoContext = [{ abstractSyntax: SOP.verification, transferSyntaxes: [DIMSE_TS.implicitLE] }];

function assertEchoOk(r, what) {
  assert.equal(r.code, 0, `${what}: echoscu failed${describeRun(r)}`);
  assert.match(r.output, /Received Echo Response \(Success\)/, `${what}: no successful C-ECHO response${describeRun(r)}`);
}

function assertRejected(r, reasonPattern, what) {
  const o = associationOutcome(r.output);
  assert.notEqual(r.code, 0, `${what}: echoscu succeeded, expected a rejection${describeRun(r)}`);
  assert.ok(o.rejected, `${what}: expected A-ASSOCIATE-RJ${describeRun(r)}`);
  if (reasonPattern) assert.match(o.reason ?? '', reasonPattern, `${what}: rejection reason${describeRun(r)}`);
}

test('echoscu to a tenant\'s default AE title (the slug upper-cased) succeeds as soon as /readyz is 200', async () => {
  assert.equal(server.dicomOpenAtReady, true, 'the DICOM port accepted a TCP connection right when /readyz first answered 200');
  const r = await echoscu({ port, calledAe: 'ALPHA', callingAe: 'ECHOSCU' });
  assertEchoOk(r, 'echo ALPHA');
});

test('a tenant created with --ae-title answers on that AE title, not on its slug', async () => {
  assertEchoOk(await echoscu({ port, calledAe: 'BETA_CUSTOM' }), 'echo BETA_CUSTOM');
  assertRejected(await echoscu({ port, calledAe: 'BETA' }), /called ae title not recognized/, 'echo BETA (slug, not the AE title)');
});

test('a slug longer than 16 characters gets its first 16 characters upper-cased as AE title', async () => {
  assertEchoOk(await echoscu({ port, calledAe: LONG_SLUG_AE }), `echo ${LONG_SLUG_AE}`);
});

test('an unknown called AE title is rejected with "called AE title not recognized"', async () => {
  assertRejected(await echoscu({ port, calledAe: 'NOSUCHAE' }), /called ae title not recognized/, 'echo NOSUCHAE');
  const r = await tryAssociate({ port, calledAe: 'NOSUCHAE', callingAe: 'NODECLIENT', contexts: echoContext });
  assert.ok(r.rejected, `expected A-ASSOCIATE-RJ, got ${r.accepted ? 'an A-ASSOCIATE-AC' : r.error?.message}`);
  r.accepted?.destroy();
  assert.equal(r.rejected.source, 1, 'source: service user');
  assert.equal(r.rejected.reason, 7, `reason 7 (called AE title not recognized), got ${r.rejected.message}`);
});

test('an unlisted calling AE title is rejected with "calling AE title not recognized"', async () => {
  assertRejected(await echoscu({ port, calledAe: 'ALPHA', callingAe: 'STRANGER' }), /calling ae title not recognized/, 'echo from STRANGER');
  const r = await tryAssociate({ port, calledAe: 'ALPHA', callingAe: 'STRANGER', contexts: echoContext });
  assert.ok(r.rejected, `expected A-ASSOCIATE-RJ, got ${r.accepted ? 'an A-ASSOCIATE-AC' : r.error?.message}`);
  r.accepted?.destroy();
  assert.equal(r.rejected.source, 1, 'source: service user');
  assert.equal(r.rejected.reason, 3, `reason 3 (calling AE title not recognized), got ${r.rejected.message}`);
});

test('a calling AE listed with another host than the peer\'s address is rejected', async () => {
  await addNode(server, { tenant: 'alpha', ae: 'FARNODE', host: '10.99.99.99', port: CALLER_ONLY_PORT });
  assertRejected(await echoscu({ port, calledAe: 'ALPHA', callingAe: 'FARNODE' }), null, 'echo from FARNODE (listed at 10.99.99.99) out of 127.0.0.1');
});

test('a calling node listed for one tenant is not accepted by another tenant\'s AE', async () => {
  // STORESCU is listed for alpha only (beta lists ECHOSCU and NODECLIENT).
  assertEchoOk(await echoscu({ port, calledAe: 'ALPHA', callingAe: 'STORESCU' }), 'echo ALPHA from STORESCU');
  assertRejected(await echoscu({ port, calledAe: 'BETA_CUSTOM', callingAe: 'STORESCU' }), /calling ae title not recognized/, 'echo BETA_CUSTOM from STORESCU');
});

test('with accept-any-caller on, an unlisted calling AE is accepted; off again, it is rejected', async () => {
  assertRejected(await echoscu({ port, calledAe: 'GAMMA', callingAe: 'ANYBODY' }), /calling ae title not recognized/, 'before: echo GAMMA from ANYBODY');
  await setAcceptAnyCaller(server, 'gamma', true);
  assertEchoOk(await echoscu({ port, calledAe: 'GAMMA', callingAe: 'ANYBODY' }), 'accept-any-caller on: echo GAMMA from ANYBODY');
  // Only gamma accepts anyone.
  assertRejected(await echoscu({ port, calledAe: 'ALPHA', callingAe: 'ANYBODY' }), /calling ae title not recognized/, 'echo ALPHA from ANYBODY');
  await setAcceptAnyCaller(server, 'gamma', false);
  assertRejected(await echoscu({ port, calledAe: 'GAMMA', callingAe: 'ANYBODY' }), /calling ae title not recognized/, 'accept-any-caller off: echo GAMMA from ANYBODY');
});

test('dicom-node list prints AE<TAB>host<TAB>port<TAB>role per node; remove takes a node out and its caller is rejected', async () => {
  await addNode(server, { tenant: 'beta', ae: 'PACS_B', host: '127.0.0.1', port: 11999 });
  const nodes = await listNodes(server, 'beta');
  assert.deepEqual(
    nodes.map((n) => n.line).sort(),
    [`ECHOSCU\t127.0.0.1\t${CALLER_ONLY_PORT}\tservice`, `NODECLIENT\t127.0.0.1\t${CALLER_ONLY_PORT}\tservice`, 'PACS_B\t127.0.0.1\t11999\tservice'].sort(),
  );
  assertEchoOk(await echoscu({ port, calledAe: 'BETA_CUSTOM', callingAe: 'ECHOSCU' }), 'echo BETA_CUSTOM before remove');
  await removeNode(server, { tenant: 'beta', ae: 'ECHOSCU' });
  assert.deepEqual((await listNodes(server, 'beta')).map((n) => n.ae).sort(), ['NODECLIENT', 'PACS_B']);
  assertRejected(await echoscu({ port, calledAe: 'BETA_CUSTOM', callingAe: 'ECHOSCU' }), /calling ae title not recognized/, 'echo BETA_CUSTOM after remove');
  // The other tenants' lists are untouched.
  assert.ok((await listNodes(server, 'alpha')).some((n) => n.ae === 'ECHOSCU'));
});

test('the server offers a 128 KiB max PDU, takes a C-STORE in 128 KiB PDUs and sends no PDU larger than the peer accepts', async () => {
  const s = await makeSeries({ slices: 1, rows: 512, cols: 512, patientName: 'PDU^TEST', patientId: 'PIDPDU', seed: 5 });
  const inst = s.instances[0];
  const p = parsePart10(inst.bytes);
  const ctx = [
    { abstractSyntax: SOP.ctImage, transferSyntaxes: [DIMSE_TS.explicitLE] },
    { abstractSyntax: SOP.studyRootGet, transferSyntaxes: [DIMSE_TS.implicitLE] },
  ];
  await withAssociation({ port, calledAe: 'ALPHA', contexts: ctx, maxPdu: 131072 }, async (a) => {
    assert.ok(a.peerMaxPdu === 0 || a.peerMaxPdu >= 131072, `server's max PDU length is ${a.peerMaxPdu}, expected 128 KiB (131072)`);
    const rsp = await a.store({ sopClass: SOP.ctImage, sopInstance: inst.sop, dataset: p.file.subarray(p.datasetOffset), maxPdu: 131072 });
    assert.equal(rsp.status, 0, `C-STORE in 128 KiB PDUs: status ${statusHex(rsp.status)} ${rsp.errorComment ?? ''}`);
  });
  const found = await qido(server, tokens.alpha, `/instances?SOPInstanceUID=${inst.sop}`);
  assert.equal(found.length, 1);

  // C-GET it back with a small and a large receive limit: every P-DATA PDU must fit.
  for (const maxPdu of [16384, 131072]) {
    const contexts = [
      { abstractSyntax: SOP.studyRootGet, transferSyntaxes: [DIMSE_TS.implicitLE] },
      { abstractSyntax: SOP.ctImage, transferSyntaxes: [DIMSE_TS.explicitLE], scpRole: true },
    ];
    await withAssociation({ port, calledAe: 'ALPHA', maxPdu, contexts }, async (g) => {
      const res = await g.get({ identifier: encodeIdentifier([['00080052', 'IMAGE'], ['0020000D', s.study_uid], ['0020000E', s.series_uid], ['00080018', inst.sop]]) });
      const sizes = g.receivedPduSizes;
      assert.equal(res.final.status, 0, `C-GET final status ${statusHex(res.final.status)} ${res.final.errorComment ?? ''}`);
      assert.equal(res.stored.length, 1);
      assert.ok(res.stored[0].dataset.equals(p.file.subarray(p.datasetOffset)), 'C-GET data set equals the stored one');
      const biggest = Math.max(...sizes);
      assert.ok(biggest <= maxPdu, `a PDU of ${biggest} bytes was sent to a peer that accepts ${maxPdu}`);
      if (maxPdu === 131072) assert.ok(biggest > 16384, `with a 128 KiB limit the server still sent PDUs of at most ${biggest} bytes`);
    });
  }
});

test('round trips on an association are not held back by Nagle\'s algorithm (TCP_NODELAY): 100 C-ECHOs in well under 2 s', async () => {
  await withAssociation({ port, calledAe: 'ALPHA', contexts: echoContext }, async (a) => {
    await a.echo(); // warm up
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 100; k++) {
      const r = await a.echo();
      assert.equal(r.status, 0);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // With Nagle + delayed ACK a response written in two pieces waits ~40 ms: 100 x 40 ms.
    assert.ok(ms < 2000, `100 C-ECHO round trips took ${ms.toFixed(0)} ms`);
  });
});

test('--dicom-max-associations 2: a third concurrent association is refused, and accepted once one is released', async (t) => {
  const { server: small, dicomPort } = await startDimseServer('dimse-max-associations', [{ slug: 'alpha' }], { args: ['--dicom-max-associations', '2'] });
  t.after(() => small.dispose());
  const open = () => tryAssociate({ port: dicomPort, calledAe: 'ALPHA', contexts: echoContext, timeoutMs: 5000 });
  const a1 = await open();
  const a2 = await open();
  assert.ok(a1.accepted && a2.accepted, `first two associations: ${a1.rejected?.message ?? a1.error?.message ?? 'ok'} / ${a2.rejected?.message ?? a2.error?.message ?? 'ok'}`);
  const a3 = await open();
  if (a3.accepted) {
    await a3.accepted.abort();
    assert.fail('a third association was accepted with --dicom-max-associations 2');
  }
  t.diagnostic(`third association: ${a3.rejected ? a3.rejected.message : a3.error.message}`);
  assert.equal((await a1.accepted.echo()).status, 0, 'the open associations keep working');
  await a1.accepted.release();
  // The slot frees when the server has seen the release: until then a new one is refused.
  let a4;
  await eventually(() => `a new association to be accepted after a release (last: ${a4.rejected?.message ?? a4.error?.message})`, async () => {
    a4 = await open();
    return a4.accepted;
  }, 30_000, 100);
  assert.equal((await a4.accepted.echo()).status, 0);
  await a4.accepted.release();
  await a2.accepted.release();
  await assertHealthy(small, 'max associations');
});

test('the server prints nothing new on stdout (only its HTTP listening line)', async () => {
  await assertHealthy(server, 'association tests');
  const lines = serverStdoutWithoutBanners(server).split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout has ${lines.length} lines: ${JSON.stringify(lines)}`);
  assert.match(lines[0], /^voxelgate listening on http:\/\//);
});
