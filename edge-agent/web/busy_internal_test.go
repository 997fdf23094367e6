package web

import (
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/field"
)

// busyError is a real SQLite "database is locked": a write while another connection holds the
// write lock (as a bootstrap's one transaction does), with no busy timeout to wait it out.
func busyError(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replica.sqlite")
	open := func(timeout string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout("+timeout+")")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	holder, writer := open("1000"), open("0")
	if _, err := holder.Exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO jobs VALUES ('held')`); err != nil {
		t.Fatal(err)
	}
	_, err = writer.Exec(`INSERT INTO jobs VALUES ('tap')`)
	if err == nil {
		t.Fatal("a second writer got the lock")
	}
	return err
}

// A write refused because the replica is busy (a bootstrap rewriting it) is a 503 with
// Retry-After, which the PWA's outbox retries with the same client id, not a 500.
func TestWriteError_BusyReplica(t *testing.T) {
	err := busyError(t)
	if !sqlite.IsBusy(err) {
		t.Fatalf("IsBusy(%v) = false", err)
	}
	if sqlite.IsBusy(io.EOF) || sqlite.IsBusy(nil) {
		t.Fatal("IsBusy of other errors")
	}
	s := &Server{Logger: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest(http.MethodPost, "/api/v1/field/jobs/x/notes", nil), err)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body field.ErrorResponse
	if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != "unavailable" || body.Error.Message == "" {
		t.Fatalf("body %s", rec.Body)
	}
	// Anything else unexpected is still a 500.
	rec = httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), io.ErrUnexpectedEOF)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("other error: %d", rec.Code)
	}
}
