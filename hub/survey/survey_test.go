package survey_test

import (
	"context"
	"encoding/json"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
	"dotmac.dev/field/hub/survey"
	"dotmac.dev/field/sync/field"
)

func ptr[T any](v T) *T { return &v }

type bundle struct {
	t    *testing.T
	ctx  context.Context
	db   *postgres.DB
	svc  *survey.Service
	tech string
}

func setup(t *testing.T) *bundle {
	db := postgrestest.NewDB(t)
	b := &bundle{t: t, ctx: context.Background(), db: db, svc: survey.NewService(db)}
	b.tech = b.person("tech")
	return b
}

func (b *bundle) person(name string) string {
	id := postgres.NewID()
	if _, err := b.db.Pool.Exec(b.ctx, `INSERT INTO people (id, first_name, display_name, email) VALUES ($1, $2, $2, $3)`,
		id, name, name+"-"+id[:8]+"@example.com"); err != nil {
		b.t.Fatal(err)
	}
	return id
}

func (b *bundle) workOrder(workType, tech string) string {
	id := postgres.NewID()
	if _, err := b.db.Pool.Exec(b.ctx, `INSERT INTO work_orders (id, number, title, status, assigned_to, work_type)
		VALUES ($1, $2, 'Job', 'in_progress', $3, $4)`, id, "WO-"+id[len(id)-8:], tech, workType); err != nil {
		b.t.Fatal(err)
	}
	return id
}

func code(err error) string { return hub.ErrorCode(err) }

var installQuestions = []field.Question{
	{ID: "ont_serial", Label: "ONT serial", Type: field.QuestionText, Required: true},
	{ID: "rx_power", Label: "Optical power", Type: field.QuestionNumber, Required: true},
	{ID: "route", Label: "Route", Type: field.QuestionChoice, Options: []string{"aerial", "underground"}},
	{ID: "checks", Label: "Checks", Type: field.QuestionCheckbox, Options: []string{"speed test", "wifi"}},
	{ID: "where", Label: "ONT position", Type: field.QuestionGPS},
	{ID: "photo", Label: "Photo", Type: field.QuestionPhoto},
	{ID: "sig", Label: "Signature", Type: field.QuestionSignature},
}

func answers(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

func TestTemplates_Validation(t *testing.T) {
	b := setup(t)
	for name, in := range map[string]survey.TemplateInput{
		"no name":        {Questions: installQuestions},
		"no questions":   {Name: "x"},
		"bad work type":  {Name: "x", WorkType: ptr("party"), Questions: installQuestions},
		"bad type":       {Name: "x", Questions: []field.Question{{ID: "a", Label: "A", Type: "essay"}}},
		"duplicate id":   {Name: "x", Questions: []field.Question{{ID: "a", Label: "A", Type: "text"}, {ID: "a", Label: "B", Type: "text"}}},
		"bad id":         {Name: "x", Questions: []field.Question{{ID: "A b", Label: "A", Type: "text"}}},
		"choice no opts": {Name: "x", Questions: []field.Question{{ID: "a", Label: "A", Type: "choice"}}},
		"text with opts": {Name: "x", Questions: []field.Question{{ID: "a", Label: "A", Type: "text", Options: []string{"x"}}}},
	} {
		if _, err := b.svc.CreateTemplate(b.ctx, "", in); code(err) != hub.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := b.svc.CreateTemplate(b.ctx, "", survey.TemplateInput{Name: "Install", WorkType: ptr("install"), Questions: installQuestions})
	if err != nil {
		t.Fatal(err)
	}
	// One active template per work type.
	_, err = b.svc.CreateTemplate(b.ctx, "", survey.TemplateInput{Name: "Install 2", WorkType: ptr("install"), Questions: installQuestions})
	if code(err) != hub.ECONFLICT {
		t.Fatalf("second install template: %v", err)
	}
	_, err = b.svc.CreateTemplate(b.ctx, "", survey.TemplateInput{Name: "Install draft", WorkType: ptr("install"), Questions: installQuestions,
		IsActive: ptr(false)})
	if err != nil {
		t.Fatalf("inactive second template: %v", err)
	}
}

func TestSubmitSurvey(t *testing.T) {
	b := setup(t)
	tpl, err := b.svc.CreateTemplate(b.ctx, "", survey.TemplateInput{Name: "Install", WorkType: ptr("install"), Questions: installQuestions})
	if err != nil {
		t.Fatal(err)
	}
	wo := b.workOrder("install", b.tech)
	sv, err := b.svc.FieldSurvey(b.ctx, b.tech, wo)
	if err != nil || sv == nil || sv.TemplateID != tpl.ID || len(sv.Questions) != len(installQuestions) || len(sv.Answers) != 0 {
		t.Fatalf("survey of the job: %+v %v", sv, err)
	}
	// A job whose work type has no template has no survey; submitting to it is 404.
	other := b.workOrder("disconnect", b.tech)
	if sv, err := b.svc.JobSurvey(b.ctx, other); err != nil || sv != nil {
		t.Fatalf("no template: %+v %v", sv, err)
	}
	if _, err := b.svc.SubmitSurvey(b.ctx, b.tech, "", other, field.SurveyRequest{ClientRef: postgres.NewID(),
		Answers: answers("x", `"y"`)}); code(err) != hub.ENOTFOUND {
		t.Fatalf("submit without template: %v", err)
	}

	for name, a := range map[string]map[string]json.RawMessage{
		"required missing": answers("ont_serial", `"ZTEG1"`),
		"number as text":   answers("ont_serial", `"ZTEG1"`, "rx_power", `"strong"`),
		"not an option":    answers("ont_serial", `"ZTEG1"`, "rx_power", `-19.5`, "route", `"by drone"`),
		"checkbox option":  answers("ont_serial", `"ZTEG1"`, "rx_power", `-19.5`, "checks", `["juggling"]`),
		"gps out of range": answers("ont_serial", `"ZTEG1"`, "rx_power", `-19.5`, "where", `{"lat":91,"lon":0}`),
		"unknown question": answers("ont_serial", `"ZTEG1"`, "rx_power", `-19.5`, "color", `"red"`),
		"blank required":   answers("ont_serial", `""`, "rx_power", `-19.5`),
	} {
		_, err := b.svc.SubmitSurvey(b.ctx, b.tech, "", wo, field.SurveyRequest{ClientRef: postgres.NewID(), Answers: a})
		if code(err) != hub.EUNPROCESSABLE {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := b.svc.SubmitSurvey(b.ctx, b.tech, "", wo, field.SurveyRequest{ClientRef: "nope", Answers: answers("a", `1`)}); code(err) != hub.EINVALID {
		t.Fatalf("bad client_ref: %v", err)
	}

	good := field.SurveyRequest{ClientRef: postgres.NewID(), Answers: answers("ont_serial", `"ZTEG1"`, "rx_power", `-19.5`,
		"route", `"aerial"`, "checks", `["wifi"]`, "where", `{"lat":45.68,"lon":-111.04}`, "photo", `"`+postgres.NewID()+`"`)}
	sv, err = b.svc.SubmitSurvey(b.ctx, b.tech, "", wo, good)
	if err != nil {
		t.Fatal(err)
	}
	if string(sv.Answers["rx_power"]) != "-19.5" || len(sv.Answers) != 6 {
		t.Fatalf("answers %v", sv.Answers)
	}
	// Replays change nothing, even after newer answers.
	newer := field.SurveyRequest{ClientRef: postgres.NewID(), Answers: answers("ont_serial", `"ZTEG2"`, "rx_power", `-21`)}
	if _, err := b.svc.SubmitSurvey(b.ctx, b.tech, "", wo, newer); err != nil {
		t.Fatal(err)
	}
	sv, err = b.svc.SubmitSurvey(b.ctx, b.tech, "", wo, good)
	if err != nil || string(sv.Answers["ont_serial"]) != `"ZTEG2"` {
		t.Fatalf("replay: %v %v", sv, err)
	}
	var subs int
	b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM survey_submissions WHERE work_order_id = $1`, wo).Scan(&subs)
	if subs != 2 {
		t.Fatalf("submissions %d", subs)
	}
	// Scope: another technician gets 404 for reading and writing.
	stranger := b.person("stranger")
	if _, err := b.svc.FieldSurvey(b.ctx, stranger, wo); code(err) != hub.ENOTFOUND {
		t.Fatalf("stranger reads: %v", err)
	}
	if _, err := b.svc.SubmitSurvey(b.ctx, stranger, "", wo, newer); code(err) != hub.ENOTFOUND {
		t.Fatalf("stranger writes: %v", err)
	}
	// The row version grows with each change.
	var version int64
	b.db.Pool.QueryRow(b.ctx, `SELECT version FROM survey_responses WHERE work_order_id = $1`, wo).Scan(&version)
	if version != 2 {
		t.Fatalf("response version %d", version)
	}
}

func TestFiberTests(t *testing.T) {
	b := setup(t)
	wo := b.workOrder("install", b.tech)
	rec := func(r survey.FiberTestRequest) (*survey.FiberTest, error) {
		if r.ClientRef == "" {
			r.ClientRef = postgres.NewID()
		}
		return b.svc.RecordFiberTest(b.ctx, b.tech, "", r)
	}
	// 2.4 km at 1310 nm with 3 splices and 2 connectors: 0.84 + 0.3 + 1.0 = 2.14 dB.
	ft, err := rec(survey.FiberTestRequest{WorkOrderID: wo, TestType: "otdr", WavelengthNM: ptr(1310), ValueDB: ptr(1.9),
		LengthKm: ptr(2.4), Splices: ptr(3), Connectors: ptr(2), Instrument: "EXFO MaxTester"})
	if err != nil {
		t.Fatal(err)
	}
	if ft.BudgetDB == nil || *ft.BudgetDB != 2.14 || ft.BudgetSource != "computed" || ft.Passed == nil || !*ft.Passed || ft.Unit != "dB" {
		t.Fatalf("otdr %+v", ft)
	}
	ft, err = rec(survey.FiberTestRequest{WorkOrderID: wo, TestType: "insertion_loss", ValueDB: ptr(3.1), BudgetDB: ptr(2.5)})
	if err != nil || *ft.Passed || ft.BudgetSource != "given" {
		t.Fatalf("over budget: %+v %v", ft, err)
	}
	ft, err = rec(survey.FiberTestRequest{WorkOrderID: wo, TestType: "optical_power", ValueDB: ptr(-31.0)})
	if err != nil || *ft.Passed || ft.Unit != "dBm" {
		t.Fatalf("weak power: %+v %v", ft, err)
	}
	ft, err = rec(survey.FiberTestRequest{AssetType: "segment", AssetID: postgres.NewID(), TestType: "continuity", Passed: ptr(true)})
	if err != nil || !*ft.Passed {
		t.Fatalf("continuity on an asset: %+v %v", ft, err)
	}
	// Idempotent.
	ref := postgres.NewID()
	first, err := rec(survey.FiberTestRequest{ClientRef: ref, WorkOrderID: wo, TestType: "reflectance", ValueDB: ptr(-45.0)})
	if err != nil || first.Replayed {
		t.Fatal(err)
	}
	again, err := rec(survey.FiberTestRequest{ClientRef: ref, WorkOrderID: wo, TestType: "reflectance", ValueDB: ptr(-45.0)})
	if err != nil || !again.Replayed || again.ID != first.ID {
		t.Fatalf("replay: %+v %v", again, err)
	}
	list, err := b.svc.FindFiberTests(b.ctx, wo, "")
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	for name, r := range map[string]survey.FiberTestRequest{
		"no parent":     {TestType: "otdr", ValueDB: ptr(1.0)},
		"bad type":      {WorkOrderID: wo, TestType: "vibes", ValueDB: ptr(1.0)},
		"no value":      {WorkOrderID: wo, TestType: "otdr"},
		"bad length":    {WorkOrderID: wo, TestType: "otdr", ValueDB: ptr(1.0), LengthKm: ptr(-1.0)},
		"bad unit":      {WorkOrderID: wo, TestType: "otdr", ValueDB: ptr(1.0), Unit: "W"},
		"asset no type": {AssetID: postgres.NewID(), TestType: "otdr", ValueDB: ptr(1.0)},
		"wavelength":    {WorkOrderID: wo, TestType: "otdr", ValueDB: ptr(1.0), WavelengthNM: ptr(20)},
	} {
		if _, err := rec(r); code(err) != hub.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := b.svc.RecordFiberTest(b.ctx, b.person("x"), "", survey.FiberTestRequest{ClientRef: postgres.NewID(), WorkOrderID: wo,
		TestType: "otdr", ValueDB: ptr(1.0)}); code(err) != hub.ENOTFOUND {
		t.Fatalf("out of scope: %v", err)
	}
}

func TestLossBudget(t *testing.T) {
	for _, tc := range []struct {
		km             float64
		splices, conns int
		wl             int
		want           float64
	}{
		{0, 0, 2, 1310, 1.0}, {10, 4, 2, 1310, 4.9}, {10, 4, 2, 1550, 3.9}, {20, 10, 4, 1490, 9.0}, {0.5, 0, 2, 850, 2.5},
	} {
		if got := survey.LossBudget(tc.km, tc.splices, tc.conns, tc.wl); got != tc.want {
			t.Errorf("LossBudget(%v, %d, %d, %d) = %v, want %v", tc.km, tc.splices, tc.conns, tc.wl, got, tc.want)
		}
	}
}

func TestSiteSurvey(t *testing.T) {
	b := setup(t)
	sv, err := b.svc.CreateSurvey(b.ctx, "", survey.SurveyInput{Name: ptr("Sector A"), FrequencyMHz: ptr(5000.0)})
	if err != nil || sv.Status != "draft" {
		t.Fatalf("create: %+v %v", sv, err)
	}
	if _, err := b.svc.CreateSurvey(b.ctx, "", survey.SurveyInput{Name: ptr(" "), FrequencyMHz: ptr(-1.0)}); code(err) != hub.EINVALID {
		t.Fatalf("bad survey: %v", err)
	}
	a, err := b.svc.AddPoint(b.ctx, sv.ID, survey.PointInput{Name: "Tower", PointType: "tower", Lat: ptr(45.6770), Lon: ptr(-111.0429),
		GroundElevationM: ptr(1500.0), AntennaHeightM: ptr(10.0), AntennaGainDBi: ptr(23.0), TxPowerDBm: ptr(20.0)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.svc.AddPoint(b.ctx, sv.ID, survey.PointInput{Name: "CPE", PointType: "cpe", Lat: ptr(45.6770 + 10000/111319.49), Lon: ptr(-111.0429),
		GroundElevationM: ptr(1500.0), AntennaHeightM: ptr(10.0), AntennaGainDBi: ptr(23.0)})
	if err != nil {
		t.Fatal(err)
	}
	if c.TxPowerDBm != 20 {
		t.Fatalf("default tx power: %v", c.TxPowerDBm)
	}
	for name, in := range map[string]survey.PointInput{
		"bad type": {Name: "x", PointType: "satellite", Lat: ptr(1.0), Lon: ptr(1.0)},
		"bad lat":  {Name: "x", PointType: "cpe", Lat: ptr(95.0), Lon: ptr(1.0)},
		"no lon":   {Name: "x", PointType: "cpe", Lat: ptr(1.0)},
	} {
		if _, err := b.svc.AddPoint(b.ctx, sv.ID, in); code(err) != hub.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	p, err := b.svc.AnalyzePath(b.ctx, sv.ID, survey.PathRequest{FromPointID: a.ID, ToPointID: c.ID,
		Profile: []survey.ProfileSample{{2500, 1500}, {5000, 1510}, {7500, 1500}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasClearLOS || p.MaxObstructionM < 1.4 || p.MaxObstructionM > 1.5 || p.FreeSpaceLossDB != 126.43 {
		t.Fatalf("path %+v", p)
	}
	// Re-analysing the pair replaces the path and bumps its version.
	p2, err := b.svc.AnalyzePath(b.ctx, sv.ID, survey.PathRequest{FromPointID: a.ID, ToPointID: c.ID})
	if err != nil || p2.ID != p.ID || !p2.HasClearLOS || p2.Version != 2 {
		t.Fatalf("reanalysed %+v %v", p2, err)
	}
	for name, in := range map[string]survey.PathRequest{
		"same point":     {FromPointID: a.ID, ToPointID: a.ID},
		"unknown point":  {FromPointID: a.ID, ToPointID: postgres.NewID()},
		"sample outside": {FromPointID: a.ID, ToPointID: c.ID, Profile: []survey.ProfileSample{{50000, 1}}},
	} {
		if _, err := b.svc.AnalyzePath(b.ctx, sv.ID, in); code(err) != hub.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	sv, err = b.svc.FindSurveyByID(b.ctx, sv.ID)
	if err != nil || len(sv.Points) != 2 || len(sv.Paths) != 1 || sv.Bounds == nil {
		t.Fatalf("survey %+v %v", sv, err)
	}
	if gj := sv.GeoJSON(); len(gj["features"].([]any)) != 3 {
		t.Fatalf("geojson %v", gj)
	}
	// Status flow.
	if _, err := b.svc.UpdateSurvey(b.ctx, sv.ID, survey.SurveyInput{Status: ptr("completed")}); code(err) != hub.ECONFLICT {
		t.Fatalf("draft → completed: %v", err)
	}
	for _, st := range []string{"in_progress", "completed", "archived"} {
		if _, err := b.svc.UpdateSurvey(b.ctx, sv.ID, survey.SurveyInput{Status: ptr(st)}); err != nil {
			t.Fatalf("→ %s: %v", st, err)
		}
	}
	if err := b.svc.DeletePoint(b.ctx, sv.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	sv, _ = b.svc.FindSurveyByID(b.ctx, sv.ID)
	if len(sv.Paths) != 0 {
		t.Fatal("path of a deleted point remains")
	}
}

func TestAPI(t *testing.T) {
	env := hubtest.New(t, hubtest.Options{Demo: true})
	ctx := context.Background()
	admin := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	disp := env.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
	tech := env.Token(hubtest.Tech1Email, hubtest.TechPassword)
	var tech1 string
	env.DB.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'tech1@example.com'`).Scan(&tech1)
	wo := postgres.NewID()
	if _, err := env.DB.Pool.Exec(ctx, `INSERT INTO work_orders (id, number, title, status, assigned_to, work_type)
		VALUES ($1, 'WO-T00002', 'Survey', 'dispatched', $2, 'survey')`, wo, tech1); err != nil {
		t.Fatal(err)
	}
	// The demo template of survey work orders is the form of this job.
	r := env.Do("GET", "/api/v1/field/jobs/"+wo+"/survey", tech, nil)
	var got struct {
		Survey *field.Survey `json:"survey"`
	}
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.Survey == nil || got.Survey.Name != "Wireless site survey" {
		t.Fatalf("job survey: %d %s", r.Status, r.Body)
	}
	ref := postgres.NewID()
	body := map[string]any{"client_ref": ref, "answers": map[string]any{"los_to_tower": true, "roof": "metal", "mount_height_m": 6.5,
		"mount_point": map[string]float64{"lat": 45.69, "lon": -111.03}, "view_photo": postgres.NewID()}}
	for range 2 {
		if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/survey", tech, body); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"metal"`) {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
	}
	bad := map[string]any{"client_ref": postgres.NewID(), "answers": map[string]any{"roof": "straw"}}
	if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/survey", tech, bad); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != hub.EINVALID {
		t.Fatalf("bad answers: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/survey", tech, `{"client_ref":1}`); r.Status != http.StatusBadRequest {
		t.Fatalf("malformed: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/survey", disp, body); r.Status != http.StatusForbidden {
		t.Fatalf("dispatcher submits: %d", r.Status)
	}
	r = env.Do("GET", "/api/v1/field/jobs/"+wo, tech, nil)
	var job struct {
		Survey *field.Survey `json:"survey"`
	}
	r.JSON(t, &job)
	if r.Status != http.StatusOK || job.Survey == nil || string(job.Survey.Answers["roof"]) != `"metal"` {
		t.Fatalf("job detail survey: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/work-orders/"+wo+"/survey", disp, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"metal"`) {
		t.Fatalf("office view: %d %s", r.Status, r.Body)
	}
	// Fiber tests.
	ft := map[string]any{"client_ref": postgres.NewID(), "work_order_id": wo, "test_type": "otdr", "value_db": 1.2, "wavelength_nm": 1550,
		"length_km": 3, "splices": 2, "connectors": 2}
	if r := env.Do("POST", "/api/v1/field/fiber/tests", tech, ft); r.Status != http.StatusCreated || r.Map(t)["passed"] != true {
		t.Fatalf("fiber test: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/field/fiber/tests", tech, ft); r.Status != http.StatusOK {
		t.Fatalf("fiber test replay: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/field/fiber/tests", tech, map[string]any{"test_type": "otdr"}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad fiber test: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/work-orders/"+wo+"/fiber-tests", disp, nil); r.Status != http.StatusOK || r.Map(t)["total"].(float64) != 1 {
		t.Fatalf("fiber tests of a work order: %d %s", r.Status, r.Body)
	}
	// Site surveys over HTTP.
	r = env.Do("POST", "/api/v1/site-surveys", admin, map[string]any{"name": "Gallatin Gateway", "frequency_mhz": 5800})
	if r.Status != http.StatusCreated {
		t.Fatalf("create survey: %d %s", r.Status, r.Body)
	}
	sid := r.Map(t)["id"].(string)
	if r := env.Do("POST", "/api/v1/site-surveys", disp, map[string]any{"name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("dispatcher creates a survey: %d", r.Status)
	}
	pa := env.Do("POST", "/api/v1/site-surveys/"+sid+"/points", admin, map[string]any{"name": "Tower", "point_type": "tower", "lat": 45.60, "lon": -111.20, "antenna_height_m": 30, "antenna_gain_dbi": 19})
	pb := env.Do("POST", "/api/v1/site-surveys/"+sid+"/points", admin, map[string]any{"name": "CPE", "point_type": "cpe", "lat": 45.61, "lon": -111.19, "antenna_gain_dbi": 23})
	if pa.Status != http.StatusCreated || pb.Status != http.StatusCreated {
		t.Fatalf("points: %s %s", pa.Body, pb.Body)
	}
	if r := env.Do("POST", "/api/v1/site-surveys/"+sid+"/points", admin, map[string]any{"name": "X", "point_type": "cpe", "lat": 200, "lon": 0}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad point: %d", r.Status)
	}
	r = env.Do("POST", "/api/v1/site-surveys/"+sid+"/los", admin, map[string]any{"from_point_id": pa.Map(t)["id"], "to_point_id": pb.Map(t)["id"],
		"profile": []map[string]float64{{"distance_m": 600, "elevation_m": 5}}})
	if r.Status != http.StatusOK || r.Map(t)["has_clear_los"] != true {
		t.Fatalf("los: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/site-surveys/"+sid+"/los", admin, map[string]any{"from_point_id": "x"}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad los: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/site-surveys/"+sid+"/geojson", disp, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "FeatureCollection") {
		t.Fatalf("geojson: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/site-surveys/nope", disp, nil); r.Status != http.StatusNotFound {
		t.Fatalf("bad id: %d", r.Status)
	}
	// Templates over HTTP.
	r = env.Do("POST", "/api/v1/survey-templates", admin, map[string]any{"name": "Disconnect", "work_type": "disconnect",
		"questions": []map[string]any{{"id": "ont_returned", "label": "ONT returned", "type": "checkbox", "required": true}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("template: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/survey-templates", admin, map[string]any{"name": "Install again", "work_type": "install",
		"questions": []map[string]any{{"id": "a", "label": "A", "type": "text"}}}); r.Status != http.StatusConflict {
		t.Fatalf("second install template: %d %s", r.Status, r.Body)
	}

	// Every survey route is guarded by a known permission.
	known := map[string]bool{}
	for _, p := range hub.Permissions {
		known[p] = true
	}
	for _, line := range env.App.Server.RouteTable() {
		f := strings.Fields(line)
		if len(f) < 3 || !(strings.Contains(f[1], "survey") || strings.Contains(f[1], "fiber-tests") || strings.Contains(f[1], "/fiber/tests")) {
			continue
		}
		if !known[f[2]] {
			t.Errorf("route %s %s: access %q is not a known permission", f[0], f[1], f[2])
		}
	}

	// Admin pages.
	var demoSurvey string
	env.DB.Pool.QueryRow(ctx, `SELECT id FROM wireless_site_surveys WHERE name LIKE 'Bridger%'`).Scan(&demoSurvey)
	var tplID string
	env.DB.Pool.QueryRow(ctx, `SELECT id FROM survey_templates WHERE work_type = 'install'`).Scan(&tplID)
	b := adminBrowser(t, env)
	for _, p := range []string{"/admin/network/surveys", "/admin/network/surveys/" + demoSurvey, "/admin/network/survey-forms",
		"/admin/network/survey-forms/new", "/admin/network/survey-forms/" + tplID} {
		res := env.Send(b, mustReq(t, "GET", env.URL+p))
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", p, res.Status, res.Body)
		}
	}
}

func mustReq(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return req
}

func adminBrowser(t *testing.T, env *hubtest.Env) *http.Client {
	b := env.Browser()
	env.Send(b, mustReq(t, "GET", env.URL+"/auth/login"))
	u, _ := neturl.Parse(env.URL)
	var csrf string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "dmf_login_csrf" {
			csrf = c.Value
		}
	}
	form := neturl.Values{"email": {hubtest.AdminEmail}, "password": {hubtest.AdminPassword}, "csrf_token": {csrf}, "next": {"/admin"}}
	req, _ := http.NewRequest("POST", env.URL+"/auth/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := env.Send(b, req); res.Status != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d %s", res.Status, res.Body)
	}
	return b
}
