import { describe, expect, it } from 'vitest';
import { flattenFrame, isEnhancedMultiframe, type DicomJson } from './multiframe';

const sq = (...items: DicomJson[]) => ({ vr: 'SQ', Value: items });
const ds = (v: number[] | string[], vr = 'DS') => ({ vr, Value: v });

const inst: DicomJson = {
  '00080018': { vr: 'UI', Value: ['1.2.3'] },
  '00280008': { vr: 'IS', Value: [2] },
  '52009229': sq({ '00289110': sq({ '00280030': ds([0.5, 0.5]), '00180050': ds([2]) }), '00209116': sq({ '00200037': ds([1, 0, 0, 0, 1, 0]) }) }),
  '52009230': sq(
    { '00209113': sq({ '00200032': ds([0, 0, 10]) }) },
    { '00209113': sq({ '00200032': ds([0, 0, 12]) }), '00289145': sq({ '00281052': ds([-1024]), '00281053': ds([1]) }) },
  ),
};

describe('flattenFrame', () => {
  it('lifts shared and per-frame groups to the top level', () => {
    expect(isEnhancedMultiframe(inst)).toBe(true);
    const f2 = flattenFrame(inst, 2);
    expect(f2['00200032'].Value).toEqual([0, 0, 12]);
    expect(f2['00200037'].Value).toEqual([1, 0, 0, 0, 1, 0]);
    expect(f2['00280030'].Value).toEqual([0.5, 0.5]);
    expect(f2['00281052'].Value).toEqual([-1024]);
    expect(f2['00280008']).toBeUndefined();
    expect(f2['52009230']).toBeUndefined();
    expect(flattenFrame(inst, 1)['00200032'].Value).toEqual([0, 0, 10]);
    expect(flattenFrame(inst, 1)['00281052']).toBeUndefined();
    expect(inst['00280008']).toBeDefined(); // the original is untouched
  });
  it('leaves a classic instance as it is', () => {
    expect(isEnhancedMultiframe({ '00080018': { vr: 'UI', Value: ['1'] } })).toBe(false);
  });
});
