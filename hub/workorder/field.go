package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

// Field execution on the hub (CONTRACT.md "Field API", reference §3.7). The HTTP handlers and the
// sync upload applier call the same methods: ApplyFieldEvent, AddFieldNote, AddWorklogs,
// AddAttachment. actorID is the technician's person id; deviceID is the edge device ("" for
// calls straight to the hub). Scope: a job is visible to its primary technician (assigned_to or
// a primary assignment) and its crew; anything else is a 404. Only the primary fires events
// (crew: 403).

// Role of a person on a job.
type Role int

// Roles on a job.
const (
	RoleNone Role = iota
	RoleCrew
	RolePrimary
)

// scopeSQL selects jobs in the scope of person $1.
const scopeSQL = `(w.assigned_to = $1 OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $1))`

// RoleOf returns a person's role on an active work order (RoleNone when out of scope or missing).
func RoleOf(ctx context.Context, q Querier, woID, personID string) (Role, error) {
	if !postgres.ValidUUID(woID) || !postgres.ValidUUID(personID) {
		return RoleNone, nil
	}
	var primary, crew bool
	err := q.QueryRow(ctx, `SELECT `+roleCols+` FROM work_orders w WHERE w.id = $1 AND w.is_active`, woID, personID).Scan(&primary, &crew)
	if errors.Is(err, pgx.ErrNoRows) {
		return RoleNone, nil
	}
	if err != nil {
		return RoleNone, err
	}
	return roleOf(primary, crew), nil
}

// roleCols are whether person $2 is the primary of work order w, and on its crew.
const roleCols = `w.assigned_to IS NOT DISTINCT FROM $2::uuid
			OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2 AND a.is_primary),
			EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2)`

func roleOf(primary, crew bool) Role {
	switch {
	case primary:
		return RolePrimary
	case crew:
		return RoleCrew
	}
	return RoleNone
}

var errJobNotFound = hub.Errorf(hub.ENOTFOUND, "job not found")

// JobFilter selects the caller's jobs: scheduled_start in [From, To), status in Status.
type JobFilter struct {
	From, To *time.Time
	Status   []string
}

const jobCols = `w.id, w.number, w.title, w.description, w.status, w.priority, w.work_type, w.version, w.scheduled_start, w.scheduled_end,
	w.started_at, w.paused_at, w.completed_at, w.total_active_seconds, w.access_notes, w.tags, w.assigned_to,
	(w.assigned_to IS NOT DISTINCT FROM $1::uuid OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id
		AND a.person_id = $1 AND a.is_primary)),
	coalesce(s.address, ''), ST_Y(s.geom), ST_X(s.geom),
	c.id, coalesce(c.name, ''), coalesce(c.phone, ''), coalesce(c.email::text, ''), coalesce(c.address, ''),
	coalesce((SELECT json_agg(json_build_object('person_id', a.person_id, 'name', ap.display_name, 'is_primary', a.is_primary)
		ORDER BY a.is_primary DESC, ap.display_name)
		FROM work_order_assignments a JOIN people ap ON ap.id = a.person_id WHERE a.work_order_id = w.id), '[]')`

const jobFrom = ` FROM work_orders w LEFT JOIN sites s ON s.id = w.site_id LEFT JOIN customers c ON c.id = w.customer_id`

func scanJob(row pgx.Row) (*field.JobSummary, error) {
	var j field.JobSummary
	var status string
	var custID *string
	var cust field.Customer
	var crew []byte
	var ss, se, st, pa, ca *time.Time
	err := row.Scan(&j.ID, &j.Number, &j.Title, &j.Description, &status, &j.Priority, &j.WorkType, &j.Version, &ss, &se,
		&st, &pa, &ca, &j.TotalActiveSeconds, &j.AccessNotes, &j.Tags, &j.AssignedTo, &j.IsPrimary,
		&j.Site.Address, &j.Site.Lat, &j.Site.Lon, &custID, &cust.Name, &cust.Phone, &cust.Email, &cust.Address, &crew)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errJobNotFound
	}
	if err != nil {
		return nil, err
	}
	j.Status = fieldexec.Status(status)
	j.ScheduledStart, j.ScheduledEnd = atp(ss), atp(se)
	j.StartedAt, j.PausedAt, j.CompletedAt = atp(st), atp(pa), atp(ca)
	if custID != nil {
		cust.ID = *custID
		j.Customer = &cust
	}
	if err := json.Unmarshal(crew, &j.Crew); err != nil {
		return nil, err
	}
	j.SetAllowedEvents()
	return &j, nil
}

func atp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return field.At(*t)
}

// ParseJobFilter reads ?from=&to=&status= of GET /field/jobs.
func ParseJobFilter(get func(string) string) (JobFilter, error) {
	f := hub.Fields{}
	var out JobFilter
	from, to := get("from"), get("to")
	out.From, out.To = parseTime(f, "from", &from), parseTime(f, "to", &to)
	if out.From != nil && out.To != nil && !out.To.After(*out.From) {
		f.Add("to", "must be after from")
	}
	for _, st := range strings.Split(get("status"), ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !validStatus(st) {
			f.Add("status", "must be one of "+strings.Join(Statuses, ", "))
		}
		out.Status = append(out.Status, st)
	}
	return out, f.Err()
}

// ListJobs returns the caller's jobs (primary or crew) in schedule order, at most 500.
func (s *Service) ListJobs(ctx context.Context, actorID string, f JobFilter) ([]field.JobSummary, error) {
	if !postgres.ValidUUID(actorID) {
		return []field.JobSummary{}, nil
	}
	var w where
	w.args = []any{actorID}
	w.add("w.is_active")
	w.add(scopeSQL)
	if f.From != nil {
		w.add("(w.scheduled_start >= ? OR w.scheduled_start IS NULL)", *f.From)
	}
	if f.To != nil {
		w.add("w.scheduled_start < ?", *f.To)
	}
	if len(f.Status) > 0 {
		w.add("w.status = ANY(?)", f.Status)
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+jobCols+jobFrom+` WHERE `+w.sql()+` ORDER BY w.scheduled_start NULLS LAST, w.id LIMIT 500`, w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []field.JobSummary{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// Job returns one job in the caller's scope with notes, materials, attachments, events and survey.
func (s *Service) Job(ctx context.Context, actorID, id string) (*field.Job, error) {
	if !postgres.ValidUUID(id) || !postgres.ValidUUID(actorID) {
		return nil, errJobNotFound
	}
	return s.job(ctx, s.DB.Pool, actorID, id, true)
}

func (s *Service) job(ctx context.Context, q Querier, actorID, id string, scoped bool) (*field.Job, error) {
	cond := ` WHERE w.id = $2 AND w.is_active`
	if scoped {
		cond += ` AND ` + scopeSQL
	}
	sum, err := scanJob(q.QueryRow(ctx, `SELECT `+jobCols+jobFrom+cond, actorID, id))
	if err != nil {
		return nil, err
	}
	j := &field.Job{JobSummary: *sum}
	if j.Notes, err = fieldNotes(ctx, q, id, ""); err != nil {
		return nil, err
	}
	if j.Attachments, err = fieldAttachments(ctx, q, id); err != nil {
		return nil, err
	}
	if j.Events, err = fieldEvents(ctx, q, id); err != nil {
		return nil, err
	}
	if src := materialsSource(); src != nil {
		if j.Materials, err = src(ctx, q, id); err != nil {
			return nil, err
		}
	}
	if src := surveySource(); src != nil {
		if j.Survey, err = src(ctx, q, id); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func fieldNotes(ctx context.Context, q Querier, woID, noteID string) ([]field.Note, error) {
	rows, err := q.Query(ctx, `SELECT `+noteCols+noteFrom+` WHERE n.work_order_id = $1 AND ($2 = '' OR n.id::text = $2) ORDER BY n.created_at, n.id`, woID, noteID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (field.Note, error) {
		var n field.Note
		err := scanNote(r, &n)
		return n, err
	})
}

// noteCols, from noteFrom, are what scanNote reads (more columns may follow them).
const (
	noteCols = `n.id, n.body, coalesce(n.author_id::text, ''), coalesce(p.display_name, ''), n.is_internal,
		n.client_ref::text, n.created_at`
	noteFrom = ` FROM work_order_notes n LEFT JOIN people p ON p.id = n.author_id`
)

func scanNote(row pgx.Row, n *field.Note, more ...any) error {
	err := row.Scan(append([]any{&n.ID, &n.Body, &n.AuthorID, &n.AuthorName, &n.IsInternal, &n.ClientRef, &n.CreatedAt}, more...)...)
	n.CreatedAt = n.CreatedAt.UTC()
	return err
}

// AttachmentURL is where a field client downloads an attachment.
func AttachmentURL(id string) string { return "/api/v1/field/attachments/" + id + "/content" }

func fieldAttachments(ctx context.Context, q Querier, woID string) ([]field.Attachment, error) {
	rows, err := q.Query(ctx, `SELECT id, kind, file_name, mime, size, captured_at, client_ref::text, signer_name, lat, lon
		FROM field_attachments WHERE work_order_id = $1 AND is_active ORDER BY created_at, id`, woID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanAttachment)
}

func scanAttachment(r pgx.CollectableRow) (field.Attachment, error) {
	var a field.Attachment
	var cap *time.Time
	err := r.Scan(&a.ID, &a.Kind, &a.FileName, &a.MIME, &a.Size, &cap, &a.ClientRef, &a.SignerName, &a.Lat, &a.Lon)
	a.CapturedAt = atp(cap)
	a.URL = AttachmentURL(a.ID)
	return a, err
}

func fieldEvents(ctx context.Context, q Querier, woID string) ([]field.JobEvent, error) {
	rows, err := q.Query(ctx, `SELECT id, event, from_status, to_status, occurred_at, received_at, coalesce(actor_id::text, ''), lat, lon,
		note, clock_skew, client_event_id::text, payload FROM work_order_events WHERE work_order_id = $1 ORDER BY received_at, id`, woID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (field.JobEvent, error) {
		var e field.JobEvent
		var ev, from, to string
		var payload []byte
		err := r.Scan(&e.ID, &ev, &from, &to, &e.OccurredAt, &e.ReceivedAt, &e.ActorID, &e.Lat, &e.Lon, &e.Note, &e.ClockSkew,
			&e.ClientEventID, &payload)
		e.Event, e.FromStatus, e.ToStatus = fieldexec.Event(ev), fieldexec.Status(from), fieldexec.Status(to)
		e.OccurredAt, e.ReceivedAt = *field.At(e.OccurredAt), *field.At(e.ReceivedAt)
		json.Unmarshal(payload, &e.Payload)
		return e, err
	})
}

// gateEnabled reads the setting field.completion_requires_evidence (default on).
func gateEnabled(ctx context.Context, q Querier) (bool, error) {
	var v *bool
	err := q.QueryRow(ctx, `SELECT (SELECT CASE WHEN jsonb_typeof(value) = 'boolean' THEN value::text::boolean END
		FROM domain_settings WHERE domain = 'field' AND key = 'completion_requires_evidence')`).Scan(&v)
	if err != nil {
		return true, err
	}
	return v == nil || *v, nil
}

func fromExec(err error) error {
	var fe *fieldexec.Error
	if !errors.As(err, &fe) {
		return err
	}
	code := hub.EUNPROCESSABLE
	if fe.Code == fieldexec.CodeConflict {
		code = hub.ECONFLICT
	}
	return &hub.Error{Code: code, Message: fe.Message, Fields: fe.Fields}
}

func fieldInvalid(e field.Errors) error {
	if len(e) == 0 {
		return nil
	}
	return hub.Invalid(map[string]string(e))
}

// ApplyFieldEvent applies a technician's execution event to job jobID (the primary technician
// only) with the shared state machine. The same client_event_id again returns the stored result
// with replayed=true, however late. Errors: 400 bad request shape, 404 out of scope, 403 crew,
// 409 the status forbids the event, 422 the completion gate or the reason is not met.
func (s *Service) ApplyFieldEvent(ctx context.Context, actorID, deviceID, jobID string, req field.TransitionRequest) (*field.TransitionResponse, error) {
	return s.ApplyFieldEventWith(ctx, actorID, deviceID, jobID, req, FieldOptions{})
}

// FieldOptions tune ApplyFieldEventWith and AddFieldNoteWith for the sync upload applier.
type FieldOptions struct {
	// ID is the id the device gave the row (event or note); used when it is a fresh UUID.
	ID string
	// AssumeFrom judges the event from this status instead of the job's current one: a field
	// fact made offline stands although the office changed the status meanwhile (the applier
	// opens a conflict for review).
	AssumeFrom fieldexec.Status
	// FormerHolder lets the actor act although no longer on the job (reassigned while offline).
	FormerHolder bool
}

// ApplyFieldEventWith is ApplyFieldEvent with the applier's options.
func (s *Service) ApplyFieldEventWith(ctx context.Context, actorID, deviceID, jobID string, req field.TransitionRequest, opt FieldOptions) (*field.TransitionResponse, error) {
	if err := fieldInvalid(req.Validate()); err != nil {
		return nil, err
	}
	if deviceID != "" && !postgres.ValidUUID(deviceID) {
		return nil, hub.Invalid(map[string]string{"device_id": "must be a UUID"})
	}
	if !postgres.ValidUUID(jobID) || !postgres.ValidUUID(actorID) {
		return nil, errJobNotFound
	}
	var out *field.TransitionResponse
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if r, err := s.replayEvent(ctx, tx, actorID, jobID, req.ClientEventID); r != nil || err != nil {
			out = r
			return err
		}
		role, err := RoleOf(ctx, tx, jobID, actorID)
		if err != nil {
			return err
		}
		switch {
		case opt.FormerHolder:
		case role == RoleNone:
			return errJobNotFound
		case role == RoleCrew:
			return hub.Errorf(hub.EFORBIDDEN, "only the primary technician can change this job's status")
		}
		l, err := lockWO(ctx, tx, jobID)
		if err != nil {
			return errJobNotFound
		}
		// A concurrent request with the same id may have committed while we waited for the lock.
		if r, err := s.replayEvent(ctx, tx, actorID, jobID, req.ClientEventID); r != nil || err != nil {
			out = r
			return err
		}
		out, err = s.applyLocked(ctx, tx, l, actorID, deviceID, req, opt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// replayEvent returns the stored answer of a known client_event_id (nil when new).
func (s *Service) replayEvent(ctx context.Context, tx pgx.Tx, actorID, jobID, clientEventID string) (*field.TransitionResponse, error) {
	var woID string
	var actor *string
	var result []byte
	err := tx.QueryRow(ctx, `SELECT work_order_id, actor_id, result FROM work_order_events WHERE client_event_id = $1`, clientEventID).
		Scan(&woID, &actor, &result)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if woID != jobID {
		return nil, &hub.Error{Code: hub.ECONFLICT, Message: "client_event_id was already used for another job",
			Fields: map[string]string{"client_event_id": "already used"}}
	}
	if actor == nil || *actor != actorID {
		role, err := RoleOf(ctx, tx, jobID, actorID)
		if err != nil {
			return nil, err
		}
		if role == RoleNone {
			return nil, errJobNotFound
		}
		if role == RoleCrew {
			return nil, hub.Errorf(hub.EFORBIDDEN, "only the primary technician can change this job's status")
		}
	}
	var r field.TransitionResponse
	if len(result) == 0 {
		return nil, fmt.Errorf("workorder: event %s has no stored result", clientEventID)
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, err
	}
	r.Event.Replayed = true
	return &r, nil
}

func (s *Service) applyLocked(ctx context.Context, tx pgx.Tx, l *locked, actorID, deviceID string, req field.TransitionRequest, opt FieldOptions) (*field.TransitionResponse, error) {
	received := s.now()
	occurred := received
	if req.OccurredAt != nil {
		occurred = req.OccurredAt.UTC()
	}
	skew := fieldexec.ClockSkewed(occurred, received)
	at := occurred // the time the work timer and timestamps use: the device's, unless it is skewed
	if skew {
		at = received
	}
	var ev fieldexec.Evidence
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'photo'), count(*) FILTER (WHERE kind = 'signature')
		FROM field_attachments WHERE work_order_id = $1 AND is_active`, l.ID).Scan(&ev.Photos, &ev.Signatures); err != nil {
		return nil, err
	}
	gate, err := gateEnabled(ctx, tx)
	if err != nil {
		return nil, err
	}
	from := fieldexec.Status(l.Status)
	if opt.AssumeFrom != "" {
		if !opt.AssumeFrom.Valid() {
			return nil, hub.Invalid(map[string]string{"assume_from": "is not a status"})
		}
		from = opt.AssumeFrom
	}
	in := req.Input(from, ev, gate)
	in.At = occurred
	var last string
	switch err := tx.QueryRow(ctx, `SELECT event, occurred_at FROM work_order_events WHERE work_order_id = $1 ORDER BY received_at DESC, id DESC LIMIT 1`,
		l.ID).Scan(&last, &in.LastAt); {
	case err == nil:
		in.Last = fieldexec.Event(last)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	oc, err := fieldexec.Apply(in)
	if err != nil {
		return nil, fromExec(err)
	}
	payload := map[string]any{}
	if req.Payload.Reason != "" && req.Event == fieldexec.EventUnableToComplete {
		payload["reason"] = req.Payload.Reason
	}
	if req.Payload.SignatureUnavailableReason != "" {
		payload["signature_unavailable_reason"] = req.Payload.SignatureUnavailableReason
	}
	if oc.Repeat {
		payload["repeat"] = true
	}
	if skew {
		payload["clock_skew"] = map[string]any{"occurred_at": occurred, "received_at": received}
	}
	if opt.AssumeFrom != "" && string(opt.AssumeFrom) != l.Status {
		payload["assumed_from"] = string(opt.AssumeFrom)
		payload["hub_status"] = l.Status
		oc.StatusChanged = string(oc.To) != l.Status
	}
	pb, _ := json.Marshal(payload)
	eventID := postgres.NewID()
	if opt.ID != "" && postgres.ValidUUID(opt.ID) {
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_order_events WHERE id = $1)`, opt.ID).Scan(&used); err != nil {
			return nil, err
		}
		if !used {
			eventID = opt.ID
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO work_order_events (id, work_order_id, event, from_status, to_status, actor_id, lat, lon, note,
		occurred_at, received_at, clock_skew, client_event_id, device_id, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		eventID, l.ID, string(req.Event), string(from), string(oc.To), actorID, req.Lat, req.Lon, req.Note, occurred, received, skew,
		req.ClientEventID, nilIfEmpty(&deviceID), pb); err != nil {
		return nil, postgres.Translate(err)
	}
	if !oc.Repeat {
		if oc.StartTimer {
			if err := s.startTimer(ctx, tx, l.ID, actorID, at); err != nil {
				return nil, err
			}
		}
		if oc.StopTimer || (l.Status == "in_progress" && !oc.To.TimerRunning()) {
			if err := closeTimers(ctx, tx, l.ID, "", at); err != nil {
				return nil, err
			}
		}
		to := string(oc.To)
		if _, err := tx.Exec(ctx, `UPDATE work_orders SET status = $2,
			started_at = CASE WHEN $3 = 'start' THEN coalesce(started_at, $4) ELSE started_at END,
			resumed_at = CASE WHEN $3 = 'resume' THEN $4 ELSE resumed_at END,
			paused_at = CASE WHEN $3 IN ('pause', 'hold') THEN $4 ELSE paused_at END,
			completed_at = CASE WHEN $3 = 'complete' THEN $4 ELSE completed_at END,
			canceled_at = CASE WHEN $3 = 'unable_to_complete' THEN $4 ELSE canceled_at END,
			total_active_seconds = (SELECT coalesce(sum(extract(epoch FROM ended_at - started_at)), 0)::bigint
				FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NOT NULL),
			version = version + 1, updated_at = now() WHERE id = $1`, l.ID, to, string(req.Event), at); err != nil {
			return nil, err
		}
		l.Version++
		prev := l.Status
		l.Status = to
		p := l.payload()
		p.Event, p.ClientEventID, p.DeviceID, p.ClockSkew = string(req.Event), req.ClientEventID, deviceID, skew
		p.PreviousStatus = prev
		if err := writeEvent(ctx, tx, TopicFieldEvent, actorID, p); err != nil {
			return nil, err
		}
		if oc.StatusChanged {
			p.Note = req.Note
			if err := writeEvent(ctx, tx, TopicStatusChanged, actorID, p); err != nil {
				return nil, err
			}
		}
		if err := audit(ctx, tx, actorID, "field:job:"+string(req.Event), "work_order", l.ID,
			map[string]any{"client_event_id": req.ClientEventID, "device_id": deviceID, "from": prev, "to": to, "clock_skew": skew}); err != nil {
			return nil, err
		}
	}
	job, err := s.job(ctx, tx, actorID, l.ID, false)
	if err != nil {
		return nil, err
	}
	resp := &field.TransitionResponse{Job: *job, Event: field.TransitionEvent{ID: eventID, Replayed: oc.Repeat, ClockSkew: skew}}
	stored := *resp
	stored.Event.Replayed = false
	b, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE work_order_events SET result = $2 WHERE id = $1`, eventID, b); err != nil {
		return nil, err
	}
	return resp, nil
}

// startTimer opens a timer worklog for person on job woID at t, first closing any timer the
// person left open on another job (one open timer per person).
func (s *Service) startTimer(ctx context.Context, tx pgx.Tx, woID, personID string, t time.Time) error {
	rows, err := tx.Query(ctx, `UPDATE work_order_worklogs SET
		ended_at = least(greatest($2::timestamptz, started_at + interval '1 second'), started_at + interval '16 hours')
		WHERE person_id = $1 AND ended_at IS NULL RETURNING work_order_id::text`, personID, t)
	if err != nil {
		return err
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, other := range others {
		if other == woID {
			continue
		}
		if err := s.touchTotals(ctx, tx, other, personID); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO work_order_worklogs (id, work_order_id, person_id, started_at, source) VALUES ($1, $2, $3, $4, 'timer')`,
		postgres.NewID(), woID, personID, t)
	return err
}

// touchTotals recomputes total_active_seconds of another job whose timer was stopped, with a
// version bump and a worklog event.
func (s *Service) touchTotals(ctx context.Context, tx pgx.Tx, woID, actorID string) error {
	l, err := lockWO(ctx, tx, woID)
	if err != nil {
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			return nil
		}
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE work_orders SET total_active_seconds = (SELECT coalesce(sum(extract(epoch FROM ended_at - started_at)), 0)::bigint
		FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NOT NULL), version = version + 1, updated_at = now() WHERE id = $1`, woID); err != nil {
		return err
	}
	l.Version++
	return writeEvent(ctx, tx, TopicWorklog, actorID, l.payload())
}

// WorklogInput is one entry of POST /api/v1/field/jobs/{id}/worklogs; ended_at null opens a timer.
type WorklogInput struct {
	ClientRef string  `json:"client_ref"`
	StartedAt string  `json:"started_at"`
	EndedAt   *string `json:"ended_at"`
	Note      string  `json:"note"`
}

// WorklogBatch is the body of POST /api/v1/field/jobs/{id}/worklogs.
type WorklogBatch struct {
	Worklogs []WorklogInput `json:"worklogs"`
}

// Worklog is a stored worklog; Duplicate marks an entry already known (same client_ref, or the
// same person, job and start).
type Worklog struct {
	ID          string     `json:"id"`
	WorkOrderID string     `json:"work_order_id"`
	PersonID    string     `json:"person_id"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	Seconds     int64      `json:"seconds"`
	Source      string     `json:"source"`
	Backdated   bool       `json:"backdated"`
	Note        string     `json:"note"`
	ClientRef   *string    `json:"client_ref"`
	Duplicate   bool       `json:"duplicate"`
}

// Worklog limits (§3.7).
const (
	MaxWorklogSpan  = 16 * time.Hour
	BackdateAfter   = 7 * 24 * time.Hour
	MaxWorklogBatch = 100
)

const worklogCols = `id, work_order_id, person_id, started_at, ended_at, coalesce(extract(epoch FROM ended_at - started_at), 0)::bigint,
	source, backdated, note, client_ref::text`

func scanWorklog(r pgx.Row) (Worklog, error) {
	var w Worklog
	err := r.Scan(&w.ID, &w.WorkOrderID, &w.PersonID, &w.StartedAt, &w.EndedAt, &w.Seconds, &w.Source, &w.Backdated, &w.Note, &w.ClientRef)
	return w, err
}

// AddWorklogs records a batch of the caller's time on a job (primary or crew), all or nothing:
// end after start, at most 16 hours, no overlap with the person's other time (409), one open
// timer per person (409), entries older than 7 days accepted but flagged backdated, duplicates
// (client_ref, or the same start) answered with the stored entry.
func (s *Service) AddWorklogs(ctx context.Context, actorID, deviceID, jobID string, batch WorklogBatch) ([]Worklog, error) {
	f := hub.Fields{}
	now := s.now()
	type entry struct {
		in         WorklogInput
		start, end *time.Time
	}
	var entries []entry
	switch {
	case len(batch.Worklogs) == 0:
		f.Add("worklogs", "at least one worklog is required")
	case len(batch.Worklogs) > MaxWorklogBatch:
		f.Add("worklogs", fmt.Sprintf("at most %d worklogs per request", MaxWorklogBatch))
	}
	for i, in := range batch.Worklogs {
		p := fmt.Sprintf("worklogs[%d].", i)
		if in.ClientRef != "" && !postgres.ValidUUID(in.ClientRef) {
			f.Add(p+"client_ref", "must be a UUID")
		}
		var e entry
		e.in = in
		if strings.TrimSpace(in.StartedAt) == "" {
			f.Add(p+"started_at", "is required")
		} else {
			e.start = parseTime(f, p+"started_at", &in.StartedAt)
		}
		e.end = parseTime(f, p+"ended_at", in.EndedAt)
		if e.start != nil && e.end != nil {
			switch {
			case !e.end.After(*e.start):
				f.Add(p+"ended_at", "must be after started_at")
			case e.end.Sub(*e.start) > MaxWorklogSpan:
				f.Add(p+"ended_at", "a worklog spans at most 16 hours")
			}
		}
		if e.start != nil && e.start.After(now.Add(fieldexec.MaxClockSkew)) {
			f.Add(p+"started_at", "is in the future")
		}
		if e.end != nil && e.end.After(now.Add(fieldexec.MaxClockSkew)) {
			f.Add(p+"ended_at", "is in the future")
		}
		checkLen(f, p+"note", in.Note, 2000)
		entries = append(entries, e)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if !postgres.ValidUUID(jobID) || !postgres.ValidUUID(actorID) {
		return nil, errJobNotFound
	}
	var out []Worklog
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		role, err := RoleOf(ctx, tx, jobID, actorID)
		if err != nil {
			return err
		}
		if role == RoleNone {
			return errJobNotFound
		}
		l, err := lockWO(ctx, tx, jobID)
		if err != nil {
			return errJobNotFound
		}
		// One writer per person at a time: overlap checks see each other's rows.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('worklog:' || $1, 0))`, actorID); err != nil {
			return err
		}
		added := 0
		for i, e := range entries {
			p := fmt.Sprintf("worklogs[%d]", i)
			var existing pgx.Row
			if e.in.ClientRef != "" {
				existing = tx.QueryRow(ctx, `SELECT `+worklogCols+` FROM work_order_worklogs WHERE client_ref = $1`, e.in.ClientRef)
			} else {
				existing = tx.QueryRow(ctx, `SELECT `+worklogCols+` FROM work_order_worklogs WHERE work_order_id = $1 AND person_id = $2 AND started_at = $3`,
					jobID, actorID, *e.start)
			}
			if w, err := scanWorklog(existing); err == nil {
				if w.PersonID != actorID || w.WorkOrderID != jobID {
					return &hub.Error{Code: hub.ECONFLICT, Message: "client_ref was already used for other time", Fields: map[string]string{p + ".client_ref": "already used"}}
				}
				w.Duplicate = true
				out = append(out, w)
				continue
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if e.end == nil {
				var open int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM work_order_worklogs WHERE person_id = $1 AND ended_at IS NULL`, actorID).Scan(&open); err != nil {
					return err
				}
				if open > 0 {
					return &hub.Error{Code: hub.ECONFLICT, Message: "a timer is already running: stop it before starting another",
						Fields: map[string]string{p + ".ended_at": "one open timer per person"}}
				}
			}
			var os, oe *time.Time
			var onum string
			err := tx.QueryRow(ctx, `SELECT l.started_at, l.ended_at, w.number FROM work_order_worklogs l JOIN work_orders w ON w.id = l.work_order_id
				WHERE l.person_id = $1 AND tstzrange(l.started_at, coalesce(l.ended_at, 'infinity')) && tstzrange($2, coalesce($3::timestamptz, 'infinity'))
				ORDER BY l.started_at LIMIT 1`, actorID, *e.start, e.end).Scan(&os, &oe, &onum)
			if err == nil {
				end := "now"
				if oe != nil {
					end = oe.UTC().Format(time.RFC3339)
				}
				return &hub.Error{Code: hub.ECONFLICT, Message: fmt.Sprintf("this time overlaps time already logged on %s (%s to %s)", onum, os.UTC().Format(time.RFC3339), end),
					Fields: map[string]string{p: "overlaps other logged time"}}
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			backdated := e.start.Before(now.Add(-BackdateAfter))
			var ref *string
			if e.in.ClientRef != "" {
				ref = &e.in.ClientRef
			}
			w, err := scanWorklog(tx.QueryRow(ctx, `INSERT INTO work_order_worklogs (id, work_order_id, person_id, started_at, ended_at, source, backdated, note, client_ref)
				VALUES ($1, $2, $3, $4, $5, 'manual', $6, $7, $8) RETURNING `+worklogCols, postgres.NewID(), jobID, actorID, *e.start, e.end, backdated, e.in.Note, ref))
			if err != nil {
				return postgres.Translate(err)
			}
			out = append(out, w)
			added++
		}
		if added == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE work_orders SET total_active_seconds = (SELECT coalesce(sum(extract(epoch FROM ended_at - started_at)), 0)::bigint
			FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NOT NULL), version = version + 1, updated_at = now() WHERE id = $1`, jobID); err != nil {
			return err
		}
		l.Version++
		p := l.payload()
		p.DeviceID = deviceID
		return writeEvent(ctx, tx, TopicWorklog, actorID, p)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
