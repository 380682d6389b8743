// The viewer volume's grid as lib/labelmap.ts wants it: dimensions, in-plane directions and
// the patient position of each slice, in the volume's own slice order.
import type { Vec3, ViewerGrid } from '../lib/labelmap';
import { core } from './cs';

const { metaData } = core;

export function viewerGrid(vol: core.Types.IImageVolume): ViewerGrid {
  const d = vol.direction;
  const normal: Vec3 = [d[6], d[7], d[8]];
  const slicePositions: Vec3[] = [];
  for (let k = 0; k < vol.dimensions[2]; k++) {
    // The real image positions where there are images; the volume's own layout otherwise.
    const plane = vol.imageIds?.[k] ? (metaData.get('imagePlaneModule', vol.imageIds[k]) as { imagePositionPatient?: number[] } | undefined) : undefined;
    const p = plane?.imagePositionPatient;
    slicePositions.push(
      p && p.length === 3 ? [p[0], p[1], p[2]] : [0, 1, 2].map((a) => vol.origin[a] + k * vol.spacing[2] * normal[a]) as Vec3,
    );
  }
  return {
    dims: [vol.dimensions[0], vol.dimensions[1], vol.dimensions[2]],
    rowDirection: [d[0], d[1], d[2]],
    columnDirection: [d[3], d[4], d[5]],
    slicePositions,
  };
}
