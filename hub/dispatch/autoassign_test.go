package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestScore(t *testing.T) {
	day := "2030-01-01"
	tech := func(prof int, primary bool, load int) *candidate {
		return &candidate{Skills: map[string]skillLevel{"s1": {prof, primary}, "s2": {100, false}}, DayLoad: map[string]int{day: load}}
	}
	for _, tc := range []struct {
		name   string
		c      *candidate
		skills []string
		want   int
	}{
		{"no skills, empty day", tech(0, false, 0), nil, 130},
		{"full proficiency, empty day", tech(100, false, 0), []string{"s1"}, 160},
		{"half proficiency, half day", tech(50, false, 4), []string{"s1"}, 100 + 15 + 15},
		{"primary bonus", tech(50, true, 4), []string{"s1"}, 100 + 15 + 15 + 10},
		{"mean over skills", tech(0, false, 8), []string{"s1", "s2"}, 100 + 15},
		{"overloaded day has no headroom", tech(100, false, 11), []string{"s1"}, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := score(tc.c, tc.skills, day); got != tc.want {
				t.Fatalf("score = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPlanner_TieBreakAndCommit(t *testing.T) {
	s, e := slot(9)
	j := &job{ID: "j1", Start: s, End: e}
	a := &candidate{ID: "a", Skills: map[string]skillLevel{}, DayLoad: map[string]int{}, Shifts: []interval{{s.Add(-time.Hour), e.Add(time.Hour)}}}
	b := &candidate{ID: "b", Skills: map[string]skillLevel{}, DayLoad: map[string]int{}, Shifts: []interval{{s.Add(-time.Hour), e.Add(time.Hour)}}}
	dist := map[string]float64{"a": 5000, "b": 1200}
	p := &planner{techs: []*candidate{a, b}, now: time.Now(), dist: func(_, id string) (float64, bool) { m, ok := dist[id]; return m, ok }}
	d, w := p.decide(j)
	if d.Status != OutcomeAssigned || w.ID != "b" || d.Tied != 2 {
		t.Fatalf("nearest should win the tie: %+v", d)
	}
	// Unknown distances rank after known ones; with none known the lowest id wins.
	delete(dist, "b")
	if _, w := p.decide(j); w.ID != "a" {
		t.Fatalf("known distance should beat unknown, got %s", w.ID)
	}
	p.dist = nil
	if _, w := p.decide(j); w.ID != "a" {
		t.Fatalf("no distances: lowest id, got %s", w.ID)
	}
	// Committing the job makes a busy for that slot: the next identical job goes to b.
	p.commit(j, a)
	if _, w := p.decide(&job{ID: "j2", Start: s, End: e}); w == nil || w.ID != "b" {
		t.Fatalf("a is busy now: %+v", w)
	}
}

func TestAutoAssign_OrderAndReasons(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	fiber, otdr := f.skill("Fiber splicing"), f.skill("OTDR")
	s9, e9 := slot(9)
	day := dayStart(*s9)
	alice := f.tech("Alice", techOpt{region: "north", skills: map[string]int{fiber: 80, otdr: 60}, primary: fiber})
	f.shift(alice, day.Add(8*time.Hour), day.Add(17*time.Hour))

	check := func(name, id, status, reasonHas string) *Result {
		t.Helper()
		r, err := f.svc.AutoAssign(ctx, id, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Status != status || !strings.Contains(r.Reason, reasonHas) {
			t.Fatalf("%s: got %s %q, want %s containing %q", name, r.Status, r.Reason, status, reasonHas)
		}
		var qs, qr string
		if err := f.db.Pool.QueryRow(ctx, `SELECT status, reason FROM work_order_assignment_queue WHERE work_order_id = $1`, id).Scan(&qs, &qr); err != nil {
			t.Fatalf("%s: queue row: %v", name, err)
		}
		if qs != status || qr != r.Reason {
			t.Fatalf("%s: queue row %s %q", name, qs, qr)
		}
		return r
	}

	// 1. Already assigned: nothing changes.
	pre := f.wo(woOpt{assignedTo: alice, start: s9, end: e9})
	check("already assigned", pre, OutcomeAssigned, "already assigned")
	var v int64
	f.db.Pool.QueryRow(ctx, `SELECT version FROM work_orders WHERE id = $1`, pre).Scan(&v)
	if v != 1 {
		t.Fatalf("already assigned must not bump the version: %d", v)
	}

	// 2. A matching manual rule skips, and the highest-priority rule wins over a lower one.
	f.rule(RuleInput{Name: ptr("low any survey"), Priority: ptr(1), WorkType: ptr("survey")})
	f.rule(RuleInput{Name: ptr("manual surveys"), Priority: ptr(5), WorkType: ptr("survey"), AutoAssign: ptr(false)})
	check("manual rule", f.wo(woOpt{workType: "survey", start: s9, end: e9}), OutcomeSkipped, `"manual surveys" is set to manual dispatch`)

	// 3. Skills: the order's, else the rule's.
	splicer := f.skill("Aerial splicing")
	check("order skills", f.wo(woOpt{skills: []string{fiber, splicer}, start: s9, end: e9}), OutcomeQueued, "required skills (Aerial splicing, Fiber splicing)")
	f.rule(RuleInput{Name: ptr("installs need splicers"), Priority: ptr(3), WorkType: ptr("install"), SkillIDs: &[]string{splicer}})
	check("rule skills", f.wo(woOpt{workType: "install", start: s9, end: e9}), OutcomeQueued, "required skills (Aerial splicing)")

	// 4. The rule's region.
	f.rule(RuleInput{Name: ptr("south urgent"), Priority: ptr(4), WorkPriority: ptr("urgent"), Region: ptr("south")})
	check("region", f.wo(woOpt{priority: "urgent", region: "south", skills: []string{fiber}, start: s9, end: e9}), OutcomeQueued, `works in region "south"`)

	// 5. Shift, availability, clash.
	s20, e20 := slot(20)
	check("no shift", f.wo(woOpt{skills: []string{fiber}, start: s20, end: e20}), OutcomeQueued, "has a shift covering 20:00–21:00")
	s11, e11 := slot(11)
	f.block(alice, s11.Add(-30*time.Minute), s11.Add(30*time.Minute))
	check("blocked", f.wo(woOpt{skills: []string{fiber}, start: s11, end: e11}), OutcomeQueued, "unavailable")
	check("clash", f.wo(woOpt{skills: []string{fiber}, start: s9, end: e9}), OutcomeQueued, "already has a job overlapping")

	// 6. Assigned: version bumped, crew row, domain event, ETA.
	s14, e14 := slot(14)
	ok := f.wo(woOpt{skills: []string{fiber}, start: s14, end: e14})
	r := check("assigned", ok, OutcomeAssigned, "best score")
	if r.AssignedTo != alice || r.Version != 2 || r.Score != 100+24+26+10 {
		t.Fatalf("assigned: %+v", r)
	}
	var assigned, role string
	var eta time.Time
	f.db.Pool.QueryRow(ctx, `SELECT w.assigned_to, a.role, w.estimated_arrival_at FROM work_orders w JOIN work_order_assignments a ON a.work_order_id = w.id AND a.is_primary WHERE w.id = $1`, ok).
		Scan(&assigned, &role, &eta)
	if assigned != alice || role != "primary" || !eta.Equal(*s14) {
		t.Fatalf("assignment rows: %s %s %s", assigned, role, eta)
	}
	var topic string
	var payloadTo string
	if err := f.db.Pool.QueryRow(ctx, `SELECT topic, payload->>'assigned_to' FROM domain_events WHERE entity_id = $1 AND topic LIKE 'work_order.assigned'`, ok).Scan(&topic, &payloadTo); err != nil || payloadTo != alice {
		t.Fatalf("domain event: %v %s", err, payloadTo)
	}

	// No technicians left at all.
	f.exec(`UPDATE technician_profiles SET is_active = false`)
	check("nobody", f.wo(woOpt{start: s14, end: e14}), OutcomeQueued, "there are no active technicians")

	// A finished order is a conflict; an unknown one is not found.
	done := f.wo(woOpt{status: "completed"})
	if _, err := f.svc.AutoAssign(ctx, done, ""); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("completed: %v", err)
	}
	if _, err := f.svc.AutoAssign(ctx, "00000000-0000-0000-0000-000000000000", ""); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("unknown: %v", err)
	}
}

func TestAutoAssign_ScoringAndProximity(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	fiber := f.skill("Fiber")
	s9, e9 := slot(9)
	day := dayStart(*s9)
	mk := func(name string, prof int) string {
		id := f.tech(name, techOpt{skills: map[string]int{fiber: prof}})
		f.shift(id, day.Add(7*time.Hour), day.Add(19*time.Hour))
		return id
	}
	expert, novice := mk("Expert", 90), mk("Novice", 20)
	r, err := f.svc.AutoAssign(ctx, f.wo(woOpt{skills: []string{fiber}, start: s9, end: e9, at: offset(0, 0)}), "")
	if err != nil || r.AssignedTo != expert {
		t.Fatalf("the proficient technician should win: %+v %v", r, err)
	}
	_ = novice

	// Equal scores: the nearer fresh, on-shift, sharing technician wins; stale, off-shift or
	// not-sharing positions do not count.
	g := newFx(t)
	g.n = 100
	near, far, stale, hidden := g.tech("Near", techOpt{}), g.tech("Far", techOpt{}), g.tech("Stale", techOpt{}), g.tech("Hidden", techOpt{})
	now := time.Now()
	g.presence(far, offset(5, 0).Lat, offset(5, 0).Lon, now.Add(-time.Minute), "on_shift", true)
	g.presence(near, offset(2, 0).Lat, offset(2, 0).Lon, now.Add(-time.Minute), "on_shift", true)
	g.presence(stale, offset(0.1, 0).Lat, offset(0.1, 0).Lon, now.Add(-11*time.Minute), "on_shift", true)
	g.presence(hidden, offset(0.2, 0).Lat, offset(0.2, 0).Lon, now.Add(-time.Minute), "on_shift", false)
	r, err = g.svc.AutoAssign(ctx, g.wo(woOpt{at: offset(0, 0)}), "") // unscheduled: no shift needed
	if err != nil || r.AssignedTo != near || r.Tied != 4 || !strings.Contains(r.Reason, "nearest live position 2.0 km") {
		t.Fatalf("tie-break: %+v %v (near=%s)", r, err, near)
	}
	// near now has one more job today: less headroom, so far wins on score alone.
	r, err = g.svc.AutoAssign(ctx, g.wo(woOpt{at: offset(0, 0)}), "")
	if err != nil || r.AssignedTo == near {
		t.Fatalf("workload should move the next job: %+v %v", r, err)
	}
}

func TestAutoAssignBatch(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	s9, _ := slot(9)
	day := dayStart(*s9)
	var techs []string
	for i := 0; i < 3; i++ {
		id := f.tech("T"+string(rune('A'+i)), techOpt{})
		f.shift(id, day.Add(8*time.Hour), day.Add(12*time.Hour))
		techs = append(techs, id)
	}
	// Four one-hour jobs at 09:00: three fit, the fourth clashes with everyone.
	var ids []string
	for i := 0; i < 4; i++ {
		st, en := slot(9)
		ids = append(ids, f.wo(woOpt{start: st, end: en}))
	}
	res, err := f.svc.AutoAssignBatch(ctx, BatchFilter{From: day, To: day.Add(24 * time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Considered != 4 || res.Assigned != 3 || res.Queued != 1 {
		t.Fatalf("batch: %+v", res)
	}
	got := map[string]bool{}
	for _, r := range res.Results {
		if r.Status == OutcomeAssigned {
			got[r.AssignedTo] = true
		} else if !strings.Contains(r.Reason, "overlapping") {
			t.Fatalf("queued reason: %q", r.Reason)
		}
	}
	if len(got) != 3 {
		t.Fatalf("each technician takes one: %v", got)
	}
	// Running again only reconsiders the queued one, which still has nobody.
	res, err = f.svc.AutoAssignBatch(ctx, BatchFilter{From: day, To: day.Add(24 * time.Hour)}, "")
	if err != nil || res.Considered != 1 || res.Queued != 1 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	var attempts int
	f.db.Pool.QueryRow(ctx, `SELECT max(attempts) FROM work_order_assignment_queue`).Scan(&attempts)
	if attempts != 2 {
		t.Fatalf("attempts = %d", attempts)
	}
	if _, err := f.svc.AutoAssignBatch(ctx, BatchFilter{From: day, To: day}, ""); err == nil {
		t.Fatal("an empty window must be invalid")
	}
}

func TestAssign_OptimisticLocking(t *testing.T) {
	f := newFx(t)
	ctx := context.Background()
	a, b := f.tech("A", techOpt{}), f.tech("B", techOpt{})
	id := f.wo(woOpt{})
	j, err := f.svc.Assign(ctx, id, AssignInput{AssignedTo: &a, Version: 1}, "")
	if err != nil || *j.AssignedTo != a || j.Version != 2 {
		t.Fatalf("assign: %+v %v", j, err)
	}
	// A second dispatcher still holding version 1 loses with a clear conflict.
	_, err = f.svc.Assign(ctx, id, AssignInput{AssignedTo: &b, Version: 1}, "")
	if err == nil || !strings.Contains(err.Error(), "you have version 1, it is now 2") {
		t.Fatalf("stale version: %v", err)
	}
	// Reassign, then unassign.
	if j, err = f.svc.Assign(ctx, id, AssignInput{AssignedTo: &b, Version: 2}, ""); err != nil || *j.AssignedTo != b {
		t.Fatalf("reassign: %+v %v", j, err)
	}
	if j, err = f.svc.Assign(ctx, id, AssignInput{Version: 3}, ""); err != nil || j.AssignedTo != nil || j.Version != 4 {
		t.Fatalf("unassign: %+v %v", j, err)
	}
	var topics []string
	rows, _ := f.db.Pool.Query(ctx, `SELECT topic FROM domain_events WHERE entity_id = $1 ORDER BY id`, id)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		topics = append(topics, s)
	}
	if strings.Join(topics, ",") != "work_order.assigned,work_order.assigned,work_order.unassigned" {
		t.Fatalf("events: %v", topics)
	}
	var crew int
	f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM work_order_assignments WHERE work_order_id = $1`, id).Scan(&crew)
	if crew != 0 {
		t.Fatalf("crew rows after unassign: %d", crew)
	}
	// Not a technician.
	cust := f.id(`INSERT INTO people (email) VALUES ('x@example.com') RETURNING id`)
	if _, err := f.svc.Assign(ctx, id, AssignInput{AssignedTo: &cust, Version: 4}, ""); err == nil || !strings.Contains(err.Error(), "not an active technician") {
		t.Fatalf("non-technician: %v", err)
	}
	// Concurrent assigns of the same version: exactly one wins.
	errs := make(chan error, 2)
	for _, who := range []string{a, b} {
		go func() {
			_, err := f.svc.Assign(ctx, id, AssignInput{AssignedTo: &who, Version: 4}, "")
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("exactly one should win: %v / %v", e1, e2)
	}
}

// The day load that auto-assign balances is counted in the operations' time zone: in Denver
// (UTC-7) a job at 6 pm belongs to that day, not to the next UTC day.
func TestDayKey_OperationsTimeZone(t *testing.T) {
	den, err := time.LoadLocation("America/Denver")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	evening := time.Date(2026, 7, 1, 18, 0, 0, 0, den) // 00:00 UTC on July 2
	if got := dayKey(evening, den); got != "2026-07-01" {
		t.Fatalf("Denver day = %s", got)
	}
	if got := dayKey(evening, time.UTC); got != "2026-07-02" {
		t.Fatalf("UTC day = %s", got)
	}
	if got := dayStartIn(evening, den); !got.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, den)) {
		t.Fatalf("day start = %s", got)
	}
}
