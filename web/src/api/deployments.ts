// The algorithm's versions in the clinics (src/api/deployments/deployment_routes.cpp,
// docs/algorithm-lifecycle.md): every clinic's deployment and the vendor's actions on it
// (promote, roll back, shadow), the events, the shadow comparison; a clinic's own view.
import { ApiError, enc, getJson, sendJson } from './http';

export interface Canary {
  version: string;
  percent: number; // 1-99: that share of the clinic's series run on `version`
}

export interface Scheduled {
  version: string;
  percent: number; // 100: promoted; less: a canary
  at: number; // Unix seconds
  reason: string;
}

// One clinic's deployment of one algorithm.
export interface Deployment {
  pinned: string;
  previous: string | null; // what a rollback returns to
  canary: Canary | null;
  shadow: string; // '' none
  scheduled: Scheduled | null;
}

export type EventAction =
  | 'pinned'
  | 'promoted'
  | 'canary_started'
  | 'canary_ended'
  | 'scheduled'
  | 'schedule_cancelled'
  | 'rolled_back'
  | 'shadow_started'
  | 'shadow_ended';

export interface DeploymentEvent {
  id: number;
  clinic?: string; // the vendor's list only
  algorithm: string;
  action: EventAction | string;
  from: string;
  to: string;
  detail: { reason?: string; at?: number; percent?: number; scheduled_at?: number; why?: string };
  actor: string;
  at: number;
  notified_at?: number | null; // the vendor's list only: when the webhook took it
}

export interface ClinicDeployment extends Deployment {
  clinic: string;
  name: string;
}

export interface RegisteredVersion {
  version: string;
  enabled: boolean;
  default: boolean;
  registered_at: number;
}

// GET /api/v1/algorithms/{id}/deployments (vendor).
export interface AlgorithmDeployments {
  algorithm: string;
  default: string | null;
  versions: RegisteredVersion[];
  clinics: ClinicDeployment[];
}

// GET /api/v1/deployments: the clinic's own, one per algorithm.
export interface OwnDeployment extends Deployment {
  algorithm: string;
  name: string;
  history: DeploymentEvent[]; // newest first
}

export type VendorAction = 'promote' | 'rollback' | 'shadow' | 'end-shadow';

export interface ActionBody {
  clinics: string[] | 'all';
  version?: string;
  canary_percent?: number;
  effective_at?: number;
  reason?: string;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

export interface ClinicOutcome {
  clinic: string;
  ok: boolean;
  deployment?: ClinicDeployment;
  // The server nests it as {error: {code, message}}; the documentation shows {code, message}.
  error?: ApiErrorBody | { error: ApiErrorBody };
}

export interface ActionResult {
  algorithm: string;
  action: VendorAction;
  changed: number;
  results: ClinicOutcome[];
}

// ---- shadow runs ----

export interface Spread {
  n: number;
  mean?: number;
  p05?: number;
  p50?: number;
  p95?: number;
  min?: number;
  max?: number;
}

export interface ShadowSummary {
  cases: number;
  pending: number;
  compared: number;
  failures: { pinned: number; shadow: number; both: number };
  labels: { label: number; dice: Spread; hd95_mm: Spread }[];
  metrics: Record<string, { pinned: Spread; shadow: Spread }>;
  run_ms: { pinned: Spread; shadow: Spread };
  corrections: { cases: number; labels: { label: number; pinned_dice: Spread; shadow_dice: Spread }[] };
}

export interface LabelAgreement {
  label: number;
  name?: string;
  dice: number | null;
  hd95_mm: number | null;
  volume_pinned_ml?: number;
  volume_shadow_ml?: number;
}

export interface CorrectionAgreement {
  label: number;
  dice: number | null;
  hd95_mm: number | null;
}

export interface ShadowCase {
  clinic: string;
  pinned_job_id: number;
  shadow_job_id: number | null;
  series_uid: string;
  pinned_version: string;
  shadow_version: string;
  state: string; // the shadow run's: queued, succeeded, failed
  error: string | null;
  pinned: { state: string; error: string; metrics: Record<string, unknown>; run_ms: number };
  shadow: { metrics: Record<string, unknown>; run_ms: number };
  agreement: LabelAgreement[]; // empty when the pinned run failed
  correction: { segmentation_id: number; author: string; pinned: CorrectionAgreement[]; shadow: CorrectionAgreement[] } | null;
  created_at: number;
  finished_at: number | null;
}

export interface ShadowComparison {
  algorithm: string;
  shadow_version: string;
  summary: ShadowSummary;
  cases: ShadowCase[]; // newest first
}

const base = (algorithm: string) => `/api/v1/algorithms/${enc(algorithm)}`;

export const algorithmDeployments = (algorithm: string, signal?: AbortSignal) =>
  getJson<AlgorithmDeployments>(`${base(algorithm)}/deployments`, { signal });

// The answer lists every clinic's outcome even when none changed (the status is then the
// first refusal's): that list is the result either way; other errors are thrown.
export async function act(algorithm: string, action: VendorAction, body: ActionBody): Promise<ActionResult> {
  try {
    return await sendJson<ActionResult>('POST', `${base(algorithm)}/deployments/${action}`, body);
  } catch (e) {
    const answer = e instanceof ApiError ? (e.body as Partial<ActionResult> | null) : null;
    if (answer && Array.isArray(answer.results)) return answer as ActionResult;
    throw e;
  }
}

export function deploymentEvents(algorithm: string, q: { clinic?: string; limit?: number } = {}, signal?: AbortSignal): Promise<DeploymentEvent[]> {
  const p = new URLSearchParams();
  if (q.clinic) p.set('clinic', q.clinic);
  if (q.limit) p.set('limit', String(q.limit));
  return getJson<DeploymentEvent[]>(`${base(algorithm)}/deployment-events${p.size ? `?${p}` : ''}`, { signal });
}

export function shadowComparison(algorithm: string, q: { version?: string; clinic?: string; limit?: number } = {}, signal?: AbortSignal): Promise<ShadowComparison> {
  const p = new URLSearchParams();
  if (q.version) p.set('version', q.version);
  if (q.clinic) p.set('clinic', q.clinic);
  if (q.limit) p.set('limit', String(q.limit));
  return getJson<ShadowComparison>(`${base(algorithm)}/shadow${p.size ? `?${p}` : ''}`, { signal });
}

export const ownDeployments = (signal?: AbortSignal) => getJson<OwnDeployment[]>('/api/v1/deployments', { signal });
