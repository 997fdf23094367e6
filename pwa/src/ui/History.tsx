import { fmtDateTime, label } from '../format';
import { RULES, STATUS_LABEL } from '../statemachine';
import type { Job } from '../types';

export function History({ job }: { job: Job }) {
  type Item = { at: string; title: string; detail: string; warn?: string };
  const items: Item[] = [];
  for (const e of job.events ?? []) {
    const change = e.from_status !== e.to_status ? `${STATUS_LABEL[e.from_status] || e.from_status} → ${STATUS_LABEL[e.to_status] || e.to_status}` : '';
    const reason = (e.payload?.reason as string) || '';
    items.push({
      at: e.occurred_at,
      title: RULES[e.event]?.label || label(e.event),
      detail: [change, reason && `reason: ${label(reason)}`, e.note].filter(Boolean).join(' · '),
      warn: e.clock_skew ? 'device clock differed from the server' : undefined,
    });
  }
  for (const n of job.notes ?? []) items.push({ at: n.created_at, title: `Note by ${n.author_name || 'someone'}`, detail: n.body });
  for (const a of job.attachments ?? []) items.push({ at: a.captured_at || '', title: `${label(a.kind)} added`, detail: a.file_name + (a.signer_name ? ` · signed by ${a.signer_name}` : '') });
  items.sort((a, b) => b.at.localeCompare(a.at));
  if (!items.length) return <p class="muted">Nothing has happened on this job yet.</p>;
  return (
    <ol class="timeline" aria-label="Job history" data-testid="history">
      {items.map((it, i) => (
        <li key={i}>
          <strong>{it.title}</strong> <small class="muted">{fmtDateTime(it.at)}</small>
          {it.detail && <p class="pre">{it.detail}</p>}
          {it.warn && <small class="warn-text">⚠ {it.warn}</small>}
        </li>
      ))}
    </ol>
  );
}
