package syncsvc_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/syncsvc"
)

// TestAdminPages renders the devices and conflicts pages for the admin (and, with
// SYNC_SCREENSHOTS=DIR and Chromium installed, saves screenshots of them there).
func TestAdminPages(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "Tablet of Tomás")
	wo := h.createWorkOrder(tech1)
	_, base := h.woStatus(wo)
	h.exec(`UPDATE work_orders SET status = 'canceled', canceled_at = now(), version = version + 1 WHERE id = $1`, wo)
	start := d.transition(wo, base, "start", nil)
	d.upload(start)
	if r := d.result(start.ID); r.Status != syncsvc.StatusConflict {
		t.Fatalf("start after cancel: %+v", r)
	}
	h.exec(`INSERT INTO sync_rejections (device_id, seq, subject, reason, raw) VALUES ($1, 99, 'dmf.up.x', 'malformed batch: unexpected end of JSON input', '{"id":')`, d.enr.DeviceID)
	h.exec(`UPDATE devices SET last_error = 'malformed batch: unexpected end of JSON input', last_error_at = now() WHERE id = $1`, d.enr.DeviceID)

	b := h.env.Browser()
	res := h.env.Send(b, mustReq("GET", h.env.URL+"/auth/login", nil))
	tok := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(res.Body)
	if tok == nil {
		t.Fatal("no login form")
	}
	form := url.Values{"email": {hubtest.AdminEmail}, "password": {hubtest.AdminPassword}, "csrf_token": {string(tok[1])}, "next": {"/admin"}}
	req := mustReq("POST", h.env.URL+"/auth/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := h.env.Send(b, req); res.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", res.Status)
	}
	// Create a device from the page: the code is shown once.
	page := h.env.Send(b, mustReq("GET", h.env.URL+"/admin/sync/devices", nil))
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page.Body)
	form = url.Values{"technician_id": {h.techs["tech2@example.com"]}, "name": {"Tablet of Priya"}, "csrf_token": {string(csrf[1])}}
	req = mustReq("POST", h.env.URL+"/admin/sync/devices", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	created := h.env.Send(b, req)
	if created.Status != http.StatusCreated || !strings.Contains(string(created.Body), "Enrollment code for Tablet of Priya") {
		t.Fatalf("create from page: %d", created.Status)
	}
	devices := h.env.Send(b, mustReq("GET", h.env.URL+"/admin/sync/devices", nil))
	for _, want := range []string{"Tablet of Tomás", "Revoke", "malformed batch", "online"} {
		if !strings.Contains(string(devices.Body), want) {
			t.Errorf("devices page lacks %q", want)
		}
	}
	conflicts := h.env.Send(b, mustReq("GET", h.env.URL+"/admin/sync/conflicts", nil))
	for _, want := range []string{"&#34;canceled&#34;", "&#34;in_progress&#34;", "review", "Resolve"} {
		if !strings.Contains(string(conflicts.Body), want) {
			t.Errorf("conflicts page lacks %q", want)
		}
	}
	dir := os.Getenv("SYNC_SCREENSHOTS")
	chrome, err := exec.LookPath("chromium")
	if dir == "" || err != nil {
		return
	}
	for name, body := range map[string][]byte{"devices-created": created.Body, "devices": devices.Body, "conflicts": conflicts.Body} {
		html := strings.ReplaceAll(string(body), `"/static/`, `"`+h.env.URL+`/static/`)
		file := filepath.Join(dir, "sync-"+name+".html")
		os.WriteFile(file, []byte(html), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--window-size=1440,900", "--screenshot="+filepath.Join(dir, "sync-"+name+".png"), "file://"+file).CombinedOutput()
		cancel()
		if err != nil {
			t.Logf("screenshot %s: %v %s", name, err, out)
		}
	}
}

func mustReq(method, u string, body io.Reader) *http.Request {
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		panic(err)
	}
	return r
}
