// Local acceptance in words: a run's state and verdict, each segment's mean Dice with its
// 95 % interval, the versions a clinic may test (those its deployment names, and the
// default), a version typed in checked, the vendor's per-clinic outcome, and whether a
// series is a reference case. The server stays the judge: these only say what it said.
import type { AcceptanceLabel, AcceptanceReport, AcceptanceRun, ReferenceCase, VendorRunOutcome } from '../api/acceptance';
import type { Deployment } from '../api/deployments';
import { formatDice } from './feedback';

export const STATE_WORDS: Record<string, string> = {
  queued: 'in progress',
  passed: 'passed',
  failed: 'not passed',
  error: 'could not run',
};

export const stateText = (state: string) => STATE_WORDS[state] ?? state;

// A run that has not ended: its list is polled until it does.
export const isActive = (r: Pick<AcceptanceRun, 'state'>) => r.state === 'queued';
export const anyActive = (runs: Pick<AcceptanceRun, 'state'>[]) => runs.some(isActive);

export function passedText(r: Pick<AcceptanceRun, 'passed' | 'state'>): string {
  if (isActive(r) || r.passed === null || r.passed === undefined) return '–';
  return r.passed ? 'yes' : 'no';
}

// The run's verdict in one line: "Passed", "Not passed: <first reason>", "Could not run:
// <error>", "In progress".
export function verdictText(r: Pick<AcceptanceRun, 'state' | 'passed' | 'report'>): string {
  if (isActive(r)) return 'In progress';
  const report = r.report ?? undefined;
  if (r.state === 'error') return `Could not run${report?.error ? `: ${report.error}` : ''}`;
  if (r.passed) return 'Passed';
  const reasons = report?.reasons ?? [];
  return reasons.length ? `Not passed: ${reasons.join('; ')}` : 'Not passed';
}

const interval = (ci: [number, number] | null | undefined) =>
  Array.isArray(ci) && ci.length === 2 && ci.every((x) => typeof x === 'number' && Number.isFinite(x)) ? ci : null;

// "Right lung: 0.705 (95 % CI 0.610–0.800)"; without an interval (one case) the mean alone.
export function labelDiceText(l: Pick<AcceptanceLabel, 'label' | 'name' | 'mean_dice' | 'dice_ci95'>): string {
  const name = l.name || `segment ${l.label}`;
  const ci = interval(l.dice_ci95);
  return `${name}: ${formatDice(l.mean_dice)}${ci && typeof l.mean_dice === 'number' ? ` (95 % CI ${formatDice(ci[0])}–${formatDice(ci[1])})` : ''}`;
}

// Each segment's mean Dice line, in label order.
export function diceLines(report: AcceptanceReport | null | undefined): { label: number; text: string; mean: number | null }[] {
  return [...(report?.labels ?? [])]
    .sort((a, b) => a.label - b.label)
    .map((l) => ({ label: l.label, text: labelDiceText(l), mean: typeof l.mean_dice === 'number' ? l.mean_dice : null }));
}

export interface VersionChoice {
  version: string;
  note: string; // "in use, default", "scheduled", ...
}

// The versions a clinic is likely to test: what its deployment names (in use, canary,
// scheduled, previous) and the default the algorithm list shows, each once, with why.
export function versionChoices(d: Pick<Deployment, 'pinned' | 'previous' | 'canary' | 'scheduled'> | null | undefined, defaults: string[] = []): VersionChoice[] {
  const notes = new Map<string, string[]>();
  const add = (version: string | null | undefined, note: string) => {
    if (!version) return;
    const list = notes.get(version) ?? [];
    if (!list.includes(note)) list.push(note);
    notes.set(version, list);
  };
  add(d?.scheduled?.version, 'scheduled');
  add(d?.canary?.version, 'canary');
  add(d?.pinned, 'in use');
  for (const v of defaults) add(v, 'default');
  add(d?.previous, 'previous');
  return [...notes.entries()].map(([version, list]) => ({ version, note: list.join(', ') }));
}

// What the form starts with: the version coming to the clinic, else the one it runs.
export function suggestedVersion(d: Pick<Deployment, 'pinned' | 'canary' | 'scheduled'> | null | undefined): string {
  return d?.scheduled?.version || d?.canary?.version || d?.pinned || '';
}

// A version typed or chosen, checked before it is sent (the server says whether it exists).
export function checkedVersion(input: string): string {
  const v = input.trim();
  if (!v) throw new Error('Name the version to test.');
  if (v.length > 64 || !/^[\w.+-]+$/.test(v)) throw new Error('A version is letters, digits, dots, dashes, pluses and underscores.');
  return v;
}

// The vendor's run at one clinic: started, or why not.
export function vendorOutcomeText(o: Pick<VendorRunOutcome, 'ok' | 'run' | 'error'>): string {
  if (o.ok) return o.run ? `run #${o.run.id} of ${o.run.version} started` : 'started';
  return o.error?.message || o.error?.code || 'refused';
}

// The clinics a vendor action targets: every clinic listed, or those selected.
export function targetClinics(all: boolean, selected: Iterable<string>, every: string[]): string[] {
  const list = all ? every : [...selected];
  if (list.length === 0) throw new Error('Select at least one clinic, or all clinics.');
  return list;
}

export interface ReferenceState {
  reference: ReferenceCase | null; // the series' reference case, if it has one
  isShown: boolean; // the version shown is that reference
}

export function referenceState(refs: ReferenceCase[], series: string, shownId: number | null | undefined): ReferenceState {
  const reference = refs.find((r) => r.series_uid === series) ?? null;
  return { reference, isShown: !!reference && shownId !== null && shownId !== undefined && reference.segmentation_id === shownId };
}

// Runs newest first (the server's order, kept when ids tie).
export const newestFirst = <T extends Pick<AcceptanceRun, 'id' | 'created_at'>>(runs: T[]): T[] =>
  [...runs].sort((a, b) => b.created_at - a.created_at || b.id - a.id);
