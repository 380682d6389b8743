// The monitoring dashboard: for each algorithm version and clinic over a chosen range,
// runs per day, failures and why, p50/p95 duration, acceptance, mean Dice against
// corrections, output-metric distributions, the drift flag and open bug reports; alerts
// (vendor); the runs themselves; open bug reports. Clinics see the same for their own runs
// (the server scopes every call). Tables export to CSV.
import { algorithms } from '../api/jobs';
import { tenants } from '../api/licensing';
import * as mon from '../api/monitoring';
import type { MonitoringQuery, Summary } from '../api/monitoring';
import { daysBetween, lastDays, parseDay } from '../lib/dates';
import { h } from '../lib/dom';
import { navigate } from '../router';
import { isVendor } from '../session';
import { barChart } from '../ui/charts';
import { field } from '../ui/dialog';
import { pageFrame, showError, stateLine } from '../ui/page';
import { bugReportsSection, groupCard, runsSection, summaryTable } from './monitoringParts';

const RANGES = [
  { value: '7', label: 'Last 7 days' },
  { value: '30', label: 'Last 30 days' },
  { value: '90', label: 'Last 90 days' },
  { value: 'custom', label: 'Custom' },
];

// The query of the page's URL, with the default range filled in.
export function dashboardQuery(q: URLSearchParams, today = new Date()): MonitoringQuery & { range: string } {
  const range = q.get('range') ?? (q.get('from') ? 'custom' : '30');
  const days = Number(range);
  const fixed = Number.isFinite(days) && days > 0 ? lastDays(days, today) : null;
  const from = fixed?.from ?? (parseDay(q.get('from') ?? '') ? q.get('from')! : lastDays(30, today).from);
  const to = fixed?.to ?? (parseDay(q.get('to') ?? '') ? q.get('to')! : lastDays(1, today).to);
  return { range, from, to, algorithm: q.get('algorithm') ?? '', version: q.get('version') ?? '', tenant: q.get('tenant') ?? '' };
}

export function monitoringPage(main: HTMLElement, query: URLSearchParams): () => void {
  const controller = new AbortController();
  const vendor = isVendor();
  const q = dashboardQuery(query);
  const range = h('select', { name: 'range' }, ...RANGES.map((r) => h('option', { value: r.value }, r.label)));
  range.value = q.range;
  const from = h('input', { type: 'date', name: 'from', value: q.from, disabled: q.range !== 'custom' });
  const to = h('input', { type: 'date', name: 'to', value: q.to, disabled: q.range !== 'custom' });
  const algorithm = h('select', { name: 'algorithm' }, h('option', { value: '' }, 'all algorithms'));
  const clinic = h('select', { name: 'tenant' }, h('option', { value: '' }, 'all clinics'));
  const apply = () => {
    const p = new URLSearchParams();
    p.set('range', range.value);
    if (range.value === 'custom') {
      if (from.value) p.set('from', from.value);
      if (to.value) p.set('to', to.value);
    }
    const [a, v] = algorithm.value.split('@');
    if (a) p.set('algorithm', a);
    if (v) p.set('version', v);
    if (clinic.value) p.set('tenant', clinic.value);
    navigate(`/monitoring?${p}`);
  };
  range.addEventListener('change', () => {
    from.disabled = to.disabled = range.value !== 'custom';
    if (range.value !== 'custom') apply();
  });
  for (const el of [algorithm, clinic]) el.addEventListener('change', apply);

  algorithms(vendor).then((list) => {
    const ids = [...new Set(list.map((a) => a.id))];
    for (const id of ids) {
      algorithm.append(h('option', { value: id }, `${id} (all versions)`));
      for (const a of list.filter((x) => x.id === id)) algorithm.append(h('option', { value: `${id}@${a.version}` }, `${id} ${a.version}`));
    }
    algorithm.value = q.version ? `${q.algorithm}@${q.version}` : q.algorithm ?? '';
  }, () => {});
  if (vendor)
    tenants().then((list) => {
      clinic.append(...list.map((t) => h('option', { value: t.slug }, t.name)));
      clinic.value = q.tenant ?? '';
    }, () => {});

  const api: MonitoringQuery = { from: q.from, to: q.to, algorithm: q.algorithm, version: q.version, tenant: q.tenant };
  const line = stateLine('dashboard-state');
  const overview = h('section.charts', { 'aria-label': 'Overview' });
  const alerts = h('section', { 'aria-label': 'Alerts', 'data-testid': 'alerts' });
  const table = h('section', { 'aria-label': 'Summary per algorithm version and clinic' });
  const groups = h('section.groups', { 'aria-label': 'Details per algorithm version and clinic' });
  const runs = h('section', { 'aria-label': 'Runs' });
  const bugs = h('section', { 'aria-label': 'Open bug reports' });
  main.append(pageFrame(vendor ? 'Monitoring (all clinics)' : 'Monitoring (this clinic)', 'dashboard',
    h('form.filters', { onsubmit: (e: Event) => (e.preventDefault(), apply()) },
      field('Range', range), field('From', from), field('To', to), field('Algorithm', algorithm), vendor ? field('Clinic', clinic) : null,
      h('button', { type: 'submit' }, 'Show')),
    line, alerts, overview, table, groups, runs, bugs));

  mon.summary(api, controller.signal).then((s) => {
    line.textContent = s.groups.length ? `${q.from} to ${q.to}: ${s.groups.length} algorithm version${s.groups.length === 1 ? '' : 's'} × clinic` : `${q.from} to ${q.to}: no runs.`;
    renderAlerts(alerts, s);
    overview.replaceChildren(...overviewCharts(s, q.from!, q.to!));
    table.replaceChildren(...summaryTable(s, api));
    groups.replaceChildren(...s.groups.map((g) => groupCard(g, q.from!, q.to!)));
  }, (e) => showError(line, 'the dashboard', e));
  void runsSection(runs, api, controller.signal);
  void bugsSectionLoad(bugs, api.tenant);
  return () => controller.abort();
}

function renderAlerts(host: HTMLElement, s: Summary) {
  if (!s.alerts) return host.replaceChildren();
  host.replaceChildren(
    h('h3', 'Alerts'),
    s.alerts.length
      ? h('ul.alerts', ...s.alerts.map((a) => h('li.alert', { 'data-kind': a.kind }, h('strong', a.kind.replace(/_/g, ' ')), ': ', a.message)))
      : h('p.sub', 'No alert is firing.'),
  );
}

function overviewCharts(s: Summary, from: string, to: string): HTMLElement[] {
  const days = new Map<string, number>();
  for (const g of s.groups) for (const [d, n] of Object.entries(g.runs_per_day)) days.set(d, (days.get(d) ?? 0) + n);
  const perDay = daysBetween(from, to).map((d) => ({ label: d.slice(5), value: days.get(d) ?? 0, title: `${d}: ${days.get(d) ?? 0} runs` }));
  const failure = s.groups.map((g) => ({ label: `${g.algorithm} ${g.version}${isVendor() ? ` @${g.tenant}` : ''}`, value: g.failure_rate, tone: g.failure_rate > 0.2 ? 'bad' as const : 'ok' as const }));
  return [
    h('figure', barChart(perDay, { label: 'Runs per day, all shown versions', integers: true, testid: 'chart-runs-per-day' }), h('figcaption', 'Runs per day')),
    h('figure', barChart(failure, { label: 'Failure rate per version and clinic', max: 1, format: (v) => `${Math.round(v * 100)}%`, testid: 'chart-failure-rate' }), h('figcaption', 'Failure rate')),
  ];
}

async function bugsSectionLoad(host: HTMLElement, tenant?: string) {
  try {
    const list = await mon.bugReports({ tenant: tenant || undefined });
    host.replaceChildren(...bugReportsSection(list));
  } catch (e) {
    const line = stateLine('dashboard-bugs-state');
    showError(line, 'the bug reports', e);
    host.replaceChildren(line);
  }
}
