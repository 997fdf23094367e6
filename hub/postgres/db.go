// Package postgres implements the hub's services on PostgreSQL + PostGIS with pgx.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/migrations"
)

// DB wraps the pgx pool.
type DB struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	Now    func() time.Time
}

// Open connects and pings.
func Open(ctx context.Context, url string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return &DB{Pool: pool, Logger: slog.Default(), Now: time.Now}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// NewID returns a time-ordered UUIDv7 string.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

type txKey struct{}

// WithTx returns a context in which InTx runs fn in a savepoint of tx instead of a transaction
// of its own, so that several service calls commit together (the sync applier applies a
// device's upload batch in one transaction). tx must not be used concurrently.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFrom returns the transaction WithTx put in ctx.
func TxFrom(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	return tx, ok
}

// InTx runs fn in a transaction, committing when it returns nil. Within a context from WithTx
// it runs fn in a savepoint of that transaction: an error rolls back fn's writes only.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if outer, ok := TxFrom(ctx); ok {
		sp, err := outer.Begin(ctx)
		if err != nil {
			return err
		}
		defer sp.Rollback(ctx)
		if err := fn(sp); err != nil {
			return err
		}
		return sp.Commit(ctx)
	}
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// translate maps pg errors onto domain errors; others pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return hub.Errorf(hub.ENOTFOUND, "not found")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return hub.Errorf(hub.ECONFLICT, "%s already exists", constraintSubject(pe.ConstraintName))
		case "23503":
			return hub.Errorf(hub.EINVALID, "a referenced record does not exist (%s)", pe.ConstraintName)
		case "23514":
			return hub.Errorf(hub.EINVALID, "a value breaks a rule (%s)", pe.ConstraintName)
		case "22P02":
			return hub.Errorf(hub.EINVALID, "a value has the wrong format")
		}
	}
	return err
}

// Translate is translate for other packages of the hub that use the pool directly.
func Translate(err error) error { return translate(err) }

func constraintSubject(name string) string {
	name = strings.TrimSuffix(strings.TrimSuffix(name, "_key"), "_idx")
	if name == "" {
		return "record"
	}
	return strings.ReplaceAll(name, "_", " ")
}

// ValidUUID reports whether s is a UUID.
func ValidUUID(s string) bool { _, err := uuid.Parse(s); return err == nil }

// Migrate applies every pending up migration, each in its own transaction.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	ms, err := migrations.Load(migrations.Postgres(), true)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// One migrator at a time across hub replicas.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7301001)`); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7301001)`)
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if logger != nil {
			logger.Info("applying migration", "version", m.Version, "name", m.Name)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, m.Up); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("postgres: migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// MigrateDown rolls back the newest steps migrations (all of them when steps <= 0).
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, steps int) error {
	ms, err := migrations.Load(migrations.Postgres(), true)
	if err != nil {
		return err
	}
	byVersion := map[int]migrations.Migration{}
	for _, m := range ms {
		byVersion[m.Version] = m
	}
	rows, err := pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version DESC`)
	if err != nil {
		return err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return err
	}
	for i, v := range versions {
		if steps > 0 && i >= steps {
			break
		}
		m, ok := byVersion[v]
		if !ok {
			return fmt.Errorf("postgres: migrate down: no files for applied version %d", v)
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.Down); err != nil {
				return fmt.Errorf("postgres: migration %04d_%s down: %w", m.Version, m.Name, err)
			}
			_, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, v)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SyncRBAC upserts the permission catalogue and the system roles with their permission sets.
func SyncRBAC(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		all := append([]string{"*"}, hub.Permissions...)
		if _, err := tx.Exec(ctx, `INSERT INTO permissions (key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, all); err != nil {
			return err
		}
		for _, r := range hub.SystemRoles {
			var id string
			err := tx.QueryRow(ctx, `INSERT INTO roles (name, description, is_system) VALUES ($1, $2, true)
				ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, is_system = true RETURNING id`,
				r.Name, r.Description).Scan(&id)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM role_permissions WHERE role_id = $1 AND permission <> ALL($2)`, id, r.Permissions); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, id, r.Permissions); err != nil {
				return err
			}
		}
		return nil
	})
}

// NextNumber takes the next human number for key ("work_order" → "WO-000001").
func NextNumber(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, key, prefix string) (string, error) {
	var n int64
	var p string
	err := q.QueryRow(ctx, `INSERT INTO document_sequences (key, prefix, next_value) VALUES ($1, $2, 2)
		ON CONFLICT (key) DO UPDATE SET next_value = document_sequences.next_value + 1
		RETURNING next_value - 1, prefix`, key, prefix).Scan(&n, &p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%06d", p, n), nil
}
