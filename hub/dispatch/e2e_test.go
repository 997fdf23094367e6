package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"dotmac.dev/field/hub/hubtest"
)

// world is a hub with the demo logins, tech1 made a technician, and a work order at a site.
type world struct {
	env       *hubtest.Env
	dispatch  string // dispatcher's token
	tech      string // tech1's token
	techID    string
	workOrder string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	w := &world{env: env, dispatch: env.Token(hubtest.DispatchEmail, hubtest.DispatchPass), tech: env.Token(hubtest.Tech1Email, hubtest.TechPassword)}
	ctx := context.Background()
	db := env.DB.Pool
	if err := db.QueryRow(ctx, `SELECT id FROM people WHERE email = $1`, hubtest.Tech1Email).Scan(&w.techID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO technician_profiles (person_id, region) VALUES ($1, 'bozeman') ON CONFLICT DO NOTHING`, w.techID); err != nil {
		t.Fatal(err)
	}
	w.workOrder = w.newWO(t, "scheduled", nil)
	return w
}

func (w *world) newWO(t *testing.T, status string, assigned *string) string {
	t.Helper()
	ctx := context.Background()
	var site, id string
	db := w.env.DB.Pool
	if err := db.QueryRow(ctx, `INSERT INTO sites (address, geom) VALUES ('12 Main St', ST_SetSRID(ST_MakePoint(-111.0429, 45.6770), 4326)) RETURNING id`).Scan(&site); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour).UTC()
	if err := db.QueryRow(ctx, `INSERT INTO work_orders (number, title, status, site_id, assigned_to, scheduled_start, scheduled_end)
		VALUES ('WO-' || substr(md5(random()::text), 1, 8), 'Fix the ONT', $1, $2, $3, $4, $5) RETURNING id`, status, site, assigned, start, start.Add(time.Hour)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// staffCookie signs in through the login form (with its CSRF cookie) and returns the session cookie.
func staffCookie(t *testing.T, env *hubtest.Env, email, password string) *http.Cookie {
	t.Helper()
	b := env.Browser()
	res, err := b.Get(env.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	u, _ := url.Parse(env.URL)
	var csrf string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "dmf_login_csrf" {
			csrf = c.Value
		}
	}
	res, err = b.PostForm(env.URL+"/auth/login", url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}, "next": {"/admin"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == "dmf_admin" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func dialBoard(t *testing.T, env *hubtest.Env, cookie *http.Cookie) (*websocket.Conn, *http.Response, error) {
	h := http.Header{"Origin": {env.URL}}
	if cookie != nil {
		h.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(env.URL, "http")+"/admin/operations/dispatch/ws", h)
}

type liveMsg struct {
	Type     string          `json:"type"`
	Topic    string          `json:"topic"`
	EntityID string          `json:"entity_id"`
	Payload  json.RawMessage `json:"payload"`
}

// next reads messages until one matches or the deadline passes.
func next(t *testing.T, c *websocket.Conn, within time.Duration, match func(liveMsg) bool) liveMsg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("no matching message within %s: %v", within, err)
		}
		var m liveMsg
		json.Unmarshal(b, &m)
		if match(m) {
			return m
		}
	}
}

func TestBoardSocket_ReceivesChangesWithinASecond(t *testing.T) {
	w := newWorld(t)
	env := w.env
	if _, res, err := dialBoard(t, env, nil); err == nil || res == nil || res.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("an anonymous socket must be refused: %v", err)
	}
	cookie := staffCookie(t, env, hubtest.DispatchEmail, hubtest.DispatchPass)
	// A second board (another tab or replica's client) gets the same messages.
	boards := make([]*websocket.Conn, 2)
	for i := range boards {
		c, _, err := dialBoard(t, env, cookie)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		next(t, c, 2*time.Second, func(m liveMsg) bool { return m.Type == "hello" })
		boards[i] = c
	}
	// A dispatcher assigns through the API: every board hears of it within a second.
	start := time.Now()
	r := env.Do("POST", "/api/v1/dispatch/work-orders/"+w.workOrder+"/assign", w.dispatch, map[string]any{"assigned_to": w.techID, "version": 1})
	if r.Status != 200 {
		t.Fatalf("assign: %d %s", r.Status, r.Body)
	}
	for _, c := range boards {
		m := next(t, c, time.Second, func(m liveMsg) bool { return m.Topic == "work_order.assigned" && m.EntityID == w.workOrder })
		var p struct {
			AssignedTo string `json:"assigned_to"`
			Version    int64  `json:"version"`
		}
		json.Unmarshal(m.Payload, &p)
		if p.AssignedTo != w.techID || p.Version != 2 {
			t.Fatalf("payload: %s", m.Payload)
		}
	}
	t.Logf("assign → board: %s", time.Since(start))
	// The board's assignment leaves the same audit row as the work order API's.
	var action, actorEmail, details string
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT action, actor_email, details::text FROM audit_log
		WHERE target_type = 'work_order' AND target_id = $1 ORDER BY at DESC LIMIT 1`, w.workOrder).Scan(&action, &actorEmail, &details); err != nil {
		t.Fatalf("no audit row for the board assignment: %v", err)
	}
	if action != "work_order.assigned" || actorEmail != hubtest.DispatchEmail || !strings.Contains(details, w.techID) || !strings.Contains(details, `"manual"`) {
		t.Fatalf("audit row: %s by %s: %s", action, actorEmail, details)
	}

	// A technician's event from the field is a domain event too (written by the field service).
	if _, err := env.DB.Pool.Exec(context.Background(), `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id)
		VALUES ('work_order.field_event', 'work_order', $1, '{"event":"en_route","status":"dispatched"}', $2)`, w.workOrder, w.techID); err != nil {
		t.Fatal(err)
	}
	next(t, boards[0], time.Second, func(m liveMsg) bool { return m.Topic == "work_order.field_event" && m.EntityID == w.workOrder })

	// A technician's position reaches the board too.
	r = env.Do("POST", "/api/v1/field/locations", w.tech, map[string]any{"status": "on_shift",
		"pings": []map[string]any{{"lat": 45.68, "lon": -111.04, "accuracy": 5, "recorded_at": time.Now().UTC().Format(time.RFC3339)}}})
	if r.Status != 200 {
		t.Fatalf("pings: %d %s", r.Status, r.Body)
	}
	next(t, boards[1], time.Second, func(m liveMsg) bool { return m.Topic == "technician.location" && m.EntityID == w.techID })
}

func TestTrackMyVisit(t *testing.T) {
	w := newWorld(t)
	env := w.env
	ctx := context.Background()
	db := env.DB.Pool
	wo := w.newWO(t, "dispatched", &w.techID)

	if r := env.Do("POST", "/api/v1/work-orders/"+wo+"/track-link", w.tech, nil); r.Status != 403 {
		t.Fatalf("a technician may not make links: %d", r.Status)
	}
	if r := env.Do("POST", "/api/v1/work-orders/00000000-0000-0000-0000-000000000000/track-link", w.dispatch, nil); r.Status != 404 {
		t.Fatalf("unknown work order: %d", r.Status)
	}
	r := env.Do("POST", "/api/v1/work-orders/"+wo+"/track-link", w.dispatch, nil)
	if r.Status != 201 {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	var link struct {
		URL, Token string
		ExpiresAt  time.Time `json:"expires_at"`
	}
	r.JSON(t, &link)
	if !strings.HasSuffix(link.URL, "/track/"+link.Token) || link.ExpiresAt.Sub(time.Now()) < 13*24*time.Hour {
		t.Fatalf("link: %+v", link)
	}
	var stored int
	db.QueryRow(ctx, `SELECT count(*) FROM work_order_access_tokens WHERE token_hash = sha256($1::bytea)`, []byte(link.Token)).Scan(&stored)
	if stored != 1 {
		t.Fatal("the token must be stored hashed")
	}

	visit := func() map[string]any {
		t.Helper()
		r := env.Do("GET", "/api/v1/track/"+link.Token, "", nil)
		if r.Status != 200 {
			t.Fatalf("visit: %d %s", r.Status, r.Body)
		}
		return r.Map(t)
	}
	located := func() bool { return visit()["technician_location"] != nil }
	ping := func(age time.Duration) {
		t.Helper()
		r := env.Do("POST", "/api/v1/field/locations", w.tech, map[string]any{"status": "on_shift",
			"pings": []map[string]any{{"lat": 45.69, "lon": -111.05, "recorded_at": time.Now().Add(-age).UTC().Format(time.RFC3339Nano)}}})
		if r.Status != 200 {
			t.Fatalf("ping: %d %s", r.Status, r.Body)
		}
	}
	enRoute := func() {
		if _, err := db.Exec(ctx, `INSERT INTO work_order_events (work_order_id, event, from_status, to_status, actor_id, occurred_at, client_event_id)
			VALUES ($1, 'en_route', 'dispatched', 'dispatched', $2, now(), gen_random_uuid())`, wo, w.techID); err != nil {
			t.Fatal(err)
		}
	}

	ping(0)
	if located() {
		t.Fatal("dispatched but not en route: no position")
	}
	enRoute()
	if v := visit(); v["technician_location"] == nil || v["en_route"] != true || v["technician_name"] != "Tomás" {
		t.Fatalf("en route, sharing and fresh: position expected: %v", v)
	}
	if _, ok := visit()["customer_name"]; ok {
		t.Fatal("no customer details in the public view")
	}
	env.Do("POST", "/api/v1/field/locations/sharing", w.tech, map[string]any{"enabled": false})
	if located() {
		t.Fatal("not sharing: no position")
	}
	env.Do("POST", "/api/v1/field/locations/sharing", w.tech, map[string]any{"enabled": true})
	if !located() {
		t.Fatal("sharing again")
	}
	db.Exec(ctx, `UPDATE field_tech_presence SET location_at = now() - interval '121 seconds' WHERE person_id = $1`, w.techID)
	if located() {
		t.Fatal("stale (> 120 s): no position")
	}
	ping(0)
	db.Exec(ctx, `INSERT INTO work_order_events (work_order_id, event, from_status, to_status, actor_id, occurred_at, client_event_id)
		VALUES ($1, 'arrived', 'dispatched', 'dispatched', $2, now(), gen_random_uuid())`, wo, w.techID)
	if located() {
		t.Fatal("arrived: no longer en route")
	}
	enRoute()
	db.Exec(ctx, `UPDATE work_orders SET status = 'in_progress' WHERE id = $1`, wo)
	if located() {
		t.Fatal("in progress: no position")
	}
	db.Exec(ctx, `UPDATE work_orders SET status = 'dispatched' WHERE id = $1`, wo)

	// The page renders for the customer.
	res, err := http.Get(env.URL + "/track/" + link.Token)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("page: %v %v", err, res)
	}
	res.Body.Close()
	if r := env.Do("GET", "/api/v1/track/not-a-real-token-at-all-000000", "", nil); r.Status != 404 {
		t.Fatalf("bad token: %d", r.Status)
	}

	// Confirm (twice is fine), one open reschedule request, then a completed visit refuses both.
	for i := 0; i < 2; i++ {
		if r := env.Do("POST", "/track/"+link.Token+"/confirm", "", map[string]any{}); r.Status != 200 || r.Map(t)["confirmed_at"] == nil {
			t.Fatalf("confirm: %d %s", r.Status, r.Body)
		}
	}
	when := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	if r := env.Do("POST", "/track/"+link.Token+"/reschedule", "", map[string]any{"preferred_start": "yesterday"}); r.Status != 400 {
		t.Fatalf("bad reschedule: %d", r.Status)
	}
	if r := env.Do("POST", "/track/"+link.Token+"/reschedule", "", map[string]any{"preferred_start": when, "note": "mornings please"}); r.Status != 200 {
		t.Fatalf("reschedule: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/track/"+link.Token+"/reschedule", "", map[string]any{"preferred_start": when}); r.Status != 409 {
		t.Fatalf("second open reschedule: %d %s", r.Status, r.Body)
	}
	var events int
	db.QueryRow(ctx, `SELECT count(*) FROM domain_events WHERE entity_id = $1 AND topic IN ('work_order.visit_confirmed', 'work_order.reschedule_requested')`, wo).Scan(&events)
	if events != 2 {
		t.Fatalf("events: %d", events)
	}
	done := w.newWO(t, "completed", &w.techID)
	r = env.Do("POST", "/api/v1/work-orders/"+done+"/track-link", w.dispatch, nil)
	var l2 struct{ Token string }
	r.JSON(t, &l2)
	if r := env.Do("POST", "/track/"+l2.Token+"/confirm", "", map[string]any{}); r.Status != 409 {
		t.Fatalf("a completed visit must reject confirm: %d", r.Status)
	}
	// Expired links are gone.
	db.Exec(ctx, `UPDATE work_order_access_tokens SET expires_at = now() - interval '1 second'`)
	if r := env.Do("GET", "/api/v1/track/"+link.Token, "", nil); r.Status != 404 {
		t.Fatalf("expired: %d", r.Status)
	}
	// Posting is rate limited per address.
	var last *hubtest.Response
	for i := 0; i < 12; i++ {
		last = env.Do("POST", "/track/"+link.Token+"/confirm", "", map[string]any{})
	}
	if last.Status != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d", last.Status)
	}
}

func TestDispatchAPI_BadInput(t *testing.T) {
	w := newWorld(t)
	env := w.env
	for _, tc := range []struct {
		method, path, token string
		body                any
		status              int
		field               string
	}{
		{"GET", "/api/v1/dispatch/board", "", nil, 401, ""},
		{"GET", "/api/v1/dispatch/board", w.tech, nil, 403, ""},
		{"GET", "/api/v1/dispatch/board?days=3", w.dispatch, nil, 400, "days"},
		{"GET", "/api/v1/dispatch/board?date=31-01-2025", w.dispatch, nil, 400, "date"},
		{"GET", "/api/v1/dispatch/board?status=lost", w.dispatch, nil, 400, "status"},
		{"GET", "/api/v1/dispatch/board?skill=x", w.dispatch, nil, 400, "skill"},
		{"POST", "/api/v1/dispatch/rules", w.dispatch, map[string]any{"work_type": "dance"}, 400, "work_type"},
		{"POST", "/api/v1/dispatch/rules", w.dispatch, map[string]any{"colour": "red"}, 400, "colour"},
		{"POST", "/api/v1/dispatch/rules", w.dispatch, map[string]any{"skill_ids": []string{"00000000-0000-0000-0000-000000000000"}}, 400, "skill_ids"},
		{"POST", "/api/v1/dispatch/rules", w.dispatch, "{", 400, ""},
		{"PATCH", "/api/v1/dispatch/rules/nope", w.dispatch, map[string]any{}, 404, ""},
		{"POST", "/api/v1/dispatch/work-orders/nope/auto-assign", w.dispatch, nil, 404, ""},
		{"POST", "/api/v1/dispatch/work-orders/" + w.workOrder + "/assign", w.dispatch, map[string]any{"assigned_to": w.techID}, 400, "version"},
		{"POST", "/api/v1/dispatch/work-orders/" + w.workOrder + "/assign", w.dispatch, map[string]any{"assigned_to": w.techID, "version": 7}, 409, ""},
		{"POST", "/api/v1/dispatch/work-orders/" + w.workOrder + "/assign", w.tech, map[string]any{"assigned_to": w.techID, "version": 1}, 403, ""},
		{"GET", "/api/v1/dispatch/work-orders/" + w.workOrder + "/nearest-techs?max_km=far", w.dispatch, nil, 400, "max_km"},
		{"GET", "/api/v1/dispatch/technicians/" + w.techID + "/route?date=tomorrow", w.dispatch, nil, 400, "date"},
		{"POST", "/api/v1/dispatch/auto-assign", w.dispatch, map[string]any{"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, 400, "to"},
		{"POST", "/api/v1/field/locations", w.dispatch, map[string]any{"pings": []any{}}, 403, ""},
		{"POST", "/api/v1/field/locations", w.tech, map[string]any{"pings": []any{}}, 400, "pings"},
		{"POST", "/api/v1/field/locations", w.tech, map[string]any{"pings": []map[string]any{{"lat": 100, "lon": 0, "recorded_at": time.Now().Format(time.RFC3339)}}}, 400, "pings[0].lat"},
		{"POST", "/api/v1/field/locations", w.tech, map[string]any{"pings": []map[string]any{{"lat": "north"}}}, 400, ""},
		{"POST", "/api/v1/field/locations/sharing", w.tech, map[string]any{}, 400, "enabled"},
		{"PUT", "/api/v1/dispatch/settings", w.dispatch, map[string]any{"map_tile_url": "x"}, 403, ""},
	} {
		r := env.Do(tc.method, tc.path, tc.token, tc.body)
		if r.Status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.Status, r.Body, tc.status)
			continue
		}
		if tc.field != "" {
			var e struct {
				Error struct{ Fields map[string]string } `json:"error"`
			}
			r.JSON(t, &e)
			if e.Error.Fields[tc.field] == "" {
				t.Errorf("%s %s: no message for %s: %s", tc.method, tc.path, tc.field, r.Body)
			}
		}
	}
	big := make([]map[string]any, 201)
	for i := range big {
		big[i] = map[string]any{"lat": 1, "lon": 1, "recorded_at": time.Now().Format(time.RFC3339)}
	}
	if r := env.Do("POST", "/api/v1/field/locations", w.tech, map[string]any{"pings": big}); r.Status != 400 {
		t.Errorf("201 pings: %d", r.Status)
	}
	admin := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	if r := env.Do("PUT", "/api/v1/dispatch/settings", admin, map[string]any{"map_tile_url": "ftp://tiles/{z}"}); r.Status != 400 {
		t.Errorf("tile url: %d", r.Status)
	}
	if r := env.Do("PUT", "/api/v1/dispatch/settings", admin, map[string]any{"map_tile_url": "https://tiles.example/{z}/{x}/{y}.png"}); r.Status != 200 {
		t.Errorf("tile url ok: %d %s", r.Status, r.Body)
	}
	if r := env.Do("PUT", "/api/v1/dispatch/settings", admin, map[string]any{"time_zone": "Mars/Olympus_Mons"}); r.Status != 400 || !strings.Contains(string(r.Body), "time_zone") {
		t.Errorf("bad time zone: %d %s", r.Status, r.Body)
	}
	if r := env.Do("PUT", "/api/v1/dispatch/settings", admin, map[string]any{"time_zone": "America/Denver"}); r.Status != 200 || !strings.Contains(string(r.Body), `"time_zone":"America/Denver"`) {
		t.Errorf("time zone: %d %s", r.Status, r.Body)
	}
	// A later change of another setting keeps the zone.
	if r := env.Do("PUT", "/api/v1/dispatch/settings", admin, map[string]any{"map_tile_url": ""}); r.Status != 200 || !strings.Contains(string(r.Body), `"time_zone":"America/Denver"`) {
		t.Errorf("time zone kept: %d %s", r.Status, r.Body)
	}
}

func TestBoardPageAndData(t *testing.T) {
	w := newWorld(t)
	env := w.env
	cookie := staffCookie(t, env, hubtest.DispatchEmail, hubtest.DispatchPass)
	req, _ := http.NewRequest("GET", env.URL+"/admin/operations/dispatch", nil)
	req.AddCookie(cookie)
	res := env.Send(http.DefaultClient, req)
	if res.Status != 200 || !strings.Contains(string(res.Body), "/assets/dispatch/board.js") {
		t.Fatalf("page: %d", res.Status)
	}
	for _, p := range []string{"/assets/dispatch/board.js", "/assets/dispatch/board.css"} {
		if r := env.Do("GET", p, "", nil); r.Status != 200 {
			t.Fatalf("%s: %d", p, r.Status)
		}
	}
	// Board data: the unassigned job is in the queue; after assigning it, it is tech1's.
	day := time.Now().Add(time.Hour).UTC().Format("2006-01-02")
	r := env.Do("GET", "/api/v1/dispatch/board?date="+day, w.dispatch, nil)
	var b struct {
		Technicians []struct{ ID string }
		Jobs, Queue []struct {
			ID         string
			AssignedTo *string `json:"assigned_to"`
		}
	}
	r.JSON(t, &b)
	inQueue := func() bool {
		for _, q := range b.Queue {
			if q.ID == w.workOrder {
				return true
			}
		}
		return false
	}
	onTech := func() bool {
		for _, j := range b.Jobs {
			if j.ID == w.workOrder && *j.AssignedTo == w.techID {
				return true
			}
		}
		return false
	}
	if r.Status != 200 || !inQueue() || onTech() || len(b.Technicians) == 0 || r.Header.Get("Server-Timing") == "" {
		t.Fatalf("board: %d %s", r.Status, r.Body)
	}
	env.Do("POST", "/api/v1/dispatch/work-orders/"+w.workOrder+"/assign", w.dispatch, map[string]any{"assigned_to": w.techID, "version": 1})
	r = env.Do("GET", "/api/v1/dispatch/board?days=7&date="+day, w.dispatch, nil)
	b.Jobs, b.Queue = nil, nil
	r.JSON(t, &b)
	if inQueue() || !onTech() {
		t.Fatalf("board after assign: %s", r.Body)
	}
	r = env.Do("GET", "/api/v1/dispatch/map?date="+day, w.dispatch, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"FeatureCollection"`) || !strings.Contains(string(r.Body), fmt.Sprintf(`"id":"%s"`, w.workOrder)) {
		t.Fatalf("map: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/dispatch/board?region=elsewhere&date="+day, w.dispatch, nil); !strings.Contains(string(r.Body), `"technicians":[]`) {
		t.Fatalf("region filter: %s", r.Body)
	}
}
