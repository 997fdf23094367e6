import { useState } from 'preact/hooks';
import { outbox } from '../outbox';
import { useStore } from '../store';
import type { Job } from '../types';
import type { Gate } from './JobDetail';
import { PhotoInput, queueAttachment } from './PhotoInput';
import { SignaturePad } from './SignaturePad';
import { PendingThumb, ServerThumb } from './Thumbs';

const SIG_REASONS = ['Customer not present', 'Customer refused to sign', 'Customer unable to sign', 'Unattended site (no one to sign)'];

/** The completion gate: ≥1 photo, and a signature or the reason there is none. */
export function Evidence({ job, gate, sigReason, setSigReason }: { job: Job; gate: Gate; sigReason: string; setSigReason: (v: string) => void }) {
  const local = useStore(outbox).filter((e) => e.job_id === job.id && e.kind === 'attachment');
  const photos = (job.attachments ?? []).filter((a) => a.kind === 'photo');
  const sigs = (job.attachments ?? []).filter((a) => a.kind === 'signature');
  const localPhotos = local.filter((e) => e.meta?.kind === 'photo');
  const localSigs = local.filter((e) => e.meta?.kind === 'signature');
  const closed = job.status === 'completed' || job.status === 'canceled';
  const [resign, setResign] = useState(false);
  const custom = sigReason && !SIG_REASONS.includes(sigReason);

  return (
    <div class="evidence" data-testid="completion-gate" data-ok={gate.ok ? 'true' : 'false'}>
      <ul class="checklist" aria-label="Completion checklist">
        <li class={gate.photos > 0 ? 'done' : ''}>{gate.photos > 0 ? '✓' : '○'} At least one photo ({gate.photos})</li>
        <li class={gate.signatures > 0 || sigReason.trim() ? 'done' : ''}>
          {gate.signatures > 0 || sigReason.trim() ? '✓' : '○'} Customer signature, or the reason there is none
        </li>
      </ul>

      <section aria-labelledby="ev-photos">
        <h3 id="ev-photos">Photos</h3>
        {!closed && <PhotoInput jobId={job.id} />}
        <div class="thumbs">
          {photos.map((a) => <ServerThumb key={a.id} a={a} />)}
          {localPhotos.map((e) => <PendingThumb key={e.id} e={e} />)}
          {!photos.length && !localPhotos.length && <p class="muted">No photos yet.</p>}
        </div>
      </section>

      <section aria-labelledby="ev-sig">
        <h3 id="ev-sig">Signature</h3>
        <div class="thumbs">
          {sigs.map((a) => <ServerThumb key={a.id} a={a} />)}
          {localSigs.map((e) => <PendingThumb key={e.id} e={e} />)}
        </div>
        {!closed && (sigs.length + localSigs.length === 0 || resign) && (
          <SignaturePad onSave={(png, signer) => {
            queueAttachment(job.id, png, 'signature', 'signature.png', { signer_name: signer });
            setResign(false);
          }} />
        )}
        {!closed && sigs.length + localSigs.length > 0 && !resign && (
          <button class="btn" type="button" onClick={() => setResign(true)}>Add another signature</button>
        )}
        {!closed && gate.signatures === 0 && (
          <fieldset class="sig-reason">
            <legend>No signature possible? Give the reason</legend>
            <div class="chips">
              {SIG_REASONS.map((r) => (
                <button type="button" key={r} class={`btn btn-sm${sigReason === r ? ' btn-selected' : ''}`} aria-pressed={sigReason === r}
                  onClick={() => setSigReason(sigReason === r ? '' : r)}>{r}</button>
              ))}
            </div>
            <label class="field">
              <span>Other reason</span>
              <input type="text" value={custom ? sigReason : ''} onInput={(e) => setSigReason((e.target as HTMLInputElement).value)} data-testid="signature-unavailable-reason" />
            </label>
          </fieldset>
        )}
      </section>
    </div>
  );
}
