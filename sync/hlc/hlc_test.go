package hlc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"dotmac.dev/field/sync/hlc"
)

// fakeClock is a settable physical clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time      { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Set(t time.Time)     { f.mu.Lock(); f.t = t; f.mu.Unlock() }
func (f *fakeClock) Add(d time.Duration) { f.Set(f.Now().Add(d)) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newClock(node string) (*hlc.Clock, *fakeClock) {
	f := &fakeClock{t: t0}
	c := hlc.New(node)
	c.Physical = f.Now
	return c, f
}

func TestClock_NowMonotonic(t *testing.T) {
	c, f := newClock("a")
	a := c.Now()
	b := c.Now()
	if !b.After(a) || b.Wall != t0.UnixMilli() || b.Logical != 1 {
		t.Fatalf("a=%v b=%v", a, b)
	}
	f.Add(-time.Hour) // the physical clock steps back
	d := c.Now()
	if !d.After(b) || d.Wall != b.Wall {
		t.Fatalf("clock went back: %v after %v", d, b)
	}
	f.Set(t0.Add(time.Second))
	e := c.Now()
	if e.Wall != t0.Add(time.Second).UnixMilli() || e.Logical != 0 {
		t.Fatalf("e=%v", e)
	}
}

func TestClock_Update(t *testing.T) {
	c, _ := newClock("hub")

	// A remote slightly ahead is believed: the clock moves past it.
	remote := hlc.Timestamp{Wall: t0.Add(10 * time.Second).UnixMilli(), Logical: 7, Node: "dev"}
	got, err := c.Update(remote)
	if err != nil || !got.After(remote) || got.Wall != remote.Wall || got.Logical != 8 || got.Node != "hub" {
		t.Fatalf("got=%v err=%v", got, err)
	}

	// A remote behind does not move the clock back.
	old := hlc.Timestamp{Wall: t0.Add(-time.Hour).UnixMilli(), Node: "dev"}
	got2, err := c.Update(old)
	if err != nil || !got2.After(got) {
		t.Fatalf("got2=%v err=%v", got2, err)
	}
}

func TestClock_UpdateClampsDrift(t *testing.T) {
	c, f := newClock("hub")
	c.MaxDrift = time.Minute
	far := hlc.Timestamp{Wall: t0.Add(3 * time.Hour).UnixMilli(), Logical: 5, Node: "dev"}
	got, err := c.Update(far)
	var de *hlc.DriftError
	if !errors.Is(err, hlc.ErrDrift) || !errors.As(err, &de) || de.Ahead != 3*time.Hour {
		t.Fatalf("err = %v", err)
	}
	if got.Wall != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("not clamped: %v", got.Time())
	}
	// Still monotonic afterwards, and the far timestamp still compares after ours:
	// it keeps its own value; only our clock refused to follow it.
	if n := c.Now(); !n.After(got) || !far.After(n) {
		t.Fatalf("n=%v", n)
	}
	// Once physical time catches up, the clock resumes from physical time.
	f.Add(2 * time.Minute)
	if n := c.Now(); n.Wall != t0.Add(2*time.Minute).UnixMilli() || n.Logical != 0 {
		t.Fatalf("n=%v", n)
	}
}

func TestClock_Observe(t *testing.T) {
	c, _ := newClock("dev")
	saved := hlc.Timestamp{Wall: t0.Add(time.Hour).UnixMilli(), Logical: 3, Node: "dev"}
	c.Observe(saved)
	if n := c.Now(); !n.After(saved) {
		t.Fatalf("n=%v saved=%v", n, saved)
	}
}

func TestClock_Concurrent(t *testing.T) {
	c := hlc.New("n")
	const workers, each = 4, 500
	out := make([][]hlc.Timestamp, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				out[w] = append(out[w], c.Now())
			}
		})
	}
	wg.Wait()
	seen := map[hlc.Timestamp]bool{}
	for _, ts := range out {
		for i, x := range ts {
			if seen[x] {
				t.Fatalf("duplicate %v", x)
			}
			seen[x] = true
			if i > 0 && !x.After(ts[i-1]) {
				t.Fatalf("not increasing within a goroutine")
			}
		}
	}
}

func TestEncoding_OrderPreserving(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"hub", "0190c8a2-7a10-7c4e-9b1a-2f0d4c1e5a01", "a", "ab", ""}
	var ts []hlc.Timestamp
	for range 500 {
		ts = append(ts, hlc.Timestamp{
			Wall:    t0.UnixMilli() + r.Int64N(5),
			Logical: uint32(r.IntN(3)) * uint32(1+r.IntN(70000)),
			Node:    nodes[r.IntN(len(nodes))],
		})
	}
	for _, a := range ts {
		b := ts[r.IntN(len(ts))]
		want := hlc.Compare(a, b)
		if got := cmpStr(a.String(), b.String()); got != want {
			t.Fatalf("string order %v vs %v: %d, want %d", a, b, got, want)
		}
		ab, _ := a.MarshalBinary()
		bb, _ := b.MarshalBinary()
		if got := bytes.Compare(ab, bb); got != want {
			t.Fatalf("binary order %v vs %v: %d, want %d", a, b, got, want)
		}
		var back hlc.Timestamp
		if err := back.UnmarshalBinary(ab); err != nil || back != a {
			t.Fatalf("binary round trip %v -> %v (%v)", a, back, err)
		}
		if p, err := hlc.Parse(a.String()); err != nil || p != a {
			t.Fatalf("text round trip %v -> %v (%v)", a, p, err)
		}
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestEncoding_Text(t *testing.T) {
	ts := hlc.Timestamp{Wall: t0.UnixMilli(), Logical: 2, Node: "hub"}
	if s := ts.String(); s != "01955193de00-00000002-hub" {
		t.Fatalf("String = %q", s)
	}
	b, _ := json.Marshal(struct{ T hlc.Timestamp }{ts})
	if string(b) != `{"T":"01955193de00-00000002-hub"}` {
		t.Fatalf("json = %s", b)
	}
	var z struct{ T hlc.Timestamp }
	if err := json.Unmarshal([]byte(`{"T":""}`), &z); err != nil || !z.T.IsZero() {
		t.Fatalf("zero: %v %v", z, err)
	}
	for _, bad := range []string{"x", "01955193de00-2-hub", "01954A0FB380-00000002-hub", "01955193de00-0000000g-hub", "01955193de00"} {
		if _, err := hlc.Parse(bad); !errors.Is(err, hlc.ErrSyntax) {
			t.Errorf("Parse(%q) err = %v", bad, err)
		}
	}
	sorted := []string{ts.String(), hlc.Timestamp{Wall: ts.Wall + 1, Node: "a"}.String(), hlc.Timestamp{Wall: ts.Wall, Logical: 1, Node: "z"}.String()}
	slices.Sort(sorted)
	if sorted[0][13:21] != "00000001" {
		t.Fatalf("sorted = %v", sorted)
	}
}
