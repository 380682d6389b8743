import { describe, expect, it } from 'vitest';
import { binEdges, niceMax, shortNumber, ticks } from './chartScale';
import { addDays, daysBetween, isoMonth, lastDays, parseDay } from './dates';

describe('days', () => {
  it('parses only real calendar days', () => {
    expect(parseDay('2026-02-28')).not.toBeNull();
    expect(parseDay('2026-02-30')).toBeNull();
    expect(parseDay('26-1-1')).toBeNull();
  });

  it('lists every day of a range, across a month end', () => {
    expect(daysBetween('2026-01-30', '2026-02-02')).toEqual(['2026-01-30', '2026-01-31', '2026-02-01', '2026-02-02']);
    expect(daysBetween('2026-02-02', '2026-01-30')).toEqual([]);
    expect(daysBetween('2026-01-01', '2026-12-31', 3)).toEqual(['2026-12-29', '2026-12-30', '2026-12-31']);
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
  });

  it('makes the dashboard ranges and the usage month', () => {
    const today = new Date('2026-03-05T15:00:00Z');
    expect(lastDays(7, today)).toEqual({ from: '2026-02-27', to: '2026-03-05' });
    expect(lastDays(1, today)).toEqual({ from: '2026-03-05', to: '2026-03-05' });
    expect(isoMonth(today)).toBe('2026-03');
  });
});

describe('chart scales', () => {
  it('rounds the maximum up to a readable value', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(0.8)).toBe(1);
    expect(niceMax(0.21)).toBe(0.25);
    expect(niceMax(1200)).toBe(2000);
  });

  it('makes whole-number ticks for counts', () => {
    expect(ticks(7, 4)).toEqual([0, 2.5, 5, 7.5, 10]);
    expect(ticks(2, 4, true)).toEqual([0, 1, 2]);
    expect(ticks(1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('splits a histogram range and shortens labels', () => {
    expect(binEdges(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(shortNumber(1234)).toBe('1.23k');
    expect(shortNumber(0.25)).toBe('0.25');
  });
});
