// Command edgebench measures the edge agent's replica on this machine (issue 5, "Measure"):
//
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
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
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
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
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

// fill bootstraps n rows (work orders, materials and the fiber plant in about the proportions of
// a technician's scope) into an empty replica through the agent's snapshot path, and returns the
// work order ids.
func fill(ctx context.Context, db *sqlite.DB, n int, progress string) ([]string, error) {
	rng := rand.New(rand.NewPCG(5, 9))
	nWO := max(n/40, 10)
	nMat := nWO * 5
	var wos []string
	page := make([]change.Change, 0, 5000)
	done, pageNo := 0, 0
	flush := func(last bool) error {
		next := ""
		if !last {
			pageNo++
			next = "p" + strconv.Itoa(pageNo)
		}
		if err := db.ApplySnapshotPage(ctx, 1, page, next); err != nil {
			return err
		}
		done += len(page)
		page = page[:0]
		if done%50_000 < 5000 || last {
			fmt.Fprintf(os.Stderr, "    %s: %d / %d rows\n", progress, done, n)
		}
		return nil
	}
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
		page = append(page, c)
		if len(page) == cap(page) && i < n-1 {
			if err := flush(false); err != nil {
				return nil, err
			}
		}
	}
	return wos, flush(true)
}

func benchOneChange(ctx context.Context, n, changes int) ([]row, error) {
	dir, err := os.MkdirTemp("", "edgebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, agent.DatabaseFile)
	db, err := sqlite.Open(ctx, path, filepath.Join(dir, agent.BlobsDir))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.DeviceID, db.TechnicianID = "bench-device", techID
	fmt.Fprintf(os.Stderr, "==> edge replica: %d rows, then %d single changes\n", n, changes)
	t0 := time.Now()
	wos, err := fill(ctx, db, n, "bootstrap")
	if err != nil {
		return nil, err
	}
	bootstrap := time.Since(t0)

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
	return []row{
		{name: fmt.Sprintf("edge: bootstrap of %d rows into an empty replica (snapshot pages of 5,000)", n),
			value: fmt.Sprintf("%.0f rows/s", float64(n)/bootstrap.Seconds()), baseline: bootstrap.Round(time.Millisecond).String() + " in all"},
		{name: fmt.Sprintf("edge: one change applied on a replica of %d rows, p99 (%d changes)", n, changes), value: ms(p(lat, 99)),
			baseline: "bare upsert p99 " + ms(p(base, 99)), ratio: fmt.Sprintf("%.2f", float64(p(lat, 99))/float64(p(base, 99))),
			target: "≤ 5 ms", met: met(p(lat, 99) <= 5*time.Millisecond)},
		{name: "edge: one change, p50", value: ms(p(lat, 50)), baseline: "bare upsert p50 " + ms(p(base, 50)),
			ratio: fmt.Sprintf("%.2f", float64(p(lat, 50))/float64(p(base, 50)))},
	}, nil
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
