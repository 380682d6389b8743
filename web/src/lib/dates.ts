// Calendar days (UTC, YYYY-MM-DD) as the monitoring API takes and returns them, and
// the ranges the dashboard offers.
const DAY_MS = 86_400_000;

export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function parseDay(day: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const d = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || isoDay(d) !== day ? null : d;
}

export function addDays(day: string, n: number): string {
  const d = parseDay(day);
  if (!d) throw new Error(`not a day: ${day}`);
  return isoDay(new Date(d.getTime() + n * DAY_MS));
}

// Every day from `from` to `to`, both included (at most `limit`, the most recent kept).
export function daysBetween(from: string, to: string, limit = 400): string[] {
  const a = parseDay(from);
  const b = parseDay(to);
  if (!a || !b || a > b) return [];
  const out: string[] = [];
  for (let t = b.getTime(); t >= a.getTime() && out.length < limit; t -= DAY_MS) out.push(isoDay(new Date(t)));
  return out.reverse();
}

// The last `days` days up to and including today.
export function lastDays(days: number, today: Date = new Date()): { from: string; to: string } {
  const to = isoDay(today);
  return { from: addDays(to, -(days - 1)), to };
}

// The server's month periods: YYYY-MM.
export function isoMonth(d: Date = new Date()): string {
  return d.toISOString().slice(0, 7);
}

export function formatDateTime(unixSeconds: number | null | undefined): string {
  if (!unixSeconds) return '';
  return new Date(unixSeconds * 1000).toLocaleString();
}

export function formatDate(unixSeconds: number | null | undefined): string {
  if (!unixSeconds) return '';
  return isoDay(new Date(unixSeconds * 1000));
}
