import { describe, expect, it } from 'vitest';
import { middleOut } from './order';

describe('middleOut', () => {
  it('starts in the middle and covers every index once', () => {
    expect(middleOut(5)).toEqual([2, 3, 1, 4, 0]);
    expect(middleOut(4)).toEqual([2, 3, 1, 0]);
    expect(middleOut(1)).toEqual([0]);
    expect(middleOut(0)).toEqual([]);
    const big = middleOut(275);
    expect(new Set(big).size).toBe(275);
    expect(big[0]).toBe(137);
  });
});
