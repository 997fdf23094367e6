import { useEffect, useRef, useState } from 'preact/hooks';

type Pt = [number, number];

/** A finger/stylus signature pad on a canvas. onSave receives a PNG (white background). */
export function SignaturePad({ onSave, askName = true, testid = 'signature-pad', saveLabel = 'Save signature' }: {
  onSave: (png: Blob, signer: string) => Promise<void> | void; askName?: boolean; testid?: string; saveLabel?: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const strokes = useRef<Pt[][]>([]);
  const drawing = useRef<Pt[] | null>(null);
  const [count, setCount] = useState(0);
  const [name, setName] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false);

  function redraw() {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = '#cbd5e1';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(16, h - 40);
    ctx.lineTo(w - 16, h - 40);
    ctx.stroke();
    ctx.strokeStyle = '#0f172a';
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    for (const s of [...strokes.current, ...(drawing.current ? [drawing.current] : [])]) {
      ctx.beginPath();
      s.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
      if (s.length === 1) ctx.lineTo(s[0][0] * w + 0.5, s[0][1] * h + 0.5);
      ctx.stroke();
    }
  }

  useEffect(() => {
    redraw();
    const ro = new ResizeObserver(redraw);
    if (canvas.current) ro.observe(canvas.current);
    return () => ro.disconnect();
  }, []);

  function pt(e: PointerEvent): Pt {
    const r = canvas.current!.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  }
  const down = (e: PointerEvent) => {
    e.preventDefault();
    canvas.current?.setPointerCapture?.(e.pointerId);
    drawing.current = [pt(e)];
    redraw();
  };
  const move = (e: PointerEvent) => {
    if (!drawing.current) return;
    e.preventDefault();
    const evs = (e as PointerEvent & { getCoalescedEvents?: () => PointerEvent[] }).getCoalescedEvents?.() || [e];
    for (const x of evs.length ? evs : [e]) drawing.current.push(pt(x));
    redraw();
  };
  const up = () => {
    if (!drawing.current) return;
    strokes.current.push(drawing.current);
    drawing.current = null;
    setCount(strokes.current.length);
    setErr('');
    redraw();
  };
  function clear() {
    strokes.current = [];
    setCount(0);
    redraw();
  }
  async function save() {
    if (inFlight.current) return;
    const c = canvas.current;
    if (!c || strokes.current.length === 0) return setErr('Sign in the box first.');
    const pts = strokes.current.reduce((n, s) => n + s.length, 0);
    if (pts < 3) return setErr('The signature is too short. Sign again.');
    if (askName && !name.trim()) return setErr('Enter the name of the person signing.');
    inFlight.current = true;
    setBusy(true);
    try {
      const blob = await new Promise<Blob | null>((res) => c.toBlob(res, 'image/png'));
      if (!blob) throw new Error('Could not capture the signature.');
      await onSave(blob, name.trim());
      clear();
      setName('');
    } catch (e) {
      setErr((e as Error).message);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  return (
    <div class="sigpad">
      {askName && (
        <label class="field">
          <span>Signer’s name</span>
          <input type="text" value={name} autoComplete="off" onInput={(e) => setName((e.target as HTMLInputElement).value)} data-testid={`${testid}-name`} />
        </label>
      )}
      <canvas ref={canvas} class="sig-canvas" data-testid={testid} role="img" tabIndex={0}
        aria-label="Signature pad: sign here with a finger or stylus"
        onPointerDown={down} onPointerMove={move} onPointerUp={up} onPointerCancel={up} onPointerLeave={up} />
      {err && <p class="error" role="alert">{err}</p>}
      <div class="row">
        <button class="btn" onClick={clear} disabled={!count || busy} type="button">Clear</button>
        <button class="btn btn-primary" onClick={save} disabled={busy} type="button" data-testid={`${testid}-save`}>
          {busy ? 'Saving…' : saveLabel}
        </button>
      </div>
    </div>
  );
}
