package inventory_test

import (
	"context"
	"net/http"
	neturl "net/url"
	"regexp"
	"strings"
	"testing"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/postgres"
)

func TestAPI(t *testing.T) {
	env := hubtest.New(t, hubtest.Options{Demo: true})
	ctx := context.Background()
	admin := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	disp := env.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
	tech := env.Token(hubtest.Tech1Email, hubtest.TechPassword)
	tech2 := env.Token("tech2@example.com", hubtest.TechPassword)

	var tech1ID, whID, van1ID string
	if err := env.DB.Pool.QueryRow(ctx, `SELECT id FROM people WHERE email = 'tech1@example.com'`).Scan(&tech1ID); err != nil {
		t.Fatal(err)
	}
	env.DB.Pool.QueryRow(ctx, `SELECT id FROM inventory_locations WHERE code = 'WH-BZN'`).Scan(&whID)
	env.DB.Pool.QueryRow(ctx, `SELECT id FROM inventory_locations WHERE technician_id = $1`, tech1ID).Scan(&van1ID)
	if whID == "" || van1ID == "" {
		t.Fatal("demo warehouse or van missing")
	}
	wo := postgres.NewID()
	if _, err := env.DB.Pool.Exec(ctx, `INSERT INTO work_orders (id, number, title, status, assigned_to, work_type)
		VALUES ($1, 'WO-T00001', 'Install', 'dispatched', $2, 'install')`, wo, tech1ID); err != nil {
		t.Fatal(err)
	}

	// Items: SKU generated; technicians may not create items.
	r := env.Do("POST", "/api/v1/inventory/items", admin, map[string]any{"name": "Fiber rosette", "unit": "each"})
	if r.Status != http.StatusCreated || !strings.HasPrefix(r.Map(t)["sku"].(string), "SKU-") {
		t.Fatalf("create item: %d %s", r.Status, r.Body)
	}
	item := r.Map(t)["id"].(string)
	if r := env.Do("POST", "/api/v1/inventory/items", tech, map[string]any{"name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("tech creates item: %d", r.Status)
	}
	// Adjust: dispatcher may not; admin may; bad input is 400.
	adj := map[string]any{"item_id": item, "location_id": whID, "quantity_delta": 12, "reason": "delivery"}
	if r := env.Do("POST", "/api/v1/inventory/stock/adjust", disp, adj); r.Status != http.StatusForbidden {
		t.Fatalf("dispatcher adjusts: %d", r.Status)
	}
	r = env.Do("POST", "/api/v1/inventory/stock/adjust", admin, adj)
	if r.Status != http.StatusOK || r.Map(t)["available"].(float64) != 12 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	for _, body := range []any{
		`{"item_id":`, `{"item_id":"x","location_id":"y","quantity_delta":"a lot","reason":"r"}`,
		map[string]any{"item_id": item, "location_id": whID, "quantity_delta": 0, "reason": "x"},
		map[string]any{"item_id": item, "location_id": whID, "quantity_delta": 1},
		map[string]any{"item_id": postgres.NewID(), "location_id": whID, "quantity_delta": 1, "reason": "x"},
		map[string]any{"item_id": item, "location_id": whID, "quantity_delta": 1, "reason": "x", "extra": 1},
	} {
		if r := env.Do("POST", "/api/v1/inventory/stock/adjust", admin, body); r.Status != http.StatusBadRequest {
			t.Fatalf("bad adjust %v: %d %s", body, r.Status, r.Body)
		}
	}
	r = env.Do("GET", "/api/v1/inventory/stock?item_id="+item, disp, nil)
	var list struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	r.JSON(t, &list)
	if r.Status != http.StatusOK || list.Total != 1 || list.Items[0]["on_hand"].(float64) != 12 || list.Items[0]["reserved"].(float64) != 0 {
		t.Fatalf("stock: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/inventory/stock?item_id=nope", admin, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad filter: %d", r.Status)
	}

	// Materials: 201 with a reservation; 409 says how much is available.
	r = env.Do("POST", "/api/v1/work-orders/"+wo+"/materials", disp, map[string]any{"item_id": item, "location_id": whID, "quantity": 5})
	if r.Status != http.StatusCreated || r.Map(t)["status"] != "reserved" || r.Map(t)["reservation"] == nil {
		t.Fatalf("add material: %d %s", r.Status, r.Body)
	}
	mat := r.Map(t)["id"].(string)
	r = env.Do("POST", "/api/v1/work-orders/"+wo+"/materials", disp, map[string]any{"item_id": item, "location_id": whID, "quantity": 10})
	if r.Status != http.StatusConflict || r.ErrorCode() != hub.ECONFLICT || !strings.Contains(string(r.Body), "only 7 each") {
		t.Fatalf("oversell: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/work-orders/"+postgres.NewID()+"/materials", disp, map[string]any{"item_id": item, "quantity": 1}); r.Status != http.StatusNotFound {
		t.Fatalf("unknown work order: %d", r.Status)
	}
	if r := env.Do("POST", "/api/v1/work-orders/"+wo+"/materials", disp, map[string]any{"item_id": item, "quantity": -1}); r.Status != http.StatusBadRequest {
		t.Fatalf("negative quantity: %d", r.Status)
	}

	// Field consumption: scoped to the technician's jobs, idempotent, answers field materials.
	ref := postgres.NewID()
	body := map[string]any{"client_ref": ref, "lines": []map[string]any{{"material_id": mat, "quantity": 6}}}
	if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/materials/consume", tech2, body); r.Status != http.StatusNotFound {
		t.Fatalf("other technician: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/materials/consume", admin, body); r.Status != http.StatusNotFound {
		t.Fatalf("admin is not on the job: %d %s", r.Status, r.Body)
	}
	for range 2 {
		r = env.Do("POST", "/api/v1/field/jobs/"+wo+"/materials/consume", tech, body)
		var res struct {
			Materials []map[string]any `json:"materials"`
		}
		r.JSON(t, &res)
		if r.Status != http.StatusOK || len(res.Materials) != 1 || res.Materials[0]["quantity_used"].(float64) != 6 ||
			res.Materials[0]["status"] != "used" || res.Materials[0]["sku"] == "" {
			t.Fatalf("consume: %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "unit_cost") {
			t.Fatal("costs in a field payload")
		}
	}
	r = env.Do("GET", "/api/v1/inventory/stock?item_id="+item, admin, nil)
	r.JSON(t, &list)
	if list.Items[0]["on_hand"].(float64) != 6 || list.Items[0]["reserved"].(float64) != 0 {
		t.Fatalf("stock after consumption: %s", r.Body)
	}
	r = env.Do("GET", "/api/v1/inventory/alerts?status=open&kind=over_consumption", admin, nil)
	r.JSON(t, &list)
	if list.Total != 1 {
		t.Fatalf("over consumption alerts: %s", r.Body)
	}
	for _, bad := range []string{`{}`, `{"client_ref":"x","lines":[]}`, `{"client_ref":"` + postgres.NewID() + `","lines":[{"material_id":"` + mat + `","quantity":"two"}]}`} {
		if r := env.Do("POST", "/api/v1/field/jobs/"+wo+"/materials/consume", tech, bad); r.Status != http.StatusBadRequest {
			t.Fatalf("bad consume %s: %d %s", bad, r.Status, r.Body)
		}
	}
	if r := env.Do("GET", "/api/v1/field/jobs/"+wo+"/materials", tech, nil); r.Status != http.StatusOK {
		t.Fatalf("field materials: %d", r.Status)
	}
	// The job detail of the field API carries the materials (registered with the work order area).
	r = env.Do("GET", "/api/v1/field/jobs/"+wo, tech, nil)
	var job struct {
		Materials []map[string]any `json:"materials"`
	}
	r.JSON(t, &job)
	if r.Status != http.StatusOK || len(job.Materials) != 1 || job.Materials[0]["id"] != mat {
		t.Fatalf("job detail materials: %d %s", r.Status, r.Body)
	}
	// The demo seed put materials on tech1's upcoming work orders.
	var seeded int
	env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM work_order_materials m JOIN work_orders w ON w.id = m.work_order_id
		WHERE w.assigned_to = $1 AND w.id <> $2`, tech1ID, wo).Scan(&seeded)
	if seeded == 0 {
		t.Fatal("no demo materials on tech1's work orders")
	}

	// Transfers and requests over HTTP.
	r = env.Do("POST", "/api/v1/inventory/transfers", admin, map[string]any{"from_location_id": whID, "to_location_id": van1ID,
		"items": []map[string]any{{"item_id": item, "quantity": 2}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("transfer: %d %s", r.Status, r.Body)
	}
	r = env.Do("POST", "/api/v1/inventory/transfers", admin, map[string]any{"from_location_id": whID, "to_location_id": van1ID,
		"items": []map[string]any{{"item_id": item, "quantity": 200}}})
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "available") {
		t.Fatalf("transfer too much: %d %s", r.Status, r.Body)
	}
	r = env.Do("POST", "/api/v1/material-requests", disp, map[string]any{"destination_location_id": van1ID, "source_location_id": whID,
		"submit": true, "items": []map[string]any{{"item_id": item, "quantity": 1}}})
	if r.Status != http.StatusCreated || r.Map(t)["status"] != "submitted" {
		t.Fatalf("request: %d %s", r.Status, r.Body)
	}
	req := r.Map(t)["id"].(string)
	for _, step := range []struct {
		token, action string
		status        int
	}{
		{disp, "issue", http.StatusForbidden}, {disp, "approve", http.StatusOK}, {disp, "approve", http.StatusConflict},
		{admin, "issue", http.StatusOK}, {disp, "fulfill", http.StatusOK}, {disp, "cancel", http.StatusConflict},
	} {
		if r := env.Do("POST", "/api/v1/material-requests/"+req+"/"+step.action, step.token, nil); r.Status != step.status {
			t.Fatalf("%s: %d %s", step.action, r.Status, r.Body)
		}
	}
	if r := env.Do("GET", "/api/v1/material-requests/not-an-id", disp, nil); r.Status != http.StatusNotFound {
		t.Fatalf("bad request id: %d", r.Status)
	}

	// Every inventory route has a permission that exists.
	known := map[string]bool{}
	for _, p := range hub.Permissions {
		known[p] = true
	}
	n := 0
	for _, line := range env.App.Server.RouteTable() {
		f := strings.Fields(line)
		if len(f) < 3 || !(strings.Contains(f[1], "/inventory") || strings.Contains(f[1], "/material") || strings.Contains(f[1], "/materials")) {
			continue
		}
		n++
		if !known[f[2]] {
			t.Errorf("route %s %s: access %q is not a known permission", f[0], f[1], f[2])
		}
	}
	if n < 30 {
		t.Fatalf("only %d inventory routes found", n)
	}

	// Admin pages render for the admin (cookie session).
	b := adminBrowser(t, env)
	for _, p := range []string{"/admin/inventory/stock", "/admin/inventory/stock?low=on", "/admin/inventory/items", "/admin/inventory/locations",
		"/admin/inventory/requests", "/admin/inventory/requests/" + req, "/admin/inventory/alerts", "/admin/inventory/stock.csv", "/admin"} {
		res := env.Send(b, mustReq(t, "GET", env.URL+p))
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", p, res.Status, res.Body)
		}
		if p == "/admin/inventory/stock.csv" && !strings.HasPrefix(string(res.Body), "sku,item,unit") {
			t.Fatalf("csv: %s", res.Body)
		}
	}

	t.Run("EditAndDeactivate", func(t *testing.T) {
		testEditAndDeactivate(t, env, b, admin, tech, whID)
	})
}

// testEditAndDeactivate edits and deactivates items and locations through the API and the admin
// pages: field messages for bad input, 409 for a stale version or a location holding stock.
func testEditAndDeactivate(t *testing.T, env *hubtest.Env, b *http.Client, admin, tech, whID string) {
	ctx := context.Background()
	r := env.Do("POST", "/api/v1/inventory/items", admin, map[string]any{"name": "Drop clamp", "unit": "each", "unit_cost": 2.5})
	item := r.Map(t)["id"].(string)
	r = env.Do("POST", "/api/v1/inventory/locations", admin, map[string]any{"name": "Overflow shed", "kind": "warehouse"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create location %d %s", r.Status, r.Body)
	}
	shed := r.Map(t)["id"].(string)

	// API: items
	if r := env.Do("PATCH", "/api/v1/inventory/items/"+item, admin, map[string]any{"name": "Drop clamp S", "version": 99}); r.Status != http.StatusConflict || r.ErrorCode() != "conflict" {
		t.Fatalf("stale item version: %d %s", r.Status, r.Body)
	}
	r = env.Do("PATCH", "/api/v1/inventory/items/"+item, admin, map[string]any{"name": "Drop clamp S", "version": 1})
	if r.Status != http.StatusOK || r.Map(t)["version"].(float64) != 2 || r.Map(t)["name"] != "Drop clamp S" {
		t.Fatalf("item update: %d %s", r.Status, r.Body)
	}
	if r := env.Do("PATCH", "/api/v1/inventory/items/"+item, admin, map[string]any{"name": " "}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"name"`) {
		t.Fatalf("blank name: %d %s", r.Status, r.Body)
	}
	// API: locations
	for _, c := range []struct {
		token, id string
		body      any
		want      int
		field     string
	}{
		{admin, shed, map[string]any{"code": "WH-BZN"}, http.StatusConflict, "code"},
		{admin, whID, map[string]any{"is_active": false}, http.StatusConflict, "is_active"},
		{admin, shed, map[string]any{"name": "x", "version": 42}, http.StatusConflict, "version"},
		{admin, shed, map[string]any{"name": ""}, http.StatusBadRequest, "name"},
		{admin, shed, `{"name": 7}`, http.StatusBadRequest, "name"},
		{admin, shed, map[string]any{"kind": "van"}, http.StatusBadRequest, "kind"},
		{admin, postgres.NewID(), map[string]any{"name": "x"}, http.StatusNotFound, ""},
		{admin, "nope", map[string]any{"name": "x"}, http.StatusNotFound, ""},
		{tech, shed, map[string]any{"name": "x"}, http.StatusForbidden, ""},
	} {
		r := env.Do("PATCH", "/api/v1/inventory/locations/"+c.id, c.token, c.body)
		if r.Status != c.want || (c.field != "" && !strings.Contains(string(r.Body), `"`+c.field+`"`)) {
			t.Errorf("PATCH location %v: %d %s", c.body, r.Status, r.Body)
		}
	}
	r = env.Do("PATCH", "/api/v1/inventory/locations/"+shed, admin, map[string]any{"name": "Shed 2", "code": "wh-shed", "is_active": false, "version": 1})
	if r.Status != http.StatusOK || r.Map(t)["code"] != "WH-SHED" || r.Map(t)["is_active"] != false {
		t.Fatalf("location update: %d %s", r.Status, r.Body)
	}

	// Pages
	csrfRe := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	page := func(path string) string {
		t.Helper()
		res := env.Send(b, mustReq(t, "GET", env.URL+path))
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, res.Status, res.Body)
		}
		return string(res.Body)
	}
	body := page("/admin/inventory/items/" + item)
	csrf := string(csrfRe.FindStringSubmatch(body)[1])
	post := func(path string, form neturl.Values) *hubtest.Response {
		t.Helper()
		form.Set("csrf_token", csrf)
		req, _ := http.NewRequest("POST", env.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		return env.Send(b, req)
	}
	for name, c := range map[string]struct {
		form  neturl.Values
		want  int
		field string
		msg   string
	}{
		"blank name":    {neturl.Values{"name": {""}, "unit": {"each"}, "version": {"2"}}, http.StatusBadRequest, "name", "must not be blank"},
		"bad cost":      {neturl.Values{"name": {"A"}, "unit": {"each"}, "unit_cost": {"cheap"}, "version": {"2"}}, http.StatusBadRequest, "unit_cost", "must be a number"},
		"negative":      {neturl.Values{"name": {"A"}, "unit": {"each"}, "reorder_level": {"-1"}, "version": {"2"}}, http.StatusBadRequest, "reorder_level", "0 or more"},
		"no version":    {neturl.Values{"name": {"A"}, "unit": {"each"}}, http.StatusBadRequest, "version", "reload the page"},
		"stale version": {neturl.Values{"name": {"A"}, "unit": {"each"}, "version": {"1"}}, http.StatusConflict, "", "changed since version 1"},
	} {
		r := post("/admin/inventory/items/"+item, c.form)
		if r.Status != c.want || !strings.Contains(string(r.Body), c.msg) {
			t.Errorf("%s: %d, want %d with %q", name, r.Status, c.want, c.msg)
		}
		if c.field != "" && c.field != "version" && !strings.Contains(string(r.Body), `class="err"`) {
			t.Errorf("%s: no field message", name)
		}
	}
	if r := post("/admin/inventory/items/"+item, neturl.Values{"name": {"Drop clamp M"}, "unit": {"pcs"}, "unit_cost": {"3"}, "version": {"2"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("save item: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(page("/admin/inventory/items/"+item), "Drop clamp M") {
		t.Fatal("the edit did not stick")
	}
	if r := post("/admin/inventory/items/"+item+"/active", neturl.Values{"active": {"false"}, "version": {"3"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("deactivate item: %d %s", r.Status, r.Body)
	}
	var active bool
	env.DB.Pool.QueryRow(ctx, `SELECT is_active FROM inventory_items WHERE id = $1`, item).Scan(&active)
	if active {
		t.Fatal("the item is still active")
	}
	if r := post("/admin/inventory/items/"+item+"/active", neturl.Values{"active": {"maybe"}, "version": {"4"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad active: %d", r.Status)
	}
	if r := post("/admin/inventory/items/nope", neturl.Values{"name": {"A"}, "version": {"1"}}); r.Status != http.StatusNotFound {
		t.Fatalf("unknown item: %d", r.Status)
	}

	// locations: the warehouse holds stock; the shed's code is taken; a good save
	page("/admin/inventory/locations/" + whID)
	var whVersion string
	env.DB.Pool.QueryRow(ctx, `SELECT version::text FROM inventory_locations WHERE id = $1`, whID).Scan(&whVersion)
	if r := post("/admin/inventory/locations/"+whID+"/active", neturl.Values{"active": {"false"}, "version": {whVersion}}); r.Status != http.StatusConflict ||
		!strings.Contains(string(r.Body), "still holds stock") {
		t.Fatalf("deactivate a stocked warehouse: %d", r.Status)
	}
	if r := post("/admin/inventory/locations/"+shed, neturl.Values{"name": {"Shed 3"}, "code": {"WH-BZN"}, "version": {"2"}}); r.Status != http.StatusConflict ||
		!strings.Contains(string(r.Body), "is taken") {
		t.Fatalf("taken code: %d", r.Status)
	}
	if r := post("/admin/inventory/locations/"+shed, neturl.Values{"name": {"Shed 3"}, "code": {"WH-SHED"}, "version": {"1"}}); r.Status != http.StatusConflict {
		t.Fatalf("stale location: %d", r.Status)
	}
	if r := post("/admin/inventory/locations/"+shed, neturl.Values{"name": {"Shed 3"}, "code": {"WH-SHED"}, "address": {"Yard 2"}, "version": {"2"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("save location: %d %s", r.Status, r.Body)
	}
	if r := post("/admin/inventory/locations/"+shed+"/active", neturl.Values{"active": {"true"}, "version": {"3"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("reactivate: %d %s", r.Status, r.Body)
	}
	if body := page("/admin/inventory/locations"); !strings.Contains(body, "Shed 3") || !strings.Contains(body, "/admin/inventory/locations/"+shed) {
		t.Fatal("the list lacks the edited location or its edit link")
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

// adminBrowser signs the demo admin in to /admin with a cookie session.
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
