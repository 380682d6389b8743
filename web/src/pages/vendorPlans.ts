// The vendor's plans (latest version of each). Vendor admins make a plan, or a new version
// of one: subscriptions keep what their current period granted (plans are versioned).
import { algorithms } from '../api/jobs';
import * as lic from '../api/licensing';
import { FEATURES, type Plan } from '../api/licensing';
import { h, toast } from '../lib/dom';
import { isVendorAdmin } from '../session';
import { field, formDialog } from '../ui/dialog';
import { dataTable, pageFrame, showError, stateLine } from '../ui/page';

function planDialog(existing: Plan | null, algorithmIds: string[]): Promise<boolean> {
  const name = h('input', { name: 'name', required: true, maxlength: 64, pattern: '[A-Za-z0-9._\\-]+', value: existing?.name ?? '', readOnly: !!existing });
  const runs = h('input', { name: 'included_runs', type: 'number', min: 0, required: true, value: existing?.included_runs ?? 100 });
  const overage = h('select', { name: 'overage' }, h('option', { value: 'block' }, 'block further runs'), h('option', { value: 'allow' }, 'allow and bill as overage'));
  overage.value = existing?.overage ?? 'block';
  const maxUsers = h('input', { name: 'max_users', type: 'number', min: 0, value: existing?.max_users ?? 0 });
  const all = h('input', { type: 'checkbox', name: 'all_algorithms', checked: !existing || existing.algorithms === 'all' });
  const chosen = new Set(existing && existing.algorithms !== 'all' ? existing.algorithms : []);
  const algoBoxes = algorithmIds.map((id) => h('label.check', h('input', { type: 'checkbox', name: 'algorithm', value: id, checked: chosen.has(id) }), ` ${id}`));
  const featureBoxes = FEATURES.map((f) => h('label.check', h('input', { type: 'checkbox', name: 'feature', value: f.value, checked: existing ? existing.features.includes(f.value) : f.value !== 'api_tokens' }), ` ${f.label}`));
  const price = h('input', { name: 'price_note', maxlength: 1024, value: existing?.price_note ?? '', placeholder: 'e.g. 990 EUR / month' });
  return formDialog({
    title: existing ? `New version of the plan ${existing.name}` : 'New plan',
    testid: 'plan-dialog',
    submitLabel: existing ? 'Save as a new version' : 'Create plan',
    body: [
      field('Name', name),
      field('Included runs per month', runs),
      field('Beyond the included runs', overage),
      field('Maximum users (0: no limit)', maxUsers),
      h('fieldset', h('legend', 'Algorithms'), h('label.check', all, ' All algorithms'), ...algoBoxes),
      h('fieldset', h('legend', 'Features'), ...featureBoxes),
      field('Price note', price),
      existing ? h('p.sub', 'Current periods keep what they granted; the new version applies from their next period or plan change.') : null,
    ],
    onSubmit: async (form) => {
      const picked = [...form.querySelectorAll<HTMLInputElement>('input[name=algorithm]:checked')].map((i) => i.value);
      if (!all.checked && picked.length === 0) throw new Error('Choose at least one algorithm, or all.');
      await lic.savePlan({
        name: name.value.trim(),
        included_runs: Number(runs.value),
        overage: overage.value as Plan['overage'],
        max_users: Number(maxUsers.value || 0),
        algorithms: all.checked ? 'all' : picked,
        features: [...form.querySelectorAll<HTMLInputElement>('input[name=feature]:checked')].map((i) => i.value as Plan['features'][number]),
        price_note: price.value.trim(),
      });
    },
  });
}

export function vendorPlansPage(main: HTMLElement): void {
  const admin = isVendorAdmin();
  const line = stateLine('plans-state');
  const { table, body } = dataTable('Plans', ['Plan', 'Version', 'Runs / month', 'Overage', 'Users', 'Algorithms', 'Features', 'Price', ...(admin ? [''] : [])], 'plans');
  let algorithmIds: string[] = [];
  const create = admin ? h('button', { type: 'button', onclick: () => void planDialog(null, algorithmIds).then(done) }, 'New plan') : null;
  main.append(pageFrame('Plans', 'plans-page', create, line, table));

  const done = (ok: boolean) => {
    if (!ok) return;
    toast('Plan saved.');
    void load();
  };
  const load = async () => {
    try {
      const plans = await lic.plans();
      body.replaceChildren(...plans.map((p) => h('tr', { 'data-plan': p.name },
        h('td', h('strong', p.name)), h('td.num', `v${p.version}`), h('td.num', String(p.included_runs)), h('td', p.overage),
        h('td.num', p.max_users ? String(p.max_users) : 'no limit'),
        h('td', p.algorithms === 'all' ? 'all' : p.algorithms.join(', ')),
        h('td', FEATURES.filter((f) => p.features.includes(f.value)).map((f) => f.label).join(', ')),
        h('td', p.price_note),
        admin ? h('td', h('button', { type: 'button', 'aria-label': `New version of ${p.name}`, onclick: () => void planDialog(p, algorithmIds).then(done) }, 'New version')) : null)));
      line.textContent = plans.length ? `${plans.length} plan${plans.length === 1 ? '' : 's'} (latest versions)` : 'No plans yet.';
    } catch (e) {
      showError(line, 'the plans', e);
    }
  };
  algorithms(true).then((list) => (algorithmIds = [...new Set(list.map((a) => a.id))]), () => {});
  void load();
}
