// A segmentation version's labels as GET /api/v1/segmentations/{id}/labels sends them: raw
// bytes in the geometry's grid and order, or a NIfTI-1 image (.nii, gzipped or not) on that
// grid. A version whose segments overlap (a SEG from another tool) comes as layers: NIfTI
// dim[0] = 4, dim[4] = layers, each layer a 3-D label map of some of the segments.
//
// The server writes NIfTI voxels in its geometry's order (column fastest, then row, then
// slice; dicom/nifti.h) and only its affine is RAS, so the voxels need no re-ordering here.
import type { Vec3 } from './labelmap';

export class LabelFormatError extends Error {}

const NIFTI1_HEADER = 348;
// datatype code -> bytes per voxel and reader; label maps are uint8, the rest is tolerated.
const TYPES: Record<number, { size: number; read: (v: DataView, at: number, le: boolean) => number }> = {
  2: { size: 1, read: (v, at) => v.getUint8(at) }, // DT_UINT8
  256: { size: 1, read: (v, at) => v.getInt8(at) }, // DT_INT8
  4: { size: 2, read: (v, at, le) => v.getInt16(at, le) }, // DT_INT16
  512: { size: 2, read: (v, at, le) => v.getUint16(at, le) }, // DT_UINT16
};

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// The layers (one or more label maps of dims[0]*dims[1]*dims[2] voxels, server order).
export async function decodeLabels(bytes: Uint8Array, dims: Vec3): Promise<Uint8Array[]> {
  let plain = bytes;
  // Raw labels may start with 0x1f 0x8b by chance (labels 31 and 139): those stay raw when
  // they do not inflate.
  if (isGzip(bytes)) plain = await gunzip(bytes).catch(() => bytes);
  return parseLabels(plain, dims);
}

export function parseLabels(bytes: Uint8Array, dims: Vec3): Uint8Array[] {
  const voxels = dims[0] * dims[1] * dims[2];
  const nifti = niftiEndianness(bytes);
  if (nifti !== null) return niftiLayers(bytes, dims, nifti);
  if (voxels === 0 || bytes.length === 0 || bytes.length % voxels !== 0) {
    throw new LabelFormatError(`labels hold ${bytes.length} bytes, expected a multiple of ${voxels} (or a NIfTI image)`);
  }
  const layers: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += voxels) layers.push(bytes.subarray(at, at + voxels));
  return layers;
}

// true: little-endian NIfTI-1, false: big-endian, null: not NIfTI-1.
function niftiEndianness(b: Uint8Array): boolean | null {
  if (b.length < NIFTI1_HEADER + 4) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = String.fromCharCode(b[344], b[345], b[346]);
  if (magic !== 'n+1') return null;
  if (v.getInt32(0, true) === NIFTI1_HEADER) return true;
  if (v.getInt32(0, false) === NIFTI1_HEADER) return false;
  return null;
}

function niftiLayers(b: Uint8Array, dims: Vec3, le: boolean): Uint8Array[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dim = Array.from({ length: 8 }, (_, i) => v.getInt16(40 + 2 * i, le));
  const rank = dim[0];
  if (rank < 1 || rank > 7) throw new LabelFormatError(`NIfTI dim[0] is ${rank}`);
  const extent = (i: number) => (i <= rank ? Math.max(1, dim[i]) : 1);
  if (extent(1) !== dims[0] || extent(2) !== dims[1] || extent(3) !== dims[2]) {
    throw new LabelFormatError(`labels are ${extent(1)}×${extent(2)}×${extent(3)}, the series ${dims.join('×')}`);
  }
  if (extent(5) * extent(6) * extent(7) !== 1) throw new LabelFormatError('labels have more than four dimensions');
  const layerCount = extent(4);
  const type = TYPES[v.getInt16(70, le)];
  if (!type) throw new LabelFormatError(`NIfTI datatype ${v.getInt16(70, le)} is not a label type`);
  const offset = Math.max(NIFTI1_HEADER + 4, Math.round(v.getFloat32(108, le)));
  const slope = v.getFloat32(112, le);
  const inter = v.getFloat32(116, le);
  const scaled = slope !== 0 && Number.isFinite(slope) && (slope !== 1 || inter !== 0);
  const voxels = dims[0] * dims[1] * dims[2];
  const need = offset + voxels * layerCount * type.size;
  if (b.length < need) throw new LabelFormatError(`NIfTI data is short: ${b.length} bytes, the header says ${need}`);
  const layers: Uint8Array[] = [];
  for (let l = 0; l < layerCount; l++) {
    const start = offset + l * voxels * type.size;
    if (type.size === 1 && !scaled && type === TYPES[2]) {
      layers.push(b.subarray(start, start + voxels));
      continue;
    }
    const out = new Uint8Array(voxels);
    for (let i = 0; i < voxels; i++) {
      const raw = type.read(v, start + i * type.size, le);
      const value = scaled ? raw * slope + inter : raw;
      if (!(value >= 0 && value <= 255 && Number.isInteger(value))) throw new LabelFormatError(`label value ${value} is not in 0..255`);
      out[i] = value;
    }
    layers.push(out);
  }
  return layers;
}

// One label map showing every layer's segments: layers are drawn in order, so where
// segments of different layers overlap the later layer's label is the one shown (and
// kept, should the flattened map be saved as a new version).
export function compositeLayers(layers: Uint8Array[]): Uint8Array {
  if (layers.length === 1) return layers[0];
  const out = new Uint8Array(layers[0].length);
  for (const layer of layers) {
    for (let i = 0; i < layer.length; i++) if (layer[i] !== 0) out[i] = layer[i];
  }
  return out;
}
