package change_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/changetest"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/inmem"
)

func down() change.Change { return changetest.NewChange("wo-1", 3) }

func up() change.Change {
	return change.Change{
		ID: "c-up", Family: "work_orders", Entity: "work_order", EntityID: "wo-1", Op: change.OpUpsert,
		Action: "transition", Data: json.RawMessage(`{"event":"start"}`), DeviceID: "dev-1", ClientRef: "ref-1",
		HLC: hlc.Timestamp{Wall: 1, Node: "dev-1"}, SchemaVersion: 1,
	}
}

func TestChange_Validate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*change.Change)
		base func() change.Change
		want error
	}{
		{"DownOK", func(*change.Change) {}, down, nil},
		{"UpActionOK", func(*change.Change) {}, up, nil},
		{"UpFieldsOK", func(c *change.Change) {
			c.Action, c.Data = "", nil
			c.Fields, c.BaseVersion = map[string]json.RawMessage{"access_notes": json.RawMessage(`"gate"`)}, 3
		}, up, nil},
		{"DownDeleteOK", func(c *change.Change) { c.Op, c.Data = change.OpDelete, nil }, down, nil},
		{"NoID", func(c *change.Change) { c.ID = "" }, down, change.ErrInvalid},
		{"NoEntity", func(c *change.Change) { c.Entity = "" }, down, change.ErrInvalid},
		{"BadOp", func(c *change.Change) { c.Op = "merge" }, down, change.ErrInvalid},
		{"NoVersion", func(c *change.Change) { c.Version = 0 }, down, change.ErrInvalid},
		{"NoData", func(c *change.Change) { c.Data = nil }, down, change.ErrInvalid},
		{"BadData", func(c *change.Change) { c.Data = json.RawMessage(`{`) }, down, change.ErrInvalid},
		{"FieldsDownstream", func(c *change.Change) { c.Fields = map[string]json.RawMessage{"a": json.RawMessage(`1`)} }, down, change.ErrInvalid},
		{"NewerSchema", func(c *change.Change) { c.SchemaVersion = change.SchemaVersion + 1 }, down, change.ErrSchemaVersion},
		{"NoSchema", func(c *change.Change) { c.SchemaVersion = 0 }, down, change.ErrInvalid},
		{"UpNoClientRef", func(c *change.Change) { c.ClientRef = "" }, up, change.ErrInvalid},
		{"UpEvict", func(c *change.Change) { c.Op = change.OpEvict }, up, change.ErrInvalid},
		{"UpActionAndFields", func(c *change.Change) { c.Fields = map[string]json.RawMessage{"a": json.RawMessage(`1`)} }, up, change.ErrInvalid},
		{"UpBadField", func(c *change.Change) {
			c.Action = ""
			c.Fields = map[string]json.RawMessage{"a": json.RawMessage(`{`)}
		}, up, change.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.base()
			tt.mod(&c)
			err := c.Validate()
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	c := down()
	c.CommittedAt = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	b := change.Batch{ID: change.BatchID([]change.Change{c, up()}), Seq: 9, Changes: []change.Change{c, up()}}
	data, err := change.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, frag := range []string{`"committed_at":"2025-03-01T12:00:00.123456Z"`, `"op":"upsert"`, `"action":"transition"`, `"schema_version":1`} {
		if !strings.Contains(s, frag) {
			t.Errorf("missing %s in %s", frag, s)
		}
	}
	for _, absent := range []string{`"seq"`, `"base_version"`, `"fields"`} {
		if strings.Contains(s, absent) {
			t.Errorf("unexpected %s in %s", absent, s)
		}
	}
	back, err := change.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != b.ID || back.Seq != 0 || len(back.Changes) != 2 || back.Changes[0].HLC != c.HLC || !back.Changes[0].CommittedAt.Equal(c.CommittedAt) {
		t.Fatalf("round trip: %+v", back)
	}
	if _, err := change.Decode([]byte(`{"id":"x","changes":[{"id":"y"}]}`)); !errors.Is(err, change.ErrInvalid) {
		t.Fatalf("Decode invalid = %v", err)
	}
	if _, err := change.Decode([]byte(`nope`)); !errors.Is(err, change.ErrInvalid) {
		t.Fatalf("Decode garbage = %v", err)
	}
}

func TestBatchID_Deterministic(t *testing.T) {
	a, b := down(), down()
	if change.BatchID([]change.Change{a, b}) != change.BatchID([]change.Change{a, b}) {
		t.Fatal("not deterministic")
	}
	if change.BatchID([]change.Change{a, b}) == change.BatchID([]change.Change{b, a}) {
		t.Fatal("order ignored")
	}
}

func TestSplit(t *testing.T) {
	var cs []change.Change
	for range 50 {
		cs = append(cs, down())
	}
	one, _ := json.Marshal(cs[0])
	batches, err := change.Split(cs, 10*len(one))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range batches {
		data, _ := change.Encode(b)
		if len(data) > 10*len(one)+len(one) {
			t.Fatalf("batch of %d bytes", len(data))
		}
		if b.ID != change.BatchID(b.Changes) {
			t.Fatal("batch id")
		}
		for _, c := range b.Changes {
			if c.ID != cs[n].ID {
				t.Fatal("order changed")
			}
			n++
		}
	}
	if n != 50 || len(batches) < 5 {
		t.Fatalf("%d changes in %d batches", n, len(batches))
	}
	if bs, _ := change.Split(cs[:1], 1); len(bs) != 1 {
		t.Fatal("an oversized change must still get a batch")
	}
}

func TestBackoff(t *testing.T) {
	o := change.ConsumeOptions{RetryDelay: time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: change.MaxRetryDelay} {
		if got := o.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// memStore is a Store that applies atomically, fails on demand, and records
// its cursor, like a replica would.
type memStore struct {
	mu       sync.Mutex
	cursor   change.Cursor
	version  map[string]int64
	failNext bool
}

func (s *memStore) Cursor(context.Context, string) (change.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

func (s *memStore) Apply(_ context.Context, _ string, b change.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext {
		s.failNext = false
		return errors.New("busy")
	}
	for _, c := range b.Changes {
		if c.Version > s.version[c.EntityID] {
			s.version[c.EntityID] = c.Version
		}
	}
	s.cursor = b.Seq
	return nil
}

func TestSync(t *testing.T) {
	f := inmem.New()
	ctx := context.Background()
	for v := int64(1); v <= 3; v++ {
		if _, err := f.Publish(ctx, "tech-a", changetest.NewBatch("wo-1", v, 1)); err != nil {
			t.Fatal(err)
		}
	}
	s := &memStore{version: map[string]int64{}, failNext: true}
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- change.Sync(ctx, f, "tech-a", "down", "dev-1", s) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Sync: %v", err)
			}
		}
	}
	stop := run()
	head, _ := f.Head(ctx)
	changetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if c, _ := s.Cursor(ctx, "down"); c != head {
			return errors.New("not caught up")
		}
		return nil
	})
	stop()
	if s.version["wo-1"] != 3 {
		t.Fatalf("version = %d", s.version["wo-1"])
	}
	f.Publish(ctx, "tech-a", changetest.NewBatch("wo-1", 4, 1))
	stop = run()
	defer stop()
	changetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.version["wo-1"] != 4 {
			return errors.New("not resumed")
		}
		return nil
	})
}
