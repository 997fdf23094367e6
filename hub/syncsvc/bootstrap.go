package syncsvc

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the snapshot file format

	"dotmac.dev/field/hub"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/snapshot"
)

// SnapshotFormat names the layout of the bootstrap SQLite file, shared with the edge agent in
// sync/snapshot (PROTOCOL-NOTES.md, edge-agent/PROTOCOL.md §5).
const SnapshotFormat = snapshot.Format

// snapshotReuse is how long a technician's snapshot is handed out again instead of a new one.
const snapshotReuse = 30 * time.Second

// snapshotKeep is how long a snapshot file stays downloadable (for resumed downloads).
const snapshotKeep = 2 * time.Hour

// Snapshot is a bootstrap snapshot file on the hub: its description (snapshot.Info, the answer of
// GET /api/v1/sync/bootstrap; the file is GET /api/v1/sync/bootstrap/{id}) and where it lies.
type Snapshot struct {
	snapshot.Info
	path string
}

// tableOf returns the replica table of an entity (scope declaration).
func (s *Service) tableOf(entity string) string {
	if _, e, ok := s.Scope.FamilyOf(entity); ok {
		return e.Table
	}
	return entity
}

// Checksums computes the checksums of technician tech's scope per replica table, with the feed
// position they correspond to (taken before reading).
func (s *Service) Checksums(ctx context.Context, tech string) (uint64, []*checksum.Table, error) {
	head, err := s.head(ctx)
	if err != nil {
		return 0, nil, err
	}
	tables := map[string]*checksum.Table{}
	err = s.readScope(ctx, tech, nil, func(r scopeRow) error {
		name := s.tableOf(r.Entity)
		t := tables[name]
		if t == nil {
			t = checksum.New(name)
			tables[name] = t
		}
		t.Add(r.ID, r.Version)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return head, s.allTables(tables), nil
}

// allTables lists a table per replicated entity of the active families, empty ones included.
func (s *Service) allTables(m map[string]*checksum.Table) []*checksum.Table {
	var out []*checksum.Table
	for _, b := range s.Bindings {
		for _, src := range b.Sources {
			name := s.tableOf(src.Entity)
			t := m[name]
			if t == nil {
				t = checksum.New(name)
			}
			out = append(out, t)
		}
	}
	return out
}

// ChecksumRows returns the (id, version) rows of one replica table in the given buckets, for the
// device to diff (checksum.DiffRows) and repair only what differs.
func (s *Service) ChecksumRows(ctx context.Context, tech, table string, buckets []int) ([]checksum.Row, error) {
	entity := ""
	for _, b := range s.Bindings {
		for _, src := range b.Sources {
			if s.tableOf(src.Entity) == table {
				entity = src.Entity
			}
		}
	}
	if entity == "" {
		return nil, hub.Errorf(hub.ENOTFOUND, "no replicated table %q", table)
	}
	var all []checksum.Row
	err := s.readScope(ctx, tech, func(e string) bool { return e == entity }, func(r scopeRow) error {
		all = append(all, checksum.Row{ID: r.ID, Version: r.Version})
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows := checksum.InBuckets(all, buckets)
	if rows == nil {
		rows = []checksum.Row{}
	}
	return rows, nil
}

// Rows returns current downstream upserts of the given rows of technician tech's scope (ids not
// in scope are left out: the device drops them).
func (s *Service) Rows(ctx context.Context, tech, entity string, ids []string) ([]change.Change, error) {
	if _, _, ok := s.Scope.FamilyOf(entity); !ok {
		return nil, hub.Invalid(map[string]string{"entity": "unknown entity"})
	}
	if len(ids) == 0 || len(ids) > 5000 {
		return nil, hub.Invalid(map[string]string{"ids": "give between 1 and 5000 ids"})
	}
	out := []change.Change{}
	err := s.scopeRows(ctx, s.DB.Pool, s.activeBindings(ctx), tech, nil, map[string][]string{entity: ids}, func(r scopeRow) error {
		out = append(out, s.downChange(tech, r.Family, r.Entity, r.ID, change.OpUpsert, r.Version, r.Data))
		return nil
	})
	return out, err
}

func (s *Service) head(ctx context.Context) (uint64, error) {
	if s.down == nil {
		return 0, hub.Errorf(hub.EINTERNAL, "sync feed is not running")
	}
	c, err := s.down.Head(ctx)
	return uint64(c), err
}

// readScope reads a technician's whole scope in one repeatable-read snapshot.
func (s *Service) readScope(ctx context.Context, tech string, only func(entity string) bool, fn func(scopeRow) error) error {
	bindings := s.activeBindings(ctx)
	if only != nil {
		var bs []Binding
		for _, b := range bindings {
			c := b
			c.Sources = slices.DeleteFunc(slices.Clone(b.Sources), func(src Source) bool { return !only(src.Entity) })
			bs = append(bs, c)
		}
		bindings = bs
	}
	// Read-write only for the temporary tables of materialize; nothing else is written.
	tx, err := s.DB.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if bindings, err = materialize(ctx, tx, bindings, tech); err != nil {
		return err
	}
	if err := s.scopeRows(ctx, tx, bindings, tech, nil, nil, fn); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// materialize computes the shared CTEs (Binding.Materialize) of technician tech's whole scope
// once, each into a temporary table dropped at commit, and returns the bindings with their
// sources reading those tables instead of repeating the CTE (the fiber plant near the job
// sites is one spatial search for the four plant sources, not four).
func materialize(ctx context.Context, tx pgx.Tx, bindings []Binding, tech string) ([]Binding, error) {
	out := make([]Binding, len(bindings))
	for i, b := range bindings {
		out[i] = b
		for _, cte := range b.Materialize {
			used := false
			for _, src := range b.Sources {
				used = used || strings.Contains(src.SQL, cte.SQL)
			}
			if !used {
				continue
			}
			tmp := "sync_cte_" + cte.Name
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+tmp+` (`+cte.Columns+`) ON COMMIT DROP`); err != nil {
				return nil, fmt.Errorf("materialize %s: %w", cte.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+tmp+` `+woScope+cte.SQL+` SELECT * FROM `+cte.Name, tech, nil); err != nil {
				return nil, fmt.Errorf("materialize %s: %w", cte.Name, err)
			}
			if _, err := tx.Exec(ctx, `ANALYZE `+tmp); err != nil {
				return nil, fmt.Errorf("materialize %s: %w", cte.Name, err)
			}
			srcs := slices.Clone(out[i].Sources)
			for j := range srcs {
				srcs[j].SQL = strings.Replace(srcs[j].SQL, cte.SQL, ", "+cte.Name+" AS (SELECT * FROM pg_temp."+tmp+")\n", 1)
			}
			out[i].Sources = srcs
		}
	}
	return out, nil
}

// Bootstrap returns a snapshot of technician tech's scope, building one unless a fresh one exists.
func (s *Service) Bootstrap(ctx context.Context, tech string) (*Snapshot, error) {
	if s.snapDir == "" {
		return nil, hub.Errorf(hub.EINTERNAL, "no data directory for snapshots")
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if err := os.MkdirAll(s.snapDir, 0o750); err != nil {
		return nil, err
	}
	s.cleanSnapshots()
	if snap := s.latestSnapshot(tech); snap != nil && s.now().Sub(snap.CreatedAt) < snapshotReuse && s.feedHolds(ctx, uint64(snap.Cursor)) {
		return snap, nil
	}
	return s.BuildSnapshot(ctx, tech)
}

// BuildSnapshot writes a new snapshot file of technician tech's scope.
func (s *Service) BuildSnapshot(ctx context.Context, tech string) (*Snapshot, error) {
	head, err := s.head(ctx) // before reading: everything after it is in the feed
	if err != nil {
		return nil, err
	}
	created := s.now().UTC()
	tmp, err := os.CreateTemp(s.snapDir, "building-*.sqlite")
	if err != nil {
		return nil, err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)
	db, err := sql.Open("sqlite", "file:"+tmpPath+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=page_size(16384)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, snapshot.Schema); err != nil {
		return nil, err
	}
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()
	// Postgres produces rows while SQLite stores them: the scope is read on this goroutine and
	// written by another, in multi-row INSERTs (one statement per snapRowsPerInsert rows).
	tables := map[string]*checksum.Table{}
	entityOf := map[string]string{}
	var ledger []scopeRow
	n := 0
	batches := make(chan []scopeRow, 8)
	wrote := make(chan error, 1)
	go func() { wrote <- writeSnapshotRows(ctx, stx, batches) }()
	batch := make([]scopeRow, 0, snapRowsPerInsert)
	err = s.readScope(ctx, tech, nil, func(r scopeRow) error {
		batch = append(batch, r)
		if len(batch) == snapRowsPerInsert {
			batches <- batch // the writer drains batches even after an error
			batch = make([]scopeRow, 0, snapRowsPerInsert)
		}
		name := s.tableOf(r.Entity)
		t := tables[name]
		if t == nil {
			t = checksum.New(name)
			tables[name] = t
			entityOf[name] = r.Entity
		}
		t.Add(r.ID, r.Version)
		r.Data = nil
		ledger = append(ledger, r)
		n++
		return nil
	})
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	if werr := <-wrote; err == nil && werr != nil {
		err = fmt.Errorf("snapshot write: %w", werr)
	}
	if err != nil {
		return nil, err
	}
	list := s.allTables(tables)
	for _, t := range list {
		j, _ := json.Marshal(t)
		e := entityOf[t.Name]
		if _, err := stx.ExecContext(ctx, `INSERT INTO checksums VALUES (?, ?, ?, ?, ?)`, t.Name, e, int64(t.Count()), t.Digest(), string(j)); err != nil {
			return nil, err
		}
	}
	for k, v := range map[string]string{snapshot.MetaTechnician: tech, snapshot.MetaCursor: strconv.FormatUint(head, 10),
		snapshot.MetaCreatedAt: created.Format(time.RFC3339Nano), snapshot.MetaFormat: SnapshotFormat,
		snapshot.MetaSchemaVersion: strconv.Itoa(change.SchemaVersion), snapshot.MetaRows: strconv.Itoa(n)} {
		if _, err := stx.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?)`, k, v); err != nil {
			return nil, err
		}
	}
	if err := stx.Commit(); err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	sum, size, err := fileSHA256(tmpPath)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s-%d-%s", tech, head, sum[:12])
	snap := &Snapshot{Info: snapshot.Info{ID: id, Format: SnapshotFormat, TechnicianID: tech, Cursor: change.Cursor(head), Rows: n,
		Size: size, SHA256: sum, CreatedAt: created, URL: "/api/v1/sync/bootstrap/" + id, Tables: list}, path: filepath.Join(s.snapDir, id+".sqlite")}
	if err := os.Rename(tmpPath, snap.path); err != nil {
		return nil, err
	}
	meta, _ := json.Marshal(snap)
	if err := os.WriteFile(snap.path+".json", meta, 0o640); err != nil {
		return nil, err
	}
	s.metrics.bootstrapRows.Add(float64(n))
	// The feed now owes this technician changes relative to the snapshot: remember what it holds.
	go func() {
		pctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.DB.InTx(pctx, func(tx pgx.Tx) error { return upsertLedger(pctx, tx, tech, ledger) }); err != nil {
			s.Logger.Warn("scope ledger not primed", "technician_id", tech, "error", err)
		}
	}()
	return snap, nil
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// FindSnapshot returns a snapshot of technician tech by id.
func (s *Service) FindSnapshot(tech, id string) (*Snapshot, error) {
	if s.snapDir == "" || !strings.HasPrefix(id, tech+"-") || strings.ContainsAny(id, "/\\") || strings.Contains(id, "..") {
		return nil, hub.Errorf(hub.ENOTFOUND, "snapshot not found")
	}
	path := filepath.Join(s.snapDir, id+".sqlite")
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "snapshot not found (it may have expired: ask for a new one)")
	}
	var snap Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, err
	}
	snap.path = path
	return &snap, nil
}

func (s *Service) latestSnapshot(tech string) *Snapshot {
	matches, _ := filepath.Glob(filepath.Join(s.snapDir, tech+"-*.sqlite.json"))
	var best *Snapshot
	for _, m := range matches {
		id := strings.TrimSuffix(filepath.Base(m), ".sqlite.json")
		snap, err := s.FindSnapshot(tech, id)
		if err == nil && (best == nil || snap.CreatedAt.After(best.CreatedAt)) {
			best = snap
		}
	}
	return best
}

func (s *Service) cleanSnapshots() {
	entries, _ := os.ReadDir(s.snapDir)
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && s.now().Sub(info.ModTime()) > snapshotKeep {
			os.Remove(filepath.Join(s.snapDir, e.Name()))
		}
	}
}

// Open returns the snapshot file.
func (snap *Snapshot) Open() (*os.File, error) { return os.Open(snap.path) }

// entityOfTable returns the replicated entity stored in a replica table.
func (s *Service) entityOfTable(table string) string {
	for _, b := range s.Bindings {
		for _, src := range b.Sources {
			if s.tableOf(src.Entity) == table {
				return src.Entity
			}
		}
	}
	return ""
}

// snapRowsPerInsert is the number of rows per INSERT statement into a snapshot file.
const snapRowsPerInsert = 100

// writeSnapshotRows inserts the batches into the rows table of a snapshot file until batches is
// closed. It drains batches after an error so the reader never blocks.
func writeSnapshotRows(ctx context.Context, tx *sql.Tx, batches <-chan []scopeRow) error {
	full := "INSERT INTO rows (entity, id, family, version, root_id, data) VALUES (?, ?, ?, ?, ?, ?)" +
		strings.Repeat(", (?, ?, ?, ?, ?, ?)", snapRowsPerInsert-1)
	ins, err := tx.PrepareContext(ctx, full)
	if err != nil {
		for range batches {
		}
		return err
	}
	defer ins.Close()
	args := make([]any, 0, 6*snapRowsPerInsert)
	for b := range batches {
		if err != nil {
			continue
		}
		args = args[:0]
		for _, r := range b {
			var root any
			if r.Root != "" {
				root = r.Root
			}
			args = append(args, r.Entity, r.ID, r.Family, r.Version, root, string(r.Data))
		}
		if len(b) == snapRowsPerInsert {
			_, err = ins.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, "INSERT INTO rows (entity, id, family, version, root_id, data) VALUES (?, ?, ?, ?, ?, ?)"+
				strings.Repeat(", (?, ?, ?, ?, ?, ?)", len(b)-1), args...)
		}
	}
	return err
}

// SnapshotPageSize is the number of rows per snapshot page.
const SnapshotPageSize = 5000

// SnapshotPage is one page of GET /api/v1/sync/snapshot.
type SnapshotPage struct {
	SnapshotID string            `json:"snapshot_id"`
	Cursor     uint64            `json:"cursor"`
	TotalRows  int               `json:"total_rows"`
	Changes    []change.Change   `json:"changes"`
	Next       string            `json:"next"`
	Checksums  []*checksum.Table `json:"checksums,omitempty"`
}

// SnapshotPage returns the page after token of a snapshot of technician tech's scope ("" starts
// a snapshot). Pages come from one snapshot file, so every page has the same cursor and the
// whole is consistent; a token stays valid while the snapshot is kept (snapshotKeep).
func (s *Service) SnapshotPage(ctx context.Context, tech, token string, size int) (*SnapshotPage, error) {
	if size <= 0 {
		size = SnapshotPageSize
	}
	var snap *Snapshot
	var after int64
	var err error
	if token == "" {
		if snap, err = s.Bootstrap(ctx, tech); err != nil {
			return nil, err
		}
	} else {
		id, off, ok := strings.Cut(token, ":")
		if after, err = strconv.ParseInt(off, 10, 64); !ok || err != nil || after < 0 {
			return nil, hub.Invalid(map[string]string{"page": "not a page token of this hub"})
		}
		if snap, err = s.FindSnapshot(tech, id); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", "file:"+snap.path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT rowid, entity, id, family, version, data FROM rows WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, size+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := &SnapshotPage{SnapshotID: snap.ID, Cursor: uint64(snap.Cursor), TotalRows: snap.Rows, Changes: make([]change.Change, 0, size)}
	last := after
	more := false
	for rows.Next() {
		if len(p.Changes) == size {
			more = true
			break
		}
		var e, id, fam, data string
		var v int64
		if err := rows.Scan(&last, &e, &id, &fam, &v, &data); err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, s.downChange(tech, fam, e, id, change.OpUpsert, v, json.RawMessage(data)))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if more {
		p.Next = snap.ID + ":" + strconv.FormatInt(last, 10)
	} else {
		p.Checksums = snap.Tables
	}
	return p, nil
}

// ScopeRows reads technician tech's whole scope in one consistent snapshot, row by row
// (benchmarks and tools).
func (s *Service) ScopeRows(ctx context.Context, tech string, fn func(entity, id string, version int64, data []byte) error) error {
	return s.readScope(ctx, tech, nil, func(r scopeRow) error { return fn(r.Entity, r.ID, r.Version, r.Data) })
}

// DownFeed and UpFeed are the service's JetStream feeds (nil before Start).
func (s *Service) DownFeed() *jetstream.Feed { return s.down }

// UpFeed is the upload feed.
func (s *Service) UpFeed() *jetstream.Feed { return s.up }
