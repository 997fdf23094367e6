package syncsvc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/change"
)

// Fault tests of ARCHITECTURE.md's sync guarantees 2, 4, 5 and 6 with the REAL edge agent binary
// against the real hub (PostgreSQL + PostGIS, NATS JetStream on disk, the agent's SQLite file):
// kill -9 during bootstrap, NATS restarted, the hub restarted, the feed's retention exceeded, and
// a device clock a day off. Every wait polls with a generous deadline; nothing depends on timing.

const (
	logApplyingFile  = "applying the snapshot file"
	logBootstrapDone = "bootstrap done"
	logConsuming     = "consuming the downstream feed"
	logReset         = "the feed no longer holds our cursor"
)

func natsHostPort(u string) string { return strings.TrimPrefix(u, "nats://") }

// downHead returns the last sequence of DMF_DOWN.
func downHead(t *testing.T, js njs.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "DMF_DOWN")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// expireCursors makes the office write n notes on wo (n ≥ 2 feed messages the device has not
// seen), then drops every message of DMF_DOWN before the last one, as the stream's retention
// would after a long time offline: a device whose cursor is older than that must reset.
func expireCursors(t *testing.T, js njs.JetStream, svc *syncsvc.Service, office func(body string), wo string, n int) []string {
	t.Helper()
	var bodies []string
	var head uint64
	for i := range n {
		before := downHead(t, js)
		b := fmt.Sprintf("office note %d %s", i, uuid.NewString()[:8])
		office(b)
		bodies = append(bodies, b)
		hubtest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
			if head = downHead(t, js); head <= before {
				return fmt.Errorf("the office note is not in the feed yet (head %d)", head)
			}
			return nil
		})
	}
	if err := svc.DownFeed().Trim(context.Background(), change.Cursor(head)); err != nil {
		t.Fatal(err)
	}
	return bodies
}

// checkNotesOnce fails unless every body is on the agent's job exactly once, and no note is there twice.
func checkNotesOnce(t *testing.T, a *edgeAgent, wo string, bodies ...[]string) {
	t.Helper()
	hubtest.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		got, ok := a.jobNotes(wo)
		if !ok {
			return fmt.Errorf("job %s not on the agent", wo)
		}
		for _, bs := range bodies {
			for _, b := range bs {
				if got[b] != 1 {
					return fmt.Errorf("note %q is %d times on the agent", b, got[b])
				}
			}
		}
		for b, n := range got {
			if n != 1 {
				return fmt.Errorf("note %q is %d times on the agent", b, n)
			}
		}
		return nil
	})
}

func waitAgentIdle(t *testing.T, a *edgeAgent) {
	t.Helper()
	hubtest.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		st := a.status()
		if st["online"] != true || st["pending_uploads"] != float64(0) || st["open_conflicts"] != float64(0) {
			return fmt.Errorf("agent status %v", st)
		}
		return nil
	})
}

func waitOnAgent(t *testing.T, a *edgeAgent, wo string) {
	t.Helper()
	hubtest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if _, ok := a.job(wo); !ok {
			return fmt.Errorf("job %s not on the agent yet", wo)
		}
		return nil
	})
}

// TestAgentFault_Kill9DuringBootstrap kills the agent with SIGKILL at random points of its
// bootstrap from the snapshot file (while the hub builds the snapshot, while the file travels —
// served slowly, so the next run resumes the download —, while it is verified and applied, during
// the catch-up and verification after it) at least 50 times, forcing a fresh bootstrap (a reset,
// the feed having dropped the device's cursor) whenever one completed. After every kill the
// replica is either bootstrapped or holds no row of the hub: never half a snapshot. Pending work
// written offline before the loop, and notes the technician keeps writing meanwhile, survive;
// after a last undisturbed run the replica's checksums equal the hub's, and every note is once on
// the hub and once on the tablet.
func TestAgentFault_Kill9DuringBootstrap(t *testing.T) {
	agentTreeCurrent(t)
	loops := 50
	if testing.Short() {
		loops = 10
	}
	if v := os.Getenv("FAULT_KILL_LOOPS"); v != "" {
		fmt.Sscan(v, &loops)
	}
	h := newHarness(t)
	tech := h.techs[hubtest.Tech1Email]
	wo := startableJob(t, h.env.DB, tech)
	// Material lines on another of the technician's jobs, so the snapshot file takes a while to
	// travel through the slow proxy (and is two pages of the paged snapshot).
	h.exec(`INSERT INTO work_order_materials (work_order_id, item_id, quantity)
		SELECT (SELECT id FROM work_orders WHERE assigned_to = $1 AND id <> $2 AND is_active ORDER BY id LIMIT 1),
		(SELECT id FROM inventory_items ORDER BY id LIMIT 1), 1 FROM generate_series(1, 5300)`, tech, wo)
	js, err := njs.New(h.env.App.NC)
	if err != nil {
		t.Fatal(err)
	}
	office := func(body string) {
		if r := h.env.Do("POST", "/api/v1/work-orders/"+wo+"/notes", h.admin, map[string]any{"body": body}); r.Status >= 300 {
			t.Fatalf("office note: %d %s", r.Status, r.Body)
		}
	}

	dir, dev := enrollAgent(t, h.env.URL, h.admin, tech)
	px := newSnapshotProxy(t, h.env.URL)
	setHubURL(t, dir, px.url)
	link := newLinkProxy(t, natsHostPort(h.env.App.NATS.ClientURL()))
	a := newAgentProc(t, dir, dev, link.URL())

	// A first run bootstraps; then the link drops and the technician works: pending work.
	a.startReady(hubtest.Tech1Email, hubtest.TechPassword)
	waitOnAgent(t, a.edgeAgent, wo)
	officeNotes := []string{waitFedFromFeed(t, a.edgeAgent, dir, wo, office)}
	link.Cut()
	offline := a.workOffline(wo, 3)
	a.kill()
	link.Restore()
	px.mu.Lock()
	fileSize := px.size
	px.mu.Unlock()
	if px.files.Load() == 0 || px.pages.Load() != 0 {
		t.Fatalf("the first bootstrap asked for %d snapshot files and %d pages; want the file", px.files.Load(), px.pages.Load())
	}

	var (
		acked   []string // notes the agent answered during the loop
		pending string   // a note sent without an answer: the PWA sends it again
		resets  int
		midway  int // kills that landed before the bootstrap finished
		inApply int // … while the file was being applied
		stages  [5]int
	)
	for i := range loops {
		if replicaState(dir, "bootstrap_done") == "1" {
			// The replica is bootstrapped: make the feed drop its cursor, so the next run resets.
			officeNotes = append(officeNotes, expireCursors(t, js, h.svc, office, wo, 2)...)
			resets++
		}
		began := time.Now()
		asks, files := px.asks.Load(), px.files.Load()
		a.start()
		w := a.writeNotes(wo, "tablet note", 15*time.Millisecond, pending)
		// Where to kill: during start-up and the reset (0), once the hub was asked for the
		// snapshot (1), while the file travels (2), while it is applied (3), or once the bootstrap
		// is done, during the catch-up and verification that follow it (4).
		at := rand.IntN(5)
		stages[at]++
		reached := func() bool {
			switch at {
			case 1:
				return px.asks.Load() > asks
			case 2:
				return px.files.Load() > files
			case 3:
				return strings.Contains(a.lastLog(), logApplyingFile)
			}
			return false
		}
		switch at {
		case 0:
			time.Sleep(jitter(150 * time.Millisecond))
		default:
			hubtest.CheckFor(t, 60*time.Second, 2*time.Millisecond, func() error {
				if reached() || strings.Contains(a.lastLog(), logBootstrapDone) {
					return nil
				}
				return fmt.Errorf("run %d: waiting for stage %d (asked %d, files %d, served %d)", i, at, px.asks.Load(), px.files.Load(), px.served.Load())
			})
			wait := 60 * time.Millisecond
			switch at {
			case 2: // anywhere in the download
				wait = time.Duration(fileSize/snapshotChunk+1) * snapshotPause
			case 3: // anywhere in the transaction
				wait = 150 * time.Millisecond
			case 4:
				wait = 300 * time.Millisecond
			}
			time.Sleep(jitter(wait))
		}
		a.kill()
		var got []string
		got, pending = w.finish()
		acked = append(acked, got...)
		if !strings.Contains(a.lastLog(), logBootstrapDone) {
			midway++
			if strings.Contains(a.lastLog(), logApplyingFile) {
				inApply++
			}
		}
		// Never half a snapshot: not bootstrapped means no row of the hub at all (the reset
		// dropped them; the file applies in one transaction).
		if replicaState(dir, "bootstrap_done") != "1" {
			if n := hubRows(dir); n != 0 {
				t.Fatalf("run %d (stage %d): the replica is not bootstrapped but holds %d rows of the hub", i, at, n)
			}
		}
		if testing.Verbose() {
			px.mu.Lock()
			t.Logf("run %d: stage %d, killed after %s; asked %d, files %d (%d resumed, %d cut), served in %v; bootstrap done %v",
				i, at, time.Since(began).Round(time.Millisecond), px.asks.Load()-asks, px.files.Load()-files, px.resumes.Load(), px.cut.Load(),
				px.took, strings.Contains(a.lastLog(), logBootstrapDone))
			px.took = nil
			px.mu.Unlock()
		}
	}

	// A last run, left alone.
	a.startReady(hubtest.Tech1Email, hubtest.TechPassword)
	if pending != "" { // sent again once the job is back on the tablet (after the bootstrap)
		hubtest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
			if st := a.try("POST", "/api/v1/field/jobs/"+wo+"/notes", map[string]any{"body": "tablet note " + pending, "client_ref": pending}, nil); st >= 300 || st == 0 {
				return fmt.Errorf("note sent again: %d", st)
			}
			return nil
		})
		acked = append(acked, pending)
	}
	waitAgentIdle(t, a.edgeAgent)
	waitChecksumsEqual(t, func() *syncsvc.Service { return h.svc }, tech, dir)

	var tablet []string
	for _, ref := range acked {
		tablet = append(tablet, "tablet note "+ref)
		if n := h.count(`SELECT count(*) FROM work_order_notes WHERE client_ref = $1`, ref); n != 1 {
			t.Errorf("note %s is %d times on the hub", ref, n)
		}
	}
	for _, b := range offline {
		if n := h.count(`SELECT count(*) FROM work_order_notes WHERE work_order_id = $1 AND body = $2`, wo, b); n != 1 {
			t.Errorf("offline note %q is %d times on the hub", b, n)
		}
	}
	if n := h.count(`SELECT count(*) FROM work_order_events WHERE work_order_id = $1 AND event = 'start'`, wo); n != 1 {
		t.Errorf("%d start events on the hub, want 1", n)
	}
	if st, _ := h.woStatus(wo); st != "in_progress" {
		t.Errorf("hub status %s, want in_progress", st)
	}
	checkNotesOnce(t, a.edgeAgent, wo, offline, officeNotes, tablet)
	if j, _ := a.job(wo); j.Status != "in_progress" {
		t.Errorf("agent status %s", j.Status)
	}
	t.Logf("%d kills (%d before the bootstrap finished, %d of them while the file was applied; by stage %v), %d resets; "+
		"snapshot file of %d bytes asked %d times, downloads %d (%d cut by a kill, %d resumed), %d pages; %d notes written during the loop, %d by the office",
		loops, midway, inApply, stages, resets, fileSize, px.asks.Load(), px.files.Load(), px.cut.Load(), px.resumes.Load(), px.pages.Load(), len(acked), len(officeNotes))
	if midway == 0 {
		t.Errorf("none of %d kills landed during a bootstrap", loops)
	}
	if px.pages.Load() != 0 {
		t.Errorf("the agent asked for %d snapshot pages; it bootstraps from the file", px.pages.Load())
	}
	if px.cut.Load() > 2 && px.resumes.Load() == 0 {
		t.Errorf("%d downloads were cut by a kill and none was resumed", px.cut.Load())
	}
}

// officeWriter adds office notes to a job through the hub's API until stopped; failures (the hub
// restarting) are skipped.
type officeWriter struct {
	noteWriter
}

func startOfficeWriter(n func() *hubNode, token, wo string, every time.Duration) *officeWriter {
	w := &officeWriter{noteWriter: noteWriter{stop: make(chan struct{}), done: make(chan struct{})}}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
			body := "office note " + uuid.NewString()
			if st, _ := n().do("POST", "/api/v1/work-orders/"+wo+"/notes", token, map[string]any{"body": body}, nil); st == 200 || st == 201 {
				w.mu.Lock()
				w.acked = append(w.acked, body)
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *officeWriter) bodies() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// waitMore waits until both writers have written at least k more than they had.
func waitMore(t *testing.T, k int, ws ...interface{ n() int }) {
	t.Helper()
	base := make([]int, len(ws))
	for i, w := range ws {
		base[i] = w.n()
	}
	hubtest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		for i, w := range ws {
			if w.n() < base[i]+k {
				return fmt.Errorf("writer %d wrote %d, want %d", i, w.n(), base[i]+k)
			}
		}
		return nil
	})
}

func bodies(prefix string, refs []string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = prefix + " " + r
	}
	return out
}

// TestAgentFault_NATSRestartMidStream restarts the NATS server (same port, same JetStream store)
// under a running hub and a real agent while the office and the technician keep writing: the
// office notes published before, during and after the restart are each once in the feed and once
// on the tablet; the tablet's notes queued during the outage are applied once on the hub.
func TestAgentFault_NATSRestartMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the edge agent")
	}
	agentTreeCurrent(t)
	cfg := faultConfig(t)
	x := startExternalNATS(t, cfg.DatabaseURL)
	cfg.NATSURL = x.HubURL
	n := startHubNode(t, cfg, true)
	admin := n.token(hubtest.AdminEmail, hubtest.AdminPassword)
	tech := n.person(hubtest.Tech1Email)
	wo := startableJob(t, n.a.DB, tech)
	dir, dev := enrollAgent(t, n.url, admin, tech)
	a := newAgentProc(t, dir, dev, "nats://"+x.addr)
	a.startReady(hubtest.Tech1Email, hubtest.TechPassword)
	waitOnAgent(t, a.edgeAgent, wo)

	ow := startOfficeWriter(func() *hubNode { return n }, admin, wo, 80*time.Millisecond)
	tw := a.writeNotes(wo, "tablet note", 80*time.Millisecond, "")
	waitMore(t, 3, ow, tw)

	x.stop()
	hubtest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if st := a.status(); st["online"] != false {
			return fmt.Errorf("agent still online: %v", st)
		}
		return nil
	})
	waitMore(t, 3, ow, tw) // written while NATS is down
	if st := a.status(); st["pending_uploads"] == float64(0) {
		t.Fatalf("nothing queued during the outage: %v", st)
	}
	x.start()
	waitMore(t, 3, ow, tw)
	officeNotes, refs := ow.bodies(), tw.finishAll()

	waitAgentIdle(t, a.edgeAgent)
	for _, ref := range refs {
		if c := n.count(`SELECT count(*) FROM work_order_notes WHERE client_ref = $1`, ref); c != 1 {
			t.Errorf("tablet note %s is %d times on the hub", ref, c)
		}
	}
	checkNotesOnce(t, a.edgeAgent, wo, officeNotes, bodies("tablet note", refs))
	waitChecksumsEqual(t, func() *syncsvc.Service { return n.svc }, tech, dir)
	js, err := njs.New(n.a.NC)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for k, c := range downMessages(t, js, tech) {
		if strings.HasPrefix(k, "work_order_note/") {
			notes++
			if c != 1 {
				t.Errorf("%s published %d times", k, c)
			}
		}
	}
	if notes < len(officeNotes)+len(refs) {
		t.Errorf("%d note versions in the feed, want ≥ %d", notes, len(officeNotes)+len(refs))
	}
	t.Logf("%d office notes and %d tablet notes across the restart", len(officeNotes), len(refs))
}

// TestAgentFault_HubRestart stops the hub (with its embedded NATS) while the agent keeps working
// offline, then starts a new hub process on the same database, data directory and JetStream store:
// what the technician did meanwhile is applied once, the office's notes from before and after
// reach the tablet once, and the replica converges on the new hub's checksums.
func TestAgentFault_HubRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the edge agent")
	}
	agentTreeCurrent(t)
	cfg := faultConfig(t)
	n := startHubNode(t, cfg, true)
	cur := n
	hubNow := func() *hubNode { return cur }
	admin := n.token(hubtest.AdminEmail, hubtest.AdminPassword)
	tech := n.person(hubtest.Tech1Email)
	wo := startableJob(t, n.a.DB, tech)
	dir, dev := enrollAgent(t, n.url, admin, tech)
	a := newAgentProc(t, dir, dev, "nats://"+cfg.NATSListen)
	a.startReady(hubtest.Tech1Email, hubtest.TechPassword)
	waitOnAgent(t, a.edgeAgent, wo)

	tw := a.writeNotes(wo, "tablet note", 80*time.Millisecond, "")
	var officeNotes []string
	for i := range 2 {
		b := fmt.Sprintf("office note before %d", i)
		if st, body := n.do("POST", "/api/v1/work-orders/"+wo+"/notes", admin, map[string]any{"body": b}, nil); st >= 300 {
			t.Fatalf("office note: %d %s", st, body)
		}
		officeNotes = append(officeNotes, b)
	}
	waitMore(t, 3, tw)

	n.stop()
	hubtest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if st := a.status(); st["online"] != false {
			return fmt.Errorf("agent still online: %v", st)
		}
		return nil
	})
	if j, _ := a.job(wo); j.Status == "scheduled" {
		a.transition(wo, "accept", nil)
	}
	a.transition(wo, "start", nil)
	waitMore(t, 3, tw)

	cur = startHubNode(t, cfg, false) // the hub restarted: same database, data dir, NATS port and store
	for i := range 2 {
		b := fmt.Sprintf("office note after %d", i)
		if st, body := hubNow().do("POST", "/api/v1/work-orders/"+wo+"/notes", admin, map[string]any{"body": b}, nil); st >= 300 {
			t.Fatalf("office note after the restart: %d %s", st, body)
		}
		officeNotes = append(officeNotes, b)
	}
	waitMore(t, 3, tw)
	refs := tw.finishAll()

	waitAgentIdle(t, a.edgeAgent)
	for _, ref := range refs {
		if c := cur.count(`SELECT count(*) FROM work_order_notes WHERE client_ref = $1`, ref); c != 1 {
			t.Errorf("tablet note %s is %d times on the hub", ref, c)
		}
	}
	if c := cur.count(`SELECT count(*) FROM work_order_events WHERE work_order_id = $1 AND event = 'start'`, wo); c != 1 {
		t.Errorf("%d start events on the hub, want 1", c)
	}
	var status string
	cur.a.DB.Pool.QueryRow(context.Background(), `SELECT status FROM work_orders WHERE id = $1`, wo).Scan(&status)
	if status != "in_progress" {
		t.Errorf("hub status %s, want in_progress", status)
	}
	checkNotesOnce(t, a.edgeAgent, wo, officeNotes, bodies("tablet note", refs))
	waitChecksumsEqual(t, func() *syncsvc.Service { return hubNow().svc }, tech, dir)
	t.Logf("%d tablet notes across the restart", len(refs))
}

// TestAgentFault_RetentionExceeded: the agent is offline with pending work while the feed moves
// on and its retention drops what the device has not read (its cursor falls off DMF_DOWN). On
// reconnect the agent resets, bootstraps again and replays its pending work: nothing is lost or
// doubled, and the replica converges.
func TestAgentFault_RetentionExceeded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the edge agent")
	}
	agentTreeCurrent(t)
	h := newHarness(t)
	tech := h.techs[hubtest.Tech1Email]
	wo := startableJob(t, h.env.DB, tech)
	js, err := njs.New(h.env.App.NC)
	if err != nil {
		t.Fatal(err)
	}
	dir, dev := enrollAgent(t, h.env.URL, h.admin, tech)
	link := newLinkProxy(t, natsHostPort(h.env.App.NATS.ClientURL()))
	a := newAgentProc(t, dir, dev, link.URL())
	a.startReady(hubtest.Tech1Email, hubtest.TechPassword)
	waitOnAgent(t, a.edgeAgent, wo)
	office := func(body string) {
		if r := h.env.Do("POST", "/api/v1/work-orders/"+wo+"/notes", h.admin, map[string]any{"body": body}); r.Status >= 300 {
			t.Fatalf("office note: %d %s", r.Status, r.Body)
		}
	}
	first := waitFedFromFeed(t, a.edgeAgent, dir, wo, office)

	link.Cut()
	offline := a.workOffline(wo, 3)
	if st := a.status(); st["pending_uploads"] == float64(0) {
		t.Fatalf("no pending work: %v", st)
	}
	officeNotes := append(expireCursors(t, js, h.svc, office, wo, 3), first)

	link.Restore()
	hubtest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if !strings.Contains(a.lastLog(), logReset) {
			return fmt.Errorf("no reset yet")
		}
		return nil
	})
	waitAgentIdle(t, a.edgeAgent)
	for _, b := range offline {
		if c := h.count(`SELECT count(*) FROM work_order_notes WHERE work_order_id = $1 AND body = $2`, wo, b); c != 1 {
			t.Errorf("offline note %q is %d times on the hub", b, c)
		}
	}
	if c := h.count(`SELECT count(*) FROM work_order_events WHERE work_order_id = $1 AND event = 'start'`, wo); c != 1 {
		t.Errorf("%d start events on the hub, want 1", c)
	}
	if st, _ := h.woStatus(wo); st != "in_progress" {
		t.Errorf("hub status %s", st)
	}
	checkNotesOnce(t, a.edgeAgent, wo, offline, officeNotes)
	if j, _ := a.job(wo); j.Status != "in_progress" {
		t.Errorf("agent status %s", j.Status)
	}
	waitChecksumsEqual(t, func() *syncsvc.Service { return h.svc }, tech, dir)
}

// TestAgentFault_ClockSkew24h runs two real agents whose clocks are a day ahead and a day behind
// (EDGE_CLOCK_OFFSET): their events are applied on the hub in the order they were made, flagged as
// skewed (events and mutations), the hub's hybrid logical clock is not dragged a day ahead, and
// both replicas converge.
func TestAgentFault_ClockSkew24h(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the edge agent")
	}
	agentTreeCurrent(t)
	h := newHarness(t)
	ctx := context.Background()
	type tablet struct {
		email  string
		offset time.Duration
		wo     string
		dev    string
		dir    string
		a      *agentProc
	}
	tablets := []*tablet{{email: hubtest.Tech1Email, offset: 24 * time.Hour}, {email: "tech2@example.com", offset: -24 * time.Hour}}
	for _, tb := range tablets {
		tech := h.techs[tb.email]
		tb.wo = h.createWorkOrder(tech)
		tb.dir, tb.dev = enrollAgent(t, h.env.URL, h.admin, tech)
		tb.a = newAgentProc(t, tb.dir, tb.dev, h.env.App.NATS.ClientURL(), "EDGE_CLOCK_OFFSET="+tb.offset.String())
		tb.a.startReady(tb.email, hubtest.TechPassword)
		waitOnAgent(t, tb.a.edgeAgent, tb.wo)
	}
	events := []string{"accept", "en_route", "arrived", "start"}
	for _, tb := range tablets {
		for _, ev := range events {
			tb.a.transition(tb.wo, ev, nil)
		}
		if st, b := tb.a.do("POST", "/api/v1/field/jobs/"+tb.wo+"/notes", map[string]any{"body": "skewed note", "client_ref": uuid.NewString()}, nil); st >= 300 {
			t.Fatalf("note: %d %s", st, b)
		}
	}
	for _, tb := range tablets {
		waitAgentIdle(t, tb.a.edgeAgent)
		if st, _ := h.woStatus(tb.wo); st != "in_progress" {
			t.Errorf("%s: hub status %s, want in_progress", tb.email, st)
		}
		rows, err := h.env.DB.Pool.Query(ctx, `SELECT event, clock_skew, extract(epoch FROM occurred_at - received_at) FROM work_order_events
			WHERE work_order_id = $1 AND device_id = $2 ORDER BY received_at, id`, tb.wo, tb.dev)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var ev string
			var skew bool
			var off float64
			if err := rows.Scan(&ev, &skew, &off); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
			want := tb.offset.Seconds()
			if !skew || off < want-3600 || off > want+3600 {
				t.Errorf("%s: event %s clock_skew %v, occurred - received %.0fs (want ≈ %.0fs)", tb.email, ev, skew, off, want)
			}
		}
		rows.Close()
		if strings.Join(got, ",") != strings.Join(events, ",") {
			t.Errorf("%s: events applied as %v, want %v", tb.email, got, events)
		}
		if c := h.count(`SELECT count(*) FROM sync_mutations WHERE device_id = $1 AND NOT clock_skew`, tb.dev); c != 0 {
			t.Errorf("%s: %d mutations not flagged as skewed", tb.email, c)
		}
		if c := h.count(`SELECT count(*) FROM sync_mutations WHERE device_id = $1`, tb.dev); c != len(events)+1 {
			t.Errorf("%s: %d mutations on the hub, want %d", tb.email, c, len(events)+1)
		}
		if c := h.count(`SELECT count(*) FROM work_order_notes WHERE work_order_id = $1 AND body = 'skewed note'`, tb.wo); c != 1 {
			t.Errorf("%s: %d notes", tb.email, c)
		}
	}
	// The hub's clock was not pulled a day ahead by the tablet in the future.
	if d := time.Until(h.svc.Clock.Now().Time()); d > 5*time.Minute || d < -5*time.Minute {
		t.Errorf("hub HLC is %s off the wall clock", d)
	}
	// The office acts after the tablets: its change is applied after theirs and reaches them.
	for _, tb := range tablets {
		if r := h.env.Do("POST", "/api/v1/work-orders/"+tb.wo+"/notes", h.admin, map[string]any{"body": "office after skew"}); r.Status >= 300 {
			t.Fatalf("office note: %d %s", r.Status, r.Body)
		}
	}
	for _, tb := range tablets {
		checkNotesOnce(t, tb.a.edgeAgent, tb.wo, []string{"skewed note", "office after skew"})
		if j, _ := tb.a.job(tb.wo); j.Status != "in_progress" {
			t.Errorf("%s: agent status %s", tb.email, j.Status)
		}
		waitChecksumsEqual(t, func() *syncsvc.Service { return h.svc }, h.techs[tb.email], tb.dir)
	}
}

// workOffline is the technician's work while the link is cut: job wo accepted (when still
// scheduled) and started, then n notes. It returns the notes' bodies.
func (a *edgeAgent) workOffline(wo string, n int) []string {
	a.t.Helper()
	if j, _ := a.job(wo); j.Status == "scheduled" {
		a.transition(wo, "accept", nil)
	}
	a.transition(wo, "start", nil)
	var offline []string
	for i := range n {
		body := fmt.Sprintf("offline note %d", i)
		if st, b := a.do("POST", "/api/v1/field/jobs/"+wo+"/notes", map[string]any{"body": body, "client_ref": uuid.NewString()}, nil); st >= 300 {
			a.t.Fatalf("offline note: %d %s", st, b)
		}
		offline = append(offline, body)
	}
	return offline
}
