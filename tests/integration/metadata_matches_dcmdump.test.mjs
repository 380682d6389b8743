// WADO-RS instance metadata agrees with dcmdump (DCMTK) on the same file, element by
// element: every top-level element present, VRs, string and number values, PN as
// {"Alphabetic"}, sequence item counts, PixelData as BulkDataURI. Synthetic data always;
// real files (implicit VR, big endian, deflate, JPEG, US, SR, LIDC CT) when present.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { get, makeSeries, stow } from './lib/dicomweb.mjs';
import { readDicomFile } from './lib/dicom.mjs';
import { compareWithDcmdump, dcmdumpTopLevel } from './lib/dcmdump.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { roundsByUid } from './lib/files.mjs';
import { startWithTenants } from './lib/fixture.mjs';

const REAL = {
  'transfer-syntaxes': [
    'CTImage.dcm',
    'CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm',
    'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
    'CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm',
    'US-YBR_FULL_422-EVRLE.dcm',
    'no-pixel-data.dcm',
    'no-pixel-spacing.dcm',
    'CT1_J2KR',
    'CT0012.fragmented_no_bot_jpeg_baseline.51.dcm',
  ],
  'ct-chest-lidc': ['000001.dcm', '000100.dcm'],
};

let server;

after(async () => {
  await server?.dispose();
});

test('instance metadata matches dcmdump element by element', { timeout: 120_000 }, async (t) => {
  const synthetic = await makeSeries({ slices: 1, rows: 32, cols: 32, patientName: 'META^DATA^^DR', patientId: 'PIDMETA', seed: 121 });
  const files = [{ ...readDicomFile(synthetic.files[0]), name: 'synthetic make_series.py slice' }];
  for (const [folder, names] of Object.entries(REAL)) {
    const dir = sharedDataDir(folder);
    if (!dir) {
      t.diagnostic(`../shared/data/${folder} absent: its files are not compared`);
      continue;
    }
    for (const n of names) files.push({ ...readDicomFile(join(dir, n)), name: `${folder}/${n}` });
  }
  const rounds = roundsByUid(files);
  const slugs = rounds.map((_, k) => `meta${k}`);
  let tokens;
  ({ server, tokens } = await startWithTenants('metadata-dcmdump', slugs));
  for (const [k, round] of rounds.entries()) {
    const token = tokens[slugs[k]];
    const r = await stow(server, token, round.map((f) => f.bytes));
    for (const f of round) {
      await t.test(f.name, async () => {
        assert.ok(r.stored.includes(f.sop), `not stored: HTTP ${r.res.status} ${r.res.text().slice(0, 300)}`);
        const res = await get(server, token, `/studies/${f.study}/series/${f.series}/instances/${f.sop}/metadata`, 'application/dicom+json');
        assert.equal(res.status, 200);
        const md = res.json();
        assert.equal(md.length, 1);
        const problems = compareWithDcmdump(md[0], await dcmdumpTopLevel(f.path));
        assert.deepEqual(problems, [], `${problems.length} elements disagree with dcmdump`);
      });
    }
  }
});
