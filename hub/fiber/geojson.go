package fiber

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Geometry is a parsed, range-checked GeoJSON geometry (lon, lat; any z is dropped).
type Geometry struct {
	Type  string
	Point [2]float64
	Line  [][2]float64
	Poly  [][][2]float64   // Polygon rings
	Multi [][][][2]float64 // MultiPolygon
}

type rawGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// ParseGeometry checks a GeoJSON geometry: its type, that it is not empty, that every position is
// [lon, lat] within range, that lines have two distinct points and polygon rings are closed.
// Validity beyond that (self-intersecting rings) is PostGIS's ST_IsValid, run on import.
func ParseGeometry(raw json.RawMessage) (*Geometry, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("geometry is required")
	}
	var rg rawGeometry
	if err := json.Unmarshal(raw, &rg); err != nil {
		return nil, fmt.Errorf("geometry is not a GeoJSON geometry object")
	}
	return parseRawGeometry(&rg)
}

func parseRawGeometry(rg *rawGeometry) (*Geometry, error) {
	c := bytes.TrimSpace(rg.Coordinates)
	if rg.Type == "" {
		return nil, fmt.Errorf("geometry has no type")
	}
	if len(c) == 0 || bytes.Equal(c, []byte("null")) || bytes.Equal(c, []byte("[]")) {
		if rg.Type == "GeometryCollection" {
			return nil, fmt.Errorf("geometry type GeometryCollection is not supported")
		}
		return nil, fmt.Errorf("geometry is empty")
	}
	g := &Geometry{Type: rg.Type}
	bad := fmt.Errorf("geometry coordinates are malformed for a %s", rg.Type)
	switch rg.Type {
	case "Point":
		var p []float64
		if json.Unmarshal(c, &p) != nil {
			return nil, bad
		}
		pt, err := position(p)
		if err != nil {
			return nil, err
		}
		g.Point = pt
	case "LineString":
		var ps [][]float64
		if json.Unmarshal(c, &ps) != nil {
			return nil, bad
		}
		line, err := positions(ps)
		if err != nil {
			return nil, err
		}
		if len(line) < 2 {
			return nil, fmt.Errorf("a LineString needs at least two positions")
		}
		distinct := false
		for _, p := range line[1:] {
			if p != line[0] {
				distinct = true
				break
			}
		}
		if !distinct {
			return nil, fmt.Errorf("a LineString needs two distinct positions")
		}
		g.Line = line
	case "Polygon":
		var rings [][][]float64
		if json.Unmarshal(c, &rings) != nil {
			return nil, bad
		}
		poly, err := polygon(rings)
		if err != nil {
			return nil, err
		}
		g.Poly = poly
	case "MultiPolygon":
		var polys [][][][]float64
		if json.Unmarshal(c, &polys) != nil {
			return nil, bad
		}
		if len(polys) == 0 {
			return nil, fmt.Errorf("geometry is empty")
		}
		for _, rings := range polys {
			poly, err := polygon(rings)
			if err != nil {
				return nil, err
			}
			g.Multi = append(g.Multi, poly)
		}
	default:
		return nil, fmt.Errorf("geometry type %q is not supported (Point, LineString, Polygon, MultiPolygon)", rg.Type)
	}
	return g, nil
}

func position(p []float64) ([2]float64, error) {
	if len(p) < 2 || len(p) > 3 {
		return [2]float64{}, fmt.Errorf("a position must be [longitude, latitude]")
	}
	lon, lat := p[0], p[1]
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return [2]float64{}, fmt.Errorf("coordinates out of range: [%g, %g] (longitude -180..180, latitude -90..90)", lon, lat)
	}
	return [2]float64{lon, lat}, nil
}

func positions(ps [][]float64) ([][2]float64, error) {
	out := make([][2]float64, len(ps))
	for i, p := range ps {
		pt, err := position(p)
		if err != nil {
			return nil, err
		}
		out[i] = pt
	}
	return out, nil
}

func polygon(rings [][][]float64) ([][][2]float64, error) {
	if len(rings) == 0 {
		return nil, fmt.Errorf("geometry is empty")
	}
	out := make([][][2]float64, len(rings))
	for i, r := range rings {
		ring, err := positions(r)
		if err != nil {
			return nil, err
		}
		if len(ring) < 4 {
			return nil, fmt.Errorf("a polygon ring needs at least four positions")
		}
		if ring[0] != ring[len(ring)-1] {
			return nil, fmt.Errorf("a polygon ring must be closed (first position = last)")
		}
		out[i] = ring
	}
	return out, nil
}

// EWKB encodes g as little-endian extended WKB with SRID 4326 (what PostGIS's binary input takes).
func (g *Geometry) EWKB() []byte {
	b := make([]byte, 0, 32+16*len(g.Line))
	header := func(b []byte, typ uint32, srid bool) []byte {
		b = append(b, 1)
		if srid {
			b = binary.LittleEndian.AppendUint32(b, typ|0x20000000)
			return binary.LittleEndian.AppendUint32(b, 4326)
		}
		return binary.LittleEndian.AppendUint32(b, typ)
	}
	pt := func(b []byte, p [2]float64) []byte {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[0]))
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(p[1]))
	}
	rings := func(b []byte, rs [][][2]float64) []byte {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(rs)))
		for _, r := range rs {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
			for _, p := range r {
				b = pt(b, p)
			}
		}
		return b
	}
	switch g.Type {
	case "Point":
		b = header(b, 1, true)
		b = pt(b, g.Point)
	case "LineString":
		b = header(b, 2, true)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Line)))
		for _, p := range g.Line {
			b = pt(b, p)
		}
	case "Polygon":
		b = header(b, 3, true)
		b = rings(b, g.Poly)
	case "MultiPolygon":
		b = header(b, 6, true)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Multi)))
		for _, poly := range g.Multi {
			b = header(b, 3, false)
			b = rings(b, poly)
		}
	}
	return b
}

// GeoJSON renders g.
func (g *Geometry) GeoJSON() json.RawMessage {
	var coords any
	switch g.Type {
	case "Point":
		coords = g.Point
	case "LineString":
		coords = g.Line
	case "Polygon":
		coords = g.Poly
	case "MultiPolygon":
		coords = g.Multi
	}
	b, _ := json.Marshal(map[string]any{"type": g.Type, "coordinates": coords})
	return b
}

// Object is a validated create or change of one map object: what a GeoJSON feature, a change
// request or an admin form says.
type Object struct {
	Kind     *Kind
	ID       string // given or made
	GivenID  bool
	Name     *string
	Status   *string
	Geometry *Geometry
	Attrs    map[string]any // typed values by attribute name (nil value = SQL NULL)
	Props    map[string]json.RawMessage
	// TrayCount (closures) makes trays 1..n on create.
	TrayCount int
}

// reserved properties that are not attributes and never land in props.
var reservedProps = map[string]bool{"id": true, "kind": true, "name": true, "status": true, "version": true,
	"length_m": true, "input_ports": true, "output_ports": true, "tray_count": true, "updated_at": true,
	"geometry_stale": true}

// ParseObject validates a feature's properties (and geometry when given) for kind. create demands a
// geometry and fills defaults; an update takes only what is present.
func ParseObject(k *Kind, props map[string]json.RawMessage, geom *Geometry, create bool) (*Object, map[string]string) {
	errs := map[string]string{}
	o := &Object{Kind: k, Attrs: map[string]any{}, Geometry: geom}
	if geom != nil && !k.allows(geom.Type) {
		errs["geometry"] = fmt.Sprintf("a %s must be a %s, not a %s", k.Name, joinOr(k.Geometry), geom.Type)
	}
	if create && geom == nil {
		errs["geometry"] = "geometry is required"
	}
	if raw, ok := props["id"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil || uuid.Validate(s) != nil {
			errs["id"] = "must be a UUID"
		} else {
			o.ID, o.GivenID = s, true
		}
	}
	if raw, ok := props["name"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			errs["name"] = "must be a string"
		} else if len(s) > 200 || !utf8.ValidString(s) {
			errs["name"] = "must be at most 200 characters"
		} else {
			o.Name = &s
		}
	}
	if raw, ok := props["status"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil || !contains(Statuses, s) {
			errs["status"] = "must be one of " + joinOr(Statuses)
		} else {
			o.Status = &s
		}
	}
	for i := range k.Attrs {
		a := &k.Attrs[i]
		raw, ok := props[a.Name]
		if !ok {
			continue
		}
		v, err := a.parse(raw)
		if err != "" {
			errs[a.Name] = err
			continue
		}
		o.Attrs[a.Name] = v
	}
	if raw, ok := props["tray_count"]; ok && k.Name == "splice_closure" {
		var n float64
		if json.Unmarshal(raw, &n) != nil || n != math.Trunc(n) || n < 0 || n > 48 {
			errs["tray_count"] = "must be a whole number from 0 to 48"
		} else {
			o.TrayCount = int(n)
		}
	}
	for name, raw := range props {
		if reservedProps[name] || k.attr(name) != nil {
			continue
		}
		if o.Props == nil {
			o.Props = map[string]json.RawMessage{}
		}
		o.Props[name] = raw
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if o.ID == "" && create {
		o.ID = uuid.Must(uuid.NewV7()).String()
	}
	return o, nil
}

func (a *Attr) parse(raw json.RawMessage) (any, string) {
	if isNull(raw) {
		if a.Type == AUUID || a.Type == AFloat {
			return nil, ""
		}
		return nil, "must not be null"
	}
	switch a.Type {
	case AText, AEnum, AUUID:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, "must be a string"
		}
		switch {
		case a.Type == AEnum && !contains(a.Enum, s):
			return nil, "must be one of " + joinOr(a.Enum)
		case a.Type == AUUID && uuid.Validate(s) != nil:
			return nil, "must be a UUID"
		case a.Pattern != nil && !a.Pattern.MatchString(s):
			return nil, a.Help
		case len(s) > 500:
			return nil, "must be at most 500 characters"
		}
		return s, ""
	case AInt, AFloat:
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			// numbers sent as strings ("12") are common in GIS exports
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, "must be a number"
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, "must be a number"
			}
			f = v
		}
		if a.Max != 0 && (f < a.Min || f > a.Max) {
			return nil, fmt.Sprintf("must be from %g to %g", a.Min, a.Max)
		}
		if a.Type == AInt {
			if f != math.Trunc(f) {
				return nil, "must be a whole number"
			}
			return int(f), ""
		}
		return f, ""
	}
	return nil, "is not supported"
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func joinOr(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	var b bytes.Buffer
	for i, s := range list {
		if i > 0 {
			if i == len(list)-1 {
				b.WriteString(" or ")
			} else {
				b.WriteString(", ")
			}
		}
		b.WriteString(s)
	}
	return b.String()
}

// splitterPorts returns the input and output port counts of a ratio like "1:32".
func splitterPorts(ratio string) (in, out int) {
	var a, b int
	if _, err := fmt.Sscanf(ratio, "%d:%d", &a, &b); err != nil {
		return 1, 32
	}
	return a, b
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, fmt.Sprintf(`\u%04x`, r)...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
