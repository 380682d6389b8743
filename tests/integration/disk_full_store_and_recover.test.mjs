// A full disk while storing: the server runs on a data folder of its own small
// filesystem (tmpfs with a size), which the test fills. STOW-RS then answers 507 with
// 0xA700 per instance, DICOM C-STORE answers 0xA700; nothing half-written is listed or
// left staged; what was stored before reads back unchanged; and storing works again as
// soon as space returns. Needs root (mount); skips with a message otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { first, makeSeries, qido, stow, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { parsePart10 } from './lib/dicom.mjs';
import { DIMSE_TS, DimseAssociation, SOP } from './lib/dimse.mjs';
import { makeTempDir, removeTempDir } from './lib/env.mjs';
import { assertHealthy, eventually } from './lib/fixture.mjs';
import { freePort, VoxelgateServer } from './lib/server.mjs';

const SIZE_MB = 48;
let mountPoint = null;
let server = null;
let token = null;
let skipReason = null;
let dicomPort = null;

function tryMount() {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a small filesystem for the data folder';
  mountPoint = makeTempDir('disk-full');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MB}m`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `mount of a ${SIZE_MB} MiB tmpfs refused here (${e.message.split('\n')[0]})`;
  }
}

// Writes zeros into `path` until the filesystem refuses (ENOSPC).
function fill(path) {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

function stagedFiles() {
  const dir = join(mountPoint, 'data', 'blobs', '.staged');
  return existsSync(dir) ? readdirSync(dir) : [];
}

before(async () => {
  skipReason = tryMount();
  if (skipReason) return;
  const dataDir = join(mountPoint, 'data');
  mkdirSync(dataDir);
  dicomPort = await freePort();
  server = await VoxelgateServer.start({ name: 'disk-full', dataDir, args: ['--dicom-listen', `127.0.0.1:${dicomPort}`] });
  await server.createTenant('alpha');
  token = await server.createToken({ tenant: 'alpha', name: 'alpha-rw' });
  await server.admin('tenant', 'set', 'alpha', '--accept-any-caller', 'on');
});

after(async () => {
  await server?.stop();
  if (mountPoint) {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    } catch {}
    removeTempDir(mountPoint);
  }
});

test('a full disk refuses new instances with 507/0xA700, keeps what was stored readable, and stores again once space returns', { timeout: 180_000 }, async (t) => {
  if (skipReason) return t.skip(skipReason);
  assert.ok(dicomPort, 'the DICOM listener is up');
  const before = await makeSeries({ slices: 4, rows: 64, cols: 64, patientName: 'DISK^BEFORE', patientId: 'DISK1', seed: 81 });
  const first_ = await stow(server, token, before.instances.map((i) => i.bytes));
  assert.equal(first_.res.status, 200, first_.res.text());

  const ballast = join(mountPoint, 'ballast');
  fill(ballast);

  // STOW-RS: every instance refused for want of space, with the reason and a Retry-After.
  const during = await makeSeries({ slices: 6, rows: 128, cols: 128, patientName: 'DISK^DURING', patientId: 'DISK2', seed: 82 });
  const refused = await stow(server, token, during.instances.map((i) => i.bytes));
  assert.equal(refused.res.status, 507, refused.res.text().slice(0, 500));
  assert.ok(refused.res.headers['retry-after'], 'a 507 says when to retry');
  assert.equal(refused.failed.length, 6);
  for (const item of refused.failed) assert.equal(item.reason, 0xa700);

  // DICOM C-STORE: 0xA700, and the association stays usable (a C-ECHO on it works).
  const parsed = parsePart10(during.instances[0].bytes);
  const a = await DimseAssociation.open({ port: dicomPort, calledAe: 'ALPHA', contexts: [
    { abstractSyntax: SOP.verification, transferSyntaxes: [DIMSE_TS.implicitLE] },
    { abstractSyntax: SOP.ctImage, transferSyntaxes: [parsed.transferSyntax] },
  ] });
  try {
    const stored = await a.store({ sopClass: SOP.ctImage, sopInstance: during.instances[0].sop, dataset: parsed.file.subarray(parsed.datasetOffset) });
    assert.equal(stored.status, 0xa700, `C-STORE status ${stored.status?.toString(16)}`);
    assert.equal((await a.echo()).status, 0);
    await a.release();
  } finally {
    a.destroy?.();
  }

  // Nothing of the refused instances is listed or left staged; the server is healthy and
  // what it held before reads back as stored.
  await assertHealthy(server, 'with the disk full');
  await eventually('the staging folder to be empty', async () => stagedFiles().length === 0, 30_000);
  const instances = await qido(server, token, '/instances');
  assert.deepEqual(instances.map((i) => first(i, TAGS.StudyInstanceUID)).filter((u) => u !== before.study_uid), []);
  assert.equal(instances.length, 4);
  const parts = await wadoParts(server, token, `/studies/${before.study_uid}/series/${before.series_uid}/instances/${before.instances[1].sop}`);
  assert.equal(parts.length, 1);
  assert.ok(parts[0].equals(before.instances[1].bytes), 'a stored instance reads back byte-identical');

  // Space returns: the same batch is stored, without a restart.
  rmSync(ballast);
  const again = await stow(server, token, during.instances.map((i) => i.bytes));
  assert.equal(again.res.status, 200, again.res.text().slice(0, 500));
  assert.equal((await qido(server, token, '/instances')).length, 10);
});
