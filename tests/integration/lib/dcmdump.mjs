// dcmdump (DCMTK) as the reference reader for WADO-RS metadata: parse its listing of the
// top-level data set and compare DICOM JSON (PS3.18 Annex F) element by element.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const BULK_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN', '??']);
const NUMBER_VRS = new Set(['US', 'SS', 'UL', 'SL', 'FL', 'FD', 'SV', 'UV']);
const TEXT_VRS = new Set(['LT', 'ST', 'UT', 'UR']); // single-valued: backslash is data
const KEEP_LEADING_SPACE = new Set(['LO', 'SH', 'PN', 'LT', 'ST', 'UT', 'UC']);
const LINE = /^\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) (.*)\s#\s*(\d+|u\/l|\?),\s*(\d+)\s+(.+?)\s*$/;

// Top-level data set elements of `path`: [{tag, vr, text, length, vm, name}]; `text` is
// what dcmdump prints as the value ('[...]', numbers, '(no value available)', ...).
export async function dcmdumpTopLevel(path) {
  const { stdout } = await execFileP('dcmdump', ['-q', '+L', '-Un', path], { maxBuffer: 256 << 20 });
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('# Dicom-Data-Set'));
  const out = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('(')) continue; // nested items are indented
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsed dcmdump line: ${line.slice(0, 160)}`);
    out.push({
      tag: (m[1] + m[2]).toUpperCase(),
      group: parseInt(m[1], 16),
      element: parseInt(m[2], 16),
      vr: m[3],
      text: m[4].trimEnd(),
      length: m[5],
      vm: Number(m[6]),
      name: m[7],
    });
  }
  return out;
}

function stringValues(e) {
  if (e.text === '(no value available)') return [];
  if (!(e.text.startsWith('[') && e.text.endsWith(']'))) throw new Error(`${e.tag} ${e.vr}: unexpected dcmdump value ${e.text.slice(0, 80)}`);
  const inner = e.text.slice(1, -1);
  const parts = TEXT_VRS.has(e.vr) ? [inner] : inner.split('\\');
  return parts.map((p) => (KEEP_LEADING_SPACE.has(e.vr) ? p.trimEnd() : p.trim()));
}

function numbersClose(a, b) {
  return Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a), Math.abs(b));
}

// Compares one DICOM JSON object with dcmdump's elements. Returns a list of mismatch
// strings (empty when all agree). Checked: presence of every element, the VR of standard
// elements, string/number values of non-bulk standard elements, PN as {Alphabetic,...},
// item counts of sequences, and bulk data carried as BulkDataURI or InlineBinary.
export function compareWithDcmdump(json, dump, { pixelDataAsBulkDataUri = true } = {}) {
  const problems = [];
  const bad = (e, msg) => problems.push(`${e.tag} ${e.vr} ${e.name}: ${msg}`);
  for (const e of dump) {
    if (e.group === 0x0002 || e.group === 0xfffe || e.element === 0x0000) continue;
    if (e.tag === 'FFFCFFFC' || e.tag === 'FFFAFFFA') continue;
    const j = json[e.tag];
    if (!j) {
      bad(e, 'missing from metadata');
      continue;
    }
    if (e.group % 2 === 1) continue; // private: presence only (VR/values depend on dictionaries)
    if (e.vr !== '??' && j.vr !== e.vr) bad(e, `vr ${j.vr}, dcmdump says ${e.vr}`);
    const jv = j.Value ?? [];
    if (e.vr === 'SQ') {
      const n = Number(/#=(\d+)/.exec(e.text)?.[1]);
      if (jv.length !== n) bad(e, `${jv.length} items, dcmdump says ${n}`);
      continue;
    }
    if (BULK_VRS.has(e.vr)) {
      if (e.tag === '7FE00010' && pixelDataAsBulkDataUri) {
        if (typeof j.BulkDataURI !== 'string' || j.InlineBinary !== undefined) bad(e, 'PixelData must be a BulkDataURI');
      } else if (e.text !== '(no value available)' && j.BulkDataURI === undefined && j.InlineBinary === undefined) {
        bad(e, 'binary value is neither BulkDataURI nor InlineBinary');
      }
      continue;
    }
    if (j.BulkDataURI !== undefined) continue; // a server may move a long value to bulk data
    if (NUMBER_VRS.has(e.vr)) {
      const want = e.text === '(no value available)' ? [] : e.text.split('\\').map(Number);
      if (jv.length !== want.length || !jv.every((v, k) => typeof v === 'number' && numbersClose(v, want[k]))) {
        bad(e, `values ${JSON.stringify(jv)}, dcmdump ${JSON.stringify(want)}`);
      }
      continue;
    }
    if (e.vr === 'AT') {
      const want = e.text === '(no value available)' ? [] : e.text.split('\\').map((t) => t.replace(/[(),]/g, '').toUpperCase());
      if (JSON.stringify(jv) !== JSON.stringify(want)) bad(e, `values ${JSON.stringify(jv)}, dcmdump ${JSON.stringify(want)}`);
      continue;
    }
    const want = stringValues(e);
    // DICOM JSON is UTF-8: a server may report the source character set or ISO_IR 192
    // (DCMTK's convention; CP-2518 discusses both).
    if (e.tag === '00080005' && JSON.stringify(jv) === JSON.stringify(['ISO_IR 192'])) continue;
    if (want.length === 1 && want[0] === '' && jv.length === 0) continue;
    if (e.vr === 'PN') {
      // Trailing empty components ('DOE^JOHN^^^' = 'DOE^JOHN') are equivalent (PS3.5 6.2).
      const norm = (n) => n.replace(/\^+$/, '');
      const got = jv.map((p) => norm(p === null ? '' : p.Alphabetic ?? ''));
      const wantAlpha = want.map((w) => norm(w.split('=')[0]));
      if (!jv.every((p) => p === null || (typeof p === 'object' && !Array.isArray(p)))) bad(e, `PN values must be objects: ${JSON.stringify(jv)}`);
      else if (JSON.stringify(got) !== JSON.stringify(wantAlpha)) bad(e, `Alphabetic ${JSON.stringify(got)}, dcmdump ${JSON.stringify(wantAlpha)}`);
      continue;
    }
    if (e.vr === 'DS' || e.vr === 'IS') {
      const ok = jv.length === want.length && jv.every((v, k) => (v === null ? want[k] === '' : typeof v === 'number' && numbersClose(v, Number(want[k]))));
      if (!ok) bad(e, `values ${JSON.stringify(jv)}, dcmdump ${JSON.stringify(want)} (DS/IS are JSON numbers)`);
      continue;
    }
    const got = jv.map((v) => (v === null ? '' : typeof v === 'string' ? (KEEP_LEADING_SPACE.has(e.vr) ? v.trimEnd() : v.trim()) : v));
    if (JSON.stringify(got) !== JSON.stringify(want)) bad(e, `values ${JSON.stringify(jv)}, dcmdump ${JSON.stringify(want)}`);
  }
  return problems;
}
