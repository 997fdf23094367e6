package syncsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/resolve"
)

// Mutation outcomes, per change, told to the device on its control subject.
const (
	StatusApplied  = "applied"  // took effect (or had already: Replayed)
	StatusConflict = "conflict" // took effect by the conflict rules; a losing value is in the conflict log
	StatusRejected = "rejected" // did not take effect; Reason says why (the device parks it, keeping its data)
)

// MutationResult is the hub's answer to one uploaded change.
type MutationResult struct {
	ChangeID  string            `json:"change_id"`
	ClientRef string            `json:"client_ref,omitempty"`
	Entity    string            `json:"entity,omitempty"`
	EntityID  string            `json:"entity_id,omitempty"`
	Status    string            `json:"status"`
	Replayed  bool              `json:"replayed,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Code      string            `json:"code,omitempty"` // error code of a rejection (conflict, invalid, unprocessable, forbidden, not_found)
	Version   int64             `json:"version,omitempty"`
	ClockSkew bool              `json:"clock_skew,omitempty"`
	Result    json.RawMessage   `json:"result,omitempty"`
	Conflicts []string          `json:"conflicts,omitempty"` // ids in the conflict log
	Action    string            `json:"action,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"` // per-field reasons of a rejection
	conflicts []loggedConflict
}

type loggedConflict struct {
	pendingConflict
	id string
}

// maxApplyAttempts: a batch that fails this often while the database answers is parked, so one
// poison message never blocks a device's stream.
const maxApplyAttempts = 8

func (s *Service) startApplier(deviceID string) {
	s.appMu.Lock()
	defer s.appMu.Unlock()
	if !s.started || s.appliers[deviceID] != nil || s.appCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.appCtx)
	s.appliers[deviceID] = cancel
	s.appWG.Add(1)
	go func() {
		defer s.appWG.Done()
		s.runApplier(ctx, deviceID)
	}()
}

// runApplierRefresh starts appliers for devices enrolled through another hub replica.
func (s *Service) runApplierRefresh(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := s.DB.Pool.Query(ctx, `SELECT id FROM devices WHERE enrolled_at IS NOT NULL`)
		if err != nil {
			continue
		}
		ids, _ := collectStrings(rows)
		for _, id := range ids {
			s.startApplier(id)
		}
	}
}

type applierDevice struct {
	ID, TechnicianID string
	cursor           int64
	attempts         map[uint64]int
	batch            *batchState // while applyBatch runs
}

func (bs *batchState) heldOf(woID string) ([2]bool, bool) {
	if bs == nil {
		return [2]bool{}, false
	}
	h, ok := bs.held[woID]
	return h, ok
}

func (bs *batchState) setHeld(woID string, held, current bool) {
	if bs != nil {
		bs.held[woID] = [2]bool{held, current}
	}
}

// runApplier applies device deviceID's uploads in stream order until ctx ends. On a transient
// failure it stops, waits, and recreates its consumer so delivery restarts at the first
// unacknowledged batch: order holds across failures.
func (s *Service) runApplier(ctx context.Context, deviceID string) {
	dev := &applierDevice{ID: deviceID, attempts: map[uint64]int{}}
	durable := "hub-" + deviceID
	fails := 0
	for ctx.Err() == nil {
		err := func() error {
			if dev.TechnicianID == "" {
				if err := s.DB.Pool.QueryRow(ctx, `SELECT technician_id, up_cursor FROM devices WHERE id = $1`, deviceID).
					Scan(&dev.TechnicianID, &dev.cursor); err != nil {
					return err
				}
			}
			stream, err := s.js.Stream(ctx, s.upCfg.Stream)
			if err != nil {
				return err
			}
			cfg := s.upCfg.ConsumerConfig(durable, deviceID, 0)
			cfg.MaxAckPending = 256
			cons, err := stream.CreateOrUpdateConsumer(ctx, cfg)
			if err != nil {
				return err
			}
			err = s.consumeUploads(ctx, dev, cons)
			if err != nil && ctx.Err() == nil {
				// Release what was delivered but not applied, in order, by recreating the consumer.
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = stream.DeleteConsumer(dctx, durable)
				cancel()
			}
			return err
		}()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fails++
			s.Logger.Warn("applier failed; retrying", "device_id", deviceID, "error", err, "attempt", fails)
			sleepCtx(ctx, min(time.Duration(fails)*250*time.Millisecond, 10*time.Second))
			continue
		}
		fails = 0
	}
}

func (s *Service) consumeUploads(ctx context.Context, dev *applierDevice, cons njs.Consumer) error {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, s.upCfg.PollWait)
		batch, err := cons.Fetch(128, njs.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				continue
			}
			return err
		}
		msgs := batch.Messages()
		for msg := range msgs {
			if err := s.applyUploads(ctx, dev, msg, msgs); err != nil {
				cancel()
				return err
			}
		}
		err = batch.Error()
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, njs.ErrNoMessages) {
			return err
		}
	}
	return nil
}

// A device's upload batches already delivered when one is applied are applied after it (each in
// its own transaction) before the results of them all are published, up to answerBatches batches
// or answerAfter after the first began: the work orders they touched are relayed once, not once
// per batch (a tablet back online uploads its outbox in many batches at once).
const (
	answerBatches = 16
	answerAfter   = 250 * time.Millisecond
)

// answered is an upload batch applied, parked or answered again, its results not yet published.
type answered struct {
	msg     njs.Msg
	seq     uint64
	results []MutationResult
	fresh   bool // applied or parked now (not answered again): the device's cursor moves past it
	start   time.Time
}

// applyUploads applies msg and the batches already delivered after it (see answerBatches), then
// publishes their results and acks them. It returns an error only for transient failures: the
// batch that failed and those after it are applied again later, in order; the results of those
// before it are published first.
func (s *Service) applyUploads(ctx context.Context, dev *applierDevice, msg njs.Msg, more <-chan njs.Msg) error {
	var done []answered
	var failed error
	for {
		a, err := s.applyUpload(ctx, dev, msg)
		if err != nil {
			failed = err
			break
		}
		done = append(done, a)
		if len(done) >= answerBatches || time.Since(done[0].start) >= answerAfter {
			break
		}
		var ok bool
		select {
		case msg, ok = <-more:
		default:
		}
		if !ok {
			break
		}
	}
	if len(done) == 0 {
		return failed
	}
	// The data the batches changed goes to the technician's feed first, then the results
	// (PROTOCOL.md §2 and §4), so a device never sees an ack before the data it caused.
	if err := s.publishResults(ctx, dev, done); err != nil {
		return err
	}
	for _, a := range done {
		delete(dev.attempts, a.seq)
		if a.fresh {
			dev.cursor = int64(a.seq)
			s.metrics.applySeconds.Observe(time.Since(a.start).Seconds())
		}
		_ = a.msg.Ack()
	}
	return failed
}

// applyUpload applies one uploaded batch. It returns an error only for transient failures
// (the batch is then applied again later, before anything after it).
func (s *Service) applyUpload(ctx context.Context, dev *applierDevice, msg njs.Msg) (answered, error) {
	md, err := msg.Metadata()
	if err != nil {
		return answered{}, err
	}
	seq := md.Sequence.Stream
	a := answered{msg: msg, seq: seq, start: time.Now()}
	if int64(seq) <= dev.cursor {
		// Applied before a restart: the ack was lost, and the answers too when the hub stopped
		// between the commit and publishing them. Answer again (each change replays its result).
		a.results, err = s.answerAgain(ctx, dev, seq, msg.Data())
		return a, err
	}
	b, err := change.Decode(msg.Data())
	var results []MutationResult
	if err != nil {
		results, err = s.park(ctx, dev, seq, msg.Subject(), msg.Data(), decodeReason(err))
		if err != nil {
			return a, err
		}
	} else {
		results, err = s.applyBatch(ctx, dev, seq, b)
		if err != nil {
			dev.attempts[seq]++
			if dev.attempts[seq] < maxApplyAttempts || s.DB.Pool.Ping(ctx) != nil {
				return a, err
			}
			s.Logger.Error("parking a batch that keeps failing", "device_id", dev.ID, "seq", seq, "error", err)
			results, err = s.park(ctx, dev, seq, msg.Subject(), msg.Data(), "the hub could not apply this batch: "+err.Error())
			if err != nil {
				return a, err
			}
		}
	}
	a.results, a.fresh = results, true
	return a, nil
}

func decodeReason(err error) string {
	if errors.Is(err, change.ErrSchemaVersion) {
		return "stale or unknown schema version: " + err.Error() + " (update the edge agent)"
	}
	return "malformed batch: " + err.Error()
}

// park records an unreadable batch and moves the device's cursor past it.
func (s *Service) park(ctx context.Context, dev *applierDevice, seq uint64, subject string, raw []byte, reason string) ([]MutationResult, error) {
	if len(raw) > 64<<10 {
		raw = raw[:64<<10]
	}
	text := strings.ToValidUTF8(string(raw), "?")
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sync_rejections (device_id, seq, subject, reason, raw) VALUES ($1, $2, $3, $4, $5)`,
			dev.ID, int64(seq), subject, reason, text); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE devices SET up_cursor = greatest(up_cursor, $2), last_error = $3, last_error_at = now(), last_seen_at = now()
			WHERE id = $1`, dev.ID, int64(seq), reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.metrics.rejections.Inc()
	s.metrics.applied.WithLabelValues(StatusRejected).Inc()
	// Tell the device which changes, if their ids can be read at all.
	var loose struct {
		Changes []struct {
			ID        string `json:"id"`
			ClientRef string `json:"client_ref"`
		} `json:"changes"`
	}
	_ = json.Unmarshal(raw, &loose)
	out := []MutationResult{}
	for _, c := range loose.Changes {
		out = append(out, MutationResult{ChangeID: c.ID, ClientRef: c.ClientRef, Status: StatusRejected, Code: hub.EINVALID, Reason: reason})
	}
	if len(out) == 0 {
		out = append(out, MutationResult{Status: StatusRejected, Code: hub.EINVALID, Reason: reason})
	}
	return out, nil
}

// pendingConflict is a conflict log entry to write with the mutation.
type pendingConflict struct {
	Entity, EntityID, Field, Rule string
	Hub, Device                   json.RawMessage
	Winner, Reason                string
	Review                        bool
}

// applyBatch applies each change in order and records the outcomes with the device's cursor,
// all in one transaction: the field services run in savepoints of it (postgres.WithTx), so a
// rejected change undoes only its own writes, and a transient failure undoes the whole batch,
// which is then applied again. Replays are looked up for the whole batch at once, scope checks
// once per work order, and the outcomes are written in one pipelined round trip.
func (s *Service) applyBatch(ctx context.Context, dev *applierDevice, seq uint64, b change.Batch) ([]MutationResult, error) {
	type record struct {
		res       MutationResult
		action    string
		conflicts []pendingConflict
		occurred  time.Time
	}
	var recs []record
	defer func() { dev.batch = nil }()
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		recs = recs[:0]
		tctx := postgres.WithTx(ctx, tx)
		bs, err := s.newBatchState(tctx, dev, b.Changes)
		if err != nil {
			return err
		}
		dev.batch = bs
		na, together := s.Field.(NotesAdder)
		for i := 0; i < len(b.Changes); {
			c := b.Changes[i]
			if together && c.Action == "note" {
				// A run of notes: added together, answered one by one.
				j := i + 1
				for j < len(b.Changes) && b.Changes[j].Action == "note" {
					j++
				}
				rs, err := s.applyNotes(tctx, dev, na, b.Changes[i:j])
				if err != nil {
					return err
				}
				for k, res := range rs {
					recs = append(recs, record{res: res, action: "note", occurred: b.Changes[i+k].HLC.Time()})
				}
				i = j
				continue
			}
			res, conflicts, err := s.applyChange(tctx, dev, c)
			if err != nil {
				return err
			}
			recs = append(recs, record{res: res, action: c.Action, conflicts: conflicts, occurred: c.HLC.Time()})
			i++
		}
		type conflictRef struct{ rec, i int }
		var refs []conflictRef
		qb := &pgx.Batch{}
		for i := range recs {
			r := &recs[i]
			if r.res.Replayed || r.res.ClientRef == "" {
				continue
			}
			for j, pc := range r.conflicts {
				qb.Queue(`INSERT INTO sync_conflicts (entity, entity_id, field, rule, hub_value, device_value, winner, reason,
					review, device_id, technician_id, client_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
					ON CONFLICT (device_id, client_ref, field) WHERE client_ref <> '' DO UPDATE SET field = EXCLUDED.field RETURNING id`,
					pc.Entity, pc.EntityID, pc.Field, pc.Rule, jsonOrNull(pc.Hub), jsonOrNull(pc.Device), pc.Winner, pc.Reason, pc.Review,
					dev.ID, dev.TechnicianID, r.res.ClientRef)
				refs = append(refs, conflictRef{i, j})
			}
		}
		br := tx.SendBatch(ctx, qb)
		for _, ref := range refs {
			var id string
			if err := br.QueryRow().Scan(&id); err != nil {
				br.Close()
				return err
			}
			r := &recs[ref.rec]
			r.res.Conflicts = append(r.res.Conflicts, id)
			r.res.conflicts = append(r.res.conflicts, loggedConflict{r.conflicts[ref.i], id})
		}
		if err := br.Close(); err != nil {
			return err
		}
		mb := &pgx.Batch{}
		for i := range recs {
			r := &recs[i]
			if r.res.Replayed || r.res.ClientRef == "" {
				continue
			}
			result := r.res.Result
			if r.res.Status == StatusRejected {
				result, _ = json.Marshal(map[string]any{"code": r.res.Code, "fields": r.res.Fields})
			}
			if len(result) == 0 {
				result = json.RawMessage(`{}`)
			}
			var occurred *time.Time
			if !r.occurred.IsZero() && r.occurred.Year() > 1970 {
				occurred = &r.occurred
			}
			mb.Queue(`INSERT INTO sync_mutations (device_id, client_ref, change_id, seq, entity, entity_id, action, status, reason,
				result, occurred_at, clock_skew) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (device_id, client_ref) DO NOTHING`,
				dev.ID, r.res.ClientRef, r.res.ChangeID, int64(seq), r.res.Entity, r.res.EntityID, r.action, r.res.Status, r.res.Reason,
				result, occurred, r.res.ClockSkew)
		}
		mb.Queue(`UPDATE devices SET up_cursor = greatest(up_cursor, $2), last_applied_at = now(), last_seen_at = now() WHERE id = $1`,
			dev.ID, int64(seq))
		return tx.SendBatch(ctx, mb).Close()
	})
	if err != nil {
		return nil, err
	}
	results := make([]MutationResult, 0, len(recs))
	for _, r := range recs {
		status := r.res.Status
		if r.res.Replayed {
			status = "replayed"
		}
		s.metrics.applied.WithLabelValues(status).Inc()
		for _, pc := range r.conflicts {
			s.metrics.conflicts.WithLabelValues(pc.Entity, pc.Rule).Inc()
		}
		results = append(results, r.res)
	}
	return results, nil
}

// batchState is what applyBatch looked up once for all the changes of a batch.
type batchState struct {
	done map[string]storedMutation // client_ref → outcome recorded by an earlier batch
	held map[string][2]bool        // work order id → held, current
}

type storedMutation struct {
	status, reason string
	result         []byte
}

// newBatchState reads the stored outcomes of the batch's client refs in one query.
func (s *Service) newBatchState(ctx context.Context, dev *applierDevice, changes []change.Change) (*batchState, error) {
	bs := &batchState{done: map[string]storedMutation{}, held: map[string][2]bool{}}
	refs := make([]string, 0, len(changes))
	for _, c := range changes {
		refs = append(refs, c.ClientRef)
	}
	rows, err := s.conn(ctx).Query(ctx, `SELECT client_ref, status, reason, result FROM sync_mutations WHERE device_id = $1 AND client_ref = ANY($2::text[])`,
		dev.ID, refs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref string
		var m storedMutation
		if err := rows.Scan(&ref, &m.status, &m.reason, &m.result); err != nil {
			return nil, err
		}
		bs.done[ref] = m
	}
	return bs, rows.Err()
}

// dbConn is a pool or a transaction.
type dbConn interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// conn is the applier's batch transaction when ctx carries one (postgres.WithTx), else the pool:
// reads see the writes of the batch's earlier changes.
func (s *Service) conn(ctx context.Context) dbConn {
	if tx, ok := postgres.TxFrom(ctx); ok {
		return tx
	}
	return s.DB.Pool
}

func jsonOrNull(v json.RawMessage) any {
	if len(bytes.TrimSpace(v)) == 0 {
		return nil
	}
	return []byte(v)
}

// rejection is a permanent refusal of one change.
func rejection(c change.Change, code, format string, args ...any) MutationResult {
	return MutationResult{ChangeID: c.ID, ClientRef: c.ClientRef, Entity: c.Entity, EntityID: c.EntityID, Action: c.Action,
		Status: StatusRejected, Code: code, Reason: fmt.Sprintf(format, args...)}
}

// rejectErr turns a caller's-fault error into a rejection (ok false: a transient error).
func rejectErr(c change.Change, err error) (MutationResult, bool) {
	var he *hub.Error
	if err == nil || !errors.As(err, &he) || he.Code == hub.EINTERNAL {
		return MutationResult{}, false
	}
	r := rejection(c, he.Code, "%s", he.Message)
	r.Fields = he.Fields
	return r, true
}

// admitted is a change that passed the checks every change passes before its action.
type admitted struct {
	woID    string // the work order the change is about (a site patch: one of the site's)
	current bool   // the device's technician holds the job now (not only held it)
	actor   Actor
	base    MutationResult // the answer so far
}

// admit checks a change before its action: its device, a replay of an outcome recorded by an
// earlier batch, its entity and operation, the scope. ok false: res is the change's answer (the
// replayed outcome or a rejection). A returned error is transient.
func (s *Service) admit(ctx context.Context, dev *applierDevice, c change.Change) (a admitted, res MutationResult, ok bool, err error) {
	if c.DeviceID != dev.ID {
		return a, rejection(c, hub.EFORBIDDEN, "forged change: device_id %q is not the uploading device", c.DeviceID), false, nil
	}
	// Once, for any offline duration.
	var prev MutationResult
	var result []byte
	if dev.batch != nil {
		m, ok := dev.batch.done[c.ClientRef]
		prev.Status, prev.Reason, result = m.status, m.reason, m.result
		if !ok {
			err = pgx.ErrNoRows
		}
	} else {
		err = s.conn(ctx).QueryRow(ctx, `SELECT status, reason, result FROM sync_mutations WHERE device_id = $1 AND client_ref = $2`,
			dev.ID, c.ClientRef).Scan(&prev.Status, &prev.Reason, &result)
	}
	if err == nil {
		prev.ChangeID, prev.ClientRef, prev.Entity, prev.EntityID, prev.Replayed = c.ID, c.ClientRef, c.Entity, c.EntityID, true
		prev.Action = c.Action
		prev.Result = result
		if prev.Status == StatusRejected {
			var rj struct {
				Code   string            `json:"code"`
				Fields map[string]string `json:"fields"`
			}
			_ = json.Unmarshal(result, &rj)
			prev.Code, prev.Fields, prev.Result = rj.Code, rj.Fields, nil
		}
		return a, prev, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return a, MutationResult{}, false, err
	}
	fam, _, ok := s.Scope.FamilyOf(c.Entity)
	if !ok {
		return a, rejection(c, hub.EINVALID, "unknown entity %q", c.Entity), false, nil
	}
	if c.Family != "" && c.Family != fam.Name {
		return a, rejection(c, hub.EINVALID, "entity %s is in family %s, not %s", c.Entity, fam.Name, c.Family), false, nil
	}
	if c.Op != change.OpUpsert {
		return a, rejection(c, hub.EINVALID, "a device cannot %s a %s", c.Op, c.Entity), false, nil
	}
	woID := c.EntityID
	switch {
	case c.Entity == "site" && c.Action == "":
		// A site patch: in scope through one of the technician's work orders at that site.
		if !validUUID(c.EntityID) {
			return a, rejection(c, hub.ENOTFOUND, "site %s is not in this device's scope", c.EntityID), false, nil
		}
		if err := s.conn(ctx).QueryRow(ctx, `SELECT coalesce((SELECT w.id::text FROM work_orders w WHERE w.site_id = $1
			AND (w.assigned_to = $2 OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2)
			     OR EXISTS (SELECT 1 FROM sync_scope l WHERE l.technician_id = $2 AND l.entity = 'work_order' AND l.entity_id = w.id::text))
			ORDER BY w.updated_at DESC LIMIT 1), '')`, c.EntityID, dev.TechnicianID).Scan(&woID); err != nil {
			return a, MutationResult{}, false, err
		}
		if woID == "" {
			return a, rejection(c, hub.ENOTFOUND, "site %s is not in this device's scope", c.EntityID), false, nil
		}
	case c.Entity != "work_order":
		return a, rejection(c, hub.EINVALID, "changes to %s are sent as actions on their work order", c.Entity), false, nil
	}
	var held, current bool
	if hc, ok := dev.batch.heldOf(woID); ok {
		held, current = hc[0], hc[1]
	} else {
		if held, current, err = s.held(ctx, dev.TechnicianID, woID); err != nil {
			return a, MutationResult{}, false, err
		}
		dev.batch.setHeld(woID, held, current)
	}
	if !held {
		return a, rejection(c, hub.ENOTFOUND, "work order %s is not in this device's scope", woID), false, nil
	}
	skew := s.skewed(c.HLC)
	if skew {
		s.metrics.clockSkew.Inc()
		s.Logger.Info("device clock skew", "device_id", dev.ID, "device_time", c.HLC.Time(), "client_ref", c.ClientRef)
	}
	a = admitted{woID: woID, current: current, actor: Actor{PersonID: dev.TechnicianID, DeviceID: dev.ID},
		base: MutationResult{ChangeID: c.ID, ClientRef: c.ClientRef, Entity: c.Entity, EntityID: c.EntityID, Action: c.Action,
			Status: StatusApplied, ClockSkew: skew}}
	return a, MutationResult{}, true, nil
}

// applyChange applies one device change. A returned error is transient.
func (s *Service) applyChange(ctx context.Context, dev *applierDevice, c change.Change) (MutationResult, []pendingConflict, error) {
	a, res, ok, err := s.admit(ctx, dev, c)
	if err != nil || !ok {
		return res, nil, err
	}
	actor, base, current, woID := a.actor, a.base, a.current, a.woID
	switch c.Action {
	case "transition":
		var req struct {
			field.TransitionRequest
			ID string `json:"id"`
		}
		if err := strictJSON(c.Data, &req); err != nil {
			return rejection(c, hub.EINVALID, "transition: %v", err), nil, nil
		}
		return s.applyTransition(ctx, c, base, TransitionInput{Actor: actor, WorkOrderID: c.EntityID, Request: req.TransitionRequest,
			ID: req.ID, FormerHolder: !current})
	case "note":
		in, r, ok := noteInput(c, a)
		if !ok {
			return r, nil, nil
		}
		n, replayed, err := s.Field.AddNote(ctx, in)
		r, err = noteResult(c, base, n, replayed, err)
		return r, nil, err
	case "consume":
		mc, ok := s.Field.(MaterialConsumer)
		if !ok {
			return rejection(c, hub.EINVALID, "materials are not replicated by this hub yet"), nil, nil
		}
		var req field.ConsumeRequest
		if err := strictJSON(c.Data, &req); err != nil {
			return rejection(c, hub.EINVALID, "consume: %v", err), nil, nil
		}
		out, replayed, err := mc.ConsumeMaterials(ctx, actor, c.EntityID, req, FieldOptions{FormerHolder: !current})
		if r, ok := rejectErr(c, err); ok {
			return r, nil, nil
		} else if err != nil {
			return MutationResult{}, nil, err
		}
		base.Result, _ = json.Marshal(out)
		base.Replayed = replayed
		return base, nil, nil
	case "survey":
		ss, ok := s.Field.(SurveySubmitter)
		if !ok {
			return rejection(c, hub.EINVALID, "surveys are not replicated by this hub yet"), nil, nil
		}
		var req field.SurveyRequest
		if err := strictJSON(c.Data, &req); err != nil {
			return rejection(c, hub.EINVALID, "survey: %v", err), nil, nil
		}
		replayed, err := ss.SubmitSurvey(ctx, actor, c.EntityID, req, FieldOptions{FormerHolder: !current})
		if r, ok := rejectErr(c, err); ok {
			return r, nil, nil
		} else if err != nil {
			return MutationResult{}, nil, err
		}
		base.Replayed = replayed
		return base, nil, nil
	case "attachment":
		// The bytes were uploaded first (PUT /api/v1/sync/blobs/{sha256}); this records the
		// attachment, once, by client_ref.
		var req attachmentData
		if err := strictJSON(c.Data, &req); err != nil {
			return rejection(c, hub.EINVALID, "attachment: %v", err), nil, nil
		}
		out, replayed, err := s.recordAttachment(ctx, actor, c.EntityID, req, !current)
		if r, ok := rejectErr(c, err); ok {
			return r, nil, nil
		} else if err != nil {
			return MutationResult{}, nil, err
		}
		base.Result, _ = json.Marshal(out)
		base.Replayed = replayed
		return base, nil, nil
	case "":
		return s.applyPatch(ctx, dev, c, base, woID)
	}
	return rejection(c, hub.EINVALID, "unknown action %q", c.Action), nil, nil
}

// noteInput decodes a note change (ok false: r is its rejection).
func noteInput(c change.Change, a admitted) (in NoteInput, r MutationResult, ok bool) {
	var req struct {
		field.NoteRequest
		ID string `json:"id"`
	}
	if err := strictJSON(c.Data, &req); err != nil {
		return in, rejection(c, hub.EINVALID, "note: %v", err), false
	}
	return NoteInput{Actor: a.actor, WorkOrderID: c.EntityID, Request: req.NoteRequest, ID: req.ID, FormerHolder: !a.current}, r, true
}

// noteResult is the answer to a note change the field service added (or refused: err).
func noteResult(c change.Change, base MutationResult, n *field.Note, replayed bool, err error) (MutationResult, error) {
	if r, ok := rejectErr(c, err); ok {
		return r, nil
	} else if err != nil {
		return MutationResult{}, err
	}
	base.Result, _ = json.Marshal(n)
	base.Replayed = replayed
	return base, nil
}

// applyNotes applies a run of consecutive note changes of a batch as applyChange applies each in
// turn, with the notes added together (NotesAdder: a few statements for the whole run).
func (s *Service) applyNotes(ctx context.Context, dev *applierDevice, na NotesAdder, run []change.Change) ([]MutationResult, error) {
	out := make([]MutationResult, len(run))
	var ins []NoteInput
	var at []int
	var bases []MutationResult
	for i, c := range run {
		a, res, ok, err := s.admit(ctx, dev, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			out[i] = res
			continue
		}
		in, r, ok := noteInput(c, a)
		if !ok {
			out[i] = r
			continue
		}
		ins, at, bases = append(ins, in), append(at, i), append(bases, a.base)
	}
	if len(ins) == 0 {
		return out, nil
	}
	got, err := na.AddNotes(ctx, ins)
	if err != nil {
		return nil, err
	}
	if len(got) != len(ins) {
		return nil, fmt.Errorf("%d outcomes for %d notes", len(got), len(ins))
	}
	for k, o := range got {
		if out[at[k]], err = noteResult(run[at[k]], bases[k], o.Note, o.Replayed, o.Err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// skewed reports whether a device timestamp is off the hub clock by more than the allowed skew.
func (s *Service) skewed(t hlc.Timestamp) bool {
	if t.IsZero() {
		return false
	}
	return fieldexec.ClockSkewed(t.Time(), s.now())
}

// boundedHLC is the device's timestamp, never believed further ahead than hlc.DefaultMaxDrift.
func (s *Service) boundedHLC(t hlc.Timestamp) hlc.Timestamp {
	limit := s.now().Add(hlc.DefaultMaxDrift).UnixMilli()
	if t.Wall > limit {
		t.Wall, t.Logical = limit, 0
	}
	return t
}

func strictJSON(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return errors.New("data is required")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}

// held reports whether technician tech's scope holds (or held) work order woID, and whether it
// holds it now.
func (s *Service) held(ctx context.Context, tech, woID string) (held, current bool, err error) {
	if !validUUID(woID) {
		return false, false, nil
	}
	err = s.conn(ctx).QueryRow(ctx, woScope+`SELECT EXISTS (SELECT 1 FROM wo),
		EXISTS (SELECT 1 FROM sync_scope WHERE technician_id = $1::uuid AND entity = 'work_order' AND entity_id = $3)`,
		tech, uuidArray([]string{woID}), woID).Scan(&current, &held)
	return held || current, current, err
}

// applyTransition replays an execution event. When the job's status no longer allows it because
// the office changed the status after the device's base version, the field fact stands and a
// conflict is opened for review (sync/resolve StateMachine).
func (s *Service) applyTransition(ctx context.Context, c change.Change, base MutationResult, in TransitionInput) (MutationResult, []pendingConflict, error) {
	out, err := s.Field.Transition(ctx, in)
	var conflicts []pendingConflict
	if hub.ErrorCode(err) == hub.ECONFLICT && c.BaseVersion > 0 {
		var changedAt int64
		var hubStatus string
		qerr := s.conn(ctx).QueryRow(ctx, `SELECT coalesce((SELECT version FROM sync_field_changes WHERE entity = 'work_order' AND entity_id = $1 AND field = 'status'), 0),
			(SELECT status FROM work_orders WHERE id = $1)`, c.EntityID).Scan(&changedAt, &hubStatus)
		if qerr != nil {
			return MutationResult{}, nil, qerr
		}
		if changedAt > c.BaseVersion {
			if from, ok := assumedFrom(in.Request.Event); ok {
				in.AssumeFrom = from
				var err2 error
				out, err2 = s.Field.Transition(ctx, in)
				if err2 == nil {
					hv, _ := json.Marshal(hubStatus)
					dv, _ := json.Marshal(string(out.ToStatus))
					d, rerr := resolve.Resolve(resolve.StateMachine, hv, true, dv, hlc.Timestamp{}, c.HLC)
					if rerr != nil { // a status no field event leads to: keep the record anyway
						d = resolve.Decision{Conflict: true, Review: true, Winner: resolve.WinnerDevice,
							Reason: "the office changed the status while the technician acted offline; review"}
					}
					if d.Conflict {
						conflicts = append(conflicts, pendingConflict{Entity: "work_order", EntityID: c.EntityID, Field: "status",
							Rule: string(resolve.StateMachine), Hub: hv, Device: dv, Winner: string(d.Winner), Reason: d.Reason, Review: d.Review})
					}
				}
				err = err2
			}
		}
	}
	if r, ok := rejectErr(c, err); ok {
		return r, nil, nil
	} else if err != nil {
		return MutationResult{}, nil, err
	}
	base.Result, _ = json.Marshal(out)
	base.Replayed = out.Replayed
	base.Version = out.Version
	base.ClockSkew = base.ClockSkew || out.ClockSkew
	if len(conflicts) > 0 {
		base.Status = StatusConflict
	}
	return base, conflicts, nil
}

// assumedFrom is the status a device must have seen the job in to fire ev (the first status,
// in lifecycle order, that allows it).
func assumedFrom(ev fieldexec.Event) (fieldexec.Status, bool) {
	for _, st := range fieldexec.Statuses() {
		if st.Terminal() {
			continue
		}
		for _, e := range fieldexec.AllowedEvents(st) {
			if e == ev {
				return st, true
			}
		}
	}
	return "", false
}

// patchable are the fields a device may patch directly (the shared ones; office-owned fields
// may be sent and are settled hub-wins into the conflict log).
var patchable = map[string]map[string]bool{
	"work_order": {"access_notes": true},
	"site":       {"lat": true, "lon": true, "access_notes": true},
}

// applyPatch settles a field patch of a work order or a site with the per-field rules and writes
// the winning values; every losing value goes to the conflict log.
func (s *Service) applyPatch(ctx context.Context, dev *applierDevice, c change.Change, base MutationResult, woID string) (MutationResult, []pendingConflict, error) {
	policy := s.Scope.Policy()
	for f := range c.Fields {
		rule, ok := policy.Rule(c.Entity, f)
		if !ok {
			return rejection(c, hub.EINVALID, "unknown field %s.%s", c.Entity, f), nil, nil
		}
		if rule != resolve.HubWins && !patchable[c.Entity][f] {
			return rejection(c, hub.EINVALID, "%s.%s changes only through field actions (transition, note, …)", c.Entity, f), nil, nil
		}
	}
	if c.BaseVersion <= 0 {
		return rejection(c, hub.EINVALID, "a field patch needs base_version"), nil, nil
	}
	var data []byte
	var version int64
	changed := map[string]int64{}
	changedAt := map[string]time.Time{}
	if c.Entity == "site" {
		var updated time.Time
		if err := s.conn(ctx).QueryRow(ctx, `SELECT `+ver("updated_at")+`, updated_at, jsonb_build_object('label', label, 'address', address,
			'lat', ST_Y(geom), 'lon', ST_X(geom), 'access_notes', access_notes) FROM sites WHERE id = $1`, c.EntityID).Scan(&version, &updated, &data); err != nil {
			return MutationResult{}, nil, err
		}
		for f := range c.Fields { // sites have no per-field history: the row's version stands for each field
			changed[f], changedAt[f] = version, updated
		}
	} else {
		if err := s.conn(ctx).QueryRow(ctx, `SELECT w.version, jsonb_build_object('title', w.title, 'description', w.description, 'priority', w.priority,
			'work_type', w.work_type, 'scheduled_start', w.scheduled_start, 'scheduled_end', w.scheduled_end, 'estimated_arrival_at', w.estimated_arrival_at,
			'assigned_to', w.assigned_to, 'customer_id', w.customer_id, 'site_id', w.site_id, 'tags', to_jsonb(w.tags), 'is_active', w.is_active,
			'status', w.status, 'started_at', w.started_at, 'paused_at', w.paused_at, 'resumed_at', w.resumed_at, 'completed_at', w.completed_at,
			'canceled_at', w.canceled_at, 'total_active_seconds', w.total_active_seconds, 'access_notes', w.access_notes)
			FROM work_orders w WHERE w.id = $1`, c.EntityID).Scan(&version, &data); err != nil {
			return MutationResult{}, nil, err
		}
		rows, err := s.conn(ctx).Query(ctx, `SELECT field, version, changed_at FROM sync_field_changes WHERE entity = 'work_order' AND entity_id = $1`, c.EntityID)
		if err != nil {
			return MutationResult{}, nil, err
		}
		for rows.Next() {
			var f string
			var v int64
			var at time.Time
			if rows.Scan(&f, &v, &at) == nil {
				changed[f], changedAt[f] = v, at
			}
		}
		rows.Close()
	}
	var hubVals map[string]json.RawMessage
	_ = json.Unmarshal(data, &hubVals)
	values, decisions, err := policy.Resolve(resolve.Mutation{
		Entity: c.Entity, Device: c.Fields, Hub: hubVals,
		HubChanged: func(f string) bool { return changed[f] > c.BaseVersion },
		HubHLC: func(f string) hlc.Timestamp {
			if at, ok := changedAt[f]; ok {
				return hlc.Timestamp{Wall: at.UnixMilli(), Node: "hub"}
			}
			return hlc.Timestamp{}
		},
		DeviceHLC: s.boundedHLC(c.HLC),
	})
	if err != nil {
		return rejection(c, hub.EINVALID, "%v", err), nil, nil
	}
	var conflicts []pendingConflict
	for _, d := range decisions {
		if d.Conflict {
			conflicts = append(conflicts, pendingConflict{Entity: c.Entity, EntityID: c.EntityID, Field: d.Field, Rule: string(d.Rule),
				Hub: hubVals[d.Field], Device: c.Fields[d.Field], Winner: string(d.Winner), Reason: d.Reason, Review: d.Review})
		}
	}
	if len(values) > 0 {
		err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
			str := func(f string) (string, error) {
				var v string
				if err := json.Unmarshal(values[f], &v); err != nil {
					return "", hub.Invalid(map[string]string{f: "must be a string"})
				}
				return v, nil
			}
			if c.Entity == "work_order" {
				notes, err := str("access_notes")
				if err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, `UPDATE work_orders SET access_notes = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING version`,
					c.EntityID, notes).Scan(&version); err != nil {
					return err
				}
			} else {
				if v, ok := values["access_notes"]; ok {
					_ = v
					notes, err := str("access_notes")
					if err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE sites SET access_notes = $2 WHERE id = $1`, c.EntityID, notes); err != nil {
						return err
					}
				}
				_, hasLat := values["lat"]
				_, hasLon := values["lon"]
				if hasLat || hasLon {
					lat, lon := hubVals["lat"], hubVals["lon"]
					if hasLat {
						lat = values["lat"]
					}
					if hasLon {
						lon = values["lon"]
					}
					var la, lo *float64
					if json.Unmarshal(lat, &la) != nil || json.Unmarshal(lon, &lo) != nil || la == nil || lo == nil ||
						*la < -90 || *la > 90 || *lo < -180 || *lo > 180 {
						return hub.Invalid(map[string]string{"lat": "lat and lon must be coordinates"})
					}
					if _, err := tx.Exec(ctx, `UPDATE sites SET geom = ST_SetSRID(ST_MakePoint($2, $3), 4326) WHERE id = $1`, c.EntityID, *lo, *la); err != nil {
						return err
					}
				}
				if err := tx.QueryRow(ctx, `UPDATE sites SET updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE id = $1 RETURNING `+ver("updated_at"),
					c.EntityID).Scan(&version); err != nil {
					return err
				}
			}
			ep, _ := json.Marshal(map[string]any{"work_order_id": woID, "device_id": dev.ID, "fields": values})
			_, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ('sync.field_patch', $1, $2, $3, $4)`,
				c.Entity, c.EntityID, ep, dev.TechnicianID)
			return err
		})
		if r, ok := rejectErr(c, err); ok {
			return r, nil, nil
		} else if err != nil {
			return MutationResult{}, nil, err
		}
	}
	base.EntityID = c.EntityID
	base.Version = version
	base.Result, _ = json.Marshal(map[string]any{"values": values, "decisions": decisions})
	if len(conflicts) > 0 {
		base.Status = StatusConflict
	}
	return base, conflicts, nil
}
