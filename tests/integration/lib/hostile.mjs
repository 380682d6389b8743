// Hostile clients for the hostile_*.test.mjs suites and bench/hostile.mjs: connections
// that stall (HTTP or DICOM) and slow bodies, the counters of /metrics, another clinic's
// data seeded, served and checked around an attack, and the hostile inputs themselves
// (nested sequences, deflate and gzip bombs, NRRD sizes past 2^64, UL Rows/Columns).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { makeSeries, qido, sortedUids, stowOk, TAGS, wadoParts } from './dicomweb.mjs';
import { parsePart10, TS, withValues } from './dicom.mjs';
import { makeTempDir } from './env.mjs';
import { startWithTenants } from './fixture.mjs';
import { request } from './http.mjs';
import { eventually } from './wait.mjs';

// Loopback source addresses an attacker connects from (per-address caps apply), so that
// 127.0.0.1 stays the well-behaved clients' address.
export const ATTACK_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

// --- /metrics --------------------------------------------------------------------------------
export async function metricsText(server) {
  const res = await request(server.baseUrl, { path: '/metrics', timeoutMs: 10_000 });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

// The value of one sample (`name{labels}` exactly as printed, or a bare name); undefined
// when /metrics does not list it.
export function sample(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

export const refusalSeries = (listener, limit) => `voxelgate_limit_refusals_total{listener="${listener}",limit="${limit}"}`;

// voxelgate_limit_refusals_total for one listener and limit; 0 when not listed yet.
export async function refusals(server, listener, limit) {
  return sample(await metricsText(server), refusalSeries(listener, limit)) ?? 0;
}

// voxelgate_http_requests_total of one route (its name in the router) answered with
// `status`, over every method.
export async function answered(server, route, status) {
  let n = 0;
  for (const line of (await metricsText(server)).split('\n')) {
    if (line.startsWith(`voxelgate_http_requests_total{route="${route}",`) && line.includes(`status="${status}"}`)) n += Number(line.split(' ').pop());
  }
  return n;
}

export async function gauge(server, name) {
  return sample(await metricsText(server), name);
}

// Waits until the counter has gone up by at least `by` from `before`; returns its value.
export async function refusalsEventually(server, listener, limit, before, by = 1, timeoutMs = 30_000) {
  let last;
  return eventually(() => `${refusalSeries(listener, limit)} to reach ${before + by} (was ${before}, last ${last})`, async () => {
    last = await refusals(server, listener, limit);
    return last >= before + by ? last : false;
  }, timeoutMs, 200);
}

// --- timing --------------------------------------------------------------------------------
// Runs fn and fails when it takes longer than `ms` (it is awaited to the end either way,
// so the failure message can say how long it took). Returns {value, ms}.
export async function within(ms, what, fn) {
  const t0 = performance.now();
  const value = await fn();
  const took = performance.now() - t0;
  assert.ok(took <= ms, `${what} took ${took.toFixed(0)} ms, bound ${ms} ms`);
  return { value, ms: took };
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// --- connections that stall ----------------------------------------------------------------
// `count` connections to 127.0.0.1:`port`, spread round-robin over `addresses`; each sends
// `firstBytes` (default: one byte) and then nothing. With `sustain`, a connection the
// server closes is opened again, so the attack lasts until stop(). Each connection's
// fate is recorded: what it received (`received`), when (ms after its connect), and when
// it was closed.
export class StalledConnections {
  constructor({ port, count, addresses = ATTACK_ADDRESSES, firstBytes = Buffer.from('G'), sustain = false }) {
    Object.assign(this, { port, count, addresses, firstBytes, sustain });
    this.live = new Set();
    this.finished = []; // [{address, connectedAt, firstDataMs, closedMs, received, error}]
    this.stopped = false;
    this.failedConnects = 0;
  }

  static async open(opts) {
    const s = new StalledConnections(opts);
    for (let i = 0; i < s.count; i++) s.connect(s.addresses[i % s.addresses.length]);
    await s.waitConnected(s.count);
    return s;
  }

  connect(address) {
    const rec = { address, connectedAt: 0, firstDataMs: undefined, closedMs: undefined, received: [], error: undefined, connected: false };
    const sock = net.connect({ port: this.port, host: '127.0.0.1', localAddress: address });
    rec.sock = sock;
    this.live.add(rec);
    sock.on('connect', () => {
      rec.connected = true;
      rec.connectedAt = performance.now();
      if (this.firstBytes?.length) sock.write(this.firstBytes);
    });
    sock.on('data', (d) => {
      if (rec.firstDataMs === undefined) rec.firstDataMs = performance.now() - rec.connectedAt;
      rec.received.push(d);
    });
    sock.on('error', (e) => {
      rec.error = e.code ?? e.message;
    });
    sock.on('close', () => {
      rec.closedMs = rec.connected ? performance.now() - rec.connectedAt : undefined;
      if (!rec.connected) this.failedConnects++;
      rec.sock = undefined;
      this.live.delete(rec);
      this.finished.push(rec);
      if (this.sustain && !this.stopped) setImmediate(() => !this.stopped && this.connect(address));
    });
  }

  get openCount() {
    let n = 0;
    for (const r of this.live) if (r.connected) n++;
    return n;
  }

  async waitConnected(n, timeoutMs = 30_000) {
    await eventually(() => `${n} stalled connections to be open (open ${this.openCount}, failed connects ${this.failedConnects})`,
      () => this.openCount >= n, timeoutMs, 50);
  }

  // Stops re-opening and destroys every connection still open; returns what finished
  // before (the server closed them).
  stop() {
    this.stopped = true;
    const closedByServer = [...this.finished];
    for (const r of [...this.live]) r.sock?.destroy();
    return closedByServer;
  }
}

// `count` clients (round-robin over `addresses`) that each send `head` (a request head with
// a Content-Length) and then `chunk` every `everyMs`, far below any sane rate. A client
// stops sending when answered; with `sustain` it then starts over, until stop(). Each
// answer is recorded: {address, ms (head sent to first byte of the answer), status, text}.
export class SlowBodies {
  constructor({ port, head, count, addresses = ATTACK_ADDRESSES, chunk = Buffer.from('0123456789'), everyMs = 250, sustain = true }) {
    Object.assign(this, { port, head, count, addresses, chunk, everyMs, sustain });
    this.answered = [];
    this.sending = 0; // clients whose head is sent and who are not answered yet
    this.stopped = false;
    this.socks = new Set();
  }

  static start(opts) {
    const s = new SlowBodies(opts);
    for (let i = 0; i < s.count; i++) s.client(s.addresses[i % s.addresses.length]);
    return s;
  }

  client(address) {
    const sock = net.connect({ port: this.port, host: '127.0.0.1', localAddress: address });
    this.socks.add(sock);
    const got = [];
    let t0;
    let firstMs;
    let timer;
    sock.on('connect', () => {
      sock.write(this.head);
      t0 = performance.now();
      this.sending++;
      timer = setInterval(() => sock.writable && sock.write(this.chunk), this.everyMs);
    });
    sock.on('data', (d) => {
      if (firstMs === undefined) {
        firstMs = performance.now() - t0;
        clearInterval(timer);
      }
      got.push(d);
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      this.socks.delete(sock);
      if (t0 !== undefined) this.sending--;
      if (this.stopped) return;
      const text = Buffer.concat(got).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      this.answered.push({ address, ms: firstMs, status, text, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      if (this.sustain) setImmediate(() => !this.stopped && this.client(address));
    });
  }

  stop() {
    this.stopped = true;
    for (const s of this.socks) s.destroy();
    return [...this.answered];
  }
}

export function receivedText(rec) {
  return Buffer.concat(rec.received).toString('latin1');
}

// --- the other clinic ----------------------------------------------------------------------
// Stores a small series for a well-behaved clinic; returns {series, study} to check later.
export async function seedClinic(server, token, { seed, patientId, slices = 3 }) {
  const series = await makeSeries({ slices, rows: 32, cols: 32, patientId, patientName: 'OTHER^CLINIC', seed });
  await stowOk(server, token, series.instances.map((i) => i.bytes));
  return series;
}

// The clinic's instances are all there and byte-identical on WADO-RS.
export async function assertClinicUntouched(server, token, series, context) {
  const found = await qido(server, token, `/studies/${series.study_uid}/series/${series.series_uid}/instances`);
  assert.deepEqual(sortedUids(found, TAGS.SOPInstanceUID), series.instances.map((i) => i.sop).sort(), `the other clinic's instances after ${context}`);
  for (const inst of series.instances) {
    const [got] = await wadoParts(server, token, `/studies/${series.study_uid}/series/${series.series_uid}/instances/${inst.sop}`);
    assert.ok(got?.equals(inst.bytes), `instance ${inst.sop} is byte-identical after ${context}`);
  }
}

// A server with two clinics: `mallory` (the attacker's own tenant, with a valid token)
// and `beta` (a well-behaved clinic with a stored series). Returns {server, tokens, clinic}.
export async function startClinics(name, { args = [], env = {}, seed = 7001 } = {}) {
  const { server, tokens } = await startWithTenants(name, ['mallory', 'beta'], { args, env });
  try {
    const clinic = await seedClinic(server, tokens.beta, { seed, patientId: `PIDBETA${seed}` });
    return { server, tokens, clinic };
  } catch (e) {
    await server.dispose();
    throw e;
  }
}

// What the well-behaved clinic does during an attack, each within a bound: /healthz (5 s),
// a QIDO with its own token that finds its series (5 s), and, with `stowSeed`, a STOW of
// one new instance (15 s). Returns {timings, stored} (stored: the new series, to be
// checked afterwards with assertClinicUntouched).
export async function otherClinicIsServed(server, token, clinic, during, { stowSeed } = {}) {
  const timings = {};
  const health = await within(5000, `/healthz during ${during}`, () => request(server.baseUrl, { path: '/healthz', timeoutMs: 60_000 }));
  assert.equal(health.value.status, 200, `/healthz during ${during}`);
  timings.healthzMs = Math.round(health.ms);
  const found = await within(5000, `the other clinic's QIDO during ${during}`, () => qido(server, token, `/studies/${clinic.study_uid}/series/${clinic.series_uid}/instances`));
  assert.equal(found.value.length, clinic.instances.length, `the other clinic's QIDO during ${during}`);
  timings.qidoMs = Math.round(found.ms);
  let stored;
  if (stowSeed !== undefined) {
    stored = await makeSeries({ slices: 1, rows: 32, cols: 32, patientId: `PIDBETA${stowSeed}`, patientName: 'OTHER^CLINIC', seed: stowSeed });
    const stow = await within(15_000, `the other clinic's STOW during ${during}`, () => stowOk(server, token, stored.instances.map((i) => i.bytes)));
    timings.stowMs = Math.round(stow.ms);
  }
  return { timings, stored };
}

// --- configuration -------------------------------------------------------------------------
export function writeConfig(toml) {
  const path = join(makeTempDir('config'), 'voxelgate.toml');
  writeFileSync(path, toml);
  return path;
}

// --- hostile DICOM -------------------------------------------------------------------------
function le16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
}
function le32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}
const tagBytes = (group, element) => Buffer.concat([le16(group), le16(element)]);
const ITEM = Buffer.concat([tagBytes(0xfffe, 0xe000), le32(0xffffffff)]);
const ITEM_END = Buffer.concat([tagBytes(0xfffe, 0xe00d), le32(0)]);
const SEQ_END = Buffer.concat([tagBytes(0xfffe, 0xe0dd), le32(0)]);

// `depth` sequences of undefined length, each in an item of the one before, as one
// element (group, element): Explicit VR ('SQ') or Implicit VR.
export function nestedSequences(depth, { group = 0x0008, element = 0x1140, explicit = true } = {}) {
  const open = explicit
    ? Buffer.concat([tagBytes(group, element), Buffer.from('SQ', 'latin1'), le16(0), le32(0xffffffff), ITEM])
    : Buffer.concat([tagBytes(group, element), le32(0xffffffff), ITEM]);
  const close = Buffer.concat([ITEM_END, SEQ_END]);
  const out = Buffer.alloc(depth * (open.length + close.length));
  for (let i = 0; i < depth; i++) open.copy(out, i * open.length);
  for (let i = 0; i < depth; i++) close.copy(out, depth * open.length + i * close.length);
  return out;
}

// An Explicit VR Little Endian Part 10 instance with a (0008,1140) sequence nested
// `depth` levels deep, inserted where the tag order puts it.
export function withDeepSequence(buf, depth) {
  const p = parsePart10(buf);
  if (p.transferSyntax !== TS.explicitLE) throw new Error('withDeepSequence needs Explicit VR Little Endian');
  const after = p.elements.find((e) => e.tag > '00081140');
  const at = after ? after.headerOffset : buf.length;
  return Buffer.concat([buf.subarray(0, at), nestedSequences(depth), buf.subarray(at)]);
}

// An Explicit VR Little Endian instance with `elements` private DS elements (group 0011,
// creator VGHOSTILE) of `values` one-character values each (at most 32,767: an Explicit VR
// DS holds 65,534 bytes). DCMTK 3.6.7's JSON writer is quadratic in a string element's
// value count.
export function withManyValuedDecimals(buf, { elements, values }) {
  const p = parsePart10(buf);
  if (p.transferSyntax !== TS.explicitLE) throw new Error('withManyValuedDecimals needs Explicit VR Little Endian');
  const text = (v) => Buffer.from(v.length % 2 ? `${v} ` : v, 'latin1');
  const element = (group, el, vr, value) => Buffer.concat([tagBytes(group, el), Buffer.from(vr, 'latin1'), le16(value.length), value]);
  const added = [element(0x0011, 0x0010, 'LO', text('VGHOSTILE'))];
  const many = text(Array.from({ length: values }, (_, i) => String(i % 10)).join('\\'));
  for (let e = 0; e < elements; ++e) added.push(element(0x0011, 0x1010 + e, 'DS', many));
  const after = p.elements.find((e) => e.tag > '00111100');
  const at = after ? after.headerOffset : buf.length;
  return Buffer.concat([buf.subarray(0, at), ...added, buf.subarray(at)]);
}

// An Explicit VR Little Endian instance whose Rows and Columns are sent with VR UL (4
// bytes) instead of US, with the given values.
export function withRowsColumnsUL(buf, rows, columns) {
  const p = parsePart10(buf);
  if (p.transferSyntax !== TS.explicitLE) throw new Error('withRowsColumnsUL needs Explicit VR Little Endian');
  const ul = (group, element, v) => Buffer.concat([tagBytes(group, element), Buffer.from('UL', 'latin1'), le16(4), le32(v)]);
  const chunks = [];
  let at = p.datasetOffset;
  chunks.push(buf.subarray(0, at));
  for (const el of p.elements) {
    if (el.tag !== '00280010' && el.tag !== '00280011') continue;
    chunks.push(buf.subarray(at, el.headerOffset), ul(0x0028, el.element, el.tag === '00280010' ? rows : columns));
    at = el.end;
  }
  chunks.push(buf.subarray(at));
  return Buffer.concat(chunks);
}

// Raw deflate of `bytes` ending on a full flush: byte-aligned, not final, and independent
// of what came before, so such pieces can be concatenated (and repeated).
const fullFlush = (bytes, level = 9) => zlib.deflateRawSync(bytes, { level, finishFlush: zlib.constants.Z_FULL_FLUSH });
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
let zeroChunk; // 64 MiB of zeros, deflated once per process (~64 KiB)
const ZERO_CHUNK_BYTES = 64 << 20;
function deflatedZeros(bytes) {
  if (bytes % ZERO_CHUNK_BYTES) throw new Error('zeros come in 64 MiB chunks');
  zeroChunk ??= fullFlush(Buffer.alloc(ZERO_CHUNK_BYTES));
  return Array(bytes / ZERO_CHUNK_BYTES).fill(zeroChunk);
}

// A Deflated Explicit VR Little Endian instance made from an Explicit VR Little Endian
// one: its data set without pixel data, then a (7FE0,0010) OB of `zeroBytes` zeros (a
// multiple of 64 MiB), deflated to about 1/1000 of that.
export function deflateBombInstance(buf, zeroBytes) {
  const p = parsePart10(buf);
  if (p.transferSyntax !== TS.explicitLE) throw new Error('deflateBombInstance needs Explicit VR Little Endian');
  const meta = withValues(buf, { '00020010': TS.deflatedLE });
  const q = parsePart10Meta(meta);
  const pixel = p.elements.find((e) => e.tag === '7FE00010');
  const head = buf.subarray(p.datasetOffset, pixel ? pixel.headerOffset : buf.length);
  const pixelHeader = Buffer.concat([tagBytes(0x7fe0, 0x0010), Buffer.from('OB', 'latin1'), le16(0), le32(zeroBytes)]);
  return Buffer.concat([meta.subarray(0, q), fullFlush(Buffer.concat([head, pixelHeader])), ...deflatedZeros(zeroBytes), FINAL_EMPTY_BLOCK]);
}

function parsePart10Meta(buf) {
  // The offset where the data set starts (after the file meta group).
  let off = 132;
  while (off + 8 <= buf.length && buf.readUInt16LE(off) === 0x0002) {
    const vr = buf.toString('latin1', off + 4, off + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    off += long ? 12 + buf.readUInt32LE(off + 8) : 8 + buf.readUInt16LE(off + 6);
  }
  return off;
}

// A C-FIND identifier (Implicit VR Little Endian): QueryRetrieveLevel STUDY, then
// `depth` nested sequences of undefined length.
export function deepIdentifier(depth) {
  const level = Buffer.concat([tagBytes(0x0008, 0x0052), le32(6), Buffer.from('STUDY ', 'latin1')]);
  return Buffer.concat([level, nestedSequences(depth, { explicit: false })]);
}

// A C-FIND identifier of `bytes` bytes or more: QueryRetrieveLevel STUDY, an empty
// StudyInstanceUID and one long PatientComments (0010,4000) value.
export function oversizedIdentifier(bytes) {
  const level = Buffer.concat([tagBytes(0x0008, 0x0052), le32(6), Buffer.from('STUDY ', 'latin1')]);
  const study = Buffer.concat([tagBytes(0x0020, 0x000d), le32(0)]);
  const n = bytes + (bytes % 2);
  const comments = Buffer.concat([tagBytes(0x0010, 0x4000), le32(n), Buffer.alloc(n, 0x41)]);
  return Buffer.concat([level, comments, study]);
}

// --- hostile image files -------------------------------------------------------------------
// A NRRD header with these sizes (a string, e.g. '4294967296 4294967296 4294967296'),
// uint8 raw, LPS, unit spacing, and `data` after it.
export function nrrd(sizes, data = Buffer.from([1, 2, 3, 4])) {
  const head = ['NRRD0004', 'type: uint8', 'dimension: 3', 'space: left-posterior-superior', `sizes: ${sizes}`,
    'space directions: (1,0,0) (0,1,0) (0,0,1)', 'kind: domain domain domain', 'endian: little', 'encoding: raw',
    'space origin: (0,0,0)', '', ''].join('\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), data]);
}

// A NIfTI-1 header (+4 extension bytes: vox_offset 352) for a 3D grid, unit spacing,
// qform set. datatype 2 uint8 / 4 int16 / 64 float64.
export function niftiHeader([nx, ny, nz], { datatype = 4, bitpix = 16 } = {}) {
  const h = Buffer.alloc(352);
  h.writeInt32LE(348, 0);
  [3, nx, ny, nz, 1, 1, 1, 1].forEach((v, i) => h.writeInt16LE(v, 40 + 2 * i));
  h.writeInt16LE(datatype, 70);
  h.writeInt16LE(bitpix, 72);
  [1, 1, 1, 1, 0, 0, 0, 0].forEach((v, i) => h.writeFloatLE(v, 76 + 4 * i)); // qfac, spacing
  h.writeFloatLE(352, 108); // vox_offset
  h.writeInt16LE(1, 252); // qform_code: scanner; quatern b, c, d stay 0: no rotation
  h.write('n+1\0', 344, 'latin1');
  return h;
}

// One gzip member holding `head` followed by `zeroBytes` zeros (a multiple of 64 MiB):
// a few MB for gigabytes. Valid: gunzip gives exactly head + zeros (CRC and size set).
export function gzipBomb(head, zeroBytes) {
  let crc = zlib.crc32(head);
  const mib = Buffer.alloc(1 << 20);
  for (let i = 0; i < zeroBytes / mib.length; i++) crc = zlib.crc32(mib, crc);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(crc >>> 0, 0);
  tail.writeUInt32LE((head.length + zeroBytes) % 2 ** 32, 4);
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  return Buffer.concat([header, fullFlush(head), ...deflatedZeros(zeroBytes), FINAL_EMPTY_BLOCK, tail]);
}

// multipart/form-data: fields {name: string} then files {name: {filename, data}}, the way
// 3D Slicer's MONAI Label module sends them. Returns {body, contentType}.
export function formData(fields = {}, files = {}) {
  const b = `hostile${Math.random().toString(36).slice(2)}`;
  const chunks = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`, 'latin1'));
  }
  for (const [name, { filename, data }] of Object.entries(files)) {
    chunks.push(Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`, 'latin1'), data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${b}--\r\n`, 'latin1'));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${b}` };
}
