// The subscription banner under the header, on every page of a clinic's people: shown
// while the subscription is suspended, past due, ending, out of runs, or missing; it says
// why and what still works (the server's notices).
import { h } from '../lib/dom';
import { bannerNotices } from '../lib/subscriptionGate';
import { currentSubscription } from '../subscription';

export function renderBanner(host: HTMLElement): void {
  const notices = bannerNotices(currentSubscription());
  host.replaceChildren();
  host.hidden = notices.length === 0;
  if (notices.length === 0) return;
  const worst = notices.some((n) => n.level === 'error') ? 'error' : notices.some((n) => n.level === 'warning') ? 'warning' : 'info';
  host.className = `banner ${worst}`;
  host.append(
    h('div', { role: worst === 'error' ? 'alert' : 'status', 'data-testid': 'subscription-banner' },
      ...notices.map((n) => h('p', { 'data-level': n.level }, sentence(n.message))),
      h('a', { href: '/subscription', 'data-link': true }, 'Subscription details')),
  );
}

const sentence = (s: string) => (s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s);
