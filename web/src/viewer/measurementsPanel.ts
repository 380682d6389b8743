// The measurements of an algorithm's result shown in the viewer, as the stored measurement
// report (the DICOM SR, TID 1500, that the result-forms job keeps beside the SEG) says them:
// per measurement the segment, the quantity and the value with its unit. Asked for when a
// result is shown; nothing is shown while there is none (404: not stored yet, or the
// algorithm maps no metric to a measurement).
import { measurementReport } from '../api/client';
import type { SegmentationVersion } from '../api/types';
import { h } from '../lib/dom';
import { measurementRows } from '../lib/measurements';

export class MeasurementsPanel {
  readonly element = h('section.measurements-panel', { 'aria-label': 'Measurements', 'data-testid': 'measurements', hidden: true });
  private controller: AbortController | null = null;
  private disposed = false;

  // The editor shows another version (or the same again): ask for its report.
  show(shown: SegmentationVersion | null): void {
    this.controller?.abort();
    this.controller = null;
    this.element.hidden = true;
    this.element.replaceChildren();
    delete this.element.dataset.segmentation;
    if (!shown || shown.source !== 'algorithm' || this.disposed) return;
    const controller = new AbortController();
    this.controller = controller;
    void measurementReport(shown.id, controller.signal).then(
      (report) => {
        if (controller.signal.aborted || this.disposed) return;
        const rows = measurementRows(report);
        if (!report || rows.length === 0) return;
        this.element.dataset.segmentation = String(shown.id);
        this.element.replaceChildren(
          h('h4', 'Measurements'),
          h('table.measurements', { 'aria-label': 'Measurements of this result' },
            h('tbody', ...rows.map((r) => h('tr', { 'data-testid': 'measurement', 'data-label': r.label ?? '', 'data-value': r.raw },
              h('th', { scope: 'row', 'data-role': 'segment' }, r.segment),
              h('td', { 'data-role': 'quantity' }, r.quantity),
              h('td.num', { 'data-role': 'value' }, r.value))))),
          h('p.sub', { 'data-testid': 'measurements-source', title: report.title ? `${report.title} · SOP instance ${report.sop_uid}` : undefined },
            'from the DICOM SR (TID 1500)'));
        this.element.hidden = false;
      },
      (e) => {
        if (controller.signal.aborted || this.disposed || (e as Error).name === 'AbortError') return;
        this.element.replaceChildren(h('h4', 'Measurements'), h('p.error', `The measurement report could not be read: ${(e as Error).message}`));
        this.element.hidden = false;
      },
    );
  }

  dispose(): void {
    this.disposed = true;
    this.controller?.abort();
  }
}
