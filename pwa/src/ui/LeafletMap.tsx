import * as L from 'leaflet';
import { useEffect, useRef, useState } from 'preact/hooks';
import { tileUrl } from '../theme';
import { useStore } from '../store';

export const STATUS_COLOR: Record<string, string> = {
  draft: '#6b7280',
  scheduled: '#1d4ed8',
  dispatched: '#6d28d9',
  in_progress: '#047857',
  paused: '#b45309',
  completed: '#374151',
  canceled: '#b91c1c',
};

/** useLeaflet creates a Leaflet map in the returned ref's element (vector layers; tiles only if configured). */
export function useLeaflet(label: string) {
  const ref = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<L.Map | null>(null);
  const tiles = useStore(tileUrl);
  useEffect(() => {
    if (!ref.current) return;
    // Canvas renderer with a wide hit tolerance: markers and lines are easy to tap with a finger.
    const m = L.map(ref.current, { zoomControl: true, attributionControl: !!tiles, preferCanvas: true, zoomSnap: 0.5, renderer: L.canvas({ tolerance: 12 }) });
    m.setView([0, 0], 2);
    L.control.scale({ imperial: false }).addTo(m);
    if (tiles) L.tileLayer(tiles, { maxZoom: 20 }).addTo(m);
    ref.current.setAttribute('aria-label', label);
    ref.current.setAttribute('role', 'region');
    setMap(m);
    const ro = new ResizeObserver(() => m.invalidateSize());
    ro.observe(ref.current);
    return () => {
      ro.disconnect();
      m.remove();
      setMap(null);
    };
  }, [tiles]);
  return { ref, map };
}

export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
