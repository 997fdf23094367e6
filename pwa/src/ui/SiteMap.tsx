import * as L from 'leaflet';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { cached } from '../data';
import { fmtDateTime, label } from '../format';
import type { Job } from '../types';
import { esc, useLeaflet } from './LeafletMap';

type FC = { type: 'FeatureCollection'; features: GeoJSON.Feature[] };

export const KIND_STYLE: Record<string, { color: string; shape: string; name: string }> = {
  segment: { color: '#0369a1', shape: 'line', name: 'Fiber segment' },
  splice_closure: { color: '#c2410c', shape: 'circle', name: 'Splice closure' },
  fdh_cabinet: { color: '#7e22ce', shape: 'square', name: 'FDH cabinet' },
  splitter: { color: '#be185d', shape: 'diamond', name: 'Splitter' },
  pole: { color: '#57534e', shape: 'dot', name: 'Pole' },
  termination_point: { color: '#15803d', shape: 'dot', name: 'Termination point' },
  building: { color: '#334155', shape: 'square', name: 'Building' },
  mast: { color: '#a16207', shape: 'diamond', name: 'Mast' },
  duct: { color: '#64748b', shape: 'line', name: 'Duct' },
};

function bboxAround(lat: number, lon: number, m = 600): string {
  const dLat = m / 111320;
  const dLon = m / (111320 * Math.cos((lat * Math.PI) / 180));
  return [lon - dLon, lat - dLat, lon + dLon, lat + dLat].map((x) => x.toFixed(6)).join(',');
}

export function SiteMap({ job }: { job: Job }) {
  const { ref, map } = useLeaflet(`Fiber plant around ${job.site?.address || 'the site'}`);
  const layer = useRef<L.GeoJSON | null>(null);
  const [info, setInfo] = useState('');
  const [nearby, setNearby] = useState<{ id: string; kind: string; name: string; status: string }[]>([]);
  const [err, setErr] = useState('');
  const lat = job.site?.lat;
  const lon = job.site?.lon;

  async function fetchBox(bbox: string, fit: boolean) {
    if (!map) return;
    try {
      const r = await cached('assets:' + (fit ? job.id : bbox), () => api<FC>('field/map-assets?bbox=' + bbox));
      draw(r.data, fit);
      setInfo(`${r.data.features.length} objects${r.fromCache ? ` (saved copy from ${fmtDateTime(r.cachedAt)})` : ''}`);
      setErr('');
    } catch (e) {
      setErr(`Could not load the plant map: ${(e as Error).message}`);
    }
  }

  function draw(fc: FC, fit: boolean) {
    if (!map) return;
    setNearby(
      fc.features
        .map((f) => (f.properties || {}) as Record<string, string>)
        .filter((p) => p.kind === 'splice_closure' || p.kind === 'fdh_cabinet' || p.kind === 'splitter')
        .map((p) => ({ id: p.id, kind: p.kind, name: p.name || '(unnamed)', status: p.status || '' })),
    );
    layer.current?.remove();
    const g = L.geoJSON(fc as GeoJSON.FeatureCollection, {
      style: (f) => {
        const p = (f?.properties || {}) as Record<string, string>;
        const st = KIND_STYLE[p.kind] || KIND_STYLE.segment;
        const planned = /plan|proposed/i.test(p.status || '');
        const bad = /damag|fault|cut/i.test(p.status || '');
        return { color: bad ? '#dc2626' : st.color, weight: p.kind === 'duct' ? 3 : 5, opacity: 0.95, dashArray: planned ? '8 8' : undefined };
      },
      pointToLayer: (f, latlng) => {
        const p = (f.properties || {}) as Record<string, string>;
        const st = KIND_STYLE[p.kind] || { color: '#334155', shape: 'dot', name: label(p.kind || 'asset') };
        return L.marker(latlng, {
          icon: L.divIcon({ className: '', html: `<span class="mk mk-${st.shape}" style="--c:${st.color}"></span>`, iconSize: [24, 24], iconAnchor: [12, 12] }),
          title: `${st.name}: ${p.name || ''}`,
          alt: `${st.name} ${p.name || ''}`,
          keyboard: true,
        });
      },
      onEachFeature: (f, l) => {
        const p = (f.properties || {}) as Record<string, string>;
        const st = KIND_STYLE[p.kind];
        let html = `<strong>${esc(p.name || '(unnamed)')}</strong><br>${esc(st?.name || label(p.kind || ''))}${p.status ? ' · ' + esc(label(p.status)) : ''}`;
        if (p.fiber_count) html += `<br>${esc(p.fiber_count)} fibers`;
        if (p.kind === 'splice_closure' && p.id) html += `<br><a class="popup-link" href="#/closures/${esc(p.id)}?job=${esc(job.id)}" data-testid="open-closure">Open splice view</a>`;
        l.bindPopup(html);
      },
    }).addTo(map);
    layer.current = g;
    if (fit && lat != null && lon != null) map.setView([lat, lon], 17);
  }

  useEffect(() => {
    if (!map || lat == null || lon == null) return;
    map.setView([lat, lon], 17);
    L.circleMarker([lat, lon], { radius: 14, color: '#fff', weight: 4, fillColor: '#dc2626', fillOpacity: 1 })
      .bindTooltip(`Job site: ${job.site?.address || ''}`, { permanent: false })
      .addTo(map);
    void fetchBox(bboxAround(lat, lon), true);
    let t: ReturnType<typeof setTimeout>;
    const onMove = () => {
      clearTimeout(t);
      t = setTimeout(() => {
        if (map.getZoom() < 14) return;
        const b = map.getBounds();
        void fetchBox([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(6)).join(','), false);
      }, 600);
    };
    map.on('moveend', onMove);
    return () => {
      clearTimeout(t);
      map.off('moveend', onMove);
    };
  }, [map]);

  if (lat == null || lon == null) return <p class="muted">This job’s site has no map position.</p>;
  return (
    <div class="map-wrap">
      <div ref={ref} class="map map-site" data-testid="site-map" />
      <div class="legend" aria-label="Legend">
        <span><i style={{ background: '#dc2626', borderRadius: '50%' }} aria-hidden="true" />Job site</span>
        {['segment', 'splice_closure', 'fdh_cabinet', 'splitter', 'pole'].map((k) => (
          <span key={k}><i class={`lg-${KIND_STYLE[k].shape}`} style={{ background: KIND_STYLE[k].color }} aria-hidden="true" />{KIND_STYLE[k].name}</span>
        ))}
        <span class="muted">{info}</span>
      </div>
      {err && <p class="error" role="alert">{err}</p>}
      {nearby.length > 0 && (
        <div>
          <h3>Closures and cabinets in view</h3>
          <ul class="asset-list">
            {nearby.map((a) => (
              <li key={a.id}>
                <span class={`mk mk-${KIND_STYLE[a.kind]?.shape || 'dot'}`} style={{ '--c': KIND_STYLE[a.kind]?.color } as Record<string, string>} aria-hidden="true" />
                <span><strong>{a.name}</strong> <small class="muted">{KIND_STYLE[a.kind]?.name}{a.status ? ' · ' + label(a.status) : ''}</small></span>
                {a.kind === 'splice_closure' && a.id && (
                  <a class="btn btn-sm" href={`#/closures/${encodeURIComponent(a.id)}?job=${encodeURIComponent(job.id)}`} data-testid="closure-link">Splice view</a>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
