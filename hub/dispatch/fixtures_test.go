package dispatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
)

// Bozeman, Montana: the demo town.
const bozLat, bozLon = 45.6770, -111.0429

// fx writes test rows straight into the tables (the work order area's services are not needed).
type fx struct {
	t   testing.TB
	db  *postgres.DB
	svc *Service
	n   int
}

func newFx(t testing.TB) *fx {
	t.Helper()
	db := postgrestest.NewDB(t)
	return &fx{t: t, db: db, svc: NewService(db, nil)}
}

func (f *fx) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fx) id(sql string, args ...any) string {
	f.t.Helper()
	var id string
	if err := f.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&id); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return id
}

func (f *fx) skill(name string) string {
	return f.id(`INSERT INTO skills (name) VALUES ($1) RETURNING id`, name)
}

type techOpt struct {
	region  string
	home    *Point
	skills  map[string]int // skill id → proficiency
	primary string
}

func (f *fx) tech(name string, o techOpt) string {
	f.t.Helper()
	f.n++
	id := f.id(`INSERT INTO people (first_name, last_name, email) VALUES ($1, 'Tech', $2) RETURNING id`, name, fmt.Sprintf("t%d-%s@example.com", f.n, name))
	var lat, lon *float64
	if o.home != nil {
		lat, lon = &o.home.Lat, &o.home.Lon
	}
	f.exec(`INSERT INTO technician_profiles (person_id, region, home_base) VALUES ($1, $2,
		CASE WHEN $3::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($4, $3), 4326) END)`, id, o.region, lat, lon)
	for sk, prof := range o.skills {
		f.exec(`INSERT INTO technician_skills (person_id, skill_id, proficiency, is_primary) VALUES ($1, $2, $3, $4)`, id, sk, prof, sk == o.primary)
	}
	return id
}

func (f *fx) shift(tech string, from, to time.Time) {
	f.exec(`INSERT INTO shifts (person_id, starts_at, ends_at) VALUES ($1, $2, $3)`, tech, from, to)
}

func (f *fx) block(tech string, from, to time.Time) {
	f.exec(`INSERT INTO availability_blocks (person_id, starts_at, ends_at, reason) VALUES ($1, $2, $3, 'dentist')`, tech, from, to)
}

// presence sets a technician's live position directly.
func (f *fx) presence(tech string, lat, lon float64, at time.Time, status string, sharing bool) {
	f.exec(`INSERT INTO field_tech_presence (person_id, status, location_sharing_enabled, lat, lon, geog, location_at)
		VALUES ($1, $2, $3, $4, $5, ST_SetSRID(ST_MakePoint($5, $4), 4326)::geography, $6)
		ON CONFLICT (person_id) DO UPDATE SET status = EXCLUDED.status, location_sharing_enabled = EXCLUDED.location_sharing_enabled,
			lat = EXCLUDED.lat, lon = EXCLUDED.lon, geog = EXCLUDED.geog, location_at = EXCLUDED.location_at`, tech, status, sharing, lat, lon, at)
}

type woOpt struct {
	title      string
	workType   string
	priority   string
	region     string
	status     string
	skills     []string
	start, end *time.Time
	at         *Point // site location; nil = no site
	assignedTo string
}

func (f *fx) wo(o woOpt) string {
	f.t.Helper()
	f.n++
	if o.workType == "" {
		o.workType = "repair"
	}
	if o.priority == "" {
		o.priority = "normal"
	}
	if o.status == "" {
		o.status = "scheduled"
	}
	if o.title == "" {
		o.title = fmt.Sprintf("Job %d", f.n)
	}
	if o.skills == nil {
		o.skills = []string{}
	}
	var site *string
	if o.at != nil {
		s := f.id(`INSERT INTO sites (address, geom) VALUES ('1 Main St', ST_SetSRID(ST_MakePoint($2, $1), 4326)) RETURNING id`, o.at.Lat, o.at.Lon)
		site = &s
	}
	cust := f.id(`INSERT INTO customers (number, name) VALUES ($1, $2) RETURNING id`, fmt.Sprintf("CUS-%06d", f.n), "Customer "+o.title)
	var assigned *string
	if o.assignedTo != "" {
		assigned = &o.assignedTo
	}
	id := f.id(`INSERT INTO work_orders (number, title, status, priority, work_type, customer_id, site_id, assigned_to, scheduled_start, scheduled_end,
		required_skills, region) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::uuid[], $12) RETURNING id`,
		fmt.Sprintf("WO-%06d", f.n), o.title, o.status, o.priority, o.workType, cust, site, assigned, o.start, o.end, o.skills, o.region)
	if assigned != nil {
		f.exec(`INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary) VALUES ($1, $2, 'primary', true)`, id, *assigned)
	}
	return id
}

func (f *fx) rule(in RuleInput) *Rule {
	f.t.Helper()
	r, err := f.svc.CreateRule(context.Background(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// slot is a scheduled hour at h:00 UTC tomorrow.
func slot(h int) (*time.Time, *time.Time) {
	d := dayStart(time.Now()).Add(24*time.Hour + time.Duration(h)*time.Hour)
	e := d.Add(time.Hour)
	return &d, &e
}

// offset returns a point about dx km east and dy km north of Bozeman.
func offset(dxKM, dyKM float64) *Point {
	return &Point{Lat: bozLat + dyKM/111.2, Lon: bozLon + dxKM/(111.2*0.6994)}
}
