// The app shell: header (who is signed in, navigation, sign-out), routes, global shortcuts.
import './styles.css';
import * as api from './api/client';
import { setUnauthenticatedHandler, supportTenant } from './api/http';
import { clear, h } from './lib/dom';
import { autoRulesPage } from './pages/autoRules';
import { bugReportPage } from './pages/bugReport';
import { bugReportsPage } from './pages/bugReports';
import { jobsPage } from './pages/jobs';
import { loginPage, passwordPage } from './pages/login';
import { monitoringPage } from './pages/monitoring';
import { settingsPage } from './pages/settings';
import { subscriptionPage } from './pages/subscription';
import { uploadPage } from './pages/upload';
import { usagePage } from './pages/usage';
import { vendorPlansPage } from './pages/vendorPlans';
import { vendorReleasesPage } from './pages/vendorReleases';
import { vendorTenantsPage } from './pages/vendorTenants';
import { versionsPage } from './pages/versions';
import { worklistPage } from './pages/worklist';
import { navigate, render, setRoutes, startRouter } from './router';
import { isClinicAdmin, isClinician, isVendor, restore, roleLabel, setUser, user } from './session';
import { helpPanel, installShortcuts, key, type Shortcut } from './shortcuts';
import { subscription } from './subscription';
import { renderBanner } from './ui/banner';

// Opening a study URL directly: fetch the viewer's code while the session is checked.
if (location.pathname.startsWith('/studies/')) void import('./pages/viewer');

const main = document.getElementById('main')!;
const top = document.getElementById('top')!;
const banner = h('div#banner', { hidden: true });
top.after(banner);

// What each kind of person works with: a clinic's people their studies, runs and
// subscription and the algorithm versions they run; vendor staff the clinics, the releases of
// algorithm versions into them, plans, usage and the dashboard.
function navLinks(): [string, string][] {
  if (isVendor()) {
    if (supportTenant()) return [['/', 'Worklist']];
    return [['/', 'Home'], ['/monitoring', 'Dashboard'], ['/bug-reports', 'Bug reports'], ['/vendor/tenants', 'Clinics'], ['/vendor/releases', 'Releases'], ['/vendor/plans', 'Plans'], ['/usage', 'Usage']];
  }
  const links: [string, string][] = [['/', 'Worklist'], ['/upload', 'Upload']];
  if (isClinician()) links.push(['/jobs', 'Runs'], ['/versions', 'Versions'], ['/monitoring', 'Monitoring'], ['/bug-reports', 'Bug reports'], ['/subscription', 'Subscription']);
  if (isClinicAdmin()) links.push(['/auto-rules', 'Auto-run'], ['/usage', 'Usage'], ['/settings', 'Settings']);
  return links;
}

function header(): void {
  clear(top);
  top.append(h('a.brand', { href: '/', 'data-link': true }, 'voxelgate'));
  renderBanner(banner);
  if (!user) return;
  if (!location.pathname.startsWith('/studies/')) void subscription();
  top.append(
    h('nav', { 'aria-label': 'Main' }, ...navLinks().map(([href, text]) => h('a', { href, 'data-link': true }, text))),
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
    const viewer = location.pathname.startsWith('/studies/');
    main.className = viewer ? 'full' : '';
    // The banner follows the subscription as people move around (cached 30 s); the viewer
    // asks once its images are in, so as not to delay them.
    if (!viewer) void subscription();
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
  { pattern: /^\/jobs$/, render: signedIn((_p, q) => jobsPage(main, q)) },
  { pattern: /^\/auto-rules$/, render: signedIn(() => autoRulesPage(main)) },
  { pattern: /^\/subscription$/, render: signedIn(() => subscriptionPage(main)) },
  { pattern: /^\/settings$/, render: signedIn(() => settingsPage(main)) },
  { pattern: /^\/usage$/, render: signedIn((_p, q) => usagePage(main, q)) },
  { pattern: /^\/vendor\/tenants$/, render: signedIn(() => vendorTenantsPage(main)) },
  { pattern: /^\/vendor\/plans$/, render: signedIn(() => vendorPlansPage(main)) },
  { pattern: /^\/vendor\/releases$/, render: signedIn((_p, q) => vendorReleasesPage(main, q)) },
  { pattern: /^\/versions$/, render: signedIn(() => versionsPage(main)) },
  { pattern: /^\/monitoring$/, render: signedIn((_p, q) => monitoringPage(main, q)) },
  { pattern: /^\/bug-reports$/, render: signedIn((_p, q) => bugReportsPage(main, q)) },
  { pattern: /^\/bug-reports\/(\d+)$/, render: signedIn((p) => bugReportPage(main, p)) },
  { pattern: /^\/$/, render: signedIn((_p, q) => worklistPage(main, q)) },
  { pattern: /.*/, render: signedIn(() => main.append(h('div.card.notice', { 'data-testid': 'not-found' }, h('h2', 'Page not found'), h('a', { href: '/', 'data-link': true }, 'Back to the worklist')))) },
]);

document.addEventListener('vg:user', header);
document.addEventListener('vg:subscription', () => renderBanner(banner));
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
