package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/edge-agent/web"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
)

const tech = "0195f000-0000-7000-8000-000000000001"

// hubAuth is the hub's password check: online with one password, or unreachable.
type hubAuth struct{ offline bool }

func (h *hubAuth) Login(_ context.Context, email, password string) (agent.Me, error) {
	if h.offline {
		return agent.Me{}, agent.ErrHubUnreachable
	}
	if email != "tech1@example.com" || password != "tech123!" {
		return agent.Me{}, agent.Errorf(agent.EUNAUTHORIZED, "wrong email or password")
	}
	return agent.Me{ID: tech, Email: email, DisplayName: "Tech One", Roles: []string{"technician"}}, nil
}

type bundle struct {
	t     *testing.T
	db    *sqlite.DB
	hub   *hubAuth
	srv   *httptest.Server
	token string
	job   string
}

func setup(t *testing.T) *bundle {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "r.db"), filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	db.DeviceID, db.TechnicianID = uuid.NewString(), tech
	t.Cleanup(func() { db.Close() })
	b := &bundle{t: t, db: db, hub: &hubAuth{}}
	s := &web.Server{DB: db, TechnicianID: tech, Hub: b.hub}
	b.srv = httptest.NewServer(s.Handler())
	t.Cleanup(b.srv.Close)
	b.job = uuid.NewString()
	mat := uuid.NewString()
	b.apply(
		ch("work_order", b.job, map[string]any{"number": "WO-000001", "title": "Install", "status": "in_progress", "priority": "high",
			"work_type": "install", "assigned_to": tech, "customer_id": "c1", "site_address": "1 Main St", "site_lat": 45.68, "site_lon": -111.04,
			"scheduled_start": "2026-11-29T09:00:00+00:00", "survey_template_id": "t1", "tags": []string{"ftth"}}),
		ch("customer", "c1", map[string]any{"name": "Ada", "phone": "1", "email": "a@example.com", "address": "1 Main St", "monthly_rate": 99}),
		ch("work_order_material", mat, map[string]any{"work_order_id": b.job, "item_id": "i", "sku": "ONT", "name": "ONT", "unit": "pcs", "quantity": 1, "status": "reserved"}),
		ch("survey_template", "t1", map[string]any{"name": "Site check", "questions": []map[string]any{
			{"id": "q1", "label": "Pole height", "type": "number", "required": true}, {"id": "q2", "label": "Notes", "type": "text"}}}),
		ch("fiber_feature", "f1", map[string]any{"kind": "segment", "name": "Seg 1", "status": "active",
			"geometry": map[string]any{"type": "LineString", "coordinates": [][]float64{{-111.05, 45.67}, {-111.03, 45.69}}}}),
		ch("fiber_feature", "f2", map[string]any{"kind": "pole", "name": "Far pole", "geometry": map[string]any{"type": "Point", "coordinates": []float64{10, 10}}}),
		ch("fiber_splice_closure", "f3", map[string]any{"name": "SC-1"}),
		ch("fiber_splice_tray", "tr1", map[string]any{"closure_id": "f3", "number": 1}),
		ch("fiber_splice", "sp1", map[string]any{"tray_id": "tr1", "in_strand": map[string]any{"cable": "A", "number": 1, "color": "blue"},
			"out_strand": map[string]any{"cable": "B", "number": 1, "color": "blue"}}),
	)
	return b
}

var seq change.Cursor

func ch(entity, id string, data map[string]any) change.Change {
	data["id"] = id
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.NewString(), Family: "f", Entity: entity, EntityID: id, Op: change.OpUpsert, Version: 1,
		HLC: hlc.Timestamp{Wall: time.Now().UnixMilli(), Node: "hub"}, Data: raw, SchemaVersion: 1}
}

func (b *bundle) apply(cs ...change.Change) {
	seq++
	if err := b.db.Apply(context.Background(), "down", change.Batch{ID: change.BatchID(cs), Seq: seq, Changes: cs}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) req(method, path string, body io.Reader, ct string) (int, []byte) {
	b.t.Helper()
	r, _ := http.NewRequest(method, b.srv.URL+path, body)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

func (b *bundle) json(method, path string, in any, want int) map[string]any {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	code, raw := b.req(method, path, body, "application/json")
	if code != want {
		b.t.Fatalf("%s %s: %d %s (want %d)", method, path, code, raw, want)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func (b *bundle) login() {
	out := b.json("POST", "/api/v1/auth/login", map[string]string{"email": "tech1@example.com", "password": "tech123!"}, 200)
	b.token = out["access_token"].(string)
}

func TestAPI_AuthAndErrors(t *testing.T) {
	b := setup(t)
	e := b.json("GET", "/api/v1/field/jobs", nil, 401)
	if e["error"].(map[string]any)["code"] != "unauthorized" {
		t.Fatalf("error shape %v", e)
	}
	b.json("POST", "/api/v1/auth/login", map[string]string{"email": "tech1@example.com", "password": "nope"}, 401)
	b.login()
	me := b.json("GET", "/api/v1/auth/me", nil, 200)
	if me["id"] != tech || me["display_name"] != "Tech One" {
		t.Fatalf("me %v", me)
	}
	// Offline: the cached hash.
	b.hub.offline = true
	b.token = ""
	b.login()
	b.json("POST", "/api/v1/auth/login", map[string]string{"email": "tech1@example.com", "password": "nope"}, 401)
	ref := b.json("POST", "/api/v1/auth/login", map[string]string{"email": "tech1@example.com", "password": "tech123!"}, 200)["refresh_token"]
	b.json("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": ref}, 200)
	b.json("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": ref}, 401)
	b.json("GET", "/api/v1/nope", nil, 404)
}

func TestAPI_JobsShapes(t *testing.T) {
	b := setup(t)
	b.login()
	list := b.json("GET", "/api/v1/field/jobs?from=2026-11-29&to=2026-11-30", nil, 200)
	items := list["items"].([]any)
	if list["total"].(float64) != 1 || len(items) != 1 {
		t.Fatalf("list %v", list)
	}
	item := items[0].(map[string]any)
	for _, k := range []string{"notes", "materials", "attachments", "events", "survey"} {
		if _, ok := item[k]; ok {
			t.Errorf("list item has %s", k)
		}
	}
	if item["is_primary"] != true || item["customer"].(map[string]any)["name"] != "Ada" {
		t.Fatalf("item %v", item)
	}
	if _, ok := item["customer"].(map[string]any)["monthly_rate"]; ok {
		t.Fatal("a rate leaked")
	}
	if got := b.json("GET", "/api/v1/field/jobs?from=2026-12-01", nil, 200); got["total"].(float64) != 0 {
		t.Fatalf("from filter %v", got)
	}
	j := b.json("GET", "/api/v1/field/jobs/"+b.job, nil, 200)
	for _, k := range []string{"notes", "materials", "attachments", "events", "survey", "allowed_events", "crew", "site", "tags"} {
		if _, ok := j[k]; !ok {
			t.Errorf("job has no %s", k)
		}
	}
	if fmt.Sprint(j["allowed_events"]) != "[pause hold complete unable_to_complete]" {
		t.Fatalf("allowed %v", j["allowed_events"])
	}
	b.json("GET", "/api/v1/field/jobs/"+uuid.NewString(), nil, 404)

	// The state machine through HTTP: 422 for the gate, 409 for the status, 200 and replay.
	cid := uuid.NewString()
	e := b.json("POST", "/api/v1/field/jobs/"+b.job+"/transition", map[string]any{"event": "complete", "client_event_id": cid}, 422)
	if f := e["error"].(map[string]any)["fields"].(map[string]any); f["photo"] == nil || f["signature"] == nil {
		t.Fatalf("gate fields %v", e)
	}
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/transition", map[string]any{"event": "accept", "client_event_id": cid}, 409)
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/transition", map[string]any{"event": "nope", "client_event_id": cid}, 422)
	r1 := b.json("POST", "/api/v1/field/jobs/"+b.job+"/transition", map[string]any{"event": "pause", "client_event_id": cid}, 200)
	r2 := b.json("POST", "/api/v1/field/jobs/"+b.job+"/transition", map[string]any{"event": "pause", "client_event_id": cid}, 200)
	if r1["job"].(map[string]any)["status"] != "paused" || r2["event"].(map[string]any)["replayed"] != true {
		t.Fatalf("transition %v / %v", r1["event"], r2["event"])
	}

	nref := uuid.NewString()
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/notes", map[string]any{"client_ref": nref, "body": "hi"}, 201)
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/notes", map[string]any{"client_ref": nref, "body": "hi"}, 200)
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/notes", map[string]any{"client_ref": uuid.NewString(), "body": "  "}, 422)

	mats := b.json("GET", "/api/v1/field/jobs/"+b.job, nil, 200)["materials"].([]any)
	mid := mats[0].(map[string]any)["id"]
	c := b.json("POST", "/api/v1/field/jobs/"+b.job+"/materials/consume", map[string]any{"client_ref": uuid.NewString(),
		"lines": []map[string]any{{"material_id": mid, "quantity": 1}}}, 200)
	if c["materials"].([]any)[0].(map[string]any)["quantity_used"].(float64) != 1 {
		t.Fatalf("consume %v", c)
	}
	b.json("POST", "/api/v1/field/jobs/"+b.job+"/survey", map[string]any{"client_ref": uuid.NewString(), "answers": map[string]any{"q2": "x"}}, 422)
	s := b.json("POST", "/api/v1/field/jobs/"+b.job+"/survey", map[string]any{"client_ref": uuid.NewString(), "answers": map[string]any{"q1": 9.5}}, 200)
	if s["answers"].(map[string]any)["q1"].(float64) != 9.5 {
		t.Fatalf("survey %v", s)
	}
	st := b.json("GET", "/api/v1/sync/status", nil, 200)
	if st["pending_uploads"].(float64) != 4 || st["online"] != false || st["scope"].(map[string]any)["work_orders"].(float64) != 1 {
		t.Fatalf("status %v", st)
	}
}

func TestAPI_AttachmentsMapClosure(t *testing.T) {
	b := setup(t)
	b.login()
	upload := func(content []byte, ref string) (int, map[string]any) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for k, v := range map[string]string{"kind": "photo", "work_order_id": b.job, "client_ref": ref, "captured_at": "2026-11-29T10:00:00Z", "lat": "45.6", "lon": "-111"} {
			_ = w.WriteField(k, v)
		}
		fw, _ := w.CreateFormFile("file", "p.png")
		_, _ = fw.Write(content)
		w.Close()
		code, raw := b.req("POST", "/api/v1/field/attachments", &buf, w.FormDataContentType())
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return code, out
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 50)...)
	ref := uuid.NewString()
	code, att := upload(png, ref)
	if code != 201 || att["mime"] != "image/png" || att["size"].(float64) != float64(len(png)) {
		t.Fatalf("upload %d %v", code, att)
	}
	if code, again := upload(png, ref); code != 200 || again["id"] != att["id"] {
		t.Fatalf("replay %d %v", code, again)
	}
	if code, _ := upload([]byte("plain text, not a photo"), uuid.NewString()); code != 422 {
		t.Fatalf("text upload %d", code)
	}
	code, raw := b.req("GET", att["url"].(string), nil, "")
	if code != 200 || !bytes.Equal(raw, png) {
		t.Fatalf("content %d", code)
	}
	code, raw = b.req("GET", "/api/v1/field/map-assets?bbox=-111.1,45.6,-111.0,45.7", nil, "")
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil || code != 200 || fc.Type != "FeatureCollection" || len(fc.Features) != 1 || fc.Features[0].Properties["kind"] != "segment" {
		t.Fatalf("map %d %s", code, raw)
	}
	if code, _ := b.req("GET", "/api/v1/field/map-assets?bbox=1,2", nil, ""); code != 400 {
		t.Fatalf("bad bbox %d", code)
	}
	sc := b.json("GET", "/api/v1/field/splice-closures/f3", nil, 200)
	trays := sc["trays"].([]any)
	if sc["name"] != "SC-1" || len(trays) != 1 || len(trays[0].(map[string]any)["splices"].([]any)) != 1 {
		t.Fatalf("closure %v", sc)
	}
}

func TestPWA_FallbackAndHealth(t *testing.T) {
	b := setup(t)
	for _, p := range []string{"/", "/jobs/123"} {
		code, raw := b.req("GET", p, nil, "")
		if code != 200 || !strings.Contains(string(raw), "<html") {
			t.Fatalf("%s: %d", p, code)
		}
	}
	b.json("GET", "/healthz", nil, 200)
	b.json("GET", "/readyz", nil, 200)
}
