// Bug reports: the clinic's own (and a way to file one without the viewer), or for the
// vendor every clinic's, filtered by status and clinic. The detail page is bugReport.ts.
import { tenants } from '../api/licensing';
import * as mon from '../api/monitoring';
import { BUG_STATUSES, type BugReport } from '../api/monitoring';
import { formatDateTime } from '../lib/dates';
import { h, toast } from '../lib/dom';
import { navigate } from '../router';
import { canRunAlgorithms, isVendor } from '../session';
import { reportProblem } from '../ui/bugReportDialog';
import { field } from '../ui/dialog';
import { badge, dataTable, pageFrame, showError, stateLine } from '../ui/page';

export const statusLabel = (s: string) => BUG_STATUSES.find((x) => x.value === s)?.label ?? s;

export function bugReportsPage(main: HTMLElement, query: URLSearchParams): void {
  const vendor = isVendor();
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'any status'), ...BUG_STATUSES.map((s) => h('option', { value: s.value }, s.label)));
  status.value = query.get('status') ?? '';
  const clinic = h('select', { name: 'tenant' }, h('option', { value: '' }, 'all clinics'));
  const apply = () => {
    const p = new URLSearchParams();
    if (status.value) p.set('status', status.value);
    if (clinic.value) p.set('tenant', clinic.value);
    navigate(`/bug-reports${p.size ? `?${p}` : ''}`);
  };
  status.addEventListener('change', apply);
  clinic.addEventListener('change', apply);
  if (vendor)
    tenants().then((list) => {
      clinic.append(...list.map((t) => h('option', { value: t.slug }, t.name)));
      clinic.value = query.get('tenant') ?? '';
    }, () => {});

  const fileOne = canRunAlgorithms()
    ? h('button', { type: 'button', onclick: async () => {
        const filed = await reportProblem();
        if (filed) {
          toast(`Report #${filed.id} sent.`);
          navigate(`/bug-reports/${filed.id}`);
        }
      } }, 'Report a problem')
    : null;
  const line = stateLine('bugs-state');
  const { table, body } = dataTable('Bug reports', ['Report', ...(vendor ? ['Clinic'] : []), 'Severity', 'Status', 'Description', 'Run', 'Reporter', 'Filed', 'Updated'], 'bug-reports');
  main.append(pageFrame('Bug reports', 'bug-reports-page',
    h('form.filters', { onsubmit: (e: Event) => e.preventDefault() }, field('Status', status), vendor ? field('Clinic', clinic) : null, fileOne),
    line, table));

  const row = (b: BugReport) => h('tr', { 'data-bug': b.id, 'data-status': b.status },
    h('td.num', h('a', { href: `/bug-reports/${b.id}`, 'data-link': true }, `#${b.id}`)),
    vendor ? h('td', b.tenant) : null,
    h('td', badge(b.severity, `sev-${b.severity}`)),
    h('td', statusLabel(b.status)),
    h('td', b.description.length > 120 ? `${b.description.slice(0, 120)}…` : b.description),
    h('td.num', b.job_id ? `#${b.job_id}` : ''),
    h('td', b.reporter),
    h('td', formatDateTime(b.created_at)),
    h('td', formatDateTime(b.updated_at)));

  mon.bugReports({ status: query.get('status') ?? undefined, tenant: vendor ? query.get('tenant') ?? undefined : undefined }).then((list) => {
    body.replaceChildren(...list.map(row));
    line.textContent = list.length ? `${list.length} report${list.length === 1 ? '' : 's'}` : 'No reports match.';
  }, (e) => showError(line, 'the bug reports', e));
}
