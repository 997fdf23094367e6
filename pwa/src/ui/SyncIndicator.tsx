import { agentReachable, sync, syncSummary } from '../data';
import { ago } from '../format';
import { outbox } from '../outbox';
import { useStore } from '../store';
import { useEffect, useState } from 'preact/hooks';

export function useTick(ms: number) {
  const [, set] = useState(0);
  useEffect(() => {
    const t = setInterval(() => set((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
}

export function SyncIndicator() {
  const s = useStore(sync);
  const reachable = useStore(agentReachable);
  const local = useStore(outbox);
  useTick(15000);
  const sum = syncSummary(s, reachable, local);
  const text = sum.state === 'online' ? 'Online' : sum.state === 'offline' ? 'Offline' : 'Agent unreachable';
  const label = `Sync: ${text}; ${sum.pending} pending uploads; last sync ${ago(sum.lastSync)}; ${sum.conflicts} open conflicts. Open sync details.`;
  return (
    <a href="#/sync" class={`sync-ind sync-${sum.state}`} aria-label={label} title={label} data-testid="sync-indicator"
      data-state={sum.state} data-pending={sum.pending} data-conflicts={sum.conflicts}>
      <span class="dot" aria-hidden="true" />
      <span class="sync-text">
        <strong>{text}</strong>
        <small>
          {sum.pending > 0 ? `${sum.pending} pending` : 'All sent'} · {ago(sum.lastSync)}
        </small>
      </span>
      {sum.conflicts > 0 && <span class="badge badge-warn" aria-hidden="true">{sum.conflicts}⚠</span>}
    </a>
  );
}
