package survey

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Service is surveys, forms and fiber tests on PostgreSQL.
type Service struct {
	DB *postgres.DB
}

// NewService returns the survey service.
func NewService(db *postgres.DB) *Service { return &Service{DB: db} }

// Site survey statuses and point types.
var (
	Statuses   = []string{"draft", "in_progress", "completed", "archived"}
	PointTypes = []string{"tower", "access_point", "cpe", "repeater", "custom"}
)

// statusFlow says which statuses a survey may move to from each status.
var statusFlow = map[string][]string{
	"draft":       {"in_progress", "archived"},
	"in_progress": {"draft", "completed", "archived"},
	"completed":   {"in_progress", "archived"},
	"archived":    {"draft"},
}

// SiteSurvey is a wireless site survey with its points and analysed paths.
type SiteSurvey struct {
	ID                    string      `json:"id"`
	Name                  string      `json:"name"`
	Description           string      `json:"description"`
	Status                string      `json:"status"`
	FrequencyMHz          float64     `json:"frequency_mhz"`
	DefaultAntennaHeightM float64     `json:"default_antenna_height_m"`
	DefaultTxPowerDBm     float64     `json:"default_tx_power_dbm"`
	RxSensitivityDBm      float64     `json:"rx_sensitivity_dbm"`
	WorkOrderID           *string     `json:"work_order_id"`
	CreatedBy             *string     `json:"created_by"`
	PointCount            int         `json:"point_count"`
	Points                []Point     `json:"points,omitempty"`
	Paths                 []Path      `json:"paths,omitempty"`
	Version               int64       `json:"version"`
	CreatedAt             time.Time   `json:"created_at"`
	UpdatedAt             time.Time   `json:"updated_at"`
	Bounds                *[4]float64 `json:"bbox,omitempty"` // minLon, minLat, maxLon, maxLat
}

// SurveyInput creates or (with nil fields left alone) updates a survey.
type SurveyInput struct {
	Name                  *string  `json:"name"`
	Description           *string  `json:"description"`
	Status                *string  `json:"status"`
	FrequencyMHz          *float64 `json:"frequency_mhz"`
	DefaultAntennaHeightM *float64 `json:"default_antenna_height_m"`
	DefaultTxPowerDBm     *float64 `json:"default_tx_power_dbm"`
	RxSensitivityDBm      *float64 `json:"rx_sensitivity_dbm"`
	WorkOrderID           *string  `json:"work_order_id"`
}

// Point is a survey point.
type Point struct {
	ID               string    `json:"id"`
	SurveyID         string    `json:"survey_id"`
	Name             string    `json:"name"`
	PointType        string    `json:"point_type"`
	Lat              float64   `json:"lat"`
	Lon              float64   `json:"lon"`
	GroundElevationM *float64  `json:"ground_elevation_m"`
	AntennaHeightM   float64   `json:"antenna_height_m"`
	AntennaGainDBi   float64   `json:"antenna_gain_dbi"`
	TxPowerDBm       float64   `json:"tx_power_dbm"`
	FrequencyMHz     *float64  `json:"frequency_mhz"`
	Notes            string    `json:"notes"`
	SortOrder        int       `json:"sort_order"`
	Version          int64     `json:"version"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// PointInput creates or replaces a point. Missing heights and powers take the survey's defaults.
type PointInput struct {
	Name             string   `json:"name"`
	PointType        string   `json:"point_type"`
	Lat              *float64 `json:"lat"`
	Lon              *float64 `json:"lon"`
	GroundElevationM *float64 `json:"ground_elevation_m"`
	AntennaHeightM   *float64 `json:"antenna_height_m"`
	AntennaGainDBi   *float64 `json:"antenna_gain_dbi"`
	TxPowerDBm       *float64 `json:"tx_power_dbm"`
	FrequencyMHz     *float64 `json:"frequency_mhz"`
	Notes            string   `json:"notes"`
	SortOrder        int      `json:"sort_order"`
}

// PathRequest is POST /api/v1/site-surveys/{id}/los: analyse the link between two points of the
// survey against the elevation profile given (samples along the path from from_point_id).
type PathRequest struct {
	FromPointID      string          `json:"from_point_id"`
	ToPointID        string          `json:"to_point_id"`
	Profile          []ProfileSample `json:"profile"`
	FrequencyMHz     *float64        `json:"frequency_mhz"`
	RxSensitivityDBm *float64        `json:"rx_sensitivity_dbm"`
}

// Path is a stored line-of-sight analysis.
type Path struct {
	ID               string          `json:"id"`
	FromPointID      string          `json:"from_point_id"`
	ToPointID        string          `json:"to_point_id"`
	FromName         string          `json:"from_name"`
	ToName           string          `json:"to_name"`
	FrequencyMHz     float64         `json:"frequency_mhz"`
	RxSensitivityDBm float64         `json:"rx_sensitivity_dbm"`
	Profile          []ProfileSample `json:"elevation_profile"`
	LinkResult
	Coordinates [2][2]float64 `json:"coordinates"` // [[lon, lat], [lon, lat]]
	Version     int64         `json:"version"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

func badNumber(v *float64, lo, hi float64) bool {
	return v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < lo || *v > hi)
}

func (in SurveyInput) validate(create bool) error {
	f := hub.Fields{}
	if create && (in.Name == nil || strings.TrimSpace(*in.Name) == "") || in.Name != nil && strings.TrimSpace(*in.Name) == "" {
		f.Add("name", "is required")
	}
	if in.Name != nil && len(*in.Name) > 200 {
		f.Add("name", "is longer than 200 characters")
	}
	if in.Status != nil && !slices.Contains(Statuses, *in.Status) {
		f.Add("status", "must be draft, in_progress, completed or archived")
	}
	if badNumber(in.FrequencyMHz, 1, 100000) {
		f.Add("frequency_mhz", "must be between 1 and 100000")
	}
	if badNumber(in.DefaultAntennaHeightM, 0, 1000) {
		f.Add("default_antenna_height_m", "must be between 0 and 1000")
	}
	if badNumber(in.DefaultTxPowerDBm, -30, 60) {
		f.Add("default_tx_power_dbm", "must be between -30 and 60")
	}
	if badNumber(in.RxSensitivityDBm, -150, 0) {
		f.Add("rx_sensitivity_dbm", "must be between -150 and 0")
	}
	if in.WorkOrderID != nil && *in.WorkOrderID != "" && !postgres.ValidUUID(*in.WorkOrderID) {
		f.Add("work_order_id", "must be a UUID")
	}
	return f.Err()
}

const surveyCols = `s.id, s.name, s.description, s.status, s.frequency_mhz, s.default_antenna_height_m, s.default_tx_power_dbm,
	s.rx_sensitivity_dbm, s.work_order_id, s.created_by, (SELECT count(*) FROM survey_points p WHERE p.survey_id = s.id),
	s.version, s.created_at, s.updated_at`

func scanSurvey(row pgx.Row) (*SiteSurvey, error) {
	var s SiteSurvey
	err := row.Scan(&s.ID, &s.Name, &s.Description, &s.Status, &s.FrequencyMHz, &s.DefaultAntennaHeightM, &s.DefaultTxPowerDBm,
		&s.RxSensitivityDBm, &s.WorkOrderID, &s.CreatedBy, &s.PointCount, &s.Version, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &s, nil
}

// CreateSurvey starts a site survey (draft unless a status is given).
func (s *Service) CreateSurvey(ctx context.Context, actorID string, in SurveyInput) (*SiteSurvey, error) {
	if err := in.validate(true); err != nil {
		return nil, err
	}
	status := "draft"
	if in.Status != nil {
		status = *in.Status
	}
	def := func(p *float64, v float64) float64 {
		if p == nil {
			return v
		}
		return *p
	}
	var wo *string
	if in.WorkOrderID != nil && *in.WorkOrderID != "" {
		wo = in.WorkOrderID
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	var id string
	err := s.DB.Pool.QueryRow(ctx, `INSERT INTO wireless_site_surveys (name, description, status, frequency_mhz, default_antenna_height_m,
		default_tx_power_dbm, rx_sensitivity_dbm, work_order_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		strings.TrimSpace(*in.Name), desc, status, def(in.FrequencyMHz, 5800), def(in.DefaultAntennaHeightM, 10),
		def(in.DefaultTxPowerDBm, 20), def(in.RxSensitivityDBm, -80), wo, nullable(actorID)).Scan(&id)
	if err != nil {
		if hub.ErrorCode(postgres.Translate(err)) == hub.EINVALID {
			return nil, hub.Invalid(map[string]string{"work_order_id": "no such work order"})
		}
		return nil, postgres.Translate(err)
	}
	return s.FindSurveyByID(ctx, id)
}

// UpdateSurvey changes a survey's fields and status (draft ⇄ in_progress → completed → archived).
func (s *Service) UpdateSurvey(ctx context.Context, id string, in SurveyInput) (*SiteSurvey, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such survey")
	}
	if err := in.validate(false); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM wireless_site_surveys WHERE id = $1 FOR UPDATE`, id).Scan(&status)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such survey")
		}
		if err != nil {
			return err
		}
		if in.Status != nil && *in.Status != status && !slices.Contains(statusFlow[status], *in.Status) {
			return hub.Errorf(hub.ECONFLICT, "a %s survey cannot become %s", status, *in.Status)
		}
		var wo any = nil
		setWO := in.WorkOrderID != nil
		if setWO && *in.WorkOrderID != "" {
			wo = *in.WorkOrderID
		}
		_, err = tx.Exec(ctx, `UPDATE wireless_site_surveys SET name = coalesce($2, name), description = coalesce($3, description),
			status = coalesce($4, status), frequency_mhz = coalesce($5, frequency_mhz),
			default_antenna_height_m = coalesce($6, default_antenna_height_m), default_tx_power_dbm = coalesce($7, default_tx_power_dbm),
			rx_sensitivity_dbm = coalesce($8, rx_sensitivity_dbm), work_order_id = CASE WHEN $9 THEN $10::uuid ELSE work_order_id END
			WHERE id = $1`, id, in.Name, in.Description, in.Status, in.FrequencyMHz, in.DefaultAntennaHeightM, in.DefaultTxPowerDBm,
			in.RxSensitivityDBm, setWO, wo)
		if hub.ErrorCode(postgres.Translate(err)) == hub.EINVALID {
			return hub.Invalid(map[string]string{"work_order_id": "no such work order"})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindSurveyByID(ctx, id)
}

// FindSurveys lists surveys, newest first.
func (s *Service) FindSurveys(ctx context.Context, status string, limit, offset int) ([]SiteSurvey, int, error) {
	if status != "" && !slices.Contains(Statuses, status) {
		return nil, 0, hub.Invalid(map[string]string{"status": "must be draft, in_progress, completed or archived"})
	}
	if limit <= 0 {
		limit = 50
	}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM wireless_site_surveys WHERE $1 = '' OR status = $1`, status).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+surveyCols+` FROM wireless_site_surveys s WHERE $1 = '' OR s.status = $1
		ORDER BY s.created_at DESC, s.id DESC LIMIT $2 OFFSET $3`, status, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []SiteSurvey
	for rows.Next() {
		sv, err := scanSurvey(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *sv)
	}
	return out, total, rows.Err()
}

// FindSurveyByID returns a survey with its points and paths.
func (s *Service) FindSurveyByID(ctx context.Context, id string) (*SiteSurvey, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such survey")
	}
	sv, err := scanSurvey(s.DB.Pool.QueryRow(ctx, `SELECT `+surveyCols+` FROM wireless_site_surveys s WHERE s.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such survey")
	}
	if err != nil {
		return nil, err
	}
	if sv.Points, err = s.points(ctx, id); err != nil {
		return nil, err
	}
	if sv.Paths, err = s.paths(ctx, id); err != nil {
		return nil, err
	}
	if len(sv.Points) > 0 {
		b := [4]float64{180, 90, -180, -90}
		for _, p := range sv.Points {
			b[0], b[1], b[2], b[3] = math.Min(b[0], p.Lon), math.Min(b[1], p.Lat), math.Max(b[2], p.Lon), math.Max(b[3], p.Lat)
		}
		sv.Bounds = &b
	}
	return sv, nil
}

const pointCols = `id, survey_id, name, point_type, lat, lon, ground_elevation_m, antenna_height_m, antenna_gain_dbi, tx_power_dbm,
	frequency_mhz, notes, sort_order, version, updated_at`

func scanPoint(row pgx.Row) (*Point, error) {
	var p Point
	err := row.Scan(&p.ID, &p.SurveyID, &p.Name, &p.PointType, &p.Lat, &p.Lon, &p.GroundElevationM, &p.AntennaHeightM, &p.AntennaGainDBi,
		&p.TxPowerDBm, &p.FrequencyMHz, &p.Notes, &p.SortOrder, &p.Version, &p.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &p, nil
}

func (s *Service) points(ctx context.Context, surveyID string) ([]Point, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+pointCols+` FROM survey_points WHERE survey_id = $1 ORDER BY sort_order, created_at, id`, surveyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		p, err := scanPoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (in PointInput) validate() error {
	f := hub.Fields{}
	if strings.TrimSpace(in.Name) == "" {
		f.Add("name", "is required")
	} else if len(in.Name) > 200 {
		f.Add("name", "is longer than 200 characters")
	}
	if !slices.Contains(PointTypes, in.PointType) {
		f.Add("point_type", "must be tower, access_point, cpe, repeater or custom")
	}
	if in.Lat == nil {
		f.Add("lat", "is required")
	} else if badNumber(in.Lat, -90, 90) {
		f.Add("lat", "must be between -90 and 90")
	}
	if in.Lon == nil {
		f.Add("lon", "is required")
	} else if badNumber(in.Lon, -180, 180) {
		f.Add("lon", "must be between -180 and 180")
	}
	if badNumber(in.GroundElevationM, -500, 9000) {
		f.Add("ground_elevation_m", "must be between -500 and 9000")
	}
	if badNumber(in.AntennaHeightM, 0, 1000) {
		f.Add("antenna_height_m", "must be between 0 and 1000")
	}
	if badNumber(in.AntennaGainDBi, -10, 60) {
		f.Add("antenna_gain_dbi", "must be between -10 and 60")
	}
	if badNumber(in.TxPowerDBm, -30, 60) {
		f.Add("tx_power_dbm", "must be between -30 and 60")
	}
	if badNumber(in.FrequencyMHz, 1, 100000) {
		f.Add("frequency_mhz", "must be between 1 and 100000")
	}
	if len(in.Notes) > 5000 {
		f.Add("notes", "is longer than 5000 characters")
	}
	return f.Err()
}

// AddPoint adds a point to a survey.
func (s *Service) AddPoint(ctx context.Context, surveyID string, in PointInput) (*Point, error) {
	return s.savePoint(ctx, surveyID, "", in)
}

// UpdatePoint replaces a point's fields.
func (s *Service) UpdatePoint(ctx context.Context, surveyID, pointID string, in PointInput) (*Point, error) {
	if !postgres.ValidUUID(pointID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such point")
	}
	return s.savePoint(ctx, surveyID, pointID, in)
}

func (s *Service) savePoint(ctx context.Context, surveyID, pointID string, in PointInput) (*Point, error) {
	if !postgres.ValidUUID(surveyID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such survey")
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Point
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var height, power float64
		err := tx.QueryRow(ctx, `SELECT default_antenna_height_m, default_tx_power_dbm FROM wireless_site_surveys WHERE id = $1`,
			surveyID).Scan(&height, &power)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such survey")
		}
		if err != nil {
			return err
		}
		if in.AntennaHeightM == nil {
			in.AntennaHeightM = &height
		}
		if in.TxPowerDBm == nil {
			in.TxPowerDBm = &power
		}
		gain := 0.0
		if in.AntennaGainDBi != nil {
			gain = *in.AntennaGainDBi
		}
		src := ""
		if in.GroundElevationM != nil {
			src = "manual"
		}
		args := []any{surveyID, strings.TrimSpace(in.Name), in.PointType, *in.Lat, *in.Lon, in.GroundElevationM, src, *in.AntennaHeightM,
			gain, *in.TxPowerDBm, in.FrequencyMHz, in.Notes, in.SortOrder}
		if pointID == "" {
			out, err = scanPoint(tx.QueryRow(ctx, `INSERT INTO survey_points (survey_id, name, point_type, lat, lon, ground_elevation_m,
				elevation_source, antenna_height_m, antenna_gain_dbi, tx_power_dbm, frequency_mhz, notes, sort_order)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+pointCols, args...))
			return err
		}
		out, err = scanPoint(tx.QueryRow(ctx, `UPDATE survey_points SET name = $2, point_type = $3, lat = $4, lon = $5,
			ground_elevation_m = $6, elevation_source = $7, antenna_height_m = $8, antenna_gain_dbi = $9, tx_power_dbm = $10,
			frequency_mhz = $11, notes = $12, sort_order = $13 WHERE survey_id = $1 AND id = $14 RETURNING `+pointCols, append(args, pointID)...))
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			return hub.Errorf(hub.ENOTFOUND, "no such point")
		}
		return err
	})
	return out, err
}

// DeletePoint removes a point and its paths.
func (s *Service) DeletePoint(ctx context.Context, surveyID, pointID string) error {
	if !postgres.ValidUUID(surveyID) || !postgres.ValidUUID(pointID) {
		return hub.Errorf(hub.ENOTFOUND, "no such point")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM survey_points WHERE survey_id = $1 AND id = $2`, surveyID, pointID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENOTFOUND, "no such point")
	}
	return nil
}

// MaxProfileSamples bounds an elevation profile.
const MaxProfileSamples = 5000

// AnalyzePath computes the line of sight between two points of a survey and stores it (replacing
// an earlier analysis of the same pair).
func (s *Service) AnalyzePath(ctx context.Context, surveyID string, in PathRequest) (*Path, error) {
	if !postgres.ValidUUID(surveyID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such survey")
	}
	f := hub.Fields{}
	for name, v := range map[string]string{"from_point_id": in.FromPointID, "to_point_id": in.ToPointID} {
		if !postgres.ValidUUID(v) {
			f.Add(name, "must be a point id")
		}
	}
	if in.FromPointID == in.ToPointID && in.FromPointID != "" {
		f.Add("to_point_id", "must differ from from_point_id")
	}
	if len(in.Profile) > MaxProfileSamples {
		f.Add("profile", fmt.Sprintf("at most %d samples", MaxProfileSamples))
	}
	if badNumber(in.FrequencyMHz, 1, 100000) {
		f.Add("frequency_mhz", "must be between 1 and 100000")
	}
	if badNumber(in.RxSensitivityDBm, -150, 0) {
		f.Add("rx_sensitivity_dbm", "must be between -150 and 0")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = AnalyzePathTx(ctx, tx, surveyID, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	paths, err := s.paths(ctx, surveyID)
	if err != nil {
		return nil, err
	}
	for i := range paths {
		if paths[i].ID == id {
			return &paths[i], nil
		}
	}
	return nil, hub.Errorf(hub.ENOTFOUND, "no such path")
}

// AnalyzePathTx is AnalyzePath inside tx (the demo seed uses it); it returns the path's id.
func AnalyzePathTx(ctx context.Context, tx pgx.Tx, surveyID string, in PathRequest) (string, error) {
	var id string
	err := func() error {
		var freq, sens float64
		err := tx.QueryRow(ctx, `SELECT frequency_mhz, rx_sensitivity_dbm FROM wireless_site_surveys WHERE id = $1`, surveyID).Scan(&freq, &sens)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such survey")
		}
		if err != nil {
			return err
		}
		load := func(field, pid string) (*Point, error) {
			p, err := scanPoint(tx.QueryRow(ctx, `SELECT `+pointCols+` FROM survey_points WHERE survey_id = $1 AND id = $2`, surveyID, pid))
			if hub.ErrorCode(err) == hub.ENOTFOUND {
				return nil, hub.Invalid(map[string]string{field: "no such point in this survey"})
			}
			return p, err
		}
		a, err := load("from_point_id", in.FromPointID)
		if err != nil {
			return err
		}
		b, err := load("to_point_id", in.ToPointID)
		if err != nil {
			return err
		}
		if a.FrequencyMHz != nil {
			freq = *a.FrequencyMHz
		}
		if in.FrequencyMHz != nil {
			freq = *in.FrequencyMHz
		}
		if in.RxSensitivityDBm != nil {
			sens = *in.RxSensitivityDBm
		}
		ground := func(p *Point, at int) float64 {
			if p.GroundElevationM != nil {
				return *p.GroundElevationM
			}
			if len(in.Profile) > 0 { // the profile's end sample
				best := in.Profile[0]
				for _, s := range in.Profile {
					if at == 0 && s.DistanceM < best.DistanceM || at == 1 && s.DistanceM > best.DistanceM {
						best = s
					}
				}
				return best.ElevationM
			}
			return 0
		}
		res, err := Analyze(LinkInput{
			From:         Endpoint{Lat: a.Lat, Lon: a.Lon, GroundM: ground(a, 0), AntennaM: a.AntennaHeightM, GainDBi: a.AntennaGainDBi, TxPowerDBm: a.TxPowerDBm},
			To:           Endpoint{Lat: b.Lat, Lon: b.Lon, GroundM: ground(b, 1), AntennaM: b.AntennaHeightM, GainDBi: b.AntennaGainDBi, TxPowerDBm: b.TxPowerDBm},
			FrequencyMHz: freq, RxSensitivityDBm: sens, Profile: in.Profile,
		})
		if err != nil {
			return hub.Invalid(map[string]string{"profile": err.Error()})
		}
		profile := in.Profile
		if profile == nil {
			profile = []ProfileSample{}
		}
		pj, _ := json.Marshal(profile)
		return tx.QueryRow(ctx, `INSERT INTO survey_los_paths (survey_id, from_point_id, to_point_id, frequency_mhz, distance_m, bearing_deg,
			free_space_loss_db, has_clear_los, fresnel_clearance_pct, max_obstruction_m, diffraction_loss_db, estimated_rssi_dbm,
			rx_sensitivity_dbm, fade_margin_db, elevation_profile, geom)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
				ST_SetSRID(ST_MakeLine(ST_MakePoint($16, $17), ST_MakePoint($18, $19)), 4326))
			ON CONFLICT (from_point_id, to_point_id) DO UPDATE SET frequency_mhz = EXCLUDED.frequency_mhz, distance_m = EXCLUDED.distance_m,
				bearing_deg = EXCLUDED.bearing_deg, free_space_loss_db = EXCLUDED.free_space_loss_db, has_clear_los = EXCLUDED.has_clear_los,
				fresnel_clearance_pct = EXCLUDED.fresnel_clearance_pct, max_obstruction_m = EXCLUDED.max_obstruction_m,
				diffraction_loss_db = EXCLUDED.diffraction_loss_db, estimated_rssi_dbm = EXCLUDED.estimated_rssi_dbm,
				rx_sensitivity_dbm = EXCLUDED.rx_sensitivity_dbm, fade_margin_db = EXCLUDED.fade_margin_db,
				elevation_profile = EXCLUDED.elevation_profile, geom = EXCLUDED.geom
			RETURNING id`, surveyID, a.ID, b.ID, freq, res.DistanceM, res.BearingDeg, res.FreeSpaceLossDB, res.HasClearLOS,
			res.FresnelClearancePct, res.MaxObstructionM, res.DiffractionLossDB, res.EstimatedRSSIDBm, sens, res.FadeMarginDB, pj,
			a.Lon, a.Lat, b.Lon, b.Lat).Scan(&id)
	}()
	return id, err
}

func (s *Service) paths(ctx context.Context, surveyID string) ([]Path, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT l.id, l.from_point_id, l.to_point_id, a.name, b.name, l.frequency_mhz, l.rx_sensitivity_dbm,
		l.elevation_profile, l.distance_m, l.bearing_deg, l.free_space_loss_db, l.has_clear_los, l.fresnel_clearance_pct,
		l.max_obstruction_m, l.diffraction_loss_db, l.estimated_rssi_dbm, l.fade_margin_db, a.lon, a.lat, b.lon, b.lat, l.version, l.updated_at
		FROM survey_los_paths l JOIN survey_points a ON a.id = l.from_point_id JOIN survey_points b ON b.id = l.to_point_id
		WHERE l.survey_id = $1 ORDER BY l.created_at, l.id`, surveyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Path
	for rows.Next() {
		var p Path
		var prof []byte
		if err := rows.Scan(&p.ID, &p.FromPointID, &p.ToPointID, &p.FromName, &p.ToName, &p.FrequencyMHz, &p.RxSensitivityDBm, &prof,
			&p.DistanceM, &p.BearingDeg, &p.FreeSpaceLossDB, &p.HasClearLOS, &p.FresnelClearancePct, &p.MaxObstructionM,
			&p.DiffractionLossDB, &p.EstimatedRSSIDBm, &p.FadeMarginDB, &p.Coordinates[0][0], &p.Coordinates[0][1],
			&p.Coordinates[1][0], &p.Coordinates[1][1], &p.Version, &p.UpdatedAt); err != nil {
			return nil, err
		}
		json.Unmarshal(prof, &p.Profile)
		p.FresnelClear = p.FresnelClearancePct >= FresnelClearRatio*100
		out = append(out, p)
	}
	return out, rows.Err()
}

// GeoJSON is a survey as a FeatureCollection: points, then paths as LineStrings.
func (sv *SiteSurvey) GeoJSON() map[string]any {
	feats := []any{}
	for _, p := range sv.Points {
		feats = append(feats, map[string]any{"type": "Feature", "id": p.ID,
			"geometry":   map[string]any{"type": "Point", "coordinates": []float64{p.Lon, p.Lat}},
			"properties": map[string]any{"kind": "survey_point", "name": p.Name, "point_type": p.PointType, "antenna_height_m": p.AntennaHeightM}})
	}
	for _, l := range sv.Paths {
		feats = append(feats, map[string]any{"type": "Feature", "id": l.ID,
			"geometry": map[string]any{"type": "LineString", "coordinates": [][2]float64{l.Coordinates[0], l.Coordinates[1]}},
			"properties": map[string]any{"kind": "los_path", "name": l.FromName + " → " + l.ToName, "distance_m": l.DistanceM,
				"has_clear_los": l.HasClearLOS, "fresnel_clear": l.FresnelClear, "fresnel_clearance_pct": l.FresnelClearancePct,
				"estimated_rssi_dbm": l.EstimatedRSSIDBm, "fade_margin_db": l.FadeMarginDB}})
	}
	return map[string]any{"type": "FeatureCollection", "features": feats}
}

// GroundText is the ground elevation for pages.
func (p Point) GroundText() string {
	if p.GroundElevationM == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f", *p.GroundElevationM)
}
