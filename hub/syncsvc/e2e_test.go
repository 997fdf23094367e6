package syncsvc_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	_ "modernc.org/sqlite"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
)

// TestDevices_EnrollPermissionsRevoke: a one-time code enrolls a device; the NATS server lets it
// use only its own subjects; revocation cuts it off within 5 s and tells it to purge.
func TestDevices_EnrollPermissionsRevoke(t *testing.T) {
	h := newHarness(t)
	tech1, tech2 := h.techs["tech1@example.com"], h.techs["tech2@example.com"]

	// Validation and permissions of the registry.
	if r := h.env.Do("POST", "/api/v1/devices", h.admin, map[string]string{"technician_id": "nope", "name": ""}); r.Status != 400 {
		t.Fatalf("bad create: %d %s", r.Status, r.Body)
	}
	techTok := h.env.Token("tech1@example.com", hubtest.TechPassword)
	if r := h.env.Do("POST", "/api/v1/devices", techTok, map[string]string{"technician_id": tech1, "name": "x"}); r.Status != 403 {
		t.Fatalf("technician created a device: %d", r.Status)
	}

	r := h.env.Do("POST", "/api/v1/devices", h.admin, map[string]string{"technician_id": tech1, "name": "Tablet 1"})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var nd syncsvc.NewDevice
	r.JSON(t, &nd)
	if nd.EnrollmentCode == "" || !nd.ExpiresAt.After(time.Now()) {
		t.Fatalf("new device: %+v", nd)
	}
	var stored string
	h.env.DB.Pool.QueryRow(context.Background(), `SELECT enrollment_code_hash FROM devices WHERE id = $1`, nd.ID).Scan(&stored)
	if stored == "" || strings.Contains(stored, nd.EnrollmentCode) {
		t.Fatal("enrollment code not stored hashed")
	}
	r = h.env.Do("POST", "/api/v1/devices/enroll", "", map[string]string{"code": strings.ToLower(nd.EnrollmentCode)})
	if r.Status != 200 {
		t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	var enr syncsvc.Enrollment
	r.JSON(t, &enr)
	if enr.DeviceID != nd.ID || enr.TechnicianID != tech1 || enr.NATSURL == "" || enr.NATSPassword == "" || enr.HubURL == "" {
		t.Fatalf("enrollment: %+v", enr)
	}
	if r := h.env.Do("POST", "/api/v1/devices/enroll", "", map[string]string{"code": nd.EnrollmentCode}); r.Status != 404 {
		t.Fatalf("code reused: %d", r.Status)
	}
	r = h.env.Do("GET", "/api/v1/devices/"+nd.ID, h.admin, nil)
	var dv syncsvc.Device
	r.JSON(t, &dv)
	if dv.Status != "active" || !dv.Enrolled || dv.TechnicianID != tech1 {
		t.Fatalf("device: %+v", dv)
	}
	if r := h.env.Do("GET", "/api/v1/devices?technician_id="+tech1, h.admin, nil); r.Status != 200 || !strings.Contains(string(r.Body), nd.ID) {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}

	// Wrong password and unknown users are refused by the server.
	if _, err := nats.Connect(enr.NATSURL, nats.UserInfo(enr.NATSUser, "wrong")); err == nil {
		t.Fatal("wrong device secret accepted")
	}
	if _, err := nats.Connect(enr.NATSURL, nats.UserInfo("dmf-hub", "guess")); err == nil {
		t.Fatal("the hub user was accepted over the network")
	}

	d := &device{h: h, enr: enr, closed: make(chan struct{}), clock: hlc.New(enr.DeviceID)}
	d.connect()
	wo := h.createWorkOrder(tech1)
	other := h.createWorkOrder(tech2)
	h.enroll(tech2, "Tablet 2") // so tech2 has a feed too
	h.event("work_order.touched", "work_order", other)
	f := d.consume()
	hubtest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, ok := f.latest("work_order", wo); !ok {
			return fmt.Errorf("own job not received")
		}
		return nil
	})
	if _, ok := f.latest("work_order", other); ok {
		t.Fatal("received another technician's job")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	up, err := jetstream.Bind(ctx, d.js, jetstream.Up())
	if err != nil {
		t.Fatal(err)
	}
	short := func() context.Context { c, cl := context.WithTimeout(ctx, time.Second); t.Cleanup(cl); return c }
	var otherDev string
	h.env.DB.Pool.QueryRow(ctx, `SELECT id FROM devices WHERE technician_id = $1`, tech2).Scan(&otherDev)
	if _, err := up.Publish(short(), otherDev, change.Batch{ID: "x1", Changes: []change.Change{d.mutation("note", wo, 1, map[string]string{"client_ref": "00000000-0000-7000-8000-000000000001", "body": "hi"})}}); err == nil {
		t.Fatal("device published as another device")
	}
	// Subscribing to another technician's feed subject is refused by the server.
	errc := make(chan error, 1)
	nc2, err := nats.Connect(enr.NATSURL, nats.UserInfo(enr.NATSUser, enr.NATSPassword), nats.CustomInboxPrefix(enr.InboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errc <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	nc2.Subscribe(jetstream.Down().Subject(tech2), func(*nats.Msg) {})
	nc2.Flush()
	select {
	case err := <-errc:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("subscribe error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscribing to another technician's subject was not refused")
	}
	stream, err := d.js.Stream(ctx, jetstream.Down().Stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CreateOrUpdateConsumer(short(), jetstream.Down().ConsumerConfig(enr.DeviceID, tech2, 0)); err == nil {
		t.Fatal("device opened another technician's feed")
	}

	// Revocation: cut off within 5 s, told to purge, refused afterwards.
	start := time.Now()
	r = h.env.Do("POST", "/api/v1/devices/"+nd.ID+"/revoke", h.admin, map[string]string{"reason": "lost"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"revoked"`) {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	hubtest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if d.nc.IsConnected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	t.Logf("revoked device cut off after %s", time.Since(start))
	if !d.control(syncsvc.ControlRevoke) {
		t.Error("no revoke control message before the cut")
	}
	if _, err := nats.Connect(enr.NATSURL, nats.UserInfo(enr.NATSUser, enr.NATSPassword)); err == nil {
		t.Fatal("revoked device reconnected")
	}
	req, _ := http.NewRequest("GET", h.env.URL+"/api/v1/sync/device", nil)
	req.SetBasicAuth(enr.NATSUser, enr.NATSPassword)
	res := h.env.Send(http.DefaultClient, req)
	if res.Status != 403 || !strings.Contains(string(res.Body), `"purge"`) {
		t.Fatalf("revoked device at next contact: %d %s", res.Status, res.Body)
	}
}

// TestRelay_AssignmentMovesJob: reassigning a job evicts it from the old technician's feed and
// upserts it (with its children) into the new one's.
func TestRelay_AssignmentMovesJob(t *testing.T) {
	h := newHarness(t)
	tech1, tech2 := h.techs["tech1@example.com"], h.techs["tech2@example.com"]
	a := h.enroll(tech1, "A")
	b := h.enroll(tech2, "B")
	fa, fb := a.consume(), b.consume()
	wo := h.createWorkOrder(tech1)
	h.exec(`INSERT INTO work_order_notes (work_order_id, body) VALUES ($1, 'gate code 1234')`, wo)
	h.event("work_order.note_added", "work_order", wo)
	hubtest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, ok := fa.latest("work_order", wo)
		if !ok || c.Op != change.OpUpsert {
			return fmt.Errorf("A has not got the job")
		}
		var data map[string]any
		json.Unmarshal(c.Data, &data)
		if data["site_lat"] == nil || data["status"] != "scheduled" {
			return fmt.Errorf("job data: %s", c.Data)
		}
		if strings.Contains(string(c.Data), "monthly_rate") {
			return fmt.Errorf("costs leaked: %s", c.Data)
		}
		return nil
	})
	start := time.Now()
	h.reassign(wo, tech2)
	hubtest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		ca, _ := fa.latest("work_order", wo)
		cb, ok := fb.latest("work_order", wo)
		if ca.Op != change.OpEvict {
			return fmt.Errorf("A: %s", ca.Op)
		}
		if !ok || cb.Op != change.OpUpsert {
			return fmt.Errorf("B has not got the job")
		}
		return nil
	})
	t.Logf("reassignment reached both devices in %s", time.Since(start))
	var noteB bool
	fb.mu.Lock()
	for _, bt := range fb.batches {
		for _, c := range bt.Changes {
			if c.Entity == "work_order_note" && c.Op == change.OpUpsert {
				noteB = true
			}
			if c.Entity == "customer" && (strings.Contains(string(c.Data), "monthly_rate") || strings.Contains(string(c.Data), "79.00")) {
				t.Errorf("customer rate leaked: %s", c.Data)
			}
		}
	}
	fb.mu.Unlock()
	if !noteB {
		t.Error("B did not get the job's note")
	}
	if c, _ := fa.latest("work_order_note", ""); c.ID != "" {
		t.Log(c)
	}
	// Replaying the relay publishes nothing new (the ledger is idempotent).
	if err := h.svc.RelayNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := h.count(`SELECT count(*) FROM sync_scope`)
	h.event("work_order.touched", "work_order", wo)
	if err := h.svc.RelayNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := h.count(`SELECT count(*) FROM sync_scope`); after != before {
		t.Fatalf("ledger grew on a no-op event: %d → %d", before, after)
	}
}

// TestApplier_OrderIdempotencyConflicts covers the upload applier's rules.
func TestApplier_OrderIdempotencyConflicts(t *testing.T) {
	h := newHarness(t)
	tech1, tech2 := h.techs["tech1@example.com"], h.techs["tech2@example.com"]
	d := h.enroll(tech1, "A")
	wo := h.createWorkOrder(tech1)
	_, v := h.woStatus(wo)

	// In order: start, a note, pause, resume — one batch; then each is answered.
	start := d.transition(wo, v, "start", nil)
	note := d.mutation("note", wo, v, map[string]string{"id": "0195a000-0000-7000-8000-0000000000aa", "client_ref": "0195a000-0000-7000-8000-00000000000a", "body": "on site"})
	pause := d.transition(wo, v, "pause", nil)
	resume := d.transition(wo, v, "resume", nil)
	d.upload(start, note, pause, resume)
	for _, c := range []change.Change{start, note, pause, resume} {
		if r := d.result(c.ID); r.Status != syncsvc.StatusApplied {
			t.Fatalf("%s: %+v", c.Action, r)
		}
		// The data an upload caused reaches the feed before its result.
		if c.Action == "note" {
			if _, ok := d.feed.latest("work_order_note", "0195a000-0000-7000-8000-0000000000aa"); !ok {
				t.Fatal("the note row did not arrive before its result")
			}
		}
	}
	if s, _ := h.woStatus(wo); s != "in_progress" {
		t.Fatalf("status %s", s)
	}
	// The same mutations again (a device that did not see the acks): replayed, nothing doubled.
	again := []change.Change{start, note, pause, resume}
	for i := range again {
		again[i].ID = again[i].ID[:len(again[i].ID)-4] + "ffff"
	}
	d.upload(again...)
	for _, c := range again {
		if r := d.result(c.ID); !r.Replayed {
			t.Fatalf("replay of %s: %+v", c.Action, r)
		}
	}
	if n := h.count(`SELECT count(*) FROM work_order_events WHERE work_order_id = $1`, wo); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	if n := h.count(`SELECT count(*) FROM work_order_notes WHERE work_order_id = $1`, wo); n != 1 {
		t.Fatalf("%d notes, want 1", n)
	}

	// Bad input: a malformed batch, a stale schema version, a forged device id, an unknown field,
	// a job outside the scope. Each is refused with a reason; none blocks what follows.
	raw := func(b []byte) {
		if _, err := d.js.Publish(context.Background(), jetstream.Up().Subject(d.enr.DeviceID), b); err != nil {
			t.Fatal(err)
		}
	}
	raw([]byte(`{"id":"junk","changes":[{"id":"c1"`))
	stale := d.transition(wo, v, "pause", nil)
	stale.SchemaVersion = 99
	sb, _ := json.Marshal(change.Batch{ID: "stale-1", Changes: []change.Change{stale}})
	raw(sb)
	forged := d.transition(wo, v, "pause", nil)
	forged.DeviceID = "0195a000-0000-7000-8000-0000000000ff"
	unknown := d.mutation("", wo, v, nil)
	unknown.Action, unknown.Data = "", nil
	unknown.Fields = map[string]json.RawMessage{"monthly_rate": json.RawMessage(`1`)}
	otherWO := h.createWorkOrder(tech2)
	outside := d.mutation("note", otherWO, 1, map[string]string{"client_ref": "0195a000-0000-7000-8000-00000000000b", "body": "x"})
	notAllowed := d.transition(wo, 0, "start", nil) // already in progress, hub did not change status
	d.upload(forged, unknown, outside, notAllowed)
	for _, c := range []change.Change{forged, unknown, outside, notAllowed} {
		r := d.result(c.ID)
		if r.Status != syncsvc.StatusRejected || r.Reason == "" {
			t.Fatalf("bad change %s accepted: %+v", c.ClientRef, r)
		}
		t.Logf("rejected: %s", r.Reason)
	}
	hubtest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := h.count(`SELECT count(*) FROM sync_rejections WHERE device_id = $1`, d.enr.DeviceID); n != 2 {
			return fmt.Errorf("%d parked, want 2", n)
		}
		return nil
	})
	if r := h.env.Do("GET", "/api/v1/sync/rejections?device_id="+d.enr.DeviceID, h.admin, nil); !strings.Contains(string(r.Body), "schema version") {
		t.Fatalf("rejections: %s", r.Body)
	}

	// Field patch, shared field: the device's access notes win when the hub did not touch them.
	_, v = h.woStatus(wo)
	patch := d.mutation("", wo, v, nil)
	patch.Action, patch.Data = "", nil
	patch.Fields = map[string]json.RawMessage{"access_notes": json.RawMessage(`"dog in yard"`), "priority": json.RawMessage(`"urgent"`)}
	d.upload(patch)
	r := d.result(patch.ID)
	if r.Status != syncsvc.StatusConflict { // priority is office-owned: the hub's value stays, logged
		t.Fatalf("patch: %+v", r)
	}
	var notes, prio string
	h.env.DB.Pool.QueryRow(context.Background(), `SELECT access_notes, priority FROM work_orders WHERE id = $1`, wo).Scan(&notes, &prio)
	if notes != "dog in yard" || prio != "normal" {
		t.Fatalf("after patch: %q %q", notes, prio)
	}

	// Cancel versus complete: the office cancels while the technician completes offline.
	_, base := h.woStatus(wo)
	h.exec(`UPDATE work_orders SET status = 'canceled', canceled_at = now(), version = version + 1 WHERE id = $1`, wo)
	h.exec(`INSERT INTO field_attachments (work_order_id, kind, storage_key, mime, size, client_ref) VALUES ($1, 'photo', 'k1', 'image/jpeg', 10, gen_random_uuid())`, wo)
	complete := d.transition(wo, base, "complete", map[string]any{"payload": map[string]string{"signature_unavailable_reason": "customer away"}})
	d.upload(complete)
	r = d.result(complete.ID)
	if r.Status != syncsvc.StatusConflict || len(r.Conflicts) != 1 {
		t.Fatalf("cancel vs complete: %+v", r)
	}
	if s, _ := h.woStatus(wo); s != "completed" {
		t.Fatalf("the field fact did not stand: %s", s)
	}
	res := h.env.Do("GET", "/api/v1/sync/conflicts?entity_id="+wo, h.admin, nil)
	var list struct {
		Items []syncsvc.Conflict `json:"items"`
		Total int                `json:"total"`
	}
	res.JSON(t, &list)
	var review *syncsvc.Conflict
	for i, c := range list.Items {
		if c.Field == "status" {
			review = &list.Items[i]
		}
	}
	if review == nil || !review.Review || review.Winner != "device" || string(review.HubValue) != `"canceled"` || review.Status != "open" {
		t.Fatalf("conflicts: %s", res.Body)
	}
	if res := h.env.Do("POST", "/api/v1/sync/conflicts/"+review.ID+"/resolve", h.admin, map[string]string{"resolution": "customer confirmed"}); res.Status != 200 {
		t.Fatalf("resolve: %d %s", res.Status, res.Body)
	}
	if res := h.env.Do("POST", "/api/v1/sync/conflicts/"+review.ID+"/resolve", h.admin, nil); res.Status != 409 {
		t.Fatalf("resolve twice: %d", res.Status)
	}
	// Metrics.
	res = h.env.Do("GET", "/metrics", "", nil)
	for _, m := range []string{"dmf_sync_conflicts_total", "dmf_sync_mutations_total", "dmf_sync_rejections_total"} {
		if !strings.Contains(string(res.Body), m) {
			t.Errorf("metric %s missing", m)
		}
	}
}

// TestBootstrap_SnapshotResumableVerified: the snapshot downloads in pieces with Range, its
// SHA-256 and per-table checksums match the hub's live checksums.
func TestBootstrap_SnapshotResumableVerified(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	for range 5 {
		wo := h.createWorkOrder(tech1)
		h.exec(`INSERT INTO work_order_notes (work_order_id, body) VALUES ($1, 'n')`, wo)
	}
	h.createWorkOrder(h.techs["tech2@example.com"])
	get := func(path string, hdr map[string]string) *hubtest.Response {
		req, _ := http.NewRequest("GET", h.env.URL+path, nil)
		req.SetBasicAuth(d.enr.NATSUser, d.enr.NATSPassword)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return h.env.Send(http.DefaultClient, req)
	}
	r := get("/api/v1/sync/bootstrap", nil)
	if r.Status != 200 {
		t.Fatalf("bootstrap: %d %s", r.Status, r.Body)
	}
	var snap syncsvc.Snapshot
	r.JSON(t, &snap)
	if snap.Rows < 5*5 { // work order, assignment, customer, site, note per job (plus the demo's jobs)
		t.Fatalf("rows %d", snap.Rows)
	}
	half := snap.Size / 2
	p1 := get(snap.URL, map[string]string{"Range": fmt.Sprintf("bytes=0-%d", half-1)})
	p2 := get(snap.URL, map[string]string{"Range": fmt.Sprintf("bytes=%d-", half), "If-Range": `"` + snap.SHA256 + `"`})
	if p1.Status != 206 || p2.Status != 206 {
		t.Fatalf("range: %d %d", p1.Status, p2.Status)
	}
	file := append(p1.Body, p2.Body...)
	sum := sha256.Sum256(file)
	if hex.EncodeToString(sum[:]) != snap.SHA256 {
		t.Fatal("snapshot checksum mismatch")
	}
	path := filepath.Join(t.TempDir(), "snap.sqlite")
	os.WriteFile(path, file, 0o600)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT entity, id, version FROM rows`)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]*checksum.Table{}
	for rows.Next() {
		var e, id string
		var v int64
		rows.Scan(&e, &id, &v)
		_, ent, _ := h.svc.Scope.FamilyOf(e)
		name := ent.Table
		if local[name] == nil {
			local[name] = checksum.New(name)
		}
		local[name].Add(id, v)
	}
	rows.Close()
	c := get("/api/v1/sync/checksums", nil)
	var cs struct {
		Cursor uint64            `json:"cursor"`
		Tables []*checksum.Table `json:"tables"`
	}
	c.JSON(t, &cs)
	var mine []*checksum.Table
	for _, t := range local {
		mine = append(mine, t)
	}
	if mm := checksum.Compare(mine, cs.Tables); len(mm) != 0 {
		t.Fatalf("checksums differ: %+v", mm)
	}
	// A missing row is found bucket by bucket and fetched.
	var victim string
	db.QueryRow(`SELECT id FROM rows WHERE entity = 'work_order_note' LIMIT 1`).Scan(&victim)
	local["work_order_notes"].Remove(victim, 1)
	mm := checksum.Compare(mine, cs.Tables)
	if len(mm) != 1 || mm[0].Table != "work_order_notes" {
		t.Fatalf("mismatch: %+v", mm)
	}
	post := func(path, body string) *hubtest.Response {
		req, _ := http.NewRequest("POST", h.env.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+d.enr.DeviceToken)
		return h.env.Send(http.DefaultClient, req)
	}
	br := post("/api/v1/sync/rows", fmt.Sprintf(`{"table":"work_order_notes","buckets":[%d]}`, mm[0].Buckets[0]))
	var bucket struct {
		Rows []checksum.Row `json:"rows"`
	}
	br.JSON(t, &bucket)
	fetch, _ := checksum.DiffRows(nil, bucket.Rows)
	if !slices.Contains(fetch, victim) {
		t.Fatalf("repair rows %v miss %s", fetch, victim)
	}
	rr := h.env.Do("POST", "/api/v1/sync/rows", "", nil)
	if rr.Status != 401 {
		t.Fatalf("rows without credentials: %d", rr.Status)
	}
	if fr := post("/api/v1/sync/fetch", `{"table":"work_order_notes","ids":["`+victim+`"]}`); !strings.Contains(string(fr.Body), victim) {
		t.Fatalf("fetch: %d %s", fr.Status, fr.Body)
	}
	// The paged snapshot of PROTOCOL.md §5: same cursor on every page, checksums on the last.
	var pages []syncsvc.SnapshotPage
	token := ""
	for {
		pr := get("/api/v1/sync/snapshot?page="+token, nil)
		var p syncsvc.SnapshotPage
		pr.JSON(t, &p)
		pages = append(pages, p)
		if p.Next == "" {
			break
		}
		token = p.Next
	}
	total := 0
	for _, p := range pages {
		total += len(p.Changes)
	}
	if total != snap.Rows || len(pages[len(pages)-1].Checksums) == 0 {
		t.Fatalf("paged snapshot: %d rows in %d pages", total, len(pages))
	}
}
