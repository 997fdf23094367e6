package syncsvc

import (
	"context"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

// AttachmentInput is an attachment whose bytes the hub already holds, handed to the work order
// service the way its HTTP upload handler does.
type AttachmentInput struct {
	Kind        string
	WorkOrderID string
	ClientRef   string
	CapturedAt  *time.Time
	Lat, Lon    *float64
	SignerName  string
	FileName    string
	Content     io.Reader
	// FormerHolder: the job was reassigned away from the actor while the device was offline;
	// the upload still arrives (a field fact), as events and notes do.
	FormerHolder bool
}

// AttachmentAdder is implemented by a FieldService that records attachments itself (the work order
// service: same validation, MIME sniffing and blob layout as POST /api/v1/field/attachments).
type AttachmentAdder interface {
	AddAttachment(ctx context.Context, actor Actor, in AttachmentInput) (*field.Attachment, bool, error)
}

// FieldOptions are what only a device that was offline needs from the field service (converted
// to hub/workorder.FieldOptions in hub/app/areas.go).
type FieldOptions struct {
	// ID is the id the device gave the row (event or note); used when it is a fresh UUID.
	ID string
	// AssumeFrom judges the event from the status the device saw: the office changed it
	// meanwhile, the field fact stands and the applier opens a conflict for review.
	AssumeFrom fieldexec.Status
	// FormerHolder lets the technician's edits arrive although the job was reassigned away from
	// them while the device was offline.
	FormerHolder bool
}

// HubField is the FieldService that applies device uploads through the hub's own services, the
// ones the HTTP field API calls (hub/app/areas.go wires them), so offline and online writes run
// the same code:
//
//   - EventFn, NoteFn, NotesFn, AttachmentFn: hub/workorder (ApplyFieldEventWith, AddFieldNoteWith,
//     AddFieldNotes, AddAttachment);
//   - ConsumeFn: hub/inventory ConsumeMaterialsWith;
//   - SurveyFn: hub/survey SubmitSurveyWith.
//
// Fallback (the built-in FieldStore, same sync/fieldexec state machine) answers what the wired
// services cannot: events and notes when EventFn/NoteFn are nil, and replays of events it stored
// itself before the services were wired.
type HubField struct {
	EventFn      func(ctx context.Context, actorID, deviceID, jobID string, req field.TransitionRequest, opt FieldOptions) (*field.TransitionResponse, error)
	NoteFn       func(ctx context.Context, actorID, deviceID, jobID string, req field.NoteRequest, opt FieldOptions) (*field.Note, bool, error)
	NotesFn      func(ctx context.Context, actorID, deviceID string, in []NoteInput) ([]NoteOutcome, error)
	AttachmentFn func(ctx context.Context, actorID, deviceID string, in AttachmentInput) (*field.Attachment, bool, error)
	ConsumeFn    func(ctx context.Context, actorID, deviceID, jobID string, req field.ConsumeRequest, opt FieldOptions) (*field.ConsumeResponse, error)
	SurveyFn     func(ctx context.Context, actorID, deviceID, jobID string, req field.SurveyRequest, opt FieldOptions) (*field.Survey, error)
	Fallback     *FieldStore
}

var (
	_ FieldService     = (*HubField)(nil)
	_ MaterialConsumer = (*HubField)(nil)
	_ SurveySubmitter  = (*HubField)(nil)
	_ AttachmentAdder  = (*HubField)(nil)
	_ NotesAdder       = (*HubField)(nil)
)

func (h *HubField) exists(ctx context.Context, sql string, args ...any) (bool, error) {
	var ok bool
	var q interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	} = h.Fallback.DB.Pool
	if tx, in := postgres.TxFrom(ctx); in { // the applier's batch: see its earlier changes
		q = tx
	}
	err := q.QueryRow(ctx, `SELECT EXISTS (`+sql+`)`, args...).Scan(&ok)
	return ok, err
}

// Transition implements FieldService.
func (h *HubField) Transition(ctx context.Context, in TransitionInput) (*TransitionOutcome, error) {
	if h.EventFn == nil {
		return h.Fallback.Transition(ctx, in)
	}
	if errs := in.Request.Validate(); errs != nil {
		return nil, hub.Invalid(errs)
	}
	// An event the built-in store applied (no stored field API answer) is replayed by it.
	legacy, err := h.exists(ctx, `SELECT 1 FROM work_order_events WHERE client_event_id = $1 AND (result IS NULL OR NOT result ? 'job')`, in.Request.ClientEventID)
	if err != nil {
		return nil, err
	}
	if legacy {
		return h.Fallback.Transition(ctx, in)
	}
	resp, err := h.EventFn(ctx, in.Actor.PersonID, in.Actor.DeviceID, in.WorkOrderID, in.Request,
		FieldOptions{ID: in.ID, AssumeFrom: in.AssumeFrom, FormerHolder: in.FormerHolder})
	if err != nil {
		return nil, err
	}
	out := &TransitionOutcome{EventID: resp.Event.ID, Replayed: resp.Event.Replayed, ClockSkew: resp.Event.ClockSkew,
		ToStatus: resp.Job.Status, Version: resp.Job.Version}
	for _, e := range resp.Job.Events {
		if e.ID == resp.Event.ID {
			out.FromStatus, out.ToStatus = e.FromStatus, e.ToStatus
		}
	}
	return out, nil
}

// AddNote implements FieldService.
func (h *HubField) AddNote(ctx context.Context, in NoteInput) (*field.Note, bool, error) {
	if h.NoteFn == nil {
		return h.Fallback.AddNote(ctx, in)
	}
	n, created, err := h.NoteFn(ctx, in.Actor.PersonID, in.Actor.DeviceID, in.WorkOrderID, in.Request,
		FieldOptions{ID: in.ID, FormerHolder: in.FormerHolder})
	return n, !created && err == nil, err
}

// AddNotes implements NotesAdder: with NotesFn for each run of one actor's notes, else note by
// note with AddNote.
func (h *HubField) AddNotes(ctx context.Context, in []NoteInput) ([]NoteOutcome, error) {
	out := make([]NoteOutcome, 0, len(in))
	for len(in) > 0 {
		n := 1
		for n < len(in) && in[n].Actor == in[0].Actor {
			n++
		}
		run := in[:n]
		in = in[n:]
		if h.NotesFn != nil {
			rs, err := h.NotesFn(ctx, run[0].Actor.PersonID, run[0].Actor.DeviceID, run)
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
			continue
		}
		for _, ni := range run {
			note, replayed, err := h.AddNote(ctx, ni)
			if err != nil && hub.ErrorCode(err) == hub.EINTERNAL {
				return nil, err
			}
			out = append(out, NoteOutcome{Note: note, Replayed: replayed, Err: err})
		}
	}
	return out, nil
}

// ConsumeMaterials implements MaterialConsumer with hub/inventory.
func (h *HubField) ConsumeMaterials(ctx context.Context, actor Actor, workOrderID string, req field.ConsumeRequest, opt FieldOptions) (*field.ConsumeResponse, bool, error) {
	if h.ConsumeFn == nil {
		return nil, false, hub.Errorf(hub.EINVALID, "materials are not replicated by this hub")
	}
	replayed := false
	if field.IsUUID(req.ClientRef) {
		var err error
		if replayed, err = h.exists(ctx, `SELECT 1 FROM material_consumptions WHERE client_ref = $1::uuid`, req.ClientRef); err != nil {
			return nil, false, err
		}
	}
	out, err := h.ConsumeFn(ctx, actor.PersonID, actor.DeviceID, workOrderID, req, opt)
	return out, replayed, err
}

// SubmitSurvey implements SurveySubmitter with hub/survey.
func (h *HubField) SubmitSurvey(ctx context.Context, actor Actor, workOrderID string, req field.SurveyRequest, opt FieldOptions) (bool, error) {
	if h.SurveyFn == nil {
		return false, hub.Errorf(hub.EINVALID, "surveys are not replicated by this hub")
	}
	replayed := false
	if field.IsUUID(req.ClientRef) {
		var err error
		if replayed, err = h.exists(ctx, `SELECT 1 FROM survey_submissions WHERE client_ref = $1::uuid`, req.ClientRef); err != nil {
			return false, err
		}
	}
	_, err := h.SurveyFn(ctx, actor.PersonID, actor.DeviceID, workOrderID, req, opt)
	return replayed, err
}

// AddAttachment implements AttachmentAdder with hub/workorder.
func (h *HubField) AddAttachment(ctx context.Context, actor Actor, in AttachmentInput) (*field.Attachment, bool, error) {
	if h.AttachmentFn == nil {
		return nil, false, hub.Errorf(hub.EINVALID, "no attachment service")
	}
	a, created, err := h.AttachmentFn(ctx, actor.PersonID, actor.DeviceID, in)
	return a, !created && err == nil, err
}
