package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
)

func TestAuth_LoginAndMe(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	tok := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	r := env.Do("GET", "/api/v1/auth/me", tok, nil)
	if r.Status != 200 {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	me := r.Map(t)
	if me["email"] != hubtest.AdminEmail || me["display_name"] == "" {
		t.Fatalf("me: %v", me)
	}
	if perms := me["permissions"].([]any); len(perms) != 1 || perms[0] != "*" {
		t.Fatalf("admin permissions: %v", perms)
	}

	t.Run("wrong password", func(t *testing.T) {
		r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": hubtest.DispatchEmail, "password": "nope"})
		if r.Status != 401 || r.ErrorCode() != "unauthorized" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("unknown email looks the same", func(t *testing.T) {
		r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "nope"})
		if r.Status != 401 || !strings.Contains(string(r.Body), "invalid email or password") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("missing fields", func(t *testing.T) {
		r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{})
		m := r.Map(t)
		fields := m["error"].(map[string]any)["fields"].(map[string]any)
		if r.Status != 400 || fields["email"] == nil || fields["password"] == nil {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("no token", func(t *testing.T) {
		r := env.Do("GET", "/api/v1/auth/me", "", nil)
		if r.Status != 401 || r.ErrorCode() != "unauthorized" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("garbage token", func(t *testing.T) {
		r := env.Do("GET", "/api/v1/auth/me", "not.a.jwt", nil)
		if r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		var sid string
		env.DB.Pool.QueryRow(context.Background(), `SELECT id FROM sessions WHERE status='active' LIMIT 1`).Scan(&sid)
		var pid string
		env.DB.Pool.QueryRow(context.Background(), `SELECT person_id FROM sessions WHERE id=$1`, sid).Scan(&pid)
		old, _ := env.App.Keys.Issue(pid, sid, "api", time.Now().Add(-time.Hour))
		r := env.Do("GET", "/api/v1/auth/me", old, nil)
		if r.Status != 401 || !strings.Contains(string(r.Body), "expired") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		tok := env.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
		if r := env.Do("POST", "/api/v1/auth/logout", tok, nil); r.Status != 204 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		if r := env.Do("GET", "/api/v1/auth/me", tok, nil); r.Status != 401 {
			t.Fatalf("after logout: %d %s", r.Status, r.Body)
		}
	})
}

func TestAuth_LockoutAndExpiry(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	bad := map[string]string{"email": hubtest.DispatchEmail, "password": "wrong-password"}
	for i := 0; i < 5; i++ {
		if r := env.Do("POST", "/api/v1/auth/login", "", bad); r.Status != 401 {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	good := map[string]string{"email": hubtest.DispatchEmail, "password": hubtest.DispatchPass}
	r := env.Do("POST", "/api/v1/auth/login", "", good)
	if r.Status != 401 || !strings.Contains(string(r.Body), "too many failed logins") {
		t.Fatalf("locked account accepted the right password: %d %s", r.Status, r.Body)
	}
	// The lock expires after 15 minutes: move it into the past.
	if _, err := env.DB.Pool.Exec(context.Background(), `UPDATE credentials SET locked_until = now() - interval '1 second'
		WHERE person_id = (SELECT id FROM people WHERE email = $1)`, hubtest.DispatchEmail); err != nil {
		t.Fatal(err)
	}
	if r := env.Do("POST", "/api/v1/auth/login", "", good); r.Status != 200 {
		t.Fatalf("after expiry: %d %s", r.Status, r.Body)
	}
	var failures int
	env.DB.Pool.QueryRow(context.Background(), `SELECT failed_attempts FROM credentials c JOIN people p ON p.id = c.person_id WHERE p.email = $1`,
		hubtest.DispatchEmail).Scan(&failures)
	if failures != 0 {
		t.Fatalf("failures not reset: %d", failures)
	}
	// Failures and the lockout are in the audit log.
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND NOT success AND actor_email = $1`,
		hubtest.DispatchEmail).Scan(&n)
	if n < 6 {
		t.Fatalf("audit rows for failed logins: %d", n)
	}
}

func TestAuth_RefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	_, r0 := env.Login(hubtest.AdminEmail, hubtest.AdminPassword)
	refresh := func(tok string) *hubtest.Response {
		return env.Do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok})
	}
	res := refresh(r0)
	if res.Status != 200 {
		t.Fatalf("refresh: %d %s", res.Status, res.Body)
	}
	var t1 struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
	}
	res.JSON(t, &t1)
	if t1.RefreshToken == r0 || t1.TokenType != "bearer" || t1.ExpiresIn != 900 {
		t.Fatalf("rotation: %+v", t1)
	}
	if r := env.Do("GET", "/api/v1/auth/me", t1.AccessToken, nil); r.Status != 200 {
		t.Fatalf("new access token: %d", r.Status)
	}
	// Within the grace window the previous token still works once more (a lost answer retried).
	if r := refresh(r0); r.Status != 200 {
		t.Fatalf("retry within grace: %d %s", r.Status, r.Body)
	}
	// After the grace, reusing an old token revokes the whole session.
	env.App.Auth.RotationGrace = 0
	if _, err := env.DB.Pool.Exec(context.Background(), `UPDATE sessions SET rotated_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	res = refresh(r0)
	if res.Status != 401 || !strings.Contains(string(res.Body), "already used") {
		t.Fatalf("reuse: %d %s", res.Status, res.Body)
	}
	if r := env.Do("GET", "/api/v1/auth/me", t1.AccessToken, nil); r.Status != 401 {
		t.Fatalf("access token of a revoked session still works: %d", r.Status)
	}
	if r := refresh(t1.RefreshToken); r.Status != 401 {
		t.Fatalf("current refresh token of a revoked session still works: %d", r.Status)
	}
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'auth.refresh_reuse'`).Scan(&n)
	if n != 1 {
		t.Fatalf("reuse audit rows: %d", n)
	}
	if r := refresh("garbage"); r.Status != 401 {
		t.Fatalf("garbage refresh: %d", r.Status)
	}
}

func TestAuth_DeactivationRevokesAtOnce(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	admin := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	disp := env.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
	if r := env.Do("GET", "/api/v1/auth/me", disp, nil); r.Status != 200 { // warms the principal cache
		t.Fatal(r.Status)
	}
	var id string
	env.DB.Pool.QueryRow(context.Background(), `SELECT id FROM people WHERE email = $1`, hubtest.DispatchEmail).Scan(&id)
	if r := env.Do("POST", "/api/v1/people/"+id+"/deactivate", admin, nil); r.Status != 200 {
		t.Fatalf("deactivate: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/auth/me", disp, nil); r.Status != 401 {
		t.Fatalf("deactivated person's token still works: %d", r.Status)
	}
	if r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": hubtest.DispatchEmail, "password": hubtest.DispatchPass}); r.Status != 401 {
		t.Fatalf("deactivated person can log in: %d", r.Status)
	}
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'person.deactivate' AND target_id = $1`, id).Scan(&n)
	if n != 1 {
		t.Fatalf("audit: %d", n)
	}
}

func TestAuth_RoleChangeAppliesOnNextRequest(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	admin := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	tech := env.Token(hubtest.Tech1Email, hubtest.TechPassword)
	if r := env.Do("GET", "/api/v1/audit", tech, nil); r.Status != 403 {
		t.Fatalf("technician reads audit: %d", r.Status)
	}
	var id string
	env.DB.Pool.QueryRow(context.Background(), `SELECT id FROM people WHERE email = $1`, hubtest.Tech1Email).Scan(&id)
	if r := env.Do("POST", "/api/v1/people/"+id+"/roles", admin, map[string]string{"role": "auditor"}); r.Status != 200 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/audit", tech, nil); r.Status != 200 {
		t.Fatalf("after grant: %d %s", r.Status, r.Body)
	}
	if r := env.Do("DELETE", "/api/v1/people/"+id+"/roles/auditor", admin, nil); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/api/v1/audit", tech, nil); r.Status != 403 {
		t.Fatalf("after revoke: %d", r.Status)
	}
}

func TestRBAC_FieldTechnicianLacksOfficeUpdate(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	r := env.Do("GET", "/api/v1/auth/me", env.Token(hubtest.Tech1Email, hubtest.TechPassword), nil)
	var me struct{ Permissions []string }
	r.JSON(t, &me)
	p := &hub.Principal{Permissions: me.Permissions}
	if p.Can("operations:work_order:update") {
		t.Fatal("field_technician holds operations:work_order:update")
	}
	for _, perm := range me.Permissions {
		if !strings.HasPrefix(perm, "field:") {
			t.Fatalf("field_technician holds a non-field permission %s", perm)
		}
	}
	if !p.Can("field:job:transition") {
		t.Fatal("field_technician lacks field:job:transition")
	}
}

func TestRateLimit_429WithHeaders(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true, RateLimit: 5})
	tok := env.Token(hubtest.AdminEmail, hubtest.AdminPassword) // login is limited separately
	var last *hubtest.Response
	for i := 0; i < 6; i++ {
		last = env.Do("GET", "/api/v1/auth/me", tok, nil)
		if i < 5 {
			if last.Status != 200 {
				t.Fatalf("request %d: %d", i, last.Status)
			}
			if got := last.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(4-i) {
				t.Fatalf("request %d remaining %s", i, got)
			}
		}
	}
	if last.Status != 429 || last.ErrorCode() != "rate_limited" {
		t.Fatalf("6th request: %d %s", last.Status, last.Body)
	}
	if last.Header.Get("Retry-After") == "" || last.Header.Get("X-RateLimit-Limit") != "5" || last.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("headers: %v", last.Header)
	}
	// Another user has a budget of their own.
	if r := env.Do("GET", "/api/v1/auth/me", env.Token(hubtest.DispatchEmail, hubtest.DispatchPass), nil); r.Status != 200 {
		t.Fatalf("other user: %d", r.Status)
	}
}

func TestRateLimit_RedisDownFallsBackToMemory(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true, RateLimit: 3})
	tok := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	env.App.Server.Limiter.Redis = nil // as if Redis stopped answering
	codes := []int{}
	for i := 0; i < 4; i++ {
		codes = append(codes, env.Do("GET", "/api/v1/auth/me", tok, nil).Status)
	}
	if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 {
		t.Fatalf("in-memory window: %v", codes)
	}
}

// webLogin signs in through a portal's login form and returns the browser.
func webLogin(t *testing.T, env *hubtest.Env, loginPath, email, pw string) (*http.Client, *hubtest.Response) {
	t.Helper()
	b := env.Browser()
	page := env.Send(b, mustReq(t, "GET", env.URL+loginPath, nil))
	if page.Status != 200 {
		t.Fatalf("login page %s: %d", loginPath, page.Status)
	}
	csrf := between(string(page.Body), `name="csrf_token" value="`, `"`)
	form := url.Values{"email": {email}, "password": {pw}, "csrf_token": {csrf}}
	req := mustReq(t, "POST", env.URL+loginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b, env.Send(b, req)
}

func mustReq(t *testing.T, method, u string, body interface{ Read([]byte) (int, error) }) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequest(method, u, nil)
	} else {
		req, err = http.NewRequest(method, u, body)
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return req
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

func TestPortals_SeparationAndCSRF(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})

	admin, res := webLogin(t, env, "/auth/login", hubtest.AdminEmail, hubtest.AdminPassword)
	if res.Status != 303 || res.Header.Get("Location") != "/admin" {
		t.Fatalf("staff login: %d %s", res.Status, res.Header.Get("Location"))
	}
	dash := env.Send(admin, mustReq(t, "GET", env.URL+"/admin", nil))
	if dash.Status != 200 || !strings.Contains(string(dash.Body), "Dashboard") || !strings.Contains(string(dash.Body), "/admin/system/users") {
		t.Fatalf("dashboard: %d", dash.Status)
	}
	// The staff session is not a customer session.
	if r := env.Send(admin, mustReq(t, "GET", env.URL+"/portal", nil)); r.Status != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/portal/login") {
		t.Fatalf("staff cookie on /portal: %d %s", r.Status, r.Header.Get("Location"))
	}

	cust, res := webLogin(t, env, "/portal/login", hubtest.CustomerEmail, hubtest.CustomerPass)
	if res.Status != 303 || res.Header.Get("Location") != "/portal" {
		t.Fatalf("customer login: %d %s %s", res.Status, res.Header.Get("Location"), res.Body)
	}
	if r := env.Send(cust, mustReq(t, "GET", env.URL+"/portal", nil)); r.Status != 200 {
		t.Fatalf("customer portal: %d", r.Status)
	}
	for _, p := range []string{"/admin", "/reseller", "/vendor"} {
		if r := env.Send(cust, mustReq(t, "GET", env.URL+p, nil)); r.Status != 303 {
			t.Fatalf("customer cookie on %s: %d", p, r.Status)
		}
	}
	// A customer cannot sign in to the staff portal at all.
	if _, r := webLogin(t, env, "/auth/login", hubtest.CustomerEmail, hubtest.CustomerPass); r.Status != 403 {
		t.Fatalf("customer on staff login: %d", r.Status)
	}
	// A staff member cannot sign in to the reseller portal.
	if _, r := webLogin(t, env, "/reseller/login", hubtest.AdminEmail, hubtest.AdminPassword); r.Status != 403 {
		t.Fatalf("admin on reseller login: %d", r.Status)
	}

	// CSRF: a state-changing form without the token is refused and changes nothing.
	form := url.Values{"email": {"csrf-victim@example.com"}, "first_name": {"Eve"}}
	req := mustReq(t, "POST", env.URL+"/admin/system/users", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := env.Send(admin, req); r.Status != 403 {
		t.Fatalf("POST without CSRF token: %d", r.Status)
	}
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM people WHERE email = 'csrf-victim@example.com'`).Scan(&n)
	if n != 0 {
		t.Fatal("the forged form created a user")
	}
	// With the token from the page it works.
	page := env.Send(admin, mustReq(t, "GET", env.URL+"/admin/system/users", nil))
	form.Set("csrf_token", between(string(page.Body), `name="csrf_token" value="`, `"`))
	req = mustReq(t, "POST", env.URL+"/admin/system/users", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := env.Send(admin, req); r.Status != 303 {
		t.Fatalf("POST with CSRF token: %d %s", r.Status, r.Body)
	}
	// The login form itself needs its double-submit token.
	b := env.Browser()
	lf := url.Values{"email": {hubtest.AdminEmail}, "password": {hubtest.AdminPassword}}
	req = mustReq(t, "POST", env.URL+"/auth/login", strings.NewReader(lf.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := env.Send(b, req); r.Status != 403 {
		t.Fatalf("login form without token: %d", r.Status)
	}
}

func TestAdminPages_RenderForEveryStaffRole(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	admin, _ := webLogin(t, env, "/auth/login", hubtest.AdminEmail, hubtest.AdminPassword)
	for _, p := range []string{"/admin", "/admin/system/users", "/admin/system/roles", "/admin/system/permissions", "/admin/system/audit"} {
		r := env.Send(admin, mustReq(t, "GET", env.URL+p, nil))
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	disp, _ := webLogin(t, env, "/auth/login", hubtest.DispatchEmail, hubtest.DispatchPass)
	d := env.Send(disp, mustReq(t, "GET", env.URL+"/admin", nil))
	if strings.Contains(string(d.Body), "/admin/system/roles") {
		t.Fatal("dispatcher sidebar shows the roles page")
	}
	if r := env.Send(disp, mustReq(t, "GET", env.URL+"/admin/system/roles", nil)); r.Status != 403 {
		t.Fatalf("dispatcher on roles page: %d", r.Status)
	}
}

func TestBadInput_NeverA500(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	tok := env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	cases := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"malformed json", "POST", "/api/v1/people", `{"email":`, 400},
		{"not json", "POST", "/api/v1/people", `email=x`, 400},
		{"wrong type", "POST", "/api/v1/people", `{"email": 12}`, 400},
		{"unknown field", "POST", "/api/v1/people", `{"email":"a@b.co","first_name":"A","admin":true}`, 400},
		{"bad email", "POST", "/api/v1/people", `{"email":"not-an-email","first_name":"A"}`, 400},
		{"two values", "POST", "/api/v1/people", `{"email":"a@b.co"} {}`, 400},
		{"invalid uuid", "GET", "/api/v1/people/not-a-uuid", nil, 404},
		{"unknown person", "GET", "/api/v1/people/01890000-0000-7000-8000-000000000000", nil, 404},
		{"unknown enum", "PATCH", "/api/v1/people/01890000-0000-7000-8000-000000000000", `{"status":"zombie"}`, 400},
		{"bad limit", "GET", "/api/v1/people?limit=abc", nil, 400},
		{"unknown role", "POST", "/api/v1/roles", `{"name":"x","permissions":["nope:nope:nope"]}`, 400},
		{"no route", "GET", "/api/v1/nothing-here", nil, 404},
	}
	for _, c := range cases {
		r := env.Do(c.method, c.path, tok, c.body)
		if r.Status != c.want || r.ErrorCode() == "" || r.ErrorCode() == "internal" {
			t.Errorf("%s: %d %s (want %d)", c.name, r.Status, r.Body, c.want)
		}
	}
	big := `{"email":"` + strings.Repeat("a", 2<<20) + `"}`
	if r := env.Do("POST", "/api/v1/people", tok, big); r.Status != 413 {
		t.Errorf("2 MiB body: %d", r.Status)
	}
	// Duplicate email → 409 with a field message; nothing half-written.
	dup := map[string]any{"email": "ADMIN@example.com", "first_name": "Dup"}
	if r := env.Do("POST", "/api/v1/people", tok, dup); r.Status != 409 || !strings.Contains(string(r.Body), "email") {
		t.Errorf("duplicate email (case-insensitive): %d %s", r.Status, r.Body)
	}
}

func TestAuth_ConcurrentRefreshOfOneTokenNeverLeaksTwoSessions(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	_, r0 := env.Login(hubtest.AdminEmail, hubtest.AdminPassword)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = env.Do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": r0}).Status
		}(i)
	}
	wg.Wait()
	for _, c := range codes {
		if c != 200 && c != 401 {
			t.Fatalf("codes %v", codes)
		}
	}
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE status = 'active'`).Scan(&n)
	if n != 1 {
		t.Fatalf("active sessions: %d", n)
	}
}

func TestPortals_EachSeesOnlyItsOwnData(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	ctx := context.Background()
	var mine, other string
	env.DB.Pool.QueryRow(ctx, `SELECT w.number FROM work_orders w JOIN customers c ON c.id = w.customer_id
		JOIN people p ON p.id = c.person_id WHERE p.email = $1 LIMIT 1`, hubtest.CustomerEmail).Scan(&mine)
	env.DB.Pool.QueryRow(ctx, `SELECT w.number FROM work_orders w JOIN customers c ON c.id = w.customer_id
		WHERE c.person_id IS NULL AND c.organization_id IS NULL LIMIT 1`).Scan(&other)
	if mine == "" || other == "" {
		t.Fatalf("demo data: mine=%q other=%q", mine, other)
	}
	cust, _ := webLogin(t, env, "/portal/login", hubtest.CustomerEmail, hubtest.CustomerPass)
	page := string(env.Send(cust, mustReq(t, "GET", env.URL+"/portal", nil)).Body)
	if !strings.Contains(page, mine) || strings.Contains(page, other) {
		t.Fatalf("customer portal: has own %s=%v, has other %s=%v", mine, strings.Contains(page, mine), other, strings.Contains(page, other))
	}
	res, _ := webLogin(t, env, "/reseller/login", "reseller1@example.com", "reseller123!")
	rpage := string(env.Send(res, mustReq(t, "GET", env.URL+"/reseller", nil)).Body)
	var inTree, outside string
	env.DB.Pool.QueryRow(ctx, `SELECT c.number FROM customers c JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Lakeside Resellers' LIMIT 1`).Scan(&inTree)
	env.DB.Pool.QueryRow(ctx, `SELECT number FROM customers WHERE organization_id IS NULL LIMIT 1`).Scan(&outside)
	if !strings.Contains(rpage, inTree) || strings.Contains(rpage, ">"+outside+"<") {
		t.Fatalf("reseller portal: own account %s=%v, outside %s=%v", inTree, strings.Contains(rpage, inTree), outside, strings.Contains(rpage, ">"+outside+"<"))
	}
}

func TestPortals_SignOutRevokesTheSession(t *testing.T) {
	t.Parallel()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	b, _ := webLogin(t, env, "/auth/login", hubtest.AdminEmail, hubtest.AdminPassword)
	page := env.Send(b, mustReq(t, "GET", env.URL+"/admin", nil))
	csrf := between(string(page.Body), `name="csrf_token" value="`, `"`)
	// Staff pages' scripts may call the API with the session cookie and the CSRF header.
	req := mustReq(t, "GET", env.URL+"/api/v1/auth/me", nil)
	if r := env.Send(b, req); r.Status != 200 {
		t.Fatalf("API with the staff cookie: %d", r.Status)
	}
	req = mustReq(t, "POST", env.URL+"/api/v1/auth/logout", nil)
	if r := env.Send(b, req); r.Status != 403 {
		t.Fatalf("API POST with the cookie but no CSRF header: %d", r.Status)
	}
	form := url.Values{"csrf_token": {csrf}}
	req = mustReq(t, "POST", env.URL+"/auth/logout", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := env.Send(b, req); r.Status != 303 {
		t.Fatalf("sign out: %d %s", r.Status, r.Body)
	}
	var n int
	env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE portal = 'admin' AND status = 'active'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d admin sessions still active after sign-out", n)
	}
}
