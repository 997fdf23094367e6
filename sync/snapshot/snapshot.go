// Package snapshot is the bootstrap snapshot file both sides agree on (edge-agent/PROTOCOL.md §5):
// a SQLite database the hub builds from one consistent read of a technician's scope, serves
// with Range, and the edge agent ATTACHes and copies into its replica in one transaction.
//
// The package names the layout only; it imports no SQLite driver. Write fills a database the
// caller opened (tests, benchmarks; the hub has a concurrent writer of its own).
package snapshot

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
)

// Format names the layout below; a file of another format is not applied.
const Format = "dmf-snapshot-1"

// Schema creates the three tables of a snapshot file:
//
//	meta(key, value)                                    the Meta* keys
//	rows(entity, id, family, version, root_id, data)    data is the row JSON, as in a downstream upsert
//	checksums(table_name, entity, count, digest, json)  json is a checksum.Table per replica table
const Schema = `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rows (entity TEXT NOT NULL, id TEXT NOT NULL, family TEXT NOT NULL, version INTEGER NOT NULL, root_id TEXT, data TEXT NOT NULL);
CREATE TABLE checksums (table_name TEXT PRIMARY KEY, entity TEXT NOT NULL, count INTEGER NOT NULL, digest TEXT NOT NULL, json TEXT NOT NULL);`

// Keys of the meta table.
const (
	MetaTechnician    = "technician_id"
	MetaCursor        = "cursor" // the DMF_DOWN head read before the scope: consume the feed after it
	MetaCreatedAt     = "created_at"
	MetaFormat        = "format"
	MetaSchemaVersion = "change_schema_version"
	MetaRows          = "rows"
)

// Info describes a snapshot file: the answer of GET /api/v1/sync/bootstrap. The file itself is
// GET URL (a path on the hub), with Range and If-Range (ETag: the SHA-256).
type Info struct {
	ID           string            `json:"id"`
	Format       string            `json:"format"`
	TechnicianID string            `json:"technician_id"`
	Cursor       change.Cursor     `json:"cursor"`
	Rows         int               `json:"rows"`
	Size         int64             `json:"size"`
	SHA256       string            `json:"sha256"`
	CreatedAt    time.Time         `json:"created_at"`
	URL          string            `json:"url"`
	Tables       []*checksum.Table `json:"tables,omitempty"`
}

// Row is one row of the rows table.
type Row struct {
	Entity  string
	ID      string
	Family  string
	Version int64
	RootID  string // "" is NULL
	Data    json.RawMessage
}

// Write creates the snapshot tables in db (an empty database) and fills them in one transaction.
// tables are the checksums per replica table; entityOf names the entity of each table.
func Write(ctx context.Context, db *sql.DB, tech string, cursor change.Cursor, rows []Row, tables []*checksum.Table, entityOf map[string]string) error {
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("snapshot: schema: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	count := len(rows)
	const per = 100
	for len(rows) > 0 {
		n := min(per, len(rows))
		args := make([]any, 0, 6*n)
		for _, r := range rows[:n] {
			var root any
			if r.RootID != "" {
				root = r.RootID
			}
			args = append(args, r.Entity, r.ID, r.Family, r.Version, root, string(r.Data))
		}
		q := `INSERT INTO rows (entity, id, family, version, root_id, data) VALUES (?, ?, ?, ?, ?, ?)` + strings.Repeat(", (?, ?, ?, ?, ?, ?)", n-1)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("snapshot: rows: %w", err)
		}
		rows = rows[n:]
	}
	for _, t := range tables {
		j, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checksums VALUES (?, ?, ?, ?, ?)`, t.Name, entityOf[t.Name], int64(t.Count()), t.Digest(), string(j)); err != nil {
			return fmt.Errorf("snapshot: checksums: %w", err)
		}
	}
	for k, v := range map[string]string{MetaTechnician: tech, MetaCursor: strconv.FormatUint(uint64(cursor), 10),
		MetaCreatedAt: time.Now().UTC().Format(time.RFC3339Nano), MetaFormat: Format,
		MetaSchemaVersion: strconv.Itoa(change.SchemaVersion), MetaRows: strconv.Itoa(count)} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?)`, k, v); err != nil {
			return fmt.Errorf("snapshot: meta: %w", err)
		}
	}
	return tx.Commit()
}
