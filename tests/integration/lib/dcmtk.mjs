// dcmtk's network tools (echoscu, storescu, findscu, movescu, getscu, storescp) as test
// clients of the DIMSE listener, plus data set comparison helpers.
//
// Outcomes are read from the tools' own logs: `-d` prints every incoming DIMSE message
// ("Message Type : C-MOVE RSP", "Completed Suboperations : 4", "DIMSE Status : 0x0000:
// ..."), `-v` prints one line per store response. findscu's matches are extracted with
// `-X` to rsp0001.dcm... and read with lib/dicom.mjs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parsePart10, valueString } from './dicom.mjs';
import { makeTempDir } from './env.mjs';
import { freePort } from './server.mjs';
import { eventually } from './wait.mjs';

// Runs a tool to completion: {code, signal, stdout, stderr, output (both, interleaved by
// arrival), command}. Never throws for a non-zero exit; `timeoutMs` kills it (SIGKILL).
export function runTool(cmd, args, { timeoutMs = 180_000, onOutput } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
      output += d;
      onOutput?.(output, child);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      output += d;
      onOutput?.(output, child);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not be started (is dcmtk installed?): ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output, timedOut, command: `${cmd} ${args.join(' ')}` });
    });
  });
}

// A short description of a tool run for assertion messages.
export function describeRun(r, lines = 25) {
  const tail = r.output.split('\n').filter((l) => l.trim()).slice(-lines).join('\n');
  return `\n$ ${r.command.slice(0, 400)}\nexit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n${tail}`;
}

// --- parsing dcmtk's -d DIMSE message dumps ------------------------------------------------
// Returns [{direction: 'INCOMING'|'OUTGOING', type: 'C-MOVE RSP', fields: {'DIMSE Status':
// '0x0000: Success: ...', 'Completed Suboperations': '4', ...}}].
export function dimseMessages(output) {
  const out = [];
  let cur = null;
  for (const raw of output.split('\n')) {
    const line = raw.replace(/^[A-Z]: /, '');
    const start = /^=+ (INCOMING|OUTGOING) DIMSE MESSAGE =+/.exec(line);
    if (start) {
      cur = { direction: start[1], type: null, fields: {} };
      continue;
    }
    if (!cur) continue;
    if (/^=+ END DIMSE MESSAGE =+/.test(line)) {
      out.push(cur);
      cur = null;
      continue;
    }
    const m = /^([A-Za-z][A-Za-z /-]*?)\s*: (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'Message Type') cur.type = m[2].trim();
      cur.fields[m[1]] = m[2].trim();
    }
  }
  return out;
}

function num(v) {
  if (v === undefined || v === 'none') return undefined;
  const n = Number(v);
  return Number.isNaN(n) ? undefined : n;
}

// The status word of a dcmtk "DIMSE Status" field ('0xC000: Error: ...' -> 0xC000).
export function statusOf(field) {
  const m = /0x([0-9a-fA-F]{4})/.exec(field ?? '');
  return m ? parseInt(m[1], 16) : undefined;
}

// The final response of a C-MOVE/C-GET run (-d output): {status, statusText, completed,
// failed, warning, remaining, responses} or undefined when there was none.
export function finalRetrieveResponse(output, type) {
  const rsps = dimseMessages(output).filter((m) => m.direction === 'INCOMING' && m.type === type);
  const last = rsps[rsps.length - 1];
  if (!last) return undefined;
  return {
    status: statusOf(last.fields['DIMSE Status']),
    statusText: last.fields['DIMSE Status'],
    completed: num(last.fields['Completed Suboperations']),
    failed: num(last.fields['Failed Suboperations']),
    warning: num(last.fields['Warning Suboperations']),
    remaining: num(last.fields['Remaining Suboperations']),
    responses: rsps.length,
  };
}

// --- association outcome --------------------------------------------------------------------
// dcmtk logs a rejection as "Association Rejected:" then "Reason: Called AE Title Not
// Recognized". Returns {rejected: bool, reason: lowercased reason text | undefined}.
export function associationOutcome(output) {
  const rejected = /Association Rejected/i.test(output);
  const m = /Reason:\s*(.+)$/im.exec(output);
  return { rejected, reason: m ? m[1].trim().toLowerCase() : undefined, accepted: /Association Accepted/i.test(output) };
}

// --- the tools ------------------------------------------------------------------------------
function common({ calledAe, callingAe }) {
  const a = [];
  if (calledAe) a.push('-aec', calledAe);
  if (callingAe) a.push('-aet', callingAe);
  return a;
}

export async function echoscu({ port, calledAe, callingAe = 'ECHOSCU', extra = [] }) {
  return runTool('echoscu', ['-v', ...common({ calledAe, callingAe }), ...extra, '127.0.0.1', String(port)], { timeoutMs: 30_000 });
}

// storescu of files (paths). Returns the run plus `successes`: the number of store
// responses with status Success, and `storeStatuses`: the status words of all C-STORE RSPs.
export async function storescu({ port, calledAe, callingAe = 'STORESCU', files, extra = [], timeoutMs = 300_000, onOutput }) {
  const r = await runTool('storescu', ['-d', '-nh', '-pdu', '131072', ...common({ calledAe, callingAe }), ...extra, '127.0.0.1', String(port), ...files], { timeoutMs, onOutput });
  return withStoreCounts(r);
}

export function withStoreCounts(r) {
  const rsps = dimseMessages(r.output).filter((m) => m.direction === 'INCOMING' && m.type === 'C-STORE RSP');
  r.storeStatuses = rsps.map((m) => statusOf(m.fields['DIMSE Status']));
  r.successes = r.storeStatuses.filter((s) => s === 0).length;
  // SOP Instance UID -> status word of its C-STORE RSP (absent: never answered/sent).
  r.statusBySop = new Map(rsps.map((m) => [m.fields['Affected SOP Instance UID'], statusOf(m.fields['DIMSE Status'])]));
  return r;
}

// Key list -> findscu/movescu/getscu -k arguments. keys: [[name, value?]] or {name: value}.
function keyArgs(keys) {
  const list = Array.isArray(keys) ? keys : Object.entries(keys);
  return list.flatMap(([k, v]) => ['-k', v === undefined || v === null ? k : `${k}=${v}`]);
}

// findscu; model 'S' (study root) or 'P' (patient root). Returns the run plus `matches`
// ([{tag: value string}] of the top-level elements, tags as 'GGGGEEEE' uppercase) and
// `final`: the final C-FIND RSP status word.
export async function findscu({ port, calledAe, callingAe = 'FINDSCU', model = 'S', keys, extra = [] }) {
  const dir = makeTempDir('findscu');
  const r = await runTool('findscu', ['-d', `-${model}`, '-X', '-od', dir, ...common({ calledAe, callingAe }), ...keyArgs(keys), ...extra, '127.0.0.1', String(port)], { timeoutMs: 120_000 });
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^rsp\d+\.dcm$/.test(f)).sort() : [];
  r.matches = files.map((f) => topLevelStrings(readFileSync(join(dir, f))));
  const rsps = dimseMessages(r.output).filter((m) => m.direction === 'INCOMING' && m.type === 'C-FIND RSP');
  r.final = statusOf(rsps[rsps.length - 1]?.fields['DIMSE Status']);
  return r;
}

// movescu to `moveDestination`. Returns the run plus `final` (finalRetrieveResponse).
export async function movescu({ port, calledAe, callingAe = 'MOVESCU', moveDestination, model = 'S', keys, extra = [], timeoutMs = 300_000 }) {
  const r = await runTool('movescu', ['-d', `-${model}`, '-aem', moveDestination, ...common({ calledAe, callingAe }), ...keyArgs(keys), ...extra, '127.0.0.1', String(port)], { timeoutMs });
  r.final = finalRetrieveResponse(r.output, 'C-MOVE RSP');
  return r;
}

// getscu into a fresh directory, bit-preserving (+B: the data set as received). Returns
// the run plus `final` and `dir`.
export async function getscu({ port, calledAe, callingAe = 'GETSCU', model = 'S', keys, extra = [], timeoutMs = 300_000 }) {
  const dir = makeTempDir('getscu');
  const r = await runTool('getscu', ['-d', `-${model}`, '+B', '-od', dir, ...common({ calledAe, callingAe }), ...keyArgs(keys), ...extra, '127.0.0.1', String(port)], { timeoutMs });
  r.final = finalRetrieveResponse(r.output, 'C-GET RSP');
  r.dir = dir;
  return r;
}

// getscu's option that puts a transfer syntax first among those it proposes for incoming
// C-STOREs (undefined: getscu has none: JPEG processes 6+8, 10+12, 14, and Implicit VR
// Little Endian, for which dcmtk 3.6.7's getscu `+xi` proposes Explicit VR Little Endian
// only, despite its help text).
export const GETSCU_PREFER = {
  '1.2.840.10008.1.2.1': '+xe',
  '1.2.840.10008.1.2.2': '+xb',
  '1.2.840.10008.1.2.1.99': '+xd',
  '1.2.840.10008.1.2.5': '+xr',
  '1.2.840.10008.1.2.4.50': '+xy',
  '1.2.840.10008.1.2.4.51': '+xx',
  '1.2.840.10008.1.2.4.70': '+xs',
  '1.2.840.10008.1.2.4.80': '+xt',
  '1.2.840.10008.1.2.4.81': '+xu',
  '1.2.840.10008.1.2.4.90': '+xv',
  '1.2.840.10008.1.2.4.91': '+xw',
};

// Writes a dcmtk association configuration (--config-file FILE P) for storescu: one
// presentation context per [sopClass, transferSyntax] pair, each with that single
// transfer syntax; or, with `scp`, for storescp (dcmtk wants each abstract syntax once
// there): one context per SOP class accepting all of its transfer syntaxes.
export function writeAssociationConfig(pairs, { scp = false, dir = makeTempDir('asccfg') } = {}) {
  const uniq = [...new Map(pairs.map(([c, t]) => [`${c}|${t}`, [c, t]])).values()];
  const groups = new Map(); // transfer syntax list (joined) -> name
  const contexts = [];
  const tsGroup = (list) => {
    const key = list.join('|');
    if (!groups.has(key)) groups.set(key, { name: `TS${groups.size}`, list });
    return groups.get(key).name;
  };
  if (scp) {
    const byClass = new Map();
    for (const [c, t] of uniq) byClass.set(c, [...(byClass.get(c) ?? []), t]);
    for (const [c, list] of byClass) contexts.push([c, tsGroup(list)]);
  } else {
    for (const [c, t] of uniq) contexts.push([c, tsGroup([t])]);
  }
  const lines = ['[[TransferSyntaxes]]'];
  for (const { name, list } of groups.values()) {
    lines.push(`[${name}]`);
    list.forEach((t, k) => lines.push(`TransferSyntax${k + 1} = ${t}`));
  }
  lines.push('[[PresentationContexts]]', '[PC]');
  contexts.forEach(([c, g], k) => lines.push(`PresentationContext${k + 1} = ${c}\\${g}`));
  lines.push('[[Profiles]]', '[P]', 'PresentationContexts = PC', '');
  const path = join(dir, scp ? 'association-scp.cfg' : 'association.cfg');
  writeFileSync(path, lines.join('\n'));
  return path;
}

// --- storescp as a C-MOVE destination (or a reference receiver) -----------------------------
export class StoreScp {
  // args: extra storescp options (default: accept every transfer syntax dcmtk knows).
  static async start({ aet = 'STORESCP', args = ['+xa'] } = {}) {
    const s = new StoreScp();
    s.aet = aet;
    s.port = await freePort();
    s.dir = makeTempDir(`storescp-${aet}`);
    s.log = '';
    mkdirSync(s.dir, { recursive: true });
    s.child = spawn('storescp', ['-v', '-aet', aet, '+B', '-od', s.dir, ...args, String(s.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    s.child.stdout.on('data', (d) => (s.log += d));
    s.child.stderr.on('data', (d) => (s.log += d));
    s.exited = new Promise((r) => s.child.on('exit', (code, signal) => r({ code, signal })));
    s.child.on('error', (e) => (s.log += `spawn error: ${e.message}`));
    await eventually(() => `storescp to listen on ${s.port}: ${s.log}`, async () => {
      if (s.child.exitCode !== null) throw new Error(`storescp exited before it listened on ${s.port}: ${s.log}`);
      return canConnect(s.port);
    }, 30_000, 50);
    return s;
  }

  // Received files: [{path, bytes, ...datasetOf(bytes)}].
  files() {
    return readdirSync(this.dir)
      .filter((f) => !f.startsWith('.'))
      .map((f) => {
        const path = join(this.dir, f);
        const bytes = readFileSync(path);
        return { path, bytes, ...datasetOf(bytes) };
      });
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

export function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// Sends `files` with storescu (same options as the real send) to a local bit-preserving
// storescp and returns what went over the wire: Map sop -> {transferSyntax, data}. The
// reference for "the data set is stored as received": storescu re-encodes a file's data
// set when it sends it (e.g. drops group lengths or trailing padding), so the source
// file's bytes are not always the bytes the server received.
export async function captureAsSent(files, { storescuArgs = [], storescpArgs = ['+xa'] } = {}) {
  const scp = await StoreScp.start({ aet: 'CAPTURE', args: storescpArgs });
  try {
    const r = await storescu({ port: scp.port, calledAe: 'CAPTURE', files, extra: storescuArgs });
    if (r.successes !== files.length) throw new Error(`reference capture stored ${r.successes} of ${files.length}${describeRun(r)}`);
    const map = new Map();
    for (const f of scp.files()) map.set(f.sop, f);
    return map;
  } finally {
    await scp.stop();
  }
}

// --- data sets -------------------------------------------------------------------------------
// The parts of a Part 10 file that a DIMSE transfer carries: {transferSyntax, sop,
// sopClass, study, series, data: the bytes after the file meta group (as encoded, even
// when deflated)}.
export function datasetOf(bytes) {
  const p = parsePart10(bytes);
  const str = (tag) => {
    const el = p.elements.find((e) => e.tag === tag);
    return el ? valueString(p.dataset, el) : undefined;
  };
  return {
    bytes,
    transferSyntax: p.transferSyntax,
    sop: str('00080018'),
    sopClass: str('00080016'),
    study: str('0020000D'),
    series: str('0020000E'),
    data: bytes.subarray(p.datasetOffset),
  };
}

// Top-level elements of a Part 10 buffer as {tag: trimmed string value}.
export function topLevelStrings(bytes) {
  const p = parsePart10(bytes);
  const out = {};
  for (const el of p.elements) out[el.tag] = el.length === 0xffffffff ? '(sequence)' : valueString(p.dataset, el);
  return out;
}

// Why two data sets (as datasetOf returns) differ, or null when they are the same: same
// transfer syntax and the same bytes after the file meta group.
export function datasetDifference(got, want) {
  if (got.transferSyntax !== want.transferSyntax) return `transfer syntax ${got.transferSyntax}, expected ${want.transferSyntax}`;
  if (got.data.length !== want.data.length) return `data set is ${got.data.length} bytes, expected ${want.data.length}`;
  if (!got.data.equals(want.data)) {
    let k = 0;
    while (k < got.data.length && got.data[k] === want.data[k]) k++;
    return `data set bytes differ from offset ${k} of ${got.data.length}`;
  }
  return null;
}

const UNCOMPRESSED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

// Like datasetDifference, but two uncompressed transfer syntaxes (Implicit/Explicit VR,
// little/big endian) of the same content are equal too: both files are re-encoded by
// dcmconv to Explicit VR Little Endian and those data sets compared. Returns null when
// equal, else a reason; `note(text)` is called when the transfer syntaxes differ.
export async function contentDifference(got, want, note = () => {}) {
  if (got.transferSyntax === want.transferSyntax) return datasetDifference(got, want);
  if (!UNCOMPRESSED.has(got.transferSyntax) || !UNCOMPRESSED.has(want.transferSyntax)) {
    return `transfer syntax ${got.transferSyntax}, expected ${want.transferSyntax}`;
  }
  note(`${got.transferSyntax} instead of ${want.transferSyntax}`);
  const dir = makeTempDir('dcmconv');
  const conv = async (d, name) => {
    const src = join(dir, `${name}.dcm`);
    const dst = join(dir, `${name}-ele.dcm`);
    writeFileSync(src, d.bytes);
    const r = await runTool('dcmconv', ['+te', src, dst], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`dcmconv failed${describeRun(r)}`);
    return datasetOf(readFileSync(dst));
  };
  const [a, b] = await Promise.all([conv(got, 'got'), conv(want, 'want')]);
  const d = datasetDifference(a, b);
  return d ? `content differs after re-encoding both as Explicit VR Little Endian (got ${got.transferSyntax}): ${d}` : null;
}
