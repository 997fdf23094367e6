package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/scope"
)

// Outbox kinds (change.Change.Action upstream).
const (
	kindTransition = "transition"
	kindNote       = "note"
	kindAttachment = "attachment"
	kindConsume    = "consume"
	kindSurvey     = "survey"
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func invalidFields(fields field.Errors) error {
	return &agent.Error{Code: agent.EINVALID, Message: "the request is not valid", Fields: fields, Status: http.StatusUnprocessableEntity}
}

// write runs a local write: fn in one transaction, then OnWrite.
func (d *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := d.inTx(ctx, fn); err != nil {
		return err
	}
	if d.OnWrite != nil {
		d.OnWrite()
	}
	return nil
}

// enqueue adds the upstream change of a technician action to the outbox (in the action's
// transaction).
//
// wire is the upload's data: exactly the field API request body (plus the created row's id),
// which the hub decodes strictly. effect is what the device computed locally, kept beside it
// for replays (nil when wire is enough).
func (d *DB) enqueue(ctx context.Context, tx *sql.Tx, kind string, j job, clientRef string, wire, effect any, blob string) error {
	raw, err := json.Marshal(wire)
	if err != nil {
		return err
	}
	var eff any
	if effect != nil {
		b, err := json.Marshal(effect)
		if err != nil {
			return err
		}
		eff = string(b)
	}
	now := d.now()
	c := change.Change{
		ID: newID(), Family: scope.WorkOrders, Entity: workOrderEntity, EntityID: j.ID, Op: change.OpUpsert,
		HLC: d.clock().Now(), Data: raw, Action: kind, BaseVersion: j.Version, DeviceID: cmpOr(d.DeviceID, "device"),
		ClientRef: clientRef, SchemaVersion: change.SchemaVersion, CommittedAt: now.Truncate(time.Microsecond),
	}
	if err := c.Validate(); err != nil {
		return err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return err
	}
	var b any
	if blob != "" {
		b = blob
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO outbox (change_id, client_ref, kind, work_order_id, payload, effect, blob_sha256, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, clientRef, kind, j.ID, string(payload), eff, b, ts(now))
	return err
}

// outboxHas reports whether an action with clientRef was already taken (a replay).
func outboxHas(ctx context.Context, tx *sql.Tx, clientRef string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE client_ref = ?`, clientRef).Scan(&n)
	return n > 0, err
}

// jobFor loads a job for an action by person: 404 outside the scope, 403 for a crew member when
// primary is required.
func jobFor(ctx context.Context, tx *sql.Tx, id, person string, primary bool) (job, error) {
	j, err := loadJob(ctx, tx, id)
	if err != nil {
		return job{}, err
	}
	crew, err := loadCrew(ctx, tx, id)
	if err != nil {
		return job{}, err
	}
	member, isPrimary := access(j, crew, person)
	switch {
	case !member:
		return job{}, agent.Errorf(agent.ENOTFOUND, "job not found")
	case primary && !isPrimary:
		return job{}, agent.Errorf(agent.EFORBIDDEN, "only the primary technician can do this")
	}
	return j, nil
}

// transitionWire and noteWire are the uploads' data: the request and the created row's id.
type transitionWire struct {
	field.TransitionRequest
	ID string `json:"id"`
}

type noteWire struct {
	field.NoteRequest
	ID string `json:"id"`
}

// transitionData is the local effect of a transition: the request, plus the id the device gave
// the event and what it computed.
type transitionData struct {
	field.TransitionRequest
	ID          string    `json:"id"`
	WorkOrderID string    `json:"work_order_id"`
	ActorID     string    `json:"actor_id"`
	ReceivedAt  time.Time `json:"received_at"`
	ClockSkew   bool      `json:"clock_skew"`
}

func evidence(ctx context.Context, q querier, woID string) (fieldexec.Evidence, error) {
	var ev fieldexec.Evidence
	err := q.QueryRowContext(ctx, `SELECT coalesce(sum(kind = 'photo'), 0), coalesce(sum(kind = 'signature'), 0)
		FROM field_attachments WHERE work_order_id = ? AND is_active`, woID).Scan(&ev.Photos, &ev.Signatures)
	return ev, err
}

// Transition fires a technician event at a job: the shared state machine and gate, the primary
// technician only, idempotent by client_event_id. Data and outbox commit together.
func (d *DB) Transition(ctx context.Context, person, id string, req field.TransitionRequest) (field.TransitionResponse, error) {
	if errs := req.Validate(); errs != nil {
		return field.TransitionResponse{}, invalidFields(errs)
	}
	var ev field.TransitionEvent
	var out field.Job
	err := d.write(ctx, func(tx *sql.Tx) error {
		j, err := jobFor(ctx, tx, id, person, true)
		if err != nil {
			return err
		}
		// A replay answers with the original event.
		var data string
		err = tx.QueryRowContext(ctx, `SELECT data FROM work_order_events WHERE client_event_id = ?`, req.ClientEventID).Scan(&data)
		switch {
		case err == nil:
			var e eventData
			_ = json.Unmarshal([]byte(data), &e)
			if e.WorkOrderID != "" && e.WorkOrderID != id {
				return agent.Errorf(agent.ECONFLICT, "client_event_id was used for another job")
			}
			ev = field.TransitionEvent{ID: e.ID, Replayed: true, ClockSkew: e.ClockSkew}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		default:
			var effect sql.NullString
			err = tx.QueryRowContext(ctx, `SELECT effect FROM outbox WHERE client_ref = ?`, req.ClientEventID).Scan(&effect)
			if err == nil { // parked by the hub: still the same answer
				var td transitionData
				_ = json.Unmarshal([]byte(effect.String), &td)
				ev = field.TransitionEvent{ID: td.ID, Replayed: true, ClockSkew: td.ClockSkew}
				break
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			ev, err = d.fire(ctx, tx, j, person, req)
			if err != nil {
				return err
			}
		}
		out, err = d.findJob(ctx, tx, person, id)
		return err
	})
	if err != nil {
		return field.TransitionResponse{}, err
	}
	return field.TransitionResponse{Job: out, Event: ev}, nil
}

func (d *DB) fire(ctx context.Context, tx *sql.Tx, j job, person string, req field.TransitionRequest) (field.TransitionEvent, error) {
	ev, err := evidence(ctx, tx, j.ID)
	if err != nil {
		return field.TransitionEvent{}, err
	}
	in := req.Input(fieldexec.Status(j.Status), ev, d.GateEnabled)
	if in.At = d.now(); req.OccurredAt != nil {
		in.At = *req.OccurredAt
	}
	if in.Last, in.LastAt, err = lastEvent(ctx, tx, j.ID); err != nil {
		return field.TransitionEvent{}, err
	}
	out, err := fieldexec.Apply(in)
	if err != nil {
		var fe *fieldexec.Error
		if errors.As(err, &fe) {
			e := &agent.Error{Code: fe.Code, Message: fe.Message, Fields: fe.Fields}
			if fe.Code == fieldexec.CodeInvalid {
				e.Status = http.StatusUnprocessableEntity
			}
			return field.TransitionEvent{}, e
		}
		return field.TransitionEvent{}, err
	}
	if out.Repeat { // a double tap: nothing happens, answered as a replay of the last event
		var lastID string
		_ = tx.QueryRowContext(ctx, `SELECT id FROM work_order_events WHERE work_order_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 1`, j.ID).Scan(&lastID)
		return field.TransitionEvent{ID: lastID, Replayed: true}, nil
	}
	now := d.now()
	if req.OccurredAt == nil {
		t := now
		req.OccurredAt = &t
	}
	td := transitionData{TransitionRequest: req, ID: newID(), WorkOrderID: j.ID, ActorID: person, ReceivedAt: now,
		ClockSkew: fieldexec.ClockSkewed(*req.OccurredAt, now)}
	if err := d.applyTransition(ctx, tx, j, td, out); err != nil {
		return field.TransitionEvent{}, err
	}
	if err := d.enqueue(ctx, tx, kindTransition, j, req.ClientEventID, transitionWire{req, td.ID}, td, ""); err != nil {
		return field.TransitionEvent{}, err
	}
	return field.TransitionEvent{ID: td.ID, ClockSkew: td.ClockSkew}, nil
}

// lastEvent returns the job's latest event and when it occurred (zero values when none), for
// the state machine to tell a double tap.
func lastEvent(ctx context.Context, tx *sql.Tx, jobID string) (fieldexec.Event, time.Time, error) {
	var ev, at sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT json_extract(data, '$.event'), occurred_at FROM work_order_events WHERE work_order_id = ?
		ORDER BY occurred_at DESC, id DESC LIMIT 1`, jobID).Scan(&ev, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	t, _ := time.Parse(time.RFC3339Nano, at.String)
	return fieldexec.Event(ev.String), t, nil
}

// applyTransition is the local effect of an accepted event: status, timer and times in the
// job's overlay, and the event row.
func (d *DB) applyTransition(ctx context.Context, tx *sql.Tx, j job, td transitionData, out fieldexec.Outcome) error {
	at := td.OccurredAt.UTC()
	s := func(t time.Time) *string { v := ts(t); return &v }
	o := j.overlay()
	o.Status = string(out.To)
	if out.StartTimer {
		if o.StartedAt == nil {
			o.StartedAt = s(at)
		}
		o.ResumedAt = s(at)
	}
	if out.StopTimer {
		since := o.ResumedAt
		if since == nil {
			since = o.StartedAt
		}
		if since != nil {
			if t0, ok := parseTime(*since); ok && at.After(t0) {
				o.TotalActiveSeconds += float64(int64(at.Sub(t0).Seconds()))
			}
		}
	}
	switch out.To {
	case fieldexec.StatusPaused:
		if out.StatusChanged {
			o.PausedAt = s(at)
		}
	case fieldexec.StatusCompleted:
		o.CompletedAt = s(at)
	case fieldexec.StatusCanceled:
		o.CanceledAt = s(at)
	}
	local, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE work_orders SET local = ? WHERE id = ?`, string(local), j.ID); err != nil {
		return err
	}
	e := eventData{ID: td.ID, WorkOrderID: j.ID, Event: td.Event, FromStatus: fieldexec.Status(j.Status), ToStatus: out.To,
		ActorID: &td.ActorID, Lat: td.Lat, Lon: td.Lon, Note: td.Note, OccurredAt: ts(at), ReceivedAt: ts(td.ReceivedAt),
		ClockSkew: td.ClockSkew, ClientEventID: td.ClientEventID, Payload: td.Payload}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO work_order_events (id, version, data, pending) VALUES (?, 0, ?, 1)`, td.ID, string(data))
	return err
}

// AddNote adds a note to a job (any crew member), idempotent by client_ref: 201 and true when
// created, the original note and false on replay.
func (d *DB) AddNote(ctx context.Context, person, author, id string, req field.NoteRequest) (field.Note, bool, error) {
	if errs := req.Validate(); errs != nil {
		return field.Note{}, false, invalidFields(errs)
	}
	var note field.Note
	created := false
	err := d.write(ctx, func(tx *sql.Tx) error {
		j, err := jobFor(ctx, tx, id, person, false)
		if err != nil {
			return err
		}
		var data string
		err = tx.QueryRowContext(ctx, `SELECT data FROM work_order_notes WHERE client_ref = ?`, req.ClientRef).Scan(&data)
		if err == nil {
			var n noteData
			_ = json.Unmarshal([]byte(data), &n)
			note = n.note()
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		nd := noteInsert{ID: newID(), WorkOrderID: j.ID, NoteRequest: req, AuthorID: person, AuthorName: author, CreatedAt: ts(d.now())}
		if err := insertNote(ctx, tx, nd); err != nil {
			return err
		}
		if err := d.enqueue(ctx, tx, kindNote, j, req.ClientRef, noteWire{req, nd.ID}, nd, ""); err != nil {
			return err
		}
		note, created = nd.data().note(), true
		return nil
	})
	return note, created, err
}

type noteInsert struct {
	field.NoteRequest
	ID          string `json:"id"`
	WorkOrderID string `json:"work_order_id"`
	AuthorID    string `json:"author_id"`
	AuthorName  string `json:"author_name"`
	CreatedAt   string `json:"created_at"`
}

func (n noteInsert) data() noteData {
	ref := n.ClientRef
	return noteData{ID: n.ID, Body: n.Body, AuthorID: &n.AuthorID, AuthorName: n.AuthorName, ClientRef: &ref, CreatedAt: n.CreatedAt}
}

func insertNote(ctx context.Context, tx *sql.Tx, n noteInsert) error {
	row := struct {
		noteData
		WorkOrderID string `json:"work_order_id"`
	}{n.data(), n.WorkOrderID}
	data, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO work_order_notes (id, version, data, pending) VALUES (?, 0, ?, 1)`, n.ID, string(data))
	return err
}

// AttachmentInput is a multipart upload.
type AttachmentInput struct {
	field.AttachmentUpload
	FileName string
	Content  []byte
}

type attachmentInsert struct {
	ID          string     `json:"id"`
	WorkOrderID string     `json:"work_order_id"`
	Kind        string     `json:"kind"`
	ClientRef   string     `json:"client_ref"`
	CapturedAt  *time.Time `json:"captured_at"`
	Lat         *float64   `json:"lat"`
	Lon         *float64   `json:"lon"`
	SignerName  string     `json:"signer_name"`
	FileName    string     `json:"file_name"`
	MIME        string     `json:"mime"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
}

func (a attachmentInsert) data() attachmentData {
	ref, active := a.ClientRef, true
	var captured *string
	if a.CapturedAt != nil {
		v := ts(*a.CapturedAt)
		captured = &v
	}
	return attachmentData{ID: a.ID, WorkOrder: a.WorkOrderID, Kind: a.Kind, FileName: a.FileName, MIME: a.MIME, Size: a.Size,
		StorageKey: a.SHA256, CapturedAt: captured, ClientRef: &ref, SignerName: a.SignerName, Lat: a.Lat, Lon: a.Lon, IsActive: &active}
}

func insertAttachment(ctx context.Context, tx *sql.Tx, a attachmentInsert, created time.Time) error {
	row := a.data()
	row.CreatedAt = ts(created)
	data, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO field_attachments (id, version, data, pending) VALUES (?, 0, ?, 1)`, a.ID, string(data))
	return err
}

// BlobPath is where content with hash sum is kept.
func (d *DB) BlobPath(sum string) string {
	if len(sum) < 2 {
		return filepath.Join(d.blobsDir, "_", sum)
	}
	return filepath.Join(d.blobsDir, sum[:2], sum)
}

// PutBlob stores content by its SHA-256 (idempotent) and returns the hash.
func (d *DB) PutBlob(content []byte) (string, error) {
	h := sha256.Sum256(content)
	sum := hex.EncodeToString(h[:])
	p := d.BlobPath(sum)
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(content)) {
		return sum, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("sqlite: blob: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".blob-*")
	if err != nil {
		return "", fmt.Errorf("sqlite: blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return "", fmt.Errorf("sqlite: blob: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("sqlite: blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("sqlite: blob: %w", err)
	}
	return sum, nil
}

// AddAttachment stores the content by hash (before the transaction, so the row never points at
// missing bytes) and adds the attachment and its upload in one transaction. Idempotent by
// client_ref.
func (d *DB) AddAttachment(ctx context.Context, person string, in AttachmentInput) (field.Attachment, bool, error) {
	in.Size = int64(len(in.Content))
	if in.MIME == "" {
		in.MIME = http.DetectContentType(in.Content)
	}
	if errs := in.Validate(); errs != nil {
		return field.Attachment{}, false, invalidFields(errs)
	}
	sum, err := d.PutBlob(in.Content)
	if err != nil {
		return field.Attachment{}, false, err
	}
	var att field.Attachment
	created := false
	err = d.write(ctx, func(tx *sql.Tx) error {
		j, err := jobFor(ctx, tx, in.WorkOrderID, person, false)
		if err != nil {
			return err
		}
		var data string
		err = tx.QueryRowContext(ctx, `SELECT data FROM field_attachments WHERE client_ref = ?`, in.ClientRef).Scan(&data)
		if err == nil {
			var a attachmentData
			_ = json.Unmarshal([]byte(data), &a)
			att = a.attachment()
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := d.now()
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO blobs (sha256, mime, size, created_at) VALUES (?, ?, ?, ?)`, sum, in.MIME, in.Size, ts(now)); err != nil {
			return err
		}
		a := attachmentInsert{ID: newID(), WorkOrderID: j.ID, Kind: in.Kind, ClientRef: in.ClientRef, CapturedAt: in.CapturedAt,
			Lat: in.Lat, Lon: in.Lon, SignerName: in.SignerName, FileName: in.FileName, MIME: in.MIME, Size: in.Size, SHA256: sum}
		if err := insertAttachment(ctx, tx, a, now); err != nil {
			return err
		}
		if err := d.enqueue(ctx, tx, kindAttachment, j, in.ClientRef, a, nil, sum); err != nil {
			return err
		}
		att, created = a.data().attachment(), true
		return nil
	})
	return att, created, err
}

// AttachmentContent returns an attachment's type and the path of its content ("" when the
// content is not on this device yet: the caller fetches it from the hub with the storage key).
func (d *DB) AttachmentContent(ctx context.Context, person, id string) (mime, path, storageKey string, err error) {
	var data string
	err = d.db.QueryRowContext(ctx, `SELECT data FROM field_attachments WHERE id = ? AND is_active`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", agent.Errorf(agent.ENOTFOUND, "attachment not found")
	}
	if err != nil {
		return "", "", "", err
	}
	var a attachmentData
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return "", "", "", err
	}
	if a.WorkOrder != "" {
		if _, err := d.FindJob(ctx, person, a.WorkOrder); err != nil {
			return "", "", "", err
		}
	}
	p := d.BlobPath(a.StorageKey)
	if _, err := os.Stat(p); err != nil {
		p = ""
	}
	return a.MIME, p, a.StorageKey, nil
}

// Consume records materials consumed on a job (calls add up), idempotent by client_ref.
func (d *DB) Consume(ctx context.Context, person, id string, req field.ConsumeRequest) (field.ConsumeResponse, error) {
	if errs := req.Validate(); errs != nil {
		return field.ConsumeResponse{}, invalidFields(errs)
	}
	var out field.ConsumeResponse
	err := d.write(ctx, func(tx *sql.Tx) error {
		j, err := jobFor(ctx, tx, id, person, false)
		if err != nil {
			return err
		}
		seen, err := outboxHas(ctx, tx, req.ClientRef)
		if err != nil {
			return err
		}
		if !seen {
			errs := field.Errors{}
			for i, l := range req.Lines {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM work_order_materials WHERE id = ? AND work_order_id = ?`, l.MaterialID, id).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					errs[fmt.Sprintf("lines[%d].material_id", i)] = "no such material on this job"
				}
			}
			if len(errs) > 0 {
				return invalidFields(errs)
			}
			if err := applyConsume(ctx, tx, id, req); err != nil {
				return err
			}
			if err := d.enqueue(ctx, tx, kindConsume, j, req.ClientRef, req, nil, ""); err != nil {
				return err
			}
		}
		out.Materials, err = loadMaterials(ctx, tx, id)
		return err
	})
	return out, err
}

func applyConsume(ctx context.Context, tx *sql.Tx, woID string, req field.ConsumeRequest) error {
	for _, l := range req.Lines {
		var (
			data  string
			local sql.NullString
		)
		err := tx.QueryRowContext(ctx, `SELECT data, local FROM work_order_materials WHERE id = ? AND work_order_id = ?`, l.MaterialID, woID).Scan(&data, &local)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		var m materialData
		_ = json.Unmarshal([]byte(data), &m)
		if local.Valid {
			_ = json.Unmarshal([]byte(local.String), &m)
		}
		o, _ := json.Marshal(map[string]any{"consumed_quantity": m.used() + l.Quantity, "quantity_used": m.used() + l.Quantity, "status": field.MaterialUsed})
		if _, err := tx.ExecContext(ctx, `UPDATE work_order_materials SET local = ? WHERE id = ?`, string(o), l.MaterialID); err != nil {
			return err
		}
	}
	return nil
}

// SubmitSurvey records survey answers on a job, idempotent by client_ref.
func (d *DB) SubmitSurvey(ctx context.Context, person, id string, req field.SurveyRequest) (*field.Survey, error) {
	var out *field.Survey
	err := d.write(ctx, func(tx *sql.Tx) error {
		j, err := jobFor(ctx, tx, id, person, false)
		if err != nil {
			return err
		}
		t, _, _, err := surveyOf(ctx, tx, j)
		if err != nil {
			return err
		}
		if t == nil {
			return agent.Errorf(agent.ENOTFOUND, "this job has no survey")
		}
		seen, err := outboxHas(ctx, tx, req.ClientRef)
		if err != nil {
			return err
		}
		if !seen {
			if errs := req.Validate(t.Questions...); errs != nil {
				return invalidFields(errs)
			}
			sd := surveyData{SurveyRequest: req, TemplateID: t.ID, WorkOrderID: j.ID}
			if err := d.applySurvey(ctx, tx, j, sd); err != nil {
				return err
			}
			if err := d.enqueue(ctx, tx, kindSurvey, j, req.ClientRef, req, sd, ""); err != nil {
				return err
			}
		}
		out, err = loadSurvey(ctx, tx, j)
		return err
	})
	return out, err
}

type surveyData struct {
	field.SurveyRequest
	TemplateID  string `json:"template_id"`
	WorkOrderID string `json:"work_order_id"`
}

func (d *DB) applySurvey(ctx context.Context, tx *sql.Tx, j job, sd surveyData) error {
	_, resp, respID, err := surveyOf(ctx, tx, j)
	if err != nil {
		return err
	}
	if resp == nil {
		respID = newID()
		row, _ := json.Marshal(map[string]any{"id": respID, "work_order_id": j.ID, "template_id": sd.TemplateID, "answers": map[string]any{}})
		if _, err := tx.ExecContext(ctx, `INSERT INTO survey_responses (id, version, data, pending) VALUES (?, 0, ?, 1)`, respID, string(row)); err != nil {
			return err
		}
		resp = &responseData{}
	}
	answers := map[string]json.RawMessage{}
	var local sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT local FROM survey_responses WHERE id = ?`, respID).Scan(&local); err != nil {
		return err
	}
	if local.Valid {
		var l responseData
		if json.Unmarshal([]byte(local.String), &l) == nil {
			answers = l.Answers
		}
	}
	if answers == nil {
		answers = map[string]json.RawMessage{}
	}
	for k, v := range sd.Answers {
		answers[k] = v
	}
	o, _ := json.Marshal(map[string]any{"answers": answers})
	_, err = tx.ExecContext(ctx, `UPDATE survey_responses SET local = ? WHERE id = ?`, string(o), respID)
	return err
}

// replay re-applies the local effect of an unacknowledged upload on top of the hub's rows
// (rebase). Effects the hub already holds are skipped.
func (d *DB) replay(ctx context.Context, tx *sql.Tx, c change.Change, effect json.RawMessage) error {
	var j job
	if c.Action == kindTransition || c.Action == kindSurvey {
		var err error
		if j, err = loadJob(ctx, tx, c.EntityID); err != nil {
			return err
		}
	}
	data := c.Data
	if len(effect) > 0 {
		data = effect
	}
	switch c.Action {
	case kindTransition:
		var td transitionData
		if err := json.Unmarshal(data, &td); err != nil {
			return err
		}
		var pending int
		err := tx.QueryRowContext(ctx, `SELECT pending FROM work_order_events WHERE client_event_id = ?`, td.ClientEventID).Scan(&pending)
		if err == nil && pending == 0 {
			return nil // the hub applied it already
		}
		if td.OccurredAt == nil {
			td.OccurredAt = &td.ReceivedAt
		}
		out, err := fieldexec.Apply(td.Input(fieldexec.Status(j.Status), fieldexec.Evidence{}, false))
		if err != nil || out.Repeat {
			return err
		}
		return d.applyTransition(ctx, tx, j, td, out)
	case kindNote:
		var n noteInsert
		if err := json.Unmarshal(data, &n); err != nil {
			return err
		}
		return insertNote(ctx, tx, n)
	case kindAttachment:
		var a attachmentInsert
		if err := json.Unmarshal(c.Data, &a); err != nil {
			return err
		}
		return insertAttachment(ctx, tx, a, c.CommittedAt)
	case kindConsume:
		var r field.ConsumeRequest
		if err := json.Unmarshal(c.Data, &r); err != nil {
			return err
		}
		return applyConsume(ctx, tx, c.EntityID, r)
	case kindSurvey:
		var sd surveyData
		if err := json.Unmarshal(data, &sd); err != nil {
			return err
		}
		return d.applySurvey(ctx, tx, j, sd)
	}
	return nil
}
