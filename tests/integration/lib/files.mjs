// Finding DICOM files in the shared data folders.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isPart10, uidsOf } from './dicom.mjs';

// Every Part 10 file under `dir` (recursively): [{path, name, bytes, sop, study, series,
// sopClass, transferSyntax}], plus `skipped`: relative paths that are not DICOM.
export function dicomFilesUnder(dir) {
  const found = [];
  const skipped = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const bytes = readFileSync(p);
        if (!isPart10(bytes)) {
          skipped.push(relative(dir, p));
          continue;
        }
        found.push({ path: p, name: relative(dir, p), bytes, ...uidsOf(bytes) });
      }
    }
  };
  walk(dir);
  found.sort((a, b) => a.name.localeCompare(b.name));
  return { files: found, skipped };
}

// Splits files into rounds with no SOP Instance UID twice in a round (several shared test
// files are one object re-encoded under the same UID: one tenant per round keeps them apart).
export function roundsByUid(files) {
  const rounds = [];
  for (const f of files) {
    let r = rounds.find((round) => !round.some((g) => g.sop === f.sop));
    if (!r) rounds.push((r = []));
    r.push(f);
  }
  return rounds;
}
