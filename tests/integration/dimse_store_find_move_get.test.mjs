// The DIMSE services end to end with dcmtk's own tools against the real server:
// storescu stores a synthetic study (20-slice CT + 4-slice MR series), a second patient,
// and (when ../shared/data is there) the 275-slice LIDC chest CT; QIDO over DICOMweb sees
// them with exact counts and WADO returns each data set exactly as storescu sent it;
// findscu finds them at every level of the patient and study roots, with wildcards, date
// ranges and UID lists; movescu (to storescp, registered with `dicom-node add`) and getscu
// bring every instance back with the same data set bytes.
//
// "As sent": storescu re-encodes a file's data set while sending (it may drop group
// lengths or trailing padding), so the reference for every comparison is what the same
// storescu command sends to a local bit-preserving storescp (lib/dcmtk.mjs captureAsSent).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { captureAsSent, contentDifference, datasetDifference, datasetOf, describeRun, findscu, getscu, movescu, StoreScp, storescu } from './lib/dcmtk.mjs';
import { first, makeSeries, qido, sortedUids, TAGS, values, wadoParts } from './lib/dicomweb.mjs';
import { addNode, startDimseServer } from './lib/dimse_fixture.mjs';
import { sharedDataDir } from './lib/env.mjs';
import { call, createUser, signIn } from './lib/people.mjs';
import { eventually } from './lib/wait.mjs';

const T = {
  QueryRetrieveLevel: '00080052',
  PatientName: '00100010',
  PatientID: '00100020',
  StudyDate: '00080020',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SOPInstanceUID: '00080018',
  Modality: '00080060',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  AccessionNumber: '00080050',
  NumberOfStudyRelatedInstances: '00201208',
};

let server;
let port;
let token;
let dest; // storescp, the C-MOVE destination
let destImplicit; // storescp accepting Implicit VR Little Endian only (for the LIDC move)

// The data: {name: {study, series, files, sops, captured: Map sop -> data set as sent}}
const data = {};
let lidc = null; // same shape, or null when ../shared/data is absent

before(async () => {
  ({ server, dicomPort: port, tokens: { alpha: token } } = await startDimseServer('dimse-store-find-move-get', [{ slug: 'alpha' }]));
  dest = await StoreScp.start({ aet: 'STORESCP', args: ['+xa'] });
  destImplicit = await StoreScp.start({ aet: 'STORESCP_IVR', args: ['+xi'] });
  await addNode(server, { tenant: 'alpha', ae: 'STORESCP', port: dest.port });
  await addNode(server, { tenant: 'alpha', ae: 'STORESCP_IVR', port: destImplicit.port });

  const ct = await makeSeries({ slices: 20, rows: 128, cols: 128, patientName: 'ZZTEST^ONE', patientId: 'PIDZZ1', studyDate: '20200315', accession: 'ACCZZ1', seed: 21 });
  const mr = await makeSeries({ slices: 4, rows: 96, cols: 96, modality: 'MR', patientName: 'ZZTEST^ONE', patientId: 'PIDZZ1', studyDate: '20200315', accession: 'ACCZZ1', studyUid: ct.study_uid, seriesNumber: 2, seed: 22, prefix: 'mr' });
  const other = await makeSeries({ slices: 5, rows: 64, cols: 64, patientName: 'AAOTHER^TWO', patientId: 'PIDAA2', studyDate: '20190610', accession: 'ACCAA2', seed: 23 });
  for (const [name, s] of Object.entries({ ct, mr, other })) {
    data[name] = { study: s.study_uid, series: s.series_uid, files: s.files, sops: s.sop_instance_uids };
  }
  const dir = sharedDataDir('ct-chest-lidc');
  if (dir) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.dcm'))
      .sort()
      .map((f) => join(dir, f));
    const d0 = datasetOf(readFileSync(files[0]));
    lidc = { study: d0.study, series: d0.series, files, sops: null };
  }
});

after(async () => {
  await dest?.stop();
  await destImplicit?.stop();
  await server?.dispose();
});

// Sends files with storescu and captures the reference; asserts every store succeeded.
async function storeAll(entry, storescuArgs) {
  entry.captured = await captureAsSent(entry.files, { storescuArgs });
  entry.sops ??= [...entry.captured.keys()];
  const r = await storescu({ port, calledAe: 'ALPHA', files: entry.files, extra: storescuArgs });
  assert.equal(r.code, 0, `storescu exit code${describeRun(r)}`);
  assert.equal(r.successes, entry.files.length, `C-STORE successes ${r.successes} of ${entry.files.length}; statuses ${JSON.stringify(r.storeStatuses.filter((s) => s !== 0))}${describeRun(r)}`);
}

// Every retrieved file equals the captured data set of its SOP instance: the same bytes
// after the file meta group (`strict`), or, for C-MOVE/C-GET, where the server may send
// in another uncompressed transfer syntax than the one stored, the same content
// (lib/dcmtk.mjs contentDifference); a changed transfer syntax is reported through `t`.
async function assertSameDataSets(files, captured, what, { strict = true, t } = {}) {
  const seen = new Set();
  const problems = [];
  const changed = new Map();
  for (const f of files) {
    const want = captured.get(f.sop);
    if (!want) {
      problems.push(`${f.sop}: not one of the stored instances`);
      continue;
    }
    if (seen.has(f.sop)) problems.push(`${f.sop}: received twice`);
    seen.add(f.sop);
    const d = strict ? datasetDifference(f, want) : await contentDifference(f, want, (n) => changed.set(n, (changed.get(n) ?? 0) + 1));
    if (d) problems.push(`${f.sop}: ${d}`);
  }
  const missing = [...captured.keys()].filter((s) => !seen.has(s));
  if (missing.length) problems.push(`${missing.length} instances missing, e.g. ${missing[0]}`);
  for (const [n, k] of changed) t?.diagnostic(`${what}: ${k} instances came in ${n} (content equal)`);
  assert.deepEqual(problems.slice(0, 10), [], `${what}: ${problems.length} problems`);
}

async function wadoSeriesDataSets(study, series) {
  const parts = await wadoParts(server, token, `/studies/${study}/series/${series}`);
  return parts.map((b) => datasetOf(b));
}

test('storescu stores a synthetic CT+MR study and a second patient; QIDO counts them and WADO returns the data sets as sent', { timeout: 120_000 }, async () => {
  for (const name of ['ct', 'mr', 'other']) await storeAll(data[name], ['-xe']);

  const [st] = await qido(server, token, `/studies?StudyInstanceUID=${data.ct.study}`);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedInstances), 24);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedSeries), 2);
  assert.deepEqual([...values(st, TAGS.ModalitiesInStudy)].sort(), ['CT', 'MR']);
  const series = await qido(server, token, `/studies/${data.ct.study}/series`);
  assert.deepEqual(series.map((s) => [first(s, TAGS.Modality), first(s, TAGS.NumberOfSeriesRelatedInstances)]).sort(), [['CT', 20], ['MR', 4]]);
  const [o] = await qido(server, token, `/studies?PatientID=PIDAA2`);
  assert.equal(first(o, TAGS.NumberOfStudyRelatedInstances), 5);
  assert.equal(o[TAGS.PatientName]?.Value?.[0]?.Alphabetic, 'AAOTHER^TWO');

  for (const name of ['ct', 'mr', 'other']) {
    const e = data[name];
    assert.deepEqual(sortedUids(await qido(server, token, `/studies/${e.study}/series/${e.series}/instances`), TAGS.SOPInstanceUID), [...e.sops].sort());
    await assertSameDataSets(await wadoSeriesDataSets(e.study, e.series), e.captured, `WADO ${name} series`);
  }
});

test('storescu stores the 275-slice LIDC chest CT; QIDO counts 275 and WADO returns the data sets as sent', { timeout: 180_000 }, async (t) => {
  if (!lidc) {
    t.skip('../shared/data/ct-chest-lidc is absent (real data is not part of a fresh clone)');
    return;
  }
  assert.equal(lidc.files.length, 275);
  await storeAll(lidc, ['-xi']); // Implicit VR Little Endian, as the files are
  const [st] = await qido(server, token, `/studies?StudyInstanceUID=${lidc.study}`);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedInstances), 275);
  assert.equal(first(st, TAGS.NumberOfStudyRelatedSeries), 1);
  const [se] = await qido(server, token, `/studies/${lidc.study}/series`);
  assert.equal(first(se, TAGS.NumberOfSeriesRelatedInstances), 275);
  await assertSameDataSets(await wadoSeriesDataSets(lidc.study, lidc.series), lidc.captured, 'WADO LIDC series');
});

// --- C-FIND ---------------------------------------------------------------------------------
async function find(model, keys) {
  const r = await findscu({ port, calledAe: 'ALPHA', model, keys });
  assert.equal(r.code, 0, `findscu failed${describeRun(r)}`);
  assert.equal(r.final, 0x0000, `final C-FIND status ${r.final}${describeRun(r)}`);
  return r.matches;
}

const col = (matches, tag) => matches.map((m) => m[tag]).sort();

function expectedStudies() {
  return [data.ct.study, data.other.study, ...(lidc ? [lidc.study] : [])].sort();
}

test('findscu (patient root) finds patients, studies, series and images', async (t) => {
  await t.test('PATIENT level: every patient, with its name', async () => {
    const m = await find('P', [['QueryRetrieveLevel', 'PATIENT'], ['PatientID'], ['PatientName']]);
    assert.deepEqual(col(m, T.PatientID), ['PIDAA2', 'PIDZZ1', ...(lidc ? ['LIDC-IDRI-0314'] : [])].sort());
    assert.equal(m.find((x) => x[T.PatientID] === 'PIDZZ1')[T.PatientName], 'ZZTEST^ONE');
    assert.ok(m.every((x) => x[T.QueryRetrieveLevel] === 'PATIENT'), 'responses carry QueryRetrieveLevel=PATIENT');
  });
  await t.test('STUDY level: the studies of one patient', async () => {
    const m = await find('P', [['QueryRetrieveLevel', 'STUDY'], ['PatientID', 'PIDZZ1'], ['StudyInstanceUID'], ['StudyDate'], ['AccessionNumber']]);
    assert.deepEqual(col(m, T.StudyInstanceUID), [data.ct.study]);
    assert.equal(m[0][T.StudyDate], '20200315');
    assert.equal(m[0][T.AccessionNumber], 'ACCZZ1');
  });
  await t.test('SERIES level: the series of one study', async () => {
    const m = await find('P', [['QueryRetrieveLevel', 'SERIES'], ['PatientID', 'PIDZZ1'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID'], ['Modality'], ['SeriesNumber']]);
    assert.deepEqual(col(m, T.SeriesInstanceUID), [data.ct.series, data.mr.series].sort());
    assert.deepEqual(col(m, T.Modality), ['CT', 'MR']);
  });
  await t.test('IMAGE level: the instances of one series', async () => {
    const m = await find('P', [['QueryRetrieveLevel', 'IMAGE'], ['PatientID', 'PIDZZ1'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID', data.ct.series], ['SOPInstanceUID'], ['InstanceNumber']]);
    assert.deepEqual(col(m, T.SOPInstanceUID), [...data.ct.sops].sort());
    assert.deepEqual(m.map((x) => Number(x[T.InstanceNumber])).sort((a, b) => a - b), Array.from({ length: 20 }, (_, k) => k + 1));
  });
});

test('a C-FIND is audited with its matching keys, sealed for the clinic, which its admin reads', async () => {
  await find('P', [['QueryRetrieveLevel', 'STUDY'], ['PatientID', 'PIDZZ1'], ['StudyInstanceUID']]);
  await createUser(server, 'alpha', 'alpha.find.admin', 'clinic_admin');
  const admin = await signIn(server, 'alpha.find.admin');
  let records = [];
  await eventually('the C-FIND record with its keys', async () => {
    records = (await call(server, admin, 'GET', '/api/v1/audit?action=dimse.find&limit=1000')).json().records;
    return records.some((r) => /PatientID=PIDZZ1/.test(r.detail));
  }, 30_000);
  assert.ok(records.some((r) => /^query: .*QueryRetrieveLevel=STUDY.*PatientID=PIDZZ1/.test(r.detail)), JSON.stringify(records.slice(-3)));
});

test('findscu (study root) finds studies, series and images', async (t) => {
  await t.test('STUDY level: every study', async () => {
    const m = await find('S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID'], ['PatientID'], ['NumberOfStudyRelatedInstances']]);
    assert.deepEqual(col(m, T.StudyInstanceUID), expectedStudies());
    const ct = m.find((x) => x[T.StudyInstanceUID] === data.ct.study);
    assert.equal(ct[T.PatientID], 'PIDZZ1');
    // An optional key: when the server answers it, it must be right.
    if (ct[T.NumberOfStudyRelatedInstances]) assert.equal(Number(ct[T.NumberOfStudyRelatedInstances]), 24);
  });
  await t.test('SERIES level: the series of one study', async () => {
    const m = await find('S', [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID'], ['Modality']]);
    assert.deepEqual(col(m, T.SeriesInstanceUID), [data.ct.series, data.mr.series].sort());
  });
  await t.test('IMAGE level: the instances of one series', async () => {
    const m = await find('S', [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID', data.mr.series], ['SOPInstanceUID']]);
    assert.deepEqual(col(m, T.SOPInstanceUID), [...data.mr.sops].sort());
  });
  await t.test('IMAGE level: the 275 LIDC instances', async (tt) => {
    if (!lidc) return tt.skip('../shared/data/ct-chest-lidc is absent');
    const m = await find('S', [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', lidc.study], ['SeriesInstanceUID', lidc.series], ['SOPInstanceUID']]);
    assert.equal(m.length, 275);
    assert.deepEqual(col(m, T.SOPInstanceUID), [...lidc.sops].sort());
  });
});

test('findscu filters with QIDO\'s matching rules: wildcards, date ranges, UID lists', async (t) => {
  const study = (keys) => find('S', [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID'], ...keys]);
  await t.test('PatientName=ZZ* matches only the ZZTEST patient\'s study', async () => {
    const m = await study([['PatientName', 'ZZ*']]);
    assert.deepEqual(col(m, T.StudyInstanceUID), [data.ct.study]);
    assert.equal(m[0][T.PatientName], 'ZZTEST^ONE');
  });
  await t.test('PatientName=ZZTEST^O?E (? matches one character)', async () => {
    assert.deepEqual(col(await study([['PatientName', 'ZZTEST^O?E']]), T.StudyInstanceUID), [data.ct.study]);
    assert.deepEqual(await study([['PatientName', 'ZZTEST^O?']]), []);
  });
  await t.test('StudyDate=20200101-20201231 matches only the 2020 study', async () => {
    const m = await study([['StudyDate', '20200101-20201231']]);
    assert.deepEqual(col(m, T.StudyInstanceUID), [data.ct.study]);
    assert.equal(m[0][T.StudyDate], '20200315');
  });
  await t.test('StudyDate=-20191231 (open start) matches the older studies', async () => {
    assert.deepEqual(col(await study([['StudyDate', '-20191231']]), T.StudyInstanceUID), [data.other.study, ...(lidc ? [lidc.study] : [])].sort());
  });
  await t.test('StudyDate=20190610 (single date) matches that study', async () => {
    assert.deepEqual(col(await study([['StudyDate', '20190610']]), T.StudyInstanceUID), [data.other.study]);
  });
  await t.test('StudyInstanceUID=A\\B (UID list) matches both', async () => {
    assert.deepEqual(col(await study([['StudyInstanceUID', `${data.ct.study}\\${data.other.study}`]]), T.StudyInstanceUID), [data.ct.study, data.other.study].sort());
  });
  await t.test('SOPInstanceUID list at IMAGE level', async () => {
    const pick = [data.ct.sops[0], data.ct.sops[7]];
    const m = await find('S', [['QueryRetrieveLevel', 'IMAGE'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID', data.ct.series], ['SOPInstanceUID', pick.join('\\')]]);
    assert.deepEqual(col(m, T.SOPInstanceUID), pick.sort());
  });
  await t.test('Modality=MR at SERIES level', async () => {
    const m = await find('S', [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID'], ['Modality', 'MR']]);
    assert.deepEqual(col(m, T.SeriesInstanceUID), [data.mr.series]);
  });
  await t.test('no match: an empty result with a success status', async () => {
    assert.deepEqual(await study([['PatientName', 'NOBODY*']]), []);
  });
});

// --- C-MOVE / C-GET ---------------------------------------------------------------------
function capturedOf(...entries) {
  const m = new Map();
  for (const e of entries) for (const [k, v] of e.captured) m.set(k, v);
  return m;
}

function assertRetrieveOk(r, n, what) {
  assert.equal(r.code, 0, `${what}: exit code${describeRun(r)}`);
  assert.ok(r.final, `${what}: no final response${describeRun(r)}`);
  assert.equal(r.final.status, 0x0000, `${what}: final status ${r.final.statusText}${describeRun(r)}`);
  assert.equal(r.final.completed, n, `${what}: completed sub-operations${describeRun(r)}`);
  assert.ok(!r.final.failed, `${what}: ${r.final.failed} failed sub-operations${describeRun(r)}`);
}

function takeFiles(scp) {
  const files = scp.files();
  for (const f of files) (scp.taken ??= new Set()).add(f.path);
  return files;
}

function newFiles(scp) {
  const taken = scp.taken ?? new Set();
  const files = scp.files().filter((f) => !taken.has(f.path));
  for (const f of files) taken.add(f.path);
  scp.taken = taken;
  return files;
}

test('movescu (study root, STUDY level) to a registered storescp brings back all 24 instances with the same data sets', { timeout: 60_000 }, async (t) => {
  takeFiles(dest);
  const r = await movescu({ port, calledAe: 'ALPHA', moveDestination: 'STORESCP', model: 'S', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', data.ct.study]] });
  assertRetrieveOk(r, 24, 'C-MOVE study');
  await assertSameDataSets(newFiles(dest), capturedOf(data.ct, data.mr), 'storescp received', { strict: false, t });
});

test('movescu (patient root, PATIENT level) moves the one patient\'s 5 instances', { timeout: 60_000 }, async (t) => {
  const r = await movescu({ port, calledAe: 'ALPHA', moveDestination: 'STORESCP', model: 'P', keys: [['QueryRetrieveLevel', 'PATIENT'], ['PatientID', 'PIDAA2']] });
  assertRetrieveOk(r, 5, 'C-MOVE patient');
  await assertSameDataSets(newFiles(dest), data.other.captured, 'storescp received', { strict: false, t });
});

test('movescu (SERIES level) moves the 275-slice LIDC series with the same data sets', { timeout: 180_000 }, async (t) => {
  if (!lidc) return t.skip('../shared/data/ct-chest-lidc is absent');
  takeFiles(destImplicit);
  const r = await movescu({ port, calledAe: 'ALPHA', moveDestination: 'STORESCP_IVR', model: 'S', keys: [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', lidc.study], ['SeriesInstanceUID', lidc.series]] });
  assertRetrieveOk(r, 275, 'C-MOVE LIDC series');
  await assertSameDataSets(newFiles(destImplicit), lidc.captured, 'storescp received', { strict: false, t });
});

test('movescu to an unknown move destination fails with 0xA801 and sends nothing', async () => {
  const before = dest.files().length;
  const r = await movescu({ port, calledAe: 'ALPHA', moveDestination: 'NOWHERE', model: 'S', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', data.other.study]] });
  assert.ok(r.final, `no final C-MOVE response${describeRun(r)}`);
  assert.equal(r.final.status, 0xa801, `status ${r.final.statusText} (expected 0xA801 Refused: Move Destination unknown)${describeRun(r)}`);
  assert.ok(!r.final.completed, 'no completed sub-operations');
  assert.equal(dest.files().length, before);
});

test('getscu (STUDY level) brings back all 24 instances with the same data sets', { timeout: 60_000 }, async (t) => {
  const r = await getscu({ port, calledAe: 'ALPHA', model: 'S', keys: [['QueryRetrieveLevel', 'STUDY'], ['StudyInstanceUID', data.ct.study]] });
  assertRetrieveOk(r, 24, 'C-GET study');
  const files = readdirSync(r.dir).map((f) => datasetOf(readFileSync(join(r.dir, f))));
  await assertSameDataSets(files, capturedOf(data.ct, data.mr), 'getscu received', { strict: false, t });
});

test('getscu (patient root, IMAGE level) brings back one instance', async (t) => {
  const sop = data.ct.sops[3];
  const r = await getscu({ port, calledAe: 'ALPHA', model: 'P', keys: [['QueryRetrieveLevel', 'IMAGE'], ['PatientID', 'PIDZZ1'], ['StudyInstanceUID', data.ct.study], ['SeriesInstanceUID', data.ct.series], ['SOPInstanceUID', sop]] });
  assertRetrieveOk(r, 1, 'C-GET image');
  const files = readdirSync(r.dir).map((f) => datasetOf(readFileSync(join(r.dir, f))));
  await assertSameDataSets(files, new Map([[sop, data.ct.captured.get(sop)]]), 'getscu received', { strict: false, t });
});

test('getscu (SERIES level) brings back the 275 LIDC instances with the same data sets', { timeout: 180_000 }, async (t) => {
  if (!lidc) return t.skip('../shared/data/ct-chest-lidc is absent');
  // getscu cannot put Implicit VR Little Endian first (its +xi proposes Explicit VR
  // only), so the server may send these Implicit VR instances in another uncompressed
  // transfer syntax: compared by content (see assertSameDataSets).
  const r = await getscu({ port, calledAe: 'ALPHA', model: 'S', keys: [['QueryRetrieveLevel', 'SERIES'], ['StudyInstanceUID', lidc.study], ['SeriesInstanceUID', lidc.series]] });
  assertRetrieveOk(r, 275, 'C-GET LIDC series');
  const files = readdirSync(r.dir).map((f) => datasetOf(readFileSync(join(r.dir, f))));
  await assertSameDataSets(files, lidc.captured, 'getscu received', { strict: false, t });
});
