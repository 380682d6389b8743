// Where a segmentation version came from, in words: made in voxelgate (by whom), by an
// algorithm (which, which version), or imported from another tool's SEG or RTSTRUCT.
import type { SegmentationVersion } from '../api/types';

export type OriginGroup = 'voxelgate' | 'algorithm' | 'imported';

// The order the version list shows its groups in.
export const ORIGIN_GROUPS: OriginGroup[] = ['voxelgate', 'algorithm', 'imported'];

type Versioned = Pick<SegmentationVersion, 'source' | 'author' | 'algorithm' | 'origin'>;

export function originGroup(v: Versioned): OriginGroup {
  if (v.source === 'algorithm') return 'algorithm';
  if (v.source === 'imported') return 'imported';
  return 'voxelgate';
}

// "voxelgate · rad1", "algorithm: ct-lungs 1.0.0", "imported: SEG from QIICR 0d533f1", or
// "imported SEG" when the file named neither its manufacturer nor its software.
export function originLabel(v: Versioned): string {
  switch (originGroup(v)) {
    case 'algorithm':
      return `algorithm: ${[v.algorithm?.name ?? 'unknown', v.algorithm?.version ?? ''].join(' ').trim()}`;
    case 'imported': {
      const format = v.origin?.format ?? 'SEG';
      const maker = [v.origin?.manufacturer, v.origin?.software].map((s) => s?.trim() ?? '').filter(Boolean).join(' ');
      return maker ? `imported: ${format} from ${maker}` : `imported ${format}`;
    }
    default:
      return v.author ? `voxelgate · ${v.author}` : 'voxelgate';
  }
}

// Imported versions are kept as they came: editing one starts a new version from it.
export const isReadOnly = (v: Pick<SegmentationVersion, 'source' | 'read_only'> | null): boolean =>
  !!v && (v.read_only === true || v.source === 'imported');

export const layerCount = (v: Pick<SegmentationVersion, 'layers'> | null): number => Math.max(1, v?.layers ?? 1);
