// The clinic's algorithm runs (GET /api/v1/jobs): state and progress, who started them,
// how long they waited and ran, failures with their message, links to the study and the
// result, cancel. While a run is queued or running the list refreshes itself (one
// request for the whole list, not an event stream per run).
import * as jobsApi from '../api/jobs';
import type { Job } from '../api/jobs';
import { enc } from '../api/http';
import { formatDateTime } from '../lib/dates';
import { h, present, toast } from '../lib/dom';
import { algorithmLabel, isTerminal, progressFraction, queueWaitText, runDurationText, STATE_LABELS, statusText } from '../lib/jobs';
import { navigate } from '../router';
import { canRunAlgorithms } from '../session';
import { formDialog } from '../ui/dialog';
import { badge, dataTable, pageFrame, showError, stateLine } from '../ui/page';

const PAGE = 50;
const REFRESH_MS = 2000;

export function resultHref(job: Pick<Job, 'params' | 'segmentation_id'>): string | null {
  const study = job.params.study_uid;
  if (!study) return null;
  const q = new URLSearchParams();
  if (job.params.series_uid) q.set('series', job.params.series_uid);
  if (job.segmentation_id) q.set('seg', String(job.segmentation_id));
  return `/studies/${enc(study)}?${q}`;
}

function links(job: Job): (Node | string)[] {
  const study = resultHref({ params: job.params });
  const result = job.segmentation_id ? resultHref(job) : null;
  const out: (Node | string)[] = [];
  if (study) out.push(h('a', { href: study, 'data-link': true }, 'Study'));
  if (result) out.push(' · ', h('a', { href: result, 'data-link': true, 'data-testid': `result-${job.id}` }, 'Result'));
  return out;
}

export function jobsPage(main: HTMLElement, query: URLSearchParams): () => void {
  const controller = new AbortController();
  let timer: number | undefined;
  const state = h('select', { name: 'state', 'aria-label': 'State' },
    h('option', { value: '' }, 'any state'),
    ...Object.entries(STATE_LABELS).map(([v, l]) => h('option', { value: v }, l)));
  state.value = query.get('state') ?? '';
  const algorithm = h('select', { name: 'algorithm', 'aria-label': 'Algorithm' }, h('option', { value: '' }, 'any algorithm'));
  const before = Number(query.get('before_id') ?? 0) || undefined;
  const apply = (beforeId?: number) => {
    const p = new URLSearchParams();
    if (state.value) p.set('state', state.value);
    if (algorithm.value) p.set('algorithm', algorithm.value);
    if (beforeId) p.set('before_id', String(beforeId));
    navigate(`/jobs${p.size ? `?${p}` : ''}`);
  };
  state.addEventListener('change', () => apply());
  algorithm.addEventListener('change', () => apply());
  jobsApi.algorithms().then((list) => {
    for (const id of [...new Set(list.map((a) => a.id))]) algorithm.append(h('option', { value: id }, id));
    algorithm.value = query.get('algorithm') ?? '';
  }, () => {});

  const line = stateLine('jobs-state');
  const { table, body } = dataTable('Algorithm runs', ['Run', 'Algorithm', 'State', 'Started by', 'Submitted', 'Queue wait', 'Duration', 'Study / result', ''], 'jobs');
  const pager = h('div.pager');
  main.append(pageFrame('Algorithm runs', 'jobs-page', h('form.filters', { onsubmit: (e: Event) => e.preventDefault() }, state, algorithm), line, table, pager));

  const row = (job: Job) => {
    const now = Date.now() / 1000;
    const fraction = progressFraction(job);
    const cancel = !isTerminal(job.state) && canRunAlgorithms()
      ? h('button', { type: 'button', onclick: () => void cancelRun(job) }, 'Cancel')
      : null;
    return h('tr', { 'data-job': job.id, 'data-state': job.state },
      h('td.num', `#${job.id}`),
      h('td', algorithmLabel(job)),
      h('td', { class: job.state === 'failed' ? 'error' : '' },
        badge(STATE_LABELS[job.state] ?? job.state, `job-${job.state}`),
        job.state === 'running' && fraction !== null ? h('progress', { max: 1, value: fraction, 'aria-label': `Run ${job.id} progress` }) : null,
        h('div.sub', { 'data-role': 'status' }, job.state === 'failed' ? job.error ?? '' : job.state === 'succeeded' || job.state === 'cancelled' ? '' : statusText(job))),
      h('td', job.created_by, job.params.trigger && job.params.trigger !== 'manual' ? h('div.sub', job.params.trigger) : null),
      h('td', formatDateTime(job.created_at)),
      h('td.num', queueWaitText(job)),
      h('td.num', runDurationText(job, now)),
      h('td', ...links(job)),
      h('td', cancel),
    );
  };

  const cancelRun = async (job: Job) => {
    const ok = await formDialog({
      title: `Cancel run #${job.id}?`,
      body: [h('p', `${algorithmLabel(job)} stops; a cancelled run is not counted.`)],
      submitLabel: 'Cancel the run',
      danger: true,
      onSubmit: async () => void (await jobsApi.cancelJob(job.id)),
    });
    if (ok) {
      toast(`Run #${job.id} is being cancelled.`);
      void load();
    }
  };

  const load = async () => {
    window.clearTimeout(timer);
    try {
      const list = await jobsApi.jobs({ state: query.get('state') ?? undefined, algorithm: query.get('algorithm') ?? undefined, limit: PAGE, before_id: before }, controller.signal);
      body.replaceChildren(...list.map(row));
      line.classList.remove('error');
      line.textContent = list.length === 0 ? 'No runs match.' : `${list.length} run${list.length === 1 ? '' : 's'}${before ? ' (older)' : ''}`;
      pager.replaceChildren(...present([
        before ? h('button', { type: 'button', onclick: () => apply() }, '‹ Newest') : null,
        list.length === PAGE ? h('button', { type: 'button', onclick: () => apply(list[list.length - 1].id) }, 'Older ›') : null,
      ]));
      if (list.some((j) => !isTerminal(j.state))) timer = window.setTimeout(() => void load(), REFRESH_MS);
    } catch (e) {
      showError(line, 'the runs', e);
    }
  };
  void load();
  return () => {
    controller.abort();
    window.clearTimeout(timer);
  };
}
