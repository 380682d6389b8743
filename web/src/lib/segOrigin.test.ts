import { describe, expect, it } from 'vitest';
import { isReadOnly, layerCount, originGroup, originLabel } from './segOrigin';

const origin = (format: 'SEG' | 'RTSTRUCT', manufacturer = '', software = '') => ({ format, manufacturer, software, series_description: '', sop_uid: '1.2.3' });

describe('originLabel', () => {
  it('names who made a version here', () => {
    expect(originLabel({ source: 'manual', author: 'rad1', algorithm: null, origin: null })).toBe('voxelgate · rad1');
    expect(originLabel({ source: 'algorithm', author: 'doc1', algorithm: { name: 'ct-lungs', version: '1.0.0' }, origin: null })).toBe('algorithm: ct-lungs 1.0.0');
  });

  it('names the tool an imported version came from, or only its format', () => {
    expect(originLabel({ source: 'imported', author: '', algorithm: null, origin: origin('SEG', 'QIICR', '0d533f1') })).toBe('imported: SEG from QIICR 0d533f1');
    expect(originLabel({ source: 'imported', author: '', algorithm: null, origin: origin('RTSTRUCT', 'Acme TPS') })).toBe('imported: RTSTRUCT from Acme TPS');
    expect(originLabel({ source: 'imported', author: '', algorithm: null, origin: origin('RTSTRUCT', ' ', '') })).toBe('imported RTSTRUCT');
    expect(originLabel({ source: 'imported', author: '', algorithm: null, origin: null })).toBe('imported SEG');
  });
});

describe('version facts', () => {
  it('groups and flags versions', () => {
    expect(originGroup({ source: 'imported', author: '', algorithm: null })).toBe('imported');
    expect(originGroup({ source: 'manual', author: 'x', algorithm: null })).toBe('voxelgate');
    expect(isReadOnly({ source: 'imported' })).toBe(true);
    expect(isReadOnly({ source: 'manual', read_only: false })).toBe(false);
    expect(isReadOnly(null)).toBe(false);
    expect(layerCount({})).toBe(1);
    expect(layerCount({ layers: 5 })).toBe(5);
  });
});
