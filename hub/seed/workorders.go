package seed

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"dotmac.dev/field/hub/workorder"
)

func init() { Register(10, "customers, technicians and work orders", seedWorkOrders) }

// Bozeman, Montana: the demo ISP's town.
const (
	bozemanLat = 45.6770
	bozemanLon = -111.0429
)

var demoStreets = []string{
	"W Main St", "E Main St", "S Willson Ave", "N Grand Ave", "S Tracy Ave", "N Black Ave", "N Rouse Ave", "S Church Ave",
	"W Babcock St", "W Mendenhall St", "W Durston Rd", "W Oak St", "W Kagy Blvd", "W College St", "W Lincoln St",
	"S 19th Ave", "S 11th Ave", "N 7th Ave", "Fowler Ave", "W Baxter Ln", "Valley Center Rd", "Huffine Ln",
	"Story Mill Rd", "Bridger Dr", "Cottonwood Rd", "Davis Ln", "Ferguson Ave", "Stucky Rd", "W Graf St", "Sourdough Rd",
	"Highland Blvd", "W Koch St", "S 3rd Ave", "E Peach St", "W Villard St", "Annie St", "Westridge Dr",
}

var demoFirst = []string{"Aaron", "Beth", "Carlos", "Diane", "Eli", "Fiona", "Gus", "Hannah", "Ivan", "Jenna", "Kyle", "Laura",
	"Marcus", "Nora", "Owen", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zach"}

var demoLast = []string{"Anderson", "Brooks", "Carter", "Dalton", "Evans", "Fischer", "Gallagher", "Hansen", "Iverson", "Jensen",
	"Keller", "Lindqvist", "Morales", "Nakamura", "Olsen", "Peterson", "Quill", "Runningwolf", "Sorensen", "Thompson",
	"Underwood", "Vasquez", "Whitaker", "Yellowtail", "Zimmerman"}

var demoBusinesses = []string{"Bridger Brewing", "Gallatin Valley Vet Clinic", "Rocky Mountain Bagels", "Hyalite Outfitters",
	"Bozeman Public Library (Annex)", "Bridger Ridge Apartments", "Montana Ale Works", "Sacajawea Dental"}

var demoPlans = []string{"Fiber 300", "Fiber 1G", "Fiber 500", "Wireless 50", "Wireless 100", "Business Fiber 1G"}

type demoJob struct {
	title, desc, workType, priority string
	skills                          []string
}

var demoJobs = []demoJob{
	{"Fiber install — new ONT", "Drop from the pedestal, mount the ONT and router, light test, walk the customer through Wi-Fi.", "install", "normal", []string{"ONT install"}},
	{"No service — LOS on ONT", "ONT shows red LOS since this morning. Check drop and splice at the pedestal.", "repair", "high", []string{"Fiber splicing"}},
	{"Wireless CPE realignment", "Signal dropped to -78 dBm after the wind storm. Re-aim at the Peets Hill sector.", "repair", "normal", []string{"Wireless"}},
	{"Site survey for fiber drop", "Customer wants fiber; survey the route from the road and note trenching needs.", "survey", "low", []string{"Underground"}},
	{"Replace damaged aerial drop", "Tree limb brought the drop down. Replace span and re-tension.", "repair", "urgent", []string{"Aerial"}},
	{"Splice closure maintenance", "Re-enter closure, clean trays, check for moisture, document splices.", "maintenance", "medium", []string{"Fiber splicing"}},
	{"Disconnect and recover ONT", "Customer moved out; recover ONT and power supply.", "disconnect", "lower", []string{"ONT install"}},
	{"Upgrade to 1G — swap router", "Swap the router for the 1G model and verify speeds at the wall.", "install", "normal", []string{"ONT install"}},
	{"Conduit locate and pull", "Locate existing conduit and pull the drop to the house.", "install", "normal", []string{"Underground"}},
	{"Intermittent drops — check power levels", "Customer reports evening drops. Measure optical power, check ONT logs.", "repair", "medium", []string{"Fiber splicing", "ONT install"}},
}

// seedWorkOrders seeds the Bozeman ISP: skills, the three demo technicians' profiles and shifts,
// about 50 customers with sites, and about 40 work orders over the coming week.
func seedWorkOrders(ctx context.Context, d *Demo) error {
	svc := &workorder.Service{Now: time.Now}
	rng := rand.New(rand.NewPCG(2025, 406))
	loc, err := time.LoadLocation("America/Denver")
	if err != nil {
		loc = time.FixedZone("MST", -7*3600)
	}
	admin, dispatcher := d.People["admin@example.com"], d.People["dispatcher@example.com"]

	skills := map[string]string{}
	for _, sk := range []struct{ name, desc string }{
		{"Fiber splicing", "Fusion splicing, closures, OTDR and power meter"},
		{"ONT install", "Customer premises: ONT, router, Wi-Fi"},
		{"Wireless", "Fixed wireless CPE, sector alignment"},
		{"Aerial", "Pole work, aerial drops and strand"},
		{"Underground", "Conduit, locates, pulls and handholes"},
	} {
		var id string
		if err := d.Tx.QueryRow(ctx, `INSERT INTO skills (name, description) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description RETURNING id`, sk.name, sk.desc).Scan(&id); err != nil {
			return err
		}
		skills[sk.name] = id
	}
	d.Values["skills"] = skills

	type techSpec struct {
		email    string
		skills   map[string]int
		primary  string
		lat, lon float64
	}
	techs := []techSpec{
		{"tech1@example.com", map[string]int{"ONT install": 85, "Fiber splicing": 70, "Aerial": 60}, "ONT install", 45.6832, -111.0552},
		{"tech2@example.com", map[string]int{"Fiber splicing": 92, "Underground": 75, "ONT install": 60}, "Fiber splicing", 45.6655, -111.0301},
		{"tech3@example.com", map[string]int{"Wireless": 88, "Aerial": 72, "ONT install": 55}, "Wireless", 45.6981, -111.0610},
	}
	today := time.Now().In(loc)
	day0 := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	var techIDs []string
	for _, t := range techs {
		id := d.People[t.email]
		if id == "" {
			continue
		}
		techIDs = append(techIDs, id)
		if _, err := d.Tx.Exec(ctx, `INSERT INTO technician_profiles (person_id, title, region, home_base)
			VALUES ($1, 'Field technician', 'Bozeman', ST_SetSRID(ST_MakePoint($2, $3), 4326)) ON CONFLICT (person_id) DO NOTHING`,
			id, t.lon, t.lat); err != nil {
			return err
		}
		for name, prof := range t.skills {
			if _, err := d.Tx.Exec(ctx, `INSERT INTO technician_skills (person_id, skill_id, proficiency, is_primary) VALUES ($1, $2, $3, $4)`,
				id, skills[name], prof, name == t.primary); err != nil {
				return err
			}
		}
		for i := 0; i < 7; i++ {
			day := day0.AddDate(0, 0, i)
			if day.Weekday() == time.Sunday {
				continue
			}
			start := day.Add(8 * time.Hour)
			end := day.Add(17 * time.Hour)
			if day.Weekday() == time.Saturday {
				end = day.Add(13 * time.Hour)
			}
			if _, err := d.Tx.Exec(ctx, `INSERT INTO shifts (person_id, starts_at, ends_at, timezone, shift_type) VALUES ($1, $2, $3, 'America/Denver', 'regular')`,
				id, start, end); err != nil {
				return err
			}
		}
	}
	if len(techIDs) == 3 { // tech3 has a dentist appointment on day 2
		day := day0.AddDate(0, 0, 2)
		if _, err := d.Tx.Exec(ctx, `INSERT INTO availability_blocks (person_id, starts_at, ends_at, reason, block_type) VALUES ($1, $2, $3, 'Dentist', 'time_off')`,
			techIDs[2], day.Add(13*time.Hour), day.Add(15*time.Hour)); err != nil {
			return err
		}
	}

	// Customers: households and a few businesses around town, each with a service site.
	var customers, sites []string
	used := map[string]bool{}
	for i := 0; i < 50; i++ {
		var name, email string
		if i%7 == 3 && i/7 < len(demoBusinesses) {
			name = demoBusinesses[i/7]
			email = fmt.Sprintf("office%d@example.net", i+1)
		} else {
			for {
				f, l := demoFirst[rng.IntN(len(demoFirst))], demoLast[rng.IntN(len(demoLast))]
				name = f + " " + l
				if !used[name] {
					used[name] = true
					email = fmt.Sprintf("%c.%s@example.net", f[0]+32, toLower(l))
					break
				}
			}
		}
		// A point within ~5.5 km of the town centre.
		r := 5.5 * math.Sqrt(rng.Float64())
		th := rng.Float64() * 2 * math.Pi
		lat := bozemanLat + r*math.Cos(th)/111.0
		lon := bozemanLon + r*math.Sin(th)/(111.0*math.Cos(bozemanLat*math.Pi/180))
		lat, lon = math.Round(lat*1e6)/1e6, math.Round(lon*1e6)/1e6
		addr := fmt.Sprintf("%d %s, Bozeman, MT 5971%d", 100+rng.IntN(3800), demoStreets[rng.IntN(len(demoStreets))], 5+rng.IntN(4))
		phone := fmt.Sprintf("+1 406 555 %04d", 1000+rng.IntN(8999))
		status := "active"
		if i == 47 {
			status = "pending"
		}
		if i == 48 {
			status = "suspended"
		}
		id, err := svc.CreateCustomerTx(ctx, d.Tx, workorder.CustomerCreate{Name: name, Email: email, Phone: phone, Address: addr,
			Lat: &lat, Lon: &lon, Status: status, Region: "Bozeman", ServicePlan: demoPlans[rng.IntN(len(demoPlans))]}, admin)
		if err != nil {
			return fmt.Errorf("customer %s: %w", name, err)
		}
		var site string
		if err := d.Tx.QueryRow(ctx, `SELECT id FROM sites WHERE customer_id = $1`, id).Scan(&site); err != nil {
			return err
		}
		customers = append(customers, id)
		sites = append(sites, site)
	}
	d.Values["customers"] = customers
	d.Values["sites"] = sites

	// Work orders: tech1 is busy today and tomorrow; a mix of statuses across the week.
	type plan struct {
		day, hour, mins int
		tech            int // -1 unassigned
		status          string
		crew            int // helper tech index or -1
	}
	plans := []plan{
		// today
		{0, 8, 90, 0, "completed", -1}, {0, 10, 60, 0, "dispatched", -1}, {0, 13, 120, 0, "scheduled", -1}, {0, 15, 60, 0, "scheduled", 2},
		{0, 8, 120, 1, "completed", -1}, {0, 11, 90, 1, "in_progress", -1}, {0, 14, 60, 1, "scheduled", -1},
		{0, 9, 60, 2, "paused", -1}, {0, 12, 90, 2, "dispatched", -1}, {0, 15, 60, 2, "scheduled", -1},
		{0, 13, 60, -1, "scheduled", -1},
		// tomorrow
		{1, 8, 90, 0, "scheduled", -1}, {1, 10, 120, 0, "scheduled", 1}, {1, 14, 60, 0, "scheduled", -1},
		{1, 9, 60, 1, "scheduled", -1}, {1, 13, 120, 1, "scheduled", -1}, {1, 9, 90, 2, "scheduled", -1}, {1, 14, 60, 2, "scheduled", -1},
		{1, 11, 60, -1, "scheduled", -1}, {1, 15, 90, -1, "draft", -1},
		// the rest of the week
		{2, 8, 90, 0, "scheduled", -1}, {2, 13, 60, 0, "scheduled", -1}, {2, 10, 120, 1, "scheduled", -1}, {2, 9, 60, 2, "scheduled", -1},
		{2, 14, 60, -1, "scheduled", -1}, {3, 9, 60, 0, "scheduled", -1}, {3, 11, 90, 1, "scheduled", 0}, {3, 14, 60, 2, "scheduled", -1},
		{3, 10, 60, -1, "draft", -1}, {4, 8, 120, 0, "scheduled", -1}, {4, 13, 60, 1, "scheduled", -1}, {4, 10, 90, 2, "scheduled", -1},
		{4, 15, 60, -1, "scheduled", -1}, {5, 9, 60, 1, "scheduled", -1}, {5, 10, 60, -1, "draft", -1}, {6, 9, 90, 0, "scheduled", -1},
		// yesterday's history
		{-1, 9, 90, 0, "completed", -1}, {-1, 13, 60, 1, "completed", -1}, {-1, 10, 60, 2, "canceled", -1}, {-1, 14, 60, -1, "canceled", -1},
	}
	var wos []string
	for i, p := range plans {
		j := demoJobs[(i*7+3)%len(demoJobs)]
		ci := (i*13 + 5) % len(customers)
		start := day0.AddDate(0, 0, p.day).Add(time.Duration(p.hour) * time.Hour)
		end := start.Add(time.Duration(p.mins) * time.Minute)
		ss, se := start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)
		var assigned *string
		var crew []string
		if p.tech >= 0 && p.tech < len(techIDs) {
			assigned = &techIDs[p.tech]
			if p.crew >= 0 && p.crew < len(techIDs) {
				crew = []string{techIDs[p.crew]}
			}
		}
		status := "scheduled"
		if p.status == "draft" {
			status = "draft"
		}
		cust := customers[ci]
		var reqSkills []string
		for _, s := range j.skills {
			reqSkills = append(reqSkills, skills[s])
		}
		dur := p.mins
		creator := dispatcher
		if creator == "" {
			creator = admin
		}
		access := ""
		if i%4 == 1 {
			access = "Gate code 4512. Dog in the yard — call before entering."
		} else if i%5 == 2 {
			access = "Park in the alley; ONT is in the garage."
		}
		in := workorder.WorkOrderCreate{Title: j.title, Description: j.desc, WorkType: j.workType, Priority: j.priority, Status: status,
			CustomerID: &cust, ScheduledStart: &ss, ScheduledEnd: &se, EstimatedDurationMinutes: &dur, AssignedTo: assigned, Crew: crew,
			AccessNotes: access, RequiredSkills: reqSkills, Tags: []string{"bozeman"}}
		id, err := svc.CreateWorkOrderTx(ctx, d.Tx, in, creator)
		if err != nil {
			return fmt.Errorf("work order %d: %w", i, err)
		}
		wos = append(wos, id)
		if err := setDemoStatus(ctx, d, id, p.status, start, end, assigned); err != nil {
			return err
		}
	}
	d.Values["work_orders"] = wos
	if d.Out != nil {
		fmt.Fprintf(d.Out, "  %d customers, %d work orders, %d technicians in Bozeman\n", len(customers), len(wos), len(techIDs))
	}
	return nil
}

// setDemoStatus moves a freshly created demo work order along its life with plausible timestamps
// (the seed writes history directly, as if it had happened).
func setDemoStatus(ctx context.Context, d *Demo, id, status string, start, end time.Time, tech *string) error {
	if status == "scheduled" || status == "draft" {
		return nil
	}
	var st, pa, co, ca *time.Time
	active := int64(0)
	switch status {
	case "in_progress":
		t := start.Add(10 * time.Minute)
		st = &t
	case "paused":
		t, p := start.Add(5*time.Minute), start.Add(35*time.Minute)
		st, pa = &t, &p
		active = 30 * 60
	case "completed":
		t, c := start.Add(5*time.Minute), end.Add(-10*time.Minute)
		st, co = &t, &c
		active = int64(c.Sub(t).Seconds())
	case "canceled":
		c := start.Add(20 * time.Minute)
		ca = &c
	}
	if _, err := d.Tx.Exec(ctx, `UPDATE work_orders SET status = $2, started_at = $3, paused_at = $4, completed_at = $5, canceled_at = $6,
		total_active_seconds = $7, version = version + 1 WHERE id = $1`, id, status, st, pa, co, ca, active); err != nil {
		return err
	}
	if tech != nil && st != nil {
		var ended *time.Time
		switch {
		case co != nil:
			ended = co
		case pa != nil:
			ended = pa
		}
		if _, err := d.Tx.Exec(ctx, `INSERT INTO work_order_worklogs (work_order_id, person_id, started_at, ended_at, source) VALUES ($1, $2, $3, $4, 'timer')`,
			id, *tech, *st, ended); err != nil {
			return err
		}
	}
	_, err := d.Tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload) SELECT 'work_order.status_changed', 'work_order', id,
		jsonb_build_object('id', id, 'number', number, 'version', version, 'status', status, 'previous_status', 'scheduled',
			'assigned_to', assigned_to, 'crew', '[]'::jsonb, 'title', title, 'customer_id', customer_id)
		FROM work_orders WHERE id = $1`, id)
	return err
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
