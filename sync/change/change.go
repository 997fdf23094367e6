// Package change is the unit of replication between the hub and the edge
// agents: a Change to one record, grouped in a Batch, carried by a Feed and
// applied by a Store.
//
// Downstream (hub → device, one log per technician) a Change carries the full
// row after the change (Data) and the record's Version, which rises by one or
// more with every committed change to that record; a replica applies a change
// only when its Version is greater than the one it holds, so it never regresses.
//
// Upstream (device → hub, one log per device) a Change is a mutation the
// technician made offline. Either Action names the field API call it replays
// ("transition", "note", "attachment", "consume", "survey") with the request
// body in Data, or Fields holds the fields the device changed together with
// BaseVersion, the record version the device last saw, so the hub can find
// per-field conflicts (see package resolve). ClientRef makes it idempotent for
// any offline duration.
//
// # Wire format
//
// A Batch travels as one JSON object (Encode, Decode):
//
//	{"id":"…","changes":[{"id":"…","family":"work_orders","entity":"work_order",
//	  "entity_id":"…","op":"upsert","version":7,"hlc":"0195…-00000000-hub",
//	  "data":{…},"schema_version":1,"committed_at":"2025-03-01T12:00:00.123456Z"}]}
//
// Empty optional members are omitted. The feed position (Batch.Seq) is not in
// the body: the feed assigns it. Readers ignore unknown members and reject a
// schema_version newer than they know (ErrSchemaVersion).
package change

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"dotmac.dev/field/sync/hlc"
)

// SchemaVersion is the version of the Change format this code writes and the
// newest it reads.
const SchemaVersion = 1

// Op is what a change does to its record.
type Op string

// Ops.
const (
	OpUpsert Op = "upsert" // create or replace the record with Data (or patch Fields, upstream)
	OpDelete Op = "delete" // the record is gone for good
	OpEvict  Op = "evict"  // the record left the device's scope: drop it once its pending edits are delivered
)

// Valid reports whether o is a known op.
func (o Op) Valid() bool { return o == OpUpsert || o == OpDelete || o == OpEvict }

// Change is one change to one record.
type Change struct {
	ID       string        `json:"id"`     // unique per change (UUID v7)
	Family   string        `json:"family"` // scope family, e.g. "work_orders"
	Entity   string        `json:"entity"` // e.g. "work_order", "work_order_note"
	EntityID string        `json:"entity_id"`
	Op       Op            `json:"op"`
	Version  int64         `json:"version,omitempty"` // the record's version after the change (downstream)
	HLC      hlc.Timestamp `json:"hlc"`

	// Data is the full row after the change (downstream), or the request body
	// of Action (upstream).
	Data json.RawMessage `json:"data,omitempty"`

	// Upstream only.
	Action      string                     `json:"action,omitempty"`
	Fields      map[string]json.RawMessage `json:"fields,omitempty"`
	BaseVersion int64                      `json:"base_version,omitempty"`
	DeviceID    string                     `json:"device_id,omitempty"`
	ClientRef   string                     `json:"client_ref,omitempty"`

	SchemaVersion int       `json:"schema_version"`
	CommittedAt   time.Time `json:"committed_at,omitzero"`
}

// Upstream reports whether c is a device mutation.
func (c Change) Upstream() bool { return c.DeviceID != "" }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("change: invalid")

// ErrSchemaVersion reports a change written by newer code than this.
var ErrSchemaVersion = errors.New("change: unsupported schema version")

// Validate checks that c is well formed.
func (c Change) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: change %s: %s", ErrInvalid, c.ID, fmt.Sprintf(format, a...))
	}
	switch {
	case c.ID == "":
		return bad("id is required")
	case c.Family == "" || c.Entity == "" || c.EntityID == "":
		return bad("family, entity and entity_id are required")
	case !c.Op.Valid():
		return bad("unknown op %q", c.Op)
	case c.Version < 0 || c.BaseVersion < 0:
		return bad("negative version")
	case c.SchemaVersion < 1:
		return bad("schema_version is required")
	case c.SchemaVersion > SchemaVersion:
		return fmt.Errorf("%w: %d > %d", ErrSchemaVersion, c.SchemaVersion, SchemaVersion)
	case c.Data != nil && !json.Valid(c.Data):
		return bad("data is not valid JSON")
	}
	if c.Upstream() {
		switch {
		case c.ClientRef == "":
			return bad("an upstream change needs client_ref")
		case c.Op == OpEvict:
			return bad("a device cannot evict")
		case c.Op == OpUpsert && c.Action == "" && len(c.Fields) == 0 && c.Data == nil:
			return bad("an upstream upsert needs action, fields or data")
		case c.Action != "" && len(c.Fields) > 0:
			return bad("action and fields are exclusive")
		}
		for k, v := range c.Fields {
			if !json.Valid(v) {
				return bad("field %s is not valid JSON", k)
			}
		}
		return nil
	}
	switch {
	case len(c.Fields) > 0 || c.Action != "" || c.BaseVersion != 0:
		return bad("fields, action and base_version are upstream only")
	case c.Version == 0:
		return bad("a downstream change needs version")
	case c.Op == OpUpsert && c.Data == nil:
		return bad("a downstream upsert needs data")
	}
	return nil
}

// Cursor is a position in a feed: the sequence of the last batch applied.
// Zero is before the first batch. Cursors only grow.
type Cursor uint64

// Batch is changes applied together: a consumer applies all of them in one
// transaction, or none.
type Batch struct {
	ID      string   `json:"id"`            // dedupe key; see BatchID
	Seq     Cursor   `json:"seq,omitempty"` // set by the feed on delivery
	Changes []Change `json:"changes"`
}

// BatchID derives a deterministic batch id from the ids of changes, so a
// publisher that crashes and republishes the same changes is deduplicated.
func BatchID(changes []Change) string {
	h := sha256.New()
	for _, c := range changes {
		h.Write([]byte(c.ID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Validate checks the batch and each change.
func (b Batch) Validate() error {
	if b.ID == "" {
		return fmt.Errorf("%w: batch id is required", ErrInvalid)
	}
	if len(b.Changes) == 0 {
		return fmt.Errorf("%w: batch %s is empty", ErrInvalid, b.ID)
	}
	for _, c := range b.Changes {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Encode returns the wire form of b (without Seq).
func Encode(b Batch) ([]byte, error) {
	b.Seq = 0
	if b.Changes == nil {
		b.Changes = []Change{}
	}
	return json.Marshal(b)
}

// Decode parses the wire form and validates it.
func Decode(data []byte) (Batch, error) {
	var b Batch
	if err := json.Unmarshal(data, &b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return b, b.Validate()
}

// Split groups changes into batches whose encoded size stays under maxBytes
// (a single larger change gets a batch of its own), keeping their order and
// giving each batch its BatchID.
func Split(changes []Change, maxBytes int) ([]Batch, error) {
	var out []Batch
	var cur []Change
	size := 0
	const overhead = len(`{"id":"00000000000000000000000000000000","changes":[]}`)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, Batch{ID: BatchID(cur), Changes: cur})
			cur, size = nil, 0
		}
	}
	for _, c := range changes {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if len(cur) > 0 && overhead+size+len(b)+1 > maxBytes {
			flush()
		}
		cur = append(cur, c)
		size += len(b) + 1
	}
	flush()
	return out, nil
}

// Ack is the result of publishing a batch.
type Ack struct {
	Seq       Cursor // position of the batch in the feed
	Duplicate bool   // the feed already held a batch with this ID, at Seq
}

// Handler applies one batch. Returning nil acknowledges it; an error has it
// redelivered later, before anything after it.
type Handler func(ctx context.Context, b Batch) error

// ConsumeOptions says where a consumer resumes.
type ConsumeOptions struct {
	// Durable names the consumer; the feed remembers what it acknowledged.
	Durable string
	// After is the consumer's own cursor, which wins over the feed's memory:
	// batches at or before it are acknowledged without calling the handler,
	// and if the feed remembers a later position, delivery restarts after
	// After. Zero means from the start of the feed.
	After Cursor
	// RetryDelay is the first wait before redelivering a failed batch; it
	// doubles up to MaxRetryDelay. Zero means one second.
	RetryDelay time.Duration
	// OnError, if set, hears of every failed delivery: a handler error or a
	// batch that does not decode. The batch is retried either way.
	OnError func(seq Cursor, err error)
}

// Backoff returns the wait before redelivery attempt n (1-based).
func (o ConsumeOptions) Backoff(n int) time.Duration {
	d := o.RetryDelay
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// MaxRetryDelay caps the wait between redeliveries of a failing batch.
const MaxRetryDelay = 30 * time.Second

// ErrCursorExpired means the feed no longer holds every batch after the
// cursor: the consumer must re-bootstrap from a snapshot.
var ErrCursorExpired = errors.New("change: cursor expired; re-bootstrap from a snapshot")

// ErrDuplicate is not returned by Publish (see Ack.Duplicate); Stores may
// return it from Apply for a batch they already hold, which Sync treats as applied.
var ErrDuplicate = errors.New("change: duplicate")

// Feed is an ordered, durable, deduplicating log of batches per key (a
// technician id downstream, a device id upstream). Implementations: package
// jetstream (NATS JetStream) and package inmem (tests, single process).
type Feed interface {
	// Publish appends b to key's log once it is durable. A batch ID the feed
	// already holds is not appended again: Ack.Duplicate reports it. Feeds
	// dedupe within a window (JetStream's duplicate window); stores must still
	// be idempotent by change ID and ClientRef.
	Publish(ctx context.Context, key string, b Batch) (Ack, error)
	// Consume delivers key's batches in order, one at a time, to fn, setting
	// Batch.Seq, until ctx is done (then it returns nil). A batch is
	// acknowledged only after fn returns nil; on error it is redelivered
	// after a growing delay and nothing later is delivered meanwhile. It
	// returns ErrCursorExpired if batches after opts.After are gone.
	Consume(ctx context.Context, key string, opts ConsumeOptions, fn Handler) error
	// Head returns the position of the last batch in the feed (any key), the
	// cursor to hand out with a snapshot taken now.
	Head(ctx context.Context) (Cursor, error)
}

// Store applies batches and keeps the consumer's cursor: the edge agent's
// SQLite replica downstream, the hub's PostgreSQL upstream.
type Store interface {
	// Cursor returns the position of the last batch applied from stream.
	Cursor(ctx context.Context, stream string) (Cursor, error)
	// Apply applies every change of b and records b.Seq as stream's cursor in
	// one transaction. It must skip changes it already holds (same change ID
	// or ClientRef, or a Version not above the held one) rather than fail.
	Apply(ctx context.Context, stream string, b Batch) error
}

// Sync feeds key's batches from f into s until ctx is done, resuming from the
// store's cursor. It is the consumer loop of both the edge agent (down) and
// the hub's upload applier (up). stream names the cursor in s.
func Sync(ctx context.Context, f Feed, key, stream, durable string, s Store) error {
	after, err := s.Cursor(ctx, stream)
	if err != nil {
		return fmt.Errorf("change: read cursor: %w", err)
	}
	return f.Consume(ctx, key, ConsumeOptions{Durable: durable, After: after}, func(ctx context.Context, b Batch) error {
		if err := s.Apply(ctx, stream, b); err != nil && !errors.Is(err, ErrDuplicate) {
			return err
		}
		return nil
	})
}
