package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/google/uuid"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
)

// woChildTables hold rows that belong to one work order (column work_order_id); they leave the
// replica with it.
var woChildTables = []string{
	"work_order_assignments", eventsTable, notesTable, attachmentsTable, "work_order_worklogs",
	materialsTable, surveyResponseTable, "wireless_site_surveys", "fiber_test_results",
}

var _ change.Store = (*DB)(nil)

// Cursor implements change.Store.
func (d *DB) Cursor(ctx context.Context, stream string) (change.Cursor, error) {
	return cursor(ctx, d.db, stream)
}

func cursor(ctx context.Context, q querier, stream string) (change.Cursor, error) {
	var c int64
	err := q.QueryRowContext(ctx, `SELECT cursor FROM cursors WHERE stream = ?`, stream).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: cursor: %w", err)
	}
	return change.Cursor(c), nil
}

func (d *DB) setCursor(ctx context.Context, tx *sql.Tx, stream string, c change.Cursor) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO cursors (stream, cursor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`, stream, int64(c), ts(d.now()))
	return err
}

// Apply implements change.Store: every change of b and the new cursor in one transaction.
// Upserts never regress a record (a version not above the held one is skipped), results of
// this device's uploads settle the outbox, and the local overlays of the touched jobs are
// recomputed from the unacknowledged outbox so the technician never sees their work undone.
func (d *DB) Apply(ctx context.Context, stream string, b change.Batch) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := cursor(ctx, tx, stream)
		if err != nil {
			return err
		}
		if b.Seq != 0 && b.Seq <= cur {
			return nil
		}
		touched := map[string]bool{}
		for _, c := range b.Changes {
			if err := d.applyChange(ctx, tx, c, touched, false); err != nil {
				return fmt.Errorf("change %s (%s %s): %w", c.ID, c.Entity, c.EntityID, err)
			}
		}
		if err := d.rebase(ctx, tx, touched); err != nil {
			return err
		}
		if err := d.dropEvicted(ctx, tx); err != nil {
			return err
		}
		if b.Seq != 0 {
			if err := d.setCursor(ctx, tx, stream, b.Seq); err != nil {
				return err
			}
		}
		return setState(ctx, tx, StateLastSyncAt, ts(d.now()))
	})
	if err != nil {
		return fmt.Errorf("sqlite: apply batch %d: %w", b.Seq, err)
	}
	return nil
}

// rowRefs are the members of Data the applier needs.
type rowRefs struct {
	WorkOrderID   string          `json:"work_order_id"`
	ClientRef     *string         `json:"client_ref"`
	ClientEventID *string         `json:"client_event_id"`
	Geometry      json.RawMessage `json:"geometry"`
}

// tableOf returns the replica table of entity, or "" for an entity this agent does not know.
func (d *DB) tableOf(entity string) string {
	if _, e, ok := d.Registry.FamilyOf(entity); ok {
		return e.Table
	}
	return ""
}

func (d *DB) knownTable(table string) bool { return slices.Contains(d.Registry.Tables(), table) }

// applyChange applies one downstream change. force (checksum repair) takes the hub's row even
// when its version is not above the held one.
func (d *DB) applyChange(ctx context.Context, tx *sql.Tx, c change.Change, touched map[string]bool, force bool) error {
	if c.Entity == resultEntity {
		return d.applyResult(ctx, tx, c, touched)
	}
	table := d.tableOf(c.Entity)
	if table == "" {
		return nil // a family this build does not know yet: skip, never block the feed
	}
	var refs rowRefs
	if len(c.Data) > 0 {
		_ = json.Unmarshal(c.Data, &refs)
	}
	if table == workOrdersTable {
		touched[c.EntityID] = true
	} else if refs.WorkOrderID != "" {
		touched[refs.WorkOrderID] = true
	}
	switch c.Op {
	case change.OpUpsert:
		if c.Data == nil {
			return errors.New("upsert without data")
		}
		// The hub's copy of a row created here replaces the local one, whatever its id.
		switch {
		case table == eventsTable && refs.ClientEventID != nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM work_order_events WHERE client_event_id = ? AND id <> ?`, *refs.ClientEventID, c.EntityID); err != nil {
				return err
			}
		case (table == notesTable || table == attachmentsTable) && refs.ClientRef != nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE client_ref = ? AND id <> ?`, *refs.ClientRef, c.EntityID); err != nil {
				return err
			}
		case table == surveyResponseTable && refs.WorkOrderID != "":
			if _, err := tx.ExecContext(ctx, `DELETE FROM survey_responses WHERE work_order_id = ? AND pending = 1 AND id <> ?`, refs.WorkOrderID, c.EntityID); err != nil {
				return err
			}
		}
		cond := `excluded.version > ` + table + `.version OR ` + table + `.pending = 1`
		if force {
			cond = `1`
		}
		extra := ""
		if table == workOrdersTable {
			extra = ", evicting = 0"
		}
		if table == fiberFeaturesTable {
			return upsertFeatures(ctx, tx, []change.Change{c}, force)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (id, version, data, pending) VALUES (?, ?, ?, 0)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data, pending = 0`+extra+` WHERE `+cond,
			c.EntityID, c.Version, string(c.Data))
		return err
	case change.OpDelete:
		if table == workOrdersTable {
			return d.deleteWorkOrder(ctx, tx, c.EntityID)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ? AND (version <= ? OR ?)`, c.EntityID, c.Version, force)
		return err
	case change.OpEvict:
		if table == workOrdersTable {
			_, err := tx.ExecContext(ctx, `UPDATE work_orders SET evicting = 1 WHERE id = ?`, c.EntityID)
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ? AND pending = 0`, c.EntityID)
		return err
	}
	return fmt.Errorf("unknown op %q", c.Op)
}

// deleteWorkOrder removes a job and every row that belongs to it.
func (d *DB) deleteWorkOrder(ctx context.Context, tx *sql.Tx, id string) error {
	for _, t := range woChildTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE work_order_id = ?`, id); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM work_orders WHERE id = ?`, id)
	return err
}

// dropEvicted deletes the jobs that left the scope once none of their uploads is outstanding.
func (d *DB) dropEvicted(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM work_orders WHERE evicting = 1 AND NOT EXISTS (
		SELECT 1 FROM outbox WHERE outbox.work_order_id = work_orders.id AND outbox.status IN ('pending', 'sent'))`)
	if err != nil {
		return err
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := d.deleteWorkOrder(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE work_order_id = ? AND status = 'acked'`, id); err != nil {
			return err
		}
	}
	return nil
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UploadResult is the data of an upload_result change (PROTOCOL.md section 4).
type UploadResult struct {
	DeviceID   string          `json:"device_id"`
	ChangeID   string          `json:"change_id"`
	ClientRef  string          `json:"client_ref"`
	Action     string          `json:"action"`
	EntityID   string          `json:"entity_id"`
	Status     string          `json:"status"` // applied | replayed | rejected
	HTTPStatus int             `json:"http_status"`
	Error      *ResultError    `json:"error,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Conflicts  []HubConflict   `json:"conflicts,omitempty"`
}

// ResultError says why the hub rejected an upload.
type ResultError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// HubConflict is a per-field conflict the hub resolved while applying an upload.
type HubConflict struct {
	ID          string          `json:"id"`
	Entity      string          `json:"entity"`
	EntityID    string          `json:"entity_id"`
	Field       string          `json:"field"`
	HubValue    json.RawMessage `json:"hub_value"`
	DeviceValue json.RawMessage `json:"device_value"`
	Winner      string          `json:"winner"`
}

// Upload result statuses.
const (
	ResultApplied  = "applied"
	ResultReplayed = "replayed"
	ResultRejected = "rejected"
)

func (d *DB) applyResult(ctx context.Context, tx *sql.Tx, c change.Change, touched map[string]bool) error {
	var r UploadResult
	if err := json.Unmarshal(c.Data, &r); err != nil {
		return nil // malformed: nothing to settle, never block the feed
	}
	if r.DeviceID != d.DeviceID || r.ClientRef == "" {
		return nil
	}
	var (
		seq          int64
		kind, woID   string
		status, data string
	)
	err := tx.QueryRowContext(ctx, `SELECT seq, kind, work_order_id, status, payload FROM outbox WHERE client_ref = ?`, r.ClientRef).
		Scan(&seq, &kind, &woID, &status, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	touched[woID] = true
	if status == "acked" || status == "conflict" {
		return nil
	}
	now := ts(d.now())
	switch r.Status {
	case ResultApplied, ResultReplayed:
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'acked', result = ?, acked_at = ?, last_error = NULL WHERE seq = ?`,
			string(c.Data), now, seq); err != nil {
			return err
		}
		for _, hc := range r.Conflicts {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO conflicts (id, outbox_seq, client_ref, entity, entity_id, field, device_value, hub_value, code, message, status, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'conflict', ?, 'resolved', ?)`,
				cmpOr(hc.ID, uuid.NewString()), seq, r.ClientRef, hc.Entity, hc.EntityID, hc.Field, string(hc.DeviceValue), string(hc.HubValue),
				"resolved on the hub: "+hc.Winner+" wins", now); err != nil {
				return err
			}
		}
	case ResultRejected:
		msg, code := "rejected by the hub", "invalid"
		if r.Error != nil {
			msg, code = cmpOr(r.Error.Message, msg), cmpOr(r.Error.Code, code)
			if len(r.Error.Fields) > 0 {
				f, _ := json.Marshal(r.Error.Fields)
				msg += " " + string(f)
			}
		}
		if err := d.park(ctx, tx, seq, code, msg, string(c.Data)); err != nil {
			return err
		}
	}
	return nil
}

// park marks an outbox entry as a conflict, keeping what was captured, and opens a local
// conflict for the technician.
func (d *DB) park(ctx context.Context, tx *sql.Tx, seq int64, code, msg, result string) error {
	var (
		kind, woID, ref, payload string
	)
	if err := tx.QueryRowContext(ctx, `SELECT kind, work_order_id, client_ref, payload FROM outbox WHERE seq = ?`, seq).
		Scan(&kind, &woID, &ref, &payload); err != nil {
		return err
	}
	now := ts(d.now())
	var res any
	if result != "" {
		res = result
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'conflict', last_error = ?, result = coalesce(?, result) WHERE seq = ?`, msg, res, seq); err != nil {
		return err
	}
	var up change.Change
	_ = json.Unmarshal([]byte(payload), &up)
	if _, err := tx.ExecContext(ctx, `INSERT INTO conflicts (id, outbox_seq, client_ref, entity, entity_id, field, device_value, code, message, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
		uuid.NewString(), seq, ref, workOrderEntity, woID, kind, string(orNull(up.Data)), code, msg, now); err != nil {
		return err
	}
	if kind == kindTransition {
		// The event did not happen on the hub: the job shows the hub's status again.
		if _, err := tx.ExecContext(ctx, `DELETE FROM work_order_events WHERE client_event_id = ? AND pending = 1`, ref); err != nil {
			return err
		}
	}
	return nil
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// rebase recomputes the local overlay of each touched job: the hub's rows as received, then
// this device's unacknowledged mutations replayed on top in their original order.
func (d *DB) rebase(ctx context.Context, tx *sql.Tx, touched map[string]bool) error {
	ids := make([]string, 0, len(touched))
	for id := range touched {
		if id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := d.rebaseJob(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) rebaseJob(ctx context.Context, tx *sql.Tx, woID string) error {
	for _, q := range []string{
		`UPDATE work_orders SET local = NULL WHERE id = ? AND local IS NOT NULL`,
		`UPDATE work_order_materials SET local = NULL WHERE work_order_id = ? AND local IS NOT NULL`,
		`UPDATE survey_responses SET local = NULL WHERE work_order_id = ? AND local IS NOT NULL`,
	} {
		if _, err := tx.ExecContext(ctx, q, woID); err != nil {
			return err
		}
	}
	// Only actions that feed an overlay are replayed: the rows a note or a photo created here stay
	// (pending) until the hub's copy replaces them, so replaying those would only cost time.
	rows, err := tx.QueryContext(ctx, `SELECT payload, coalesce(effect, '') FROM outbox WHERE work_order_id = ?
		AND status IN ('pending', 'sent') AND kind IN ('transition', 'consume', 'survey') ORDER BY seq`, woID)
	if err != nil {
		return err
	}
	type entry struct{ payload, effect string }
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.payload, &e.effect); err != nil {
			rows.Close()
			return err
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		var c change.Change
		if err := json.Unmarshal([]byte(e.payload), &c); err != nil {
			continue
		}
		// A mutation the hub's state no longer allows stays in the outbox for the hub to judge;
		// locally it just has no effect until then.
		_ = d.replay(ctx, tx, c, json.RawMessage(e.effect))
	}
	return nil
}

// RebaseAll recomputes the overlay of every job with unacknowledged uploads.
func (d *DB) RebaseAll(ctx context.Context) error {
	return d.inTx(ctx, func(tx *sql.Tx) error { return d.rebaseAll(ctx, tx) })
}

func (d *DB) rebaseAll(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT work_order_id FROM outbox WHERE status IN ('pending', 'sent')`)
	if err != nil {
		return err
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return err
	}
	touched := map[string]bool{}
	for _, id := range ids {
		touched[id] = true
	}
	return d.rebase(ctx, tx, touched)
}

// Reset drops the replica's hub rows and cursor but keeps the outbox and the rows this device
// created: the next bootstrap starts from scratch, and every unacknowledged upload goes back to
// pending to be replayed on top and uploaded again (the hub answers replays idempotently).
func (d *DB) Reset(ctx context.Context) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range d.Registry.Tables() {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE pending = 0`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET local = NULL WHERE local IS NOT NULL`); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM cursors`,
			`DELETE FROM sync_state WHERE key IN ('bootstrap_page', 'bootstrap_cursor', 'bootstrapping', 'bootstrap_done', 'bootstrap_file')`,
			`UPDATE outbox SET status = 'pending', resends = resends + 1 WHERE status = 'sent'`,
			// Uploads are published again under new batch ids, so the feed's duplicate window
			// cannot swallow them: the hub must see them to answer them again.
			`INSERT INTO sync_state (key, value) VALUES ('reset_generation', '1')
				ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: reset: %w", err)
	}
	return nil
}

// Bootstrapped reports whether a bootstrap completed (and none is in progress).
func (d *DB) Bootstrapped(ctx context.Context) (bool, error) {
	v, err := state(ctx, d.db, StateBootstrapDone)
	return v == "1", err
}

// BootstrapProgress returns the next page token of a bootstrap in progress ("" and false when none).
func (d *DB) BootstrapProgress(ctx context.Context) (page string, inProgress bool, err error) {
	v, err := state(ctx, d.db, StateBootstrapping)
	if err != nil || v != "1" {
		return "", false, err
	}
	page, err = state(ctx, d.db, StateBootstrapPage)
	return page, true, err
}

// ApplySnapshotPage applies one bootstrap page and records the next page token in the same
// transaction, so an interrupted bootstrap resumes where it stopped. The last page (next == "")
// sets the downstream cursor to the snapshot's and rebases pending work on top.
func (d *DB) ApplySnapshotPage(ctx context.Context, at change.Cursor, changes []change.Change, next string) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		going, err := state(ctx, tx, StateBootstrapping)
		if err != nil {
			return err
		}
		if going != "1" {
			if err := setState(ctx, tx, StateBootstrapping, "1"); err != nil {
				return err
			}
			if err := setState(ctx, tx, StateBootstrapAt, fmt.Sprint(uint64(at))); err != nil {
				return err
			}
			if err := setState(ctx, tx, StateBootstrapDone, "0"); err != nil {
				return err
			}
		}
		touched := map[string]bool{}
		for i := 0; i < len(changes); {
			if j := d.featureRun(changes, i); j > i {
				if err := upsertFeatures(ctx, tx, changes[i:j], false); err != nil {
					return fmt.Errorf("changes %s…: %w", changes[i].ID, err)
				}
				i = j
				continue
			}
			c := changes[i]
			if err := d.applyChange(ctx, tx, c, touched, false); err != nil {
				return fmt.Errorf("change %s: %w", c.ID, err)
			}
			i++
		}
		if err := setState(ctx, tx, StateBootstrapPage, next); err != nil {
			return err
		}
		if next != "" {
			return nil
		}
		var first uint64
		v, err := state(ctx, tx, StateBootstrapAt)
		if err != nil {
			return err
		}
		fmt.Sscan(v, &first)
		if err := d.setCursor(ctx, tx, streamDown, change.Cursor(first)); err != nil {
			return err
		}
		for k, v := range map[string]string{StateBootstrapping: "0", StateBootstrapDone: "1", StateLastSyncAt: ts(d.now())} {
			if err := setState(ctx, tx, k, v); err != nil {
				return err
			}
		}
		if err := d.rebaseAll(ctx, tx); err != nil {
			return err
		}
		return d.dropEvicted(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: bootstrap page: %w", err)
	}
	return nil
}

// RestartBootstrap forgets a bootstrap in progress (its page token was refused).
func (d *DB) RestartBootstrap(ctx context.Context) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM sync_state WHERE key IN ('bootstrap_page', 'bootstrap_cursor', 'bootstrapping')`)
	return err
}

// Checksums returns the checksum of every replicated table (rows from the hub only).
func (d *DB) Checksums(ctx context.Context) ([]*checksum.Table, error) {
	var out []*checksum.Table
	for _, t := range d.Registry.Tables() {
		rows, err := d.Rows(ctx, t, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, checksum.Compute(t, rows))
	}
	return out, nil
}

// Rows returns a table's hub rows (id, version), only those in buckets when buckets is not nil.
func (d *DB) Rows(ctx context.Context, table string, buckets []int) ([]checksum.Row, error) {
	if !d.knownTable(table) {
		return nil, fmt.Errorf("sqlite: unknown table %q", table)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, version FROM `+table+` WHERE pending = 0`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rows of %s: %w", table, err)
	}
	defer rows.Close()
	var out []checksum.Row
	for rows.Next() {
		var r checksum.Row
		if err := rows.Scan(&r.ID, &r.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if buckets != nil {
		out = checksum.InBuckets(out, buckets)
	}
	return out, nil
}

// Repair makes a table match the hub: it takes the fetched rows whatever their version and drops
// the ids the hub does not hold (rows created here and not yet uploaded are never dropped).
func (d *DB) Repair(ctx context.Context, table string, fetched []change.Change, drop []string) error {
	if !d.knownTable(table) {
		return fmt.Errorf("sqlite: unknown table %q", table)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		touched := map[string]bool{}
		for _, c := range fetched {
			if d.tableOf(c.Entity) != table {
				return fmt.Errorf("change %s is %s, not of table %s", c.ID, c.Entity, table)
			}
			if err := d.applyChange(ctx, tx, c, touched, true); err != nil {
				return err
			}
		}
		for _, id := range drop {
			if table == workOrdersTable {
				touched[id] = false
				if err := d.deleteWorkOrder(ctx, tx, id); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ? AND pending = 0`, id); err != nil {
				return err
			}
		}
		return d.rebase(ctx, tx, touched)
	})
	if err != nil {
		return fmt.Errorf("sqlite: repair %s: %w", table, err)
	}
	return nil
}

// bbox returns [minLon, minLat, maxLon, maxLat] of a GeoJSON geometry.
func bbox(geom json.RawMessage) ([4]float64, bool) {
	var g any
	if len(geom) == 0 || json.Unmarshal(geom, &g) != nil {
		return [4]float64{}, false
	}
	b := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if c, ok := x["coordinates"]; ok {
				walk(c)
			}
			if gs, ok := x["geometries"]; ok {
				walk(gs)
			}
		case []any:
			if len(x) >= 2 {
				lon, ok1 := x[0].(float64)
				lat, ok2 := x[1].(float64)
				if ok1 && ok2 {
					b[0], b[1] = min(b[0], lon), min(b[1], lat)
					b[2], b[3] = max(b[2], lon), max(b[3], lat)
					found = true
					return
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(g)
	return b, found
}

// featureRun returns the end of the run of fiber feature upserts that starts at i (i itself when
// changes[i] is something else).
func (d *DB) featureRun(changes []change.Change, i int) int {
	j := i
	for j < len(changes) && changes[j].Op == change.OpUpsert && changes[j].Data != nil && d.tableOf(changes[j].Entity) == fiberFeaturesTable {
		j++
	}
	return j
}

// featureChunk rows go in one INSERT (8 parameters each, far under SQLite's limit).
const featureChunk = 100

// upsertFeatures writes fiber feature upserts many rows per statement, each with its bounding
// box: a row is replaced only by a higher version, or when it is a pending local edit (force,
// for checksum repair, takes the hub's row whatever it holds).
// The plant is most of a technician's scope, so this is most of a bootstrap.
func upsertFeatures(ctx context.Context, tx *sql.Tx, cs []change.Change, force bool) error {
	cond := `excluded.version > fiber_features.version OR fiber_features.pending = 1`
	if force {
		cond = `1`
	}
	for len(cs) > 0 {
		n := min(len(cs), featureChunk)
		var q strings.Builder
		q.WriteString(`INSERT INTO fiber_features (id, version, data, pending, min_lon, min_lat, max_lon, max_lat) VALUES `)
		args := make([]any, 0, n*7)
		for k, c := range cs[:n] {
			if k > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, 0, ?, ?, ?, ?)")
			var refs rowRefs
			_ = json.Unmarshal(c.Data, &refs)
			var box [4]any
			if b, ok := bbox(refs.Geometry); ok {
				box = [4]any{b[0], b[1], b[2], b[3]}
			}
			args = append(args, c.EntityID, c.Version, string(c.Data), box[0], box[1], box[2], box[3])
		}
		q.WriteString(` ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data, pending = 0,
			min_lon = excluded.min_lon, min_lat = excluded.min_lat, max_lon = excluded.max_lon, max_lat = excluded.max_lat
			WHERE ` + cond)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		cs = cs[n:]
	}
	return nil
}
