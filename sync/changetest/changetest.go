// Package changetest is the contract suite every change.Feed must pass. Use it
// from tests only:
//
//	func TestFeed(t *testing.T) { changetest.Exercise(t, func(t *testing.T) change.Feed { return inmem.New() }) }
package changetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
)

// Trimmer is implemented by feeds that can drop old batches, as retention does.
// Exercise tests cursor expiry only for feeds that implement it.
type Trimmer interface {
	Trim(ctx context.Context, before change.Cursor) error
}

// Exercise runs the contract suite; newFeed returns an empty feed.
func Exercise(t *testing.T, newFeed func(t *testing.T) change.Feed) {
	t.Run("PublishConsumeInOrder", func(t *testing.T) { testInOrder(t, newFeed(t)) })
	t.Run("KeysAreIsolated", func(t *testing.T) { testIsolation(t, newFeed(t)) })
	t.Run("DuplicateBatchID", func(t *testing.T) { testDuplicate(t, newFeed(t)) })
	t.Run("RedeliverOnError", func(t *testing.T) { testRedeliver(t, newFeed(t)) })
	t.Run("ResumeFromDurable", func(t *testing.T) { testResumeDurable(t, newFeed(t)) })
	t.Run("AfterSkips", func(t *testing.T) { testAfterSkips(t, newFeed(t)) })
	t.Run("AfterRewindsDurable", func(t *testing.T) { testAfterRewinds(t, newFeed(t)) })
	t.Run("LiveDelivery", func(t *testing.T) { testLive(t, newFeed(t)) })
	t.Run("CursorExpired", func(t *testing.T) { testExpired(t, newFeed(t)) })
	t.Run("RejectsInvalidBatch", func(t *testing.T) { testInvalid(t, newFeed(t)) })
}

var seq atomic.Int64

// NewChange returns a valid downstream change to work order entityID.
func NewChange(entityID string, version int64) change.Change {
	n := seq.Add(1)
	data, _ := json.Marshal(map[string]any{"id": entityID, "version": version})
	return change.Change{
		ID:            fmt.Sprintf("c-%d-%d", time.Now().UnixNano(), n),
		Family:        "work_orders",
		Entity:        "work_order",
		EntityID:      entityID,
		Op:            change.OpUpsert,
		Version:       version,
		HLC:           hlc.Timestamp{Wall: time.Now().UnixMilli(), Node: "hub"},
		Data:          data,
		SchemaVersion: change.SchemaVersion,
		CommittedAt:   time.Now().UTC(),
	}
}

// NewBatch returns a batch of n fresh changes to entityID with versions from v.
func NewBatch(entityID string, v int64, n int) change.Batch {
	cs := make([]change.Change, n)
	for i := range cs {
		cs[i] = NewChange(entityID, v+int64(i))
	}
	return change.Batch{ID: change.BatchID(cs), Changes: cs}
}

// CheckFor polls fn until it returns nil or timeout passes.
func CheckFor(t testing.TB, timeout, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("after %s: %v", timeout, err)
}

// Consumer runs Consume in the background and records what it applied.
type Consumer struct {
	mu      sync.Mutex
	got     []change.Batch
	calls   int
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	FailFor func(b change.Batch, attempt int) error // optional: make the handler fail
}

// StartConsumer starts consuming key with opts.
func StartConsumer(t testing.TB, f change.Feed, key string, opts change.ConsumeOptions) *Consumer {
	return startConsumer(t, f, key, opts, nil)
}

func startConsumer(t testing.TB, f change.Feed, key string, opts change.ConsumeOptions, fail func(change.Batch, int) error) *Consumer {
	t.Helper()
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 10 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Consumer{cancel: cancel, done: make(chan struct{}), FailFor: fail}
	attempts := map[string]int{}
	go func() {
		defer close(c.done)
		c.err = f.Consume(ctx, key, opts, func(_ context.Context, b change.Batch) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.calls++
			attempts[b.ID]++
			if c.FailFor != nil {
				if err := c.FailFor(b, attempts[b.ID]); err != nil {
					return err
				}
			}
			c.got = append(c.got, b)
			return nil
		})
	}()
	t.Cleanup(func() { c.Stop() })
	return c
}

// Got returns the batches applied so far.
func (c *Consumer) Got() []change.Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]change.Batch(nil), c.got...)
}

// Stop cancels the consumer and returns Consume's error.
func (c *Consumer) Stop() error {
	c.cancel()
	<-c.done
	return c.err
}

// WaitFor waits until the consumer applied n batches.
func (c *Consumer) WaitFor(t testing.TB, n int) []change.Batch {
	t.Helper()
	CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		select {
		case <-c.done:
			return fmt.Errorf("consumer ended early: %v", c.err)
		default:
		}
		if got := len(c.Got()); got < n {
			return fmt.Errorf("applied %d batches, want %d", got, n)
		}
		return nil
	})
	return c.Got()
}

// publish publishes batches and returns their acks.
func publish(t testing.TB, f change.Feed, key string, bs ...change.Batch) []change.Ack {
	t.Helper()
	acks := make([]change.Ack, len(bs))
	for i, b := range bs {
		a, err := f.Publish(context.Background(), key, b)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		acks[i] = a
	}
	return acks
}

func ids(bs []change.Batch) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func sameIDs(t testing.TB, got []change.Batch, want ...change.Batch) {
	t.Helper()
	g, w := ids(got), ids(want)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("applied %v, want %v", g, w)
	}
}

func testInOrder(t *testing.T, f change.Feed) {
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 3), NewBatch("wo-2", 1, 2)
	acks := publish(t, f, "tech-a", b1, b2, b3)
	for i := 1; i < len(acks); i++ {
		if acks[i].Seq <= acks[i-1].Seq || acks[i].Duplicate {
			t.Fatalf("acks not increasing: %+v", acks)
		}
	}
	if head, err := f.Head(context.Background()); err != nil || head != acks[2].Seq {
		t.Fatalf("Head = %d, %v; want %d", head, err, acks[2].Seq)
	}
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d1"})
	got := c.WaitFor(t, 3)
	sameIDs(t, got, b1, b2, b3)
	for i, b := range got {
		if b.Seq != acks[i].Seq {
			t.Fatalf("batch %d has seq %d, want %d", i, b.Seq, acks[i].Seq)
		}
		if len(b.Changes) != len(b2.Changes) && i == 1 {
			t.Fatalf("batch lost changes")
		}
	}
	if got[1].Changes[2].Version != 4 || string(got[1].Changes[0].Data) == "" || got[1].Changes[0].HLC.IsZero() {
		t.Fatalf("changes not preserved: %+v", got[1].Changes[0])
	}
}

func testIsolation(t *testing.T, f change.Feed) {
	a1, b1, a2 := NewBatch("wo-1", 1, 1), NewBatch("wo-9", 1, 1), NewBatch("wo-1", 2, 1)
	publish(t, f, "tech-a", a1)
	publish(t, f, "tech-b", b1)
	publish(t, f, "tech-a", a2)
	ca := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "da"})
	cb := StartConsumer(t, f, "tech-b", change.ConsumeOptions{Durable: "db"})
	sameIDs(t, ca.WaitFor(t, 2), a1, a2)
	sameIDs(t, cb.WaitFor(t, 1), b1)
	ca.Stop()
	cb.Stop()
	sameIDs(t, ca.Got(), a1, a2)
	sameIDs(t, cb.Got(), b1)
}

func testDuplicate(t *testing.T, f change.Feed) {
	b1, b2 := NewBatch("wo-1", 1, 2), NewBatch("wo-1", 3, 1)
	first := publish(t, f, "tech-a", b1)[0]
	again := publish(t, f, "tech-a", b1, b2)
	if !again[0].Duplicate || again[0].Seq != first.Seq || again[1].Duplicate {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d"})
	c.WaitFor(t, 2)
	publish(t, f, "tech-a", b2) // a late duplicate is not redelivered
	b3 := NewBatch("wo-1", 4, 1)
	publish(t, f, "tech-a", b3)
	c.WaitFor(t, 3)
	c.Stop()
	sameIDs(t, c.Got(), b1, b2, b3)
}

func testRedeliver(t *testing.T, f change.Feed) {
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 1), NewBatch("wo-1", 3, 1)
	publish(t, f, "tech-a", b1, b2, b3)
	var errs atomic.Int32
	c := startConsumer(t, f, "tech-a", change.ConsumeOptions{
		Durable: "d", RetryDelay: 5 * time.Millisecond,
		OnError: func(change.Cursor, error) { errs.Add(1) },
	}, func(b change.Batch, attempt int) error {
		if b.ID == b2.ID && attempt <= 3 {
			return errors.New("disk full")
		}
		return nil
	})
	got := c.WaitFor(t, 3)
	sameIDs(t, got, b1, b2, b3)
	if n := errs.Load(); n != 3 {
		t.Fatalf("OnError called %d times, want 3", n)
	}
}

func testResumeDurable(t *testing.T, f change.Feed) {
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 1), NewBatch("wo-1", 3, 1)
	publish(t, f, "tech-a", b1, b2)
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d"})
	c.WaitFor(t, 2)
	if err := c.Stop(); err != nil {
		t.Fatalf("Consume returned %v after cancel, want nil", err)
	}
	publish(t, f, "tech-a", b3)
	c2 := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d"})
	c2.WaitFor(t, 1)
	b4 := NewBatch("wo-1", 4, 1)
	publish(t, f, "tech-a", b4)
	c2.WaitFor(t, 2)
	c2.Stop()
	sameIDs(t, c2.Got(), b3, b4)
}

func testAfterSkips(t *testing.T, f change.Feed) {
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 1), NewBatch("wo-1", 3, 1)
	acks := publish(t, f, "tech-a", b1, b2, b3)
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "fresh", After: acks[1].Seq})
	c.WaitFor(t, 1)
	b4 := NewBatch("wo-1", 4, 1)
	publish(t, f, "tech-a", b4)
	c.WaitFor(t, 2)
	c.Stop()
	sameIDs(t, c.Got(), b3, b4)
}

func testAfterRewinds(t *testing.T, f change.Feed) {
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 1), NewBatch("wo-1", 3, 1)
	acks := publish(t, f, "tech-a", b1, b2, b3)
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d"})
	c.WaitFor(t, 3)
	c.Stop()
	// The store was restored from an older backup: its cursor wins.
	c2 := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d", After: acks[0].Seq})
	c2.WaitFor(t, 2)
	c2.Stop()
	sameIDs(t, c2.Got(), b2, b3)
}

func testLive(t *testing.T, f change.Feed) {
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "d"})
	var want []change.Batch
	for i := range 5 {
		b := NewBatch("wo-1", int64(i+1), 1)
		want = append(want, b)
		publish(t, f, "tech-a", b)
	}
	c.WaitFor(t, 5)
	c.Stop()
	sameIDs(t, c.Got(), want...)
}

func testExpired(t *testing.T, f change.Feed) {
	tr, ok := f.(Trimmer)
	if !ok {
		t.Skip("feed cannot trim")
	}
	b1, b2, b3 := NewBatch("wo-1", 1, 1), NewBatch("wo-1", 2, 1), NewBatch("wo-1", 3, 1)
	acks := publish(t, f, "tech-a", b1, b2, b3)
	if err := tr.Trim(context.Background(), acks[2].Seq); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.Consume(ctx, "tech-a", change.ConsumeOptions{Durable: "late", After: acks[0].Seq}, func(context.Context, change.Batch) error {
		return errors.New("must not be called")
	})
	if !errors.Is(err, change.ErrCursorExpired) {
		t.Fatalf("Consume after trim = %v, want ErrCursorExpired", err)
	}
	// A cursor right before what is held is fine.
	c := StartConsumer(t, f, "tech-a", change.ConsumeOptions{Durable: "ok", After: acks[1].Seq})
	c.WaitFor(t, 1)
	c.Stop()
	sameIDs(t, c.Got(), b3)
}

func testInvalid(t *testing.T, f change.Feed) {
	ctx := context.Background()
	if _, err := f.Publish(ctx, "tech-a", change.Batch{ID: "x"}); !errors.Is(err, change.ErrInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
	b := NewBatch("wo-1", 1, 1)
	b.Changes[0].Op = "merge"
	if _, err := f.Publish(ctx, "tech-a", b); !errors.Is(err, change.ErrInvalid) {
		t.Fatalf("bad op: %v", err)
	}
}
