// Plans, clinics (tenants) and their subscriptions, usage (src/api/licensing/licensing_routes.cpp,
// the subscription view of src/licensing/licensing.cpp).
import { enc, getJson, sendJson } from './http';
import type { components } from './schema';

type Schemas = components['schemas'];

export type Feature = Schemas['Feature'];
export const FEATURES: { value: Feature; label: string }[] = [
  { value: 'annotation', label: 'Annotation' },
  { value: 'export', label: 'Export' },
  { value: 'auto_run', label: 'Auto-run' },
  { value: 'api_tokens', label: 'API tokens' },
];

export type Plan = Schemas['Plan'];
export type PlanSave = Schemas['PlanSave'];
export type SubscriptionState = Schemas['SubscriptionView']['state'];
export type Notice = Schemas['Notice'];
// GET /api/v1/subscription (a clinic's own) and each tenant's `subscription`.
export type SubscriptionView = Schemas['SubscriptionView'];
export type ClinicTenant = Schemas['ClinicTenant'];
export type CreatedTenant = Schemas['CreatedTenant'];
export type SubscriptionAction = 'activate' | 'renew' | 'suspend' | 'resume' | 'cancel' | 'change-plan';
export type ActionBody = Schemas['SubscriptionAction'];
export type UsageTenant = Schemas['UsageTenant'];
export type UsageReport = Schemas['UsageReport'];

export const ownSubscription = () => getJson<SubscriptionView>('/api/v1/subscription');

export const plans = () => getJson<Plan[]>('/api/v1/plans');
export const savePlan = (plan: PlanSave) => sendJson<Plan>('POST', '/api/v1/plans', plan);

export const tenants = () => getJson<ClinicTenant[]>('/api/v1/tenants');
export const createTenant = (t: Schemas['TenantCreate']) => sendJson<CreatedTenant>('POST', '/api/v1/tenants', t);

export const act = (slug: string, action: SubscriptionAction, body: ActionBody) =>
  sendJson<SubscriptionView>('POST', `/api/v1/tenants/${enc(slug)}/subscription/${action}`, body);

function usageQuery(period: string, tenant?: string, csv = false): string {
  const p = new URLSearchParams();
  if (period) p.set('period', period);
  if (tenant) p.set('tenant', tenant);
  if (csv) p.set('format', 'csv');
  return `/api/v1/usage?${p}`;
}

export const usage = (period: string, tenant?: string) => getJson<UsageReport>(usageQuery(period, tenant));
export const usageCsvUrl = (period: string, tenant?: string) => usageQuery(period, tenant, true);
