import * as L from 'leaflet';
import { useEffect, useRef } from 'preact/hooks';
import { fmtDateTime } from '../format';
import { STATUS_LABEL } from '../statemachine';
import type { Job } from '../types';
import { STATUS_COLOR, esc, useLeaflet } from './LeafletMap';

export function JobsMap({ jobs }: { jobs: Job[] }) {
  const { ref, map } = useLeaflet('Map of my jobs');
  const layer = useRef<L.LayerGroup | null>(null);
  const located = jobs.filter((j) => j.site?.lat != null && j.site?.lon != null);
  useEffect(() => {
    if (!map) return;
    layer.current?.remove();
    const g = L.featureGroup();
    for (const j of located) {
      const m = L.circleMarker([j.site!.lat!, j.site!.lon!], {
        radius: 13, color: '#fff', weight: 3, fillColor: STATUS_COLOR[j.status] || '#333', fillOpacity: 1,
      });
      m.bindPopup(
        `<strong>${esc(j.number)}</strong> ${esc(j.title)}<br>${esc(fmtDateTime(j.scheduled_start))}<br>${esc(j.customer?.name)}<br>` +
          `${esc(j.site?.address)}<br><a class="popup-link" href="#/jobs/${esc(j.id)}">Open job</a>`,
      );
      m.bindTooltip(`${j.number} · ${STATUS_LABEL[j.status]}`, { permanent: located.length <= 40, direction: 'right', offset: [12, 0], className: 'job-tip' });
      g.addLayer(m);
    }
    g.addTo(map);
    layer.current = g;
    if (located.length) map.fitBounds(g.getBounds().pad(0.2), { maxZoom: 15 });
  }, [map, jobs]);
  return (
    <div class="map-wrap">
      <div ref={ref} class="map" data-testid="jobs-map" />
      <div class="legend" aria-label="Legend">
        {Object.entries(STATUS_COLOR).map(([s, c]) => (
          <span key={s}><i style={{ background: c }} aria-hidden="true" />{STATUS_LABEL[s as keyof typeof STATUS_LABEL]}</span>
        ))}
        <span class="muted">{located.length} of {jobs.length} jobs have a location</span>
      </div>
    </div>
  );
}
