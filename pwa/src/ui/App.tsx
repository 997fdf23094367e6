import { useEffect } from 'preact/hooks';
import { auth } from '../api';
import { route, go } from '../router';
import { dismissToast, toasts, useStore } from '../store';
import { SyncIndicator } from './SyncIndicator';
import { Login } from './Login';
import { Jobs } from './Jobs';
import { JobDetail } from './JobDetail';
import { ClosureView } from './Closure';
import { SyncPage } from './SyncPage';
import { Settings } from './Settings';
import { theme, setTheme } from '../theme';

export function App() {
  const r = useStore(route);
  const a = useStore(auth);
  const signedIn = !!a.tokens;

  useEffect(() => {
    if (!signedIn && r.name !== 'login') go('#/login');
    if (signedIn && r.name === 'login') go('#/jobs');
  }, [signedIn, r.name]);

  useEffect(() => {
    // Move focus to the main heading on navigation (screen readers, keyboards).
    const h = document.querySelector<HTMLElement>('main h1');
    h?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [r.name, r.params.id]);

  if (!signedIn || r.name === 'login') {
    return (
      <>
        <Login />
        <Toasts />
      </>
    );
  }

  let screen;
  switch (r.name) {
    case 'job':
      screen = <JobDetail key={r.params.id} id={r.params.id} tab={r.query.get('tab') || ''} />;
      break;
    case 'closure':
      screen = <ClosureView key={r.params.id} id={r.params.id} jobId={r.query.get('job') || ''} />;
      break;
    case 'sync':
      screen = <SyncPage />;
      break;
    case 'settings':
      screen = <Settings />;
      break;
    case 'map':
      screen = <Jobs mode="map" />;
      break;
    default:
      screen = <Jobs mode="list" />;
  }
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/jobs" aria-label="DotMac Field, today's jobs">
          <span class="brand-mark" aria-hidden="true" />
          <span class="brand-name">DotMac Field</span>
        </a>
        <nav aria-label="Main">
          <a href="#/jobs" class={r.name === 'jobs' || r.name === 'job' ? 'active' : ''} aria-current={r.name === 'jobs' ? 'page' : undefined} data-testid="nav-jobs">Jobs</a>
          <a href="#/map" class={r.name === 'map' ? 'active' : ''} aria-current={r.name === 'map' ? 'page' : undefined} data-testid="nav-map">Map</a>
          <a href="#/settings" class={r.name === 'settings' ? 'active' : ''} aria-current={r.name === 'settings' ? 'page' : undefined} data-testid="nav-settings">Settings</a>
        </nav>
        <ThemeToggle />
        <SyncIndicator />
      </header>
      <main id="main" tabIndex={-1}>{screen}</main>
      <Toasts />
    </>
  );
}

function ThemeToggle() {
  const t = useStore(theme);
  const next = t === 'system' ? 'dark' : t === 'dark' ? 'light' : 'system';
  const icon = t === 'dark' ? '☾' : t === 'light' ? '☀' : '◐';
  return (
    <button class="icon-btn" onClick={() => setTheme(next)} aria-label={`Theme: ${t}. Switch to ${next}`} title={`Theme: ${t}`} data-testid="theme-toggle">
      <span aria-hidden="true">{icon}</span>
    </button>
  );
}

function Toasts() {
  const list = useStore(toasts);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <span>{t.text}</span>
          <button class="icon-btn" aria-label="Dismiss message" onClick={() => dismissToast(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
