// A small DICOM Part 10 reader for tests: walks the file meta group and the top-level
// data set elements (explicit/implicit little endian, explicit big endian, deflate),
// skipping sequences and encapsulated pixel data by their items. Enough to read UIDs,
// to patch the UIDs of synthetic (explicit VR little endian) files, and to cut a file.
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflatedLE: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
};

export const TAG = {
  groupLength: '00020000',
  mediaStorageSopInstanceUid: '00020003',
  transferSyntaxUid: '00020010',
  sopClassUid: '00080016',
  sopInstanceUid: '00080018',
  studyInstanceUid: '0020000D',
  seriesInstanceUid: '0020000E',
  patientName: '00100010',
  patientId: '00100020',
  pixelData: '7FE00010',
};

const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;

export function isPart10(buf) {
  return buf.length >= 132 && buf.toString('latin1', 128, 132) === 'DICM';
}

function hex4(n) {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

class Reader {
  constructor(buf, { explicit, littleEndian }) {
    this.buf = buf;
    this.explicit = explicit;
    this.le = littleEndian;
  }
  u16(off) {
    this.need(off, 2);
    return this.le ? this.buf.readUInt16LE(off) : this.buf.readUInt16BE(off);
  }
  u32(off) {
    this.need(off, 4);
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }
  need(off, n) {
    if (off + n > this.buf.length) throw new Error(`DICOM truncated at offset ${off} (+${n} of ${this.buf.length})`);
  }

  // Reads one element header at `off`; returns the element without walking its value.
  header(off) {
    const group = this.u16(off);
    const element = this.u16(off + 2);
    const tag = hex4(group) + hex4(element);
    if (group === 0xfffe) {
      return { tag, group, element, vr: null, length: this.u32(off + 4), headerOffset: off, valueOffset: off + 8 };
    }
    if (!this.explicit) {
      return { tag, group, element, vr: null, length: this.u32(off + 4), headerOffset: off, valueOffset: off + 8 };
    }
    this.need(off + 4, 2);
    const vr = this.buf.toString('latin1', off + 4, off + 6);
    if (LONG_LENGTH_VRS.has(vr)) {
      return { tag, group, element, vr, length: this.u32(off + 8), headerOffset: off, valueOffset: off + 12 };
    }
    return { tag, group, element, vr, length: this.u16(off + 6), headerOffset: off, valueOffset: off + 8 };
  }

  // Returns the offset just past the element whose header is `el`.
  skipValue(el) {
    if (el.length !== UNDEFINED) {
      this.need(el.valueOffset, el.length);
      return el.valueOffset + el.length;
    }
    // Undefined length: a sequence or encapsulated pixel data, both made of items.
    let off = el.valueOffset;
    for (;;) {
      const item = this.header(off);
      if (item.tag === 'FFFEE0DD') return item.valueOffset;
      if (item.tag !== 'FFFEE000') throw new Error(`expected item at ${off}, found ${item.tag}`);
      if (item.length !== UNDEFINED) {
        this.need(item.valueOffset, item.length);
        off = item.valueOffset + item.length;
        continue;
      }
      off = item.valueOffset;
      for (;;) {
        const inner = this.header(off);
        if (inner.tag === 'FFFEE00D') {
          off = inner.valueOffset;
          break;
        }
        off = this.skipValue(inner);
      }
    }
  }

  // Lists elements from `off` to `end` (or the end of the buffer), stopping early when
  // `stop(el)` is true for an element (that element is not included).
  list(off, end = this.buf.length, stop = () => false) {
    const out = [];
    while (off < end) {
      const el = this.header(off);
      if (stop(el)) break;
      const next = this.skipValue(el);
      out.push({ ...el, end: next });
      off = next;
    }
    return out;
  }
}

// Parses a Part 10 file. Returns {file, meta, elements, dataset, transferSyntax, datasetOffset}.
// For a deflated file, `dataset` is the inflated data set and offsets refer to it.
export function parsePart10(buf) {
  if (!isPart10(buf)) throw new Error('not a DICOM Part 10 file (no DICM at offset 128)');
  const metaReader = new Reader(buf, { explicit: true, littleEndian: true });
  const meta = metaReader.list(132, buf.length, (el) => el.group !== 0x0002);
  const datasetOffset = meta.length ? meta[meta.length - 1].end : 132;
  const tsEl = meta.find((e) => e.tag === TAG.transferSyntaxUid);
  const transferSyntax = tsEl ? valueString(buf, tsEl) : TS.explicitLE;
  let dataset = buf;
  let start = datasetOffset;
  if (transferSyntax === TS.deflatedLE) {
    dataset = inflateRawSync(buf.subarray(datasetOffset));
    start = 0;
  }
  const reader = new Reader(dataset, {
    explicit: transferSyntax !== TS.implicitLE,
    littleEndian: transferSyntax !== TS.explicitBE,
  });
  const elements = reader.list(start);
  return { file: buf, meta, elements, dataset, transferSyntax, datasetOffset };
}

export function valueString(buf, el) {
  return buf
    .toString('latin1', el.valueOffset, el.valueOffset + el.length)
    .replace(/[\0 ]+$/, '');
}

function findIn(list, tag) {
  return list.find((e) => e.tag === tag);
}

// Top-level string value of `tag` (uppercase hex, e.g. '00080018'), or undefined.
export function getString(parsed, tag) {
  const inMeta = findIn(parsed.meta, tag);
  if (inMeta) return valueString(parsed.file, inMeta);
  const el = findIn(parsed.elements, tag);
  return el ? valueString(parsed.dataset, el) : undefined;
}

// Reads the study/series/SOP UIDs (and SOP class) of a Part 10 buffer.
export function uidsOf(buf) {
  const p = parsePart10(buf);
  return {
    sop: getString(p, TAG.sopInstanceUid),
    sopClass: getString(p, TAG.sopClassUid),
    study: getString(p, TAG.studyInstanceUid),
    series: getString(p, TAG.seriesInstanceUid),
    transferSyntax: p.transferSyntax,
  };
}

export function readDicomFile(path) {
  const bytes = readFileSync(path);
  return { path, bytes, ...uidsOf(bytes) };
}

function padUid(uid) {
  const b = Buffer.from(uid, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([0])]) : b;
}

// Returns a copy of an explicit VR little endian Part 10 buffer with the values of the
// given top-level (or file meta) elements replaced. `values` maps tag -> Buffer|string.
// File Meta Information Group Length is recomputed.
export function withValues(buf, values) {
  const p = parsePart10(buf);
  if (p.transferSyntax !== TS.explicitLE) throw new Error('withValues needs Explicit VR Little Endian');
  const all = [...p.meta, ...p.elements];
  const chunks = [buf.subarray(0, 132)];
  for (const el of all) {
    if (!(el.tag in values)) {
      chunks.push(buf.subarray(el.headerOffset, el.end));
      continue;
    }
    let v = values[el.tag];
    if (typeof v === 'string') v = el.vr === 'UI' ? padUid(v) : Buffer.from(v.length % 2 ? `${v} ` : v, 'latin1');
    const long = LONG_LENGTH_VRS.has(el.vr);
    const h = Buffer.alloc(long ? 12 : 8);
    buf.copy(h, 0, el.headerOffset, el.headerOffset + 6);
    if (long) h.writeUInt32LE(v.length, 8);
    else h.writeUInt16LE(v.length, 6);
    chunks.push(h, v);
  }
  const out = Buffer.concat(chunks);
  // Fix (0002,0000): the length of the meta group after that element.
  const q = parsePart10Meta(out);
  const gl = q.find((e) => e.tag === TAG.groupLength);
  if (gl) out.writeUInt32LE(q[q.length - 1].end - gl.end, gl.valueOffset);
  return out;
}

function parsePart10Meta(buf) {
  return new Reader(buf, { explicit: true, littleEndian: true }).list(132, buf.length, (el) => el.group !== 0x0002);
}

// Returns a copy with a new SOP Instance UID (data set and file meta), and optionally
// new study/series UIDs.
export function withUids(buf, { sop, study, series }) {
  const values = {};
  if (sop) {
    values[TAG.sopInstanceUid] = sop;
    values[TAG.mediaStorageSopInstanceUid] = sop;
  }
  if (study) values[TAG.studyInstanceUid] = study;
  if (series) values[TAG.seriesInstanceUid] = series;
  return withValues(buf, values);
}

// Value bytes of the top-level pixel data element (native pixel data only).
export function pixelDataOf(buf) {
  const p = parsePart10(buf);
  const el = p.elements.find((e) => e.tag === TAG.pixelData);
  if (!el) return undefined;
  return p.dataset.subarray(el.valueOffset, el.valueOffset + el.length);
}

// A fresh UID under the 2.25 root (a UUID as a decimal integer).
export function newUid() {
  const hex = crypto.randomUUID().replace(/-/g, '');
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

// A template for streaming many distinct instances cheaply: the SOP Instance UID (meta
// and data set) is set to a fixed-width UID ending in a counter; `instance(i)` returns
// the buffers (sharing the big unchanged parts) of instance i, and `sopUid(i)` its UID.
export function uidTemplate(buf, { study, series, root = newUid() } = {}) {
  const width = 9;
  const base = `${root}.1`;
  const uidFor = (i) => `${base}${String(i).padStart(width, '0')}`;
  if (uidFor(0).length > 64) throw new Error('UID root too long for a 64-character UID');
  const bytes = withUids(buf, { sop: uidFor(0), study, series });
  const p = parsePart10(bytes);
  const metaEl = p.meta.find((e) => e.tag === TAG.mediaStorageSopInstanceUid);
  const dsEl = p.elements.find((e) => e.tag === TAG.sopInstanceUid);
  const cuts = [metaEl, dsEl].map((e) => ({ start: e.valueOffset, end: e.valueOffset + e.length }));
  const pieces = [bytes.subarray(0, cuts[0].start), bytes.subarray(cuts[0].end, cuts[1].start), bytes.subarray(cuts[1].end)];
  return {
    size: bytes.length,
    sopUid: uidFor,
    bytesOf(i) {
      return Buffer.concat(this.instance(i));
    },
    instance(i) {
      const uid = padUid(uidFor(i));
      if (uid.length !== cuts[0].end - cuts[0].start) throw new Error('UID width changed');
      return [pieces[0], uid, pieces[1], uid, pieces[2]];
    },
  };
}
