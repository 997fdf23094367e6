// HTTP access to the edge agent (same origin, relative /api/v1 URLs) with bearer tokens.
import { createStore } from './store';
import type { Me, Tokens } from './types';

export class ApiError extends Error {
  constructor(
    public status: number, // 0: the agent could not be reached
    public code: string,
    message: string,
    public fields: Record<string, string> = {},
    public retryAfter = 0,
  ) {
    super(message);
  }
  get network() {
    return this.status === 0;
  }
  /** transient: worth retrying later with the same client id. */
  get transient() {
    return this.status === 0 || this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

const TOKENS_KEY = 'dmf.tokens';
const ME_KEY = 'dmf.me';

function load<T>(k: string): T | null {
  try {
    const v = localStorage.getItem(k);
    return v ? (JSON.parse(v) as T) : null;
  } catch {
    return null;
  }
}

export const auth = createStore<{ tokens: Tokens | null; me: Me | null }>({
  tokens: load<Tokens>(TOKENS_KEY),
  me: load<Me>(ME_KEY),
});

/** agentReachable is false after a request failed to reach the edge agent at all. */
export const agentReachable = createStore<boolean>(true);

function saveTokens(t: Tokens | null, me: Me | null = auth.get().me) {
  if (t) localStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else localStorage.removeItem(TOKENS_KEY);
  if (me) localStorage.setItem(ME_KEY, JSON.stringify(me));
  else localStorage.removeItem(ME_KEY);
  auth.set({ tokens: t, me });
}

interface TokenResponse { access_token: string; refresh_token: string; token_type: string; expires_in: number }

function toTokens(r: TokenResponse, email: string): Tokens {
  return {
    access_token: r.access_token,
    refresh_token: r.refresh_token,
    expires_at: Date.now() + (r.expires_in || 900) * 1000,
    email,
  };
}

async function parseError(res: Response): Promise<ApiError> {
  let code = 'internal';
  let message = `${res.status} ${res.statusText}`;
  let fields: Record<string, string> = {};
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      fields = body.error.fields || {};
    }
  } catch {
    /* not JSON */
  }
  const ra = Number(res.headers.get('Retry-After') || 0);
  return new ApiError(res.status, code, message, fields, Number.isFinite(ra) ? ra : 0);
}

async function rawFetch(path: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(path, { ...init, signal: ctl.signal, cache: 'no-store' });
    agentReachable.set(true);
    return res;
  } catch (e) {
    agentReachable.set(false);
    const aborted = (e as Error).name === 'AbortError';
    throw new ApiError(0, 'network', aborted ? 'The field agent did not answer in time.' : 'Cannot reach the field agent on this tablet.');
  } finally {
    clearTimeout(timer);
  }
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const t = auth.get().tokens;
  if (!t?.refresh_token) return false;
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await rawFetch(
          '/api/v1/auth/refresh',
          { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: t.refresh_token }) },
          15000,
        );
        if (!res.ok) {
          if (res.status === 401 || res.status === 403) return false;
          throw await parseError(res);
        }
        saveTokens(toTokens(await res.json(), t.email));
        return true;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

export interface RequestOpts { method?: string; body?: unknown; form?: FormData; timeoutMs?: number }

/** api performs an authenticated request and returns the parsed JSON (or null for 204). */
export async function api<T>(path: string, opts: RequestOpts = {}): Promise<T> {
  const url = path.startsWith('/') ? path : '/api/v1/' + path;
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = auth.get().tokens;
    if (t && t.expires_at - Date.now() < 30_000 && attempt === 0) {
      await refresh().catch(() => false);
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    const tok = auth.get().tokens?.access_token;
    if (tok) headers.Authorization = 'Bearer ' + tok;
    let body: BodyInit | undefined;
    if (opts.form) body = opts.form;
    else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await rawFetch(url, { method: opts.method || (body ? 'POST' : 'GET'), headers, body }, opts.timeoutMs ?? 20000);
    if (res.status === 401 && attempt === 0 && (await refresh().catch(() => false))) continue;
    if (res.status === 401) {
      signedOut();
      throw await parseError(res);
    }
    if (!res.ok) throw await parseError(res);
    if (res.status === 204) return null as T;
    const ct = res.headers.get('Content-Type') || '';
    return (ct.includes('json') ? await res.json() : null) as T;
  }
  throw new ApiError(401, 'unauthorized', 'Please sign in again.');
}

/** apiBlob fetches an authenticated binary (attachment content). */
export async function apiBlob(path: string): Promise<Blob> {
  const tok = auth.get().tokens?.access_token;
  const res = await rawFetch(path, { headers: tok ? { Authorization: 'Bearer ' + tok } : {} }, 30000);
  if (!res.ok) throw await parseError(res);
  return res.blob();
}

export async function login(email: string, password: string): Promise<void> {
  const res = await rawFetch(
    '/api/v1/auth/login',
    { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }) },
    20000,
  );
  if (!res.ok) throw await parseError(res);
  saveTokens(toTokens(await res.json(), email), null);
  try {
    const me = await api<Me>('auth/me');
    saveTokens(auth.get().tokens, me);
  } catch {
    /* the name is cosmetic */
  }
}

function signedOut() {
  saveTokens(null, null);
  if (!location.hash.startsWith('#/login')) location.hash = '#/login';
}

export function logout() {
  signedOut();
}
