// Every DICOM file of ../shared/data/transfer-syntaxes (one CT slice in 17 encodings
// including deflate, big endian, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and
// RLE, plus a fragmented JPEG, a YBR ultrasound, an SR without pixel data) is accepted
// over C-STORE in its own transfer syntax and comes back over C-GET in that transfer
// syntax with the same data set bytes (WADO too).
//
// storescu proposes exactly the file's SOP class + transfer syntax (a generated
// --config-file profile), so nothing is converted on the way in. The CTImage.dcm_*
// variants share one SOP Instance UID: each round of distinct UIDs goes to its own tenant.
// C-GET uses getscu with the option that puts the file's transfer syntax first; getscu
// has none for JPEG processes 6+8 (.53), 10+12 (.55) and 14 (.57) nor, in practice, for
// Implicit VR Little Endian (its +xi proposes Explicit VR), which are fetched with
// lib/dimse.mjs proposing exactly that transfer syntax.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { captureAsSent, datasetDifference, datasetOf, describeRun, getscu, GETSCU_PREFER, storescu, writeAssociationConfig } from './lib/dcmtk.mjs';
import { qido, wadoParts } from './lib/dicomweb.mjs';
import { DIMSE_TS, encodeIdentifier, SOP, statusHex, withAssociation } from './lib/dimse.mjs';
import { startDimseServer } from './lib/dimse_fixture.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { dicomFilesUnder, roundsByUid } from './lib/files.mjs';

let server;

after(async () => {
  await server?.dispose();
});

async function getWithNodeClient(port, calledAe, f) {
  const contexts = [
    { abstractSyntax: SOP.studyRootGet, transferSyntaxes: [DIMSE_TS.implicitLE] },
    { abstractSyntax: f.sopClass, transferSyntaxes: [f.transferSyntax], scpRole: true },
  ];
  return withAssociation({ port, calledAe, contexts }, async (a) => {
    const r = await a.get({ identifier: encodeIdentifier([['00080052', 'IMAGE'], ['0020000D', f.study], ['0020000E', f.series], ['00080018', f.sop]]) });
    return { final: r.final, received: r.stored.map((x) => ({ transferSyntax: x.transferSyntax, sop: x.sopInstance, data: x.dataset })) };
  });
}

test('every transfer-syntax test file is stored over C-STORE and comes back over C-GET in its transfer syntax, data set unchanged', { timeout: 180_000 }, async (t) => {
  const dir = sharedDataDir('transfer-syntaxes');
  if (!dir) {
    t.skip('../shared/data/transfer-syntaxes is absent (real data is not part of a fresh clone)');
    return;
  }
  const { files } = dicomFilesUnder(dir);
  assert.ok(files.length >= 20, `expected the ~22 DICOM files, found ${files.length}`);
  const rounds = roundsByUid(files);
  const tenants = rounds.map((_, k) => ({ slug: `ts${k}`, callers: ['STORESCU', 'GETSCU', 'NODECLIENT'] }));
  let port;
  let tokens;
  ({ server, dicomPort: port, tokens } = await startDimseServer('dimse-transfer-syntaxes', tenants));

  for (const [k, round] of rounds.entries()) {
    const ae = `TS${k}`;
    const token = tokens[`ts${k}`];
    const pairs = round.map((f) => [f.sopClass, f.transferSyntax]);
    const storeArgs = ['-xf', writeAssociationConfig(pairs), 'P'];
    const sent = await captureAsSent(round.map((f) => f.path), { storescuArgs: storeArgs, storescpArgs: ['-xf', writeAssociationConfig(pairs, { scp: true }), 'P'] });
    const r = await storescu({ port, calledAe: ae, files: round.map((f) => f.path), extra: storeArgs });

    for (const f of round) {
      await t.test(`${f.name} (${f.transferSyntax})`, async () => {
        const want = sent.get(f.sop);
        assert.ok(want, 'the reference storescp received it');
        assert.equal(want.transferSyntax, f.transferSyntax, 'storescu sent it in its own transfer syntax');
        const status = r.statusBySop.get(f.sop);
        if (status === undefined) {
          const lines = r.output.split('\n');
          const at = lines.findIndex((l) => l.startsWith('I: Sending file:') && l.endsWith(f.path));
          const why = at < 0 ? '(storescu never got to it)' : lines.slice(at, at + 6).filter((l) => !l.startsWith('D: ')).join('\n');
          assert.fail(`C-STORE: storescu did not send it (no presentation context for ${f.sopClass} / ${f.transferSyntax} accepted?)\n${why}`);
        }
        assert.equal(status, 0, `C-STORE status ${statusHex(status)}${describeRun(r)}`);

        const [fromWado] = await wadoParts(server, token, `/studies/${f.study}/series/${f.series}/instances/${f.sop}`);
        const dw = datasetDifference(datasetOf(fromWado), want);
        assert.equal(dw, null, `WADO: ${dw}`);
        assert.equal((await qido(server, token, `/instances?SOPInstanceUID=${f.sop}`)).length, 1);

        const prefer = GETSCU_PREFER[f.transferSyntax];
        let received;
        if (prefer) {
          const g = await getscu({ port, calledAe: ae, model: 'S', extra: [prefer], keys: [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', f.study], ['SeriesInstanceUID', f.series], ['SOPInstanceUID', f.sop]] });
          assert.equal(g.final?.status, 0, `getscu ${prefer}: final status ${g.final?.statusText}${describeRun(g)}`);
          assert.equal(g.final.completed, 1, `getscu ${prefer}: completed${describeRun(g)}`);
          received = readdirSync(g.dir).map((n) => datasetOf(readFileSync(join(g.dir, n))));
        } else {
          const g = await getWithNodeClient(port, ae, f);
          assert.equal(g.final.status, 0, `C-GET (node client): final status ${statusHex(g.final.status)} ${g.final.errorComment ?? ''}`);
          received = g.received;
        }
        assert.equal(received.length, 1, `C-GET delivered ${received.length} instances`);
        assert.equal(received[0].sop, f.sop);
        const dg = datasetDifference(received[0], want);
        assert.equal(dg, null, `C-GET: ${dg}`);
      });
    }
  }
});
