// One bug report: what was reported (description, steps, browser, app version, the run,
// the screenshot where the viewer may see it), the comments both ways and a reply; for
// the vendor, triage (a status change with an optional comment) and the reproduction bundle.
import { job as fetchJob } from '../api/jobs';
import { ApiError } from '../api/http';
import * as mon from '../api/monitoring';
import { BUG_STATUSES, type BugReport, type BugStatus } from '../api/monitoring';
import { formatDateTime } from '../lib/dates';
import { h, present, toast } from '../lib/dom';
import { algorithmLabel } from '../lib/jobs';
import { isVendor } from '../session';
import { field } from '../ui/dialog';
import { badge, downloadLink, pageFrame, stateLine } from '../ui/page';
import { resultHref } from './jobs';
import { statusLabel } from './bugReports';

export function bugReportPage(main: HTMLElement, params: string[]): void {
  const id = Number(params[0]);
  const line = stateLine('bug-state');
  const host = h('div');
  main.append(pageFrame(`Bug report #${id}`, 'bug-report-page', h('p', h('a', { href: '/bug-reports', 'data-link': true }, '‹ All bug reports')), line, host));
  const load = () =>
    mon.bugReport(id).then((b) => {
      line.textContent = '';
      host.replaceChildren(...present(render(b, load)));
    }, (e) => {
      line.classList.add('error');
      line.textContent = e instanceof ApiError && e.status === 404 ? 'There is no such bug report.' : `The report could not be loaded: ${(e as Error).message}`;
    });
  void load();
}

function render(b: BugReport, reload: () => void): (Node | null)[] {
  const vendor = isVendor();
  const run = h('span', b.job_id ? `#${b.job_id}` : 'none');
  if (b.job_id && !vendor)
    fetchJob(b.job_id).then((j) => {
      const href = resultHref(j);
      run.replaceChildren(href ? h('a', { href, 'data-link': true }, `#${j.id} ${algorithmLabel(j)}`) : `#${j.id} ${algorithmLabel(j)}`);
    }, () => {});
  const mayShowShot = b.has_screenshot && (!vendor || b.pixels_shared);
  return [
    h('p.facts', badge(b.severity, `sev-${b.severity}`), ' ', h('span.badge', { 'data-testid': 'bug-status' }, statusLabel(b.status)),
      ` filed by ${b.reporter}${vendor ? ` at ${b.tenant}` : ''} on ${formatDateTime(b.created_at)}; updated ${formatDateTime(b.updated_at)}`),
    h('table.facts', { 'aria-label': 'Report' }, h('tbody',
      h('tr', h('th', { scope: 'row' }, 'Description'), h('td.pre', { 'data-testid': 'bug-description' }, b.description)),
      h('tr', h('th', { scope: 'row' }, 'Steps'), h('td.pre', b.steps || '–')),
      h('tr', h('th', { scope: 'row' }, 'Run'), h('td', run)),
      h('tr', h('th', { scope: 'row' }, 'Browser'), h('td.sub', b.browser || '–')),
      h('tr', h('th', { scope: 'row' }, 'App version'), h('td', b.app_version || '–')))),
    b.has_screenshot
      ? mayShowShot
        ? h('figure', h('img', { src: mon.bugScreenshotUrl(b.id), alt: `Screenshot attached to report ${b.id}`, class: 'shot', 'data-testid': 'bug-screenshot' }))
        : h('p.sub', 'A screenshot is attached; it stays with the clinic, which does not share cases with the vendor.')
      : null,
    vendor ? triage(b, reload) : null,
    h('h3', 'Comments'),
    h('ol.comments', { 'data-testid': 'bug-comments' },
      ...(b.comments ?? []).map((c) => h('li', { class: `from-${c.from}` }, h('div.sub', `${c.author} (${c.from}) · ${formatDateTime(c.created_at)}`), h('div.pre', c.text)))),
    (b.comments ?? []).length ? null : h('p.sub', 'No comments yet.'),
    replyForm(b, reload),
  ];
}

function triage(b: BugReport, reload: () => void): HTMLElement {
  const status = h('select', { name: 'status' }, ...BUG_STATUSES.map((s) => h('option', { value: s.value, selected: s.value === b.status }, s.label)));
  const note = h('textarea', { name: 'note', rows: 2, maxlength: 10000, placeholder: 'optional; the reporter sees it' });
  const save = h('button.primary', { type: 'submit' }, 'Change status');
  return h('form.card', { 'aria-label': 'Triage', onsubmit: async (e: Event) => {
    e.preventDefault();
    save.disabled = true;
    try {
      await mon.setBugStatus(b.id, status.value as BugStatus, note.value.trim());
      toast(`Report #${b.id}: ${statusLabel(status.value)}.`);
      reload();
    } catch (err) {
      toast(`The status was not changed: ${(err as Error).message}`, 'error');
      save.disabled = false;
    }
  } },
  h('h3', 'Triage'), field('Status', status), field('Comment', note), save, ' ',
  downloadLink(mon.bugBundleUrl(b.id), 'Download reproduction bundle', 'bug-bundle'),
  h('small.hint', b.pixels_shared ? ' With the input and output images (NIfTI, no patient identifiers): the clinic shares them.' : ' Without images: the clinic does not share cases and no support grant covers this report.'));
}

function replyForm(b: BugReport, reload: () => void): HTMLElement {
  const text = h('textarea', { name: 'comment', rows: 3, required: true, maxlength: 10000 });
  const send = h('button', { type: 'submit' }, 'Add comment');
  return h('form', { 'aria-label': 'Comment', onsubmit: async (e: Event) => {
    e.preventDefault();
    send.disabled = true;
    try {
      await mon.commentBug(b.id, text.value.trim());
      reload();
    } catch (err) {
      toast(`The comment was not sent: ${(err as Error).message}`, 'error');
      send.disabled = false;
    }
  } }, field(isVendor() ? 'Comment to the clinic' : 'Reply to the vendor', text), send);
}
