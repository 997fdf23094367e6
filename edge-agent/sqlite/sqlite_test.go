package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/hlc"
)

const (
	techID   = "0195f000-0000-7000-8000-000000000001"
	helperID = "0195f000-0000-7000-8000-000000000002"
	deviceID = "0195f000-0000-7000-8000-0000000000d1"
)

func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "replica.db"), filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	db.DeviceID, db.TechnicianID = deviceID, techID
	t.Cleanup(func() { db.Close() })
	return db
}

var nextSeq change.Cursor

func down(entity, id string, version int64, data map[string]any) change.Change {
	if data == nil {
		data = map[string]any{}
	}
	data["id"] = id
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.NewString(), Family: "x", Entity: entity, EntityID: id, Op: change.OpUpsert, Version: version,
		HLC: hlc.Timestamp{Wall: time.Now().UnixMilli(), Node: "hub"}, Data: raw, SchemaVersion: change.SchemaVersion}
}

func apply(t testing.TB, db *sqlite.DB, changes ...change.Change) change.Cursor {
	t.Helper()
	nextSeq++
	b := change.Batch{ID: change.BatchID(changes), Seq: nextSeq, Changes: changes}
	if err := db.Apply(context.Background(), "down", b); err != nil {
		t.Fatal(err)
	}
	return nextSeq
}

func woData(status string, version int64) map[string]any {
	return map[string]any{"number": "WO-000001", "title": "Install ONT", "status": status, "priority": "normal", "work_type": "install",
		"assigned_to": techID, "customer_id": "c1", "site_address": "1 Main St", "site_lat": 6.5, "site_lon": 3.4,
		"scheduled_start": time.Now().UTC().Format(time.RFC3339), "tags": []string{"fiber"}, "version": version}
}

// seedJob puts a dispatched job with crew, customer and a material in the replica.
func seedJob(t testing.TB, db *sqlite.DB, id string) {
	t.Helper()
	apply(t, db,
		down("work_order", id, 1, woData("dispatched", 1)),
		down("work_order_assignment", id+":"+techID, 1, map[string]any{"work_order_id": id, "person_id": techID, "person_name": "Tech One", "is_primary": true}),
		down("work_order_assignment", id+":"+helperID, 1, map[string]any{"work_order_id": id, "person_id": helperID, "person_name": "Helper", "is_primary": false}),
		down("customer", "c1", 1, map[string]any{"name": "Ada", "phone": "+234", "email": "ada@example.com", "address": "1 Main St"}),
		down("work_order_material", matID(id), 1, map[string]any{"work_order_id": id, "item_id": "i1", "sku": "ONT-1", "name": "ONT", "unit": "pcs", "quantity": 2, "consumed_quantity": 0, "status": "reserved"}),
	)
}

func transition(event string) field.TransitionRequest {
	now := time.Now().UTC()
	return field.TransitionRequest{Event: fieldexec.Event(event), ClientEventID: uuid.NewString(), OccurredAt: &now}
}

func count(t testing.TB, db *sqlite.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func code(err error) string { return agent.ErrorCode(err) }

func TestOpen_Pragmas(t *testing.T) {
	db := openDB(t)
	var mode string
	var fk int
	if err := db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := db.SQL().QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d %v", fk, err)
	}
}

func TestWritePath_DataAndOutboxAtomic(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo1 := uuid.NewString()
	seedJob(t, db, wo1)

	// A transition commits the status, the event and the outbox row together.
	req := transition("start")
	res, err := db.Transition(ctx, techID, wo1, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Job.Status != "in_progress" || res.Event.Replayed || res.Job.StartedAt == nil {
		t.Fatalf("after start: %+v %+v", res.Job.JobSummary, res.Event)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE client_ref = ? AND status = 'pending'`, req.ClientEventID); n != 1 {
		t.Fatalf("outbox rows %d", n)
	}
	if n := count(t, db, `SELECT count(*) FROM work_order_events WHERE client_event_id = ?`, req.ClientEventID); n != 1 {
		t.Fatalf("event rows %d", n)
	}

	// A write that fails leaves neither data nor outbox.
	before := count(t, db, `SELECT count(*) FROM outbox`)
	_, err = db.Transition(ctx, techID, wo1, transition("complete"))
	if code(err) != agent.EINVALID {
		t.Fatalf("complete without evidence: %v", err)
	}
	var ae *agent.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Fields["photo"] == "" || ae.Fields["signature"] == "" {
		t.Fatalf("gate error %+v", ae)
	}
	if after := count(t, db, `SELECT count(*) FROM outbox`); after != before {
		t.Fatalf("outbox grew on a refused write")
	}
	if _, err := db.Transition(ctx, techID, wo1, transition("accept")); code(err) != agent.ECONFLICT {
		t.Fatalf("accept while in progress: %v", err)
	}
	if _, err := db.Transition(ctx, helperID, wo1, transition("pause")); code(err) != agent.EFORBIDDEN {
		t.Fatalf("helper pause: %v", err)
	}
	if _, err := db.Transition(ctx, "0195f000-0000-7000-8000-0000000000ff", wo1, transition("pause")); code(err) != agent.ENOTFOUND {
		t.Fatalf("stranger: %v", err)
	}

	// Evidence, then complete.
	photo := append([]byte("\xff\xd8\xff\xe0"), make([]byte, 100)...)
	att, created, err := db.AddAttachment(ctx, techID, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo", WorkOrderID: wo1, ClientRef: uuid.NewString()}, FileName: "a.jpg", Content: photo})
	if err != nil || !created || att.MIME != "image/jpeg" {
		t.Fatalf("photo: %+v %v %v", att, created, err)
	}
	done := transition("complete")
	done.Payload.SignatureUnavailableReason = "customer away"
	res, err = db.Transition(ctx, techID, wo1, done)
	if err != nil || res.Job.Status != "completed" {
		t.Fatalf("complete: %v %+v", err, res.Job.Status)
	}
	note, created, err := db.AddNote(ctx, helperID, "Helper", wo1, field.NoteRequest{ClientRef: uuid.NewString(), Body: "cable run"})
	if err != nil || !created || note.AuthorName != "Helper" {
		t.Fatalf("note: %+v %v", note, err)
	}
	job, err := db.FindJob(ctx, techID, wo1)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Events) != 2 || len(job.Notes) != 1 || len(job.Attachments) != 1 || job.Customer == nil || len(job.Crew) != 2 {
		t.Fatalf("job detail: %d events %d notes %d attachments", len(job.Events), len(job.Notes), len(job.Attachments))
	}
	kinds := []string{}
	for _, e := range mustOutbox(t, db) {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[transition attachment transition note]" {
		t.Fatalf("outbox order %v", kinds)
	}
}

func mustOutbox(t testing.TB, db *sqlite.DB) []sqlite.OutboxEntry {
	t.Helper()
	o, err := db.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// matID is the id of the material seeded on job id.
func matID(id string) string { return uuid.NewSHA1(uuid.NameSpaceOID, []byte("m-"+id)).String() }
