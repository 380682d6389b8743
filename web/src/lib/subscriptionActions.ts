// Which subscription actions make sense from which state, and what each needs (the
// lifecycle of src/licensing/subscription.cpp). The server stays the judge: a refused
// action comes back as 409 with its reason, which the dialog shows.
import type { SubscriptionAction, SubscriptionView } from '../api/licensing';

export interface ActionSpec {
  action: SubscriptionAction;
  label: string;
  needsPlan: boolean;
  needsReason: boolean; // the clinic is shown it
  danger: boolean;
  explain: string;
}

export const ACTIONS: ActionSpec[] = [
  { action: 'activate', label: 'Activate', needsPlan: true, needsReason: false, danger: false, explain: 'Starts a subscription on the chosen plan (a new period starts now).' },
  { action: 'renew', label: 'Renew', needsPlan: false, needsReason: false, danger: false, explain: 'Starts the next period of a past-due subscription.' },
  { action: 'suspend', label: 'Suspend', needsPlan: false, needsReason: true, danger: true, explain: 'Stops algorithm runs at once; queued runs are held. The clinic keeps reading and exporting its data and is shown the reason.' },
  { action: 'resume', label: 'Resume', needsPlan: false, needsReason: false, danger: false, explain: 'Lets a suspended clinic run algorithms again; held runs start.' },
  { action: 'cancel', label: 'Cancel', needsPlan: false, needsReason: false, danger: true, explain: 'Ends the subscription at the end of its period, or immediately.' },
  { action: 'change-plan', label: 'Change plan', needsPlan: true, needsReason: false, danger: false, explain: 'Moves the subscription to another plan; the current period keeps what it granted.' },
];

const ENDED = ['cancelled', 'expired'];

// The actions offered for a clinic in this state (null or 'none': no subscription yet).
export function availableActions(view: SubscriptionView | null | undefined): SubscriptionAction[] {
  const state = view?.state ?? 'none';
  if (view?.licensed) return []; // an offline licence is not managed here
  if (state === 'none' || ENDED.includes(state)) return ['activate'];
  const out: SubscriptionAction[] = [];
  if (state === 'trial') out.push('activate');
  if (state === 'past_due') out.push('renew');
  if (state === 'suspended') out.push('resume');
  else out.push('suspend');
  out.push('cancel', 'change-plan');
  return out;
}

export function spec(action: SubscriptionAction): ActionSpec {
  return ACTIONS.find((a) => a.action === action)!;
}
