// One segment in the editor's list: colour, name, coded term, visibility and voxel count.
import type { SegmentMeta } from '../api/types';
import { h } from '../lib/dom';
import { termFor, TERMS } from './terms';

export interface Segment extends SegmentMeta {
  colour: string;
  visible: boolean;
  voxels: number;
}

export interface RowHandlers {
  active: boolean;
  canEdit: boolean;
  select: () => void;
  edited: () => void; // name, colour or term changed (unsaved)
  restyled: () => void; // colour or visibility changed (redraw)
}

export function segmentRow(s: Segment, on: RowHandlers): HTMLElement {
  const name = h('input.seg-name', { value: s.name, 'aria-label': 'Segment name', disabled: !on.canEdit, maxlength: 64 });
  name.addEventListener('change', () => {
    s.name = name.value.trim() || s.name;
    on.edited();
  });
  const colour = h('input', { type: 'color', value: s.colour, 'aria-label': 'Segment colour', disabled: !on.canEdit });
  colour.addEventListener('input', () => {
    s.colour = colour.value;
    on.restyled();
    on.edited();
  });
  const term = h('select.seg-term', { 'aria-label': 'Coded term', disabled: !on.canEdit },
    ...TERMS.map((t) => h('option', { value: t.key, selected: termFor(s.type)?.key === t.key }, t.label)),
  );
  if (!termFor(s.type) && s.type) term.prepend(h('option', { value: '', selected: true }, s.type.meaning));
  term.addEventListener('change', () => {
    const t = TERMS.find((x) => x.key === term.value);
    if (!t) return;
    s.category = t.category;
    s.type = t.type;
    on.edited();
  });
  const eye = h('input', { type: 'checkbox', checked: s.visible, title: 'Show this segment', 'aria-label': 'Visible' });
  eye.addEventListener('click', (e) => e.stopPropagation());
  eye.addEventListener('change', () => {
    s.visible = eye.checked;
    on.restyled();
  });
  return h('li', { class: on.active ? 'active' : '', 'data-label': s.label, 'data-voxels': s.voxels, onclick: on.select },
    colour, name, term, eye, h('span.voxels', { title: 'voxels' }, s.voxels ? `${s.voxels}` : ''));
}
