package fiber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
)

// FeatureError is what is wrong with one feature of an import (index counts from 0).
type FeatureError struct {
	Index   int               `json:"index"`
	Kind    string            `json:"kind,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// ImportError is a rejected import: nothing was imported.
type ImportError struct {
	Message string         `json:"message"`
	Errors  []FeatureError `json:"errors"`
	Total   int            `json:"total_errors"`
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("fiber import: %s (%d feature errors)", e.Message, e.Total)
}

// maxImportErrors caps the errors listed (the total is still counted).
const maxImportErrors = 1000

// ImportResult says what an import did.
type ImportResult struct {
	Imported int            `json:"imported"`
	ByKind   map[string]int `json:"by_kind"`
}

// Progress is told how far an import is: stage is "parsed", "staged" or "inserted".
type Progress func(stage string, n int)

type rawFeature struct {
	Type       string                     `json:"type"`
	Geometry   *rawGeometry               `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// staged is a parsed import: the rows of each kind, in the staging column order.
type staged struct {
	rows   map[string][][]any
	index  map[string][]int // feature index of each row
	given  map[string]bool  // some rows of the kind carry their own id
	errs   []FeatureError
	nerrs  int
	total  int
	seenID map[string]int
}

func (st *staged) fail(i int, kind, msg string, fields map[string]string) {
	st.nerrs++
	if len(st.errs) < maxImportErrors {
		st.errs = append(st.errs, FeatureError{Index: i, Kind: kind, Message: msg, Fields: fields})
	}
}

// stageColumns are the columns of a kind's staging table and insert, in row order.
func stageColumns(k *Kind) []string {
	cols := []string{"idx", "id", "name", "status", "props", "geom"}
	for _, a := range k.Attrs {
		cols = append(cols, a.Name)
	}
	switch k.Name {
	case "splitter":
		cols = append(cols, "input_ports", "output_ports")
	case "splice_closure":
		cols = append(cols, "tray_count")
	}
	return cols
}

func sqlType(a Attr) string {
	switch a.Type {
	case AInt:
		return "int"
	case AFloat:
		return "float8"
	case AUUID:
		return "uuid"
	}
	return "text"
}

// row renders a parsed object as a staging row; absent attributes take the column's default.
func (o *Object) row(idx int) []any {
	name, status := "", "active"
	if o.Name != nil {
		name = *o.Name
	}
	if o.Status != nil {
		status = *o.Status
	}
	r := []any{int32(idx), o.ID, name, status, marshalProps(o.Props), o.Geometry.EWKB()}
	for _, a := range o.Kind.Attrs {
		v, ok := o.Attrs[a.Name]
		if !ok {
			v = attrDefault(o.Kind.Name, a.Name)
		}
		r = append(r, v)
	}
	switch o.Kind.Name {
	case "splitter":
		in, out := 1, 32
		if s, ok := o.Attrs["ratio"].(string); ok {
			in, out = splitterPorts(s)
		}
		r = append(r, in, out)
	case "splice_closure":
		r = append(r, o.TrayCount)
	}
	return r
}

// attrDefault mirrors the columns' SQL defaults (the staging insert names every column).
func attrDefault(kind, attr string) any {
	switch kind + "." + attr {
	case "segment.segment_type":
		return "distribution"
	case "segment.cable_type":
		return "single_mode"
	case "segment.fiber_count":
		return 12
	case "splitter.ratio":
		return "1:32"
	case "splice_closure.closure_type":
		return "dome"
	case "termination_point.endpoint_type":
		return "terminal"
	case "mast.structure_type":
		return "monopole"
	case "pole.material":
		return "wood"
	case "duct.duct_type":
		return "conduit"
	}
	for _, k := range Kinds {
		if k.Name == kind {
			if a := k.attr(attr); a != nil && (a.Type == AText) {
				return ""
			}
		}
	}
	return nil
}

// parseImport reads a FeatureCollection and validates every feature; it keeps going after errors
// so that the answer lists them all.
func parseImport(r io.Reader, progress Progress) (*staged, error) {
	st := &staged{rows: map[string][][]any{}, index: map[string][]int{}, given: map[string]bool{}, seenID: map[string]int{}}
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, importSyntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &ImportError{Message: "the body must be a GeoJSON FeatureCollection object", Errors: []FeatureError{}}
	}
	sawType, sawFeatures := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, importSyntax(err)
		}
		key, _ := tok.(string)
		switch key {
		case "type":
			var t string
			if err := dec.Decode(&t); err != nil || t != "FeatureCollection" {
				return nil, &ImportError{Message: `the body must be a GeoJSON FeatureCollection ("type": "FeatureCollection")`, Errors: []FeatureError{}}
			}
			sawType = true
		case "features":
			sawFeatures = true
			tok, err := dec.Token()
			if err != nil {
				return nil, importSyntax(err)
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return nil, &ImportError{Message: "features must be a list", Errors: []FeatureError{}}
			}
			for i := 0; dec.More(); i++ {
				var f rawFeature
				if err := dec.Decode(&f); err != nil {
					var te *json.UnmarshalTypeError
					if errors.As(err, &te) {
						st.fail(i, "", "the feature is malformed: "+te.Field+" has the wrong type", nil)
						st.total++
						continue
					}
					return nil, importSyntax(err)
				}
				st.add(i, &f)
				st.total++
				if progress != nil && st.total%10000 == 0 {
					progress("parsed", st.total)
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, importSyntax(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, importSyntax(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, importSyntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ImportError{Message: "the body must hold a single FeatureCollection", Errors: []FeatureError{}}
	}
	if !sawType || !sawFeatures {
		return nil, &ImportError{Message: `the body must be a GeoJSON FeatureCollection with "type" and "features"`, Errors: []FeatureError{}}
	}
	return st, nil
}

func importSyntax(err error) error {
	var mbe interface{ Error() string }
	if errors.As(err, &mbe) && strings.Contains(err.Error(), "request body too large") {
		return err
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ImportError{Message: fmt.Sprintf("the body is not valid JSON (at byte %d): %s", se.Offset, se.Error()), Errors: []FeatureError{}}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ImportError{Message: "the body ends too early: a GeoJSON FeatureCollection expected", Errors: []FeatureError{}}
	}
	return err
}

func (st *staged) add(i int, f *rawFeature) {
	if f.Type != "Feature" {
		st.fail(i, "", `not a GeoJSON Feature ("type": "Feature")`, nil)
		return
	}
	var kind string
	if raw, ok := f.Properties["kind"]; !ok || json.Unmarshal(raw, &kind) != nil || kind == "" {
		st.fail(i, "", "properties.kind is required (one of "+strings.Join(KindNames(), ", ")+")", map[string]string{"kind": "is required"})
		return
	}
	k := KindByName(kind)
	if k == nil {
		st.fail(i, kind, fmt.Sprintf("unknown kind %q (one of %s)", kind, strings.Join(KindNames(), ", ")), map[string]string{"kind": "is not a known kind"})
		return
	}
	if f.Geometry == nil {
		st.fail(i, kind, "geometry is required", map[string]string{"geometry": "is required"})
		return
	}
	g, err := parseRawGeometry(f.Geometry)
	if err != nil {
		st.fail(i, kind, err.Error(), map[string]string{"geometry": err.Error()})
		return
	}
	o, errs := ParseObject(k, f.Properties, g, true)
	if errs != nil {
		msgs := make([]string, 0, len(errs))
		for name, m := range errs {
			msgs = append(msgs, name+" "+m)
		}
		sort.Strings(msgs)
		st.fail(i, kind, strings.Join(msgs, "; "), errs)
		return
	}
	if o.GivenID {
		if j, dup := st.seenID[o.ID]; dup {
			st.fail(i, kind, fmt.Sprintf("id %s is used by feature %d too", o.ID, j), map[string]string{"id": "is not unique in the file"})
			return
		}
		st.seenID[o.ID] = i
		st.given[kind] = true
	}
	st.rows[kind] = append(st.rows[kind], o.row(i))
	st.index[kind] = append(st.index[kind], i)
}

// insertOrder puts referenced kinds first (splitters name cabinets, ONTs name buildings).
var insertOrder = []string{"olt", "fdh_cabinet", "building", "splitter", "splice_closure", "segment", "termination_point", "ont", "mast", "pole", "duct"}

// Import reads a GeoJSON FeatureCollection and imports every feature, or none: any invalid feature
// (malformed, empty or invalid geometry, coordinates out of range, unknown kind, wrong geometry type
// for the kind, bad attribute, unknown reference, id in use) makes an *ImportError listing each
// feature's problem and nothing is written. Rows go through pgx CopyFrom into temporary staging
// tables, are checked there (ST_IsValid, references, ids), and move with one INSERT … SELECT per kind.
func (s *Service) Import(ctx context.Context, r io.Reader, actor *hub.Principal, progress Progress) (*ImportResult, error) {
	st, err := parseImport(r, progress)
	if err != nil {
		return nil, err
	}
	if st.nerrs > 0 {
		return nil, &ImportError{Message: fmt.Sprintf("%d of %d features are invalid; nothing was imported", st.nerrs, st.total), Errors: st.errs, Total: st.nerrs}
	}
	if st.total == 0 {
		return &ImportResult{ByKind: map[string]int{}}, nil
	}
	res := &ImportResult{ByKind: map[string]int{}}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := st.stage(ctx, tx, progress); err != nil {
			return err
		}
		if err := st.check(ctx, tx); err != nil {
			return err
		}
		if st.nerrs > 0 {
			sort.Slice(st.errs, func(i, j int) bool { return st.errs[i].Index < st.errs[j].Index })
			return &ImportError{Message: fmt.Sprintf("%d of %d features are invalid; nothing was imported", st.nerrs, st.total), Errors: st.errs, Total: st.nerrs}
		}
		n := 0
		for _, kind := range insertOrder {
			if len(st.rows[kind]) == 0 {
				continue
			}
			c, err := st.insert(ctx, tx, KindByName(kind))
			if err != nil {
				return err
			}
			res.ByKind[kind] = c
			n += c
			if progress != nil {
				progress("inserted", n)
			}
		}
		res.Imported = n
		return audit(ctx, tx, actor, "network:fiber:import", "fiber_import", "", map[string]any{"imported": n, "by_kind": res.ByKind})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func stageTable(k *Kind) string { return "fiber_stage_" + k.Name }

// stage copies each kind's rows into a temporary table dropped at commit.
func (st *staged) stage(ctx context.Context, tx pgx.Tx, progress Progress) error {
	done := 0
	for _, kind := range insertOrder {
		rows := st.rows[kind]
		if len(rows) == 0 {
			continue
		}
		k := KindByName(kind)
		defs := []string{"idx int", "id uuid", "name text", "status text", "props jsonb", "geom geometry"}
		for _, a := range k.Attrs {
			defs = append(defs, a.Name+" "+sqlType(a))
		}
		switch kind {
		case "splitter":
			defs = append(defs, "input_ports int", "output_ports int")
		case "splice_closure":
			defs = append(defs, "tray_count int")
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s (%s) ON COMMIT DROP`, stageTable(k), strings.Join(defs, ", "))); err != nil {
			return err
		}
		src := &progressSource{rows: rows, progress: progress, base: done}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable(k)}, stageColumns(k), src); err != nil {
			return fmt.Errorf("fiber import: stage %s: %w", kind, err)
		}
		done += len(rows)
	}
	return nil
}

// progressSource is a CopyFromSource that reports every 10,000 rows.
type progressSource struct {
	rows     [][]any
	i        int
	base     int
	progress Progress
}

func (p *progressSource) Next() bool {
	p.i++
	if p.progress != nil && p.i > 1 && (p.base+p.i-1)%10000 == 0 {
		p.progress("staged", p.base+p.i-1)
	}
	return p.i <= len(p.rows)
}
func (p *progressSource) Values() ([]any, error) { return p.rows[p.i-1], nil }
func (p *progressSource) Err() error             { return nil }

// check finds what only the database can tell: geometry validity (ST_IsValid), references to rows
// that exist neither in the table nor in the file, and ids already in use.
func (st *staged) check(ctx context.Context, tx pgx.Tx) error {
	collect := func(kind, sql string, msg func(detail string) (string, map[string]string)) error {
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int
			var detail string
			if err := rows.Scan(&idx, &detail); err != nil {
				return err
			}
			m, f := msg(detail)
			st.fail(idx, kind, m, f)
		}
		return rows.Err()
	}
	for _, kind := range insertOrder {
		if len(st.rows[kind]) == 0 {
			continue
		}
		k := KindByName(kind)
		t := stageTable(k)
		if err := collect(kind, fmt.Sprintf(`SELECT idx, ST_IsValidReason(geom) FROM %s WHERE NOT ST_IsValid(geom)`, t), func(d string) (string, map[string]string) {
			return "invalid geometry: " + d, map[string]string{"geometry": "invalid geometry: " + d}
		}); err != nil {
			return err
		}
		if st.given[kind] {
			if err := collect(kind, fmt.Sprintf(`SELECT s.idx, s.id::text FROM %s s WHERE EXISTS (SELECT 1 FROM fiber_map_objects o WHERE o.id = s.id)
				OR EXISTS (SELECT 1 FROM %s x WHERE x.id = s.id)`, t, k.Table), func(d string) (string, map[string]string) {
				return "id " + d + " is in use already", map[string]string{"id": "is in use already"}
			}); err != nil {
				return err
			}
		}
		for _, a := range k.Attrs {
			if a.Ref == "" {
				continue
			}
			alsoStaged := ""
			if a.Ref == "fdh_cabinets" && len(st.rows["fdh_cabinet"]) > 0 {
				alsoStaged = " AND NOT EXISTS (SELECT 1 FROM fiber_stage_fdh_cabinet f WHERE f.id = s." + a.Name + ")"
			}
			if a.Ref == "service_buildings" && len(st.rows["building"]) > 0 {
				alsoStaged = " AND NOT EXISTS (SELECT 1 FROM fiber_stage_building f WHERE f.id = s." + a.Name + ")"
			}
			if err := collect(kind, fmt.Sprintf(`SELECT s.idx, s.%[1]s::text FROM %[2]s s WHERE s.%[1]s IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM %[3]s r WHERE r.id = s.%[1]s)%[4]s`, a.Name, t, a.Ref, alsoStaged), func(d string) (string, map[string]string) {
				return a.Name + " " + d + " does not exist", map[string]string{a.Name: "does not exist"}
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// insert moves a kind's staged rows into its table (and makes closure trays and splitter ports).
func (st *staged) insert(ctx context.Context, tx pgx.Tx, k *Kind) (int, error) {
	cols := []string{"id", "name", "status", "props", "geom"}
	sel := []string{"id", "name", "status::fiber_object_status", "props", "ST_SetSRID(geom, 4326)"}
	for _, a := range k.Attrs {
		cols = append(cols, a.Name)
		sel = append(sel, a.Name)
	}
	if k.Name == "splitter" {
		cols = append(cols, "input_ports", "output_ports")
		sel = append(sel, "input_ports", "output_ports")
	}
	t := stageTable(k)
	tag, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s`, k.Table, strings.Join(cols, ", "), strings.Join(sel, ", "), t))
	if err != nil {
		return 0, fmt.Errorf("fiber import: insert %s: %w", k.Name, translate(err))
	}
	switch k.Name {
	case "splice_closure":
		if _, err := tx.Exec(ctx, `INSERT INTO fiber_splice_trays (closure_id, number) SELECT id, generate_series(1, tray_count) FROM `+t+` WHERE tray_count > 0`); err != nil {
			return 0, err
		}
	case "splitter":
		if _, err := tx.Exec(ctx, `INSERT INTO splitter_ports (splitter_id, port_type, number)
			SELECT id, 'input', generate_series(1, input_ports) FROM `+t+`
			UNION ALL SELECT id, 'output', generate_series(1, output_ports) FROM `+t); err != nil {
			return 0, err
		}
	}
	return int(tag.RowsAffected()), nil
}

// ImportErrorBody is the 422 answer of an import.
func ImportErrorBody(e *ImportError) map[string]any {
	fields := map[string]string{}
	for _, fe := range e.Errors {
		key := fmt.Sprintf("features[%d]", fe.Index)
		if _, ok := fields[key]; !ok {
			fields[key] = fe.Message
		}
	}
	return map[string]any{"error": map[string]any{"code": hub.EINVALID, "message": e.Message, "fields": fields,
		"features": e.Errors, "total_errors": e.Total}}
}
