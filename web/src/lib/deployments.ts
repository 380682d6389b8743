// The algorithm's versions in the clinics in words: a deployment summarised, an event
// described, a scheduled promotion announced, each clinic's outcome of a vendor action,
// and the action's request checked and built from the form (a local date and time becomes
// Unix seconds). The server stays the judge: these only say what it said, or refuse what
// it would refuse anyway before sending it.
import type { ActionBody, ApiErrorBody, ClinicOutcome, CorrectionAgreement, Deployment, DeploymentEvent, RegisteredVersion, VendorAction } from '../api/deployments';
import { formatDateTime } from './dates';

// How a Unix time is shown (the page's local date and time; tests pass their own).
export type When = (unixSeconds: number) => string;

const YEAR_S = 366 * 86_400; // the server's limit for a scheduled promotion

export const EVENT_WORDS: Record<string, string> = {
  pinned: 'pinned',
  promoted: 'promoted',
  canary_started: 'canary started',
  canary_ended: 'canary ended',
  scheduled: 'promotion scheduled',
  schedule_cancelled: 'scheduled promotion cancelled',
  rolled_back: 'rolled back',
  shadow_started: 'shadow run started',
  shadow_ended: 'shadow run ended',
};

export const canaryText = (c: { version: string; percent: number }) => `${c.version} on ${c.percent} % of series`;

export function scheduledText(s: { version: string; percent: number; at: number }, when: When = formatDateTime): string {
  return `${s.version}${s.percent < 100 ? ` as a canary on ${s.percent} %` : ''} on ${when(s.at)}`;
}

// One line for a deployment: what runs, and what is under way.
export function deploymentSummary(d: Deployment, when: When = formatDateTime): string {
  const parts = [d.pinned ? `runs ${d.pinned}` : 'runs no version yet'];
  if (d.canary) parts.push(`canary ${canaryText(d.canary)}`);
  if (d.shadow) parts.push(`shadow ${d.shadow}`);
  if (d.scheduled) parts.push(`scheduled ${scheduledText(d.scheduled, when)}`);
  return parts.join('; ');
}

// What the clinic is told before a scheduled promotion takes effect (null: none scheduled).
export function scheduledNotice(d: Deployment, when: When = formatDateTime): string | null {
  const s = d.scheduled;
  if (!s) return null;
  if (s.percent >= 100) return `Version ${s.version} replaces ${d.pinned} on ${when(s.at)}`;
  return `Version ${s.version} starts on ${s.percent} % of series on ${when(s.at)}; ${d.pinned} stays in use for the others`;
}

// "1.0 → 1.1", or the one version an event names.
export function versionChange(e: Pick<DeploymentEvent, 'from' | 'to'>): string {
  if (e.from && e.to && e.from !== e.to) return `${e.from} → ${e.to}`;
  return e.to || e.from || '';
}

const WHY: Record<string, string> = {
  replaced: 'replaced by a new schedule',
  promoted: 'the version was promoted',
};

// An event's action in words, with its share, its due date or why it happened.
export function eventText(e: Pick<DeploymentEvent, 'action' | 'detail'>, when: When = formatDateTime): string {
  const d = e.detail ?? {};
  const words = EVENT_WORDS[e.action] ?? e.action.replace(/_/g, ' ');
  const notes: string[] = [];
  if (e.action === 'canary_started' && d.percent) notes.push(`on ${d.percent} % of series`);
  if (e.action === 'scheduled') {
    if (d.at) notes.push(`for ${when(d.at)}`);
    if (d.percent && d.percent < 100) notes.push(`as a canary on ${d.percent} % of series`);
  }
  if (d.scheduled_at) notes.push(`as scheduled for ${when(d.scheduled_at)}`);
  const text = notes.length ? `${words} ${notes.join(', ')}` : words;
  return d.why ? `${text} (${WHY[d.why] ?? d.why})` : text;
}

export function eventReason(e: Pick<DeploymentEvent, 'detail'>): string {
  return e.detail?.reason ?? '';
}

// A refusal's error object: the server sends {code, message}; an answer that nests it once
// more ({error: {code, message}}) is read too.
function refusalOf(o: ClinicOutcome): ApiErrorBody | undefined {
  const e: unknown = o.error;
  if (e && typeof e === 'object' && 'error' in e) return (e as { error: ApiErrorBody }).error;
  return o.error;
}

// A clinic's outcome of a vendor action: what it runs now, or why it was refused.
export function outcomeText(o: ClinicOutcome, when: When = formatDateTime): string {
  if (o.ok) return o.deployment ? `done: ${deploymentSummary(o.deployment, when)}` : 'done';
  const inner = refusalOf(o);
  return inner?.message || inner?.code || 'refused';
}

// The refusal's code ("conflict", "acceptance_required"), '' when the clinic changed.
export function outcomeCode(o: ClinicOutcome): string {
  if (o.ok) return '';
  return refusalOf(o)?.code ?? '';
}

// What to do about a refusal, where the page can help ('' : nothing to add).
export function outcomeHint(o: ClinicOutcome): string {
  return outcomeCode(o) === 'acceptance_required'
    ? 'The clinic requires a passed acceptance run of the version first: start one under Acceptance below.'
    : '';
}

// ---- the action form ----

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

// The value of an <input type="datetime-local"> ("2026-03-01T09:30", the browser's own
// time zone) as Unix seconds; null when it is no real date and time.
export function localInputToUnix(value: string): number | null {
  const m = LOCAL.exec(value.trim());
  if (!m) return null;
  const [y, mo, d, hh, mm, ss] = m.slice(1).map((x) => Number(x ?? 0));
  if (mo < 1 || mo > 12 || hh > 23 || mm > 59 || ss > 59) return null;
  const date = new Date(y, mo - 1, d, hh, mm, ss);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null; // 31 February
  return Math.floor(date.getTime() / 1000);
}

// Unix seconds as an <input type="datetime-local"> value, to the minute, local time.
export function unixToLocalInput(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export interface ActionForm {
  all: boolean; // every clinic (the server's "all")
  clinics: string[];
  version?: string;
  canaryPercent?: string; // '' : every run
  effective?: string; // datetime-local value; '' : now
  reason?: string;
}

export const needsVersion = (action: VendorAction) => action === 'promote' || action === 'shadow';

// The request body of `action` from the form, or an Error saying what to correct.
export function actionBody(action: VendorAction, f: ActionForm, nowSeconds: number): ActionBody {
  if (!f.all && f.clinics.length === 0) throw new Error('Select at least one clinic, or all clinics.');
  const body: ActionBody = { clinics: f.all ? 'all' : [...f.clinics] };
  if (needsVersion(action)) {
    if (!f.version) throw new Error('Choose the version.');
    body.version = f.version;
  }
  if (action === 'promote') {
    const share = (f.canaryPercent ?? '').trim();
    if (share) {
      const n = Number(share);
      if (!Number.isInteger(n) || n < 1 || n > 99) throw new Error('The canary share is a whole number from 1 to 99 (leave it empty to promote for every run).');
      body.canary_percent = n;
    }
    const effective = (f.effective ?? '').trim();
    if (effective) {
      const at = localInputToUnix(effective);
      if (at === null) throw new Error('The effective date and time is not a real date and time.');
      if (at <= nowSeconds) throw new Error('The effective date and time has passed: leave it empty to promote now.');
      if (at > nowSeconds + YEAR_S) throw new Error('A promotion is scheduled at most a year ahead.');
      body.effective_at = at;
    }
  }
  const reason = (f.reason ?? '').trim();
  if (reason.length > 500) throw new Error('The reason is at most 500 characters.');
  if (reason) body.reason = reason;
  return body;
}

// The versions offered in the action dialogs: withdrawn ones shown but not selectable.
export function versionOptions(versions: RegisteredVersion[]): { value: string; label: string; disabled: boolean }[] {
  return versions.map((v) => ({
    value: v.version,
    label: `${v.version}${v.default ? ' (default)' : ''}${v.enabled ? '' : ' (withdrawn)'}`,
    disabled: !v.enabled,
  }));
}

// The versions running in shadow somewhere, the most clinics first: the comparison's
// natural choices.
export function shadowVersions(clinics: Pick<Deployment, 'shadow'>[]): string[] {
  const count = new Map<string, number>();
  for (const c of clinics) if (c.shadow) count.set(c.shadow, (count.get(c.shadow) ?? 0) + 1);
  return [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([v]) => v);
}

// ---- the shadow comparison ----

export function formatNumber(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v === undefined || v === null || v === '' ? '–' : String(v);
  return Number(v.toPrecision(4)).toString();
}

export function formatMm(v: number | null | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(1)} mm` : '–';
}

// A long DICOM UID kept recognisable: its start and its end.
export function shortUid(uid: string, keep = 8): string {
  return uid.length <= 2 * keep + 1 ? uid : `${uid.slice(0, keep)}…${uid.slice(-keep)}`;
}

// Each metric of either version, side by side, by name.
export function metricPairs(pinned: Record<string, unknown> = {}, shadow: Record<string, unknown> = {}): { name: string; pinned: unknown; shadow: unknown }[] {
  const names = [...new Set([...Object.keys(pinned), ...Object.keys(shadow)])].sort();
  return names.map((name) => ({ name, pinned: pinned[name], shadow: shadow[name] }));
}

// Each label's agreement of the two versions with a clinician's correction.
export function correctionPairs(c: { pinned: CorrectionAgreement[]; shadow: CorrectionAgreement[] } | null): { label: number; pinned: number | null; shadow: number | null }[] {
  if (!c) return [];
  const labels = [...new Set([...c.pinned.map((a) => a.label), ...c.shadow.map((a) => a.label)])].sort((a, b) => a - b);
  const dice = (list: CorrectionAgreement[], label: number) => list.find((a) => a.label === label)?.dice ?? null;
  return labels.map((label) => ({ label, pinned: dice(c.pinned, label), shadow: dice(c.shadow, label) }));
}
