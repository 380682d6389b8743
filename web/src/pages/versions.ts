// The clinic's algorithm versions (GET /api/v1/deployments): for each algorithm the version
// its runs use, a canary if one runs, a promotion the vendor has scheduled (announced before
// it takes effect), and every change with its date, reason and who made it. Read only: the
// vendor releases versions.
import { ownDeployments } from '../api/deployments';
import type { DeploymentEvent, OwnDeployment } from '../api/deployments';
import { formatDateTime } from '../lib/dates';
import { canaryText, eventReason, eventText, scheduledNotice, versionChange } from '../lib/deployments';
import { h } from '../lib/dom';
import { dataTable, pageFrame, showError, stateLine } from '../ui/page';

export function versionsPage(main: HTMLElement): () => void {
  const controller = new AbortController();
  const line = stateLine('versions-state');
  const list = h('div', { 'data-testid': 'versions' });
  main.append(pageFrame('Algorithm versions', 'versions-page',
    h('p.sub', 'Which version of each algorithm your clinic’s runs use, what the vendor has scheduled, and every change. A run keeps the version it started with; every result names its version.'),
    line, list));
  ownDeployments(controller.signal).then((all) => {
    line.textContent = all.length ? `${all.length} algorithm${all.length === 1 ? '' : 's'}` : 'No algorithm is available.';
    list.replaceChildren(...all.map(card));
  }, (e) => showError(line, 'the algorithm versions', e));
  return () => controller.abort();
}

function card(d: OwnDeployment): HTMLElement {
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
    d.history.length ? table : h('p.sub', 'No change yet.'));
}

function historyRow(e: DeploymentEvent): HTMLElement {
  return h('tr', { 'data-event': e.id, 'data-action': e.action },
    h('td', formatDateTime(e.at)),
    h('td', { 'data-role': 'change' }, eventText(e)),
    h('td', { 'data-role': 'versions' }, versionChange(e)),
    h('td', eventReason(e)),
    h('td', e.actor));
}
