package fiber

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Service is the fiber plant on PostgreSQL + PostGIS.
type Service struct {
	DB     *postgres.DB
	Logger *slog.Logger
}

// NewService returns a Service.
func NewService(db *postgres.DB, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{DB: db, Logger: logger.WithGroup("fiber")}
}

// BBox is minLon, minLat, maxLon, maxLat.
type BBox [4]float64

// ParseBBox reads "minLon,minLat,maxLon,maxLat".
func ParseBBox(s string) (BBox, error) {
	var b BBox
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, hub.Invalid(map[string]string{"bbox": "must be minLon,minLat,maxLon,maxLat"})
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return b, hub.Invalid(map[string]string{"bbox": "must be four numbers: minLon,minLat,maxLon,maxLat"})
		}
		b[i] = v
	}
	if b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90 {
		return b, hub.Invalid(map[string]string{"bbox": "is out of range (longitude -180..180, latitude -90..90)"})
	}
	if b[0] >= b[2] || b[1] >= b[3] {
		return b, hub.Invalid(map[string]string{"bbox": "min must be less than max"})
	}
	return b, nil
}

// ParseKinds reads a comma-separated kind filter; empty means every kind.
func ParseKinds(s string) ([]*Kind, error) {
	if strings.TrimSpace(s) == "" {
		return Kinds, nil
	}
	var out []*Kind
	for _, name := range strings.Split(s, ",") {
		k := KindByName(strings.TrimSpace(name))
		if k == nil {
			return nil, hub.Invalid(map[string]string{"kind": fmt.Sprintf("unknown kind %q (one of %s)", name, strings.Join(KindNames(), ", "))})
		}
		out = append(out, k)
	}
	return out, nil
}

// FeatureQuery selects map objects for GeoJSON.
type FeatureQuery struct {
	BBox  *BBox
	Kinds []*Kind
	// Near restricts to within NearM metres of (NearLon, NearLat) and adds distance_m.
	Near             bool
	NearLon, NearLat float64
	NearM            float64
	SinceVersion     int64
	Limit            int
	// Minimal leaves out the attributes (id, kind, name, status, version only).
	Minimal bool
}

// featureSQL builds one UNION ALL over the kinds' tables; every branch uses its table's GiST index.
func featureSQL(q FeatureQuery) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	var where []string
	if q.BBox != nil {
		where = append(where, fmt.Sprintf("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", arg(q.BBox[0]), arg(q.BBox[1]), arg(q.BBox[2]), arg(q.BBox[3])))
	}
	dist := "NULL::float8"
	if q.Near {
		pt := fmt.Sprintf("ST_SetSRID(ST_MakePoint(%s, %s), 4326)", arg(q.NearLon), arg(q.NearLat))
		m := arg(q.NearM)
		dlat := q.NearM / 110500 * 1.01
		dlon := q.NearM / (111320 * math.Max(math.Cos((math.Abs(q.NearLat)+dlat)*math.Pi/180), 0.01)) * 1.01
		where = append(where, fmt.Sprintf("geom && ST_Expand(%s, %s::float8, %s::float8)", pt, arg(dlon), arg(dlat)),
			fmt.Sprintf("ST_DWithin(geom::geography, %s::geography, %s)", pt, m))
		dist = fmt.Sprintf("ST_Distance(geom::geography, %s::geography)", pt)
	}
	if q.SinceVersion > 0 {
		where = append(where, "version > "+arg(q.SinceVersion))
	}
	cond := "deleted_at IS NULL"
	if len(where) > 0 {
		cond += " AND " + strings.Join(where, " AND ")
	}
	var parts []string
	for _, k := range q.Kinds {
		attrs := "NULL::text[], NULL::text"
		if !q.Minimal {
			attrs = k.attrArraySQL()
		}
		parts = append(parts, fmt.Sprintf("SELECT '%s'::text, id::text, name, status::text, version, ST_AsGeoJSON(geom, 7), %s, %s FROM %s WHERE %s",
			k.Name, attrs, dist, k.Table, cond))
	}
	sql := strings.Join(parts, " UNION ALL ")
	if q.Near {
		sql = "SELECT * FROM (" + sql + ") f ORDER BY 9"
	}
	if q.Limit > 0 {
		sql += " LIMIT " + arg(q.Limit)
	}
	return sql, args
}

// FeatureCollection answers q as GeoJSON bytes (a FeatureCollection). truncated says the limit cut it.
func (s *Service) FeatureCollection(ctx context.Context, q FeatureQuery) (body []byte, n int, truncated bool, err error) {
	limit := q.Limit
	if limit > 0 {
		q.Limit = limit + 1
	}
	sql, args := featureSQL(q)
	rows, err := s.DB.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	b := make([]byte, 0, 64*1024)
	b = append(b, `{"type":"FeatureCollection","features":[`...)
	// The rows are read raw (pgx RawValues) and written straight into the JSON: a bbox of a
	// dense area is thousands of features, and decoding each column into Go values first cost
	// more than the query.
	fds := rows.FieldDescriptions()
	tm := rows.Conn().TypeMap()
	var vals [][]byte
	for rows.Next() {
		if limit > 0 && n == limit {
			truncated = true
			break
		}
		raw := rows.RawValues()
		if len(raw) != 9 {
			return nil, 0, false, fmt.Errorf("fiber: features: %d columns", len(raw))
		}
		k := KindByName(string(raw[0]))
		if k == nil {
			return nil, 0, false, fmt.Errorf("fiber: features: unknown kind %q", raw[0])
		}
		version, err := rawInt8(fds[4], raw[4])
		if err != nil {
			return nil, 0, false, err
		}
		var dist *float64
		if raw[8] != nil {
			d, err := rawFloat8(fds[8], raw[8])
			if err != nil {
				return nil, 0, false, err
			}
			dist = &d
		}
		vals = vals[:0]
		if raw[6] != nil {
			if vals, err = rawTextArray(tm, fds[6], raw[6], vals); err != nil {
				return nil, 0, false, err
			}
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendFeature(b, k, raw[1], raw[2], raw[3], version, raw[5], vals, raw[6] != nil, raw[7], dist)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	b = append(b, ']')
	if truncated {
		b = append(b, `,"truncated":true`...)
	}
	b = append(b, '}')
	return b, n, truncated, nil
}

func appendFeature(b []byte, k *Kind, id, name, status []byte, version int64, geom []byte, vals [][]byte, withAttrs bool, props []byte, dist *float64) []byte {
	b = append(b, `{"type":"Feature","id":"`...)
	b = append(b, id...)
	b = append(b, `","geometry":`...)
	b = append(b, geom...)
	b = append(b, `,"properties":{"id":"`...)
	b = append(b, id...)
	b = append(b, `","kind":"`...)
	b = append(b, k.Name...)
	b = append(b, `","name":`...)
	b = appendJSONString(b, string(name))
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","version":`...)
	b = strconv.AppendInt(b, version, 10)
	if dist != nil {
		b = append(b, `,"distance_m":`...)
		b = strconv.AppendFloat(b, math.Round(*dist*10)/10, 'f', -1, 64)
	}
	if withAttrs {
		b = k.appendAttrs(b, vals, props)
	}
	return append(b, "}}"...)
}

// rawInt8 decodes an int8 column as pgx received it (binary, or text).
func rawInt8(fd pgconn.FieldDescription, v []byte) (int64, error) {
	if fd.Format == pgx.BinaryFormatCode {
		if len(v) != 8 {
			return 0, fmt.Errorf("fiber: int8 of %d bytes", len(v))
		}
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// rawFloat8 decodes a float8 column (binary, or text).
func rawFloat8(fd pgconn.FieldDescription, v []byte) (float64, error) {
	if fd.Format == pgx.BinaryFormatCode {
		if len(v) != 8 {
			return 0, fmt.Errorf("fiber: float8 of %d bytes", len(v))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(v)), nil
	}
	return strconv.ParseFloat(string(v), 64)
}

// rawTextArray appends the elements of a one-dimensional text[] to out (nil for NULL), reading
// PostgreSQL's binary array format in place; another format goes through pgx's codec.
func rawTextArray(tm *pgtype.Map, fd pgconn.FieldDescription, v []byte, out [][]byte) ([][]byte, error) {
	if fd.Format != pgx.BinaryFormatCode {
		var ss []*string
		if err := tm.Scan(fd.DataTypeOID, fd.Format, v, &ss); err != nil {
			return out, err
		}
		for _, s := range ss {
			if s == nil {
				out = append(out, nil)
			} else {
				out = append(out, []byte(*s))
			}
		}
		return out, nil
	}
	bad := fmt.Errorf("fiber: malformed text[] (%d bytes)", len(v))
	if len(v) < 12 {
		return out, bad
	}
	ndim := int32(binary.BigEndian.Uint32(v))
	p := 12
	if ndim == 0 {
		return out, nil
	}
	if ndim != 1 || len(v) < p+8 {
		return out, bad
	}
	count := int(int32(binary.BigEndian.Uint32(v[p:])))
	p += 8
	for i := 0; i < count; i++ {
		if len(v) < p+4 {
			return out, bad
		}
		l := int(int32(binary.BigEndian.Uint32(v[p:])))
		p += 4
		if l < 0 {
			out = append(out, nil)
			continue
		}
		if len(v) < p+l {
			return out, bad
		}
		out = append(out, v[p:p+l:p+l])
		p += l
	}
	return out, nil
}

// ErrNotFound is the not-found error of the plant.
func notFound(what string) error { return hub.Errorf(hub.ENOTFOUND, "%s not found", what) }

// FindFeature returns one object as a GeoJSON feature.
func (s *Service) FindFeature(ctx context.Context, k *Kind, id string) (json.RawMessage, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound(k.Label)
	}
	return findFeature(ctx, s.DB.Pool, k, id)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func findFeature(ctx context.Context, q querier, k *Kind, id string) (json.RawMessage, error) {
	var name, status string
	var version int64
	var geom []byte
	var vals []*string
	var props *string
	err := q.QueryRow(ctx, fmt.Sprintf(`SELECT name, status::text, version, ST_AsGeoJSON(geom, 7), %s FROM %s WHERE id = $1 AND deleted_at IS NULL`,
		k.attrArraySQL(), k.Table), id).Scan(&name, &status, &version, &geom, &vals, &props)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(k.Label)
	}
	if err != nil {
		return nil, err
	}
	bs := make([][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			bs[i] = []byte(*v)
		}
	}
	var pb []byte
	if props != nil {
		pb = []byte(*props)
	}
	return appendFeature(nil, k, []byte(id), []byte(name), []byte(status), version, geom, bs, true, pb, nil), nil
}

// FindKindOf returns the kind of the live object with this id, searching every table.
func (s *Service) FindKindOf(ctx context.Context, id string) (*Kind, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("object")
	}
	var kind string
	err := s.DB.Pool.QueryRow(ctx, `SELECT kind FROM fiber_map_objects WHERE id = $1`, id).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("object")
	}
	if err != nil {
		return nil, err
	}
	return KindByName(kind), nil
}

// NearestCabinets finds the n closest FDH cabinets: a KNN scan on the GiST index picks candidates,
// then they are ranked by geodesic distance.
func (s *Service) NearestCabinets(ctx context.Context, lon, lat float64, n int) ([]NearestCabinet, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id::text, name, code, status::text, ST_Y(geom), ST_X(geom), dist FROM (
		SELECT c.*, ST_Distance(c.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) AS dist
		FROM (SELECT * FROM fdh_cabinets WHERE deleted_at IS NULL ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT $3 + 8) c
	) x ORDER BY dist LIMIT $3`, lon, lat, n)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NearestCabinet, error) {
		var c NearestCabinet
		err := r.Scan(&c.ID, &c.Name, &c.Code, &c.Status, &c.Lat, &c.Lon, &c.DistanceM)
		c.DistanceM = math.Round(c.DistanceM*10) / 10
		return c, err
	})
	if out == nil {
		out = []NearestCabinet{}
	}
	return out, err
}

// TraceONT follows the ONT's light back to its OLT port (SQL fiber_trace).
func (s *Service) TraceONT(ctx context.Context, ontID string) (*Trace, error) {
	if !postgres.ValidUUID(ontID) {
		return nil, notFound("ONT")
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT hop, kind, COALESCE(ref_id::text, ''), COALESCE(label, ''), detail FROM fiber_trace($1)`, ontID)
	if err != nil {
		return nil, err
	}
	hops, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hop, error) {
		var h Hop
		err := r.Scan(&h.Hop, &h.Kind, &h.ID, &h.Label, &h.Detail)
		return h, err
	})
	if err != nil {
		return nil, err
	}
	if len(hops) == 0 {
		return nil, notFound("ONT")
	}
	t := &Trace{ONTID: ontID, Hops: hops}
	t.Complete = hops[len(hops)-1].Kind == "olt_port"
	return t, nil
}

// FindONTForCustomer returns the ONT of a customer's active assignment.
func (s *Service) FindONTForCustomer(ctx context.Context, customerID string) (string, error) {
	if !postgres.ValidUUID(customerID) {
		return "", notFound("customer")
	}
	var id string
	err := s.DB.Pool.QueryRow(ctx, `SELECT ont_id::text FROM ont_assignments WHERE customer_id = $1 AND active ORDER BY assigned_at DESC LIMIT 1`, customerID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("active ONT assignment of the customer")
	}
	return id, err
}

// FindClosure returns a closure with its trays and splices (strand colours included).
func (s *Service) FindClosure(ctx context.Context, id string) (*Closure, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("splice closure")
	}
	c := &Closure{ID: id, Trays: []Tray{}, Cables: []string{}}
	err := s.DB.Pool.QueryRow(ctx, `SELECT name, status::text, closure_type, version, ST_Y(geom), ST_X(geom)
		FROM fiber_splice_closures WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&c.Name, &c.Status, &c.ClosureType, &c.Version, &c.Lat, &c.Lon)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("splice closure")
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id::text, number, capacity FROM fiber_splice_trays WHERE closure_id = $1 ORDER BY number`, id)
	if err != nil {
		return nil, err
	}
	trays, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tray, error) {
		t := Tray{Splices: []Splice{}}
		return t, r.Scan(&t.ID, &t.Number, &t.Capacity)
	})
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, t := range trays {
		idx[t.ID] = i
	}
	rows, err = s.DB.Pool.Query(ctx, `SELECT sp.id::text, sp.tray_id::text, sp.position, sp.splice_type, sp.loss_db::float8,
			a.id::text, a.segment_id::text, ga.name, a.number, a.color, a.tube_color, a.status,
			b.id::text, b.segment_id::text, gb.name, b.number, b.color, b.tube_color, b.status
		FROM fiber_splices sp
		JOIN fiber_strands a ON a.id = sp.from_strand_id JOIN fiber_segments ga ON ga.id = a.segment_id
		JOIN fiber_strands b ON b.id = sp.to_strand_id JOIN fiber_segments gb ON gb.id = b.segment_id
		WHERE sp.closure_id = $1 ORDER BY sp.position NULLS LAST, sp.created_at`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cables := map[string]bool{}
	for rows.Next() {
		var sp Splice
		var tray string
		if err := rows.Scan(&sp.ID, &tray, &sp.Position, &sp.SpliceType, &sp.LossDB,
			&sp.InStrand.ID, &sp.InStrand.SegmentID, &sp.InStrand.Cable, &sp.InStrand.Number, &sp.InStrand.Color, &sp.InStrand.TubeColor, &sp.InStrand.Status,
			&sp.OutStrand.ID, &sp.OutStrand.SegmentID, &sp.OutStrand.Cable, &sp.OutStrand.Number, &sp.OutStrand.Color, &sp.OutStrand.TubeColor, &sp.OutStrand.Status); err != nil {
			return nil, err
		}
		if i, ok := idx[tray]; ok {
			trays[i].Splices = append(trays[i].Splices, sp)
		}
		for _, cb := range []string{sp.InStrand.Cable, sp.OutStrand.Cable} {
			if !cables[cb] {
				cables[cb] = true
				c.Cables = append(c.Cables, cb)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if trays != nil {
		c.Trays = trays
	}
	return c, nil
}

// FindStrands lists every strand of a segment, 1..fiber_count: rows that exist, and the rest as
// available and unterminated.
func (s *Service) FindStrands(ctx context.Context, segmentID string) ([]Strand, error) {
	if !postgres.ValidUUID(segmentID) {
		return nil, notFound("segment")
	}
	var name string
	var count int
	err := s.DB.Pool.QueryRow(ctx, `SELECT name, fiber_count FROM fiber_segments WHERE id = $1 AND deleted_at IS NULL`, segmentID).Scan(&name, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("segment")
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id::text, number, status, upstream_type, upstream_id::text, downstream_type, downstream_id::text
		FROM fiber_strands WHERE segment_id = $1`, segmentID)
	if err != nil {
		return nil, err
	}
	have := map[int]Strand{}
	for rows.Next() {
		var st Strand
		if err := rows.Scan(&st.ID, &st.Number, &st.Status, &st.UpstreamType, &st.UpstreamID, &st.DownstreamType, &st.DownstreamID); err != nil {
			rows.Close()
			return nil, err
		}
		have[st.Number] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Strand, count)
	for n := 1; n <= count; n++ {
		st, ok := have[n]
		if !ok {
			st = Strand{Number: n, Status: "available"}
		}
		st.SegmentID, st.Cable, st.Tube, st.Color, st.TubeColor = segmentID, name, Tube(n), StrandColor(n), TubeColor(n)
		out[n-1] = st
	}
	return out, nil
}

// FindCabinet returns a cabinet with its splitters and their ports.
func (s *Service) FindCabinet(ctx context.Context, id string) (*Cabinet, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("FDH cabinet")
	}
	c := &Cabinet{ID: id, Splitters: []Splitter{}}
	err := s.DB.Pool.QueryRow(ctx, `SELECT name, code, status::text, version, ST_Y(geom), ST_X(geom) FROM fdh_cabinets WHERE id = $1 AND deleted_at IS NULL`, id).
		Scan(&c.Name, &c.Code, &c.Status, &c.Version, &c.Lat, &c.Lon)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("FDH cabinet")
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT sp.id::text, sp.name, sp.ratio, sp.status::text, sp.input_ports, sp.output_ports,
			p.id::text, p.port_type, p.number,
			(SELECT g.name || ' #' || st.number || ' (' || st.color || ')' FROM fiber_strands st JOIN fiber_segments g ON g.id = st.segment_id
				WHERE st.upstream_id = p.id OR st.downstream_id = p.id LIMIT 1)
		FROM splitters sp LEFT JOIN splitter_ports p ON p.splitter_id = sp.id
		WHERE sp.fdh_id = $1 AND sp.deleted_at IS NULL ORDER BY sp.name, sp.id, p.port_type, p.number`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sp Splitter
		var pid, ptype *string
		var pnum *int
		var strand *string
		if err := rows.Scan(&sp.ID, &sp.Name, &sp.Ratio, &sp.Status, &sp.InputPorts, &sp.OutputPorts, &pid, &ptype, &pnum, &strand); err != nil {
			return nil, err
		}
		if len(c.Splitters) == 0 || c.Splitters[len(c.Splitters)-1].ID != sp.ID {
			sp.Ports = []SplitterPort{}
			c.Splitters = append(c.Splitters, sp)
		}
		if pid != nil {
			last := &c.Splitters[len(c.Splitters)-1]
			last.Ports = append(last.Ports, SplitterPort{ID: *pid, PortType: *ptype, Number: *pnum, Strand: strand})
		}
	}
	return c, rows.Err()
}

// ListItem is a row of a tabular list (and of its CSV).
type ListItem struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Version   int64          `json:"version"`
	UpdatedAt time.Time      `json:"updated_at"`
	Lon       float64        `json:"lon"`
	Lat       float64        `json:"lat"`
	Attrs     map[string]any `json:"attrs"`
}

// ListFilter filters a tabular list of one kind.
type ListFilter struct {
	Kind          *Kind
	Query, Status string
	BBox          *BBox
	Limit, Offset int
}

// FindObjects lists objects of one kind (name search, status, bbox), newest change first.
func (s *Service) FindObjects(ctx context.Context, f ListFilter) ([]ListItem, int, error) {
	args := []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"deleted_at IS NULL"}
	if f.Query != "" {
		where = append(where, "name ILIKE "+arg("%"+strings.ReplaceAll(f.Query, "%", `\%`)+"%"))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.BBox != nil {
		where = append(where, fmt.Sprintf("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", arg(f.BBox[0]), arg(f.BBox[1]), arg(f.BBox[2]), arg(f.BBox[3])))
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.DB.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s`, f.Kind.Table, w), args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	lim, off := arg(f.Limit), arg(f.Offset)
	rows, err := s.DB.Pool.Query(ctx, fmt.Sprintf(`SELECT id::text, name, status::text, version, updated_at, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), %s
		FROM %s WHERE %s ORDER BY name, id LIMIT %s OFFSET %s`, f.Kind.attrJSON(), f.Kind.Table, w, lim, off), args...)
	if err != nil {
		return nil, 0, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ListItem, error) {
		it := ListItem{Kind: f.Kind.Name}
		var attrs string
		if err := r.Scan(&it.ID, &it.Name, &it.Status, &it.Version, &it.UpdatedAt, &it.Lon, &it.Lat, &attrs); err != nil {
			return it, err
		}
		return it, json.Unmarshal([]byte(attrs), &it.Attrs)
	})
	return items, total, err
}

// Counts returns how many live objects of each kind there are.
func (s *Service) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT kind, count(*) FROM fiber_map_objects GROUP BY kind`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out[k] = n
	}
	rows.Close()
	return out, rows.Err()
}

// TileURL is the map tile URL template set in settings (gis.tile_url); empty draws no base map.
func (s *Service) TileURL(ctx context.Context) string {
	var v string
	err := s.DB.Pool.QueryRow(ctx, `SELECT value #>> '{}' FROM domain_settings WHERE domain = 'gis' AND key = 'tile_url'`).Scan(&v)
	if err != nil {
		return ""
	}
	return v
}

// translate maps the plant's constraint and trigger errors onto domain errors with messages a
// person understands; other errors go through postgres.Translate.
func translate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return postgres.Translate(err)
	}
	switch pe.ConstraintName {
	case "fiber_splices_self_check":
		return hub.Invalid(map[string]string{"to": "a strand cannot be spliced to itself"})
	case "fiber_splices_tray_closure_fkey":
		return hub.Invalid(map[string]string{"tray_id": "the tray does not belong to this closure"})
	case "fiber_splices_pair_key":
		return hub.Errorf(hub.ECONFLICT, "these two strands are already spliced together")
	case "fiber_splices_strand_used":
		return hub.Errorf(hub.ECONFLICT, "%s", pe.Message)
	case "fiber_splices_strand_status":
		return &hub.Error{Code: hub.EUNPROCESSABLE, Message: pe.Message, Fields: map[string]string{"strand": pe.Message}}
	case "fiber_strands_number_check":
		return hub.Invalid(map[string]string{"number": pe.Message})
	case "fiber_splices_position_key":
		return hub.Errorf(hub.ECONFLICT, "that tray position is taken")
	case "fiber_splice_trays_closure_id_number_key":
		return hub.Errorf(hub.ECONFLICT, "the closure already has a tray with that number")
	case "fdh_cabinets_code_key":
		return hub.Errorf(hub.ECONFLICT, "another cabinet has that code")
	case "ont_units_serial_key":
		return hub.Errorf(hub.ECONFLICT, "another ONT has that serial number")
	case "ont_assignments_active_key":
		return hub.Errorf(hub.ECONFLICT, "the ONT already has an active assignment")
	}
	return postgres.Translate(err)
}
