import { outbox } from '../outbox';
import { useStore } from '../store';
import type { Job } from '../types';
import { PhotoInput } from './PhotoInput';
import { PendingThumb, ServerThumb } from './Thumbs';

export function Attachments({ job }: { job: Job }) {
  const local = useStore(outbox).filter((e) => e.job_id === job.id && e.kind === 'attachment');
  const list = [...(job.attachments ?? [])].sort((a, b) => (b.captured_at || '').localeCompare(a.captured_at || ''));
  return (
    <div>
      {job.status !== 'completed' && job.status !== 'canceled' && <PhotoInput jobId={job.id} testid="files-photo-input" label="Add photo" />}
      {local.length > 0 && (
        <>
          <h3>On this tablet, not yet saved by the agent</h3>
          <div class="thumbs">{local.map((e) => <PendingThumb key={e.id} e={e} />)}</div>
        </>
      )}
      <h3>Saved</h3>
      <div class="thumbs">
        {list.map((a) => <ServerThumb key={a.id} a={a} />)}
        {!list.length && <p class="muted">No files yet.</p>}
      </div>
    </div>
  );
}
