import { describe, expect, it } from 'vitest';
import { compositeLayers, decodeLabels, LabelFormatError, parseLabels } from './labelLayers';
import { gzip, type Vec3 } from './labelmap';

const dims: Vec3 = [3, 2, 2]; // 12 voxels

// A NIfTI-1 single file (.nii) with the header fields the reader looks at.
function nifti(shape: number[], data: ArrayLike<number>, { datatype = 2, bitpix = 8, le = true, slope = 0, inter = 0 } = {}): Uint8Array {
  const size = bitpix / 8;
  const out = new Uint8Array(352 + data.length * size);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, le);
  v.setInt16(40, shape.length, le);
  shape.forEach((d, i) => v.setInt16(42 + 2 * i, d, le));
  v.setInt16(70, datatype, le);
  v.setInt16(72, bitpix, le);
  v.setFloat32(108, 352, le);
  v.setFloat32(112, slope, le);
  v.setFloat32(116, inter, le);
  out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  for (let i = 0; i < data.length; i++) {
    if (size === 1) out[352 + i] = data[i];
    else v.setInt16(352 + 2 * i, data[i], le);
  }
  return out;
}

const seq = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('parseLabels', () => {
  it('reads raw labels as one layer', () => {
    const raw = new Uint8Array(seq(12, (i) => i % 3));
    const layers = parseLabels(raw, dims);
    expect(layers.length).toBe(1);
    expect(Array.from(layers[0])).toEqual(Array.from(raw));
  });

  it('reads a 3-D NIfTI as one layer', () => {
    const values = seq(12, (i) => (i === 4 ? 7 : 0));
    const layers = parseLabels(nifti([3, 2, 2], values), dims);
    expect(layers.length).toBe(1);
    expect(Array.from(layers[0])).toEqual(values);
  });

  it('reads a 4-D NIfTI as one label map per dim[4]', () => {
    const values = [...seq(12, (i) => (i < 6 ? 1 : 0)), ...seq(12, (i) => (i >= 4 ? 2 : 0)), ...seq(12, (i) => (i === 0 ? 3 : 0))];
    const layers = parseLabels(nifti([3, 2, 2, 3], values), dims);
    expect(layers.length).toBe(3);
    expect(Array.from(layers[1])).toEqual(values.slice(12, 24));
    expect(Array.from(layers[2])).toEqual(values.slice(24));
  });

  it('reads big-endian 16-bit labels', () => {
    const values = seq(24, (i) => i % 5);
    const layers = parseLabels(nifti([3, 2, 2, 2], values, { datatype: 4, bitpix: 16, le: false }), dims);
    expect(Array.from(layers[1])).toEqual(values.slice(12));
  });

  it('refuses another grid, short data and values that are no labels', () => {
    expect(() => parseLabels(nifti([3, 3, 2], seq(18, () => 0)), dims)).toThrow(/3×3×2/);
    expect(() => parseLabels(nifti([3, 2, 2, 2], seq(12, () => 0)), dims)).toThrow(LabelFormatError);
    expect(() => parseLabels(nifti([3, 2, 2], seq(12, () => 300), { datatype: 4, bitpix: 16 }), dims)).toThrow(/300/);
    expect(() => parseLabels(new Uint8Array(13), dims)).toThrow(/multiple of 12/);
  });
});

describe('decodeLabels', () => {
  it('inflates gzip first', async () => {
    const values = seq(24, (i) => i % 4);
    const z = new Uint8Array(await (await gzip(nifti([3, 2, 2, 2], values))).arrayBuffer());
    const layers = await decodeLabels(z, dims);
    expect(layers.map((l) => Array.from(l))).toEqual([values.slice(0, 12), values.slice(12)]);
  });

  it('keeps raw labels that merely start like gzip', async () => {
    const raw = new Uint8Array([0x1f, 0x8b, ...seq(10, () => 1)]);
    expect(Array.from((await decodeLabels(raw, dims))[0])).toEqual(Array.from(raw));
  });
});

describe('compositeLayers', () => {
  it('draws later layers over earlier ones and keeps the rest', () => {
    const a = new Uint8Array([1, 1, 0, 0]);
    const b = new Uint8Array([0, 2, 2, 0]);
    const c = new Uint8Array([0, 0, 3, 0]);
    expect(Array.from(compositeLayers([a, b, c]))).toEqual([1, 2, 3, 0]);
    expect(compositeLayers([a])).toBe(a);
  });
});
