package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/snapshot"
)

// SnapshotResult is what a bootstrap from a snapshot file applied.
type SnapshotResult struct {
	Cursor change.Cursor // the feed position the replica now resumes from
	Rows   int           // rows of the file in tables this agent knows
	// Checksums are the hub's, per replica table, as of Cursor (verify right after).
	Checksums []*checksum.Table
}

// ErrSnapshotInvalid is returned for a snapshot file that is not of this device's technician or
// not in snapshot.Format; the file should be dropped and a new one asked for.
var ErrSnapshotInvalid = errors.New("sqlite: not a usable snapshot file")

// ApplySnapshotFile bootstraps the replica from a snapshot file (sync/snapshot, its SHA-256
// verified by the caller): the file is attached read-only and every row the agent knows is copied
// in with one INSERT … SELECT per table, in ONE transaction with the downstream cursor the file
// carries, the end of any bootstrap in progress, the local overlays recomputed from the
// unacknowledged outbox, and the jobs that left the scope dropped. A crash at any point leaves
// the replica as it was before (the caller applies the file again), never half-applied.
//
// Upserts follow Apply's rules: a row is replaced only by a higher version or when it is a pending
// local copy, and the hub's copy of a row created here replaces the local one whatever its id.
func (d *DB) ApplySnapshotFile(ctx context.Context, path string) (SnapshotResult, error) {
	res, err := d.applySnapshotFile(ctx, path)
	if err != nil {
		return res, fmt.Errorf("sqlite: snapshot file: %w", err)
	}
	return res, nil
}

func (d *DB) applySnapshotFile(ctx context.Context, path string) (SnapshotResult, error) {
	var res SnapshotResult
	abs, err := filepath.Abs(path)
	if err != nil {
		return res, err
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	uri := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro"}).String()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS snap`, uri); err != nil {
		return res, fmt.Errorf("attach: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE snap`); err != nil {
			// A connection that cannot let go of the file must not go back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if res.Cursor, err = d.checkSnapshotMeta(ctx, conn); err != nil {
		return res, err
	}
	if res.Checksums, err = snapshotChecksums(ctx, conn); err != nil {
		return res, err
	}
	spans, err := snapshotSpans(ctx, conn)
	if err != nil {
		return res, err
	}
	// A bigger page cache for the copy: the replica's id and generated-column indexes take
	// inserts in hub order, and a miss costs a read from the WAL.
	var cache int64
	if err := conn.QueryRowContext(ctx, `PRAGMA main.cache_size`).Scan(&cache); err == nil {
		if _, err := conn.ExecContext(ctx, `PRAGMA main.cache_size = -32768`); err == nil {
			defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA main.cache_size = `+strconv.FormatInt(cache, 10))
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	if done, err := state(ctx, tx, StateBootstrapDone); err != nil || done == "1" {
		return res, err // bootstrapped meanwhile: nothing to do
	}
	for _, sp := range spans {
		table := d.tableOf(sp.entity)
		if table == "" {
			continue // a family this build does not know yet
		}
		if err := dropLocalCopies(ctx, tx, table, sp); err != nil {
			return res, fmt.Errorf("%s: %w", sp.entity, err)
		}
		if err := copySnapshotRows(ctx, tx, table, sp); err != nil {
			return res, fmt.Errorf("%s: %w", sp.entity, err)
		}
		res.Rows += sp.count
	}
	if err := d.setCursor(ctx, tx, streamDown, res.Cursor); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_state WHERE key IN (?, ?, ?)`, StateBootstrapPage, StateBootstrapAt, StateBootstrapFile); err != nil {
		return res, err
	}
	for k, v := range map[string]string{StateBootstrapping: "0", StateBootstrapDone: "1", StateLastSyncAt: ts(d.now())} {
		if err := setState(ctx, tx, k, v); err != nil {
			return res, err
		}
	}
	if err := d.rebaseAll(ctx, tx); err != nil {
		return res, err
	}
	if err := d.dropEvicted(ctx, tx); err != nil {
		return res, err
	}
	return res, tx.Commit()
}

// checkSnapshotMeta checks the file is a snapshot of this technician's scope and returns its cursor.
func (d *DB) checkSnapshotMeta(ctx context.Context, conn *sql.Conn) (change.Cursor, error) {
	rows, err := conn.QueryContext(ctx, `SELECT key, value FROM snap.meta`)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	meta := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return 0, err
		}
		meta[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if f := meta[snapshot.MetaFormat]; f != snapshot.Format {
		return 0, fmt.Errorf("%w: format %q, want %q", ErrSnapshotInvalid, f, snapshot.Format)
	}
	if tech := meta[snapshot.MetaTechnician]; d.TechnicianID != "" && tech != d.TechnicianID {
		return 0, fmt.Errorf("%w: the scope of technician %s, not %s", ErrSnapshotInvalid, tech, d.TechnicianID)
	}
	c, err := strconv.ParseUint(meta[snapshot.MetaCursor], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: cursor %q", ErrSnapshotInvalid, meta[snapshot.MetaCursor])
	}
	return change.Cursor(c), nil
}

func snapshotChecksums(ctx context.Context, conn *sql.Conn) ([]*checksum.Table, error) {
	rows, err := conn.QueryContext(ctx, `SELECT json FROM snap.checksums ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	defer rows.Close()
	var out []*checksum.Table
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, err
		}
		t := new(checksum.Table)
		if err := json.Unmarshal([]byte(j), t); err != nil {
			return nil, fmt.Errorf("%w: checksums: %v", ErrSnapshotInvalid, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// span is where an entity's rows are in the file: the hub writes an entity's rows together, so a
// copy reads only their rowid range instead of the whole file (the entity is checked still).
type span struct {
	entity   string
	from, to int64
	count    int
}

func snapshotSpans(ctx context.Context, conn *sql.Conn) ([]span, error) {
	rows, err := conn.QueryContext(ctx, `SELECT entity, min(rowid), max(rowid), count(*) FROM snap.rows GROUP BY entity ORDER BY min(rowid)`)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.entity, &s.from, &s.to, &s.count); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// spanWhere selects the rows of one entity of the file (snap.rows s), with ? for entity, from, to.
const spanWhere = `s.entity = ? AND s.rowid BETWEEN ? AND ?`

// dropLocalCopies deletes the replica's rows the file's rows replace under another id: an event
// by its client_event_id, a note or an attachment by its client_ref, the pending survey
// response of a job (as applyChange does for one change).
func dropLocalCopies(ctx context.Context, tx *sql.Tx, table string, sp span) error {
	var q string
	switch table {
	case eventsTable:
		q = `DELETE FROM work_order_events WHERE rowid IN (SELECT r.rowid FROM snap.rows s
			JOIN work_order_events r ON r.client_event_id = json_extract(s.data, '$.client_event_id')
			WHERE ` + spanWhere + ` AND r.id <> s.id)`
	case notesTable, attachmentsTable:
		q = `DELETE FROM ` + table + ` WHERE rowid IN (SELECT r.rowid FROM snap.rows s
			JOIN ` + table + ` r ON r.client_ref = json_extract(s.data, '$.client_ref')
			WHERE ` + spanWhere + ` AND r.id <> s.id)`
	case surveyResponseTable:
		q = `DELETE FROM survey_responses WHERE rowid IN (SELECT r.rowid FROM snap.rows s
			JOIN survey_responses r ON r.work_order_id = json_extract(s.data, '$.work_order_id')
			WHERE ` + spanWhere + ` AND r.pending = 1 AND r.id <> s.id AND r.work_order_id <> '')`
	default:
		return nil
	}
	_, err := tx.ExecContext(ctx, q, sp.entity, sp.from, sp.to)
	return err
}

// copySnapshotRows upserts one entity's rows of the file into its table.
func copySnapshotRows(ctx context.Context, tx *sql.Tx, table string, sp span) error {
	set := `version = excluded.version, data = excluded.data, pending = 0`
	switch table {
	case workOrdersTable:
		set += `, evicting = 0`
	case fiberFeaturesTable:
		set += `, min_lon = excluded.min_lon, min_lat = excluded.min_lat, max_lon = excluded.max_lon, max_lat = excluded.max_lat`
	}
	on := ` ON CONFLICT (id) DO UPDATE SET ` + set + ` WHERE excluded.version > ` + table + `.version OR ` + table + `.pending = 1`
	var q string
	if table == fiberFeaturesTable {
		if err := snapshotBoxes(ctx, tx, sp); err != nil {
			return err
		}
		q = `INSERT INTO fiber_features (id, version, data, pending, min_lon, min_lat, max_lon, max_lat)
			SELECT s.id, s.version, s.data, 0, b.min_lon, b.min_lat, b.max_lon, b.max_lat
			FROM snap.rows s LEFT JOIN temp.snapshot_boxes b ON b.rid = s.rowid WHERE ` + spanWhere + on
		if _, err := tx.ExecContext(ctx, q, sp.entity, sp.from, sp.to); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DROP TABLE temp.snapshot_boxes`)
		return err
	}
	q = `INSERT INTO ` + table + ` (id, version, data, pending) SELECT s.id, s.version, s.data, 0 FROM snap.rows s WHERE ` + spanWhere + on
	_, err := tx.ExecContext(ctx, q, sp.entity, sp.from, sp.to)
	return err
}

// boxesPerInsert rows go in one INSERT into temp.snapshot_boxes (5 parameters each).
const boxesPerInsert = 200

// snapshotBoxes computes the bounding box of every feature of the span from its geometry, as the
// page path does (rowBox), into temp.snapshot_boxes(rid, min_lon, min_lat, max_lon, max_lat) for
// the copy to join by rowid: one read of the rows, no JSON decoding in Go or SQL.
func snapshotBoxes(ctx context.Context, tx *sql.Tx, sp span) error {
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE snapshot_boxes (rid INTEGER PRIMARY KEY, min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL)`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.rowid, s.data FROM snap.rows s WHERE `+spanWhere, sp.entity, sp.from, sp.to)
	if err != nil {
		return err
	}
	type box struct {
		rid int64
		b   [4]float64
	}
	boxes := make([]box, 0, sp.count)
	var data sql.RawBytes
	for rows.Next() {
		var rid int64
		if err := rows.Scan(&rid, &data); err != nil {
			rows.Close()
			return err
		}
		if b, ok := rowBox(data); ok {
			boxes = append(boxes, box{rid, b})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	args := make([]any, 0, 5*boxesPerInsert)
	for len(boxes) > 0 {
		n := min(len(boxes), boxesPerInsert)
		args = args[:0]
		for _, b := range boxes[:n] {
			args = append(args, b.rid, b.b[0], b.b[1], b.b[2], b.b[3])
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO temp.snapshot_boxes VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", "), args...); err != nil {
			return err
		}
		boxes = boxes[n:]
	}
	return nil
}

// SnapshotDownload returns the snapshot file whose download is in progress (nil when none).
func (d *DB) SnapshotDownload(ctx context.Context) (*snapshot.Info, error) {
	v, err := state(ctx, d.db, StateBootstrapFile)
	if err != nil || v == "" {
		return nil, err
	}
	var info snapshot.Info
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return nil, nil // unreadable: start over
	}
	return &info, nil
}

// SetSnapshotDownload records the snapshot file being downloaded (nil forgets it), so a download
// resumes after a crash.
func (d *DB) SetSnapshotDownload(ctx context.Context, info *snapshot.Info) error {
	if info == nil {
		_, err := d.db.ExecContext(ctx, `DELETE FROM sync_state WHERE key = ?`, StateBootstrapFile)
		return err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return setState(ctx, d.db, StateBootstrapFile, string(b))
}
