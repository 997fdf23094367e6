package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/hub"
)

func TestNearestTechs(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	now := time.Now()
	fiber := f.skill("Fiber")
	names := []string{"One", "Three", "Seven", "Stale", "Hidden", "Break", "Far"}
	ids := map[string]string{}
	for _, n := range names {
		o := techOpt{}
		if n == "Three" {
			o.skills = map[string]int{fiber: 50}
		}
		ids[n] = f.tech(n, o)
	}
	f.presence(ids["Seven"], offset(7, 0).Lat, offset(7, 0).Lon, now.Add(-time.Minute), "on_shift", true)
	f.presence(ids["One"], offset(0, 1).Lat, offset(0, 1).Lon, now.Add(-2*time.Minute), "on_shift", true)
	f.presence(ids["Three"], offset(-3, 0).Lat, offset(-3, 0).Lon, now.Add(-9*time.Minute), "on_shift", true)
	f.presence(ids["Stale"], offset(0.5, 0).Lat, offset(0.5, 0).Lon, now.Add(-11*time.Minute), "on_shift", true)
	f.presence(ids["Hidden"], offset(0.5, 0).Lat, offset(0.5, 0).Lon, now, "on_shift", false)
	f.presence(ids["Break"], offset(0.5, 0).Lat, offset(0.5, 0).Lon, now, "on_break", true)
	f.presence(ids["Far"], offset(300, 0).Lat, offset(300, 0).Lon, now, "on_shift", true)
	job := f.wo(woOpt{at: offset(0, 0), skills: []string{fiber}})

	got, err := f.svc.NearestTechs(ctx, job, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, n := range got {
		order = append(order, n.Name)
	}
	if strings.Join(order, ",") != "One Tech,Three Tech,Seven Tech,Far Tech" {
		t.Fatalf("ranking: %v", order)
	}
	if got[0].DistanceKM < 0.9 || got[0].DistanceKM > 1.1 || !got[1].HasSkills || got[0].HasSkills {
		t.Fatalf("details: %+v", got[:2])
	}
	got, _ = f.svc.NearestTechs(ctx, job, 5, 20)
	if len(got) != 2 {
		t.Fatalf("max_km=5: %+v", got)
	}
	got, _ = f.svc.NearestTechs(ctx, job, 0, 1)
	if len(got) != 1 || got[0].Name != "One Tech" {
		t.Fatalf("limit 1: %+v", got)
	}
	if _, err := f.svc.NearestTechs(ctx, f.wo(woOpt{}), 0, 5); hub.ErrorCode(err) != hub.EUNPROCESSABLE {
		t.Fatalf("unlocated job: %v", err)
	}
	// The KNN ordering can walk the GiST index rather than sort every row.
	tx, err := f.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	rows, err := tx.Query(ctx, `EXPLAIN SELECT person_id FROM field_tech_presence ORDER BY geog <-> ST_SetSRID(ST_MakePoint(-111, 45), 4326)::geography LIMIT 5`)
	if err != nil {
		t.Fatal(err)
	}
	var plan string
	for rows.Next() {
		var l string
		rows.Scan(&l)
		plan += l + "\n"
	}
	rows.Close()
	if !strings.Contains(plan, "Index Scan using field_tech_presence_geog_idx") {
		t.Fatalf("plan:\n%s", plan)
	}
}

func TestRoute_NearestNeighbour(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	tech := f.tech("Router", techOpt{home: offset(0, 0)})
	day := dayStart(time.Now()).Add(24 * time.Hour)
	at := func(h int) *time.Time { v := day.Add(time.Duration(h) * time.Hour); return &v }
	// Scheduled order A(8h, 10 km), B(9h, 1 km), C(10h, unlocated), D(11h, 4 km), E(12h, 11 km east).
	a := f.wo(woOpt{title: "A", assignedTo: tech, start: at(8), at: offset(10, 0)})
	b := f.wo(woOpt{title: "B", assignedTo: tech, start: at(9), at: offset(1, 0)})
	c := f.wo(woOpt{title: "C", assignedTo: tech, start: at(10)})
	d := f.wo(woOpt{title: "D", assignedTo: tech, start: at(11), at: offset(4, 0)})
	e := f.wo(woOpt{title: "E", assignedTo: tech, start: at(12), at: offset(11, 0)})
	f.wo(woOpt{title: "canceled", assignedTo: tech, start: at(13), at: offset(0, 0), status: "canceled"})
	f.wo(woOpt{title: "other day", assignedTo: tech, start: ptr(day.Add(30 * time.Hour)), at: offset(0, 0)})

	r, err := f.svc.Route(ctx, tech, day)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range r.Stops {
		ids = append(ids, s.ID)
	}
	want := []string{b, d, a, e, c}
	if strings.Join(ids, ",") != strings.Join(want, ",") || r.StartSource != "home_base" {
		t.Fatalf("route %v want %v (%s)", ids, want, r.StartSource)
	}
	if r.Stops[4].Located || r.Stops[4].LegKM != nil || r.TotalKM < 10.5 || r.TotalKM > 11.5 {
		t.Fatalf("legs: total %.2f, last %+v", r.TotalKM, r.Stops[4])
	}
	// A fresh shared position near E starts the route there instead.
	f.presence(tech, offset(12, 0).Lat, offset(12, 0).Lon, time.Now(), "on_shift", true)
	r, _ = f.svc.Route(ctx, tech, day)
	if r.StartSource != "position" || r.Stops[0].ID != e || r.Stops[1].ID != a {
		t.Fatalf("from position: %s %s", r.StartSource, r.Stops[0].Title)
	}
}

func TestRecordPings(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	tech := f.tech("Pinger", techOpt{})
	now := time.Now().UTC().Truncate(time.Second)
	ping := func(lat, lon float64, at time.Time) PingInput {
		return PingInput{Lat: &lat, Lon: &lon, Accuracy: ptr(8.0), RecordedAt: &at}
	}

	t.Run("validation", func(t *testing.T) {
		for name, tc := range map[string]struct {
			b     PingBatch
			field string
		}{
			"empty":       {PingBatch{}, "pings"},
			"too many":    {PingBatch{Pings: make([]PingInput, 201)}, "pings"},
			"lat":         {PingBatch{Pings: []PingInput{ping(91, 0, now)}}, "pings[0].lat"},
			"lon":         {PingBatch{Pings: []PingInput{ping(0, 0, now), ping(0, -180.5, now)}}, "pings[1].lon"},
			"missing lat": {PingBatch{Pings: []PingInput{{Lon: ptr(1.0), RecordedAt: &now}}}, "pings[0].lat"},
			"no time":     {PingBatch{Pings: []PingInput{{Lat: ptr(1.0), Lon: ptr(1.0)}}}, "pings[0].recorded_at"},
			"future":      {PingBatch{Pings: []PingInput{ping(1, 1, now.Add(time.Hour))}}, "pings[0].recorded_at"},
			"too old":     {PingBatch{Pings: []PingInput{ping(1, 1, now.Add(-800*time.Hour))}}, "pings[0].recorded_at"},
			"accuracy":    {PingBatch{Pings: []PingInput{{Lat: ptr(1.0), Lon: ptr(1.0), RecordedAt: &now, Accuracy: ptr(-1.0)}}}, "pings[0].accuracy"},
			"status":      {PingBatch{Pings: []PingInput{ping(1, 1, now)}, Status: ptr("asleep")}, "status"},
		} {
			_, err := f.svc.RecordPings(ctx, tech, tc.b)
			var e *hub.Error
			if err == nil || !errors.As(err, &e) || e.Code != hub.EINVALID || e.Fields[tc.field] == "" {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("never backwards", func(t *testing.T) {
		res, err := f.svc.RecordPings(ctx, tech, PingBatch{Status: ptr("on_shift"), Pings: []PingInput{
			ping(bozLat, bozLon, now.Add(-2*time.Minute)), ping(bozLat+0.01, bozLon, now.Add(-time.Minute))}})
		if err != nil || res.Accepted != 2 || *res.Presence.Lat != bozLat+0.01 || res.Presence.Status != "on_shift" || !res.Presence.Fresh {
			t.Fatalf("first batch: %+v %v", res, err)
		}
		// An older batch (delivered late) is stored but leaves the snapshot alone.
		res, err = f.svc.RecordPings(ctx, tech, PingBatch{Pings: []PingInput{ping(bozLat-0.05, bozLon, now.Add(-5*time.Minute))}})
		if err != nil || res.Accepted != 1 || *res.Presence.Lat != bozLat+0.01 || !res.Presence.LocationAt.Equal(now.Add(-time.Minute)) {
			t.Fatalf("older batch moved the snapshot: %+v %v", res.Presence, err)
		}
		// A replayed batch is idempotent.
		res, _ = f.svc.RecordPings(ctx, tech, PingBatch{Pings: []PingInput{ping(bozLat, bozLon, now.Add(-2*time.Minute))}})
		if res.Accepted != 0 || res.Duplicates != 1 {
			t.Fatalf("replay: %+v", res)
		}
		// A newer one moves it, and the geography follows.
		res, _ = f.svc.RecordPings(ctx, tech, PingBatch{Pings: []PingInput{ping(bozLat+0.02, bozLon, now)}})
		var glat float64
		f.db.Pool.QueryRow(ctx, `SELECT ST_Y(geog::geometry) FROM field_tech_presence WHERE person_id = $1`, tech).Scan(&glat)
		if *res.Presence.Lat != bozLat+0.02 || glat != bozLat+0.02 {
			t.Fatalf("newer: %+v %f", res.Presence, glat)
		}
		var n int
		f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM field_tech_location_pings WHERE person_id = $1`, tech).Scan(&n)
		if n != 4 {
			t.Fatalf("pings stored: %d", n)
		}
	})

	t.Run("sharing off discards", func(t *testing.T) {
		pr, err := f.svc.SetSharing(ctx, tech, false)
		if err != nil || pr.Sharing || pr.Lat != nil {
			t.Fatalf("sharing off: %+v %v", pr, err)
		}
		res, err := f.svc.RecordPings(ctx, tech, PingBatch{Pings: []PingInput{ping(1, 1, now.Add(time.Second))}})
		if err != nil || res.Discarded != 1 || res.Accepted != 0 {
			t.Fatalf("discard: %+v %v", res, err)
		}
		f.svc.SetSharing(ctx, tech, true)
		pr, _ = f.svc.FindPresence(ctx, tech)
		if *pr.Lat != bozLat+0.02 {
			t.Fatalf("discarded ping moved the snapshot: %+v", pr)
		}
	})

	t.Run("prune", func(t *testing.T) {
		f.exec(`INSERT INTO field_tech_location_pings (person_id, recorded_at, lat, lon) VALUES ($1, now() - interval '40 days', 1, 1),
			($1, now() - interval '700 hours', 1, 1)`, tech)
		res, err := f.svc.PrunePings(ctx)
		if err != nil || res.DeletedPings != 1 || res.RetentionHour != 720 {
			t.Fatalf("prune: %+v %v", res, err)
		}
		var parts int
		f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'field_tech_location_pings'::regclass`).Scan(&parts)
		if parts < 16 {
			t.Fatalf("partitions: %d", parts)
		}
		// A shorter retention setting applies.
		f.exec(`INSERT INTO domain_settings (domain, key, value) VALUES ('dispatch', 'ping_retention_hours', '24')`)
		res, _ = f.svc.PrunePings(ctx)
		if res.DeletedPings != 1 || res.RetentionHour != 24 {
			t.Fatalf("setting: %+v", res)
		}
	})
}
