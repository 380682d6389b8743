// Keyboard shortcuts: one table, used both to dispatch keys and to draw the help panel.
import { h } from './lib/dom';

export interface Shortcut {
  keys: string; // shown in the help
  match: (e: KeyboardEvent) => boolean;
  what: string;
  run: (e: KeyboardEvent) => void;
}

const key = (k: string, mods: { ctrl?: boolean; shift?: boolean } = {}) => (e: KeyboardEvent) =>
  e.key.toLowerCase() === k.toLowerCase() && !!(e.ctrlKey || e.metaKey) === !!mods.ctrl && (mods.shift === undefined || e.shiftKey === mods.shift) && !e.altKey;

export { key };

let active: Shortcut[] = [];

export function setShortcuts(list: Shortcut[]): void {
  active = list;
}

function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
}

export function installShortcuts(globals: Shortcut[]): void {
  document.addEventListener('keydown', (e) => {
    if (typing(e) && !(e.ctrlKey || e.metaKey)) return;
    for (const s of [...active, ...globals]) {
      if (s.match(e)) {
        e.preventDefault();
        s.run(e);
        return;
      }
    }
  });
}

export function helpPanel(globals: Shortcut[]): HTMLDialogElement {
  const rows = [...active, ...globals].map((s) => h('tr', h('td', h('kbd', s.keys)), h('td', s.what)));
  const close = h('button', { type: 'button', 'aria-label': 'Close' }, 'Close');
  const dialog = <HTMLDialogElement>h('dialog.help', { 'data-testid': 'help' }, h('h2', 'Keyboard shortcuts'), h('table', h('tbody', ...rows)), close);
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  return dialog;
}
