// Hostile DICOM (DIMSE) clients against the real server's listener, from 127.0.0.2-9,
// while another clinic's registered node (beta, at 127.0.0.1) keeps working: 200
// connections that send one byte of an A-ASSOCIATE-RQ and stall (closed at ARTIM, no
// thread held), more associations from one address than
// dicom.max_associations_per_address (A-ASSOCIATE-RJ transient, service-provider
// presentation, local-limit-exceeded), a C-FIND identifier nesting sequences 40,000
// levels deep and one over 1 MiB (that association alone is aborted), and a C-STORE over
// limits.max_instance_bytes (0xA700, the association stays usable). Each refusal is
// counted in /metrics; afterwards the server is healthy and beta's instances unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { datasetOf, describeRun, echoscu, storescu } from './lib/dcmtk.mjs';
import { makeSeries, qido } from './lib/dicomweb.mjs';
import { DIMSE_TS, DimseAssociation, encodeIdentifier, SOP, statusHex, tryAssociate } from './lib/dimse.mjs';
import { addNode, startDimseServer } from './lib/dimse_fixture.mjs';
import { assertHealthy, eventually } from './lib/fixture.mjs';
import { assertClinicUntouched, deepIdentifier, oversizedIdentifier, receivedText, refusals, refusalsEventually, seedClinic, StalledConnections, within } from './lib/hostile.mjs';
import { acceptedConnections } from './lib/tcp.mjs';

const MiB = 1024 ** 2;
const ECHO = { abstractSyntax: SOP.verification, transferSyntaxes: [DIMSE_TS.implicitLE] };
const FIND = { abstractSyntax: SOP.studyRootFind, transferSyntaxes: [DIMSE_TS.implicitLE] };
const CT = { abstractSyntax: SOP.ctImage, transferSyntaxes: [DIMSE_TS.explicitLE] };

// beta: a clinic whose nodes (dcmtk's default AE titles and NODECLIENT) are registered at
// 127.0.0.1; mallory: the attacker's clinic, its node MALLORY registered at 127.0.0.2.
async function startDicomClinics(name, { args = [], seed }) {
  const { server, dicomPort, tokens } = await startDimseServer(name, [{ slug: 'beta' }, { slug: 'mallory', callers: [] }], { args });
  try {
    await addNode(server, { tenant: 'mallory', ae: 'MALLORY', host: '127.0.0.2', port: 4242 });
    const clinic = await seedClinic(server, tokens.beta, { seed, patientId: `PIDBETA${seed}` });
    return { server, dicomPort, tokens, clinic };
  } catch (e) {
    await server.dispose();
    throw e;
  }
}

const malloryAssociation = (dicomPort, contexts) =>
  DimseAssociation.open({ port: dicomPort, calledAe: 'MALLORY', callingAe: 'MALLORY', localAddress: '127.0.0.2', contexts, timeoutMs: 30_000 });

// beta's registered node does a C-ECHO (5 s) and stores `slices` new instances with
// storescu (60 s); returns the stored series and the timings.
async function betaNodeWorks(server, dicomPort, token, { seed, slices, during }) {
  const echo = await within(5000, `beta's C-ECHO during ${during}`, () => echoscu({ port: dicomPort, calledAe: 'BETA' }));
  assert.equal(echo.value.code, 0, `C-ECHO during ${during}${describeRun(echo.value)}`);
  const series = await makeSeries({ slices, rows: 32, cols: 32, patientId: `PIDBETA${seed}`, patientName: 'OTHER^CLINIC', seed });
  const store = await within(60_000, `beta's storescu of ${slices} instances during ${during}`, () => storescu({ port: dicomPort, calledAe: 'BETA', files: series.instances.map((i) => i.path) }));
  assert.equal(store.value.successes, slices, `storescu during ${during}${describeRun(store.value)}`);
  const found = await qido(server, token, `/studies/${series.study_uid}/series/${series.series_uid}/instances`);
  assert.equal(found.length, slices, `the ${slices} instances stored during ${during} are listed`);
  return { series, echoMs: Math.round(echo.ms), storeMs: Math.round(store.ms) };
}

test('200 DICOM connections that send one byte and stall are closed at ARTIM, hold no thread, and a registered node echoes and stores meanwhile', { timeout: 120_000 }, async (t) => {
  const { server, dicomPort, tokens, clinic } = await startDicomClinics('hostile-dimse-stall', {
    // Four associations at most: 200 stalled connections holding one each would lock beta out.
    args: ['--dicom-artim-timeout-s', '3', '--dicom-max-associations', '4'], seed: 7701,
  });
  t.after(() => server.dispose());
  const before = await refusals(server, 'dicom', 'artim_timeout_s');
  // One byte of an A-ASSOCIATE-RQ (its PDU type), 25 connections from each of 127.0.0.2-9
  // (under the 64 pending per address), opened again as soon as the server drops them.
  const attack = await StalledConnections.open({ port: dicomPort, count: 200, sustain: true, firstBytes: Buffer.from([0x01]) });
  t.after(() => attack.stop());
  await eventually(() => `the listener to have read the byte of 200 stalled connections (${acceptedConnections(dicomPort).filter((c) => c.state === 'ESTABLISHED' && c.rxQueue === 0).length})`,
    () => acceptedConnections(dicomPort).filter((c) => c.state === 'ESTABLISHED' && c.rxQueue === 0).length >= 200, 30_000, 100);

  const during = await betaNodeWorks(server, dicomPort, tokens.beta, { seed: 7702, slices: 20, during: '200 stalled DICOM connections' });
  t.diagnostic(`beta during the attack: C-ECHO ${during.echoMs} ms, storescu of 20 ${during.storeMs} ms; attack connections open ${attack.openCount}`);
  await attack.waitConnected(150); // the attack goes on (dropped connections are re-opened)

  await eventually(() => `200 stalled connections dropped at ARTIM (${attack.finished.length})`, () => attack.finished.length >= 200, 60_000);
  const dropped = attack.stop();
  for (const rec of dropped) {
    assert.equal(receivedText(rec), '', 'a connection that never sent its request is closed without a PDU');
    // From the client's 'connect' event, which a busy event loop sees late: a margin below 3 s.
    assert.ok(rec.closedMs >= 2500 && rec.closedMs <= 15_000, `closed ${rec.closedMs?.toFixed(0)} ms after connect (ARTIM 3 s)`);
  }
  const ms = dropped.map((r) => r.closedMs).sort((a, b) => a - b);
  t.diagnostic(`${dropped.length} dropped; ms from connect: min ${ms[0].toFixed(0)}, median ${ms[ms.length >> 1].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)}`);
  await refusalsEventually(server, 'dicom', 'artim_timeout_s', before, dropped.length);

  await assertHealthy(server, 'stalled DICOM connections');
  assert.equal((await echoscu({ port: dicomPort, calledAe: 'BETA' })).code, 0, 'C-ECHO after the attack');
  await assertClinicUntouched(server, tokens.beta, clinic, 'stalled DICOM connections');
});

test('a third association from one address with dicom.max_associations_per_address 2 gets A-ASSOCIATE-RJ local-limit-exceeded; the first two and other addresses keep working', { timeout: 120_000 }, async (t) => {
  const { server, dicomPort, tokens, clinic } = await startDicomClinics('hostile-dimse-per-address', { args: ['--dicom-max-associations-per-address', '2'], seed: 7801 });
  t.after(() => server.dispose());
  const before = await refusals(server, 'dicom', 'max_associations_per_address');
  const first = await malloryAssociation(dicomPort, [ECHO]);
  t.after(() => first.abort());
  const second = await malloryAssociation(dicomPort, [ECHO]);
  t.after(() => second.abort());
  const third = await tryAssociate({ port: dicomPort, calledAe: 'MALLORY', callingAe: 'MALLORY', localAddress: '127.0.0.2', contexts: [ECHO] });
  third.accepted?.destroy();
  assert.ok(third.rejected, `the third association was not rejected: ${third.error?.message ?? 'accepted'}`);
  assert.equal(third.rejected.result, 2, 'rejected-transient');
  assert.equal(third.rejected.source, 3, 'DICOM UL service-provider (presentation related function)');
  assert.equal(third.rejected.reason, 2, 'local-limit-exceeded');
  assert.equal(await refusalsEventually(server, 'dicom', 'max_associations_per_address', before, 1), before + 1);

  assert.equal((await first.echo()).status, 0x0000, 'the first association still works');
  assert.equal((await second.echo()).status, 0x0000, 'the second association still works');
  const during = await betaNodeWorks(server, dicomPort, tokens.beta, { seed: 7802, slices: 5, during: 'a capped address' });
  t.diagnostic(`beta while 127.0.0.2 is at its cap: C-ECHO ${during.echoMs} ms, storescu of 5 ${during.storeMs} ms`);

  await first.release();
  const again = await eventually('127.0.0.2 to be let in again once one of its associations is released', async () => {
    const r = await tryAssociate({ port: dicomPort, calledAe: 'MALLORY', callingAe: 'MALLORY', localAddress: '127.0.0.2', contexts: [ECHO] });
    return r.accepted;
  }, 30_000);
  assert.equal((await again.echo()).status, 0x0000);
  await again.release();
  await second.release();
  await assertHealthy(server, 'the per-address association cap');
  await assertClinicUntouched(server, tokens.beta, clinic, 'the per-address association cap');
  const storedDuring = await qido(server, tokens.beta, `/studies/${during.series.study_uid}/series/${during.series.series_uid}/instances`);
  assert.equal(storedDuring.length, 5, 'what beta stored during the attack is still there');
});

describe('hostile DIMSE messages abort only their own association', () => {
  let server;
  let dicomPort;
  let tokens;
  let clinic;
  let beta; // beta's association, open through every attack
  before(async () => {
    ({ server, dicomPort, tokens, clinic } = await startDicomClinics('hostile-dimse-messages', { args: ['--max-instance-bytes', '200000'], seed: 7901 }));
    beta = await DimseAssociation.open({ port: dicomPort, calledAe: 'BETA', callingAe: 'NODECLIENT', contexts: [ECHO, FIND], timeoutMs: 30_000 });
  });
  after(async () => {
    beta?.destroy();
    await server?.dispose();
  });

  // beta's open association answers a C-ECHO and finds its study (5 s each).
  async function betaAssociationWorks(during) {
    const echo = await within(5000, `beta's C-ECHO during ${during}`, () => beta.echo());
    assert.equal(echo.value.status, 0x0000);
    const found = await within(5000, `beta's C-FIND during ${during}`, () => beta.find({ identifier: encodeIdentifier([['00080052', 'STUDY'], ['0020000D', clinic.study_uid]]) }));
    assert.equal(found.value.final.status, 0x0000, `C-FIND final status ${statusHex(found.value.final.status)}`);
    assert.equal(found.value.matches.length, 1, 'beta finds its study');
  }

  // Sends the message, expecting the server to abort: returns what the attacker saw.
  async function expectAbort(association, send) {
    let error;
    try {
      await send();
    } catch (e) {
      error = e;
    }
    assert.ok(error, 'the hostile message got an answer instead of an abort');
    await eventually('the attacker\'s connection to be closed by the server', () => association.closed, 30_000, 50);
    return { error, abortPdu: association.pdus.find((p) => p.type === 0x07) ?? (error.code === 'ABORT' ? {} : undefined) };
  }

  test('a C-FIND identifier nesting 40,000 sequences: that association is aborted (max_dicom_depth), another clinic\'s is not', { timeout: 60_000 }, async (t) => {
    const before = await refusals(server, 'dicom', 'max_dicom_depth');
    const identifier = deepIdentifier(40_000);
    const mallory = await malloryAssociation(dicomPort, [FIND]);
    t.after(() => mallory.destroy());
    const [seen] = await Promise.all([expectAbort(mallory, () => mallory.find({ identifier })), betaAssociationWorks('a deeply nested C-FIND')]);
    t.diagnostic(`${identifier.length} bytes of identifier; the attacker saw: ${seen.error.message}; A-ABORT PDU: ${seen.abortPdu ? 'yes' : 'no'}`);
    assert.ok(seen.abortPdu, `an A-ABORT, not just a closed connection (${seen.error.message})`);
    await refusalsEventually(server, 'dicom', 'max_dicom_depth', before, 1);
    await betaAssociationWorks('after a deeply nested C-FIND');
    await assertHealthy(server, 'a deeply nested C-FIND');
  });

  test('a C-FIND identifier over 1 MiB: that association is aborted (max_identifier_bytes), another clinic\'s is not', { timeout: 60_000 }, async (t) => {
    const before = await refusals(server, 'dicom', 'max_identifier_bytes');
    const identifier = oversizedIdentifier(1.2 * MiB);
    const mallory = await malloryAssociation(dicomPort, [FIND]);
    t.after(() => mallory.destroy());
    const [seen] = await Promise.all([expectAbort(mallory, () => mallory.find({ identifier })), betaAssociationWorks('an oversized C-FIND')]);
    t.diagnostic(`${identifier.length} bytes of identifier; the attacker saw: ${seen.error.message}; A-ABORT PDU: ${seen.abortPdu ? 'yes' : 'no'}`);
    assert.ok(seen.abortPdu, `an A-ABORT, not just a closed connection (${seen.error.message})`);
    await refusalsEventually(server, 'dicom', 'max_identifier_bytes', before, 1);
    await betaAssociationWorks('after an oversized C-FIND');
    await assertHealthy(server, 'an oversized C-FIND');
  });

  test('a C-STORE over limits.max_instance_bytes gets 0xA700 with a reason and the association stays usable', { timeout: 60_000 }, async (t) => {
    const before = await refusals(server, 'dicom', 'max_instance_bytes');
    const s = await makeSeries({ slices: 2, rows: 512, cols: 512, patientId: 'PIDMALLORYBIG', seed: 7902 });
    const small = await makeSeries({ slices: 1, rows: 32, cols: 32, patientId: 'PIDMALLORYSMALL', seed: 7903 });
    const mallory = await malloryAssociation(dicomPort, [CT]);
    t.after(() => mallory.destroy());
    const big = datasetOf(s.instances[0].bytes);
    assert.ok(big.data.length > 200_000, 'the instance is over the limit');
    const refused = await mallory.store({ sopClass: SOP.ctImage, sopInstance: big.sop, dataset: big.data, transferSyntax: DIMSE_TS.explicitLE });
    t.diagnostic(`C-STORE of ${big.data.length} bytes: ${statusHex(refused.status)} ${refused.errorComment ?? ''}`);
    assert.equal(refused.status, 0xa700, `status ${statusHex(refused.status)}`);
    assert.match(refused.errorComment ?? '', /max_instance_bytes/);
    const ok = datasetOf(small.instances[0].bytes);
    const stored = await mallory.store({ sopClass: SOP.ctImage, sopInstance: ok.sop, dataset: ok.data, transferSyntax: DIMSE_TS.explicitLE });
    assert.equal(stored.status, 0x0000, 'the same association stores the next instance');
    await mallory.release();
    await refusalsEventually(server, 'dicom', 'max_instance_bytes', before, 1);
    assert.deepEqual(await qido(server, tokens.mallory, `/studies?StudyInstanceUID=${s.study_uid}`), [], 'nothing of the refused instance is stored');
    await betaAssociationWorks('after an oversized C-STORE');
    await assertHealthy(server, 'an oversized C-STORE');
    await assertClinicUntouched(server, tokens.beta, clinic, 'hostile DIMSE messages');
  });
});
