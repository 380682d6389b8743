// Algorithms, algorithm runs (jobs), their feedback and the clinic's auto-run rules
// (src/api/jobs/job_routes.cpp, src/api/monitoring/monitoring_routes.cpp).
import { enc, getJson, sendJson } from './http';
import type { CodedTerm } from './types';

export interface Algorithm {
  id: string;
  version: string;
  name: string;
  description: string;
  intended_use: string;
  not_for_diagnostic_use: boolean;
  input: { modality: string; min_slices: number; body_part: string };
  segments: { label: number; name: string; colour: string; type?: CodedTerm }[];
  default: boolean;
  enabled: boolean;
  registered_at: number;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

// The job record with its result's fields merged in (JobJson on the server).
export interface Job {
  id: number;
  kind: string;
  state: JobState;
  progress: { done: number; total: number; note: string };
  error: string | null;
  created_by: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  params: { algorithm?: string; version?: string; series_uid?: string; study_uid?: string; trigger?: string; submitted_ms?: number };
  algorithm?: { id: string; version: string };
  segmentation_id?: number;
  seg_series_uid?: string;
  metrics?: Record<string, unknown>;
  warnings?: string[];
  timings_ms?: Record<string, number>;
  worker?: string;
  log_tail?: string;
}

export interface CorrectionMetric {
  label: number;
  name: string;
  dice: number;
  volume_algorithm_ml: number;
  volume_corrected_ml: number;
  volume_difference_ml: number;
  hd95_mm: number | null;
}

export type Verdict = 'accept' | 'reject' | 'correct';

export interface Feedback {
  id: number;
  job_id: number;
  verdict: Verdict;
  reason: string;
  author: string;
  created_at: number;
  segmentation_id: number | null;
  metrics: CorrectionMetric[] | null;
  comment?: string;
}

// The server's fixed list (kRejectReasons in src/services/monitoring.h), in words.
export const REJECT_REASONS: { value: string; label: string }[] = [
  { value: 'missed_structure', label: 'Missed a structure' },
  { value: 'wrong_structure', label: 'Segmented the wrong structure' },
  { value: 'boundary_error', label: 'Boundary error' },
  { value: 'wrong_side', label: 'Wrong side (left/right)' },
  { value: 'artefact', label: 'Artefact' },
  { value: 'image_unsuitable', label: 'Image unsuitable for the algorithm' },
  { value: 'other', label: 'Other' },
];

export interface AutoRule {
  id: number;
  algorithm: string;
  modality: string;
  min_instances: number;
  quiet_seconds: number;
  enabled: boolean;
  created_by: string;
  created_at: number;
}

export const algorithms = (all = false) => getJson<Algorithm[]>(`/api/v1/algorithms${all ? '?all=1' : ''}`);

export const submitJob = (algorithm: string, series: string, version?: string) =>
  sendJson<Job>('POST', '/api/v1/jobs', { algorithm, series, ...(version ? { version } : {}) });

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

export const createAutoRule = (rule: { algorithm: string; modality?: string; min_instances?: number; quiet_seconds?: number }) =>
  sendJson<AutoRule>('POST', '/api/v1/auto-rules', rule);

export const deleteAutoRule = (id: number) => sendJson<void>('DELETE', `/api/v1/auto-rules/${enc(String(id))}`, undefined);
