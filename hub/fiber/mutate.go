package fiber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// unprocessable is a 422 with field messages.
func unprocessable(msg string, fields map[string]string) error {
	return &hub.Error{Code: hub.EUNPROCESSABLE, Message: msg, Fields: fields}
}

// checkGeometry runs PostGIS's ST_IsValid on polygons (points and lines are fully checked in Go).
func checkGeometry(ctx context.Context, q querier, g *Geometry) error {
	if g == nil || (g.Type != "Polygon" && g.Type != "MultiPolygon") {
		return nil
	}
	var reason string
	if err := q.QueryRow(ctx, `SELECT CASE WHEN ST_IsValid(g) THEN '' ELSE ST_IsValidReason(g) END FROM ST_GeomFromEWKB($1) g`, g.EWKB()).Scan(&reason); err != nil {
		return err
	}
	if reason != "" {
		return unprocessable("the geometry is not valid", map[string]string{"geometry": "invalid geometry: " + reason})
	}
	return nil
}

func marshalProps(p map[string]json.RawMessage) []byte {
	if len(p) == 0 {
		return []byte("{}")
	}
	b, _ := json.Marshal(p)
	return b
}

// createObject inserts a validated object and its trays or ports; it returns the new version.
func createObject(ctx context.Context, tx pgx.Tx, o *Object) (int64, error) {
	if err := checkGeometry(ctx, tx, o.Geometry); err != nil {
		return 0, err
	}
	cols := []string{"id", "geom", "props"}
	args := []any{o.ID, o.Geometry.EWKB(), marshalProps(o.Props)}
	vals := []string{"$1", "ST_GeomFromEWKB($2)", "$3"}
	add := func(col string, v any) {
		args = append(args, v)
		cols = append(cols, col)
		vals = append(vals, "$"+strconv.Itoa(len(args)))
	}
	if o.Name != nil {
		add("name", *o.Name)
	}
	if o.Status != nil {
		add("status", *o.Status)
	}
	for _, a := range o.Kind.Attrs {
		if v, ok := o.Attrs[a.Name]; ok {
			add(a.Name, v)
		}
	}
	if o.Kind.Name == "splitter" {
		if r, ok := o.Attrs["ratio"].(string); ok {
			in, out := splitterPorts(r)
			add("input_ports", in)
			add("output_ports", out)
		}
	}
	var version int64
	err := tx.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) RETURNING version`, o.Kind.Table,
		strings.Join(cols, ", "), strings.Join(vals, ", ")), args...).Scan(&version)
	if err != nil {
		return 0, translate(err)
	}
	switch o.Kind.Name {
	case "splice_closure":
		if o.TrayCount > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO fiber_splice_trays (closure_id, number) SELECT $1, generate_series(1, $2)`, o.ID, o.TrayCount); err != nil {
				return 0, translate(err)
			}
		}
	case "splitter":
		if err := ensureSplitterPorts(ctx, tx, o.ID); err != nil {
			return 0, err
		}
	}
	return version, nil
}

func ensureSplitterPorts(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `INSERT INTO splitter_ports (splitter_id, port_type, number)
		SELECT s.id, 'input', generate_series(1, s.input_ports) FROM splitters s WHERE s.id = $1
		UNION ALL SELECT s.id, 'output', generate_series(1, s.output_ports) FROM splitters s WHERE s.id = $1
		ON CONFLICT DO NOTHING`, id)
	return err
}

// updateObject changes what o carries; expected > 0 demands that version (409 otherwise). Moving
// a point object marks the cables connected to it geometry_stale (markSegmentsStale); redrawing a
// segment's route clears its own flag.
func updateObject(ctx context.Context, tx pgx.Tx, o *Object, id string, expected int64) (int64, error) {
	if err := checkGeometry(ctx, tx, o.Geometry); err != nil {
		return 0, err
	}
	var oldGeom []byte
	if o.Geometry != nil && !o.Kind.Lines {
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT ST_AsEWKB(geom) FROM %s WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, o.Kind.Table), id).Scan(&oldGeom)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, missingOrChanged(ctx, tx, o.Kind, id, expected)
		}
		if err != nil {
			return 0, err
		}
	}
	args := []any{id}
	var sets []string
	set := func(expr string, v any) {
		args = append(args, v)
		sets = append(sets, strings.ReplaceAll(expr, "?", "$"+strconv.Itoa(len(args))))
	}
	if o.Geometry != nil {
		set("geom = ST_GeomFromEWKB(?)", o.Geometry.EWKB())
		if o.Kind.Name == "segment" {
			sets = append(sets, "geometry_stale = false")
		}
	}
	if o.Name != nil {
		set("name = ?", *o.Name)
	}
	if o.Status != nil {
		set("status = ?", *o.Status)
	}
	if len(o.Props) > 0 {
		set("props = props || ?::jsonb", marshalProps(o.Props))
	}
	for _, a := range o.Kind.Attrs {
		if v, ok := o.Attrs[a.Name]; ok {
			set(a.Name+" = ?", v)
		}
	}
	if r, ok := o.Attrs["ratio"].(string); ok && o.Kind.Name == "splitter" {
		in, out := splitterPorts(r)
		set("input_ports = ?", in)
		set("output_ports = ?", out)
	}
	if len(sets) == 0 {
		sets = append(sets, "updated_at = now()")
	}
	where := "id = $1 AND deleted_at IS NULL"
	if expected > 0 {
		args = append(args, expected)
		where += " AND version = $" + strconv.Itoa(len(args))
	}
	var version int64
	err := tx.QueryRow(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE %s RETURNING version`, o.Kind.Table, strings.Join(sets, ", "), where), args...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, missingOrChanged(ctx, tx, o.Kind, id, expected)
	}
	if err != nil {
		return 0, translate(err)
	}
	if o.Kind.Name == "splitter" {
		if err := ensureSplitterPorts(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	if oldGeom != nil {
		if _, err := markSegmentsStale(ctx, tx, id, oldGeom); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// staleToleranceM is how close a cable's end must be to where a moved object stood to count as
// ending at it when the cable does not name the object (imported plant often does not).
const staleToleranceM = 1.0

// markSegmentsStale flags the live cables connected to object id, which stood at oldGeom and has
// just been updated, as geometry_stale: their route was drawn to the old position. Connected means
// naming it as from_point_id/to_point_id, a strand ending at it (or at a port of its splitters, or
// of its OLT), a strand spliced in it, or a cable end within staleToleranceM of the old position.
// Nothing is marked when the geometry did not change. It returns how many cables it marked.
func markSegmentsStale(ctx context.Context, tx pgx.Tx, id string, oldGeom []byte) (int, error) {
	tag, err := tx.Exec(ctx, `
		WITH old AS (
			SELECT ST_GeomFromEWKB($2) AS g
		), moved AS (
			SELECT 1 FROM fiber_map_objects m, old WHERE m.id = $1 AND NOT ST_Equals(m.geom, old.g)
		), ends AS (
			SELECT $1::uuid AS id
			UNION ALL SELECT p.id FROM splitter_ports p WHERE p.splitter_id = $1
			UNION ALL SELECT p.id FROM splitter_ports p JOIN splitters s ON s.id = p.splitter_id WHERE s.fdh_id = $1
			UNION ALL SELECT p.id FROM pon_ports p WHERE p.olt_id = $1
		), connected AS (
			SELECT id FROM fiber_segments WHERE from_point_id = $1
			UNION SELECT id FROM fiber_segments WHERE to_point_id = $1
			UNION SELECT st.segment_id FROM fiber_strands st WHERE st.upstream_id IN (SELECT id FROM ends)
			UNION SELECT st.segment_id FROM fiber_strands st WHERE st.downstream_id IN (SELECT id FROM ends)
			UNION SELECT st.segment_id FROM fiber_splices sp JOIN fiber_strands st ON st.id IN (sp.from_strand_id, sp.to_strand_id)
				WHERE sp.closure_id = $1
			UNION SELECT s.id FROM fiber_segments s, old WHERE s.deleted_at IS NULL AND s.geom && ST_Expand(old.g, 0.0001)
				AND (ST_DWithin(ST_StartPoint(s.geom)::geography, old.g::geography, $3)
					OR ST_DWithin(ST_EndPoint(s.geom)::geography, old.g::geography, $3))
		)
		UPDATE fiber_segments SET geometry_stale = true
		WHERE id IN (SELECT id FROM connected) AND deleted_at IS NULL AND NOT geometry_stale AND EXISTS (SELECT 1 FROM moved)`,
		id, oldGeom, staleToleranceM)
	if err != nil {
		return 0, fmt.Errorf("fiber: mark stale segments: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func missingOrChanged(ctx context.Context, q querier, k *Kind, id string, expected int64) error {
	var v int64
	err := q.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s WHERE id = $1 AND deleted_at IS NULL`, k.Table), id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(k.Label)
	}
	if err != nil {
		return err
	}
	return hub.Errorf(hub.ECONFLICT, "the %s changed since version %d (it is at version %d now)", strings.ToLower(k.Label), expected, v)
}

// deleteObject soft-deletes an object (a tombstone row follows from the trigger).
func deleteObject(ctx context.Context, tx pgx.Tx, k *Kind, id string, expected int64) (int64, error) {
	args := []any{id}
	where := "id = $1 AND deleted_at IS NULL"
	if expected > 0 {
		args = append(args, expected)
		where += " AND version = $2"
	}
	var version int64
	err := tx.QueryRow(ctx, fmt.Sprintf(`UPDATE %s SET deleted_at = now() WHERE %s RETURNING version`, k.Table, where), args...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, missingOrChanged(ctx, tx, k, id, expected)
	}
	return version, translate(err)
}

// StrandRef names a strand by id, or by cable and number.
type StrandRef struct {
	StrandID  string `json:"strand_id,omitempty"`
	SegmentID string `json:"segment_id,omitempty"`
	Number    int    `json:"number,omitempty"`
}

// SpliceInput creates a splice.
type SpliceInput struct {
	ClosureID  string    `json:"closure_id"`
	TrayID     string    `json:"tray_id,omitempty"`
	Tray       int       `json:"tray,omitempty"` // tray number, instead of tray_id
	From       StrandRef `json:"from"`
	To         StrandRef `json:"to"`
	Position   *int      `json:"position,omitempty"`
	SpliceType string    `json:"splice_type,omitempty"`
	LossDB     *float64  `json:"loss_db,omitempty"`
}

func (in *SpliceInput) validate() error {
	f := hub.Fields{}
	if !postgres.ValidUUID(in.ClosureID) {
		f.Add("closure_id", "must be the UUID of a splice closure")
	}
	if in.TrayID == "" && in.Tray < 1 {
		f.Add("tray_id", "name the tray: tray_id, or tray (its number)")
	} else if in.TrayID != "" && !postgres.ValidUUID(in.TrayID) {
		f.Add("tray_id", "must be a UUID")
	}
	for name, r := range map[string]StrandRef{"from": in.From, "to": in.To} {
		switch {
		case r.StrandID != "":
			if !postgres.ValidUUID(r.StrandID) {
				f.Add(name, "strand_id must be a UUID")
			}
		case !postgres.ValidUUID(r.SegmentID) || r.Number < 1:
			f.Add(name, "name the strand: strand_id, or segment_id and number")
		}
	}
	if in.SpliceType != "" && in.SpliceType != "fusion" && in.SpliceType != "mechanical" {
		f.Add("splice_type", "must be fusion or mechanical")
	}
	if in.LossDB != nil && (*in.LossDB < 0 || *in.LossDB > 10) {
		f.Add("loss_db", "must be from 0 to 10")
	}
	if in.Position != nil && *in.Position < 1 {
		f.Add("position", "must be 1 or more")
	}
	if in.From.StrandID == "" && in.From == in.To && in.From.SegmentID != "" {
		f.Add("to", "a strand cannot be spliced to itself")
	}
	if in.From.StrandID != "" && in.From.StrandID == in.To.StrandID {
		f.Add("to", "a strand cannot be spliced to itself")
	}
	return f.Err()
}

func (in *SpliceInput) dedupeKey() string {
	ref := func(r StrandRef) string {
		if r.StrandID != "" {
			return r.StrandID
		}
		return r.SegmentID + "#" + strconv.Itoa(r.Number)
	}
	a, b := ref(in.From), ref(in.To)
	if a > b {
		a, b = b, a
	}
	return "splice:" + in.ClosureID + ":" + a + ":" + b
}

func strandID(ctx context.Context, tx pgx.Tx, r StrandRef, field string) (string, error) {
	if r.StrandID != "" {
		var id string
		err := tx.QueryRow(ctx, `SELECT id::text FROM fiber_strands WHERE id = $1`, r.StrandID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", unprocessable("the strand does not exist", map[string]string{field: "no such strand"})
		}
		return id, err
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT true FROM fiber_segments WHERE id = $1 AND deleted_at IS NULL`, r.SegmentID).Scan(&ok); errors.Is(err, pgx.ErrNoRows) {
		return "", unprocessable("the cable does not exist", map[string]string{field: "no such segment"})
	} else if err != nil {
		return "", err
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT fiber_strand($1, $2)::text`, r.SegmentID, r.Number).Scan(&id)
	if err != nil {
		e := translate(err)
		if he, ok := e.(*hub.Error); ok && he.Fields["number"] != "" {
			return "", unprocessable(he.Fields["number"], map[string]string{field: he.Fields["number"]})
		}
		return "", e
	}
	return id, nil
}

// createSplice joins two strands in a closure; the database checks the rules.
func createSplice(ctx context.Context, tx pgx.Tx, in SpliceInput) (string, int64, error) {
	if err := in.validate(); err != nil {
		return "", 0, err
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT true FROM fiber_splice_closures WHERE id = $1 AND deleted_at IS NULL`, in.ClosureID).Scan(&ok); errors.Is(err, pgx.ErrNoRows) {
		return "", 0, notFound("splice closure")
	} else if err != nil {
		return "", 0, err
	}
	tray := in.TrayID
	if tray == "" {
		err := tx.QueryRow(ctx, `SELECT id::text FROM fiber_splice_trays WHERE closure_id = $1 AND number = $2`, in.ClosureID, in.Tray).Scan(&tray)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", 0, unprocessable("the closure has no such tray", map[string]string{"tray": fmt.Sprintf("closure has no tray %d", in.Tray)})
		} else if err != nil {
			return "", 0, err
		}
	}
	from, err := strandID(ctx, tx, in.From, "from")
	if err != nil {
		return "", 0, err
	}
	to, err := strandID(ctx, tx, in.To, "to")
	if err != nil {
		return "", 0, err
	}
	typ := in.SpliceType
	if typ == "" {
		typ = "fusion"
	}
	var id string
	var version int64
	err = tx.QueryRow(ctx, `INSERT INTO fiber_splices (closure_id, tray_id, from_strand_id, to_strand_id, position, splice_type, loss_db)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text, version`, in.ClosureID, tray, from, to, in.Position, typ, in.LossDB).Scan(&id, &version)
	if err != nil {
		return "", 0, translate(err)
	}
	return id, version, nil
}

func deleteSplice(ctx context.Context, tx pgx.Tx, id string) (int64, error) {
	var closure string
	err := tx.QueryRow(ctx, `DELETE FROM fiber_splices WHERE id = $1 RETURNING closure_id::text`, id).Scan(&closure)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("splice")
	}
	if err != nil {
		return 0, err
	}
	var v int64
	err = tx.QueryRow(ctx, `SELECT version FROM fiber_splice_closures WHERE id = $1`, closure).Scan(&v)
	return v, err
}

// CreateSplice adds a splice directly (staff with network:fiber:write).
func (s *Service) CreateSplice(ctx context.Context, in SpliceInput, actor *hub.Principal) (string, error) {
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, _, err = createSplice(ctx, tx, in)
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, "network:fiber:splice_create", "fiber_splice", id, map[string]any{"closure_id": in.ClosureID})
	})
	return id, err
}

// DeleteSplice removes a splice.
func (s *Service) DeleteSplice(ctx context.Context, id string, actor *hub.Principal) error {
	if !postgres.ValidUUID(id) {
		return notFound("splice")
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := deleteSplice(ctx, tx, id); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "network:fiber:splice_delete", "fiber_splice", id, nil)
	})
}

// StrandUpdate sets a strand's status and ends.
type StrandUpdate struct {
	Status         *string `json:"status"`
	UpstreamType   *string `json:"upstream_type"`
	UpstreamID     *string `json:"upstream_id"`
	DownstreamType *string `json:"downstream_type"`
	DownstreamID   *string `json:"downstream_id"`
}

var endpointTypes = []string{"olt_port", "splitter_port", "splice_closure", "fdh", "termination_point", "ont", "other"}

// UpdateStrand changes strand n of a segment (making its row when needed).
func (s *Service) UpdateStrand(ctx context.Context, segmentID string, n int, u StrandUpdate, actor *hub.Principal) error {
	f := hub.Fields{}
	if u.Status != nil && !contains(StrandStatuses, *u.Status) {
		f.Add("status", "must be one of "+joinOr(StrandStatuses))
	}
	for _, e := range []struct {
		name string
		typ  *string
		id   *string
	}{{"upstream", u.UpstreamType, u.UpstreamID}, {"downstream", u.DownstreamType, u.DownstreamID}} {
		if (e.typ == nil) != (e.id == nil) {
			f.Add(e.name+"_type", "give both "+e.name+"_type and "+e.name+"_id")
		} else if e.typ != nil && *e.typ != "" && (!contains(endpointTypes, *e.typ) || !postgres.ValidUUID(*e.id)) {
			f.Add(e.name+"_type", "must be one of "+joinOr(endpointTypes)+" with a UUID id")
		}
	}
	if !postgres.ValidUUID(segmentID) {
		return notFound("segment")
	}
	if err := f.Err(); err != nil {
		return err
	}
	nullable := func(p *string) any {
		if p == nil || *p == "" {
			return nil
		}
		return *p
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		id, err := strandID(ctx, tx, StrandRef{SegmentID: segmentID, Number: n}, "number")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE fiber_strands SET
			status = COALESCE($2, status),
			upstream_type = CASE WHEN $3::bool THEN $4 ELSE upstream_type END, upstream_id = CASE WHEN $3::bool THEN $5::uuid ELSE upstream_id END,
			downstream_type = CASE WHEN $6::bool THEN $7 ELSE downstream_type END, downstream_id = CASE WHEN $6::bool THEN $8::uuid ELSE downstream_id END,
			updated_at = now() WHERE id = $1`,
			id, u.Status, u.UpstreamType != nil, nullable(u.UpstreamType), nullable(u.UpstreamID),
			u.DownstreamType != nil, nullable(u.DownstreamType), nullable(u.DownstreamID))
		if err != nil {
			return translate(err)
		}
		return audit(ctx, tx, actor, "network:fiber:strand_update", "fiber_strand", id, nil)
	})
}

// AssignONT makes the ONT's active assignment (replacing an earlier one).
type ONTAssignment struct {
	CustomerID  string `json:"customer_id"`
	SiteID      string `json:"site_id"`
	PONPortID   string `json:"pon_port_id"`
	WorkOrderID string `json:"work_order_id"`
}

// AssignONT records which customer an ONT serves.
func (s *Service) AssignONT(ctx context.Context, ontID string, a ONTAssignment, actor *hub.Principal) (string, error) {
	f := hub.Fields{}
	opt := func(name, v string) any {
		if v == "" {
			return nil
		}
		if !postgres.ValidUUID(v) {
			f.Add(name, "must be a UUID")
		}
		return v
	}
	cust, site, port, wo := opt("customer_id", a.CustomerID), opt("site_id", a.SiteID), opt("pon_port_id", a.PONPortID), opt("work_order_id", a.WorkOrderID)
	if !postgres.ValidUUID(ontID) {
		return "", notFound("ONT")
	}
	if err := f.Err(); err != nil {
		return "", err
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT true FROM ont_units WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, ontID).Scan(&ok); errors.Is(err, pgx.ErrNoRows) {
			return notFound("ONT")
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ont_assignments SET active = false, released_at = now() WHERE ont_id = $1 AND active`, ontID); err != nil {
			return err
		}
		var person any
		if actor != nil {
			person = actor.PersonID
		}
		if err := tx.QueryRow(ctx, `INSERT INTO ont_assignments (ont_id, customer_id, site_id, pon_port_id, work_order_id, person_id)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`, ontID, cust, site, port, wo, person).Scan(&id); err != nil {
			return translate(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE ont_units SET updated_at = now() WHERE id = $1`, ontID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "network:ont:assign", "ont", ontID, map[string]any{"assignment_id": id})
	})
	return id, err
}

// audit writes an audit_log row in the transaction.
func audit(ctx context.Context, tx pgx.Tx, actor *hub.Principal, action, targetType, targetID string, details map[string]any) error {
	var actorID any
	email := ""
	if actor != nil {
		actorID, email = actor.PersonID, actor.Email
	}
	d, _ := json.Marshal(details)
	if details == nil {
		d = []byte("{}")
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, details) VALUES ($1, $2, $3, $4, $5, $6)`,
		actorID, email, action, targetType, targetID, d)
	return err
}
