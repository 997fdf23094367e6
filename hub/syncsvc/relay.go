package syncsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/scope"
)

// relayConsumer is the relay's row in domain_event_consumers.
const relayConsumer = "sync.relay"

// gapWait is how long the relay waits for a domain_events id below the newest it has seen to
// commit (ids are taken at insert, rows become visible at commit) before treating it as rolled back.
const gapWait = 10 * time.Second

// maxBatchBytes keeps published batches well under the NATS payload limit.
const maxBatchBytes = 512 << 10

// scopeRow is one replicated row in a technician's scope.
type scopeRow struct {
	Family  string
	Entity  string
	ID      string
	Version int64
	Root    string
	Data    json.RawMessage
	shared  bool
	order   int // entity order across bindings: parents first
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// execer is a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// activeRecheck is how often bindings whose tables were missing are looked for again.
const activeRecheck = 5 * time.Second

// activeBindings returns the bindings whose tables exist. Tables are not dropped while the hub
// runs, so once every binding is active the answer is kept; until then it is rechecked every
// activeRecheck (a migration may add a family's tables).
func (s *Service) activeBindings(ctx context.Context) []Binding {
	s.activeMu.Lock()
	defer s.activeMu.Unlock()
	if s.activeAt.IsZero() || (len(s.active) < len(s.Bindings) && s.now().Sub(s.activeAt) >= activeRecheck) {
		var names []string
		for _, b := range s.Bindings {
			names = append(names, b.Requires...)
		}
		missing := map[string]bool{}
		rows, err := s.DB.Pool.Query(ctx, `SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL`, names)
		if err == nil {
			var list []string
			list, err = collectStrings(rows)
			for _, t := range list {
				missing[t] = true
			}
		}
		if err != nil {
			return s.active // keep the last answer; the next pass asks again
		}
		var out []Binding
		for _, b := range s.Bindings {
			if !slices.ContainsFunc(b.Requires, func(t string) bool { return missing[t] }) {
				out = append(out, b)
			}
		}
		s.active, s.activeAt = out, s.now()
	}
	return s.active
}

// scopeRows reads technician tech's rows, limited to roots (nil: whole scope) and, per entity,
// to ids (nil: all). fn is called for each row in entity order (parents first).
//
// The sources' queries go to the server in one pipelined batch (one round trip, not one per
// source); their rows are read back in order.
func (s *Service) scopeRows(ctx context.Context, q querier, bindings []Binding, tech string, roots []string, ids map[string][]string, fn func(r scopeRow) error) error {
	return s.scopeRowsAnd(ctx, q, bindings, tech, roots, ids, false, fn, nil, nil)
}

// scopeRowsAnd is scopeRows with more queries in the same round trip: extra queues them after
// the sources, after reads their results. With partial, an entity ids does not list reads all
// its rows (instead of none).
func (s *Service) scopeRowsAnd(ctx context.Context, q querier, bindings []Binding, tech string, roots []string, ids map[string][]string, partial bool,
	fn func(r scopeRow) error, extra func(*pgx.Batch), after func(pgx.BatchResults) error) error {
	type queued struct {
		family string
		src    Source
		order  int
	}
	var list []queued
	batch := &pgx.Batch{}
	order := 0
	for _, b := range bindings {
		for _, src := range b.Sources {
			order++
			var idArg any
			if ids != nil {
				l, ok := ids[src.Entity]
				switch {
				case ok && len(l) > 0:
					idArg = l
				case ok || !partial:
					continue
				}
			}
			var rootArg any
			if roots != nil {
				rootArg = uuidArray(roots)
			}
			batch.Queue(src.SQL, tech, rootArg, idArg)
			list = append(list, queued{b.Family.Name, src, order})
		}
	}
	if extra != nil {
		extra(batch)
	}
	if batch.Len() == 0 {
		return nil
	}
	br := q.SendBatch(ctx, batch)
	defer br.Close()
	for _, e := range list {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("scope %s: %w", e.src.Entity, err)
		}
		for rows.Next() {
			var r scopeRow
			var root *string
			var data []byte
			if err := rows.Scan(&root, &r.ID, &r.Version, &data); err != nil {
				rows.Close()
				return fmt.Errorf("scope %s: %w", e.src.Entity, err)
			}
			r.Family, r.Entity, r.Data, r.shared, r.order = e.family, e.src.Entity, data, e.src.Shared, e.order
			if root != nil {
				r.Root = *root
			}
			if err := fn(r); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("scope %s: %w", e.src.Entity, err)
		}
	}
	if after != nil {
		if err := after(br); err != nil {
			return err
		}
	}
	return br.Close()
}

// runRelay relays domain events to the technicians' feeds until ctx ends: woken by NOTIFY on
// each commit, and every second regardless.
func (s *Service) runRelay(ctx context.Context) {
	wake := make(chan struct{}, 1)
	go s.listen(ctx, wake)
	sweep := time.NewTicker(5 * time.Minute)
	defer sweep.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	st := &relayState{seen: map[int64]bool{}, gapSince: map[int64]time.Time{}}
	polls := map[string]*pollState{}
	var polled time.Time
	fails := 0
	for {
		n, err := s.relayOnce(ctx, st)
		// The polled families (no domain events) are followed at most every pollEvery, not
		// on every wake-up by a commit.
		if err == nil && time.Since(polled) >= pollEvery {
			if err = s.pollOnce(ctx, polls); err == nil {
				polled = time.Now()
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fails++
			s.Logger.Warn("relay pass failed", "error", err, "attempt", fails)
			sleepCtx(ctx, min(time.Duration(fails)*200*time.Millisecond, 5*time.Second))
			continue
		}
		fails = 0
		if n >= relayPage {
			continue // more are waiting; a shorter page read all, and commits since woke us
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		case <-sweep.C:
			if err := s.sweepExpired(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Warn("scope sweep failed", "error", err)
			}
		}
	}
}

// listen forwards NOTIFY dmf_domain_events to wake.
func (s *Service) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := s.DB.Pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `LISTEN dmf_domain_events`); err != nil {
				return err
			}
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					conn.Conn().Close(context.Background())
					return err
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
		if ctx.Err() == nil {
			s.Logger.Debug("relay listen restarting", "error", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type relayState struct {
	registered bool                // the relay's row in domain_event_consumers exists
	seen       map[int64]bool      // ids above the cursor already relayed
	gapSince   map[int64]time.Time // ids missing below the newest seen, since when
}

type domainEvent struct {
	ID        int64
	Topic     string
	Entity    string
	EntityID  string
	Payload   []byte
	CreatedAt time.Time
}

// relayPage is the number of domain events a relay pass reads.
const relayPage = 500

// pollEvery is how often the relay polls the families followed by a version sequence.
const pollEvery = 250 * time.Millisecond

// relayOnce relays the next domain events and returns how many it read.
func (s *Service) relayOnce(ctx context.Context, st *relayState) (int, error) {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	var cursor int64
	if !st.registered {
		if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO domain_event_consumers (consumer, last_id) VALUES ($1, 0)
			ON CONFLICT (consumer) DO NOTHING`, relayConsumer); err != nil {
			return 0, err
		}
		st.registered = true
	}
	// The cursor and the events after it, in one round trip.
	batch := &pgx.Batch{}
	batch.Queue(`SELECT last_id FROM domain_event_consumers WHERE consumer = $1`, relayConsumer)
	batch.Queue(`SELECT id, topic, entity, entity_id::text, payload, created_at FROM domain_events
		WHERE id > (SELECT last_id FROM domain_event_consumers WHERE consumer = $1) ORDER BY id LIMIT `+strconv.Itoa(relayPage), relayConsumer)
	br := s.DB.Pool.SendBatch(ctx, batch)
	defer br.Close()
	if err := br.QueryRow().Scan(&cursor); err != nil {
		return 0, err
	}
	rows, err := br.Query()
	if err != nil {
		return 0, err
	}
	var evs []domainEvent
	for rows.Next() {
		var e domainEvent
		if err := rows.Scan(&e.ID, &e.Topic, &e.Entity, &e.EntityID, &e.Payload, &e.CreatedAt); err != nil {
			rows.Close()
			return 0, err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := br.Close(); err != nil {
		return 0, err
	}
	// Advance the cursor over contiguous ids; hold it at a gap (a transaction still open) until
	// gapWait passes.
	now := s.now()
	newCursor, blocked := cursor, false
	var todo []domainEvent
	expect := cursor + 1
	for _, e := range evs {
		for id := expect; id < e.ID && !blocked; id++ {
			since, ok := st.gapSince[id]
			if !ok {
				st.gapSince[id] = now
				since = now
			}
			if now.Sub(since) < gapWait {
				blocked = true
			}
		}
		expect = e.ID + 1
		if !st.seen[e.ID] {
			todo = append(todo, e)
		}
		if !blocked {
			newCursor = e.ID
		}
	}
	if len(todo) > 0 {
		if err := s.relayEvents(ctx, todo); err != nil {
			return 0, err
		}
	}
	for _, e := range todo {
		st.seen[e.ID] = true
	}
	for id := range st.seen {
		if id <= newCursor {
			delete(st.seen, id)
		}
	}
	for id := range st.gapSince {
		if id <= newCursor {
			delete(st.gapSince, id)
		}
	}
	if newCursor != cursor {
		if _, err := s.DB.Pool.Exec(ctx, `UPDATE domain_event_consumers SET last_id = $2, updated_at = now() WHERE consumer = $1`,
			relayConsumer, newCursor); err != nil {
			return 0, err
		}
		s.metrics.relayCursor.Set(float64(newCursor))
	}
	if blocked && len(todo) == 0 {
		return 0, nil // wait for the gap without spinning
	}
	return len(todo), nil
}

// relayEvents maps events to the work orders they touch and relays those: each job re-reads
// what its events can have changed (Binding.Touches), everything when one of them may move scope.
func (s *Service) relayEvents(ctx context.Context, evs []domainEvent) error {
	bindings := s.activeBindings(ctx)
	need := touchedRoots{}
	oldest := evs[0].CreatedAt
	batch := &pgx.Batch{}
	type asked struct {
		e    domainEvent
		ents reread
	}
	var queued []asked
	for _, e := range evs {
		oldest = minTime(oldest, e.CreatedAt)
		ents := touchOf(bindings, e)
		var p struct {
			WorkOrderID string `json:"work_order_id"`
		}
		if json.Unmarshal(e.Payload, &p) == nil && p.WorkOrderID != "" && validUUID(p.WorkOrderID) {
			need.add(p.WorkOrderID, ents)
		}
		for _, b := range bindings {
			q, ok := b.Roots[e.Entity]
			switch {
			case !ok:
			case q == RootSelf && validUUID(e.EntityID):
				need.add(e.EntityID, ents)
			default:
				batch.Queue(q, e.EntityID)
				queued = append(queued, asked{e, ents})
			}
		}
	}
	if len(queued) > 0 { // every event's roots in one round trip
		br := s.DB.Pool.SendBatch(ctx, batch)
		for _, a := range queued {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return fmt.Errorf("roots of %s %s: %w", a.e.Entity, a.e.EntityID, err)
			}
			ids, err := collectStrings(rows)
			if err != nil {
				br.Close()
				return fmt.Errorf("roots of %s %s: %w", a.e.Entity, a.e.EntityID, err)
			}
			for _, id := range ids {
				need.add(id, a.ents)
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
	}
	if err := s.relayTouched(ctx, bindings, need); err != nil {
		return err
	}
	s.metrics.relayLag.Observe(s.now().Sub(oldest).Seconds())
	return nil
}

// reread is what a pass must re-read of one job: for each entity listed, the rows of ids, or every
// row of the job when the list is nil.
type reread map[string][]string

// touchedRoots maps a job to what a pass must re-read of it; a nil reread means everything.
type touchedRoots map[string]reread

// add records that root must re-read r (nil: everything).
func (t touchedRoots) add(root string, r reread) {
	cur, seen := t[root]
	switch {
	case seen && cur == nil: // already everything
	case r == nil:
		t[root] = nil
	default:
		if cur == nil {
			cur = reread{}
			t[root] = cur
		}
		for e, ids := range r {
			have, ok := cur[e]
			switch {
			case !ok:
				cur[e] = slices.Clone(ids)
			case have == nil || ids == nil:
				cur[e] = nil // every row
			default:
				for _, id := range ids {
					if !slices.Contains(have, id) {
						have = append(have, id)
					}
				}
				cur[e] = have
			}
		}
	}
}

// relayTouched relays the jobs of need, grouped by what they must re-read: one relayRoots per
// group, the groups in a fixed order (everything first).
func (s *Service) relayTouched(ctx context.Context, bindings []Binding, need touchedRoots) error {
	type group struct {
		roots []string
		ents  []string
		ids   map[string][]string // the rows of the entities re-read by id, over the group's jobs
	}
	groups := map[string]*group{}
	for root, r := range need {
		k := "*"
		var ents []string
		if r != nil {
			var parts []string
			for e, ids := range r {
				ents = append(ents, e)
				if ids != nil {
					e += "#"
				}
				parts = append(parts, e)
			}
			slices.Sort(parts)
			k = strings.Join(parts, ",")
		}
		g := groups[k]
		if g == nil {
			g = &group{ents: ents}
			groups[k] = g
		}
		g.roots = append(g.roots, root)
		for e, ids := range r {
			if ids != nil {
				if g.ids == nil {
					g.ids = map[string][]string{}
				}
				g.ids[e] = append(g.ids[e], ids...)
			}
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if (a == "*") != (b == "*") {
			if a == "*" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		g := groups[k]
		slices.Sort(g.roots)
		bs := bindings
		if k != "*" {
			bs = narrowTo(bindings, g.ents)
		}
		if err := s.relayRoots(ctx, bs, g.roots, g.ids); err != nil {
			return err
		}
	}
	return nil
}

// touchOf returns what an event can have changed (Binding.Touches), or nil when it may have
// changed anything, scope included.
func touchOf(bindings []Binding, e domainEvent) reread {
	var out reread
	var payload map[string]json.RawMessage
	parsed := false
	parse := func() bool {
		if !parsed {
			parsed = true
			if json.Unmarshal(e.Payload, &payload) != nil {
				payload = nil
			}
		}
		return payload != nil
	}
	for _, b := range bindings {
		t, ok := b.Touches[e.Topic]
		if !ok {
			continue
		}
		if out == nil {
			out = reread{}
		}
		if len(t.Changed) > 0 {
			var changed []string
			if !parse() || json.Unmarshal(payload["changed"], &changed) != nil || changed == nil {
				return nil // what changed is not said: everything
			}
			for _, c := range changed {
				if !slices.Contains(t.Changed, c) {
					return nil
				}
			}
		}
		for _, ent := range t.Entities {
			var ids []string
			if member, ok := t.Rows[ent]; ok {
				var id string
				switch {
				case e.Entity == ent:
					id = e.EntityID
				case parse() && json.Unmarshal(payload[member], &id) == nil:
				}
				if validUUID(id) {
					ids = []string{id}
				}
			}
			if have, ok := out[ent]; ok && (have == nil || ids == nil) {
				out[ent] = nil
			} else {
				out[ent] = append(have, ids...)
			}
		}
	}
	return out
}

// narrowTo returns the bindings with only the sources of entities ents (bindings left without a
// source are dropped).
func narrowTo(bindings []Binding, ents []string) []Binding {
	var out []Binding
	for _, b := range bindings {
		var srcs []Source
		for _, src := range b.Sources {
			if slices.Contains(ents, src.Entity) {
				srcs = append(srcs, src)
			}
		}
		if len(srcs) > 0 {
			b.Sources = srcs
			out = append(out, b)
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// relayRoots brings every technician with a device up to date for the given work orders. rows,
// when not nil, limits the entities it lists to those rows (Touch.Rows).
func (s *Service) relayRoots(ctx context.Context, bindings []Binding, roots []string, rows map[string][]string) error {
	for len(roots) > 0 {
		chunk := roots[:min(len(roots), 200)]
		roots = roots[len(chunk):]
		// The technicians of these roots and the owners of other roots, in one round trip.
		batch := &pgx.Batch{}
		batch.Queue(`SELECT DISTINCT t::text FROM (
				SELECT assigned_to AS t FROM work_orders WHERE id = ANY($1::uuid[]) AND assigned_to IS NOT NULL
				UNION SELECT person_id FROM work_order_assignments WHERE work_order_id = ANY($1::uuid[])
				UNION SELECT technician_id FROM sync_scope WHERE root_id = ANY($1::uuid[]) AND evicted_at IS NULL) x
			WHERE EXISTS (SELECT 1 FROM devices d WHERE d.technician_id = x.t AND d.status = 'active' AND d.enrolled_at IS NOT NULL)`, uuidArray(chunk))
		for _, b := range bindings {
			if b.Owners != "" {
				batch.Queue(`SELECT DISTINCT o FROM (`+b.Owners+`) x(o)
				WHERE EXISTS (SELECT 1 FROM devices d WHERE d.technician_id::text = x.o AND d.status = 'active' AND d.enrolled_at IS NOT NULL)`, uuidArray(chunk))
			}
		}
		var techs []string
		br := s.DB.Pool.SendBatch(ctx, batch)
		for i := 0; i < batch.Len(); i++ {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return fmt.Errorf("technicians of roots: %w", err)
			}
			ts, err := collectStrings(rows)
			if err != nil {
				br.Close()
				return fmt.Errorf("technicians of roots: %w", err)
			}
			for _, t := range ts {
				if !slices.Contains(techs, t) {
					techs = append(techs, t)
				}
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if err := s.relayTechs(ctx, bindings, techs, chunk, rows); err != nil {
			return err
		}
	}
	return nil
}

// relayWorkers is how many technicians' feeds one relay pass brings up to date at a time.
const relayWorkers = 8

// relayTechs runs relayTech for each technician, a few at a time (each feed is still written by
// one goroutine, so its order holds).
func (s *Service) relayTechs(ctx context.Context, bindings []Binding, techs, roots []string, rows map[string][]string) error {
	if len(techs) == 1 {
		if err := s.relayTech(ctx, bindings, techs[0], roots, rows); err != nil {
			return fmt.Errorf("relay to %s: %w", techs[0], err)
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan string)
	for range min(relayWorkers, len(techs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				if err := s.relayTech(ctx, bindings, t, roots, rows); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("relay to %s: %w", t, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, t := range techs {
		next <- t
	}
	close(next)
	wg.Wait()
	return first
}

type ledgerRow struct {
	version int64
	root    string
	evicted bool
}

func key(entity, id string) string { return entity + "\x00" + id }

// relayTech diffs technician tech's rows of the given work orders against what its feed already
// carries (the scope ledger) and publishes the difference: upserts for new or newer rows, deletes
// for rows gone from a job still in scope, evicts for rows whose job left the scope. The entities
// rows lists are read by id only, and none of their rows is taken for gone.
func (s *Service) relayTech(ctx context.Context, bindings []Binding, tech string, roots []string, rows map[string][]string) error {
	found := map[string]scopeRow{}
	var order []string
	inScope := map[string]bool{}
	var whole []string // the entities this pass reads every row of
	for _, b := range bindings {
		for _, src := range b.Sources {
			if _, byID := rows[src.Entity]; !byID {
				whole = append(whole, src.Entity)
			}
		}
	}
	ledger := map[string]ledgerRow{}
	scanLedger := func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var e, id string
			var l ledgerRow
			if err := rows.Scan(&e, &id, &l.version, &l.root, &l.evicted); err != nil {
				return err
			}
			ledger[key(e, id)] = l
		}
		return rows.Err()
	}
	// The rows of these jobs and the ledger rows rooted at them, in one round trip.
	err := s.scopeRowsAnd(ctx, s.DB.Pool, bindings, tech, roots, rows, true, func(r scopeRow) error {
		k := key(r.Entity, r.ID)
		if _, dup := found[k]; !dup {
			order = append(order, k)
		}
		found[k] = r
		if r.Entity == "work_order" {
			inScope[r.ID] = true
		}
		return nil
	}, func(b *pgx.Batch) {
		b.Queue(`SELECT entity, entity_id, version, coalesce(root_id::text, ''), evicted_at IS NOT NULL
			FROM sync_scope WHERE technician_id = $1 AND root_id = ANY($2::uuid[]) AND entity = ANY($3::text[])`, tech, uuidArray(roots), whole)
	}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		return scanLedger(rows)
	})
	if err != nil {
		return err
	}
	// A row read by id, or found here but rooted elsewhere in the ledger (a shared row, a row
	// that moved job), is looked up by its key.
	isRoot := make(map[string]bool, len(roots))
	for _, r := range roots {
		isRoot[r] = true
	}
	ents, ids := []string{}, []string{}
	for _, k := range order {
		r := found[k]
		_, byID := rows[r.Entity]
		if _, ok := ledger[k]; !ok && (byID || s.isShared(bindings, r.Entity) || !isRoot[r.Root]) {
			ents, ids = append(ents, r.Entity), append(ids, r.ID)
		}
	}
	if len(ents) > 0 {
		rows, err := s.DB.Pool.Query(ctx, `SELECT l.entity, l.entity_id, l.version, coalesce(l.root_id::text, ''), l.evicted_at IS NOT NULL
			FROM unnest($2::text[], $3::text[]) AS u(e, i) JOIN sync_scope l ON l.technician_id = $1 AND l.entity = u.e AND l.entity_id = u.i`,
			tech, ents, ids)
		if err != nil {
			return err
		}
		if err := scanLedger(rows); err != nil {
			return err
		}
	}

	var ups, gone []change.Change
	type evictRow struct {
		entity, id string
		version    int64
	}
	var evicted []evictRow
	var kept []scopeRow // rows found whose ledger entry must be written
	for _, k := range order {
		r := found[k]
		l, ok := ledger[k]
		if ok && !l.evicted && l.version >= r.Version {
			if l.root != r.Root {
				kept = append(kept, r) // re-rooted: nothing to send
			}
			continue // the ledger already says so: no write
		}
		kept = append(kept, r)
		ups = append(ups, s.downChange(tech, r.Family, r.Entity, r.ID, change.OpUpsert, r.Version, r.Data))
	}
	// Rows the ledger holds for these roots that are no longer found.
	candidates := map[string][]string{}
	for k, l := range ledger {
		if _, ok := found[k]; ok || l.evicted || !isRoot[l.root] {
			continue
		}
		e, id := splitKey(k)
		if _, byID := rows[e]; byID || !readBy(bindings, e) {
			continue // an entity this pass did not read whole: its rows are not gone
		}
		candidates[e] = append(candidates[e], id)
	}
	if len(candidates) > 0 {
		// A shared row may still be in scope through another work order.
		still := map[string]scopeRow{}
		shared := map[string][]string{}
		for e, list := range candidates {
			if s.isShared(bindings, e) {
				shared[e] = list
			}
		}
		if len(shared) > 0 {
			if err := s.scopeRows(ctx, s.DB.Pool, bindings, tech, nil, shared, func(r scopeRow) error {
				still[key(r.Entity, r.ID)] = r
				return nil
			}); err != nil {
				return err
			}
		}
		for e, list := range candidates {
			slices.Sort(list)
			for _, id := range list {
				k := key(e, id)
				if r, ok := still[k]; ok {
					kept = append(kept, r) // re-rooted, nothing to send
					continue
				}
				l := ledger[k]
				op := change.OpEvict
				if inScope[l.root] {
					op = change.OpDelete
				}
				fam, _, _ := s.Scope.FamilyOf(e)
				gone = append(gone, s.downChange(tech, fam.Name, e, id, op, l.version+1, nil))
				evicted = append(evicted, evictRow{e, id, l.version + 1})
			}
		}
		// Children before parents when removing.
		slices.SortStableFunc(gone, func(a, b change.Change) int {
			return s.entityOrder(bindings, b.Entity) - s.entityOrder(bindings, a.Entity)
		})
	}
	all := append(ups, gone...)
	if len(all) > 0 {
		batches, err := change.Split(all, maxBatchBytes)
		if err != nil {
			return err
		}
		for _, b := range batches {
			if _, err := s.down.Publish(ctx, tech, b); err != nil {
				return err
			}
			s.metrics.relayBatches.Inc()
		}
		for _, c := range all {
			s.metrics.relayChanges.WithLabelValues(string(c.Op)).Inc()
		}
		s.relayed.Add(int64(len(all)))
	}
	// Record what the feed now carries (one statement needs no transaction of its own).
	if len(evicted) == 0 && len(kept) <= ledgerChunk {
		return upsertLedger(ctx, s.DB.Pool, tech, kept)
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := upsertLedger(ctx, tx, tech, kept); err != nil {
			return err
		}
		for _, e := range evicted {
			if _, err := tx.Exec(ctx, `UPDATE sync_scope SET evicted_at = now(), version = $4, updated_at = now()
				WHERE technician_id = $1 AND entity = $2 AND entity_id = $3`, tech, e.entity, e.id, e.version); err != nil {
				return err
			}
		}
		return nil
	})
}

func splitKey(k string) (string, string) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

func (s *Service) isShared(bindings []Binding, entity string) bool {
	for _, b := range bindings {
		if src, ok := b.Source(entity); ok {
			return src.Shared
		}
	}
	return false
}

func (s *Service) entityOrder(bindings []Binding, entity string) int {
	n := 0
	for _, b := range bindings {
		for _, src := range b.Sources {
			n++
			if src.Entity == entity {
				return n
			}
		}
	}
	return n + 1
}

// uuidArray is ids (UUID strings) as a uuid[] parameter pgx sends in binary. Given as []string,
// pgx first fails the binary encoding, builds an error that prints the whole list, then falls
// back to text: most of the relay's client CPU at 1,000 devices. Ids that do not parse are
// passed as text, as before.
func uuidArray(ids []string) any {
	out := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			return ids
		}
		out[i] = pgtype.UUID{Bytes: u, Valid: true}
	}
	return out
}

// ledgerChunk is the number of rows per ledger upsert statement.
const ledgerChunk = 5000

// upsertLedger records rows as carried by tech's feed (never lowering a version).
func upsertLedger(ctx context.Context, tx execer, tech string, rows []scopeRow) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), ledgerChunk)]
		rows = rows[len(chunk):]
		ents, ids, roots := make([]string, len(chunk)), make([]string, len(chunk)), make([]pgtype.UUID, len(chunk))
		vers := make([]int64, len(chunk))
		for i, r := range chunk {
			ents[i], ids[i], vers[i] = r.Entity, r.ID, r.Version
			if u, err := uuid.Parse(r.Root); err == nil {
				roots[i] = pgtype.UUID{Bytes: u, Valid: true}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sync_scope (technician_id, entity, entity_id, version, root_id)
			SELECT $1, e, i, v, r FROM unnest($2::text[], $3::text[], $4::bigint[], $5::uuid[]) AS u(e, i, v, r)
			ON CONFLICT (technician_id, entity, entity_id) DO UPDATE
			   SET version = CASE WHEN sync_scope.evicted_at IS NULL THEN greatest(sync_scope.version, EXCLUDED.version) ELSE EXCLUDED.version END,
			       root_id = EXCLUDED.root_id, evicted_at = NULL, updated_at = now()`, tech, ents, ids, vers, roots); err != nil {
			return err
		}
	}
	return nil
}

// downChange builds a downstream change with a deterministic id, so republishing it after a
// crash is deduplicated by the stream (the batch id derives from the change ids).
func (s *Service) downChange(tech, family, entity, id string, op change.Op, version int64, data json.RawMessage) change.Change {
	cid := uuid.NewSHA1(uuid.NameSpaceOID, []byte(tech+"|"+entity+"|"+id+"|"+string(op)+"|"+strconv.FormatInt(version, 10))).String()
	return change.Change{ID: cid, Family: family, Entity: entity, EntityID: id, Op: op, Version: version,
		HLC: s.Clock.Now(), Data: data, SchemaVersion: change.SchemaVersion, CommittedAt: s.now().UTC()}
}

// sweepExpired relays the work orders that left scopes by time (closed longer than
// scope.ClosedRetention) or by becoming inactive without an event.
func (s *Service) sweepExpired(ctx context.Context) error {
	rows, err := s.DB.Pool.Query(ctx, `SELECT DISTINCT l.root_id::text FROM sync_scope l JOIN work_orders w ON w.id = l.root_id
		WHERE l.evicted_at IS NULL AND l.entity = 'work_order'
		  AND (NOT w.is_active OR w.status = 'draft' OR (w.status IN ('completed', 'canceled')
		       AND coalesce(w.completed_at, w.canceled_at, w.updated_at) <= now() - $1::interval))`,
		fmt.Sprintf("%d seconds", int(scope.ClosedRetention.Seconds())))
	if err != nil {
		return err
	}
	roots, err := collectStrings(rows)
	if err != nil || len(roots) == 0 {
		return err
	}
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	return s.relayRoots(ctx, s.activeBindings(ctx), roots, nil)
}

// RelayNow runs one relay pass over every pending domain event (tests, benchmarks).
func (s *Service) RelayNow(ctx context.Context) error {
	st := &relayState{seen: map[int64]bool{}, gapSince: map[int64]time.Time{}}
	for {
		n, err := s.relayOnce(ctx, st)
		if err != nil || n == 0 {
			return err
		}
	}
}

func validUUID(s string) bool { _, err := uuid.Parse(s); return err == nil && len(s) == 36 }

// pollState is the relay's progress along one Poll.
type pollState struct {
	cursor   int64
	loaded   bool
	rechecks []pollWindow
}

type pollWindow struct {
	since, upto int64
	at          time.Time
}

// pollOnce relays the roots of the polled families whose head moved, and re-checks windows
// whose gapWait passed (a change may commit after the head was read).
func (s *Service) pollOnce(ctx context.Context, polls map[string]*pollState) error {
	for _, b := range s.activeBindings(ctx) {
		p := b.Poll
		if p == nil {
			continue
		}
		ps := polls[p.Name]
		if ps == nil {
			ps = &pollState{}
			polls[p.Name] = ps
		}
		var head int64
		if err := s.DB.Pool.QueryRow(ctx, p.Head).Scan(&head); err != nil {
			return fmt.Errorf("poll %s: %w", p.Name, err)
		}
		if !ps.loaded {
			// A first start begins at the head: bootstraps carry what exists.
			if err := s.DB.Pool.QueryRow(ctx, `INSERT INTO domain_event_consumers (consumer, last_id) VALUES ($1, $2)
				ON CONFLICT (consumer) DO UPDATE SET consumer = EXCLUDED.consumer RETURNING last_id`, p.Name, head).Scan(&ps.cursor); err != nil {
				return err
			}
			ps.loaded = true
		}
		now := s.now()
		var windows []pollWindow
		if head > ps.cursor {
			w := pollWindow{since: ps.cursor, upto: head, at: now.Add(gapWait)}
			windows = append(windows, w)
			ps.rechecks = append(ps.rechecks, w)
		}
		kept := ps.rechecks[:0]
		for _, w := range ps.rechecks {
			if !now.Before(w.at) {
				windows = append(windows, w)
			} else {
				kept = append(kept, w)
			}
		}
		ps.rechecks = kept
		for _, w := range windows {
			rows, err := s.DB.Pool.Query(ctx, p.Roots, w.since, w.upto)
			if err != nil {
				return fmt.Errorf("poll %s roots: %w", p.Name, err)
			}
			roots, err := collectStrings(rows)
			if err != nil {
				return err
			}
			if len(roots) > 0 {
				// A plant change changes the plant family only.
				s.relayMu.Lock()
				err = s.relayRoots(ctx, []Binding{b}, roots, nil)
				s.relayMu.Unlock()
				if err != nil {
					return err
				}
			}
		}
		if head > ps.cursor {
			if _, err := s.DB.Pool.Exec(ctx, `UPDATE domain_event_consumers SET last_id = $2, updated_at = now() WHERE consumer = $1`,
				p.Name, head); err != nil {
				return err
			}
			ps.cursor = head
		}
	}
	return nil
}

// readBy reports whether one of bindings has a source for entity.
func readBy(bindings []Binding, entity string) bool {
	for _, b := range bindings {
		if _, ok := b.Source(entity); ok {
			return true
		}
	}
	return false
}
