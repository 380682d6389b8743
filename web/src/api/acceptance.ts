// Local acceptance (src/api/deployments/acceptance_routes.cpp, docs/algorithm-lifecycle.md
// "Local acceptance"): the clinic's reference cases (a series and the segmentation version
// a radiologist approved), acceptance runs of a version on all of them with their report,
// and the vendor's view and runs across clinics (numbers and UIDs, never pictures).
import { ApiError, enc, getJson, sendJson } from './http';
import type { components } from './schema';

type Schemas = components['schemas'];

export type ReferenceCase = Schemas['ReferenceCase'];
export type AcceptanceState = Schemas['AcceptanceRun']['state'];
// One segment of the manifest, over every case of the run.
export type AcceptanceLabel = Schemas['AcceptanceLabel'];
export type AcceptanceCheck = NonNullable<AcceptanceLabel['checks']>[number];
export type AcceptanceCase = Schemas['AcceptanceCase'];
// A finished run's report; a run that could not run at all has only `error`.
export type AcceptanceReport = Schemas['AcceptanceReport'];
export type AcceptanceRun = Schemas['AcceptanceRun'];
export type VendorRunsResult = Schemas['VendorAcceptanceResult'];
export type VendorRunOutcome = VendorRunsResult['results'][number];

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
