package dispatch

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The auto-assign engine (reference §3.6) is pure Go over candidates loaded once, so a batch of a
// thousand jobs costs a handful of queries. The order of the checks is the product's contract:
//
//  1. already assigned → "assigned", nothing changes;
//  2. the highest-priority matching active rule (work type, priority, region); a matching rule
//     that does not auto-assign → "skipped";
//  3. required skills: the order's, else the rule's;
//  4. candidates: active technicians having ALL those skills (in the rule's region when it names one);
//  5. when scheduled: a shift covering the slot, no unavailable block overlapping it, no
//     overlapping open work order;
//  6. nobody left → "queued" with the reason naming the filter that eliminated everyone;
//  7. score = 100 + proficiency (0–30) + workload headroom (0–30, 8 jobs a day = full) + 10 when
//     the technician's primary skill is required; ties go to the nearest fresh, on-shift, sharing
//     technician (distances from PostGIS), then to the lowest id (deterministic).

// Outcome statuses (work_order_assignment_queue.status).
const (
	OutcomeAssigned = "assigned"
	OutcomeQueued   = "queued"
	OutcomeSkipped  = "skipped"
)

// FullDay is the number of jobs in a day that leaves no workload headroom.
const FullDay = 8

// DefaultSlot is the length assumed for a scheduled job with neither an end nor a duration.
const DefaultSlot = time.Hour

// interval is a half-open time range [Start, End).
type interval struct{ Start, End time.Time }

func (a interval) overlaps(b interval) bool { return a.Start.Before(b.End) && b.Start.Before(a.End) }
func (a interval) covers(b interval) bool   { return !a.Start.After(b.Start) && !a.End.Before(b.End) }

// skillLevel is a technician's proficiency in one skill.
type skillLevel struct {
	Proficiency int
	Primary     bool
}

// candidate is a technician as the engine sees it.
type candidate struct {
	ID      string
	Name    string
	Region  string
	Skills  map[string]skillLevel
	Shifts  []interval
	Blocked []interval          // availability blocks with is_available = false
	Busy    []interval          // open work orders assigned to them
	DayLoad map[string]int      // open jobs per day of the operations' time zone ("2006-01-02")
	busyIDs map[string]struct{} // work orders counted in Busy/DayLoad (to skip the job itself)
}

// job is a work order as the engine sees it.
type job struct {
	ID             string
	Number         string
	Version        int64
	Status         string
	WorkType       string
	Priority       string
	Region         string
	AssignedTo     *string
	RequiredSkills []string
	Start, End     *time.Time
	Duration       int // estimated minutes, 0 when unknown
}

// slot returns the job's scheduled interval, if it has one.
func (j *job) slot() (interval, bool) {
	if j.Start == nil {
		return interval{}, false
	}
	end := j.Start.Add(DefaultSlot)
	switch {
	case j.End != nil:
		end = *j.End
	case j.Duration > 0:
		end = j.Start.Add(time.Duration(j.Duration) * time.Minute)
	}
	return interval{*j.Start, end}, true
}

// Decision is the engine's verdict for one job.
type Decision struct {
	Status     string   `json:"status"`
	AssignedTo string   `json:"assigned_to,omitempty"`
	Technician string   `json:"technician_name,omitempty"`
	Score      int      `json:"score,omitempty"`
	Reason     string   `json:"reason"`
	RuleID     string   `json:"rule_id,omitempty"`
	Skills     []string `json:"required_skills"`
	Tied       int      `json:"tied,omitempty"` // candidates sharing the best score
}

// distanceFunc gives the metres between a job's site and a technician's fresh live position,
// ok=false when either is unknown (not sharing, stale, off shift, or no site).
type distanceFunc func(jobID, techID string) (metres float64, ok bool)

// planner decides jobs one after the other over the same candidates, charging each assignment to
// the chosen technician so later jobs of a batch see it.
type planner struct {
	rules      []Rule // active, sorted by priority desc, created_at
	techs      []*candidate
	skillNames map[string]string
	dist       distanceFunc
	now        time.Time
}

// matchRule returns the highest-priority active rule matching the job.
func (p *planner) matchRule(j *job) *Rule {
	for i := range p.rules {
		r := &p.rules[i]
		if !r.IsActive {
			continue
		}
		if r.WorkType != nil && *r.WorkType != j.WorkType {
			continue
		}
		if r.WorkPriority != nil && *r.WorkPriority != j.Priority {
			continue
		}
		if r.Region != nil && *r.Region != "" && !strings.EqualFold(*r.Region, j.Region) {
			continue
		}
		return r
	}
	return nil
}

func (p *planner) skillList(ids []string) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		n := p.skillNames[id]
		if n == "" {
			n = id
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// dayKey names t's day in loc (the operations' time zone).
func dayKey(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

func fmtSlot(s interval) string {
	return fmt.Sprintf("%s–%s UTC on %s", s.Start.UTC().Format("15:04"), s.End.UTC().Format("15:04"), dayKey(s.Start, time.UTC))
}

// decide runs the checks in order for one job. It does not change the planner; commit does.
func (p *planner) decide(j *job) (Decision, *candidate) {
	if j.AssignedTo != nil && *j.AssignedTo != "" {
		return Decision{Status: OutcomeAssigned, AssignedTo: *j.AssignedTo, Reason: "already assigned", Skills: []string{}}, nil
	}
	d := Decision{Skills: []string{}}
	rule := p.matchRule(j)
	if rule != nil {
		d.RuleID = rule.ID
		if !rule.AutoAssign {
			d.Status, d.Reason = OutcomeSkipped, fmt.Sprintf("dispatch rule %q is set to manual dispatch", rule.label())
			return d, nil
		}
	}
	skills := j.RequiredSkills
	if len(skills) == 0 && rule != nil {
		skills = rule.SkillIDs
	}
	d.Skills = append(d.Skills, skills...)
	queued := func(reason string) (Decision, *candidate) {
		d.Status, d.Reason = OutcomeQueued, reason
		return d, nil
	}
	if len(p.techs) == 0 {
		return queued("there are no active technicians")
	}

	// All the skills.
	var pool []*candidate
	for _, t := range p.techs {
		if hasAll(t, skills) {
			pool = append(pool, t)
		}
	}
	if len(pool) == 0 {
		return queued(fmt.Sprintf("no active technician has all the required skills (%s)", p.skillList(skills)))
	}
	// The rule's region.
	if rule != nil && rule.Region != nil && *rule.Region != "" {
		var in []*candidate
		for _, t := range pool {
			if strings.EqualFold(t.Region, *rule.Region) {
				in = append(in, t)
			}
		}
		if len(in) == 0 {
			what := "the required skills"
			if len(skills) == 0 {
				what = "no particular skill"
			}
			return queued(fmt.Sprintf("no technician with %s works in region %q (rule %q)", what, *rule.Region, rule.label()))
		}
		pool = in
	}
	// Shift, availability, clashes.
	if s, ok := j.slot(); ok {
		var onShift []*candidate
		for _, t := range pool {
			for _, sh := range t.Shifts {
				if sh.covers(s) {
					onShift = append(onShift, t)
					break
				}
			}
		}
		if len(onShift) == 0 {
			return queued(fmt.Sprintf("no qualified technician has a shift covering %s", fmtSlot(s)))
		}
		var free []*candidate
		for _, t := range onShift {
			if !anyOverlap(t.Blocked, s) {
				free = append(free, t)
			}
		}
		if len(free) == 0 {
			return queued(fmt.Sprintf("every qualified technician on shift is unavailable during %s (time off or blocked)", fmtSlot(s)))
		}
		var clear []*candidate
		for _, t := range free {
			if !anyOverlap(t.Busy, s) {
				clear = append(clear, t)
			}
		}
		if len(clear) == 0 {
			return queued(fmt.Sprintf("every available qualified technician already has a job overlapping %s", fmtSlot(s)))
		}
		pool = clear
	}

	// Score, then proximity, then id.
	day := dayKey(p.now, p.now.Location())
	if j.Start != nil {
		day = dayKey(*j.Start, p.now.Location())
	}
	type scored struct {
		t     *candidate
		score int
	}
	best := make([]scored, 0, len(pool))
	top := math.MinInt
	for _, t := range pool {
		sc := score(t, skills, day)
		if sc > top {
			top = sc
			best = best[:0]
		}
		if sc == top {
			best = append(best, scored{t, sc})
		}
	}
	d.Tied = len(best)
	if len(best) > 1 {
		sort.Slice(best, func(a, b int) bool {
			da, oka := p.distance(j.ID, best[a].t.ID)
			db, okb := p.distance(j.ID, best[b].t.ID)
			if oka != okb {
				return oka
			}
			if oka && da != db {
				return da < db
			}
			return best[a].t.ID < best[b].t.ID
		})
	}
	w := best[0]
	d.Status, d.AssignedTo, d.Technician, d.Score = OutcomeAssigned, w.t.ID, w.t.Name, w.score
	d.Reason = fmt.Sprintf("best score %d among %d qualified technician(s)", w.score, len(pool))
	if d.Tied > 1 {
		if m, ok := p.distance(j.ID, w.t.ID); ok {
			d.Reason += fmt.Sprintf("; %d tied, nearest live position %.1f km", d.Tied, m/1000)
		} else {
			d.Reason += fmt.Sprintf("; %d tied, none with a fresh position", d.Tied)
		}
	}
	return d, w.t
}

func (p *planner) distance(jobID, techID string) (float64, bool) {
	if p.dist == nil {
		return 0, false
	}
	return p.dist(jobID, techID)
}

// commit charges an assignment to the technician: the slot is busy, the day one job fuller.
func (p *planner) commit(j *job, t *candidate) {
	day := dayKey(p.now, p.now.Location())
	if j.Start != nil {
		day = dayKey(*j.Start, p.now.Location())
	}
	if t.DayLoad == nil {
		t.DayLoad = map[string]int{}
	}
	t.DayLoad[day]++
	if s, ok := j.slot(); ok {
		t.Busy = append(t.Busy, s)
	}
}

func hasAll(t *candidate, skills []string) bool {
	for _, s := range skills {
		if _, ok := t.Skills[s]; !ok {
			return false
		}
	}
	return true
}

func anyOverlap(list []interval, s interval) bool {
	for _, b := range list {
		if b.overlaps(s) {
			return true
		}
	}
	return false
}

// score is 100 + proficiency (0–30: the mean proficiency over the required skills, scaled) +
// workload headroom (0–30: 30 with no job that day, 0 at FullDay or more) + 10 when the
// technician's primary skill is one of the required skills.
func score(t *candidate, skills []string, day string) int {
	s := 100
	if len(skills) > 0 {
		sum := 0
		primary := false
		for _, id := range skills {
			lv := t.Skills[id]
			sum += lv.Proficiency
			primary = primary || lv.Primary
		}
		s += int(math.Round(float64(sum) / float64(len(skills)) * 30 / 100))
		if primary {
			s += 10
		}
	}
	load := t.DayLoad[day]
	if load < FullDay {
		s += int(math.Round(30 * float64(FullDay-load) / FullDay))
	}
	return s
}

// haversine is the great-circle distance in metres (the day route; ranking uses PostGIS).
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := (lat2-lat1)*math.Pi/180, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
