// Auto-run rules of the clinic (clinic admins): "run this algorithm on every new series of
// this modality with at least N images, once it has been quiet for S seconds". A plan
// without auto-run shows the form disabled with the reason.
import * as jobsApi from '../api/jobs';
import type { Algorithm, AutoRule } from '../api/jobs';
import { formatDateTime } from '../lib/dates';
import { h, toast } from '../lib/dom';
import { featureGate } from '../lib/subscriptionGate';
import { invalidateSubscription, subscription } from '../subscription';
import { field, formDialog } from '../ui/dialog';
import { dataTable, pageFrame, showError, stateLine } from '../ui/page';

export function autoRulesPage(main: HTMLElement): void {
  const line = stateLine('rules-state');
  const { table, body } = dataTable('Auto-run rules', ['Algorithm', 'Modality', 'At least', 'Quiet for', 'Created', ''], 'rules');
  const algorithm = h('select', { name: 'algorithm', required: true });
  const modality = h('input', { name: 'modality', size: 4, placeholder: 'CT' });
  const minInstances = h('input', { name: 'min_instances', type: 'number', min: 1, max: 100000, size: 6 });
  const quiet = h('input', { name: 'quiet_seconds', type: 'number', min: 0, max: 86400, value: 60, size: 6 });
  const add = h('button.primary', { type: 'submit' }, 'Add rule');
  const why = h('span.reason', { 'data-testid': 'rules-disabled-reason' });
  let list: Algorithm[] = [];
  const fillDefaults = () => {
    const a = list.find((x) => x.id === algorithm.value);
    if (!a) return;
    modality.placeholder = a.input.modality || 'any';
    minInstances.placeholder = String(a.input.min_slices || 1);
  };
  algorithm.addEventListener('change', fillDefaults);
  const form = h('form.card.inline-form', { 'aria-label': 'New auto-run rule', onsubmit: (e: Event) => (e.preventDefault(), void create()) },
    field('Algorithm', algorithm), field('Modality', modality), field('Minimum images', minInstances), field('Quiet seconds', quiet), add, why);
  main.append(pageFrame('Auto-run rules', 'rules-page',
    h('p.sub', 'A rule runs its algorithm once on each new series that matches, after the series has stopped receiving images for the quiet time.'),
    form, line, table));

  const create = async () => {
    add.disabled = true;
    try {
      await jobsApi.createAutoRule({
        algorithm: algorithm.value,
        ...(modality.value.trim() ? { modality: modality.value.trim() } : {}),
        ...(minInstances.value ? { min_instances: Number(minInstances.value) } : {}),
        quiet_seconds: Number(quiet.value || 60),
      });
      toast('Rule added.');
      await load();
    } catch (e) {
      toast(`The rule was not added: ${(e as Error).message}`, 'error');
      invalidateSubscription();
    } finally {
      add.disabled = false;
      void gate();
    }
  };

  const remove = (rule: AutoRule) =>
    formDialog({
      title: `Delete the rule for ${rule.algorithm}?`,
      body: [h('p', 'Series that arrive from now on no longer run it. Runs already made stay.')],
      submitLabel: 'Delete',
      danger: true,
      onSubmit: async () => {
        await jobsApi.deleteAutoRule(rule.id);
      },
    }).then((ok) => {
      if (ok) void load();
    });

  const load = async () => {
    try {
      const rules = await jobsApi.autoRules();
      body.replaceChildren(...rules.map((r) => h('tr', { 'data-rule': r.id },
        h('td', r.algorithm), h('td', r.modality || 'any'), h('td.num', `${r.min_instances} images`), h('td.num', `${r.quiet_seconds} s`),
        h('td', `${formatDateTime(r.created_at)} by ${r.created_by}`),
        h('td', h('button', { type: 'button', 'aria-label': `Delete the rule for ${r.algorithm}`, onclick: () => void remove(r) }, 'Delete')))));
      line.textContent = rules.length ? `${rules.length} rule${rules.length === 1 ? '' : 's'}` : 'No rules: algorithms run only when someone starts them.';
    } catch (e) {
      showError(line, 'the rules', e);
    }
  };

  const gate = async () => {
    const g = featureGate(await subscription(), 'auto_run');
    add.disabled = !g.allowed;
    why.textContent = g.allowed ? '' : `Adding rules is disabled: ${g.reason}`;
  };

  jobsApi.algorithms().then((algos) => {
    list = algos;
    algorithm.replaceChildren(...algos.map((a) => h('option', { value: a.id }, `${a.name} (${a.id} ${a.version})`)));
    fillDefaults();
  }, (e) => showError(line, 'the algorithms', e));
  void gate();
  void load();
}
