// Package fiber is the fiber plant of the hub (reference §3.13, §3.15): the PostGIS model of OLTs,
// FDH cabinets, splitters, splice closures (trays, splices), cables (segments) and their strands,
// termination points, ONTs, service buildings, masts, poles and ducts; bbox, nearby and nearest
// queries; the strand trace from an ONT back to its OLT port; GeoJSON import and export; change
// requests from technicians and vendors; the admin network map and a page per object.
//
// Storage is migrations/postgres/0025_fiber_plant.up.sql and 0026_fiber_change_requests.up.sql;
// the database enforces the splice rules (no self-splice, tray of the closure, one splice per pair,
// strands available or reserved) so every path — API, import, change request, seed — obeys them.
package fiber

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Kind describes one type of map object: its table, the geometry types it accepts and its typed
// attributes (GeoJSON properties ↔ columns). Import, change requests and exports all use it.
type Kind struct {
	Name     string   // segment, splice_closure, …
	Label    string   // "Segment"
	Table    string   // fiber_segments
	Geometry []string // GeoJSON geometry types allowed
	Attrs    []Attr
	// Lines are drawn as lines (segments, ducts) and have length_m.
	Lines bool

	colsOnce sync.Once
	cols     []attrCol
}

// AttrType is how an attribute is checked and stored.
type AttrType int

// Attribute types.
const (
	AText AttrType = iota
	AInt
	AFloat
	AUUID
	AEnum
)

// Attr is one typed attribute of a kind.
type Attr struct {
	Name     string // property name = column name
	Type     AttrType
	Enum     []string
	Min, Max float64 // for numbers (Max 0: no bounds)
	Ref      string  // for UUIDs that must name an existing row of this table
	Default  any     // the value when a create leaves it out (nil: SQL default)
	Pattern  *regexp.Regexp
	Help     string
}

// Statuses every map object may have.
var Statuses = []string{"planned", "active", "maintenance", "damaged", "retired"}

// StrandStatuses of fiber strands.
var StrandStatuses = []string{"available", "reserved", "in_use", "damaged"}

var ratioPattern = regexp.MustCompile(`^[1-8]:[0-9]{1,3}$`)

// Kinds is the catalogue, in drawing order (lines under points).
var Kinds = []*Kind{
	{Name: "duct", Label: "Duct", Table: "ducts", Geometry: []string{"LineString"}, Lines: true, Attrs: []Attr{
		{Name: "duct_type", Type: AEnum, Enum: []string{"conduit", "microduct", "innerduct", "trench", "other"}},
		{Name: "diameter_mm", Type: AFloat, Min: 1, Max: 2000},
	}},
	{Name: "segment", Label: "Cable segment", Table: "fiber_segments", Geometry: []string{"LineString"}, Lines: true, Attrs: []Attr{
		{Name: "segment_type", Type: AEnum, Enum: []string{"feeder", "distribution", "drop"}},
		{Name: "cable_type", Type: AEnum, Enum: []string{"single_mode", "multi_mode", "armored", "aerial", "underground", "direct_buried"}},
		{Name: "fiber_count", Type: AInt, Min: 1, Max: 864},
		{Name: "from_point_id", Type: AUUID},
		{Name: "to_point_id", Type: AUUID},
	}},
	{Name: "building", Label: "Service building", Table: "service_buildings", Geometry: []string{"Point", "Polygon", "MultiPolygon"}, Attrs: []Attr{
		{Name: "code", Type: AText}, {Name: "clli", Type: AText}, {Name: "address", Type: AText},
		{Name: "site_id", Type: AUUID, Ref: "sites"},
	}},
	{Name: "pole", Label: "Pole", Table: "poles", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "height_m", Type: AFloat, Min: 0, Max: 100},
		{Name: "material", Type: AEnum, Enum: []string{"wood", "steel", "concrete", "composite", "other"}},
		{Name: "owner", Type: AText},
	}},
	{Name: "mast", Label: "Wireless mast", Table: "wireless_masts", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "height_m", Type: AFloat, Min: 0, Max: 500},
		{Name: "structure_type", Type: AEnum, Enum: []string{"monopole", "lattice", "guyed", "rooftop", "water_tower", "other"}},
		{Name: "owner", Type: AText},
	}},
	{Name: "termination_point", Label: "Termination point", Table: "fiber_termination_points", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "endpoint_type", Type: AEnum, Enum: []string{"fdh", "splitter", "splitter_port", "pon_port", "olt_port", "ont", "terminal", "splice_closure", "other"}},
		{Name: "ref_id", Type: AUUID},
	}},
	{Name: "ont", Label: "ONT", Table: "ont_units", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "serial", Type: AText}, {Name: "model", Type: AText}, {Name: "vendor", Type: AText}, {Name: "firmware", Type: AText},
		{Name: "building_id", Type: AUUID, Ref: "service_buildings"},
	}},
	{Name: "splice_closure", Label: "Splice closure", Table: "fiber_splice_closures", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "closure_type", Type: AEnum, Enum: []string{"dome", "inline", "pedestal", "vault", "aerial", "other"}},
	}},
	{Name: "splitter", Label: "Splitter", Table: "splitters", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "fdh_id", Type: AUUID, Ref: "fdh_cabinets"},
		{Name: "ratio", Type: AText, Pattern: ratioPattern, Help: "must be like 1:32"},
	}},
	{Name: "fdh_cabinet", Label: "FDH cabinet", Table: "fdh_cabinets", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "code", Type: AText}, {Name: "region", Type: AText},
	}},
	{Name: "olt", Label: "OLT / central office", Table: "olt_devices", Geometry: []string{"Point"}, Attrs: []Attr{
		{Name: "hostname", Type: AText}, {Name: "vendor", Type: AText}, {Name: "model", Type: AText},
	}},
}

var kindByName = func() map[string]*Kind {
	m := map[string]*Kind{}
	for _, k := range Kinds {
		m[k.Name] = k
	}
	return m
}()

// KindByName returns the kind or nil.
func KindByName(name string) *Kind { return kindByName[name] }

// KindNames lists the kinds' names.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}

func (k *Kind) attr(name string) *Attr {
	for i := range k.Attrs {
		if k.Attrs[i].Name == name {
			return &k.Attrs[i]
		}
	}
	return nil
}

func (k *Kind) allows(geomType string) bool {
	for _, g := range k.Geometry {
		if g == geomType {
			return true
		}
	}
	return false
}

// attrJSON is the SQL that renders a row's attributes (and its props) as one JSON object; rows
// without props take the cheaper json_build_object path.
// attrCol is one GeoJSON property read as text and written by appendAttrs.
type attrCol struct {
	Name   string
	SQL    string // a text expression
	Native string // the expression for json_build_object
	Number bool   // written unquoted (numbers and booleans)
	Round  bool   // a float written to 0.1
}

// attrCols are the kind's properties in the order features carry them.
func (k *Kind) attrCols() []attrCol {
	k.colsOnce.Do(func() { k.cols = k.buildAttrCols() })
	return k.cols
}

func (k *Kind) buildAttrCols() []attrCol {
	var out []attrCol
	col := func(name string, number bool) attrCol {
		return attrCol{Name: name, SQL: name + "::text", Native: name, Number: number}
	}
	for _, a := range k.Attrs {
		out = append(out, col(a.Name, a.Type == AInt || a.Type == AFloat))
	}
	if k.Name == "splitter" {
		out = append(out, col("input_ports", true), col("output_ports", true))
	}
	if k.Lines {
		out = append(out, attrCol{Name: "length_m", SQL: "length_m::text", Native: "round(length_m::numeric, 1)", Number: true, Round: true})
	}
	if k.Name == "segment" {
		out = append(out, col("geometry_stale", true))
	}
	return out
}

// attrArraySQL selects the kind's properties as a text[] (in attrCols order) and the free-form
// props without those keys (NULL when empty): much cheaper for PostgreSQL than building JSON per
// row, and appendAttrs writes the JSON in Go.
func (k *Kind) attrArraySQL() string {
	cols := k.attrCols()
	vals, names := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		vals[i], names[i] = c.SQL, "'"+c.Name+"'"
	}
	return "ARRAY[" + strings.Join(vals, ", ") + "]::text[], CASE WHEN props = '{}'::jsonb THEN NULL ELSE (props - ARRAY[" +
		strings.Join(names, ", ") + "]::text[])::text END"
}

// appendAttrs writes ,"name":value for each property (vals in attrCols order, nil for NULL), then
// the free-form props' members (props is a JSON object or nil).
func (k *Kind) appendAttrs(b []byte, vals [][]byte, props []byte) []byte {
	for i, c := range k.attrCols() {
		if i >= len(vals) {
			break
		}
		b = append(b, ',', '"')
		b = append(b, c.Name...)
		b = append(b, '"', ':')
		v := vals[i]
		switch {
		case v == nil:
			b = append(b, "null"...)
		case c.Round:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				b = append(b, "null"...)
				break
			}
			b = strconv.AppendFloat(b, math.Round(f*10)/10, 'f', -1, 64)
		case c.Number:
			b = append(b, v...)
		default:
			b = appendJSONString(b, string(v))
		}
	}
	if len(props) > 2 {
		b = append(b, ',')
		b = append(b, props[1:len(props)-1]...)
	}
	return b
}

func (k *Kind) attrJSON() string {
	var b strings.Builder
	for i, c := range k.attrCols() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "'%s', %s", c.Name, c.Native)
	}
	list := b.String()
	return "CASE WHEN props = '{}'::jsonb THEN json_build_object(" + list + ")::text ELSE (props || jsonb_build_object(" + list + "))::text END"
}

// TIA598 are the twelve fibre and tube colours of TIA-598, in order.
var TIA598 = []string{"blue", "orange", "green", "brown", "slate", "white", "red", "black", "yellow", "violet", "rose", "aqua"}

// StrandColor returns the fibre colour of strand n (1-based) — the colour within its tube.
func StrandColor(n int) string {
	if n < 1 {
		return ""
	}
	return TIA598[(n-1)%12]
}

// TubeColor returns the colour of the tube that holds strand n; tubes 13–24 repeat the colours with
// a black stripe (black with a yellow one), as the SQL tia598_tube_color does.
func TubeColor(n int) string {
	if n < 1 {
		return ""
	}
	t := (n - 1) / 12
	c := TIA598[t%12]
	if t >= 12 {
		if t%12 == 7 {
			return c + "/yellow"
		}
		return c + "/black"
	}
	return c
}

// Tube returns the tube number (1-based) of strand n.
func Tube(n int) int { return (n-1)/12 + 1 }

// ColorHex is a CSS colour for a TIA-598 colour name (pages draw the splice diagram with it).
func ColorHex(name string) string {
	base, _, _ := strings.Cut(name, "/")
	switch base {
	case "blue":
		return "#1f5fd1"
	case "orange":
		return "#f28c28"
	case "green":
		return "#2e9e44"
	case "brown":
		return "#8b5a2b"
	case "slate":
		return "#708090"
	case "white":
		return "#f4f4f4"
	case "red":
		return "#d62828"
	case "black":
		return "#1b1b1b"
	case "yellow":
		return "#f2d022"
	case "violet":
		return "#8e44ad"
	case "rose":
		return "#f4a6c0"
	case "aqua":
		return "#2ec4c4"
	}
	return "#999999"
}

// Strand is a fibre of a cable.
type Strand struct {
	ID             string  `json:"id,omitempty"`
	SegmentID      string  `json:"segment_id"`
	Cable          string  `json:"cable"`
	Number         int     `json:"number"`
	Tube           int     `json:"tube"`
	Color          string  `json:"color"`
	TubeColor      string  `json:"tube_color"`
	Status         string  `json:"status"`
	UpstreamType   *string `json:"upstream_type"`
	UpstreamID     *string `json:"upstream_id"`
	DownstreamType *string `json:"downstream_type"`
	DownstreamID   *string `json:"downstream_id"`
}

// SpliceStrand is one side of a splice as the field API shows it.
type SpliceStrand struct {
	ID        string `json:"id"`
	SegmentID string `json:"segment_id"`
	Cable     string `json:"cable"`
	Number    int    `json:"number"`
	Color     string `json:"color"`
	TubeColor string `json:"tube_color"`
	Status    string `json:"status"`
}

// Splice joins two strands on a tray.
type Splice struct {
	ID         string       `json:"id"`
	Position   *int         `json:"position"`
	SpliceType string       `json:"splice_type"`
	LossDB     *float64     `json:"loss_db"`
	InStrand   SpliceStrand `json:"in_strand"`
	OutStrand  SpliceStrand `json:"out_strand"`
}

// Tray of a closure.
type Tray struct {
	ID       string   `json:"id"`
	Number   int      `json:"number"`
	Capacity int      `json:"capacity"`
	Splices  []Splice `json:"splices"`
}

// Closure is a splice closure with its trays and splices (GET /api/v1/field/splice-closures/{id}).
type Closure struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	ClosureType string   `json:"closure_type"`
	Version     int64    `json:"version"`
	Lat         float64  `json:"lat"`
	Lon         float64  `json:"lon"`
	Trays       []Tray   `json:"trays"`
	Cables      []string `json:"cables"`
}

// Hop is one step of a strand trace.
type Hop struct {
	Hop    int            `json:"hop"`
	Kind   string         `json:"kind"` // ont | strand | splice | splitter | olt_port | break
	ID     string         `json:"id"`
	Label  string         `json:"label"`
	Detail map[string]any `json:"detail"`
}

// Trace is the light path of an ONT.
type Trace struct {
	ONTID    string `json:"ont_id"`
	Complete bool   `json:"complete"` // reached an OLT port
	Hops     []Hop  `json:"hops"`
}

// Cabinet is an FDH cabinet with its splitters.
type Cabinet struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Code      string     `json:"code"`
	Status    string     `json:"status"`
	Version   int64      `json:"version"`
	Lat       float64    `json:"lat"`
	Lon       float64    `json:"lon"`
	Splitters []Splitter `json:"splitters"`
}

// Splitter in a cabinet.
type Splitter struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Ratio       string         `json:"ratio"`
	Status      string         `json:"status"`
	InputPorts  int            `json:"input_ports"`
	OutputPorts int            `json:"output_ports"`
	Ports       []SplitterPort `json:"ports"`
}

// SplitterPort with the strand connected to it, if any.
type SplitterPort struct {
	ID       string  `json:"id"`
	PortType string  `json:"port_type"`
	Number   int     `json:"number"`
	Strand   *string `json:"strand"` // "cable #n (colour)"
}

// NearestCabinet is an answer of the nearest-cabinet query.
type NearestCabinet struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Code      string  `json:"code"`
	Status    string  `json:"status"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	DistanceM float64 `json:"distance_m"`
}
