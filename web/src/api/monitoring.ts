// The monitoring dashboard, run records, alerts and bug reports
// (src/api/monitoring/monitoring_routes.cpp, src/services/monitoring.cpp).
import { getJson, sendJson } from './http';
import type { components } from './schema';

type Schemas = components['schemas'];

export type MetricDistribution = Schemas['MetricDistribution'];
export type DriftEntry = Schemas['DriftEntry'];
// One algorithm version at one clinic over the chosen range.
export type SummaryGroup = Schemas['SummaryGroup'];
export type Alert = Schemas['Alert'];
export type Summary = Schemas['MonitoringSummary'];
export type RunRecord = Schemas['RunRecord'];

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

export type Severity = Schemas['BugReport']['severity'];
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];

export type BugStatus = Schemas['BugReport']['status'];
export const BUG_STATUSES: { value: BugStatus; label: string }[] = [
  { value: 'new', label: 'New' },
  { value: 'triaged', label: 'Triaged' },
  { value: 'in_progress', label: 'In progress' },
  { value: 'fixed', label: 'Fixed' },
  { value: 'wont_fix', label: 'Won’t fix' },
];

export type BugComment = Schemas['BugComment'];
export type BugReport = Schemas['BugReport'];
export type NewBugReport = Schemas['BugReportCreate'];

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
