// A small history router: paths map to page functions that render into the main element
// and may return a cleanup. A page with unsaved changes registers a check: leaving it
// (in-app link, back button, reload, closing the tab) then asks first.
export interface Route {
  pattern: RegExp;
  render: (params: string[], query: URLSearchParams) => (() => void) | void | Promise<(() => void) | void>;
}

let routes: Route[] = [];
let cleanup: (() => void) | void = undefined;
let unsaved: (() => boolean) | null = null;
let unsavedMessage = '';
let rendering = 0;
let current = '';

export function setRoutes(r: Route[]): void {
  routes = r;
}

// `message` is the question asked before leaving while fn() answers true.
export function setUnsavedCheck(fn: (() => boolean) | null, message = 'You have unsaved changes. Leave and discard them?'): void {
  unsaved = fn;
  unsavedMessage = message;
}

function mayLeave(): boolean {
  if (!unsaved?.()) return true;
  return window.confirm(unsavedMessage);
}

export function navigate(path: string, { replace = false, force = false } = {}): void {
  if (path === location.pathname + location.search) return;
  if (!force && !mayLeave()) return;
  unsaved = null;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

export async function render(): Promise<void> {
  const token = ++rendering;
  current = location.pathname + location.search;
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = undefined;
  }
  unsaved = null;
  const query = new URLSearchParams(location.search);
  for (const r of routes) {
    const m = location.pathname.match(r.pattern);
    if (m) {
      const c = await r.render(m.slice(1).map(decodeURIComponent), query);
      if (token === rendering) cleanup = c;
      else if (c) c();
      return;
    }
  }
}

export function startRouter(): void {
  window.addEventListener('popstate', () => {
    if (!mayLeave()) {
      history.pushState(null, '', current);
      return;
    }
    unsaved = null;
    void render();
  });
  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest?.('a[data-link]') as HTMLAnchorElement | null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute('href')!);
  });
  window.addEventListener('beforeunload', (e) => {
    if (unsaved?.()) {
      e.preventDefault();
      e.returnValue = '';
    }
  });
}
