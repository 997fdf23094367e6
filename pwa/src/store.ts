import { useEffect, useState } from 'preact/hooks';

/** A tiny observable value with a Preact hook. */
export interface Store<T> {
  get(): T;
  set(v: T | ((prev: T) => T)): void;
  subscribe(fn: (v: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<(v: T) => void>();
  return {
    get: () => value,
    set(v) {
      const next = typeof v === 'function' ? (v as (p: T) => T)(value) : v;
      if (Object.is(next, value)) return;
      value = next;
      for (const fn of [...subs]) fn(value);
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

export function useStore<T>(s: Store<T>): T {
  const [v, setV] = useState(s.get());
  useEffect(() => {
    setV(s.get());
    return s.subscribe(setV);
  }, [s]);
  return v;
}

export interface Toast { id: number; kind: 'info' | 'ok' | 'error'; text: string }
export const toasts = createStore<Toast[]>([]);
let toastSeq = 0;
export function toast(text: string, kind: Toast['kind'] = 'info', ms = 5000) {
  const id = ++toastSeq;
  toasts.set((l) => [...l.slice(-3), { id, kind, text }]);
  if (ms > 0) setTimeout(() => dismissToast(id), ms);
}
export function dismissToast(id: number) {
  toasts.set((l) => l.filter((t) => t.id !== id));
}
