// The algorithm's versions in the clinics (src/api/deployments/deployment_routes.cpp,
// docs/algorithm-lifecycle.md): every clinic's deployment and the vendor's actions on it
// (promote, roll back, shadow), the events, the shadow comparison; a clinic's own view.
import { ApiError, enc, getJson, sendJson } from './http';
import type { components } from './schema';

type Schemas = components['schemas'];

export type Deployment = Schemas['Deployment'];
export type Canary = NonNullable<Deployment['canary']>;
export type Scheduled = NonNullable<Deployment['scheduled']>;
export type EventAction = Schemas['DeploymentEvent']['action'];
export type DeploymentEvent = Schemas['DeploymentEvent'];
export type ClinicDeployment = Schemas['ClinicDeployment'];
export type RegisteredVersion = Schemas['RegisteredVersion'];
// GET /api/v1/algorithms/{id}/deployments (vendor).
export type AlgorithmDeployments = Schemas['AlgorithmDeployments'];
// GET /api/v1/deployments: the clinic's own, one per algorithm.
export type OwnDeployment = Schemas['OwnDeployment'];

export type VendorAction = 'promote' | 'rollback' | 'shadow' | 'end-shadow';
export type ActionBody = Schemas['DeploymentActionRequest'];
export type ApiErrorBody = Schemas['ErrorBody'];
export type ActionResult = Schemas['DeploymentActionResult'];
export type ClinicOutcome = ActionResult['results'][number];

// ---- shadow runs ----

export type Spread = Schemas['Spread'];
export type ShadowSummary = Schemas['ShadowSummary'];
export type ShadowCase = Schemas['ShadowCase'];
export type LabelAgreement = ShadowCase['agreement'][number];
export type CorrectionAgreement = NonNullable<ShadowCase['correction']>['pinned'][number];
export type ShadowComparison = Schemas['ShadowComparison'];

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
