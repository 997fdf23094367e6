package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"dotmac.dev/field/hub/dispatch"
	"dotmac.dev/field/hub/postgres"
)

func init() { register("dispatch", benchDispatch) }

// benchDispatch measures, on a generated town of 1,000 technicians:
//   - the dispatch board's data for one day with 10,000 jobs (service + JSON encoding: the server
//     time of GET /api/v1/dispatch/board), target ≤ 500 ms;
//   - auto-assign of 1,000 queued jobs (one batch call), target ≤ 5 s.
func benchDispatch(ctx context.Context, e *Env) ([]Row, error) {
	techs, jobs, queued := 1000, 10000, 1000
	if e.Quick {
		techs, jobs, queued = 100, 1000, 100
	}
	dbURL, err := e.FreshDatabase(ctx, "dmf_bench_dispatch")
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, dbURL, 10)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		return nil, err
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	t0 := time.Now()
	if err := generateDispatchTown(ctx, db, day, techs, jobs, queued); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	fmt.Fprintf(e.Log, "    generated %d technicians, %d jobs, %d queued in %s\n", techs, jobs, queued, time.Since(t0).Round(time.Millisecond))

	svc := dispatch.NewService(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f := dispatch.BoardFilter{Date: day, Days: 1}
	var times []time.Duration
	var size int
	var counts string
	for i := 0; i < 12; i++ {
		start := time.Now()
		b, err := svc.Board(ctx, f)
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		if i >= 2 { // warm-up
			times = append(times, time.Since(start))
		}
		size = len(body)
		counts = fmt.Sprintf("%d techs, %d jobs", len(b.Technicians), len(b.Jobs))
	}
	med := Percentile(times, 50)
	p95 := Percentile(times, 95)
	fmt.Fprintf(e.Log, "    board: %s, %.1f MB of JSON, median %s, p95 %s\n", counts, float64(size)/1e6, Ms(med), Ms(p95))

	start := time.Now()
	res, err := svc.AutoAssignBatch(ctx, dispatch.BatchFilter{From: day.Add(24 * time.Hour), To: day.Add(48 * time.Hour)}, "")
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	fmt.Fprintf(e.Log, "    auto-assign: %d considered, %d assigned, %d queued, %d skipped, %d conflicts in %s\n",
		res.Considered, res.Assigned, res.Queued, res.Skipped, res.Conflicts, took.Round(time.Millisecond))
	if res.Considered != queued {
		return nil, fmt.Errorf("auto-assign considered %d jobs, want %d", res.Considered, queued)
	}
	label := fmt.Sprintf("%d techs, %d jobs", techs, jobs)
	return []Row{
		{Name: "dispatch board data, 1 day (" + label + "), median", Value: Ms(med), Baseline: "500 ms",
			Ratio: Ratio(float64(med.Microseconds()), 500_000), Target: "≤ 500 ms", OK: Met(med <= 500*time.Millisecond)},
		{Name: "dispatch board data, 1 day, p95", Value: Ms(p95), Baseline: "500 ms",
			Ratio: Ratio(float64(p95.Microseconds()), 500_000), Target: "-", OK: "-"},
		{Name: fmt.Sprintf("dispatch auto-assign %d queued jobs (%d assigned)", res.Considered, res.Assigned), Value: Ms(took), Baseline: "5000 ms",
			Ratio: Ratio(float64(took.Microseconds()), 5_000_000), Target: "≤ 5 s", OK: Met(took <= 5*time.Second)},
	}, nil
}

// generateDispatchTown writes technicians around Bozeman with skills, shifts today and tomorrow and
// fresh shared positions; jobs today spread over them; and queued unassigned jobs tomorrow.
func generateDispatchTown(ctx context.Context, db *postgres.DB, day time.Time, techs, jobs, queued int) error {
	stmts := []string{
		`INSERT INTO skills (name) SELECT 'Skill ' || g FROM generate_series(1, 20) g`,
		`INSERT INTO people (first_name, last_name, email)
			SELECT 'Tech', 'No. ' || g, 'bench-tech-' || g || '@example.com' FROM generate_series(1, $1) g`,
		`INSERT INTO technician_profiles (person_id, region, home_base)
			SELECT id, 'region-' || (row_number() OVER (ORDER BY id) % 10),
				ST_SetSRID(ST_MakePoint(-111.0429 + (random() - 0.5) * 0.3, 45.6770 + (random() - 0.5) * 0.2), 4326)
			FROM people WHERE email LIKE 'bench-tech-%'`,
		`WITH t AS (SELECT person_id, row_number() OVER (ORDER BY person_id) AS n FROM technician_profiles),
			s AS (SELECT id, row_number() OVER (ORDER BY name) AS k FROM skills)
		INSERT INTO technician_skills (person_id, skill_id, proficiency, is_primary)
			SELECT t.person_id, s.id, 20 + (random() * 80)::int, j = 0
			FROM t CROSS JOIN generate_series(0, 2) j JOIN s ON s.k = ((t.n + j * 7) % 20) + 1`,
		`INSERT INTO shifts (person_id, starts_at, ends_at)
			SELECT person_id, $1::timestamptz + d * interval '1 day' + interval '7 hours', $1::timestamptz + d * interval '1 day' + interval '19 hours'
			FROM technician_profiles CROSS JOIN generate_series(0, 1) d`,
		`INSERT INTO field_tech_presence (person_id, status, location_sharing_enabled, lat, lon, geog, location_at)
			SELECT person_id, 'on_shift', true, ST_Y(home_base), ST_X(home_base), home_base::geography, now() - interval '1 minute'
			FROM technician_profiles`,
		`INSERT INTO customers (number, name, address)
			SELECT 'CUS-B' || g, 'Customer ' || g, g || ' Main St, Bozeman' FROM generate_series(1, $1::int + $2::int) g`,
		`INSERT INTO sites (customer_id, address, geom)
			SELECT id, address, ST_SetSRID(ST_MakePoint(-111.0429 + (random() - 0.5) * 0.3, 45.6770 + (random() - 0.5) * 0.2), 4326) FROM customers`,
		// Today: jobs assigned round-robin, in one-hour slots from 07:00.
		`WITH t AS (SELECT person_id, row_number() OVER (ORDER BY person_id) - 1 AS n, count(*) OVER () AS c FROM technician_profiles),
			s AS (SELECT id, customer_id, row_number() OVER (ORDER BY id) - 1 AS k FROM sites)
		INSERT INTO work_orders (number, title, status, priority, work_type, customer_id, site_id, assigned_to, scheduled_start, scheduled_end, region)
			SELECT 'WO-B' || s.k, 'Repair ' || s.k, (ARRAY['scheduled','dispatched','in_progress','completed'])[1 + s.k % 4], 'normal', 'repair',
				s.customer_id, s.id, t.person_id,
				$1::timestamptz + interval '7 hours' + ((s.k / t.c) % 12) * interval '1 hour',
				$1::timestamptz + interval '7 hours 50 minutes' + ((s.k / t.c) % 12) * interval '1 hour', 'region-' || (t.n % 10)
			FROM s JOIN t ON t.n = s.k % t.c WHERE s.k < $2::int`,
		// Tomorrow: queued jobs, unassigned, each needing one skill, in 07:00–17:00 slots.
		`WITH s AS (SELECT id, customer_id, row_number() OVER (ORDER BY id) - 1 AS k FROM sites),
			sk AS (SELECT id, row_number() OVER (ORDER BY name) - 1 AS i FROM skills)
		INSERT INTO work_orders (number, title, status, priority, work_type, customer_id, site_id, scheduled_start, scheduled_end, required_skills, region)
			SELECT 'WO-Q' || s.k, 'Install ' || s.k, 'scheduled', (ARRAY['normal','high','low','urgent'])[1 + s.k % 4], 'install', s.customer_id, s.id,
				$1::timestamptz + interval '31 hours' + (s.k % 10) * interval '1 hour',
				$1::timestamptz + interval '31 hours 45 minutes' + (s.k % 10) * interval '1 hour',
				ARRAY[(SELECT id FROM sk WHERE sk.i = s.k % 20)], 'region-' || (s.k % 10)
			FROM s WHERE s.k >= $2::int`,
		`INSERT INTO work_order_assignment_queue (work_order_id, status, reason)
			SELECT id, 'queued', 'new' FROM work_orders WHERE number LIKE 'WO-Q%'`,
		`ANALYZE`,
	}
	args := [][]any{nil, {techs}, nil, nil, {day}, nil, {jobs, queued}, nil, {day, jobs}, {day, jobs}, nil, nil}
	for i, q := range stmts {
		if _, err := db.Pool.Exec(ctx, q, args[i]...); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}
