package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// listCache keeps work-order list pages until anything they show changes. The office list is
// read far more often than it changes (every dispatcher's screen polls and filters it), and each
// page is the same for every caller allowed to read it, so a page is answered from memory until
// the next write.
//
// Invalidation is by generation: every cached page carries the generation it was read under and
// is served only while that generation is current. The generation moves
//   - on every write request this replica served, after its handler returned (web.Server.OnWrite):
//     a dispatcher always reads their own write;
//   - on NOTIFY dmf_wo_list, sent by statement triggers on every table the list shows
//     (migration 0019) — writes by other replicas, the sync applier, jobs and psql;
//   - whenever the LISTEN connection is (re)established.
//
// While the LISTEN connection is down nothing is cached or served from the cache, so a lost
// notification cannot leave a stale page behind. A page read under generation g is stored under g:
// if a write landed while it was being read, the generation has moved and the page is never served.
type listCache struct {
	gen  atomic.Uint64
	live atomic.Bool

	mu    sync.RWMutex
	pages map[string]*listPage

	flight singleflight.Group
}

type listPage struct {
	gen   uint64
	items []WorkOrder
	total int

	once sync.Once
	body []byte // the API envelope for (limit, offset) of this page, built once
}

// listCacheMax bounds the pages kept; past it the cache starts over (a page is a few tens of KB).
const listCacheMax = 2048

func (l *listCache) invalidate() { l.gen.Add(1) }

func (l *listCache) get(key string) *listPage {
	if !l.live.Load() {
		return nil
	}
	l.mu.RLock()
	p := l.pages[key]
	l.mu.RUnlock()
	if p == nil || p.gen != l.gen.Load() {
		return nil
	}
	return p
}

func (l *listCache) put(key string, gen uint64, items []WorkOrder, total int) *listPage {
	p := &listPage{gen: gen, items: items, total: total}
	if !l.live.Load() || gen != l.gen.Load() {
		return p
	}
	l.mu.Lock()
	if l.pages == nil || len(l.pages) >= listCacheMax {
		l.pages = make(map[string]*listPage, 64)
	}
	l.pages[key] = p
	l.mu.Unlock()
	return p
}

// envelope returns the CONTRACT list envelope of the page, encoded once.
func (p *listPage) envelope(limit, offset int) []byte {
	p.once.Do(func() {
		b, err := json.Marshal(struct {
			Items  []WorkOrder `json:"items"`
			Total  int         `json:"total"`
			Limit  int         `json:"limit"`
			Offset int         `json:"offset"`
		}{p.items, p.total, limit, offset})
		if err == nil {
			p.body = b
		}
	})
	return p.body
}

// key is the filter in a canonical form.
func (f Filter) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s=%s|a=%s|c=%s|q=%s|p=%s|t=%s|l=%d|o=%d", strings.Join(f.Status, ","), f.AssignedTo, f.CustomerID,
		f.Query, f.Priority, f.WorkType, f.Limit, f.Offset)
	if f.From != nil {
		fmt.Fprintf(&b, "|f=%d", f.From.UnixNano())
	}
	if f.To != nil {
		fmt.Fprintf(&b, "|u=%d", f.To.UnixNano())
	}
	return b.String()
}

// RunListInvalidation holds a LISTEN dmf_wo_list connection and moves the list cache's generation
// on each notification, until ctx ends. Until it runs the cache stays off.
func (s *Service) RunListInvalidation(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenList(ctx)
		s.list.live.Store(false)
		s.list.invalidate()
		if ctx.Err() != nil {
			return
		}
		s.Logger.Warn("work-order list cache: LISTEN lost, cache off until it is back", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) listenList(ctx context.Context) error {
	conn, err := s.DB.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN dmf_wo_list`); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `UNLISTEN dmf_wo_list`)
	s.list.invalidate()
	s.list.live.Store(true)
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("closed")
			}
			return err
		}
		s.list.invalidate()
	}
}
