package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/scope"
	"dotmac.dev/field/sync/snapshot"
)

// writeSnapshot writes changes (upserts) as a snapshot file of tech's scope at cursor, in the
// order given (the hub writes entity by entity; order must not matter for correctness).
func writeSnapshot(t testing.TB, tech string, cursor change.Cursor, changes []change.Change) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap.sqlite")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := scope.Default()
	tables := map[string]*checksum.Table{}
	entityOf := map[string]string{}
	var rows []snapshot.Row
	for _, c := range changes {
		rows = append(rows, snapshot.Row{Entity: c.Entity, ID: c.EntityID, Family: c.Family, Version: c.Version, Data: c.Data})
		if _, e, ok := reg.FamilyOf(c.Entity); ok {
			if tables[e.Table] == nil {
				tables[e.Table] = checksum.New(e.Table)
				entityOf[e.Table] = c.Entity
			}
			tables[e.Table].Add(c.EntityID, c.Version)
		}
	}
	var list []*checksum.Table
	for _, tb := range tables {
		list = append(list, tb)
	}
	if err := snapshot.Write(context.Background(), db, tech, cursor, rows, list, entityOf); err != nil {
		t.Fatal(err)
	}
	return path
}

func feature(id string, version int64, geometry any) change.Change {
	data := map[string]any{"kind": "segment", "name": "Drop " + id, "status": "active"}
	if geometry != nil {
		data["geometry"] = geometry
	}
	return down("fiber_feature", id, version, data)
}

// scopeChanges is a technician's scope with every case the applier treats specially: the hub's
// copies of an event, a note and an attachment this device created (under other ids), a survey
// response replacing the pending one, and fiber plant of every GeoJSON shape.
func scopeChanges(wo string, event, note, photo string) []change.Change {
	cs := []change.Change{
		down("work_order", wo, 3, woData("in_progress", 3)),
		down("work_order_assignment", wo+":"+techID, 1, map[string]any{"work_order_id": wo, "person_id": techID, "person_name": "Tech One", "is_primary": true}),
		down("customer", "c1", 1, map[string]any{"name": "Ada", "phone": "+234", "email": "ada@example.com", "address": "1 Main St"}),
		down("work_order_material", matID(wo), 1, map[string]any{"work_order_id": wo, "item_id": "i1", "sku": "ONT-1", "name": "ONT", "unit": "pcs", "quantity": 2, "consumed_quantity": 0, "status": "reserved"}),
		down("work_order_event", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "event": "start", "from_status": "dispatched", "to_status": "in_progress", "client_event_id": event, "occurred_at": "2026-01-02T10:00:00Z"}),
		down("work_order_note", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "body": "from the tablet", "client_ref": note, "created_at": "2026-01-02T10:01:00Z"}),
		down("field_attachment", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "kind": "photo", "client_ref": photo, "storage_key": "ab", "is_active": true}),
		down("work_order_note", uuid.NewString(), 1, map[string]any{"work_order_id": wo, "body": "from the office", "created_at": "2026-01-02T09:00:00Z"}),
		feature("f-point", 4, map[string]any{"type": "Point", "coordinates": []float64{-111.1, 45.6}}),
		feature("f-line3d", 4, map[string]any{"type": "LineString", "coordinates": [][]float64{{-111, 45.6, 1400}, {-110.9, 45.7, 1410}}}),
		feature("f-poly", 4, map[string]any{"type": "Polygon", "bbox": []float64{-200, -100, 200, 100},
			"coordinates": [][][]float64{{{-111, 45}, {-110, 45}, {-110, 46}, {-111, 45}}}}),
		feature("f-multi", 4, map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{{{{1, 2}, {3, 4}, {1, 2}}}, {{{-5, -6}, {0, 0}, {-5, -6}}}}}),
		feature("f-coll", 4, map[string]any{"type": "GeometryCollection", "geometries": []any{
			map[string]any{"type": "Point", "coordinates": []int{7, 8}},
			map[string]any{"type": "LineString", "coordinates": [][]float64{{9.5, -1}, {10, -2}}}}}),
		feature("f-none", 4, nil),
		feature("f-empty", 4, map[string]any{"type": "LineString", "coordinates": []any{}}),
	}
	for i := range 300 {
		lon := -111 + float64(i)/1000
		cs = append(cs, feature(fmt.Sprintf("f-%04d", i), int64(10+i), map[string]any{"type": "LineString", "coordinates": [][]float64{{lon, 45.6}, {lon + 0.001, 45.61}}}))
	}
	return cs
}

// work is field work done offline on a job: the same requests are made on each replica.
type work struct {
	start, photoEvent field.TransitionRequest
	note, later       field.NoteRequest
	photo             string
}

func newWork() work {
	return work{start: transition("start"), note: field.NoteRequest{ClientRef: uuid.NewString(), Body: "from the tablet"},
		later: field.NoteRequest{ClientRef: uuid.NewString(), Body: "not on the hub yet"}, photo: uuid.NewString()}
}

// pendingWork puts a job in the replica, does the field work on it offline and resets the
// replica (the feed dropped the cursor): what is left is the work the hub has not acknowledged.
func pendingWork(t *testing.T, db *sqlite.DB, wo string, w work) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	seedJob(t, db, wo)
	if _, err := db.Transition(ctx, techID, wo, w.start); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AddNote(ctx, techID, "Tech", wo, w.note); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AddAttachment(ctx, techID, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo",
		WorkOrderID: wo, ClientRef: w.photo}, FileName: "p.jpg", Content: []byte("\xff\xd8\xff\xe0photo")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AddNote(ctx, techID, "Tech", wo, w.later); err != nil {
		t.Fatal(err)
	}
	if err := db.Reset(ctx); err != nil {
		t.Fatal(err)
	}
}

// dumpReplica returns every replicated row, the outbox, the cursor and the bootstrap state. Rows
// created on the device (pending) are named by their client id: their row ids are random.
func dumpReplica(t *testing.T, db *sqlite.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	row := `CASE WHEN pending = 1 THEN 'pending ' || coalesce(json_extract(data, '$.client_ref'), json_extract(data, '$.client_event_id'), '?')
		ELSE id || ' v' || version || ' ' || data END || ' ' || coalesce(local, '-')`
	for _, table := range append(scope.Default().Tables(), "outbox", "cursors", "sync_state") {
		q := `SELECT ` + row + ` AS r FROM ` + table + ` ORDER BY r`
		switch table {
		case "outbox":
			q = `SELECT seq || ' ' || status || ' ' || client_ref || ' ' || resends FROM outbox ORDER BY seq`
		case "cursors":
			q = `SELECT stream || ' ' || cursor FROM cursors ORDER BY stream`
		case "sync_state":
			q = `SELECT key || '=' || value FROM sync_state WHERE key IN ('bootstrap_done', 'bootstrapping') ORDER BY key`
		case "fiber_features":
			q = `SELECT ` + row + ` || printf(' [%s %s %s %s]', min_lon, min_lat, max_lon, max_lat) AS r FROM fiber_features ORDER BY r`
		case "work_orders":
			q = `SELECT ` + row + ` || ' evicting ' || evicting AS r FROM work_orders ORDER BY r`
		}
		rows, err := db.SQL().Query(q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], s)
		}
		rows.Close()
	}
	return out
}

// The file path leaves the replica exactly as the paged path does: same rows and versions, the
// hub's copies in place of the local ones, the pending work replayed on top, a bounding box for
// every geometry, the same cursor and bootstrap state.
func TestApplySnapshotFile_SameAsPages(t *testing.T) {
	ctx := context.Background()
	wo := uuid.NewString()
	w := newWork()
	pages, file := openDB(t), openDB(t)
	pendingWork(t, pages, wo, w)
	pendingWork(t, file, wo, w)
	changes := scopeChanges(wo, w.start.ClientEventID, w.note.ClientRef, w.photo)

	if err := pages.ApplySnapshotPage(ctx, 77, changes[:5], "p2"); err != nil {
		t.Fatal(err)
	}
	if err := pages.ApplySnapshotPage(ctx, 77, changes[5:], ""); err != nil {
		t.Fatal(err)
	}
	res, err := file.ApplySnapshotFile(ctx, writeSnapshot(t, techID, 77, changes))
	if err != nil {
		t.Fatal(err)
	}
	if res.Cursor != 77 || res.Rows != len(changes) || len(res.Checksums) != 8 {
		t.Fatalf("result: cursor %d rows %d (want %d) checksums %d", res.Cursor, res.Rows, len(changes), len(res.Checksums))
	}
	a, b := dumpReplica(t, pages), dumpReplica(t, file)
	for table, want := range a {
		if !reflect.DeepEqual(want, b[table]) {
			t.Errorf("%s differs:\npages %q\nfile  %q", table, want, b[table])
		}
	}
	if boxed := count(t, file, `SELECT count(*) FROM fiber_features WHERE min_lon IS NOT NULL`); boxed != 305 {
		t.Errorf("%d features with a bounding box, want 305", boxed)
	}
	j, err := file.FindJob(ctx, techID, wo)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != "in_progress" || len(j.Notes) != 3 || len(j.Attachments) != 1 || len(j.Events) != 1 {
		t.Fatalf("job after the file: %s, %d notes, %d attachments, %d events", j.Status, len(j.Notes), len(j.Attachments), len(j.Events))
	}
	if ups, _ := file.PendingUploads(ctx, 10); len(ups) != 4 {
		t.Fatalf("%d uploads pending after the bootstrap, want 4", len(ups))
	}
	// The file's checksums are the replica's now.
	local, _ := file.Checksums(ctx)
	hub := map[string]string{}
	for _, tb := range res.Checksums {
		hub[tb.Name] = tb.Digest()
	}
	for _, tb := range local {
		if d, ok := hub[tb.Name]; ok && d != tb.Digest() {
			t.Errorf("checksum of %s differs from the file's", tb.Name)
		}
	}
}

// A row the replica holds at a higher version is not replaced by an older copy in the file.
func TestApplySnapshotFile_NeverRegresses(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	wo := uuid.NewString()
	newer := woData("dispatched", 9)
	newer["title"] = "v9"
	if err := db.ApplySnapshotPage(ctx, 5, []change.Change{down("work_order", wo, 9, newer)}, "p2"); err != nil {
		t.Fatal(err)
	}
	older := woData("scheduled", 4)
	older["title"] = "v4"
	if _, err := db.ApplySnapshotFile(ctx, writeSnapshot(t, techID, 6, []change.Change{down("work_order", wo, 4, older)})); err != nil {
		t.Fatal(err)
	}
	j, err := db.FindJob(ctx, techID, wo)
	if err != nil {
		t.Fatal(err)
	}
	if j.Title != "v9" || j.Version != 9 {
		t.Fatalf("replica regressed: %q v%d", j.Title, j.Version)
	}
	if p, going, _ := db.BootstrapProgress(ctx); going || p != "" {
		t.Fatalf("the paged bootstrap the file replaced is still in progress (%q)", p)
	}
}

// A file that fails half-way changes nothing: no rows, no cursor, no bootstrap.
func TestApplySnapshotFile_AllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	wo := uuid.NewString()
	bad := down("work_order_note", uuid.NewString(), 1, nil)
	bad.Data = json.RawMessage(`{not json`)
	changes := []change.Change{down("work_order", wo, 1, woData("dispatched", 1)), bad}
	if _, err := db.ApplySnapshotFile(ctx, writeSnapshot(t, techID, 3, changes)); err == nil {
		t.Fatal("a bad file applied")
	}
	if n := count(t, db, `SELECT count(*) FROM work_orders`); n != 0 {
		t.Fatalf("%d work orders after a failed file", n)
	}
	if cur, _ := db.Cursor(ctx, "down"); cur != 0 {
		t.Fatalf("cursor %d after a failed file", cur)
	}
	if ok, _ := db.Bootstrapped(ctx); ok {
		t.Fatal("bootstrapped by a failed file")
	}
	// The connection that held the file is usable again (nothing attached).
	if n := count(t, db, `SELECT count(*) FROM pragma_database_list WHERE name = 'snap'`); n != 0 {
		t.Fatal("the snapshot file is still attached")
	}
}

func TestApplySnapshotFile_Refused(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, err := db.ApplySnapshotFile(ctx, writeSnapshot(t, helperID, 3, nil)); !errors.Is(err, sqlite.ErrSnapshotInvalid) {
		t.Fatalf("another technician's file: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.sqlite")
	odb, _ := sql.Open("sqlite", "file:"+other)
	odb.Exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('format', 'dmf-snapshot-0')`)
	odb.Close()
	if _, err := db.ApplySnapshotFile(ctx, other); !errors.Is(err, sqlite.ErrSnapshotInvalid) {
		t.Fatalf("a file of another format: %v", err)
	}
	if ok, _ := db.Bootstrapped(ctx); ok {
		t.Fatal("bootstrapped by a refused file")
	}
}
