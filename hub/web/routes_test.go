package web_test

import (
	"context"
	"strings"
	"testing"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
)

// TestRouteWalker fails when any route of the whole hub (every area wired by app) is neither
// guarded by a known permission nor declared public or signed-in.
func TestRouteWalker(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{})
	s := env.App.Server
	known := map[string]bool{}
	for _, p := range hub.Permissions {
		known[p] = true
	}
	routes := s.Engine.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	public := 0
	for _, r := range routes {
		a, ok := s.AccessOf(r.Method + " " + r.Path)
		switch {
		case !ok:
			t.Errorf("%s %s has no declared access", r.Method, r.Path)
		case a.Public:
			public++
		case a.SignedIn:
		case !known[a.Perm]:
			t.Errorf("%s %s uses permission %q, missing from hub.Permissions", r.Method, r.Path, a.Perm)
		}
		if strings.HasPrefix(r.Path, "/api/v1/field/") && !a.Public && !a.SignedIn && !strings.HasPrefix(a.Perm, "field:") {
			t.Errorf("%s %s is a field route guarded by a non-field permission %s", r.Method, r.Path, a.Perm)
		}
	}
	t.Logf("%d routes, %d public", len(routes), public)
	for _, role := range hub.SystemRoles {
		for _, p := range role.Permissions {
			if p != "*" && !known[p] {
				t.Errorf("role %s grants unknown permission %s", role.Name, p)
			}
		}
	}
}

func TestMigrations_UpDownUp(t *testing.T) {
	t.Parallel()
	url := postgrestest.NewEmptyDatabase(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() int {
		var n int
		db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN ('spatial_ref_sys', 'schema_migrations')`).Scan(&n)
		return n
	}
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatal(err)
	}
	up := count()
	if err := postgres.SyncRBAC(ctx, db.Pool); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateDown(ctx, db.Pool, 0); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d tables left after migrating all the way down", n)
	}
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != up || up < 10 {
		t.Fatalf("tables after up/down/up: %d, first up: %d", n, up)
	}
	// Idempotent: a second migrate applies nothing and fails nothing.
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatal(err)
	}
}
