// Labelmaps between the viewer's volume and the server's geometry grid.
//
// The server orders slices by position along the slice normal (ascending) and voxels
// column fastest, then row, then slice (docs/api-annotations.md). The viewer's volume
// has its own slice order (Cornerstone sorts images its own way), so slices are matched
// by their positions in patient space, never assumed; in-plane axes are compared too and
// a reversed axis is flipped.

export type Vec3 = [number, number, number];

export interface ServerGeometry {
  dims: Vec3;
  spacing: Vec3;
  origin: Vec3;
  direction: number[]; // row direction, column direction, slice normal
}

export interface ViewerGrid {
  dims: Vec3; // columns, rows, slices
  rowDirection: Vec3; // along a row: increasing column index
  columnDirection: Vec3; // down a column: increasing row index
  slicePositions: Vec3[]; // patient position of each slice's first voxel, in viewer order
}

export interface GridMapping {
  dims: Vec3;
  flipI: boolean;
  flipJ: boolean;
  // serverToViewerSlice[k] = viewer slice index of server slice k
  serverToViewerSlice: Int32Array;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

export class GridMismatch extends Error {}

export function mapGrids(viewer: ViewerGrid, server: ServerGeometry): GridMapping {
  const [nx, ny, nz] = server.dims;
  if (viewer.dims[0] !== nx || viewer.dims[1] !== ny || viewer.dims[2] !== nz) {
    throw new GridMismatch(`viewer volume ${viewer.dims.join('×')} differs from the server's ${server.dims.join('×')}`);
  }
  if (viewer.slicePositions.length !== nz) throw new GridMismatch('slice positions do not match the slice count');
  const row = server.direction.slice(0, 3);
  const col = server.direction.slice(3, 6);
  const normal = server.direction.slice(6, 9);
  const rowDot = dot(viewer.rowDirection, row);
  const colDot = dot(viewer.columnDirection, col);
  if (Math.abs(rowDot) < 0.99 || Math.abs(colDot) < 0.99) throw new GridMismatch('in-plane axes differ');
  const flipI = rowDot < 0;
  const flipJ = colDot < 0;
  // A flipped in-plane axis moves the slice's first voxel to the other end of the row/column.
  const shift = (p: Vec3): number => {
    let d = dot(p, normal);
    if (flipI) d += (nx - 1) * server.spacing[0] * dot(viewer.rowDirection, normal);
    if (flipJ) d += (ny - 1) * server.spacing[1] * dot(viewer.columnDirection, normal);
    return d;
  };
  const viewerDepth = viewer.slicePositions.map(shift);
  const base = dot(server.origin, normal);
  const tolerance = Math.max(0.5 * server.spacing[2], 1e-3);
  const serverToViewerSlice = new Int32Array(nz);
  const used = new Uint8Array(nz);
  for (let k = 0; k < nz; k++) {
    const want = base + k * server.spacing[2];
    let best = -1;
    let bestDist = Infinity;
    for (let v = 0; v < nz; v++) {
      const d = Math.abs(viewerDepth[v] - want);
      if (d < bestDist) {
        bestDist = d;
        best = v;
      }
    }
    if (bestDist > tolerance || used[best]) {
      throw new GridMismatch(`no viewer slice at ${want.toFixed(2)} mm along the normal (nearest ${bestDist.toFixed(2)} mm away)`);
    }
    used[best] = 1;
    serverToViewerSlice[k] = best;
  }
  return { dims: [nx, ny, nz], flipI, flipJ, serverToViewerSlice };
}

// viewer-order voxels -> server-order bytes
export function toServerOrder(viewerVoxels: ArrayLike<number>, m: GridMapping): Uint8Array {
  const [nx, ny, nz] = m.dims;
  const out = new Uint8Array(nx * ny * nz);
  const plane = nx * ny;
  for (let k = 0; k < nz; k++) {
    const src = m.serverToViewerSlice[k] * plane;
    const dst = k * plane;
    for (let j = 0; j < ny; j++) {
      const sj = m.flipJ ? ny - 1 - j : j;
      for (let i = 0; i < nx; i++) {
        const si = m.flipI ? nx - 1 - i : i;
        out[dst + j * nx + i] = viewerVoxels[src + sj * nx + si];
      }
    }
  }
  return out;
}

// server-order bytes -> viewer-order voxels (written into `into`)
export function fromServerOrder(serverVoxels: Uint8Array, m: GridMapping, into: { [i: number]: number; length: number }): void {
  const [nx, ny, nz] = m.dims;
  const plane = nx * ny;
  if (serverVoxels.length !== plane * nz) throw new GridMismatch(`labels hold ${serverVoxels.length} voxels, expected ${plane * nz}`);
  for (let k = 0; k < nz; k++) {
    const dst = m.serverToViewerSlice[k] * plane;
    const src = k * plane;
    for (let j = 0; j < ny; j++) {
      const dj = m.flipJ ? ny - 1 - j : j;
      for (let i = 0; i < nx; i++) {
        const di = m.flipI ? nx - 1 - i : i;
        into[dst + dj * nx + di] = serverVoxels[src + j * nx + i];
      }
    }
  }
}

// Labels that occur, ascending, without 0.
export function labelsPresent(voxels: ArrayLike<number>): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < voxels.length; i++) seen[voxels[i] & 0xff] = 1;
  const out: number[] = [];
  for (let l = 1; l < 256; l++) if (seen[l]) out.push(l);
  return out;
}

export async function gzip(bytes: Uint8Array): Promise<Blob> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Response(stream).blob();
}
