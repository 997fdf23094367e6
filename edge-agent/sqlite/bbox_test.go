package sqlite

import (
	"encoding/json"
	"testing"
)

// pageBox is the bounding box the page path gives a row (applyChange, upsertFeatures).
func pageBox(data []byte) ([4]float64, bool) {
	var refs rowRefs
	_ = json.Unmarshal(data, &refs)
	return bbox(refs.Geometry)
}

var boxSeeds = []string{
	`{"id":"a","geometry":{"type":"Point","coordinates":[-111.1,45.6]}}`,
	`{"geometry":{"type":"LineString","coordinates":[[-111,45.6,1400],[-110.9,45.7,1410]]},"kind":"segment"}`,
	`{"geometry":{"type":"Polygon","bbox":[-200,-100,200,100],"coordinates":[[[-111,45],[-110,45],[-110,46],[-111,45]]]}}`,
	`{"geometry":{"type":"MultiPolygon","coordinates":[[[[1,2],[3,4],[1,2]]],[[[-5,-6],[0,0],[-5,-6]]]]}}`,
	`{"geometry":{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[7,8]},{"type":"LineString","coordinates":[[9.5,-1],[10,-2]]}]}}`,
	`{"geometry":null}`, `{"geometry":"x"}`, `{"geometry":[1,2]}`, `{"geometry":[[1,"a"],[2,3]]}`, `[1,2]`, `{}`, `"x"`,
	`{"geometry":{"coordinates":[1,2]},"geometry":{"coordinates":[5,6]}}`,
	`{"Geometry":{"coordinates":[1,2]}}`, `{"geo\u006detry":{"coordinates":[3,4]}}`,
	`{"geometry":{"coordinates":[1,2],"coordinates":[7,8]}}`, `{"geometry":{"coord\u0069nates":[1,2]}}`,
	`{"geometry":{"coordinates":[1e400,2]}}`, `{"geometry":{"coordinates":[1,2],"properties":{"x":1e999}}}`,
	`{"a":1e999,"geometry":{"coordinates":[1,2]}}`, `{"geometry":{"coordinates":[[1,[2,3]],[-0.5e1,4E-2]]}}`,
	`{"geometry":{"coordinates":{"a":[1,2]}}}`, `{"geometry":{"coordinates":[{"coordinates":[1,2]}]}}`,
	`{"geometry":{"geometries":{"coordinates":[1,2]}}}`, `{"geometry":{"type":"LineString","coordinates":[]}}`,
	` { "geometry" : { "coordinates" : [ 1 , 2 ] } } `, `{"geometry":{"coordinates":[true,2]}}`,
}

func TestRowBox_AsPages(t *testing.T) {
	for _, s := range boxSeeds {
		want, wok := pageBox([]byte(s))
		got, gok := rowBox([]byte(s))
		if wok != gok || wok && want != got { // without a box, no value matters
			t.Errorf("%s: rowBox %v %v, page path %v %v", s, got, gok, want, wok)
		}
	}
}

func FuzzRowBox(f *testing.F) {
	for _, s := range boxSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // never in the replica (CHECK json_valid)
		}
		want, wok := pageBox(data)
		got, gok := rowBox(data)
		if wok != gok || wok && want != got { // without a box, no value matters
			t.Fatalf("%s: rowBox %v %v, page path %v %v", data, got, gok, want, wok)
		}
	})
}
