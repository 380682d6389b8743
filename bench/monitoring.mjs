#!/usr/bin/env node
// Monitoring benchmark (issue 9): what the vendor's dashboard, run records and /metrics cost
// as runs accumulate (50 real runs, then the catalog grown to 20 000 run records spread over
// 60 days), and how long a clinician's correction takes to be compared (Dice, volume, HD95)
// on the LIDC chest CT's lungs when ../shared/data is present.
//
// usage: node bench/monitoring.mjs [--runs N] [--records N]
// Prints a table and, on its last line, a JSON summary. No peer here does this job (Orthanc
// has no algorithm runs); the figures stand alone.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSeries, stowOk } from '../tests/integration/lib/dicomweb.mjs';
import { makeTempDir, sharedDataDir } from '../tests/integration/lib/env.mjs';
import { dicomFilesUnder } from '../tests/integration/lib/files.mjs';
import { request } from '../tests/integration/lib/http.mjs';
import { call, createUser, signIn } from '../tests/integration/lib/people.mjs';
import { VoxelgateServer } from '../tests/integration/lib/server.mjs';
import { apiGet, apiJson, fetchLabels, formBody, saveLabels } from '../tests/integration/lib/volumes.mjs';

const execFileP = promisify(execFile);
const arg = (name, fallback) => (process.argv.indexOf(name) > 0 ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const RUNS = arg('--runs', 5);
const RECORDS = arg('--records', 20000);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const summary = {};
const row = (figure, value, unit) => console.log(`${figure.padEnd(62)} ${String(value).padStart(9)} ${unit}`);

async function timed(fn) {
  const t = process.hrtime.bigint();
  const out = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, out };
}
async function medianOf(fn) {
  const times = [];
  for (let i = 0; i < RUNS; ++i) times.push((await timed(fn)).ms);
  return median(times);
}
async function waitJob(server, token, id) {
  for (;;) {
    const job = (await apiGet(server, token, `/api/v1/jobs/${id}`)).json();
    if (!['queued', 'running'].includes(job.state)) return job;
    await sleep(20);
  }
}

const server = await VoxelgateServer.start({ name: 'bench-monitoring', args: ['--max-body-bytes', '1000000000', '--workers', '2'] });
try {
  await server.createTenant('bench');
  const token = await server.createToken({ tenant: 'bench', name: 'bench-rw' });
  await createUser(server, 'bench', 'b.rad', 'radiologist');
  await createUser(server, 'provider', 'v.support', 'provider_support');
  const rad = await signIn(server, 'b.rad');
  const vendor = await signIn(server, 'v.support');

  // 50 real runs of a tiny algorithm, a verdict on each.
  const s = await makeSeries({ slices: 3, rows: 16, cols: 16, seed: 7 });
  await stowOk(server, token, s.instances.map((i) => i.bytes));
  const g = (await apiGet(server, token, `/api/v1/series/${s.series_uid}/geometry`)).json();
  const labels = Buffer.alloc(g.dims[0] * g.dims[1] * g.dims[2]);
  labels.fill(1, 0, 50);
  const saved = await saveLabels(server, token, s.series_uid, labels, { segments: [{ label: 1, name: 'Dot' }] });
  const algo = makeTempDir('bench-monitoring-algo');
  writeFileSync(join(algo, 'labels.nii.gz'), (await apiGet(server, token, `/api/v1/segmentations/${saved.json().id}/labels.nii.gz`)).body);
  writeFileSync(join(algo, 'manifest.toml'), 'id = "tiny"\nversion = "1"\nname = "Tiny"\n[[output.segments]]\nlabel = 1\nname = "Dot"\n' +
    `[runner]\nkind = "process"\ncommand = ["/bin/cp", "/algorithm/labels.nii.gz", "/job/output/"]\ndirectory = "${algo}"\n`);
  await server.admin('algorithm', 'add', join(algo, 'manifest.toml'));
  const ids = [];
  for (let i = 0; i < 50; ++i) ids.push((await call(server, rad, 'POST', '/api/v1/jobs', { json: { algorithm: 'tiny', series: s.series_uid } })).json().id);
  for (const id of ids) await waitJob(server, token, id);
  const verdict = await medianOf(() => call(server, rad, 'POST', `/api/v1/jobs/${ids[0]}/feedback`, { json: { verdict: 'accept' } }));
  row('feedback (accept) recorded, ms (median)', verdict.toFixed(1), 'ms');
  const bug = await medianOf(() => call(server, rad, 'POST', '/api/v1/bug-reports', { json: { severity: 'low', description: 'bench', job_id: ids[1] } }));
  row('bug report filed, ms (median)', bug.toFixed(1), 'ms');
  summary.feedback_ms = verdict;
  summary.bug_report_ms = bug;

  // Grow the run records: copies of the real runs, spread over 60 days, with a lung-volume metric.
  await execFileP('/usr/bin/python3', ['-c', `
import json, random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
cols = [r[1] for r in db.execute("PRAGMA table_info(jobs)") if r[1] != "id"]
rows = db.execute("SELECT " + ",".join(cols) + " FROM jobs WHERE kind = 'algorithm' AND state = 'succeeded'").fetchall()
now, want = int(time.time()), int(sys.argv[2])
random.seed(1)
out = []
for i in range(want):
    r = dict(zip(cols, rows[i % len(rows)]))
    r["created_at"] = now - 60 * 86400 + (60 * 86400 * i) // want
    res = json.loads(r["result"]); res["metrics"] = {"lung_volume_ml": random.gauss(4800, 150)}
    r["result"] = json.dumps(res)
    out.append(tuple(r[c] for c in cols))
db.executemany("INSERT INTO jobs(" + ",".join(cols) + ") VALUES(" + ",".join("?" * len(cols)) + ")", out)
db.commit()
`, join(server.dataDir, 'catalog.db'), String(RECORDS)]);

  const total = RECORDS + 50;
  const dash = await medianOf(() => call(server, vendor, 'GET', '/api/v1/monitoring/summary'));
  row(`dashboard summary over ${total} runs (vendor, 30 days), ms`, dash.toFixed(0), 'ms');
  const csv = await medianOf(() => call(server, vendor, 'GET', '/api/v1/monitoring/summary?format=csv'));
  row(`dashboard CSV over ${total} runs, ms`, csv.toFixed(0), 'ms');
  const runs = await medianOf(() => call(server, vendor, 'GET', '/api/v1/monitoring/runs?limit=100'));
  row('run records, newest 100, ms', runs.toFixed(1), 'ms');
  const metrics = await medianOf(() => request(server.baseUrl, { path: '/metrics' }));
  row(`/metrics scrape over ${total} runs, ms`, metrics.toFixed(0), 'ms');
  const alerts = await medianOf(() => call(server, vendor, 'GET', '/api/v1/monitoring/alerts'));
  row('alert evaluation (what the notifier does each minute), ms', alerts.toFixed(0), 'ms');
  Object.assign(summary, { records: total, summary_ms: dash, csv_ms: csv, runs_ms: runs, metrics_ms: metrics, alerts_ms: alerts });

  // A correction on a real CT: the clinician erases five slices of the right lung.
  const dir = sharedDataDir('ct-chest-lidc');
  if (!dir) {
    console.log('bench monitoring: the LIDC correction is skipped: ../shared/data/ct-chest-lidc is absent');
  } else {
    const { files } = dicomFilesUnder(dir);
    for (let i = 0; i < files.length; i += 60) await stowOk(server, token, files.slice(i, i + 60).map((f) => f.bytes));
    const res = await call(server, rad, 'POST', '/api/v1/jobs', { json: { algorithm: 'ct-lungs', series: files[0].series } });
    const job = await waitJob(server, token, res.json().id);
    const lungs = await fetchLabels(server, token, job.segmentation_id);
    const geo = (await apiGet(server, token, `/api/v1/series/${files[0].series}/geometry`)).json();
    const plane = geo.dims[0] * geo.dims[1];
    const mid = Math.floor(geo.dims[2] / 2);
    for (let i = (mid - 2) * plane; i < (mid + 3) * plane; ++i) if (lungs[i] === 1) lungs[i] = 0;
    const form = await formBody({ segments: [{ label: 1, name: 'Right lung' }, { label: 2, name: 'Left lung' }], parent_id: job.segmentation_id }, (await import('node:zlib')).gzipSync(lungs));
    const t0 = process.hrtime.bigint();
    const put = await call(server, rad, 'POST', `/api/v1/series/${files[0].series}/segmentations`, { body: form.body, headers: { 'Content-Type': form.contentType } });
    if (put.status !== 201) throw new Error(`correction: ${put.status} ${put.text()}`);
    const savedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    let feedback;
    for (;;) {
      feedback = (await call(server, rad, 'GET', `/api/v1/jobs/${job.id}/feedback`)).json().find((f) => f.verdict === 'correct');
      if (feedback) break;
      await sleep(20);
    }
    const comparedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    row('LIDC correction saved (SEG written), ms', savedMs.toFixed(0), 'ms');
    row('LIDC correction compared (saved -> Dice, volume, HD95 stored), ms', comparedMs.toFixed(0), 'ms');
    for (const m of feedback.metrics) row(`  ${m.name}: Dice ${m.dice.toFixed(4)}, HD95 mm, volume diff mL`, `${m.hd95_mm.toFixed(1)} / ${m.volume_difference_ml.toFixed(0)}`, '');
    Object.assign(summary, { correction_saved_ms: savedMs, correction_compared_ms: comparedMs, correction: feedback.metrics });
  }
} finally {
  await server.dispose();
}
console.log(JSON.stringify({ bench: 'monitoring', ...summary }));
