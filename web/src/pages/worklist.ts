// The clinic's worklist: search, filter, sort and paging are done by the server
// (GET /api/v1/worklist); the query lives in the URL so reload and back keep it.
import * as api from '../api/client';
import { ApiError, enc, setSupportTenant, supportTenant } from '../api/http';
import { STATUSES, type TagEntry, type WorklistStudy } from '../api/types';
import { formatDicomDate, formatPersonName, h } from '../lib/dom';
import { navigate, render } from '../router';
import { isVendor, user as currentUser } from '../session';

const PAGE = 25;
const FILTERS = ['patient', 'date', 'modality', 'status', 'tag', 'assignee', 'sort'] as const;

export function tagChip(t: TagEntry, onRemove?: () => void): HTMLElement {
  const label = t.name ?? `“${t.text}”`;
  const chip = h('span.chip', { title: t.series_uid ? 'on a series' : 'on the study', 'data-tag': t.name ?? t.text ?? '' }, label);
  if (t.colour) chip.style.setProperty('--chip', t.colour);
  if (t.series_uid) chip.classList.add('series');
  if (onRemove) chip.append(h('button.chip-x', { type: 'button', title: 'Remove tag', 'aria-label': `Remove tag ${label}`, onclick: onRemove }, '×'));
  return chip;
}

export function statusLabel(s: string): string {
  return STATUSES.find((x) => x.value === s)?.label ?? s;
}

export function worklistPage(main: HTMLElement, query: URLSearchParams): () => void {
  const controller = new AbortController();
  if (isVendor() && !supportTenant()) {
    vendorPage(main);
    return () => controller.abort();
  }

  const inputs: Record<string, HTMLInputElement | HTMLSelectElement> = {
    patient: h('input', { name: 'patient', placeholder: 'Patient name or ID (* ?)', value: query.get('patient') ?? '' }),
    date: h('input', { name: 'date', placeholder: 'YYYYMMDD[-YYYYMMDD]', value: query.get('date') ?? '', size: 18 }),
    modality: h('input', { name: 'modality', placeholder: 'CT', value: query.get('modality') ?? '', size: 4 }),
    status: h('select', { name: 'status' }, h('option', { value: '' }, 'any status'), ...STATUSES.map((s) => h('option', { value: s.value }, s.label))),
    tag: h('input', { name: 'tag', placeholder: 'tag', value: query.get('tag') ?? '', size: 10, list: 'vg-worklist-tags' }),
    assignee: h('input', { name: 'assignee', placeholder: 'assignee / none', value: query.get('assignee') ?? '', size: 12 }),
    sort: h('select', { name: 'sort' },
      h('option', { value: '-date' }, 'newest first'),
      h('option', { value: 'date' }, 'oldest first'),
      h('option', { value: 'status' }, 'status'),
      h('option', { value: '-updated' }, 'recently updated'),
      h('option', { value: 'updated' }, 'least recently updated'),
    ),
  };
  inputs.status.value = query.get('status') ?? '';
  inputs.sort.value = query.get('sort') ?? '-date';
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);

  const apply = (newOffset = 0) => {
    const p = new URLSearchParams();
    for (const f of FILTERS) if (inputs[f].value.trim()) p.set(f, inputs[f].value.trim());
    if (p.get('sort') === '-date') p.delete('sort');
    if (newOffset) p.set('offset', String(newOffset));
    const qs = p.toString();
    navigate(`/${qs ? `?${qs}` : ''}`);
  };

  const filters = h(
    'form.filters',
    { onsubmit: (e: Event) => (e.preventDefault(), apply()) },
    inputs.patient, inputs.date, inputs.modality, inputs.status, inputs.tag, inputs.assignee, inputs.sort,
    h('button', { type: 'submit' }, 'Search'),
    h('button', { type: 'button', onclick: () => (FILTERS.forEach((f) => (inputs[f].value = f === 'sort' ? '-date' : '')), apply()) }, 'Clear'),
  );
  inputs.status.addEventListener('change', () => apply());
  inputs.sort.addEventListener('change', () => apply());

  const tagList = h('datalist#vg-worklist-tags');
  filters.append(tagList);
  api.vocabulary().then((v) => tagList.replaceChildren(...v.map((t) => h('option', { value: t.name }))), () => {});

  const body = h('tbody');
  const pager = h('div.pager');
  const state = h('p.state', { 'data-testid': 'worklist-state' }, 'Loading…');
  const table = h(
    'table.worklist',
    { 'data-testid': 'worklist' },
    h('thead', h('tr', ...['', 'Patient', 'Date', 'Modality', 'Description', 'Series / images', 'Tags', 'Status', 'Assignee', 'Results'].map((c) => h('th', c)))),
    body,
  );
  const support = supportTenant();
  const banner = support
    ? h('p.card.support', { 'data-testid': 'support-banner' }, `Support access to clinic “${support}” (read only, audited). `,
        h('button', { type: 'button', onclick: () => {
          setSupportTenant(null);
          document.dispatchEvent(new CustomEvent('vg:user'));
          if (location.pathname + location.search === '/') void render();
          else navigate('/');
        } }, 'Leave'))
    : null;
  main.append(h('div.page', banner, h('div.toolbar', h('h2', 'Worklist'), filters), state, table, pager));

  const row = (s: WorklistStudy) => {
    const href = `/studies/${enc(s.study_uid)}`;
    const results = [
      s.segmentations ? h('span.badge', { title: 'segmentation versions' }, `${s.segmentations} seg`) : null,
      ...(s.results ?? []).map((r) => h('span.badge', { class: `job-${r.state}`, title: `${r.algorithm} ${r.version}` }, `${r.algorithm}: ${r.state}`)),
    ];
    const tr = h(
      'tr',
      { 'data-study': s.study_uid, tabindex: 0, onclick: () => navigate(href), onkeydown: (e: KeyboardEvent) => e.key === 'Enter' && navigate(href) },
      h('td.thumb', support ? null : h('img', { src: `/dicomweb/studies/${enc(s.study_uid)}/thumbnail?viewport=64,64`, alt: '', loading: 'lazy', width: 48, height: 48 })),
      h('td', h('a', { href, 'data-link': true }, formatPersonName(s.patient_name) || '(no name)'), h('div.sub', s.patient_id ?? '')),
      h('td', formatDicomDate(s.study_date)),
      h('td', (s.modalities ?? []).join(', ')),
      h('td', s.description ?? ''),
      h('td.num', `${s.series_count} / ${s.instance_count}`),
      h('td', ...(s.tags ?? []).map((t) => tagChip(t))),
      h('td', h('span.status', { class: `st-${s.status}` }, statusLabel(s.status))),
      h('td', s.assignee ?? ''),
      h('td', ...results),
    );
    return tr;
  };

  api
    .worklist({ ...Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? undefined])), limit: PAGE, offset }, controller.signal)
    .then((w) => {
      body.append(...w.studies.map(row));
      state.textContent = w.total === 0 ? 'No studies match.' : `${w.offset + 1}–${w.offset + w.studies.length} of ${w.total} studies`;
      if (w.offset > 0) pager.append(h('button', { onclick: () => apply(Math.max(0, w.offset - PAGE)) }, '‹ Previous'));
      if (w.offset + w.studies.length < w.total) pager.append(h('button', { onclick: () => apply(w.offset + PAGE) }, 'Next ›'));
    })
    .catch((e) => {
      if ((e as Error).name === 'AbortError') return;
      state.classList.add('error');
      state.textContent =
        e instanceof ApiError && e.status === 403
          ? `You cannot see this clinic’s worklist: ${e.message}`
          : `The worklist could not be loaded: ${(e as Error).message}`;
    });
  return () => controller.abort();
}

// Vendor staff: no clinic data by role; under a support grant, one clinic's, read only.
function vendorPage(main: HTMLElement): void {
  const list = h('ul.grants', { 'data-testid': 'support-grants' });
  main.append(
    h('div.card.notice', { 'data-testid': 'no-worklist' },
      h('h2', 'No clinic worklist for vendor accounts'),
      h('p', 'Vendor staff never see a clinic’s studies by role. A clinic admin can grant support access to a study or to the clinic for a limited time; ask the clinic for a support grant.'),
      list),
  );
  const now = Date.now() / 1000;
  api.supportGrants().then(
    (grants) => {
      // Only the grants made out to this person open anything.
      const active = grants.filter((g) => !g.revoked_at && g.expires_at > now && g.support_user === currentUser?.username);
      if (active.length === 0) return;
      list.before(h('h3', 'Your support grants'));
      for (const g of active) {
        list.append(
          h('li', `${g.tenant}: ${g.study_uid ? 'one study' : 'all studies'}, until ${new Date(g.expires_at * 1000).toLocaleString()} (${g.reason}) `,
            h('button', { type: 'button', 'data-tenant': g.tenant, onclick: () => {
              setSupportTenant(g.tenant);
              document.dispatchEvent(new CustomEvent('vg:user'));
              if (g.study_uid) navigate(`/studies/${enc(g.study_uid)}`);
              else void render();
            } }, g.study_uid ? 'Open the study' : 'Open the worklist')),
        );
      }
    },
    () => {},
  );
}
