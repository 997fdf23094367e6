package natsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/snapshot"
)

// errNoFile means the snapshot file cannot be used (no data directory, a hub without it, a
// file of another format): the agent bootstraps from the paged JSON snapshot instead.
var errNoFile = errors.New("natsync: no snapshot file")

// ensureBootstrap runs (or resumes) a bootstrap when the replica has none: from the hub's
// snapshot file when it can, else from the paged JSON snapshot (PROTOCOL.md §5). Either way the
// replica then holds the snapshot's cursor, and its checksums are verified against the hub's.
func (c *Client) ensureBootstrap(ctx context.Context) error {
	done, err := c.DB.Bootstrapped(ctx)
	if err != nil {
		return err
	}
	if done {
		c.dropSnapshotFiles("") // a file applied just before a crash
		return nil
	}
	began := time.Now()
	from := "file"
	sums, rows, err := c.bootstrapFile(ctx)
	if errors.Is(err, errNoFile) {
		from = "pages"
		sums, rows, err = c.bootstrapPages(ctx)
	}
	if err != nil {
		return err
	}
	c.Logger.Info("bootstrap done", "from", from, keyCount, rows, "took", time.Since(began).Round(time.Millisecond).String())
	c.Wake() // uploads wait for the bootstrap
	if len(sums) > 0 {
		if err := c.repair(ctx, sums); err != nil {
			c.Logger.Warn("verification after bootstrap failed", keyErr, err)
		}
	}
	return nil
}

// bootstrapFile downloads the hub's snapshot file into Dir/bootstrap (resuming a download a crash
// interrupted) and applies it in one transaction. errNoFile sends the caller to the paged path.
func (c *Client) bootstrapFile(ctx context.Context) ([]*checksum.Table, int, error) {
	if c.Dir == "" {
		return nil, 0, errNoFile
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, agent.BootstrapDir), 0o700); err != nil {
		return nil, 0, fmt.Errorf("natsync: %w", err)
	}
	for attempt := 0; ; attempt++ {
		info, resumed, err := c.snapshotInfo(ctx)
		if err != nil {
			return nil, 0, err
		}
		c.dropSnapshotFiles(info.ID)
		path := c.snapshotPath(info.ID)
		err = c.Hub.DownloadSnapshot(ctx, *info, path)
		switch st := statusOf(err); {
		case st == 404 || st == 410:
			// The hub no longer keeps it (they expire): forget it and ask for a new one.
			c.forgetSnapshot(ctx, info.ID)
			if resumed && attempt == 0 {
				continue
			}
			c.Logger.Warn("the hub does not serve the snapshot file it announced; bootstrapping from the paged snapshot", "snapshot", info.ID)
			return nil, 0, errNoFile
		case errors.Is(err, ErrSnapshotCorrupt):
			c.forgetSnapshot(ctx, info.ID)
			return nil, 0, err
		case err != nil:
			c.checkAuth(err)
			return nil, 0, fmt.Errorf("natsync: snapshot file %s: %w", info.ID, err)
		}
		c.Logger.Info("applying the snapshot file", "snapshot", info.ID)
		res, err := c.DB.ApplySnapshotFile(ctx, path)
		switch {
		case errors.Is(err, sqlite.ErrSnapshotInvalid):
			c.forgetSnapshot(ctx, info.ID)
			c.Logger.Warn("the snapshot file is not usable here; bootstrapping from the paged snapshot", "snapshot", info.ID, keyErr, err)
			return nil, 0, errNoFile
		case err != nil && ctx.Err() == nil:
			// Whatever failed, the next attempt takes a fresh snapshot rather than this file again.
			c.forgetSnapshot(ctx, info.ID)
			return nil, 0, err
		case err != nil:
			return nil, 0, err
		}
		os.Remove(path)
		return res.Checksums, res.Rows, nil
	}
}

// snapshotInfo returns the snapshot file whose download is in progress (resumed true), or asks
// the hub for one and records it before the first byte is fetched.
func (c *Client) snapshotInfo(ctx context.Context) (info *snapshot.Info, resumed bool, err error) {
	if info, err = c.DB.SnapshotDownload(ctx); err != nil || info != nil {
		return info, info != nil, err
	}
	got, err := c.Hub.Bootstrap(ctx)
	switch st := statusOf(err); {
	case st == 404 || st == 405 || st == 410 || st == 501:
		c.Logger.Info("the hub serves no snapshot file; bootstrapping from the paged snapshot", "status", st)
		return nil, false, errNoFile
	case err != nil:
		c.checkAuth(err)
		return nil, false, fmt.Errorf("natsync: bootstrap: %w", err)
	}
	if got.Format != snapshot.Format || !fileID(got.ID) || len(got.SHA256) != 64 || got.Size <= 0 {
		c.Logger.Warn("the hub's snapshot file is not usable here; bootstrapping from the paged snapshot", "format", got.Format, "snapshot", got.ID)
		return nil, false, errNoFile
	}
	got.Tables = nil // the file holds them
	if err := c.DB.SetSnapshotDownload(ctx, &got); err != nil {
		return nil, false, err
	}
	c.Logger.Info("bootstrapping from a snapshot file", "snapshot", got.ID, "rows", got.Rows, "bytes", got.Size, keyCursor, uint64(got.Cursor))
	return &got, false, nil
}

// fileID reports whether a snapshot id can name a file in the bootstrap directory.
func fileID(id string) bool {
	if id == "" || len(id) > 200 || strings.HasPrefix(id, ".") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (c *Client) snapshotPath(id string) string {
	return filepath.Join(c.Dir, agent.BootstrapDir, id+".sqlite")
}

// forgetSnapshot drops a snapshot file and its download record.
func (c *Client) forgetSnapshot(ctx context.Context, id string) {
	if err := c.DB.SetSnapshotDownload(ctx, nil); err != nil {
		c.Logger.Warn("could not forget the snapshot download", keyErr, err)
	}
	os.Remove(c.snapshotPath(id))
}

// dropSnapshotFiles removes every file of the bootstrap directory but snapshot keep's.
func (c *Client) dropSnapshotFiles(keep string) {
	if c.Dir == "" {
		return
	}
	dir := filepath.Join(c.Dir, agent.BootstrapDir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if keep == "" || e.Name() != keep+".sqlite" {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// bootstrapPages bootstraps from the paged JSON snapshot, one transaction per page with the next
// page token, so it resumes after the page it last stored.
func (c *Client) bootstrapPages(ctx context.Context) ([]*checksum.Table, int, error) {
	page, _, err := c.DB.BootstrapProgress(ctx)
	if err != nil {
		return nil, 0, err
	}
	rows := 0
	for {
		p, err := c.Hub.Snapshot(ctx, page)
		switch st := statusOf(err); {
		case page == "" && (st == 404 || st == 405 || st == 501):
			// A hub without snapshots: replay the whole feed instead (its retention permitting).
			c.Logger.Warn("the hub serves no snapshot; bootstrapping from the start of the feed")
			return nil, 0, c.DB.ApplySnapshotPage(ctx, 0, nil, "")
		case st == 400 || st == 404 || st == 410 || st == 422:
			if page != "" { // the page token expired: start over
				if err := c.DB.RestartBootstrap(ctx); err != nil {
					return nil, 0, err
				}
				page = ""
				continue
			}
			return nil, 0, err
		case err != nil:
			c.checkAuth(err)
			return nil, 0, fmt.Errorf("natsync: snapshot: %w", err)
		}
		if err := c.DB.ApplySnapshotPage(ctx, p.Cursor, p.Changes, p.Next); err != nil {
			return nil, 0, err
		}
		rows += len(p.Changes)
		if p.Next == "" {
			return p.Checksums, rows, nil
		}
		page = p.Next
	}
}
