// Package agenttest holds test helpers for the edge agent: a stand-in for the hub (NATS with
// per-device permissions, the HTTP sync endpoints, an upload applier) and a TCP proxy whose link
// a test can cut. Import it from _test.go files only.
package agenttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite" // snapshot files

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/scope"
	"dotmac.dev/field/sync/snapshot"
)

// checkFor polls fn until it returns nil or the time is up.
func CheckFor(t testing.TB, total, every time.Duration, fn func() error) {
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

// Proxy is a TCP proxy between the agent and NATS whose link the test can cut.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func NewProxy(t testing.TB, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

// URL is the NATS URL through the proxy.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *Proxy) serve() {
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
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// FakeHub stands in for the hub until the hubsync side lands: streams, the device's NATS user
// with the shared permissions, the HTTP sync endpoints and an upload applier.
type FakeHub struct {
	t        testing.TB
	Srv      *server.Server
	Ctl      *nats.Conn
	NATSURL  string
	HTTP     *httptest.Server
	Down, Up *jetstream.Feed
	DownCfg  jetstream.Config
	UpCfg    jetstream.Config
	Tech     string
	Device   string
	Token    string
	Password string
	Clock    *hlc.Clock

	Mu        sync.Mutex
	Rows      map[string]map[string]change.Change // table → id → latest downstream change
	Blobs     map[string][]byte
	Applied   []string       // client refs applied, in order
	Delivered map[string]int // client ref → times delivered
	RejectIf  func(change.Change) string
	BlobFail  func(sum string) int // an HTTP status to answer a blob PUT with (0: accept)
	Revoked   bool
	// EnrollCode is the one-time code POST /api/v1/devices/enroll accepts ("ENROLL-1").
	EnrollCode string
	// EnrollNATSURL is the NATS URL handed out at enrollment (NATSURL when empty).
	EnrollNATSURL string
	enrolled      bool
	Snapshots     int // snapshots taken: first pages and snapshot files
	// NoSnapshotFile makes GET /api/v1/sync/bootstrap answer 404 (a hub with the paged snapshot only).
	NoSnapshotFile bool
	// HoldFileAt, when > 0, makes a snapshot file download stop after that many bytes and hang
	// until the client goes (a link that stalls, an agent killed mid-download); Held counts them.
	HoldFileAt int64
	Held       int
	// CorruptFiles makes the next snapshot file downloads serve altered bytes.
	CorruptFiles int
	// FileRanges lists the Range header of every snapshot file request ("" for a whole file).
	FileRanges []string
	// PageRequests counts GET /api/v1/sync/snapshot.
	PageRequests int
	snapFiles    map[string]snapFile
	Order        []string // "blob:<sum>" and "change:<client_ref>" in the order the hub saw them
}

func NewFakeHub(t testing.TB) *FakeHub {
	t.Helper()
	h := &FakeHub{t: t, Tech: uuid.NewString(), Device: uuid.NewString(), Token: "device-token", Password: "device-pass",
		Clock: hlc.New("hub"), Rows: map[string]map[string]change.Change{}, Blobs: map[string][]byte{}, Delivered: map[string]int{}, EnrollCode: "ENROLL-1"}
	h.DownCfg, h.UpCfg = jetstream.Down(), jetstream.Up()
	for _, c := range []*jetstream.Config{&h.DownCfg, &h.UpCfg} {
		c.PollWait, c.AckWait = 200*time.Millisecond, 2*time.Second
	}
	pub, sub := jetstream.DevicePermissions(h.DownCfg, h.UpCfg, h.Tech, h.Device)
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "hub", Password: "hub"},
			{Username: h.Device, Password: h.Password, Permissions: &server.Permissions{
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
	h.Srv = srv
	h.NATSURL = srv.ClientURL()
	nc, err := nats.Connect(h.NATSURL, nats.UserInfo("hub", "hub"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h.Down, err = jetstream.New(ctx, js, h.DownCfg); err != nil {
		t.Fatal(err)
	}
	if h.Up, err = jetstream.New(ctx, js, h.UpCfg); err != nil {
		t.Fatal(err)
	}
	h.Ctl = nc
	h.HTTP = httptest.NewServer(h.routes())
	t.Cleanup(h.HTTP.Close)
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = change.Sync(actx, h.Up, h.Device, "up", "hub-"+h.Device, h) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *FakeHub) Creds(natsURL string) agent.Credentials {
	return agent.Credentials{DeviceID: h.Device, TechnicianID: h.Tech, HubURL: h.HTTP.URL, NATSURL: natsURL,
		NATSUser: h.Device, NATSPassword: h.Password, DeviceToken: h.Token}
}

// change builds a downstream change and records it as the hub's truth.
func (h *FakeHub) Record(entity, id string, version int64, data map[string]any) change.Change {
	data["id"] = id
	raw, _ := json.Marshal(data)
	c := change.Change{ID: uuid.NewString(), Family: "f", Entity: entity, EntityID: id, Op: change.OpUpsert, Version: version,
		HLC: h.Clock.Now(), Data: raw, SchemaVersion: change.SchemaVersion, CommittedAt: time.Now().UTC()}
	_, e, ok := scope.Default().FamilyOf(entity)
	if ok {
		if h.Rows[e.Table] == nil {
			h.Rows[e.Table] = map[string]change.Change{}
		}
		h.Rows[e.Table][id] = c
	}
	return c
}

// publish commits changes on the hub and relays them to the technician's feed.
func (h *FakeHub) Publish(changes ...change.Change) {
	h.t.Helper()
	b := change.Batch{ID: change.BatchID(changes), Changes: changes}
	if _, err := h.Down.Publish(context.Background(), h.Tech, b); err != nil {
		h.t.Fatal(err)
	}
}

func (h *FakeHub) WOData(status string, version int64) map[string]any {
	return map[string]any{"number": "WO-1", "title": "Install", "status": status, "priority": "normal", "work_type": "install",
		"assigned_to": h.Tech, "site_address": "1 Main St", "site_lat": 6.5, "site_lon": 3.4, "version": version}
}

// seedJob publishes a dispatched job assigned to the technician and returns its id.
func (h *FakeHub) SeedJob() string {
	id := uuid.NewString()
	h.Mu.Lock()
	cs := []change.Change{
		h.Record("work_order", id, 1, h.WOData("dispatched", 1)),
		h.Record("work_order_assignment", id+":"+h.Tech, 1, map[string]any{"work_order_id": id, "person_id": h.Tech, "is_primary": true}),
	}
	h.Mu.Unlock()
	h.Publish(cs...)
	return id
}

// Cursor and Apply make the fake hub a change.Store of the upstream feed: its upload applier.
func (h *FakeHub) Cursor(context.Context, string) (change.Cursor, error) { return 0, nil }

func (h *FakeHub) Apply(ctx context.Context, _ string, b change.Batch) error {
	h.Mu.Lock()
	var out []change.Change
	for _, c := range b.Changes {
		h.Delivered[c.ClientRef]++
		h.Order = append(h.Order, "change:"+c.ClientRef)
		out = append(out, h.applyUpload(c)...)
	}
	h.Mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	_, err := h.Down.Publish(ctx, h.Tech, change.Batch{ID: change.BatchID(out), Changes: out})
	return err
}

func (h *FakeHub) result(c change.Change, status, code, msg string) change.Change {
	data := map[string]any{"device_id": c.DeviceID, "change_id": c.ID, "client_ref": c.ClientRef, "action": c.Action,
		"entity_id": c.EntityID, "status": status}
	if code != "" {
		data["error"] = map[string]any{"code": code, "message": msg}
	}
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.NewString(), Family: "sync", Entity: "upload_result", EntityID: c.ClientRef, Op: change.OpUpsert,
		Version: 1, HLC: h.Clock.Now(), Data: raw, SchemaVersion: change.SchemaVersion}
}

// applyUpload applies one upload the way the hub's applier would: idempotent by client_ref.
func (h *FakeHub) applyUpload(c change.Change) []change.Change {
	if h.Delivered[c.ClientRef] > 1 && Contains(h.Applied, c.ClientRef) {
		return []change.Change{h.result(c, "replayed", "", "")}
	}
	if err := StrictData(c); err != nil {
		return []change.Change{h.result(c, "rejected", "invalid", err.Error())}
	}
	if h.RejectIf != nil {
		if msg := h.RejectIf(c); msg != "" {
			return []change.Change{h.result(c, "rejected", "conflict", msg)}
		}
	}
	var data map[string]any
	_ = json.Unmarshal(c.Data, &data)
	var out []change.Change
	switch c.Action {
	case "transition":
		wo := h.Rows["work_orders"][c.EntityID]
		var w map[string]any
		_ = json.Unmarshal(wo.Data, &w)
		st, _ := w["status"].(string)
		res, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.Event(data["event"].(string)), From: fieldexec.Status(st),
			Reason: "other"})
		if err != nil {
			return []change.Change{h.result(c, "rejected", "conflict", err.Error())}
		}
		w["status"] = string(res.To)
		out = append(out, h.Record("work_order", c.EntityID, wo.Version+1, w))
		out = append(out, h.Record("work_order_event", data["id"].(string), 1, map[string]any{"work_order_id": c.EntityID,
			"event": data["event"], "from_status": st, "to_status": string(res.To), "client_event_id": c.ClientRef,
			"occurred_at": data["occurred_at"], "received_at": time.Now().UTC()}))
	case "note":
		out = append(out, h.Record("work_order_note", data["id"].(string), 1, map[string]any{"work_order_id": c.EntityID,
			"body": data["body"], "client_ref": c.ClientRef, "author_id": h.Tech, "created_at": data["created_at"]}))
	case "attachment":
		sum, _ := data["sha256"].(string)
		if _, ok := h.Blobs[sum]; !ok {
			return []change.Change{h.result(c, "rejected", "invalid", "content "+sum+" was not uploaded first")}
		}
		data["work_order_id"], data["storage_key"], data["is_active"] = c.EntityID, sum, true
		out = append(out, h.Record("field_attachment", data["id"].(string), 1, data))
	}
	h.Applied = append(h.Applied, c.ClientRef)
	return append(out, h.result(c, "applied", "", ""))
}

func Contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (h *FakeHub) routes() http.Handler {
	mux := http.NewServeMux()
	auth := func(fn http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h.Mu.Lock()
			revoked := h.Revoked
			h.Mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer "+h.Token || revoked {
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
		writeJSON(w, map[string]string{"id": h.Device, "technician_id": h.Tech, "status": "active"})
	}))
	mux.HandleFunc("GET /api/v1/sync/bootstrap", auth(h.handleBootstrap))
	mux.HandleFunc("GET /api/v1/sync/bootstrap/{id}", auth(h.handleBootstrapFile))
	mux.HandleFunc("GET /api/v1/sync/snapshot", auth(func(w http.ResponseWriter, r *http.Request) {
		// Two pages: page 1 holds the work orders, page 2 the rest and the checksums.
		h.Mu.Lock()
		defer h.Mu.Unlock()
		h.PageRequests++
		if r.URL.Query().Get("page") == "" {
			h.Snapshots++
		}
		head, _ := h.Down.Head(r.Context())
		page := r.URL.Query().Get("page")
		var p natsync.SnapshotPage
		p.Cursor = head
		for table, rows := range h.Rows {
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
			p.Checksums = h.ChecksumsLocked()
		}
		writeJSON(w, p)
	}))
	mux.HandleFunc("GET /api/v1/sync/checksums", auth(func(w http.ResponseWriter, r *http.Request) {
		h.Mu.Lock()
		defer h.Mu.Unlock()
		writeJSON(w, map[string]any{"tables": h.ChecksumsLocked()})
	}))
	mux.HandleFunc("POST /api/v1/sync/rows", auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Table   string `json:"table"`
			Buckets []int  `json:"buckets"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.Mu.Lock()
		defer h.Mu.Unlock()
		writeJSON(w, map[string]any{"rows": checksum.InBuckets(h.RowsLocked(req.Table), req.Buckets)})
	}))
	mux.HandleFunc("POST /api/v1/sync/fetch", auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Table string   `json:"table"`
			IDs   []string `json:"ids"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.Mu.Lock()
		defer h.Mu.Unlock()
		var out []change.Change
		for _, id := range req.IDs {
			if c, ok := h.Rows[req.Table][id]; ok {
				out = append(out, c)
			}
		}
		writeJSON(w, map[string]any{"changes": out})
	}))
	mux.HandleFunc("PUT /api/v1/sync/blobs/{sum}", auth(func(w http.ResponseWriter, r *http.Request) {
		sum := r.PathValue("sum")
		h.Mu.Lock()
		fail := h.BlobFail
		h.Mu.Unlock()
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
		h.Mu.Lock()
		h.Blobs[sum] = b
		h.Order = append(h.Order, "blob:"+sum)
		h.Mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	mux.HandleFunc("POST /api/v1/devices/enroll", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Code string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.Mu.Lock()
		ok := req.Code != "" && req.Code == h.EnrollCode && !h.enrolled
		h.enrolled = h.enrolled || ok
		natsURL := cmpOr(h.EnrollNATSURL, h.NATSURL)
		h.Mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"unknown or used enrollment code"}}`)
			return
		}
		writeJSON(w, h.Creds(natsURL))
	})
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
		writeJSON(w, map[string]any{"id": h.Tech, "email": "tech1@example.com", "display_name": "Tech One", "roles": []string{"technician"}})
	})
	return mux
}

type snapFile struct {
	info snapshot.Info
	path string
}

// handleBootstrap writes a snapshot file of the hub's rows (sync/snapshot) and describes it.
func (h *FakeHub) handleBootstrap(w http.ResponseWriter, r *http.Request) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if h.NoSnapshotFile {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"no such route"}}`)
		return
	}
	h.Snapshots++
	head, err := h.Down.Head(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var rows []snapshot.Row
	entityOf := map[string]string{}
	for _, byID := range h.Rows {
		for _, c := range byID {
			rows = append(rows, snapshot.Row{Entity: c.Entity, ID: c.EntityID, Family: c.Family, Version: c.Version, Data: c.Data})
			_, e, _ := scope.Default().FamilyOf(c.Entity)
			entityOf[e.Table] = c.Entity
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Entity+rows[i].ID < rows[j].Entity+rows[j].ID })
	id := fmt.Sprintf("%s-%d-%d", h.Tech, head, h.Snapshots)
	path := filepath.Join(h.t.TempDir(), id+".sqlite")
	db, err := sql.Open("sqlite", "file:"+path)
	if err == nil {
		err = snapshot.Write(r.Context(), db, h.Tech, head, rows, h.ChecksumsLocked(), entityOf)
		db.Close()
	}
	if err != nil {
		h.t.Errorf("fake hub: snapshot file: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(b)
	info := snapshot.Info{ID: id, Format: snapshot.Format, TechnicianID: h.Tech, Cursor: head, Rows: len(rows), Size: int64(len(b)),
		SHA256: hex.EncodeToString(sum[:]), CreatedAt: time.Now().UTC(), URL: "/api/v1/sync/bootstrap/" + id}
	if h.snapFiles == nil {
		h.snapFiles = map[string]snapFile{}
	}
	h.snapFiles[id] = snapFile{info: info, path: path}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

// ExpireSnapshotFiles forgets every snapshot file, as the hub does after a while (Mu held).
func (h *FakeHub) ExpireSnapshotFiles() { h.snapFiles = nil }

// handleBootstrapFile serves a snapshot file with Range and If-Range, as the hub does.
func (h *FakeHub) handleBootstrapFile(w http.ResponseWriter, r *http.Request) {
	h.Mu.Lock()
	f, ok := h.snapFiles[r.PathValue("id")]
	h.FileRanges = append(h.FileRanges, r.Header.Get("Range"))
	hold := h.HoldFileAt
	corrupt := h.CorruptFiles > 0
	if corrupt {
		h.CorruptFiles--
	}
	h.Mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"snapshot not found"}}`)
		return
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if corrupt {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0xff
	}
	w.Header().Set("ETag", `"`+f.info.SHA256+`"`)
	w.Header().Set("Content-Type", "application/vnd.sqlite3")
	if hold > 0 && r.Header.Get("Range") == "" {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:hold])
		w.(http.Flusher).Flush()
		h.Mu.Lock()
		h.Held++
		h.Mu.Unlock()
		<-r.Context().Done()
		return
	}
	http.ServeContent(w, r, f.info.ID+".sqlite", f.info.CreatedAt, bytes.NewReader(b))
}

func (h *FakeHub) RowsLocked(table string) []checksum.Row {
	var out []checksum.Row
	for id, c := range h.Rows[table] {
		out = append(out, checksum.Row{ID: id, Version: c.Version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (h *FakeHub) ChecksumsLocked() []*checksum.Table {
	var out []*checksum.Table
	for _, t := range scope.Default().Tables() {
		out = append(out, checksum.Compute(t, h.RowsLocked(t)))
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// URL is the hub's HTTP base URL.
func (h *FakeHub) URL() string { return h.HTTP.URL }

// StrictData decodes an upload's data the way the hub does (unknown members refused), into the
// shapes of edge-agent/PROTOCOL.md section 3.
func StrictData(c change.Change) error {
	var v any
	switch c.Action {
	case "transition":
		v = &struct {
			field.TransitionRequest
			ID string `json:"id"`
		}{}
	case "note":
		v = &struct {
			field.NoteRequest
			ID string `json:"id"`
		}{}
	case "consume":
		v = &field.ConsumeRequest{}
	case "survey":
		v = &field.SurveyRequest{}
	case "attachment":
		v = &struct {
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
		}{}
	default:
		return fmt.Errorf("unknown action %q", c.Action)
	}
	d := json.NewDecoder(bytes.NewReader(c.Data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
