import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHeaderUids } from './dicomHeader';

function ab(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

// Builds an explicit or implicit VR LE Part 10 file by hand, with a sequence of undefined
// length before the UIDs.
function build(explicit: boolean): Buffer {
  const parts: Buffer[] = [Buffer.alloc(128), Buffer.from('DICM')];
  const el = (g: number, e: number, vr: string, value: Buffer, forceExplicit = false) => {
    const h = Buffer.alloc(12);
    h.writeUInt16LE(g, 0);
    h.writeUInt16LE(e, 2);
    if (explicit || forceExplicit) {
      h.write(vr, 4, 'latin1');
      if (['OB', 'SQ', 'UN'].includes(vr)) {
        h.writeUInt32LE(value.length === 0 ? 0xffffffff : value.length, 8);
        return Buffer.concat([h, value]);
      }
      h.writeUInt16LE(value.length, 6);
      return Buffer.concat([h.subarray(0, 8), value]);
    }
    h.writeUInt32LE(value.length, 4);
    return Buffer.concat([h.subarray(0, 8), value]);
  };
  const uid = (s: string) => Buffer.from(s.length % 2 ? s + '\0' : s, 'latin1');
  parts.push(el(2, 0x10, 'UI', uid(explicit ? '1.2.840.10008.1.2.1' : '1.2.840.10008.1.2'), true));
  parts.push(el(8, 0x16, 'UI', uid('1.2.840.10008.5.1.4.1.1.2')));
  parts.push(el(8, 0x18, 'UI', uid('1.2.3.4.5')));
  // (0008,1140) SQ, undefined length, one undefined-length item holding one element
  const seqHead = Buffer.alloc(explicit ? 12 : 8);
  seqHead.writeUInt16LE(8, 0);
  seqHead.writeUInt16LE(0x1140, 2);
  if (explicit) {
    seqHead.write('SQ', 4, 'latin1');
    seqHead.writeUInt32LE(0xffffffff, 8);
  } else seqHead.writeUInt32LE(0xffffffff, 4);
  const item = Buffer.alloc(8);
  item.writeUInt16LE(0xfffe, 0);
  item.writeUInt16LE(0xe000, 2);
  item.writeUInt32LE(0xffffffff, 4);
  const delim = (e: number) => {
    const d = Buffer.alloc(8);
    d.writeUInt16LE(0xfffe, 0);
    d.writeUInt16LE(e, 2);
    return d;
  };
  parts.push(seqHead, item, el(8, 0x1155, 'UI', uid('9.9.9')), delim(0xe00d), delim(0xe0dd));
  parts.push(el(0x20, 0x0d, 'UI', uid('1.2.3')));
  parts.push(el(0x20, 0x0e, 'UI', uid('1.2.3.9')));
  return Buffer.concat(parts);
}

describe('readHeaderUids', () => {
  it('reads explicit VR files past an undefined-length sequence', () => {
    expect(readHeaderUids(ab(build(true)))).toEqual({ sopInstanceUid: '1.2.3.4.5', studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.9' });
  });
  it('reads implicit VR files', () => {
    expect(readHeaderUids(ab(build(false)))).toEqual({ sopInstanceUid: '1.2.3.4.5', studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.9' });
  });
  it('answers what it found in a truncated file', () => {
    const b = build(true);
    expect(readHeaderUids(ab(b.subarray(0, 220)))).toEqual({ sopInstanceUid: '1.2.3.4.5' });
    expect(readHeaderUids(new ArrayBuffer(10))).toEqual({});
  });
  it('reads what make_series.py writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-web-hdr-'));
    try {
      const out = execFileSync('/usr/bin/python3', [join(__dirname, '../../../tests/tools/make_series.py'), '--out', dir, '--slices', '1', '--rows', '8', '--cols', '8']);
      const j = JSON.parse(out.toString());
      const file = readdirSync(dir)[0];
      const uids = readHeaderUids(ab(readFileSync(join(dir, file))));
      expect(uids).toEqual({ sopInstanceUid: j.sop_instance_uids[0], studyInstanceUid: j.study_uid, seriesInstanceUid: j.series_uid });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
