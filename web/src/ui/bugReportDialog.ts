// "Report a problem": severity, description, steps, optionally attached to the result on
// screen and with a screenshot the app takes itself (the viewer's canvases as a PNG). The
// browser (navigator.userAgent) and the app version go with it.
import { fileBug, SEVERITIES, type BugReport, type Severity } from '../api/monitoring';
import { h } from '../lib/dom';
import { field, formDialog } from './dialog';

export interface BugContext {
  job?: { id: number; label: string } | null; // the result on screen
  screenshot?: (() => string | null) | null; // a PNG data URL of what is shown
}

export const appVersion = (): string => __APP_VERSION__;

export async function reportProblem(ctx: BugContext = {}): Promise<BugReport | null> {
  // Taken before the dialog covers anything.
  const shot = ctx.screenshot ? safeShot(ctx.screenshot) : null;
  const severity = h('select', { name: 'severity' }, ...SEVERITIES.map((s) => h('option', { value: s, selected: s === 'medium' }, s)));
  const description = h('textarea', { name: 'description', rows: 4, required: true, maxlength: 10000, placeholder: 'What went wrong?' });
  const steps = h('textarea', { name: 'steps', rows: 3, maxlength: 10000, placeholder: '1. …\n2. …' });
  const attach = h('input', { type: 'checkbox', name: 'attach', checked: !!ctx.job });
  const withShot = h('input', { type: 'checkbox', name: 'screenshot', checked: !!shot });
  const browser = navigator.userAgent.slice(0, 512);
  let filed: BugReport | null = null;
  const ok = await formDialog({
    title: 'Report a problem',
    testid: 'bug-dialog',
    wide: true,
    submitLabel: 'Send report',
    body: [
      field('Severity', severity),
      field('Description', description),
      field('Steps to reproduce', steps),
      ctx.job ? h('label.check', attach, ` Attach to the shown result (run #${ctx.job.id}, ${ctx.job.label})`) : null,
      shot
        ? h('div.shot', h('label.check', withShot, ' Include this screenshot'), h('img', { src: shot, alt: 'Screenshot of the viewer', class: 'shot-preview' }),
            h('small.hint', 'The vendor sees the screenshot only if your clinic shares cases with the vendor or grants support access.'))
        : null,
      h('p.sub', { 'data-testid': 'bug-context' }, `Sent with the report: your browser (${browser.slice(0, 80)}${browser.length > 80 ? '…' : ''}) and the app version (${appVersion()}).`),
    ],
    onSubmit: async () => {
      filed = await fileBug({
        severity: severity.value as Severity,
        description: description.value.trim(),
        steps: steps.value.trim(),
        browser,
        app_version: appVersion().slice(0, 64),
        job_id: ctx.job && attach.checked ? ctx.job.id : null,
        ...(shot && withShot.checked ? { screenshot: shot } : {}),
      });
    },
  });
  return ok ? filed : null;
}

function safeShot(take: () => string | null): string | null {
  try {
    return take();
  } catch {
    return null; // a tainted or lost canvas: the report goes without
  }
}
