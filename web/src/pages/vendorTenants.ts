// The vendor's clinics and their subscriptions: state, plan, period, runs; for vendor
// admins the lifecycle actions (each confirmed in a dialog with its reason, which the
// audit log and the clinic see) and a new clinic.
import * as lic from '../api/licensing';
import type { ClinicTenant, Plan, SubscriptionAction } from '../api/licensing';
import { formatDate } from '../lib/dates';
import { h, toast } from '../lib/dom';
import { availableActions, spec } from '../lib/subscriptionActions';
import { STATE_LABELS } from '../lib/subscriptionGate';
import { isVendorAdmin } from '../session';
import { field, formDialog } from '../ui/dialog';
import { dataTable, pageFrame, showError, stateLine } from '../ui/page';

function runsText(t: ClinicTenant): string {
  const s = t.subscription;
  if (!s?.plan) return '';
  const included = s.plan.included_runs < 0 ? '∞' : String(s.plan.included_runs);
  return `${s.used_runs ?? 0} / ${included}${s.in_flight_runs ? ` (+${s.in_flight_runs})` : ''}`;
}

export function actionDialog(t: ClinicTenant, action: SubscriptionAction, plans: Plan[]): Promise<boolean> {
  const a = spec(action);
  const current = t.subscription?.plan?.name;
  const plan = h('select', { name: 'plan', required: true },
    ...plans.map((p) => h('option', { value: p.name, selected: p.name === current && action !== 'change-plan' }, `${p.name} (v${p.version}, ${p.included_runs < 0 ? 'unlimited' : p.included_runs} runs)`)));
  const reason = h('textarea', { name: 'reason', rows: 3, maxlength: 500, required: a.needsReason, placeholder: a.needsReason ? 'Shown to the clinic' : 'optional' });
  const immediately = h('input', { type: 'checkbox', name: 'immediately' });
  const trial = h('input', { type: 'checkbox', name: 'trial' });
  return formDialog({
    title: `${a.label}: ${t.name}`,
    testid: 'subscription-action-dialog',
    danger: a.danger,
    submitLabel: a.label,
    body: [
      h('p', a.explain),
      h('p.sub', `Clinic ${t.slug}, now ${STATE_LABELS[t.subscription?.state ?? 'none'] ?? t.subscription?.state}.`),
      a.needsPlan ? (plans.length ? field('Plan', plan) : h('p.error', 'There is no plan yet: make one on the Plans page.')) : null,
      action === 'activate' ? h('label.check', trial, ' Trial period') : null,
      action === 'cancel' ? h('label.check', immediately, ' Immediately (otherwise at the end of the period)') : null,
      field(a.needsReason ? 'Reason' : 'Reason (optional)', reason, 'Kept in the audit log with the change.'),
    ],
    onSubmit: async () => {
      if (a.needsReason && !reason.value.trim()) throw new Error('Give a reason: the clinic is shown it.');
      await lic.act(t.slug, action, {
        ...(a.needsPlan ? { plan: plan.value } : {}),
        ...(reason.value.trim() ? { reason: reason.value.trim() } : {}),
        ...(action === 'cancel' ? { immediately: immediately.checked } : {}),
        ...(action === 'activate' ? { trial: trial.checked } : {}),
      });
    },
  });
}

function newClinicDialog(): Promise<boolean> {
  const slug = h('input', { name: 'slug', required: true, pattern: '[a-z0-9][a-z0-9-]{1,62}', placeholder: 'e.g. st-marys' });
  const name = h('input', { name: 'name', placeholder: 'Display name' });
  const ae = h('input', { name: 'ae_title', maxlength: 16, placeholder: 'optional' });
  return formDialog({
    title: 'New clinic',
    submitLabel: 'Create',
    body: [field('Short name (slug)', slug, 'Lower-case letters, digits and hyphens.'), field('Name', name), field('DICOM AE title', ae),
      h('p.sub', 'A new clinic has no subscription until you activate one.')],
    onSubmit: async () => {
      await lic.createTenant({ slug: slug.value.trim(), ...(name.value.trim() ? { name: name.value.trim() } : {}), ...(ae.value.trim() ? { ae_title: ae.value.trim() } : {}) });
    },
  });
}

export function vendorTenantsPage(main: HTMLElement): void {
  const admin = isVendorAdmin();
  const line = stateLine('tenants-state');
  const { table, body } = dataTable('Clinics', ['Clinic', 'Subscription', 'Plan', 'Period', 'Runs', ...(admin ? ['Actions'] : [])], 'tenants');
  const newClinic = admin ? h('button', { type: 'button', onclick: () => void newClinicDialog().then((ok) => ok && void load()) }, 'New clinic') : null;
  main.append(pageFrame('Clinics and subscriptions', 'tenants-page', newClinic, line, table,
    admin ? null : h('p.sub', 'Only vendor admins change subscriptions.')));
  let plans: Plan[] = [];

  const row = (t: ClinicTenant) => {
    const s = t.subscription;
    const state = s?.state ?? 'none';
    const actions = admin
      ? h('td.actions', h('div', ...availableActions(s).map((action) =>
          h('button', { type: 'button', class: spec(action).danger ? 'danger-outline' : '', 'aria-label': `${spec(action).label} ${t.slug}`, onclick: async () => {
            if (await actionDialog(t, action, plans)) {
              toast(`${spec(action).label}: ${t.slug} done.`);
              await load();
            }
          } }, spec(action).label))))
      : null;
    return h('tr', { 'data-tenant': t.slug, 'data-state': state },
      h('td', h('strong', t.name), h('div.sub', t.slug)),
      h('td', h('span.badge', { class: `sub-${state}`, 'data-role': 'state' }, STATE_LABELS[state] ?? state),
        s?.reason ? h('div.sub', s.reason) : null,
        s?.cancel_at_period_end ? h('div.sub.warn', 'cancels at period end') : null),
      h('td', s?.plan ? `${s.plan.name} v${s.plan.version}` : ''),
      h('td', s?.period_start ? `${formatDate(s.period_start)} – ${formatDate(s.period_end)}` : ''),
      h('td.num', runsText(t)),
      actions);
  };

  const load = async () => {
    try {
      const [list, p] = await Promise.all([lic.tenants(), lic.plans().catch(() => [] as Plan[])]);
      plans = p;
      body.replaceChildren(...list.map(row));
      line.textContent = list.length ? `${list.length} clinic${list.length === 1 ? '' : 's'}` : 'No clinics yet.';
    } catch (e) {
      showError(line, 'the clinics', e);
    }
  };
  void load();
}
