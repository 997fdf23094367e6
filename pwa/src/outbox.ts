// The PWA outbox: every write is stored in IndexedDB with its client-generated id before it is
// sent, and removed only once the edge agent acknowledged it. A write whose request failed to
// reach the agent (restarting, timed out) stays queued and is resent later with the SAME id, so
// the agent's idempotency (client_event_id / client_ref) guarantees it never applies twice.
// Photos and signatures are sent before other writes, so the completion gate sees the evidence.
import { api, ApiError, auth } from './api';
import { idbAll, idbDel, idbPut } from './db';
import { createStore, toast } from './store';

export type OutboxKind = 'transition' | 'note' | 'consume' | 'survey' | 'attachment';

export interface OutboxEntry {
  id: string; // client_event_id / client_ref, generated once when the user tapped
  seq: number;
  kind: OutboxKind;
  job_id: string;
  path: string;
  label: string;
  body?: unknown;
  file?: Blob;
  file_name?: string;
  meta?: Record<string, string>;
  status: 'pending' | 'sending' | 'failed' | 'parked';
  attempts: number;
  last_error?: string;
  fields?: Record<string, string>;
  created_at: string;
}

export type Outcome<T = unknown> = { queued: false; result: T } | { queued: true; error: ApiError };

export const outbox = createStore<OutboxEntry[]>([]);
type AppliedFn = (e: OutboxEntry, result: unknown) => void;
const appliedSubs = new Set<AppliedFn>();
export function onApplied(fn: AppliedFn): () => void {
  appliedSubs.add(fn);
  return () => appliedSubs.delete(fn);
}

type RefusedFn = (e: OutboxEntry, err: ApiError) => void;
const refusedSubs = new Set<RefusedFn>();
/** onRefused: the agent refused a write (after the tap that made it stopped waiting, or not). */
export function onRefused(fn: RefusedFn): () => void {
  refusedSubs.add(fn);
  return () => refusedSubs.delete(fn);
}

const waiters = new Map<string, { resolve: (o: Outcome) => void; reject: (e: unknown) => void }>();
let seqCounter = 0;

export async function loadOutbox() {
  const all = await idbAll<OutboxEntry>('outbox').catch(() => [] as OutboxEntry[]);
  outbox.set(all.map((e) => (e.status === 'sending' ? { ...e, status: 'pending' as const } : e)).sort((a, b) => a.seq - b.seq));
  if (all.length) scheduleFlush(0);
}

function update(e: OutboxEntry) {
  outbox.set((l) => {
    const i = l.findIndex((x) => x.id === e.id);
    const n = l.slice();
    if (i >= 0) n[i] = e;
    else n.push(e);
    return n.sort((a, b) => a.seq - b.seq);
  });
  const { status, ...rest } = e;
  return idbPut('outbox', e.id, { ...rest, status: status === 'sending' ? 'pending' : status });
}

async function remove(id: string) {
  outbox.set((l) => l.filter((x) => x.id !== id));
  await idbDel('outbox', id).catch(() => undefined);
}

type NewEntry = Omit<OutboxEntry, 'seq' | 'status' | 'attempts' | 'created_at'>;

/**
 * submit stores the write and sends it as soon as everything queued before it went through.
 * Resolves with the agent's answer, or {queued:true} when the agent could not be reached (the
 * write stays queued and is retried). Rejects with ApiError when the agent refused it.
 */
export async function submit<T>(e: NewEntry): Promise<Outcome<T>> {
  const existing = outbox.get().find((x) => x.id === e.id);
  const entry: OutboxEntry = existing
    ? { ...existing, ...e, status: 'pending', last_error: undefined, fields: undefined }
    : { ...e, seq: Date.now() * 1000 + (seqCounter++ % 1000), status: 'pending', attempts: 0, created_at: new Date().toISOString() };
  const done = new Promise<Outcome<T>>((resolve, reject) => waiters.set(entry.id, { resolve: resolve as (o: Outcome) => void, reject }));
  await update(entry);
  scheduleFlush(0);
  return done;
}

export function retry(id: string) {
  const e = outbox.get().find((x) => x.id === id);
  if (e) void update({ ...e, status: 'pending', last_error: undefined }).then(() => scheduleFlush(0));
}

export async function discard(id: string) {
  await remove(id);
  waiters.get(id)?.reject(new ApiError(0, 'discarded', 'Discarded'));
  waiters.delete(id);
}

let timer: ReturnType<typeof setTimeout> | null = null;
let flushing = false;
let again = false;

export function scheduleFlush(ms: number) {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    void flush();
  }, ms);
}

function nextEntry(): OutboxEntry | undefined {
  const ready = outbox.get().filter((e) => e.status === 'pending' || e.status === 'failed');
  return ready.find((e) => e.kind === 'attachment') ?? ready[0];
}

async function send(e: OutboxEntry): Promise<unknown> {
  if (e.kind === 'attachment') {
    const fd = new FormData();
    for (const [k, v] of Object.entries(e.meta ?? {})) if (v !== '' && v != null) fd.append(k, v);
    fd.append('client_ref', e.id);
    fd.append('work_order_id', e.job_id);
    fd.append('file', e.file as Blob, e.file_name || 'photo.jpg');
    return api(e.path, { method: 'POST', form: fd, timeoutMs: 60000 });
  }
  return api(e.path, { method: 'POST', body: e.body });
}

export async function flush(): Promise<void> {
  if (flushing) {
    again = true;
    return;
  }
  if (!auth.get().tokens) return;
  flushing = true;
  try {
    for (;;) {
      const e = nextEntry();
      if (!e) break;
      const sending: OutboxEntry = { ...e, status: 'sending', attempts: e.attempts + 1 };
      outbox.set((l) => l.map((x) => (x.id === e.id ? sending : x)));
      try {
        const result = await send(sending);
        // Listeners update their screens and the entry leaves the queue in the same tick (no flicker).
        for (const fn of appliedSubs) fn(e, result);
        waiters.get(e.id)?.resolve({ queued: false, result });
        waiters.delete(e.id);
        await remove(e.id);
      } catch (err) {
        const ae = err instanceof ApiError ? err : new ApiError(0, 'network', String(err));
        if (ae.transient || ae.status === 401) {
          await update({ ...sending, status: 'failed', last_error: ae.message });
          waiters.get(e.id)?.resolve({ queued: true, error: ae });
          waiters.delete(e.id);
          const backoff = ae.retryAfter > 0 ? ae.retryAfter * 1000 : Math.min(30000, 1000 * 2 ** Math.min(sending.attempts, 5));
          scheduleFlush(ae.status === 401 ? 60000 : backoff);
          // Everything queued behind it waits too: tell whoever is waiting that it is queued.
          for (const q of outbox.get()) {
            const w = waiters.get(q.id);
            if (w) {
              w.resolve({ queued: true, error: ae });
              waiters.delete(q.id);
            }
          }
          break;
        }
        // The agent refused it (conflict, invalid, forbidden, not found, too large...).
        if (e.kind === 'transition') await remove(e.id); // nothing captured in a tap; the UI shows why
        else await update({ ...sending, status: 'parked', last_error: ae.message, fields: ae.fields });
        for (const fn of refusedSubs) fn(e, ae);
        const w = waiters.get(e.id);
        if (w) w.reject(ae);
        else toast(`${e.label}: refused by the field agent: ${ae.message}`, 'error', 12000);
        waiters.delete(e.id);
      }
    }
  } finally {
    flushing = false;
    if (again) {
      again = false;
      scheduleFlush(0);
    }
  }
}

export function pendingFor(jobId: string, kind?: OutboxKind): OutboxEntry[] {
  return outbox.get().filter((e) => e.job_id === jobId && (!kind || e.kind === kind));
}

export function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Retry when the device regains a network or the tab becomes visible again.
addEventListener('online', () => scheduleFlush(0));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') scheduleFlush(0);
});
