package syncsvc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

// Actor is who a device mutation acts for.
type Actor struct {
	PersonID string
	DeviceID string
}

// TransitionInput is a technician event replayed from a device.
type TransitionInput struct {
	Actor       Actor
	WorkOrderID string
	Request     field.TransitionRequest
	// ID is the id the device gave the event row; reused when it is a fresh UUID.
	ID string
	// AssumeFrom, when set, judges the event from this status instead of the job's current one:
	// a field fact made offline stands even though the office changed the status meanwhile
	// (the applier opens a conflict for review).
	AssumeFrom fieldexec.Status
	// FormerHolder lets the event apply although the actor is no longer the primary technician
	// (the job was reassigned while the device was offline).
	FormerHolder bool
}

// TransitionOutcome is what became of a transition.
type TransitionOutcome struct {
	EventID    string           `json:"event_id"`
	Replayed   bool             `json:"replayed"`
	ClockSkew  bool             `json:"clock_skew"`
	FromStatus fieldexec.Status `json:"from_status"`
	ToStatus   fieldexec.Status `json:"to_status"`
	Version    int64            `json:"version"`
}

// NoteInput is a note replayed from a device.
type NoteInput struct {
	Actor        Actor
	WorkOrderID  string
	Request      field.NoteRequest
	ID           string // the id the device gave the note; reused when it is a fresh UUID
	FormerHolder bool
}

// FieldService applies device actions. The HTTP field API and the upload applier must call the
// same implementation (hub/workorder once merged: adapt it in hub/app/areas.go); FieldStore is
// the built-in one on the tables of migration 0010. Errors are *hub.Error: ECONFLICT for an event
// the status does not allow, EUNPROCESSABLE for the completion gate, EFORBIDDEN, ENOTFOUND.
type FieldService interface {
	Transition(ctx context.Context, in TransitionInput) (*TransitionOutcome, error)
	AddNote(ctx context.Context, in NoteInput) (*field.Note, bool, error)
}

// NotesAdder is implemented by a FieldService that adds a run of notes with a few statements for
// the whole run (hub/workorder AddFieldNotes): each note as AddNote would, in order, with one
// outcome per note. The error is transient.
type NotesAdder interface {
	AddNotes(ctx context.Context, in []NoteInput) ([]NoteOutcome, error)
}

// NoteOutcome is what became of one note of NotesAdder.AddNotes: the stored note and whether it
// was there before (Replayed), or Err, why it was refused (a *hub.Error).
type NoteOutcome struct {
	Note     *field.Note
	Replayed bool
	Err      error
}

// MaterialConsumer is implemented by a FieldService that records materials consumed
// (POST /api/v1/field/jobs/{id}/materials/consume); quantities add up. opt.FormerHolder: the job
// was reassigned away from the actor while the device was offline, the consumption still counts.
type MaterialConsumer interface {
	ConsumeMaterials(ctx context.Context, actor Actor, workOrderID string, req field.ConsumeRequest, opt FieldOptions) (*field.ConsumeResponse, bool, error)
}

// SurveySubmitter is implemented by a FieldService that records survey answers (opt as for
// MaterialConsumer).
type SurveySubmitter interface {
	SubmitSurvey(ctx context.Context, actor Actor, workOrderID string, req field.SurveyRequest, opt FieldOptions) (bool, error)
}

// FieldStore is the built-in FieldService on the work order tables.
type FieldStore struct {
	DB  *postgres.DB
	Now func() time.Time
}

func (f *FieldStore) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Transition implements FieldService with the shared state machine and completion gate.
func (f *FieldStore) Transition(ctx context.Context, in TransitionInput) (*TransitionOutcome, error) {
	if errs := in.Request.Validate(); errs != nil {
		return nil, hub.Invalid(errs)
	}
	var out *TransitionOutcome
	err := f.DB.InTx(ctx, func(tx pgx.Tx) error {
		var prev TransitionOutcome
		var woID string
		err := tx.QueryRow(ctx, `SELECT id, work_order_id, clock_skew, from_status, to_status FROM work_order_events WHERE client_event_id = $1`,
			in.Request.ClientEventID).Scan(&prev.EventID, &woID, &prev.ClockSkew, &prev.FromStatus, &prev.ToStatus)
		if err == nil {
			if woID != in.WorkOrderID {
				return hub.Errorf(hub.ECONFLICT, "client_event_id %s was used for another job", in.Request.ClientEventID)
			}
			prev.Replayed = true
			tx.QueryRow(ctx, `SELECT version FROM work_orders WHERE id = $1`, woID).Scan(&prev.Version)
			out = &prev
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var status fieldexec.Status
		var assigned *string
		var version int64
		err = tx.QueryRow(ctx, `SELECT status, assigned_to, version FROM work_orders WHERE id = $1 AND is_active FOR UPDATE`,
			in.WorkOrderID).Scan(&status, &assigned, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return hub.Errorf(hub.ENOTFOUND, "job not found")
		}
		if err != nil {
			return err
		}
		if !in.FormerHolder && (assigned == nil || *assigned != in.Actor.PersonID) {
			return hub.Errorf(hub.EFORBIDDEN, "only the primary technician may do this")
		}
		var ev fieldexec.Evidence
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'photo'), count(*) FILTER (WHERE kind = 'signature')
			FROM field_attachments WHERE work_order_id = $1 AND is_active`, in.WorkOrderID).Scan(&ev.Photos, &ev.Signatures); err != nil {
			return err
		}
		from := status
		if in.AssumeFrom != "" {
			from = in.AssumeFrom
		}
		oc, err := fieldexec.Apply(in.Request.Input(from, ev, true))
		if err != nil {
			var fe *fieldexec.Error
			if errors.As(err, &fe) {
				code := hub.EUNPROCESSABLE
				if fe.Code == fieldexec.CodeConflict {
					code = hub.ECONFLICT
				}
				return &hub.Error{Code: code, Message: fe.Message, Fields: fe.Fields}
			}
			return err
		}
		now := f.now().UTC()
		occurred := now
		if in.Request.OccurredAt != nil {
			occurred = in.Request.OccurredAt.UTC()
		}
		skew := fieldexec.ClockSkewed(occurred, now)
		payload, _ := json.Marshal(in.Request.Payload)
		to := oc.To
		if oc.Repeat {
			to = status
		}
		res := TransitionOutcome{EventID: freshID(ctx, tx, "work_order_events", in.ID), ClockSkew: skew, FromStatus: status, ToStatus: to}
		result, _ := json.Marshal(res)
		var dev *string
		if in.Actor.DeviceID != "" {
			dev = &in.Actor.DeviceID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO work_order_events (id, work_order_id, event, from_status, to_status, actor_id, lat, lon, note,
			occurred_at, received_at, clock_skew, client_event_id, device_id, payload, result)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			res.EventID, in.WorkOrderID, in.Request.Event, status, to, in.Actor.PersonID, in.Request.Lat, in.Request.Lon,
			in.Request.Note, occurred, now, skew, in.Request.ClientEventID, dev, payload, result); err != nil {
			return postgres.Translate(err)
		}
		if !oc.Repeat {
			set := `status = $2, version = version + 1, updated_at = now()`
			switch {
			case to == fieldexec.StatusInProgress && status != fieldexec.StatusPaused:
				set += `, started_at = coalesce(started_at, $3)`
			case to == fieldexec.StatusInProgress:
				set += `, resumed_at = $3, paused_at = NULL`
			case to == fieldexec.StatusPaused:
				set += `, paused_at = $3`
			case to == fieldexec.StatusCompleted:
				set += `, completed_at = $3`
			case to == fieldexec.StatusCanceled:
				set += `, canceled_at = $3`
			}
			if oc.StopTimer {
				set += `, total_active_seconds = total_active_seconds + coalesce((SELECT greatest(0, extract(epoch FROM $3 - started_at))::bigint
					FROM work_order_worklogs WHERE work_order_id = $1 AND person_id = $4 AND ended_at IS NULL), 0)`
			}
			// Every parameter is referenced whatever the branch (pgx checks the count).
			if err := tx.QueryRow(ctx, `UPDATE work_orders SET `+set+` WHERE id = $1 AND $3::timestamptz IS NOT NULL AND $4::uuid IS NOT NULL RETURNING version`,
				in.WorkOrderID, to, occurred, in.Actor.PersonID).Scan(&res.Version); err != nil {
				return err
			}
			if oc.StopTimer {
				if _, err := tx.Exec(ctx, `UPDATE work_order_worklogs SET ended_at = greatest($3, started_at + interval '1 second')
					WHERE work_order_id = $1 AND person_id = $2 AND ended_at IS NULL AND $3 - started_at <= interval '16 hours'`,
					in.WorkOrderID, in.Actor.PersonID, occurred); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `DELETE FROM work_order_worklogs WHERE work_order_id = $1 AND person_id = $2 AND ended_at IS NULL`,
					in.WorkOrderID, in.Actor.PersonID); err != nil {
					return err
				}
			}
			if oc.StartTimer {
				// One open timer per person: close any other first.
				if _, err := tx.Exec(ctx, `UPDATE work_order_worklogs SET ended_at = greatest($2, started_at + interval '1 second')
					WHERE person_id = $1 AND ended_at IS NULL AND $2 - started_at <= interval '16 hours'`, in.Actor.PersonID, occurred); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `DELETE FROM work_order_worklogs WHERE person_id = $1 AND ended_at IS NULL`, in.Actor.PersonID); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO work_order_worklogs (work_order_id, person_id, started_at, source) VALUES ($1, $2, $3, 'timer')`,
					in.WorkOrderID, in.Actor.PersonID, occurred); err != nil {
					return err
				}
			}
		} else {
			res.Version = version
		}
		ep, _ := json.Marshal(map[string]any{"work_order_id": in.WorkOrderID, "event": in.Request.Event, "from_status": status,
			"to_status": to, "event_id": res.EventID, "device_id": in.Actor.DeviceID})
		if _, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ('work_order.field_event', 'work_order', $1, $2, $3)`,
			in.WorkOrderID, ep, in.Actor.PersonID); err != nil {
			return err
		}
		out = &res
		return nil
	})
	return out, err
}

// AddNote implements FieldService: idempotent by client_ref.
func (f *FieldStore) AddNote(ctx context.Context, in NoteInput) (*field.Note, bool, error) {
	if errs := in.Request.Validate(); errs != nil {
		return nil, false, hub.Invalid(errs)
	}
	var n field.Note
	replayed := false
	err := f.DB.InTx(ctx, func(tx pgx.Tx) error {
		var woID string
		err := tx.QueryRow(ctx, `SELECT id, work_order_id, body, coalesce(author_id::text, ''), is_internal, client_ref::text, created_at
			FROM work_order_notes WHERE client_ref = $1`, in.Request.ClientRef).
			Scan(&n.ID, &woID, &n.Body, &n.AuthorID, &n.IsInternal, &n.ClientRef, &n.CreatedAt)
		if err == nil {
			if woID != in.WorkOrderID {
				return hub.Errorf(hub.ECONFLICT, "client_ref %s was used for another job", in.Request.ClientRef)
			}
			replayed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var held bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_orders w WHERE w.id = $1 AND w.is_active AND (w.assigned_to = $2
			OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2)))`,
			in.WorkOrderID, in.Actor.PersonID).Scan(&held); err != nil {
			return err
		}
		if !held && !in.FormerHolder {
			return hub.Errorf(hub.ENOTFOUND, "job not found")
		}
		var dev *string
		if in.Actor.DeviceID != "" {
			dev = &in.Actor.DeviceID
		}
		n.ID = freshID(ctx, tx, "work_order_notes", in.ID)
		if err := tx.QueryRow(ctx, `INSERT INTO work_order_notes (id, work_order_id, author_id, body, client_ref, device_id)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING body, author_id::text, is_internal, client_ref::text, created_at`,
			n.ID, in.WorkOrderID, in.Actor.PersonID, in.Request.Body, in.Request.ClientRef, dev).
			Scan(&n.Body, &n.AuthorID, &n.IsInternal, &n.ClientRef, &n.CreatedAt); err != nil {
			return postgres.Translate(err)
		}
		ep, _ := json.Marshal(map[string]any{"work_order_id": in.WorkOrderID, "note_id": n.ID})
		_, err = tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ('work_order.note_added', 'work_order_note', $1, $2, $3)`,
			n.ID, ep, in.Actor.PersonID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return &n, replayed, nil
}

// freshID returns the device's id for a new row when it is a UUID not yet used in table, so the
// replica and the hub name the row alike; otherwise a new one.
func freshID(ctx context.Context, tx pgx.Tx, table, id string) string {
	if id == "" || !field.IsUUID(id) {
		return postgres.NewID()
	}
	var taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&taken); err != nil || taken {
		return postgres.NewID()
	}
	return strings.ToLower(id)
}
