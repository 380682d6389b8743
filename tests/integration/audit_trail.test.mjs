// The audit trail: every DICOMweb access (allowed or refused), cross-tenant attempts
// included, lands in the hash-chained log with who, which tenant, what and the outcome,
// but never a patient name; `voxelgate admin audit verify` passes on the untouched chain
// and names the first record of a chain edited in the SQLite file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ACCEPT_DICOM, get, makeSeries, qido, stowOk } from './lib/dicomweb.mjs';
import { binaryPath, makeTempDir, python } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { auditListEventually, call, createUser, login, signIn } from './lib/people.mjs';
import { eventually } from './lib/wait.mjs';

const execFileP = promisify(execFile);
let server;
let tokens;
let A;

before(async () => {
  ({ server, tokens } = await startWithTenants('audit-trail', ['alpha', 'beta']));
  A = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'AUDIT^SECRETNAME', patientId: 'PIDAUDIT77', seed: 71 });
  await stowOk(server, tokens.alpha, A.instances.map((i) => i.bytes));
  await qido(server, tokens.alpha, `/studies?PatientID=PIDAUDIT77`);
  await get(server, tokens.beta, `/studies/${A.study_uid}`, ACCEPT_DICOM);  // another tenant's UID: 404
  await get(server, 'not-a-token', `/studies/${A.study_uid}/metadata`, 'application/dicom+json');  // 401
  // The server writes its audit records in batches: the tests below read the trail, so
  // wait until the four requests above are all in it.
  const wanted = [['dicomweb.stow', 'ok 200'], ['dicomweb.qido', 'ok'], ['dicomweb.wado', 'failed 404'], ['dicomweb.metadata', 'denied 401']];
  let missing = wanted;
  await auditListEventually(server, () => `records of ${missing.map((w) => w.join(' ')).join(', ')}`, (out) => {
    const records = rows(out);
    missing = wanted.filter(([action, outcome]) => !records.some((r) => r.action === action && r.outcome.startsWith(outcome)));
    return missing.length === 0;
  });
});

after(async () => {
  await server?.dispose();
});

async function audit(...args) {
  return execFileP(binaryPath, [...server.cliArgs('admin'), 'audit', ...args], { env: server.cliEnv });
}

function rows(stdout) {
  return stdout.trim().split('\n').filter(Boolean).map((line) => {
    const [id, time, tenant, actor, action, object, outcome, remote] = line.split('\t');
    return { id: Number(id), time, tenant, actor, action, object, outcome, remote };
  });
}

test('every access is recorded with actor, tenant, object and outcome', async () => {
  const { stdout } = await audit('list', '--limit', '1000');
  const records = rows(stdout);
  const stow = records.find((r) => r.action === 'dicomweb.stow');
  assert.ok(stow, 'the STOW is audited');
  assert.match(stow.object, new RegExp(A.study_uid.replaceAll('.', '\\.')));
  assert.match(stow.outcome, /^ok 200/);
  assert.equal(stow.remote, '127.0.0.1');
  assert.ok(records.some((r) => r.action === 'dicomweb.qido' && r.outcome.startsWith('ok')), 'the QIDO is audited');
  const cross = records.find((r) => r.action === 'dicomweb.wado' && r.outcome === 'failed 404');
  assert.ok(cross, 'the cross-tenant WADO attempt is audited');
  assert.notEqual(cross.tenant, stow.tenant, 'under the caller\'s tenant, not the data\'s owner');
  const refused = records.find((r) => r.action === 'dicomweb.metadata' && r.outcome === 'denied 401');
  assert.ok(refused, 'the request with a bad token is audited');
  assert.equal(refused.actor, 'anonymous');
  assert.ok(records.some((r) => r.action === 'admin.token.create'), 'admin actions are audited');
  assert.ok(!stdout.includes('SECRETNAME') && !stdout.includes('PIDAUDIT77'), 'no patient name or ID in the audit trail');
});

test('a tenant filter shows only that tenant\'s records', async () => {
  const all = rows((await audit('list', '--limit', '1000')).stdout);
  const alpha = rows((await audit('list', '--tenant', 'alpha', '--limit', '1000')).stdout);
  assert.ok(alpha.length > 0 && alpha.length < all.length);
  assert.ok(alpha.every((r) => r.tenant === alpha[0].tenant));
});

test('a QIDO search is audited with its keys, sealed for the clinic: its admin reads them, the catalog file holds none', async () => {
  await createUser(server, 'alpha', 'alpha.auditor', 'clinic_admin');
  const auditor = await signIn(server, 'alpha.auditor');
  let records = [];
  await eventually('the QIDO record with its keys', async () => {
    records = (await call(server, auditor, 'GET', '/api/v1/audit?action=dicomweb.qido&limit=1000')).json().records;
    return records.some((r) => r.detail.includes('PatientID=PIDAUDIT77'));
  }, 30_000);
  assert.ok(records.some((r) => r.detail === 'query: PatientID=PIDAUDIT77'), JSON.stringify(records));
  for (const file of ['catalog.db', 'catalog.db-wal'])
    if (existsSync(join(server.dataDir, file)))
      assert.ok(!readFileSync(join(server.dataDir, file)).toString('latin1').includes('PIDAUDIT77'), `${file} holds the search key in clear`);
});

test('a signed checkpoint shows the newest records deleted, which verify alone cannot; a forged checkpoint is refused', async () => {
  const dir = makeTempDir('audit-checkpoint');
  const cp = join(dir, 'checkpoint.json');
  const made = await audit('checkpoint', '--out', cp);
  assert.match(made.stdout, /audit checkpoint: record \d+/);
  assert.match((await audit('verify', '--against', cp)).stdout, /intact and reaches the checkpoint/);
  // A clinic admin downloads one through the API, signed with the same key.
  await createUser(server, 'alpha', 'alpha.admin', 'clinic_admin');
  const admin = await signIn(server, 'alpha.admin');
  const res = await call(server, admin, 'GET', '/api/v1/audit/checkpoint');
  assert.equal(res.status, 200, res.text());
  const downloaded = res.json();
  assert.equal(downloaded.public_key, JSON.parse(readFileSync(cp, 'utf8')).public_key);
  assert.ok(downloaded.id >= JSON.parse(readFileSync(cp, 'utf8')).id);
  writeFileSync(join(dir, 'downloaded.json'), res.text());
  assert.match((await audit('verify', '--against', join(dir, 'downloaded.json'))).stdout, /intact and reaches the checkpoint/);
  // A checkpoint edited to name another head no longer verifies.
  writeFileSync(join(dir, 'forged.json'), JSON.stringify({ ...downloaded, id: downloaded.id + 1000 }));
  await assert.rejects(audit('verify', '--against', join(dir, 'forged.json')), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stdout, /not signed by this installation's audit key/);
    return true;
  });
  // Someone with the data folder deletes the newest records: the chain that is left is a
  // valid chain, but no longer reaches the checkpoint's head.
  await execFileP(python, ['-c', `import sqlite3,sys
db = sqlite3.connect(sys.argv[1]); db.execute("DELETE FROM audit_log WHERE id > (SELECT max(id) - 3 FROM audit_log)"); db.commit()`,
    join(server.dataDir, 'catalog.db')]);
  assert.match((await audit('verify')).stdout, /intact/, 'the truncated chain alone looks intact');
  await assert.rejects(audit('verify', '--against', join(dir, 'downloaded.json')), (e) => {
    assert.equal(e.code, 1);
    // Records the server wrote since then may take the deleted ids again: then the record
    // at the head is a different one.
    assert.match(e.stdout, /does NOT reach the checkpoint .*(records were deleted|is not the one the checkpoint signed)/);
    return true;
  });
});

test('verify passes on the intact chain, then fails and names the record edited in the database', async () => {
  const ok = await audit('verify');
  assert.match(ok.stdout, /intact/);
  const target = rows((await audit('list', '--limit', '1000')).stdout).find((r) => r.action === 'dicomweb.stow').id;
  // Edit one row behind voxelgate's back, as someone holding the data folder could.
  await execFileP(python, ['-c', `import sqlite3,sys
db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE audit_log SET outcome='ok 200 (edited)' WHERE id=?", (int(sys.argv[2]),)); db.commit()`,
    join(server.dataDir, 'catalog.db'), String(target)]);
  await assert.rejects(audit('verify'), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stdout, new RegExp(`BROKEN at record ${target}\\b`));
    return true;
  });
});

test('while the audit trail cannot be written a sign-in is refused (503); a read is served and recorded once the trail takes records again', async () => {
  const sql = (statement) => execFileP(python, ['-c', `import sqlite3,sys
db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2]); db.commit()`, join(server.dataDir, 'catalog.db'), statement]);
  // Someone with the catalog open makes the audit log refuse writes, and only it.
  await sql("CREATE TRIGGER block_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit blocked'); END");
  try {
    const refused = await login(server, 'alpha.admin');
    assert.equal(refused.res.status, 503, refused.res.text());
    assert.match(refused.res.text(), /audit trail cannot be written/);
    // A read waits in the trail's buffer (bounded: past it, reads are refused too).
    const read = await get(server, tokens.alpha, '/studies?PatientID=BLOCKEDREAD', 'application/dicom+json');
    assert.ok([200, 204].includes(read.status), `HTTP ${read.status}`);
  } finally {
    await sql('DROP TRIGGER block_audit');
  }
  await eventually('sign-in works again', async () => (await login(server, 'alpha.admin')).res.status === 200, 30_000);
  await auditListEventually(server, 'the sign-in that worked and the read made while the trail was blocked', (out) =>
    rows(out).some((r) => r.action === 'session.login' && r.actor === 'alpha.admin' && r.outcome === 'ok 200') &&
    rows(out).filter((r) => r.action === 'dicomweb.qido').length >= 2);
  const failed = rows((await audit('list', '--limit', '100000')).stdout).filter((r) => r.action === 'session.login' && r.actor === 'alpha.admin');
  assert.ok(failed.every((r) => r.outcome === 'ok 200'), 'the refused sign-in left no record saying it succeeded');
});
