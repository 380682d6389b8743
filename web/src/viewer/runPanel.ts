// The viewer's algorithm section: "Run algorithm" on the shown series (disabled, with the
// reason, when the subscription does not allow runs), and this series' runs with live
// status and progress, cancel, and their results. The run started here is followed by
// Server-Sent Events (polling if they fail); earlier ones still running are polled.
import { ApiError } from '../api/http';
import * as jobsApi from '../api/jobs';
import type { Job } from '../api/jobs';
import { h, toast } from '../lib/dom';
import { algorithmLabel, isTerminal, progressFraction, runDurationText, STATE_LABELS, statusText } from '../lib/jobs';
import { watchJob, type JobWatch } from '../lib/jobWatch';
import { runGate } from '../lib/subscriptionGate';
import { subscription, invalidateSubscription } from '../subscription';
import { chooseAndRun } from './runDialog';

const SHOWN = 5;

export interface RunPanelHooks {
  openResult: (segmentationId: number, job: Job) => Promise<void>;
  mayReplaceShown: () => boolean; // no unsaved edits in the way
}

export class RunPanel {
  readonly element: HTMLElement;
  private runButton = h('button.primary', { type: 'button', 'data-testid': 'run-algorithm', disabled: true }, 'Run algorithm…');
  private reason = h('p.reason', { 'data-testid': 'run-disabled-reason', hidden: true });
  private list = h('ul.runs', { 'data-testid': 'runs', 'aria-label': 'Runs on this series' });
  private jobs = new Map<number, Job>();
  private watches = new Map<number, JobWatch>();
  private startedHere = new Set<number>();
  private disposed = false;

  constructor(private series: string, private hooks: RunPanelHooks) {
    this.runButton.addEventListener('click', () => void this.run());
    this.element = h('section.run-panel', { 'aria-label': 'Algorithms', 'data-testid': 'run-panel' },
      h('h3', 'Algorithms'), h('div.row', this.runButton), this.reason, this.list);
    document.addEventListener('vg:subscription', this.onSubscription);
  }

  async start(): Promise<void> {
    await Promise.all([this.refreshGate(), this.loadRuns()]);
  }

  private onSubscription = () => void this.refreshGate(false);

  private async refreshGate(fetch = true): Promise<void> {
    const view = fetch ? await subscription() : await subscription(Infinity);
    if (this.disposed) return;
    const gate = runGate(view);
    this.runButton.disabled = !gate.allowed;
    this.runButton.title = gate.allowed ? 'Run an algorithm on this series' : `Run is disabled: ${gate.reason}`;
    this.reason.hidden = gate.allowed;
    this.reason.textContent = gate.allowed ? '' : `Run is disabled: ${gate.reason}.`;
  }

  private async run(): Promise<void> {
    let job: Job | null;
    try {
      job = await chooseAndRun(this.series, await subscription());
    } catch (e) {
      toast((e as Error).message, 'error');
      return;
    } finally {
      void this.refreshGate(); // a refusal (402) may have changed what the subscription allows
    }
    if (!job || this.disposed) return;
    invalidateSubscription(); // the quota moved
    this.startedHere.add(job.id);
    this.show(job);
    this.follow(job, true);
  }

  private async loadRuns(): Promise<void> {
    try {
      // The series filter is applied after the limit on the server: ask for plenty.
      const list = (await jobsApi.jobs({ series: this.series, limit: 200 })).slice(0, SHOWN);
      if (this.disposed) return;
      for (const job of list.reverse()) {
        this.show(job);
        if (!isTerminal(job.state)) this.follow(job, false);
      }
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 403)) this.list.append(h('li.error', `Runs could not be listed: ${(e as Error).message}`));
    }
  }

  private follow(job: Job, stream: boolean): void {
    const w = watchJob(job.id, (j) => this.update(j), {
      openEvents: stream && typeof EventSource !== 'undefined' ? (url) => new EventSource(url) : null,
      fetchJob: (id) => jobsApi.job(id),
      eventsUrl: jobsApi.jobEventsUrl,
      onError: (e) => toast(`Run #${job.id} cannot be followed: ${(e as Error).message}`, 'error'),
    });
    this.watches.set(job.id, w);
  }

  private update(job: Job): void {
    if (this.disposed) return;
    const before = this.jobs.get(job.id)?.state;
    this.show(job);
    if (job.state === before || !isTerminal(job.state)) return;
    this.watches.delete(job.id);
    if (job.state === 'succeeded' && job.segmentation_id && this.startedHere.has(job.id)) {
      if (this.hooks.mayReplaceShown()) {
        void this.hooks.openResult(job.segmentation_id, job).then(() => toast(`The result of ${algorithmLabel(job)} is shown.`));
      } else {
        toast(`${algorithmLabel(job)} finished; open its result when you have saved your changes.`);
      }
    } else if (job.state === 'failed') {
      toast(`${algorithmLabel(job)} failed: ${job.error ?? 'no reason given'}`, 'error');
    }
  }

  private show(job: Job): void {
    this.jobs.set(job.id, job);
    const item = this.item(job);
    const old = this.list.querySelector(`li[data-job="${job.id}"]`);
    if (old) old.replaceWith(item);
    else this.list.prepend(item);
    while (this.list.children.length > SHOWN) this.list.lastElementChild?.remove();
  }

  private item(job: Job): HTMLElement {
    const fraction = progressFraction(job);
    const active = !isTerminal(job.state);
    const cancel = active
      ? h('button', { type: 'button', 'aria-label': `Cancel run ${job.id}`, onclick: () => void this.cancel(job) }, 'Cancel')
      : null;
    const open = job.state === 'succeeded' && job.segmentation_id
      ? h('button', { type: 'button', 'aria-label': `Show the result of run ${job.id}`, onclick: () => void this.hooks.openResult(job.segmentation_id!, job) }, 'Show result')
      : null;
    const duration = runDurationText(job, Date.now() / 1000);
    return h('li', { 'data-job': job.id, 'data-state': job.state, class: `run job-${job.state}` },
      h('div', h('strong', algorithmLabel(job)), ' · ', h('span', { 'data-role': 'state' }, STATE_LABELS[job.state] ?? job.state), duration ? ` · ${duration}` : ''),
      active ? h('progress', { max: 1, ...(fraction !== null ? { value: fraction } : {}), 'aria-label': `Progress of run ${job.id}` }) : null,
      h('div.sub', { 'data-role': 'status', role: active ? 'status' : undefined }, job.state === 'succeeded' ? `run #${job.id} by ${job.created_by}` : statusText(job)),
      h('div.row', cancel, open));
  }

  private async cancel(job: Job): Promise<void> {
    try {
      this.show(await jobsApi.cancelJob(job.id));
      if (!this.watches.has(job.id)) this.follow(job, false);
    } catch (e) {
      toast(`Run #${job.id} was not cancelled: ${(e as Error).message}`, 'error');
    }
  }

  dispose(): void {
    this.disposed = true;
    document.removeEventListener('vg:subscription', this.onSubscription);
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
  }
}
