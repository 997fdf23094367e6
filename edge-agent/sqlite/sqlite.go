// Package sqlite is the edge agent's replica of the technician's scope, on modernc.org/sqlite
// (no cgo): the applier of downstream batches (a change.Store), the outbox, the field API's
// reads and writes (each write is data + outbox in one transaction), local credentials and
// sessions. The schema is migrations/sqlite.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dotmac.dev/field/migrations"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/scope"
)

// DB is the replica.
type DB struct {
	db       *sql.DB
	path     string
	blobsDir string

	// DeviceID and TechnicianID come from the credentials.
	DeviceID     string
	TechnicianID string
	// Registry maps entities to tables; scope.Default() when nil.
	Registry *scope.Registry
	// GateEnabled is the completion gate (field.completion_requires_evidence, default on).
	GateEnabled bool
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// Clock issues the device's hybrid logical timestamps.
	Clock *hlc.Clock
	// OnWrite, when set, is called after every committed local write (wakes the uploader).
	OnWrite func()
}

// Open opens (creating) the database at path with WAL, foreign keys and a busy timeout, and
// applies the migrations. Attachment content is kept under blobsDir.
func Open(ctx context.Context, path, blobsDir string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(blobsDir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(4)
	d := &DB{db: db, path: path, blobsDir: blobsDir, GateEnabled: true, Registry: scope.Default()}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Path is the database file.
func (d *DB) Path() string { return d.path }

// SQL exposes the handle (tests, diagnostics).
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func (d *DB) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *DB) clock() *hlc.Clock {
	if d.Clock == nil {
		d.Clock = hlc.New(cmpOr(d.DeviceID, "device"))
	}
	return d.Clock
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	ms, err := migrations.Load(migrations.SQLite(), false)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := d.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.Up); err != nil {
				return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, ts(d.now()))
			return err
		}); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	return nil
}

// inTx runs fn in one (immediate) transaction.
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ts formats a time as RFC 3339 UTC with microseconds (the hub's precision).
func ts(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano) }

// parseTime reads RFC 3339 in any of the spellings the hub or JSON may use.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Purge deletes the whole replica: the database files and every blob (revocation).
func Purge(path, blobsDir string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(blobsDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// state reads a sync_state value ("" when absent).
func state(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM sync_state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func setState(ctx context.Context, q querier, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// State reads a sync_state value.
func (d *DB) State(ctx context.Context, key string) (string, error) { return state(ctx, d.db, key) }

// SetState writes a sync_state value.
func (d *DB) SetState(ctx context.Context, key, value string) error {
	return setState(ctx, d.db, key, value)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// State keys.
const (
	StateLastSyncAt     = "last_sync_at"
	StateLastError      = "last_error"
	StateBootstrapPage  = "bootstrap_page"   // next page token of a bootstrap in progress
	StateBootstrapAt    = "bootstrap_cursor" // the snapshot's cursor
	StateBootstrapping  = "bootstrapping"    // "1" while a bootstrap is in progress
	StateBootstrapDone  = "bootstrap_done"   // "1" once the replica was bootstrapped
	StateBootstrapFile  = "bootstrap_file"   // the snapshot file being downloaded (snapshot.Info JSON)
	streamDown          = "down"
	resultEntity        = "upload_result"
	resultFamily        = "sync"
	workOrderEntity     = "work_order"
	workOrdersTable     = "work_orders"
	attachmentsTable    = "field_attachments"
	eventsTable         = "work_order_events"
	notesTable          = "work_order_notes"
	materialsTable      = "work_order_materials"
	surveyResponseTable = "survey_responses"
	fiberFeaturesTable  = "fiber_features"
)

// IsBusy reports whether err is SQLite's "database is locked" after the busy timeout: another
// transaction (a bootstrap or a reset rewriting the replica) held the write lock throughout.
func IsBusy(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}
