// Package inmem is a change.Feed in memory, for tests and single-process use.
// It keeps every batch until Trim and deduplicates by batch ID forever.
package inmem

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"dotmac.dev/field/sync/change"
)

// Feed is an in-memory change.Feed. The zero value is not usable; call New.
type Feed struct {
	mu       sync.Mutex
	log      []entry
	first    change.Cursor // sequence of the first batch held (last+1 when empty)
	last     change.Cursor
	ids      map[string]change.Cursor
	durables map[string]change.Cursor // key + "\x00" + durable → last acknowledged
	wake     chan struct{}            // closed on every append
}

type entry struct {
	seq  change.Cursor
	key  string
	data []byte
}

var _ change.Feed = (*Feed)(nil)

// New returns an empty feed.
func New() *Feed {
	return &Feed{first: 1, ids: map[string]change.Cursor{}, durables: map[string]change.Cursor{}, wake: make(chan struct{})}
}

// Publish implements change.Feed.
func (f *Feed) Publish(ctx context.Context, key string, b change.Batch) (change.Ack, error) {
	if err := ctx.Err(); err != nil {
		return change.Ack{}, err
	}
	if key == "" {
		return change.Ack{}, fmt.Errorf("inmem: empty key")
	}
	if err := b.Validate(); err != nil {
		return change.Ack{}, err
	}
	data, err := change.Encode(b)
	if err != nil {
		return change.Ack{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq, ok := f.ids[b.ID]; ok {
		return change.Ack{Seq: seq, Duplicate: true}, nil
	}
	f.last++
	f.log = append(f.log, entry{seq: f.last, key: key, data: data})
	f.ids[b.ID] = f.last
	close(f.wake)
	f.wake = make(chan struct{})
	return change.Ack{Seq: f.last}, nil
}

// Head implements change.Feed.
func (f *Feed) Head(ctx context.Context) (change.Cursor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, ctx.Err()
}

// Trim drops every batch before seq, as a retention limit would.
func (f *Feed) Trim(_ context.Context, before change.Cursor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if before <= f.first {
		return nil
	}
	f.log = slices.DeleteFunc(f.log, func(e entry) bool { return e.seq < before })
	f.first = min(before, f.last+1)
	return nil
}

// Consume implements change.Feed.
func (f *Feed) Consume(ctx context.Context, key string, opts change.ConsumeOptions, fn change.Handler) error {
	if opts.Durable == "" {
		return fmt.Errorf("inmem: durable name required")
	}
	dk := key + "\x00" + opts.Durable
	f.mu.Lock()
	pos := opts.After
	if pos == 0 {
		pos = f.durables[dk]
	}
	f.mu.Unlock()
	attempt := 0
	for {
		f.mu.Lock()
		if pos+1 < f.first {
			f.mu.Unlock()
			return change.ErrCursorExpired
		}
		var next *entry
		for i := range f.log {
			if e := &f.log[i]; e.seq > pos && e.key == key {
				next = e
				break
			}
		}
		wake := f.wake
		f.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
				continue
			}
		}
		b, err := change.Decode(next.data)
		if err == nil {
			b.Seq = next.seq
			err = fn(ctx, b)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			attempt++
			if opts.OnError != nil {
				opts.OnError(next.seq, err)
			}
			t := time.NewTimer(opts.Backoff(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		attempt = 0
		pos = next.seq
		f.mu.Lock()
		f.durables[dk] = pos
		f.mu.Unlock()
	}
}
