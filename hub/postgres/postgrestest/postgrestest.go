// Package postgrestest gives each test its own database, cloned from a template that holds every
// migration, PostGIS and the RBAC catalogue. Import it only from _test.go files.
//
// TEST_DATABASE_URL names the server (any database on it; `make test` sets it). Without it tests
// skip with a message, except under CI=true where they fail.
package postgrestest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/migrations"
)

var (
	tplOnce sync.Once
	tplName string
	tplErr  error
)

// ServerURL returns TEST_DATABASE_URL, skipping (or failing under CI) when unset.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set: run the tests with `make test`")
		}
		t.Skip("TEST_DATABASE_URL is not set: run `make test` to start PostgreSQL + PostGIS")
	}
	return u
}

func withDB(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func templateHash() string {
	h := sha256.New()
	ms, _ := migrations.Load(migrations.Postgres(), true)
	for _, m := range ms {
		fmt.Fprintf(h, "%d\n%s\n%s\n", m.Version, m.Up, m.Down)
	}
	h.Write([]byte(strings.Join(hub.Permissions, ",")))
	for _, r := range hub.SystemRoles {
		h.Write([]byte(r.Name + strings.Join(r.Permissions, ",")))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func ensureTemplate(ctx context.Context, server string) (string, error) {
	name := "dmf_tpl_" + templateHash()
	admin, err := pgx.Connect(ctx, withDB(server, "postgres"))
	if err != nil {
		return "", fmt.Errorf("postgrestest: connect: %w", err)
	}
	defer admin.Close(ctx)
	// Test binaries of several packages run at once: one builds the template, others wait.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7301002)`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(7301002)`)
	var ready bool
	err = admin.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&ready)
	if err == nil && ready {
		return name, nil
	}
	if err == nil { // a half-built template from a crashed run
		if _, err := admin.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			return "", err
		}
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("postgrestest: create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDB(server, name))
	if err != nil {
		return "", err
	}
	if err := postgres.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		return "", err
	}
	if err := postgres.SyncRBAC(ctx, pool); err != nil {
		pool.Close()
		return "", err
	}
	pool.Close()
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` WITH is_template = true ALLOW_CONNECTIONS = false`); err != nil {
		return "", err
	}
	return name, nil
}

// NewDatabase creates a fresh migrated database for t and returns its URL; it is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tplOnce.Do(func() { tplName, tplErr = ensureTemplate(ctx, server) })
	if tplErr != nil {
		t.Fatal(tplErr)
	}
	name := "dmf_t_" + strings.ReplaceAll(postgres.NewID(), "-", "")[:24]
	admin, err := pgx.Connect(ctx, withDB(server, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tplName); err != nil {
		t.Fatalf("postgrestest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), withDB(server, "postgres"))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return withDB(server, name)
}

// NewDB returns an open *postgres.DB on a fresh database.
func NewDB(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), NewDatabase(t), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// NewEmptyDatabase creates an empty database (no migrations) for migration tests.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	ctx := context.Background()
	name := "dmf_e_" + strings.ReplaceAll(postgres.NewID(), "-", "")[:24]
	admin, err := pgx.Connect(ctx, withDB(server, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), withDB(server, "postgres"))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return withDB(server, name)
}
