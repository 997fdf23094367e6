package natsync_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/edge-agent/agenttest"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/edge-agent/sqlite"
)

var (
	checkFor = agenttest.CheckFor
	contains = agenttest.Contains
)

type fakeHub = agenttest.FakeHub

func newFakeHub(t testing.TB) *fakeHub { return agenttest.NewFakeHub(t) }

// agentHarness is one edge agent (replica + sync client) against the fake hub.
type agentHarness struct {
	t      testing.TB
	hub    *fakeHub
	proxy  *agenttest.Proxy
	dir    string
	db     *sqlite.DB
	client *natsync.Client
	cancel context.CancelFunc
	done   chan error
	tweak  func(*natsync.Client)
}

func startAgent(t testing.TB, h *fakeHub) *agentHarness { return startAgentWith(t, h, nil) }

// startAgentWith starts an agent whose sync client tweak adjusts before each run.
func startAgentWith(t testing.TB, h *fakeHub, tweak func(*natsync.Client)) *agentHarness {
	t.Helper()
	a := &agentHarness{t: t, hub: h, proxy: agenttest.NewProxy(t, strings.TrimPrefix(h.NATSURL, "nats://")), dir: t.TempDir(), tweak: tweak}
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
	creds := a.hub.Creds(a.proxy.URL())
	db.DeviceID, db.TechnicianID = creds.DeviceID, creds.TechnicianID
	a.db = db
	down, up := a.hub.DownCfg, a.hub.UpCfg
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("EDGE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a.client = &natsync.Client{Creds: creds, DB: db, Hub: natsync.NewHubClient(a.hub.HTTP.URL, a.hub.Token), Logger: logger,
		Down: &down, Up: &up, ReconnectWait: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, VerifyInterval: time.Hour, Dir: a.dir,
		Purge: func() error {
			db.Close()
			return sqlite.Purge(filepath.Join(a.dir, "replica.db"), filepath.Join(a.dir, "blobs"))
		}}
	if a.tweak != nil {
		a.tweak(a.client)
	}
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
