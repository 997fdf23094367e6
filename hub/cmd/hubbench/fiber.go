package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/fiber"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
)

var (
	fiberSegments = flag.Int("fiber-segments", 1000000, "fiber: segments generated over the 50 km region")
	fiberImport   = flag.Int("fiber-import", 100000, "fiber: features in the GeoJSON import")
	fiberQueries  = flag.Int("fiber-queries", 400, "fiber: bbox queries per side")
)

func init() {
	register("fiber", benchFiber)
}

// result is one row of the fiber benches.
type result struct {
	Name, Value, Baseline string
	Ratio                 float64 // 0: none
	Pass                  *bool
}

func judge(ok bool) *bool { return &ok }

var databaseURL, redisURL = new(string), new(string)

func benchFiber(ctx context.Context, e *Env) ([]Row, error) {
	*databaseURL, *redisURL = e.ServerURL, e.RedisURL
	if e.Quick {
		setDefault("fiber-segments", "20000")
		setDefault("fiber-import", "5000")
		setDefault("fiber-queries", "100")
	}
	res, err := runFiber(ctx)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, r := range res {
		row := Row{Name: r.Name, Value: r.Value, Baseline: r.Baseline, Ratio: "-", OK: "-"}
		if r.Ratio != 0 {
			row.Ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.Pass != nil {
			row.OK = map[bool]string{true: "yes", false: "no"}[*r.Pass]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// setDefault changes a flag unless the command line set it.
func setDefault(name, v string) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if !set {
		flag.Set(name, v)
	}
}

// region: 50 km × 50 km centred on Bozeman.
const regionLat, regionLon = 45.677, -111.043

var (
	regionDLat = 25000.0 / 111320
	regionDLon = 25000.0 / (111320 * math.Cos(regionLat*math.Pi/180))
)

func benchDB(ctx context.Context, name string) (string, error) {
	if *databaseURL == "" {
		return "", fmt.Errorf("no database: set -database-url or TEST_DATABASE_URL")
	}
	u, err := url.Parse(*databaseURL)
	if err != nil {
		return "", err
	}
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func runFiber(ctx context.Context) ([]result, error) {
	dbURL, err := benchDB(ctx, "dmf_bench_fiber")
	if err != nil {
		return nil, err
	}
	dir, _ := os.MkdirTemp("", "hubbench-fiber")
	defer os.RemoveAll(dir)
	cfg := app.DefaultConfig()
	cfg.DatabaseURL, cfg.DataDir, cfg.JWTKeys = dbURL, dir, "bench:"+strings.Repeat("b", 40)
	cfg.RateLimit, cfg.Worker, cfg.DBMaxConns = 1000000000, false, 8
	if *redisURL != "" {
		cfg.RedisURL = *redisURL
	}
	a := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.HashParams = &secret.Params{Memory: 1024, Time: 1, Threads: 1}
	if err := a.Open(ctx, false); err != nil {
		return nil, err
	}
	defer a.Close()
	db := a.DB

	// 1. generate the segments (index built after the load), uniformly over the region and stored in
	// spatial order (50 bands of 1 km, west to east in each) as a bulk-loaded GIS table is
	start := time.Now()
	if _, err := db.Pool.Exec(ctx, `DROP INDEX fiber_segments_geom_idx`); err != nil {
		return nil, err
	}
	const chunk = 200000
	for off := 0; off < *fiberSegments; off += chunk {
		n := min(chunk, *fiberSegments-off)
		_, err := db.Pool.Exec(ctx, `INSERT INTO fiber_segments (name, segment_type, fiber_count, geom)
			SELECT 'SEG-' || i, (ARRAY['feeder','distribution','drop'])[1 + i % 3], (ARRAY[48,24,2])[1 + i % 3],
				ST_SetSRID(ST_MakeLine(ST_MakePoint(x, y), ST_MakePoint(x + (random() - 0.5) * 0.004, y + (random() - 0.5) * 0.003)), 4326)
			FROM (SELECT i, $1::float8 - $2::float8 + 2 * $2::float8 * ((i % $7::int)::float8 / $7::int) AS x, $3::float8 - $4::float8 + 2 * $4::float8 * ((i / $7::int)::float8 + random()) / 50 AS y
				FROM generate_series($5::int, $6::int) i) g`,
			regionLon, regionDLon, regionLat, regionDLat, off, off+n-1, max(*fiberSegments/50, 1))
		if err != nil {
			return nil, err
		}
	}
	if _, err := db.Pool.Exec(ctx, `CREATE INDEX fiber_segments_geom_idx ON fiber_segments USING gist (geom) WHERE deleted_at IS NULL`); err != nil {
		return nil, err
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE fiber_segments`); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "fiber: %d segments generated in %s\n", *fiberSegments, time.Since(start).Round(time.Millisecond))

	// an admin to call the API as
	err = db.InTx(ctx, func(tx pgx.Tx) error {
		id, err := postgres.CreatePersonTx(ctx, tx, hub.PersonCreate{FirstName: "Bench", LastName: "Admin", Email: "bench@example.com", Password: "bench-pass-123!"}, a.HashParams)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_roles (person_id, role_id) SELECT $1, id FROM roles WHERE name = 'admin'`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	a.Server.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"email":"bench@example.com","password":"bench-pass-123!"}`)))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(rec.Body.Bytes(), &tok)
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("login: %d %s", rec.Code, rec.Body)
	}

	var out []result
	// 2. 2×2 km bbox as GeoJSON through the real handler vs the bare PostGIS query
	rng := rand.New(rand.NewPCG(1, 2))
	boxes := make([][4]float64, *fiberQueries)
	dLat, dLon := 1000.0/111320, 1000.0/(111320*math.Cos(regionLat*math.Pi/180))
	for i := range boxes {
		cx := regionLon + (rng.Float64()*2-1)*(regionDLon-dLon)
		cy := regionLat + (rng.Float64()*2-1)*(regionDLat-dLat)
		boxes[i] = [4]float64{cx - dLon, cy - dLat, cx + dLon, cy + dLat}
	}
	bare := func(b [4]float64) (int, error) {
		rows, err := db.Pool.Query(ctx, `SELECT id::text, name, status::text, version, ST_AsGeoJSON(geom, 7) FROM fiber_segments
			WHERE deleted_at IS NULL AND geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)`, b[0], b[1], b[2], b[3])
		if err != nil {
			return 0, err
		}
		n := 0
		var id, name, status string
		var v int64
		var g []byte
		for rows.Next() {
			if err := rows.Scan(&id, &name, &status, &v, &g); err != nil {
				return 0, err
			}
			n++
		}
		return n, rows.Err()
	}
	handler := func(b [4]float64) (int, error) {
		req := httptest.NewRequest("GET", fmt.Sprintf("/api/v1/fiber/features?bbox=%f,%f,%f,%f", b[0], b[1], b[2], b[3]), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w := httptest.NewRecorder()
		a.Server.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			return 0, fmt.Errorf("features: %d %s", w.Code, w.Body)
		}
		return w.Body.Len(), nil
	}
	for _, b := range boxes[:20] { // warm both paths
		bare(b)
		handler(b)
	}
	run := func(fn func([4]float64) (int, error)) (time.Duration, []time.Duration, int, error) {
		lat := make([]time.Duration, 0, len(boxes))
		total := 0
		start := time.Now()
		for _, b := range boxes {
			t := time.Now()
			n, err := fn(b)
			if err != nil {
				return 0, nil, 0, err
			}
			total += n
			lat = append(lat, time.Since(t))
		}
		return time.Since(start), lat, total, nil
	}
	bareTime, _, rowsSeen, err := run(bare)
	if err != nil {
		return nil, err
	}
	hTime, hLat, bytesOut, err := run(handler)
	if err != nil {
		return nil, err
	}
	sort.Slice(hLat, func(i, j int) bool { return hLat[i] < hLat[j] })
	p99 := hLat[len(hLat)*99/100]
	p50 := hLat[len(hLat)/2]
	hQPS := float64(len(boxes)) / hTime.Seconds()
	bQPS := float64(len(boxes)) / bareTime.Seconds()
	out = append(out,
		result{Name: fmt.Sprintf("fiber bbox 2x2km GeoJSON p99 (%d segments, ~%d per box, %d KB)", *fiberSegments, rowsSeen/len(boxes), bytesOut/len(boxes)/1024),
			Value: ms(p99), Baseline: "≤ 50 ms (p50 " + ms(p50) + ")", Pass: judge(p99 <= 50*time.Millisecond)},
		result{Name: "fiber bbox throughput, handler vs bare PostGIS query", Value: fmt.Sprintf("%.0f req/s", hQPS),
			Baseline: fmt.Sprintf("%.0f req/s", bQPS), Ratio: hQPS / bQPS, Pass: judge(hQPS/bQPS >= 0.3)})

	// 3. GeoJSON import of N features vs pgx CopyFrom of the same rows
	body, rows := importData(*fiberImport)
	svc := fiber.NewService(db, nil)
	copyRate, importRate := 0.0, 0.0
	for round := 0; round < 2; round++ {
		t := time.Now()
		_, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"fiber_segments"}, []string{"id", "name", "status", "props", "geom", "segment_type", "cable_type", "fiber_count"}, pgx.CopyFromRows(rows))
		if err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		copyRate = math.Max(copyRate, float64(len(rows))/time.Since(t).Seconds())
		if _, err := db.Pool.Exec(ctx, `DELETE FROM fiber_segments WHERE name LIKE 'IMP-%'`); err != nil {
			return nil, err
		}
		t = time.Now()
		res, err := svc.Import(ctx, bytes.NewReader(body), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		importRate = math.Max(importRate, float64(res.Imported)/time.Since(t).Seconds())
		if _, err := db.Pool.Exec(ctx, `DELETE FROM fiber_segments WHERE name LIKE 'IMP-%'`); err != nil {
			return nil, err
		}
		for i := range rows { // fresh ids for the next copy round
			rows[i][0] = postgres.NewID()
		}
	}
	out = append(out, result{Name: fmt.Sprintf("fiber GeoJSON import %d features (%d MB), features/s vs pgx CopyFrom", *fiberImport, len(body)>>20),
		Value: fmt.Sprintf("%.0f/s", importRate), Baseline: fmt.Sprintf("%.0f/s", copyRate), Ratio: importRate / copyRate, Pass: judge(importRate/copyRate >= 0.4)})

	// 4. a 10-hop strand trace
	ont, hops, err := buildChain(ctx, db)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 30; i++ { // warm the plan cache
		svc.TraceONT(ctx, ont)
	}
	var tl []time.Duration
	for i := 0; i < 300; i++ {
		t := time.Now()
		tr, err := svc.TraceONT(ctx, ont)
		if err != nil {
			return nil, err
		}
		if !tr.Complete || len(tr.Hops)-1 != hops {
			return nil, fmt.Errorf("trace: %d hops, complete %v", len(tr.Hops)-1, tr.Complete)
		}
		tl = append(tl, time.Since(t))
	}
	sort.Slice(tl, func(i, j int) bool { return tl[i] < tl[j] })
	tp99 := tl[len(tl)*99/100]
	out = append(out, result{Name: fmt.Sprintf("fiber strand trace %d hops ONT→OLT p99", hops), Value: ms(tp99),
		Baseline: "≤ 10 ms (p50 " + ms(tl[len(tl)/2]) + ")", Pass: judge(tp99 <= 10*time.Millisecond)})
	return out, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// importData makes n segment features as a GeoJSON FeatureCollection and the same rows for CopyFrom.
func importData(n int) ([]byte, [][]any) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	rows := make([][]any, n)
	types := []string{"feeder", "distribution", "drop"}
	for i := 0; i < n; i++ {
		x := regionLon + (rng.Float64()*2-1)*regionDLon
		y := regionLat + (rng.Float64()*2-1)*regionDLat
		pts := [][2]float64{{x, y}, {x + 0.0007, y + 0.0002}, {x + 0.0011, y + 0.0009}}
		typ := types[i%3]
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"Feature","geometry":{"type":"LineString","coordinates":[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]},"properties":{"kind":"segment","name":"IMP-%d","segment_type":%q,"fiber_count":24}}`,
			pts[0][0], pts[0][1], pts[1][0], pts[1][1], pts[2][0], pts[2][1], i, typ)
		g := &fiber.Geometry{Type: "LineString", Line: pts}
		rows[i] = []any{postgres.NewID(), fmt.Sprintf("IMP-%d", i), "active", []byte("{}"), g.EWKB(), typ, "single_mode", 24}
	}
	b.WriteString(`]}`)
	return b.Bytes(), rows
}

// buildChain makes ONT ← drop ← 4 spliced cables ← OLT port: 10 hops (5 strands, 4 splices, the port).
func buildChain(ctx context.Context, db *postgres.DB) (string, int, error) {
	var ont string
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		q := func(sql string, args ...any) (string, error) {
			var id string
			err := tx.QueryRow(ctx, sql, args...).Scan(&id)
			return id, err
		}
		p := "ST_SetSRID(ST_MakePoint(-111.04, 45.67), 4326)"
		olt, err := q(`INSERT INTO olt_devices (name, geom) VALUES ('OLT-bench', ` + p + `) RETURNING id`)
		if err != nil {
			return err
		}
		port, err := q(`INSERT INTO pon_ports (olt_id, port) VALUES ($1, 1) RETURNING id`, olt)
		if err != nil {
			return err
		}
		if ont, err = q(`INSERT INTO ont_units (name, geom) VALUES ('ONT-bench', ` + p + `) RETURNING id`); err != nil {
			return err
		}
		upType, upID := "olt_port", port
		var prev string
		for i := 0; i < 5; i++ {
			seg, err := q(`INSERT INTO fiber_segments (name, fiber_count, geom) VALUES ($1, 12, ST_SetSRID(ST_MakeLine(ST_MakePoint(-111.04 + $2 * 0.001, 45.67), ST_MakePoint(-111.039 + $2 * 0.001, 45.67)), 4326)) RETURNING id`,
				fmt.Sprintf("CHAIN-%d", i), i)
			if err != nil {
				return err
			}
			downType, downID := "ont", ont
			var closure, tray string
			if i < 4 {
				if closure, err = q(`INSERT INTO fiber_splice_closures (name, geom) VALUES ($1, `+p+`) RETURNING id`, fmt.Sprintf("SC-bench-%d", i)); err != nil {
					return err
				}
				if tray, err = q(`INSERT INTO fiber_splice_trays (closure_id, number) VALUES ($1, 1) RETURNING id`, closure); err != nil {
					return err
				}
				downType, downID = "splice_closure", closure
			}
			st, err := q(`SELECT fiber_strand($1, 3)`, seg)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE fiber_strands SET upstream_type = $2, upstream_id = $3, downstream_type = $4, downstream_id = $5 WHERE id = $1`,
				st, upType, upID, downType, downID); err != nil {
				return err
			}
			if prev != "" {
				if _, err := tx.Exec(ctx, `INSERT INTO fiber_splices (closure_id, tray_id, from_strand_id, to_strand_id) SELECT closure_id, id, $2, $3 FROM fiber_splice_trays WHERE closure_id = $1`,
					upID, prev, st); err != nil {
					return err
				}
			}
			prev, upType, upID = st, "splice_closure", closure
			_ = tray
		}
		return nil
	})
	return ont, 10, err
}
