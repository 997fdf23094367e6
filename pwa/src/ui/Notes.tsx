import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { idbDel, idbGet, idbPut } from '../db';
import { fmtDateTime } from '../format';
import { discard, newId, outbox, retry, submit } from '../outbox';
import { toast, useStore } from '../store';
import type { Job, Note } from '../types';

interface Draft { body: string; client_ref: string }

export function Notes({ job }: { job: Job }) {
  const key = 'note:' + job.id;
  const [draft, setDraft] = useState<Draft>({ body: '', client_ref: '' });
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false); // a second tap before the re-render does nothing
  const [err, setErr] = useState('');
  const local = useStore(outbox).filter((e) => e.job_id === job.id && e.kind === 'note');

  useEffect(() => {
    void idbGet<Draft>('drafts', key).then((d) => d && setDraft(d));
  }, [key]);

  function edit(body: string) {
    // Editing the text after a refused send makes it a new note: new client_ref on next send.
    const d = { body, client_ref: '' };
    setDraft(d);
    void idbPut('drafts', key, d).catch(() => undefined);
  }

  async function send(e: Event) {
    e.preventDefault();
    if (inFlight.current) return;
    const body = draft.body.trim();
    if (!body) return setErr('Write something first.');
    const client_ref = draft.client_ref || newId(); // kept across retries of the same text
    const d = { body: draft.body, client_ref };
    setDraft(d);
    inFlight.current = true;
    await idbPut('drafts', key, d).catch(() => undefined);
    setBusy(true);
    setErr('');
    try {
      const out = await submit<Note>({ id: client_ref, kind: 'note', job_id: job.id, path: `field/jobs/${encodeURIComponent(job.id)}/notes`, label: `Note · ${job.number}`, body: { client_ref, body } });
      setDraft({ body: '', client_ref: '' });
      await idbDel('drafts', key).catch(() => undefined);
      if (out.queued) toast('Note kept on this tablet; it will be sent when the field agent answers.');
    } catch (e) {
      setErr(`The note was not saved: ${(e as ApiError).message}. Your text is kept.`);
      void discard(client_ref); // the text stays in the draft box instead
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  const notes = [...(job.notes ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at));
  return (
    <div class="notes">
      <form onSubmit={send} class="note-form">
        <label class="field">
          <span>New note</span>
          <textarea rows={3} value={draft.body} onInput={(e) => edit((e.target as HTMLTextAreaElement).value)} data-testid="note-body" />
        </label>
        {err && <p class="error" role="alert">{err}</p>}
        <button class="btn btn-primary" type="submit" disabled={busy} data-testid="note-submit">{busy ? 'Saving…' : 'Add note'}</button>
      </form>
      <ul class="timeline" aria-label="Notes">
        {local.map((e) => (
          <li key={e.id} class="pending">
            <p class="pre">{(e.body as { body: string }).body}</p>
            <small class="warn-text">{e.status === 'parked' ? 'Not accepted' : 'Waiting to be sent'}{e.last_error ? ': ' + e.last_error : ''}</small>
            {e.status !== 'sending' && <button class="btn btn-sm" onClick={() => retry(e.id)}>Retry now</button>}
          </li>
        ))}
        {notes.map((n) => (
          <li key={n.id} data-testid="note">
            <p class="pre">{n.body}</p>
            <small class="muted">{n.author_name || 'Someone'} · {fmtDateTime(n.created_at)}{n.is_internal ? ' · internal' : ''}</small>
          </li>
        ))}
        {!notes.length && !local.length && <li class="muted">No notes yet.</li>}
      </ul>
    </div>
  );
}
