// What the clinic's subscription allows, in the words the app shows next to a disabled
// action. The server decides (402 with a reason); this only says so before the click.
import type { Feature, Notice, SubscriptionView } from '../api/licensing';
import { FEATURES } from '../api/licensing';

export interface Gate {
  allowed: boolean;
  reason: string; // empty when allowed
}

const ALLOWED: Gate = { allowed: true, reason: '' };
const refused = (reason: string): Gate => ({ allowed: false, reason });

// The clinic's standing, whatever it wants to do (null: allowed).
function standing(view: SubscriptionView): Gate | null {
  switch (view.state) {
    case 'vendor':
      return ALLOWED;
    case 'none':
      return refused('no subscription: the vendor has not activated one');
    case 'suspended':
      return refused(`subscription suspended${view.reason ? `: ${view.reason}` : ''}`);
    case 'cancelled':
      return refused('subscription cancelled');
    case 'expired':
      return refused(view.licensed ? 'licence expired' : 'subscription expired');
    case 'not_yet_valid':
      return refused('licence not yet valid');
    default:
      return null;
  }
}

// May the clinic run `algorithmId` now? Without a view (not loaded), the server decides.
export function runGate(view: SubscriptionView | null | undefined, algorithmId?: string): Gate {
  if (!view) return ALLOWED;
  const s = standing(view);
  if (s) return s;
  const plan = view.plan;
  if (!plan) return ALLOWED;
  if (algorithmId && plan.algorithms !== 'all' && !plan.algorithms.includes(algorithmId))
    return refused(`not in the plan ${plan.name}`);
  if (plan.included_runs >= 0 && plan.overage === 'block' && view.remaining_runs === 0)
    return refused(`quota used: all ${plan.included_runs} runs of this period`);
  return ALLOWED;
}

export function featureLabel(feature: Feature): string {
  return FEATURES.find((f) => f.value === feature)?.label.toLowerCase() ?? feature;
}

export function featureGate(view: SubscriptionView | null | undefined, feature: Feature): Gate {
  if (!view) return ALLOWED;
  const s = standing(view);
  // A clinic can always take its own results with it (suspended, or within retention).
  if (s && !(feature === 'export' && ['suspended', 'cancelled', 'expired'].includes(view.state))) return s;
  if (view.plan && !view.plan.features.includes(feature))
    return refused(`the plan ${view.plan.name} does not include ${featureLabel(feature)}`);
  return ALLOWED;
}

// The notices worth a banner on every page: trouble (suspended, past due, ending, quota),
// and the absence of any subscription.
export function bannerNotices(view: SubscriptionView | null | undefined): Notice[] {
  if (!view) return [];
  return view.notices.filter((n) => n.level !== 'info' || view.state === 'none');
}

export const STATE_LABELS: Record<string, string> = {
  trial: 'Trial',
  active: 'Active',
  past_due: 'Past due',
  suspended: 'Suspended',
  cancelled: 'Cancelled',
  expired: 'Expired',
  none: 'No subscription',
  vendor: 'Vendor',
  not_yet_valid: 'Not yet valid',
};
