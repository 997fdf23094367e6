export type Status = 'draft' | 'scheduled' | 'dispatched' | 'in_progress' | 'paused' | 'completed' | 'canceled';
export type EventName =
  | 'accept' | 'en_route' | 'arrived' | 'start' | 'pause' | 'hold' | 'resume' | 'complete' | 'unable_to_complete';

export interface CrewMember { person_id: string; name: string; is_primary: boolean }
export interface Site { address: string; lat: number | null; lon: number | null }
export interface Customer { id: string; name: string; phone: string; email: string; address: string }
export interface Note {
  id: string; body: string; author_id: string; author_name: string; is_internal: boolean;
  client_ref: string | null; created_at: string;
}
export interface Material {
  id: string; item_id: string; sku: string; name: string; unit: string;
  quantity: number; quantity_used: number; status: 'required' | 'reserved' | 'used';
}
export interface Attachment {
  id: string; kind: 'photo' | 'signature' | 'document'; file_name: string; mime: string; size: number;
  url: string; captured_at: string | null; client_ref: string | null; signer_name: string | null;
  lat: number | null; lon: number | null;
}
export interface JobEvent {
  id: string; event: EventName; from_status: Status; to_status: Status; occurred_at: string;
  received_at: string | null; actor_id: string | null; lat: number | null; lon: number | null;
  note: string | null; clock_skew: boolean; client_event_id: string | null; payload: Record<string, unknown> | null;
}
export type QuestionType = 'text' | 'number' | 'choice' | 'checkbox' | 'photo' | 'gps' | 'signature';
export interface Question { id: string; label: string; type: QuestionType; required: boolean; options: string[] | null }
export interface Survey {
  template_id: string; name: string; questions: Question[]; answers: Record<string, unknown> | null;
}
export interface Job {
  id: string; number: string; title: string; description: string; status: Status; priority: string;
  work_type: string; version: number;
  scheduled_start: string | null; scheduled_end: string | null; started_at: string | null;
  paused_at: string | null; completed_at: string | null; total_active_seconds: number;
  access_notes: string | null; tags: string[] | null;
  assigned_to: string | null; is_primary: boolean; crew: CrewMember[] | null;
  site: Site | null; customer: Customer | null; allowed_events: EventName[] | null;
  notes?: Note[]; materials?: Material[]; attachments?: Attachment[]; events?: JobEvent[];
  survey?: Survey | null;
}
export interface ListResponse<T> { items: T[]; total: number; limit: number; offset: number }
export interface TransitionResponse { job: Job; event: { id: string; replayed: boolean; clock_skew: boolean } }
export interface SyncStatus {
  online: boolean; pending_uploads: number; last_sync_at: string | null; last_error: string | null;
  open_conflicts: number; scope?: Record<string, number>;
}
export interface Strand { cable: string; number: number; color?: string | null }
export interface Splice { id: string; in_strand: Strand; out_strand: Strand }
export interface Tray { id: string; number: number; splices: Splice[] }
export interface SpliceClosure { id: string; name: string; trays: Tray[]; [k: string]: unknown }
export interface Tokens { access_token: string; refresh_token: string; expires_at: number; email: string }
export interface Me { id: string; email: string; display_name: string; roles: string[]; permissions: string[] }
