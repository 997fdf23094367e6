package survey

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
)

// Fiber test types (reference §3.7 fiber_test_results).
var FiberTestTypes = []string{"otdr", "optical_power", "insertion_loss", "reflectance", "continuity", "other"}

// Standard losses of a link budget when none is given (ITU-T G.652 fibre, fusion splices, mated
// SC/LC connector pairs; design values).
const (
	SpliceLossDB    = 0.1
	ConnectorLossDB = 0.5
	// Optical power at a GPON ONT (class B+): acceptable received power window.
	MinRxPowerDBm = -28.0
	MaxRxPowerDBm = -8.0
	// MaxReflectanceDB is the worst acceptable reflectance of an event (UPC connector).
	MaxReflectanceDB = -35.0
)

// FiberLossPerKm is the attenuation in dB/km by wavelength in nm.
func FiberLossPerKm(wavelengthNM int) float64 {
	switch {
	case wavelengthNM == 0:
		return 0.35
	case wavelengthNM < 1000: // multimode 850 nm
		return 3.0
	case wavelengthNM < 1400: // 1310
		return 0.35
	case wavelengthNM < 1520: // 1490
		return 0.3
	default: // 1550, 1625
		return 0.25
	}
}

// LossBudget is the most loss a link may show: length × the fibre's attenuation + splices ×
// SpliceLossDB + connectors × ConnectorLossDB.
func LossBudget(lengthKm float64, splices, connectors, wavelengthNM int) float64 {
	return math.Round((lengthKm*FiberLossPerKm(wavelengthNM)+float64(splices)*SpliceLossDB+float64(connectors)*ConnectorLossDB)*1000) / 1000
}

// FiberTestRequest is POST /api/v1/field/fiber/tests. Either work_order_id or asset_id is needed.
// The budget is budget_db when given, else computed from length_km, splices and connectors.
type FiberTestRequest struct {
	ClientRef    string     `json:"client_ref"`
	WorkOrderID  string     `json:"work_order_id"`
	AssetType    string     `json:"asset_type"`
	AssetID      string     `json:"asset_id"`
	TestType     string     `json:"test_type"`
	WavelengthNM *int       `json:"wavelength_nm"`
	ValueDB      *float64   `json:"value_db"`
	Unit         string     `json:"unit"`
	LengthKm     *float64   `json:"length_km"`
	Splices      *int       `json:"splices"`
	Connectors   *int       `json:"connectors"`
	BudgetDB     *float64   `json:"budget_db"`
	Passed       *bool      `json:"passed"` // what the instrument said; used when the hub cannot judge
	Instrument   string     `json:"instrument"`
	AttachmentID string     `json:"attachment_id"`
	Notes        string     `json:"notes"`
	MeasuredAt   *time.Time `json:"measured_at"`
}

// FiberTest is a stored result.
type FiberTest struct {
	ID           string    `json:"id"`
	WorkOrderID  *string   `json:"work_order_id"`
	AssetType    string    `json:"asset_type"`
	AssetID      *string   `json:"asset_id"`
	TestType     string    `json:"test_type"`
	WavelengthNM *int      `json:"wavelength_nm"`
	ValueDB      *float64  `json:"value_db"`
	Unit         string    `json:"unit"`
	LengthKm     *float64  `json:"length_km"`
	Splices      *int      `json:"splices"`
	Connectors   *int      `json:"connectors"`
	BudgetDB     *float64  `json:"budget_db"`
	BudgetSource string    `json:"budget_source"`
	Passed       *bool     `json:"passed"`
	Instrument   string    `json:"instrument"`
	AttachmentID *string   `json:"attachment_id"`
	Notes        string    `json:"notes"`
	MeasuredBy   *string   `json:"measured_by"`
	MeasuredAt   time.Time `json:"measured_at"`
	ClientRef    string    `json:"client_ref"`
	CreatedAt    time.Time `json:"created_at"`
	Replayed     bool      `json:"replayed"`
}

func finite(p *float64) bool { return p == nil || !math.IsNaN(*p) && !math.IsInf(*p, 0) }

// Validate checks the request's shape.
func (r FiberTestRequest) Validate() hub.Fields {
	f := hub.Fields{}
	switch {
	case r.ClientRef == "":
		f.Add("client_ref", "is required")
	case !field.IsUUID(r.ClientRef):
		f.Add("client_ref", "must be a UUID")
	}
	if r.WorkOrderID == "" && r.AssetID == "" {
		f.Add("work_order_id", "work_order_id or asset_id is required")
	}
	for name, v := range map[string]string{"work_order_id": r.WorkOrderID, "asset_id": r.AssetID, "attachment_id": r.AttachmentID} {
		if v != "" && !field.IsUUID(v) {
			f.Add(name, "must be a UUID")
		}
	}
	if r.AssetID != "" && strings.TrimSpace(r.AssetType) == "" {
		f.Add("asset_type", "is required with asset_id")
	}
	if !slices.Contains(FiberTestTypes, r.TestType) {
		f.Add("test_type", "must be one of "+strings.Join(FiberTestTypes, ", "))
	}
	if r.WavelengthNM != nil && (*r.WavelengthNM < 600 || *r.WavelengthNM > 1700) {
		f.Add("wavelength_nm", "must be between 600 and 1700")
	}
	if r.Unit != "" && r.Unit != "dB" && r.Unit != "dBm" {
		f.Add("unit", "must be dB or dBm")
	}
	if !finite(r.ValueDB) || r.ValueDB != nil && math.Abs(*r.ValueDB) > 200 {
		f.Add("value_db", "must be a number between -200 and 200")
	}
	if r.ValueDB == nil && r.TestType != "continuity" && r.TestType != "other" && r.TestType != "" {
		f.Add("value_db", "is required for this test type")
	}
	if !finite(r.LengthKm) || r.LengthKm != nil && (*r.LengthKm < 0 || *r.LengthKm > 1000) {
		f.Add("length_km", "must be between 0 and 1000")
	}
	if !finite(r.BudgetDB) || r.BudgetDB != nil && (*r.BudgetDB < 0 || *r.BudgetDB > 100) {
		f.Add("budget_db", "must be between 0 and 100")
	}
	if r.Splices != nil && (*r.Splices < 0 || *r.Splices > 10000) {
		f.Add("splices", "must be 0 or more")
	}
	if r.Connectors != nil && (*r.Connectors < 0 || *r.Connectors > 1000) {
		f.Add("connectors", "must be 0 or more")
	}
	if len(r.Instrument) > 200 {
		f.Add("instrument", "is longer than 200 characters")
	}
	if len(r.Notes) > 5000 {
		f.Add("notes", "is longer than 5000 characters")
	}
	return f
}

// Judge decides pass or fail and the budget used: loss tests (OTDR, insertion loss) against the
// given or computed loss budget, optical power against the receiver window, reflectance against
// MaxReflectanceDB; continuity and other keep what the instrument said.
func Judge(r FiberTestRequest) (passed *bool, budget *float64, source string) {
	b := func(v bool) *bool { return &v }
	wl := 0
	if r.WavelengthNM != nil {
		wl = *r.WavelengthNM
	}
	switch r.TestType {
	case "otdr", "insertion_loss":
		switch {
		case r.BudgetDB != nil:
			budget, source = r.BudgetDB, "given"
		case r.LengthKm != nil || r.Splices != nil || r.Connectors != nil:
			var l float64
			var s, c int
			if r.LengthKm != nil {
				l = *r.LengthKm
			}
			if r.Splices != nil {
				s = *r.Splices
			}
			if r.Connectors != nil {
				c = *r.Connectors
			}
			v := LossBudget(l, s, c, wl)
			budget, source = &v, "computed"
		}
		if budget != nil && r.ValueDB != nil {
			return b(math.Abs(*r.ValueDB) <= *budget), budget, source
		}
	case "optical_power":
		if r.ValueDB != nil {
			return b(*r.ValueDB >= MinRxPowerDBm && *r.ValueDB <= MaxRxPowerDBm), nil, ""
		}
	case "reflectance":
		if r.ValueDB != nil {
			return b(*r.ValueDB <= MaxReflectanceDB), nil, ""
		}
	}
	return r.Passed, budget, source
}

const fiberTestCols = `id, work_order_id, asset_type, asset_id, test_type, wavelength_nm, value_db, unit, length_km, splices,
	connectors, budget_db, budget_source, passed, instrument, attachment_id, notes, measured_by, measured_at, client_ref, created_at`

func scanFiberTest(row pgx.Row) (*FiberTest, error) {
	var t FiberTest
	err := row.Scan(&t.ID, &t.WorkOrderID, &t.AssetType, &t.AssetID, &t.TestType, &t.WavelengthNM, &t.ValueDB, &t.Unit, &t.LengthKm,
		&t.Splices, &t.Connectors, &t.BudgetDB, &t.BudgetSource, &t.Passed, &t.Instrument, &t.AttachmentID, &t.Notes, &t.MeasuredBy,
		&t.MeasuredAt, &t.ClientRef, &t.CreatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &t, nil
}

// RecordFiberTest stores a measurement from the field (POST /api/v1/field/fiber/tests, and the
// sync upload applier). client_ref makes it idempotent: a replay answers the stored result with
// Replayed set. With a work order the technician must be on it (404 otherwise).
func (s *Service) RecordFiberTest(ctx context.Context, actorID, deviceID string, r FiberTestRequest) (*FiberTest, error) {
	if err := r.Validate().Err(); err != nil {
		return nil, err
	}
	if r.Unit == "" {
		r.Unit = "dB"
		if r.TestType == "optical_power" {
			r.Unit = "dBm"
		}
	}
	at := time.Now()
	if r.MeasuredAt != nil {
		at = *r.MeasuredAt
	}
	passed, budget, source := Judge(r)
	var out *FiberTest
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if r.WorkOrderID != "" {
			if err := jobInScope(ctx, tx, r.WorkOrderID, actorID); err != nil {
				return err
			}
		}
		var err error
		out, err = scanFiberTest(tx.QueryRow(ctx, `INSERT INTO fiber_test_results (work_order_id, asset_type, asset_id, test_type,
			wavelength_nm, value_db, unit, length_km, splices, connectors, budget_db, budget_source, passed, instrument, attachment_id,
			notes, measured_by, measured_at, client_ref, device_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
			ON CONFLICT (client_ref) DO NOTHING RETURNING `+fiberTestCols,
			nullable(r.WorkOrderID), strings.TrimSpace(r.AssetType), nullable(r.AssetID), r.TestType, r.WavelengthNM, r.ValueDB, r.Unit,
			r.LengthKm, r.Splices, r.Connectors, budget, source, passed, r.Instrument, nullable(r.AttachmentID), r.Notes,
			nullable(actorID), at, r.ClientRef, nullable(deviceID)))
		if hub.ErrorCode(err) == hub.ENOTFOUND { // a replay
			out, err = scanFiberTest(tx.QueryRow(ctx, `SELECT `+fiberTestCols+` FROM fiber_test_results WHERE client_ref = $1`, r.ClientRef))
			if err != nil {
				return err
			}
			if r.WorkOrderID != "" && (out.WorkOrderID == nil || *out.WorkOrderID != r.WorkOrderID) {
				return hub.Errorf(hub.ECONFLICT, "client_ref %s was used for another test", r.ClientRef)
			}
			out.Replayed = true
			return nil
		}
		if hub.ErrorCode(err) == hub.EINVALID {
			return hub.Invalid(map[string]string{"attachment_id": "no such attachment"})
		}
		return err
	})
	return out, err
}

// FindFiberTests lists results of a work order or an asset, newest first.
func (s *Service) FindFiberTests(ctx context.Context, workOrderID, assetID string) ([]FiberTest, error) {
	if workOrderID != "" && !postgres.ValidUUID(workOrderID) || assetID != "" && !postgres.ValidUUID(assetID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "not found")
	}
	if workOrderID == "" && assetID == "" {
		return nil, hub.Invalid(map[string]string{"asset_id": "work_order_id or asset_id is required"})
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+fiberTestCols+` FROM fiber_test_results
		WHERE ($1 = '' OR work_order_id::text = $1) AND ($2 = '' OR asset_id::text = $2) ORDER BY measured_at DESC, id`, workOrderID, assetID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FiberTest
	for rows.Next() {
		t, err := scanFiberTest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jobInScope answers 404 unless the technician is the job's primary technician or on its crew.
func jobInScope(ctx context.Context, tx pgx.Tx, jobID, technicianID string) error {
	return jobOf(ctx, tx, jobID, technicianID, false)
}

// jobOf is jobInScope; with formerHolder the job need not be the technician's any more (it
// was reassigned away while their device was offline), only live.
func jobOf(ctx context.Context, tx pgx.Tx, jobID, technicianID string, formerHolder bool) error {
	if !postgres.ValidUUID(jobID) || !postgres.ValidUUID(technicianID) {
		return hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_orders w WHERE w.id = $1 AND w.is_active AND w.status <> 'draft'
		AND ($3 OR w.assigned_to = $2 OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2)))`,
		jobID, technicianID, formerHolder).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	return nil
}

var _ = fmt.Sprintf
