import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { lastFix } from '../geo';
import { newId, submit, type Outcome } from '../outbox';
import { checkPhoto, downscale, PhotoError } from '../photo';
import { toast } from '../store';
import type { Attachment } from '../types';
import { Modal } from './Modal';

/**
 * queueAttachment stores a photo/signature in the outbox (IndexedDB) and sends it. It returns the
 * client_ref at once; `done` settles when the agent acknowledged or refused it. A refused file is
 * kept (parked) with its reason, so nothing captured is lost.
 */
export function queueAttachment(jobId: string, blob: Blob, kind: 'photo' | 'signature', fileName: string, extra: Record<string, string> = {}) {
  const id = newId();
  const fix = lastFix();
  const done: Promise<Outcome<Attachment>> = submit<Attachment>({
    id,
    kind: 'attachment',
    job_id: jobId,
    path: 'field/attachments',
    label: `${kind === 'photo' ? 'Photo' : 'Signature'} ${fileName}`,
    file: blob,
    file_name: fileName,
    meta: {
      kind,
      captured_at: new Date().toISOString(),
      lat: fix ? String(fix.lat) : '',
      lon: fix ? String(fix.lon) : '',
      ...extra,
    },
  });
  done.then(
    (o) => o.queued && toast(`${kind === 'photo' ? 'Photo' : 'Signature'} kept on this tablet; it will be sent when the field agent answers.`),
    (e: ApiError) => e.code !== 'discarded' && toast(`The ${kind} was not accepted: ${e.message}. It is kept on this tablet (see Files).`, 'error', 10000),
  );
  return { id, done };
}

/** PhotoInput: camera/file picker + optional live camera; validates, downscales to 1600 px, queues. */
export function PhotoInput({ jobId, onQueued, testid = 'photo-input', label = 'Take or choose photo' }: {
  jobId: string; onQueued?: (clientRef: string) => void; testid?: string; label?: string;
}) {
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(0);
  const [camera, setCamera] = useState(false);

  async function take(files: (File | Blob)[]) {
    setErr('');
    const problems: string[] = [];
    for (const f of files) {
      setBusy((n) => n + 1);
      try {
        checkPhoto(f);
        const { blob } = await downscale(f);
        const base = ((f as File).name || 'photo').replace(/\.[^.]+$/, '');
        const { id } = queueAttachment(jobId, blob, 'photo', `${base}.jpg`);
        onQueued?.(id);
      } catch (e) {
        problems.push(e instanceof PhotoError ? e.message : `Could not use this photo: ${(e as Error).message}`);
      } finally {
        setBusy((n) => n - 1);
      }
    }
    if (problems.length) setErr(problems.join(' '));
  }

  return (
    <div class="photo-input">
      <div class="row">
        <label class={`btn btn-primary file-btn${busy ? ' is-busy' : ''}`}>
          <input type="file" accept="image/*" capture="environment" multiple class="file-hidden" data-testid={testid}
            aria-label={label}
            onChange={(e) => {
              const input = e.target as HTMLInputElement;
              const files = [...(input.files || [])];
              input.value = '';
              if (files.length) void take(files);
            }} />
          <span aria-hidden="true" class="row"><CameraIcon /> {busy ? 'Processing…' : label}</span>
        </label>
        {'mediaDevices' in navigator && (
          <button type="button" class="btn" onClick={() => setCamera(true)} data-testid={`${testid}-camera`}>Live camera</button>
        )}
      </div>
      {err && <p class="error" role="alert" data-testid={`${testid}-error`}>{err}</p>}
      {camera && <CameraDialog onClose={() => setCamera(false)} onShot={(b) => take([b])} onError={(m) => setErr(m)} />}
    </div>
  );
}

function CameraDialog({ onClose, onShot, onError }: { onClose: () => void; onShot: (b: Blob) => void; onError: (m: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | null>(null);
  const [msg, setMsg] = useState('Starting the camera…');
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let stopped = false;
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1920 } }, audio: false })
      .then((s) => {
        if (stopped) return s.getTracks().forEach((t) => t.stop());
        stream.current = s;
        s.getVideoTracks()[0]?.addEventListener('ended', () => {
          setReady(false);
          setMsg('The camera stopped (permission withdrawn or camera in use). Photos already taken are kept.');
        });
        if (video.current) {
          video.current.srcObject = s;
          void video.current.play();
        }
        setReady(true);
        setMsg('');
      })
      .catch((e: DOMException) => {
        const m =
          e.name === 'NotAllowedError' || e.name === 'SecurityError'
            ? 'Camera permission is blocked. Allow the camera for this app in the browser’s site settings, or use “Take or choose photo”.'
            : e.name === 'NotFoundError' || e.name === 'OverconstrainedError'
              ? 'No camera found on this device. Use “Take or choose photo” to pick a picture.'
              : e.name === 'NotReadableError'
                ? 'The camera is in use by another app. Close it and try again.'
                : `The camera could not start (${e.message}).`;
        setMsg(m);
        onError(m);
      });
    return () => {
      stopped = true;
      stream.current?.getTracks().forEach((t) => t.stop());
    };
  }, []);

  function shoot() {
    const v = video.current;
    if (!v || !v.videoWidth) return;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext('2d')!.drawImage(v, 0, 0);
    c.toBlob((b) => {
      if (b) {
        onShot(new File([b], `camera-${Date.now()}.jpg`, { type: 'image/jpeg' }));
        toast('Photo taken', 'ok', 2000);
      }
    }, 'image/jpeg', 0.92);
  }

  return (
    <Modal title="Camera" onClose={onClose} testid="camera-dialog">
      <video ref={video} class="camera" playsInline muted aria-label="Camera preview" />
      {msg && <p class={ready ? 'muted' : 'error'} role="alert">{msg}</p>}
      <div class="row-end">
        <button class="btn" onClick={onClose}>Done</button>
        <button class="btn btn-primary" onClick={shoot} disabled={!ready}>Take photo</button>
      </div>
    </Modal>
  );
}

export function CameraIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
      <path d="M4 8h3l2-3h6l2 3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V9a1 1 0 0 1 1-1z" />
      <circle cx="12" cy="13" r="3.5" />
    </svg>
  );
}
