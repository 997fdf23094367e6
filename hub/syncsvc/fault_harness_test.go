package syncsvc_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/scope"
)

// Helpers of the fault tests (fault_agent_test.go): a hub that can be stopped and started again
// on the same database, data directory and NATS store; a NATS server of its own that can be
// restarted under a running hub; a real edge agent process that can be killed with SIGKILL; an
// HTTP proxy that counts snapshot pages; and a comparison of the replica's checksums (read from
// its SQLite file) with the hub's.

// hubNode is one hub instance (app.App, as `hub serve` runs it). A new node on the same Config is
// the same hub restarted.
type hubNode struct {
	t      *testing.T
	cfg    app.Config
	a      *app.App
	svc    *syncsvc.Service
	url    string
	cancel context.CancelFunc
	done   chan struct{}
}

// faultConfig is a hub configuration on a fresh database, with fixed addresses so that a restarted
// hub is found where the agent left it.
func faultConfig(t *testing.T) app.Config {
	cfg := hubtest.Config(t)
	cfg.NATSListen = freePort(t)
	cfg.Addr = freePort(t)
	cfg.PublicURL = "http://" + cfg.Addr
	return cfg
}

func startHubNode(t *testing.T, cfg app.Config, seed bool) *hubNode {
	t.Helper()
	a, ctx, cancel := hubtest.Open(t, cfg, seed)
	var ln net.Listener
	hubtest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() (err error) {
		ln, err = net.Listen("tcp", cfg.Addr)
		return err
	})
	n := &hubNode{t: t, cfg: cfg, a: a, url: "http://" + cfg.Addr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		a.ServeListener(ctx, ln)
	}()
	for _, ar := range a.Server.Areas {
		if sa, ok := ar.(*syncsvc.Area); ok {
			n.svc = sa.Svc
		}
	}
	if n.svc == nil {
		t.Fatal("the sync area is not wired")
	}
	t.Cleanup(n.stop)
	return n
}

// stop shuts the hub down (HTTP, relay, applier, and the embedded NATS when it runs one).
func (n *hubNode) stop() {
	if n.a == nil {
		return
	}
	n.cancel()
	<-n.done
	n.a.Close()
	n.a = nil
}

// do calls the hub's HTTP API.
func (n *hubNode) do(method, path, token string, body, out any) (int, string) {
	st, b, err := callJSON(&http.Client{Timeout: 15 * time.Second}, method, n.url+path, token, body, out)
	if err != nil {
		return 0, err.Error()
	}
	return st, b
}

func (n *hubNode) token(email, password string) string {
	n.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st, b := n.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tok); st != 200 {
		n.t.Fatalf("login %s: %d %s", email, st, b)
	}
	return tok.AccessToken
}

func (n *hubNode) person(email string) string {
	n.t.Helper()
	var id string
	if err := n.a.DB.Pool.QueryRow(context.Background(), `SELECT id FROM people WHERE email = $1`, email).Scan(&id); err != nil {
		n.t.Fatal(err)
	}
	return id
}

func (n *hubNode) count(q string, args ...any) int {
	n.t.Helper()
	var c int
	if err := n.a.DB.Pool.QueryRow(context.Background(), q, args...).Scan(&c); err != nil {
		n.t.Fatalf("%s: %v", q, err)
	}
	return c
}

// startableJob returns a job of tech that the technician can still start (scheduled or dispatched).
func startableJob(t *testing.T, db *postgres.DB, tech string) string {
	t.Helper()
	var wo string
	if err := db.Pool.QueryRow(context.Background(), `SELECT id FROM work_orders WHERE assigned_to = $1 AND status IN ('scheduled', 'dispatched')
		AND is_active ORDER BY scheduled_start, id LIMIT 1`, tech).Scan(&wo); err != nil {
		t.Fatalf("a startable job of %s: %v", tech, err)
	}
	return wo
}

// externalNATS is a NATS server with JetStream run by the test, which the hub reaches over the
// network (NATS_URL, the deployment at scale). Devices authenticate with the hub's
// authenticator; the hub with a user of its own.
type externalNATS struct {
	t     *testing.T
	addr  string
	store string
	auth  server.Authentication
	srv   *server.Server
	// HubURL is the URL the hub connects with (its credentials included).
	HubURL string
}

type hubOrDevice struct {
	user, pass string
	devices    server.Authentication
}

func (a hubOrDevice) Check(c server.ClientAuthentication) bool {
	if o := c.GetOpts(); o != nil && o.Username == a.user {
		if o.Password != a.pass {
			return false
		}
		c.RegisterUser(&server.User{Username: a.user})
		return true
	}
	return a.devices.Check(c)
}

func startExternalNATS(t *testing.T, databaseURL string) *externalNATS {
	t.Helper()
	db, err := postgres.Open(context.Background(), databaseURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	pass := strings.ReplaceAll(uuid.NewString(), "-", "")
	x := &externalNATS{t: t, addr: freePort(t), store: t.TempDir(),
		auth: hubOrDevice{user: "hub-ext", pass: pass, devices: syncsvc.NewAuthenticator(db, nil)}}
	x.HubURL = "nats://hub-ext:" + pass + "@" + x.addr
	x.start()
	t.Cleanup(x.stop)
	return x
}

func (x *externalNATS) start() {
	x.t.Helper()
	host, port, _ := net.SplitHostPort(x.addr)
	var p int
	fmt.Sscan(port, &p)
	hubtest.CheckFor(x.t, 30*time.Second, 100*time.Millisecond, func() error {
		ns, err := server.NewServer(&server.Options{ServerName: "fault-nats", Host: host, Port: p, JetStream: true, StoreDir: x.store,
			NoSigs: true, NoLog: true, MaxPayload: 8 << 20, CustomClientAuthentication: x.auth,
			JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 1 << 30})
		if err != nil {
			return err
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			ns.WaitForShutdown()
			return fmt.Errorf("nats did not start on %s", x.addr)
		}
		x.srv = ns
		return nil
	})
}

func (x *externalNATS) stop() {
	if x.srv != nil {
		x.srv.Shutdown()
		x.srv.WaitForShutdown()
		x.srv = nil
	}
}

// agentProc is a real edge agent process (the binary), restartable and killable.
type agentProc struct {
	*edgeAgent
	bin, dir, nats string
	env            []string
	cmd            *exec.Cmd
	logs           []*logBuffer // one per run
}

// enrollAgent creates a device for tech on hub (base URL, admin token) and enrolls a real agent.
func enrollAgent(t *testing.T, hubURL, admin, tech string) (dir, device string) {
	t.Helper()
	bin := buildAgent(t)
	var nd syncsvc.NewDevice
	st, body, err := callJSON(http.DefaultClient, "POST", hubURL+"/api/v1/devices", admin,
		map[string]string{"technician_id": tech, "name": "tablet " + tech[:8]}, &nd)
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusCreated {
		t.Fatalf("create device: %d %s", st, body)
	}
	dir = t.TempDir()
	var out bytes.Buffer
	enroll := exec.Command(bin, "enroll", "--hub", hubURL, "--code", nd.EnrollmentCode, "--data", dir)
	enroll.Stdout, enroll.Stderr = &out, &out
	if err := enroll.Run(); err != nil {
		t.Fatalf("edge-agent enroll: %v\n%s", err, out.String())
	}
	var cred struct {
		DeviceID string `json:"device_id"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "credentials.json")); err == nil {
		json.Unmarshal(b, &cred)
	}
	return dir, cred.DeviceID
}

// setHubURL points an enrolled agent at another hub address (a proxy), as an operator would.
func setHubURL(t *testing.T, dir, hubURL string) {
	t.Helper()
	path := filepath.Join(dir, "credentials.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["hub_url"] = hubURL
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newAgentProc(t *testing.T, dir, device, natsURL string, env ...string) *agentProc {
	p := &agentProc{edgeAgent: &edgeAgent{t: t, device: device}, bin: buildAgent(t), dir: dir, nats: natsURL, env: env}
	t.Cleanup(func() {
		p.kill()
		if (t.Failed() || os.Getenv("FAULT_AGENT_LOG") != "") && len(p.logs) > 0 {
			t.Logf("edge agent log of the last run (tail):\n%s", tail(p.logs[len(p.logs)-1].text(), 8000))
		}
	})
	return p
}

// start runs the agent on a new loopback port; it does not wait for it.
func (p *agentProc) start() {
	p.t.Helper()
	addr := freePort(p.t)
	logs := &logBuffer{}
	p.logs = append(p.logs, logs)
	cmd := exec.Command(p.bin, "run", "--data", p.dir, "--listen", addr, "--nats-url", p.nats, "--log-level", "debug", "--log-format", "text")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(append(os.Environ(), "EDGE_VERIFY_INTERVAL=2s"), p.env...)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.base = cmd, "http://"+addr
}

// startReady runs the agent, waits until it answers and logs in (online or with the cached hash).
func (p *agentProc) startReady(email, password string) {
	p.t.Helper()
	p.start()
	hubtest.CheckFor(p.t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := http.Get(p.base + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	if p.token != "" {
		if st, _ := p.do("GET", "/api/v1/auth/me", nil, nil); st == 200 {
			return // the session survived the restart
		}
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if st, body := p.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &login); st != 200 {
		p.t.Fatalf("agent login: %d %s", st, body)
	}
	p.token = login.AccessToken
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *agentProc) kill() {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// stop ends the process gracefully.
func (p *agentProc) stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *agentProc) lastLog() string {
	if len(p.logs) == 0 {
		return ""
	}
	return p.logs[len(p.logs)-1].text()
}

// logBuffer collects a process's output for reading while it runs. Only Write is exposed (an
// embedded bytes.Buffer would hand os/exec its unlocked ReadFrom).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// try calls the agent's API without failing the test on a transport error (the agent may be down).
func (a *edgeAgent) try(method, path string, body, out any) int {
	st, _, err := callJSON(&http.Client{Timeout: 5 * time.Second}, method, a.base+path, a.token, body, out)
	if err != nil {
		return 0
	}
	return st
}

// noteWriter writes notes on a job through the agent as the PWA does: a note that got no answer
// is sent again with the same client_ref until it is answered.
type noteWriter struct {
	a         *edgeAgent
	wo, label string
	mu        sync.Mutex
	acked     []string // client refs answered 2xx, in order
	pending   string
	stop      chan struct{}
	done      chan struct{}
}

// writeNotes writes a note with body "<label> <client_ref>" every interval, starting with pending
// (a note sent earlier without an answer) when not empty.
func (a *edgeAgent) writeNotes(wo, label string, every time.Duration, pending string) *noteWriter {
	w := &noteWriter{a: a, wo: wo, label: label, pending: pending, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
			w.mu.Lock()
			if w.pending == "" {
				w.pending = uuid.NewString()
			}
			ref := w.pending
			w.mu.Unlock()
			if st := a.try("POST", "/api/v1/field/jobs/"+wo+"/notes", map[string]any{"client_ref": ref, "body": label + " " + ref}, nil); st == 200 || st == 201 {
				w.mu.Lock()
				w.acked, w.pending = append(w.acked, ref), ""
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *noteWriter) n() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) }

// finish stops the writer and returns the client refs it was answered for and the one it was
// still waiting on ("" when none).
func (w *noteWriter) finish() (acked []string, pending string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...), w.pending
}

// finishAll stops the writer, sends the note it was waiting on once more (the agent must answer)
// and returns every client ref written.
func (w *noteWriter) finishAll() []string {
	acked, pending := w.finish()
	if pending != "" {
		if st, b := w.a.do("POST", "/api/v1/field/jobs/"+w.wo+"/notes", map[string]any{"client_ref": pending, "body": w.label + " " + pending}, nil); st >= 300 {
			w.a.t.Fatalf("note sent again: %d %s", st, b)
		}
		acked = append(acked, pending)
	}
	return acked
}

// jobNotes returns how many times each note (by client_ref, else by body) is on the agent's job.
func (a *edgeAgent) jobNotes(wo string) (map[string]int, bool) {
	var j struct {
		Notes []struct {
			Body      string  `json:"body"`
			ClientRef *string `json:"client_ref"`
		} `json:"notes"`
	}
	if st := a.try("GET", "/api/v1/field/jobs/"+wo, nil, &j); st != 200 {
		return nil, false
	}
	out := map[string]int{}
	for _, n := range j.Notes {
		out[n.Body]++
	}
	return out, true
}

// snapshotProxy is an HTTP reverse proxy in front of the hub that counts the bootstrap's requests
// (the snapshot file's description, the file itself, and pages of the paged snapshot) and serves
// the file slowly, so that a test can kill the agent while it is in flight.
type snapshotProxy struct {
	srv     *http.Server
	url     string
	asks    atomic.Int64 // GET /api/v1/sync/bootstrap (the hub builds or reuses a snapshot)
	files   atomic.Int64 // GET /api/v1/sync/bootstrap/{id} begun
	served  atomic.Int64 // … served to the end
	resumes atomic.Int64 // … with a Range header (a download resumed)
	cut     atomic.Int64 // … given up by the agent before the end (killed)
	pages   atomic.Int64 // GET /api/v1/sync/snapshot (the paged snapshot)
	mu      sync.Mutex
	took    []time.Duration // how long each file or page took to serve
	size    int64           // bytes of the last file served whole
}

// snapshotChunk bytes of the file go every snapshotPause (about 6 MB/s: a slow link).
const (
	snapshotChunk = 32 << 10
	snapshotPause = 5 * time.Millisecond
)

func newSnapshotProxy(t *testing.T, hubURL string) *snapshotProxy {
	t.Helper()
	target, _ := url.Parse(hubURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // an agent killed mid-request is expected
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &snapshotProxy{url: "http://" + ln.Addr().String()}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		switch {
		case r.URL.Path == "/api/v1/sync/bootstrap":
			p.asks.Add(1)
			rp.ServeHTTP(w, r)
			return
		case r.URL.Path == "/api/v1/sync/snapshot":
			p.pages.Add(1)
			rp.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/v1/sync/bootstrap/"):
			p.files.Add(1)
			if r.Header.Get("Range") != "" {
				p.resumes.Add(1)
			}
			sw := &slowWriter{ResponseWriter: w, ctx: r.Context()}
			cut := true // until served: the proxy panics (http.ErrAbortHandler) when the agent goes
			defer func() {
				if cut {
					p.cut.Add(1)
				}
			}()
			rp.ServeHTTP(sw, r)
			if sw.err != nil || r.Context().Err() != nil {
				return
			}
			cut = false
			p.served.Add(1)
			if sw.status == http.StatusOK {
				p.mu.Lock()
				p.size = sw.n
				p.mu.Unlock()
			}
		default:
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.took = append(p.took, time.Since(began))
		p.mu.Unlock()
	})}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// slowWriter passes a response on snapshotChunk bytes at a time, snapshotPause apart.
type slowWriter struct {
	http.ResponseWriter
	ctx    context.Context
	status int
	n      int64
	err    error // the client went away
}

func (w *slowWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *slowWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	written := 0
	for len(b) > 0 {
		n := min(len(b), snapshotChunk)
		m, err := w.ResponseWriter.Write(b[:n])
		written += m
		w.n += int64(m)
		if err != nil {
			w.err = err
			return written, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[n:]
		select {
		case <-w.ctx.Done():
			w.err = w.ctx.Err()
			return written, w.err
		case <-time.After(snapshotPause):
		}
	}
	return written, nil
}

// hubRows counts the rows from the hub (pending = 0) in the agent's replica.
func hubRows(dir string) int {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "replica.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return -1
	}
	defer db.Close()
	total := 0
	for _, table := range scope.Default().Tables() {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table + ` WHERE pending = 0`).Scan(&n); err != nil {
			return -1
		}
		total += n
	}
	return total
}

// replicaDigests reads the agent's SQLite replica (read-only; the agent may be running) and
// returns the checksum digest of each table, over rows from the hub (pending = 0), as the agent
// computes them.
func replicaDigests(dir string, tables []string) (map[string]string, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "replica.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	out := map[string]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT id, version FROM ` + table + ` WHERE pending = 0`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		var rs []checksum.Row
		for rows.Next() {
			var r checksum.Row
			if err := rows.Scan(&r.ID, &r.Version); err != nil {
				rows.Close()
				return nil, err
			}
			rs = append(rs, r)
		}
		rows.Close()
		out[table] = checksum.Compute(table, rs).Digest()
	}
	return out, nil
}

// waitChecksumsEqual polls until the replica's checksums equal the hub's for the technician's
// scope, table by table.
func waitChecksumsEqual(t *testing.T, svc func() *syncsvc.Service, tech, dir string) {
	t.Helper()
	hubtest.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
		_, tables, err := svc().Checksums(context.Background(), tech)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(tables))
		for _, tb := range tables {
			names = append(names, tb.Name)
		}
		got, err := replicaDigests(dir, names)
		if err != nil {
			return err
		}
		var diff []string
		for _, tb := range tables {
			if got[tb.Name] != tb.Digest() {
				diff = append(diff, fmt.Sprintf("%s (hub %d rows)", tb.Name, tb.Count()))
			}
		}
		if len(diff) > 0 {
			return fmt.Errorf("replica differs from the hub in %s", strings.Join(diff, ", "))
		}
		return nil
	})
}

// downMessages reads every message of the technician's downstream subject and returns how many
// times each (entity, entity id, version) was published.
func downMessages(t *testing.T, js njs.JetStream, tech string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "DMF_DOWN", njs.OrderedConsumerConfig{FilterSubjects: []string{"dmf.down." + tech}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left := info.NumPending
	out := map[string]int{}
	for left > 0 {
		msg, err := cons.Next(njs.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read the feed: %v (%d left)", err, left)
		}
		left--
		var b struct {
			Changes []struct {
				Entity   string `json:"entity"`
				EntityID string `json:"entity_id"`
				Version  int64  `json:"version"`
			} `json:"changes"`
		}
		if err := json.Unmarshal(msg.Data(), &b); err != nil {
			t.Fatalf("decode a batch: %v", err)
		}
		for _, c := range b.Changes {
			out[fmt.Sprintf("%s/%s@%d", c.Entity, c.EntityID, c.Version)]++
		}
	}
	return out
}

func jitter(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max) + 1)) }

// downCursor reads the agent's downstream cursor from its SQLite file (0 when it has none).
func downCursor(dir string) uint64 {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "replica.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0
	}
	defer db.Close()
	var c uint64
	db.QueryRow(`SELECT cursor FROM cursors WHERE stream = 'down'`).Scan(&c)
	return c
}

// waitFedFromFeed has the office write a note on wo and waits until the agent has it and has
// consumed the feed past it: the agent's cursor is a real position in the feed (not the 0 of a
// bootstrap on an empty feed, which resumes from the durable consumer's own memory).
func waitFedFromFeed(t *testing.T, a *edgeAgent, dir, wo string, office func(body string)) string {
	t.Helper()
	body := "office note before the fault " + uuid.NewString()[:8]
	office(body)
	hubtest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if notes, _ := a.jobNotes(wo); notes[body] != 1 || downCursor(dir) == 0 {
			return fmt.Errorf("note on the agent %d times, cursor %d", notes[body], downCursor(dir))
		}
		return nil
	})
	return body
}

// replicaState reads a key of the agent's sync_state from its SQLite file ("" when unset).
func replicaState(dir, key string) string {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "replica.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	db.QueryRow(`SELECT value FROM sync_state WHERE key = ?`, key).Scan(&v)
	return v
}
