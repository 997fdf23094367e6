package natsync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/scope"
)

// checkFor polls fn until it returns nil or the time is up.
func checkFor(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("not reached after %s: %v", total, err)
}

// proxy is a TCP proxy between the agent and NATS whose link the test can cut.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

func (p *proxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// Cut drops every connection and refuses new ones.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore accepts connections again.
func (p *proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// fakeHub stands in for the hub until the hubsync side lands: streams, the device's NATS user
// with the shared permissions, the HTTP sync endpoints and an upload applier.
type fakeHub struct {
	t        testing.TB
	srv      *server.Server
	ctl      *nats.Conn
	natsURL  string
	http     *httptest.Server
	down, up *jetstream.Feed
	downCfg  jetstream.Config
	upCfg    jetstream.Config
	tech     string
	device   string
	token    string
	password string
	clock    *hlc.Clock

	mu        sync.Mutex
	rows      map[string]map[string]change.Change // table → id → latest downstream change
	blobs     map[string][]byte
	applied   []string       // client refs applied, in order
	delivered map[string]int // client ref → times delivered
	rejectIf  func(change.Change) string
	blobFail  func(sum string) int // an HTTP status to answer a blob PUT with (0: accept)
	revoked   bool
	snapshots int
	order     []string // "blob:<sum>" and "change:<client_ref>" in the order the hub saw them
}

func newFakeHub(t testing.TB) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, tech: uuid.NewString(), device: uuid.NewString(), token: "device-token", password: "device-pass",
		clock: hlc.New("hub"), rows: map[string]map[string]change.Change{}, blobs: map[string][]byte{}, delivered: map[string]int{}}
	h.downCfg, h.upCfg = jetstream.Down(), jetstream.Up()
	for _, c := range []*jetstream.Config{&h.downCfg, &h.upCfg} {
		c.PollWait, c.AckWait = 200*time.Millisecond, 2*time.Second
	}
	pub, sub := jetstream.DevicePermissions(h.downCfg, h.upCfg, h.tech, h.device)
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "hub", Password: "hub"},
			{Username: h.device, Password: h.password, Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: pub}, Subscribe: &server.SubjectPermission{Allow: sub}}},
		}}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	h.srv = srv
	h.natsURL = srv.ClientURL()
	nc, err := nats.Connect(h.natsURL, nats.UserInfo("hub", "hub"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h.down, err = jetstream.New(ctx, js, h.downCfg); err != nil {
		t.Fatal(err)
	}
	if h.up, err = jetstream.New(ctx, js, h.upCfg); err != nil {
		t.Fatal(err)
	}
	h.ctl = nc
	h.http = httptest.NewServer(h.routes())
	t.Cleanup(h.http.Close)
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = change.Sync(actx, h.up, h.device, "up", "hub-"+h.device, h) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *fakeHub) creds(natsURL string) agent.Credentials {
	return agent.Credentials{DeviceID: h.device, TechnicianID: h.tech, HubURL: h.http.URL, NATSURL: natsURL,
		NATSUser: h.device, NATSPassword: h.password, DeviceToken: h.token}
}

// change builds a downstream change and records it as the hub's truth.
func (h *fakeHub) record(entity, id string, version int64, data map[string]any) change.Change {
	data["id"] = id
	raw, _ := json.Marshal(data)
	c := change.Change{ID: uuid.NewString(), Family: "f", Entity: entity, EntityID: id, Op: change.OpUpsert, Version: version,
		HLC: h.clock.Now(), Data: raw, SchemaVersion: change.SchemaVersion, CommittedAt: time.Now().UTC()}
	_, e, ok := scope.Default().FamilyOf(entity)
	if ok {
		if h.rows[e.Table] == nil {
			h.rows[e.Table] = map[string]change.Change{}
		}
		h.rows[e.Table][id] = c
	}
	return c
}

// publish commits changes on the hub and relays them to the technician's feed.
func (h *fakeHub) publish(changes ...change.Change) {
	h.t.Helper()
	b := change.Batch{ID: change.BatchID(changes), Changes: changes}
	if _, err := h.down.Publish(context.Background(), h.tech, b); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHub) woData(status string, version int64) map[string]any {
	return map[string]any{"number": "WO-1", "title": "Install", "status": status, "priority": "normal", "work_type": "install",
		"assigned_to": h.tech, "site_address": "1 Main St", "site_lat": 6.5, "site_lon": 3.4, "version": version}
}

// seedJob publishes a dispatched job assigned to the technician and returns its id.
func (h *fakeHub) seedJob() string {
	id := uuid.NewString()
	h.mu.Lock()
	cs := []change.Change{
		h.record("work_order", id, 1, h.woData("dispatched", 1)),
		h.record("work_order_assignment", id+":"+h.tech, 1, map[string]any{"work_order_id": id, "person_id": h.tech, "is_primary": true}),
	}
	h.mu.Unlock()
	h.publish(cs...)
	return id
}

// Cursor and Apply make the fake hub a change.Store of the upstream feed: its upload applier.
func (h *fakeHub) Cursor(context.Context, string) (change.Cursor, error) { return 0, nil }

func (h *fakeHub) Apply(ctx context.Context, _ string, b change.Batch) error {
	h.mu.Lock()
	var out []change.Change
	for _, c := range b.Changes {
		h.delivered[c.ClientRef]++
		h.order = append(h.order, "change:"+c.ClientRef)
		out = append(out, h.applyUpload(c)...)
	}
	h.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	_, err := h.down.Publish(ctx, h.tech, change.Batch{ID: change.BatchID(out), Changes: out})
	return err
}

func (h *fakeHub) result(c change.Change, status, code, msg string) change.Change {
	data := map[string]any{"device_id": c.DeviceID, "change_id": c.ID, "client_ref": c.ClientRef, "action": c.Action,
		"entity_id": c.EntityID, "status": status}
	if code != "" {
		data["error"] = map[string]any{"code": code, "message": msg}
	}
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.NewString(), Family: "sync", Entity: "upload_result", EntityID: c.ClientRef, Op: change.OpUpsert,
		Version: 1, HLC: h.clock.Now(), Data: raw, SchemaVersion: change.SchemaVersion}
}

// applyUpload applies one upload the way the hub's applier would: idempotent by client_ref.
func (h *fakeHub) applyUpload(c change.Change) []change.Change {
	if h.delivered[c.ClientRef] > 1 && contains(h.applied, c.ClientRef) {
		return []change.Change{h.result(c, "replayed", "", "")}
	}
	if h.rejectIf != nil {
		if msg := h.rejectIf(c); msg != "" {
			return []change.Change{h.result(c, "rejected", "conflict", msg)}
		}
	}
	var data map[string]any
	_ = json.Unmarshal(c.Data, &data)
	var out []change.Change
	switch c.Action {
	case "transition":
		wo := h.rows["work_orders"][c.EntityID]
		var w map[string]any
		_ = json.Unmarshal(wo.Data, &w)
		st, _ := w["status"].(string)
		res, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.Event(data["event"].(string)), From: fieldexec.Status(st),
			Reason: "other"})
		if err != nil {
			return []change.Change{h.result(c, "rejected", "conflict", err.Error())}
		}
		w["status"] = string(res.To)
		out = append(out, h.record("work_order", c.EntityID, wo.Version+1, w))
		out = append(out, h.record("work_order_event", data["id"].(string), 1, map[string]any{"work_order_id": c.EntityID,
			"event": data["event"], "from_status": st, "to_status": string(res.To), "client_event_id": c.ClientRef,
			"occurred_at": data["occurred_at"], "received_at": time.Now().UTC()}))
	case "note":
		out = append(out, h.record("work_order_note", data["id"].(string), 1, map[string]any{"work_order_id": c.EntityID,
			"body": data["body"], "client_ref": c.ClientRef, "author_id": h.tech, "created_at": data["created_at"]}))
	case "attachment":
		sum, _ := data["sha256"].(string)
		if _, ok := h.blobs[sum]; !ok {
			return []change.Change{h.result(c, "rejected", "invalid", "content "+sum+" was not uploaded first")}
		}
		data["work_order_id"], data["storage_key"], data["is_active"] = c.EntityID, sum, true
		out = append(out, h.record("field_attachment", data["id"].(string), 1, data))
	}
	h.applied = append(h.applied, c.ClientRef)
	return append(out, h.result(c, "applied", "", ""))
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (h *fakeHub) routes() http.Handler {
	mux := http.NewServeMux()
	auth := func(fn http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			revoked := h.revoked
			h.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer "+h.token || revoked {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fn(w, r)
		}
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/sync/device", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"id": h.device, "technician_id": h.tech, "status": "active"})
	}))
	mux.HandleFunc("GET /api/v1/sync/snapshot", auth(func(w http.ResponseWriter, r *http.Request) {
		// Two pages: page 1 holds the work orders, page 2 the rest and the checksums.
		h.mu.Lock()
		defer h.mu.Unlock()
		h.snapshots++
		head, _ := h.down.Head(r.Context())
		page := r.URL.Query().Get("page")
		var p natsync.SnapshotPage
		p.Cursor = head
		for table, rows := range h.rows {
			if (table == "work_orders") != (page == "") {
				continue
			}
			for _, c := range rows {
				p.Changes = append(p.Changes, c)
			}
		}
		if page == "" {
			p.Next = "2"
		} else {
			p.Checksums = h.checksumsLocked()
		}
		writeJSON(w, p)
	}))
	mux.HandleFunc("GET /api/v1/sync/checksums", auth(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		writeJSON(w, map[string]any{"tables": h.checksumsLocked()})
	}))
	mux.HandleFunc("POST /api/v1/sync/rows", auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Table   string `json:"table"`
			Buckets []int  `json:"buckets"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.mu.Lock()
		defer h.mu.Unlock()
		writeJSON(w, map[string]any{"rows": checksum.InBuckets(h.rowsLocked(req.Table), req.Buckets)})
	}))
	mux.HandleFunc("POST /api/v1/sync/fetch", auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Table string   `json:"table"`
			IDs   []string `json:"ids"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.mu.Lock()
		defer h.mu.Unlock()
		var out []change.Change
		for _, id := range req.IDs {
			if c, ok := h.rows[req.Table][id]; ok {
				out = append(out, c)
			}
		}
		writeJSON(w, map[string]any{"changes": out})
	}))
	mux.HandleFunc("PUT /api/v1/sync/blobs/{sum}", auth(func(w http.ResponseWriter, r *http.Request) {
		sum := r.PathValue("sum")
		h.mu.Lock()
		fail := h.blobFail
		h.mu.Unlock()
		if fail != nil {
			if st := fail(sum); st != 0 {
				w.WriteHeader(st)
				fmt.Fprintf(w, `{"error":{"code":"invalid","message":"refused with %d"}}`, st)
				return
			}
		}
		b, _ := io.ReadAll(r.Body)
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		h.mu.Lock()
		h.blobs[sum] = b
		h.order = append(h.order, "blob:"+sum)
		h.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Email, Password string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Email != "tech1@example.com" || req.Password != "tech123!" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, map[string]any{"access_token": "hub-access", "refresh_token": "r", "token_type": "bearer", "expires_in": 900})
	})
	mux.HandleFunc("GET /api/v1/auth/me", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"id": h.tech, "email": "tech1@example.com", "display_name": "Tech One", "roles": []string{"technician"}})
	})
	return mux
}

func (h *fakeHub) rowsLocked(table string) []checksum.Row {
	var out []checksum.Row
	for id, c := range h.rows[table] {
		out = append(out, checksum.Row{ID: id, Version: c.Version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (h *fakeHub) checksumsLocked() []*checksum.Table {
	var out []*checksum.Table
	for _, t := range scope.Default().Tables() {
		out = append(out, checksum.Compute(t, h.rowsLocked(t)))
	}
	return out
}

// agentHarness is one edge agent (replica + sync client) against the fake hub.
type agentHarness struct {
	t      testing.TB
	hub    *fakeHub
	proxy  *proxy
	dir    string
	db     *sqlite.DB
	client *natsync.Client
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t testing.TB, h *fakeHub) *agentHarness {
	t.Helper()
	a := &agentHarness{t: t, hub: h, proxy: newProxy(t, strings.TrimPrefix(h.natsURL, "nats://")), dir: t.TempDir()}
	a.start()
	t.Cleanup(a.stop)
	return a
}

func (a *agentHarness) start() {
	a.t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(a.dir, "replica.db"), filepath.Join(a.dir, "blobs"))
	if err != nil {
		a.t.Fatal(err)
	}
	creds := a.hub.creds(a.proxy.URL())
	db.DeviceID, db.TechnicianID = creds.DeviceID, creds.TechnicianID
	a.db = db
	down, up := a.hub.downCfg, a.hub.upCfg
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("EDGE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a.client = &natsync.Client{Creds: creds, DB: db, Hub: natsync.NewHubClient(a.hub.http.URL, a.hub.token), Logger: logger,
		Down: &down, Up: &up, ReconnectWait: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, VerifyInterval: time.Hour,
		Purge: func() error {
			db.Close()
			return sqlite.Purge(filepath.Join(a.dir, "replica.db"), filepath.Join(a.dir, "blobs"))
		}}
	db.OnWrite = a.client.Wake
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- a.client.Run(ctx) }()
}

func (a *agentHarness) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		a.t.Error("sync client did not stop")
	}
	a.cancel = nil
	a.db.Close()
}

func (a *agentHarness) status() (pending, conflicts int) {
	st, err := a.db.Status(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return st.PendingUploads, st.OpenConflicts
}
