// Backups of a live server: `voxelgate admin backup` while a client keeps storing, an
// incremental second backup, `backup verify` (checksums and a decrypted sample), and
// `admin restore` into a new folder served by a new server: every instance acknowledged
// before the backup started comes back byte-identical, the audit chain verifies, the
// master key is nowhere in the backup, and damage to the backup is named, not restored.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { makeSeries, stowOk, wadoParts } from './lib/dicomweb.mjs';
import { binaryPath, makeTempDir } from './lib/env.mjs';
import { eventually, startWithTenants } from './lib/fixture.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const execFileP = promisify(execFile);
let server, tokens;
const dest = join(makeTempDir('backup-dest'), 'backups');
const acknowledged = [];  // {study, series, sop, bytes, at}
let storing = true;
let loop;
let backupStartedAt;

const cli = (...args) => execFileP(binaryPath, ['admin', ...args], { timeout: 120_000 });
const filesUnder = (dir) => readdirSync(dir, { recursive: true }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());

async function storeSeries(seed) {
  const s = await makeSeries({ slices: 3, rows: 32, cols: 32, seed, patientName: `BACKUP^P${seed}`, patientId: `BK-${seed}` });
  await stowOk(server, tokens.alpha, s.instances.map((i) => i.bytes));
  const at = Date.now();
  for (const i of s.instances) acknowledged.push({ study: s.study_uid, series: s.series_uid, sop: i.sop, bytes: i.bytes, at });
}

before(async () => {
  ({ server, tokens } = await startWithTenants('backup', ['alpha']));
  for (const seed of [1, 2, 3]) await storeSeries(seed);
  // A client that keeps storing while the backups run.
  loop = (async () => {
    for (let seed = 100; storing; ++seed) await storeSeries(seed);
  })();
});

after(async () => {
  storing = false;
  await loop?.catch(() => {});
  await server?.dispose();
});

test('a backup taken during a continuous STOW, then an incremental one that copies only new blobs', { timeout: 180_000 }, async () => {
  await eventually('the client to be storing', () => acknowledged.length >= 15, 60_000, 50);
  backupStartedAt = Date.now();
  const first = await server.admin('backup', '--to', dest);
  const [, blobs, copied] = first.stdout.match(/and (\d+) blobs, (\d+) of them new/) ?? [];
  assert.ok(Number(blobs) >= 15 && Number(copied) === Number(blobs), first.stdout);
  const count = acknowledged.length;
  await eventually('more instances stored after the first backup', () => acknowledged.length >= count + 6, 60_000, 50);
  const second = await server.admin('backup', '--to', dest);
  const [, blobs2, copied2] = second.stdout.match(/and (\d+) blobs, (\d+) of them new/) ?? [];
  assert.ok(Number(blobs2) > Number(blobs), second.stdout);
  assert.ok(Number(copied2) > 0 && Number(copied2) < Number(blobs2), `only the new blobs are copied: ${second.stdout}`);
  const snapshots = (await cli('backup', 'list', dest)).stdout.trim().split('\n');
  assert.equal(snapshots.length, 2, snapshots.join(','));
  // A backup is a copy of every clinic's data: the audit trail says who took it.
  const audit = await server.admin('audit', 'list', '--limit', '1000');
  assert.match(audit.stdout, /admin\.backup/);
});

test('the master key is nowhere in the backup, and verify checks every file and decrypts a sample', async () => {
  const key = readFileSync(join(server.dataDir, 'keys', 'master.key'));
  for (const f of filesUnder(dest)) {
    const content = readFileSync(f);
    assert.ok(!content.includes(key), `the master key is in ${f}`);
    assert.ok(!content.includes(Buffer.from(key.toString('hex'))) && !content.includes(Buffer.from(key.toString('base64'))), f);
  }
  const verified = await server.admin('backup', 'verify', dest);
  assert.match(verified.stdout, /, 0 problems/);
  const decrypted = Number(verified.stdout.match(/(\d+) blobs decrypted/)[1]);
  assert.ok(decrypted >= 10, verified.stdout);
  // With another key, the sample does not decrypt: verify fails and says so.
  const wrongKey = join(makeTempDir('wrong-key'), 'master.key');
  writeFileSync(wrongKey, Buffer.alloc(key.length, 7), { mode: 0o600 });
  await assert.rejects(cli('--data-dir', server.dataDir, 'backup', 'verify', dest, '--master-key', wrongKey), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stdout, /PROBLEM blobs\/t\d+\/\w+\/\w+: does not decrypt with this master key/);
    return true;
  });
});

test('a restore into a new folder serves every instance acknowledged before the backup, byte for byte, and its audit chain verifies', { timeout: 180_000 }, async () => {
  assert.ok(backupStartedAt, 'the backups were taken');
  const snapshots = (await cli('backup', 'list', dest)).stdout.trim().split('\n');
  const restoredDir = join(makeTempDir('restored'), 'data');
  const restored = await cli('--data-dir', restoredDir, 'restore', '--from', dest, '--snapshot', snapshots[0]);
  assert.match(restored.stdout, /every checksum checked/);
  assert.match(restored.stdout, /keys are not in a backup/);
  mkdirSync(join(restoredDir, 'keys'), { mode: 0o700 });
  for (const key of readdirSync(join(server.dataDir, 'keys'))) copyFileSync(join(server.dataDir, 'keys', key), join(restoredDir, 'keys', key));
  const copy = await VoxelgateServer.start({ name: 'backup-restored', dataDir: restoredDir });
  try {
    const before = acknowledged.filter((a) => a.at < backupStartedAt);
    assert.ok(before.length >= 15);
    for (const a of before) {
      const [part] = await wadoParts(copy, tokens.alpha, `/studies/${a.study}/series/${a.series}/instances/${a.sop}`);
      assert.ok(part.equals(a.bytes), `instance ${a.sop} differs after the restore`);
    }
    assert.match((await copy.admin('audit', 'verify')).stdout, /intact/);
  } finally {
    await copy.dispose();
  }
  // A folder that is not empty is never restored into.
  await assert.rejects(cli('--data-dir', restoredDir, 'restore', '--from', dest), /not empty/);
});

test('a damaged blob in the backup is named by verify, and a restore from it stops and leaves nothing', { timeout: 120_000 }, async () => {
  const blob = filesUnder(join(dest, 'blobs')).find((f) => !f.includes('.staged'));
  const bytes = readFileSync(blob);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(blob, bytes);
  const rel = blob.slice(dest.length + 1);
  await assert.rejects(cli('--data-dir', server.dataDir, 'backup', 'verify', dest), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stdout, new RegExp(`PROBLEM ${rel.replace(/[.]/g, '\\.')}: checksum differs`));
    return true;
  });
  const target = join(makeTempDir('restore-damaged'), 'data');
  await assert.rejects(cli('--data-dir', target, 'restore', '--from', dest), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr, new RegExp(`${rel.replace(/[.]/g, '\\.')} in the backup does not match its checksum`));
    return true;
  });
  assert.throws(() => statSync(target), /ENOENT/, 'nothing is left of the failed restore');
});

test('a manifest edited to reach outside the backup or the new folder is refused', async () => {
  const [snapshot] = (await cli('backup', 'list', dest)).stdout.trim().split('\n');
  const path = join(dest, 'snapshots', snapshot, 'manifest.json');
  const original = readFileSync(path, 'utf8');
  const manifest = JSON.parse(original);
  const cases = [
    [(m) => { m.blobs[0].name = '../../../../etc/passwd'; }, /names a blob that cannot be one/],
    [(m) => { m.files.push({ file: '../../keys/master.key', size: 1, sha256: 'x' }); }, /a file a backup never holds/],
    [(m) => { m.blobs[0].tenant = 'one'; }, /blob entry of the manifest is malformed/],
    [(m) => { m.format_version = 99; }, /written by a newer voxelgate/],
  ];
  try {
    for (const [edit, reason] of cases) {
      const m = structuredClone(manifest);
      edit(m);
      writeFileSync(path, JSON.stringify(m));
      const target = join(makeTempDir('restore-hostile'), 'data');
      await assert.rejects(cli('--data-dir', target, 'restore', '--from', dest, '--snapshot', snapshot), (e) => {
        assert.match(e.stderr, reason);
        return true;
      });
      assert.throws(() => statSync(target), /ENOENT/);
    }
    await assert.rejects(cli('--data-dir', join(makeTempDir('restore-hostile'), 'data'), 'restore', '--from', dest, '--snapshot', '../..'), /named by its id/);
  } finally {
    writeFileSync(path, original);
  }
});
