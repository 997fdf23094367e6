import { useEffect, useState } from 'preact/hooks';
import { apiBlob } from '../api';
import { bytes, fmtDateTime, label } from '../format';
import { discard, retry, type OutboxEntry } from '../outbox';
import type { Attachment } from '../types';

const urlCache = new Map<string, string>();

function useAttachmentUrl(a: Attachment): string {
  const [url, setUrl] = useState(urlCache.get(a.id) || '');
  useEffect(() => {
    if (url || !a.mime?.startsWith('image/')) return;
    let live = true;
    const path = a.url && a.url.startsWith('/') ? a.url : `/api/v1/field/attachments/${encodeURIComponent(a.id)}/content`;
    apiBlob(path).then((b) => {
      const u = URL.createObjectURL(b);
      urlCache.set(a.id, u);
      if (live) setUrl(u);
    }, () => undefined);
    return () => {
      live = false;
    };
  }, [a.id]);
  return url;
}

export function ServerThumb({ a }: { a: Attachment }) {
  const url = useAttachmentUrl(a);
  return (
    <figure class="thumb" data-testid="attachment" data-kind={a.kind}>
      {url ? <img src={url} alt={`${label(a.kind)} ${a.file_name}`} loading="lazy" /> : <div class="thumb-ph" aria-hidden="true">{a.kind === 'document' ? 'PDF' : '…'}</div>}
      <figcaption>
        <span><strong>{label(a.kind)}</strong>{a.signer_name ? ` · ${a.signer_name}` : ''}</span>
        <small>{fmtDateTime(a.captured_at)} · {bytes(a.size || 0)}</small>
        <small class="ok-text">✓ Saved</small>
      </figcaption>
    </figure>
  );
}

export function PendingThumb({ e }: { e: OutboxEntry }) {
  const [url, setUrl] = useState('');
  useEffect(() => {
    if (!e.file) return;
    const u = URL.createObjectURL(e.file);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [e.id]);
  const state = e.status === 'parked' ? 'Not accepted' : e.status === 'sending' ? 'Sending…' : e.status === 'failed' ? 'Waiting for agent' : 'Queued';
  return (
    <figure class={`thumb thumb-${e.status}`} data-testid="attachment-pending" data-kind={e.meta?.kind} data-state={e.status}>
      {url ? <img src={url} alt={`Unsent ${e.meta?.kind} ${e.file_name}`} /> : <div class="thumb-ph" />}
      <figcaption>
        <span><strong>{label(e.meta?.kind || 'file')}</strong>{e.meta?.signer_name ? ` · ${e.meta.signer_name}` : ''}</span>
        <small>{fmtDateTime(e.created_at)} · {bytes(e.file?.size || 0)}</small>
        <small class={e.status === 'parked' ? 'error-text' : 'warn-text'}>{state}{e.last_error ? `: ${e.last_error}` : ''}</small>
        {(e.status === 'parked' || e.status === 'failed') && (
          <span class="row">
            <button class="btn btn-sm" onClick={() => retry(e.id)}>Retry</button>
            {e.status === 'parked' && (
              <button class="btn btn-sm btn-danger" onClick={() => confirm('Delete this unsent item from the tablet? It cannot be recovered.') && discard(e.id)}>Delete</button>
            )}
          </span>
        )}
      </figcaption>
    </figure>
  );
}
