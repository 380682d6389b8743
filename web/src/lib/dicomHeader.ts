// Reads a few UIDs from the start of a Part 10 file, so that the server's per-instance
// answers (by SOP Instance UID) can be shown against file names. Handles the little-endian
// transfer syntaxes (explicit and implicit VR); anything else answers what it found so far.

export interface HeaderUids {
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}

const IMPLICIT_LE = '1.2.840.10008.1.2';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATE = ['1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.8.1'];
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const WANTED: Record<number, keyof HeaderUids> = {
  0x00080018: 'sopInstanceUid',
  0x0020000d: 'studyInstanceUid',
  0x0020000e: 'seriesInstanceUid',
};
const LAST_WANTED = 0x0020000e;

class Truncated extends Error {}

class Reader {
  pos: number;
  constructor(readonly view: DataView, start: number) {
    this.pos = start;
  }
  need(n: number) {
    if (this.pos + n > this.view.byteLength) throw new Truncated();
  }
  u16() {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  str(n: number) {
    this.need(n);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.view.getUint8(this.pos + i));
    this.pos += n;
    return s;
  }
}

interface Element {
  tag: number;
  vr: string | null;
  length: number; // 0xffffffff: undefined
}

function readElement(r: Reader, explicit: boolean): Element {
  const group = r.u16();
  const element = r.u16();
  const tag = ((group << 16) | element) >>> 0;
  if (group === 0xfffe) return { tag, vr: null, length: r.u32() };
  if (!explicit) return { tag, vr: null, length: r.u32() };
  const vr = r.str(2);
  if (LONG_VRS.has(vr)) {
    r.u16();
    return { tag, vr, length: r.u32() };
  }
  return { tag, vr, length: r.u16() };
}

// Skips an undefined-length value: a sequence of items (each maybe undefined length) or
// encapsulated fragments, up to its delimiter.
function skipUndefined(r: Reader, explicit: boolean): void {
  for (;;) {
    const item = readElement(r, explicit);
    if (item.tag === 0xfffee0dd) return;
    if (item.tag !== 0xfffee000) throw new Error('malformed sequence');
    if (item.length !== 0xffffffff) {
      r.need(item.length);
      r.pos += item.length;
      continue;
    }
    for (;;) {
      const el = readElement(r, explicit);
      if (el.tag === 0xfffee00d) break;
      skipValue(r, el, explicit);
    }
  }
}

function skipValue(r: Reader, el: Element, explicit: boolean): void {
  if (el.length === 0xffffffff) skipUndefined(r, explicit);
  else {
    r.need(el.length);
    r.pos += el.length;
  }
}

const trimUid = (s: string) => s.replace(/[\0 ]+$/, '');

export function readHeaderUids(buffer: ArrayBuffer): HeaderUids {
  const out: HeaderUids = {};
  const view = new DataView(buffer);
  if (buffer.byteLength < 132) return out;
  const r = new Reader(view, 132);
  let transferSyntax = '';
  try {
    // File meta group: always explicit VR little endian.
    while (r.pos + 4 <= view.byteLength && view.getUint16(r.pos, true) === 0x0002) {
      const el = readElement(r, true);
      if (el.tag === 0x00020010) transferSyntax = trimUid(r.str(el.length));
      else skipValue(r, el, true);
    }
    if (transferSyntax === BIG_ENDIAN || DEFLATE.includes(transferSyntax)) return out;
    const explicit = transferSyntax !== IMPLICIT_LE;
    while (r.pos < view.byteLength) {
      const el = readElement(r, explicit);
      if (el.tag > LAST_WANTED) break;
      const key = WANTED[el.tag];
      if (key) out[key] = trimUid(r.str(el.length));
      else skipValue(r, el, explicit);
    }
  } catch {
    /* truncated or malformed: what was found is the answer */
  }
  return out;
}

export async function readFileUids(file: Blob): Promise<HeaderUids> {
  for (const size of [64 * 1024, 1024 * 1024]) {
    const uids = readHeaderUids(await file.slice(0, size).arrayBuffer());
    if (uids.sopInstanceUid && uids.studyInstanceUid) return uids;
    if (file.size <= size) return uids;
  }
  return {};
}
