package dispatch

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// BoardFilter chooses the board's window and what it shows.
type BoardFilter struct {
	Date   time.Time // midnight of the first day, in the board's time zone
	Days   int       // 1 or 7
	Region string
	Skill  string // skill id
	Status string
}

// Board is the data of the dispatch board: technicians with shifts and blocks, their jobs in the
// window, and the unassigned queue.
type Board struct {
	From        time.Time    `json:"from"`
	To          time.Time    `json:"to"`
	Days        int          `json:"days"`
	Technicians []BoardTech  `json:"technicians"`
	Shifts      []BoardShift `json:"shifts"`
	Blocks      []BoardShift `json:"blocks"`
	Jobs        []BoardJob   `json:"jobs"`
	Queue       []BoardJob   `json:"queue"`
	Skills      []Skill      `json:"skills"`
	Regions     []string     `json:"regions"`
}

// Skill is a skill's id and name.
type Skill struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Point is a WGS 84 position.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Presence is a technician's live state as the board shows it (position only while sharing).
type Presence struct {
	Status     string     `json:"status"`
	Sharing    bool       `json:"location_sharing_enabled"`
	Lat        *float64   `json:"lat"`
	Lon        *float64   `json:"lon"`
	AccuracyM  *float32   `json:"accuracy_m"`
	LocationAt *time.Time `json:"location_at"`
	Fresh      bool       `json:"fresh"`
	LastSeenAt *time.Time `json:"last_seen_at"`
}

// BoardTech is a technician row.
type BoardTech struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Region       string    `json:"region"`
	Skills       []string  `json:"skills"`
	PrimarySkill *string   `json:"primary_skill"`
	HomeBase     *Point    `json:"home_base"`
	Presence     *Presence `json:"presence"`
}

// BoardShift is a shift or an unavailable block.
type BoardShift struct {
	TechnicianID string    `json:"technician_id"`
	StartsAt     time.Time `json:"starts_at"`
	EndsAt       time.Time `json:"ends_at"`
	Kind         string    `json:"kind"` // shift type, or block type
	Reason       string    `json:"reason,omitempty"`
}

// BoardJob is a work order as a block on the board.
type BoardJob struct {
	ID              string     `json:"id"`
	Number          string     `json:"number"`
	Title           string     `json:"title"`
	Status          string     `json:"status"`
	Priority        string     `json:"priority"`
	WorkType        string     `json:"work_type"`
	Region          string     `json:"region"`
	AssignedTo      *string    `json:"assigned_to"`
	ScheduledStart  *time.Time `json:"scheduled_start"`
	ScheduledEnd    *time.Time `json:"scheduled_end"`
	DurationMinutes *int       `json:"estimated_duration_minutes"`
	Lat             *float64   `json:"lat"`
	Lon             *float64   `json:"lon"`
	Address         string     `json:"address"`
	CustomerName    string     `json:"customer_name"`
	RequiredSkills  []string   `json:"required_skills"`
	Version         int64      `json:"version"`
	QueueStatus     *string    `json:"queue_status"`
	QueueReason     *string    `json:"queue_reason"`
}

const boardJobCols = `w.id, w.number, w.title, w.status, w.priority, w.work_type, w.region, w.assigned_to, w.scheduled_start,
	w.scheduled_end, w.estimated_duration_minutes, ST_Y(st.geom), ST_X(st.geom), coalesce(nullif(st.address, ''), c.address, ''),
	coalesce(c.name, ''), w.required_skills::text[], w.version, q.status, q.reason`

const boardJobFrom = ` FROM work_orders w LEFT JOIN sites st ON st.id = w.site_id LEFT JOIN customers c ON c.id = w.customer_id
	LEFT JOIN work_order_assignment_queue q ON q.work_order_id = w.id `

func scanBoardJob(row pgx.Row, j *BoardJob) error {
	return row.Scan(&j.ID, &j.Number, &j.Title, &j.Status, &j.Priority, &j.WorkType, &j.Region, &j.AssignedTo, &j.ScheduledStart,
		&j.ScheduledEnd, &j.DurationMinutes, &j.Lat, &j.Lon, &j.Address, &j.CustomerName, &j.RequiredSkills, &j.Version,
		&j.QueueStatus, &j.QueueReason)
}

// MaxUnscheduled caps the unscheduled part of the queue on the board.
const MaxUnscheduled = 500

// ParseBoardFilter validates the board's query parameters. tz is an IANA zone name (the
// dispatcher's): days start at its midnight; empty means UTC.
func ParseBoardFilter(date, days, region, skill, status, tz string, now time.Time) (BoardFilter, error) {
	f := BoardFilter{Days: 1, Region: strings.TrimSpace(region), Skill: skill, Status: status}
	errs := hub.Fields{}
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || len(tz) > 64 {
			errs.Add("tz", "must be a time zone name like America/Denver")
		} else {
			loc = l
		}
	}
	y, m, d := now.In(loc).Date()
	f.Date = time.Date(y, m, d, 0, 0, 0, 0, loc)
	if date != "" {
		d, err := time.ParseInLocation("2006-01-02", date, loc)
		if err != nil {
			errs.Add("date", "must be a date like 2025-01-31")
		}
		f.Date = d
	}
	switch days {
	case "", "1":
	case "7":
		f.Days = 7
	default:
		errs.Add("days", "must be 1 or 7")
	}
	if skill != "" && !postgres.ValidUUID(skill) {
		errs.Add("skill", "must be a skill id")
	}
	if status != "" && !oneOf(status, Statuses) {
		errs.Add("status", "must be one of "+strings.Join(Statuses, ", "))
	}
	return f, errs.Err()
}

// Board loads the board in six queries whatever its size.
func (s *Service) Board(ctx context.Context, f BoardFilter) (*Board, error) {
	if f.Days != 7 {
		f.Days = 1
	}
	from := f.Date
	if from.IsZero() {
		from = dayStart(s.now())
	}
	to := from.AddDate(0, 0, f.Days)
	now := s.now()
	b := &Board{From: from, To: to, Days: f.Days, Technicians: []BoardTech{}, Shifts: []BoardShift{}, Blocks: []BoardShift{},
		Jobs: []BoardJob{}, Queue: []BoardJob{}, Skills: []Skill{}, Regions: []string{}}
	q := s.DB.Pool

	// Technicians (with skills and presence), filtered by region and skill.
	rows, err := q.Query(ctx, `SELECT tp.person_id, coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name)), tp.region,
			coalesce(sk.ids, '{}'), sk.primary_id, ST_Y(tp.home_base), ST_X(tp.home_base),
			pr.status, pr.location_sharing_enabled, pr.lat, pr.lon, pr.accuracy_m, pr.location_at, pr.last_seen_at
		FROM technician_profiles tp JOIN people p ON p.id = tp.person_id
		LEFT JOIN LATERAL (SELECT array_agg(ts.skill_id::text ORDER BY ts.skill_id) AS ids,
			(array_agg(ts.skill_id::text) FILTER (WHERE ts.is_primary))[1] AS primary_id
			FROM technician_skills ts WHERE ts.person_id = tp.person_id) sk ON true
		LEFT JOIN field_tech_presence pr ON pr.person_id = tp.person_id
		WHERE tp.is_active AND p.status = 'active'
		  AND ($1 = '' OR lower(tp.region) = lower($1))
		  AND ($2 = '' OR EXISTS (SELECT 1 FROM technician_skills x WHERE x.person_id = tp.person_id AND x.skill_id = nullif($2, '')::uuid))
		ORDER BY 2, 1`, f.Region, f.Skill)
	if err != nil {
		return nil, err
	}
	techSet := map[string]bool{}
	for rows.Next() {
		var t BoardTech
		var hlat, hlon *float64
		var pst *string
		var sharing *bool
		pr := &Presence{}
		if err := rows.Scan(&t.ID, &t.Name, &t.Region, &t.Skills, &t.PrimarySkill, &hlat, &hlon,
			&pst, &sharing, &pr.Lat, &pr.Lon, &pr.AccuracyM, &pr.LocationAt, &pr.LastSeenAt); err != nil {
			rows.Close()
			return nil, err
		}
		if hlat != nil && hlon != nil {
			t.HomeBase = &Point{*hlat, *hlon}
		}
		if pst != nil {
			pr.Status, pr.Sharing = *pst, sharing != nil && *sharing
			if !pr.Sharing {
				pr.Lat, pr.Lon, pr.AccuracyM, pr.LocationAt = nil, nil, nil, nil
			}
			pr.Fresh = pr.LocationAt != nil && now.Sub(*pr.LocationAt) < Fresh
			t.Presence = pr
		}
		techSet[t.ID] = true
		b.Technicians = append(b.Technicians, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Shifts and blocks in the window.
	for _, part := range []struct {
		sql string
		dst *[]BoardShift
	}{
		{`SELECT person_id, starts_at, ends_at, shift_type, '' FROM shifts WHERE ends_at > $1 AND starts_at < $2 ORDER BY starts_at`, &b.Shifts},
		{`SELECT person_id, starts_at, ends_at, block_type, reason FROM availability_blocks WHERE NOT is_available AND ends_at > $1 AND starts_at < $2 ORDER BY starts_at`, &b.Blocks},
	} {
		rows, err := q.Query(ctx, part.sql, from, to)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var sh BoardShift
			if err := rows.Scan(&sh.TechnicianID, &sh.StartsAt, &sh.EndsAt, &sh.Kind, &sh.Reason); err != nil {
				rows.Close()
				return nil, err
			}
			if techSet[sh.TechnicianID] {
				*part.dst = append(*part.dst, sh)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}

	// Jobs scheduled in the window, then unscheduled open ones waiting for a technician.
	statusCond := `AND w.status <> 'canceled'`
	args := []any{from, to}
	if f.Status != "" {
		statusCond = `AND w.status = $3`
		args = append(args, f.Status)
	}
	keepQueued := func(j *BoardJob) bool {
		if f.Region != "" && !strings.EqualFold(j.Region, f.Region) {
			return false
		}
		if f.Skill != "" && !contains(j.RequiredSkills, f.Skill) {
			return false
		}
		return true
	}
	rows, err = q.Query(ctx, `SELECT `+boardJobCols+boardJobFrom+`
		WHERE w.is_active AND w.scheduled_start >= $1 AND w.scheduled_start < $2 `+statusCond+`
		ORDER BY w.scheduled_start, w.id`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var j BoardJob
		if err := scanBoardJob(rows, &j); err != nil {
			rows.Close()
			return nil, err
		}
		switch {
		case j.AssignedTo != nil && techSet[*j.AssignedTo]:
			b.Jobs = append(b.Jobs, j)
		case j.AssignedTo == nil && keepQueued(&j):
			b.Queue = append(b.Queue, j)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	uargs := []any{MaxUnscheduled}
	ucond := `AND w.status NOT IN ('completed', 'canceled')`
	if f.Status != "" {
		ucond = `AND w.status = $2`
		uargs = append(uargs, f.Status)
	}
	rows, err = q.Query(ctx, `SELECT `+boardJobCols+boardJobFrom+`
		WHERE w.is_active AND w.scheduled_start IS NULL AND w.assigned_to IS NULL `+ucond+`
		ORDER BY w.created_at, w.id LIMIT $1`, uargs...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var j BoardJob
		if err := scanBoardJob(rows, &j); err != nil {
			rows.Close()
			return nil, err
		}
		if keepQueued(&j) {
			b.Queue = append(b.Queue, j)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Vocabulary for the filters.
	rows, err = q.Query(ctx, `SELECT 's', id::text, name FROM skills
		UNION ALL SELECT DISTINCT 'r', region, region FROM technician_profiles WHERE region <> '' AND is_active ORDER BY 1, 3`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var kind, id, name string
		if err := rows.Scan(&kind, &id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		if kind == "s" {
			b.Skills = append(b.Skills, Skill{id, name})
		} else {
			b.Regions = append(b.Regions, name)
		}
	}
	rows.Close()
	sort.Strings(b.Regions)
	return b, rows.Err()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FindBoardJob returns one work order in the board's shape (live updates patch the board with it).
func (s *Service) FindBoardJob(ctx context.Context, id string) (*BoardJob, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	var j BoardJob
	err := scanBoardJob(s.DB.Pool.QueryRow(ctx, `SELECT `+boardJobCols+boardJobFrom+` WHERE w.id = $1 AND w.is_active`, id), &j)
	if err == pgx.ErrNoRows {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// GeoJSON is a FeatureCollection.
type GeoJSON struct {
	Type     string    `json:"type"`
	Features []Feature `json:"features"`
}

// Feature is a GeoJSON point feature.
type Feature struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Geometry   map[string]any `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

func pointFeature(id string, lat, lon float64, props map[string]any) Feature {
	return Feature{Type: "Feature", ID: id, Geometry: map[string]any{"type": "Point", "coordinates": []float64{lon, lat}}, Properties: props}
}

// BoardGeoJSON is the board's map layer: located jobs (kind=job) and technicians with a shared
// position (kind=technician).
func (s *Service) BoardGeoJSON(ctx context.Context, f BoardFilter) (*GeoJSON, error) {
	b, err := s.Board(ctx, f)
	if err != nil {
		return nil, err
	}
	g := &GeoJSON{Type: "FeatureCollection", Features: []Feature{}}
	add := func(j BoardJob, queued bool) {
		if j.Lat == nil || j.Lon == nil {
			return
		}
		g.Features = append(g.Features, pointFeature(j.ID, *j.Lat, *j.Lon, map[string]any{
			"kind": "job", "number": j.Number, "title": j.Title, "status": j.Status, "priority": j.Priority,
			"assigned_to": j.AssignedTo, "scheduled_start": j.ScheduledStart, "queued": queued, "version": j.Version}))
	}
	for _, j := range b.Jobs {
		add(j, false)
	}
	for _, j := range b.Queue {
		add(j, true)
	}
	for _, t := range b.Technicians {
		if p := t.Presence; p != nil && p.Lat != nil && p.Lon != nil {
			g.Features = append(g.Features, pointFeature(t.ID, *p.Lat, *p.Lon, map[string]any{
				"kind": "technician", "name": t.Name, "status": p.Status, "fresh": p.Fresh, "location_at": p.LocationAt}))
		}
	}
	return g, nil
}
