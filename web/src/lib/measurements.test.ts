import { describe, expect, it } from 'vitest';
import type { Measurement } from '../api/types';
import { formatMeasurementValue, measurementRows, measurementValue, unitText } from './measurements';

const VOLUME = { code: '118565006', scheme: 'SCT', meaning: 'Volume' };
const ML = { code: 'mL', scheme: 'UCUM', meaning: 'milliliter' };
const m = (over: Partial<Measurement> = {}): Measurement => ({
  tracking_id: 'Right lung', segment: 1, seg_sop_uid: '1.2.3', quantity: VOLUME, unit: ML, value: 2210.4, ...over,
});

describe('a measurement in words', () => {
  it('keeps the stored value without float noise', () => {
    expect(formatMeasurementValue(2210.4)).toBe('2210.4');
    expect(formatMeasurementValue(0.1 + 0.2)).toBe('0.3');
    expect(formatMeasurementValue(12)).toBe('12');
    expect(formatMeasurementValue(1.23456)).toBe('1.235');
    expect(formatMeasurementValue(0.000123456)).toBe('0.000123');
    expect(formatMeasurementValue(0)).toBe('0');
    expect(formatMeasurementValue(-3.5)).toBe('-3.5');
    expect(formatMeasurementValue(Number.NaN)).toBe('–');
  });

  it('writes the UCUM unit as people do', () => {
    expect(unitText(ML)).toBe('mL');
    expect(unitText({ code: 'mm', meaning: 'millimeter' })).toBe('mm');
    expect(unitText({ code: '1', meaning: 'no units' })).toBe('');
    expect(unitText({ code: '{count}', meaning: 'count' })).toBe('count');
    expect(unitText({ code: '{nodules}', meaning: '' })).toBe('nodules');
    expect(unitText(null)).toBe('');
  });

  it('gives the value with its unit', () => {
    expect(measurementValue(m())).toBe('2210.4 mL');
    expect(measurementValue(m({ value: 3, unit: { code: '1', scheme: 'UCUM', meaning: 'no units' } }))).toBe('3');
  });
});

describe('the report as rows', () => {
  it('lists each measurement by segment, quantity and value, in segment order', () => {
    const rows = measurementRows({
      measurements: [m({ tracking_id: 'Left lung', segment: 2, value: 1980.25 }), m(), m({ tracking_id: '', segment: null, value: 5 })],
    });
    expect(rows.map((r) => [r.segment, r.quantity, r.value])).toEqual([
      ['Right lung', 'Volume', '2210.4 mL'],
      ['Left lung', 'Volume', '1980.25 mL'],
      ['Segment', 'Volume', '5 mL'],
    ]);
    expect(rows[0].label).toBe(1);
    expect(rows[0].raw).toBe(2210.4);
  });

  it('is empty without a report', () => {
    expect(measurementRows(null)).toEqual([]);
    expect(measurementRows({ measurements: [] })).toEqual([]);
  });
});
