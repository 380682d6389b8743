// The hospital-side gateway end to end on loopback, with real parts: dcmtk's storescp plays
// the hospital PACS and storescu the modality; `voxelgate gateway` de-identifies and
// forwards to a real voxelgate server, which then holds no original name or ID; ct-lungs
// runs there; the gateway brings the SEG back to the PACS under the original patient,
// referencing the original series and instances. Faults: the server killed while the
// gateway forwards (nothing lost once it is back), the gateway killed while it forwards
// (nothing stored twice). With RT structure sets and overlays turned on, those come back
// too; a SEG the PACS sent itself is imported on the server and never sent back. And
// forwarding over HTTPS, verified against a private CA.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { first, get, makeSeries, qido, TAGS, wadoParts } from './lib/dicomweb.mjs';
import { echoscu, storescu } from './lib/dcmtk.mjs';
import { newUid, uidsOf, withUids } from './lib/dicom.mjs';
import { binaryPath, makeTempDir, python, repoRoot, sharedDataDir } from './lib/env.mjs';
import { eventually } from './lib/fixture.mjs';
import { request } from './lib/http.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import { freePort, VoxelgateServer } from './lib/server.mjs';
import { acceptedConnections } from './lib/tcp.mjs';
import { apiGet, apiJson } from './lib/volumes.mjs';

const execFileP = promisify(execFile);
const PATIENT = { name: 'OKONKWO^CHIDINMA', id: 'HOSP-4471-X' };

let server;
let serverPort;
let token;
let tester;  // the tests' own token: the audit trail tells the gateway's calls from theirs
let pacs;
let gateway;
let phantom;

// A running `voxelgate gateway`, its config and status page.
class GatewayProcess {
  constructor(name, settings) {
    this.dir = makeTempDir(name);
    this.settings = settings;
    this.log = join(this.dir, 'gateway.log');
  }

  async start() {
    const s = this.settings;
    this.dicomPort ??= await freePort();
    this.statusPort ??= await freePort();
    const config = `[gateway]\ndata_dir = "${join(this.dir, 'data')}"\nae_title = "VGGATEWAY"\ndicom_port = ${this.dicomPort}\n` +
      `callers = [${(s.callers ?? ['STORESCU']).map((c) => `"${c}"`).join(', ')}]\nstatus_listen = "127.0.0.1:${this.statusPort}"\n` +
      `profile = "${s.profile ?? 'basic+retain-long-modified-dates'}"\n` +
      `retry_max_seconds = 1\nbatch_instances = ${s.batch ?? 10}\n` +
      `[server]\nurl = "${s.url}"\ntoken_file = "${s.tokenFile}"\n${s.caFile ? `ca_file = "${s.caFile}"\n` : ''}poll_seconds = 1\nresults_hours = 1\n` +
      // The test server speaks plain HTTP on loopback; the gateway refuses that unless told.
      `allow_insecure_http = ${s.allowInsecure ?? s.url.startsWith('http://')}\n` +
      `[pacs]\nae_title = "PACS"\nhost = "127.0.0.1"\nport = ${s.pacsPort}\n`;
    writeFileSync(join(this.dir, 'gateway.toml'), config);
    const out = openSync(this.log, 'a');
    this.child = spawn(binaryPath, ['gateway', '--config', join(this.dir, 'gateway.toml')], { stdio: ['ignore', out, out] });
    closeSync(out);
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
    await eventually(() => `the gateway to start (its status page to answer 200):\n${readFileSync(this.log, 'utf8')}`, async () => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the gateway exited before it started:\n${readFileSync(this.log, 'utf8')}`);
      }
      try {
        return (await request(`http://127.0.0.1:${this.statusPort}`, { path: '/status', timeoutMs: 1000 })).status === 200;
      } catch {
        return false; // not listening yet
      }
    }, 30_000, 100);
    return this;
  }

  async status() {
    return (await request(`http://127.0.0.1:${this.statusPort}`, { path: '/status' })).json();
  }

  async kill9() {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

// The gateway's retries back off: a minute unless a step says otherwise.
const until = (what, fn, timeoutMs = 60_000) => eventually(what, fn, timeoutMs);

// What pydicom reads of each file (null for one it cannot read, e.g. still being written):
// patient, study, series, references and every UID in it, sequences included.
async function describeAll(paths) {
  const script = `
import json, sys, pydicom
def describe(path):
    d = pydicom.dcmread(path)
    refs, uids = set(), set()
    def walk(ds):
        for e in ds:
            if e.VR == 'SQ':
                for item in e.value: walk(item)
                continue
            if e.tag == 0x00081155: refs.add(str(e.value))
            if e.VR == 'UI' and e.value: uids.update(str(v) for v in (e.value if e.VM > 1 else [e.value]))
    walk(d)
    series = [str(i.SeriesInstanceUID) for i in d.get('ReferencedSeriesSequence', [])]
    return {'modality': d.Modality, 'name': str(d.PatientName), 'id': d.PatientID, 'study': d.StudyInstanceUID,
      'series_uid': d.SeriesInstanceUID, 'sop': d.SOPInstanceUID, 'sop_class': d.SOPClassUID,
      'for': d.get('FrameOfReferenceUID', ''), 'series': series, 'refs': sorted(refs), 'uids': sorted(uids),
      'removed': d.get('PatientIdentityRemoved', '')}
out = []
for path in sys.argv[1:]:
    try: out.append(describe(path))
    except Exception: out.append(None)
print(json.dumps(out))
`;
  if (paths.length === 0) return [];
  const { stdout } = await execFileP(python, ['-c', script, ...paths], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

async function describe(path) {
  const [d] = await describeAll([path]);
  if (!d) throw new Error(`pydicom cannot read ${path}`);
  return d;
}

// What the PACS (storescp's folder) holds: [{file, ...describe}], unreadable files left out.
async function pacsHolds() {
  const files = readdirSync(pacs.dir);
  const described = await describeAll(files.map((f) => join(pacs.dir, f)));
  return files.map((file, i) => described[i] && { file, ...described[i] }).filter(Boolean);
}

// The server's audit trail of the hospital, oldest first: [{id, actor, action, object}].
async function serverAudit() {
  const { stdout } = await server.admin('audit', 'list', '--tenant', 'hospital', '--limit', '100000');
  return stdout.split('\n').filter(Boolean).map((line) => {
    const [id, , , actor, action, object] = line.split('\t');
    return { id: Number(id), actor, action, object };
  }).sort((a, b) => a.id - b.id);
}

// A call the gateway made (its token is named "gateway"), not one of the tests'.
const byGateway = (r) => r.actor.endsWith('/token:gateway');

// How many instances the gateway's queue (gateway.db in its data folder) still holds;
// readable while the gateway is down.
async function gatewayQueued(g) {
  const { stdout } = await execFileP(python, ['-c', 'import sqlite3, sys\n' +
    'print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM outbox WHERE state = \'queued\'").fetchone()[0])',
  join(g.dir, 'data', 'gateway.db')]);
  return Number(stdout.trim());
}

async function serverInstances(study, as = token) {
  try {
    return await qido(server, as, `/studies/${study}/instances`);
  } catch {
    return [];
  }
}

before(async () => {
  serverPort = await freePort();
  server = await VoxelgateServer.start({ name: 'gateway-server', args: ['--workers', '2'] });
  serverPort = server.port;
  await server.createTenant('hospital');
  token = await server.createToken({ tenant: 'hospital', name: 'gateway' });
  tester = await server.createToken({ tenant: 'hospital', name: 'tester' });
  const tokenFile = join(makeTempDir('gateway-token'), 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  // The hospital PACS: dcmtk's storescp, writing what it receives into a folder.
  const pacsDir = makeTempDir('pacs');
  const pacsPort = await freePort();
  pacs = { dir: pacsDir, port: pacsPort, child: spawn('storescp', ['-aet', 'PACS', '+xa', '-od', pacsDir, String(pacsPort)], { stdio: 'ignore' }) };
  gateway = await new GatewayProcess('gateway', { url: server.baseUrl, tokenFile, pacsPort }).start();
  gateway.tokenFile = tokenFile;
  const out = makeTempDir('phantom');
  const { stdout } = await execFileP(python, [join(repoRoot, 'tests/tools/make_chest_phantom.py'), '--out', out, '--size', '128', '--slices', '80',
    '--patient-name', PATIENT.name, '--patient-id', PATIENT.id], { maxBuffer: 16 << 20 });
  phantom = JSON.parse(stdout);
});

after(async () => {
  await gateway?.stop();
  pacs?.child.kill('SIGKILL');
  await server?.dispose();
});

let deidentifiedStudy;

test('a study sent to the gateway reaches the server de-identified: no original name or ID anywhere there', { timeout: 180_000 }, async () => {
  const sent = await storescu({ port: gateway.dicomPort, calledAe: 'VGGATEWAY', files: phantom.files });
  assert.equal(sent.successes, phantom.files.length, sent.output.slice(-1500));
  const studies = await until('the study on the server', async () => {
    const s = await qido(server, token, '/studies');
    return s.length === 1 && (await serverInstances(first(s[0], TAGS.StudyInstanceUID))).length === phantom.files.length && s;
  });
  deidentifiedStudy = first(studies[0], TAGS.StudyInstanceUID);
  assert.notEqual(deidentifiedStudy, phantom.study_uid);
  assert.match(first(studies[0], TAGS.PatientID), /^VG/);
  for (const part of await wadoParts(server, token, `/studies/${deidentifiedStudy}`)) {
    const text = part.toString('latin1');
    assert.ok(!text.includes('OKONKWO') && !text.includes(PATIENT.id) && !text.includes(phantom.study_uid), 'decrypted instances hold no original identity');
  }
  const catalog = readFileSync(join(server.dataDir, 'catalog.db')).toString('latin1');
  assert.ok(!catalog.includes('OKONKWO') && !catalog.includes(PATIENT.id) && !catalog.includes(phantom.study_uid));
  // The queue empties a moment before forwarded_total counts the last batch: wait for both.
  const status = await until('an empty queue and every instance counted as forwarded', async () => {
    const s = await gateway.status();
    return s.queue_depth === 0 && s.forwarded_total >= phantom.files.length && s;
  });
  assert.equal(status.forwarded_total, phantom.files.length);
  assert.equal(status.dead, 0);
  assert.ok(status.last_forward_ok_at > 0);
  assert.ok(!JSON.stringify(status).includes('OKONKWO'));
  assert.ok(!readFileSync(gateway.log, 'utf8').includes('OKONKWO') && !readFileSync(gateway.log, 'utf8').includes(PATIENT.id), 'no patient data in the gateway log');
});

test('ct-lungs runs on the server and the SEG comes back to the PACS under the original patient and UIDs', { timeout: 180_000 }, async () => {
  const [series] = await qido(server, token, `/studies/${deidentifiedStudy}/series`);
  const submitted = await apiJson(server, token, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: first(series, TAGS.SeriesInstanceUID) });
  assert.equal(submitted.status, 202, submitted.text());
  const job = await until('the job', async () => {
    const j = (await apiGet(server, token, `/api/v1/jobs/${submitted.json().id}`)).json();
    return !['queued', 'running'].includes(j.state) && j;
  });
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const segFile = await until('the SEG in the PACS', async () => {
    for (const f of readdirSync(pacs.dir)) {
      const d = await describe(join(pacs.dir, f)).catch(() => null);
      if (d?.modality === 'SEG') return join(pacs.dir, f);
    }
    return null;
  }, 90_000);
  const seg = await describe(segFile);
  assert.equal(seg.name, PATIENT.name);
  assert.equal(seg.id, PATIENT.id);
  assert.equal(seg.study, phantom.study_uid);
  assert.deepEqual(seg.series, [phantom.series_uid], 'the SEG references the original series');
  const original = await describe(phantom.files[0]);
  const { stdout: uids } = await execFileP(python, ['-c', 'import sys, pydicom\nfor f in sys.argv[1:]: print(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)', ...phantom.files]);
  const originals = new Set(uids.trim().split('\n'));
  assert.ok(seg.refs.length > 0 && seg.refs.every((uid) => originals.has(uid)), 'every referenced instance is an original one');
  assert.equal(seg.for, original.for, 'the original frame of reference');
  assert.notEqual(seg.removed, 'YES');
  const { stdout, stderr } = await execFileP('dciodvfy', ['-new', segFile]).catch((e) => e);
  assert.deepEqual(`${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('Error')), []);
  const status = await gateway.status();
  assert.ok(status.results_delivered >= 1);
  // Delivered once: later polls do not send it again. A poll lists the SEG series'
  // instances, then fetches (WADO) and sends to the PACS those not delivered yet; polls
  // run one after another. Two listings after the last fetch mean a whole poll has run
  // since and decided not to send it again; only then does the count below say so.
  const segSeries = job.seg_series_uid;
  assert.ok(segSeries, JSON.stringify(job));
  await until('a whole poll of the gateway after the delivery', async () => {
    const trail = (await serverAudit()).filter((r) => r.object.includes(`series=${segSeries}`));
    const lastFetch = trail.findLast((r) => r.action === 'dicomweb.wado');
    return lastFetch && trail.filter((r) => r.action === 'dicomweb.qido' && r.id > lastFetch.id).length >= 2;
  });
  const segs = [];
  for (const f of readdirSync(pacs.dir)) if ((await describe(join(pacs.dir, f)).catch(() => null))?.modality === 'SEG') segs.push(f);
  assert.equal(segs.length, 1);
});

// The study on the server that is none of `known`, once it holds `count` instances.
async function newStudyWith(known, count, as = token) {
  return until(`a new study of ${count} instances on the server`, async () => {
    for (const st of await qido(server, as, '/studies')) {
      const uid = first(st, TAGS.StudyInstanceUID);
      if (known.has(uid)) continue;
      const instances = await serverInstances(uid, as);
      if (instances.length >= count) return { uid, instances };
    }
    return null;
  });
}

const known = new Set();

test('the server killed while the gateway forwards: nothing is lost once it is back', { timeout: 180_000 }, async () => {
  known.add(deidentifiedStudy);
  const s = await makeSeries({ slices: 40, rows: 64, cols: 64, patientName: 'SECOND^PATIENT', patientId: 'HOSP-2', seed: 71 });
  // Frozen first, so the kill lands while a forward is in flight however fast the machine
  // (a server killed after the gateway forwarded everything would test nothing).
  process.kill(server.pid, 'SIGSTOP');
  const sending = storescu({ port: gateway.dicomPort, calledAe: 'VGGATEWAY', files: s.files });
  try {
    await until('a forward request sent to the frozen server', () => acceptedConnections(serverPort).some((c) => c.rxQueue > 4096));
  } finally {
    await server.kill9();  // SIGKILL ends a stopped process too
  }
  const sent = await sending;
  assert.equal(sent.successes, 40, 'the gateway keeps accepting while the server is down');
  const down = await until('the gateway noticing', async () => { const st = await gateway.status(); return st.last_error && st; });
  assert.match(down.last_error, /cannot be reached/);
  assert.ok(down.queue_depth > 0);
  await server.start({ port: serverPort });
  const { uid, instances } = await newStudyWith(known, 40);
  known.add(uid);
  await until('an empty queue', async () => (await gateway.status()).queue_depth === 0);
  assert.equal((await serverInstances(uid)).length, 40);
  assert.equal(new Set(instances.map((i) => first(i, TAGS.SOPInstanceUID))).size, 40);
  assert.equal((await gateway.status()).dead, 0);
});

test('the gateway killed while it forwards: after its restart nothing is stored twice', { timeout: 180_000 }, async () => {
  const s = await makeSeries({ slices: 40, rows: 64, cols: 64, patientName: 'THIRD^PATIENT', patientId: 'HOSP-3', seed: 72 });
  // Half of the series forwarded and acknowledged.
  const before = (await gateway.status()).forwarded_total;
  assert.equal((await storescu({ port: gateway.dicomPort, calledAe: 'VGGATEWAY', files: s.files.slice(0, 20) })).successes, 20);
  await until('the first half forwarded', async () => {
    const st = await gateway.status();
    return st.queue_depth === 0 && st.forwarded_total >= before + 20;
  });
  // The other half while the server is frozen (SIGSTOP): the gateway's next request waits
  // on it, so the kill lands while a request is in flight however fast or slow the machine.
  process.kill(server.pid, 'SIGSTOP');
  try {
    assert.equal((await storescu({ port: gateway.dicomPort, calledAe: 'VGGATEWAY', files: s.files.slice(20) })).successes, 20);
    // More bytes than any of the gateway's polls (GETs) sends: a forward's body.
    await until('a forward request sent to the frozen server', () => acceptedConnections(serverPort).some((c) => c.rxQueue > 4096));
    await gateway.kill9();
  } finally {
    process.kill(server.pid, 'SIGCONT');
  }
  assert.equal(await gatewayQueued(gateway), 20, 'killed while forwarding: the second half was not acknowledged');
  await gateway.start();
  const { uid } = await newStudyWith(known, 40);
  // The restarted gateway resends what it had not seen acknowledged; an empty queue means
  // the server has acknowledged all of it.
  await until('an empty queue', async () => (await gateway.status()).queue_depth === 0);
  // The killed gateway's request may still be on the server's hands (it was sent in full
  // before the kill). SIGTERM lets the server finish every request it has, then exit: after
  // that nothing is pending, and the count below is final.
  assert.deepEqual(await server.stop(), { code: 0, signal: null }, 'a clean stop');
  await server.start({ port: serverPort });
  const instances = await serverInstances(uid);
  assert.equal(instances.length, 40, 'each instance once');
  assert.equal(new Set(instances.map((i) => first(i, TAGS.SOPInstanceUID))).size, 40);
  const total = (await qido(server, token, '/instances')).length;
  assert.equal(total, phantom.files.length + 2 + 40 + 40, 'the phantom, its SEG and measurement report, two series: nothing doubled');
});

// Every UID in DICOM JSON (sequences included), but the standard's own (SOP classes, ...).
function uidsInJson(node, into = new Set()) {
  if (Array.isArray(node)) for (const item of node) uidsInJson(item, into);
  else if (node && typeof node === 'object')
    for (const element of Object.values(node)) {
      if (element?.vr === 'UI') for (const v of element.Value ?? []) if (!v.startsWith('1.2.840.10008.')) into.add(v);
      if (element?.vr === 'SQ') uidsInJson(element.Value ?? [], into);
    }
  return into;
}

test('with RT structure sets and overlays turned on, a result reaches the PACS as a SEG, an RT structure set and overlay images, re-identified', { timeout: 300_000 }, async () => {
  await createUser(server, 'hospital', 'hospital.admin', 'clinic_admin');
  const admin = await signIn(server, 'hospital.admin');
  const set = await call(server, admin, 'PATCH', '/api/v1/tenant/settings', { json: { results_as_rtstruct: true, results_as_overlay: true } });
  assert.equal(set.status, 200, set.text());
  // The phantom's CT as the server holds it: every UID in it is one the gateway made.
  const ct = (await qido(server, tester, `/studies/${deidentifiedStudy}/series?Modality=CT`)).map((s) => first(s, TAGS.SeriesInstanceUID));
  assert.equal(ct.length, 1, 'the phantom CT (precondition)');
  const metadata = await get(server, tester, `/studies/${deidentifiedStudy}/series/${ct[0]}/metadata`, 'application/dicom+json');
  assert.equal(metadata.status, 200, metadata.text());
  const deidentified = uidsInJson(metadata.json());
  assert.ok(deidentified.has(deidentifiedStudy) && deidentified.has(ct[0]) && deidentified.size >= phantom.files.length + 3);

  const submitted = await apiJson(server, tester, 'POST', '/api/v1/jobs', { algorithm: 'ct-lungs', series: ct[0] });
  assert.equal(submitted.status, 202, submitted.text());
  let job = null;
  job = await until(() => `the run to end (${JSON.stringify(job)?.slice(0, 400)})`, async () => {
    job = (await apiGet(server, tester, `/api/v1/jobs/${submitted.json().id}`)).json();
    return !['queued', 'running'].includes(job.state) && job;
  }, 180_000);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  // The result's other forms follow in a job of their own.
  job = await until(() => `the result's forms (${JSON.stringify(job.forms)})`, async () => {
    job = (await apiGet(server, tester, `/api/v1/jobs/${submitted.json().id}`)).json();
    return ['succeeded', 'failed'].includes(job.forms?.state) && job;
  }, 180_000);
  assert.equal(job.forms.state, 'succeeded', JSON.stringify(job.forms));
  const forms = Object.fromEntries(job.forms.forms.map((f) => [f.form, f]));
  assert.ok(job.seg_series_uid && forms.rtstruct && forms.overlay, JSON.stringify(job));
  assert.ok(forms.overlay.instances >= 1, JSON.stringify(forms.overlay));
  const wanted = { [job.seg_series_uid]: 1, [forms.rtstruct.series_uid]: 1, [forms.overlay.series_uid]: forms.overlay.instances };
  const countBySeries = (files) => Object.fromEntries(Object.keys(wanted).map((s) => [s, files.filter((f) => f.series_uid === s).length]));
  let held = [];
  await until(() => `every result instance in the PACS (wanted ${JSON.stringify(wanted)}, held ${JSON.stringify(countBySeries(held))})`, async () => {
    held = (await pacsHolds()).filter((f) => f.series_uid in wanted);
    return Object.entries(countBySeries(held)).every(([s, n]) => n === wanted[s]);
  }, 120_000);

  const originals = new Set(phantom.files.map((f) => uidsOf(readFileSync(f)).sop));
  const original = await describe(phantom.files[0]);
  for (const f of held) {
    assert.equal(f.name, PATIENT.name, f.file);
    assert.equal(f.id, PATIENT.id, f.file);
    assert.equal(f.study, phantom.study_uid, f.file);
    assert.notEqual(f.removed, 'YES', f.file);
    assert.deepEqual(f.uids.filter((uid) => deidentified.has(uid)), [], `${f.file}: no UID the gateway made is left`);
    // The RT structure set's study reference is a Referenced SOP Instance UID too.
    assert.ok(f.refs.length > 0 && f.refs.every((uid) => originals.has(uid) || uid === phantom.study_uid), `${f.file} references original instances: ${f.refs}`);
  }
  const [seg] = held.filter((f) => f.series_uid === job.seg_series_uid);
  assert.equal(seg.modality, 'SEG');
  assert.deepEqual(seg.series, [phantom.series_uid]);
  assert.equal(seg.for, original.for);
  const [rt] = held.filter((f) => f.series_uid === forms.rtstruct.series_uid);
  assert.equal(rt.modality, 'RTSTRUCT');
  assert.equal(rt.sop_class, '1.2.840.10008.5.1.4.1.1.481.3');
  assert.ok(rt.uids.includes(phantom.series_uid) && rt.uids.includes(original.for), 'the structure set names the original series and frame of reference');
  const overlays = held.filter((f) => f.series_uid === forms.overlay.series_uid);
  for (const o of overlays) {
    assert.equal(o.sop_class, '1.2.840.10008.5.1.4.1.1.7', `${o.file}: Secondary Capture`);
    assert.equal(o.modality, 'CT', `${o.file}: the modality of the source`);
    assert.equal(o.for, original.for, o.file);
  }
  for (const f of [rt.file, overlays[0].file]) {
    const { stdout, stderr } = await execFileP('dciodvfy', ['-new', join(pacs.dir, f)]).catch((e) => e);
    assert.deepEqual(`${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('Error')), [], `dciodvfy ${f}`);
  }
});

test('a SEG the PACS sends through the gateway is imported on the server and never sent back to the PACS', { timeout: 240_000 }, async (t) => {
  const dcmqi = sharedDataDir('seg-dcmqi');
  if (!dcmqi) return t.skip('../shared/data/seg-dcmqi is absent');
  const images = ['01', '02', '03'].map((n) => join(dcmqi, 'segmentations', 'ct-3slice', `${n}.dcm`));
  // dcmqi wrote liver.dcm into its CT's own series; a PACS's SEG has a series of its own,
  // which only the gateway's map of what it forwarded tells from a result.
  const segFile = join(makeTempDir('pacs-seg'), 'liver.dcm');
  writeFileSync(segFile, withUids(readFileSync(join(dcmqi, 'segmentations', 'liver.dcm')), { series: newUid() }));
  const sentSeg = uidsOf(readFileSync(segFile));
  const sentCt = uidsOf(readFileSync(images[0]));
  assert.equal(sentSeg.study, sentCt.study);

  const before = new Set((await qido(server, tester, '/studies')).map((s) => first(s, TAGS.StudyInstanceUID)));
  // -R: propose the SOP classes the files need (storescu's default list has no Segmentation Storage).
  const sent = await storescu({ port: gateway.dicomPort, calledAe: 'VGGATEWAY', files: [...images, segFile], extra: ['-R'] });
  assert.equal(sent.successes, 4, sent.output.slice(-1500));
  const { uid: study } = await newStudyWith(before, 4, tester);
  await until('an empty queue', async () => (await gateway.status()).queue_depth === 0);
  assert.notEqual(study, sentSeg.study);
  const series = await qido(server, tester, `/studies/${study}/series`);
  const uidOf = (modality) => series.filter((s) => first(s, TAGS.Modality) === modality).map((s) => first(s, TAGS.SeriesInstanceUID));
  const [ctSeries] = uidOf('CT');
  const [segSeries] = uidOf('SEG');
  assert.ok(ctSeries && segSeries, JSON.stringify(series));
  assert.notEqual(segSeries, sentSeg.series, 'the SEG series de-identified');

  // Imported on the server as a version of the de-identified CT, under the gateway's SOP UID.
  let listed = [];
  const version = await until(() => `the PACS's SEG imported (listed: ${JSON.stringify(listed).slice(0, 600)})`, async () => {
    listed = (await apiGet(server, tester, `/api/v1/studies/${study}/segmentations`)).json();
    return listed.find((v) => v.source === 'imported');
  });
  assert.equal(version.origin.format, 'SEG');
  assert.equal(version.source_series_uid, ctSeries);
  const sop = version.origin.sop_uid;
  assert.notEqual(sop, sentSeg.sop);
  assert.deepEqual((await qido(server, tester, `/studies/${study}/series/${segSeries}/instances`)).map((i) => first(i, TAGS.SOPInstanceUID)), [sop]);
  const record = await apiGet(server, tester, `/api/v1/segmentation-imports/${sop}`);
  assert.equal(record.status, 200, record.text());
  assert.equal(record.json().state, 'imported');
  assert.equal(record.json().segmentation_id, version.id);

  // Polls run one after another and a poll's C-STOREs run inside it. The first listing of
  // the study's series after its last forward may have begun before the SEG was stored; the
  // second saw it; the third began once the poll of the second had ended.
  const lastForward = Math.max(...(await serverAudit()).filter((r) => byGateway(r) && r.action === 'dicomweb.stow' && r.object.includes(study)).map((r) => r.id));
  assert.ok(Number.isFinite(lastForward), 'the gateway forwarded the study (audit)');
  await until('three listings of the study by the gateway after its last forward', async () =>
    (await serverAudit()).filter((r) => byGateway(r) && r.id > lastForward && r.action === 'dicomweb.qido' && r.object === `study=${study}`).length >= 3);
  const touched = (await serverAudit()).filter((r) => byGateway(r) && r.object.includes(segSeries));
  assert.deepEqual(touched, [], 'the gateway never listed nor fetched the series the PACS sent');
  const back = (await pacsHolds()).filter((f) => f.study === sentSeg.study || f.sop === sentSeg.sop || f.sop === sop || f.series_uid === sentSeg.series);
  assert.deepEqual(back.map((f) => f.file), [], 'nothing of the study the PACS sent came back to it');
});

test('forwarding over HTTPS checks the server against the configured CA; without it nothing is sent', { timeout: 120_000 }, async () => {
  const dir = makeTempDir('gateway-tls');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const port = await freePort();
  const tlsServer = new VoxelgateServer({ name: 'gateway-tls-server', args: ['--tls-cert', cert, '--tls-key', key] });
  tlsServer.waitReady = () => eventually(() => `the TLS server to start:\n${tlsServer.logTail()}`, () => {
    if (tlsServer.exitInfo) throw new Error(`the TLS server exited before it was ready:\n${tlsServer.logTail()}`);
    return new Promise((resolve) => {
      https.get({ host: '127.0.0.1', port, path: '/readyz', ca: readFileSync(cert) }, (res) => { res.resume(); resolve(res.statusCode === 200); })
        .on('error', () => resolve(false));
    });
  }, 30_000, 100);
  await tlsServer.start({ port });
  try {
    await tlsServer.createTenant('tls-clinic');
    const tlsToken = await tlsServer.createToken({ tenant: 'tls-clinic', name: 'gateway' });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${tlsToken}\n`);
    const count = () => new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/dicomweb/instances', ca: readFileSync(cert), headers: { Authorization: `Bearer ${tlsToken}`, Accept: 'application/dicom+json' } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(res.statusCode === 204 ? 0 : JSON.parse(Buffer.concat(chunks).toString()).length));
      }).on('error', reject);
    });
    const s = await makeSeries({ slices: 2, rows: 32, cols: 32, patientName: 'TLS^PATIENT', seed: 73 });
    const untrusting = await new GatewayProcess('gateway-no-ca', { url: `https://127.0.0.1:${port}`, tokenFile, pacsPort: pacs.port }).start();
    try {
      assert.equal((await storescu({ port: untrusting.dicomPort, calledAe: 'VGGATEWAY', files: s.files })).successes, 2);
      const st = await until('the TLS failure', async () => { const x = await untrusting.status(); return x.last_error && x; });
      assert.match(st.last_error, /certificate|verify|handshake/i);
      assert.equal(st.queue_depth, 2);
      assert.equal(await count(), 0);
    } finally {
      await untrusting.stop();
    }
    const trusting = await new GatewayProcess('gateway-ca', { url: `https://127.0.0.1:${port}`, tokenFile, pacsPort: pacs.port, caFile: cert }).start();
    try {
      assert.equal((await storescu({ port: trusting.dicomPort, calledAe: 'VGGATEWAY', files: s.files })).successes, 2);
      await until('the instances over HTTPS', async () => (await count()) === 2);
    } finally {
      await trusting.stop();
    }
  } finally {
    await tlsServer.dispose();
  }
});

test('the gateway refuses an http:// server unless allow_insecure_http is set', async () => {
  const refused = new GatewayProcess('gateway-http', { ...gateway.settings, allowInsecure: false });
  await assert.rejects(refused.start(), /url must be https:\/\/ \(patient data crosses it\)/);
});

test('with no callers listed the gateway refuses every association, and its status says so', { timeout: 60_000 }, async () => {
  const closed = await new GatewayProcess('gateway-no-callers', { ...gateway.settings, callers: [] }).start();
  try {
    assert.match(JSON.stringify((await closed.status()).callers), /none: every association is refused/);
    const echo = await echoscu({ port: closed.dicomPort, calledAe: 'VGGATEWAY', callingAe: 'STORESCU' });
    assert.notEqual(echo.code, 0, echo.output);
    assert.match(echo.output, /Association Rejected|Calling AE Title Not Recognized/i);
  } finally {
    await closed.stop();
  }
});

test('outbox files are named by the gateway, never by a UID: a SOP Instance UID of "../../escaped" writes nothing outside', { timeout: 60_000 }, async () => {
  // retain-uids keeps the sender's UIDs, as a clinic that needs them may choose.
  const kept = await new GatewayProcess('gateway-uid-names', { ...gateway.settings, profile: 'basic+retain-uids', url: 'http://127.0.0.1:9', allowInsecure: true }).start();
  try {
    const s = await makeSeries({ slices: 1, rows: 8, cols: 8, patientName: 'PATH^TRAVERSAL', patientId: 'PT-1', seed: 91 });
    await execFileP('dcmodify', ['-nb', '-m', '(0008,0018)=../../escaped', s.files[0]]);
    const sent = await storescu({ port: kept.dicomPort, calledAe: 'VGGATEWAY', files: [s.files[0]] });
    assert.equal(sent.successes, 1, sent.output);
    const outbox = join(kept.dir, 'data', 'outbox');
    const names = readdirSync(outbox);
    assert.equal(names.length, 1, `queued (the server at port 9 is unreachable): ${names}`);
    assert.match(names[0], /^q-[0-9a-f]{32}\.dcm$/);
    for (const escaped of [join(kept.dir, 'escaped.dcm'), join(kept.dir, 'data', 'escaped.dcm'), join(kept.dir, 'escaped.tmp')])
      assert.ok(!existsSync(escaped), `${escaped} must not exist`);
  } finally {
    await kept.stop();
  }
});
