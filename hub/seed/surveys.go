package seed

import (
	"context"
	"encoding/json"

	"dotmac.dev/field/hub/survey"
	"dotmac.dev/field/sync/field"
)

func init() {
	Register(40, "surveys: form templates per work type, a wireless site survey", seedSurveys)
}

func q(id, label, typ string, required bool, options ...string) field.Question {
	return field.Question{ID: id, Label: label, Type: typ, Required: required, Options: options}
}

var demoTemplates = []struct {
	workType, name string
	questions      []field.Question
}{
	{"install", "Fiber install checklist", []field.Question{
		q("ont_serial", "ONT serial number", field.QuestionText, true),
		q("rx_power_dbm", "Optical power at the ONT (dBm)", field.QuestionNumber, true),
		q("drop_route", "Drop cable route", field.QuestionChoice, true, "aerial", "underground", "façade", "through the wall"),
		q("checks", "Checks done", field.QuestionCheckbox, false, "speed test", "Wi-Fi set up", "customer shown the router"),
		q("wallbox_photo", "Photo of the wall box", field.QuestionPhoto, true),
		q("ont_location", "Where the ONT is", field.QuestionGPS, false),
		q("customer_signature", "Customer signature", field.QuestionSignature, false),
	}},
	{"repair", "Repair report", []field.Question{
		q("fault", "Fault found", field.QuestionChoice, true, "fiber break", "dirty connector", "bent drop", "ONT failure", "customer equipment", "none found"),
		q("rx_power_dbm", "Optical power after repair (dBm)", field.QuestionNumber, true),
		q("fixed", "Service restored", field.QuestionCheckbox, true),
		q("notes", "What was done", field.QuestionText, false),
		q("photo", "Photo of the repair", field.QuestionPhoto, false),
	}},
	{"survey", "Wireless site survey", []field.Question{
		q("los_to_tower", "Clear line of sight to the tower", field.QuestionCheckbox, true),
		q("roof", "Roof type", field.QuestionChoice, true, "shingle", "metal", "flat", "tile"),
		q("mount_height_m", "Mount height (m)", field.QuestionNumber, true),
		q("mount_point", "Mount position", field.QuestionGPS, true),
		q("view_photo", "Photo towards the tower", field.QuestionPhoto, true),
		q("notes", "Obstacles and remarks", field.QuestionText, false),
	}},
	{"maintenance", "Maintenance visit", []field.Question{
		q("cabinet_clean", "Cabinet clean and closed", field.QuestionCheckbox, true),
		q("issues", "Issues found", field.QuestionText, false),
		q("photo", "Photo after the visit", field.QuestionPhoto, false),
	}},
}

func seedSurveys(ctx context.Context, d *Demo) error {
	tx := d.Tx
	admin := d.People["admin@example.com"]
	for _, t := range demoTemplates {
		qs, _ := json.Marshal(t.questions)
		if _, err := tx.Exec(ctx, `INSERT INTO survey_templates (name, work_type, questions, created_by) VALUES ($1, $2, $3, $4)`,
			t.name, t.workType, qs, admin); err != nil {
			return err
		}
	}
	// A wireless survey of a sector north-east of Bozeman: a tower on the Bridger foothills, an
	// access point on the grain elevator, and three subscribers.
	var sv string
	if err := tx.QueryRow(ctx, `INSERT INTO wireless_site_surveys (name, description, status, frequency_mhz, rx_sensitivity_dbm, created_by)
		VALUES ('Bridger sector, north-east Bozeman', 'Coverage of the Story Mill and Bridger Canyon Rd subscribers from the foothills tower',
		'in_progress', 5800, -78, $1) RETURNING id`, admin).Scan(&sv); err != nil {
		return err
	}
	type pt struct {
		name, typ             string
		lat, lon, ground, ant float64
		gain, tx              float64
	}
	pts := []pt{
		{"Foothills tower", "tower", 45.7032, -111.0085, 1530, 30, 19, 24},
		{"Story Mill CPE", "cpe", 45.6893, -111.0281, 1462, 6, 23, 20},
		{"Bridger Canyon Rd CPE", "cpe", 45.6951, -110.9902, 1495, 5, 23, 20},
		{"Grain elevator AP", "access_point", 45.6842, -111.0365, 1458, 25, 17, 24},
		{"Rouse Ave CPE", "cpe", 45.6917, -111.0329, 1470, 4, 23, 20},
	}
	ids := make([]string, len(pts))
	for i, p := range pts {
		if err := tx.QueryRow(ctx, `INSERT INTO survey_points (survey_id, name, point_type, lat, lon, ground_elevation_m, elevation_source,
			antenna_height_m, antenna_gain_dbi, tx_power_dbm, sort_order) VALUES ($1, $2, $3, $4, $5, $6, 'manual', $7, $8, $9, $10) RETURNING id`,
			sv, p.name, p.typ, p.lat, p.lon, p.ground, p.ant, p.gain, p.tx, i).Scan(&ids[i]); err != nil {
			return err
		}
	}
	// Profiles are given as (share of the path, ground elevation) and scaled to the path's length.
	paths := []struct {
		from, to int
		profile  [][2]float64
	}{
		// Open ground falling to the valley floor: clear.
		{0, 1, [][2]float64{{0, 1530}, {0.25, 1515}, {0.5, 1500}, {0.75, 1480}, {1, 1462}}},
		// A ridge two thirds of the way rises into the path: obstructed.
		{0, 2, [][2]float64{{0, 1530}, {0.3, 1545}, {0.65, 1562}, {0.85, 1520}, {1, 1495}}},
		// Over the rail yard, trees near the middle: part of the Fresnel zone is blocked.
		{3, 4, [][2]float64{{0, 1458}, {0.25, 1462}, {0.45, 1477.5}, {0.7, 1468}, {1, 1470}}},
	}
	for _, p := range paths {
		a, b := pts[p.from], pts[p.to]
		dist := survey.Distance(a.lat, a.lon, b.lat, b.lon)
		var prof []survey.ProfileSample
		for _, s := range p.profile {
			prof = append(prof, survey.ProfileSample{DistanceM: s[0] * dist, ElevationM: s[1]})
		}
		if _, err := survey.AnalyzePathTx(ctx, tx, sv, survey.PathRequest{FromPointID: ids[p.from], ToPointID: ids[p.to], Profile: prof}); err != nil {
			return err
		}
	}
	d.Values["site_survey"] = sv
	return nil
}
