import { describe, expect, it } from 'vitest';
import { fromServerOrder, gzip, labelsPresent, mapGrids, toServerOrder, type ServerGeometry, type Vec3 } from './labelmap';

const server: ServerGeometry = {
  dims: [3, 2, 4],
  spacing: [1, 1, 2.5],
  origin: [-10, -20, -100],
  direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
};

function viewerSlices(order: number[]): Vec3[] {
  return order.map((k) => [-10, -20, -100 + 2.5 * k] as Vec3);
}

describe('mapGrids', () => {
  it('matches slices by position whatever the viewer order', () => {
    const order = [3, 1, 0, 2]; // viewer slice v holds server slice order[v]
    const m = mapGrids({ dims: [3, 2, 4], rowDirection: [1, 0, 0], columnDirection: [0, 1, 0], slicePositions: viewerSlices(order) }, server);
    expect(Array.from(m.serverToViewerSlice)).toEqual([2, 1, 3, 0]);
    expect(m.flipI).toBe(false);
  });

  it('round-trips voxels through the server order', () => {
    const order = [3, 2, 1, 0];
    const m = mapGrids({ dims: [3, 2, 4], rowDirection: [1, 0, 0], columnDirection: [0, 1, 0], slicePositions: viewerSlices(order) }, server);
    const viewer = new Uint8Array(24).map((_, i) => i % 7);
    const s = toServerOrder(viewer, m);
    // server slice 0 is viewer slice 3
    expect(Array.from(s.slice(0, 6))).toEqual(Array.from(viewer.slice(18, 24)));
    const back = new Uint8Array(24);
    fromServerOrder(s, m, back);
    expect(Array.from(back)).toEqual(Array.from(viewer));
  });

  it('flips a reversed row axis', () => {
    const positions = [0, 1, 2, 3].map((k) => [-8, -20, -100 + 2.5 * k] as Vec3); // first voxel at the row's other end
    const m = mapGrids({ dims: [3, 2, 4], rowDirection: [-1, 0, 0], columnDirection: [0, 1, 0], slicePositions: positions }, server);
    expect(m.flipI).toBe(true);
    const viewer = new Uint8Array(24);
    viewer[0] = 5; // viewer voxel (0,0,0) is server voxel (2,0,0)
    expect(toServerOrder(viewer, m)[2]).toBe(5);
  });

  it('refuses a grid whose slices are not the server slices', () => {
    const positions = [0, 1, 2, 3].map((k) => [-10, -20, -99 + 2.5 * k] as Vec3);
    positions[2][2] += 5;
    expect(() => mapGrids({ dims: [3, 2, 4], rowDirection: [1, 0, 0], columnDirection: [0, 1, 0], slicePositions: positions }, server)).toThrow();
    expect(() => mapGrids({ dims: [3, 3, 4], rowDirection: [1, 0, 0], columnDirection: [0, 1, 0], slicePositions: positions }, server)).toThrow(/differs/);
  });

  it('works along an oblique normal', () => {
    const n: Vec3 = [0, Math.SQRT1_2, Math.SQRT1_2];
    const g: ServerGeometry = { dims: [2, 2, 3], spacing: [1, 1, 2], origin: [0, 0, 0], direction: [1, 0, 0, 0, Math.SQRT1_2, -Math.SQRT1_2, ...n] };
    const pos = [2, 0, 1].map((k) => [0, 2 * k * n[1], 2 * k * n[2]] as Vec3);
    const m = mapGrids({ dims: [2, 2, 3], rowDirection: [1, 0, 0], columnDirection: [0, Math.SQRT1_2, -Math.SQRT1_2], slicePositions: pos }, g);
    expect(Array.from(m.serverToViewerSlice)).toEqual([1, 2, 0]);
  });
});

describe('labels and gzip', () => {
  it('lists the labels present', () => {
    expect(labelsPresent(new Uint8Array([0, 3, 0, 1, 3]))).toEqual([1, 3]);
  });
  it('gzips', async () => {
    const data = new Uint8Array(1000).map((_, i) => (i * 13) & 0xff);
    const z = new Uint8Array(await (await gzip(data)).arrayBuffer());
    expect(z[0]).toBe(0x1f);
    expect(z[1]).toBe(0x8b);
  });
});
