// The dashboard's sections: the summary table (server CSV), one card per algorithm version
// and clinic with its charts, the runs table (CSV made here), and open bug reports.
import { enc } from '../api/http';
import * as mon from '../api/monitoring';
import type { BugReport, MonitoringQuery, RunRecord, Summary, SummaryGroup } from '../api/monitoring';
import { toCsv } from '../lib/csv';
import { daysBetween, formatDateTime } from '../lib/dates';
import { correctionDice, formatDice, formatRate, verdictCounts } from '../lib/feedback';
import { h } from '../lib/dom';
import { formatDuration } from '../lib/jobs';
import { isVendor } from '../session';
import { barChart, histogram } from '../ui/charts';
import { badge, dataTable, downloadLink, saveText, showError, stateLine } from '../ui/page';

const groupName = (g: Pick<SummaryGroup, 'algorithm' | 'version' | 'tenant'>) => `${g.algorithm} ${g.version} at ${g.tenant}`;

export function summaryTable(s: Summary, q: MonitoringQuery): Node[] {
  const { table, body } = dataTable('Summary per algorithm version and clinic',
    ['Algorithm', 'Version', 'Clinic', 'Runs', 'Failed', 'Failure rate', 'p50', 'p95', 'Acceptance', 'Mean Dice', 'Drift', 'Open bug reports'], 'summary');
  body.append(...s.groups.map((g) => h('tr', { 'data-group': `${g.algorithm}@${g.version}@${g.tenant}` },
    h('td', g.algorithm), h('td', g.version), h('td', g.tenant),
    h('td.num', { 'data-role': 'runs' }, String(g.runs)),
    h('td.num', String(g.failed)),
    h('td.num', formatRate(g.failure_rate)),
    h('td.num', formatDuration(g.p50_ms)), h('td.num', formatDuration(g.p95_ms)),
    h('td.num', { title: `${g.feedback.accept} accepted, ${g.feedback.reject} rejected, ${g.feedback.correct} corrected` }, formatRate(g.acceptance_rate)),
    h('td.num', { 'data-role': 'mean-dice' }, formatDice(g.mean_dice)),
    h('td', g.drift_flag ? badge('drift', 'bad', 'The last 7 days differ from the version’s first 30 (KS test, p < 0.01)') : 'no'),
    h('td.num', { 'data-role': 'open-bugs' }, String(g.open_bug_reports)))));
  return [h('div.section-head', h('h3', 'Per version and clinic'), downloadLink(mon.summaryCsvUrl(q), 'Download CSV', 'summary-csv')), table];
}

export function groupCard(g: SummaryGroup, from: string, to: string): HTMLElement {
  const perDay = daysBetween(from, to).map((d) => ({ label: d.slice(5), value: g.runs_per_day[d] ?? 0, title: `${d}: ${g.runs_per_day[d] ?? 0} runs` }));
  const metrics = Object.entries(g.metrics).filter(([, m]) => m.n > 0 && m.histogram);
  const feedback = [
    { label: 'accepted', value: g.feedback.accept, tone: 'ok' as const },
    { label: 'rejected', value: g.feedback.reject, tone: 'bad' as const },
    { label: 'corrected', value: g.feedback.correct, tone: 'warn' as const },
  ];
  return h('article.card.group', { 'aria-label': groupName(g), 'data-group': `${g.algorithm}@${g.version}@${g.tenant}` },
    h('h3', groupName(g), g.drift_flag ? badge('drift', 'bad') : null),
    h('p.facts',
      `${g.runs} runs, ${g.failed} failed (${formatRate(g.failure_rate)}); duration p50 ${formatDuration(g.p50_ms) || '–'}, p95 ${formatDuration(g.p95_ms) || '–'}; `,
      `acceptance ${formatRate(g.acceptance_rate)}; mean Dice against corrections ${formatDice(g.mean_dice)}; ${g.open_bug_reports} open bug report${g.open_bug_reports === 1 ? '' : 's'}.`),
    h('div.charts',
      h('figure', barChart(perDay, { label: `Runs per day, ${groupName(g)}`, integers: true }), h('figcaption', 'Runs per day')),
      h('figure', barChart(feedback, { label: `Feedback, ${groupName(g)}`, integers: true }), h('figcaption', 'Feedback')),
      ...metrics.map(([name, m]) =>
        h('figure', histogram(m.histogram!, m.min ?? 0, m.max ?? 0, { label: `Distribution of ${name}, ${groupName(g)}` }),
          h('figcaption', `${name}: n ${m.n}, median ${fmt(m.p50)}, mean ${fmt(m.mean)}`, driftNote(g, name))))),
    g.top_failures.length
      ? h('div', h('h4', 'Top failure reasons'), h('ol.failures', ...g.top_failures.map((f) => h('li', `${f.reason} (${f.count})`))))
      : null,
  );
}

const fmt = (v: number | undefined) => (v === undefined ? '–' : Number(v.toPrecision(4)).toString());

function driftNote(g: SummaryGroup, metric: string): HTMLElement | null {
  const d = g.drift[metric];
  if (!d) return null;
  if (d.note) return h('div.sub', `drift: ${d.note}`);
  return h('div', { class: d.flag ? 'sub error' : 'sub' }, `drift: KS ${fmt(d.ks)}, p ${d.p !== undefined ? d.p.toExponential(1) : '–'}${d.flag ? ' — drifting' : ''}`);
}

// ---- runs ----

function inputText(r: RunRecord): string {
  const i = r.input ?? {};
  const parts = [i.modality, i.instances ? `${i.instances} images` : '', [i.manufacturer, i.model].filter(Boolean).join(' '),
    i.slice_thickness_mm ? `${i.slice_thickness_mm} mm` : '', i.kernel ? `kernel ${i.kernel}` : '', i.kvp ? `${i.kvp} kVp` : ''];
  return parts.filter(Boolean).join(', ');
}

function resultLink(r: RunRecord): string | null {
  if (isVendor() || !r.input?.study_uid) return null;
  const q = new URLSearchParams({ series: r.series_uid });
  if (r.segmentation_id) q.set('seg', String(r.segmentation_id));
  return `/studies/${enc(String(r.input.study_uid))}?${q}`;
}

const RUN_HEADERS = ['Run', 'Clinic', 'Algorithm', 'Version', 'State', 'Submitted', 'Duration', 'Worker', 'Input', 'Feedback', 'Dice', 'Error'];

function runsCsv(list: RunRecord[]): string {
  return toCsv([...RUN_HEADERS, ...['fetch_ms', 'convert_ms', 'run_ms', 'store_ms']], list.map((r) => {
    const v = verdictCounts(r.feedback);
    return [r.id, r.tenant, r.algorithm, r.version, r.state, new Date(r.created_at * 1000).toISOString(), Math.round(r.duration_ms), r.worker, inputText(r),
      `accept ${v.accept} reject ${v.reject} correct ${v.correct}`, correctionDice(r.feedback), r.error ?? '',
      r.timings_ms.fetch, r.timings_ms.convert, r.timings_ms.run, r.timings_ms.store];
  }));
}

export async function runsSection(host: HTMLElement, q: MonitoringQuery, signal: AbortSignal): Promise<void> {
  const line = stateLine('runs-state');
  const { table, body } = dataTable('Runs', RUN_HEADERS, 'runs');
  const exportButton = h('button', { type: 'button', disabled: true }, 'Download CSV');
  host.replaceChildren(h('div.section-head', h('h3', 'Runs'), exportButton), line, table);
  try {
    const list = await mon.runs(q, 200, signal);
    exportButton.disabled = list.length === 0;
    exportButton.onclick = () => saveText(runsCsv(list), `runs-${q.from}-${q.to}.csv`);
    line.textContent = list.length ? `${list.length} most recent run${list.length === 1 ? '' : 's'}` : 'No runs in this range.';
    body.replaceChildren(...list.map((r) => {
      const v = verdictCounts(r.feedback);
      const dice = correctionDice(r.feedback);
      const link = resultLink(r);
      return h('tr', { 'data-run': r.id, 'data-state': r.state },
        h('td.num', link ? h('a', { href: link, 'data-link': true }, `#${r.id}`) : `#${r.id}`),
        h('td', r.tenant), h('td', r.algorithm), h('td', r.version),
        h('td', badge(r.state, `job-${r.state}`)),
        h('td', formatDateTime(r.created_at)),
        h('td.num', { title: Object.entries(r.timings_ms).map(([k, ms]) => `${k} ${Math.round(ms)} ms`).join(', ') }, formatDuration(r.duration_ms)),
        h('td.sub', r.worker),
        h('td.sub', inputText(r)),
        h('td', { 'data-role': 'feedback', title: r.feedback.map((f) => `${f.verdict}${f.reason ? ` (${f.reason})` : ''} by ${f.author}`).join('\n') },
          [v.accept ? `accepted ${v.accept}` : '', v.reject ? `rejected ${v.reject}` : '', v.correct ? `corrected ${v.correct}` : ''].filter(Boolean).join(', ')),
        h('td.num', { 'data-role': 'dice' }, dice === null ? '' : formatDice(dice)),
        h('td.error', r.error ?? ''));
    }));
  } catch (e) {
    showError(line, 'the runs', e);
  }
}

// ---- bug reports ----

export function bugReportsSection(list: BugReport[]): Node[] {
  const open = list.filter((b) => b.status !== 'fixed' && b.status !== 'wont_fix');
  const { table, body } = dataTable('Open bug reports', ['Report', 'Clinic', 'Severity', 'Status', 'Run', 'Description', 'Filed'], 'dashboard-bugs');
  body.append(...open.slice(0, 20).map((b) => h('tr', { 'data-bug': b.id },
    h('td.num', h('a', { href: `/bug-reports/${b.id}`, 'data-link': true }, `#${b.id}`)),
    h('td', b.tenant), h('td', badge(b.severity, `sev-${b.severity}`)), h('td', b.status.replace('_', ' ')),
    h('td.num', b.job_id ? `#${b.job_id}` : ''), h('td', b.description.length > 100 ? `${b.description.slice(0, 100)}…` : b.description),
    h('td', formatDateTime(b.created_at)))));
  return [
    h('div.section-head', h('h3', `Open bug reports (${open.length})`), h('a', { href: '/bug-reports', 'data-link': true }, 'All bug reports')),
    open.length ? table : h('p.sub', 'No open bug report.'),
  ];
}
