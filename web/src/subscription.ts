// The signed-in clinic's subscription (GET /api/v1/subscription), kept for a short while:
// the banner, the Run action and the feature buttons all ask for it. Vendor staff have
// none. A refused action (402) calls invalidateSubscription() so that the banner catches up.
import { ownSubscription, type SubscriptionView } from './api/licensing';
import { isClinician, user } from './session';
import { supportTenant } from './api/http';

const MAX_AGE_MS = 30_000;
let current: SubscriptionView | null = null;
let loadedAt = 0;
let loading: Promise<SubscriptionView | null> | null = null;

export function currentSubscription(): SubscriptionView | null {
  return current;
}

export function invalidateSubscription(): void {
  loadedAt = 0;
}

export function subscription(maxAgeMs = MAX_AGE_MS): Promise<SubscriptionView | null> {
  if (!user || !isClinician() || supportTenant()) {
    current = null;
    return Promise.resolve(null);
  }
  if (current && Date.now() - loadedAt < maxAgeMs) return Promise.resolve(current);
  loading ??= ownSubscription()
    .then((view) => {
      current = view;
      loadedAt = Date.now();
      return view;
    })
    .catch(() => current) // unknown: the server decides at each action
    .finally(() => {
      loading = null;
      document.dispatchEvent(new CustomEvent('vg:subscription'));
    });
  return loading;
}

document.addEventListener('vg:user', () => {
  current = null;
  loadedAt = 0;
});
