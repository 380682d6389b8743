// Tags, workflow status and the worklist through the real server, as a radiologist of one
// clinic and as people of another: vocabulary and free-text tags on studies and series,
// status with an assignee, and server-side search, filters, sorting and paging.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeSeries, stowOk } from './lib/dicomweb.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { call, createUser, signIn } from './lib/people.mjs';

let server;
let tokens;
let rad;
let admin;
let physician;
let otherRad;
const studies = [];

before(async () => {
  ({ server, tokens } = await startWithTenants('annotations', ['alpha', 'beta']));
  await createUser(server, 'alpha', 'rad.a', 'radiologist');
  await createUser(server, 'alpha', 'boss.a', 'clinic_admin');
  await createUser(server, 'alpha', 'doc.a', 'physician');
  await createUser(server, 'beta', 'rad.b', 'radiologist');
  rad = await signIn(server, 'rad.a');
  admin = await signIn(server, 'boss.a');
  physician = await signIn(server, 'doc.a');
  otherRad = await signIn(server, 'rad.b');
  const specs = [
    { patientName: 'GARCIA^ANA', patientId: 'P100', studyDate: '20240105', modality: 'CT' },
    { patientName: 'GARCIA^LUIS', patientId: 'P101', studyDate: '20240210', modality: 'MR' },
    { patientName: 'SMITH^JO', patientId: 'P102', studyDate: '20231120', modality: 'CT' },
  ];
  for (const [i, spec] of specs.entries()) {
    const s = await makeSeries({ ...spec, slices: 2, rows: 16, cols: 16, seed: 30 + i });
    await stowOk(server, tokens.alpha, s.instances.map((x) => x.bytes));
    studies.push(s);
  }
});

after(async () => {
  await server?.dispose();
});

const worklist = async (who, query = '') => {
  const res = await call(server, who, 'GET', `/api/v1/worklist${query}`);
  assert.equal(res.status, 200, res.text());
  return res.json();
};

test('the vocabulary is the clinic\'s own: created, listed, unique, removed with its uses', async () => {
  const made = await call(server, rad, 'POST', '/api/v1/tags', { json: { name: 'nodule', colour: '#e0a030', description: 'solid nodule' } });
  assert.equal(made.status, 201, made.text());
  assert.equal((await call(server, rad, 'POST', '/api/v1/tags', { json: { name: 'nodule' } })).status, 409);
  assert.equal((await call(server, rad, 'POST', '/api/v1/tags', { json: { name: 'bad', colour: 'red' } })).status, 400);
  assert.equal((await call(server, physician, 'POST', '/api/v1/tags', { json: { name: 'x' } })).status, 403);
  await call(server, rad, 'POST', '/api/v1/tags', { json: { name: 'temporary' } });
  const list = (await call(server, physician, 'GET', '/api/v1/tags')).json();
  assert.deepEqual(list.map((t) => t.name), ['nodule', 'temporary']);
  assert.deepEqual((await call(server, otherRad, 'GET', '/api/v1/tags')).json(), [], 'another clinic has its own');
  const tagged = await call(server, rad, 'POST', `/api/v1/studies/${studies[2].study_uid}/tags`, { json: { name: 'temporary' } });
  assert.equal(tagged.status, 201);
  assert.equal((await call(server, rad, 'DELETE', '/api/v1/tags/temporary')).status, 204);
  const after = (await call(server, rad, 'GET', `/api/v1/studies/${studies[2].study_uid}/annotations`)).json();
  assert.ok(!after.tags.some((t) => t.name === 'temporary'), 'the removed tag left the study too');
});

test('tags go on a study or one of its series, vocabulary or free text, and come off again', async () => {
  const study = studies[0].study_uid;
  const a = await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'nodule' } });
  assert.equal(a.status, 201, a.text());
  assert.equal(a.json().colour, '#e0a030');
  const again = await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'nodule' } });
  assert.equal(again.status, 200, 'the same vocabulary tag twice is one tag');
  assert.equal(again.json().id, a.json().id);
  const free = await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { text: 'ask Dr. B about follow-up', series_uid: studies[0].series_uid } });
  assert.equal(free.status, 201, free.text());
  assert.equal(free.json().series_uid, studies[0].series_uid);
  assert.equal((await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'unknown' } })).status, 400);
  assert.equal((await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'nodule', text: 'x' } })).status, 400);
  assert.equal((await call(server, rad, 'POST', `/api/v1/studies/${study}/tags`, { json: { text: 'x', series_uid: studies[1].series_uid } })).status, 404, 'a series of another study');
  const annotations = (await call(server, physician, 'GET', `/api/v1/studies/${study}/annotations`)).json();
  assert.equal(annotations.tags.length, 2);
  assert.equal(annotations.tags.find((t) => t.text)?.text, 'ask Dr. B about follow-up');
  assert.equal((await call(server, physician, 'POST', `/api/v1/studies/${study}/tags`, { json: { name: 'nodule' } })).status, 403, 'physicians read tags, radiologists write them');
  assert.equal((await call(server, rad, 'DELETE', `/api/v1/studies/${study}/tags/${free.json().id}`)).status, 204);
  assert.equal((await call(server, rad, 'GET', `/api/v1/studies/${study}/annotations`)).json().tags.length, 1);
});

test('status and assignee are saved, validated and read back', async () => {
  const study = studies[1].study_uid;
  const fresh = (await call(server, rad, 'GET', `/api/v1/studies/${study}/annotations`)).json();
  assert.equal(fresh.status, 'todo');
  assert.equal(fresh.assignee, null);
  const set = await call(server, rad, 'PUT', `/api/v1/studies/${study}/status`, { json: { status: 'in_progress', assignee: 'rad.a' } });
  assert.equal(set.status, 200, set.text());
  assert.equal(set.json().status, 'in_progress');
  assert.equal(set.json().assignee, 'rad.a');
  assert.equal(set.json().updated_by, 'rad.a');
  const keep = await call(server, admin, 'PUT', `/api/v1/studies/${study}/status`, { json: { status: 'done' } });
  assert.equal(keep.json().assignee, 'rad.a', 'absent assignee keeps the assignee');
  assert.equal((await call(server, rad, 'PUT', `/api/v1/studies/${study}/status`, { json: { status: 'finished' } })).status, 400);
  assert.equal((await call(server, rad, 'PUT', `/api/v1/studies/${study}/status`, { json: { assignee: 'rad.b' } })).status, 400, 'not a user of this clinic');
  const cleared = await call(server, rad, 'PUT', `/api/v1/studies/${study}/status`, { json: { assignee: null } });
  assert.equal(cleared.json().assignee, null);
  assert.equal(cleared.json().status, 'done');
});

test('the worklist searches, filters, sorts and pages on the server', async () => {
  await call(server, rad, 'PUT', `/api/v1/studies/${studies[2].study_uid}/status`, { json: { status: 'reviewed', assignee: 'rad.a' } });
  const all = await worklist(rad);
  assert.equal(all.total, 3);
  assert.deepEqual(all.studies.map((s) => s.study_date), ['20240210', '20240105', '20231120'], 'newest first by default');
  const s0 = all.studies.find((s) => s.study_uid === studies[0].study_uid);
  assert.equal(s0.patient_name, 'GARCIA^ANA');
  assert.equal(s0.patient_id, 'P100');
  assert.deepEqual(s0.modalities, ['CT']);
  assert.equal(s0.series_count, 1);
  assert.equal(s0.instance_count, 2);
  assert.deepEqual(s0.tags.map((t) => t.name), ['nodule']);

  assert.deepEqual((await worklist(rad, '?sort=date')).studies.map((s) => s.study_date), ['20231120', '20240105', '20240210']);
  assert.deepEqual((await worklist(rad, '?patient=garcia*')).studies.map((s) => s.patient_id).sort(), ['P100', 'P101']);
  assert.deepEqual((await worklist(rad, '?patient=GARCIA%5EANA')).studies.map((s) => s.patient_id), ['P100']);
  assert.deepEqual((await worklist(rad, '?patient=P102')).studies.map((s) => s.patient_id), ['P102']);
  assert.deepEqual((await worklist(rad, '?date=20240101-20241231')).studies.map((s) => s.patient_id).sort(), ['P100', 'P101']);
  assert.deepEqual((await worklist(rad, '?modality=MR')).studies.map((s) => s.patient_id), ['P101']);
  assert.deepEqual((await worklist(rad, '?tag=nodule')).studies.map((s) => s.patient_id), ['P100']);
  assert.deepEqual((await worklist(rad, '?status=reviewed')).studies.map((s) => s.patient_id), ['P102']);
  assert.deepEqual((await worklist(rad, '?status=todo')).studies.map((s) => s.patient_id), ['P100'], 'never touched is to do');
  assert.deepEqual((await worklist(rad, '?assignee=rad.a')).studies.map((s) => s.patient_id), ['P102']);
  assert.deepEqual((await worklist(rad, '?assignee=none')).studies.map((s) => s.patient_id).sort(), ['P100', 'P101']);
  assert.deepEqual((await worklist(rad, '?sort=status')).studies.map((s) => s.status), ['todo', 'done', 'reviewed']);
  const page1 = await worklist(rad, '?limit=2');
  const page2 = await worklist(rad, '?limit=2&offset=2');
  assert.equal(page1.total, 3);
  assert.equal(page1.studies.length, 2);
  assert.equal(page2.studies.length, 1);
  const wildPage = await worklist(rad, '?patient=GARCIA*&limit=1&offset=1');
  assert.equal(wildPage.total, 2);
  assert.equal(wildPage.studies.length, 1);
  for (const bad of ['?sort=name', '?status=lost', '?date=2024', '?limit=501', '?bogus=1'])
    assert.equal((await call(server, rad, 'GET', `/api/v1/worklist${bad}`)).status, 400, bad);
});

test('another clinic sees none of it', async () => {
  assert.equal((await worklist(otherRad)).total, 0);
  for (const [method, path, json] of [
    ['GET', `/api/v1/studies/${studies[0].study_uid}/annotations`],
    ['POST', `/api/v1/studies/${studies[0].study_uid}/tags`, { text: 'x' }],
    ['PUT', `/api/v1/studies/${studies[0].study_uid}/status`, { status: 'done' }],
  ]) {
    const res = await call(server, otherRad, method, path, json ? { json } : {});
    assert.equal(res.status, 404, `${method} ${path}: ${res.status}`);
  }
  const untouched = (await call(server, rad, 'GET', `/api/v1/studies/${studies[0].study_uid}/annotations`)).json();
  assert.equal(untouched.status, 'todo');
});

test('free-text tags are sealed at rest: the catalog file does not hold them', async () => {
  const secret = 'PHRASE-7731-ONLY-IN-A-TAG';
  await call(server, rad, 'POST', `/api/v1/studies/${studies[0].study_uid}/tags`, { json: { text: secret } });
  const { readFileSync, readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  if (server.storage) {
    // A cluster's catalog is PostgreSQL: everything it holds of the clinic's tags, as text.
    const dump = server.storage.sql("SELECT coalesce(string_agg(encode(coalesce(text_sealed, ''), 'escape') || coalesce(tag_name, ''), ' '), '') FROM study_tags");
    assert.ok(!dump.includes(secret), 'the catalog holds the free text');
    return;
  }
  const files = readdirSync(server.dataDir).filter((f) => f.startsWith('catalog'));
  assert.ok(files.length > 0);
  for (const f of files) assert.ok(!readFileSync(join(server.dataDir, f)).includes(secret), `${f} holds the free text`);
});
