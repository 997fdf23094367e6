// The technician state machine as the UI understands it (the edge agent is authoritative and
// sends allowed_events; this is for labels, explanations of disabled buttons, and the status
// shown at once while a tap is being saved or queued).
import type { EventName, Job, Status } from './types';

interface Rule { from: Status[]; to: Status | null; label: string; need: string }

export const RULES: Record<EventName, Rule> = {
  accept: { from: ['scheduled', 'dispatched'], to: null, label: 'Accept', need: 'only when scheduled or dispatched' },
  en_route: { from: ['scheduled', 'dispatched', 'paused'], to: 'dispatched', label: 'En route', need: 'only before start or while paused' },
  arrived: { from: ['scheduled', 'dispatched', 'paused'], to: null, label: 'Arrived', need: 'only before start or while paused' },
  start: { from: ['scheduled', 'dispatched'], to: 'in_progress', label: 'Start work', need: 'only when scheduled or dispatched' },
  pause: { from: ['in_progress'], to: 'paused', label: 'Pause', need: 'only while in progress' },
  hold: { from: ['in_progress'], to: 'paused', label: 'Hold', need: 'only while in progress' },
  resume: { from: ['paused'], to: 'in_progress', label: 'Resume', need: 'only when paused' },
  complete: { from: ['in_progress'], to: 'completed', label: 'Complete', need: 'only while in progress' },
  unable_to_complete: {
    from: ['scheduled', 'dispatched', 'in_progress', 'paused'],
    to: 'canceled',
    label: 'Unable to complete',
    need: 'not once the job is closed',
  },
};

export const EVENT_ORDER: EventName[] = ['accept', 'en_route', 'arrived', 'start', 'pause', 'hold', 'resume', 'complete', 'unable_to_complete'];

export const STATUS_LABEL: Record<Status, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  dispatched: 'Dispatched',
  in_progress: 'In progress',
  paused: 'Paused',
  completed: 'Completed',
  canceled: 'Canceled',
};

export const REASONS: [string, string][] = [
  ['customer_absent', 'Customer absent'],
  ['no_access', 'No access to site'],
  ['site_not_ready', 'Site not ready'],
  ['needs_parts', 'Needs parts'],
  ['unsafe', 'Unsafe conditions'],
  ['other', 'Other'],
];

export function nextStatus(ev: EventName, from: Status): Status {
  if (ev === 'en_route' && from === 'paused') return from;
  return RULES[ev].to ?? from;
}

/** localAllowed: what the state machine allows from a status (used while a tap is queued). */
export function localAllowed(status: Status): EventName[] {
  return EVENT_ORDER.filter((e) => RULES[e].from.includes(status));
}

/** whyDisabled explains why an event cannot be fired now, or returns '' if it can. */
export function whyDisabled(job: Job, ev: EventName, allowed: EventName[]): string {
  if (allowed.includes(ev)) return '';
  if (job.status === 'completed' || job.status === 'canceled') return `Job is ${STATUS_LABEL[job.status].toLowerCase()}`;
  if (!job.is_primary) return 'Primary technician only';
  if (!RULES[ev].from.includes(job.status)) {
    const n = RULES[ev].need;
    return n.charAt(0).toUpperCase() + n.slice(1);
  }
  if (ev === 'accept') return 'Already accepted';
  return 'Not available for this job right now';
}
