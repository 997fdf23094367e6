package sqlite

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// rowBox returns the bounding box of the GeoJSON geometry of a row's data, as the page path finds
// it (the geometry member decoded like rowRefs, then bbox), in one pass over the bytes without
// decoding the row: the plant is most of a snapshot file. data must be valid JSON (the replica's
// CHECK). FuzzRowBox holds it to the page path.
func rowBox(data []byte) ([4]float64, bool) {
	s := jscan{b: data}
	s.ws()
	if !s.is('{') {
		return [4]float64{}, false
	}
	var last box
	s.members(func(key []byte, escaped bool) {
		// encoding/json matches a struct field's name without regard to case; the last one wins.
		if !keyIs(key, escaped, "geometry", true) {
			s.skip()
			return
		}
		g := jscan{b: s.b, i: s.i, check: true} // bbox decodes the whole geometry
		last = newBox()
		g.walk(&last)
		last.bad = g.bad
		s.i = g.i
	})
	if last.bad || !last.found {
		return [4]float64{}, false
	}
	return last.b, true
}

// box accumulates positions.
type box struct {
	b     [4]float64
	found bool
	bad   bool // a number out of float64 range: bbox gets no geometry at all
}

func newBox() box { return box{b: [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}} }

func (x *box) add(lon, lat float64) {
	x.b[0], x.b[1] = min(x.b[0], lon), min(x.b[1], lat)
	x.b[2], x.b[3] = max(x.b[2], lon), max(x.b[3], lat)
	x.found = true
}

func (x *box) merge(y box) {
	if y.found {
		x.add(y.b[0], y.b[1])
		x.add(y.b[2], y.b[3])
	}
}

// keyIs compares an object key (raw, between its quotes) with name.
func keyIs(key []byte, escaped bool, name string, fold bool) bool {
	if escaped {
		var k string
		if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k) != nil {
			return false
		}
		key = []byte(k)
	}
	if fold {
		return bytes.EqualFold(key, []byte(name))
	}
	return string(key) == name
}

// jscan reads valid JSON in place.
type jscan struct {
	b     []byte
	i     int
	check bool // parse every number (bbox fails on one out of range)
	bad   bool
}

func (s *jscan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jscan) is(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *jscan) isNum() bool {
	return s.i < len(s.b) && (s.b[s.i] == '-' || s.b[s.i] >= '0' && s.b[s.i] <= '9')
}

// members calls fn for each member of the object at s.i with its key (raw); fn consumes the value.
func (s *jscan) members(fn func(key []byte, escaped bool)) {
	s.i++ // {
	for {
		s.ws()
		if !s.is('"') {
			s.i++ // }
			return
		}
		start := s.i + 1
		escaped := s.str()
		key := s.b[start : s.i-1]
		s.ws()
		s.i++ // :
		s.ws()
		fn(key, escaped)
		s.ws()
		if s.is(',') {
			s.i++
		}
	}
}

// str reads past a string and reports whether it holds escapes.
func (s *jscan) str() (escaped bool) {
	s.i++
	for s.i < len(s.b) && s.b[s.i] != '"' {
		if s.b[s.i] == '\\' {
			escaped = true
			s.i++
		}
		s.i++
	}
	s.i++
	return escaped
}

// num reads a number; out of float64 range marks the scan bad.
func (s *jscan) num() float64 {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			break
		}
		s.i++
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		s.bad = true
	}
	return f
}

// skip reads past the value at s.i.
func (s *jscan) skip() {
	switch {
	case s.is('{'):
		s.members(func([]byte, bool) { s.skip() })
	case s.is('['):
		s.elements(func(int) { s.skip() })
	case s.is('"'):
		s.str()
	case s.isNum():
		if s.check {
			s.num()
			return
		}
		for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' && s.b[s.i] != ']' && s.b[s.i] != ' ' && s.b[s.i] != '\n' && s.b[s.i] != '\t' && s.b[s.i] != '\r' {
			s.i++
		}
	default: // true, false, null
		for s.i < len(s.b) && s.b[s.i] >= 'a' && s.b[s.i] <= 'z' {
			s.i++
		}
	}
}

// elements calls fn for each element of the array at s.i with its index; fn consumes it.
func (s *jscan) elements(fn func(k int)) {
	s.i++ // [
	for k := 0; ; k++ {
		s.ws()
		if s.i >= len(s.b) || s.is(']') {
			s.i++
			return
		}
		fn(k)
		s.ws()
		if s.is(',') {
			s.i++
		}
	}
}

// walk reads the value at s.i as bbox walks a decoded geometry: in an object, its coordinates and
// geometries members (the last of each name, as a map keeps them); an array whose first two
// elements are numbers is a position; any other array is walked element by element.
func (s *jscan) walk(x *box) {
	switch {
	case s.is('{'):
		var coords, geoms box
		s.members(func(key []byte, escaped bool) {
			switch {
			case keyIs(key, escaped, "coordinates", false):
				coords = newBox()
				s.walk(&coords)
			case keyIs(key, escaped, "geometries", false):
				geoms = newBox()
				s.walk(&geoms)
			default:
				s.skip()
			}
		})
		x.merge(coords)
		x.merge(geoms)
	case s.is('['):
		var pos [2]float64
		nums := 0 // leading numbers
		s.elements(func(k int) {
			switch {
			case k < 2 && k == nums && s.isNum():
				pos[k] = s.num()
				nums++
			case nums == 2: // the rest of a position (altitude…)
				s.skip()
			default: // not a position: its elements may hold some
				s.walk(x)
			}
		})
		if nums == 2 {
			x.add(pos[0], pos[1])
		}
	default:
		s.skip()
	}
}
