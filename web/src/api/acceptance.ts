// Local acceptance (src/api/deployments/acceptance_routes.cpp, docs/algorithm-lifecycle.md
// "Local acceptance"): the clinic's reference cases (a series and the segmentation version
// a radiologist approved), acceptance runs of a version on all of them with their report,
// and the vendor's view and runs across clinics (numbers and UIDs, never pictures).
import { ApiError, enc, getJson, sendJson } from './http';
import type { ApiErrorBody } from './deployments';

export interface ReferenceCase {
  series_uid: string;
  study_uid: string;
  segmentation_id: number;
  marked_by: string;
  marked_at: number;
}

export type AcceptanceState = 'queued' | 'passed' | 'failed' | 'error';

export interface AcceptanceCheck {
  criterion: string; // min_mean_dice, max_hd95_mm, max_failure_rate
  limit: number;
  value: number | null;
  passed: boolean;
}

// One segment of the manifest, over every case of the run.
export interface AcceptanceLabel {
  label: number;
  name?: string;
  n: number;
  compared?: number;
  failures: number;
  failure_rate?: number;
  failure_rate_ci95?: [number, number];
  mean_dice: number | null;
  dice_ci95: [number, number] | null; // 95 %, Student t (from two cases)
  min_dice?: number | null;
  mean_hd95_mm: number | null;
  hd95_ci95?: [number, number] | null;
  checks?: AcceptanceCheck[];
}

export interface AcceptanceCase {
  series_uid: string;
  study_uid: string;
  state: string; // succeeded, failed, skipped
  error?: string;
  labels?: { label: number; dice: number | null; hd95_mm: number | null; volume_reference_ml?: number; volume_result_ml?: number }[];
  facts?: Record<string, unknown>;
  tags?: string[];
  run_ms?: number;
}

// A finished run's report; a run that could not run at all has only `error`.
export interface AcceptanceReport {
  algorithm?: string;
  version?: string;
  passed?: boolean;
  reasons?: string[];
  min_cases?: { required: number; have: number; passed: boolean };
  labels?: AcceptanceLabel[];
  subgroups?: { by: string; value: string; n: number; labels: AcceptanceLabel[] }[];
  worst_cases?: string[];
  cases?: AcceptanceCase[];
  error?: string;
}

export interface AcceptanceRun {
  id: number;
  algorithm: string;
  version: string;
  job_id: number | null;
  state: AcceptanceState | string;
  passed: boolean | null;
  created_by: string;
  created_at: number;
  finished_at: number | null;
  report?: AcceptanceReport | null; // GET /acceptance-runs/{id} and the vendor's list; {} while queued
  clinic?: string; // the vendor's list
}

export interface VendorRunOutcome {
  clinic: string;
  ok: boolean;
  run?: AcceptanceRun;
  error?: ApiErrorBody;
}

export interface VendorRunsResult {
  started: number;
  results: VendorRunOutcome[];
}

// ---- reference cases ----

export const referenceCases = (signal?: AbortSignal) => getJson<ReferenceCase[]>('/api/v1/reference-cases', { signal });

export const markReference = (series: string, segmentationId: number) =>
  sendJson<ReferenceCase>('PUT', `/api/v1/reference-cases/${enc(series)}`, { segmentation_id: segmentationId });

export const unmarkReference = (series: string) => sendJson<void>('DELETE', `/api/v1/reference-cases/${enc(series)}`, undefined);

// ---- the clinic's runs ----

export const startRun = (algorithm: string, version: string) =>
  sendJson<AcceptanceRun>('POST', '/api/v1/acceptance-runs', { algorithm, version });

export function runs(q: { algorithm?: string; version?: string } = {}, signal?: AbortSignal): Promise<AcceptanceRun[]> {
  const p = new URLSearchParams();
  if (q.algorithm) p.set('algorithm', q.algorithm);
  if (q.version) p.set('version', q.version);
  return getJson<AcceptanceRun[]>(`/api/v1/acceptance-runs${p.size ? `?${p}` : ''}`, { signal });
}

export const run = (id: number, signal?: AbortSignal) => getJson<AcceptanceRun>(`/api/v1/acceptance-runs/${id}`, { signal });

// The report as a page (same origin: the session cookie authorises it; 409 while queued).
export const reportHtmlUrl = (id: number) => `/api/v1/acceptance-runs/${id}/report.html`;

// ---- the vendor's ----

export function vendorRuns(algorithm: string, q: { clinic?: string; version?: string } = {}, signal?: AbortSignal): Promise<AcceptanceRun[]> {
  const p = new URLSearchParams();
  if (q.clinic) p.set('clinic', q.clinic);
  if (q.version) p.set('version', q.version);
  return getJson<AcceptanceRun[]>(`/api/v1/algorithms/${enc(algorithm)}/acceptance-runs${p.size ? `?${p}` : ''}`, { signal });
}

// The answer lists every clinic's run or refusal, also when none started (the status is
// then the first refusal's): that list is the result either way; other errors are thrown.
export async function startVendorRuns(algorithm: string, clinics: string[], version: string): Promise<VendorRunsResult> {
  try {
    return await sendJson<VendorRunsResult>('POST', `/api/v1/algorithms/${enc(algorithm)}/acceptance-runs`, { clinics, version });
  } catch (e) {
    const answer = e instanceof ApiError ? (e.body as Partial<VendorRunsResult> | null) : null;
    if (answer && Array.isArray(answer.results)) return { started: answer.started ?? 0, results: answer.results };
    throw e;
  }
}
