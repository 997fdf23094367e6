package natsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/jetstream"
)

// uploadBatch is how many outbox entries one round reads.
const uploadBatch = 100

// upLoop uploads the outbox FIFO whenever there is something to send and NATS is connected.
func (c *Client) upLoop(ctx context.Context) {
	var feed *jetstream.Feed
	fails := 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		nc := c.nc.Load()
		if nc == nil || !nc.IsConnected() {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
			case <-tick.C:
			}
			continue
		}
		if feed == nil {
			var err error
			if feed, err = c.bind(ctx, *c.Up); err != nil {
				return
			}
		}
		if n, err := c.DB.RequeueUnanswered(ctx, c.ResendAfter); err == nil && n > 0 {
			c.Logger.Warn("uploads without an answer from the hub: sending them again", keyCount, n)
		}
		more, err := c.uploadOnce(ctx, feed)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			c.setErr(ctx, err)
			c.Logger.Warn("upload failed; backing off", keyErr, err, "attempt", fails)
			sleep(ctx, backoff(fails, c.MaxBackoff))
			continue
		}
		fails = 0
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-tick.C:
		}
	}
}

// uploadOnce uploads one round of pending entries in order: an attachment's content goes to the
// hub before the change that refers to it is published. A permanent refusal of content parks
// that entry; anything else stops the round to be retried (the order is kept).
func (c *Client) uploadOnce(ctx context.Context, feed *jetstream.Feed) (more bool, err error) {
	ups, err := c.DB.PendingUploads(ctx, uploadBatch)
	if err != nil || len(ups) == 0 {
		return false, err
	}
	// Nothing is published while a (re)bootstrap runs: the hub's answer could land before the
	// snapshot's cursor and never be seen (the entry would wait ResendAfter for nothing).
	// Checked after PendingUploads read the generation, so a reset in between makes MarkSent
	// keep the entries pending (and counted as re-sent).
	if done, err := c.DB.Bootstrapped(ctx); err != nil || !done {
		return false, err
	}
	var (
		changes []change.Change
		seqs    []int64
		salt    string // non-empty once an entry of the batch was published before
	)
	gen := ups[0].Generation
	flush := func() error {
		if len(changes) == 0 {
			return nil
		}
		err := c.publish(ctx, feed, changes, salt)
		c.Logger.Debug("published uploads", keyCount, len(changes), "resend", salt != "", "generation", gen, keyErr, err)
		if err != nil {
			_ = c.DB.MarkFailed(context.WithoutCancel(ctx), seqs, err.Error())
			return err
		}
		if err := c.DB.MarkSent(ctx, seqs, gen); err != nil {
			return err
		}
		c.setErr(ctx, nil)
		changes, seqs, salt = nil, nil, ""
		return nil
	}
	for _, u := range ups {
		if u.Kind == "attachment" && !u.BlobUploaded && u.BlobSHA256 != "" {
			if err := flush(); err != nil {
				return false, err
			}
			if err := c.uploadBlob(ctx, u); err != nil {
				var he *HTTPError
				if errors.As(err, &he) && he.Permanent() && !he.AuthFailed() {
					c.Logger.Warn("the hub refused an attachment: parked", keyRef, u.ClientRef, keyErr, err)
					if err := c.DB.Park(ctx, u.Seq, cmpOr(he.Code, "invalid"), cmpOr(he.Message, err.Error())); err != nil {
						return false, err
					}
					continue
				}
				c.checkAuth(err)
				_ = c.DB.MarkFailed(context.WithoutCancel(ctx), []int64{u.Seq}, err.Error())
				return false, err
			}
		}
		changes = append(changes, u.Change)
		seqs = append(seqs, u.Seq)
		if u.Resends > 0 {
			salt += fmt.Sprintf("%d:%d;", u.Seq, u.Resends)
		}
	}
	if err := flush(); err != nil {
		return false, err
	}
	return len(ups) == uploadBatch, nil
}

func (c *Client) uploadBlob(ctx context.Context, u sqlite.Upload) error {
	var meta struct {
		MIME string `json:"mime"`
	}
	_ = json.Unmarshal(u.Change.Data, &meta)
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.Hub.PutBlob(bctx, u.BlobSHA256, cmpOr(meta.MIME, "application/octet-stream"), c.DB.BlobPath(u.BlobSHA256)); err != nil {
		return err
	}
	return c.DB.MarkBlobUploaded(ctx, u.Seq)
}

// publish appends changes to the device's upstream feed, in order, split to fit NATS payloads.
// It returns once JetStream stored them.
func (c *Client) publish(ctx context.Context, feed *jetstream.Feed, changes []change.Change, salt string) error {
	maxBytes := 512 << 10
	if nc := c.nc.Load(); nc != nil && nc.MaxPayload() > 0 {
		maxBytes = int(min(nc.MaxPayload()/2, 4<<20))
	}
	batches, err := change.Split(changes, maxBytes)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if salt != "" { // a re-send: a new batch id, or the feed's duplicate window would drop it
			b.ID = change.BatchID(append([]change.Change{{ID: "resend:" + salt}}, b.Changes...))
		}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := feed.Publish(pctx, c.Creds.DeviceID, b)
		cancel()
		if err != nil {
			c.checkAuth(err)
			return fmt.Errorf("natsync: publish: %w", err)
		}
	}
	return nil
}
