package dispatch

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// NearTech is a technician ranked by distance to a job.
type NearTech struct {
	TechnicianID string    `json:"technician_id"`
	Name         string    `json:"name"`
	Region       string    `json:"region"`
	Status       string    `json:"status"`
	Lat          float64   `json:"lat"`
	Lon          float64   `json:"lon"`
	AccuracyM    *float32  `json:"accuracy_m"`
	LocationAt   time.Time `json:"location_at"`
	DistanceKM   float64   `json:"distance_km"`
	HasSkills    bool      `json:"has_required_skills"`
}

// NearestTechs ranks the on-shift technicians sharing a fresh (< 10 min) position by distance to
// the job's site: PostGIS KNN (<->) over the presence GiST index. maxKM <= 0 means no limit.
func (s *Service) NearestTechs(ctx context.Context, workOrderID string, maxKM float64, limit int) ([]NearTech, error) {
	if !postgres.ValidUUID(workOrderID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	var located bool
	var skills []string
	err := s.DB.Pool.QueryRow(ctx, `SELECT st.geom IS NOT NULL, w.required_skills::text[] FROM work_orders w LEFT JOIN sites st ON st.id = w.site_id
		WHERE w.id = $1 AND w.is_active`, workOrderID).Scan(&located, &skills)
	if err == pgx.ErrNoRows {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	} else if err != nil {
		return nil, err
	}
	if !located {
		return nil, hub.Errorf(hub.EUNPROCESSABLE, "the work order's site has no location")
	}
	var maxM *float64
	if maxKM > 0 {
		m := maxKM * 1000
		maxM = &m
	}
	rows, err := s.DB.Pool.Query(ctx, `WITH site AS (
			SELECT st.geom::geography AS g FROM work_orders w JOIN sites st ON st.id = w.site_id WHERE w.id = $1)
		SELECT k.person_id, coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name)), coalesce(tp.region, ''),
			k.status, k.lat, k.lon, k.accuracy_m, k.location_at, k.m,
			(SELECT count(*) FROM technician_skills ts WHERE ts.person_id = k.person_id AND ts.skill_id = ANY($5::uuid[])) = cardinality($5::uuid[])
		FROM site CROSS JOIN LATERAL (
			SELECT pr.person_id, pr.status, pr.lat, pr.lon, pr.accuracy_m, pr.location_at, ST_Distance(pr.geog, site.g) AS m
			FROM field_tech_presence pr
			WHERE pr.location_sharing_enabled AND pr.status = 'on_shift' AND pr.location_at > $2 AND pr.geog IS NOT NULL
			  AND ($3::float8 IS NULL OR ST_DWithin(pr.geog, site.g, $3::float8))
			ORDER BY pr.geog <-> site.g
			LIMIT $4) k
		JOIN people p ON p.id = k.person_id
		LEFT JOIN technician_profiles tp ON tp.person_id = k.person_id
		WHERE p.status = 'active' AND coalesce(tp.is_active, true)
		ORDER BY k.m, k.person_id`, workOrderID, s.now().Add(-Fresh), maxM, limit, skills)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NearTech{}
	for rows.Next() {
		var n NearTech
		var m float64
		if err := rows.Scan(&n.TechnicianID, &n.Name, &n.Region, &n.Status, &n.Lat, &n.Lon, &n.AccuracyM, &n.LocationAt, &m, &n.HasSkills); err != nil {
			return nil, err
		}
		n.DistanceKM = math.Round(m) / 1000
		out = append(out, n)
	}
	return out, rows.Err()
}

// RouteStop is a job in a day route.
type RouteStop struct {
	BoardJob
	Located bool     `json:"located"`
	LegKM   *float64 `json:"leg_km"` // from the previous stop (or the start); null for unlocated jobs
}

// DayRoute is a technician's jobs of a day in nearest-neighbour order.
type DayRoute struct {
	TechnicianID string      `json:"technician_id"`
	Date         string      `json:"date"`
	Start        *Point      `json:"start"`
	StartSource  string      `json:"start_source"` // position | home_base | first_job | none
	Stops        []RouteStop `json:"stops"`
	TotalKM      float64     `json:"total_km"`
}

// Route orders a technician's open jobs of a day by nearest neighbour from their live position
// (fresh and shared), else their home base, else the earliest located job; unlocated jobs come
// last in scheduled order.
func (s *Service) Route(ctx context.Context, techID string, day time.Time) (*DayRoute, error) {
	if !postgres.ValidUUID(techID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "technician not found")
	}
	var hlat, hlon, plat, plon *float64
	var pat *time.Time
	var sharing *bool
	err := s.DB.Pool.QueryRow(ctx, `SELECT ST_Y(tp.home_base), ST_X(tp.home_base), pr.lat, pr.lon, pr.location_at, pr.location_sharing_enabled
		FROM technician_profiles tp LEFT JOIN field_tech_presence pr ON pr.person_id = tp.person_id WHERE tp.person_id = $1`, techID).
		Scan(&hlat, &hlon, &plat, &plon, &pat, &sharing)
	if err == pgx.ErrNoRows {
		return nil, hub.Errorf(hub.ENOTFOUND, "technician not found")
	} else if err != nil {
		return nil, err
	}
	from := dayStartIn(day, day.Location())
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+boardJobCols+boardJobFrom+`
		WHERE w.is_active AND w.assigned_to = $1 AND w.scheduled_start >= $2 AND w.scheduled_start < $3 AND w.status NOT IN ('canceled')
		ORDER BY w.scheduled_start, w.id`, techID, from, from.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	var jobs []BoardJob
	for rows.Next() {
		var j BoardJob
		if err := scanBoardJob(rows, &j); err != nil {
			rows.Close()
			return nil, err
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r := &DayRoute{TechnicianID: techID, Date: from.Format("2006-01-02"), StartSource: "none", Stops: []RouteStop{}}
	switch {
	case plat != nil && plon != nil && pat != nil && sharing != nil && *sharing && s.now().Sub(*pat) < Fresh:
		r.Start, r.StartSource = &Point{*plat, *plon}, "position"
	case hlat != nil && hlon != nil:
		r.Start, r.StartSource = &Point{*hlat, *hlon}, "home_base"
	}
	r.Stops, r.TotalKM = nearestNeighbour(r.Start, jobs)
	if r.Start == nil && len(r.Stops) > 0 && r.Stops[0].Located {
		r.StartSource = "first_job"
	}
	return r, nil
}

// nearestNeighbour orders located jobs greedily by distance from start (or from the earliest
// located job when start is nil), then appends the unlocated ones in their given order.
func nearestNeighbour(start *Point, jobs []BoardJob) ([]RouteStop, float64) {
	var located, unlocated []BoardJob
	for _, j := range jobs {
		if j.Lat != nil && j.Lon != nil {
			located = append(located, j)
		} else {
			unlocated = append(unlocated, j)
		}
	}
	out := make([]RouteStop, 0, len(jobs))
	total := 0.0
	cur := start
	used := make([]bool, len(located))
	for range located {
		best, bestM := -1, math.Inf(1)
		for i, j := range located {
			if used[i] {
				continue
			}
			if cur == nil { // no start: the earliest located job opens the route
				best, bestM = i, 0
				break
			}
			if m := haversine(cur.Lat, cur.Lon, *j.Lat, *j.Lon); m < bestM {
				best, bestM = i, m
			}
		}
		used[best] = true
		j := located[best]
		var leg *float64
		if cur != nil {
			km := math.Round(bestM) / 1000
			leg = &km
			total += bestM
		}
		out = append(out, RouteStop{BoardJob: j, Located: true, LegKM: leg})
		cur = &Point{*j.Lat, *j.Lon}
	}
	for _, j := range unlocated {
		out = append(out, RouteStop{BoardJob: j})
	}
	return out, math.Round(total) / 1000
}
