// The clinic's own subscription: state (and why), plan, period, runs used and left, what
// the plan includes, and the server's notices (what still works while suspended or ended).
import type { SubscriptionView } from '../api/licensing';
import { FEATURES } from '../api/licensing';
import { formatDate, formatDateTime } from '../lib/dates';
import { h, present } from '../lib/dom';
import { STATE_LABELS } from '../lib/subscriptionGate';
import { isClinicAdmin } from '../session';
import { subscription } from '../subscription';
import { pageFrame, stateLine } from '../ui/page';

export function quotaMeter(view: SubscriptionView): HTMLElement | null {
  const plan = view.plan;
  if (!plan) return null;
  const used = view.used_runs ?? 0;
  const inFlight = view.in_flight_runs ?? 0;
  if (plan.included_runs < 0) return h('p', { 'data-testid': 'quota' }, `${used} runs this period (unlimited)`, inFlight ? `, ${inFlight} in progress` : '');
  return h('div', { 'data-testid': 'quota' },
    h('meter', { min: 0, max: Math.max(1, plan.included_runs), value: Math.min(used + inFlight, plan.included_runs), 'aria-label': 'Runs used this period', high: plan.included_runs * 0.8 }),
    h('p', `${used} of ${plan.included_runs} runs used`, inFlight ? `, ${inFlight} in progress` : '', ` — ${view.remaining_runs ?? 0} left this period.`,
      plan.overage === 'allow' ? ' Runs beyond these are billed as overage.' : ' Runs beyond these are refused until the next period.'));
}

function row(label: string, ...value: (Node | string | null)[]): HTMLElement {
  return h('tr', h('th', { scope: 'row' }, label), h('td', ...value));
}

export async function subscriptionPage(main: HTMLElement): Promise<void> {
  const line = stateLine('subscription-state');
  const frame = pageFrame('Subscription', 'subscription-page', line);
  main.append(frame);
  const view = await subscription(0);
  if (!view) {
    line.textContent = 'The subscription could not be loaded.';
    line.classList.add('error');
    return;
  }
  line.remove();
  const plan = view.plan;
  frame.append(...present([
    h('ul.notices', ...view.notices.map((n) => h('li', { class: n.level, 'data-level': n.level }, n.message))),
    h('table.facts', { 'aria-label': 'Subscription' }, h('tbody',
      row('State', h('span.badge', { class: `sub-${view.state}`, 'data-testid': 'subscription-state-badge' }, STATE_LABELS[view.state] ?? view.state),
        view.state_since ? ` since ${formatDateTime(view.state_since)}` : '',
        view.reason ? h('div.sub', `Reason: ${view.reason}`) : null,
        view.cancel_at_period_end ? h('div.warn', 'Ends at the end of this period.') : null),
      view.licence ? row('Licence', `${view.licence.id}: ${view.licence.plan}, valid ${formatDate(view.licence.not_before)} to ${formatDate(view.licence.not_after)}`) : null,
      plan ? row('Plan', `${plan.name} (version ${plan.version})`, plan.price_note ? h('div.sub', plan.price_note) : null) : null,
      view.period_start ? row('Period', `${formatDate(view.period_start)} to ${formatDate(view.period_end)}`) : null,
      plan ? row('Runs', quotaMeter(view)) : null,
      plan ? row('Algorithms', plan.algorithms === 'all' ? 'all' : plan.algorithms.join(', ') || 'none') : null,
      plan ? row('Features', FEATURES.filter((f) => plan.features.includes(f.value)).map((f) => f.label).join(', ') || 'none') : null,
      plan && plan.max_users > 0 ? row('Users', `at most ${plan.max_users}`) : null,
      view.purge_after ? row('Data kept until', formatDate(view.purge_after)) : null,
    )),
    isClinicAdmin() ? h('p', h('a', { href: '/usage', 'data-link': true }, 'Usage of this clinic')) : null,
  ]));
}
