import { memo } from 'preact/compat';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { loadJobs, type Loaded } from '../data';
import { dayKey, dayLabel, fmtDateTime, fmtTime, label } from '../format';
import { STATUS_LABEL } from '../statemachine';
import type { Job } from '../types';
import { LazyJobsMap } from './LazyMaps';

type Filter = 'open' | 'all' | 'done';
const OPEN = new Set(['draft', 'scheduled', 'dispatched', 'in_progress', 'paused']);

export function Jobs({ mode }: { mode: 'list' | 'map' }) {
  const [res, setRes] = useState<Loaded<Job[]> | null>(null);
  const [err, setErr] = useState('');
  const [loading, setLoading] = useState(true);
  const [q, setQ] = useState('');
  const [filter, setFilter] = useState<Filter>('all');

  async function load(silent = false) {
    if (!silent) setLoading(true);
    try {
      const r = await loadJobs();
      performance.mark('jobs-loaded');
      setRes(r);
      setErr('');
    } catch (e) {
      if (silent) return;
      setErr((e as ApiError).network ? 'Cannot reach the field agent and no saved job list is on this tablet yet.' : (e as Error).message);
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => {
    void load();
    // New or changed jobs reach the agent from the office: refresh quietly while visible.
    const t = setInterval(() => document.visibilityState === 'visible' && void load(true), 30000);
    return () => clearInterval(t);
  }, []);

  const jobs = useMemo(() => {
    const list = res?.data ?? [];
    const needle = q.trim().toLowerCase();
    return list
      .filter((j) => (filter === 'all' ? true : filter === 'open' ? OPEN.has(j.status) : !OPEN.has(j.status)))
      .filter((j) => !needle || [j.number, j.title, j.customer?.name, j.site?.address].some((s) => s?.toLowerCase().includes(needle)))
      .sort((a, b) => (a.scheduled_start || '9').localeCompare(b.scheduled_start || '9'));
  }, [res, q, filter]);

  return (
    <section class="page">
      <div class="page-head">
        <h1 tabIndex={-1}>{mode === 'map' ? 'Jobs on the map' : 'My jobs'}</h1>
        <span class="muted">Today and the next 7 days</span>
        <div class="spacer" />
        <div class="seg" role="group" aria-label="View">
          <a href="#/jobs" class={mode === 'list' ? 'seg-on' : ''} aria-current={mode === 'list' ? 'page' : undefined} data-testid="view-list">List</a>
          <a href="#/map" class={mode === 'map' ? 'seg-on' : ''} aria-current={mode === 'map' ? 'page' : undefined} data-testid="view-map">Map</a>
        </div>
        <button class="btn" onClick={() => load()} disabled={loading} data-testid="jobs-refresh">{loading ? 'Loading…' : 'Refresh'}</button>
      </div>
      <div class="toolbar">
        <label class="field inline grow">
          <span class="sr-only">Search jobs</span>
          <input type="search" placeholder="Search number, customer, address" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} data-testid="jobs-search" />
        </label>
        <div class="seg" role="radiogroup" aria-label="Show">
          {(['all', 'open', 'done'] as Filter[]).map((f) => (
            <button role="radio" aria-checked={filter === f} class={filter === f ? 'seg-on' : ''} onClick={() => setFilter(f)} key={f}>
              {f === 'all' ? 'All' : f === 'open' ? 'Open' : 'Closed'}
            </button>
          ))}
        </div>
      </div>
      {res?.fromCache && (
        <p class="banner banner-warn" role="status">Field agent not reachable: showing the list saved {fmtDateTime(res.cachedAt)}.</p>
      )}
      {err && <p class="banner banner-error" role="alert">{err}</p>}
      {!res && loading && <p class="muted" aria-busy="true">Loading jobs…</p>}
      {res && mode === 'list' && <JobList jobs={jobs} />}
      {res && mode === 'map' && <LazyJobsMap jobs={jobs} />}
    </section>
  );
}

const FIRST_CHUNK = 24; // rows rendered before the first paint (more than a portrait screen holds)
const CHUNK = 150; // rows added per frame afterwards

function JobList({ jobs }: { jobs: Job[] }) {
  // Render the first screenful at once and the rest in the following frames, so the list is
  // usable (tap, scroll) as soon as it appears even with hundreds of jobs.
  const [shown, setShown] = useState(Math.min(jobs.length, FIRST_CHUNK));
  useEffect(() => {
    performance.mark('joblist-ready');
  }, []);
  useEffect(() => {
    if (shown >= jobs.length) {
      performance.mark('joblist-complete');
      return;
    }
    const t = setTimeout(() => setShown((n) => Math.min(jobs.length, n + CHUNK)), 0);
    return () => clearTimeout(t);
  }, [shown, jobs.length]);
  const groups = useMemo(() => {
    const g = new Map<string, Job[]>();
    for (const j of jobs) {
      const k = dayKey(j.scheduled_start);
      if (!g.has(k)) g.set(k, []);
      g.get(k)!.push(j);
    }
    return [...g.entries()];
  }, [jobs]);
  if (!jobs.length) return <p class="empty" data-testid="job-list" data-count="0" data-rendered="0">No jobs in this window.</p>;
  let budget = shown;
  return (
    <div class="job-list" data-testid="job-list" data-count={jobs.length} data-rendered={Math.min(shown, jobs.length)}>
      {groups.map(([k, list]) => {
        if (budget <= 0) return null;
        const rows = list.slice(0, budget);
        budget -= rows.length;
        return (
          <section key={k} class="day" aria-label={dayLabel(k)}>
            <h2 class="day-head">{dayLabel(k)} <span class="muted">· {list.length}</span></h2>
            <ul role="list">
              {rows.map((j) => <JobRow key={j.id} j={j} />)}
            </ul>
          </section>
        );
      })}
    </div>
  );
}

const JobRow = memo(function JobRow({ j }: { j: Job }) {
  return (
    <li>
      <a class={`job-item st-${j.status}`} href={`#/jobs/${j.id}`} data-testid="job-item" data-job-id={j.id} data-status={j.status} data-primary={j.is_primary ? 'true' : 'false'} data-day={dayKey(j.scheduled_start)}>
        <span class="job-time">
          <strong>{fmtTime(j.scheduled_start)}</strong>
          <small>{j.scheduled_end ? '– ' + fmtTime(j.scheduled_end) : ''}</small>
        </span>
        <span class="job-main">
          <span class="job-title"><span class="job-no">{j.number}</span> {j.title}</span>
          <span class="job-sub">{j.customer?.name || '—'} · {j.site?.address || j.customer?.address || 'no address'}</span>
        </span>
        <span class="job-tags">
          <span class={`chip chip-${j.status}`}>{STATUS_LABEL[j.status] || j.status}</span>
          <small class={`prio prio-${j.priority}`}>{label(j.priority || '')} · {label(j.work_type || '')}</small>
        </span>
      </a>
    </li>
  );
});

