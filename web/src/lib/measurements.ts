// A result's stored measurement report (the TID 1500 SR, GET /api/v1/segmentations/{id}/report)
// in words: per measurement the segment (its tracking identifier), the quantity, and the
// value with its UCUM unit ("2210.4 mL").
import type { CodedTerm, Measurement, MeasurementReport } from '../api/types';

// The value as stored, without float noise: up to three decimals, trailing zeros dropped;
// very small values keep three significant digits.
export function formatMeasurementValue(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (v !== 0 && Math.abs(v) < 0.001) return Number(v.toPrecision(3)).toString();
  return Number(v.toFixed(3)).toString();
}

// The unit as people write it: the UCUM code ("mL", "mm", "cm2"); none for UCUM's "1"
// (a plain number); an annotation ("{count}") by its meaning.
export function unitText(unit: Pick<CodedTerm, 'code' | 'meaning'> | null | undefined): string {
  const code = unit?.code?.trim() ?? '';
  if (!code || code === '1') return '';
  if (/^\{.*\}$/.test(code)) return unit?.meaning?.trim() || code.slice(1, -1);
  return code;
}

export function measurementValue(m: Pick<Measurement, 'value' | 'unit'>): string {
  const unit = unitText(m.unit);
  return unit ? `${formatMeasurementValue(m.value)} ${unit}` : formatMeasurementValue(m.value);
}

export interface MeasurementRow {
  segment: string; // the tracking identifier (the segment's name)
  label: number | null;
  quantity: string; // the quantity's meaning ("Volume")
  value: string; // "2210.4 mL"
  raw: number;
}

// One row per measurement, in segment order (then by name and quantity).
export function measurementRows(report: Pick<MeasurementReport, 'measurements'> | null | undefined): MeasurementRow[] {
  const list = report?.measurements ?? [];
  return list
    .map((m) => ({
      segment: m.tracking_id || (m.segment !== null && m.segment !== undefined ? `Segment ${m.segment}` : 'Segment'),
      label: m.segment ?? null,
      quantity: m.quantity?.meaning || m.quantity?.code || '',
      value: measurementValue(m),
      raw: m.value,
    }))
    .sort((a, b) => (a.label ?? Infinity) - (b.label ?? Infinity) || a.segment.localeCompare(b.segment) || a.quantity.localeCompare(b.quantity));
}
