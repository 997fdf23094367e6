package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub/postgres"
)

func init() { register("workorders", benchWorkOrders) }

// benchWorkOrders: the office list GET /api/v1/work-orders?status=&assigned_to=&limit=50 over
// 100,000 work orders and 1,000 technicians at concurrency 32, beside a trivial Gin handler in
// the same run (target ratio ≥ 0.25); and the p99 of a field transition (target ≤ 20 ms).
func benchWorkOrders(ctx context.Context, e *Env) ([]Row, error) {
	nWO, nTech := 100_000, 1_000
	dur := 6 * time.Second
	if e.Quick {
		nWO, nTech, dur = 10_000, 100, 2*time.Second
	}
	h, closeHub, err := e.NewHub(ctx, "workorders", true, nil)
	if err != nil {
		return nil, err
	}
	defer closeHub()
	fmt.Fprintf(e.Log, "    generating %d work orders and %d technicians…\n", nWO, nTech)
	t0 := time.Now()
	techs, err := GenerateWorkOrders(ctx, h.DB, nWO, nTech)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	fmt.Fprintf(e.Log, "    generated in %s\n", time.Since(t0).Round(time.Millisecond))

	tok, err := login(h.URL, "dispatcher@example.com", "dispatch123!")
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/trivial", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: g}
	go srv.Serve(ln)
	defer srv.Close()

	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	base, err := Load(ctx, "http://"+ln.Addr().String()+"/trivial", http.Header{}, 32, dur)
	if err != nil {
		return nil, err
	}
	// The office keeps writing while the lists are read: a work order changes every 200 ms
	// (5 writes/s, a busy dispatch office), each from outside this hub's API — as the sync
	// applier or another replica would — so every write empties the list cache by NOTIFY.
	wctx, stopWrites := context.WithCancel(ctx)
	var writes int
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			_, err := h.DB.Pool.Exec(wctx, `UPDATE work_orders SET title = $1, version = version + 1, updated_at = now()
				WHERE id = (SELECT id FROM work_orders WHERE assigned_to = $2 AND is_active ORDER BY id LIMIT 1)`,
				fmt.Sprintf("Bench job edited %d", writes), techs[writes%len(techs)])
			if err != nil {
				if wctx.Err() == nil {
					fmt.Fprintf(e.Log, "    office write: %v\n", err)
				}
				return
			}
			writes++
		}
	}()
	mid := techs[len(techs)/2]
	target := fmt.Sprintf("%s/api/v1/work-orders?status=scheduled&assigned_to=%s&limit=50", h.URL, mid)
	list, err := Load(ctx, target, hdr, 32, dur)
	if err != nil {
		stopWrites()
		return nil, err
	}
	byStatus, err := Load(ctx, h.URL+"/api/v1/work-orders?status=scheduled&limit=50", hdr, 32, dur)
	if err != nil {
		stopWrites()
		return nil, err
	}
	// Every technician in turn: with 1,000 different pages and 5 writes/s most reads miss the
	// cache, so this is close to the uncached query path.
	var all []string
	for _, t := range techs {
		all = append(all, fmt.Sprintf("%s/api/v1/work-orders?status=scheduled&assigned_to=%s&limit=50", h.URL, t))
	}
	rotating, err := LoadTargets(ctx, all, hdr, 32, dur)
	stopWrites()
	<-writerDone
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.Log, "    %d office writes during the list loads\n", writes)

	p50, p99, n, err := benchTransitions(ctx, h.URL, h.DB, e.Quick)
	if err != nil {
		return nil, fmt.Errorf("transitions: %w", err)
	}
	ratio := list.RPS / base.RPS
	return []Row{
		{Name: fmt.Sprintf("workorders: GET /work-orders?status=&assigned_to=&limit=50 req/s (c=32, %dk rows, 5 writes/s)", nWO/1000),
			Value:    fmt.Sprintf("%.0f (p99 %s)", list.RPS, Ms(list.P99)),
			Baseline: fmt.Sprintf("%.0f trivial gin (p99 %s)", base.RPS, Ms(base.P99)), Ratio: fmt.Sprintf("%.2f", ratio),
			Target: "ratio ≥ 0.25", OK: Met(ratio >= 0.25)},
		{Name: "workorders: GET /work-orders?status=&limit=50 req/s (c=32)", Value: fmt.Sprintf("%.0f (p99 %s)", byStatus.RPS, Ms(byStatus.P99)),
			Baseline: fmt.Sprintf("%.0f trivial gin", base.RPS), Ratio: Ratio(byStatus.RPS, base.RPS), Target: "-", OK: "-"},
		{Name: fmt.Sprintf("workorders: same, each of the %d technicians in turn", len(techs)),
			Value:    fmt.Sprintf("%.0f (p99 %s)", rotating.RPS, Ms(rotating.P99)),
			Baseline: fmt.Sprintf("%.0f trivial gin", base.RPS), Ratio: Ratio(rotating.RPS, base.RPS), Target: "-", OK: "-"},
		{Name: fmt.Sprintf("workorders: field transition p99 (%d sequential events)", n), Value: Ms(p99),
			Baseline: "p50 " + Ms(p50), Ratio: "-", Target: "≤ 20 ms", OK: Met(p99 <= 20*time.Millisecond)},
	}, nil
}

// GenerateWorkOrders loads nTech technicians (people with the field role and a profile) and nWO
// work orders spread over them and the next 30 days (a tenth unassigned), with CopyFrom. It
// returns the technicians' ids.
func GenerateWorkOrders(ctx context.Context, db *postgres.DB, nWO, nTech int) ([]string, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	techs := make([]string, nTech)
	people := make([][]any, nTech)
	profiles := make([][]any, nTech)
	now := time.Now().UTC()
	for i := range techs {
		techs[i] = uuid.Must(uuid.NewV7()).String()
		first, last := fmt.Sprintf("Bench%04d", i), "Tech"
		people[i] = []any{techs[i], first, last, first + " " + last, fmt.Sprintf("bench.tech%04d@example.com", i), now, now}
		profiles[i] = []any{techs[i], "Field technician", fmt.Sprintf("Region %d", i%10), now, now}
	}
	var customers, sites []string
	rows, err := db.Pool.Query(ctx, `SELECT c.id::text, s.id::text FROM customers c JOIN sites s ON s.customer_id = c.id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c, s string
		if err := rows.Scan(&c, &s); err != nil {
			return nil, err
		}
		customers, sites = append(customers, c), append(sites, s)
	}
	rows.Close()
	statuses := []string{"draft", "scheduled", "scheduled", "scheduled", "dispatched", "in_progress", "paused", "completed", "completed", "canceled"}
	prios := []string{"lower", "low", "medium", "normal", "normal", "high", "urgent"}
	types := []string{"install", "repair", "survey", "maintenance", "disconnect", "other"}
	wos := make([][]any, 0, nWO)
	assigns := make([][]any, 0, nWO)
	day0 := now.Truncate(24 * time.Hour)
	for i := 0; i < nWO; i++ {
		id := uuid.Must(uuid.NewV7()).String()
		var tech any
		if rng.IntN(10) != 0 {
			t := techs[rng.IntN(nTech)]
			tech = t
			assigns = append(assigns, []any{id, t, "primary", true, now})
		}
		start := day0.Add(time.Duration(rng.IntN(30*24*4)) * 15 * time.Minute)
		end := start.Add(time.Duration(30+rng.IntN(8)*15) * time.Minute)
		var cust, site any
		if len(customers) > 0 {
			k := rng.IntN(len(customers))
			cust, site = customers[k], sites[k]
		}
		wos = append(wos, []any{id, fmt.Sprintf("WB-%07d", i+1), fmt.Sprintf("Bench job %d", i+1), statuses[rng.IntN(len(statuses))],
			prios[rng.IntN(len(prios))], types[rng.IntN(len(types))], cust, site, tech, start, end, "Bozeman", now, now})
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"people"}, []string{"id", "first_name", "last_name", "display_name", "email", "created_at", "updated_at"},
			pgx.CopyFromRows(people)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO person_roles (person_id, role_id) SELECT unnest($1::uuid[]), (SELECT id FROM roles WHERE name = 'field_technician')`, techs); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"technician_profiles"}, []string{"person_id", "title", "region", "created_at", "updated_at"},
			pgx.CopyFromRows(profiles)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"work_orders"}, []string{"id", "number", "title", "status", "priority", "work_type", "customer_id",
			"site_id", "assigned_to", "scheduled_start", "scheduled_end", "region", "created_at", "updated_at"}, pgx.CopyFromRows(wos)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"work_order_assignments"}, []string{"work_order_id", "person_id", "role", "is_primary", "assigned_at"},
			pgx.CopyFromRows(assigns))
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, t := range []string{"people", "technician_profiles", "work_orders", "work_order_assignments"} {
		if _, err := db.Pool.Exec(ctx, `ANALYZE `+t); err != nil {
			return nil, err
		}
	}
	return techs, nil
}

// benchTransitions fires start on fresh jobs of the demo technician, one at a time, and returns
// the latency percentiles.
func benchTransitions(ctx context.Context, base string, db *postgres.DB, quick bool) (p50, p99 time.Duration, n int, err error) {
	n = 400
	if quick {
		n = 100
	}
	var tech string
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'tech1@example.com'`).Scan(&tech); err != nil {
		return 0, 0, 0, err
	}
	ids := make([]string, n)
	rowsWO := make([][]any, n)
	rowsA := make([][]any, n)
	start := time.Now().Add(time.Hour).UTC()
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
		rowsWO[i] = []any{ids[i], fmt.Sprintf("WT-%06d", i+1), "Transition bench", "scheduled", tech, start, start.Add(time.Hour)}
		rowsA[i] = []any{ids[i], tech, "primary", true}
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"work_orders"}, []string{"id", "number", "title", "status", "assigned_to", "scheduled_start", "scheduled_end"},
			pgx.CopyFromRows(rowsWO)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"work_order_assignments"}, []string{"work_order_id", "person_id", "role", "is_primary"}, pgx.CopyFromRows(rowsA))
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	tok, err := login(base, "tech1@example.com", "tech123!")
	if err != nil {
		return 0, 0, 0, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var lats []time.Duration
	for i, id := range ids {
		for _, ev := range []string{"start", "pause"} { // pause stops the timer so the next start opens a fresh one
			b, _ := json.Marshal(map[string]any{"event": ev, "client_event_id": uuid.Must(uuid.NewV7()).String(),
				"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "lat": 45.68, "lon": -111.04})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/field/jobs/"+id+"/transition", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				return 0, 0, 0, err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return 0, 0, 0, fmt.Errorf("job %d %s: status %d", i, ev, res.StatusCode)
			}
			if i >= 5 { // warm-up
				lats = append(lats, time.Since(t0))
			}
		}
	}
	return Percentile(lats, 50), Percentile(lats, 99), len(lats), nil
}
