// Package dispatch is the dispatcher's side of field work (reference §3.6, §3.7): dispatch rules
// and auto-assign, nearest technicians and day routes over PostGIS, technician location pings and
// presence, the dispatch board (page + data), and the customers' "Track my visit" links.
//
// Files: engine.go (the pure auto-assign rules), autoassign.go (loading and writing them),
// assign.go (manual assignment with optimistic locking), board.go, nearest.go, locations.go,
// track.go, http.go (routes and handlers), templates/ and static/ (the board page).
package dispatch

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dotmac.dev/field/hub/postgres"
)

// NATS subjects of the live board (hub/live relays domain events onto them too).
const (
	SubjectTechnicians = "dmf.live.technicians"
)

// Fresh is how recent a live position must be for nearest technicians and tie-breaks.
const Fresh = 10 * time.Minute

// DefaultPingRetention is how long location pings are kept.
const DefaultPingRetention = 720 * time.Hour

// Service holds the dispatch logic on PostgreSQL + PostGIS.
type Service struct {
	DB     *postgres.DB
	Logger *slog.Logger
	// Publish sends a live message (NATS in the hub); nil drops them.
	Publish func(subject string, data []byte)
	// PublicURL is the base of customer links; empty uses the request's host.
	PublicURL string
	// PingRetention bounds how long pings are kept (DefaultPingRetention when zero).
	PingRetention time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
}

// NewService returns a service with defaults.
func NewService(db *postgres.DB, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{DB: db, Logger: logger, Now: time.Now, PingRetention: DefaultPingRetention}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) publish(subject string, v any) {
	if s.Publish == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.Publish(subject, b)
}

// querier is what pgxpool.Pool and pgx.Tx share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
