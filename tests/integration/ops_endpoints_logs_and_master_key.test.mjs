// Operations: /healthz, /readyz and /metrics (Prometheus text) answer without a token;
// stderr carries JSON log lines only and never a bearer token; a master key given by
// VOXELGATE_MASTER_KEY_FILE is used instead of DIR/keys/master.key, and data stored under
// it is not served under another key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ACCEPT_DICOM, get, makeSeries, qido, stowOk, wadoParts } from './lib/dicomweb.mjs';
import { binaryPath, makeTempDir, python, repoRoot } from './lib/env.mjs';
import { assertHealthy, startWithTenants } from './lib/fixture.mjs';
import { errorBody, request } from './lib/http.mjs';
import { VoxelgateServer } from './lib/server.mjs';

const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?\s+(-?[0-9.eE+-]+|NaN|[+-]Inf)(\s+-?\d+)?$/;

function parseMetrics(text) {
  const samples = new Map();
  const types = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (line.startsWith('# TYPE ')) types.push(line);
    if (line.startsWith('#')) continue;
    assert.match(line, SAMPLE, `not a Prometheus sample line: ${line}`);
    const i = line.lastIndexOf(' ');
    samples.set(line.slice(0, i).trim(), Number(line.slice(i + 1)));
  }
  return { samples, types };
}

describe('ops endpoints and logs', () => {
  let server;
  let token;
  before(async () => {
    ({ server, tokens: { alpha: token } } = await startWithTenants('ops-logs', ['alpha']));
  });
  after(async () => {
    await server?.dispose();
  });

  test('/healthz and /readyz answer 200 without a token', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await request(server.baseUrl, { path });
      assert.equal(res.status, 200, path);
    }
  });

  test('/metrics is Prometheus text and moves with traffic', async () => {
    const first = await request(server.baseUrl, { path: '/metrics' });
    assert.equal(first.status, 200);
    assert.match(first.headers['content-type'], /^text\/plain/);
    const a = parseMetrics(first.text());
    assert.ok(a.types.length > 0, 'no # TYPE lines');
    assert.ok(a.samples.size > 0, 'no samples');
    const s = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDMETRICS', seed: 131 });
    await stowOk(server, token, s.instances.map((i) => i.bytes));
    await qido(server, token, '/studies');
    await wadoParts(server, token, `/studies/${s.study_uid}`);
    const b = parseMetrics((await request(server.baseUrl, { path: '/metrics' })).text());
    const changed = [...b.samples].filter(([k, v]) => a.samples.get(k) !== v);
    assert.ok(changed.length > 0, 'no metric changed after STOW, QIDO and WADO requests');
  });

  test('stderr holds JSON log lines (ts, level) and never a bearer token', async () => {
    await get(server, token, '/studies', 'application/dicom+json');
    await get(server, 'not-a-valid-token-zzz', '/studies', 'application/dicom+json');
    const lines = server.logText().split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const l of lines) {
      let j;
      assert.doesNotThrow(() => (j = JSON.parse(l)), `stderr line is not JSON: ${l.slice(0, 200)}`);
      assert.equal(typeof j.ts, 'string', `no ts: ${l.slice(0, 200)}`);
      assert.equal(typeof j.level, 'string', `no level: ${l.slice(0, 200)}`);
    }
    const all = server.logText() + server.stdoutText();
    assert.ok(!all.includes(token), 'a valid bearer token appears in the output');
    assert.ok(!all.includes('not-a-valid-token-zzz'), 'a presented bearer token appears in the output');
    await assertHealthy(server, 'log checks');
  });
});

describe('VOXELGATE_MASTER_KEY_FILE', () => {
  let server;
  after(async () => {
    await server?.dispose();
  });

  test('the key file from the environment is used, survives restarts, and another key cannot read the data', { timeout: 60_000 }, async () => {
    const keyDir = makeTempDir('key');
    const keyA = join(keyDir, 'a.key');
    const keyB = join(keyDir, 'b.key');
    writeFileSync(keyA, randomBytes(32), { mode: 0o600 });
    writeFileSync(keyB, randomBytes(32), { mode: 0o600 });
    let tokens;
    ({ server, tokens } = await startWithTenants('master-key-env', ['alpha'], { env: { VOXELGATE_MASTER_KEY_FILE: keyA } }));
    assert.ok(!existsSync(join(server.dataDir, 'keys', 'master.key')), 'DIR/keys/master.key created although the env names a key file');
    const s = await makeSeries({ slices: 2, rows: 16, cols: 16, patientId: 'PIDKEY', seed: 132 });
    await stowOk(server, tokens.alpha, s.instances.map((i) => i.bytes));
    const path = `/studies/${s.study_uid}/series/${s.series_uid}/instances/${s.instances[0].sop}`;

    await server.restart();
    const [same] = await wadoParts(server, tokens.alpha, path);
    assert.ok(same.equals(s.instances[0].bytes), 'data readable after a restart with the same key');
    await server.stop();

    server.env = { VOXELGATE_MASTER_KEY_FILE: keyB };
    let started = true;
    try {
      await server.start();
    } catch {
      started = false; // refusing to start with the wrong key is fine
    }
    if (started) {
      let res;
      try {
        res = await get(server, tokens.alpha, path, ACCEPT_DICOM);
      } catch (e) {
        assert.fail(`GET under the wrong master key: no complete HTTP response (${e.code ?? e.message}); expected an error status with a JSON error, not a 200 cut short`);
      }
      assert.ok(!res.body.includes(s.instances[0].bytes.subarray(132, 400)), 'data served in clear under a different master key');
      assert.ok(res.status >= 500, `GET under the wrong master key answered HTTP ${res.status}`);
      errorBody(res);
      await assertHealthy(server, 'wrong master key');
    }
  });
});

describe('the master key kept outside the data folder', () => {
  test('inside the data folder (the default) serve warns, and refuses with --require-external-master-key', { timeout: 60_000 }, async () => {
    const strict = new VoxelgateServer({ name: 'master-key-inside', args: ['--require-external-master-key'] });
    await assert.rejects(strict.start(), /master key .* is inside the data folder .* --require-external-master-key is set/s);
    await strict.dispose();
    const lax = await VoxelgateServer.start({ name: 'master-key-inside-warns' });
    try {
      assert.match(lax.logTail(), /"master_key_inside_data_folder"/);
    } finally {
      await lax.dispose();
    }
  });

  test('outside it, --require-external-master-key starts without a warning', { timeout: 60_000 }, async () => {
    const key = join(makeTempDir('outside-key'), 'master.key');
    writeFileSync(key, randomBytes(32), { mode: 0o600 });
    const server = await VoxelgateServer.start({ name: 'master-key-outside', args: ['--require-external-master-key'], env: { VOXELGATE_MASTER_KEY_FILE: key } });
    try {
      assert.doesNotMatch(server.logTail(), /master_key_inside_data_folder/);
    } finally {
      await server.dispose();
    }
  });
});

describe('versions and upgrades', () => {
  const execFileP = promisify(execFile);

  test('--version names the version, the commit, the catalog schema and the build', async () => {
    const { stdout } = await execFileP(binaryPath, ['--version']);
    assert.match(stdout, /^voxelgate \d+\.\d+\.\d+\n/);
    const commit = stdout.match(/^commit: (\S+)$/m)?.[1];
    assert.ok(commit, stdout);
    // From a checkout, a commit of its history (the binary may be older than the newest commit).
    const inGit = await execFileP('git', ['-C', repoRoot, 'rev-parse', 'HEAD']).then(() => true, () => false);
    if (inGit) {
      assert.match(commit, /^[0-9a-f]{12}(-modified)?$/);
      await execFileP('git', ['-C', repoRoot, 'merge-base', '--is-ancestor', commit.slice(0, 12), 'HEAD']);
    } else {
      assert.equal(commit, 'unknown');
    }
    assert.match(stdout, /^catalog schema: \d+ /m);
    assert.match(stdout, /^built: \w+, g\+\+ \d+/m);
  });

  test('a catalog newer than this voxelgate is refused at start, saying which schema it has and this one knows', { timeout: 60_000 }, async () => {
    const server = await VoxelgateServer.start({ name: 'schema-newer' });
    const knows = Number((await execFileP(binaryPath, ['--version'])).stdout.match(/^catalog schema: (\d+)/m)[1]);
    await server.stop();
    await execFileP(python, ['-c', `import sqlite3,sys
db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE schema_version SET version = version + 1"); db.commit()`, join(server.dataDir, 'catalog.db')]);
    await assert.rejects(server.start(), /exited before ready/);
    assert.match(server.logText(), new RegExp(`schema version ${knows + 1}, newer than this voxelgate \\(${knows}\\)`));
    await server.dispose();
  });
});
