// Reads from the edge agent with a fallback to the last copy kept in IndexedDB (so screens still
// show something while the agent restarts), plus the polled sync status.
import { agentReachable, api, ApiError, auth } from './api';
import { idbGet, idbPut } from './db';
import { outbox, scheduleFlush } from './outbox';
import { createStore } from './store';
import type { Job, ListResponse, SyncStatus } from './types';

function whenIdle(fn: () => void) {
  const ric = (globalThis as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => number }).requestIdleCallback;
  if (ric) ric(fn, { timeout: 2000 });
  else setTimeout(fn, 200);
}

export interface Loaded<T> { data: T; fromCache: boolean; cachedAt?: string }

export async function cached<T>(key: string, fetcher: () => Promise<T>): Promise<Loaded<T>> {
  try {
    const data = await fetcher();
    const at = new Date().toISOString();
    // Saved when the screen is idle: copying 500 jobs into IndexedDB must not delay the first paint.
    whenIdle(() => void idbPut('cache', key, { data, at }).catch(() => undefined));
    return { data, fromCache: false };
  } catch (e) {
    if (e instanceof ApiError && e.network) {
      const hit = await idbGet<{ data: T; at: string }>('cache', key).catch(() => undefined);
      if (hit) return { data: hit.data, fromCache: true, cachedAt: hit.at };
    }
    throw e;
  }
}

export function jobWindow(): { from: string; to: string } {
  const from = new Date();
  from.setHours(0, 0, 0, 0);
  const to = new Date(from.getTime() + 8 * 86400000);
  return { from: from.toISOString(), to: to.toISOString() };
}

export async function fetchJobs(): Promise<Job[]> {
  const { from, to } = jobWindow();
  const out: Job[] = [];
  const limit = 500;
  for (let offset = 0; offset < 5000; offset += limit) {
    const q = new URLSearchParams({ from, to, limit: String(limit), offset: String(offset) });
    const page = await api<ListResponse<Job> | Job[]>('field/jobs?' + q.toString());
    const items = Array.isArray(page) ? page : page.items || [];
    out.push(...items);
    const total = Array.isArray(page) ? items.length : (page.total ?? items.length);
    if (items.length < limit || out.length >= total) break;
  }
  return out;
}

let prefetched: Promise<Loaded<Job[]>> | null = null;
/** prefetchJobs starts loading the list before the first render (app start on the jobs screen). */
export function prefetchJobs() {
  prefetched = cached('jobs', fetchJobs);
  prefetched.catch(() => undefined);
}
export const loadJobs = () => {
  const p = prefetched;
  prefetched = null;
  return p ?? cached('jobs', fetchJobs);
};
export const loadJob = (id: string) => cached('job:' + id, () => api<Job>('field/jobs/' + encodeURIComponent(id)));

/** rememberJob updates the cached copy of a job (after a write the agent answered). */
export function rememberJob(job: Job) {
  void idbPut('cache', 'job:' + job.id, { data: job, at: new Date().toISOString() }).catch(() => undefined);
  void idbGet<{ data: Job[]; at: string }>('cache', 'jobs').then((hit) => {
    if (!hit) return;
    const i = hit.data.findIndex((j) => j.id === job.id);
    if (i < 0) return;
    const { notes: _n, materials: _m, attachments: _a, events: _e, survey: _s, ...item } = job;
    hit.data[i] = { ...hit.data[i], ...item };
    return idbPut('cache', 'jobs', hit);
  }).catch(() => undefined);
}

export interface SyncState { status: SyncStatus | null; checkedAt: number; error: string }
const SYNC_KEY = 'dmf.sync';
function loadSync(): SyncState {
  try {
    const v = JSON.parse(localStorage.getItem(SYNC_KEY) || 'null');
    if (v && v.status) return { status: { ...v.status, online: false }, checkedAt: 0, error: '' };
  } catch {
    /* ignore */
  }
  return { status: null, checkedAt: 0, error: '' };
}
export const sync = createStore<SyncState>(loadSync());

let pollTimer: ReturnType<typeof setTimeout> | null = null;
export async function pollSync() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  if (auth.get().tokens) {
    try {
      const status = await api<SyncStatus>('sync/status', { timeoutMs: 8000 });
      sync.set({ status, checkedAt: Date.now(), error: '' });
      localStorage.setItem(SYNC_KEY, JSON.stringify({ status }));
      // The agent answers again: send what waited for it without waiting for the backoff.
      if (outbox.get().some((e) => e.status === 'failed' || e.status === 'pending')) scheduleFlush(0);
    } catch (e) {
      sync.set((s) => ({ ...s, checkedAt: Date.now(), error: (e as Error).message }));
    }
  }
  pollTimer = setTimeout(pollSync, document.visibilityState === 'visible' ? 5000 : 30000);
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void pollSync();
});

/** syncSummary combines the agent's status with the PWA's own queue. */
export function syncSummary(s: SyncState, reachable: boolean, local = outbox.get()) {
  const localPending = local.filter((e) => e.status !== 'parked').length;
  const parked = local.filter((e) => e.status === 'parked').length;
  const agentPending = s.status?.pending_uploads ?? 0;
  const state: 'online' | 'offline' | 'agent-down' = !reachable ? 'agent-down' : s.status?.online ? 'online' : 'offline';
  return {
    state,
    pending: agentPending + localPending,
    agentPending,
    localPending,
    parked,
    conflicts: (s.status?.open_conflicts ?? 0) + parked,
    lastSync: s.status?.last_sync_at ?? null,
  };
}
export { agentReachable };
