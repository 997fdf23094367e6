import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { idbDel, idbGet, idbPut } from '../db';
import { currentFix } from '../geo';
import { discard, newId, outbox, submit } from '../outbox';
import { toast, useStore } from '../store';
import type { Job, Question } from '../types';
import { PhotoInput, queueAttachment } from './PhotoInput';
import { SignaturePad } from './SignaturePad';

interface Draft { answers: Record<string, unknown>; client_ref: string }

export function isAnswered(q: Question, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.trim() !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (q.type === 'checkbox' && typeof v === 'boolean') return v;
  return true;
}

/** Survey form from its template. Answers are kept as a draft on the tablet until the agent saved them. */
export function SurveyForm({ job, onSaved }: { job: Job; onSaved: () => void }) {
  const s = job.survey!;
  const key = 'survey:' + job.id;
  const [draft, setDraft] = useState<Draft>({ answers: { ...(s.answers || {}) }, client_ref: '' });
  const [missing, setMissing] = useState<string[]>([]);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false); // a second tap before the re-render does nothing
  const local = useStore(outbox).filter((e) => e.job_id === job.id && e.kind === 'survey');
  const closed = job.status === 'completed' || job.status === 'canceled';

  useEffect(() => {
    void idbGet<Draft>('drafts', key).then((d) => d && setDraft(d));
  }, [key]);

  function set(qid: string, v: unknown) {
    setDraft((prev) => {
      const d = { answers: { ...prev.answers, [qid]: v }, client_ref: '' };
      void idbPut('drafts', key, d).catch(() => undefined);
      return d;
    });
    setMissing((m) => m.filter((x) => x !== qid));
  }

  async function save(e: Event) {
    e.preventDefault();
    if (inFlight.current) return;
    const miss = s.questions.filter((q) => q.required && !isAnswered(q, draft.answers[q.id])).map((q) => q.id);
    setMissing(miss);
    if (miss.length) {
      setErr(`${miss.length} required answer${miss.length > 1 ? 's are' : ' is'} missing. They are marked below; your other answers are kept.`);
      document.getElementById('q-' + miss[0])?.focus();
      return;
    }
    const client_ref = draft.client_ref || newId();
    // Photo/signature answers hold the attachment's client_ref until the agent saved the file;
    // then they carry the attachment id.
    const answers = { ...draft.answers };
    for (const q of s.questions) {
      const v = answers[q.id];
      if ((q.type === 'photo' || q.type === 'signature') && typeof v === 'string') {
        const a = job.attachments?.find((x) => x.client_ref === v);
        if (a) answers[q.id] = a.id;
      }
    }
    const d = { answers, client_ref };
    setDraft(d);
    inFlight.current = true;
    await idbPut('drafts', key, d).catch(() => undefined);
    setBusy(true);
    setErr('');
    try {
      const out = await submit({ id: client_ref, kind: 'survey', job_id: job.id, path: `field/jobs/${encodeURIComponent(job.id)}/survey`, label: `Survey · ${job.number}`, body: { client_ref, answers: d.answers } });
      await idbDel('drafts', key).catch(() => undefined);
      setDraft({ answers: d.answers, client_ref: '' });
      toast(out.queued ? 'Survey kept on this tablet; it will be sent when the field agent answers.' : 'Survey saved', out.queued ? 'info' : 'ok');
      if (!out.queued) onSaved();
    } catch (e) {
      const ae = e as ApiError;
      setErr(`The survey was not saved: ${ae.message}. Your answers are kept.`);
      if (ae.fields) setMissing(Object.keys(ae.fields).map((k) => k.replace(/^answers\./, '')));
      void discard(client_ref);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  return (
    <form class="survey" onSubmit={save} noValidate data-testid="survey-form">
      <h3>{s.name}</h3>
      {local.length > 0 && <p class="warn-text">Answers waiting to be sent from this tablet.</p>}
      {s.questions.map((q) => (
        <QuestionField key={q.id} job={job} q={q} value={draft.answers[q.id]} invalid={missing.includes(q.id)} disabled={closed} onChange={(v) => set(q.id, v)} />
      ))}
      {err && <p class="error" role="alert" data-testid="survey-error">{err}</p>}
      {!closed && <button class="btn btn-primary" type="submit" disabled={busy} data-testid="survey-submit">{busy ? 'Saving…' : 'Save survey'}</button>}
    </form>
  );
}

function QuestionField({ job, q, value, invalid, disabled, onChange }: {
  job: Job; q: Question; value: unknown; invalid: boolean; disabled: boolean; onChange: (v: unknown) => void;
}) {
  const id = 'q-' + q.id;
  const [gpsErr, setGpsErr] = useState('');
  const [gpsBusy, setGpsBusy] = useState(false);
  const lbl = (
    <span>
      {q.label}
      {q.required && <span class="req" aria-hidden="true"> *</span>}
      {q.required && <span class="sr-only"> (required)</span>}
    </span>
  );
  const help = invalid ? <small class="error-text" id={id + '-err'}>This answer is required.</small> : null;
  const common = { id, disabled, 'aria-invalid': invalid || undefined, 'aria-describedby': invalid ? id + '-err' : undefined, 'data-testid': `q-${q.id}` };
  const opts = q.options ?? [];

  switch (q.type) {
    case 'text':
      return <label class={`field${invalid ? ' invalid' : ''}`}>{lbl}<textarea rows={2} {...common} value={(value as string) || ''} onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)} />{help}</label>;
    case 'number':
      return (
        <label class={`field${invalid ? ' invalid' : ''}`}>{lbl}
          <input type="number" inputMode="decimal" step="any" {...common} value={value == null ? '' : String(value)}
            onInput={(e) => { const t = (e.target as HTMLInputElement).value; onChange(t === '' ? null : Number(t)); }} />{help}
        </label>
      );
    case 'choice':
      return (
        <fieldset class={`field${invalid ? ' invalid' : ''}`} id={id} tabIndex={-1} aria-describedby={invalid ? id + '-err' : undefined}>
          <legend>{lbl}</legend>
          <div class="radio-list" role="radiogroup">
            {opts.map((o) => (
              <label key={o} class={`radio${value === o ? ' radio-on' : ''}`}>
                <input type="radio" name={id} checked={value === o} disabled={disabled} onChange={() => onChange(o)} />
                <span>{o}</span>
              </label>
            ))}
          </div>
          {help}
        </fieldset>
      );
    case 'checkbox':
      if (!opts.length)
        return (
          <div class={`field${invalid ? ' invalid' : ''}`}>
            <label class={`radio${value === true ? ' radio-on' : ''}`}>
              <input type="checkbox" {...common} checked={value === true} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} />
              {lbl}
            </label>
            {help}
          </div>
        );
      {
        const arr = Array.isArray(value) ? (value as string[]) : [];
        return (
          <fieldset class={`field${invalid ? ' invalid' : ''}`} id={id} tabIndex={-1}>
            <legend>{lbl}</legend>
            <div class="radio-list">
              {opts.map((o) => (
                <label key={o} class={`radio${arr.includes(o) ? ' radio-on' : ''}`}>
                  <input type="checkbox" checked={arr.includes(o)} disabled={disabled}
                    onChange={(e) => onChange((e.target as HTMLInputElement).checked ? [...arr, o] : arr.filter((x) => x !== o))} />
                  <span>{o}</span>
                </label>
              ))}
            </div>
            {help}
          </fieldset>
        );
      }
    case 'gps': {
      const v = value as { lat: number; lon: number; accuracy?: number } | null;
      return (
        <div class={`field${invalid ? ' invalid' : ''}`} id={id} tabIndex={-1}>
          {lbl}
          <p>{v ? `${v.lat.toFixed(6)}, ${v.lon.toFixed(6)}${v.accuracy ? ` (±${Math.round(v.accuracy)} m)` : ''}` : <span class="muted">No point recorded.</span>}</p>
          {!disabled && (
            <button type="button" class="btn" disabled={gpsBusy} data-testid={`q-${q.id}-gps`} onClick={async () => {
              setGpsBusy(true);
              setGpsErr('');
              try {
                const f = await currentFix();
                onChange({ lat: f.lat, lon: f.lon, accuracy: f.accuracy });
              } catch (e) {
                setGpsErr((e as Error).message);
              } finally {
                setGpsBusy(false);
              }
            }}>{gpsBusy ? 'Getting position…' : v ? 'Record again' : 'Record my position'}</button>
          )}
          {gpsErr && <p class="error" role="alert">{gpsErr}</p>}
          {help}
        </div>
      );
    }
    case 'photo':
    case 'signature': {
      const v = typeof value === 'string' && value ? value : null; // attachment id (or its client_ref while unsent)
      return (
        <div class={`field${invalid ? ' invalid' : ''}`} id={id} tabIndex={-1}>
          {lbl}
          {v && <p class="ok-text">✓ {q.type === 'photo' ? 'Photo' : 'Signature'} attached (see Files)</p>}
          {!disabled && q.type === 'photo' && (
            <PhotoInput jobId={job.id} testid={`q-${q.id}-photo`} label={v ? 'Replace photo' : 'Take photo'} onQueued={(ref) => onChange(ref)} />
          )}
          {!disabled && q.type === 'signature' && (
            <SignaturePad testid={`q-${q.id}-sig`} saveLabel="Use this signature" onSave={(png, signer) => {
              const { id: ref } = queueAttachment(job.id, png, 'signature', 'survey-signature.png', { signer_name: signer });
              onChange(ref);
            }} />
          )}
          {help}
        </div>
      );
    }
    default:
      return <p class="muted">Unsupported question type {String(q.type)}.</p>;
  }
}
