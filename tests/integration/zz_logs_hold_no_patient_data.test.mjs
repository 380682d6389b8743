// Runs last (files run in name order): no patient name, ID or birth date used anywhere in
// the test run appears in any server log line (stderr JSON logs and stdout) that the run
// wrote to build/test-logs. The values come from the synthetic series the tests make and
// from the headers of the shared real data.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { logDir, python, sharedData } from './lib/env.mjs';
import { existsSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));

function syntheticValues() {
  const values = new Set(['DOE^JOHN', 'PID0001', '19600101']);  // make_series.py defaults
  for (const file of readdirSync(here).filter((f) => f.endsWith('.test.mjs'))) {
    const text = readFileSync(join(here, file), 'utf8');
    for (const m of text.matchAll(/(?:patientName|patientId|birthDate):\s*'([^']+)'/g)) values.add(m[1]);
  }
  return values;
}

// PatientName, PatientID and PatientBirthDate of every file in ../shared/data.
function sharedDataValues(t) {
  if (!existsSync(sharedData)) {
    t.diagnostic(`shared data absent (${sharedData}): checking synthetic values only`);
    return [];
  }
  const script = `
import os, sys, pydicom
seen = set()
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            ds = pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True,
                                 specific_tags=['PatientName', 'PatientID', 'PatientBirthDate'])
        except Exception:
            continue
        for key in ('PatientName', 'PatientID', 'PatientBirthDate'):
            v = str(ds.get(key, '') or '').strip()
            if v: seen.add(v)
print('\\n'.join(sorted(seen)))
`;
  return execFileSync(python, ['-c', script, sharedData], { encoding: 'utf8', maxBuffer: 16 << 20 }).split('\n').filter(Boolean);
}

test('no patient name, ID or birth date from the test data appears in any log line', (t) => {
  const values = new Set([...syntheticValues(), ...sharedDataValues(t)]);
  // Short or generic values (a one-digit ID, "ANONYMOUS") would match unrelated text.
  const needles = [...values]
    .filter((v) => v.length >= 6 && !/^anonym/i.test(v))
    .flatMap((v) => (v.includes('^') ? [v, v.replace(/\^/g, ' ')] : [v]));
  assert.ok(needles.length >= 20, `only ${needles.length} values to look for`);
  const logs = readdirSync(logDir).filter((f) => f.endsWith('.log'));
  assert.ok(logs.length > 10, `only ${logs.length} log files in ${logDir}: run the whole suite`);
  const leaks = [];
  for (const file of logs) {
    const lines = readFileSync(join(logDir, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const needle of needles) if (line.includes(needle)) leaks.push(`${file}:${i + 1} holds '${needle}'`);
    });
  }
  t.diagnostic(`${needles.length} values checked in ${logs.length} log files`);
  assert.deepEqual(leaks.slice(0, 20), []);
});
