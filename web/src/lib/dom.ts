// A tiny element builder: h('div.card', {onclick}, child, ...). No framework.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K | `${K}.${string}` | `${K}#${string}`, attrs?: Attrs | Child, ...children: Child[]): HTMLElementTagNameMap[K] {
  const [name, ...classes] = tag.split('.');
  const [tagName, id] = name.split('#');
  const el = document.createElement(tagName as K);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node)) {
    children.unshift(attrs as Child);
  } else if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
      else if (k === 'class') el.className += (el.className ? ' ' : '') + String(v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k in el && typeof v !== 'string') (el as unknown as Record<string, unknown>)[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

// A message line for errors and notices; `toast` for transient ones.
export function toast(message: string, kind: 'error' | 'info' = 'info'): void {
  let host = document.getElementById('toasts');
  if (!host) {
    host = h('div#toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(host);
  }
  const t = h('div.toast', { class: kind, 'data-kind': kind }, message);
  host.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 3000);
}

export function formatDicomDate(d: string | null | undefined): string {
  if (!d || d.length !== 8) return d ?? '';
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
}

export function formatPersonName(pn: string | null | undefined): string {
  if (!pn) return '';
  const [family, given] = pn.split('^');
  return given ? `${family}, ${given}` : family;
}

// The children that exist, for append() and replaceChildren() (which take no nulls).
export function present<T>(items: (T | null | undefined | false)[]): T[] {
  return items.filter((x): x is T => x !== null && x !== undefined && x !== false);
}
