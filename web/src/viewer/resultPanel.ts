// Feedback on an algorithm's result shown in the viewer: which algorithm and version made
// it (and whether it is for diagnostic use), Accept, Reject with a reason from the fixed
// list and free text, and Correct: editing the result and saving makes a new version whose
// parent is the algorithm's, which the server compares in the background (Dice, volume
// difference, HD95 per segment) and lists with the run's feedback.
import { algorithms, feedback as listFeedback, REJECT_REASONS, sendVerdict, type Algorithm, type Feedback } from '../api/jobs';
import { supportTenant } from '../api/http';
import type { SegmentationVersion } from '../api/types';
import { formatDateTime } from '../lib/dates';
import { h, present, toast } from '../lib/dom';
import { formatDice } from '../lib/feedback';
import { field, formDialog } from '../ui/dialog';

const POLL_MS = 1000;
const POLL_FOR_MS = 90_000;

export interface ResultPanelHooks {
  canEdit: boolean; // may this person save a segmentation version
  editDisabledReason: string;
  canJudge: boolean; // may send feedback (a clinic's people, not vendor support)
  startCorrection: (algorithmVersion: SegmentationVersion) => Promise<void>;
  reportProblem: (job: { id: number; label: string }) => void;
}

let algorithmList: Promise<Algorithm[]> | null = null;
document.addEventListener('vg:user', () => (algorithmList = null));

// The run whose result is shown: the version itself, or the algorithm's version it corrects.
export function resultOf(shown: SegmentationVersion | null, versions: SegmentationVersion[]): { result: SegmentationVersion; correction: SegmentationVersion | null } | null {
  if (!shown) return null;
  if (shown.source === 'algorithm' && shown.job_id) return { result: shown, correction: null };
  const parent = versions.find((v) => v.id === shown.parent_id);
  if (parent && parent.source === 'algorithm' && parent.job_id) return { result: parent, correction: shown };
  return null;
}

export class ResultPanel {
  readonly element = h('section.result-panel', { 'aria-label': 'Algorithm result', 'data-testid': 'result-panel', hidden: true });
  private result: SegmentationVersion | null = null;
  private correction: SegmentationVersion | null = null;
  private list = h('ul.feedback', { 'data-testid': 'feedback', 'aria-label': 'Feedback on this result' });
  private waiting = h('p.sub', { 'data-testid': 'correction-wait', role: 'status' });
  private pollTimer: number | undefined;
  private disposed = false;

  constructor(private hooks: ResultPanelHooks) {}

  get jobId(): number | null {
    return this.result?.job_id ?? null;
  }

  get label(): string {
    const a = this.result?.algorithm;
    return a ? `${a.name} ${a.version}` : '';
  }

  // The editor shows another version: follow it.
  show(shown: SegmentationVersion | null, versions: SegmentationVersion[]): void {
    const found = resultOf(shown, versions);
    const sameResult = found?.result.id === this.result?.id;
    this.result = found?.result ?? null;
    this.correction = found?.correction ?? null;
    this.element.hidden = !this.result;
    if (!this.result) {
      this.element.replaceChildren();
      window.clearTimeout(this.pollTimer);
      return;
    }
    this.render();
    if (!sameResult) void this.loadFeedback();
  }

  // A version was saved: if it corrects the shown result, wait for the server's comparison.
  saved(version: SegmentationVersion, versions: SegmentationVersion[]): void {
    const found = resultOf(version, versions);
    if (!found?.correction) return;
    this.waiting.textContent = 'Comparing your correction with the algorithm’s result…';
    const until = Date.now() + POLL_FOR_MS;
    const poll = async () => {
      if (this.disposed) return;
      const list = await this.loadFeedback();
      if (list?.some((f) => f.verdict === 'correct' && f.segmentation_id === version.id)) {
        this.waiting.textContent = '';
        return;
      }
      if (Date.now() > until) {
        this.waiting.textContent = 'The comparison is not ready yet; it will be listed with the run’s feedback.';
        return;
      }
      this.pollTimer = window.setTimeout(() => void poll(), POLL_MS);
    };
    window.clearTimeout(this.pollTimer);
    void poll();
  }

  private render(): void {
    const r = this.result!;
    const flag = h('span');
    // Vendor staff under a support grant may not list the clinic's algorithms: no flag then.
    algorithmList ??= supportTenant() ? Promise.resolve([]) : algorithms().catch(() => []);
    void algorithmList.then((list) => {
      const a = list.find((x) => x.id === r.algorithm?.name);
      if (a?.not_for_diagnostic_use) flag.replaceChildren(h('span.flag', { 'data-testid': 'result-not-for-diagnostic-use' }, 'Not for diagnostic use'));
      if (a?.intended_use) flag.append(h('p.sub', `Intended use: ${a.intended_use}`));
    });
    const jobLabel = { id: r.job_id!, label: this.label };
    const judge = this.hooks.canJudge
      ? h('div.row.verdicts',
          h('button', { type: 'button', class: 'ok', onclick: () => void this.accept() }, 'Accept'),
          h('button', { type: 'button', class: 'danger-outline', onclick: () => void this.reject() }, 'Reject'),
          h('button', { type: 'button', disabled: !this.hooks.canEdit, title: this.hooks.canEdit ? 'Edit the result and save your correction' : this.hooks.editDisabledReason, onclick: () => void this.hooks.startCorrection(r) }, 'Correct'))
      : null;
    this.element.replaceChildren(...present([
      h('h3', 'Algorithm result'),
      h('p', h('strong', { 'data-testid': 'result-label' }, this.label), ` · run #${r.job_id} · version ${r.id}`),
      flag,
      this.correction ? h('p.sub', { 'data-testid': 'correction-label' }, `Shown: your correction (version ${this.correction.id}) of this result.`) : null,
      judge ?? h('p.sub', 'Feedback is given by the clinic’s physicians and radiologists.'),
      this.hooks.canJudge && !this.hooks.canEdit ? h('p.reason', `Correct is disabled: ${this.hooks.editDisabledReason}.`) : null,
      this.hooks.canJudge ? h('button.link', { type: 'button', onclick: () => this.hooks.reportProblem(jobLabel) }, 'Report a problem with this result') : null,
      this.waiting,
      this.hooks.canJudge ? h('h4', 'Feedback') : null,
      this.hooks.canJudge ? this.list : null,
    ]));
  }

  private async loadFeedback(): Promise<Feedback[] | null> {
    const id = this.jobId;
    if (!id || !this.hooks.canJudge) return null;
    try {
      const list = await listFeedback(id);
      if (this.disposed || id !== this.jobId) return list;
      this.list.replaceChildren(...(list.length ? list.map(feedbackItem) : [h('li.sub', 'None yet.')]));
      return list;
    } catch (e) {
      this.list.replaceChildren(h('li.error', `Feedback could not be loaded: ${(e as Error).message}`));
      return null;
    }
  }

  private async accept(): Promise<void> {
    const id = this.jobId;
    if (!id) return;
    try {
      await sendVerdict(id, 'accept');
      toast('Result accepted.');
      await this.loadFeedback();
    } catch (e) {
      toast(`Not sent: ${(e as Error).message}`, 'error');
    }
  }

  private async reject(): Promise<void> {
    const id = this.jobId;
    const result = this.result;
    if (!id || !result) return;
    const reason = h('select', { name: 'reason', required: true },
      h('option', { value: '' }, 'Choose a reason…'), ...REJECT_REASONS.map((r) => h('option', { value: r.value }, r.label)));
    const comment = h('textarea', { name: 'comment', rows: 3, maxlength: 2000, placeholder: 'What is wrong (optional)' });
    const correct = h('input', { type: 'checkbox', name: 'then-correct', disabled: !this.hooks.canEdit });
    const ok = await formDialog({
      title: `Reject the result of ${this.label}`,
      testid: 'reject-dialog',
      submitLabel: 'Reject',
      danger: true,
      body: [
        field('Reason', reason),
        field('Details', comment),
        h('label.check', correct, ' Then correct the result (edit it and save)'),
        this.hooks.canEdit ? null : h('small.hint', `Correcting is not possible: ${this.hooks.editDisabledReason}.`),
      ],
      onSubmit: async () => {
        if (!reason.value) throw new Error('Choose a reason.');
        await sendVerdict(id, 'reject', reason.value, comment.value.trim());
      },
    });
    if (!ok) return;
    toast('Result rejected.');
    await this.loadFeedback();
    if (correct.checked) await this.hooks.startCorrection(result);
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.pollTimer);
  }
}

function feedbackItem(f: Feedback): HTMLElement {
  const who = `${f.author} · ${formatDateTime(f.created_at)}`;
  if (f.verdict === 'correct') {
    return h('li', { 'data-verdict': 'correct' },
      h('strong', 'Corrected'), ` (version ${f.segmentation_id}) by ${who}`,
      h('ul.metrics', ...(f.metrics ?? []).map((m) => h('li', { 'data-testid': 'correction-metric', 'data-dice': m.dice },
        `${m.name || `label ${m.label}`}: Dice ${formatDice(m.dice)}, volume ${signed(m.volume_difference_ml)} mL, HD95 ${m.hd95_mm === null ? '–' : `${m.hd95_mm.toFixed(1)} mm`}`))));
  }
  const reason = REJECT_REASONS.find((r) => r.value === f.reason)?.label;
  return h('li', { 'data-verdict': f.verdict },
    h('strong', f.verdict === 'accept' ? 'Accepted' : 'Rejected'), reason ? ` (${reason})` : '', ` by ${who}`,
    f.comment ? h('div.pre', f.comment) : null);
}

const signed = (v: number) => `${v > 0 ? '+' : ''}${v.toFixed(2)}`;
