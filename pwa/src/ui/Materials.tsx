import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { idbDel, idbGet, idbPut } from '../db';
import { label } from '../format';
import { discard, newId, outbox, submit } from '../outbox';
import { toast, useStore } from '../store';
import type { Job, Material } from '../types';

interface Draft { qty: Record<string, string>; client_ref: string }

export function Materials({ job }: { job: Job }) {
  const key = 'consume:' + job.id;
  const [draft, setDraft] = useState<Draft>({ qty: {}, client_ref: '' });
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false); // a second tap before the re-render does nothing
  const [err, setErr] = useState('');
  const local = useStore(outbox).filter((e) => e.job_id === job.id && e.kind === 'consume');
  const mats = job.materials ?? [];
  const closed = job.status === 'completed' || job.status === 'canceled';

  useEffect(() => {
    void idbGet<Draft>('drafts', key).then((d) => d && setDraft(d));
  }, [key]);

  function setQty(id: string, v: string) {
    const d = { qty: { ...draft.qty, [id]: v }, client_ref: '' };
    setDraft(d);
    void idbPut('drafts', key, d).catch(() => undefined);
  }
  function step(m: Material, delta: number) {
    const cur = Number(draft.qty[m.id] || 0);
    setQty(m.id, String(Math.max(0, +(cur + delta).toFixed(3))));
  }

  async function record() {
    if (inFlight.current) return;
    const lines: { material_id: string; quantity: number }[] = [];
    const bad: string[] = [];
    for (const m of mats) {
      const raw = (draft.qty[m.id] || '').trim();
      if (!raw) continue;
      const q = Number(raw);
      if (!Number.isFinite(q) || q < 0) bad.push(`${m.name}: "${raw}" is not a quantity`);
      else if (q > 0) lines.push({ material_id: m.id, quantity: q });
    }
    if (bad.length) return setErr(bad.join('; '));
    if (!lines.length) return setErr('Enter how much you used of at least one material.');
    const client_ref = draft.client_ref || newId();
    const d = { ...draft, client_ref };
    setDraft(d);
    inFlight.current = true;
    await idbPut('drafts', key, d).catch(() => undefined);
    setBusy(true);
    setErr('');
    try {
      const out = await submit({ id: client_ref, kind: 'consume', job_id: job.id, path: `field/jobs/${encodeURIComponent(job.id)}/materials/consume`, label: `Materials used · ${job.number}`, body: { client_ref, lines } });
      setDraft({ qty: {}, client_ref: '' });
      await idbDel('drafts', key).catch(() => undefined);
      toast(out.queued ? 'Usage kept on this tablet; it will be sent when the field agent answers.' : 'Usage recorded', out.queued ? 'info' : 'ok');
    } catch (e) {
      const ae = e as ApiError;
      setErr(`Usage not recorded: ${ae.message}. Your quantities are kept.`);
      void discard(client_ref);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  if (!mats.length) return <p class="muted">No materials planned for this job.</p>;
  return (
    <div class="materials">
      <table class="table">
        <caption class="sr-only">Materials for this job</caption>
        <thead>
          <tr><th scope="col">Material</th><th scope="col">Used / planned</th><th scope="col">Status</th>{!closed && <th scope="col">Use now</th>}</tr>
        </thead>
        <tbody>
          {mats.map((m) => {
            const over = m.quantity_used + Number(draft.qty[m.id] || 0) > m.quantity;
            return (
              <tr key={m.id} data-testid="material-row">
                <td><strong>{m.name}</strong><br /><small class="muted">{m.sku}</small></td>
                <td>{m.quantity_used} / {m.quantity} {m.unit}</td>
                <td><span class="chip">{label(m.status)}</span></td>
                {!closed && (
                  <td>
                    <div class="stepper">
                      <button class="btn btn-sm" type="button" aria-label={`Less ${m.name}`} onClick={() => step(m, -1)}>−</button>
                      <input type="number" inputMode="decimal" min="0" step="any" aria-label={`Quantity of ${m.name} used now, in ${m.unit}`}
                        value={draft.qty[m.id] || ''} onInput={(e) => setQty(m.id, (e.target as HTMLInputElement).value)} data-testid="material-qty" />
                      <button class="btn btn-sm" type="button" aria-label={`More ${m.name}`} onClick={() => step(m, 1)}>+</button>
                    </div>
                    {over && <small class="warn-text">More than planned</small>}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      {local.length > 0 && <p class="warn-text">{local.length} usage record(s) waiting to be sent.</p>}
      {err && <p class="error" role="alert">{err}</p>}
      {!closed && <button class="btn btn-primary" onClick={record} disabled={busy} data-testid="materials-submit">{busy ? 'Saving…' : 'Record usage'}</button>}
    </div>
  );
}
