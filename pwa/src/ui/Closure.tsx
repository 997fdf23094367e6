import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { cached } from '../data';
import { fmtDateTime } from '../format';
import type { SpliceClosure, Strand } from '../types';
import { strandColor } from '../tia598';

function Swatch({ s }: { s: Strand }) {
  const c = strandColor(s);
  const bg = c.stripe ? `repeating-linear-gradient(135deg, ${c.hex} 0 6px, ${c.stripe} 6px 9px)` : c.hex;
  return (
    <span class="strand">
      <span class="swatch" style={{ background: bg }} aria-hidden="true" />
      <span>
        <strong class="strand-no">#{s.number} {c.name}</strong>
        <small>{s.cable}</small>
      </span>
    </span>
  );
}

export function ClosureView({ id, jobId }: { id: string; jobId: string }) {
  const [c, setC] = useState<SpliceClosure | null>(null);
  const [cacheAt, setCacheAt] = useState<string | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    cached('closure:' + id, () => api<SpliceClosure>('field/splice-closures/' + encodeURIComponent(id))).then(
      (r) => {
        setC(r.data);
        setCacheAt(r.fromCache ? r.cachedAt || '' : null);
      },
      (e: ApiError) => setErr(e.status === 404 ? 'This closure is not on this tablet.' : e.message),
    );
  }, [id]);
  const back = jobId ? `#/jobs/${jobId}` : '#/jobs';
  return (
    <section class="page">
      <div class="page-head">
        <a class="back" href={back} aria-label="Back">←</a>
        <h1 tabIndex={-1}>{c ? c.name : 'Splice closure'}</h1>
        {c && <span class="muted">{c.trays.length} trays · {c.trays.reduce((n, t) => n + t.splices.length, 0)} splices</span>}
      </div>
      {cacheAt !== null && <p class="banner banner-warn">Saved copy from {fmtDateTime(cacheAt)}.</p>}
      {err && <p class="banner banner-error" role="alert">{err}</p>}
      {c && (
        <div class="trays" data-testid="closure-view">
          {c.trays.map((t) => (
            <section key={t.id} class="card tray" aria-labelledby={`tray-${t.id}`}>
              <h2 id={`tray-${t.id}`}>Tray {t.number}</h2>
              {t.splices.length === 0 ? <p class="muted">Empty tray.</p> : (
                <table class="table splices">
                  <caption class="sr-only">Splices in tray {t.number}</caption>
                  <thead><tr><th scope="col">In</th><th scope="col" aria-label="spliced to" /><th scope="col">Out</th></tr></thead>
                  <tbody>
                    {t.splices.map((s) => (
                      <tr key={s.id} data-testid="splice">
                        <td><Swatch s={s.in_strand} /></td>
                        <td class="splice-link" aria-hidden="true">⟷</td>
                        <td><Swatch s={s.out_strand} /></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          ))}
        </div>
      )}
    </section>
  );
}
