package workorder_test

import (
	"context"
	"dotmac.dev/field/hub/hubtest"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// staff signs in to /admin and returns a cookie client and a page's CSRF token reader.
func (e *env) staff(email, pw string) *http.Client {
	e.t.Helper()
	c := e.Browser()
	res, err := c.Get(e.URL + "/auth/login")
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	u, _ := url.Parse(e.URL)
	var csrf string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "dmf_login_csrf" {
			csrf = ck.Value
		}
	}
	res, err = c.PostForm(e.URL+"/auth/login", url.Values{"email": {email}, "password": {pw}, "csrf_token": {csrf}, "next": {"/admin"}})
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("staff login: %d", res.StatusCode)
	}
	return c
}

func (e *env) page(c *http.Client, path string, want int) string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	r := e.Send(c, req)
	if r.Status != want {
		e.t.Fatalf("GET %s: %d, want %d: %.500s", path, r.Status, want, r.Body)
	}
	return string(r.Body)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (e *env) post(c *http.Client, path, csrf string, form url.Values) *http.Response {
	e.t.Helper()
	form.Set("csrf_token", csrf)
	res, err := c.PostForm(e.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestPages(t *testing.T) {
	e := setup(t)
	c := e.staff("dispatcher@example.com", "dispatch123!")
	list := e.page(c, "/admin/operations/work-orders", 200)
	for _, want := range []string{"WO-0000", "Export CSV", "Saved filters", "Work orders", "Technicians", "Customers"} {
		if !strings.Contains(list, want) {
			t.Fatalf("list misses %q", want)
		}
	}
	csrf := csrfRE.FindStringSubmatch(list)[1]
	e.page(c, "/admin/operations/work-orders?status=scheduled&assigned_to="+e.tech1ID+"&from=2020-01-01", 200)
	if body := e.page(c, "/admin/operations/work-orders?q=nothing-matches-this", 200); !strings.Contains(body, "No work orders match") {
		t.Fatal("no empty state")
	}
	e.page(c, "/admin/operations/work-orders?from=someday", 400)
	// CSV export of the filtered list.
	req, _ := http.NewRequest("GET", e.URL+"/admin/operations/work-orders/export.csv?status=completed", nil)
	r := e.Send(c, req)
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), "number,title,status") || strings.Contains(string(r.Body), ",scheduled,") {
		t.Fatalf("csv: %d %.300s", r.Status, r.Body)
	}
	// Saved filters are per user.
	if res := e.post(c, "/admin/operations/work-orders/filters", csrf, url.Values{"name": {"Tomás today"}, "query": {"assigned_to=" + e.tech1ID}}); res.StatusCode != 303 {
		t.Fatalf("save filter: %d", res.StatusCode)
	}
	if !strings.Contains(e.page(c, "/admin/operations/work-orders", 200), "Tomás today") {
		t.Fatal("saved filter missing")
	}
	adm := e.staff("admin@example.com", "admin123!")
	if strings.Contains(e.page(adm, "/admin/operations/work-orders", 200), "Tomás today") {
		t.Fatal("saved filter leaks to another user")
	}
	// Create with field messages, then for real.
	res := e.post(c, "/admin/operations/work-orders", csrf, url.Values{"title": {""}, "work_type": {"install"}, "priority": {"normal"},
		"scheduled_start": {"2030-01-01T10:00"}, "scheduled_end": {"2030-01-01T09:00"}})
	if res.StatusCode != 400 {
		t.Fatalf("bad create: %d", res.StatusCode)
	}
	res = e.post(c, "/admin/operations/work-orders", csrf, url.Values{"title": {"Page-made install"}, "work_type": {"install"}, "priority": {"high"},
		"status": {"scheduled"}, "scheduled_start": {"2030-01-01T10:00"}, "scheduled_end": {"2030-01-01T11:00"}, "assigned_to": {e.tech1ID},
		"address": {"5 Page St, Bozeman"}, "lat": {"45.68"}, "lon": {"-111.04"}, "tags": {"web, test"}})
	if res.StatusCode != 303 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	job := e.newWO(e.tech1ID)
	e.addEvidence(job.ID, e.tech1)
	detail := e.page(c, "/admin/operations/work-orders/"+job.ID, 200)
	for _, want := range []string{"Timeline", "Crew", "Photos and documents", "/admin/operations/attachments/", "Add note"} {
		if !strings.Contains(detail, want) {
			t.Fatalf("detail misses %q", want)
		}
	}
	att := regexp.MustCompile(`/admin/operations/attachments/([0-9a-f-]+)/content`).FindString(detail)
	req, _ = http.NewRequest("GET", e.URL+att, nil)
	if r := e.Send(c, req); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("staff attachment: %d", r.Status)
	}
	if res := e.post(c, "/admin/operations/work-orders/"+job.ID+"/notes", csrf, url.Values{"body": {"Bring the long ladder"}, "is_internal": {"1"}}); res.StatusCode != 303 {
		t.Fatalf("note: %d", res.StatusCode)
	}
	if !strings.Contains(e.page(c, "/admin/operations/work-orders/"+job.ID, 200), "Bring the long ladder") {
		t.Fatal("note not shown")
	}
	e.page(c, loc+"/edit", 200)
	if res := e.post(c, loc, csrf, url.Values{"title": {"Renamed from page"}, "work_type": {"repair"}, "priority": {"low"}, "version": {"0"}}); res.StatusCode != 409 {
		t.Fatalf("stale edit: %d", res.StatusCode)
	}
	if res := e.post(c, loc, csrf, url.Values{"title": {"Renamed from page"}, "work_type": {"repair"}, "priority": {"low"}, "version": {"1"},
		"scheduled_start": {"2030-01-01T10:00"}, "scheduled_end": {"2030-01-01T12:00"}}); res.StatusCode != 303 {
		t.Fatalf("edit: %d", res.StatusCode)
	}
	if !strings.Contains(e.page(c, loc, 200), "Renamed from page") {
		t.Fatal("edit not saved")
	}
	e.page(c, "/admin/operations/work-orders/"+newID(), 404)
	e.page(c, "/admin/operations/technicians", 200)
	e.page(c, "/admin/operations/technicians/"+e.tech1ID, 200)
	cl := e.page(c, "/admin/customers?q=a", 200)
	cid := regexp.MustCompile(`/admin/customers/([0-9a-f-]{36})`).FindStringSubmatch(cl)[1]
	e.page(c, "/admin/customers/"+cid, 200)
	// A technician has no staff pages.
	tc := e.Browser()
	if res, _ := tc.Get(e.URL + "/admin/operations/work-orders"); res.StatusCode != 303 {
		t.Fatalf("anonymous: %d", res.StatusCode)
	}
}

// TestScreenshots renders the pages with headless Chromium into $DMF_SCREENSHOTS (skipped when unset).
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("DMF_SCREENSHOTS")
	if dir == "" {
		t.Skip("set DMF_SCREENSHOTS=dir to render the pages")
	}
	e := setup(t)
	c := e.staff("dispatcher@example.com", "dispatch123!")
	u, _ := url.Parse(e.URL)
	var cookie string
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/admin"}) {
		cookie += ck.Name + "=" + ck.Value + "; "
	}
	job := e.newWO(e.tech1ID, e.tech2ID)
	e.addEvidence(job.ID, e.tech1)
	e.fire(e.tech1, job.ID, "start", nil)
	e.Do("POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech1, map[string]any{"client_ref": newID(), "body": "ONT mounted in the garage, customer happy."})
	proxy := httputil.NewSingleHostReverseProxy(u)
	director := proxy.Director
	proxy.Director = func(r *http.Request) { director(r); r.Header.Set("Cookie", cookie) }
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	var cust string
	e.DB.Pool.QueryRow(context.Background(), `SELECT id FROM customers ORDER BY name LIMIT 1`).Scan(&cust)
	pages := map[string]string{
		"wo-list": "/admin/operations/work-orders", "wo-empty": "/admin/operations/work-orders?q=zzz", "wo-detail": "/admin/operations/work-orders/" + job.ID,
		"wo-new": "/admin/operations/work-orders/new", "wo-edit": "/admin/operations/work-orders/" + job.ID + "/edit",
		"techs": "/admin/operations/technicians", "tech": "/admin/operations/technicians/" + e.tech1ID, "customers": "/admin/customers",
		"customer": "/admin/customers/" + cust,
	}
	for name, p := range pages {
		for _, size := range []string{"1280,800", "800,1280"} {
			out := filepath.Join(dir, name+"-"+strings.Replace(size, ",", "x", 1)+".png")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
				"--screenshot="+out, "--window-size="+size, srv.URL+p)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: %v %s", name, err, b)
			}
			cancel()
		}
	}
}

// The work order form picks its customer by typeahead; a name typed but not picked is refused
// with a message instead of creating a job without its customer.
func TestCustomerPicker(t *testing.T) {
	e := setup(t)
	c := e.staff("dispatcher@example.com", "dispatch123!")
	var id, name string
	if err := e.DB.Pool.QueryRow(t.Context(), `SELECT id::text, name FROM customers ORDER BY name LIMIT 1`).Scan(&id, &name); err != nil {
		t.Fatal(err)
	}
	opts := e.page(c, "/admin/customers/picker?customer_q="+url.QueryEscape(name[:4]), 200)
	if !strings.Contains(opts, `data-id="`+id+`"`) {
		t.Fatalf("picker misses %s: %s", name, opts)
	}
	if none := e.page(c, "/admin/customers/picker?customer_q=zzzzqqqq", 200); !strings.Contains(none, "No customer matches") {
		t.Fatalf("no empty state: %s", none)
	}
	form := e.page(c, "/admin/operations/work-orders/new", 200)
	csrf := csrfRE.FindStringSubmatch(form)[1]
	base := url.Values{"title": {"Picked customer"}, "work_type": {"install"}, "priority": {"normal"}, "status": {"draft"}}
	bad := url.Values{"customer_q": {name}}
	for k, v := range base {
		bad[k] = v
	}
	bad.Set("csrf_token", csrf)
	res, err := c.PostForm(e.URL+"/admin/operations/work-orders", bad)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "choose the customer from the list") || !strings.Contains(string(body), "Picked customer") {
		t.Fatalf("typed but not picked: %d %.1500s", res.StatusCode, body)
	}
	good := url.Values{"customer_q": {name}, "customer_id": {id}}
	for k, v := range base {
		good[k] = v
	}
	if res := e.post(c, "/admin/operations/work-orders", csrf, good); res.StatusCode != 303 {
		t.Fatalf("create with a picked customer: %d", res.StatusCode)
	}
	var n int
	e.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM work_orders WHERE title = 'Picked customer' AND customer_id = $1`, id).Scan(&n)
	if n != 1 {
		t.Fatalf("work orders with the picked customer: %d", n)
	}
}

// A customer created from its staff page gets its primary site; bad input keeps what was typed.
func TestCustomerCreatePage(t *testing.T) {
	e := setup(t)
	c := e.staff(hubtest.AdminEmail, hubtest.AdminPassword)
	if list := e.page(c, "/admin/customers", 200); !strings.Contains(list, `href="/admin/customers/new"`) {
		t.Fatalf("no New customer button: %s", list)
	}
	form := e.page(c, "/admin/customers/new", 200)
	csrf := csrfRE.FindStringSubmatch(form)[1]
	res, err := c.PostForm(e.URL+"/admin/customers", url.Values{"csrf_token": {csrf}, "name": {"Gallatin Gateway Co-op"}, "email": {"not-an-email"},
		"status": {"active"}, "lat": {"95"}, "lon": {"-111"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "from -90 to 90") || !strings.Contains(string(body), "Gallatin Gateway Co-op") {
		t.Fatalf("bad input: %d %.1500s", res.StatusCode, body)
	}
	res = e.post(c, "/admin/customers", csrf, url.Values{"name": {"Gallatin Gateway Co-op"}, "email": {"ops@ggcoop.example"}, "status": {"active"},
		"address": {"100 Main St, Gallatin Gateway, MT"}, "lat": {"45.5958"}, "lon": {"-111.1961"}})
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/admin/customers/") {
		t.Fatalf("create: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var sites int
	e.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM sites s JOIN customers c ON c.id = s.customer_id
		WHERE c.name = 'Gallatin Gateway Co-op' AND s.geom IS NOT NULL`).Scan(&sites)
	if sites != 1 {
		t.Fatalf("primary sites: %d", sites)
	}
	e.page(c, res.Header.Get("Location"), 200)
}

// A technician created from the staff page can sign in and carries the ticked skills; a bad
// proficiency is refused before anyone is created.
func TestTechnicianCreatePage(t *testing.T) {
	e := setup(t)
	c := e.staff(hubtest.AdminEmail, hubtest.AdminPassword)
	if list := e.page(c, "/admin/operations/technicians", 200); !strings.Contains(list, `href="/admin/operations/technicians/new"`) {
		t.Fatal("no New technician button")
	}
	form := e.page(c, "/admin/operations/technicians/new", 200)
	csrf := csrfRE.FindStringSubmatch(form)[1]
	var s1, s2 string
	if err := e.DB.Pool.QueryRow(t.Context(), `SELECT (array_agg(id::text ORDER BY name))[1], (array_agg(id::text ORDER BY name))[2] FROM skills`).Scan(&s1, &s2); err != nil {
		t.Fatal(err)
	}
	base := url.Values{"first_name": {"Rosa"}, "last_name": {"Nakai"}, "email": {"rosa.nakai@example.com"}, "password": {"Sp1ice-all-day"},
		"region": {"Belgrade"}, "skill": {s1, s2}, "proficiency_" + s1: {"85"}, "proficiency_" + s2: {"140"}, "primary_skill": {s1}}
	base.Set("csrf_token", csrf)
	res, err := c.PostForm(e.URL+"/admin/operations/technicians", base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "from 0 to 100") || !strings.Contains(string(body), `value="Rosa"`) {
		t.Fatalf("bad proficiency: %d %.1500s", res.StatusCode, body)
	}
	var n int
	e.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM people WHERE email = 'rosa.nakai@example.com'`).Scan(&n)
	if n != 0 {
		t.Fatal("a refused form created the person")
	}
	base.Set("proficiency_"+s2, "40")
	if res := e.post(c, "/admin/operations/technicians", csrf, base); res.StatusCode != 303 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	var skills, primary int
	e.DB.Pool.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE ts.is_primary AND ts.skill_id = $1) FROM technician_skills ts
		JOIN people p ON p.id = ts.person_id WHERE p.email = 'rosa.nakai@example.com'`, s1).Scan(&skills, &primary)
	if skills != 2 || primary != 1 {
		t.Fatalf("skills %d, primary %d", skills, primary)
	}
	e.Token("rosa.nakai@example.com", "Sp1ice-all-day") // the new technician can sign in
}

// A staff form over the body limit is answered 413 "too large", not 403 "form expired": the
// CSRF check reads the form first and must tell the two apart.
func TestPageOverBodyLimit(t *testing.T) {
	e := setup(t)
	c := e.staff("dispatcher@example.com", "dispatch123!")
	form := e.page(c, "/admin/operations/work-orders/new", 200)
	csrf := csrfRE.FindStringSubmatch(form)[1]
	res, err := c.PostForm(e.URL+"/admin/operations/work-orders", url.Values{"csrf_token": {csrf}, "title": {"Big"},
		"description": {strings.Repeat("x", 2<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit: %d", res.StatusCode)
	}
	var n int
	e.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM work_orders WHERE title = 'Big'`).Scan(&n)
	if n != 0 {
		t.Fatal("an over-limit form was saved")
	}
}
