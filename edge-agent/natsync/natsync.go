// Package natsync keeps the replica in sync with the hub (edge-agent/PROTOCOL.md): it consumes
// the technician's downstream feed over NATS JetStream and applies each batch atomically,
// uploads the outbox FIFO (attachment content first, over HTTP), bootstraps and resets from a
// snapshot, verifies checksums and repairs what differs, and obeys revocation.
package natsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/scope"
)

// Client is the sync client. Set the exported fields, then Run.
type Client struct {
	Creds  agent.Credentials
	DB     *sqlite.DB
	Hub    *HubClient
	Logger *slog.Logger
	// NATSURL overrides Creds.NATSURL.
	NATSURL string
	// Down and Up are the feeds' configurations (jetstream.Down() and Up() by default).
	Down, Up *jetstream.Config
	// VerifyInterval is how often checksums are compared (0: 10 minutes).
	VerifyInterval time.Duration
	// ReconnectWait is the pause between NATS reconnect attempts (0: 1 s).
	ReconnectWait time.Duration
	// MaxBackoff caps the wait after failed uploads (0: 30 s).
	MaxBackoff time.Duration
	// ResendAfter is how long a sent upload may wait for the hub's answer before it is sent
	// again (0: 5 minutes). The hub answers a replay with the original result.
	ResendAfter time.Duration
	// Dir is the agent's data directory: the bootstrap snapshot file is downloaded into
	// Dir/bootstrap, so a download resumes after a crash. Empty: the agent bootstraps from the
	// paged JSON snapshot only.
	Dir string
	// Purge deletes everything of the scope after a revocation (set by the binary); the client
	// removes Dir/bootstrap itself.
	Purge func() error

	wake    chan struct{}
	resync  chan struct{}
	authBad chan struct{}
	nc      atomic.Pointer[nats.Conn]
	revoked atomic.Bool
	mu      sync.Mutex
	lastErr string
	cancel  context.CancelFunc
	// stopConsume ends the running Consume so it restarts, re-checking that the feed still
	// holds the cursor (a long-lived consumer would silently skip batches retention dropped).
	stopConsume context.CancelFunc
}

func (c *Client) restartConsumer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopConsume != nil {
		c.stopConsume()
	}
}

// Log keys.
const (
	keyErr     = "err"
	keySeq     = "seq"
	keyTable   = "table"
	keyCount   = "count"
	keyDevice  = "device_id"
	keyCursor  = "cursor"
	keyRef     = "client_ref"
	keyBuckets = "buckets"
)

func (c *Client) init() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.WithGroup("sync")
	if c.Down == nil {
		d := jetstream.Down()
		c.Down = &d
	}
	if c.Up == nil {
		u := jetstream.Up()
		c.Up = &u
	}
	if c.VerifyInterval <= 0 {
		c.VerifyInterval = 10 * time.Minute
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = time.Second
	}
	if c.ResendAfter <= 0 {
		c.ResendAfter = 5 * time.Minute
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	c.wake = make(chan struct{}, 1)
	c.resync = make(chan struct{}, 1)
	c.authBad = make(chan struct{}, 1)
}

// Wake asks the uploader to look at the outbox now (after a local write).
func (c *Client) Wake() {
	if c.wake == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// SyncState implements agent.SyncReporter.
func (c *Client) SyncState() agent.SyncState {
	nc := c.nc.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	return agent.SyncState{Online: nc != nil && nc.IsConnected(), LastError: c.lastErr}
}

func (c *Client) setErr(ctx context.Context, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	changed := c.lastErr != msg
	c.lastErr = msg
	c.mu.Unlock()
	if changed && c.DB != nil {
		_ = c.DB.SetState(context.WithoutCancel(ctx), sqlite.StateLastError, msg)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run syncs until ctx is done (nil) or the device is revoked (agent.ErrRevoked, after the purge).
func (c *Client) Run(ctx context.Context) error {
	c.init()
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	defer cancel()
	url := cmpOr(c.NATSURL, c.Creds.NATSURL)
	opts := []nats.Option{
		nats.Name("dmf-edge-agent " + c.Creds.DeviceID),
		nats.CustomInboxPrefix(jetstream.InboxPrefix(c.Creds.DeviceID)),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(c.ReconnectWait),
		nats.ReconnectJitter(c.ReconnectWait/5, c.ReconnectWait/5),
		nats.ReconnectBufSize(8 << 20),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) { c.Logger.Info("connected to NATS"); c.Wake() }),
		nats.ReconnectHandler(func(*nats.Conn) {
			c.Logger.Info("reconnected to NATS")
			c.Wake()
			c.restartConsumer()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				c.Logger.Warn("disconnected from NATS", keyErr, err)
				c.checkAuth(err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.Logger.Warn("NATS error", keyErr, err)
			c.checkAuth(err)
		}),
	}
	if c.Creds.NATSJWT != "" {
		opts = append(opts, nats.UserJWTAndSeed(c.Creds.NATSJWT, c.Creds.NATSSeed))
	} else {
		opts = append(opts, nats.UserInfo(cmpOr(c.Creds.NATSUser, c.Creds.DeviceID), c.Creds.NATSPassword))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.checkAuth(err)
		if !errors.Is(err, nats.ErrAuthorization) {
			return fmt.Errorf("natsync: connect %s: %w", url, err)
		}
	}
	if nc != nil {
		c.nc.Store(nc)
		defer nc.Close()
		if _, err := nc.Subscribe(scope.ControlSubject(c.Creds.DeviceID), c.control); err != nil {
			return fmt.Errorf("natsync: control subject: %w", err)
		}
	}
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){c.downLoop, c.upLoop, c.verifyLoop} {
		if nc == nil {
			break
		}
		wg.Go(func() { loop(ctx) })
	}
	wg.Go(func() { c.authLoop(ctx) })
	wg.Wait()
	if c.revoked.Load() {
		c.purge()
		return agent.ErrRevoked
	}
	return nil
}

// control handles a message on dmf.ctl.<device_id>.
func (c *Client) control(m *nats.Msg) {
	var msg struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(m.Data, &msg); err != nil {
		c.Logger.Warn("bad control message", keyErr, err)
		return
	}
	c.Logger.Info("control message", "type", msg.Type, "reason", msg.Reason)
	switch msg.Type {
	case "revoke":
		go c.revoke(context.Background(), "revoked by the hub: "+msg.Reason)
	case "resync", "rescope":
		signal(c.resync)
		c.Wake()
	}
}

func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "authorization violation") || strings.Contains(s, "authentication revoked") || strings.Contains(s, "authentication expired")
}

func (c *Client) checkAuth(err error) {
	var he *HTTPError
	if isAuthError(err) || (errors.As(err, &he) && he.AuthFailed()) {
		signal(c.authBad)
	}
}

// authLoop confirms suspected revocations with the hub: only a hub that answers "revoked" (or
// refuses the device token) causes a purge; an unreachable hub never does.
func (c *Client) authLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.authBad:
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		st, err := c.Hub.Device(dctx)
		cancel()
		var he *HTTPError
		switch {
		case errors.As(err, &he) && he.AuthFailed(), err == nil && st.Status == "revoked":
			c.revoke(ctx, "the hub refuses this device")
			return
		case err != nil:
			c.Logger.Warn("could not confirm device status", keyErr, err)
		}
		sleep(ctx, 5*time.Second)
	}
}

// revoke purges the replica and stops everything.
func (c *Client) revoke(ctx context.Context, why string) {
	if !c.revoked.CompareAndSwap(false, true) {
		return
	}
	c.Logger.Warn("device revoked: purging the replica", "reason", why)
	if nc := c.nc.Load(); nc != nil {
		nc.Close()
	}
	if c.cancel != nil {
		c.cancel()
	}
}

// purge runs once every loop stopped.
func (c *Client) purge() {
	if c.Purge != nil {
		if err := c.Purge(); err != nil {
			c.Logger.Error("purge failed", keyErr, err)
		}
	}
	if c.Dir != "" { // a snapshot file holds the scope too
		if err := os.RemoveAll(filepath.Join(c.Dir, agent.BootstrapDir)); err != nil {
			c.Logger.Error("purge failed", keyErr, err)
		}
	}
}

// Revoked reports whether the device was revoked.
func (c *Client) Revoked() bool { return c.revoked.Load() }

func (c *Client) js() (njs.JetStream, error) {
	nc := c.nc.Load()
	if nc == nil {
		return nil, errors.New("natsync: not connected")
	}
	return njs.New(nc)
}

// bind waits until the feed's stream can be reached.
func (c *Client) bind(ctx context.Context, cfg jetstream.Config) (*jetstream.Feed, error) {
	for fails := 0; ; fails++ {
		js, err := c.js()
		if err == nil {
			bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			var f *jetstream.Feed
			f, err = jetstream.Bind(bctx, js, cfg)
			cancel()
			if err == nil {
				return f, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.checkAuth(err)
		if fails%10 == 3 {
			c.Logger.Warn("cannot reach the feed yet", "stream", cfg.Stream, keyErr, err)
		}
		sleep(ctx, backoff(fails, 5*time.Second))
	}
}

func backoff(fails int, maxWait time.Duration) time.Duration {
	d := 100 * time.Millisecond << min(fails, 10)
	return min(d, maxWait)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// downLoop bootstraps when needed, then consumes the technician's feed from the cursor; when
// the feed no longer holds the cursor it resets (keeping pending work) and bootstraps again.
func (c *Client) downLoop(ctx context.Context) {
	for fails := 0; ctx.Err() == nil; {
		if err := c.ensureBootstrap(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			c.setErr(ctx, err)
			c.Logger.Warn("bootstrap failed; retrying", keyErr, err)
			sleep(ctx, backoff(fails, c.MaxBackoff))
			continue
		}
		feed, err := c.bind(ctx, *c.Down)
		if err != nil {
			return
		}
		after, err := c.DB.Cursor(ctx, "down")
		if err != nil {
			c.setErr(ctx, err)
			sleep(ctx, time.Second)
			continue
		}
		c.Logger.Info("consuming the downstream feed", keyCursor, uint64(after))
		cctx, stop := context.WithCancel(ctx)
		c.mu.Lock()
		c.stopConsume = stop
		c.mu.Unlock()
		err = feed.Consume(cctx, c.Creds.TechnicianID, change.ConsumeOptions{
			Durable: c.Creds.DeviceID, After: after, RetryDelay: 500 * time.Millisecond,
			OnError: func(seq change.Cursor, err error) {
				c.Logger.Warn("downstream batch failed; will retry", keySeq, uint64(seq), keyErr, err)
				c.setErr(ctx, err)
				c.checkAuth(err)
			},
		}, func(ctx context.Context, b change.Batch) error {
			if err := c.DB.Apply(ctx, "down", b); err != nil {
				return err
			}
			c.setErr(ctx, nil)
			c.Wake()
			return nil
		})
		stop()
		if errors.Is(err, change.ErrCursorExpired) {
			c.Logger.Warn("the feed no longer holds our cursor: resetting (pending work is kept)", keyErr, err)
			if err := c.DB.Reset(ctx); err != nil {
				c.setErr(ctx, err)
				sleep(ctx, time.Second)
			}
			c.Wake()
			continue
		}
		if err != nil && ctx.Err() == nil {
			fails++
			c.setErr(ctx, err)
			sleep(ctx, backoff(fails, c.MaxBackoff))
		}
	}
}

// verifyLoop compares checksums with the hub now and then, and on a resync request.
func (c *Client) verifyLoop(ctx context.Context) {
	t := time.NewTicker(c.VerifyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.resync:
		}
		if err := c.Verify(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("verification failed", keyErr, err)
		}
	}
}

// Verify compares the replica's checksums with the hub's and repairs only what differs.
func (c *Client) Verify(ctx context.Context) error {
	if done, err := c.DB.Bootstrapped(ctx); err != nil || !done {
		return err
	}
	hub, err := c.Hub.Checksums(ctx)
	if st := statusOf(err); st == 404 || st == 405 || st == 501 {
		return nil
	}
	if err != nil {
		c.checkAuth(err)
		return err
	}
	return c.repair(ctx, hub)
}

func (c *Client) repair(ctx context.Context, hub []*checksum.Table) error {
	local, err := c.DB.Checksums(ctx)
	if err != nil {
		return err
	}
	// Compare only the tables the hub reports: a table it does not serve yet is not "empty".
	names := map[string]bool{}
	for _, t := range hub {
		names[t.Name] = true
	}
	var mine []*checksum.Table
	for _, t := range local {
		if names[t.Name] {
			mine = append(mine, t)
		}
	}
	for _, m := range checksum.Compare(mine, hub) {
		hubRows, err := c.Hub.Rows(ctx, m.Table, m.Buckets)
		if err != nil {
			return fmt.Errorf("natsync: rows of %s: %w", m.Table, err)
		}
		localRows, err := c.DB.Rows(ctx, m.Table, m.Buckets)
		if err != nil {
			return err
		}
		fetch, drop := checksum.DiffRows(localRows, hubRows)
		var fetched []change.Change
		for i := 0; i < len(fetch); i += 500 {
			part, err := c.Hub.Fetch(ctx, m.Table, fetch[i:min(i+500, len(fetch))])
			if err != nil {
				return fmt.Errorf("natsync: fetch %s: %w", m.Table, err)
			}
			fetched = append(fetched, part...)
		}
		if err := c.DB.Repair(ctx, m.Table, fetched, drop); err != nil {
			return err
		}
		c.Logger.Info("repaired", keyTable, m.Table, keyBuckets, len(m.Buckets), "fetched", len(fetched), "dropped", len(drop))
	}
	return nil
}
