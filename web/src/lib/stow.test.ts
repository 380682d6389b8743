import { describe, expect, it } from 'vitest';
import { hasDicmPrefix, isDicomFile } from './dicomSniff';
import { multipartBody, parseStowResponse, planBatches, secondsLeft } from './stow';

describe('planBatches', () => {
  it('respects the file and byte limits, and sends a big file alone', () => {
    const items = [5, 5, 5, 20, 1, 1, 1].map((size, i) => ({ size, i }));
    const b = planBatches(items, { maxFiles: 2, maxBytes: 12 });
    expect(b.map((x) => x.map((y) => y.i))).toEqual([[0, 1], [2], [3], [4, 5], [6]]);
  });
  it('makes no batch of nothing', () => {
    expect(planBatches([])).toEqual([]);
  });
});

describe('multipartBody', () => {
  it('frames each part with the boundary and application/dicom', async () => {
    const { body, contentType } = multipartBody([new Blob(['AB']), new Blob(['C'])], 'xyz');
    expect(contentType).toBe('multipart/related; type="application/dicom"; boundary=xyz');
    expect(await body.text()).toBe('--xyz\r\nContent-Type: application/dicom\r\n\r\nAB\r\n--xyz\r\nContent-Type: application/dicom\r\n\r\nC\r\n--xyz--\r\n');
  });
});

describe('parseStowResponse', () => {
  it('reads stored and failed instances with reasons', () => {
    const r = parseStowResponse({
      '00081199': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['1.2.3'] } }] },
      '00081198': {
        vr: 'SQ',
        Value: [
          { '00081155': { vr: 'UI', Value: ['1.2.4'] }, '00081197': { vr: 'US', Value: [0x0111] }, '00000902': { vr: 'LO', Value: ['conflict'] } },
          { '00081197': { vr: 'US', Value: [0xc000] } },
        ],
      },
    });
    expect(r.stored).toEqual(['1.2.3']);
    expect(r.failed[0]).toEqual({ sopInstanceUid: '1.2.4', reason: 0x0111, comment: 'conflict' });
    expect(r.failed[1]).toEqual({ sopInstanceUid: null, reason: 0xc000, comment: 'cannot understand' });
  });
  it('copes with an empty answer', () => {
    expect(parseStowResponse(undefined)).toEqual({ stored: [], failed: [] });
  });
});

describe('sniffing', () => {
  it('accepts DICM at offset 128 only', async () => {
    const ok = new Uint8Array(200);
    ok.set([0x44, 0x49, 0x43, 0x4d], 128);
    expect(hasDicmPrefix(ok)).toBe(true);
    expect(await isDicomFile(new Blob([ok]))).toBe(true);
    expect(await isDicomFile(new Blob(['hello']))).toBe(false);
    expect(hasDicmPrefix(new Uint8Array(200))).toBe(false);
  });
});

describe('secondsLeft', () => {
  it('extrapolates the rate', () => {
    expect(secondsLeft(0, 100, 1000)).toBeNull();
    expect(secondsLeft(50, 100, 10_000)).toBe(10);
  });
});
