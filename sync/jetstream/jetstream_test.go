package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/changetest"
	"dotmac.dev/field/sync/jetstream"
)

// natsServer is an in-process NATS server with JetStream, restartable on the
// same port and store directory.
type natsServer struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

func startServer(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, opts: server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}}
	ns.start()
	ns.opts.Port = ns.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	opts := ns.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		ns.t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ns.t.Fatal("nats server not ready")
	}
	ns.srv = s
}

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) restart() {
	ns.stop()
	ns.start()
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.opts.Port) }

func connect(t testing.TB, ns *natsServer) njs.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func testConfig(cfg jetstream.Config, n int64) jetstream.Config {
	cfg.Stream = fmt.Sprintf("%s_%d", cfg.Stream, n)
	cfg.Prefix = fmt.Sprintf("t%d.%s", n, cfg.Prefix)
	cfg.PollWait = 200 * time.Millisecond
	cfg.AckWait = 2 * time.Second
	return cfg
}

var streams atomic.Int64

func newFeed(t testing.TB, js njs.JetStream, cfg jetstream.Config) *jetstream.Feed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := jetstream.New(ctx, js, testConfig(cfg, streams.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFeed_Contract(t *testing.T) {
	js := connect(t, startServer(t))
	changetest.Exercise(t, func(t *testing.T) change.Feed { return newFeed(t, js, jetstream.Down()) })
}

func TestConfig(t *testing.T) {
	d, u := jetstream.Down(), jetstream.Up()
	if d.Subject("tech-1") != "dmf.down.tech-1" || u.Subject("dev-1") != "dmf.up.dev-1" {
		t.Fatal("subjects")
	}
	if sc := d.StreamConfig(); sc.Subjects[0] != "dmf.down.>" || sc.Retention != njs.LimitsPolicy || sc.MaxAge == 0 {
		t.Fatalf("down stream: %+v", sc)
	}
	if sc := u.StreamConfig(); sc.Subjects[0] != "dmf.up.>" || sc.Retention != njs.WorkQueuePolicy || sc.MaxAge != 0 {
		t.Fatalf("up stream: %+v", sc)
	}
	cc := d.ConsumerConfig("dev-1", "tech-1", 41)
	if cc.MaxAckPending != 1 || cc.AckPolicy != njs.AckExplicitPolicy || cc.OptStartSeq != 42 || cc.FilterSubject != "dmf.down.tech-1" {
		t.Fatalf("down consumer: %+v", cc)
	}
	if cc := u.ConsumerConfig("dev-1", "dev-1", 41); cc.DeliverPolicy != njs.DeliverAllPolicy {
		t.Fatalf("a work-queue consumer must deliver all: %+v", cc)
	}
}

// store is a change.Store that records what it applied, like a replica: it
// applies a batch only past its cursor and counts every change it applies.
type store struct {
	mu      sync.Mutex
	cursor  change.Cursor
	batches []string
	changes map[string]int
	// redelivered counts batches whose changes were all held already.
	redelivered int
}

func newStore() *store { return &store{changes: map[string]int{}} }

func (s *store) Cursor(context.Context, string) (change.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

func (s *store) Apply(_ context.Context, _ string, b change.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Seq <= s.cursor {
		return fmt.Errorf("batch %d at or before cursor %d delivered", b.Seq, s.cursor)
	}
	s.cursor = b.Seq
	fresh := false
	for _, c := range b.Changes {
		if s.changes[c.ID] == 0 { // a real store skips changes it holds
			fresh = true
		}
		s.changes[c.ID]++
	}
	if fresh {
		s.batches = append(s.batches, b.ID)
	} else {
		s.redelivered++
	}
	return nil
}

func (s *store) applied() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (s *store) doubled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, n := range s.changes {
		if n != 1 {
			out = append(out, id)
		}
	}
	return out
}

func runSync(f change.Feed, key, durable string, s change.Store) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- change.Sync(ctx, f, key, "down", durable, s) }()
	return func() error { cancel(); return <-done }
}

func publishRetry(t testing.TB, f change.Feed, key string, b change.Batch) change.Ack {
	t.Helper()
	var ack change.Ack
	changetest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		ack, err = f.Publish(ctx, key, b)
		return err
	})
	return ack
}

func waitApplied(t testing.TB, s *store, want []string) {
	t.Helper()
	changetest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		got := s.applied()
		if len(got) < len(want) {
			return fmt.Errorf("applied %d of %d", len(got), len(want))
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("applied %v, want %v", got, want)
		}
		return nil
	})
}

// TestFeed_ServerRestart: publish, consume, restart the server on the same
// store, keep publishing (including a duplicate), restart the consumer, and
// resume from the durable cursor with nothing lost or doubled — for both
// directions' retention policies.
func TestFeed_ServerRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  jetstream.Config
	}{{"Down", jetstream.Down()}, {"Up", jetstream.Up()}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startServer(t)
			js := connect(t, ns)
			f := newFeed(t, js, tc.cfg)
			s := newStore()
			var want []string
			batch := func(v int64) change.Batch {
				b := changetest.NewBatch("wo-1", v, 2)
				want = append(want, b.ID)
				return b
			}

			first := batch(1)
			publishRetry(t, f, "k1", first)
			publishRetry(t, f, "k1", batch(3))
			stop := runSync(f, "k1", "dev-1", s)
			waitApplied(t, s, want)

			// The server restarts under a running consumer.
			ns.restart()
			publishRetry(t, f, "k1", batch(5))
			// The stream drops a republished batch while it holds the original:
			// always on limits retention. A work queue deletes what was acknowledged,
			// so after a restart only the store's dedupe catches it.
			if ack := publishRetry(t, f, "k1", first); !ack.Duplicate && tc.cfg.Retention != njs.WorkQueuePolicy {
				t.Errorf("republished batch not deduplicated: %+v", ack)
			}
			waitApplied(t, s, want)

			// The consumer stops; batches arrive meanwhile; the server restarts again.
			if err := stop(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			publishRetry(t, f, "k1", batch(7))
			publishRetry(t, f, "k2", changetest.NewBatch("wo-9", 1, 1)) // another key
			ns.restart()
			publishRetry(t, f, "k1", batch(9))
			stop = runSync(f, "k1", "dev-1", s)
			waitApplied(t, s, want)
			if err := stop(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if d := s.doubled(); len(d) > 0 && (tc.cfg.Retention != njs.WorkQueuePolicy || len(d) > 2 || s.redelivered > 1) {
				t.Fatalf("changes delivered more than once: %v (%d batches)", d, s.redelivered)
			}
			if got := len(s.changes); got != 2*len(want) {
				t.Fatalf("applied %d changes, want %d", got, 2*len(want))
			}
		})
	}
}

// TestFeed_UpWorkQueue: the upstream stream keeps a mutation until the hub
// acknowledges it, and drops it afterwards.
func TestFeed_UpWorkQueue(t *testing.T) {
	ns := startServer(t)
	js := connect(t, ns)
	f := newFeed(t, js, jetstream.Up())
	ctx := context.Background()
	var want []string
	for v := range int64(3) {
		b := changetest.NewBatch("wo-1", v+1, 1)
		want = append(want, b.ID)
		publishRetry(t, f, "dev-1", b)
	}
	// Redelivered until the handler succeeds, in order.
	s := newStore()
	failing := &flaky{store: s, failures: 2}
	stop := runSync(f, "dev-1", "dev-1", failing)
	waitApplied(t, s, want)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, f.Config().Stream)
	if err != nil {
		t.Fatal(err)
	}
	changetest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("%d acknowledged messages still stored", info.State.Msgs)
		}
		return nil
	})
}

// flaky fails the first failures applies.
type flaky struct {
	*store
	failures int
	mu       sync.Mutex
}

func (f *flaky) Apply(ctx context.Context, stream string, b change.Batch) error {
	f.mu.Lock()
	fail := f.failures > 0
	f.failures--
	f.mu.Unlock()
	if fail {
		return errors.New("database is locked")
	}
	return f.store.Apply(ctx, stream, b)
}

func TestFeed_Bind(t *testing.T) {
	ns := startServer(t)
	js := connect(t, ns)
	ctx := context.Background()
	if _, err := jetstream.Bind(ctx, js, jetstream.Down()); err == nil {
		t.Fatal("Bind to a missing stream succeeded")
	}
	f := newFeed(t, js, jetstream.Down())
	g, err := jetstream.Bind(ctx, js, f.Config())
	if err != nil {
		t.Fatal(err)
	}
	ack := publishRetry(t, f, "k", changetest.NewBatch("wo", 1, 1))
	if head, err := g.Head(ctx); err != nil || head != ack.Seq {
		t.Fatalf("Head = %d, %v", head, err)
	}
}

// More devices than the server's default consumer limit per stream (1,000) each get their
// durable consumer on both feeds.
func TestFeed_MoreThanAThousandDevices(t *testing.T) {
	js := connect(t, startServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, base := range []jetstream.Config{jetstream.Down(), jetstream.Up()} {
		cfg := testConfig(base, streams.Add(1))
		// A stream made by an earlier hub, without the limit, is updated in place.
		old := cfg
		old.MaxConsumers = 0
		if _, err := jetstream.New(ctx, js, old); err != nil {
			t.Fatal(err)
		}
		if _, err := jetstream.New(ctx, js, cfg); err != nil {
			t.Fatalf("update of an earlier stream: %v", err)
		}
		st, err := js.Stream(ctx, cfg.Stream)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1001 {
			dev := fmt.Sprintf("dev-%d", i)
			if _, err := st.CreateOrUpdateConsumer(ctx, cfg.ConsumerConfig(dev, dev, 0)); err != nil {
				t.Fatalf("%s: consumer %d: %v", cfg.Stream, i+1, err)
			}
		}
	}
}
