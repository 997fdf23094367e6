package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Result is one job's auto-assign outcome.
type Result struct {
	WorkOrderID string `json:"work_order_id"`
	Number      string `json:"number"`
	Decision
	Version  int64 `json:"version"`
	Conflict bool  `json:"conflict,omitempty"` // changed by someone else meanwhile: nothing written
}

// BatchResult sums up an auto-assign run.
type BatchResult struct {
	Considered int      `json:"considered"`
	Assigned   int      `json:"assigned"`
	Queued     int      `json:"queued"`
	Skipped    int      `json:"skipped"`
	Conflicts  int      `json:"conflicts"`
	Results    []Result `json:"results"`
	Millis     int64    `json:"duration_ms"`
}

// MaxBatch caps one auto-assign run.
const MaxBatch = 5000

const jobCols = `w.id, w.number, w.version, w.status, w.work_type, w.priority, w.region, w.assigned_to,
	w.required_skills::text[], w.scheduled_start, w.scheduled_end, coalesce(w.estimated_duration_minutes, 0)`

func scanJobs(rows pgx.Rows) ([]*job, error) {
	defer rows.Close()
	var out []*job
	for rows.Next() {
		j := &job{}
		if err := rows.Scan(&j.ID, &j.Number, &j.Version, &j.Status, &j.WorkType, &j.Priority, &j.Region, &j.AssignedTo,
			&j.RequiredSkills, &j.Start, &j.End, &j.Duration); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// AutoAssign runs auto-assign for one work order and records the outcome.
func (s *Service) AutoAssign(ctx context.Context, workOrderID string, actorID string) (*Result, error) {
	if !postgres.ValidUUID(workOrderID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+jobCols+` FROM work_orders w WHERE w.id = $1 AND w.is_active`, workOrderID)
	if err != nil {
		return nil, err
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	if st := jobs[0].Status; st == "completed" || st == "canceled" {
		return nil, hub.Errorf(hub.ECONFLICT, "work order %s is %s: there is nothing to assign", jobs[0].Number, st)
	}
	res, err := s.run(ctx, jobs, actorID)
	if err != nil {
		return nil, err
	}
	r := res.Results[0]
	if r.Conflict {
		return nil, hub.Errorf(hub.ECONFLICT, "work order %s changed while auto-assigning: reload and try again", r.Number)
	}
	return &r, nil
}

// BatchFilter chooses the jobs of a batch run: unassigned open jobs scheduled in [From, To), plus
// every job waiting in the queue.
type BatchFilter struct {
	From, To time.Time
}

// AutoAssignBatch runs auto-assign over the unassigned and queued jobs of a window: candidates
// are loaded once, decisions are computed in Go, and the writes go in one transaction of a few
// set-based statements.
func (s *Service) AutoAssignBatch(ctx context.Context, f BatchFilter, actorID string) (*BatchResult, error) {
	start := time.Now()
	if f.To.IsZero() || f.From.IsZero() || !f.To.After(f.From) {
		return nil, hub.Invalid(map[string]string{"to": "must be after from"})
	}
	if f.To.Sub(f.From) > 31*24*time.Hour {
		return nil, hub.Invalid(map[string]string{"to": "the window can be at most 31 days"})
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+jobCols+` FROM work_orders w
		WHERE w.is_active AND w.assigned_to IS NULL AND w.status NOT IN ('completed', 'canceled')
		  AND ((w.scheduled_start >= $1 AND w.scheduled_start < $2)
		       OR w.id IN (SELECT work_order_id FROM work_order_assignment_queue WHERE status = 'queued'))
		ORDER BY CASE w.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END,
		         w.scheduled_start NULLS LAST, w.id
		LIMIT $3`, f.From, f.To, MaxBatch)
	if err != nil {
		return nil, err
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, jobs, actorID)
	if err != nil {
		return nil, err
	}
	res.Millis = time.Since(start).Milliseconds()
	return res, nil
}

// run decides and writes a list of jobs.
func (s *Service) run(ctx context.Context, jobs []*job, actorID string) (*BatchResult, error) {
	out := &BatchResult{Considered: len(jobs), Results: make([]Result, 0, len(jobs))}
	if len(jobs) == 0 {
		return out, nil
	}
	loc := s.opsLocation(ctx)
	now := s.now().In(loc) // days (load, windows) are the operations' days
	from, to := dayStartIn(now, loc), dayStartIn(now, loc).AddDate(0, 0, 1)
	var open []string
	for _, j := range jobs {
		if sl, ok := j.slot(); ok {
			from, to = minTime(from, dayStartIn(sl.Start, loc)), maxTime(to, dayStartIn(sl.End, loc).AddDate(0, 0, 1))
		}
		if j.AssignedTo == nil {
			open = append(open, j.ID)
		}
	}
	rules, err := findRules(ctx, s.DB.Pool, true)
	if err != nil {
		return nil, err
	}
	p := &planner{rules: rules, now: now}
	if len(open) > 0 {
		techs, names, err := loadCandidates(ctx, s.DB.Pool, from, to, now)
		if err != nil {
			return nil, err
		}
		p.techs, p.skillNames = techs, names
		dist, err := s.liveDistances(ctx, open, now)
		if err != nil {
			return nil, err
		}
		p.dist = func(jobID, techID string) (float64, bool) {
			m, ok := dist[jobID][techID]
			return m, ok
		}
	}
	var writes []assignment
	for _, j := range jobs {
		d, t := p.decide(j)
		if t != nil {
			p.commit(j, t)
			to := t.ID
			eta := now.Add(30 * time.Minute)
			if j.Start != nil {
				eta = *j.Start
			}
			writes = append(writes, assignment{JobID: j.ID, To: &to, Version: j.Version, ETA: &eta, Source: "auto"})
		}
		out.Results = append(out.Results, Result{WorkOrderID: j.ID, Number: j.Number, Decision: d, Version: j.Version})
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		written, err := writeAssignments(ctx, tx, writes, actorID)
		if err != nil {
			return err
		}
		var q []queueRow
		for i := range out.Results {
			r := &out.Results[i]
			if r.Status == OutcomeAssigned && r.Reason != "already assigned" {
				v, ok := written[r.WorkOrderID]
				if !ok {
					r.Conflict = true
					continue
				}
				r.Version = v
			}
			q = append(q, queueRow{r.WorkOrderID, r.Status, r.Reason, r.RuleID, r.AssignedTo, r.Score})
		}
		return writeQueue(ctx, tx, q, actorID)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range out.Results {
		switch {
		case r.Conflict:
			out.Conflicts++
		case r.Status == OutcomeAssigned:
			out.Assigned++
		case r.Status == OutcomeQueued:
			out.Queued++
		case r.Status == OutcomeSkipped:
			out.Skipped++
		}
	}
	return out, nil
}

func dayStart(t time.Time) time.Time { return dayStartIn(t, time.UTC) }

// dayStartIn is midnight of t's day in loc.
func dayStartIn(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// loadCandidates reads every active technician with their skills, and their shifts, unavailable
// blocks and open assigned jobs in [from, to) (unscheduled open jobs count toward the day of
// now): six queries whatever the number of technicians.
func loadCandidates(ctx context.Context, q querier, from, to, now time.Time) ([]*candidate, map[string]string, error) {
	byID := map[string]*candidate{}
	var techs []*candidate
	rows, err := q.Query(ctx, `SELECT tp.person_id, coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name)), tp.region
		FROM technician_profiles tp JOIN people p ON p.id = tp.person_id
		WHERE tp.is_active AND p.status = 'active' ORDER BY tp.person_id`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		c := &candidate{Skills: map[string]skillLevel{}, DayLoad: map[string]int{}}
		if err := rows.Scan(&c.ID, &c.Name, &c.Region); err != nil {
			rows.Close()
			return nil, nil, err
		}
		byID[c.ID] = c
		techs = append(techs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	each := func(sql string, args []any, fn func(rows pgx.Rows) error) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var pid, sid string
	var prof int
	var primary bool
	if err := each(`SELECT person_id, skill_id, proficiency, is_primary FROM technician_skills`, nil, func(r pgx.Rows) error {
		if err := r.Scan(&pid, &sid, &prof, &primary); err != nil {
			return err
		}
		if c := byID[pid]; c != nil {
			c.Skills[sid] = skillLevel{prof, primary}
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var a, b time.Time
	if err := each(`SELECT person_id, starts_at, ends_at FROM shifts WHERE ends_at > $1 AND starts_at < $2`, []any{from, to}, func(r pgx.Rows) error {
		if err := r.Scan(&pid, &a, &b); err != nil {
			return err
		}
		if c := byID[pid]; c != nil {
			c.Shifts = append(c.Shifts, interval{a, b})
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := each(`SELECT person_id, starts_at, ends_at FROM availability_blocks WHERE NOT is_available AND ends_at > $1 AND starts_at < $2`,
		[]any{from, to}, func(r pgx.Rows) error {
			if err := r.Scan(&pid, &a, &b); err != nil {
				return err
			}
			if c := byID[pid]; c != nil {
				c.Blocked = append(c.Blocked, interval{a, b})
			}
			return nil
		}); err != nil {
		return nil, nil, err
	}
	var jid string
	var st, en *time.Time
	var dur int
	if err := each(`SELECT id, assigned_to, scheduled_start, scheduled_end, coalesce(estimated_duration_minutes, 0) FROM work_orders
		WHERE is_active AND assigned_to IS NOT NULL AND status NOT IN ('completed', 'canceled')
		  AND (scheduled_start < $2 AND scheduled_start >= $1::timestamptz - interval '1 day' OR scheduled_start IS NULL)`, []any{from, to}, func(r pgx.Rows) error {
		if err := r.Scan(&jid, &pid, &st, &en, &dur); err != nil {
			return err
		}
		c := byID[pid]
		if c == nil {
			return nil
		}
		if st == nil {
			c.DayLoad[dayKey(now, now.Location())]++
			return nil
		}
		j := job{Start: st, End: en, Duration: dur}
		sl, _ := j.slot()
		if sl.End.After(from) {
			c.Busy = append(c.Busy, sl)
		}
		c.DayLoad[dayKey(*st, now.Location())]++
		return nil
	}); err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	var name string
	if err := each(`SELECT id, name FROM skills`, nil, func(r pgx.Rows) error {
		if err := r.Scan(&sid, &name); err != nil {
			return err
		}
		names[sid] = name
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return techs, names, nil
}

// TieBreakNearest is how many nearest live technicians per job the tie-break considers; tied
// technicians farther than these rank after them by id.
const TieBreakNearest = 50

// liveDistances returns, per job, the metres to the nearest fresh, on-shift, sharing technicians
// (PostGIS KNN over the presence GiST index, TieBreakNearest per job). The distance is the one the
// <-> operator computes (on the sphere): four times cheaper than ST_Distance on the spheroid, and
// only a ranking needs it.
func (s *Service) liveDistances(ctx context.Context, jobIDs []string, now time.Time) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	var any bool
	if err := s.DB.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM field_tech_presence
		WHERE location_sharing_enabled AND status = 'on_shift' AND location_at > $1 AND geog IS NOT NULL)`, now.Add(-Fresh)).Scan(&any); err != nil {
		return nil, err
	}
	if !any {
		return out, nil
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT w.id, k.person_id, k.m
		FROM work_orders w JOIN sites st ON st.id = w.site_id
		CROSS JOIN LATERAL (
			SELECT p.person_id, p.geog <-> st.geom::geography AS m -- the KNN operator's own (sphere) distance
			FROM field_tech_presence p
			WHERE p.location_sharing_enabled AND p.status = 'on_shift' AND p.location_at > $2 AND p.geog IS NOT NULL
			ORDER BY p.geog <-> st.geom::geography
			LIMIT $3) k
		WHERE w.id = ANY($1::uuid[]) AND st.geom IS NOT NULL`, jobIDs, now.Add(-Fresh), TieBreakNearest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jid, pid string
	var m float64
	for rows.Next() {
		if err := rows.Scan(&jid, &pid, &m); err != nil {
			return nil, err
		}
		if out[jid] == nil {
			out[jid] = map[string]float64{}
		}
		out[jid][pid] = m
	}
	return out, rows.Err()
}

// queueRow is one outcome written to work_order_assignment_queue.
type queueRow struct {
	WorkOrderID, Status, Reason, RuleID, AssignedTo string
	Score                                           int
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeQueue upserts outcomes, and writes a work_order.dispatch_queued event for each job left
// waiting so open boards show the reason at once.
func writeQueue(ctx context.Context, tx pgx.Tx, rows []queueRow, actorID string) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ids, sts, reasons := make([]string, n), make([]string, n), make([]string, n)
	rules, techs, scores := make([]*string, n), make([]*string, n), make([]*int32, n)
	for i, r := range rows {
		ids[i], sts[i], reasons[i] = r.WorkOrderID, r.Status, r.Reason
		rules[i], techs[i] = nilIfEmpty(r.RuleID), nilIfEmpty(r.AssignedTo)
		if r.Score > 0 {
			v := int32(r.Score)
			scores[i] = &v
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO work_order_assignment_queue (work_order_id, status, reason, rule_id, assigned_to, score, attempts)
		SELECT u.id, u.status, u.reason, u.rule_id, u.assigned_to, u.score, 1
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::int[]) AS u(id, status, reason, rule_id, assigned_to, score)
		ON CONFLICT (work_order_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, rule_id = EXCLUDED.rule_id,
			assigned_to = EXCLUDED.assigned_to, score = EXCLUDED.score, attempts = work_order_assignment_queue.attempts + 1, updated_at = now()`,
		ids, sts, reasons, rules, techs, scores); err != nil {
		return fmt.Errorf("dispatch: queue: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id)
		SELECT 'work_order.dispatch_' || u.status, 'work_order', u.id,
			jsonb_build_object('work_order_id', u.id, 'status', u.status, 'reason', u.reason), $4::uuid
		FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, status, reason)
		WHERE u.status <> 'assigned'`, ids, sts, reasons, nilIfEmpty(actorID))
	return err
}
