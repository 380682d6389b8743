// Usage per clinic and month, what the vendor invoices from (GET /api/v1/usage): plan,
// included and used runs, overage, failures, run time, runs per algorithm; as a table and
// as the server's CSV. Clinic admins see their own clinic's.
import * as lic from '../api/licensing';
import type { UsageTenant } from '../api/licensing';
import { isoMonth } from '../lib/dates';
import { h } from '../lib/dom';
import { navigate } from '../router';
import { isVendor } from '../session';
import { field } from '../ui/dialog';
import { dataTable, downloadLink, pageFrame, showError, stateLine } from '../ui/page';

export function usagePage(main: HTMLElement, query: URLSearchParams): void {
  const vendor = isVendor();
  const period = query.get('period') || isoMonth();
  const tenant = vendor ? query.get('tenant') ?? '' : '';
  const month = h('input', { type: 'month', name: 'period', value: period, required: true });
  const clinic = h('select', { name: 'tenant' }, h('option', { value: '' }, 'all clinics'));
  const apply = () => {
    const p = new URLSearchParams({ period: month.value || isoMonth() });
    if (clinic.value) p.set('tenant', clinic.value);
    navigate(`/usage?${p}`);
  };
  month.addEventListener('change', apply);
  clinic.addEventListener('change', apply);
  if (vendor)
    lic.tenants().then((list) => {
      clinic.append(...list.map((t) => h('option', { value: t.slug }, t.name)));
      clinic.value = tenant;
    }, () => {});

  const line = stateLine('usage-state');
  const { table, body } = dataTable('Usage', ['Clinic', 'Plan', 'Included', 'Used', 'Overage', 'Failed', 'All runs', 'Run time', 'Per algorithm'], 'usage');
  const csv = downloadLink(lic.usageCsvUrl(period, tenant || undefined), 'Download CSV', 'usage-csv');
  main.append(pageFrame('Usage', 'usage-page',
    h('form.filters', { onsubmit: (e: Event) => (e.preventDefault(), apply()) }, field('Month', month), vendor ? field('Clinic', clinic) : null, csv),
    line, table));

  const row = (t: UsageTenant) => h('tr', { 'data-tenant': t.tenant },
    h('td', t.tenant),
    h('td', t.plan ? `${t.plan}${t.plan_version ? ` v${t.plan_version}` : ''}` : 'none', t.state ? h('div.sub', t.state) : null),
    h('td.num', String(t.included_runs)),
    h('td.num', { 'data-role': 'used' }, String(t.used_runs)),
    h('td.num', { class: t.overage_runs ? 'warn' : '' }, String(t.overage_runs)),
    h('td.num', String(t.failed_runs)),
    h('td.num', String(t.runs)),
    h('td.num', `${t.run_seconds} s`),
    h('td', ...Object.entries(t.by_algorithm).map(([a, n]) => h('div', `${a}: ${n.succeeded} of ${n.runs}`))));

  lic.usage(period, tenant || undefined).then((report) => {
    body.replaceChildren(...report.tenants.map(row));
    line.textContent = report.tenants.length ? `${report.period}: ${report.tenants.length} clinic${report.tenants.length === 1 ? '' : 's'}` : `${report.period}: no runs.`;
  }, (e) => showError(line, 'the usage', e));
}
