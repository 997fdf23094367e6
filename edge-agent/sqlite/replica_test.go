package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/agenttest"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/field"
)

func TestTransition_IdempotentReplay(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	req := transition("start")
	first, err := db.Transition(ctx, techID, wo, req)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := db.Transition(ctx, techID, wo, req)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Event.Replayed || again.Event.ID != first.Event.ID || again.Job.Status != "in_progress" {
			t.Fatalf("replay: %+v", again.Event)
		}
	}
	// Pause twice with different ids: the second is a double tap, answered as a replay.
	if _, err := db.Transition(ctx, techID, wo, transition("pause")); err != nil {
		t.Fatal(err)
	}
	tap, err := db.Transition(ctx, techID, wo, transition("pause"))
	if err != nil || !tap.Event.Replayed {
		t.Fatalf("double tap: %+v %v", tap.Event, err)
	}
	if n := len(mustOutbox(t, db)); n != 2 {
		t.Fatalf("outbox has %d entries, want 2", n)
	}
	// Notes and consumption are idempotent by client_ref too.
	nr := field.NoteRequest{ClientRef: uuid.NewString(), Body: "hello"}
	n1, c1, err := db.AddNote(ctx, techID, "Tech", wo, nr)
	n2, c2, err2 := db.AddNote(ctx, techID, "Tech", wo, nr)
	if err != nil || err2 != nil || !c1 || c2 || n1.ID != n2.ID {
		t.Fatalf("note replay: %v %v %v %v", c1, c2, err, err2)
	}
	cr := field.ConsumeRequest{ClientRef: uuid.NewString(), Lines: []field.ConsumeLine{{MaterialID: matID(wo), Quantity: 1.5}}}
	for range 2 {
		res, err := db.Consume(ctx, techID, wo, cr)
		if err != nil || res.Materials[0].QuantityUsed != 1.5 || res.Materials[0].Status != "used" {
			t.Fatalf("consume: %+v %v", res, err)
		}
	}
	if n := len(mustOutbox(t, db)); n != 4 {
		t.Fatalf("outbox has %d entries, want 4", n)
	}
}

func TestApply_Monotonic(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	newer := woData("dispatched", 5)
	newer["title"] = "v5"
	apply(t, db, down("work_order", wo, 5, newer))
	older := woData("scheduled", 3)
	older["title"] = "v3"
	apply(t, db, down("work_order", wo, 3, older))
	j, err := db.FindJob(ctx, techID, wo)
	if err != nil {
		t.Fatal(err)
	}
	if j.Title != "v5" || j.Version != 5 {
		t.Fatalf("replica regressed: %q v%d", j.Title, j.Version)
	}
	// An already applied batch (seq at or before the cursor) is skipped whole.
	cur, _ := db.Cursor(ctx, "down")
	stale := woData("dispatched", 9)
	stale["title"] = "stale"
	c := down("work_order", wo, 9, stale)
	if err := db.Apply(ctx, "down", change.Batch{ID: "x", Seq: cur, Changes: []change.Change{c}}); err != nil {
		t.Fatal(err)
	}
	if j, _ := db.FindJob(ctx, techID, wo); j.Title != "v5" {
		t.Fatalf("redelivered batch applied: %q", j.Title)
	}
}

func TestApply_BatchAtomic(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	cur, _ := db.Cursor(ctx, "down")
	good := woData("dispatched", 7)
	good["title"] = "half"
	bad := down("work_order_note", uuid.NewString(), 1, nil)
	bad.Data = json.RawMessage(`{"id":"x","work_order_id":` + `"` + wo + `"}`)
	bad.Op = "upsert"
	bad.Data = nil // an upsert without data fails the whole batch
	err := db.Apply(ctx, "down", change.Batch{ID: "b", Seq: cur + 1, Changes: []change.Change{down("work_order", wo, 7, good), bad}})
	if err == nil {
		t.Fatal("a bad batch applied")
	}
	j, _ := db.FindJob(ctx, techID, wo)
	after, _ := db.Cursor(ctx, "down")
	if j.Title == "half" || after != cur {
		t.Fatalf("half a batch applied: title %q cursor %d→%d", j.Title, cur, after)
	}
}

// ackResult is the hub's upload_result for one of this device's uploads.
func ackResult(ref, status string) change.Change {
	data := map[string]any{"device_id": deviceID, "client_ref": ref, "status": status}
	if status == "rejected" {
		data["error"] = map[string]any{"code": "conflict", "message": "job was canceled by the office"}
	}
	c := down("upload_result", ref, 1, data)
	c.Family = "sync"
	return c
}

func TestRebase_PendingWorkSurvivesDownstream(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	start := transition("start")
	if _, err := db.Transition(ctx, techID, wo, start); err != nil {
		t.Fatal(err)
	}
	// The office changes the title before the upload arrives: the job keeps the local status.
	office := woData("dispatched", 2)
	office["title"] = "office edit"
	apply(t, db, down("work_order", wo, 2, office))
	j, _ := db.FindJob(ctx, techID, wo)
	if j.Status != "in_progress" || j.Title != "office edit" {
		t.Fatalf("after office edit: %s %q", j.Status, j.Title)
	}
	// The hub applies the upload: its event row replaces the local one, the result acks it.
	hubJob := woData("in_progress", 3)
	ev := down("work_order_event", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "event": "start", "from_status": "dispatched",
		"to_status": "in_progress", "client_event_id": start.ClientEventID, "occurred_at": start.OccurredAt})
	apply(t, db, down("work_order", wo, 3, hubJob), ev, ackResult(start.ClientEventID, "applied"))
	j, _ = db.FindJob(ctx, techID, wo)
	if j.Status != "in_progress" || len(j.Events) != 1 || j.Events[0].ID != ev.EntityID {
		t.Fatalf("after ack: %s events %+v", j.Status, j.Events)
	}
	if o := mustOutbox(t, db); o[0].Status != "acked" {
		t.Fatalf("outbox %+v", o)
	}
}

func TestRejected_ParkedKeepsCapturedData(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	start := transition("start")
	if _, err := db.Transition(ctx, techID, wo, start); err != nil {
		t.Fatal(err)
	}
	apply(t, db, down("work_order", wo, 2, woData("canceled", 2)), ackResult(start.ClientEventID, "rejected"))
	j, _ := db.FindJob(ctx, techID, wo)
	if j.Status != "canceled" || len(j.Events) != 0 {
		t.Fatalf("after rejection: %s %d events", j.Status, len(j.Events))
	}
	st, _ := db.Status(ctx)
	if st.OpenConflicts != 1 || st.PendingUploads != 0 {
		t.Fatalf("status %+v", st)
	}
	cs, _ := db.Conflicts(ctx)
	var kept map[string]any
	if err := json.Unmarshal(cs[0].DeviceValue, &kept); err != nil || kept["client_event_id"] != start.ClientEventID {
		t.Fatalf("captured data not kept: %s", cs[0].DeviceValue)
	}
	// The same client_event_id replays as the original answer, even though it was parked.
	again, err := db.Transition(ctx, techID, wo, start)
	if err != nil || !again.Event.Replayed {
		t.Fatalf("replay of parked: %+v %v", again.Event, err)
	}
}

func TestReset_KeepsPendingWork(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	start := transition("start")
	if _, err := db.Transition(ctx, techID, wo, start); err != nil {
		t.Fatal(err)
	}
	nr := field.NoteRequest{ClientRef: uuid.NewString(), Body: "offline note"}
	if _, _, err := db.AddNote(ctx, techID, "Tech", wo, nr); err != nil {
		t.Fatal(err)
	}
	ups, _ := db.PendingUploads(ctx, 10)
	if err := db.MarkSent(ctx, []int64{ups[0].Seq}, ups[0].Generation); err != nil {
		t.Fatal(err)
	}
	if err := db.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	// The note was read (and published) before the reset: it stays pending, counted as re-sent so
	// its next publish gets a new batch id (the hub's answer to the first one may be lost).
	if err := db.MarkSent(ctx, []int64{ups[1].Seq}, ups[1].Generation); err != nil {
		t.Fatal(err)
	}
	if again, _ := db.PendingUploads(ctx, 10); len(again) != 2 || again[1].Seq != ups[1].Seq || again[1].Resends != 1 {
		t.Fatalf("after a stale MarkSent: %+v", again)
	}
	if _, err := db.FindJob(ctx, techID, wo); agent.ErrorCode(err) != agent.ENOTFOUND {
		t.Fatalf("job survived reset: %v", err)
	}
	// Bootstrap in two pages (resumable), then pending work is back on top.
	page1 := []change.Change{down("work_order", wo, 4, woData("dispatched", 4))}
	if err := db.ApplySnapshotPage(ctx, 42, page1, "p2"); err != nil {
		t.Fatal(err)
	}
	if next, going, _ := db.BootstrapProgress(ctx); !going || next != "p2" {
		t.Fatalf("progress %q %v", next, going)
	}
	page2 := []change.Change{
		down("work_order_assignment", wo+":"+techID, 1, map[string]any{"work_order_id": wo, "person_id": techID, "is_primary": true}),
	}
	if err := db.ApplySnapshotPage(ctx, 0, page2, ""); err != nil {
		t.Fatal(err)
	}
	if cur, _ := db.Cursor(ctx, "down"); cur != 42 {
		t.Fatalf("cursor %d", cur)
	}
	j, err := db.FindJob(ctx, techID, wo)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != "in_progress" || len(j.Notes) != 1 || len(j.Events) != 1 {
		t.Fatalf("pending work lost: %s notes %d events %d", j.Status, len(j.Notes), len(j.Events))
	}
	ups, _ = db.PendingUploads(ctx, 10)
	if len(ups) != 2 {
		t.Fatalf("%d uploads pending after reset, want 2 (sent ones resent)", len(ups))
	}
}

func TestChecksum_RepairsOnlyWhatDiffers(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	var hub []checksum.Row
	var changes []change.Change
	for i := range 50 {
		id := uuid.NewString()
		c := down("customer", id, int64(i+1), map[string]any{"name": "c"})
		changes = append(changes, c)
		hub = append(hub, checksum.Row{ID: id, Version: int64(i + 1)})
	}
	apply(t, db, changes...)
	// Drift: one row stale, one extra, one missing.
	stale := hub[3].ID
	if _, err := db.SQL().Exec(`UPDATE customers SET version = 1 WHERE id = ?`, stale); err != nil {
		t.Fatal(err)
	}
	extra := uuid.NewString()
	apply(t, db, down("customer", extra, 1, nil))
	missing := hub[7].ID
	if _, err := db.SQL().Exec(`DELETE FROM customers WHERE id = ?`, missing); err != nil {
		t.Fatal(err)
	}
	local, _ := db.Checksums(ctx)
	var mine *checksum.Table
	for _, tb := range local {
		if tb.Name == "customers" {
			mine = tb
		}
	}
	theirs := checksum.Compute("customers", hub)
	buckets := checksum.Diff(mine, theirs)
	if len(buckets) == 0 || len(buckets) > 3 {
		t.Fatalf("buckets %v", buckets)
	}
	rows, _ := db.Rows(ctx, "customers", buckets)
	fetch, drop := checksum.DiffRows(rows, checksum.InBuckets(hub, buckets))
	if len(fetch) != 2 || len(drop) != 1 || drop[0] != extra {
		t.Fatalf("fetch %v drop %v", fetch, drop)
	}
	var fetched []change.Change
	for _, c := range changes {
		for _, id := range fetch {
			if c.EntityID == id {
				fetched = append(fetched, c)
			}
		}
	}
	if err := db.Repair(ctx, "customers", fetched, drop); err != nil {
		t.Fatal(err)
	}
	local, _ = db.Checksums(ctx)
	for _, tb := range local {
		if tb.Name == "customers" && tb.Digest() != theirs.Digest() {
			t.Fatal("checksums still differ after repair")
		}
	}
}

func TestLogin_OfflineWithCachedHash(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	me := agent.Me{ID: techID, Email: "tech1@example.com", DisplayName: "Tech One"}
	if _, err := db.CheckCachedCredentials(ctx, me.Email, "tech123!"); agent.ErrorCode(err) != agent.EUNAUTHORIZED {
		t.Fatalf("no cache yet: %v", err)
	}
	if err := db.CacheCredentials(ctx, "Tech1@Example.com", "tech123!", me); err != nil {
		t.Fatal(err)
	}
	got, err := db.CheckCachedCredentials(ctx, me.Email, "tech123!")
	if err != nil || got.ID != techID {
		t.Fatalf("cached login: %+v %v", got, err)
	}
	if _, err := db.CheckCachedCredentials(ctx, me.Email, "wrong"); agent.ErrorCode(err) != agent.EUNAUTHORIZED {
		t.Fatalf("wrong password: %v", err)
	}
	tok, err := db.CreateSession(ctx, techID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := db.Authenticate(ctx, tok.AccessToken); err != nil || p != techID {
		t.Fatalf("auth: %v", err)
	}
	next, err := db.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, tok.AccessToken); err == nil {
		t.Fatal("old access token still valid")
	}
	// Reusing the rotated refresh token revokes the session.
	if _, err := db.Refresh(ctx, tok.RefreshToken); err == nil {
		t.Fatal("reused refresh token accepted")
	}
	if _, err := db.Authenticate(ctx, next.AccessToken); err == nil {
		t.Fatal("session not revoked after reuse")
	}
}

// TestUploads_WireShape: every upload's data is exactly what the hub decodes strictly.
func TestUploads_WireShape(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)
	apply(t, db, down("survey_template", "t1", 1, map[string]any{"name": "S", "questions": []map[string]any{{"id": "q1", "label": "Q", "type": "text"}}}),
		down("survey_response", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "template_id": "t1", "answers": map[string]any{}}))
	if _, err := db.Transition(ctx, techID, wo, transition("start")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AddNote(ctx, techID, "T", wo, field.NoteRequest{ClientRef: uuid.NewString(), Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AddAttachment(ctx, techID, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo", WorkOrderID: wo, ClientRef: uuid.NewString()}, Content: []byte("\xff\xd8\xff\xe0 jpeg")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Consume(ctx, techID, wo, field.ConsumeRequest{ClientRef: uuid.NewString(), Lines: []field.ConsumeLine{{MaterialID: matID(wo), Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SubmitSurvey(ctx, techID, wo, field.SurveyRequest{ClientRef: uuid.NewString(), Answers: map[string]json.RawMessage{"q1": json.RawMessage(`"x"`)}}); err != nil {
		t.Fatal(err)
	}
	ups, err := db.PendingUploads(ctx, 10)
	if err != nil || len(ups) != 5 {
		t.Fatalf("%d uploads %v", len(ups), err)
	}
	for _, u := range ups {
		if err := u.Change.Validate(); err != nil || !u.Change.Upstream() {
			t.Errorf("%s: %v", u.Kind, err)
		}
		if err := agenttest.StrictData(u.Change); err != nil {
			t.Errorf("%s data %s: %v", u.Kind, u.Change.Data, err)
		}
	}
	// Replays still work from the kept local effect.
	if err := db.RebaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	j, _ := db.FindJob(ctx, techID, wo)
	if j.Status != "in_progress" || len(j.Notes) != 1 || j.Materials[0].QuantityUsed != 1 || string(j.Survey.Answers["q1"]) != `"x"` {
		t.Fatalf("after rebase: %s notes %d used %v survey %v", j.Status, len(j.Notes), j.Materials[0].QuantityUsed, j.Survey)
	}
}

// Snapshot pages write the plant many rows per statement: every feature lands with its bounding
// box, a lower version never replaces a higher one, and other entities in between still apply.
func TestSnapshotPage_FeaturesInBulk(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	feature := func(i int, version int64, lon float64) change.Change {
		return down("fiber_feature", fmt.Sprintf("f-%04d", i), version, map[string]any{"kind": "segment", "name": "Drop",
			"geometry": map[string]any{"type": "LineString", "coordinates": [][2]float64{{lon, 45.6}, {lon + 0.01, 45.7}}}})
	}
	var page []change.Change
	for i := 0; i < 250; i++ {
		page = append(page, feature(i, 5, -111))
		if i == 120 {
			page = append(page, down("work_order", "wo-bulk", 1, woData("scheduled", 1)))
		}
	}
	page = append(page, feature(7, 3, -100)) // an older copy of f-0007 later in the page: ignored
	if err := db.ApplySnapshotPage(ctx, 9, page, ""); err != nil {
		t.Fatal(err)
	}
	var n, boxed int
	var minLon float64
	var version int64
	db.SQL().QueryRowContext(ctx, `SELECT count(*), count(min_lon) FROM fiber_features`).Scan(&n, &boxed)
	db.SQL().QueryRowContext(ctx, `SELECT min_lon, version FROM fiber_features WHERE id = 'f-0007'`).Scan(&minLon, &version)
	if n != 250 || boxed != 250 || minLon != -111 || version != 5 {
		t.Fatalf("features %d, boxed %d, f-0007 at %v v%d", n, boxed, minLon, version)
	}
	var wos int
	db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM work_orders WHERE id = 'wo-bulk'`).Scan(&wos)
	if wos != 1 {
		t.Fatal("the work order between the features was not applied")
	}
}
