// Algorithms for the browser tests: a small Python process algorithm (numpy and nibabel, as
// examples/threshold-python) that labels a box in the middle of the volume, so its result
// is known voxel by voxel; it can also sleep first (to be cancelled) or fail with a message.
// Plus a clinic with a series, and waiting for runs through the API.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSeries, stowOk } from '../../integration/lib/dicomweb.mjs';
import { makeTempDir } from '../../integration/lib/env.mjs';
import { call } from '../../integration/lib/people.mjs';
import { eventually } from '../../integration/lib/fixture.mjs';

// The box: columns and rows [n/4, n/2), every slice; the result metric is its volume.
const SCRIPT = `import json, sys, time
import nibabel as nib
import numpy as np
SLEEP, FAIL = float(sys.argv[1]), sys.argv[2]
time.sleep(SLEEP)
if FAIL != "-":
    print(FAIL, file=sys.stderr)
    sys.exit(1)
image = nib.load("/job/input/image.nii.gz")
nx, ny = image.shape[0], image.shape[1]
labels = np.zeros(image.shape[:3], dtype=np.uint8)
labels[nx // 4:nx // 2, ny // 4:ny // 2, :] = 1
out = nib.Nifti1Image(labels, image.affine)
out.set_data_dtype(np.uint8)
nib.save(out, "/job/output/labels.nii.gz")
ml = float(labels.sum()) * float(np.prod(image.header.get_zooms()[:3])) / 1000.0
json.dump({"metrics": {"box_ml": round(ml, 3)}}, open("/job/output/result.json", "w"))
`;

export async function registerBox(server, id, { version = '1', name = `Box ${id}`, sleep = 0, fail = '-', notForDiagnostic = true,
  intendedUse = 'Research demonstration: marks a box in the middle of a CT.' } = {}) {
  const dir = makeTempDir(`algo-${id}`);
  writeFileSync(join(dir, 'run.py'), SCRIPT);
  const manifest = [
    `id = "${id}"`, `version = "${version}"`, `name = "${name}"`,
    `description = "Labels a box in the middle of the volume."`,
    `intended_use = "${intendedUse}"`, `not_for_diagnostic_use = ${notForDiagnostic}`,
    '[input]', 'modality = "CT"', 'min_slices = 1',
    '[[output.segments]]', 'label = 1', 'name = "Box"', 'colour = "#e0a030"',
    '[runner]', 'kind = "process"', `command = ["/usr/bin/python3", "run.py", "${sleep}", "${fail}"]`, `directory = "${dir}"`,
    '[limits]', 'wall_seconds = 120', 'memory_mb = 1024', 'threads = 1', '',
  ].join('\n');
  writeFileSync(join(dir, 'manifest.toml'), manifest);
  await server.admin('algorithm', 'add', join(dir, 'manifest.toml'));
}

// A synthetic CT stored in `tenant` through a token; returns the series facts.
export async function storeSeries(server, tenant, opts = {}) {
  const token = await server.createToken({ tenant, name: `e2e-store-${Math.random().toString(36).slice(2, 8)}` });
  const series = await makeSeries({ slices: 12, rows: 64, cols: 64, seed: 21, ...opts });
  await stowOk(server, token, series.instances.map((i) => i.bytes));
  return series;
}

export { eventually };

// Submits a run as `who` (a signed-in session) and waits for its end.
export async function runJob(server, who, body) {
  const res = await call(server, who, 'POST', '/api/v1/jobs', { json: body });
  assert.equal(res.status, 202, res.text());
  return eventually(`run ${res.json().id}`, async () => {
    const job = (await call(server, who, 'GET', `/api/v1/jobs/${res.json().id}`)).json();
    return ['queued', 'running'].includes(job.state) ? null : job;
  }, 60_000);
}
