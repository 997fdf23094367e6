// Command edgebench measures the edge agent's replica on this machine (issue 5, "Measure"):
//
//   - the bootstrap of an empty replica, device side (the bytes are there; what the tablet does
//     with them), two ways in the same run on the same generated scope: the paged JSON snapshot
//     (decode each page of 5,000 rows, sqlite.DB.ApplySnapshotPage) and the snapshot file
//     (SHA-256, sqlite.DB.ApplySnapshotFile: ATTACH + INSERT … SELECT in one transaction);
//   - one downstream change applied on a device that holds 500,000 rows (p50, p99), through the
//     agent's own apply path (sqlite.DB.Apply: the batch, the cursor, the version guard, the
//     rebase of a touched job), beside a bare single-row SQLite upsert in its own transaction on
//     the same file, in the same run;
//   - the resident memory of the real edge-agent binary (`edge-agent run`, offline: its hub and
//     NATS are unreachable, as in a basement) serving a 75,000-row replica after its API has been
//     exercised.
//
// It prints one table in the layout of hubbench. `make bench` runs it (scripts/bench.sh).
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"

	agent "dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/scope"
	"dotmac.dev/field/sync/snapshot"
)

type row struct{ name, value, baseline, ratio, target, met string }

func main() {
	rows := flag.Int("rows", 500_000, "rows in the replica for the one-change figure")
	changes := flag.Int("changes", 1000, "single changes applied (and as many bare upserts)")
	scope := flag.Int("scope", 75_000, "rows in the replica served by the real agent for the memory figure")
	agentBin := flag.String("agent", "bin/edge-agent", "the edge-agent binary for the memory figure (empty: skip)")
	quick := flag.Bool("quick", false, "a tenth of the data (a smoke run)")
	flag.Parse()
	if *quick {
		*rows, *changes, *scope = *rows/10, *changes/5, *scope/10
	}
	ctx := context.Background()
	var out []row
	r, err := benchOneChange(ctx, *rows, *changes)
	if err != nil {
		fail(err)
	}
	out = append(out, r...)
	if *agentBin != "" {
		r, err := benchAgentMemory(ctx, *agentBin, *scope)
		if err != nil {
			fail(err)
		}
		out = append(out, r...)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tvalue\tbaseline\tratio\ttarget\tmet")
	fmt.Fprintln(w, "------\t-----\t--------\t-----\t------\t---")
	for _, r := range out {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.value, dash(r.baseline), dash(r.ratio), dash(r.target), dash(r.met))
	}
	w.Flush()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "edgebench:", err)
	os.Exit(1)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

const techID = "01900000-0000-7000-8000-000000000001"

var clock = hlc.New("hub")

func down(entity, id string, version int64, data map[string]any) change.Change {
	data["id"] = id
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.Must(uuid.NewV7()).String(), Family: "x", Entity: entity, EntityID: id, Op: change.OpUpsert,
		Version: version, HLC: clock.Now(), Data: raw, SchemaVersion: change.SchemaVersion}
}

func workOrder(id string, i int, status string, version int64) change.Change {
	return down("work_order", id, version, map[string]any{"number": fmt.Sprintf("WO-%06d", i+1), "title": "Fiber install — new ONT",
		"status": status, "priority": "normal", "work_type": "install", "assigned_to": techID, "customer_id": uuid.NewString(),
		"site_address": fmt.Sprintf("%d Main St, Bozeman, MT", 100+i), "site_lat": 45.68, "site_lon": -111.04,
		"scheduled_start": time.Now().UTC().Add(time.Duration(i) * time.Hour).Format(time.RFC3339), "tags": []string{"fiber"}, "version": version})
}

func segment(rng *rand.Rand, id string, version int64) change.Change {
	lon, lat := -111.04+(rng.Float64()-0.5)*0.05, 45.68+(rng.Float64()-0.5)*0.05
	return down("fiber_feature", id, version, map[string]any{"kind": "segment", "name": "Drop " + id[len(id)-6:], "status": "active",
		"version": version, "segment_type": "drop", "cable_type": "single_mode", "fiber_count": 12, "length_m": 84.2,
		"geometry": map[string]any{"type": "LineString", "coordinates": [][2]float64{{lon, lat}, {lon + 0.0007, lat + 0.0004}, {lon + 0.0011, lat + 0.0009}}}})
}

func material(id, woID string, version int64) change.Change {
	return down("work_order_material", id, version, map[string]any{"work_order_id": woID, "item_id": uuid.NewString(), "sku": "DROP-12F",
		"name": "12F drop cable", "unit": "m", "quantity_required": 120, "quantity_reserved": 120, "quantity_used": 0, "status": "reserved"})
}

// genScope generates n rows of a technician's scope (work orders, their materials and the fiber
// plant around them, in about the proportions of a real one) in pages of 5,000, handing each to
// page, and returns the work order ids.
func genScope(n int, page func(p []change.Change, last bool) error) ([]string, error) {
	rng := rand.New(rand.NewPCG(5, 9))
	nWO := max(n/40, 10)
	nMat := nWO * 5
	var wos []string
	p := make([]change.Change, 0, 5000)
	for i := 0; i < n; i++ {
		var c change.Change
		switch {
		case i < nWO:
			id := uuid.Must(uuid.NewV7()).String()
			wos = append(wos, id)
			c = workOrder(id, i, "scheduled", 1)
		case i < nWO+nMat:
			c = material(uuid.Must(uuid.NewV7()).String(), wos[i%nWO], 1)
		default:
			c = segment(rng, uuid.Must(uuid.NewV7()).String(), int64(i))
		}
		p = append(p, c)
		if len(p) == cap(p) || i == n-1 {
			if err := page(p, i == n-1); err != nil {
				return nil, err
			}
			p = p[:0]
		}
	}
	return wos, nil
}

// fill bootstraps n generated rows into an empty replica through the agent's page path.
func fill(ctx context.Context, db *sqlite.DB, n int, progress string) ([]string, error) {
	done, pageNo := 0, 0
	return genScope(n, func(p []change.Change, last bool) error {
		next := ""
		if !last {
			pageNo++
			next = "p" + strconv.Itoa(pageNo)
		}
		if err := db.ApplySnapshotPage(ctx, 1, p, next); err != nil {
			return err
		}
		done += len(p)
		if done%50_000 < 5000 || last {
			fmt.Fprintf(os.Stderr, "    %s: %d / %d rows\n", progress, done, n)
		}
		return nil
	})
}

// prepareBootstrap writes the same generated scope of n rows twice, as the hub serves it: the
// paged JSON snapshot (one page per line of pages.jsonl) and the snapshot file (sync/snapshot).
func prepareBootstrap(ctx context.Context, dir string, n int) (pages, file string, wos []string, err error) {
	pages, file = filepath.Join(dir, "pages.jsonl"), filepath.Join(dir, "snapshot.sqlite")
	pf, err := os.Create(pages)
	if err != nil {
		return "", "", nil, err
	}
	defer pf.Close()
	bw := bufio.NewWriterSize(pf, 1<<20)
	enc := json.NewEncoder(bw)
	sdb, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=page_size(16384)")
	if err != nil {
		return "", "", nil, err
	}
	defer sdb.Close()
	sdb.SetMaxOpenConns(1)
	if _, err := sdb.ExecContext(ctx, snapshot.Schema); err != nil {
		return "", "", nil, err
	}
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		return "", "", nil, err
	}
	defer tx.Rollback()
	reg := scope.Default()
	sums, entityOf := map[string]*checksum.Table{}, map[string]string{}
	pageNo := 0
	wos, err = genScope(n, func(p []change.Change, last bool) error {
		pageNo++
		sp := natsync.SnapshotPage{Cursor: 1, Changes: p}
		if !last {
			sp.Next = "p" + strconv.Itoa(pageNo)
		}
		for _, c := range p {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rows (entity, id, family, version, data) VALUES (?, ?, ?, ?, ?)`,
				c.Entity, c.EntityID, c.Family, c.Version, string(c.Data)); err != nil {
				return err
			}
			_, e, _ := reg.FamilyOf(c.Entity)
			if sums[e.Table] == nil {
				sums[e.Table], entityOf[e.Table] = checksum.New(e.Table), c.Entity
			}
			sums[e.Table].Add(c.EntityID, c.Version)
		}
		if last {
			for _, t := range sums {
				sp.Checksums = append(sp.Checksums, t)
			}
		}
		return enc.Encode(sp)
	})
	if err != nil {
		return "", "", nil, err
	}
	for name, t := range sums {
		j, _ := json.Marshal(t)
		if _, err := tx.ExecContext(ctx, `INSERT INTO checksums VALUES (?, ?, ?, ?, ?)`, name, entityOf[name], int64(t.Count()), t.Digest(), string(j)); err != nil {
			return "", "", nil, err
		}
	}
	for k, v := range map[string]string{snapshot.MetaTechnician: techID, snapshot.MetaCursor: "1", snapshot.MetaFormat: snapshot.Format,
		snapshot.MetaRows: strconv.Itoa(n), snapshot.MetaCreatedAt: time.Now().UTC().Format(time.RFC3339Nano),
		snapshot.MetaSchemaVersion: strconv.Itoa(change.SchemaVersion)} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?)`, k, v); err != nil {
			return "", "", nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return "", "", nil, err
	}
	return pages, file, wos, bw.Flush()
}

// bootstrapPages is the device side of the paged bootstrap: decode each page, apply it.
func bootstrapPages(ctx context.Context, db *sqlite.DB, pages string) (int, error) {
	f, err := os.Open(pages)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	n := 0
	for {
		var p natsync.SnapshotPage
		if err := dec.Decode(&p); err != nil {
			return 0, err
		}
		if err := db.ApplySnapshotPage(ctx, p.Cursor, p.Changes, p.Next); err != nil {
			return 0, err
		}
		n += len(p.Changes)
		if p.Next == "" {
			return n, nil
		}
	}
}

// bootstrapFile is the device side of the file bootstrap: verify the SHA-256, apply the file.
func bootstrapFile(ctx context.Context, db *sqlite.DB, file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(sha256.New(), f) // the agent compares the sum with the hub's
	f.Close()
	if err != nil {
		return 0, err
	}
	res, err := db.ApplySnapshotFile(ctx, file)
	return res.Rows, err
}

func openReplica(ctx context.Context, dir, name string) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, filepath.Join(dir, name), filepath.Join(dir, agent.BlobsDir))
	if err != nil {
		return nil, err
	}
	db.DeviceID, db.TechnicianID = "bench-device", techID
	return db, nil
}

// benchBootstrap bootstraps two empty replicas from the same scope of n rows, device side only
// (what the tablet does once the bytes are there): by the paged JSON snapshot, then by the
// snapshot file. It returns the replica of the paged path, open.
func benchBootstrap(ctx context.Context, dir string, n int) (*sqlite.DB, []string, []row, error) {
	fmt.Fprintf(os.Stderr, "==> edge bootstrap: %d rows, paged JSON and snapshot file\n", n)
	pages, file, wos, err := prepareBootstrap(ctx, dir, n)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := openReplica(ctx, dir, agent.DatabaseFile)
	if err != nil {
		return nil, nil, nil, err
	}
	t0 := time.Now()
	np, err := bootstrapPages(ctx, db, pages)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("bootstrap pages: %w", err)
	}
	pageTook := time.Since(t0)
	fdb, err := openReplica(ctx, dir, "replica-file.db")
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	defer fdb.Close()
	t0 = time.Now()
	nf, err := bootstrapFile(ctx, fdb, file)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("bootstrap file: %w", err)
	}
	fileTook := time.Since(t0)
	if np != n || nf != n {
		db.Close()
		return nil, nil, nil, fmt.Errorf("bootstrap applied %d rows by pages, %d by the file, want %d", np, nf, n)
	}
	pageRate, fileRate := float64(n)/pageTook.Seconds(), float64(n)/fileTook.Seconds()
	return db, wos, []row{
		{name: fmt.Sprintf("edge: bootstrap of %d rows into an empty replica, paged JSON (pages of 5,000: decode + apply)", n),
			value: fmt.Sprintf("%.0f rows/s", pageRate), baseline: pageTook.Round(time.Millisecond).String() + " in all"},
		{name: fmt.Sprintf("edge: bootstrap of %d rows into an empty replica, snapshot file (SHA-256 + ATTACH + INSERT … SELECT, one tx)", n),
			value: fmt.Sprintf("%.0f rows/s", fileRate), baseline: fmt.Sprintf("%.0f rows/s paged JSON", pageRate),
			ratio: fmt.Sprintf("%.2f", fileRate/pageRate)},
	}, nil
}

func benchOneChange(ctx context.Context, n, changes int) ([]row, error) {
	dir, err := os.MkdirTemp("", "edgebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, wos, out, err := benchBootstrap(ctx, dir, n)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	path := db.Path()
	fmt.Fprintf(os.Stderr, "==> edge replica: %d rows, %d single changes\n", n, changes)

	// One change per batch, as the live feed delivers them when the tablet is online: a status
	// change of a job (rebases its local overlay) or a moved cable, in turn.
	rng := rand.New(rand.NewPCG(1, 3))
	lat := make([]time.Duration, 0, changes)
	seq := change.Cursor(2)
	for i := 0; i < changes; i++ {
		var c change.Change
		if i%2 == 0 {
			c = workOrder(wos[i%len(wos)], i%len(wos), []string{"scheduled", "dispatched"}[i/2%2], int64(2+i))
		} else {
			c = segment(rng, uuid.Must(uuid.NewV7()).String(), int64(n+i))
		}
		b := change.Batch{ID: change.BatchID([]change.Change{c}), Seq: seq, Changes: []change.Change{c}}
		seq++
		t := time.Now()
		if err := db.Apply(ctx, "down", b); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		lat = append(lat, time.Since(t))
	}

	// The baseline: a bare upsert of one row in its own transaction, on the same file.
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	base := make([]time.Duration, 0, changes)
	for i := 0; i < changes; i++ {
		c := segment(rng, uuid.Must(uuid.NewV7()).String(), int64(2*n+i))
		t := time.Now()
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fiber_features (id, version, data) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data`, c.EntityID, c.Version, string(c.Data)); err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		base = append(base, time.Since(t))
	}
	slices.Sort(lat)
	slices.Sort(base)
	p := func(ds []time.Duration, q int) time.Duration { return ds[len(ds)*q/100] }
	return append(out,
		row{name: fmt.Sprintf("edge: one change applied on a replica of %d rows, p99 (%d changes)", n, changes), value: ms(p(lat, 99)),
			baseline: "bare upsert p99 " + ms(p(base, 99)), ratio: fmt.Sprintf("%.2f", float64(p(lat, 99))/float64(p(base, 99))),
			target: "≤ 5 ms", met: met(p(lat, 99) <= 5*time.Millisecond)},
		row{name: "edge: one change, p50", value: ms(p(lat, 50)), baseline: "bare upsert p50 " + ms(p(base, 50)),
			ratio: fmt.Sprintf("%.2f", float64(p(lat, 50))/float64(p(base, 50)))},
	), nil
}

// benchAgentMemory starts the real agent, offline, on a replica of n rows, exercises its API and
// reads its resident set from /proc.
func benchAgentMemory(ctx context.Context, bin string, n int) ([]row, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the edge-agent binary %s: %w (go build -o bin/edge-agent ./edge-agent/cmd/edge-agent)", bin, err)
	}
	dir, err := os.MkdirTemp("", "edgebench-agent-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "==> edge agent memory: a %d-row replica, agent offline\n", n)
	db, err := sqlite.Open(ctx, filepath.Join(dir, agent.DatabaseFile), filepath.Join(dir, agent.BlobsDir))
	if err != nil {
		return nil, err
	}
	db.DeviceID, db.TechnicianID = "bench-device", techID
	if _, err := fill(ctx, db, n, "replica"); err != nil {
		db.Close()
		return nil, err
	}
	db.Close()
	// Unreachable hub and NATS (a closed port): the agent runs as it does without a signal.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	creds := agent.Credentials{DeviceID: "bench-device", TechnicianID: techID, HubURL: "http://" + deadAddr, NATSURL: "nats://" + deadAddr,
		NATSUser: "bench-device", NATSPassword: "x", EnrolledAt: time.Now().UTC()}
	if err := agent.SaveCredentials(dir, creds); err != nil {
		return nil, err
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "run", "-data", dir, "-listen", addr, "-log-level", "error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	var served int
	for {
		res, err := http.Get("http://" + addr + "/api/v1/sync/status")
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the agent did not answer on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Exercise what a technician's tablet asks of it: status, the app shell, the PWA assets.
	for i := 0; i < 50; i++ {
		for _, p := range []string{"/api/v1/sync/status", "/", "/app.js"} {
			if res, err := http.Get("http://" + addr + p); err == nil {
				res.Body.Close()
				served++
			}
		}
	}
	time.Sleep(2 * time.Second)
	rss, hwm, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	return []row{{name: fmt.Sprintf("edge agent RSS, offline, serving a %d-row replica (%d requests served)", n, served),
		value: fmt.Sprintf("%d MB (peak %d MB)", rss/1024, hwm/1024), target: "≤ 80 MB", met: met(hwm <= 80*1024)}}, nil
}

// procMemory reads VmRSS and VmHWM (kB) of pid.
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}
