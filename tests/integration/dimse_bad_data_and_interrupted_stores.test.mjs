// Bad input over DIMSE: an unparsable (truncated or garbage) data set gets a DIMSE
// failure status in the 0xC000 range with an error comment while the association stays
// usable; a C-GET sub-operation that cannot be sent fails alone (counts add up, the
// association stays usable); and a C-STORE cut off in the middle (storescu killed with SIGKILL during a large
// transfer, an A-ABORT or a dropped connection half-way through an instance) leaves no
// half-stored instance: everything QIDO lists is complete and byte-equal to what was sent.
//
// storescu cannot send a truncated file: it parses each file before sending and skips
// one that ends early ("Bad DICOM file ... premature end of stream"), and it re-encodes
// what it does send, so a wrong element length in a file never reaches the wire either.
// The truncated and garbage data sets are therefore sent with lib/dimse.mjs, which puts
// exactly the given bytes into the P-DATA PDUs.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { captureAsSent, datasetDifference, datasetOf, describeRun, echoscu, runTool, storescu, writeAssociationConfig } from './lib/dcmtk.mjs';
import { ACCEPT_DICOM, get, makeSeries, qido, sortedUids, TAGS } from './lib/dicomweb.mjs';
import { parseMultipart } from './lib/multipart.mjs';
import { parsePart10 } from './lib/dicom.mjs';
import { DimseAssociation, DIMSE_TS, encodeIdentifier, SOP, statusHex, withAssociation } from './lib/dimse.mjs';
import { startDimseServer } from './lib/dimse_fixture.mjs';
import { makeTempDir } from './lib/env.mjs';
import { assertHealthy, eventually } from './lib/fixture.mjs';
import { acceptedConnections } from './lib/tcp.mjs';

let server;
let port;
let token;

before(async () => {
  ({ server, dicomPort: port, tokens: { alpha: token } } = await startDimseServer('dimse-bad-data', [{ slug: 'alpha' }]));
});

after(async () => {
  await server?.dispose();
});

const storeContexts = [
  { abstractSyntax: SOP.verification, transferSyntaxes: [DIMSE_TS.implicitLE] },
  { abstractSyntax: SOP.ctImage, transferSyntaxes: [DIMSE_TS.explicitLE] },
];

const dataSetBytes = (inst) => {
  const p = parsePart10(inst.bytes);
  return inst.bytes.subarray(p.datasetOffset);
};

// Waits until the server has closed every association's connection, which it does once
// it is done with the association (a store under way finished or dropped).
async function associationsClosed(context) {
  let open = [];
  await eventually(() => `the server to close its DICOM connections after ${context} (open: ${JSON.stringify(open)})`, () => {
    open = acceptedConnections(port);
    return open.length === 0;
  }, 30_000, 50);
}

async function instancesOf(study) {
  return sortedUids(await qido(server, token, `/instances?StudyInstanceUID=${study}`), TAGS.SOPInstanceUID);
}

// Every instance QIDO lists for `study` is complete: WADO returns a data set byte-equal
// to the one sent. `sent`: Map sop -> datasetOf(...) of what went over the wire.
async function assertListedInstancesComplete(study, sent) {
  const listed = await instancesOf(study);
  const problems = [];
  if (listed.length) {
    const series = [...new Set([...sent.values()].map((d) => d.series))];
    const got = new Map();
    for (const se of series) {
      const res = await get(server, token, `/studies/${study}/series/${se}`, ACCEPT_DICOM);
      if (res.status === 404) continue;
      assert.equal(res.status, 200, `WADO series ${se}: HTTP ${res.status}`);
      for (const part of parseMultipart(res.body, res.headers['content-type'])) {
        const d = datasetOf(part.body);
        got.set(d.sop, d);
      }
    }
    for (const sop of listed) {
      if (!sent.has(sop)) problems.push(`${sop}: listed but never sent`);
      else if (!got.has(sop)) problems.push(`${sop}: listed by QIDO but not retrievable`);
      else {
        const d = datasetDifference(got.get(sop), sent.get(sop));
        if (d) problems.push(`${sop}: ${d}`);
      }
    }
  }
  assert.deepEqual(problems, [], `${problems.length} listed instances are not complete copies`);
  return listed;
}

test('a truncated data set gets a 0xC000-range failure with an error comment; the association stays usable', async () => {
  const s = await makeSeries({ slices: 3, rows: 128, cols: 128, patientName: 'BAD^DATA', patientId: 'PIDBAD', seed: 51 });
  const [good1, bad, good2] = s.instances;
  const badBytes = dataSetBytes(bad);
  const truncated = badBytes.subarray(0, badBytes.length - 10_000); // ends inside Pixel Data
  // Garbage: a well-formed first element, then an element whose length runs far past the
  // end (the whole is of even length: an odd PDV fragment would be a protocol error).
  const garbage = Buffer.concat([
    Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00]), Buffer.from('ISO_IR 100', 'latin1'),
    Buffer.from([0x08, 0x00, 0x16, 0x00, 0x55, 0x49, 0xf0, 0xff]), Buffer.from('1.2.34', 'latin1'),
  ]);
  assert.equal(truncated.length % 2, 0);
  assert.equal(garbage.length % 2, 0);

  await withAssociation({ port, calledAe: 'ALPHA', contexts: storeContexts }, async (a) => {
    let r = await a.store({ sopClass: SOP.ctImage, sopInstance: good1.sop, dataset: dataSetBytes(good1) });
    assert.equal(r.status, 0, `good instance before: ${statusHex(r.status)} ${r.errorComment ?? ''}`);

    r = await a.store({ sopClass: SOP.ctImage, sopInstance: bad.sop, dataset: truncated });
    assert.ok(r.status >= 0xc000 && r.status <= 0xcfff, `truncated data set: status ${statusHex(r.status)}, expected 0xC000-0xCFFF (comment: ${r.errorComment})`);
    assert.ok(r.errorComment && r.errorComment.trim().length > 0, 'the failure carries an Error Comment (0000,0902)');

    r = await a.store({ sopClass: SOP.ctImage, sopInstance: '1.2.826.0.1.3680043.99.1', dataset: garbage });
    assert.ok(r.status >= 0xc000 && r.status <= 0xcfff, `garbage data set: status ${statusHex(r.status)}, expected 0xC000-0xCFFF (comment: ${r.errorComment})`);
    assert.ok(r.errorComment && r.errorComment.trim().length > 0, 'the failure carries an Error Comment');

    r = await a.store({ sopClass: SOP.ctImage, sopInstance: good2.sop, dataset: dataSetBytes(good2) });
    assert.equal(r.status, 0, `good instance after the failures, same association: ${statusHex(r.status)} ${r.errorComment ?? ''}`);
    assert.equal((await a.echo()).status, 0, 'C-ECHO on the same association');
  });

  assert.deepEqual(await instancesOf(s.study_uid), [good1.sop, good2.sop].sort());
  const sent = new Map([good1, good2].map((i) => [i.sop, datasetOf(i.bytes)]));
  await assertListedInstancesComplete(s.study_uid, sent);
  assert.deepEqual(await qido(server, token, '/instances?SOPInstanceUID=1.2.826.0.1.3680043.99.1'), []);
  await assertHealthy(server, 'bad data sets');
});

test('a C-GET sub-operation that cannot go out in an accepted transfer syntax fails alone: the counts add up and the association stays usable', { timeout: 60_000 }, async () => {
  // A 3-instance study whose middle instance is stored RLE-compressed; the C-GET offers
  // Explicit VR Little Endian only, so that one cannot be sent as stored.
  const s = await makeSeries({ slices: 3, rows: 64, cols: 64, patientName: 'MIXED^TS', patientId: 'PIDMIXED', seed: 55 });
  const dir = makeTempDir('rle');
  const rlePath = join(dir, 'slice2-rle.dcm');
  const c = await runTool('dcmcrle', [s.files[1], rlePath]);
  assert.equal(c.code, 0, `dcmcrle${describeRun(c)}`);
  const files = [s.files[0], rlePath, s.files[2]];
  const cfg = writeAssociationConfig([[SOP.ctImage, DIMSE_TS.explicitLE], [SOP.ctImage, '1.2.840.10008.1.2.5']]);
  const st = await storescu({ port, calledAe: 'ALPHA', files, extra: ['-xf', cfg, 'P'] });
  assert.equal(st.successes, 3, `storescu (ELE + RLE)${describeRun(st)}`);

  const contexts = [
    { abstractSyntax: SOP.verification, transferSyntaxes: [DIMSE_TS.implicitLE] },
    { abstractSyntax: SOP.studyRootGet, transferSyntaxes: [DIMSE_TS.implicitLE] },
    { abstractSyntax: SOP.ctImage, transferSyntaxes: [DIMSE_TS.explicitLE], scpRole: true },
  ];
  await withAssociation({ port, calledAe: 'ALPHA', contexts }, async (a) => {
    const g = await a.get({ identifier: encodeIdentifier([['00080052', 'STUDY'], ['0020000D', s.study_uid]]) });
    const f = g.final;
    const counts = `status ${statusHex(f.status)}, completed ${f.completed}, failed ${f.failed}, warning ${f.warning}, remaining ${f.remaining}; received ${g.stored.map((x) => x.sopInstance).join(', ')}`;
    assert.equal((f.completed ?? 0) + (f.failed ?? 0) + (f.warning ?? 0), 3, `sub-operation counts add up to the 3 matches: ${counts}`);
    assert.ok(!f.remaining, `no remaining sub-operations in the final response: ${counts}`);
    const received = new Map(g.stored.map((x) => [x.sopInstance, x]));
    for (const k of [0, 2]) {
      const inst = s.instances[k];
      assert.ok(received.has(inst.sop), `the Explicit VR instance ${k + 1} is delivered: ${counts}`);
      assert.equal(received.get(inst.sop).transferSyntax, DIMSE_TS.explicitLE);
      assert.ok(received.get(inst.sop).dataset.equals(dataSetBytes(inst)), `instance ${k + 1}: same data set`);
    }
    if (f.failed) assert.equal(f.status, 0xb000, `with a failed sub-operation the final status is 0xB000: ${counts}`);
    else assert.equal(f.status, 0x0000, counts);
    // Nothing stray follows the final response: the next message answers this C-ECHO.
    assert.equal((await a.echo()).status, 0, 'C-ECHO on the same association after the C-GET');
  });
});

test('storescu skips a truncated file itself (it never reaches the server) and stores the good file of the same run', async () => {
  const s = await makeSeries({ slices: 2, rows: 64, cols: 64, patientName: 'BAD^STORESCU', patientId: 'PIDBADSCU', seed: 52 });
  const dir = makeTempDir('truncated');
  const truncatedPath = join(dir, 'truncated.dcm');
  writeFileSync(truncatedPath, s.instances[0].bytes.subarray(0, s.instances[0].bytes.length - 3000));
  const r = await storescu({ port, calledAe: 'ALPHA', files: [truncatedPath, s.instances[1].path], extra: ['-xe'] });
  assert.equal(r.successes, 1, `one C-STORE succeeded${describeRun(r)}`);
  assert.equal(r.storeStatuses.length, 1, `storescu sent only the good file${describeRun(r)}`);
  assert.deepEqual(await instancesOf(s.study_uid), [s.instances[1].sop]);
});

test('SIGKILL of storescu in the middle of a large transfer leaves only complete, byte-equal instances', { timeout: 150_000 }, async (t) => {
  const s = await makeSeries({ slices: 80, rows: 512, cols: 512, patientName: 'KILLED^STORESCU', patientId: 'PIDKILL', seed: 53 });
  const sent = await captureAsSent(s.files, { storescuArgs: ['-xe'] });
  const KILL_AT = 31; // SIGKILL as the 31st C-STORE request goes out
  let killedAt = 0;
  const r = await runTool('storescu', ['-v', '-nh', '-pdu', '131072', '-xe', '-aec', 'ALPHA', '127.0.0.1', String(port), ...s.files], {
    timeoutMs: 120_000,
    onOutput: (out, child) => {
      if (killedAt) return;
      const sending = (out.match(/Sending Store Request/g) ?? []).length;
      if (sending >= KILL_AT) {
        killedAt = sending;
        child.kill('SIGKILL');
      }
    },
  });
  assert.equal(r.signal, 'SIGKILL', `storescu was killed mid-transfer (it ended otherwise)${describeRun(r)}`);
  const acknowledged = (r.output.match(/Received Store Response \(Success\)/g) ?? []).length;
  const started = (r.output.match(/Sending Store Request/g) ?? []).length;
  assert.ok(acknowledged >= KILL_AT - 2 && acknowledged < s.files.length, `acknowledged ${acknowledged}${describeRun(r)}`);
  t.diagnostic(`storescu killed after ${started} store requests, ${acknowledged} acknowledged (the last one ${started > acknowledged ? 'was in flight' : 'had completed'})`);

  // Once the server has seen the dropped connection and closed it, check what is listed.
  await associationsClosed('storescu was killed');
  await assertHealthy(server, 'storescu killed');
  const listed = await assertListedInstancesComplete(s.study_uid, sent);
  assert.ok(listed.length >= acknowledged, `${listed.length} listed, but ${acknowledged} were acknowledged`);
  assert.ok(listed.length <= started, `${listed.length} listed, only ${started} store requests were started`);
  // The listing is stable (nothing half-done appears later): the association is over, and
  // the staging folder holds nothing that could still be published.
  assert.deepEqual(readdirSync(join(server.dataDir, 'blobs', '.staged')), [], 'no staged file left by the killed transfer');
  assert.deepEqual(await instancesOf(s.study_uid), listed);

  // The whole series sent again is stored in full.
  const again = await storescu({ port, calledAe: 'ALPHA', files: s.files, extra: ['-xe'] });
  assert.equal(again.successes, s.files.length, `re-send after the kill${describeRun(again)}`);
  const all = await assertListedInstancesComplete(s.study_uid, sent);
  assert.equal(all.length, s.files.length);
});

test('an A-ABORT or a dropped connection half-way through an instance stores nothing of that instance', { timeout: 60_000 }, async () => {
  const s = await makeSeries({ slices: 6, rows: 512, cols: 512, patientName: 'HALF^SENT', patientId: 'PIDHALF', seed: 54 });
  const [i0, i1, iAborted, i3, i4, iDropped] = s.instances;
  const sent = new Map(s.instances.map((i) => [i.sop, datasetOf(i.bytes)]));

  // 1. Two complete instances, then half of the third, then A-ABORT.
  const a = await DimseAssociation.open({ port, calledAe: 'ALPHA', contexts: storeContexts });
  for (const i of [i0, i1]) assert.equal((await a.store({ sopClass: SOP.ctImage, sopInstance: i.sop, dataset: dataSetBytes(i) })).status, 0);
  await a.store({ sopClass: SOP.ctImage, sopInstance: iAborted.sop, dataset: dataSetBytes(iAborted), stopAfterBytes: 300_000 });
  await a.abort();

  // 2. Two more, then half of another, then the TCP connection just closes.
  const b = await DimseAssociation.open({ port, calledAe: 'ALPHA', contexts: storeContexts });
  for (const i of [i3, i4]) assert.equal((await b.store({ sopClass: SOP.ctImage, sopInstance: i.sop, dataset: dataSetBytes(i) })).status, 0);
  await b.store({ sopClass: SOP.ctImage, sopInstance: iDropped.sop, dataset: dataSetBytes(iDropped), stopAfterBytes: 200_000 });
  b.destroy();

  await associationsClosed('the abort and the dropped connection');
  await assertHealthy(server, 'aborted stores');
  // The cut-off instances were being written to the staging folder as they arrived: nothing of them is left there.
  assert.deepEqual(readdirSync(join(server.dataDir, 'blobs', '.staged')), [], 'no staged file left by the cut-off stores');
  assert.deepEqual(await instancesOf(s.study_uid), [i0.sop, i1.sop, i3.sop, i4.sop].sort());
  await assertListedInstancesComplete(s.study_uid, sent);
  for (const i of [iAborted, iDropped]) {
    assert.deepEqual(await qido(server, token, `/instances?SOPInstanceUID=${i.sop}`), []);
    const res = await get(server, token, `/studies/${s.study_uid}/series/${s.series_uid}/instances/${i.sop}`, ACCEPT_DICOM);
    assert.equal(res.status, 404, `the cut-off instance ${i.sop} must not be retrievable`);
  }

  // The cut-off instances sent in full afterwards are stored (no leftover state).
  await withAssociation({ port, calledAe: 'ALPHA', contexts: storeContexts }, async (c) => {
    for (const i of [iAborted, iDropped]) {
      const r = await c.store({ sopClass: SOP.ctImage, sopInstance: i.sop, dataset: dataSetBytes(i) });
      assert.equal(r.status, 0, `re-send of ${i.sop}: ${statusHex(r.status)} ${r.errorComment ?? ''}`);
    }
  });
  assert.equal((await assertListedInstancesComplete(s.study_uid, sent)).length, 6);
  const e = await echoscu({ port, calledAe: 'ALPHA' });
  assert.equal(e.code, 0, `echo after the aborted associations${describeRun(e)}`);
});
