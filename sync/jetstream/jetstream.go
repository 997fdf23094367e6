// Package jetstream is a change.Feed over NATS JetStream: one stream per
// direction, one subject per key, one durable pull consumer per reader.
//
//	down: stream DMF_DOWN, subjects dmf.down.<technician_id>, limits retention
//	      (MaxAge bounds how long a device may stay offline before it must
//	      re-bootstrap), one consumer per device filtered to its technician.
//	up:   stream DMF_UP, subjects dmf.up.<device_id>, work-queue retention (a
//	      mutation stays until the hub acknowledges it, however long that
//	      takes), one consumer per device on the hub.
//
// Publishing sets Nats-Msg-Id to the batch ID, so a republished batch is
// dropped within the stream's duplicate window; stores still dedupe by change
// ID and ClientRef beyond it. Consumers have MaxAckPending 1: a batch is
// delivered only after the previous one was applied and acknowledged, and a
// failing batch is redelivered (with a growing delay) before anything after it.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/scope"
)

// Config describes one feed's stream and consumers.
type Config struct {
	Stream    string // stream name, e.g. "DMF_DOWN"
	Prefix    string // subject prefix; a key's subject is Prefix + "." + key
	Retention jetstream.RetentionPolicy
	// MaxAge drops batches older than this (limits retention); 0 keeps all.
	MaxAge time.Duration
	// Duplicates is the window in which a batch ID is deduplicated.
	Duplicates time.Duration
	Replicas   int
	Storage    jetstream.StorageType
	// AckWait is how long a delivered batch may go unacknowledged before the
	// server redelivers it; Consume extends it while the handler runs.
	AckWait time.Duration
	// PollWait is how long one pull request waits for a batch.
	PollWait time.Duration
	// ConsumerInactive removes durable consumers idle this long; 0 never does.
	ConsumerInactive time.Duration
	// MaxConsumers bounds the stream's durable consumers: one per device on each feed. It must
	// be set: a stream without one gets the server's default, 1,000 since nats-server 2.12,
	// and the 1,001st tablet could never consume.
	MaxConsumers int
}

// MaxDevices is the consumers each feed allows (MaxConsumers): the devices one hub serves.
const MaxDevices = 100_000

// Down is the configuration of the downstream feed (hub → devices).
func Down() Config {
	return Config{
		Stream:     "DMF_DOWN",
		Prefix:     strings.TrimSuffix(scope.DownWildcard, ".>"),
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     30 * 24 * time.Hour,
		Duplicates: time.Hour,
		Replicas:   1,
		Storage:    jetstream.FileStorage,
		AckWait:    30 * time.Second,
		PollWait:   5 * time.Second,
		// One durable consumer per device.
		MaxConsumers: MaxDevices,
	}
}

// Up is the configuration of the upstream feed (devices → hub).
func Up() Config {
	return Config{
		Stream:     "DMF_UP",
		Prefix:     strings.TrimSuffix(scope.UpWildcard, ".>"),
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 24 * time.Hour,
		Replicas:   1,
		Storage:    jetstream.FileStorage,
		AckWait:    30 * time.Second,
		PollWait:   5 * time.Second,
		// One durable consumer per device (the hub's applier).
		MaxConsumers: MaxDevices,
	}
}

// Subject returns key's subject.
func (c Config) Subject(key string) string { return c.Prefix + "." + key }

// StreamConfig returns the JetStream stream configuration.
func (c Config) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:         c.Stream,
		Description:  "DotMac Field sync feed " + c.Prefix,
		Subjects:     []string{c.Prefix + ".>"},
		Retention:    c.Retention,
		MaxAge:       c.MaxAge,
		Duplicates:   c.Duplicates,
		Replicas:     max(c.Replicas, 1),
		Storage:      c.Storage,
		Discard:      jetstream.DiscardOld,
		AllowDirect:  true,
		MaxConsumers: c.MaxConsumers,
	}
}

// ConsumerConfig returns the durable consumer configuration for key, starting
// after cursor after (where the retention allows choosing a start).
func (c Config) ConsumerConfig(durable, key string, after change.Cursor) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:           durable,
		Description:       "DotMac Field sync consumer for " + c.Subject(key),
		FilterSubject:     c.Subject(key),
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           c.AckWait,
		MaxAckPending:     1,
		MaxDeliver:        -1,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: c.ConsumerInactive,
	}
	if after > 0 && c.Retention != jetstream.WorkQueuePolicy {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = uint64(after) + 1
	}
	return cc
}

// Feed is a change.Feed on one JetStream stream.
type Feed struct {
	js     jetstream.JetStream
	cfg    Config
	stream jetstream.Stream
}

var _ change.Feed = (*Feed)(nil)

// New creates or updates the stream (the hub's side) and returns its feed.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Feed, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg.StreamConfig())
	if err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", cfg.Stream, err)
	}
	return &Feed{js: js, cfg: cfg, stream: s}, nil
}

// Bind returns the feed of an existing stream without changing it (a
// device's side: devices may not manage streams).
func Bind(ctx context.Context, js jetstream.JetStream, cfg Config) (*Feed, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", cfg.Stream, err)
	}
	return &Feed{js: js, cfg: cfg, stream: s}, nil
}

func (c Config) check() error {
	if c.Stream == "" || c.Prefix == "" {
		return errors.New("jetstream: config needs Stream and Prefix")
	}
	if c.AckWait <= 0 || c.PollWait <= 0 {
		return errors.New("jetstream: config needs AckWait and PollWait")
	}
	return nil
}

// Config returns the feed's configuration.
func (f *Feed) Config() Config { return f.cfg }

// Publish implements change.Feed: it returns once the stream stored b.
func (f *Feed) Publish(ctx context.Context, key string, b change.Batch) (change.Ack, error) {
	if !scope.ValidID(key) {
		return change.Ack{}, fmt.Errorf("jetstream: bad key %q", key)
	}
	if err := b.Validate(); err != nil {
		return change.Ack{}, err
	}
	data, err := change.Encode(b)
	if err != nil {
		return change.Ack{}, err
	}
	if nc := f.js.Conn(); nc != nil && nc.MaxPayload() > 0 && int64(len(data)) > nc.MaxPayload() {
		return change.Ack{}, fmt.Errorf("jetstream: batch %s is %d bytes, over the %d byte limit: use change.Split", b.ID, len(data), nc.MaxPayload())
	}
	msg := &nats.Msg{Subject: f.cfg.Subject(key), Data: data, Header: nats.Header{}}
	ack, err := f.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.ID), jetstream.WithExpectStream(f.cfg.Stream))
	if err != nil {
		return change.Ack{}, fmt.Errorf("jetstream: publish %s: %w", b.ID, err)
	}
	return change.Ack{Seq: change.Cursor(ack.Sequence), Duplicate: ack.Duplicate}, nil
}

// Head implements change.Feed.
func (f *Feed) Head(ctx context.Context) (change.Cursor, error) {
	info, err := f.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream info: %w", err)
	}
	return change.Cursor(info.State.LastSeq), nil
}

// First returns the sequence of the oldest batch the feed still holds (Head+1, or 0, when it
// holds none): a consumer whose cursor is before First-1 has lost batches to retention.
func (f *Feed) First(ctx context.Context) (change.Cursor, error) {
	info, err := f.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream info: %w", err)
	}
	return change.Cursor(info.State.FirstSeq), nil
}

// Trim drops every batch before seq, as retention would (tests, operators).
func (f *Feed) Trim(ctx context.Context, before change.Cursor) error {
	if err := f.stream.Purge(ctx, jetstream.WithPurgeSequence(uint64(before))); err != nil {
		return fmt.Errorf("jetstream: purge: %w", err)
	}
	return nil
}

// Consume implements change.Feed. It survives server restarts and dropped
// links: pull errors are retried until ctx is done.
func (f *Feed) Consume(ctx context.Context, key string, opts change.ConsumeOptions, fn change.Handler) error {
	if !scope.ValidID(key) {
		return fmt.Errorf("jetstream: bad key %q", key)
	}
	if !scope.ValidID(opts.Durable) {
		return fmt.Errorf("jetstream: bad durable name %q", opts.Durable)
	}
	var (
		cons  jetstream.Consumer
		after = opts.After
		fails int
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if cons == nil {
			var err error
			cons, after, err = f.consumer(ctx, key, opts.Durable, after)
			if errors.Is(err, change.ErrCursorExpired) {
				return err
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				fails++
				if opts.OnError != nil {
					opts.OnError(after, err)
				}
				sleep(ctx, retryDelay(fails))
				continue
			}
			fails = 0
		}
		pctx, cancel := context.WithTimeout(ctx, f.cfg.PollWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(pctx))
		if err == nil {
			for msg := range batch.Messages() {
				after = f.handle(ctx, msg, after, opts, fn)
			}
			err = batch.Error()
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			fails = 0
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrConsumerDeleted):
			cons = nil // recreate it from our cursor
		default: // a dropped link or a restarting server: wait and pull again
			fails++
			sleep(ctx, retryDelay(fails))
			if fails > 3 {
				cons = nil
			}
		}
	}
}

// handle applies one delivered message and returns the new cursor.
func (f *Feed) handle(ctx context.Context, msg jetstream.Msg, after change.Cursor, opts change.ConsumeOptions, fn change.Handler) change.Cursor {
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return after
	}
	seq := change.Cursor(md.Sequence.Stream)
	if seq <= after { // already applied by this consumer's store
		_ = msg.Ack()
		return after
	}
	b, err := change.Decode(msg.Data())
	if err == nil {
		b.Seq = seq
		err = f.run(ctx, msg, b, fn)
	}
	if err != nil {
		if ctx.Err() != nil {
			_ = msg.Nak()
			return after
		}
		if opts.OnError != nil {
			opts.OnError(seq, err)
		}
		_ = msg.NakWithDelay(opts.Backoff(int(md.NumDelivered)))
		return after
	}
	// Wait for the server to confirm the ack, so a restart does not redeliver
	// what was applied (the store would skip it, but it costs a round trip).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.AckWait)
	defer cancel()
	_ = msg.DoubleAck(actx)
	return seq
}

// run calls fn, telling the server the batch is in progress while it runs.
func (f *Feed) run(ctx context.Context, msg jetstream.Msg, b change.Batch, fn change.Handler) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(max(f.cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return fn(ctx, b)
}

// consumer finds or creates key's durable consumer so that delivery resumes
// right after the consumer's own cursor, and returns the effective cursor.
func (f *Feed) consumer(ctx context.Context, key, durable string, after change.Cursor) (jetstream.Consumer, change.Cursor, error) {
	want := f.cfg.ConsumerConfig(durable, key, after)
	workQueue := f.cfg.Retention == jetstream.WorkQueuePolicy
	cons, err := f.stream.Consumer(ctx, durable)
	switch {
	case err == nil:
		info := cons.CachedInfo()
		rewind := !workQueue && after > 0 && change.Cursor(info.AckFloor.Stream) > after
		if info.Config.FilterSubject != want.FilterSubject || rewind {
			if err := f.stream.DeleteConsumer(ctx, durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, after, fmt.Errorf("jetstream: reset consumer %s: %w", durable, err)
			}
			cons = nil
		} else if after == 0 {
			after = change.Cursor(info.AckFloor.Stream)
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		return nil, after, fmt.Errorf("jetstream: consumer %s: %w", durable, err)
	}
	if !workQueue {
		info, err := f.stream.Info(ctx)
		if err != nil {
			return nil, after, fmt.Errorf("jetstream: stream info: %w", err)
		}
		if first := change.Cursor(info.State.FirstSeq); first > after+1 {
			return nil, after, fmt.Errorf("%w (cursor %d, stream starts at %d)", change.ErrCursorExpired, after, first)
		}
	}
	if cons == nil {
		cons, err = f.stream.CreateOrUpdateConsumer(ctx, want)
		if err != nil {
			return nil, after, fmt.Errorf("jetstream: create consumer %s: %w", durable, err)
		}
	}
	return cons, after, nil
}

func retryDelay(fails int) time.Duration {
	d := 50 * time.Millisecond << min(fails, 8)
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// InboxPrefix is the reply-subject prefix a device must connect with
// (nats.CustomInboxPrefix), so it can be allowed its own replies and nobody
// else's.
func InboxPrefix(deviceID string) string { return "_INBOX_" + deviceID }

// DevicePermissions returns the subjects device deviceID of technician techID
// may publish to and subscribe to, for the server (or the account JWT) to
// enforce: its upstream subject, its own durable consumer (named deviceID) on
// its technician's downstream subject, its control subject, and its inbox.
func DevicePermissions(down, up Config, techID, deviceID string) (publish, subscribe []string) {
	api := "$JS.API."
	publish = []string{
		up.Subject(deviceID),
		api + "STREAM.INFO." + down.Stream,
		api + "STREAM.INFO." + up.Stream,
		api + "CONSUMER.INFO." + down.Stream + "." + deviceID,
		api + "CONSUMER.CREATE." + down.Stream + "." + deviceID + "." + down.Subject(techID),
		api + "CONSUMER.DELETE." + down.Stream + "." + deviceID,
		api + "CONSUMER.MSG.NEXT." + down.Stream + "." + deviceID,
		"$JS.ACK." + down.Stream + "." + deviceID + ".>",
	}
	subscribe = []string{InboxPrefix(deviceID) + ".>", scope.ControlSubject(deviceID)}
	return publish, subscribe
}
