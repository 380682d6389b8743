// The series as a reference case for local acceptance: whether it is one (and with which
// segmentation version), and for clinic admins and radiologists "Use as reference case"
// on the version shown (replacing an earlier reference of the series) and removing it.
// Acceptance runs of an algorithm version compare its output with each reference.
import * as acceptance from '../api/acceptance';
import type { ReferenceCase } from '../api/acceptance';
import { ApiError } from '../api/http';
import type { SegmentationVersion } from '../api/types';
import { referenceState } from '../lib/acceptance';
import { formatDateTime } from '../lib/dates';
import { h, present, toast } from '../lib/dom';

export class ReferencePanel {
  readonly element = h('section.reference-panel', { 'aria-label': 'Reference case', 'data-testid': 'reference-case', hidden: true });
  private refs: ReferenceCase[] | null = null;
  private shown: SegmentationVersion | null = null;
  private busy = false;
  private disposed = false;

  // `canMark`: clinic admins and radiologists; others see whether the series is one.
  constructor(private series: string, private canMark: boolean) {}

  async start(): Promise<void> {
    try {
      const refs = await acceptance.referenceCases();
      if (this.disposed) return;
      this.refs = refs;
      this.render();
    } catch (e) {
      if (this.disposed) return;
      if (e instanceof ApiError && e.status === 403) return; // not for this role: no panel
      this.element.hidden = false;
      this.element.replaceChildren(h('h3', 'Reference case'), h('p.error', `Reference cases could not be listed: ${(e as Error).message}`));
    }
  }

  // The editor shows another version.
  show(shown: SegmentationVersion | null): void {
    this.shown = shown;
    this.render();
  }

  private render(): void {
    if (!this.refs || this.disposed) return;
    const shownId = this.shown?.id ?? null;
    const { reference, isShown } = referenceState(this.refs, this.series, shownId);
    const by = reference ? ` (marked by ${reference.marked_by}, ${formatDateTime(reference.marked_at)})` : '';
    const state = !reference
      ? 'This series is not a reference case.'
      : isShown
        ? `This version is the series’ reference case${by}.`
        : `The series’ reference case is version ${reference.segmentation_id}${by}.`;
    const mark = this.canMark && !isShown
      ? h('button', {
          type: 'button', 'data-testid': 'reference-mark', disabled: this.busy || shownId === null,
          title: shownId === null ? 'Save the segmentation first: a reference case is a saved version'
            : reference ? `Replaces version ${reference.segmentation_id} as the series’ reference` : 'Approve this version as the series’ reference for acceptance runs',
          onclick: () => void this.mark(),
        }, reference ? 'Use this version as reference case instead' : 'Use as reference case')
      : null;
    const remove = this.canMark && reference
      ? h('button', { type: 'button', 'data-testid': 'reference-remove', disabled: this.busy, onclick: () => void this.remove() }, 'Remove reference case')
      : null;
    this.element.hidden = false;
    this.element.dataset.reference = reference ? String(reference.segmentation_id) : '';
    this.element.replaceChildren(...present([
      h('h3', 'Reference case'),
      h('p', { 'data-testid': 'reference-state', 'data-shown': String(isShown) }, state),
      mark || remove ? h('div.row', mark, remove) : null,
      h('p.sub', 'Acceptance runs test an algorithm version on every reference case, against its approved segmentation.'),
    ]));
  }

  private async mark(): Promise<void> {
    const v = this.shown;
    if (!v || this.busy) return;
    this.busy = true;
    this.render();
    try {
      const marked = await acceptance.markReference(this.series, v.id);
      this.refs = [...(this.refs ?? []).filter((r) => r.series_uid !== this.series), marked];
      toast(`Version ${v.id} is the series’ reference case.`);
    } catch (e) {
      toast(`Not marked: ${(e as Error).message}`, 'error');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  private async remove(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.render();
    try {
      await acceptance.unmarkReference(this.series);
      this.refs = (this.refs ?? []).filter((r) => r.series_uid !== this.series);
      toast('The series is no longer a reference case.');
    } catch (e) {
      toast(`Not removed: ${(e as Error).message}`, 'error');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  dispose(): void {
    this.disposed = true;
  }
}
