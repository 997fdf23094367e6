package seed

import (
	"context"
	"fmt"
	"time"

	"dotmac.dev/field/hub/postgres"
)

func init() { Register(20, "dispatch: skills, shifts, positions, rules", seedDispatch) }

// seedDispatch makes the demo technicians dispatchable around Bozeman: profiles and skills (kept
// when the work order step made them), shifts today and tomorrow (07:00–19:00 in Bozeman), live
// positions, and three dispatch rules. When no earlier step made work orders, it adds a small
// day of jobs so the board has something to show.
func seedDispatch(ctx context.Context, d *Demo) error {
	tx := d.Tx
	loc, err := time.LoadLocation("America/Denver")
	if err != nil {
		loc = time.FixedZone("MST", -7*3600)
	}
	skills := map[string]string{}
	for _, name := range []string{"Fiber splicing", "Wireless install", "ONT activation"} {
		if _, err := tx.Exec(ctx, `INSERT INTO skills (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM skills WHERE name = $1`, name).Scan(&id); err != nil {
			return err
		}
		skills[name] = id
	}
	type tech struct {
		email      string
		lat, lon   float64
		primary    string
		other      string
		sharing    bool
		minutesAgo int
	}
	techs := []tech{
		{"tech1@example.com", 45.6795, -111.0386, "Fiber splicing", "ONT activation", true, 1},
		{"tech2@example.com", 45.6652, -111.0571, "Wireless install", "ONT activation", true, 2},
		{"tech3@example.com", 45.6902, -111.0205, "Fiber splicing", "Wireless install", false, 30},
	}
	now := time.Now()
	y, m, day := now.In(loc).Date()
	today := time.Date(y, m, day, 0, 0, 0, 0, loc)
	for i, t := range techs {
		id := d.People[t.email]
		if id == "" {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO technician_profiles (person_id, region, home_base) VALUES ($1, 'bozeman', ST_SetSRID(ST_MakePoint($3, $2), 4326))
			ON CONFLICT (person_id) DO UPDATE SET home_base = coalesce(technician_profiles.home_base, EXCLUDED.home_base)`,
			id, t.lat-0.004*float64(i+1), t.lon+0.003); err != nil {
			return err
		}
		for _, s := range []struct {
			name string
			prof int
		}{{t.primary, 70 + 10*i}, {t.other, 50}} {
			if _, err := tx.Exec(ctx, `INSERT INTO technician_skills (person_id, skill_id, proficiency, is_primary)
				VALUES ($1, $2, $3, $4 AND NOT EXISTS (SELECT 1 FROM technician_skills WHERE person_id = $1 AND is_primary))
				ON CONFLICT DO NOTHING`, id, skills[s.name], s.prof, s.name == t.primary); err != nil {
				return err
			}
		}
		for dd := 0; dd < 2; dd++ {
			start := today.AddDate(0, 0, dd).Add(7 * time.Hour)
			if _, err := tx.Exec(ctx, `INSERT INTO shifts (person_id, starts_at, ends_at, timezone) SELECT $1, $2, $3, $4
				WHERE NOT EXISTS (SELECT 1 FROM shifts WHERE person_id = $1 AND starts_at < $3 AND ends_at > $2)`,
				id, start, start.Add(12*time.Hour), loc.String()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO field_tech_presence (person_id, status, location_sharing_enabled, lat, lon, accuracy_m, geog, location_at)
			VALUES ($1, 'on_shift', $2, $3, $4, 12, ST_SetSRID(ST_MakePoint($4, $3), 4326)::geography, $5) ON CONFLICT (person_id) DO NOTHING`,
			id, t.sharing, t.lat, t.lon, now.Add(-time.Duration(t.minutesAgo)*time.Minute)); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO dispatch_rules (name, priority, work_type, skill_ids) VALUES ('Installs need fiber splicing', 10, 'install', ARRAY[$1::uuid]);
		`, skills["Fiber splicing"]); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO dispatch_rules (name, priority, work_type, auto_assign) VALUES ('Surveys are planned by hand', 20, 'survey', false),
		('Urgent repairs go to the nearest free technician', 30, 'repair', true)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE dispatch_rules SET work_priority = 'urgent' WHERE name LIKE 'Urgent repairs%'`); err != nil {
		return err
	}

	var have bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_orders)`).Scan(&have); err != nil || have {
		return err
	}
	jobs := []struct {
		title, typ, prio, tech string
		hour, dur              int
		dx, dy                 float64
		status                 string
	}{
		{"Fiber drop install", "install", "normal", "tech1@example.com", 8, 120, 0.010, 0.004, "dispatched"},
		{"ONT not syncing", "repair", "high", "tech1@example.com", 11, 60, -0.012, 0.006, "scheduled"},
		{"Splice closure check", "maintenance", "normal", "tech1@example.com", 14, 90, 0.020, -0.010, "scheduled"},
		{"Rooftop radio install", "install", "normal", "tech2@example.com", 9, 150, -0.025, -0.008, "in_progress"},
		{"Weak Wi-Fi upstairs", "repair", "low", "tech2@example.com", 13, 60, -0.006, -0.015, "scheduled"},
		{"Line-of-sight survey", "survey", "normal", "", 10, 60, 0.030, 0.012, "scheduled"},
		{"Outage at the bakery", "repair", "urgent", "", 12, 60, 0.002, -0.003, "scheduled"},
		{"New subscriber install", "install", "normal", "", 15, 120, -0.018, 0.020, "scheduled"},
		{"Disconnect old service", "disconnect", "lower", "", 0, 0, 0.015, 0.025, "draft"},
	}
	for i, j := range jobs {
		num, err := postgres.NextNumber(ctx, tx, "work_order", "WO")
		if err != nil {
			return err
		}
		lat, lon := 45.6770+j.dy, -111.0429+j.dx
		var cust, site string
		if err := tx.QueryRow(ctx, `INSERT INTO customers (number, name, address, region) VALUES ($1, $2, $3, 'bozeman') RETURNING id`,
			fmt.Sprintf("CUS-D%04d", i+1), fmt.Sprintf("Demo subscriber %d", i+1), fmt.Sprintf("%d W Main St, Bozeman", 100+i*10)).Scan(&cust); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO sites (customer_id, address, geom) VALUES ($1, $2, ST_SetSRID(ST_MakePoint($4, $3), 4326)) RETURNING id`,
			cust, fmt.Sprintf("%d W Main St, Bozeman", 100+i*10), lat, lon).Scan(&site); err != nil {
			return err
		}
		var start, end *time.Time
		if j.dur > 0 {
			s := today.Add(time.Duration(j.hour) * time.Hour)
			e := s.Add(time.Duration(j.dur) * time.Minute)
			start, end = &s, &e
		}
		var assigned *string
		if id := d.People[j.tech]; id != "" {
			assigned = &id
		}
		var woID string
		if err := tx.QueryRow(ctx, `INSERT INTO work_orders (number, title, status, priority, work_type, customer_id, site_id, assigned_to,
			scheduled_start, scheduled_end, estimated_duration_minutes, region) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, 0), 'bozeman') RETURNING id`,
			num, j.title, j.status, j.prio, j.typ, cust, site, assigned, start, end, j.dur).Scan(&woID); err != nil {
			return err
		}
		if assigned != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary) VALUES ($1, $2, 'primary', true)`, woID, *assigned); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO work_order_assignment_queue (work_order_id, status, reason)
		SELECT id, 'skipped', 'dispatch rule "Surveys are planned by hand" is set to manual dispatch' FROM work_orders WHERE work_type = 'survey' AND assigned_to IS NULL`); err != nil {
		return err
	}
	return nil
}
