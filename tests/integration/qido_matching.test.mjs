// QIDO-RS matching (PS3.18 8.3.4 / PS3.4 C.2.2.2): single values, wildcards * and ?,
// date ranges, UID lists, percent-encoding, includefield, limit/offset, the nested
// resources, and the computed attributes (ModalitiesInStudy, Number Of ... Related ...).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { first, makeSeries, qido, sortedUids, stowOk, TAGS, values } from './lib/dicomweb.mjs';
import { newUid } from './lib/dicom.mjs';
import { startWithTenants } from './lib/fixture.mjs';

let server;
let token;
const S = {}; // the studies, by letter

before(async () => {
  ({ server, tokens: { alpha: token } } = await startWithTenants('qido-matching', ['alpha']));
  // A: DOE^JOHN, 2020-01-15, CT (3) + MR (2)  B: DOE^JANE, 2020-02-20, CT (4)
  // C: SMITH^ALICE, 2021-03-10, MR (2)          D: DOE^JOHNATHAN, 2019-12-01, CT (1)
  S.A = await makeSeries({ slices: 3, rows: 16, cols: 16, patientName: 'DOE^JOHN', patientId: 'PIDQ001', studyDate: '20200115', modality: 'CT', studyDescription: 'ALPHA CHEST', accession: 'ACCQA', seed: 31 });
  S.A2 = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'DOE^JOHN', patientId: 'PIDQ001', studyDate: '20200115', modality: 'MR', studyUid: S.A.study_uid, seriesNumber: 2, studyDescription: 'ALPHA CHEST', accession: 'ACCQA', seriesDescription: 'AXIAL T2', seed: 32, prefix: 'a2-' });
  S.B = await makeSeries({ slices: 4, rows: 16, cols: 16, patientName: 'DOE^JANE', patientId: 'PIDQ002', studyDate: '20200220', modality: 'CT', studyDescription: 'BRAVO HEAD', accession: 'ACCQB', seed: 33 });
  S.C = await makeSeries({ slices: 2, rows: 16, cols: 16, patientName: 'SMITH^ALICE', patientId: 'PIDQ003', studyDate: '20210310', modality: 'MR', studyDescription: 'CHARLIE KNEE', accession: 'ACCQC', seed: 34 });
  S.D = await makeSeries({ slices: 1, rows: 16, cols: 16, patientName: 'DOE^JOHNATHAN', patientId: 'PIDQ004', studyDate: '20191201', modality: 'CT', studyDescription: 'DELTA CHEST', accession: 'ACCQD', seed: 35 });
  // Two requests, so the study with two series is assembled across requests.
  await stowOk(server, token, [...S.A.instances, ...S.B.instances].map((i) => i.bytes));
  await stowOk(server, token, [...S.A2.instances, ...S.C.instances, ...S.D.instances].map((i) => i.bytes));
});

after(async () => {
  await server?.dispose();
});

const studyUids = (...letters) => letters.map((l) => S[l].study_uid).sort();
async function studiesMatching(query) {
  return sortedUids(await qido(server, token, `/studies?${query}`), TAGS.StudyInstanceUID);
}

describe('study matching', () => {
  test('PatientName=DOE%5EJOHN matches DOE^JOHN exactly, not DOE^JOHNATHAN', async () => {
    assert.deepEqual(await studiesMatching('PatientName=DOE%5EJOHN'), studyUids('A'));
  });
  test('PatientName=DOE* matches every DOE', async () => {
    assert.deepEqual(await studiesMatching('PatientName=DOE*'), studyUids('A', 'B', 'D'));
  });
  test('PatientName=DOE%5EJ%3FHN (? is one character) matches DOE^JOHN only', async () => {
    assert.deepEqual(await studiesMatching('PatientName=DOE%5EJ%3FHN'), studyUids('A'));
  });
  test('PatientName=*JOHN* matches JOHN and JOHNATHAN', async () => {
    assert.deepEqual(await studiesMatching('PatientName=*JOHN*'), studyUids('A', 'D'));
  });
  test('PatientName=D?E%5EJA* combines ? and *', async () => {
    assert.deepEqual(await studiesMatching('PatientName=D%3FE%5EJA*'), studyUids('B'));
  });
  test('PatientID single value, keyword and tag forms', async () => {
    assert.deepEqual(await studiesMatching('PatientID=PIDQ002'), studyUids('B'));
    assert.deepEqual(await studiesMatching('00100020=PIDQ003'), studyUids('C'));
  });
  test('a value that matches nothing gives an empty result', async () => {
    assert.deepEqual(await studiesMatching('PatientID=NOSUCHPATIENT'), []);
    assert.deepEqual(await studiesMatching(`StudyInstanceUID=${newUid()}`), []);
  });
  test('StudyDate single date', async () => {
    assert.deepEqual(await studiesMatching('StudyDate=20200220'), studyUids('B'));
  });
  test('StudyDate closed range 20200101-20200131', async () => {
    assert.deepEqual(await studiesMatching('StudyDate=20200101-20200131'), studyUids('A'));
  });
  test('StudyDate range includes both ends', async () => {
    assert.deepEqual(await studiesMatching('StudyDate=20200115-20200220'), studyUids('A', 'B'));
  });
  test('StudyDate open ranges 20200201- and -20200131', async () => {
    assert.deepEqual(await studiesMatching('StudyDate=20200201-'), studyUids('B', 'C'));
    assert.deepEqual(await studiesMatching('StudyDate=-20200131'), studyUids('A', 'D'));
  });
  test('StudyInstanceUID list (comma-separated) matches each listed study', async () => {
    assert.deepEqual(await studiesMatching(`StudyInstanceUID=${S.A.study_uid},${S.C.study_uid}`), studyUids('A', 'C'));
  });
  test('StudyInstanceUID list (backslash, %5C) matches each listed study', async () => {
    assert.deepEqual(await studiesMatching(`StudyInstanceUID=${S.B.study_uid}%5C${S.D.study_uid}`), studyUids('B', 'D'));
  });
  test('AccessionNumber and StudyDescription wildcard', async () => {
    assert.deepEqual(await studiesMatching('AccessionNumber=ACCQC'), studyUids('C'));
    assert.deepEqual(await studiesMatching('StudyDescription=*CHEST'), studyUids('A', 'D'));
  });
  test('ModalitiesInStudy=MR matches studies having an MR series', async () => {
    assert.deepEqual(await studiesMatching('ModalitiesInStudy=MR'), studyUids('A', 'C'));
  });
  test('several keys combine with AND', async () => {
    assert.deepEqual(await studiesMatching('PatientName=DOE*&StudyDate=20200101-20201231'), studyUids('A', 'B'));
    assert.deepEqual(await studiesMatching('PatientName=DOE*&ModalitiesInStudy=MR'), studyUids('A'));
  });
});

describe('computed attributes', () => {
  test('study A: ModalitiesInStudy CT+MR, 2 series, 5 instances', async () => {
    const [a] = await qido(server, token, `/studies?StudyInstanceUID=${S.A.study_uid}`);
    assert.deepEqual([...(values(a, TAGS.ModalitiesInStudy) ?? [])].sort(), ['CT', 'MR']);
    assert.equal(a[TAGS.ModalitiesInStudy].vr, 'CS');
    assert.deepEqual(a[TAGS.NumberOfStudyRelatedSeries], { vr: 'IS', Value: [2] });
    assert.deepEqual(a[TAGS.NumberOfStudyRelatedInstances], { vr: 'IS', Value: [5] });
  });
  test('study B: one CT series of 4', async () => {
    const [b] = await qido(server, token, `/studies?StudyInstanceUID=${S.B.study_uid}`);
    assert.deepEqual(values(b, TAGS.ModalitiesInStudy), ['CT']);
    assert.equal(first(b, TAGS.NumberOfStudyRelatedSeries), 1);
    assert.equal(first(b, TAGS.NumberOfStudyRelatedInstances), 4);
  });
  test('series of study A: NumberOfSeriesRelatedInstances 3 and 2', async () => {
    const series = await qido(server, token, `/studies/${S.A.study_uid}/series`);
    const byUid = Object.fromEntries(series.map((s) => [first(s, TAGS.SeriesInstanceUID), s]));
    assert.deepEqual(Object.keys(byUid).sort(), [S.A.series_uid, S.A2.series_uid].sort());
    assert.deepEqual(byUid[S.A.series_uid][TAGS.NumberOfSeriesRelatedInstances], { vr: 'IS', Value: [3] });
    assert.deepEqual(byUid[S.A2.series_uid][TAGS.NumberOfSeriesRelatedInstances], { vr: 'IS', Value: [2] });
    assert.equal(first(byUid[S.A2.series_uid], TAGS.Modality), 'MR');
  });
  test('study results carry the default study attributes', async () => {
    const [a] = await qido(server, token, `/studies?StudyInstanceUID=${S.A.study_uid}`);
    assert.deepEqual(a[TAGS.PatientName], { vr: 'PN', Value: [{ Alphabetic: 'DOE^JOHN' }] });
    assert.deepEqual(a[TAGS.PatientID], { vr: 'LO', Value: ['PIDQ001'] });
    assert.deepEqual(a[TAGS.StudyDate], { vr: 'DA', Value: ['20200115'] });
    assert.deepEqual(a[TAGS.AccessionNumber], { vr: 'SH', Value: ['ACCQA'] });
    assert.deepEqual(a[TAGS.StudyInstanceUID], { vr: 'UI', Value: [S.A.study_uid] });
  });
});

describe('nested resources and other levels', () => {
  test('/studies/{A}/series?Modality=MR returns the MR series only', async () => {
    const r = await qido(server, token, `/studies/${S.A.study_uid}/series?Modality=MR`);
    assert.deepEqual(sortedUids(r, TAGS.SeriesInstanceUID), [S.A2.series_uid]);
  });
  test('/studies/{A}/instances lists the 5 instances of both series', async () => {
    const r = await qido(server, token, `/studies/${S.A.study_uid}/instances`);
    assert.deepEqual(sortedUids(r, TAGS.SOPInstanceUID), [...S.A.sop_instance_uids, ...S.A2.sop_instance_uids].sort());
    for (const i of r) assert.equal(first(i, TAGS.StudyInstanceUID), S.A.study_uid);
  });
  test('/studies/{A}/series/{MR}/instances lists the 2 MR instances', async () => {
    const r = await qido(server, token, `/studies/${S.A.study_uid}/series/${S.A2.series_uid}/instances`);
    assert.deepEqual(sortedUids(r, TAGS.SOPInstanceUID), [...S.A2.sop_instance_uids].sort());
  });
  test('/series?Modality=MR across studies', async () => {
    const r = await qido(server, token, '/series?Modality=MR');
    assert.deepEqual(sortedUids(r, TAGS.SeriesInstanceUID), [S.A2.series_uid, S.C.series_uid].sort());
  });
  test('/instances?SOPInstanceUID=x returns that instance with its study and series', async () => {
    const sop = S.B.sop_instance_uids[2];
    const r = await qido(server, token, `/instances?SOPInstanceUID=${sop}`);
    assert.equal(r.length, 1);
    assert.equal(first(r[0], TAGS.SOPInstanceUID), sop);
    assert.equal(first(r[0], TAGS.SeriesInstanceUID), S.B.series_uid);
    assert.equal(first(r[0], TAGS.StudyInstanceUID), S.B.study_uid);
    assert.equal(first(r[0], TAGS.InstanceNumber), 3);
  });
  test('/instances?PatientID=PIDQ003 matches on a study-level attribute', async () => {
    const r = await qido(server, token, '/instances?PatientID=PIDQ003');
    assert.deepEqual(sortedUids(r, TAGS.SOPInstanceUID), [...S.C.sop_instance_uids].sort());
  });
  test('/studies/{unknown}/series is empty or 404, never other studies', async () => {
    const r = await qido(server, token, `/studies/${newUid()}/series`).catch((e) => {
      if (/HTTP 404/.test(e.message)) return [];
      throw e;
    });
    assert.deepEqual(r, []);
  });
});

describe('includefield', () => {
  test('includefield=StudyDescription (keyword) returns the value', async () => {
    const [a] = await qido(server, token, `/studies?StudyInstanceUID=${S.A.study_uid}&includefield=StudyDescription`);
    assert.deepEqual(a[TAGS.StudyDescription], { vr: 'LO', Value: ['ALPHA CHEST'] });
  });
  test('includefield=00081030 (tag) returns the value', async () => {
    const [b] = await qido(server, token, `/studies?StudyInstanceUID=${S.B.study_uid}&includefield=00081030`);
    assert.deepEqual(b[TAGS.StudyDescription], { vr: 'LO', Value: ['BRAVO HEAD'] });
  });
  test('includefield=all returns StudyDescription and the computed attributes', async () => {
    const [c] = await qido(server, token, `/studies?StudyInstanceUID=${S.C.study_uid}&includefield=all`);
    assert.deepEqual(c[TAGS.StudyDescription], { vr: 'LO', Value: ['CHARLIE KNEE'] });
    assert.equal(first(c, TAGS.NumberOfStudyRelatedInstances), 2);
  });
  test('series level includefield=SeriesDescription', async () => {
    const r = await qido(server, token, `/studies/${S.A.study_uid}/series?SeriesInstanceUID=${S.A2.series_uid}&includefield=SeriesDescription`);
    assert.equal(r.length, 1);
    assert.deepEqual(r[0][TAGS.SeriesDescription], { vr: 'LO', Value: ['AXIAL T2'] });
  });
});

describe('limit and offset', () => {
  test('limit=2 returns 2 of the 3 DOE studies, offset pages through all without repeats', async () => {
    const all = await studiesMatching('PatientName=DOE*');
    assert.equal(all.length, 3);
    const p1 = sortedUids(await qido(server, token, '/studies?PatientName=DOE*&limit=2&offset=0'), TAGS.StudyInstanceUID);
    const p2 = sortedUids(await qido(server, token, '/studies?PatientName=DOE*&limit=2&offset=2'), TAGS.StudyInstanceUID);
    assert.equal(p1.length, 2);
    assert.equal(p2.length, 1);
    assert.deepEqual([...p1, ...p2].sort(), all);
  });
  test('limit=1 pages are distinct and cover everything', async () => {
    const seen = [];
    for (let offset = 0; offset < 5; offset++) {
      const page = await qido(server, token, `/studies?limit=1&offset=${offset}`);
      assert.ok(page.length <= 1, `limit=1 returned ${page.length}`);
      seen.push(...sortedUids(page, TAGS.StudyInstanceUID));
    }
    assert.deepEqual(seen.sort(), studyUids('A', 'B', 'C', 'D'));
  });
  test('offset past the end is empty', async () => {
    assert.deepEqual(await qido(server, token, '/studies?PatientName=DOE*&offset=3'), []);
  });
  test('instance level limit/offset', async () => {
    const p = await qido(server, token, `/studies/${S.B.study_uid}/instances?limit=3`);
    assert.equal(p.length, 3);
    const q = await qido(server, token, `/studies/${S.B.study_uid}/instances?limit=3&offset=3`);
    assert.equal(q.length, 1);
    assert.deepEqual([...sortedUids(p, TAGS.SOPInstanceUID), ...sortedUids(q, TAGS.SOPInstanceUID)].sort(), [...S.B.sop_instance_uids].sort());
  });
});
