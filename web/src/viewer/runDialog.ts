// Choosing an algorithm to run on the shown series: each one's description, intended use,
// input constraints and the "not for diagnostic use" flag; those the subscription does not
// allow are shown disabled with the reason. Resolves to the submitted job (or null).
import { ApiError } from '../api/http';
import { algorithms, submitJob, type Algorithm, type Job } from '../api/jobs';
import type { SubscriptionView } from '../api/licensing';
import { h } from '../lib/dom';
import { runGate } from '../lib/subscriptionGate';
import { invalidateSubscription } from '../subscription';
import { formDialog } from '../ui/dialog';

function constraints(a: Algorithm): string {
  const parts = [a.input.modality, a.input.min_slices ? `at least ${a.input.min_slices} slices` : '', a.input.body_part ? a.input.body_part.toLowerCase() : ''];
  return parts.filter(Boolean).join(', ');
}

function option(a: Algorithm, view: SubscriptionView | null, first: boolean): HTMLElement {
  const gate = runGate(view, a.id);
  const id = `vg-algo-${a.id}-${a.version}`.replace(/[^\w-]/g, '_');
  const radio = h('input', { type: 'radio', name: 'algorithm', value: a.id, id, disabled: !gate.allowed, checked: first && gate.allowed, required: true, 'aria-describedby': `${id}-about` });
  radio.dataset.version = a.version;
  return h('div.algo-option', { 'data-algorithm': a.id },
    h('label', { for: id }, radio, h('strong', ` ${a.name}`), ` ${a.version}`,
      a.not_for_diagnostic_use ? h('span.flag', { 'data-testid': 'not-for-diagnostic-use' }, 'Not for diagnostic use') : null),
    h('div.about', { id: `${id}-about` },
      a.description ? h('p', a.description) : null,
      a.intended_use ? h('p', { 'data-testid': 'intended-use' }, h('em', 'Intended use: '), a.intended_use) : null,
      constraints(a) ? h('p.sub', `Takes: ${constraints(a)}.`) : null,
      a.segments.length ? h('p.sub', `Finds: ${a.segments.map((s) => s.name).join(', ')}.`) : null,
      gate.allowed ? null : h('p.reason', `Not available: ${gate.reason}.`)));
}

export async function chooseAndRun(series: string, view: SubscriptionView | null): Promise<Job | null> {
  let list: Algorithm[];
  try {
    list = await algorithms();
  } catch (e) {
    throw new Error(`the algorithms could not be listed: ${(e as Error).message}`);
  }
  let submitted: Job | null = null;
  const firstAllowed = list.findIndex((a) => runGate(view, a.id).allowed);
  const ok = await formDialog({
    title: 'Run an algorithm on this series',
    testid: 'run-dialog',
    wide: true,
    submitLabel: 'Run',
    body: [
      list.length
        ? h('fieldset.algorithms', h('legend', 'Algorithm'), ...list.map((a, i) => option(a, view, i === firstAllowed)))
        : h('p', 'No algorithm is available to your clinic.'),
      h('p.sub', 'The result comes back as a segmentation of this series, labelled with the algorithm and its version.'),
    ],
    onSubmit: async (form) => {
      const chosen = form.querySelector<HTMLInputElement>('input[name=algorithm]:checked');
      if (!chosen) throw new Error('Choose an algorithm.');
      try {
        submitted = await submitJob(chosen.value, series, chosen.dataset.version);
      } catch (e) {
        if (e instanceof ApiError && e.status === 402) invalidateSubscription();
        throw e;
      }
    },
  });
  return ok ? submitted : null;
}
