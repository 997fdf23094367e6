package syncsvc

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/field"
)

// UploadResult is the data of an "upload_result" change (family "sync") on the technician's
// feed: the hub's answer to one uploaded change (edge-agent/PROTOCOL.md §4).
type UploadResult struct {
	DeviceID   string           `json:"device_id"`
	ChangeID   string           `json:"change_id"`
	ClientRef  string           `json:"client_ref"`
	Action     string           `json:"action"`
	EntityID   string           `json:"entity_id"`
	Status     string           `json:"status"` // applied | replayed | rejected
	HTTPStatus int              `json:"http_status"`
	Error      *field.ErrorBody `json:"error,omitempty"`
	Result     json.RawMessage  `json:"result,omitempty"`
	Conflicts  []ResultConflict `json:"conflicts,omitempty"`
	ClockSkew  bool             `json:"clock_skew,omitempty"`
}

// ResultConflict is a conflict log entry told to the device.
type ResultConflict struct {
	ID          string          `json:"id"`
	Entity      string          `json:"entity"`
	EntityID    string          `json:"entity_id"`
	Field       string          `json:"field"`
	HubValue    json.RawMessage `json:"hub_value"`
	DeviceValue json.RawMessage `json:"device_value"`
	Winner      string          `json:"winner"`
}

var createdBy = map[string]bool{"note": true, "attachment": true}

// actionEvents are the domain events upload actions write, with the payload member naming the
// row they added (the id in the action's result): the relay before their results re-reads what
// the relay's own pass re-reads for such an event (Binding.Touches: a note re-reads the job's row
// and that note, not every note of the job nor the plant around it). Other actions re-read
// everything of their jobs.
var actionEvents = map[string]struct{ topic, row string }{"note": {"work_order.note_added", "note_id"}}

// resultTouch is what the relay must re-read for result r (nil: everything of its job).
func resultTouch(bindings []Binding, r MutationResult) reread {
	ev, ok := actionEvents[r.Action]
	if !ok {
		return nil
	}
	var made struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(r.Result, &made)
	payload, _ := json.Marshal(map[string]string{"work_order_id": r.EntityID, ev.row: made.ID})
	return touchOf(bindings, domainEvent{Topic: ev.topic, Entity: r.Entity, EntityID: r.EntityID, Payload: payload})
}

// publishResults relays what the results of the upload batches changed, then publishes one
// upload_result per change on the technician's feed, batch after batch.
func (s *Service) publishResults(ctx context.Context, dev *applierDevice, done []answered) error {
	bindings := s.activeBindings(ctx)
	need := touchedRoots{}
	var sites []string
	for _, a := range done {
		for _, r := range a.results {
			if r.Status == StatusRejected || !validUUID(r.EntityID) {
				continue
			}
			if r.Entity == "site" {
				sites = append(sites, r.EntityID)
			} else {
				need.add(r.EntityID, resultTouch(bindings, r))
			}
		}
	}
	if len(sites) > 0 {
		rows, err := s.DB.Pool.Query(ctx, `SELECT id::text FROM work_orders WHERE site_id = ANY($1::uuid[])`, sites)
		if err != nil {
			return err
		}
		ids, err := collectStrings(rows)
		if err != nil {
			return err
		}
		for _, id := range ids {
			need.add(id, nil)
		}
	}
	if len(need) > 0 {
		s.relayMu.Lock()
		err := s.relayTouched(ctx, bindings, need)
		s.relayMu.Unlock()
		if err != nil {
			return err
		}
	}
	var changes []change.Change
	for _, a := range done {
		for _, r := range a.results {
			ref := r.ClientRef
			if ref == "" {
				ref = r.ChangeID
			}
			if ref == "" {
				continue
			}
			ur := UploadResult{DeviceID: dev.ID, ChangeID: r.ChangeID, ClientRef: r.ClientRef, Action: r.Action, EntityID: r.EntityID,
				Status: r.Status, HTTPStatus: http200(r.Action), Result: r.Result, ClockSkew: r.ClockSkew}
			switch {
			case r.Status == StatusRejected:
				ur.HTTPStatus = web.StatusFor(r.Code)
				code := r.Code
				if code == hub.EUNPROCESSABLE {
					code = hub.EINVALID
				}
				ur.Error = &field.ErrorBody{Code: code, Message: r.Reason, Fields: r.Fields}
			case r.Replayed:
				ur.Status, ur.HTTPStatus = "replayed", 200
			default:
				ur.Status = StatusApplied
			}
			for _, c := range r.conflicts {
				ur.Conflicts = append(ur.Conflicts, ResultConflict{ID: c.id, Entity: c.Entity, EntityID: c.EntityID, Field: c.Field,
					HubValue: c.Hub, DeviceValue: c.Device, Winner: c.Winner})
			}
			data, _ := json.Marshal(ur)
			cid := uuid.NewSHA1(uuid.NameSpaceOID, []byte(dev.TechnicianID+"|upload_result|"+ref+"|"+strconv.FormatUint(a.seq, 10))).String()
			changes = append(changes, change.Change{ID: cid, Family: "sync", Entity: "upload_result", EntityID: ref, Op: change.OpUpsert,
				Version: int64(a.seq), HLC: s.Clock.Now(), Data: data, SchemaVersion: change.SchemaVersion, CommittedAt: s.now().UTC()})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	batches, err := change.Split(changes, maxBatchBytes)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if _, err := s.down.Publish(ctx, dev.TechnicianID, b); err != nil {
			return err
		}
	}
	return nil
}

func http200(action string) int {
	if createdBy[action] {
		return 201
	}
	return 200
}

// attachmentData is the "attachment" action's data (PROTOCOL.md §3).
type attachmentData struct {
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

// recordAttachment records an uploaded attachment through the field service when it has its own
// (hub/workorder: the same code as the HTTP upload), else with addAttachment; replays of
// attachments addAttachment stored go to it. An upload of a technician the job was reassigned
// away from (formerHolder) still arrives, as events and notes do.
func (s *Service) recordAttachment(ctx context.Context, actor Actor, woID string, in attachmentData, formerHolder bool) (*field.Attachment, bool, error) {
	aa, ok := s.Field.(AttachmentAdder)
	if !ok || !field.IsUUID(in.ClientRef) || !sha256RE.MatchString(in.SHA256) {
		return s.addAttachment(ctx, actor, woID, in)
	}
	var known bool
	if err := s.conn(ctx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM field_attachments WHERE client_ref = $1::uuid)`, in.ClientRef).Scan(&known); err != nil {
		return nil, false, err
	}
	if known {
		return s.addAttachment(ctx, actor, woID, in)
	}
	if in.WorkOrderID == "" {
		in.WorkOrderID = woID
	}
	if in.WorkOrderID != woID {
		return nil, false, hub.Invalid(map[string]string{"work_order_id": "does not match the change's job"})
	}
	f, err := os.Open(s.blobPath(in.SHA256))
	if err != nil {
		return nil, false, hub.Errorf(hub.EUNPROCESSABLE, "the bytes of attachment %s are not on the hub: PUT /api/v1/sync/blobs/%s first", in.ClientRef, in.SHA256)
	}
	defer f.Close()
	return aa.AddAttachment(ctx, actor, AttachmentInput{Kind: in.Kind, WorkOrderID: woID, ClientRef: in.ClientRef, CapturedAt: in.CapturedAt,
		Lat: in.Lat, Lon: in.Lon, SignerName: in.SignerName, FileName: in.FileName, Content: f, FormerHolder: formerHolder})
}

// addAttachment records an attachment whose bytes are already stored, once by client_ref.
func (s *Service) addAttachment(ctx context.Context, actor Actor, woID string, in attachmentData) (*field.Attachment, bool, error) {
	if in.WorkOrderID == "" {
		in.WorkOrderID = woID
	}
	errs := field.AttachmentUpload{Kind: in.Kind, WorkOrderID: in.WorkOrderID, ClientRef: in.ClientRef, CapturedAt: in.CapturedAt,
		Lat: in.Lat, Lon: in.Lon, SignerName: in.SignerName, MIME: in.MIME, Size: in.Size}.Validate()
	if in.WorkOrderID != woID {
		errs = map[string]string{"work_order_id": "does not match the change's job"}
	}
	if !sha256RE.MatchString(in.SHA256) {
		if errs == nil {
			errs = map[string]string{}
		}
		errs["sha256"] = "the lower-case hex SHA-256 of the bytes is required"
	}
	if errs != nil {
		return nil, false, hub.Invalid(errs)
	}
	out := &field.Attachment{Kind: in.Kind, FileName: in.FileName, MIME: in.MIME, Size: in.Size, CapturedAt: in.CapturedAt,
		SignerName: in.SignerName, Lat: in.Lat, Lon: in.Lon}
	replayed := false
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var wo string
		err := tx.QueryRow(ctx, `SELECT id, work_order_id FROM field_attachments WHERE client_ref = $1`, in.ClientRef).Scan(&out.ID, &wo)
		if err == nil {
			if wo != woID {
				return hub.Errorf(hub.ECONFLICT, "client_ref %s was used for another job", in.ClientRef)
			}
			replayed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if st, err := os.Stat(s.blobPath(in.SHA256)); err != nil || st.Size() != in.Size {
			return hub.Errorf(hub.EUNPROCESSABLE, "the bytes of attachment %s are not on the hub: PUT /api/v1/sync/blobs/%s first", in.ClientRef, in.SHA256)
		}
		out.ID = freshID(ctx, tx, "field_attachments", in.ID)
		var dev *string
		if actor.DeviceID != "" {
			dev = &actor.DeviceID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO field_attachments (id, work_order_id, kind, storage_key, file_name, mime, size, lat, lon,
			captured_at, signer_name, uploaded_by, client_ref, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			out.ID, woID, in.Kind, in.SHA256, in.FileName, in.MIME, in.Size, in.Lat, in.Lon, in.CapturedAt, in.SignerName,
			actor.PersonID, in.ClientRef, dev); err != nil {
			return postgres.Translate(err)
		}
		ep, _ := json.Marshal(map[string]any{"work_order_id": woID, "attachment_id": out.ID})
		_, err = tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ('work_order.attachment_added', 'field_attachment', $1, $2, $3)`,
			out.ID, ep, actor.PersonID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out.URL = "/api/v1/field/attachments/" + out.ID + "/content"
	ref := in.ClientRef
	out.ClientRef = &ref
	return out, replayed, nil
}
