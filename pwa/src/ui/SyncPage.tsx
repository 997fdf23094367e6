import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { agentReachable, pollSync, sync, syncSummary } from '../data';
import { ago, fmtDateTime, label } from '../format';
import { discard, flush, outbox, retry } from '../outbox';
import { useStore } from '../store';
import { useTick } from './SyncIndicator';

export function SyncPage() {
  const s = useStore(sync);
  const reachable = useStore(agentReachable);
  const local = useStore(outbox);
  useTick(5000);
  const sum = syncSummary(s, reachable, local);
  const st = s.status;
  const [conflicts, setConflicts] = useState<Conflict[] | null>(null);
  const openConflicts = st?.open_conflicts ?? 0;
  useEffect(() => {
    // The agent's own conflict list (what the office changed that overrode this tablet, or refused).
    api<{ items: Conflict[] }>('sync/conflicts').then((r) => setConflicts(r.items || []), () => setConflicts(null));
  }, [openConflicts]);
  return (
    <section class="page" data-testid="sync-page">
      <div class="page-head">
        <h1 tabIndex={-1}>Sync</h1>
        <div class="spacer" />
        <button class="btn" onClick={() => { void pollSync(); void flush(); }} data-testid="sync-refresh">Check now</button>
      </div>
      <div class="stats">
        <div class={`stat stat-${sum.state}`}>
          <small>Connection</small>
          <strong>{sum.state === 'online' ? 'Online' : sum.state === 'offline' ? 'Offline (working on the tablet)' : 'Field agent not reachable'}</strong>
          <small>checked {s.checkedAt ? ago(new Date(s.checkedAt).toISOString()) : 'never'}</small>
        </div>
        <div class="stat"><small>Pending uploads</small><strong data-testid="sync-pending">{sum.pending}</strong><small>{sum.agentPending} in the agent · {sum.localPending} in this app</small></div>
        <div class="stat"><small>Last sync with the office</small><strong>{ago(sum.lastSync)}</strong><small>{fmtDateTime(sum.lastSync)}</small></div>
        <div class={`stat${sum.conflicts ? ' stat-warn' : ''}`}><small>Open conflicts</small><strong data-testid="sync-conflicts">{sum.conflicts}</strong><small>the office resolves these</small></div>
      </div>
      {st?.last_error && <p class="banner banner-warn" role="status">Last sync error: {st.last_error}</p>}
      {!reachable && (
        <p class="banner banner-error" role="alert">
          The field agent on this tablet does not answer (it may be restarting). Everything you do is kept in this app and sent when it is back.
        </p>
      )}
      {st?.scope && (
        <div class="card">
          <h2>On this tablet</h2>
          <dl class="kv">
            {Object.entries(st.scope).map(([k, v]) => (
              <div key={k}><dt>{label(k)}</dt><dd>{v}</dd></div>
            ))}
          </dl>
        </div>
      )}
      {conflicts && conflicts.length > 0 && (
        <div class="card" data-testid="conflicts">
          <h2>Conflicts</h2>
          <table class="table">
            <thead><tr><th scope="col">What</th><th scope="col">This tablet</th><th scope="col">Office</th><th scope="col">State</th></tr></thead>
            <tbody>
              {conflicts.map((c) => (
                <tr key={c.id}>
                  <td>{label(c.entity || '')}{c.field ? ` · ${label(c.field)}` : ''}{c.message ? <><br /><small>{c.message}</small></> : null}</td>
                  <td><code>{short(c.device_value)}</code></td>
                  <td><code>{short(c.hub_value)}</code></td>
                  <td><span class={c.status === 'open' ? 'warn-text' : 'muted'}>{label(c.status || '')}</span><br /><small>{fmtDateTime(c.created_at)}</small></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="card">
        <h2>Waiting in this app ({local.length})</h2>
        {local.length === 0 ? <p class="muted">Nothing waiting: the field agent has everything.</p> : (
          <table class="table">
            <thead><tr><th scope="col">What</th><th scope="col">Since</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {local.map((e) => (
                <tr key={e.id} data-testid="outbox-row">
                  <td><a href={`#/jobs/${e.job_id}`}>{e.label}</a></td>
                  <td>{fmtDateTime(e.created_at)}</td>
                  <td>
                    <span class={e.status === 'parked' ? 'error-text' : 'warn-text'}>
                      {e.status === 'parked' ? 'Refused' : e.status === 'sending' ? 'Sending' : e.status === 'failed' ? `Waiting (${e.attempts} tries)` : 'Queued'}
                    </span>
                    {e.last_error && <><br /><small>{e.last_error}</small></>}
                    {e.fields && Object.entries(e.fields).map(([k, v]) => <><br /><small key={k}>{label(k)}: {v}</small></>)}
                  </td>
                  <td class="row">
                    <button class="btn btn-sm" onClick={() => retry(e.id)} disabled={e.status === 'sending'}>Retry</button>
                    {e.status === 'parked' && (
                      <button class="btn btn-sm btn-danger" onClick={() => confirm(`Delete “${e.label}” from this tablet? It cannot be recovered.`) && discard(e.id)}>Delete</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}

interface Conflict {
  id: string; entity: string; entity_id: string; field: string; device_value: unknown; hub_value: unknown;
  code?: string; message?: string; status: string; created_at: string;
}

function short(v: unknown): string {
  if (v === null || v === undefined) return '—';
  const t = typeof v === 'string' ? v : JSON.stringify(v);
  return t.length > 80 ? t.slice(0, 77) + '…' : t;
}
