// The vendor's releases of an algorithm into the clinics: which version each clinic runs
// (pinned, previous, canary, shadow, scheduled); for vendor admins the actions on chosen
// clinics (promote at once, as a canary or scheduled; roll back; start or end a shadow),
// each confirmed in a dialog with an optional reason, and each clinic's outcome. Below, the
// shadow comparison of a candidate with the pinned versions on the clinics' own cases
// (numbers and UIDs only), every clinic's acceptance runs (for vendor admins: a run of a
// version started at the chosen clinics, each clinic's outcome), and every change. Vendor
// support sees the same, read only.
import * as acc from '../api/acceptance';
import type { AcceptanceRun } from '../api/acceptance';
import * as dep from '../api/deployments';
import type { ActionResult, AlgorithmDeployments, ClinicDeployment, DeploymentEvent, ShadowCase, ShadowComparison, Spread, VendorAction } from '../api/deployments';
import { algorithms } from '../api/jobs';
import { anyActive, diceLines, newestFirst, passedText, stateText, targetClinics, vendorOutcomeText, verdictText } from '../lib/acceptance';
import { formatDateTime } from '../lib/dates';
import {
  actionBody, canaryText, correctionPairs, eventReason, eventText, formatMm, formatNumber, metricPairs, needsVersion, outcomeHint, outcomeText,
  scheduledText, shadowVersions, shortUid, versionChange, versionOptions,
} from '../lib/deployments';
import { h, toast } from '../lib/dom';
import { formatDice } from '../lib/feedback';
import { formatDuration } from '../lib/jobs';
import { navigate } from '../router';
import { isVendorAdmin } from '../session';
import { field, formDialog } from '../ui/dialog';
import { badge, dataTable, pageFrame, showError, stateLine } from '../ui/page';

interface ActionSpec {
  action: VendorAction;
  label: string;
  explain: string;
}

const ACTIONS: ActionSpec[] = [
  { action: 'promote', label: 'Promote',
    explain: 'Pins the version at the clinics: every new run uses it (runs already started finish on theirs). With a canary share, only that share of each clinic’s series runs on it. With a date and time, the promotion is scheduled and the clinics are told first.' },
  { action: 'rollback', label: 'Roll back',
    explain: 'Undoes the newest of: a scheduled promotion (cancelled), a canary (ended), the last promotion (back to the previous version). Never refused by a clinic’s acceptance rules.' },
  { action: 'shadow', label: 'Start shadow',
    explain: 'Runs the version beside each run of the clinics, at low priority and outside their quota, for the comparison below only: clinicians never see its results.' },
  { action: 'end-shadow', label: 'End shadow', explain: 'Stops the shadow runs at the clinics.' },
];

export function vendorReleasesPage(main: HTMLElement, query: URLSearchParams): () => void {
  const controller = new AbortController();
  const signal = controller.signal;
  const admin = isVendorAdmin();
  let current: AlgorithmDeployments | null = null;
  const selected = new Set<string>();

  const algorithm = h('select', { name: 'algorithm' });
  algorithm.addEventListener('change', () => navigate(`/vendor/releases?algorithm=${encodeURIComponent(algorithm.value)}`));
  const line = stateLine('releases-state');
  const versionsLine = h('p.sub', { 'data-testid': 'release-versions' });
  const { table, body } = dataTable('Clinics', [...(admin ? ['Select'] : []), 'Clinic', 'Pinned', 'Previous', 'Canary', 'Shadow', 'Scheduled'], 'release-clinics');

  // The selection and the actions (vendor admins).
  const all = h('input', { type: 'checkbox', name: 'all', 'data-testid': 'release-all' });
  const selection = h('span.sub', { 'data-testid': 'release-selection' });
  const buttons = ACTIONS.map((a) => h('button', { type: 'button', disabled: true, onclick: () => void run(a) }, `${a.label}…`));
  const actions = admin
    ? h('div.release-actions', { 'data-testid': 'release-actions' },
        h('label.check', all, ' All clinics'), selection, ...buttons)
    : h('p.sub', 'Only vendor admins release versions.');
  const outcome = h('section', { 'aria-label': 'Outcome', 'data-testid': 'release-outcome', hidden: true });

  const shadowHost = h('section', { 'aria-label': 'Shadow comparison' });
  const acceptanceHost = h('section', { 'aria-label': 'Acceptance', 'data-testid': 'release-acceptance' });
  const acceptance = acceptanceSection(acceptanceHost, signal, admin, () => ({ all: all.checked, clinics: [...selected] }));
  const historyLine = stateLine('release-history-state');
  const history = dataTable('History', ['Date', 'Clinic', 'Change', 'Versions', 'Reason', 'By', 'Webhook'], 'release-history');

  main.append(pageFrame('Releases', 'releases-page',
    h('form.filters', { onsubmit: (e: Event) => e.preventDefault() }, field('Algorithm', algorithm)),
    line, versionsLine, actions, outcome, table, shadowHost, acceptanceHost,
    h('div.section-head', h('h3', 'History')), historyLine, history.table));

  const syncSelection = () => {
    const n = selected.size;
    selection.textContent = all.checked ? 'every clinic' : n ? `${n} clinic${n === 1 ? '' : 's'} selected` : 'select clinics to act on';
    for (const b of buttons) b.disabled = !all.checked && n === 0;
    acceptance.selectionChanged(all.checked || n > 0);
    for (const box of body.querySelectorAll<HTMLInputElement>('input[type=checkbox]')) box.disabled = all.checked;
  };
  all.addEventListener('change', syncSelection);

  const row = (c: ClinicDeployment) => {
    const box = admin ? h('input', { type: 'checkbox', 'aria-label': `Select ${c.clinic}`, checked: selected.has(c.clinic), disabled: all.checked }) : null;
    box?.addEventListener('change', () => {
      if (box.checked) selected.add(c.clinic);
      else selected.delete(c.clinic);
      syncSelection();
    });
    return h('tr', { 'data-clinic': c.clinic },
      box ? h('td', box) : null,
      h('td', h('strong', c.name), h('div.sub', c.clinic)),
      h('td', { 'data-role': 'pinned' }, c.pinned),
      h('td', { 'data-role': 'previous' }, c.previous ?? '–'),
      h('td', { 'data-role': 'canary' }, c.canary ? canaryText(c.canary) : '–'),
      h('td', { 'data-role': 'shadow' }, c.shadow || '–'),
      h('td', { 'data-role': 'scheduled' }, c.scheduled ? scheduledText(c.scheduled) : '–',
        c.scheduled?.reason ? h('div.sub', c.scheduled.reason) : null));
  };

  const load = async (id: string) => {
    try {
      const d = await dep.algorithmDeployments(id, signal);
      current = d;
      for (const slug of [...selected]) if (!d.clinics.some((c) => c.clinic === slug)) selected.delete(slug);
      body.replaceChildren(...d.clinics.map(row));
      line.classList.remove('error');
      line.textContent = d.clinics.length ? `${d.clinics.length} clinic${d.clinics.length === 1 ? '' : 's'}; default version ${d.default ?? 'none'}` : 'No clinics yet.';
      versionsLine.textContent = `Versions: ${versionOptions(d.versions).map((v) => v.label).join(', ')}`;
      syncSelection();
    } catch (e) {
      showError(line, 'the clinics’ versions', e);
    }
  };

  const loadHistory = async (id: string) => {
    try {
      const events = await dep.deploymentEvents(id, {}, signal);
      history.body.replaceChildren(...events.map(eventRow));
      historyLine.classList.remove('error');
      historyLine.textContent = events.length ? `${events.length} most recent change${events.length === 1 ? '' : 's'}` : 'No change yet.';
    } catch (e) {
      showError(historyLine, 'the history', e);
    }
  };

  // The shadow section follows the deployments (which versions run in shadow where).
  let shadow: ShadowSection | null = null;
  const reload = async (id: string) => {
    await Promise.all([load(id), loadHistory(id)]);
    shadow = shadowSection(shadowHost, id, current, signal, shadow?.choice());
    void acceptance.load(id, current);
  };

  const showOutcome = (spec: ActionSpec, result: ActionResult) => {
    const total = result.results.length;
    outcome.hidden = false;
    outcome.replaceChildren(
      h('h3', `${spec.label}: ${result.changed} of ${total} clinic${total === 1 ? '' : 's'} changed`),
      h('ul.outcomes', ...result.results.map((r) =>
        h('li', { class: r.ok ? 'ok' : 'failed', 'data-clinic': r.clinic, 'data-ok': String(r.ok) }, h('strong', r.clinic), `: ${outcomeText(r)}`,
          outcomeHint(r) ? h('div.sub', { 'data-role': 'hint' }, outcomeHint(r)) : null))));
  };

  async function run(spec: ActionSpec) {
    if (!current) return;
    const id = current.algorithm;
    const clinics = [...selected];
    let last: ActionResult | null = null;
    const done = await actionDialog(spec, current, { all: all.checked, clinics }, async (body) => {
      const result = await dep.act(id, spec.action, body);
      last = result;
      showOutcome(spec, result);
      if (result.changed === 0) {
        const first = result.results.find((r) => !r.ok);
        throw new Error(`Nothing changed${first ? `: ${first.clinic}: ${outcomeText(first)}` : '.'}`);
      }
    });
    const result = last as ActionResult | null; // set in the dialog's callback
    if (!result) return;
    if (done) {
      const refused = result.results.length - result.changed;
      toast(`${spec.label}: ${result.changed} clinic${result.changed === 1 ? '' : 's'} changed${refused ? `, ${refused} refused` : ''}.`, refused ? 'error' : 'info');
    }
    await reload(id);
  }

  algorithms(true).then(async (list) => {
    const ids = [...new Map(list.map((a) => [a.id, a.name])).entries()];
    algorithm.replaceChildren(...ids.map(([id, name]) => h('option', { value: id }, `${name} (${id})`)));
    if (!ids.length) {
      line.textContent = 'No algorithm is registered.';
      return;
    }
    const id = ids.some(([x]) => x === query.get('algorithm')) ? query.get('algorithm')! : ids[0][0];
    algorithm.value = id;
    await reload(id);
  }, (e) => showError(line, 'the algorithms', e));

  return () => controller.abort();
}

function actionDialog(spec: ActionSpec, d: AlgorithmDeployments, target: { all: boolean; clinics: string[] },
  send: (body: dep.ActionBody) => Promise<void>): Promise<boolean> {
  const options = versionOptions(d.versions);
  const newest = [...d.versions].filter((v) => v.enabled).sort((a, b) => b.registered_at - a.registered_at)[0]?.version;
  const version = h('select', { name: 'version', required: true },
    ...options.map((o) => h('option', { value: o.value, disabled: o.disabled, selected: o.value === newest }, o.label)));
  const canary = h('input', { type: 'number', name: 'canary_percent', min: 1, max: 99, step: 1, placeholder: 'every run' });
  const effective = h('input', { type: 'datetime-local', name: 'effective_at' });
  const reason = h('textarea', { name: 'reason', rows: 3, maxlength: 500, placeholder: 'optional' });
  const names = target.all ? 'every clinic' : target.clinics.join(', ');
  return formDialog({
    title: `${spec.label}: ${d.algorithm}`,
    testid: 'release-action-dialog',
    submitLabel: spec.label,
    body: [
      h('p', spec.explain),
      h('p.sub', { 'data-testid': 'release-targets' }, `Clinics: ${names}.`),
      needsVersion(spec.action) ? field('Version', version) : null,
      spec.action === 'promote' ? field('Canary share (%)', canary, 'Optional, 1–99: that share of each clinic’s series runs on the version; the rest stays on the pinned one. Empty: every run.') : null,
      spec.action === 'promote' ? field('Effective from', effective, 'Optional, your local time: schedules the promotion (at most a year ahead); the clinics see it coming. Empty: now.') : null,
      field('Reason (optional)', reason, 'Kept with the change: the clinics see it in their history, and the audit log has it.'),
    ],
    onSubmit: async () => {
      const body = actionBody(spec.action, {
        all: target.all, clinics: target.clinics, version: version.value, canaryPercent: canary.value, effective: effective.value, reason: reason.value,
      }, Math.floor(Date.now() / 1000));
      await send(body);
    },
  });
}

function eventRow(e: DeploymentEvent): HTMLElement {
  return h('tr', { 'data-event': e.id, 'data-action': e.action, 'data-clinic': e.clinic ?? '' },
    h('td', formatDateTime(e.at)),
    h('td', e.clinic ?? ''),
    h('td', { 'data-role': 'change' }, eventText(e)),
    h('td', { 'data-role': 'versions' }, versionChange(e)),
    h('td', eventReason(e)),
    h('td', e.actor),
    h('td.sub', e.notified_at ? formatDateTime(e.notified_at) : '–'));
}

// ---- acceptance runs at the clinics ----

const ACCEPTANCE_POLL_MS = 3000;

interface AcceptanceSection {
  load: (algorithm: string, d: AlgorithmDeployments | null) => Promise<void>;
  selectionChanged: (any: boolean) => void;
}

// Every clinic's acceptance runs of the algorithm (numbers only), polled while one is in
// progress; for vendor admins "Run acceptance…" of a version at the chosen clinics.
function acceptanceSection(host: HTMLElement, signal: AbortSignal, admin: boolean, target: () => { all: boolean; clinics: string[] }): AcceptanceSection {
  let algorithm = '';
  let deployments: AlgorithmDeployments | null = null;
  let chosen = false;
  let timer: number | undefined;
  let asked = 0;
  signal.addEventListener('abort', () => window.clearTimeout(timer));

  const line = stateLine('release-acceptance-state');
  const { table, body } = dataTable('Acceptance runs', ['Clinic', 'Version', 'State', 'Passed', 'Date', 'Mean Dice per segment (95 % CI)'], 'release-acceptance-runs');
  table.hidden = true;
  const startButton = admin ? h('button', { type: 'button', disabled: true, 'data-testid': 'release-acceptance-start', onclick: () => void start() }, 'Run acceptance…') : null;
  const outcome = h('section', { 'aria-label': 'Acceptance outcome', 'data-testid': 'release-acceptance-outcome', hidden: true });
  host.replaceChildren(
    h('div.section-head', h('h3', 'Acceptance'), startButton),
    h('p.sub', `Each clinic’s acceptance runs: a version tested on the clinic’s own reference cases against its manifest’s criteria. Numbers only: the pictures stay with the clinic.${admin ? ' Select clinics above to start a run there.' : ''}`),
    outcome, line, table);

  const syncButton = () => {
    if (startButton) startButton.disabled = !chosen || !deployments;
  };

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    const id = algorithm;
    const token = ++asked;
    try {
      const runs = newestFirst(await acc.vendorRuns(id, {}, signal));
      if (token !== asked || signal.aborted) return;
      line.classList.remove('error');
      line.textContent = runs.length ? `${runs.length} run${runs.length === 1 ? '' : 's'}` : 'No acceptance run yet.';
      body.replaceChildren(...runs.map(vendorRunRow));
      table.hidden = runs.length === 0;
      if (anyActive(runs)) timer = window.setTimeout(() => void refresh(), ACCEPTANCE_POLL_MS);
    } catch (e) {
      if (token !== asked || signal.aborted || (e as Error).name === 'AbortError') return;
      showError(line, 'the acceptance runs', e);
    }
  }

  async function start(): Promise<void> {
    const d = deployments;
    if (!d) return;
    const { all: every, clinics } = target();
    const options = versionOptions(d.versions);
    const newest = [...d.versions].filter((v) => v.enabled).sort((a, b) => b.registered_at - a.registered_at)[0]?.version;
    const version = h('select', { name: 'version', required: true },
      ...options.map((o) => h('option', { value: o.value, disabled: o.disabled, selected: o.value === newest }, o.label)));
    const started = await formDialog({
      title: `Run acceptance: ${d.algorithm}`,
      testid: 'release-acceptance-dialog',
      submitLabel: 'Run acceptance',
      body: [
        h('p', 'Runs the version at each clinic on every reference case the clinic marked, after the runs its clinicians wait for and outside its quota, and judges it by the manifest’s criteria. The clinic sees the run and its report.'),
        h('p.sub', { 'data-testid': 'release-acceptance-targets' }, `Clinics: ${every ? 'every clinic' : clinics.join(', ')}.`),
        field('Version', version),
      ],
      onSubmit: async () => {
        const list = targetClinics(every, clinics, d.clinics.map((c) => c.clinic));
        if (!version.value) throw new Error('Choose the version.');
        const result = await acc.startVendorRuns(d.algorithm, list, version.value);
        showOutcome(version.value, result);
        if (result.started === 0) {
          const first = result.results.find((r) => !r.ok);
          throw new Error(`Nothing started${first ? `: ${first.clinic}: ${vendorOutcomeText(first)}` : '.'}`);
        }
      },
    });
    if (started) toast('Acceptance runs started; each clinic’s verdict appears below when its run ends.');
    await refresh();
  }

  function showOutcome(version: string, result: acc.VendorRunsResult): void {
    const total = result.results.length;
    outcome.hidden = false;
    outcome.replaceChildren(
      h('h4', `Acceptance of ${version}: started at ${result.started} of ${total} clinic${total === 1 ? '' : 's'}`),
      h('ul.outcomes', ...result.results.map((r) =>
        h('li', { class: r.ok ? 'ok' : 'failed', 'data-clinic': r.clinic, 'data-ok': String(r.ok) }, h('strong', r.clinic), `: ${vendorOutcomeText(r)}`))));
  }

  return {
    async load(id, d) {
      if (id !== algorithm) {
        outcome.hidden = true;
        outcome.replaceChildren();
      }
      algorithm = id;
      deployments = d;
      syncButton();
      await refresh();
    },
    selectionChanged(any) {
      chosen = any;
      syncButton();
    },
  };
}

function vendorRunRow(r: AcceptanceRun): HTMLElement {
  return h('tr', { 'data-run': r.id, 'data-state': r.state, 'data-clinic': r.clinic ?? '', 'data-version': r.version },
    h('td', { 'data-role': 'clinic' }, r.clinic ?? ''),
    h('td', { 'data-role': 'version' }, r.version),
    h('td', { 'data-role': 'state' }, badge(stateText(r.state), `acceptance-${r.state}`), h('div.sub', { 'data-role': 'verdict' }, verdictText(r))),
    h('td', { 'data-role': 'passed' }, passedText(r)),
    h('td', formatDateTime(r.created_at), h('div.sub', `by ${r.created_by}`), r.finished_at ? h('div.sub', `ended ${formatDateTime(r.finished_at)}`) : null),
    h('td', { 'data-role': 'dice' }, ...diceLines(r.report).map((l) => h('div', { 'data-label': l.label }, l.text))));
}

// ---- the shadow comparison ----

const spread = (s: Spread | undefined, key: keyof Spread, format: (v: number) => string = formatNumber) =>
  s && s.n > 0 && typeof s[key] === 'number' ? format(s[key] as number) : '–';

interface ShadowChoice {
  version: string;
  clinic: string;
}

interface ShadowSection {
  choice: () => ShadowChoice | undefined; // what the person chose (undefined: the defaults)
}

// `keep`: the version and clinic chosen before the section was rebuilt; otherwise the
// version in shadow at the most clinics.
function shadowSection(host: HTMLElement, algorithm: string, d: AlgorithmDeployments | null, signal: AbortSignal, keep?: ShadowChoice): ShadowSection {
  const inShadow = shadowVersions(d?.clinics ?? []);
  const others = (d?.versions ?? []).map((v) => v.version).filter((v) => !inShadow.includes(v));
  const version = h('select', { name: 'shadow_version' },
    h('option', { value: '' }, 'any version'),
    ...inShadow.map((v) => h('option', { value: v }, `${v} (in shadow now)`)),
    ...others.map((v) => h('option', { value: v }, v)));
  const clinic = h('select', { name: 'shadow_clinic' }, h('option', { value: '' }, 'all clinics'),
    ...(d?.clinics ?? []).map((c) => h('option', { value: c.clinic }, c.name)));
  const offered = (select: HTMLSelectElement, value: string | undefined) => value !== undefined && [...select.options].some((o) => o.value === value);
  version.value = offered(version, keep?.version) ? keep!.version : inShadow[0] ?? '';
  clinic.value = offered(clinic, keep?.clinic) ? keep!.clinic : '';
  const line = stateLine('shadow-state');
  const content = h('div', { 'data-testid': 'shadow' });
  host.replaceChildren(
    h('div.section-head', h('h3', 'Shadow comparison')),
    h('p.sub', 'Each case a clinic ran with a version in shadow: the two versions’ segmentations compared (Dice, HD95), their metrics side by side, and their agreement with a clinician’s correction. Numbers and UIDs only: the pixels stay with the clinic.'),
    h('form.filters', { onsubmit: (e: Event) => (e.preventDefault(), void refresh()) },
      field('Shadow version', version), field('Clinic', clinic), h('button', { type: 'submit' }, 'Show')),
    line, content);
  let chosen = !!keep;
  for (const el of [version, clinic]) el.addEventListener('change', () => ((chosen = true), void refresh()));

  let asked = 0;
  async function refresh() {
    const token = ++asked;
    try {
      const c = await dep.shadowComparison(algorithm, { version: version.value || undefined, clinic: clinic.value || undefined }, signal);
      if (token !== asked) return;
      line.classList.remove('error');
      line.textContent = c.cases.length || c.summary.pending
        ? `${c.summary.cases} case${c.summary.cases === 1 ? '' : 's'} compared or failed, ${c.summary.pending} pending`
        : 'No shadow runs yet.';
      content.replaceChildren(...(c.cases.length ? shadowContent(c) : []));
    } catch (e) {
      if (token === asked) showError(line, 'the shadow comparison', e);
    }
  }
  void refresh();
  return { choice: () => (chosen ? { version: version.value, clinic: clinic.value } : undefined) };
}

function shadowContent(c: ShadowComparison): Node[] {
  const s = c.summary;
  const names = new Map<number, string>();
  for (const k of c.cases) for (const a of k.agreement ?? []) if (a.name) names.set(a.label, a.name);
  const labelName = (label: number) => names.get(label) ?? `label ${label}`;

  const facts = h('p.facts', { 'data-testid': 'shadow-summary' },
    `${s.cases} case${s.cases === 1 ? '' : 's'}, ${s.pending} pending, ${s.compared} compared; failures: pinned ${s.failures.pinned}, shadow ${s.failures.shadow}, both ${s.failures.both}; `,
    `run time p50 pinned ${spread(s.run_ms.pinned, 'p50', formatDuration)}, shadow ${spread(s.run_ms.shadow, 'p50', formatDuration)}.`);

  const labels = dataTable('Agreement per label', ['Label', 'Cases', 'Dice mean', 'Dice p05', 'Dice p50', 'HD95 p50', 'HD95 p95'], 'shadow-labels');
  labels.body.append(...s.labels.map((l) => h('tr', { 'data-label': l.label },
    h('td', labelName(l.label)), h('td.num', String(l.dice.n)),
    h('td.num', spread(l.dice, 'mean', formatDice)), h('td.num', spread(l.dice, 'p05', formatDice)), h('td.num', spread(l.dice, 'p50', formatDice)),
    h('td.num', spread(l.hd95_mm, 'p50', formatMm)), h('td.num', spread(l.hd95_mm, 'p95', formatMm)))));

  const metrics = dataTable('Metrics of both versions', ['Metric', 'Pinned n', 'Pinned mean', 'Pinned p50', 'Shadow n', 'Shadow mean', 'Shadow p50'], 'shadow-metrics');
  metrics.body.append(...Object.entries(s.metrics).map(([name, m]) => h('tr', { 'data-metric': name },
    h('td', name), h('td.num', String(m.pinned.n)), h('td.num', spread(m.pinned, 'mean')), h('td.num', spread(m.pinned, 'p50')),
    h('td.num', String(m.shadow.n)), h('td.num', spread(m.shadow, 'mean')), h('td.num', spread(m.shadow, 'p50')))));

  const corrections = dataTable('Agreement with corrections', ['Label', 'Cases', 'Pinned Dice mean', 'Shadow Dice mean', 'Pinned Dice p50', 'Shadow Dice p50'], 'shadow-corrections');
  corrections.body.append(...s.corrections.labels.map((l) => h('tr', { 'data-label': l.label },
    h('td', labelName(l.label)), h('td.num', String(l.pinned_dice.n)),
    h('td.num', spread(l.pinned_dice, 'mean', formatDice)), h('td.num', spread(l.shadow_dice, 'mean', formatDice)),
    h('td.num', spread(l.pinned_dice, 'p50', formatDice)), h('td.num', spread(l.shadow_dice, 'p50', formatDice)))));

  const cases = dataTable('Cases', ['Clinic', 'Series', 'Versions', 'State', 'Dice / HD95 per label', 'Metrics pinned / shadow', 'Correction Dice pinned / shadow', 'Finished'], 'shadow-cases');
  cases.body.append(...c.cases.map((k) => caseRow(k, labelName)));

  return [
    facts,
    h('h4', 'Agreement of the two versions per label'), s.labels.length ? labels.table : h('p.sub', 'No case compared yet.'),
    h('h4', 'Metrics, pinned and shadow'), Object.keys(s.metrics).length ? metrics.table : h('p.sub', 'No numeric metric.'),
    h('h4', `Agreement with clinicians’ corrections (${s.corrections.cases} case${s.corrections.cases === 1 ? '' : 's'})`),
    s.corrections.labels.length ? corrections.table : h('p.sub', 'No corrected case yet.'),
    h('h4', 'Cases'), cases.table,
  ];
}

function caseRow(k: ShadowCase, labelName: (label: number) => string): HTMLElement {
  const pinnedFailed = k.pinned?.state && k.pinned.state !== 'succeeded';
  return h('tr', { 'data-case': k.pinned_job_id, 'data-state': k.state, 'data-clinic': k.clinic },
    h('td', k.clinic),
    h('td', { title: k.series_uid }, shortUid(k.series_uid)),
    h('td', `${k.pinned_version} / ${k.shadow_version}`),
    h('td', { class: k.error || pinnedFailed ? 'error' : '' }, badge(k.state, `job-${k.state}`),
      k.error ? h('div.sub', `shadow: ${k.error}`) : null,
      pinnedFailed ? h('div.sub', `pinned ${k.pinned.state}${k.pinned.error ? `: ${k.pinned.error}` : ''}`) : null),
    h('td', { 'data-role': 'agreement' }, ...(k.agreement ?? []).map((a) =>
      h('div', `${a.name ?? labelName(a.label)}: Dice ${formatDice(a.dice)}, HD95 ${formatMm(a.hd95_mm)}`))),
    h('td', { 'data-role': 'metrics' }, ...metricPairs(k.pinned?.metrics, k.shadow?.metrics).map((m) =>
      h('div', `${m.name}: ${formatNumber(m.pinned)} / ${formatNumber(m.shadow)}`))),
    h('td', { 'data-role': 'correction', title: k.correction ? `corrected by ${k.correction.author}` : undefined },
      ...correctionPairs(k.correction).map((p) => h('div', `${labelName(p.label)}: ${formatDice(p.pinned)} / ${formatDice(p.shadow)}`))),
    h('td', k.finished_at ? formatDateTime(k.finished_at) : ''));
}
