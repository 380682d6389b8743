// The clinic's algorithm versions (GET /api/v1/deployments): for each algorithm the version
// its runs use, a canary if one runs, a promotion the vendor has scheduled (announced before
// it takes effect), and every change with its date, reason and who made it. The vendor
// releases versions; the clinic tests them on its own cases: per algorithm, its acceptance
// runs (verdict, each segment's mean Dice with its 95 % interval, the report page) and, for
// clinic admins and radiologists, a run of a chosen version on every reference case. Runs
// not yet ended are polled until they end or the page is left.
import * as acceptance from '../api/acceptance';
import type { AcceptanceRun } from '../api/acceptance';
import { ownDeployments } from '../api/deployments';
import type { DeploymentEvent, OwnDeployment } from '../api/deployments';
import { algorithms } from '../api/jobs';
import { anyActive, checkedVersion, diceLines, isActive, newestFirst, passedText, stateText, suggestedVersion, verdictText, versionChoices } from '../lib/acceptance';
import { formatDateTime } from '../lib/dates';
import { canaryText, eventReason, eventText, scheduledNotice, versionChange } from '../lib/deployments';
import { h, toast } from '../lib/dom';
import { canAnnotate } from '../session';
import { field } from '../ui/dialog';
import { badge, dataTable, pageFrame, showError, stateLine } from '../ui/page';

const POLL_MS = 3000;
const RUNS_SHOWN = 20;

export function versionsPage(main: HTMLElement): () => void {
  const controller = new AbortController();
  const signal = controller.signal;
  const line = stateLine('versions-state');
  const list = h('div', { 'data-testid': 'versions' });
  main.append(pageFrame('Algorithm versions', 'versions-page',
    h('p.sub', 'Which version of each algorithm your clinic’s runs use, what the vendor has scheduled, and every change. A run keeps the version it started with; every result names its version.'),
    line, list));
  // What the acceptance sections need besides the deployments; neither stops the page.
  const references = acceptance.referenceCases(signal).then((r) => r.length, () => null);
  const defaults = algorithms().then((all) => all, () => []);
  ownDeployments(signal).then(async (all) => {
    line.textContent = all.length ? `${all.length} algorithm${all.length === 1 ? '' : 's'}` : 'No algorithm is available.';
    const [count, listed] = await Promise.all([references, defaults]);
    if (signal.aborted) return;
    list.replaceChildren(...all.map((d) => card(d, acceptanceSection(d, count, listed.filter((a) => a.id === d.algorithm).map((a) => a.version), signal))));
  }, (e) => showError(line, 'the algorithm versions', e));
  return () => controller.abort();
}

function card(d: OwnDeployment, acceptanceEl: HTMLElement): HTMLElement {
  const notice = scheduledNotice(d);
  const { table, body } = dataTable(`Changes of ${d.name}`, ['Date', 'Change', 'Versions', 'Reason', 'By'], `history-${d.algorithm}`);
  body.append(...d.history.map(historyRow));
  return h('article.card.deployment', { 'aria-label': d.name, 'data-algorithm': d.algorithm },
    h('h3', d.name, h('span.sub.algorithm-id', ` (${d.algorithm})`)),
    notice
      ? h('p.scheduled-notice', { role: 'note', 'data-testid': 'scheduled-notice' }, h('strong', notice),
          d.scheduled?.reason ? ` — ${d.scheduled.reason}` : '', '. Runs submitted before then use the current version.')
      : null,
    h('table.facts',
      h('tr', h('th', { scope: 'row' }, 'Version in use'), h('td', h('strong.in-use', { 'data-role': 'pinned' }, d.pinned))),
      d.canary
        ? h('tr', h('th', { scope: 'row' }, 'Canary'),
            h('td', { 'data-role': 'canary' }, canaryText(d.canary), h('div.sub', `The same series always runs on the same version; the others run ${d.pinned}.`)))
        : null),
    h('h4', 'History'),
    d.history.length ? table : h('p.sub', 'No change yet.'),
    acceptanceEl);
}

function historyRow(e: DeploymentEvent): HTMLElement {
  return h('tr', { 'data-event': e.id, 'data-action': e.action },
    h('td', formatDateTime(e.at)),
    h('td', { 'data-role': 'change' }, eventText(e)),
    h('td', { 'data-role': 'versions' }, versionChange(e)),
    h('td', eventReason(e)),
    h('td', e.actor));
}

// ---- acceptance ----

// One algorithm's acceptance: the reference cases, a run of a chosen version (clinic admins
// and radiologists), and the runs with their verdicts, polled while one is in progress.
function acceptanceSection(d: OwnDeployment, references: number | null, defaults: string[], signal: AbortSignal): HTMLElement {
  const id = d.algorithm;
  const details = new Map<number, AcceptanceRun>(); // ended runs with their report (they never change)
  let timer: number | undefined;
  let following = false; // a run was in progress at the last look
  signal.addEventListener('abort', () => window.clearTimeout(timer));

  const line = stateLine(`acceptance-state-${id}`);
  const { table, body } = dataTable(`Acceptance runs of ${d.name}`, ['Version', 'State', 'Passed', 'Started', 'Mean Dice per segment (95 % CI)', 'Report'], `acceptance-runs-${id}`);
  table.hidden = true;

  const refText = references === null
    ? 'Your clinic’s reference cases could not be counted.'
    : `${references} reference case${references === 1 ? '' : 's'} in your clinic. Mark a series in the viewer: show its approved segmentation and choose “Use as reference case”.`;

  let form: HTMLElement | null = null;
  if (canAnnotate()) {
    const choices = versionChoices(d, defaults);
    const listId = `vg-acceptance-versions-${id}`;
    const version = h('input', { name: 'acceptance_version', list: listId, value: suggestedVersion(d) || choices[0]?.version || '', autocomplete: 'off', placeholder: 'e.g. 1.1.0', required: true });
    const button = h('button.primary', { type: 'submit', 'data-testid': 'acceptance-start' });
    const error = h('p.error', { role: 'alert', 'data-testid': 'acceptance-error' });
    const label = () => (button.textContent = version.value.trim() ? `Run acceptance of version ${version.value.trim()}` : 'Run acceptance');
    version.addEventListener('input', label);
    label();
    form = h('form.filters.acceptance-form', {
      'aria-label': `Run acceptance of ${d.name}`,
      onsubmit: (e: Event) => {
        e.preventDefault();
        void start();
      },
    },
    h('datalist', { id: listId }, ...choices.map((c) => h('option', { value: c.version }, `${c.version} (${c.note})`))),
    field('Version', version, choices.length ? `Offered: ${choices.map((c) => `${c.version} (${c.note})`).join(', ')}; or type another.` : 'The version to test.'),
    button, error);

    async function start() {
      error.textContent = '';
      button.disabled = true;
      try {
        const v = checkedVersion(version.value);
        const run = await acceptance.startRun(id, v);
        toast(`Acceptance run of ${id} ${run.version} started on your reference cases.`);
        await refresh();
      } catch (e) {
        error.textContent = `Not started: ${(e as Error).message}`;
      } finally {
        button.disabled = false;
      }
    }
  }

  const section = h('section.acceptance', { 'aria-label': `Acceptance of ${d.name}`, 'data-testid': `acceptance-${id}` },
    h('h4', 'Acceptance'),
    h('p.sub', { 'data-testid': 'reference-count', 'data-count': references ?? '' }, refText),
    form ?? h('p.sub', 'Clinic admins and radiologists run acceptance tests.'),
    line, table);

  let asked = 0;
  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    const token = ++asked;
    try {
      const runs = newestFirst(await acceptance.runs({ algorithm: id }, signal)).slice(0, RUNS_SHOWN);
      // The report of each ended run (asked for once).
      await Promise.all(runs.filter((r) => !isActive(r) && !details.has(r.id)).map(async (r) => {
        try {
          details.set(r.id, await acceptance.run(r.id, signal));
        } catch (e) {
          if ((e as Error).name === 'AbortError') throw e;
        }
      }));
      if (token !== asked || signal.aborted) return;
      line.classList.remove('error');
      line.textContent = runs.length ? `${runs.length} run${runs.length === 1 ? '' : 's'}${runs.length === RUNS_SHOWN ? ' (the newest)' : ''}` : 'No acceptance run yet.';
      body.replaceChildren(...runs.map((r) => runRow(details.get(r.id) ?? r)));
      table.hidden = runs.length === 0;
      following = anyActive(runs);
      if (following) timer = window.setTimeout(() => void refresh(), POLL_MS);
    } catch (e) {
      if (signal.aborted || (e as Error).name === 'AbortError') return;
      showError(line, 'the acceptance runs', e);
      // A run in progress is still followed (the server may be restarting); else the error stands.
      if (following) timer = window.setTimeout(() => void refresh(), POLL_MS * 3);
    }
  }
  void refresh();
  return section;
}

function runRow(r: AcceptanceRun): HTMLElement {
  const active = isActive(r);
  return h('tr', { 'data-run': r.id, 'data-state': r.state, 'data-version': r.version },
    h('td', { 'data-role': 'version' }, r.version),
    h('td', { 'data-role': 'state', role: active ? 'status' : undefined },
      badge(stateText(r.state), `acceptance-${r.state}`),
      h('div.sub', { 'data-role': 'verdict' }, verdictText(r))),
    h('td', { 'data-role': 'passed' }, passedText(r)),
    h('td', formatDateTime(r.created_at), h('div.sub', `by ${r.created_by}`), r.finished_at ? h('div.sub', `ended ${formatDateTime(r.finished_at)}`) : null),
    h('td', { 'data-role': 'dice' }, ...diceLines(r.report).map((l) => h('div', { 'data-label': l.label }, l.text))),
    h('td', active ? '' : h('a', { href: acceptance.reportHtmlUrl(r.id), target: '_blank', rel: 'noopener', 'data-testid': 'acceptance-report' }, 'Report')));
}
