// Package outbox writes domain events in the transaction of the change they describe, and lets
// several consumers (notifications, the sync relay, the live board) each read every event once.
//
// Writing: Write(ctx, tx, Event{...}) inserts a domain_events row and sends pg_notify on channel
// "domain_events" with the topic, so listeners can wake at once; both take effect at commit.
//
// Reading: Drain(ctx, db, consumer, …) hands each pending event to a handler inside a transaction
// (with the event row locked FOR UPDATE SKIP LOCKED so workers of one consumer can run side by
// side); the handler's writes commit with the delivery record, so a side effect happens exactly
// once. A failing event is retried with backoff (attempts, last_error) up to MaxAttempts. Each
// consumer keeps its own low-water mark in domain_event_consumers; domain_events rows are never
// deleted or marked by a consumer, so consumers never see each other's progress.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub/postgres"
)

// Event is a domain_events row.
type Event struct {
	ID        int64           `json:"id"`
	EventID   string          `json:"event_id"`
	Topic     string          `json:"topic"`
	Entity    string          `json:"entity"`
	EntityID  string          `json:"entity_id"`
	Payload   json.RawMessage `json:"payload"`
	ActorID   *string         `json:"actor_id"`
	CreatedAt time.Time       `json:"created_at"`
	Attempts  int             `json:"-"`
}

// Write inserts a domain event inside tx. payload is marshalled to JSON; actorID "" means the system.
func Write(ctx context.Context, tx pgx.Tx, topic, entity, entityID, actorID string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var actor *string
	if actorID != "" {
		actor = &actorID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ($1, $2, $3, $4, $5)`,
		topic, entity, entityID, b, actor); err != nil {
		return fmt.Errorf("outbox: write %s: %w", topic, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify('domain_events', $1)`, topic); err != nil {
		return fmt.Errorf("outbox: notify: %w", err)
	}
	return nil
}

// Pending is a domain event for Queue.
type Pending struct {
	Topic, Entity, EntityID string
	ActorID                 string // "" means the system
	Payload                 any
}

// Queue adds to b what Write does for each event, in order: one INSERT of all the rows (ids in
// the order given) and the notifications (one per topic: PostgreSQL folds equal notifications of
// a transaction into one anyway). Send b in the transaction of the change the events describe.
func Queue(b *pgx.Batch, events []Pending) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	topics, entities, ids, actors, payloads := make([]string, n), make([]string, n), make([]string, n), make([]*string, n), make([]string, n)
	var distinct []string
	for i, e := range events {
		p, err := json.Marshal(e.Payload)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		topics[i], entities[i], ids[i], payloads[i] = e.Topic, e.Entity, e.EntityID, string(p)
		if e.ActorID != "" {
			actors[i] = &e.ActorID
		}
		if !slices.Contains(distinct, e.Topic) {
			distinct = append(distinct, e.Topic)
		}
	}
	b.Queue(`INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id)
		SELECT t, e, i::uuid, p::jsonb, a::uuid FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(t, e, i, p, a, n)
		ORDER BY n`, topics, entities, ids, payloads, actors)
	b.Queue(`SELECT pg_notify('domain_events', t) FROM unnest($1::text[]) t`, distinct)
	return nil
}

// MaxAttempts is how often a failing event is tried before a consumer gives up on it.
const MaxAttempts = 10

// Settle is how long after its creation an event id may be passed by a consumer's low-water
// mark even when it was never seen: a transaction that took a lower id may still be open for
// that long. Events are never skipped while they are visible; this only bounds the scan.
const Settle = 5 * time.Minute

// Handler processes one event inside the consumer's transaction.
type Handler func(ctx context.Context, tx pgx.Tx, e Event) error

// Drain processes up to batch pending events for consumer and reports how many it handled
// (processed or failed). Call it in a loop until it returns 0.
func Drain(ctx context.Context, db *postgres.DB, consumer string, batch int, fn Handler) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	n := 0
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO domain_event_consumers (consumer) VALUES ($1) ON CONFLICT DO NOTHING`, consumer); err != nil {
			return err
		}
		var mark int64
		if err := tx.QueryRow(ctx, `SELECT last_id FROM domain_event_consumers WHERE consumer = $1`, consumer).Scan(&mark); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT e.id, e.event_id, e.topic, e.entity, e.entity_id, e.payload, e.actor_id, e.created_at,
				coalesce(d.attempts, 0)
			FROM domain_events e
			LEFT JOIN domain_event_deliveries d ON d.consumer = $1 AND d.event_id = e.id
			WHERE e.id > $2 AND (d.event_id IS NULL OR (d.processed_at IS NULL AND d.attempts < $3 AND d.next_attempt_at <= now()))
			ORDER BY e.id LIMIT $4 FOR UPDATE OF e SKIP LOCKED`, consumer, mark, MaxAttempts, batch)
		if err != nil {
			return err
		}
		events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
			var e Event
			err := r.Scan(&e.ID, &e.EventID, &e.Topic, &e.Entity, &e.EntityID, &e.Payload, &e.ActorID, &e.CreatedAt, &e.Attempts)
			return e, err
		})
		if err != nil {
			return err
		}
		for _, e := range events {
			if _, err := tx.Exec(ctx, `SAVEPOINT outbox_event`); err != nil {
				return err
			}
			herr := fn(ctx, tx, e)
			if herr != nil {
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT outbox_event`); err != nil {
					return err
				}
				backoff := time.Duration(1<<min(e.Attempts, 12)) * time.Second
				_, err = tx.Exec(ctx, `INSERT INTO domain_event_deliveries (consumer, event_id, attempts, last_error, next_attempt_at)
					VALUES ($1, $2, 1, $3, now() + $4::interval)
					ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = domain_event_deliveries.attempts + 1,
						last_error = EXCLUDED.last_error, next_attempt_at = EXCLUDED.next_attempt_at`,
					consumer, e.ID, truncate(herr.Error(), 2000), backoff.String())
			} else {
				_, err = tx.Exec(ctx, `RELEASE SAVEPOINT outbox_event`)
				if err == nil {
					_, err = tx.Exec(ctx, `INSERT INTO domain_event_deliveries (consumer, event_id, attempts, processed_at)
						VALUES ($1, $2, 1, now())
						ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = domain_event_deliveries.attempts + 1,
							processed_at = now(), last_error = NULL, next_attempt_at = NULL`, consumer, e.ID)
				}
			}
			if err != nil {
				return err
			}
			n++
		}
		return advance(ctx, tx, consumer)
	})
	return n, err
}

// advance moves the consumer's mark up to just below its first unfinished event, but never past
// an id younger than Settle (a lower id may belong to a transaction still open), then forgets
// delivery rows below the mark.
func advance(ctx context.Context, tx pgx.Tx, consumer string) error {
	_, err := tx.Exec(ctx, `UPDATE domain_event_consumers c SET updated_at = now(), last_id = greatest(c.last_id, least(
			coalesce((SELECT min(e.id) - 1 FROM domain_events e
				LEFT JOIN domain_event_deliveries d ON d.consumer = c.consumer AND d.event_id = e.id
				WHERE e.id > c.last_id AND (d.event_id IS NULL OR (d.processed_at IS NULL AND d.attempts < $2))),
				(SELECT coalesce(max(id), 0) FROM domain_events)),
			coalesce((SELECT max(e.id) FROM domain_events e WHERE e.id > c.last_id AND e.created_at < now() - $3::interval), c.last_id)))
		WHERE c.consumer = $1`, consumer, MaxAttempts, Settle.String())
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM domain_event_deliveries d USING domain_event_consumers c
		WHERE d.consumer = $1 AND c.consumer = $1 AND d.event_id <= c.last_id`, consumer)
	return err
}

// Failed lists a consumer's events that failed for good (MaxAttempts reached), newest first.
func Failed(ctx context.Context, db *postgres.DB, consumer string, limit int) ([]Event, []string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT e.id, e.event_id, e.topic, e.entity, e.entity_id, e.payload, e.actor_id, e.created_at,
			d.attempts, coalesce(d.last_error, '')
		FROM domain_event_deliveries d JOIN domain_events e ON e.id = d.event_id
		WHERE d.consumer = $1 AND d.processed_at IS NULL AND d.attempts >= $2 ORDER BY e.id DESC LIMIT $3`, consumer, MaxAttempts, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []Event
	var errs []string
	for rows.Next() {
		var e Event
		var msg string
		if err := rows.Scan(&e.ID, &e.EventID, &e.Topic, &e.Entity, &e.EntityID, &e.Payload, &e.ActorID, &e.CreatedAt, &e.Attempts, &msg); err != nil {
			return nil, nil, err
		}
		out = append(out, e)
		errs = append(errs, msg)
	}
	return out, errs, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
