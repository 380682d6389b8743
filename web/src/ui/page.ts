// Pieces every list page uses: the page frame, a state line for loading and errors, a
// data table, and a download link for the server's CSV.
import { ApiError } from '../api/http';
import { h } from '../lib/dom';

type Child = Node | string | null | undefined | false;

export function pageFrame(title: string, testid: string, ...children: Child[]): HTMLElement {
  return h('div.page', { 'data-testid': testid }, h('div.toolbar', h('h2', title)), ...children);
}

export function stateLine(testid: string, text = 'Loading…'): HTMLParagraphElement {
  return h('p.state', { 'data-testid': testid, role: 'status' }, text);
}

export function showError(line: HTMLElement, what: string, e: unknown): void {
  if ((e as Error)?.name === 'AbortError') return;
  line.classList.add('error');
  line.textContent =
    e instanceof ApiError && e.status === 403 ? `You may not see ${what}: ${e.message}` : `${capital(what)} could not be loaded: ${(e as Error).message}`;
}

const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

export function dataTable(label: string, headers: string[], testid?: string): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h('tbody');
  const table = h('table.data', { 'aria-label': label, 'data-testid': testid }, h('thead', h('tr', ...headers.map((c) => h('th', { scope: 'col' }, c)))), body);
  return { table, body };
}

// A link that downloads what the server sends as an attachment (the session cookie goes
// with it; a GET needs no CSRF token).
export function downloadLink(href: string, text: string, testid?: string): HTMLAnchorElement {
  return h('a.button', { href, download: '', 'data-testid': testid }, text);
}

// Saves text made in the page (a table as CSV) as a file.
export function saveText(text: string, filename: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function badge(text: string, cls: string, title?: string): HTMLElement {
  return h('span.badge', { class: cls, title }, text);
}
