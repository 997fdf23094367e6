package workorder

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/outbox"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
	"dotmac.dev/field/sync/field"
)

// Service is the work order area on PostgreSQL. Every exported method opens its own
// transaction; changes to a work order bump its version and write a domain event in it.
type Service struct {
	DB *postgres.DB
	// DataDir holds attachments under DataDir/attachments (content-addressed by sha256).
	DataDir string
	// HashParams sets the password hashing cost of new technicians (tests use cheap ones).
	HashParams *secret.Params
	Logger     *slog.Logger
	// Now is the hub's clock (tests move it).
	Now func() time.Time

	list listCache // work-order list pages (listcache.go)
}

// NewService returns a Service.
func NewService(db *postgres.DB, dataDir string, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{DB: db, DataDir: dataDir, Logger: logger, Now: time.Now}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// MaterialsSource lists a job's materials for the field DTO (the inventory area registers it).
type MaterialsSource func(ctx context.Context, q Querier, workOrderID string) ([]field.Material, error)

// SurveySource returns a job's survey for the field DTO, or nil (the survey area registers it).
type SurveySource func(ctx context.Context, q Querier, workOrderID string) (*field.Survey, error)

// Querier is a pgx.Tx or the pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	sourcesMu sync.RWMutex
	materials MaterialsSource
	surveys   SurveySource
)

// RegisterMaterialsSource lets the inventory area fill field jobs' materials.
func RegisterMaterialsSource(fn MaterialsSource) {
	sourcesMu.Lock()
	materials = fn
	sourcesMu.Unlock()
}

// RegisterSurveySource lets the survey area fill field jobs' surveys.
func RegisterSurveySource(fn SurveySource) { sourcesMu.Lock(); surveys = fn; sourcesMu.Unlock() }

func materialsSource() MaterialsSource {
	sourcesMu.RLock()
	defer sourcesMu.RUnlock()
	return materials
}

func surveySource() SurveySource {
	sourcesMu.RLock()
	defer sourcesMu.RUnlock()
	return surveys
}

// writeEvent writes a work order domain event in tx.
func writeEvent(ctx context.Context, tx pgx.Tx, topic string, actorID string, p EventPayload) error {
	if p.Crew == nil {
		p.Crew = []string{}
	}
	return outbox.Write(ctx, tx, topic, "work_order", p.ID, actorID, p)
}

// queueEvents adds to b the work order domain events of topic, one per payload, in order (the
// rows writeEvent writes for each).
func queueEvents(b *pgx.Batch, topic, actorID string, ps []EventPayload) error {
	events := make([]outbox.Pending, len(ps))
	for i, p := range ps {
		if p.Crew == nil {
			p.Crew = []string{}
		}
		events[i] = outbox.Pending{Topic: topic, Entity: "work_order", EntityID: p.ID, ActorID: actorID, Payload: p}
	}
	return outbox.Queue(b, events)
}

// audit writes an audit_log row in tx.
func audit(ctx context.Context, tx pgx.Tx, actorID, action, targetType, targetID string, details map[string]any) error {
	var actor *string
	if actorID != "" {
		actor = &actorID
	}
	b, _ := json.Marshal(details)
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, details)
		VALUES ($1, coalesce((SELECT email::text FROM people WHERE id = $1), 'system'), $2, $3, $4, $5)`,
		actor, action, targetType, targetID, b)
	return err
}

// where builds a WHERE clause with numbered arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, v ...any) {
	for _, a := range v {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return strings.Join(w.conds, " AND ")
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func notFound(what string) error { return hub.Errorf(hub.ENOTFOUND, "%s not found", what) }
