import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { loadJob, rememberJob } from '../data';
import { idbDel, idbGet, idbPut } from '../db';
import { duration, fmtDateTime, fmtTime, label } from '../format';
import { lastFix } from '../geo';
import { newId, onApplied, onRefused, outbox, submit, type OutboxEntry } from '../outbox';
import { EVENT_ORDER, REASONS, RULES, STATUS_LABEL, localAllowed, nextStatus, whyDisabled } from '../statemachine';
import { toast, useStore } from '../store';
import type { Attachment, EventName, Job, Material, Note, Status, TransitionResponse } from '../types';
import { Evidence } from './Evidence';
import { Notes } from './Notes';
import { Materials } from './Materials';
import { SurveyForm } from './Survey';
import { Attachments } from './Attachments';
import { History } from './History';
import { LazySiteMap } from './LazyMaps';
import { Modal } from './Modal';

type Tab = 'completion' | 'notes' | 'materials' | 'survey' | 'attachments' | 'history' | 'map';

export interface Gate { photos: number; signatures: number; reason: string; ok: boolean; missing: string[] }

export function gateFor(job: Job, local: OutboxEntry[], reason: string): Gate {
  const mine = local.filter((e) => e.job_id === job.id && e.kind === 'attachment' && e.status !== 'parked');
  const photos = (job.attachments ?? []).filter((a) => a.kind === 'photo').length + mine.filter((e) => e.meta?.kind === 'photo').length;
  const signatures = (job.attachments ?? []).filter((a) => a.kind === 'signature').length + mine.filter((e) => e.meta?.kind === 'signature').length;
  const missing: string[] = [];
  if (photos < 1) missing.push('a photo');
  if (signatures < 1 && !reason.trim()) missing.push('a signature (or why none)');
  return { photos, signatures, reason, ok: missing.length === 0, missing };
}

export function JobDetail({ id, tab: initialTab }: { id: string; tab: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [cacheAt, setCacheAt] = useState<string | null>(null);
  const [loadErr, setLoadErr] = useState('');
  const [pending, setPending] = useState<{ event: EventName; to: Status } | null>(null);
  const [execErr, setExecErr] = useState<{ msg: string; fields: Record<string, string> } | null>(null);
  const [askReason, setAskReason] = useState(false);
  const [sigReason, setSigReasonState] = useState('');
  const [tab, setTab] = useState<Tab | ''>((initialTab as Tab) || '');
  const busy = useRef(false);
  const local = useStore(outbox);
  const jobRef = useRef<Job | null>(null);
  jobRef.current = job;

  async function reload(silent = false) {
    try {
      const r = await loadJob(id);
      setJob(r.data);
      setCacheAt(r.fromCache ? r.cachedAt || '' : null);
      setLoadErr('');
    } catch (e) {
      if (!silent) setLoadErr((e as ApiError).status === 404 ? 'This job is not (or no longer) assigned to you.' : (e as Error).message);
    }
  }

  useEffect(() => {
    void reload();
    const poll = setInterval(() => {
      if (document.visibilityState === 'visible' && !busy.current) void reload(true);
    }, 30000);
    void idbGet<string>('drafts', 'sigreason:' + id).then((v) => v && setSigReasonState(v));
    const offRefused = onRefused((e) => {
      if (e.job_id === id) void reload(true);
    });
    const offApplied = onApplied((e, result) => {
      if (e.job_id !== id) return;
      const j = jobRef.current;
      if (e.kind === 'transition') {
        const r = result as TransitionResponse;
        setJob(r.job);
        rememberJob(r.job);
      } else if (e.kind === 'attachment' && j && result && (result as Attachment).id) {
        const a = result as Attachment;
        const n = { ...j, attachments: [...(j.attachments ?? []).filter((x) => x.id !== a.id), a] };
        setJob(n);
        rememberJob(n);
      } else if (e.kind === 'note' && j && result && (result as Note).id) {
        const note = result as Note;
        const n = { ...j, notes: [...(j.notes ?? []).filter((x) => x.id !== note.id), note] };
        setJob(n);
        rememberJob(n);
      } else if (e.kind === 'consume' && j && result && Array.isArray((result as { materials: Material[] }).materials)) {
        const n = { ...j, materials: (result as { materials: Material[] }).materials };
        setJob(n);
        rememberJob(n);
      } else void reload(true);
    });
    return () => {
      clearInterval(poll);
      offRefused();
      offApplied();
    };
  }, [id]);

  function setSigReason(v: string) {
    setSigReasonState(v);
    void (v ? idbPut('drafts', 'sigreason:' + id, v) : idbDel('drafts', 'sigreason:' + id)).catch(() => undefined);
  }

  if (loadErr && !job)
    return (
      <section class="page">
        <a class="back" href="#/jobs">← Jobs</a>
        <h1 tabIndex={-1}>Job</h1>
        <p class="banner banner-error" role="alert">{loadErr}</p>
        <button class="btn" onClick={() => reload()}>Try again</button>
      </section>
    );
  if (!job)
    return (
      <section class="page" aria-busy="true">
        <a class="back" href="#/jobs">← Jobs</a>
        <h1 tabIndex={-1}>Loading job…</h1>
      </section>
    );

  // Taps still waiting in the outbox (agent unreachable, or after a reload) show their effect.
  // The tap in flight is in the outbox too, so the new status shows at once.
  const waiting = local.filter((e) => e.job_id === id && e.kind === 'transition');
  const status: Status = waiting.reduce<Status>((st, e) => nextStatus((e.body as { event: EventName }).event, st), job.status);
  const isQueued = waiting.some((e) => e.status === 'failed' || e.attempts > 1 || (!pending && e.status === 'pending'));
  const allowed: EventName[] = pending ? [] : isQueued ? localAllowed(status) : (job.allowed_events ?? localAllowed(job.status));
  const gate = gateFor(job, local, sigReason);
  const active = status === 'in_progress' || status === 'paused';
  const current: Tab = tab || (active ? 'completion' : 'notes');

  async function fire(ev: EventName, extra: { reason?: string; note?: string } = {}) {
    const j = jobRef.current;
    if (!j || busy.current) return; // a second tap while the first is in flight does nothing
    if (ev === 'unable_to_complete' && !extra.reason) {
      setAskReason(true);
      return;
    }
    busy.current = true;
    const clientEventId = newId(); // generated once per tap; the outbox resends it unchanged
    const fix = lastFix();
    const payload: Record<string, string> = {};
    if (extra.reason) payload.reason = extra.reason;
    if (ev === 'complete' && gate.signatures < 1 && sigReason.trim()) payload.signature_unavailable_reason = sigReason.trim();
    const to = nextStatus(ev, status);
    setExecErr(null);
    setPending({ event: ev, to });
    performance.mark('exec-tap');
    try {
      const out = await submit<TransitionResponse>({
        id: clientEventId,
        kind: 'transition',
        job_id: j.id,
        path: `field/jobs/${encodeURIComponent(j.id)}/transition`,
        label: `${RULES[ev].label} · ${j.number}`,
        body: {
          event: ev,
          client_event_id: clientEventId,
          occurred_at: new Date().toISOString(),
          lat: fix?.lat ?? null,
          lon: fix?.lon ?? null,
          note: extra.note || null,
          payload,
        },
      });
      if (!out.queued) {
        setJob(out.result.job);
        rememberJob(out.result.job);
        if (out.result.event?.clock_skew) toast('This tablet’s clock looks wrong; the office will see a warning on this event.', 'info', 8000);
        if (ev === 'complete') void idbDel('drafts', 'sigreason:' + j.id).catch(() => undefined);
      } else {
        toast(`${RULES[ev].label}: saved on this tablet, will be sent when the field agent answers.`, 'info');
      }
    } catch (e) {
      const ae = e as ApiError;
      let msg = ae.message;
      if (ae.status === 409) msg = `${RULES[ev].label} is not possible now: ${ae.message}. The job was refreshed.`;
      else if (ae.status === 403) msg = 'Only the primary technician can change this job’s status.';
      else if (ae.status === 422) msg = `${RULES[ev].label} needs more: ${ae.message}`;
      setExecErr({ msg, fields: ae.fields || {} });
      if (ae.status === 409 || ae.status === 404) void reload(true);
    } finally {
      setPending(null);
      busy.current = false;
    }
  }

  const tabs: [Tab, string, boolean][] = [
    ['completion', 'Completion', true],
    ['notes', `Notes (${(job.notes?.length ?? 0) + local.filter((e) => e.job_id === id && e.kind === 'note').length})`, true],
    ['materials', `Materials (${job.materials?.length ?? 0})`, true],
    ['survey', 'Survey', !!job.survey],
    ['attachments', `Files (${(job.attachments?.length ?? 0) + local.filter((e) => e.job_id === id && e.kind === 'attachment').length})`, true],
    ['history', 'History', true],
    ['map', 'Site map', true],
  ];

  return (
    <section class="page job-page">
      <div class="job-head">
        <a class="back" href="#/jobs" aria-label="Back to jobs">←</a>
        <div class="job-head-main">
          <h1 tabIndex={-1}>
            <span class="job-no">{job.number}</span> {job.title}
          </h1>
          <div class="job-meta">
            <span class={`chip chip-${status} chip-lg`} data-testid="job-status" data-status={status} aria-live="polite">
              {STATUS_LABEL[status] || status}
              {pending && <span class="spinner" aria-label="saving" />}
            </span>
            {isQueued && <span class="chip chip-queued" data-testid="job-queued">Queued on tablet</span>}
            <span>{fmtDateTime(job.scheduled_start)}{job.scheduled_end ? ' – ' + fmtTime(job.scheduled_end) : ''}</span>
            <span>{label(job.priority)} · {label(job.work_type)}</span>
            {job.total_active_seconds > 0 && <span>Worked {duration(job.total_active_seconds)}</span>}
          </div>
        </div>
      </div>
      {cacheAt !== null && <p class="banner banner-warn" role="status">Field agent not reachable: showing the copy saved {fmtDateTime(cacheAt)}.</p>}

      <ExecBar job={{ ...job, status }} allowed={allowed} gate={gate} busy={!!pending} onFire={fire} />
      {execErr && (
        <div class="banner banner-error" role="alert" data-testid="exec-error">
          <p>{execErr.msg}</p>
          {Object.keys(execErr.fields).length > 0 && (
            <ul>{Object.entries(execErr.fields).map(([k, v]) => <li key={k}><strong>{label(k)}:</strong> {v}</li>)}</ul>
          )}
        </div>
      )}

      <div class="job-grid">
        <aside class="job-info" aria-label="Customer and site">
          <div class="card">
            <h2>Customer</h2>
            <p class="big">{job.customer?.name || '—'}</p>
            {job.customer?.phone && <p><a class="btn btn-link" href={`tel:${job.customer.phone}`}>☎ {job.customer.phone}</a></p>}
            {job.customer?.email && <p class="muted wrap">{job.customer.email}</p>}
          </div>
          <div class="card">
            <h2>Site</h2>
            <p>{job.site?.address || job.customer?.address || '—'}</p>
            {job.site?.lat != null && <p class="muted">{job.site.lat.toFixed(5)}, {job.site.lon?.toFixed(5)}</p>}
            {job.access_notes && (
              <div class="access" role="note" aria-label="Access notes">
                <strong>Access notes</strong>
                <p>{job.access_notes}</p>
              </div>
            )}
          </div>
          {job.description && (
            <div class="card">
              <h2>Work</h2>
              <p class="pre">{job.description}</p>
            </div>
          )}
          {(job.crew?.length ?? 0) > 0 && (
            <div class="card">
              <h2>Crew</h2>
              <ul class="plain">{job.crew!.map((c) => <li key={c.person_id}>{c.name}{c.is_primary ? ' (primary)' : ''}</li>)}</ul>
            </div>
          )}
          {(job.tags?.length ?? 0) > 0 && <p class="tags">{job.tags!.map((t) => <span class="chip" key={t}>{t}</span>)}</p>}
        </aside>

        <div class="job-tabs">
          <div class="tabs" role="tablist" aria-label="Job sections" onKeyDown={(e) => {
            const keys = tabs.filter((t) => t[2]).map((t) => t[0]);
            const i = keys.indexOf(current);
            const n = e.key === 'ArrowRight' ? (i + 1) % keys.length : e.key === 'ArrowLeft' ? (i - 1 + keys.length) % keys.length : e.key === 'Home' ? 0 : e.key === 'End' ? keys.length - 1 : -1;
            if (n < 0) return;
            e.preventDefault();
            setTab(keys[n]);
            document.getElementById(`tab-${keys[n]}`)?.focus();
          }}>
            {tabs.filter((t) => t[2]).map(([k, name]) => (
              <button key={k} role="tab" id={`tab-${k}`} aria-selected={current === k} aria-controls={`panel-${k}`}
                tabIndex={current === k ? 0 : -1}
                class={current === k ? 'tab tab-on' : 'tab'} onClick={() => setTab(k)} data-testid={`tab-${k}`}>
                {name}
              </button>
            ))}
          </div>
          <div class="tab-panel" role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`}>
            {current === 'completion' && <Evidence job={{ ...job, status }} gate={gate} sigReason={sigReason} setSigReason={setSigReason} />}
            {current === 'notes' && <Notes job={job} />}
            {current === 'materials' && <Materials job={job} />}
            {current === 'survey' && job.survey && <SurveyForm job={job} onSaved={() => reload(true)} />}
            {current === 'attachments' && <Attachments job={job} />}
            {current === 'history' && <History job={job} />}
            {current === 'map' && <LazySiteMap job={job} />}
          </div>
        </div>
      </div>

      {askReason && (
        <ReasonDialog
          onCancel={() => setAskReason(false)}
          onConfirm={(reason, note) => {
            setAskReason(false);
            void fire('unable_to_complete', { reason, note });
          }}
        />
      )}
    </section>
  );
}

function ExecBar({ job, allowed, gate, busy, onFire }: {
  job: Job; allowed: EventName[]; gate: Gate; busy: boolean; onFire: (e: EventName) => void;
}) {
  const closed = job.status === 'completed' || job.status === 'canceled';
  if (closed) {
    const last = [...(job.events ?? [])].reverse().find((e) => e.to_status === job.status);
    const reason = (last?.payload?.reason as string) || '';
    return (
      <div class={`closed-banner st-${job.status}`} data-testid="exec-bar" data-busy={busy ? 'true' : 'false'} role="status">
        <span>
          {job.status === 'completed' ? '✓ Job completed' : 'Job closed: unable to complete'}
          {job.completed_at || last?.occurred_at ? ` · ${fmtDateTime(job.completed_at || last?.occurred_at)}` : ''}
          {reason ? ` · ${label(reason)}` : ''}
        </span>
        <span class="muted">No further status changes from the tablet.</span>
      </div>
    );
  }
  const primary = job.crew?.find((c) => c.is_primary);
  return (
    <>
    {!job.is_primary && (
      <p class="banner banner-warn" role="note" data-testid="crew-note">
        You are crew on this job: only the primary technician{primary ? ` (${primary.name})` : ''} can change its status. You can still add notes, photos and materials.
      </p>
    )}
    <div class="exec" role="group" aria-label="Job status actions" data-testid="exec-bar" data-busy={busy ? 'true' : 'false'}>
      {EVENT_ORDER.map((ev) => {
        let why = busy ? 'Saving the last action…' : whyDisabled(job, ev, allowed);
        if (!why && ev === 'complete' && !gate.ok) why = 'Needs ' + gate.missing.join(' and ');
        const enabled = !why;
        const descId = `why-${ev}`;
        return (
          <button key={ev} class={`btn exec-btn exec-${ev}${enabled ? ' exec-on' : ''}`} disabled={!enabled}
            onClick={() => onFire(ev)} data-testid={`exec-${ev}`} aria-describedby={why ? descId : undefined} title={why || RULES[ev].label}>
            <span class="exec-label">{RULES[ev].label}</span>
            {why && <small id={descId} class="exec-why">{why}</small>}
          </button>
        );
      })}
    </div>
    </>
  );
}

function ReasonDialog({ onCancel, onConfirm }: { onCancel: () => void; onConfirm: (reason: string, note: string) => void }) {
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  const [err, setErr] = useState('');
  return (
    <Modal title="Unable to complete" onClose={onCancel} testid="reason-dialog">
      <p>Why can’t the job be completed? The office will see this reason.</p>
      <div class="radio-list" role="radiogroup" aria-label="Reason">
        {REASONS.map(([v, l]) => (
          <label key={v} class={`radio${reason === v ? ' radio-on' : ''}`}>
            <input type="radio" name="reason" value={v} checked={reason === v} onChange={() => setReason(v)} data-testid={`reason-${v}`} />
            <span>{l}</span>
          </label>
        ))}
      </div>
      <label class="field">
        <span>Details {reason === 'other' ? '(required)' : '(optional)'}</span>
        <textarea rows={3} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} data-testid="reason-note" />
      </label>
      {err && <p class="error" role="alert">{err}</p>}
      <div class="row-end">
        <button class="btn" onClick={onCancel}>Cancel</button>
        <button class="btn btn-danger" data-testid="reason-confirm" onClick={() => {
          if (!reason) return setErr('Pick a reason.');
          if (reason === 'other' && !note.trim()) return setErr('Describe the reason in the details.');
          onConfirm(reason, note.trim());
        }}>Confirm: unable to complete</button>
      </div>
    </Modal>
  );
}
