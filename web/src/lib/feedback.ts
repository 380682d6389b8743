// Summaries of clinicians' feedback on one result: the verdicts, and how much a
// correction changed it (the server's Dice, volume difference and HD95 per segment).
import type { Feedback } from '../api/jobs';

export function correctionDice(list: Feedback[]): number | null {
  const values = list
    .filter((f) => f.verdict === 'correct' && Array.isArray(f.metrics))
    .flatMap((f) => f.metrics!.map((m) => m.dice))
    .filter((d) => typeof d === 'number' && Number.isFinite(d));
  if (values.length === 0) return null;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function verdictCounts(list: Feedback[]): { accept: number; reject: number; correct: number } {
  const out = { accept: 0, reject: 0, correct: 0 };
  for (const f of list) if (f.verdict in out) out[f.verdict]++;
  return out;
}

export function formatRate(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return `${(v * 100).toFixed(digits)} %`;
}

export function formatDice(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toFixed(3);
}
