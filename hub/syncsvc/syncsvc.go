// Package syncsvc is the hub side of the offline sync (ARCHITECTURE.md "The sync guarantees";
// protocol in PROTOCOL-NOTES.md next to this file):
//
//   - the device registry: enrollment codes, per-device NATS credentials whose permissions the
//     embedded server enforces (Authenticator), revocation that cuts a device off in seconds;
//   - the relay: domain_events (the transactional outbox) → per-technician change batches on
//     JetStream (DMF_DOWN), diffed against a scope ledger so an assignment change moves rows in
//     and out of scopes;
//   - the bootstrap snapshot (a ready SQLite file, resumable with Range, verified by checksums)
//     and the per-table checksums of a scope;
//   - the upload applier: each device's mutations (DMF_UP) applied in order, once, through the
//     field service, with per-field conflict rules (sync/resolve) and a conflict log;
//   - the conflict log API, Prometheus metrics and the admin pages.
//
// A new family plugs in by declaration: a scope.Family (entities and per-field rules, in sync/)
// plus a Binding here (SQL of its scope and how its domain events map to work orders).
package syncsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/scope"
)

const changeSchemaVersion = change.SchemaVersion

// Config is what the area builder hands to New.
type Config struct {
	DB     *postgres.DB
	NC     *nats.Conn     // the hub's own connection
	NS     *server.Server // the embedded server, nil when NATS_URL points at a cluster
	Logger *slog.Logger
	// Registry receives the sync metrics; nil makes a private one.
	Registry *prometheus.Registry
	// DataDir holds bootstrap snapshots (DataDir/sync).
	DataDir string
	// HubURL is the hub's public base URL handed to agents at enrollment.
	HubURL string
	// AgentNATSURL is the NATS address handed to agents (the embedded server's client URL).
	AgentNATSURL string
	// Field applies device actions through the same service as the HTTP field API (a *HubField
	// wired in hub/app/areas.go). nil uses the built-in implementation on the work order tables
	// (FieldStore).
	Field FieldService
	// Bindings are the replicated families; nil means DefaultBindings().
	Bindings []Binding
	// Down and Up override the stream configuration (tests shorten waits).
	Down, Up *jetstream.Config
	// DeviceJWTs mints each device's NATS user JWT when NATS is an external cluster in operator
	// mode (HUB_NATS_ACCOUNT_SIGNING_SEED); nil with the embedded server.
	DeviceJWTs *DeviceJWTs
}

// Service is the hub's sync.
type Service struct {
	DB           *postgres.DB
	NC           *nats.Conn
	NS           *server.Server
	Logger       *slog.Logger
	HubURL       string
	AgentNATSURL string
	Field        FieldService
	Scope        *scope.Registry
	Bindings     []Binding
	Clock        *hlc.Clock
	snapDir      string
	dataDir      string
	deviceJWTs   *DeviceJWTs

	downCfg, upCfg jetstream.Config
	js             njs.JetStream
	down, up       *jetstream.Feed
	metrics        *metrics

	touchMu sync.Mutex
	touched map[string]time.Time

	appMu    sync.Mutex
	appCtx   context.Context
	appliers map[string]context.CancelFunc
	appWG    sync.WaitGroup

	relayMu  sync.Mutex   // one relay pass at a time
	relayed  atomic.Int64 // changes the relay has published (tests)
	activeMu sync.Mutex
	active   []Binding // activeBindings' last answer
	activeAt time.Time
	snapMu   sync.Mutex
	nowFn    func() time.Time
	started  bool
	stopOnce sync.Once
}

func (s *Service) now() time.Time {
	if s.nowFn != nil {
		return s.nowFn()
	}
	return time.Now()
}

// New builds the service (no background work until Start).
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Service{
		DB: cfg.DB, NC: cfg.NC, NS: cfg.NS, Logger: cfg.Logger.With("component", "sync"),
		HubURL: cfg.HubURL, AgentNATSURL: cfg.AgentNATSURL, Field: cfg.Field,
		Clock: hlc.New("hub"), touched: map[string]time.Time{}, appliers: map[string]context.CancelFunc{},
		downCfg: jetstream.Down(), upCfg: jetstream.Up(), deviceJWTs: cfg.DeviceJWTs,
	}
	if cfg.Down != nil {
		s.downCfg = *cfg.Down
	}
	if cfg.Up != nil {
		s.upCfg = *cfg.Up
	}
	if cfg.DataDir != "" {
		s.snapDir = filepath.Join(cfg.DataDir, "sync")
		s.dataDir = cfg.DataDir
	}
	s.Bindings = cfg.Bindings
	if s.Bindings == nil {
		s.Bindings = DefaultBindings()
	}
	var fams []scope.Family
	for _, b := range s.Bindings {
		fams = append(fams, b.Family)
	}
	reg, err := scope.NewRegistry(fams...)
	if err != nil {
		return nil, err
	}
	s.Scope = reg
	if s.Field == nil && s.DB != nil {
		s.Field = &FieldStore{DB: s.DB}
	}
	if hf, ok := s.Field.(*HubField); ok && hf.Fallback == nil {
		hf.Fallback = &FieldStore{DB: s.DB}
	}
	s.metrics = newMetrics(cfg.Registry)
	return s, nil
}

// Start creates the streams and runs the relay, the appliers and the metrics loop until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	if s.NC == nil || s.DB == nil {
		return fmt.Errorf("syncsvc: Start needs a database and a NATS connection")
	}
	js, err := njs.New(s.NC)
	if err != nil {
		return fmt.Errorf("syncsvc: jetstream: %w", err)
	}
	s.js = js
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if s.down, err = jetstream.New(sctx, js, s.downCfg); err != nil {
		return err
	}
	if s.up, err = jetstream.New(sctx, js, s.upCfg); err != nil {
		return err
	}
	s.appMu.Lock()
	s.appCtx = ctx
	s.started = true
	s.appMu.Unlock()
	rows, err := s.DB.Pool.Query(ctx, `SELECT id FROM devices WHERE enrolled_at IS NOT NULL`)
	if err != nil {
		return err
	}
	ids, err := collectStrings(rows)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.startApplier(id)
	}
	go s.runRelay(ctx)
	go s.runLagLoop(ctx)
	go s.runApplierRefresh(ctx)
	return nil
}

// Wait blocks until every applier stopped (after Start's ctx ended).
func (s *Service) Wait() { s.appWG.Wait() }

// Control is a message on a device's control subject dmf.ctl.<device_id>.
type Control struct {
	Type    string           `json:"type"` // revoke | results | resync
	Reason  string           `json:"reason,omitempty"`
	Seq     uint64           `json:"seq,omitempty"` // DMF_UP sequence the results belong to
	BatchID string           `json:"batch_id,omitempty"`
	Results []MutationResult `json:"results,omitempty"`
	At      time.Time        `json:"at"`
}

// Control types.
const (
	ControlRevoke  = "revoke"  // purge the replica and the credentials, stop syncing
	ControlResults = "results" // the outcome of each mutation of an uploaded batch
	ControlResync  = "resync"  // re-bootstrap (keeping pending local work)
)

func (s *Service) sendControl(deviceID string, c Control) {
	if s.NC == nil || !scope.ValidID(deviceID) {
		return
	}
	c.At = s.now().UTC()
	b, _ := json.Marshal(c)
	if err := s.NC.Publish(scope.ControlSubject(deviceID), b); err != nil {
		s.Logger.Warn("control message not sent", "device_id", deviceID, "type", c.Type, "error", err)
		return
	}
	_ = s.NC.FlushTimeout(2 * time.Second)
}

// connected reports whether the device has a live NATS connection (embedded server only).
func (s *Service) connected(deviceID string) bool {
	if s.NS == nil {
		return false
	}
	cz, err := s.NS.Connz(&server.ConnzOptions{User: deviceID, Username: true})
	return err == nil && cz.NumConns > 0
}

// disconnect closes every live connection of a device (embedded server). The revoke control
// message goes out first; the connections are closed a moment later so it can arrive.
func (s *Service) disconnect(deviceID string) {
	if s.NS == nil {
		return
	}
	kick := func() int {
		cz, err := s.NS.Connz(&server.ConnzOptions{User: deviceID, Username: true, Limit: 1024})
		if err != nil {
			return 0
		}
		for _, ci := range cz.Conns {
			_ = s.NS.DisconnectClientByID(ci.Cid)
		}
		return len(cz.Conns)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		if n := kick(); n > 0 {
			s.Logger.Info("revoked device disconnected", "device_id", deviceID, "connections", n)
		}
	}()
}

// pendingUploads is how many of a device's uploaded batches the hub has not applied yet.
func (s *Service) pendingUploads(ctx context.Context, deviceID string) int64 {
	if s.up == nil {
		return 0
	}
	stream, err := s.js.Stream(ctx, s.upCfg.Stream)
	if err != nil {
		return 0
	}
	info, err := stream.Info(ctx, njs.WithSubjectFilter(s.upCfg.Subject(deviceID)))
	if err != nil {
		return 0
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return int64(n)
}

func collectStrings(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// JetStream returns the hub's JetStream context (nil before Start): for tools and benchmarks.
func (s *Service) JetStream() njs.JetStream { return s.js }
