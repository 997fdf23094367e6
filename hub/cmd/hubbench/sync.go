package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"

	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/hub/workorder"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
)

func init() { register("sync", benchSync) }

var (
	syncDevices = flag.Int("sync-devices", 0, "sync: simulated devices for the propagation figure (0: 1,000, or 20 with -quick)")
	syncRate    = flag.Int("sync-rate", 0, "sync: office changes per second for the propagation figure (0: 200, or 50 with -quick)")
	syncSecs    = flag.Int("sync-secs", 0, "sync: seconds of changes for the propagation figure (0: 10, or 3 with -quick)")
	syncTrace   = flag.Bool("sync-trace", false, "sync: print propagation p50/p99/max per half second of changes (where a tail comes from)")
	syncPhases  = flag.String("sync-phases", "bootstrap,reconnect,propagation", "sync: the phases to run (comma-separated)")
)

// phase reports whether the sync phase name was asked for by -sync-phases.
func phase(name string) bool { return slices.Contains(strings.Split(*syncPhases, ","), name) }

// benchSync measures the hub side of the offline sync (issue 5 "Measure"):
//   - bootstrap of one technician's ~75k-row scope into an empty SQLite replica, by the ready
//     SQLite snapshot file and by the paged JSON snapshot, beside the naive pipeline (rows read
//     from Postgres, one JetStream message each, upserted into SQLite in 1,000-row transactions)
//     in the same run;
//   - propagation, office commit → device SQLite commit, with simulated devices;
//   - reconnect with 1,000 queued mutations: applied on the hub and acknowledged;
//   - the process RSS (hub + embedded NATS + the simulated devices).
func benchSync(ctx context.Context, e *Env) ([]Row, error) {
	h, closeHub, err := e.NewHub(ctx, "sync", true, nil)
	if err != nil {
		return nil, err
	}
	defer closeHub()
	var svc *syncsvc.Service
	for _, a := range h.App.Server.Areas {
		if sa, ok := a.(*syncsvc.Area); ok {
			svc = sa.Svc
		}
	}
	if svc == nil {
		return nil, fmt.Errorf("the sync area is not wired")
	}
	var tech string
	if err := h.DB.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'tech1@example.com'`).Scan(&tech); err != nil {
		return nil, err
	}
	scale := 1
	if e.Quick {
		scale = 10
	}
	dir, _ := os.MkdirTemp("", "syncbench-")
	defer os.RemoveAll(dir)
	var out []Row
	if phase("bootstrap") {
		rows, err := bootstrapRows(ctx, e, h, svc, tech, dir, scale)
		if err != nil {
			return out, err
		}
		out = append(out, rows...)
	}
	if phase("reconnect") {
		// Reconnect with 1,000 queued mutations, measured before the propagation figure's
		// simulated devices connect.
		fmt.Fprintln(e.Log, "sync: reconnect with 1,000 queued mutations …")
		d, err := reconnect(ctx, h, svc, 1000)
		if err != nil {
			return out, fmt.Errorf("reconnect: %w", err)
		}
		out = append(out, Row{Name: "sync reconnect: 1,000 queued mutations applied and acknowledged", Value: Ms(d), Target: "≤ 3000 ms", OK: Met(d <= 3*time.Second)})
	}
	if !phase("propagation") {
		return out, nil
	}

	// 5. Propagation with simulated devices.
	devices, rate, secs := 1000, 200, 10
	if e.Quick {
		devices, rate, secs = 20, 50, 3
	}
	if *syncSecs > 0 {
		secs = *syncSecs
	}
	if *syncDevices > 0 {
		devices = *syncDevices
	}
	if *syncRate > 0 {
		rate = *syncRate
	}
	fmt.Fprintf(e.Log, "sync: propagation with %d devices at %d changes/s …\n", devices, rate)
	p50, p99, got, made, err := propagation(ctx, h, svc, dir, devices, rate, secs)
	if err != nil {
		return out, fmt.Errorf("propagation: %w", err)
	}
	out = append(out,
		Row{Name: fmt.Sprintf("sync propagation p50, commit → device SQLite (%d devices, %d/s, %d of %d changes arrived)", devices, rate, got, made), Value: Ms(p50),
			Baseline: "6 ms ElectricSQL", Ratio: Ratio(6, float64(p50.Microseconds())/1000), Target: "≤ 10 ms, all arrive", OK: Met(p50 <= 10*time.Millisecond && got == made)},
		Row{Name: "sync propagation p99", Value: Ms(p99), Target: "≤ 100 ms", OK: Met(p99 <= 100*time.Millisecond)},
	)

	out = append(out, Row{Name: fmt.Sprintf("sync hub + NATS + %d simulated devices RSS", devices), Value: rss()})
	return out, nil
}

// bootstrapRows measures the bootstrap of one technician's scope, three ways in the same run.
func bootstrapRows(ctx context.Context, e *Env, h *Hub, svc *syncsvc.Service, tech, dir string, scale int) ([]Row, error) {
	fmt.Fprintln(e.Log, "sync: generating the scope …")
	if _, err := seedScope(ctx, h, tech, 2000/scale); err != nil {
		return nil, err
	}
	dev, err := benchDevice(ctx, svc, tech, "bench-bootstrap")
	if err != nil {
		return nil, err
	}
	var out []Row
	// 1. Bootstrap by the SQLite snapshot file.
	fmt.Fprintln(e.Log, "sync: bootstrap (snapshot file) …")
	t0 := time.Now()
	n, err := bootstrapFile(ctx, h.URL, dev, filepath.Join(dir, "replica-file.sqlite"))
	if err != nil {
		return nil, fmt.Errorf("bootstrap file: %w", err)
	}
	fileRate := float64(n) / time.Since(t0).Seconds()

	// 2. Bootstrap by the paged JSON snapshot (edge-agent/PROTOCOL.md §5).
	fmt.Fprintln(e.Log, "sync: bootstrap (paged JSON) …")
	t0 = time.Now()
	n2, err := bootstrapPages(ctx, h.URL, dev, filepath.Join(dir, "replica-pages.sqlite"))
	if err != nil {
		return nil, fmt.Errorf("bootstrap pages: %w", err)
	}
	pageRate := float64(n2) / time.Since(t0).Seconds()

	// 3. The naive pipeline.
	fmt.Fprintln(e.Log, "sync: naive pipeline …")
	t0 = time.Now()
	n3, err := naivePipeline(ctx, h, svc, tech, filepath.Join(dir, "replica-naive.sqlite"))
	if err != nil {
		return nil, fmt.Errorf("naive: %w", err)
	}
	naiveRate := float64(n3) / time.Since(t0).Seconds()
	out = append(out,
		Row{Name: fmt.Sprintf("sync bootstrap, SQLite snapshot file (%d rows)", n), Value: fmt.Sprintf("%.0f rows/s", fileRate),
			Baseline: fmt.Sprintf("%.0f rows/s naive", naiveRate), Ratio: Ratio(fileRate, naiveRate), Target: "≥ 25000 and ≥ 2×",
			OK: Met(fileRate >= 25000 && fileRate >= 2*naiveRate)},
		// The agent's fallback when the hub cannot hand out a file (edge-agent/PROTOCOL.md §5).
		Row{Name: fmt.Sprintf("sync bootstrap, paged JSON snapshot, the fallback (%d rows)", n2), Value: fmt.Sprintf("%.0f rows/s", pageRate),
			Baseline: fmt.Sprintf("%.0f rows/s naive", naiveRate), Ratio: Ratio(pageRate, naiveRate), Target: "reported"},
		Row{Name: fmt.Sprintf("sync bootstrap, naive pipeline (%d rows)", n3), Value: fmt.Sprintf("%.0f rows/s", naiveRate), Baseline: "11000 rows/s (issue)"},
	)
	return out, nil
}

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

// seedScope gives tech n jobs, each with a customer, a site, 5 notes (the stand-in for the
// 10,000 material lines until the inventory family lands) and 28 events (the stand-in for the
// survey rows and the 60,000 fiber objects), about 37 rows per job.
func seedScope(ctx context.Context, h *Hub, tech string, n int) (int, error) {
	for _, q := range []string{
		`INSERT INTO customers (number, name, email, phone, address) SELECT 'BC-'||g, 'Bench customer '||g, 'bc'||g||'@example.com', '+1 406 555 '||g, g||' Main St, Bozeman' FROM generate_series(1, $2) g WHERE $1::uuid IS NOT NULL`,
		`INSERT INTO sites (customer_id, address, geom) SELECT id, address, ST_SetSRID(ST_MakePoint(-111.08 + random() * 0.08, 45.64 + random() * 0.07), 4326) FROM customers WHERE number LIKE 'BC-%'`,
		`INSERT INTO work_orders (number, title, description, status, work_type, customer_id, site_id, assigned_to, scheduled_start, scheduled_end, access_notes)
		 SELECT 'BWO-'||row_number() OVER (), 'Fiber install', 'Install ONT and drop cable; test light levels', 'scheduled', 'install', s.customer_id, s.id, $1,
		        now() + interval '1 hour', now() + interval '3 hours', 'Gate code 4821'
		   FROM sites s JOIN customers c ON c.id = s.customer_id WHERE c.number LIKE 'BC-%'`,
		`INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary) SELECT id, $1, 'primary', true FROM work_orders WHERE number LIKE 'BWO-%'`,
		`INSERT INTO work_order_notes (work_order_id, author_id, body) SELECT w.id, $1, 'Material line '||g||': drop cable 30 m, SC/APC connector x2' FROM work_orders w, generate_series(1, 5) g WHERE w.number LIKE 'BWO-%'`,
		`INSERT INTO work_order_events (work_order_id, event, from_status, to_status, actor_id, lat, lon, occurred_at, client_event_id, payload)
		 SELECT w.id, 'accept', 'scheduled', 'scheduled', $1, 45.67 + random() * 0.01, -111.04 + random() * 0.01, now(), gen_random_uuid(),
		        jsonb_build_object('kind', 'segment', 'name', 'Segment '||g, 'geometry', jsonb_build_object('type', 'LineString',
		          'coordinates', jsonb_build_array(jsonb_build_array(-111.04 + random() * 0.01, 45.67 + random() * 0.01), jsonb_build_array(-111.04 + random() * 0.01, 45.67 + random() * 0.01))))
		   FROM work_orders w, generate_series(1, 28) g WHERE w.number LIKE 'BWO-%'`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, tech)
		}
		if strings.Contains(q, "$2") {
			args = append(args, n)
		}
		_, err := h.DB.Pool.Exec(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("seed: %w", err)
		}
	}
	return n * 37, nil
}

func benchDevice(ctx context.Context, svc *syncsvc.Service, tech, name string) (*syncsvc.Enrollment, error) {
	nd, err := svc.CreateDevice(ctx, tech, name, nil)
	if err != nil {
		return nil, err
	}
	return svc.Enroll(ctx, nd.EnrollmentCode, name, "127.0.0.1", "bench")
}

func deviceGet(ctx context.Context, url string, dev *syncsvc.Enrollment) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+dev.DeviceToken)
	res, err := http.DefaultClient.Do(req)
	if err == nil && res.StatusCode >= 300 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return res, err
}

func openReplica(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS replica (entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
		PRIMARY KEY (entity, id)) WITHOUT ROWID`)
	return db, err
}

// bootstrapFile is what an agent does with the snapshot file: ask for it, download it, check its
// SHA-256, and copy its rows into the replica in one transaction.
func bootstrapFile(ctx context.Context, base string, dev *syncsvc.Enrollment, replica string) (int, error) {
	res, err := deviceGet(ctx, base+"/api/v1/sync/bootstrap", dev)
	if err != nil {
		return 0, err
	}
	var snap syncsvc.Snapshot
	err = json.NewDecoder(res.Body).Decode(&snap)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	res, err = deviceGet(ctx, base+snap.URL, dev)
	if err != nil {
		return 0, err
	}
	file := replica + ".snap"
	f, _ := os.Create(file)
	hsh := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, hsh), res.Body)
	res.Body.Close()
	f.Close()
	if err != nil {
		return 0, err
	}
	if hex.EncodeToString(hsh.Sum(nil)) != snap.SHA256 {
		return 0, fmt.Errorf("snapshot checksum mismatch")
	}
	db, err := openReplica(replica)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.Exec(`ATTACH DATABASE ? AS snap`, "file:"+file+"?mode=ro"); err != nil {
		return 0, err
	}
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	r, err := tx.Exec(`INSERT INTO replica (entity, id, version, data) SELECT entity, id, version, data FROM snap.rows ORDER BY entity, id
		ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version > replica.version`)
	if err != nil {
		tx.Rollback()
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	if int(n) != snap.Rows {
		return 0, fmt.Errorf("applied %d of %d rows", n, snap.Rows)
	}
	return int(n), nil
}

// bootstrapPages applies the paged JSON snapshot, one transaction per page.
func bootstrapPages(ctx context.Context, base string, dev *syncsvc.Enrollment, replica string) (int, error) {
	db, err := openReplica(replica)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	token, n := "", 0
	for {
		res, err := deviceGet(ctx, base+"/api/v1/sync/snapshot?page="+token, dev)
		if err != nil {
			return 0, err
		}
		var p syncsvc.SnapshotPage
		err = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if err != nil {
			return 0, err
		}
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		st, _ := tx.Prepare(`INSERT INTO replica (entity, id, version, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version > replica.version`)
		for _, c := range p.Changes {
			if _, err := st.Exec(c.Entity, c.EntityID, c.Version, string(c.Data)); err != nil {
				tx.Rollback()
				return 0, err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		n += len(p.Changes)
		if p.Next == "" {
			return n, nil
		}
		token = p.Next
	}
}

// naivePipeline: read the rows from Postgres, publish each on JetStream, upsert them into SQLite
// in 1,000-row transactions.
func naivePipeline(ctx context.Context, h *Hub, svc *syncsvc.Service, tech, replica string) (int, error) {
	js, err := njs.New(h.App.NC)
	if err != nil {
		return 0, err
	}
	s, err := js.CreateOrUpdateStream(ctx, njs.StreamConfig{Name: "BENCH_NAIVE", Subjects: []string{"bench.naive"}, Storage: njs.FileStorage})
	if err != nil {
		return 0, err
	}
	defer js.DeleteStream(context.Background(), "BENCH_NAIVE")
	db, err := openReplica(replica)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	type msg struct {
		Entity, ID string
		Version    int64
		Data       json.RawMessage
	}
	total := 0
	if err := svc.ScopeRows(ctx, tech, func(entity, id string, version int64, data []byte) error {
		b, _ := json.Marshal(msg{entity, id, version, data})
		_, err := js.Publish(ctx, "bench.naive", b)
		total++
		return err
	}); err != nil {
		return 0, err
	}
	cons, err := s.OrderedConsumer(ctx, njs.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	n := 0
	for n < total {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		st, _ := tx.Prepare(`INSERT INTO replica (entity, id, version, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version > replica.version`)
		batch, err := cons.Fetch(min(1000, total-n), njs.FetchMaxWait(10*time.Second))
		if err != nil {
			return 0, err
		}
		for m := range batch.Messages() {
			var r msg
			json.Unmarshal(m.Data(), &r)
			if _, err := st.Exec(r.Entity, r.ID, r.Version, string(r.Data)); err != nil {
				return 0, err
			}
			n++
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		if batch.Error() != nil {
			return 0, batch.Error()
		}
	}
	return n, nil
}

// propagation: devices technicians with one job each; the office changes jobs at rate per second;
// each device consumes its feed and commits every batch into its own SQLite file. Latency is
// office commit → device commit.
func propagation(ctx context.Context, h *Hub, svc *syncsvc.Service, dir string, devices, rate, secs int) (p50, p99 time.Duration, got, made int, err error) {
	var mu sync.Mutex
	sent := map[string]time.Time{}    // wo:version → commit time
	arrived := map[string]time.Time{} // wo:version → device SQLite commit time
	var lat []time.Duration
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wos := make([]string, devices)
	devIDs := make([]string, devices)
	consumeErr := make([]error, devices)
	ready := make([]bool, devices)
	nready := 0
	var closers []func()
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			c()
		}
	}()
	// Devices are set up by a few workers (enrollment, a NATS connection, a consumer, a SQLite
	// file each).
	setup := func(i int) error {
		var tech string
		email := fmt.Sprintf("benchtech%d@example.com", i)
		if err := h.DB.Pool.QueryRow(ctx, `INSERT INTO people (first_name, last_name, email) VALUES ('Bench', $1, $2) RETURNING id`, strconv.Itoa(i), email).Scan(&tech); err != nil {
			return err
		}
		if err := h.DB.Pool.QueryRow(ctx, `INSERT INTO work_orders (number, title, status, assigned_to) VALUES ($1, 'Propagation', 'scheduled', $2) RETURNING id`,
			fmt.Sprintf("PWO-%d", i), tech).Scan(&wos[i]); err != nil {
			return err
		}
		dev, err := benchDevice(ctx, svc, tech, fmt.Sprintf("bench-%d", i))
		if err != nil {
			return err
		}
		nc, err := nats.Connect(dev.NATSURL, nats.UserInfo(dev.NATSUser, dev.NATSPassword), nats.CustomInboxPrefix(dev.InboxPrefix))
		if err != nil {
			return err
		}
		js, _ := njs.New(nc)
		cfg := jetstream.Down()
		cfg.PollWait = 2 * time.Second
		feed, err := jetstream.Bind(ctx, js, cfg)
		if err != nil {
			nc.Close()
			return err
		}
		db, err := openReplica(filepath.Join(dir, fmt.Sprintf("dev-%d.sqlite", i)))
		if err != nil {
			nc.Close()
			return err
		}
		mu.Lock()
		closers = append(closers, func() { db.Close(); nc.Close() })
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			devIDs[i] = dev.DeviceID
			err := feed.Consume(cctx, tech, change.ConsumeOptions{Durable: dev.DeviceID, OnError: func(_ change.Cursor, err error) {
				mu.Lock()
				consumeErr[i] = err
				mu.Unlock()
			}}, func(ctx context.Context, b change.Batch) error {
				tx, err := db.Begin()
				if err != nil {
					return err
				}
				for _, c := range b.Changes {
					if _, err := tx.Exec(`INSERT INTO replica (entity, id, version, data) VALUES (?, ?, ?, ?)
						ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version > replica.version`,
						c.Entity, c.EntityID, c.Version, string(c.Data)); err != nil {
						tx.Rollback()
						return err
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				now := time.Now()
				mu.Lock()
				for _, c := range b.Changes {
					if c.Entity == "work_order" {
						if !ready[i] {
							ready[i] = true
							nready++
						}
						k := c.EntityID + ":" + strconv.FormatInt(c.Version, 10)
						if _, dup := arrived[k]; !dup {
							arrived[k] = now
						}
					}
				}
				mu.Unlock()
				return nil
			})
			if err != nil {
				mu.Lock()
				consumeErr[i] = err
				mu.Unlock()
			}
		}()
		return nil
	}
	next := make(chan int)
	errs := make(chan error, devices)
	var swg sync.WaitGroup
	for range 8 {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for i := range next {
				if err := setup(i); err != nil {
					errs <- fmt.Errorf("device %d: %w", i, err)
				}
			}
		}()
	}
	for i := range devices {
		next <- i
	}
	close(next)
	swg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, 0, 0, err
	}
	// Every device first receives its job (the scope ledger and consumers settle).
	for _, wo := range wos {
		if _, err := h.DB.Pool.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id) VALUES ('bench', 'work_order', $1)`, wo); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	settle := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := nready
		mu.Unlock()
		if n == devices {
			break
		}
		if time.Now().After(settle) { // measure with those that did; the row counts the changes
			fmt.Fprintf(os.Stderr, "sync: only %d of %d devices received their job within 2 minutes\n", n, devices)
			mu.Lock()
			for i, ok := range ready {
				if ok {
					continue
				}
				var ledger int
				var tech string
				h.DB.Pool.QueryRow(ctx, `SELECT assigned_to::text FROM work_orders WHERE id = $1`, wos[i]).Scan(&tech)
				h.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sync_scope WHERE technician_id = $1`, tech).Scan(&ledger)
				fmt.Fprintf(os.Stderr, "sync: device %d (technician %s, job %s) has %d rows in its scope ledger; last consume error: %v\n", i, tech, wos[i], ledger, consumeErr[i])
				if st, err := svc.JetStream().Stream(ctx, "DMF_DOWN"); err == nil {
					if c, err := st.Consumer(ctx, devIDs[i]); err == nil {
						in := c.CachedInfo()
						fmt.Fprintf(os.Stderr, "sync:   consumer delivered %d acked %d pending %d ack-pending %d redelivered %d waiting %d\n",
							in.Delivered.Stream, in.AckFloor.Stream, in.NumPending, in.NumAckPending, in.NumRedelivered, in.NumWaiting)
					} else {
						fmt.Fprintf(os.Stderr, "sync:   consumer: %v\n", err)
					}
				}
			}
			mu.Unlock()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	wosvc := workorder.NewService(h.DB, dir, nil)
	var actor string
	if err := h.DB.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'dispatcher@example.com'`).Scan(&actor); err != nil {
		return 0, 0, 0, 0, err
	}
	// The changes are made by a few concurrent office users (one at a time could not keep
	// 200/s); the ticker paces them.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(time.Duration(secs) * time.Second)
	jobs := make(chan int, rate)
	var gwg sync.WaitGroup
	var genErr error
	for range 8 {
		gwg.Add(1)
		go func() {
			defer gwg.Done()
			for i := range jobs {
				wo := wos[i%len(wos)]
				// The office edits the job's description through the work-order service, as
				// the API does (the same domain event, payload and version bump).
				desc := "Propagation " + strconv.Itoa(i)
				w, err := wosvc.UpdateWorkOrder(ctx, wo, workorder.WorkOrderUpdate{Description: &desc}, actor)
				mu.Lock()
				if err != nil {
					genErr = err
				} else {
					sent[wo+":"+strconv.FormatInt(w.Version, 10)] = time.Now() // committed just before
				}
				mu.Unlock()
			}
		}()
	}
	offered := 0
	for time.Now().Before(end) {
		<-tick.C
		jobs <- offered
		offered++
	}
	close(jobs)
	gwg.Wait()
	tick.Stop()
	if genErr != nil {
		return 0, 0, 0, 0, genErr
	}
	deadline := time.Now().Add(10 * time.Second)
	arrivedOf := func() int {
		n := 0
		for k := range sent {
			if _, ok := arrived[k]; ok {
				n++
			}
		}
		return n
	}
	for time.Now().Before(deadline) {
		mu.Lock()
		n := arrivedOf()
		mu.Unlock()
		if n >= len(sent) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var t0 time.Time
	perSec := map[int][]time.Duration{}
	for k, t := range sent {
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if a, ok := arrived[k]; ok {
			lat = append(lat, max(0, a.Sub(t)))
		}
	}
	if *syncTrace {
		for k, t := range sent {
			if a, ok := arrived[k]; ok {
				sec := int(t.Sub(t0) / (500 * time.Millisecond))
				perSec[sec] = append(perSec[sec], a.Sub(t))
			}
		}
		for sec := 0; sec < 2*secs+2; sec++ {
			l := perSec[sec]
			if len(l) == 0 {
				continue
			}
			slices.Sort(l)
			fmt.Fprintf(os.Stderr, "t=%4.1fs n=%d p50=%s p99=%s max=%s\n", float64(sec)/2, len(l), Percentile(l, 50), Percentile(l, 99), l[len(l)-1])
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("no change reached a device")
	}
	slices.Sort(lat)
	return Percentile(lat, 50), Percentile(lat, 99), len(lat), len(sent), nil
}

// reconnect: a device that was offline publishes its 1,000 queued mutations (notes, 50 per
// batch, as the agent uploads its outbox) and waits for every upload_result on its feed.
func reconnect(ctx context.Context, h *Hub, svc *syncsvc.Service, n int) (time.Duration, error) {
	var tech, wo string
	if err := h.DB.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'tech2@example.com'`).Scan(&tech); err != nil {
		return 0, err
	}
	if err := h.DB.Pool.QueryRow(ctx, `INSERT INTO work_orders (number, title, status, assigned_to) VALUES ('RWO-1', 'Reconnect', 'in_progress', $1) RETURNING id`, tech).Scan(&wo); err != nil {
		return 0, err
	}
	dev, err := benchDevice(ctx, svc, tech, "bench-reconnect")
	if err != nil {
		return 0, err
	}
	nc, err := nats.Connect(dev.NATSURL, nats.UserInfo(dev.NATSUser, dev.NATSPassword), nats.CustomInboxPrefix(dev.InboxPrefix))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	up, err := jetstream.Bind(ctx, js, jetstream.Up())
	if err != nil {
		return 0, err
	}
	downCfg := jetstream.Down()
	downCfg.PollWait = time.Second
	down, err := jetstream.Bind(ctx, js, downCfg)
	if err != nil {
		return 0, err
	}
	clock := hlc.New(dev.DeviceID)
	var changes []change.Change
	for i := range n {
		data, _ := json.Marshal(map[string]string{"client_ref": uuid.NewString(), "body": fmt.Sprintf("offline note %d", i)})
		changes = append(changes, change.Change{ID: uuid.NewString(), Family: "work_orders", Entity: "work_order", EntityID: wo, Op: change.OpUpsert,
			HLC: clock.Now(), Action: "note", Data: data, BaseVersion: 1, DeviceID: dev.DeviceID, ClientRef: uuid.NewString(), SchemaVersion: change.SchemaVersion})
	}
	done := make(chan struct{})
	results := 0
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go down.Consume(cctx, tech, change.ConsumeOptions{Durable: dev.DeviceID}, func(ctx context.Context, b change.Batch) error {
		for _, c := range b.Changes {
			if c.Entity == "upload_result" && strings.Contains(string(c.Data), dev.DeviceID) {
				results++
				if results == n {
					close(done)
				}
			}
		}
		return nil
	})
	start := time.Now()
	for i := 0; i < n; i += 50 {
		part := changes[i:min(i+50, n)]
		if _, err := up.Publish(ctx, dev.DeviceID, change.Batch{ID: change.BatchID(part), Changes: part}); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("only %d of %d results after 60 s", results, n)
	}
	return time.Since(start), nil
}
