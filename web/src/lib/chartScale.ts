// Axis arithmetic for the dashboard's small charts: a round maximum and its ticks.

// The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (1 for nothing to show).
export function niceMax(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 1;
  const exp = Math.floor(Math.log10(value));
  const base = 10 ** exp;
  for (const step of [1, 2, 2.5, 5, 10]) if (step * base >= value - 1e-12) return step * base;
  return 10 * base;
}

// Evenly spaced ticks from 0 to niceMax(max), `count` intervals at most, whole numbers
// when the data are counts.
export function ticks(max: number, count = 4, integers = false): number[] {
  const top = niceMax(max);
  let n = count;
  if (integers && top < count) n = Math.max(1, Math.round(top));
  const step = top / n;
  const out: number[] = [];
  for (let i = 0; i <= n; i++) out.push(Number((i * step).toPrecision(12)));
  return integers ? [...new Set(out.map((t) => Math.round(t)))] : out;
}

// A histogram's bin edges from min to max in `bins` equal parts.
export function binEdges(min: number, max: number, bins: number): number[] {
  const out: number[] = [];
  const width = bins > 0 && max > min ? (max - min) / bins : 0;
  for (let i = 0; i <= bins; i++) out.push(min + i * width);
  return out;
}

// Short numbers for axis labels: 1200 -> "1.2k", 0.25 -> "0.25".
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}
