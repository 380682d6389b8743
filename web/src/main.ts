// The app shell: header (who is signed in, navigation, sign-out), routes, global shortcuts.
import './styles.css';
import * as api from './api/client';
import { setUnauthenticatedHandler, supportTenant } from './api/http';
import { clear, h } from './lib/dom';
import { loginPage, passwordPage } from './pages/login';
import { uploadPage } from './pages/upload';
import { worklistPage } from './pages/worklist';
import { navigate, render, setRoutes, startRouter } from './router';
import { isVendor, restore, roleLabel, setUser, user } from './session';
import { helpPanel, installShortcuts, key, type Shortcut } from './shortcuts';

// Opening a study URL directly: fetch the viewer's code while the session is checked.
if (location.pathname.startsWith('/studies/')) void import('./pages/viewer');

const main = document.getElementById('main')!;
const top = document.getElementById('top')!;

function header(): void {
  clear(top);
  top.append(h('a.brand', { href: '/', 'data-link': true }, 'voxelgate'));
  if (!user) return;
  top.append(
    h('nav',
      isVendor() && !supportTenant() ? null : h('a', { href: '/', 'data-link': true }, 'Worklist'),
      isVendor() ? null : h('a', { href: '/upload', 'data-link': true }, 'Upload')),
    h('span.spacer'),
    h('span.who', { 'data-testid': 'who' }, h('strong', user.username), ` · ${roleLabel[user.role] ?? user.role} · ${user.tenant}`,
      supportTenant() ? h('span.support', ` · support access: ${supportTenant()}`) : null),
    h('button', { type: 'button', title: 'Keyboard shortcuts (?)', onclick: showHelp }, '?'),
    h('button', { type: 'button', 'data-testid': 'sign-out', onclick: signOut }, 'Sign out'),
  );
}

async function signOut() {
  navigate('/login');
  if (location.pathname !== '/login') return; // navigation vetoed (unsaved changes)
  try {
    await api.signOut();
  } catch {
    /* the session may already be gone */
  }
  setUser(null);
}

function showHelp() {
  if (document.querySelector('dialog.help')) return;
  const d = helpPanel(globals);
  document.body.append(d);
  d.showModal();
}

const globals: Shortcut[] = [
  { keys: '?', match: (e) => e.key === '?', what: 'This help', run: showHelp },
  { keys: 'G', match: key('g'), what: 'Go to the worklist', run: () => navigate('/') },
  { keys: 'U', match: key('u'), what: 'Upload', run: () => navigate('/upload') },
];

// Pages that need a signed-in person send everyone else to the sign-in page.
const signedIn =
  (page: (params: string[], query: URLSearchParams) => unknown) =>
  (params: string[], query: URLSearchParams) => {
    clear(main);
    if (!user) {
      navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true, force: true });
      return;
    }
    if (user.must_change_password && location.pathname !== '/password') {
      navigate('/password', { replace: true, force: true });
      return;
    }
    main.className = location.pathname.startsWith('/studies/') ? 'full' : '';
    return page(params, query) as (() => void) | void | Promise<(() => void) | void>;
  };

setRoutes([
  { pattern: /^\/login$/, render: (_p, q) => (clear(main), (main.className = ''), loginPage(main, q)) },
  { pattern: /^\/password$/, render: signedIn(() => passwordPage(main)) },
  { pattern: /^\/upload$/, render: signedIn(() => uploadPage(main)) },
  {
    pattern: /^\/studies\/([^/]+)$/,
    render: signedIn(async (p, q) => {
      const { viewerPage } = await import('./pages/viewer');
      return viewerPage(main, p, q, globals);
    }),
  },
  { pattern: /^\/$/, render: signedIn((_p, q) => worklistPage(main, q)) },
  { pattern: /.*/, render: signedIn(() => main.append(h('div.card.notice', { 'data-testid': 'not-found' }, h('h2', 'Page not found'), h('a', { href: '/', 'data-link': true }, 'Back to the worklist')))) },
]);

document.addEventListener('vg:user', header);
setUnauthenticatedHandler(() => {
  setUser(null);
  if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true, force: true });
});

installShortcuts(globals);
startRouter();
void restore().then(() => {
  header();
  void render();
});
