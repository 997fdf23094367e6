import { useRef, useState } from 'preact/hooks';
import { ApiError, auth, login } from '../api';
import { go } from '../router';
import { startWatching } from '../geo';
import { scheduleFlush } from '../outbox';
import { pollSync } from '../data';

export function Login() {
  const [email, setEmail] = useState(auth.get().tokens?.email || localStorage.getItem('dmf.lastEmail') || '');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false);
  const [err, setErr] = useState('');

  async function onSubmit(e: Event) {
    e.preventDefault();
    if (inFlight.current) return;
    if (!email.trim() || !password) {
      setErr('Enter your email and password.');
      return;
    }
    inFlight.current = true;
    setBusy(true);
    setErr('');
    try {
      await login(email.trim(), password);
      localStorage.setItem('dmf.lastEmail', email.trim());
      startWatching();
      scheduleFlush(0);
      void pollSync();
      go('#/jobs');
    } catch (e) {
      const ae = e as ApiError;
      if (ae.status === 401 || ae.status === 403) setErr('Wrong email or password.');
      else if (ae.status === 429) setErr(`Too many attempts. Wait ${ae.retryAfter || 30} seconds and try again.`);
      else if (ae.network) setErr('Cannot reach the field agent on this tablet. Check that it is running, then try again.');
      else setErr(ae.message || 'Sign-in failed.');
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  return (
    <main id="main" class="login-wrap" tabIndex={-1}>
      <form class="card login" onSubmit={onSubmit} data-testid="login-form" aria-labelledby="login-title" noValidate>
        <div class="login-brand"><span class="brand-mark big" aria-hidden="true" /></div>
        <h1 id="login-title" tabIndex={-1}>DotMac Field</h1>
        <p class="muted">Sign in with your technician account. Works without a signal after your first sign-in on this tablet.</p>
        <label class="field">
          <span>Email</span>
          <input type="email" name="email" autoComplete="username" inputMode="email" required value={email}
            onInput={(e) => setEmail((e.target as HTMLInputElement).value)} data-testid="login-email" />
        </label>
        <label class="field">
          <span>Password</span>
          <input type="password" name="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)} data-testid="login-password" />
        </label>
        {err && <p class="error" role="alert" data-testid="login-error">{err}</p>}
        <button class="btn btn-primary btn-block" type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
