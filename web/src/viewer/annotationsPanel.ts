// Tags (vocabulary and free text, on the study or on the shown series), status and
// assignee. Every change is saved at once; a failure is shown and the view reloads.
import * as api from '../api/client';
import { STATUSES, type Annotations, type VocabularyTag } from '../api/types';
import { h, toast } from '../lib/dom';
import { statusLabel, tagChip } from '../pages/worklist';
import { canAnnotate, user } from '../session';

export function annotationsPanel(study: string, currentSeries: () => string | null): HTMLElement {
  const editable = canAnnotate();
  const chips = h('div.chips', { 'data-testid': 'tags' });
  const status = h('select', { name: 'status', 'data-testid': 'status', disabled: !editable, 'aria-label': 'Status' },
    ...STATUSES.map((s) => h('option', { value: s.value }, s.label)));
  const assignee = h('input', { name: 'assignee', placeholder: 'unassigned', 'data-testid': 'assignee', disabled: !editable, size: 10, 'aria-label': 'Assignee' });
  const vocabList = h('datalist#vg-vocab');
  const tagInput = h('input', { name: 'tag', list: 'vg-vocab', placeholder: 'tag or free text', 'data-testid': 'tag-input', maxlength: 256, 'aria-label': 'Tag' });
  const scope = h('select', { name: 'scope', 'aria-label': 'Tag applies to' }, h('option', { value: 'study' }, 'study'), h('option', { value: 'series' }, 'this series'));
  const kind = h('select', { name: 'kind', 'aria-label': 'Kind of tag', 'data-testid': 'tag-kind' },
    h('option', { value: 'auto' }, 'vocabulary if listed'),
    h('option', { value: 'vocabulary' }, 'vocabulary (add if new)'),
    h('option', { value: 'text' }, 'free text'));
  const error = h('p.error', { role: 'alert', 'data-testid': 'annotation-error' });
  let vocab: VocabularyTag[] = [];
  let current: Annotations | null = null;

  const fail = (what: string) => (e: unknown) => {
    const msg = `${what} failed: ${(e as Error).message}`;
    error.textContent = msg;
    toast(msg, 'error');
    void load();
  };

  const show = (a: Annotations) => {
    current = a;
    status.value = a.status;
    assignee.value = a.assignee ?? '';
    const series = currentSeries();
    chips.replaceChildren(
      ...a.tags
        .filter((t) => !t.series_uid || t.series_uid === series)
        .map((t) => tagChip(t, editable ? () => void api.removeTag(study, t.id).then(load, fail('Removing the tag')) : undefined)),
    );
    if (a.updated_by) chips.parentElement?.setAttribute('title', `last change by ${a.updated_by}`);
  };

  const load = async () => {
    try {
      show(await api.annotations(study));
    } catch (e) {
      error.textContent = `Tags and status could not be loaded: ${(e as Error).message}`;
    }
  };

  status.addEventListener('change', () => {
    error.textContent = '';
    api.setStatus(study, status.value as Annotations['status']).then((a) => {
      show(a);
      toast(`Status: ${statusLabel(a.status)}`);
    }, fail('Setting the status'));
  });
  assignee.addEventListener('change', () => {
    error.textContent = '';
    const v = assignee.value.trim();
    api.setStatus(study, (current?.status ?? 'todo'), v === '' ? null : v).then(show, fail('Assigning'));
  });

  const loadVocabulary = () =>
    api.vocabulary().then(
      (v) => {
        vocab = v;
        vocabList.replaceChildren(...v.map((t) => h('option', { value: t.name }, t.description ?? '')));
      },
      () => {},
    );

  const addTag = async () => {
    const text = tagInput.value.trim();
    if (!text) return;
    error.textContent = '';
    const onSeries = scope.value === 'series' ? currentSeries() ?? undefined : undefined;
    const listed = vocab.some((v) => v.name === text);
    const asVocabulary = kind.value === 'vocabulary' || (kind.value === 'auto' && listed);
    try {
      if (asVocabulary && !listed) {
        await api.createVocabularyTag(text);
        await loadVocabulary();
      }
      await api.addTag(study, { ...(asVocabulary ? { name: text } : { text }), ...(onSeries ? { series_uid: onSeries } : {}) });
      tagInput.value = '';
      await load();
    } catch (e) {
      fail('Adding the tag')(e);
    }
  };
  tagInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      void addTag();
    }
  });

  void load();
  void loadVocabulary();

  return h('section.annotations', { 'data-testid': 'annotations' },
    h('h3', 'Workflow'),
    h('label.row', 'Status', status),
    h('label.row', 'Assignee', assignee,
      editable ? h('button', { type: 'button', onclick: () => { assignee.value = user?.username ?? ''; assignee.dispatchEvent(new Event('change')); } }, 'me') : null),
    h('h3', 'Tags'),
    chips,
    editable ? h('div.row', tagInput) : null,
    editable ? h('div.row', kind) : null,
    editable ? h('div.row', scope, h('button', { type: 'button', 'data-testid': 'tag-add', onclick: () => void addTag() }, 'Add')) : null,
    vocabList,
    error,
  );
}
