package survey

import (
	"math"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %g", name, got, want, tol)
	}
}

func TestFreeSpacePathLoss(t *testing.T) {
	for _, tc := range []struct {
		d, f, want float64
	}{
		{1000, 2400, 100.05},   // 32.45 + 20log10(1 km) + 20log10(2400 MHz)
		{5000, 5800, 121.70},   // 32.45 + 13.98 + 75.27
		{10000, 900, 111.53},   // 32.45 + 20 + 59.08
		{100, 60000, 108.01},   // 60 GHz at 100 m
		{1, 2400, 40.05},       // one metre
		{20000, 5150, 132.70},  // long 5 GHz link
		{2000, 24000, 126.07},  // 24 GHz at 2 km
		{3000, 3650, 113.24},   // CBRS at 3 km
		{15000, 10500, 136.39}, // 10.5 GHz at 15 km
	} {
		near(t, "fspl", FreeSpacePathLoss(tc.d, tc.f), tc.want, 0.01)
	}
}

func TestFresnelRadius(t *testing.T) {
	for _, tc := range []struct {
		d1, d2, f, want float64
	}{
		{5000, 5000, 5000, 12.243}, // midpoint of 10 km at 5 GHz: sqrt(λ·2500)
		{500, 500, 2400, 5.589},    // midpoint of 1 km at 2.4 GHz
		{1000, 9000, 5800, 6.823},  // off-centre
		{0, 1000, 5800, 0},         // at an end
	} {
		near(t, "fresnel", FresnelRadius(tc.d1, tc.d2, tc.f), tc.want, 0.005)
	}
}

func TestEarthBulge(t *testing.T) {
	for _, tc := range []struct {
		d1, d2, k, want float64
	}{
		{5000, 5000, 4.0 / 3, 1.4715},    // 10 km link, midpoint
		{10000, 10000, 4.0 / 3, 5.8860},  // 20 km link, midpoint
		{5000, 5000, 1, 1.9620},          // k = 1
		{25000, 25000, 0, 36.7878},       // 50 km, default k
		{1000, 9000, 4.0 / 3, 0.5297},    // near an end
		{0, 10000, 4.0 / 3, 0},           // at an end
		{40000, 10000, 4.0 / 3, 23.5442}, // long and off-centre
	} {
		near(t, "bulge", EarthBulge(tc.d1, tc.d2, tc.k), tc.want, 0.001)
	}
}

func TestKnifeEdgeLoss(t *testing.T) {
	for _, tc := range []struct{ v, want float64 }{
		{-1, 0}, {-0.78, 0}, {0, 6.03}, {1, 13.93}, {2.4, 20.54}, {-0.5, 1.96},
	} {
		near(t, "J(v)", KnifeEdgeLoss(tc.v), tc.want, 0.02)
	}
}

func TestDistanceAndBearing(t *testing.T) {
	const lat, lon = 45.6770, -111.0429 // Bozeman
	for _, tc := range []struct {
		name                 string
		toLat, toLon         float64
		wantDist, wantBearin float64
	}{
		{"north", lat + 0.01, lon, 1113.19, 0},
		{"south", lat - 0.01, lon, 1113.19, 180},
		{"east", lat, lon + 0.01, 777.79, 90.0},
		{"west", lat, lon - 0.01, 777.79, 270.0},
		{"north-east", lat + 0.01, lon + 0.01, 1358.3, 34.94},
	} {
		t.Run(tc.name, func(t *testing.T) {
			near(t, "distance", Distance(lat, lon, tc.toLat, tc.toLon), tc.wantDist, 0.5)
			near(t, "bearing", Bearing(lat, lon, tc.toLat, tc.toLon), tc.wantBearin, 0.02)
		})
	}
}

// A 10 km north–south link (0.0899° of latitude on a 6378137 m sphere) between 10 m antennas on
// flat ground at 1500 m.
func link(profile []ProfileSample, freq float64) LinkInput {
	from := Endpoint{Lat: 45.6770, Lon: -111.0429, GroundM: 1500, AntennaM: 10, GainDBi: 23, TxPowerDBm: 20}
	to := Endpoint{Lat: 45.6770 + 10000/111319.49, Lon: -111.0429, GroundM: 1500, AntennaM: 10, GainDBi: 23}
	return LinkInput{From: from, To: to, FrequencyMHz: freq, RxSensitivityDBm: -80, Profile: profile}
}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         LinkInput
		clearLOS   bool
		fresnelOK  bool
		pct        float64 // worst Fresnel clearance, %
		obstr      float64
		diffrLoss  float64
		rssi, fade float64
	}{
		{
			// Flat ground: only the 1.47 m earth bulge at the midpoint; 8.53 m of a 12.24 m zone clear.
			name: "flat ground, no profile", in: link(nil, 5000),
			clearLOS: true, fresnelOK: true, pct: 69.66, obstr: 0, diffrLoss: 0,
			rssi: 20 + 23 + 23 - 126.43, fade: 20 + 23 + 23 - 126.43 + 80,
		},
		{
			// A 6 m rise at the midpoint: 10 − 6 − 1.47 = 2.53 m clear of 12.24 m: 20.6 %; v = −0.29, J(v) = 3.58 dB.
			name: "hill inside the Fresnel zone", in: link([]ProfileSample{{0, 1500}, {5000, 1506}, {10000, 1500}}, 5000),
			clearLOS: true, fresnelOK: false, pct: 20.64, obstr: 0, diffrLoss: 3.58,
			rssi: 20 + 23 + 23 - 126.43 - 3.58, fade: 20 + 23 + 23 - 126.43 - 3.58 + 80,
		},
		{
			// A 10 m rise: the terrain plus bulge is 1.47 m above the line of sight; v = 0.17, J(v) = 7.51 dB.
			name: "obstructed", in: link([]ProfileSample{{2500, 1500}, {5000, 1510}, {7500, 1500}}, 5000),
			clearLOS: false, fresnelOK: false, pct: -12.02, obstr: 1.47, diffrLoss: 7.51,
			rssi: 20 + 23 + 23 - 126.43 - 7.51, fade: 20 + 23 + 23 - 126.43 - 7.51 + 80,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Analyze(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "distance", r.DistanceM, 10000, 1)
			near(t, "bearing", r.BearingDeg, 0, 0.01)
			near(t, "fspl", r.FreeSpaceLossDB, 126.43, 0.01)
			if r.HasClearLOS != tc.clearLOS || r.FresnelClear != tc.fresnelOK {
				t.Errorf("clear LOS %v fresnel %v, want %v %v", r.HasClearLOS, r.FresnelClear, tc.clearLOS, tc.fresnelOK)
			}
			near(t, "fresnel %", r.FresnelClearancePct, tc.pct, 0.1)
			near(t, "obstruction", r.MaxObstructionM, tc.obstr, 0.01)
			near(t, "diffraction", r.DiffractionLossDB, tc.diffrLoss, 0.1)
			near(t, "rssi", r.EstimatedRSSIDBm, tc.rssi, 0.1)
			near(t, "fade margin", r.FadeMarginDB, tc.fade, 0.1)
			near(t, "worst at", r.WorstAtM, 5000, 100)
		})
	}
}

func TestAnalyze_BadInput(t *testing.T) {
	for name, in := range map[string]LinkInput{
		"no frequency":   link(nil, 0),
		"sample outside": link([]ProfileSample{{20000, 1500}}, 5000),
		"negative dist":  link([]ProfileSample{{-5, 1500}}, 5000),
		"same point":     {From: Endpoint{Lat: 45, Lon: -111}, To: Endpoint{Lat: 45, Lon: -111}, FrequencyMHz: 5000},
		"nan elevation":  link([]ProfileSample{{100, math.NaN()}}, 5000),
	} {
		if _, err := Analyze(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
