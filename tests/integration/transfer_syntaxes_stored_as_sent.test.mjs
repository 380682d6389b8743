// Every DICOM file of ../shared/data/transfer-syntaxes (17 encodings of one CT slice, a
// fragmented JPEG, YBR ultrasound, no pixel data, ...) is accepted by STOW and comes back
// from WADO byte-identical. Files sharing a SOP Instance UID go to different tenants.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { first, qido, stow, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { dicomFilesUnder, roundsByUid } from './lib/files.mjs';
import { startWithTenants } from './lib/fixture.mjs';

let server;

after(async () => {
  await server?.dispose();
});

test('every transfer-syntax test file is stored and returned byte-identical', { timeout: 180_000 }, async (t) => {
  const dir = sharedDataDir('transfer-syntaxes');
  if (!dir) {
    t.skip('../shared/data/transfer-syntaxes is absent (real data is not part of a fresh clone)');
    return;
  }
  const { files, skipped } = dicomFilesUnder(dir);
  t.diagnostic(`${files.length} DICOM files; not DICOM, skipped: ${skipped.join(', ')}`);
  assert.ok(files.length >= 20, `expected the ~22 DICOM files, found ${files.length}`);
  const rounds = roundsByUid(files);
  const slugs = rounds.map((_, k) => `ts${k}`);
  let tokens;
  ({ server, tokens } = await startWithTenants('transfer-syntaxes', slugs, { args: ['--max-body-bytes', '200000000'] }));

  const statuses = [];
  for (const [k, round] of rounds.entries()) {
    const token = tokens[slugs[k]];
    const r = await stow(server, token, round.map((f) => f.bytes));
    statuses.push(r.res.status);
    for (const f of round) {
      await t.test(f.name, async () => {
        const failure = r.failed.find((x) => x.uid === f.sop);
        assert.ok(r.stored.includes(f.sop), `not stored (HTTP ${r.res.status}, FailureReason ${failure?.reason}): ${r.res.text().slice(0, 300)}`);
        const [got] = await wadoParts(server, token, `/studies/${f.study}/series/${f.series}/instances/${f.sop}`);
        assert.equal(got.length, f.bytes.length, 'size differs');
        assert.ok(got.equals(f.bytes), 'bytes differ');
        const found = await qido(server, token, `/instances?SOPInstanceUID=${f.sop}`);
        assert.equal(found.length, 1);
        assert.equal(first(found[0], TAGS.SOPClassUID), f.sopClass);
      });
    }
  }
  assert.deepEqual(statuses, rounds.map(() => 200), 'every STOW round answers 200');
});
