// Plans, clinics (tenants) and their subscriptions, usage (src/api/licensing/licensing_routes.cpp,
// the subscription view of src/licensing/licensing.cpp).
import { enc, getJson, sendJson } from './http';

export type Feature = 'annotation' | 'export' | 'auto_run' | 'api_tokens';
export const FEATURES: { value: Feature; label: string }[] = [
  { value: 'annotation', label: 'Annotation' },
  { value: 'export', label: 'Export' },
  { value: 'auto_run', label: 'Auto-run' },
  { value: 'api_tokens', label: 'API tokens' },
];

export interface Plan {
  name: string;
  version: number;
  period: string;
  included_runs: number; // negative: unlimited
  overage: 'block' | 'allow';
  max_users: number; // 0: no limit
  algorithms: 'all' | string[];
  features: Feature[];
  price_note: string;
}

export type SubscriptionState = 'trial' | 'active' | 'past_due' | 'suspended' | 'cancelled' | 'expired';

export interface Notice {
  level: 'info' | 'warning' | 'error';
  message: string;
}

// GET /api/v1/subscription (a clinic's own) and each tenant's `subscription`.
export interface SubscriptionView {
  licensed: boolean;
  notices: Notice[];
  state: SubscriptionState | 'vendor' | 'none' | 'not_yet_valid';
  tenant?: string;
  licence?: { id: string; plan: string; not_before: number; not_after: number };
  plan?: Plan;
  period_start?: number;
  period_end?: number;
  used_runs?: number;
  in_flight_runs?: number;
  remaining_runs?: number | null; // null: unlimited
  state_since?: number;
  cancel_at_period_end?: boolean;
  reason?: string;
  ended_at?: number;
  purge_after?: number;
}

export interface ClinicTenant {
  slug: string;
  name: string;
  ae_title: string;
  created_at: number;
  subscription?: SubscriptionView;
}

export type SubscriptionAction = 'activate' | 'renew' | 'suspend' | 'resume' | 'cancel' | 'change-plan';

export interface ActionBody {
  plan?: string;
  reason?: string;
  immediately?: boolean;
  trial?: boolean;
}

export interface UsageTenant {
  tenant_id: number;
  tenant: string;
  plan: string | null;
  plan_version?: number;
  included_runs: number;
  state?: string;
  runs: number;
  used_runs: number;
  overage_runs: number;
  failed_runs: number;
  run_seconds: number;
  by_algorithm: Record<string, { runs: number; succeeded: number }>;
}

export interface UsageReport {
  period: string;
  from: number;
  to: number;
  tenants: UsageTenant[];
}

export const ownSubscription = () => getJson<SubscriptionView>('/api/v1/subscription');

export const plans = () => getJson<Plan[]>('/api/v1/plans');
export const savePlan = (plan: Omit<Plan, 'version' | 'period'>) => sendJson<Plan>('POST', '/api/v1/plans', plan);

export const tenants = () => getJson<ClinicTenant[]>('/api/v1/tenants');
export const createTenant = (t: { slug: string; name?: string; ae_title?: string }) => sendJson<ClinicTenant>('POST', '/api/v1/tenants', t);

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
