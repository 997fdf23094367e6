package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func poles(from, n int) []string {
	out := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[30.%07d,40.5]},"properties":{"kind":"pole","name":"CLI-%06d"}}`, i, i))
	}
	return out
}

func collection(fs ...string) string {
	return `{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`
}

func TestFiberImportCommand(t *testing.T) {
	url := postgrestest.NewDatabase(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	count := func() int {
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM poles WHERE name LIKE 'CLI-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	hub := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		err = run(ctx, append([]string{"fiber-import", "--database-url", url, "--log-level", "error"}, args...), &o, &e)
		return o.String(), e.String(), err
	}

	t.Run("ImportsAllWithProgress", func(t *testing.T) {
		path := writeFile(t, "plant.geojson", collection(poles(0, 20000)...))
		out, errs, err := hub(path)
		if err != nil {
			t.Fatalf("%v\n%s", err, errs)
		}
		if !strings.Contains(out, "imported 20000 features") || !strings.Contains(out, "pole 20000") {
			t.Errorf("stdout: %q", out)
		}
		for _, want := range []string{"parsed 10000 features", "parsed 20000 features", "staged 10000 features", "inserted 20000 features"} {
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
		}
		if n := count(); n != 20000 {
			t.Fatalf("%d poles imported", n)
		}
	})

	t.Run("BadFeaturesImportNothing", func(t *testing.T) {
		fs := poles(30000, 3)
		fs = append(fs,
			`{"type":"Feature","geometry":{"type":"Point","coordinates":[200,40]},"properties":{"kind":"pole"}}`,
			`{"type":"Feature","geometry":{"type":"Point","coordinates":[30,40]},"properties":{"kind":"manhole"}}`)
		path := writeFile(t, "bad.geojson", collection(fs...))
		out, errs, err := hub(path)
		if err == nil || out != "" {
			t.Fatalf("want an error and no summary; err %v, stdout %q", err, out)
		}
		if !strings.Contains(err.Error(), "2 of 5 features are invalid; nothing was imported") {
			t.Errorf("error: %v", err)
		}
		if !strings.Contains(errs, "feature 3 (pole): ") || !strings.Contains(errs, "out of range") || !strings.Contains(errs, `feature 4 (manhole): unknown kind "manhole"`) {
			t.Errorf("stderr:\n%s", errs)
		}
		if n := count(); n != 20000 {
			t.Fatalf("a rejected file changed the plant: %d poles", n)
		}
	})

	t.Run("BadFiles", func(t *testing.T) {
		for name, args := range map[string][]string{
			"missing":  {filepath.Join(t.TempDir(), "nope.geojson")},
			"not json": {writeFile(t, "x.geojson", `{"type":"FeatureCollection","features":[`)},
			"no file":  {},
			"two":      {"a", "b"},
		} {
			if _, _, err := hub(args...); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}
