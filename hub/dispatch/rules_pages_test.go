package dispatch_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"dotmac.dev/field/hub/hubtest"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// The rules page: an empty state, a refused form that keeps what was typed and says why, a rule
// added, edited and deleted — and a technician (no dispatch permission) kept out.
func TestRulesPage(t *testing.T) {
	w := newWorld(t)
	env := w.env
	b := env.Browser()
	b.Jar.SetCookies(mustURL(t, env.URL+"/admin"), []*http.Cookie{staffCookie(t, env, hubtest.DispatchEmail, hubtest.DispatchPass)})
	get := func(path string, want int) string {
		t.Helper()
		res, err := b.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d: %.400s", path, res.StatusCode, want, body)
		}
		return string(body)
	}
	post := func(path string, form url.Values, want int) string {
		t.Helper()
		res, err := b.PostForm(env.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d: %.400s", path, res.StatusCode, want, body)
		}
		return string(body)
	}
	if _, err := env.DB.Pool.Exec(t.Context(), `DELETE FROM dispatch_rules`); err != nil { // the demo's
		t.Fatal(err)
	}
	page := get("/admin/operations/dispatch/rules", 200)
	if !strings.Contains(page, "No dispatch rules yet") {
		t.Fatal("no empty state")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	var skill string
	if err := env.DB.Pool.QueryRow(t.Context(), `SELECT id::text FROM skills ORDER BY name LIMIT 1`).Scan(&skill); err != nil {
		t.Fatal(err)
	}

	bad := post("/admin/operations/dispatch/rules", url.Values{"csrf_token": {csrf}, "name": {"North installs"}, "priority": {"high"},
		"work_type": {"install"}, "auto_assign": {"on"}, "is_active": {"on"}}, 400)
	if !strings.Contains(bad, "must be a whole number") || !strings.Contains(bad, `value="North installs"`) {
		t.Fatalf("a refused form must say why and keep the input: %.2000s", bad)
	}
	bad = post("/admin/operations/dispatch/rules", url.Values{"csrf_token": {csrf}, "priority": {"5000"}}, 400)
	if !strings.Contains(bad, "between -1000 and 1000") {
		t.Fatal("priority range not reported")
	}
	post("/admin/operations/dispatch/rules", url.Values{"csrf_token": {csrf}, "name": {"North installs"}, "priority": {"10"},
		"work_type": {"install"}, "region": {"North"}, "skill_ids": {skill}, "auto_assign": {"on"}, "is_active": {"on"}}, 303)
	var id string
	if err := env.DB.Pool.QueryRow(t.Context(), `SELECT id::text FROM dispatch_rules WHERE name = 'North installs' AND region = 'North'
		AND work_type = 'install' AND $1::uuid = ANY(skill_ids) AND auto_assign AND is_active`, skill).Scan(&id); err != nil {
		t.Fatalf("the rule was not stored as typed: %v", err)
	}
	page = get("/admin/operations/dispatch/rules", 200)
	if !strings.Contains(page, "North installs") || strings.Contains(page, "No dispatch rules yet") {
		t.Fatal("the list does not show the rule")
	}
	edit := get("/admin/operations/dispatch/rules/"+id, 200)
	if !strings.Contains(edit, "Edit rule") || !strings.Contains(edit, `value="`+skill+`" checked`) {
		t.Fatalf("edit form: %.2000s", edit)
	}
	// Saving without auto-assign keeps matching jobs for a dispatcher.
	post("/admin/operations/dispatch/rules/"+id, url.Values{"csrf_token": {csrf}, "name": {"North installs"}, "priority": {"10"},
		"work_type": {"install"}, "region": {"North"}, "is_active": {"on"}}, 303)
	var auto bool
	var skills int
	env.DB.Pool.QueryRow(t.Context(), `SELECT auto_assign, cardinality(skill_ids) FROM dispatch_rules WHERE id = $1`, id).Scan(&auto, &skills)
	if auto || skills != 0 {
		t.Fatalf("after edit: auto_assign=%v skills=%d", auto, skills)
	}
	post("/admin/operations/dispatch/rules/"+id+"/delete", url.Values{"csrf_token": {csrf}}, 303)
	if !strings.Contains(get("/admin/operations/dispatch/rules", 200), "No dispatch rules yet") {
		t.Fatal("the rule is still listed after delete")
	}
	get("/admin/operations/dispatch/rules/"+id, 404)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
