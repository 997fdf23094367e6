package fiber_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/fiber"
	"dotmac.dev/field/hub/hubtest"
)

// The tests draw their plant near 50°N 10°E, far from the Bozeman demo plant.

// importLimit is the import body limit of the test hub: above the server-wide 1 MiB.
const importLimit = 3 << 20

type env struct {
	*hubtest.Env
	admin, tech, vendor, customer, dispatcher string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := hubtest.New(t, hubtest.Options{Demo: true, Configure: func(c *app.Config) {
		c.MaxBodyBytes = 1 << 20
		c.FiberImportMaxBytes = importLimit
	}})
	return &env{Env: e,
		admin:      e.Token("admin@example.com", "admin123!"),
		tech:       e.Token("tech1@example.com", "tech123!"),
		vendor:     e.Token("vendor1@example.com", "vendor123!"),
		customer:   e.Token("customer1@example.com", "customer123!"),
		dispatcher: e.Token("dispatcher@example.com", "dispatch123!"),
	}
}

func feature(kind string, geom string, props string) string {
	if props != "" {
		props = "," + props
	}
	return fmt.Sprintf(`{"type":"Feature","geometry":%s,"properties":{"kind":%q%s}}`, geom, kind, props)
}

func collection(fs ...string) string {
	return `{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) plantCount(t *testing.T) int {
	t.Helper()
	var n int
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM fiber_map_objects WHERE ST_X(ST_PointOnSurface(geom)) BETWEEN 9 AND 11`).Scan(&n)
	return n
}

type importErr struct {
	Error struct {
		Code     string
		Message  string
		Fields   map[string]string
		Features []fiber.FeatureError
	}
}

func TestFiber(t *testing.T) {
	e := newEnv(t)

	t.Run("DemoPlantTraces", func(t *testing.T) {
		rows, err := e.DB.Pool.Query(context.Background(), `SELECT id FROM ont_units ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		var onts []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			onts = append(onts, id)
		}
		rows.Close()
		if len(onts) < 20 {
			t.Fatalf("demo ONTs: %d", len(onts))
		}
		for _, id := range onts {
			var tr fiber.Trace
			e.Do("GET", "/api/v1/fiber/onts/"+id+"/trace", e.admin, nil).JSON(t, &tr)
			if !tr.Complete || len(tr.Hops) != 9 {
				t.Fatalf("demo trace of %s: %+v", id, tr)
			}
		}
	})

	t.Run("ImportRejectsEveryBadFeatureAndImportsNothing", func(t *testing.T) {
		body := collection(
			feature("pole", `{"type":"Point","coordinates":[10.0,50.0]}`, `"name":"good pole"`),                                     // 0 fine
			feature("pole", `{"type":"Point","coordinates":"x"}`, ``),                                                               // 1 malformed coordinates
			feature("segment", `{"type":"LineString","coordinates":[]}`, ``),                                                        // 2 empty
			feature("pole", `{"type":"Point","coordinates":[200,50]}`, ``),                                                          // 3 out of range
			feature("manhole", `{"type":"Point","coordinates":[10,50]}`, ``),                                                        // 4 unknown kind
			feature("segment", `{"type":"Point","coordinates":[10,50]}`, ``),                                                        // 5 wrong geometry type
			feature("building", `{"type":"Polygon","coordinates":[[[10,50],[10.001,50.001],[10.001,50],[10,50.001],[10,50]]]}`, ``), // 6 self-intersecting (ST_IsValid)
			feature("segment", `{"type":"LineString","coordinates":[[10,50],[10.001,50]]}`, `"fiber_count":9999`),                   // 7 attribute out of range
			`{"type":"Feature","geometry":null,"properties":{"kind":"pole"}}`,                                                       // 8 no geometry
			`{"type":"Feature","geometry":{"type":"Point","coordinates":[10,50]},"properties":{}}`,                                  // 9 no kind
			feature("splitter", `{"type":"Point","coordinates":[10,50]}`, `"fdh_id":"01900000-0000-7000-8000-000000000000"`),        // 10 unknown reference
		)
		r := e.Do("POST", "/api/v1/fiber/import", e.admin, body)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		var ie importErr
		r.JSON(t, &ie)
		got := map[int]string{}
		for _, fe := range ie.Error.Features {
			got[fe.Index] = fe.Message
		}
		// 6 and 10 are found in the database only when the rest is clean: check them separately.
		for _, i := range []int{1, 2, 3, 4, 5, 7, 8, 9} {
			if got[i] == "" {
				t.Errorf("feature %d: no error reported (%v)", i, got)
			}
		}
		if _, ok := got[0]; ok {
			t.Errorf("feature 0 is fine but reported: %s", got[0])
		}
		if ie.Error.Fields["features[3]"] == "" || !strings.Contains(got[3], "out of range") {
			t.Errorf("out of range: %q", got[3])
		}
		if !strings.Contains(got[5], "LineString") {
			t.Errorf("wrong geometry type: %q", got[5])
		}
		if n := e.plantCount(t); n != 0 {
			t.Fatalf("%d objects imported from a bad file", n)
		}

		// Database-side checks: invalid polygon and an unknown reference, next to good rows.
		body = collection(
			feature("pole", `{"type":"Point","coordinates":[10.0,50.0]}`, ``),
			feature("building", `{"type":"Polygon","coordinates":[[[10,50],[10.001,50.001],[10.001,50],[10,50.001],[10,50]]]}`, ``),
			feature("splitter", `{"type":"Point","coordinates":[10,50]}`, `"fdh_id":"01900000-0000-7000-8000-000000000000"`),
		)
		r = e.Do("POST", "/api/v1/fiber/import", e.admin, body)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		ie = importErr{}
		r.JSON(t, &ie)
		if len(ie.Error.Features) != 2 || ie.Error.Features[0].Index != 1 || !strings.Contains(ie.Error.Features[0].Message, "invalid geometry") ||
			ie.Error.Features[1].Index != 2 {
			t.Fatalf("errors: %+v", ie.Error.Features)
		}
		if n := e.plantCount(t); n != 0 {
			t.Fatalf("%d objects imported from a bad file", n)
		}
	})

	t.Run("ImportBadBodies", func(t *testing.T) {
		for name, body := range map[string]string{
			"not json":        `{"type":"FeatureCollection","features":[`,
			"not a fc":        `{"type":"Feature"}`,
			"array":           `[1,2]`,
			"features object": `{"type":"FeatureCollection","features":{}}`,
			"feature string":  `{"type":"FeatureCollection","features":["x"]}`,
		} {
			r := e.Do("POST", "/api/v1/fiber/import", e.admin, body)
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s: status %d %s", name, r.Status, r.Body)
			}
		}
		if n := e.plantCount(t); n != 0 {
			t.Fatalf("%d objects imported", n)
		}
	})

	var ids struct {
		cab, closure, closure2, segA, segB, segC, ont, splitter string
	}
	ids.cab, ids.closure, ids.closure2 = "01900000-0000-7000-8000-0000000000a1", "01900000-0000-7000-8000-0000000000c1", "01900000-0000-7000-8000-0000000000c2"
	ids.segA, ids.segB, ids.segC = "01900000-0000-7000-8000-0000000000e1", "01900000-0000-7000-8000-0000000000e2", "01900000-0000-7000-8000-0000000000e3"
	ids.ont, ids.splitter = "01900000-0000-7000-8000-0000000000f1", "01900000-0000-7000-8000-0000000000b1"

	t.Run("ImportOK", func(t *testing.T) {
		body := collection(
			feature("splitter", `{"type":"Point","coordinates":[10.0005,50.0005]}`, `"id":"`+ids.splitter+`","name":"SP-1","ratio":"1:8","fdh_id":"`+ids.cab+`"`),
			feature("fdh_cabinet", `{"type":"Point","coordinates":[10.0005,50.0005]}`, `"id":"`+ids.cab+`","name":"FDH-T1","code":"T1"`),
			feature("splice_closure", `{"type":"Point","coordinates":[10.002,50.0]}`, `"id":"`+ids.closure+`","name":"SC-1","tray_count":2`),
			feature("splice_closure", `{"type":"Point","coordinates":[10.004,50.0]}`, `"id":"`+ids.closure2+`","name":"SC-2","tray_count":1`),
			feature("segment", `{"type":"LineString","coordinates":[[10.0005,50.0005],[10.002,50.0]]}`, `"id":"`+ids.segA+`","name":"DIST-A","segment_type":"distribution","fiber_count":24`),
			feature("segment", `{"type":"LineString","coordinates":[[10.002,50.0],[10.004,50.0]]}`, `"id":"`+ids.segB+`","name":"DIST-B","fiber_count":12,"owner_ref":"X-17"`),
			feature("segment", `{"type":"LineString","coordinates":[[10.004,50.0],[10.0042,50.0003]]}`, `"id":"`+ids.segC+`","name":"DROP-C","segment_type":"drop","fiber_count":"2"`),
			feature("ont", `{"type":"Point","coordinates":[10.0042,50.0003]}`, `"id":"`+ids.ont+`","name":"ONT test","serial":"ZTEG00000001"`),
			feature("pole", `{"type":"Point","coordinates":[10.003,50.0,12.5]}`, `"name":"P-1","height_m":10.5`),
			feature("building", `{"type":"Polygon","coordinates":[[[10.0041,50.0002],[10.0043,50.0002],[10.0043,50.0004],[10.0041,50.0004],[10.0041,50.0002]]]}`, `"name":"House 1"`),
			feature("mast", `{"type":"Point","coordinates":[10.01,50.01]}`, `"name":"Mast 1","height_m":30`),
			feature("duct", `{"type":"LineString","coordinates":[[10.0005,50.0005],[10.002,50.0]]}`, `"name":"D-1"`),
			feature("termination_point", `{"type":"Point","coordinates":[10.004,50.0]}`, `"name":"TP-1"`),
		)
		r := e.Do("POST", "/api/v1/fiber/import", e.admin, body)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		var res fiber.ImportResult
		r.JSON(t, &res)
		if res.Imported != 13 || res.ByKind["segment"] != 3 {
			t.Fatalf("result %+v", res)
		}
		if n := e.count(t, "fiber_splice_trays WHERE closure_id = '"+ids.closure+"'"); n != 2 {
			t.Fatalf("trays: %d", n)
		}
		if n := e.count(t, "splitter_ports WHERE splitter_id = '"+ids.splitter+"'"); n != 9 {
			t.Fatalf("splitter ports: %d", n)
		}
		var length float64
		e.DB.Pool.QueryRow(context.Background(), `SELECT length_m FROM fiber_segments WHERE id = $1`, ids.segB).Scan(&length)
		if length < 140 || length > 146 { // 0.002° of longitude at 50°N ≈ 143 m
			t.Fatalf("length_m %f", length)
		}
		// the same ids again: every feature is reported, nothing changes
		r = e.Do("POST", "/api/v1/fiber/import", e.admin, collection(feature("fdh_cabinet", `{"type":"Point","coordinates":[10.0005,50.0005]}`, `"id":"`+ids.cab+`"`)))
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "in use") {
			t.Fatalf("reimport: %d %s", r.Status, r.Body)
		}
	})

	t.Run("BBoxNearbyNearest", func(t *testing.T) {
		var fc struct {
			Type     string
			Features []struct {
				Properties map[string]any
				Geometry   map[string]any
			}
		}
		r := e.Do("GET", "/api/v1/fiber/features?bbox=9.99,49.99,10.003,50.01", e.admin, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		r.JSON(t, &fc)
		kinds := map[string]int{}
		for _, f := range fc.Features {
			kinds[f.Properties["kind"].(string)]++
		}
		if fc.Type != "FeatureCollection" || kinds["segment"] != 2 || kinds["fdh_cabinet"] != 1 || kinds["mast"] != 0 {
			t.Fatalf("bbox kinds %v", kinds)
		}
		r = e.Do("GET", "/api/v1/fiber/features?bbox=9.99,49.99,10.003,50.01&kind=segment&download=1", e.admin, nil)
		if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("download header %q", r.Header.Get("Content-Disposition"))
		}
		fc.Features = nil
		r.JSON(t, &fc)
		for _, f := range fc.Features {
			if f.Properties["kind"] != "segment" || f.Properties["fiber_count"] == nil || f.Properties["version"] == nil {
				t.Fatalf("feature %v", f.Properties)
			}
		}
		// field map assets: same GeoJSON, field permission
		r = e.Do("GET", "/api/v1/field/map-assets?bbox=9.99,49.99,10.02,50.02", e.tech, nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"kind":"splice_closure"`) {
			t.Fatalf("map-assets %d %s", r.Status, r.Body)
		}
		// nearby: within 100 m of SC-1 — the closure itself, the two cables touching it, the pole at ~72 m
		r = e.Do("GET", "/api/v1/fiber/nearby?lat=50.0&lon=10.002&radius_m=100", e.admin, nil)
		fc.Features = nil
		r.JSON(t, &fc)
		names := map[string]bool{}
		for _, f := range fc.Features {
			names[f.Properties["name"].(string)] = true
		}
		if !names["SC-1"] || !names["DIST-A"] || !names["DIST-B"] || !names["P-1"] || names["SC-2"] || names["Mast 1"] {
			t.Fatalf("nearby %v", names)
		}
		if d := fc.Features[0].Properties["distance_m"]; d == nil || d.(float64) > 1 {
			t.Fatalf("first nearby is not the closest: %v", fc.Features[0].Properties)
		}
		var near struct{ Items []fiber.NearestCabinet }
		r = e.Do("GET", "/api/v1/fiber/nearest-cabinet?lat=50.0&lon=10.004", e.admin, nil)
		r.JSON(t, &near)
		if len(near.Items) != 1 || near.Items[0].Name != "FDH-T1" || near.Items[0].DistanceM < 200 || near.Items[0].DistanceM > 300 {
			t.Fatalf("nearest %+v", near.Items)
		}
		// the sync query: plant within 300 m of a point
		var n int
		e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM fiber_objects_near(ST_SetSRID(ST_MakePoint(10.004, 50.0), 4326), 300)`).Scan(&n)
		if n < 8 {
			t.Fatalf("fiber_objects_near: %d", n)
		}
		// CSV list
		r = e.Do("GET", "/api/v1/fiber/objects?kind=segment&format=csv&bbox=9.99,49.99,10.02,50.02", e.admin, nil)
		if r.Status != http.StatusOK || !strings.HasPrefix(string(r.Body), "id,kind,name,status,version,updated_at,lon,lat,segment_type") ||
			strings.Count(string(r.Body), "\n") != 4 {
			t.Fatalf("csv %d %s", r.Status, r.Body)
		}
	})

	var strandA1, strandB1 string
	t.Run("SpliceRules", func(t *testing.T) {
		splice := func(closure string, body string) *hubtest.Response {
			return e.Do("POST", "/api/v1/fiber/splice-closures/"+closure+"/splices", e.admin, body)
		}
		// self-splice
		r := splice(ids.closure, fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":1}}`, ids.segA, ids.segA))
		if r.Status != http.StatusBadRequest {
			t.Fatalf("self-splice %d %s", r.Status, r.Body)
		}
		var tray2 string
		e.DB.Pool.QueryRow(context.Background(), `SELECT id FROM fiber_splice_trays WHERE closure_id = $1`, ids.closure2).Scan(&tray2)
		// a tray of another closure
		r = splice(ids.closure, fmt.Sprintf(`{"tray_id":%q,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":1}}`, tray2, ids.segA, ids.segB))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "does not belong") {
			t.Fatalf("foreign tray %d %s", r.Status, r.Body)
		}
		// a strand that the cable does not have
		r = splice(ids.closure, fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":25},"to":{"segment_id":%q,"number":1}}`, ids.segA, ids.segB))
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("strand 25 of 24: %d %s", r.Status, r.Body)
		}
		// fine
		r = splice(ids.closure, fmt.Sprintf(`{"tray":1,"position":1,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":1},"loss_db":0.05}`, ids.segA, ids.segB))
		if r.Status != http.StatusCreated {
			t.Fatalf("splice %d %s", r.Status, r.Body)
		}
		// the same strand used twice in the closure
		r = splice(ids.closure, fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":2}}`, ids.segA, ids.segB))
		if r.Status != http.StatusConflict {
			t.Fatalf("strand twice %d %s", r.Status, r.Body)
		}
		// the same pair again, the other way round, in another closure
		r = splice(ids.closure2, fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":1}}`, ids.segB, ids.segA))
		if r.Status != http.StatusConflict {
			t.Fatalf("pair twice %d %s", r.Status, r.Body)
		}
		// a damaged strand
		if r := e.Do("PATCH", "/api/v1/fiber/segments/"+ids.segB+"/strands/5", e.admin, `{"status":"damaged"}`); r.Status != http.StatusOK {
			t.Fatalf("strand update %d %s", r.Status, r.Body)
		}
		r = splice(ids.closure2, fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":5},"to":{"segment_id":%q,"number":1}}`, ids.segB, ids.segC))
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "damaged") {
			t.Fatalf("damaged %d %s", r.Status, r.Body)
		}
		// the field view of the closure, with colours
		var cl fiber.Closure
		r = e.Do("GET", "/api/v1/field/splice-closures/"+ids.closure, e.tech, nil)
		r.JSON(t, &cl)
		if len(cl.Trays) != 2 || len(cl.Trays[0].Splices) != 1 || cl.Trays[0].Splices[0].InStrand.Color != "blue" ||
			cl.Trays[0].Splices[0].InStrand.Status != "reserved" {
			t.Fatalf("closure %+v", cl)
		}
		strandA1, strandB1 = cl.Trays[0].Splices[0].InStrand.ID, cl.Trays[0].Splices[0].OutStrand.ID
		if strandA1 == "" || strandB1 == "" {
			t.Fatal("no strand ids")
		}
		var st struct{ Items []fiber.Strand }
		e.Do("GET", "/api/v1/fiber/segments/"+ids.segA+"/strands", e.admin, nil).JSON(t, &st)
		if len(st.Items) != 24 || st.Items[12].Color != "blue" || st.Items[12].TubeColor != "orange" || st.Items[0].Status != "reserved" {
			t.Fatalf("strands %+v", st.Items[:2])
		}
	})

	t.Run("Trace", func(t *testing.T) {
		ctx := context.Background()
		var olt, port string
		if err := e.DB.Pool.QueryRow(ctx, `INSERT INTO olt_devices (name, geom) VALUES ('OLT-T', ST_SetSRID(ST_MakePoint(9.999, 50.0), 4326)) RETURNING id`).Scan(&olt); err != nil {
			t.Fatal(err)
		}
		e.DB.Pool.QueryRow(ctx, `INSERT INTO pon_ports (olt_id, slot, port) VALUES ($1, 1, 3) RETURNING id`, olt).Scan(&port)
		var feeder string
		e.DB.Pool.QueryRow(ctx, `INSERT INTO fiber_segments (name, segment_type, fiber_count, geom) VALUES ('FEED-T', 'feeder', 48,
			ST_SetSRID(ST_MakeLine(ST_MakePoint(9.999, 50.0), ST_MakePoint(10.0005, 50.0005)), 4326)) RETURNING id`).Scan(&feeder)
		var in1, out1 string
		e.DB.Pool.QueryRow(ctx, `SELECT id FROM splitter_ports WHERE splitter_id = $1 AND port_type = 'input' AND number = 1`, ids.splitter).Scan(&in1)
		e.DB.Pool.QueryRow(ctx, `SELECT id FROM splitter_ports WHERE splitter_id = $1 AND port_type = 'output' AND number = 4`, ids.splitter).Scan(&out1)
		patch := func(seg string, n int, body string) {
			t.Helper()
			if r := e.Do("PATCH", fmt.Sprintf("/api/v1/fiber/segments/%s/strands/%d", seg, n), e.admin, body); r.Status != http.StatusOK {
				t.Fatalf("patch %d %s", r.Status, r.Body)
			}
		}
		patch(feeder, 7, fmt.Sprintf(`{"upstream_type":"olt_port","upstream_id":%q,"downstream_type":"splitter_port","downstream_id":%q}`, port, in1))
		patch(ids.segA, 1, fmt.Sprintf(`{"upstream_type":"splitter_port","upstream_id":%q,"downstream_type":"splice_closure","downstream_id":%q}`, out1, ids.closure))
		patch(ids.segB, 1, fmt.Sprintf(`{"upstream_type":"splice_closure","upstream_id":%q,"downstream_type":"splice_closure","downstream_id":%q}`, ids.closure, ids.closure2))
		patch(ids.segC, 2, fmt.Sprintf(`{"upstream_type":"splice_closure","upstream_id":%q,"downstream_type":"ont","downstream_id":%q}`, ids.closure2, ids.ont))
		// incomplete until SC-2 splices B#1 to C#2
		var tr fiber.Trace
		e.Do("GET", "/api/v1/fiber/onts/"+ids.ont+"/trace", e.admin, nil).JSON(t, &tr)
		if tr.Complete || tr.Hops[len(tr.Hops)-1].Kind != "break" {
			t.Fatalf("trace should break at SC-2: %+v", tr)
		}
		if r := e.Do("POST", "/api/v1/fiber/splice-closures/"+ids.closure2+"/splices", e.admin,
			fmt.Sprintf(`{"tray":1,"from":{"segment_id":%q,"number":1},"to":{"segment_id":%q,"number":2}}`, ids.segB, ids.segC)); r.Status != http.StatusCreated {
			t.Fatalf("splice %d %s", r.Status, r.Body)
		}
		tr = fiber.Trace{}
		e.Do("GET", "/api/v1/fiber/onts/"+ids.ont+"/trace", e.admin, nil).JSON(t, &tr)
		var kinds []string
		for _, h := range tr.Hops {
			kinds = append(kinds, h.Kind)
		}
		want := "ont strand splice strand splice strand splitter strand olt_port"
		if !tr.Complete || strings.Join(kinds, " ") != want || tr.Hops[len(tr.Hops)-1].Detail["port"].(float64) != 3 {
			t.Fatalf("trace %s: %+v", strings.Join(kinds, " "), tr)
		}
		start := time.Now()
		for i := 0; i < 20; i++ {
			if _, err := fiber.NewService(e.DB, nil).TraceONT(ctx, ids.ont); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("trace of %d hops: %s each", len(tr.Hops), time.Since(start)/20)
		// ONT page with its trace
		if r := e.Do("GET", "/api/v1/fiber/onts/not-a-uuid/trace", e.admin, nil); r.Status != http.StatusNotFound {
			t.Fatalf("bad id %d", r.Status)
		}
	})

	t.Run("ChangeRequests", func(t *testing.T) {
		// a technician proposes moving and renaming the pole
		var pole struct {
			Properties map[string]any
		}
		var poleID string
		e.DB.Pool.QueryRow(context.Background(), `SELECT id FROM poles WHERE name = 'P-1'`).Scan(&poleID)
		e.Do("GET", "/api/v1/fiber/objects/pole/"+poleID, e.admin, nil).JSON(t, &pole)
		v0 := pole.Properties["version"].(float64)
		body := fmt.Sprintf(`{"kind":"pole","operation":"update","object_id":%q,"geometry":{"type":"Point","coordinates":[10.0031,50.0001]},
			"properties":{"name":"P-1 (moved)","material":"steel"},"note":"pole is 10 m east","client_ref":"t-cr-1"}`, poleID)
		r := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, body)
		if r.Status != http.StatusCreated {
			t.Fatalf("propose %d %s", r.Status, r.Body)
		}
		var cr fiber.ChangeRequest
		r.JSON(t, &cr)
		if cr.Status != "pending" || cr.Source != "field" || cr.Before == nil || !strings.Contains(string(cr.After), "P-1 (moved)") {
			t.Fatalf("cr %+v", cr)
		}
		// replay with the same client_ref: same request, 200
		if r := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, body); r.Status != http.StatusOK {
			t.Fatalf("replay %d %s", r.Status, r.Body)
		}
		// invalid proposals are refused up front with the apply-time validations
		for name, bad := range map[string]string{
			"bad material":   fmt.Sprintf(`{"kind":"pole","operation":"update","object_id":%q,"properties":{"material":"gold"}}`, poleID),
			"out of range":   `{"kind":"pole","operation":"create","geometry":{"type":"Point","coordinates":[10,95]}}`,
			"unknown kind":   `{"kind":"manhole","operation":"create"}`,
			"self splice":    fmt.Sprintf(`{"kind":"splice","operation":"create","properties":{"closure_id":%q,"tray":2,"from":{"segment_id":%q,"number":3},"to":{"segment_id":%q,"number":3}}}`, ids.closure, ids.segA, ids.segA),
			"no object":      `{"kind":"pole","operation":"update","object_id":"01900000-0000-7000-8000-00000000dead"}`,
			"unknown field":  `{"kind":"pole","operation":"create","colour":"red"}`,
			"wrong geometry": `{"kind":"segment","operation":"create","geometry":{"type":"Point","coordinates":[10,50]}}`,
		} {
			r := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, bad)
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		// the technician cannot review
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+cr.ID+"/apply", e.tech, nil); r.Status != http.StatusForbidden {
			t.Fatalf("tech apply %d", r.Status)
		}
		r = e.Do("POST", "/api/v1/fiber/change-requests/"+cr.ID+"/apply", e.admin, `{"note":"checked on site photos"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("apply %d %s", r.Status, r.Body)
		}
		cr = fiber.ChangeRequest{}
		r.JSON(t, &cr)
		if cr.Status != "applied" || cr.AppliedVersion == nil || float64(*cr.AppliedVersion) <= v0 {
			t.Fatalf("applied %+v", cr)
		}
		e.Do("GET", "/api/v1/fiber/objects/pole/"+poleID, e.admin, nil).JSON(t, &pole)
		if pole.Properties["name"] != "P-1 (moved)" || pole.Properties["material"] != "steel" || pole.Properties["version"].(float64) <= v0 {
			t.Fatalf("pole after %v", pole.Properties)
		}
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+cr.ID+"/apply", e.admin, nil); r.Status != http.StatusConflict {
			t.Fatalf("apply twice %d", r.Status)
		}

		// a vendor proposes a new closure; it is rejected
		r = e.Do("POST", "/api/v1/vendor/fiber/change-requests", e.vendor,
			`{"kind":"splice_closure","operation":"create","geometry":{"type":"Point","coordinates":[10.005,50.0]},"properties":{"name":"SC-V","tray_count":2}}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("vendor propose %d %s", r.Status, r.Body)
		}
		var vcr fiber.ChangeRequest
		r.JSON(t, &vcr)
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+vcr.ID+"/reject", e.admin, `{"note":"duplicate of SC-2"}`); r.Status != http.StatusOK {
			t.Fatalf("reject %d %s", r.Status, r.Body)
		}
		if n := e.count(t, "fiber_splice_closures WHERE name = 'SC-V'"); n != 0 {
			t.Fatal("a rejected proposal changed the plant")
		}
		var mine struct{ Items []fiber.ChangeRequest }
		e.Do("GET", "/api/v1/vendor/fiber/change-requests", e.vendor, nil).JSON(t, &mine)
		if len(mine.Items) != 1 || mine.Items[0].Status != "rejected" {
			t.Fatalf("vendor's requests %+v", mine.Items)
		}

		// a splice proposal from the field, deduplicated while pending, applied
		sp := fmt.Sprintf(`{"kind":"splice","operation":"create","properties":{"closure_id":%q,"tray":2,"from":{"segment_id":%q,"number":3},"to":{"segment_id":%q,"number":3}}}`, ids.closure, ids.segA, ids.segB)
		r1 := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, sp)
		r2 := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, sp)
		var c1, c2 fiber.ChangeRequest
		r1.JSON(t, &c1)
		r2.JSON(t, &c2)
		if r1.Status != http.StatusCreated || r2.Status != http.StatusOK || c1.ID != c2.ID {
			t.Fatalf("dedupe %d %d %s %s", r1.Status, r2.Status, c1.ID, c2.ID)
		}
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+c1.ID+"/apply", e.admin, nil); r.Status != http.StatusOK {
			t.Fatalf("apply splice %d %s", r.Status, r.Body)
		}

		// a stale update: the object changed after the proposal
		r = e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, fmt.Sprintf(`{"kind":"pole","operation":"update","object_id":%q,"properties":{"owner":"City"}}`, poleID))
		var stale fiber.ChangeRequest
		r.JSON(t, &stale)
		if r := e.Do("PATCH", "/api/v1/fiber/objects/pole/"+poleID, e.admin, `{"properties":{"height_m":11}}`); r.Status != http.StatusOK {
			t.Fatalf("patch %d %s", r.Status, r.Body)
		}
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+stale.ID+"/apply", e.admin, nil); r.Status != http.StatusConflict {
			t.Fatalf("stale apply %d %s", r.Status, r.Body)
		}
		// delete leaves a tombstone for sync
		if r := e.Do("DELETE", "/api/v1/fiber/objects/pole/"+poleID, e.admin, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete %d %s", r.Status, r.Body)
		}
		if n := e.count(t, "field_map_asset_tombstones WHERE asset_id = '"+poleID+"'"); n != 1 {
			t.Fatalf("tombstones %d", n)
		}
		var tomb int
		e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM fiber_tombstones_near(ST_SetSRID(ST_MakePoint(10.003, 50.0), 4326), 300)`).Scan(&tomb)
		if tomb != 1 {
			t.Fatalf("tombstones near %d", tomb)
		}
	})

	t.Run("BadInputIs4xx", func(t *testing.T) {
		for _, path := range []string{
			"/api/v1/fiber/features", "/api/v1/fiber/features?bbox=1,2,3", "/api/v1/fiber/features?bbox=a,b,c,d",
			"/api/v1/fiber/features?bbox=10,50,9,49", "/api/v1/fiber/features?bbox=-200,0,0,1", "/api/v1/fiber/features?bbox=0,0,1,1&kind=manhole",
			"/api/v1/fiber/features?bbox=0,0,1,1&limit=0", "/api/v1/fiber/features?bbox=0,0,1,1&since_version=-1",
			"/api/v1/fiber/nearby?lat=x&lon=1", "/api/v1/fiber/nearby?lat=1&lon=1&radius_m=99999", "/api/v1/fiber/nearest-cabinet?lat=91&lon=0",
			"/api/v1/fiber/objects", "/api/v1/fiber/objects?kind=x", "/api/v1/fiber/objects/pole/xyz", "/api/v1/fiber/objects/x/" + ids.cab,
			"/api/v1/fiber/splice-closures/nope", "/api/v1/fiber/segments/nope/strands", "/api/v1/fiber/fdh-cabinets/nope",
			"/api/v1/fiber/change-requests/nope", "/api/v1/fiber/change-requests?status=odd", "/api/v1/fiber/customers/nope/trace",
		} {
			if r := e.Do("GET", path, e.admin, nil); r.Status < 400 || r.Status >= 500 {
				t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
			}
		}
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/v1/fiber/objects/pole", `{"type":"Feature","geometry":{"type":"Point","coordinates":[1]}}`},
			{"POST", "/api/v1/fiber/objects/pole", `{"type":"Feature","properties":{"name":"no geometry"}}`},
			{"POST", "/api/v1/fiber/objects/pole", `not json`},
			{"PATCH", "/api/v1/fiber/objects/pole/" + ids.cab, `{"properties":{"name":"x"}}`},
			{"PATCH", "/api/v1/fiber/objects/fdh_cabinet/" + ids.cab, `{"properties":{"status":"exploded"}}`},
			{"PATCH", "/api/v1/fiber/objects/fdh_cabinet/" + ids.cab, `{"properties":{"name":"x"},"version":123456789}`},
			{"PATCH", "/api/v1/fiber/segments/" + ids.segA + "/strands/99", `{"status":"reserved"}`},
			{"PATCH", "/api/v1/fiber/segments/" + ids.segA + "/strands/2", `{"status":"lit"}`},
			{"PATCH", "/api/v1/fiber/segments/" + ids.segA + "/strands/x", `{}`},
			{"POST", "/api/v1/fiber/splice-closures/" + ids.closure + "/splices", `{"tray":9,"from":{"segment_id":"` + ids.segA + `","number":9},"to":{"segment_id":"` + ids.segB + `","number":9}}`},
			{"POST", "/api/v1/fiber/splice-closures/" + ids.closure + "/splices", `{}`},
			{"POST", "/api/v1/fiber/onts/" + ids.ont + "/assignments", `{"customer_id":"x"}`},
			{"DELETE", "/api/v1/fiber/splices/nope", ``},
			{"POST", "/api/v1/fiber/change-requests/nope/apply", ``},
			{"POST", "/api/v1/fiber/import", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1e400,1]},"properties":{"kind":"pole"}}]}`},
		} {
			var body any
			if c.body != "" {
				body = c.body
			}
			if r := e.Do(c.method, c.path, e.admin, body); r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
			}
		}
	})

	t.Run("Permissions", func(t *testing.T) {
		for _, c := range []struct {
			token, method, path string
			want                int
		}{
			{e.tech, "GET", "/api/v1/fiber/features?bbox=9,49,11,51", http.StatusForbidden},
			{e.tech, "POST", "/api/v1/fiber/import", http.StatusForbidden},
			{e.tech, "GET", "/api/v1/fiber/change-requests", http.StatusForbidden},
			{e.vendor, "GET", "/api/v1/field/map-assets?bbox=9,49,11,51", http.StatusForbidden},
			{e.vendor, "POST", "/api/v1/field/fiber/change-requests", http.StatusForbidden},
			{e.customer, "POST", "/api/v1/vendor/fiber/change-requests", http.StatusForbidden},
			{e.customer, "GET", "/api/v1/field/splice-closures/" + ids.closure, http.StatusForbidden},
			{e.dispatcher, "POST", "/api/v1/fiber/objects/pole", http.StatusForbidden},
			{e.dispatcher, "GET", "/api/v1/fiber/features?bbox=9,49,11,51", http.StatusOK},
			{"", "GET", "/api/v1/field/map-assets?bbox=9,49,11,51", http.StatusUnauthorized},
		} {
			var body any
			if c.method == "POST" {
				body = `{}`
			}
			if r := e.Do(c.method, c.path, c.token, body); r.Status != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, r.Status, c.want)
			}
		}
	})

	t.Run("Pages", func(t *testing.T) {
		c := e.Browser()
		login := func() {
			r := e.Send(c, mustReq(t, "GET", e.URL+"/auth/login", ""))
			_ = r
		}
		login()
		// sign in through the form (double-submit CSRF cookie)
		var csrf string
		u := mustURL(t, e.URL)
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "dmf_login_csrf" {
				csrf = ck.Value
			}
		}
		req := mustReq(t, "POST", e.URL+"/auth/login", "email=admin%40example.com&password=admin123%21&csrf_token="+csrf)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := e.Send(c, req); r.Status != http.StatusSeeOther {
			t.Fatalf("login %d %s", r.Status, r.Body)
		}
		for _, p := range []string{"/admin/network/map", "/admin/network/plant?kind=segment", "/admin/network/objects/splice_closure/" + ids.closure,
			"/admin/network/objects/segment/" + ids.segA, "/admin/network/objects/fdh_cabinet/" + ids.cab, "/admin/network/objects/ont/" + ids.ont,
			"/admin/network/change-requests?status=all", "/admin/network/import", "/assets/fiber/map.js"} {
			r := e.Send(c, mustReq(t, "GET", e.URL+p, ""))
			if r.Status != http.StatusOK || strings.Contains(string(r.Body), "ZgotmplZ") {
				t.Errorf("%s: %d %s", p, r.Status, firstN(r.Body, 300))
			}
		}
		var crID string
		e.DB.Pool.QueryRow(context.Background(), `SELECT id FROM fiber_change_requests ORDER BY created_at LIMIT 1`).Scan(&crID)
		if r := e.Send(c, mustReq(t, "GET", e.URL+"/admin/network/change-requests/"+crID, "")); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Before and after") {
			t.Errorf("review page %d", r.Status)
		}
	})

	// The import route has its own body limit (Router.BodyLimit): a file over the server-wide
	// 1 MiB imports, one over the import limit is a 413, and other routes keep 1 MiB.
	t.Run("ImportBodyLimit", func(t *testing.T) {
		var fs []string
		for i := 0; len(fs) == 0 || len(strings.Join(fs, ",")) < 2<<20; i++ {
			fs = append(fs, feature("pole", fmt.Sprintf(`{"type":"Point","coordinates":[20.%07d,50.0001]}`, i), fmt.Sprintf(`"name":"BL-%06d"`, i)))
		}
		body := collection(fs...)
		if len(body) <= 1<<20 || len(body) >= importLimit {
			t.Fatalf("body of %d bytes", len(body))
		}
		r := e.Do("POST", "/api/v1/fiber/import", e.admin, body)
		if r.Status != http.StatusOK {
			t.Fatalf("big import: %d %s", r.Status, firstN(r.Body, 300))
		}
		if n := e.count(t, "poles WHERE name LIKE 'BL-%'"); n != len(fs) {
			t.Fatalf("imported %d of %d poles", n, len(fs))
		}

		pad := strings.Repeat("x", importLimit)
		r = e.Do("POST", "/api/v1/fiber/import", e.admin, collection(feature("pole", `{"type":"Point","coordinates":[21,50]}`, `"name":"TOO-BIG","note":"`+pad+`"`)))
		if r.Status != http.StatusRequestEntityTooLarge || r.ErrorCode() != "invalid" {
			t.Fatalf("over the import limit: %d %s", r.Status, firstN(r.Body, 300))
		}
		if n := e.count(t, "poles WHERE name = 'TOO-BIG'"); n != 0 {
			t.Fatalf("an over-limit import wrote %d poles", n)
		}
		r = e.Do("POST", "/api/v1/fiber/objects/pole", e.admin, `{"type":"Feature","geometry":{"type":"Point","coordinates":[21,50]},"properties":{"note":"`+pad[:2<<20]+`"}}`)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("another route over 1 MiB: %d %s", r.Status, firstN(r.Body, 300))
		}
	})

	// Moving a point object marks the cables connected to it geometry_stale; redrawing one clears it.
	t.Run("MovingAPointMarksCablesStale", func(t *testing.T) {
		stale := func(id string) bool {
			t.Helper()
			var f struct{ Properties map[string]any }
			r := e.Do("GET", "/api/v1/fiber/objects/segment/"+id, e.admin, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("segment %s: %d %s", id, r.Status, r.Body)
			}
			r.JSON(t, &f)
			v, ok := f.Properties["geometry_stale"].(bool)
			if !ok {
				t.Fatalf("segment %s has no geometry_stale: %v", id, f.Properties)
			}
			return v
		}
		create := func(body string) string {
			t.Helper()
			r := e.Do("POST", "/api/v1/fiber/objects/segment", e.admin, body)
			if r.Status != http.StatusCreated {
				t.Fatalf("create segment %d %s", r.Status, r.Body)
			}
			var f struct{ Properties map[string]any }
			r.JSON(t, &f)
			return f.Properties["id"].(string)
		}
		patch := func(kind, id, body string) {
			t.Helper()
			if r := e.Do("PATCH", "/api/v1/fiber/objects/"+kind+"/"+id, e.admin, body); r.Status != http.StatusOK {
				t.Fatalf("patch %s %d %s", kind, r.Status, r.Body)
			}
		}
		// named: its route is far from the cabinet, but it says it starts there
		named := create(`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[10.01,50.01],[10.011,50.01]]},"properties":{"from_point_id":"` + ids.cab + `"}}`)
		// passing: crosses where SC-1 stands without ending there
		passing := create(`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[10.002,49.999],[10.002,50.001]]}}`)
		for _, id := range []string{ids.segA, ids.segB, ids.segC, named, passing} {
			if stale(id) {
				t.Fatalf("segment %s is stale before anything moved (the pole moved mid-cable in ChangeRequests)", id)
			}
		}

		// renaming, or saving the same position, moves nothing
		patch("splice_closure", ids.closure2, `{"geometry":{"type":"Point","coordinates":[10.004,50.0]},"properties":{"name":"SC-2 renamed"}}`)
		if stale(ids.segB) || stale(ids.segC) {
			t.Fatal("saving a closure where it stands marked its cables stale")
		}

		// SC-1 moves: DIST-A ends there (and is spliced there), DIST-B starts there
		patch("splice_closure", ids.closure, `{"geometry":{"type":"Point","coordinates":[10.0021,50.0001]}}`)
		if !stale(ids.segA) || !stale(ids.segB) {
			t.Fatal("the cables at a moved closure are not stale")
		}
		if stale(ids.segC) || stale(named) || stale(passing) {
			t.Fatal("a cable not ending at the moved closure was marked stale")
		}
		// the cabinet moves: the cable naming it as from_point_id
		patch("fdh_cabinet", ids.cab, `{"geometry":{"type":"Point","coordinates":[10.0006,50.0005]}}`)
		if !stale(named) || stale(passing) {
			t.Fatal("from_point_id: a cable starting at the moved cabinet is not stale")
		}
		// a change request that moves SC-2 marks DROP-C once applied
		r := e.Do("POST", "/api/v1/field/fiber/change-requests", e.tech, `{"kind":"splice_closure","operation":"update","object_id":"`+ids.closure2+`","geometry":{"type":"Point","coordinates":[10.00405,50.0]}}`)
		var cr fiber.ChangeRequest
		r.JSON(t, &cr)
		if stale(ids.segC) {
			t.Fatal("a pending proposal marked a cable stale")
		}
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+cr.ID+"/apply", e.admin, nil); r.Status != http.StatusOK {
			t.Fatalf("apply %d %s", r.Status, r.Body)
		}
		if !stale(ids.segC) {
			t.Fatal("an applied move did not mark the cable stale")
		}

		// the segment page says so; redrawing the route clears it
		c := signIn(t, e, "/auth/login", "admin@example.com", "admin123!")
		page := e.Send(c, mustReq(t, "GET", e.URL+"/admin/network/objects/segment/"+ids.segA, ""))
		if page.Status != http.StatusOK || !strings.Contains(string(page.Body), "Route out of date") {
			t.Fatalf("segment page %d: no stale notice", page.Status)
		}
		patch("segment", ids.segA, `{"geometry":{"type":"LineString","coordinates":[[10.0006,50.0005],[10.0021,50.0001]]}}`)
		if stale(ids.segA) || !stale(ids.segB) {
			t.Fatal("redrawing DIST-A did not clear its flag (or cleared another's)")
		}
		page = e.Send(c, mustReq(t, "GET", e.URL+"/admin/network/objects/segment/"+ids.segA, ""))
		if strings.Contains(string(page.Body), "Route out of date") {
			t.Fatal("the notice stays after the route was redrawn")
		}
	})

	// The vendor portal: a vendor lists, proposes and follows its own requests; field messages on
	// bad input; another vendor's requests are not found; a colleague of the same vendor sees them.
	t.Run("VendorPortal", func(t *testing.T) {
		ctx := context.Background()
		v1 := signIn(t, e, "/vendor/login", "vendor1@example.com", "vendor123!")
		get := func(c *http.Client, path string) *hubtest.Response {
			t.Helper()
			req := mustReq(t, "GET", e.URL+path, "")
			req.Header.Set("Accept", "text/html")
			return e.Send(c, req)
		}
		csrfRe := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
		csrfOf := func(c *http.Client) string {
			t.Helper()
			r := get(c, "/vendor/fiber/change-requests/new")
			m := csrfRe.FindSubmatch(r.Body)
			if r.Status != http.StatusOK || m == nil {
				t.Fatalf("form %d %s", r.Status, firstN(r.Body, 300))
			}
			return string(m[1])
		}
		post := func(c *http.Client, form url.Values) *hubtest.Response {
			t.Helper()
			req := mustReq(t, "POST", e.URL+"/vendor/fiber/change-requests", form.Encode())
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			return e.Send(c, req)
		}
		csrf := csrfOf(v1)

		r := get(v1, "/vendor/fiber/change-requests")
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "rejected") {
			t.Fatalf("list %d %s", r.Status, firstN(r.Body, 500))
		}

		for name, c := range map[string]struct {
			form  url.Values
			field string
			want  string
		}{
			"no kind":         {url.Values{"operation": {"create"}, "lat": {"50"}, "lon": {"10"}}, "kind", "must be one of"},
			"bad latitude":    {url.Values{"kind": {"pole"}, "operation": {"create"}, "lat": {"north"}, "lon": {"10"}}, "lat", "latitude from -90 to 90"},
			"both geometries": {url.Values{"kind": {"pole"}, "operation": {"create"}, "lat": {"50"}, "lon": {"10"}, "geometry": {`{"type":"Point","coordinates":[10,50]}`}}, "geometry", "not both"},
			"properties json": {url.Values{"kind": {"pole"}, "operation": {"create"}, "lat": {"50"}, "lon": {"10"}, "properties": {"height 9"}}, "properties", "must be a JSON object"},
			"bad attribute":   {url.Values{"kind": {"pole"}, "operation": {"create"}, "lat": {"50"}, "lon": {"10"}, "properties": {`{"material":"gold"}`}}, "properties", "material: must be one of"},
			"no geometry":     {url.Values{"kind": {"pole"}, "operation": {"create"}}, "geometry", "required"},
			"unknown object":  {url.Values{"kind": {"pole"}, "operation": {"update"}, "object_id": {"01900000-0000-7000-8000-00000000dead"}, "name": {"x"}}, "object_id", "not found"},
			"bad object id":   {url.Values{"kind": {"pole"}, "operation": {"delete"}, "object_id": {"pole-7"}}, "object_id", "must be the UUID"},
			"line by lat/lon": {url.Values{"kind": {"segment"}, "operation": {"create"}, "lat": {"50"}, "lon": {"10"}}, "geometry", "must be a LineString"},
		} {
			c.form.Set("csrf_token", csrf)
			r := post(v1, c.form)
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s: status %d", name, r.Status)
				continue
			}
			body := string(r.Body)
			if !strings.Contains(body, `name="`+c.field+`"`) || !strings.Contains(body, c.want) || !strings.Contains(body, `class="err"`) {
				t.Errorf("%s: no field message %q for %s (%d)", name, c.want, c.field, r.Status)
			}
		}
		if n := e.count(t, "fiber_change_requests WHERE source = 'vendor' AND status = 'pending'"); n != 0 {
			t.Fatalf("%d requests from bad forms", n)
		}
		// without the CSRF token the form is refused
		if r := post(v1, url.Values{"kind": {"pole"}, "operation": {"create"}, "lat": {"50.001"}, "lon": {"10.001"}}); r.Status != http.StatusForbidden {
			t.Fatalf("no csrf: %d", r.Status)
		}

		form := url.Values{"csrf_token": {csrf}, "client_ref": {"vendor-test-1"}, "kind": {"pole"}, "operation": {"create"},
			"name": {"V-POLE"}, "lat": {"50.001"}, "lon": {"10.001"}, "properties": {`{"height_m": 9}`}, "note": {"new pole on Elm St"}}
		r = post(v1, form)
		loc := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/vendor/fiber/change-requests/") {
			t.Fatalf("propose %d %s %s", r.Status, loc, firstN(r.Body, 300))
		}
		if r := post(v1, form); r.Header.Get("Location") != loc { // a second click sends the same request
			t.Fatalf("resubmit went to %q, want %q", r.Header.Get("Location"), loc)
		}
		r = get(v1, loc)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "pending") || !strings.Contains(string(r.Body), "V-POLE") {
			t.Fatalf("view %d %s", r.Status, firstN(r.Body, 500))
		}
		crID := strings.TrimPrefix(loc, "/vendor/fiber/change-requests/")
		if r := get(v1, "/vendor"); !strings.Contains(string(r.Body), loc) {
			t.Error("the landing page does not link the request")
		}

		// another vendor (another organization) cannot see it; a colleague at Northline can
		var northline, other string
		e.DB.Pool.QueryRow(ctx, `SELECT organization_id FROM people WHERE email = 'vendor1@example.com'`).Scan(&northline)
		if err := e.DB.Pool.QueryRow(ctx, `INSERT INTO organizations (name, account_type) VALUES ('Other Fibre Co', 'vendor') RETURNING id`).Scan(&other); err != nil {
			t.Fatal(err)
		}
		for email, org := range map[string]string{"vendor2@example.com": other, "colleague@example.com": northline} {
			r := e.Do("POST", "/api/v1/people", e.admin, map[string]any{"first_name": "V", "last_name": "Two", "email": email,
				"password": "vendor234!", "organization_id": org, "roles": []string{"vendor"}})
			if r.Status != http.StatusCreated {
				t.Fatalf("create %s: %d %s", email, r.Status, r.Body)
			}
		}
		v2 := signIn(t, e, "/vendor/login", "vendor2@example.com", "vendor234!")
		if r := get(v2, loc); r.Status != http.StatusNotFound {
			t.Fatalf("another vendor's request: %d", r.Status)
		}
		if r := get(v2, "/vendor/fiber/change-requests"); r.Status != http.StatusOK || strings.Contains(string(r.Body), crID) {
			t.Fatalf("another vendor's list %d shows the request", r.Status)
		}
		if r := get(v2, "/vendor/fiber/change-requests/nope"); r.Status != http.StatusNotFound {
			t.Fatalf("bad id: %d", r.Status)
		}
		colleague := signIn(t, e, "/vendor/login", "colleague@example.com", "vendor234!")
		if r := get(colleague, loc); r.Status != http.StatusOK {
			t.Fatalf("a colleague's request: %d", r.Status)
		}
		// the staff review shows up for the vendor
		if r := e.Do("POST", "/api/v1/fiber/change-requests/"+crID+"/apply", e.admin, `{"note":"matches the as-built"}`); r.Status != http.StatusOK {
			t.Fatalf("apply %d %s", r.Status, r.Body)
		}
		if r := get(v1, loc); !strings.Contains(string(r.Body), "applied") || !strings.Contains(string(r.Body), "matches the as-built") {
			t.Fatalf("after review: %s", firstN(r.Body, 800))
		}
		if r := get(v1, "/vendor/fiber/change-requests?status=applied"); !strings.Contains(string(r.Body), crID) {
			t.Fatal("the applied filter misses the request")
		}
		if r := get(v1, "/vendor/fiber/change-requests?status=odd"); r.Status != http.StatusBadRequest {
			t.Fatalf("bad status filter: %d", r.Status)
		}
		// signed out, or signed in to another portal: off to the vendor sign-in
		cust := signIn(t, e, "/portal/login", "customer1@example.com", "customer123!")
		for _, c := range []*http.Client{e.Browser(), cust} {
			if r := get(c, "/vendor/fiber/change-requests/new"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/vendor/login") {
				t.Fatalf("not a vendor: %d %s", r.Status, r.Header.Get("Location"))
			}
		}
	})
}

// signIn logs in through a portal's web form (double-submit CSRF cookie) and returns the browser.
func signIn(t *testing.T, e *env, loginPath, email, password string) *http.Client {
	t.Helper()
	c := e.Browser()
	e.Send(c, mustReq(t, "GET", e.URL+loginPath, ""))
	var csrf string
	for _, ck := range c.Jar.Cookies(mustURL(t, e.URL)) {
		if ck.Name == "dmf_login_csrf" {
			csrf = ck.Value
		}
	}
	req := mustReq(t, "POST", e.URL+loginPath, url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}}.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := e.Send(c, req); r.Status != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d %s", email, r.Status, firstN(r.Body, 300))
	}
	return c
}

func firstN(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n])
	}
	return string(b)
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return req
}

func TestGeometryAndColors(t *testing.T) {
	for _, c := range []struct {
		in  string
		err string
	}{
		{`{"type":"Point","coordinates":[-111.04,45.67]}`, ""},
		{`{"type":"Point","coordinates":[-111.04,45.67,1500]}`, ""},
		{`{"type":"Point","coordinates":[-181,45]}`, "out of range"},
		{`{"type":"Point","coordinates":[1]}`, "position"},
		{`{"type":"LineString","coordinates":[[1,1],[1,1]]}`, "distinct"},
		{`{"type":"LineString","coordinates":[[1,1]]}`, "two positions"},
		{`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`, "closed"},
		{`{"type":"Polygon","coordinates":[]}`, "empty"},
		{`{"type":"GeometryCollection","geometries":[]}`, "not supported"},
		{`{"type":"Circle","coordinates":[1,2]}`, "not supported"},
		{`null`, "required"},
		{`"x"`, "not a GeoJSON"},
	} {
		_, err := fiber.ParseGeometry(json.RawMessage(c.in))
		if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.in, err, c.err)
		}
	}
	for n, want := range map[int][2]string{1: {"blue", "blue"}, 12: {"aqua", "blue"}, 13: {"blue", "orange"}, 144: {"aqua", "aqua"},
		145: {"blue", "blue/black"}, 229: {"blue", "black/yellow"}, 241: {"blue", "yellow/black"}} {
		if fiber.StrandColor(n) != want[0] || fiber.TubeColor(n) != want[1] {
			t.Errorf("strand %d: %s in %s, want %v", n, fiber.StrandColor(n), fiber.TubeColor(n), want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
