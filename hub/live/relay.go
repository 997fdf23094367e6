package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"dotmac.dev/field/hub/postgres"
)

// NotifyChannel is the channel the domain_events insert trigger notifies.
const NotifyChannel = "dmf_domain_events"

// Relay publishes new domain events on NATS. Every replica runs one; the consumer row lock
// (FOR UPDATE SKIP LOCKED) lets one drain at a time. Delivery is at least once: a message may be
// repeated after a crash or a hand-over, never skipped — except an id gap (a rolled-back insert)
// older than GapWait, which the cursor steps over.
type Relay struct {
	DB       *postgres.DB
	NC       *nats.Conn
	Logger   *slog.Logger
	Consumer string        // the cursor's name in domain_event_consumers ("live")
	Poll     time.Duration // fallback poll when no NOTIFY arrives (1 s)
	GapWait  time.Duration // how long a missing id holds the cursor back (10 s)
	Batch    int           // events per drain (1000)

	published map[int64]bool      // ids beyond the cursor already sent
	gapSince  map[int64]time.Time // first time a missing id was seen
}

func (r *Relay) defaults() {
	if r.Consumer == "" {
		r.Consumer = "live"
	}
	if r.Poll <= 0 {
		r.Poll = time.Second
	}
	if r.GapWait <= 0 {
		r.GapWait = 10 * time.Second
	}
	if r.Batch <= 0 {
		r.Batch = 1000
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	r.published = map[int64]bool{}
	r.gapSince = map[int64]time.Time{}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	r.defaults()
	log := r.Logger.With("component", "live_relay")
	// A new consumer starts at the tail: live pages want what happens from now on.
	if _, err := r.DB.Pool.Exec(ctx, `INSERT INTO domain_event_consumers (consumer, last_id)
		SELECT $1, coalesce(max(id), 0) FROM domain_events ON CONFLICT (consumer) DO NOTHING`, r.Consumer); err != nil && ctx.Err() == nil {
		log.Error("start", "error", err)
	}
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake, log)
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for {
		for {
			more, err := r.drain(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("drain", "error", err)
				}
				break
			}
			if !more {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// listen holds a connection LISTENing for inserts and pokes wake on each notification.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}, log *slog.Logger) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := r.DB.Pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
				return err
			}
			defer conn.Exec(context.Background(), "UNLISTEN "+NotifyChannel)
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		log.Warn("listen", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// drain sends one batch; more reports a full batch (call again).
func (r *Relay) drain(ctx context.Context) (more bool, err error) {
	err = r.DB.InTx(ctx, func(tx pgx.Tx) error {
		var cursor int64
		err := tx.QueryRow(ctx, `SELECT last_id FROM domain_event_consumers WHERE consumer = $1 FOR UPDATE SKIP LOCKED`, r.Consumer).Scan(&cursor)
		if err == pgx.ErrNoRows {
			return nil // another replica is draining
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, topic, entity, entity_id, payload, created_at FROM domain_events
			WHERE id > $1 ORDER BY id LIMIT $2`, cursor, r.Batch)
		if err != nil {
			return err
		}
		type ev struct {
			id  int64
			msg Message
		}
		var evs []ev
		for rows.Next() {
			var e ev
			var payload []byte
			if err := rows.Scan(&e.id, &e.msg.Topic, &e.msg.Entity, &e.msg.EntityID, &payload, &e.msg.At); err != nil {
				rows.Close()
				return err
			}
			e.msg.Type, e.msg.Payload, e.msg.EventID = e.msg.Entity, payload, e.id
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		more = len(evs) == r.Batch
		now := time.Now()
		next := cursor
		holding := false
		for _, e := range evs {
			if !r.published[e.id] {
				b, _ := json.Marshal(e.msg)
				if err := r.NC.Publish(SubjectFor(e.msg.Entity), b); err != nil {
					return fmt.Errorf("live: publish: %w", err)
				}
				r.published[e.id] = true
			}
			if holding {
				continue
			}
			if e.id != next+1 { // ids next+1 … e.id-1 are not visible (yet)
				first, ok := r.gapSince[next+1]
				if !ok {
					r.gapSince[next+1] = now
					first = now
				}
				if now.Sub(first) < r.GapWait {
					holding = true
					continue
				}
				delete(r.gapSince, next+1)
			}
			next = e.id
		}
		if holding {
			more = false // wait for the gap to fill or age
		}
		if next == cursor {
			return nil
		}
		for id := range r.published {
			if id <= next {
				delete(r.published, id)
			}
		}
		for id := range r.gapSince {
			if id <= next {
				delete(r.gapSince, id)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE domain_event_consumers SET last_id = $2, updated_at = now() WHERE consumer = $1`, r.Consumer, next)
		return err
	})
	if err == nil {
		err = r.NC.Flush()
	}
	return more, err
}
