package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

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
}

// PendingUploads returns up to limit entries to upload, oldest first.
func (d *DB) PendingUploads(ctx context.Context, limit int) ([]Upload, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, client_ref, kind, payload, coalesce(blob_sha256, ''), blob_uploaded, attempts
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
		if err := rows.Scan(&u.Seq, &u.ClientRef, &u.Kind, &payload, &u.BlobSHA256, &u.BlobUploaded, &u.Attempts); err != nil {
			return nil, err
		}
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

// MarkSent records that the feed stored these entries.
func (d *DB) MarkSent(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := []any{ts(d.now())}
	for _, s := range seqs {
		args = append(args, s)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL
			WHERE status = 'pending' AND seq IN (`+placeholders(len(seqs))+`)`, args...)
		if err != nil {
			return err
		}
		return setState(ctx, tx, StateLastSyncAt, ts(d.now()))
	})
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
