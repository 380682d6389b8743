// Typed calls to /api/v1 (see docs/api-annotations.md).
import { ApiError, enc, getJson, request, sendJson, setCsrfToken, setSupportTenant } from './http';
import type { components, operations } from './schema';
import type { Annotations, Geometry, Me, MeasurementReport, SegmentationVersion, SegmentMeta, SessionAnswer, Status, TagEntry, Tenant, VocabularyTag, Worklist } from './types';

export async function signIn(username: string, password: string): Promise<SessionAnswer> {
  const answer = await sendJson<SessionAnswer>('POST', '/api/v1/session', { username, password }, { quiet401: true });
  setCsrfToken(answer.csrf_token);
  return answer;
}

export async function signOut(): Promise<void> {
  try {
    await request('DELETE', '/api/v1/session', { quiet401: true });
  } finally {
    setCsrfToken(null);
    setSupportTenant(null);
  }
}

export const me = () => getJson<Me>('/api/v1/me', { quiet401: true });

export const changePassword = (current_password: string, new_password: string) =>
  sendJson<void>('PUT', '/api/v1/me/password', { current_password, new_password });

export type SupportGrant = components['schemas']['SupportGrant'];

export const supportGrants = () => getJson<SupportGrant[]>('/api/v1/support-grants');

export const tenant = () => getJson<Tenant>('/api/v1/tenant');

export type WorklistQuery = NonNullable<operations['worklist']['parameters']['query']>;

export function worklist(q: WorklistQuery, signal?: AbortSignal): Promise<Worklist> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
  return getJson<Worklist>(`/api/v1/worklist?${params}`, { signal });
}

export const vocabulary = () => getJson<VocabularyTag[]>('/api/v1/tags');
export const createVocabularyTag = (name: string, colour?: string) => sendJson<VocabularyTag>('POST', '/api/v1/tags', { name, colour });

export const annotations = (study: string) => getJson<Annotations>(`/api/v1/studies/${enc(study)}/annotations`);

export function addTag(study: string, tag: components['schemas']['StudyTagCreate']): Promise<TagEntry> {
  return sendJson<TagEntry>('POST', `/api/v1/studies/${enc(study)}/tags`, tag);
}

export const removeTag = (study: string, id: number) => sendJson<void>('DELETE', `/api/v1/studies/${enc(study)}/tags/${id}`, undefined);

export function setStatus(study: string, status: Status, assignee?: string | null): Promise<Annotations> {
  const body: components['schemas']['StatusUpdate'] = { status };
  if (assignee !== undefined) body.assignee = assignee;
  return sendJson<Annotations>('PUT', `/api/v1/studies/${enc(study)}/status`, body);
}

export const users = () => getJson<components['schemas']['User'][]>('/api/v1/users');

export const geometry = (series: string) => getJson<Geometry>(`/api/v1/series/${enc(series)}/geometry`);

export const segmentations = (study: string, series?: string) =>
  getJson<SegmentationVersion[]>(`/api/v1/studies/${enc(study)}/segmentations${series ? `?series=${enc(series)}` : ''}`);

export async function saveSegmentation(
  series: string,
  meta: Omit<components['schemas']['SegmentationMeta'], 'segments'> & { segments: SegmentMeta[] },
  labelsGz: Blob,
): Promise<SegmentationVersion> {
  const form = new FormData();
  form.append('meta', new Blob([JSON.stringify(meta)], { type: 'application/json' }), 'meta.json');
  form.append('labels', labelsGz, 'labels.gz');
  const res = await request('POST', `/api/v1/series/${enc(series)}/segmentations`, { body: form });
  return (await res.json()) as SegmentationVersion;
}

export async function segmentationLabels(id: number): Promise<Uint8Array> {
  const res = await request('GET', `/api/v1/segmentations/${id}/labels`);
  return new Uint8Array(await res.arrayBuffer());
}

// The version's stored measurement report; null when there is none (yet: the result-forms
// job stores it after the run; or the algorithm maps no metric to a measurement).
export async function measurementReport(id: number, signal?: AbortSignal): Promise<MeasurementReport | null> {
  try {
    return await getJson<MeasurementReport>(`/api/v1/segmentations/${id}/report`, { signal });
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}
