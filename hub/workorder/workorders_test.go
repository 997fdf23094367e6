package workorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/workorder"
)

func TestAssign_OptimisticLocking(t *testing.T) {
	e := setup(t)
	job := e.newWO("")
	// Two dispatchers assign the same version at once: one wins, the other gets a 409.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([]string, 2)
	for i, tech := range []string{e.tech1ID, e.tech2ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.Do("POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": tech, "version": job.Version})
			codes[i], bodies[i] = r.Status, string(r.Body)
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != 200 || codes[1] != 409 {
		t.Fatalf("codes %v: %v", codes, bodies)
	}
	for _, b := range bodies {
		if strings.Contains(b, "conflict") && !strings.Contains(b, "changed by someone else") {
			t.Fatalf("409 message: %s", b)
		}
	}
	var now wo
	e.must(200, "GET", "/api/v1/work-orders/"+job.ID, e.disp, nil, &now)
	if now.Version != job.Version+1 || now.AssignedTo == nil {
		t.Fatalf("after race: %+v", now)
	}
	// PATCH with the stale version: 409; with the current one: 200 and the version grows.
	if r := e.Do("PATCH", "/api/v1/work-orders/"+job.ID, e.disp, map[string]any{"title": "x", "version": job.Version}); r.Status != 409 || r.ErrorCode() != "conflict" {
		t.Fatalf("stale patch: %d %s", r.Status, r.Body)
	}
	var patched wo
	e.must(200, "PATCH", "/api/v1/work-orders/"+job.ID, e.disp, map[string]any{"title": "Renamed", "version": now.Version}, &patched)
	if patched.Version != now.Version+1 {
		t.Fatalf("version %d", patched.Version)
	}
	// Crew: primary plus helpers; unassign clears both.
	var crewed wo
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": e.tech1ID, "crew": []string{e.tech2ID, e.tech1ID}}, &crewed)
	if len(crewed.Crew) != 2 || !crewed.Crew[0].IsPrimary || crewed.Crew[0].PersonID != e.tech1ID {
		t.Fatalf("crew %+v", crewed.Crew)
	}
	var un wo
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": nil}, &un)
	if un.AssignedTo != nil || len(un.Crew) != 0 {
		t.Fatalf("unassign %+v", un)
	}
	// Domain events, written with each change, carry the previous assignee.
	rows, _ := e.DB.Pool.Query(context.Background(), `SELECT topic, payload FROM domain_events WHERE entity_id = $1 ORDER BY id`, job.ID)
	var topics []string
	var lastPayload map[string]any
	for rows.Next() {
		var topic string
		var p []byte
		rows.Scan(&topic, &p)
		topics = append(topics, topic)
		json.Unmarshal(p, &lastPayload)
	}
	want := []string{"work_order.created", "work_order.assigned", "work_order.updated", "work_order.assigned", "work_order.unassigned"}
	if !slices.Equal(topics, want) {
		t.Fatalf("topics %v", topics)
	}
	if lastPayload["previous_assigned_to"] != e.tech1ID || lastPayload["assigned_to"] != nil || lastPayload["version"].(float64) != float64(un.Version) {
		t.Fatalf("unassigned payload %v", lastPayload)
	}
	// Not a technician, or someone's unknown: 400 with a field message.
	for _, body := range []map[string]any{{"assigned_to": e.personID("dispatcher@example.com")}, {"assigned_to": newID()}, {"assigned_to": "x"}, {"crew": []string{e.tech2ID}}} {
		if r := e.Do("POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, body); r.Status != 400 || len(errFields(t, r)) == 0 {
			t.Fatalf("%v: %d %s", body, r.Status, r.Body)
		}
	}
}

func TestOfficeTransitions(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	tr := func(id, to, note string) (int, wo, map[string]string) {
		r := e.Do("POST", "/api/v1/work-orders/"+id+"/transition", e.disp, map[string]any{"to_status": to, "note": note})
		var w wo
		if r.Status == 200 {
			r.JSON(t, &w)
		}
		return r.Status, w, errFields(t, r)
	}
	// No rules: everything goes, with timestamps.
	if code, w, _ := tr(job.ID, "in_progress", ""); code != 200 || w.StartedAt == nil {
		t.Fatalf("in_progress: %d %+v", code, w)
	}
	if code, w, _ := tr(job.ID, "paused", ""); code != 200 || w.PausedAt == nil {
		t.Fatalf("paused: %d", code)
	}
	if code, w, _ := tr(job.ID, "completed", ""); code != 200 || w.CompletedAt == nil {
		t.Fatalf("completed: %d", code)
	}
	if code, _, _ := tr(job.ID, "completed", ""); code != 409 {
		t.Fatalf("same status: %d", code)
	}
	if code, _, f := tr(job.ID, "done", ""); code != 400 || f["to_status"] == "" {
		t.Fatalf("unknown status: %d", code)
	}
	// With rules: only listed pairs, and a note where flagged.
	e.must(200, "POST", "/api/v1/work-order-transitions", e.admin, map[string]any{"from_status": "scheduled", "to_status": "canceled", "requires_note": true, "is_active": true}, nil)
	e.must(200, "POST", "/api/v1/work-order-transitions", e.admin, map[string]any{"from_status": "scheduled", "to_status": "dispatched", "is_active": true}, nil)
	if r := e.Do("POST", "/api/v1/work-order-transitions", e.disp, map[string]any{"from_status": "scheduled", "to_status": "draft"}); r.Status != 403 {
		t.Fatalf("dispatcher edits rules: %d", r.Status)
	}
	j2 := e.newWO(e.tech1ID)
	if code, _, f := tr(j2.ID, "in_progress", ""); code != 400 || f["to_status"] == "" {
		t.Fatalf("unlisted pair: %d %v", code, f)
	}
	if code, _, f := tr(j2.ID, "canceled", " "); code != 400 || f["note"] == "" {
		t.Fatalf("missing note: %d %v", code, f)
	}
	code, w, _ := tr(j2.ID, "canceled", "Customer moved away")
	if code != 200 || w.CanceledAt == nil || w.Version != j2.Version+1 {
		t.Fatalf("cancel: %d %+v", code, w)
	}
	var notes struct {
		Items []struct{ Body string } `json:"items"`
	}
	e.must(200, "GET", "/api/v1/work-orders/"+j2.ID+"/notes", e.disp, nil, &notes)
	if len(notes.Items) != 1 || !strings.Contains(notes.Items[0].Body, "Customer moved away") {
		t.Fatalf("notes %+v", notes.Items)
	}
	// Notes and soft delete.
	e.must(201, "POST", "/api/v1/work-orders/"+job.ID+"/notes", e.disp, map[string]any{"body": "Call ahead", "is_internal": true}, nil)
	if r := e.Do("POST", "/api/v1/work-orders/"+job.ID+"/notes", e.disp, map[string]any{"body": ""}); r.Status != 400 {
		t.Fatalf("blank note: %d", r.Status)
	}
	if r := e.Do("DELETE", "/api/v1/work-orders/"+job.ID, e.disp, nil); r.Status != 403 {
		t.Fatalf("dispatcher delete: %d", r.Status) // dispatchers lack operations:work_order:delete
	}
	e.must(204, "DELETE", "/api/v1/work-orders/"+job.ID, e.admin, nil, nil)
	if r := e.Do("GET", "/api/v1/work-orders/"+job.ID, e.disp, nil); r.Status != 404 {
		t.Fatalf("deleted still there: %d", r.Status)
	}
	var timeline struct {
		Items []struct{ Kind, Summary string } `json:"items"`
	}
	e.must(200, "GET", "/api/v1/work-orders/"+j2.ID+"/timeline", e.disp, nil, &timeline)
	if len(timeline.Items) < 3 {
		t.Fatalf("timeline %+v", timeline.Items)
	}
}

func TestBadInputNever500(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	cases := []struct {
		method, path, body string
		want               int
		field              string
	}{
		{"POST", "/api/v1/work-orders", `{"title":`, 400, ""},
		{"POST", "/api/v1/work-orders", `{"title": 5}`, 400, "title"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "bogus": 1}`, 400, "bogus"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "priority": "asap"}`, 400, "priority"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "work_type": "magic"}`, 400, "work_type"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "status": "completed"}`, 400, "status"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "customer_id": "abc"}`, 400, "customer_id"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "customer_id": "0190e2d4-0000-7000-8000-000000000000"}`, 400, "customer_id"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "scheduled_start": "tomorrow"}`, 400, "scheduled_start"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "scheduled_start": "2030-01-01T10:00:00Z", "scheduled_end": "2030-01-01T09:00:00Z"}`, 400, "scheduled_end"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "site": {"address": "a", "lat": 95, "lon": 0}}`, 400, "site.lat"},
		{"POST", "/api/v1/work-orders", `{"title": "x", "site": {"address": "a", "lat": 45}}`, 400, "site.lat"},
		{"POST", "/api/v1/work-orders", `{"title": ""}`, 400, "title"},
		{"POST", "/api/v1/work-orders", `[]`, 400, ""},
		{"PATCH", "/api/v1/work-orders/" + job.ID, `{"scheduled_end": "2000-01-01T00:00:00Z"}`, 400, "scheduled_end"},
		{"PATCH", "/api/v1/work-orders/" + job.ID, `{"version": "one"}`, 400, "version"},
		{"PATCH", "/api/v1/work-orders/not-a-uuid", `{"title": "x"}`, 404, ""},
		{"GET", "/api/v1/work-orders/not-a-uuid", ``, 404, ""},
		{"GET", "/api/v1/work-orders?status=open", ``, 400, "status"},
		{"GET", "/api/v1/work-orders?assigned_to=bob", ``, 400, "assigned_to"},
		{"GET", "/api/v1/work-orders?from=monday", ``, 400, "from"},
		{"GET", "/api/v1/work-orders?limit=100000", ``, 400, "limit"},
		{"POST", "/api/v1/work-orders/" + job.ID + "/assign", `{"assigned_to": 7}`, 400, "assigned_to"},
		{"POST", "/api/v1/work-orders/" + job.ID + "/transition", `{}`, 400, "to_status"},
		{"POST", "/api/v1/customers", `{"name": "", "email": "nope"}`, 400, "name"},
		{"POST", "/api/v1/customers", `{"name": "A", "lat": 45, "lon": 200}`, 400, "lon"},
		{"POST", "/api/v1/customers", `{"name": "A", "status": "vip"}`, 400, "status"},
		{"PATCH", "/api/v1/customers/" + newID(), `{"name": "A"}`, 404, ""},
		{"POST", "/api/v1/technicians", `{"first_name": "A", "email": "bad"}`, 400, "email"},
		{"POST", "/api/v1/technicians", `{"first_name": "A", "email": "a@example.com", "password": "short"}`, 400, "password"},
		{"POST", "/api/v1/technicians/" + newID() + "/skills", `{"skill_id": "` + newID() + `"}`, 404, ""},
		{"POST", "/api/v1/technicians/" + e.tech1ID + "/skills", `{"skill_id": "` + newID() + `", "proficiency": 140}`, 400, "proficiency"},
		{"POST", "/api/v1/technicians/" + e.tech1ID + "/shifts", `{"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T08:00:00Z"}`, 400, "ends_at"},
		{"POST", "/api/v1/technicians/" + e.tech1ID + "/shifts", `{"starts_at": "2030-01-01T10:00:00Z"}`, 400, "ends_at"},
		{"POST", "/api/v1/technicians/" + e.tech1ID + "/availability", `{"starts_at": "x", "ends_at": "y"}`, 400, "starts_at"},
		{"POST", "/api/v1/technicians/" + e.tech1ID + "/availability", `{"starts_at": "2030-01-01T08:00:00Z", "ends_at": "2030-01-01T10:00:00Z", "block_type": "vacation!"}`, 400, "block_type"},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/transition", `{"event": "dance", "client_event_id": "` + newID() + `"}`, 400, "event"},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/transition", `{"event": "accept", "client_event_id": "nope"}`, 400, "client_event_id"},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/transition", `{"event": "accept", "client_event_id": "` + newID() + `", "lat": 100, "lon": 0}`, 400, "lat"},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/transition", `{"event": "accept", "client_event_id": "` + newID() + `", "occurred_at": "noon"}`, 400, ""},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/worklogs", `{"worklogs": "all"}`, 400, "worklogs"},
		{"POST", "/api/v1/field/jobs/" + job.ID + "/worklogs", `{"worklogs": []}`, 400, "worklogs"},
		{"POST", "/api/v1/notifications/not-a-uuid/read", ``, 404, ""},
	}
	for _, c := range cases {
		token := e.admin
		if strings.Contains(c.path, "/field/") {
			token = e.tech1
		}
		var body any
		if c.body != "" {
			body = c.body
		}
		r := e.Do(c.method, c.path, token, body)
		if r.Status != c.want {
			t.Errorf("%s %s %s: %d, want %d: %s", c.method, c.path, c.body, r.Status, c.want, r.Body)
			continue
		}
		if c.field != "" {
			if f := errFields(t, r); f[c.field] == "" {
				t.Errorf("%s %s %s: no field message for %s: %s", c.method, c.path, c.body, c.field, r.Body)
			}
		}
	}
}

// TestFieldTechnicianPermissions: the field role holds only field:* permissions and, in
// particular, not operations:work_order:update.
func TestFieldTechnicianPermissions(t *testing.T) {
	for _, r := range hub.SystemRoles {
		if r.Name != "field_technician" {
			continue
		}
		for _, p := range r.Permissions {
			if !strings.HasPrefix(p, "field:") {
				t.Fatalf("field_technician holds %s", p)
			}
		}
		if (&hub.Principal{Permissions: r.Permissions}).Can("operations:work_order:update") {
			t.Fatal("field_technician can update work orders")
		}
	}
	e := setup(t)
	job := e.newWO(e.tech1ID)
	for _, c := range []struct{ method, path string }{
		{"PATCH", "/api/v1/work-orders/" + job.ID}, {"POST", "/api/v1/work-orders/" + job.ID + "/transition"},
		{"POST", "/api/v1/work-orders/" + job.ID + "/assign"}, {"GET", "/api/v1/work-orders"}, {"GET", "/api/v1/customers"},
		{"POST", "/api/v1/technicians"},
	} {
		if r := e.Do(c.method, c.path, e.tech1, map[string]any{}); r.Status != http.StatusForbidden {
			t.Fatalf("tech1 %s %s: %d", c.method, c.path, r.Status)
		}
	}
	// And staff without field:* cannot use the field API.
	if r := e.Do("GET", "/api/v1/field/jobs", e.disp, nil); r.Status != http.StatusForbidden {
		t.Fatalf("dispatcher on field API: %d", r.Status)
	}
}

func TestCustomersAndTechnicians(t *testing.T) {
	e := setup(t)
	var c struct {
		ID, Number string
		Lat, Lon   *float64
		Sites      []struct{ ID string }
	}
	e.must(201, "POST", "/api/v1/customers", e.disp, map[string]any{"name": "Zelda Quarry", "email": "zq@example.net", "phone": "+1 406 555 0101",
		"address": "12 S Willson Ave, Bozeman", "lat": 45.676, "lon": -111.038}, &c)
	if c.Lat == nil || *c.Lat != 45.676 || len(c.Sites) != 1 || !strings.HasPrefix(c.Number, "CUS-") {
		t.Fatalf("customer %+v", c)
	}
	var list struct {
		Items []struct{ ID, Name string }
		Total int
	}
	e.must(200, "GET", "/api/v1/customers?q=zel", e.disp, nil, &list)
	if list.Total != 1 || list.Items[0].ID != c.ID {
		t.Fatalf("typeahead %+v", list)
	}
	e.must(200, "PATCH", "/api/v1/customers/"+c.ID, e.disp, map[string]any{"phone": "+1 406 555 0199", "lat": 45.7, "lon": -111.0}, &c)
	if *c.Lat != 45.7 {
		t.Fatalf("moved %+v", c)
	}
	var tech struct {
		ID     string
		Region string
		Skills []struct {
			SkillID   string `json:"skill_id"`
			IsPrimary bool   `json:"is_primary"`
		}
	}
	e.must(201, "POST", "/api/v1/technicians", e.disp, map[string]any{"first_name": "Nia", "last_name": "Clearwater", "email": "nia@example.com",
		"password": "fieldwork1", "region": "Bozeman"}, &tech)
	if tech.Region != "Bozeman" {
		t.Fatalf("tech %+v", tech)
	}
	if r := e.Do("POST", "/api/v1/technicians", e.disp, map[string]any{"first_name": "Nia", "email": "nia@example.com", "password": "fieldwork1"}); r.Status != 409 {
		t.Fatalf("duplicate email: %d", r.Status)
	}
	// The new technician can log in and holds the field role.
	tok := e.Token("nia@example.com", "fieldwork1")
	var me struct{ Roles []string }
	e.must(200, "GET", "/api/v1/auth/me", tok, nil, &me)
	if !slices.Contains(me.Roles, "field_technician") {
		t.Fatalf("roles %v", me.Roles)
	}
	var sk struct{ ID string }
	e.must(201, "POST", "/api/v1/skills", e.disp, map[string]any{"name": "OTDR testing"}, &sk)
	e.must(200, "POST", "/api/v1/technicians/"+tech.ID+"/skills", e.disp, map[string]any{"skill_id": sk.ID, "proficiency": 80, "is_primary": true}, nil)
	var skills struct{ Items []map[string]any }
	e.must(200, "GET", "/api/v1/technicians/"+tech.ID+"/skills", e.disp, nil, &skills)
	if len(skills.Items) != 1 || skills.Items[0]["is_primary"] != true {
		t.Fatalf("skills %+v", skills.Items)
	}
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Hour)
	var sh struct{ ID string }
	e.must(201, "POST", "/api/v1/technicians/"+tech.ID+"/shifts", e.disp, map[string]any{"starts_at": start.Format(time.RFC3339),
		"ends_at": start.Add(8 * time.Hour).Format(time.RFC3339), "timezone": "America/Denver"}, &sh)
	e.must(200, "PATCH", "/api/v1/technicians/"+tech.ID+"/shifts/"+sh.ID, e.disp, map[string]any{"ends_at": start.Add(9 * time.Hour).Format(time.RFC3339)}, nil)
	var bl struct{ ID string }
	e.must(201, "POST", "/api/v1/technicians/"+tech.ID+"/availability", e.disp, map[string]any{"starts_at": start.Add(2 * time.Hour).Format(time.RFC3339),
		"ends_at": start.Add(3 * time.Hour).Format(time.RFC3339), "reason": "Training", "block_type": "training"}, &bl)
	var full struct {
		Shifts       []any `json:"shifts"`
		Availability []any `json:"availability"`
	}
	e.must(200, "GET", "/api/v1/technicians/"+tech.ID, e.disp, nil, &full)
	if len(full.Shifts) != 1 || len(full.Availability) != 1 {
		t.Fatalf("tech detail %+v", full)
	}
	e.must(204, "DELETE", "/api/v1/technicians/"+tech.ID+"/availability/"+bl.ID, e.disp, nil, nil)
	e.must(204, "DELETE", "/api/v1/technicians/"+tech.ID+"/shifts/"+sh.ID, e.disp, nil, nil)
	e.must(404, "DELETE", "/api/v1/technicians/"+tech.ID+"/shifts/"+sh.ID, e.disp, nil, nil)
}

func TestNotifications(t *testing.T) {
	e := setup(t)
	svc := workorder.NewService(e.DB, t.TempDir(), nil)
	drain := func() {
		if _, err := svc.DrainNotifications(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	drain() // the demo's events
	job := e.newWO("")
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": e.tech1ID}, nil)
	drain()
	type list struct {
		Items []struct {
			ID, Title, Link string
			ReadAt          *time.Time `json:"read_at"`
		}
		Unread int
	}
	var l list
	e.must(200, "GET", "/api/v1/notifications?unread=true", e.tech1, nil, &l)
	found := ""
	for _, n := range l.Items {
		if strings.Contains(n.Title, job.Number) {
			found = n.ID
		}
	}
	if found == "" {
		t.Fatalf("no assignment notification: %+v", l.Items)
	}
	// Draining again adds nothing (each consumer sees an event once).
	var before, after int
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM notifications`).Scan(&before)
	drain()
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM notifications`).Scan(&after)
	if before != after {
		t.Fatalf("re-drain added %d", after-before)
	}
	// The technician starts the job: the dispatcher who created it hears about it.
	e.fire(e.tech1, job.ID, "start", nil)
	drain()
	e.must(200, "GET", "/api/v1/notifications", e.disp, nil, &l)
	if len(l.Items) == 0 || !strings.Contains(l.Items[0].Title, job.Number) || !strings.Contains(l.Items[0].Title, "in progress") {
		t.Fatalf("dispatcher notifications %+v", l.Items)
	}
	// Mark read; someone else's is a 404.
	e.must(200, "POST", "/api/v1/notifications/"+found+"/read", e.tech1, nil, nil)
	if r := e.Do("POST", "/api/v1/notifications/"+found+"/read", e.tech2, nil); r.Status != 404 {
		t.Fatalf("other's notification: %d", r.Status)
	}
	// domain_events rows stay for other consumers; this consumer's mark moved.
	var pending int
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM domain_events WHERE processed_at IS NULL`).Scan(&pending)
	if pending == 0 {
		t.Fatal("the notifier marked domain_events rows for everyone")
	}
}

// TestNotificationsWorker: with the notifier loop running (what Build starts in a worker hub),
// an assignment reaches the technician's notifications by itself. (hubtest's Worker option is
// not used: the core closes Redis before asynq's subscriber stops, which panics at teardown.)
func TestNotificationsWorker(t *testing.T) {
	env := hubtest.New(t, hubtest.Options{Demo: true})
	svc := workorder.NewService(env.DB, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.RunNotifier(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	disp := env.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
	tech := env.Token("tech2@example.com", "tech123!")
	var techID string
	env.DB.Pool.QueryRow(context.Background(), `SELECT id FROM people WHERE email = 'tech2@example.com'`).Scan(&techID)
	r := env.Do("POST", "/api/v1/work-orders", disp, map[string]any{"title": "Worker check", "assigned_to": techID,
		"scheduled_start": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	hubtest.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
		r := env.Do("GET", "/api/v1/notifications", tech, nil)
		if !strings.Contains(string(r.Body), "Worker check") {
			return fmt.Errorf("no notification yet: %s", r.Body)
		}
		return nil
	})
}
