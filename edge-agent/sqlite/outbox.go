package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"dotmac.dev/field/sync/change"
)

// Upload is an outbox entry waiting to be uploaded.
type Upload struct {
	Seq          int64
	ClientRef    string
	Kind         string
	Change       change.Change
	BlobSHA256   string
	BlobUploaded bool
	Attempts     int
	Resends      int
	// Generation is the reset generation when the entry was read (see MarkSent).
	Generation string
}

// PendingUploads returns up to limit entries to upload, oldest first.
func (d *DB) PendingUploads(ctx context.Context, limit int) ([]Upload, error) {
	gen, err := state(ctx, d.db, "reset_generation")
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT seq, client_ref, kind, payload, coalesce(blob_sha256, ''), blob_uploaded, attempts, resends
		FROM outbox WHERE status = 'pending' ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var (
			u       Upload
			payload string
		)
		if err := rows.Scan(&u.Seq, &u.ClientRef, &u.Kind, &payload, &u.BlobSHA256, &u.BlobUploaded, &u.Attempts, &u.Resends); err != nil {
			return nil, err
		}
		u.Generation = gen
		if err := json.Unmarshal([]byte(payload), &u.Change); err != nil {
			return nil, fmt.Errorf("sqlite: outbox %d: %w", u.Seq, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// MarkBlobUploaded records that an attachment's content is on the hub.
func (d *DB) MarkBlobUploaded(ctx context.Context, seq int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE outbox SET blob_uploaded = 1 WHERE seq = ?`, seq)
	return err
}

// MarkSent records that the feed stored these entries, unless a reset happened since they were
// read (generation): then they stay pending, to be published again after the new bootstrap.
// That publish already reached the feed under the old batch id, and the hub's answer to it may
// be behind the new snapshot's cursor (never seen): the entries count as re-sent, so the next
// publish gets a new batch id instead of being dropped by the feed's duplicate window.
func (d *DB) MarkSent(ctx context.Context, seqs []int64, generation string) error {
	if len(seqs) == 0 {
		return nil
	}
	ids := make([]any, 0, len(seqs))
	for _, s := range seqs {
		ids = append(ids, s)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		gen, err := state(ctx, tx, "reset_generation")
		if err != nil {
			return err
		}
		if gen != generation {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET resends = resends + 1
				WHERE status = 'pending' AND seq IN (`+placeholders(len(seqs))+`)`, ids...)
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL
			WHERE status = 'pending' AND seq IN (`+placeholders(len(seqs))+`)`, append([]any{ts(d.now())}, ids...)...)
		if err != nil {
			return err
		}
		return setState(ctx, tx, StateLastSyncAt, ts(d.now()))
	})
}

// RequeueUnanswered puts back to pending the entries sent longer than age ago that the hub has
// not answered (its answer may have been lost before a snapshot's cursor); they are published
// again under a new batch id and the hub answers the replay. Age is measured on the clock that
// stamped sent_at.
func (d *DB) RequeueUnanswered(ctx context.Context, age time.Duration) (int, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE outbox SET status = 'pending', resends = resends + 1 WHERE status = 'sent' AND sent_at < ?`, ts(d.now().Add(-age)))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// MarkFailed counts a failed attempt (a server or network error: retried later).
func (d *DB) MarkFailed(ctx context.Context, seqs []int64, msg string) error {
	for _, s := range seqs {
		if _, err := d.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?`, msg, s); err != nil {
			return err
		}
	}
	return nil
}

// Park sets an entry aside as a conflict (the hub refused it: a 4xx), keeping what was captured.
func (d *DB) Park(ctx context.Context, seq int64, code, msg string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		var woID string
		if err := tx.QueryRowContext(ctx, `SELECT work_order_id FROM outbox WHERE seq = ?`, seq).Scan(&woID); err != nil {
			return err
		}
		if err := d.park(ctx, tx, seq, code, msg, ""); err != nil {
			return err
		}
		return d.rebase(ctx, tx, map[string]bool{woID: true})
	})
}

// OutboxEntry is an outbox row as tests and diagnostics see it.
type OutboxEntry struct {
	Seq       int64
	ClientRef string
	Kind      string
	Status    string
	Attempts  int
	LastError string
}

// Outbox lists the outbox.
func (d *DB) Outbox(ctx context.Context) ([]OutboxEntry, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, client_ref, kind, status, attempts, coalesce(last_error, '') FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		if err := rows.Scan(&e.Seq, &e.ClientRef, &e.Kind, &e.Status, &e.Attempts, &e.LastError); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
