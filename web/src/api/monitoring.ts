// The monitoring dashboard, run records, alerts and bug reports
// (src/api/monitoring/monitoring_routes.cpp, src/services/monitoring.cpp).
import { getJson, sendJson } from './http';
import type { Feedback } from './jobs';

export interface MetricDistribution {
  n: number;
  mean?: number;
  p50?: number;
  min?: number;
  max?: number;
  histogram?: number[]; // 10 equal bins from min to max
}

export interface DriftEntry {
  ks?: number;
  p?: number;
  flag: boolean;
  baseline_n: number;
  recent_n: number;
  note?: string;
}

// One algorithm version at one clinic over the chosen range.
export interface SummaryGroup {
  algorithm: string;
  version: string;
  tenant: string;
  runs: number;
  failed: number;
  finished: number;
  failure_rate: number;
  top_failures: { reason: string; count: number }[];
  runs_per_day: Record<string, number>;
  p50_ms: number;
  p95_ms: number;
  feedback: { accept: number; reject: number; correct: number };
  acceptance_rate: number | null;
  mean_dice: number | null;
  metrics: Record<string, MetricDistribution>;
  drift: Record<string, DriftEntry>;
  drift_flag: boolean;
  open_bug_reports: number;
}

export interface Alert {
  kind: string;
  key: string;
  message: string;
}

export interface Summary {
  from: number;
  to: number;
  groups: SummaryGroup[];
  alerts?: Alert[]; // the vendor's only
}

export interface RunRecord {
  id: number;
  tenant: string;
  algorithm: string;
  version: string;
  series_uid: string;
  state: string;
  error: string | null;
  created_by: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  worker: string;
  input: Record<string, unknown> & { study_uid?: string; modality?: string; instances?: number; manufacturer?: string; model?: string };
  timings_ms: Record<string, number>;
  duration_ms: number;
  metrics: Record<string, unknown>;
  warnings: string[];
  log_tail: string;
  segmentation_id: number | null;
  segments: { label: number; name: string }[];
  feedback: Feedback[];
}

export interface MonitoringQuery {
  tenant?: string;
  algorithm?: string;
  version?: string;
  from?: string; // YYYY-MM-DD
  to?: string; // YYYY-MM-DD, inclusive
}

function query(q: MonitoringQuery, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, ...extra })) if (v) p.set(k, v);
  return p.size ? `?${p}` : '';
}

export const summary = (q: MonitoringQuery, signal?: AbortSignal) => getJson<Summary>(`/api/v1/monitoring/summary${query(q)}`, { signal });
export const summaryCsvUrl = (q: MonitoringQuery) => `/api/v1/monitoring/summary${query(q, { format: 'csv' })}`;
export const runs = (q: MonitoringQuery, limit = 200, signal?: AbortSignal) =>
  getJson<RunRecord[]>(`/api/v1/monitoring/runs${query(q, { limit: String(limit) })}`, { signal });

// ---- bug reports ----

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];

export type BugStatus = 'new' | 'triaged' | 'in_progress' | 'fixed' | 'wont_fix';
export const BUG_STATUSES: { value: BugStatus; label: string }[] = [
  { value: 'new', label: 'New' },
  { value: 'triaged', label: 'Triaged' },
  { value: 'in_progress', label: 'In progress' },
  { value: 'fixed', label: 'Fixed' },
  { value: 'wont_fix', label: 'Won’t fix' },
];

export interface BugComment {
  author: string;
  from: 'vendor' | 'clinic';
  text: string;
  created_at: number;
}

export interface BugReport {
  id: number;
  tenant: string;
  job_id: number | null;
  reporter: string;
  severity: Severity;
  status: BugStatus;
  browser: string;
  app_version: string;
  has_screenshot: boolean;
  created_at: number;
  updated_at: number;
  description: string;
  steps: string;
  comments?: BugComment[]; // the detail only
  pixels_shared?: boolean; // the vendor's detail only: may it see the screenshot and images
}

export interface NewBugReport {
  severity: Severity;
  description: string;
  steps?: string;
  browser?: string;
  app_version?: string;
  job_id?: number | null;
  screenshot?: string; // data:image/png;base64,...
}

export const fileBug = (report: NewBugReport) => sendJson<BugReport>('POST', '/api/v1/bug-reports', report);

export function bugReports(q: { status?: string; tenant?: string } = {}): Promise<BugReport[]> {
  const p = new URLSearchParams();
  if (q.status) p.set('status', q.status);
  if (q.tenant) p.set('tenant', q.tenant);
  return getJson<BugReport[]>(`/api/v1/bug-reports${p.size ? `?${p}` : ''}`);
}

export const bugReport = (id: number) => getJson<BugReport>(`/api/v1/bug-reports/${id}`);
export const commentBug = (id: number, text: string) => sendJson<BugReport>('POST', `/api/v1/bug-reports/${id}/comments`, { text });
export const setBugStatus = (id: number, status: BugStatus, comment = '') =>
  sendJson<BugReport>('POST', `/api/v1/bug-reports/${id}/status`, { status, ...(comment ? { comment } : {}) });
export const bugScreenshotUrl = (id: number) => `/api/v1/bug-reports/${id}/screenshot`;
export const bugBundleUrl = (id: number) => `/api/v1/bug-reports/${id}/bundle`;
