import { useEffect, useState } from 'preact/hooks';
import type { Job } from '../types';

type Maps = typeof import('./maps');
let loaded: Maps | null = null;
let loading: Promise<Maps> | null = null;

function useMaps(): { maps: Maps | null; err: string } {
  const [maps, setMaps] = useState<Maps | null>(loaded);
  const [err, setErr] = useState('');
  useEffect(() => {
    if (maps) return;
    loading ??= import('./maps').then((m) => (loaded = m));
    loading.then(setMaps, (e: Error) => {
      loading = null;
      setErr(`The map could not be loaded (${e.message}). Reload the app.`);
    });
  }, []);
  return { maps, err };
}

function Placeholder({ err }: { err: string }) {
  return err ? <p class="error" role="alert">{err}</p> : <div class="map map-loading" aria-busy="true">Loading map…</div>;
}

export function LazyJobsMap(props: { jobs: Job[] }) {
  const { maps, err } = useMaps();
  return maps ? <maps.JobsMap {...props} /> : <Placeholder err={err} />;
}

export function LazySiteMap(props: { job: Job }) {
  const { maps, err } = useMaps();
  return maps ? <maps.SiteMap {...props} /> : <Placeholder err={err} />;
}
