package survey

import (
	"fmt"
	"math"
	"sort"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// Radio constants.
const (
	SpeedOfLight = 299_792_458.0 // m/s
	EarthRadiusM = 6_371_000.0   // mean radius for the earth-bulge term
	DefaultK     = 4.0 / 3.0     // effective earth radius factor of the standard atmosphere
	// FresnelClearRatio is the share of the first Fresnel zone that must be clear for a link to
	// count as free-space (the 60 % rule).
	FresnelClearRatio = 0.6
	// flatSamples is how many terrain samples stand in for a missing profile.
	flatSamples = 50
)

// ProfileSample is the terrain elevation at a distance along the path from the first point.
type ProfileSample struct {
	DistanceM  float64 `json:"distance_m"`
	ElevationM float64 `json:"elevation_m"`
}

// Endpoint is one end of a link.
type Endpoint struct {
	Lat, Lon   float64
	GroundM    float64 // ground elevation above sea level
	AntennaM   float64 // antenna height above ground
	GainDBi    float64
	TxPowerDBm float64
}

// LinkInput is what Analyze needs: two endpoints, the frequency, the receiver's sensitivity and
// the terrain profile between them (no profile: the ground is taken as a straight line between
// the two ground elevations, so only earth curvature can obstruct).
type LinkInput struct {
	From, To         Endpoint
	FrequencyMHz     float64
	RxSensitivityDBm float64
	Profile          []ProfileSample
	K                float64 // effective earth radius factor; 0 means 4/3
}

// LinkResult is the line-of-sight analysis of a link from From to To.
type LinkResult struct {
	DistanceM           float64 `json:"distance_m"`
	BearingDeg          float64 `json:"bearing_deg"` // from From to To, 0–360 clockwise from north
	FreeSpaceLossDB     float64 `json:"free_space_loss_db"`
	HasClearLOS         bool    `json:"has_clear_los"`         // the straight line clears terrain + earth bulge
	FresnelClear        bool    `json:"fresnel_clear"`         // at least 60 % of the first Fresnel zone is clear everywhere
	FresnelClearancePct float64 `json:"fresnel_clearance_pct"` // worst clearance as a share of the first Fresnel radius
	MaxObstructionM     float64 `json:"max_obstruction_m"`     // highest terrain above the line (0 when clear)
	DiffractionLossDB   float64 `json:"diffraction_loss_db"`   // single knife edge at the worst point (ITU-R P.526)
	EstimatedRSSIDBm    float64 `json:"estimated_rssi_dbm"`
	FadeMarginDB        float64 `json:"fade_margin_db"`
	WorstAtM            float64 `json:"worst_at_m"` // distance of the worst point from From
}

// Distance is the great-circle distance in metres (haversine).
func Distance(fromLat, fromLon, toLat, toLon float64) float64 {
	return geo.DistanceHaversine(orb.Point{fromLon, fromLat}, orb.Point{toLon, toLat})
}

// Bearing is the initial bearing in degrees clockwise from north, 0 ≤ b < 360.
func Bearing(fromLat, fromLon, toLat, toLon float64) float64 {
	b := math.Mod(geo.Bearing(orb.Point{fromLon, fromLat}, orb.Point{toLon, toLat})+360, 360)
	if b >= 360 {
		b = 0
	}
	return b
}

// FreeSpacePathLoss is 20·log10(4π·d·f/c) in dB, d in metres, f in MHz.
func FreeSpacePathLoss(distanceM, freqMHz float64) float64 {
	return 20 * math.Log10(4*math.Pi*distanceM*freqMHz*1e6/SpeedOfLight)
}

// FresnelRadius is the radius in metres of the first Fresnel zone at d1 from one end and d2 from
// the other: sqrt(λ·d1·d2/(d1+d2)).
func FresnelRadius(d1, d2, freqMHz float64) float64 {
	if d1 <= 0 || d2 <= 0 {
		return 0
	}
	lambda := SpeedOfLight / (freqMHz * 1e6)
	return math.Sqrt(lambda * d1 * d2 / (d1 + d2))
}

// EarthBulge is how far the earth rises above the chord between the ends at d1 and d2 metres from
// them, with effective earth radius factor k: d1·d2/(2·k·R).
func EarthBulge(d1, d2, k float64) float64 {
	if k <= 0 {
		k = DefaultK
	}
	return d1 * d2 / (2 * k * EarthRadiusM)
}

// KnifeEdgeLoss is the diffraction loss in dB of a single knife edge with Fresnel–Kirchhoff
// parameter v (ITU-R P.526 approximation; 0 for v ≤ −0.78).
func KnifeEdgeLoss(v float64) float64 {
	if v <= -0.78 {
		return 0
	}
	return 6.9 + 20*math.Log10(math.Sqrt((v-0.1)*(v-0.1)+1)+v-0.1)
}

// Analyze computes the line of sight of a link: distance, bearing, free-space loss, first Fresnel
// zone clearance against the terrain profile with earth curvature, diffraction at the worst
// point, the estimated received signal and the fade margin.
func Analyze(in LinkInput) (LinkResult, error) {
	if in.FrequencyMHz <= 0 || math.IsNaN(in.FrequencyMHz) || math.IsInf(in.FrequencyMHz, 0) {
		return LinkResult{}, fmt.Errorf("frequency must be greater than 0")
	}
	k := in.K
	if k <= 0 {
		k = DefaultK
	}
	var r LinkResult
	r.DistanceM = Distance(in.From.Lat, in.From.Lon, in.To.Lat, in.To.Lon)
	if r.DistanceM < 1 {
		return LinkResult{}, fmt.Errorf("the two points are less than a metre apart")
	}
	D := r.DistanceM
	r.BearingDeg = Bearing(in.From.Lat, in.From.Lon, in.To.Lat, in.To.Lon)
	r.FreeSpaceLossDB = FreeSpacePathLoss(D, in.FrequencyMHz)

	samples := append([]ProfileSample(nil), in.Profile...)
	for _, s := range samples {
		if math.IsNaN(s.DistanceM) || math.IsNaN(s.ElevationM) || math.IsInf(s.ElevationM, 0) {
			return LinkResult{}, fmt.Errorf("profile samples must be numbers")
		}
		if s.DistanceM < 0 || s.DistanceM > D*1.01+1 {
			return LinkResult{}, fmt.Errorf("profile sample at %.0f m is outside the path (0 to %.0f m)", s.DistanceM, D)
		}
	}
	if len(samples) == 0 {
		for i := 1; i < flatSamples; i++ {
			d := D * float64(i) / flatSamples
			samples = append(samples, ProfileSample{DistanceM: d, ElevationM: in.From.GroundM + (in.To.GroundM-in.From.GroundM)*d/D})
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].DistanceM < samples[j].DistanceM })

	hA := in.From.GroundM + in.From.AntennaM
	hB := in.To.GroundM + in.To.AntennaM
	lambda := SpeedOfLight / (in.FrequencyMHz * 1e6)
	worstRatio := math.Inf(1) // clearance / first Fresnel radius
	var worstV float64 = math.Inf(-1)
	r.HasClearLOS = true
	for _, s := range samples {
		d1 := s.DistanceM
		d2 := D - d1
		if d1 <= 0 || d2 <= 0 {
			continue
		}
		line := hA + (hB-hA)*d1/D
		obstacle := s.ElevationM + EarthBulge(d1, d2, k)
		clearance := line - obstacle
		if clearance < 0 {
			r.HasClearLOS = false
			r.MaxObstructionM = math.Max(r.MaxObstructionM, -clearance)
		}
		ratio := clearance / FresnelRadius(d1, d2, in.FrequencyMHz)
		if ratio < worstRatio {
			worstRatio = ratio
			r.WorstAtM = d1
		}
		v := -clearance * math.Sqrt(2*D/(lambda*d1*d2))
		worstV = math.Max(worstV, v)
	}
	if math.IsInf(worstRatio, 1) { // no sample inside the path
		worstRatio, worstV = 1, math.Inf(-1)
	}
	r.FresnelClearancePct = round2(worstRatio * 100)
	r.FresnelClear = worstRatio >= FresnelClearRatio
	r.DiffractionLossDB = round2(KnifeEdgeLoss(worstV))
	r.EstimatedRSSIDBm = round2(in.From.TxPowerDBm + in.From.GainDBi + in.To.GainDBi - r.FreeSpaceLossDB - r.DiffractionLossDB)
	r.FadeMarginDB = round2(r.EstimatedRSSIDBm - in.RxSensitivityDBm)
	r.DistanceM = round2(r.DistanceM)
	r.BearingDeg = round2(r.BearingDeg)
	r.FreeSpaceLossDB = round2(r.FreeSpaceLossDB)
	r.MaxObstructionM = round2(r.MaxObstructionM)
	r.WorstAtM = round2(r.WorstAtM)
	return r, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
