// Algorithms, algorithm runs (jobs), their feedback and the clinic's auto-run rules
// (src/api/jobs/job_routes.cpp, src/api/monitoring/monitoring_routes.cpp).
import { enc, getJson, sendJson } from './http';
import type { components } from './schema';

type Schemas = components['schemas'];

export type Algorithm = Schemas['AlgorithmSummary'];
export type JobState = Schemas['JobState'];
// The job record with its result's fields merged in (JobJson on the server).
export type Job = Schemas['Job'];
export type CorrectionMetric = Schemas['CorrectionMetric'];
export type Verdict = Schemas['Feedback']['verdict'];
export type Feedback = Schemas['Feedback'];
export type RejectReason = NonNullable<Schemas['FeedbackCreate']['reason']>;

// The server's fixed list (kRejectReasons in src/services/monitoring.h), in words.
export const REJECT_REASONS: { value: RejectReason; label: string }[] = [
  { value: 'missed_structure', label: 'Missed a structure' },
  { value: 'wrong_structure', label: 'Segmented the wrong structure' },
  { value: 'boundary_error', label: 'Boundary error' },
  { value: 'wrong_side', label: 'Wrong side (left/right)' },
  { value: 'artefact', label: 'Artefact' },
  { value: 'image_unsuitable', label: 'Image unsuitable for the algorithm' },
  { value: 'other', label: 'Other' },
];

export type AutoRule = Schemas['AutoRule'];
export type AutoRuleCreate = Schemas['AutoRuleCreate'];

export const algorithms = (all = false) => getJson<Algorithm[]>(`/api/v1/algorithms${all ? '?all=1' : ''}`);

export const submitJob = (algorithm: string, series: string, version?: string) =>
  sendJson<Job>('POST', '/api/v1/jobs', { algorithm, series, ...(version ? { version } : {}) } satisfies Schemas['JobSubmit']);

export const job = (id: number, signal?: AbortSignal) => getJson<Job>(`/api/v1/jobs/${id}`, { signal });

export interface JobQuery {
  state?: string;
  series?: string;
  algorithm?: string;
  limit?: number;
  before_id?: number;
}

export function jobs(q: JobQuery = {}, signal?: AbortSignal): Promise<Job[]> {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  return getJson<Job[]>(`/api/v1/jobs${p.size ? `?${p}` : ''}`, { signal });
}

export const cancelJob = (id: number) => sendJson<Job>('POST', `/api/v1/jobs/${id}/cancel`, {});

export const jobEventsUrl = (id: number) => `/api/v1/jobs/${id}/events`;

export const feedback = (jobId: number) => getJson<Feedback[]>(`/api/v1/jobs/${jobId}/feedback`);

export const sendVerdict = (jobId: number, verdict: 'accept' | 'reject', reason = '', comment = '') =>
  sendJson<Feedback>('POST', `/api/v1/jobs/${jobId}/feedback`, { verdict, ...(reason ? { reason } : {}), ...(comment ? { comment } : {}) });

export const autoRules = () => getJson<AutoRule[]>('/api/v1/auto-rules');

export const createAutoRule = (rule: AutoRuleCreate) =>
  sendJson<AutoRule>('POST', '/api/v1/auto-rules', rule);

export const deleteAutoRule = (id: number) => sendJson<void>('DELETE', `/api/v1/auto-rules/${enc(String(id))}`, undefined);
