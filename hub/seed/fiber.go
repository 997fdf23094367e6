package seed

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
)

func init() {
	Register(35, "fiber plant", seedFiber)
}

// The demo FTTH plant of Bozeman, Montana: a central office with an OLT, four FDH cabinets fed
// by feeder cables (spliced once on the way), distribution cables along the street grid to splice
// closures, and a drop with an ONT to each demo customer site (or to made-up houses when the
// work-order seed has made no sites). Poles carry the aerial runs; a wireless mast stands on the
// hill east of town. Every ONT traces back to an OLT port.

const bznLat, bznLon = 45.6770, -111.0429

// at is a point east/north of the town centre, in metres.
type at struct{ x, y float64 }

func (p at) lonlat() (float64, float64) {
	return bznLon + p.x/(111320*math.Cos(bznLat*math.Pi/180)), bznLat + p.y/111320
}

func fromLonLat(lon, lat float64) at {
	return at{(lon - bznLon) * 111320 * math.Cos(bznLat*math.Pi/180), (lat - bznLat) * 111320}
}

func pt(p at) string {
	lon, lat := p.lonlat()
	return fmt.Sprintf("ST_SetSRID(ST_MakePoint(%.7f, %.7f), 4326)", lon, lat)
}

func line(ps ...at) string {
	var parts []string
	for _, p := range ps {
		lon, lat := p.lonlat()
		parts = append(parts, fmt.Sprintf("%.7f %.7f", lon, lat))
	}
	return "ST_GeomFromText('LINESTRING(" + strings.Join(parts, ", ") + ")', 4326)"
}

// street runs from a to b along the grid: east–west first, then north–south.
func street(a, b at) []at {
	if a.x == b.x || a.y == b.y {
		return []at{a, b}
	}
	return []at{a, {b.x, a.y}, b}
}

type fiberSeed struct {
	ctx context.Context
	tx  pgx.Tx
}

func (f *fiberSeed) id(sql string, args ...any) (string, error) {
	var id string
	err := f.tx.QueryRow(f.ctx, sql, args...).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, firstLine(sql))
	}
	return id, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}

func (f *fiberSeed) exec(sql string, args ...any) error {
	_, err := f.tx.Exec(f.ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, firstLine(sql))
	}
	return nil
}

func (f *fiberSeed) segment(name, typ, cable string, count int, route []at) (string, error) {
	return f.id(`INSERT INTO fiber_segments (name, segment_type, cable_type, fiber_count, geom) VALUES ($1, $2, $3, $4, `+line(route...)+`) RETURNING id`,
		name, typ, cable, count)
}

// strand sets strand n of seg with its ends.
func (f *fiberSeed) strand(seg string, n int, upType, upID, downType, downID string) (string, error) {
	id, err := f.id(`SELECT fiber_strand($1, $2)`, seg, n)
	if err != nil {
		return "", err
	}
	return id, f.exec(`UPDATE fiber_strands SET upstream_type = $2, upstream_id = $3, downstream_type = $4, downstream_id = $5 WHERE id = $1`,
		id, upType, upID, downType, downID)
}

func (f *fiberSeed) splice(closure, tray, a, b string, pos int) error {
	return f.exec(`INSERT INTO fiber_splices (closure_id, tray_id, from_strand_id, to_strand_id, position, loss_db) VALUES ($1, $2, $3, $4, $5, $6)`,
		closure, tray, a, b, pos, 0.02+float64(pos%5)*0.01)
}

type site struct {
	id, customer, address, name string
	p                           at
}

type cabinet struct {
	id, name  string
	code      string
	p         at
	splitters []string // ids
	outputs   [][]string
	used      int
	closures  []*closure
}

type closure struct {
	id, name string
	p        at
	trays    []string
	dist     string // distribution cable serving it
	distUsed int
	spliced  int
}

func seedFiber(ctx context.Context, d *Demo) error {
	f := &fiberSeed{ctx: ctx, tx: d.Tx}
	co := at{350, 180}
	olt, err := f.id(`INSERT INTO olt_devices (name, hostname, vendor, model, geom) VALUES ('Bozeman CO — OLT-1', 'olt1.bzn.example.net', 'Calix', 'E7-2', ` + pt(co) + `) RETURNING id`)
	if err != nil {
		return err
	}
	if err := f.exec(`INSERT INTO fiber_termination_points (name, endpoint_type, ref_id, geom) VALUES ('Bozeman CO ODF', 'olt_port', $1, `+pt(co)+`)`, olt); err != nil {
		return err
	}
	var ports []string
	for p := 1; p <= 16; p++ {
		id, err := f.id(`INSERT INTO pon_ports (olt_id, slot, port, name) VALUES ($1, 1, $2, $3) RETURNING id`, olt, p, fmt.Sprintf("gpon 1/1/%d", p))
		if err != nil {
			return err
		}
		ports = append(ports, id)
	}

	// Customer sites from the work-order seed, or made-up houses.
	var sites []site
	rows, err := d.Tx.Query(ctx, `SELECT s.id::text, COALESCE(s.customer_id::text, ''), s.address, COALESCE(c.name, s.label), ST_X(s.geom), ST_Y(s.geom)
		FROM sites s LEFT JOIN customers c ON c.id = s.customer_id
		WHERE s.geom IS NOT NULL AND ST_DWithin(s.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, 8000)
		ORDER BY s.created_at, s.id LIMIT 120`, bznLon, bznLat)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s site
		var lon, lat float64
		if err := rows.Scan(&s.id, &s.customer, &s.address, &s.name, &lon, &lat); err != nil {
			rows.Close()
			return err
		}
		s.p = fromLonLat(lon, lat)
		sites = append(sites, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(sites) == 0 {
		streets := []string{"Willson Ave", "Tracy Ave", "Black Ave", "Grand Ave", "3rd Ave", "Babcock St", "Olive St", "Koch St", "Story St", "Lamme St"}
		for i := 0; i < 48; i++ {
			q := i % 4
			sx, sy := 1.0, 1.0
			if q == 1 || q == 2 {
				sx = -1
			}
			if q >= 2 {
				sy = -1
			}
			k := i / 4
			p := at{sx * (700 + float64(k%4)*160), sy * (600 + float64(k/4)*140)}
			sites = append(sites, site{name: fmt.Sprintf("House %d", i+1), address: fmt.Sprintf("%d %s, Bozeman, MT", 100+i*12, streets[i%len(streets)]), p: p})
		}
	}

	// Four cabinets, one per quarter of town, each fed from the CO through a mid-span closure.
	cabs := []*cabinet{{name: "FDH-NE Story Mill", p: at{1200, 1100}}, {name: "FDH-NW North 7th", p: at{-1300, 1000}},
		{name: "FDH-SW Museum", p: at{-1100, -1200}}, {name: "FDH-SE Sourdough", p: at{1300, -1000}}}
	for ci, c := range cabs {
		code := fmt.Sprintf("BZN-%02d", ci+1)
		c.code = code
		if c.id, err = f.id(`INSERT INTO fdh_cabinets (name, code, region, geom) VALUES ($1, $2, 'Bozeman', `+pt(c.p)+`) RETURNING id`, c.name, code); err != nil {
			return err
		}
		route := street(co, c.p)
		mid := route[len(route)/2]
		if len(route) == 3 {
			mid = route[1]
		}
		fc, err := f.id(`INSERT INTO fiber_splice_closures (name, closure_type, geom) VALUES ($1, 'vault', `+pt(mid)+`) RETURNING id`, "SC-F"+fmt.Sprint(ci+1)+" feeder vault")
		if err != nil {
			return err
		}
		ftray, err := f.id(`INSERT INTO fiber_splice_trays (closure_id, number) VALUES ($1, 1) RETURNING id`, fc)
		if err != nil {
			return err
		}
		f1, err := f.segment(fmt.Sprintf("FDR-%d-A CO→vault", ci+1), "feeder", "underground", 48, street(co, mid))
		if err != nil {
			return err
		}
		f2, err := f.segment(fmt.Sprintf("FDR-%d-B vault→%s", ci+1, code), "feeder", "underground", 48, street(mid, c.p))
		if err != nil {
			return err
		}
		if err := f.exec(`INSERT INTO ducts (name, duct_type, diameter_mm, geom) SELECT $1, 'conduit', 50, geom FROM fiber_segments WHERE id = $2`, fmt.Sprintf("Duct FDR-%d-A", ci+1), f1); err != nil {
			return err
		}
		for s := 0; s < 2; s++ {
			sp, err := f.id(`INSERT INTO splitters (name, fdh_id, ratio, input_ports, output_ports, geom) VALUES ($1, $2, '1:32', 1, 32, `+pt(c.p)+`) RETURNING id`,
				fmt.Sprintf("%s SPL-%d", code, s+1), c.id)
			if err != nil {
				return err
			}
			if err := f.exec(`INSERT INTO splitter_ports (splitter_id, port_type, number) SELECT $1::uuid, 'input', 1 UNION ALL SELECT $1::uuid, 'output', generate_series(1, 32)`, sp); err != nil {
				return err
			}
			in, err := f.id(`SELECT id FROM splitter_ports WHERE splitter_id = $1 AND port_type = 'input'`, sp)
			if err != nil {
				return err
			}
			var outs []string
			r, err := d.Tx.Query(ctx, `SELECT id::text FROM splitter_ports WHERE splitter_id = $1 AND port_type = 'output' ORDER BY number`, sp)
			if err != nil {
				return err
			}
			outs, err = pgx.CollectRows(r, pgx.RowTo[string])
			if err != nil {
				return err
			}
			c.splitters = append(c.splitters, sp)
			c.outputs = append(c.outputs, outs)
			// feeder strand n from the PON port to the vault, spliced to strand n of the second leg into the splitter
			n := s + 1
			a, err := f.strand(f1, n, "olt_port", ports[ci*2+s], "splice_closure", fc)
			if err != nil {
				return err
			}
			b, err := f.strand(f2, n, "splice_closure", fc, "splitter_port", in)
			if err != nil {
				return err
			}
			if err := f.splice(fc, ftray, a, b, n); err != nil {
				return err
			}
		}
	}

	// Each site hangs off the nearest cabinet through a closure near it (made when none is close).
	nearest := func(p at) *cabinet {
		best, bd := cabs[0], math.Inf(1)
		for _, c := range cabs {
			if dd := math.Hypot(c.p.x-p.x, c.p.y-p.y); dd < bd {
				best, bd = c, dd
			}
		}
		return best
	}
	nClosure, nDrop, nPole := 0, 0, 0
	for si, s := range sites {
		c := nearest(s.p)
		if c.used >= 64 {
			continue
		}
		var cl *closure
		for _, k := range c.closures {
			if math.Hypot(k.p.x-s.p.x, k.p.y-s.p.y) < 260 && k.distUsed < 24 && k.spliced < 24 {
				cl = k
				break
			}
		}
		if cl == nil {
			nClosure++
			cl = &closure{name: fmt.Sprintf("SC-%03d", nClosure), p: at{math.Round(s.p.x/100) * 100, s.p.y + 35}}
			if cl.id, err = f.id(`INSERT INTO fiber_splice_closures (name, closure_type, geom) VALUES ($1, 'pedestal', `+pt(cl.p)+`) RETURNING id`, cl.name); err != nil {
				return err
			}
			for tn := 1; tn <= 2; tn++ {
				t, err := f.id(`INSERT INTO fiber_splice_trays (closure_id, number, capacity) VALUES ($1, $2, 12) RETURNING id`, cl.id, tn)
				if err != nil {
					return err
				}
				cl.trays = append(cl.trays, t)
			}
			route := street(c.p, cl.p)
			aerial := nClosure%3 == 0
			cable := "underground"
			if aerial {
				cable = "aerial"
			}
			if cl.dist, err = f.segment(fmt.Sprintf("DIST %s→%s", c.code, cl.name), "distribution", cable, 24, route); err != nil {
				return err
			}
			if aerial { // poles every ~60 m along aerial runs
				if err := f.exec(`INSERT INTO poles (name, height_m, material, owner, geom)
					SELECT 'P-' || $2 || '-' || g.n, 10.5, 'wood', 'NorthWestern Energy',
						ST_LineInterpolatePoint(s.geom, LEAST(1.0, g.n * 60.0 / GREATEST(s.length_m, 1)))
					FROM fiber_segments s, generate_series(0, 40) g(n) WHERE s.id = $1 AND g.n * 60.0 <= s.length_m + 59`, cl.dist, cl.name); err != nil {
					return err
				}
				var n int
				d.Tx.QueryRow(ctx, `SELECT count(*) FROM poles WHERE name LIKE 'P-' || $1 || '-%'`, cl.name).Scan(&n)
				nPole += n
			}
			c.closures = append(c.closures, cl)
		}
		// building, ONT and drop
		var siteID, custID any
		if s.id != "" {
			siteID = s.id
		}
		if s.customer != "" {
			custID = s.customer
		}
		bld, err := f.id(`INSERT INTO service_buildings (name, address, site_id, geom) VALUES ($1, $2, $3, `+pt(s.p)+`) RETURNING id`, s.name, s.address, siteID)
		if err != nil {
			return err
		}
		ont, err := f.id(`INSERT INTO ont_units (name, serial, model, vendor, firmware, building_id, geom) VALUES ($1, $2, 'GigaSpire u6', 'Calix', '23.4', $3, `+pt(at{s.p.x + 4, s.p.y})+`) RETURNING id`,
			"ONT "+s.name, fmt.Sprintf("CXNK%08X", 0x1A2B00+si), bld)
		if err != nil {
			return err
		}
		drop, err := f.segment("DROP "+s.name, "drop", "direct_buried", 2, []at{cl.p, {s.p.x + 4, s.p.y}})
		if err != nil {
			return err
		}
		nDrop++
		// splitter output → distribution strand → splice at the closure → drop strand 1 → ONT
		spl, port := c.used/32, c.used%32
		c.used++
		cl.distUsed++
		dn := cl.distUsed
		ds, err := f.strand(cl.dist, dn, "splitter_port", c.outputs[spl][port], "splice_closure", cl.id)
		if err != nil {
			return err
		}
		dr, err := f.strand(drop, 1, "splice_closure", cl.id, "ont", ont)
		if err != nil {
			return err
		}
		cl.spliced++
		if err := f.splice(cl.id, cl.trays[(cl.spliced-1)/12], ds, dr, (cl.spliced-1)%12+1); err != nil {
			return err
		}
		if err := f.exec(`INSERT INTO ont_assignments (ont_id, pon_port_id, customer_id, site_id)
			VALUES ($1, (SELECT upstream_id FROM fiber_strands WHERE upstream_type = 'olt_port' AND segment_id IN
				(SELECT segment_id FROM fiber_strands WHERE downstream_id = (SELECT id FROM splitter_ports WHERE splitter_id = $2 AND port_type = 'input')) LIMIT 1), $3, $4)`,
			ont, c.splitters[spl], custID, siteID); err != nil {
			return err
		}
	}
	// Lit paths are in use; the rest of each cable stays available.
	if err := f.exec(`UPDATE fiber_strands SET status = 'in_use' WHERE status = 'reserved'`); err != nil {
		return err
	}
	// A few poles on the feeder route along Main Street, and the mast on Peets Hill.
	if err := f.exec(`INSERT INTO poles (name, height_m, material, owner, geom)
		SELECT 'P-MAIN-' || n, 12, 'wood', 'NorthWestern Energy', ST_SetSRID(ST_MakePoint($1 + n * 0.0011, $2), 4326) FROM generate_series(1, 8) n`,
		bznLon-0.004, bznLat+0.0005); err != nil {
		return err
	}
	if err := f.exec(`INSERT INTO wireless_masts (name, height_m, structure_type, owner, geom) VALUES ('Peets Hill mast', 30, 'monopole', 'DotMac Field', ` + pt(at{1250, -300}) + `)`); err != nil {
		return err
	}
	if d.Out != nil {
		fmt.Fprintf(d.Out, "  fiber: 1 OLT, %d cabinets, %d closures, %d drops with ONTs, %d poles\n", len(cabs), nClosure+len(cabs), nDrop, nPole+8)
	}
	d.Values["fiber_olt"] = olt
	return nil
}
