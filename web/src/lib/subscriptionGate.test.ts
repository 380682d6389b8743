import { describe, expect, it } from 'vitest';
import type { Plan, SubscriptionView } from '../api/licensing';
import { bannerNotices, featureGate, runGate } from './subscriptionGate';
import { availableActions } from './subscriptionActions';

const plan: Plan = { name: 'basic', version: 1, period: 'monthly', included_runs: 2, overage: 'block', max_users: 0, algorithms: ['tiny'], features: ['annotation', 'export'], price_note: '' };
const view = (over: Partial<SubscriptionView> = {}): SubscriptionView => ({
  licensed: false, notices: [], state: 'active', plan, used_runs: 0, in_flight_runs: 0, remaining_runs: 2, reason: '', ...over,
});

describe('what the subscription allows', () => {
  it('lets an active clinic run the algorithms of its plan', () => {
    expect(runGate(view(), 'tiny')).toEqual({ allowed: true, reason: '' });
    expect(runGate(view(), 'ct-lungs')).toEqual({ allowed: false, reason: 'not in the plan basic' });
    expect(runGate(view({ plan: { ...plan, algorithms: 'all' } }), 'ct-lungs').allowed).toBe(true);
  });

  it('gives the reason of a suspension, an end or no subscription', () => {
    expect(runGate(view({ state: 'suspended', reason: 'invoice unpaid' }), 'tiny')).toEqual({ allowed: false, reason: 'subscription suspended: invoice unpaid' });
    expect(runGate(view({ state: 'suspended' })).reason).toBe('subscription suspended');
    expect(runGate(view({ state: 'expired' })).reason).toBe('subscription expired');
    expect(runGate(view({ state: 'cancelled' })).reason).toBe('subscription cancelled');
    expect(runGate({ licensed: false, notices: [], state: 'none' }).allowed).toBe(false);
    expect(runGate(view({ state: 'past_due' }), 'tiny').allowed).toBe(true);
  });

  it('blocks at an exhausted quota only under a block policy', () => {
    expect(runGate(view({ remaining_runs: 0 }), 'tiny').reason).toMatch(/all 2 runs/);
    expect(runGate(view({ remaining_runs: 0, plan: { ...plan, overage: 'allow' } }), 'tiny').allowed).toBe(true);
    expect(runGate(view({ remaining_runs: null, plan: { ...plan, included_runs: -1 } }), 'tiny').allowed).toBe(true);
  });

  it('leaves the decision to the server when the subscription is unknown', () => {
    expect(runGate(null, 'x').allowed).toBe(true);
  });

  it('checks features, and lets a suspended clinic export', () => {
    expect(featureGate(view(), 'auto_run').reason).toBe('the plan basic does not include auto-run');
    expect(featureGate(view(), 'annotation').allowed).toBe(true);
    expect(featureGate(view({ state: 'suspended' }), 'export').allowed).toBe(true);
    expect(featureGate(view({ state: 'suspended' }), 'annotation').allowed).toBe(false);
  });

  it('puts trouble in the banner, not routine information', () => {
    const notices = [{ level: 'info' as const, message: 'overage billed' }, { level: 'error' as const, message: 'the subscription is suspended' }];
    expect(bannerNotices(view({ notices })).map((n) => n.message)).toEqual(['the subscription is suspended']);
    expect(bannerNotices({ licensed: false, state: 'none', notices: [{ level: 'info', message: 'no subscription yet' }] })).toHaveLength(1);
  });
});

describe('subscription actions offered per state', () => {
  it('follows the lifecycle', () => {
    expect(availableActions(null)).toEqual(['activate']);
    expect(availableActions(view({ state: 'trial' }))).toEqual(['activate', 'suspend', 'cancel', 'change-plan']);
    expect(availableActions(view({ state: 'active' }))).toEqual(['suspend', 'cancel', 'change-plan']);
    expect(availableActions(view({ state: 'past_due' }))).toEqual(['renew', 'suspend', 'cancel', 'change-plan']);
    expect(availableActions(view({ state: 'suspended' }))).toEqual(['resume', 'cancel', 'change-plan']);
    expect(availableActions(view({ state: 'expired' }))).toEqual(['activate']);
    expect(availableActions(view({ licensed: true }))).toEqual([]);
  });
});
