// Data at rest: after storing, no file under the data dir (catalog.db, its -wal/-shm,
// blobs, anything else) holds the patients' names or IDs in clear, no blob is a plain
// DICOM file (DICM at offset 128), and the server log names no patient either.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { makeSeries, qido, stowOk } from './lib/dicomweb.mjs';
import { startWithTenants } from './lib/fixture.mjs';

const SECRETS = ['ZZSECRET^PATIENT', 'ZZSECRET', 'PIDSECRET123', 'QQHIDDEN^PERSON', 'PIDHIDDEN456'];
let server;

after(async () => {
  await server?.dispose();
});

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// Returns ["file: finding", ...] for every secret or plain-DICOM blob found.
function scan(dataDir) {
  const findings = [];
  const files = walk(dataDir);
  for (const f of files) {
    let bytes;
    try {
      bytes = readFileSync(f);
    } catch (e) {
      if (e.code === 'ENOENT') continue; // e.g. a -journal/-shm that went away meanwhile
      throw e;
    }
    const rel = relative(dataDir, f);
    for (const s of SECRETS) {
      for (const enc of ['latin1', 'utf16le']) {
        if (bytes.includes(Buffer.from(s, enc))) findings.push(`${rel}: contains '${s}' (${enc})`);
      }
    }
    if (rel.split('/')[0] === 'blobs' && bytes.length >= 132 && bytes.toString('latin1', 128, 132) === 'DICM') {
      findings.push(`${rel}: plain DICOM (DICM at offset 128)`);
    }
    if (bytes.includes(Buffer.from('DICM')) && bytes.includes(Buffer.from('1.2.840.10008.1.2.1')) && rel.startsWith('blobs')) {
      findings.push(`${rel}: holds DICOM file meta in clear`);
    }
  }
  return { findings, files };
}

test('no patient name or ID in clear anywhere under the data dir or in the log, no plain DICOM blob', { timeout: 120_000 }, async () => {
  let tokens;
  ({ server, tokens } = await startWithTenants('at-rest', ['alpha']));
  const a = await makeSeries({ slices: 6, rows: 64, cols: 64, patientName: 'ZZSECRET^PATIENT', patientId: 'PIDSECRET123', seed: 81 });
  const b = await makeSeries({ slices: 3, rows: 64, cols: 64, patientName: 'QQHIDDEN^PERSON', patientId: 'PIDHIDDEN456', seed: 82 });
  await stowOk(server, tokens.alpha, a.instances.map((i) => i.bytes));
  await stowOk(server, tokens.alpha, b.instances.map((i) => i.bytes));
  // Searching by name is the kind of request that might end up in a log or a cache.
  assert.equal((await qido(server, tokens.alpha, '/studies?PatientName=ZZSECRET%5EPATIENT')).length, 1);
  assert.equal((await qido(server, tokens.alpha, '/studies?PatientID=PIDHIDDEN456')).length, 1);
  assert.equal((await qido(server, tokens.alpha, '/studies?PatientName=ZZSEC*')).length, 1);

  const running = scan(server.dataDir);
  const blobCount = running.files.filter((f) => relative(server.dataDir, f).startsWith('blobs')).length;
  assert.ok(blobCount >= 9, `expected at least one blob per instance under blobs/, found ${blobCount}`);
  assert.ok(running.files.some((f) => f.endsWith('catalog.db')), 'catalog.db exists');
  assert.deepEqual(running.findings, [], 'while running (WAL included)');

  const stopped = await server.stop();
  assert.equal(stopped.code, 0);
  assert.deepEqual(scan(server.dataDir).findings, [], 'after a clean stop (WAL checkpointed)');

  const log = server.logText();
  const leaks = SECRETS.filter((s) => log.includes(s));
  assert.deepEqual(leaks, [], `server log ${server.logPath} names a patient`);
});
