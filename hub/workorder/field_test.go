package workorder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/workorder"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

type transitionResp struct {
	Job struct {
		ID                 string     `json:"id"`
		Status             string     `json:"status"`
		Version            int64      `json:"version"`
		TotalActiveSeconds int64      `json:"total_active_seconds"`
		StartedAt          *time.Time `json:"started_at"`
		AllowedEvents      []string   `json:"allowed_events"`
		Events             []struct {
			ClientEventID string `json:"client_event_id"`
			ClockSkew     bool   `json:"clock_skew"`
		} `json:"events"`
	} `json:"job"`
	Event struct {
		ID        string `json:"id"`
		Replayed  bool   `json:"replayed"`
		ClockSkew bool   `json:"clock_skew"`
	} `json:"event"`
}

func (e *env) fire(token, jobID, event string, extra map[string]any) *hubtest.Response {
	e.t.Helper()
	body := map[string]any{"event": event, "client_event_id": newID(), "occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		body[k] = v
	}
	return e.Do("POST", "/api/v1/field/jobs/"+jobID+"/transition", token, body)
}

func (e *env) setStatus(id, status string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_order_worklogs SET ended_at = started_at + interval '1 minute' WHERE work_order_id = $1 AND ended_at IS NULL`, id); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_orders SET status = $2 WHERE id = $1`, id, status); err != nil {
		e.t.Fatal(err)
	}
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts a multipart attachment.
func (e *env) upload(token string, fields map[string]string, fileName string, data []byte) *hubtest.Response {
	e.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if data != nil {
		fw, _ := mw.CreateFormFile("file", fileName)
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/field/attachments", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return e.Send(http.DefaultClient, req)
}

func (e *env) addEvidence(woID, token string) {
	e.t.Helper()
	r := e.upload(token, map[string]string{"kind": "photo", "work_order_id": woID, "client_ref": newID()}, "p.png", pngBytes(e.t))
	if r.Status != http.StatusCreated {
		e.t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	r = e.upload(token, map[string]string{"kind": "signature", "work_order_id": woID, "client_ref": newID(), "signer_name": "C. Customer"}, "s.png", pngBytes(e.t))
	if r.Status != http.StatusCreated {
		e.t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
}

// TestFieldTransitions_EveryRule fires every event from every status through the HTTP API and
// checks the answer against the §3.7 table.
func TestFieldTransitions_EveryRule(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	e.addEvidence(job.ID, e.tech1)
	type want struct {
		status int
		to     string // "" = unchanged
		repeat bool
	}
	c409 := want{status: 409}
	table := map[string]map[string]want{
		"accept":             {"scheduled": {200, "", false}, "dispatched": {200, "", false}},
		"en_route":           {"scheduled": {200, "dispatched", false}, "dispatched": {200, "dispatched", false}, "paused": {200, "", false}},
		"arrived":            {"scheduled": {200, "", false}, "dispatched": {200, "", false}, "paused": {200, "", false}},
		"start":              {"scheduled": {200, "in_progress", false}, "dispatched": {200, "in_progress", false}},
		"pause":              {"in_progress": {200, "paused", false}, "paused": {200, "", true}},
		"hold":               {"in_progress": {200, "paused", false}, "paused": {200, "", true}},
		"resume":             {"paused": {200, "in_progress", false}, "in_progress": {200, "", true}},
		"complete":           {"in_progress": {200, "completed", false}},
		"unable_to_complete": {"scheduled": {200, "canceled", false}, "dispatched": {200, "canceled", false}, "in_progress": {200, "canceled", false}, "paused": {200, "canceled", false}},
	}
	statuses := []string{"draft", "scheduled", "dispatched", "in_progress", "paused", "completed", "canceled"}
	for event, rules := range table {
		for _, from := range statuses {
			w, ok := rules[from]
			if !ok {
				w = c409
			}
			t.Run(event+"/from_"+from, func(t *testing.T) {
				e.t = t
				e.setStatus(job.ID, from)
				// Earlier subtests' taps are long past: an en_route right after one is a double tap.
				e.DB.Pool.Exec(context.Background(), `UPDATE work_order_events SET occurred_at = occurred_at - interval '1 hour' WHERE work_order_id = $1`, job.ID)
				extra := map[string]any{}
				if event == "unable_to_complete" {
					extra["payload"] = map[string]any{"reason": "no_access"}
				}
				r := e.fire(e.tech1, job.ID, event, extra)
				if r.Status != w.status {
					t.Fatalf("status %d, want %d: %s", r.Status, w.status, r.Body)
				}
				if w.status != 200 {
					if r.ErrorCode() != "conflict" {
						t.Fatalf("code %q", r.ErrorCode())
					}
					return
				}
				var tr transitionResp
				r.JSON(t, &tr)
				to := w.to
				if to == "" {
					to = from
				}
				if tr.Job.Status != to || tr.Event.Replayed != w.repeat {
					t.Fatalf("to %s replayed %v, want %s %v", tr.Job.Status, tr.Event.Replayed, to, w.repeat)
				}
			})
		}
	}
	e.t = t
}

func TestFieldTransitions_GateReasonReplaySkewTimer(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)

	t.Run("timer and skew", func(t *testing.T) {
		e.t = t
		start := time.Now().Add(-10 * time.Minute).UTC()
		r := e.fire(e.tech1, job.ID, "start", map[string]any{"occurred_at": start.Format(time.RFC3339Nano), "lat": 45.68, "lon": -111.04})
		var tr transitionResp
		r.JSON(t, &tr)
		if r.Status != 200 || tr.Job.Status != "in_progress" || tr.Event.ClockSkew || tr.Job.StartedAt == nil {
			t.Fatalf("start: %d %s", r.Status, r.Body)
		}
		var open int
		e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NULL`, job.ID).Scan(&open)
		if open != 1 {
			t.Fatalf("open timers: %d", open)
		}
		r = e.fire(e.tech1, job.ID, "pause", nil)
		r.JSON(t, &tr)
		if tr.Job.Status != "paused" || tr.Job.TotalActiveSeconds < 590 || tr.Job.TotalActiveSeconds > 700 {
			t.Fatalf("pause: %s", r.Body)
		}
		// A device clock an hour behind: accepted, flagged, and the timer uses the hub's clock.
		r = e.fire(e.tech1, job.ID, "resume", map[string]any{"occurred_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
		r.JSON(t, &tr)
		if r.Status != 200 || !tr.Event.ClockSkew || tr.Job.Status != "in_progress" {
			t.Fatalf("skewed resume: %d %s", r.Status, r.Body)
		}
		var skew bool
		e.DB.Pool.QueryRow(context.Background(), `SELECT clock_skew FROM work_order_events WHERE id = $1`, tr.Event.ID).Scan(&skew)
		if !skew {
			t.Fatal("event not flagged")
		}
		var started time.Time
		e.DB.Pool.QueryRow(context.Background(), `SELECT started_at FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NULL`, job.ID).Scan(&started)
		if time.Since(started) > time.Minute {
			t.Fatalf("timer started at the skewed device time %s", started)
		}
	})

	t.Run("completion gate", func(t *testing.T) {
		e.t = t
		r := e.fire(e.tech1, job.ID, "complete", nil)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("no evidence: %d %s", r.Status, r.Body)
		}
		f := errFields(t, r)
		if f["photo"] == "" || f["signature"] == "" {
			t.Fatalf("fields %v", f)
		}
		up := e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "p.png", pngBytes(t))
		if up.Status != 201 {
			t.Fatalf("upload %d %s", up.Status, up.Body)
		}
		r = e.fire(e.tech1, job.ID, "complete", nil)
		if f := errFields(t, r); r.Status != 422 || f["photo"] != "" || f["signature"] == "" {
			t.Fatalf("photo only: %d %s", r.Status, r.Body)
		}
		r = e.fire(e.tech1, job.ID, "complete", map[string]any{"payload": map[string]any{"signature_unavailable_reason": "customer not home"}})
		var tr transitionResp
		r.JSON(t, &tr)
		if r.Status != 200 || tr.Job.Status != "completed" || len(tr.Job.AllowedEvents) != 0 {
			t.Fatalf("complete: %d %s", r.Status, r.Body)
		}
		var open int
		e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NULL`, job.ID).Scan(&open)
		if open != 0 {
			t.Fatal("timer still running after complete")
		}
	})

	t.Run("gate off by setting", func(t *testing.T) {
		e.t = t
		j := e.newWO(e.tech1ID)
		e.DB.Pool.Exec(context.Background(), `INSERT INTO domain_settings (domain, key, value) VALUES ('field', 'completion_requires_evidence', 'false')`)
		defer e.DB.Pool.Exec(context.Background(), `DELETE FROM domain_settings WHERE domain = 'field'`)
		e.fire(e.tech1, j.ID, "start", nil)
		if r := e.fire(e.tech1, j.ID, "complete", nil); r.Status != 200 {
			t.Fatalf("gate off: %d %s", r.Status, r.Body)
		}
	})

	t.Run("unable to complete needs a reason", func(t *testing.T) {
		e.t = t
		j := e.newWO(e.tech1ID)
		for _, p := range []map[string]any{nil, {"payload": map[string]any{"reason": "bored"}}} {
			if r := e.fire(e.tech1, j.ID, "unable_to_complete", p); r.Status != 400 || errFields(t, r)["reason"] == "" {
				t.Fatalf("reason %v: %d %s", p, r.Status, r.Body)
			}
		}
		r := e.fire(e.tech1, j.ID, "unable_to_complete", map[string]any{"payload": map[string]any{"reason": "customer_absent"}})
		var tr transitionResp
		r.JSON(t, &tr)
		if r.Status != 200 || tr.Job.Status != "canceled" {
			t.Fatalf("unable: %d %s", r.Status, r.Body)
		}
	})

	t.Run("replay returns the original result", func(t *testing.T) {
		e.t = t
		j := e.newWO(e.tech1ID)
		id := newID()
		body := map[string]any{"event": "accept", "client_event_id": id, "occurred_at": time.Now().UTC().Format(time.RFC3339)}
		var first, second, third transitionResp
		e.must(200, "POST", "/api/v1/field/jobs/"+j.ID+"/transition", e.tech1, body, &first)
		e.must(200, "POST", "/api/v1/field/jobs/"+j.ID+"/transition", e.tech1, body, &second)
		if first.Event.Replayed || !second.Event.Replayed || first.Event.ID != second.Event.ID || first.Job.Version != second.Job.Version {
			t.Fatalf("replay: %+v / %+v", first.Event, second.Event)
		}
		// Days later, after the job moved on, the same id still answers the original result.
		e.fire(e.tech1, j.ID, "start", nil)
		e.DB.Pool.Exec(context.Background(), `UPDATE work_order_events SET received_at = received_at - interval '9 days' WHERE client_event_id = $1`, id)
		e.must(200, "POST", "/api/v1/field/jobs/"+j.ID+"/transition", e.tech1, body, &third)
		if !third.Event.Replayed || third.Event.ID != first.Event.ID || third.Job.Status != "scheduled" {
			t.Fatalf("late replay: %+v %s", third.Event, third.Job.Status)
		}
		var n int
		e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM work_order_events WHERE client_event_id = $1`, id).Scan(&n)
		if n != 1 {
			t.Fatalf("%d event rows", n)
		}
		// Another technician replaying the id sees nothing.
		if r := e.Do("POST", "/api/v1/field/jobs/"+j.ID+"/transition", e.tech2, body); r.Status != 404 {
			t.Fatalf("replay by stranger: %d", r.Status)
		}
	})
}

func TestFieldScope(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID, e.tech2ID) // tech2 is crew
	other := e.newWO(e.tech3ID)

	// The primary and the crew see the job; tech3 does not.
	e.must(200, "GET", "/api/v1/field/jobs/"+job.ID, e.tech1, nil, nil)
	var crewView struct {
		IsPrimary     bool     `json:"is_primary"`
		AllowedEvents []string `json:"allowed_events"`
		Customer      map[string]any
	}
	e.must(200, "GET", "/api/v1/field/jobs/"+job.ID, e.tech2, nil, &crewView)
	if crewView.IsPrimary || len(crewView.AllowedEvents) != 0 {
		t.Fatalf("crew view: %+v", crewView)
	}
	for _, p := range []string{"/api/v1/field/jobs/" + job.ID, "/api/v1/field/jobs/" + newID(), "/api/v1/field/jobs/not-a-uuid"} {
		if r := e.Do("GET", p, e.tech3, nil); r.Status != 404 || r.ErrorCode() != "not_found" {
			t.Fatalf("GET %s by tech3: %d", p, r.Status)
		}
	}
	// Crew may not fire events (403); strangers get 404.
	if r := e.fire(e.tech2, job.ID, "accept", nil); r.Status != 403 {
		t.Fatalf("crew transition: %d %s", r.Status, r.Body)
	}
	if r := e.fire(e.tech3, job.ID, "accept", nil); r.Status != 404 {
		t.Fatalf("stranger transition: %d %s", r.Status, r.Body)
	}
	// Crew may add notes; strangers may not.
	note := map[string]any{"client_ref": newID(), "body": "Ladder on the truck"}
	e.must(201, "POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech2, note, nil)
	if r := e.Do("POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech3, map[string]any{"client_ref": newID(), "body": "x"}); r.Status != 404 {
		t.Fatalf("stranger note: %d", r.Status)
	}
	// Lists hold only the caller's jobs.
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.must(200, "GET", "/api/v1/field/jobs", e.tech3, nil, &list)
	for _, it := range list.Items {
		if it.ID == job.ID {
			t.Fatal("tech3 lists tech1's job")
		}
	}
	found := false
	for _, it := range list.Items {
		found = found || it.ID == other.ID
	}
	if !found {
		t.Fatal("tech3 misses its own job")
	}
	// No costs or rates in field payloads.
	r := e.must(200, "GET", "/api/v1/field/jobs/"+job.ID, e.tech1, nil, nil)
	for _, bad := range []string{"rate", "cost", "price"} {
		if strings.Contains(string(r.Body), bad) {
			t.Fatalf("field payload mentions %q: %s", bad, r.Body)
		}
	}
	// Bad filters are 400.
	if r := e.Do("GET", "/api/v1/field/jobs?from=yesterday", e.tech1, nil); r.Status != 400 {
		t.Fatalf("bad from: %d", r.Status)
	}
	if r := e.Do("GET", "/api/v1/field/jobs?status=busy", e.tech1, nil); r.Status != 400 {
		t.Fatalf("bad status: %d", r.Status)
	}
	// Reassigning away takes the job out of scope.
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": e.tech3ID}, nil)
	if r := e.Do("GET", "/api/v1/field/jobs/"+job.ID, e.tech1, nil); r.Status != 404 {
		t.Fatalf("after reassign: %d", r.Status)
	}
}

func TestFieldNotesIdempotent(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	ref := newID()
	var a, b struct{ ID, Body string }
	e.must(201, "POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech1, map[string]any{"client_ref": ref, "body": "Dog is friendly"}, &a)
	e.must(200, "POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech1, map[string]any{"client_ref": ref, "body": "Dog is friendly"}, &b)
	if a.ID != b.ID {
		t.Fatalf("replayed note has a new id: %s %s", a.ID, b.ID)
	}
	for _, body := range []any{
		map[string]any{"client_ref": ref, "body": "   "},
		map[string]any{"client_ref": "nope", "body": "x"},
		map[string]any{"body": "x"},
	} {
		if r := e.Do("POST", "/api/v1/field/jobs/"+job.ID+"/notes", e.tech1, body); r.Status != 400 {
			t.Fatalf("%v: %d %s", body, r.Status, r.Body)
		}
	}
	other := e.newWO(e.tech1ID)
	if r := e.Do("POST", "/api/v1/field/jobs/"+other.ID+"/notes", e.tech1, map[string]any{"client_ref": ref, "body": "x"}); r.Status != 409 {
		t.Fatalf("client_ref reused on another job: %d", r.Status)
	}
}

func TestFieldWorklogs(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	p := "/api/v1/field/jobs/" + job.ID + "/worklogs"
	base := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339) }
	type wl struct {
		ID        string `json:"id"`
		Backdated bool   `json:"backdated"`
		Duplicate bool   `json:"duplicate"`
		Seconds   int64  `json:"seconds"`
	}
	var out struct{ Items []wl }
	ref := newID()
	e.must(200, "POST", p, e.tech1, map[string]any{"worklogs": []map[string]any{{"client_ref": ref, "started_at": at(0), "ended_at": at(30 * time.Minute)}}}, &out)
	if len(out.Items) != 1 || out.Items[0].Seconds != 1800 || out.Items[0].Duplicate {
		t.Fatalf("first: %+v", out.Items)
	}
	first := out.Items[0].ID
	// Same client_ref: the stored entry, flagged duplicate.
	e.must(200, "POST", p, e.tech1, map[string]any{"worklogs": []map[string]any{{"client_ref": ref, "started_at": at(0), "ended_at": at(30 * time.Minute)}}}, &out)
	if out.Items[0].ID != first || !out.Items[0].Duplicate {
		t.Fatalf("dedupe: %+v", out.Items)
	}
	cases := []struct {
		name  string
		entry map[string]any
		want  int
	}{
		{"end before start", map[string]any{"started_at": at(2 * time.Hour), "ended_at": at(time.Hour)}, 400},
		{"end equals start", map[string]any{"started_at": at(2 * time.Hour), "ended_at": at(2 * time.Hour)}, 400},
		{"over 16 hours", map[string]any{"started_at": at(-20 * time.Hour), "ended_at": at(-3 * time.Hour)}, 400},
		{"bad time", map[string]any{"started_at": "9am", "ended_at": at(time.Hour)}, 400},
		{"overlap", map[string]any{"started_at": at(20 * time.Minute), "ended_at": at(50 * time.Minute)}, 409},
		{"future", map[string]any{"started_at": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}, 400},
	}
	for _, c := range cases {
		if r := e.Do("POST", p, e.tech1, map[string]any{"worklogs": []map[string]any{c.entry}}); r.Status != c.want {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	// Overlap with the person's time on another job is a conflict too.
	other := e.newWO(e.tech1ID)
	if r := e.Do("POST", "/api/v1/field/jobs/"+other.ID+"/worklogs", e.tech1, map[string]any{"worklogs": []map[string]any{{"started_at": at(10 * time.Minute), "ended_at": at(40 * time.Minute)}}}); r.Status != 409 {
		t.Fatalf("overlap across jobs: %d", r.Status)
	}
	// One open timer per person.
	e.must(200, "POST", p, e.tech1, map[string]any{"worklogs": []map[string]any{{"started_at": at(time.Hour)}}}, nil)
	if r := e.Do("POST", "/api/v1/field/jobs/"+other.ID+"/worklogs", e.tech1, map[string]any{"worklogs": []map[string]any{{"started_at": at(2 * time.Hour)}}}); r.Status != 409 {
		t.Fatalf("second open timer: %d %s", r.Status, r.Body)
	}
	// Backdated more than 7 days: accepted and flagged.
	old := time.Now().Add(-9 * 24 * time.Hour).UTC()
	e.must(200, "POST", "/api/v1/field/jobs/"+other.ID+"/worklogs", e.tech1, map[string]any{"worklogs": []map[string]any{{"started_at": old.Format(time.RFC3339), "ended_at": old.Add(time.Hour).Format(time.RFC3339)}}}, &out)
	if !out.Items[0].Backdated {
		t.Fatalf("not flagged: %+v", out.Items)
	}
	var total int64
	e.DB.Pool.QueryRow(context.Background(), `SELECT total_active_seconds FROM work_orders WHERE id = $1`, other.ID).Scan(&total)
	if total != 3600 {
		t.Fatalf("total_active_seconds %d", total)
	}
	// Strangers: 404.
	if r := e.Do("POST", p, e.tech3, map[string]any{"worklogs": []map[string]any{{"started_at": at(-2 * time.Hour), "ended_at": at(-time.Hour)}}}); r.Status != 404 {
		t.Fatalf("stranger: %d", r.Status)
	}
}

func TestFieldAttachments(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	img := pngBytes(t)
	ref := newID()
	fields := map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": ref, "captured_at": time.Now().UTC().Format(time.RFC3339), "lat": "45.68", "lon": "-111.04"}
	r := e.upload(e.tech1, fields, "front.png", img)
	if r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var a struct{ ID, MIME, URL string }
	r.JSON(t, &a)
	if a.MIME != "image/png" || a.URL != "/api/v1/field/attachments/"+a.ID+"/content" {
		t.Fatalf("attachment %+v", a)
	}
	// Same client_ref: the same attachment, 200.
	r = e.upload(e.tech1, fields, "front.png", img)
	var b struct{ ID string }
	r.JSON(t, &b)
	if r.Status != 200 || b.ID != a.ID {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	// Download: the technician and staff, not strangers.
	got := e.must(200, "GET", a.URL, e.tech1, nil, nil)
	if !bytes.Equal(got.Body, img) || got.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("content: %q", got.Header.Get("Content-Type"))
	}
	e.must(200, "GET", a.URL, e.admin, nil, nil)
	if r := e.Do("GET", a.URL, e.tech3, nil); r.Status != 404 {
		t.Fatalf("stranger download: %d", r.Status)
	}
	if r := e.Do("GET", a.URL, "", nil); r.Status != 401 {
		t.Fatalf("anonymous download: %d", r.Status)
	}
	// Wrong types are refused whatever the name says.
	r = e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "evil.png", []byte("#!/bin/sh\necho hi\n"))
	if r.Status != 422 || errFields(t, r)["file"] == "" {
		t.Fatalf("text as png: %d %s", r.Status, r.Body)
	}
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	if r := e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "x.gif", gif); r.Status != 422 {
		t.Fatalf("gif: %d", r.Status)
	}
	// Too big: 413.
	big := append(append([]byte{}, img...), bytes.Repeat([]byte{0}, 10<<20)...)
	if r := e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "big.png", big); r.Status != 413 {
		t.Fatalf("big: %d %s", r.Status, r.Body)
	}
	// Missing or bad fields: 400.
	for _, f := range []map[string]string{
		{"kind": "selfie", "work_order_id": job.ID, "client_ref": newID()},
		{"kind": "photo", "work_order_id": "x", "client_ref": newID()},
		{"kind": "photo", "work_order_id": job.ID},
		{"kind": "photo", "work_order_id": job.ID, "client_ref": newID(), "lat": "91", "lon": "0"},
	} {
		if r := e.upload(e.tech1, f, "a.png", img); r.Status != 400 {
			t.Fatalf("%v: %d %s", f, r.Status, r.Body)
		}
	}
	if r := e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "", nil); r.Status != 400 {
		t.Fatalf("no file: %d", r.Status)
	}
	// Not multipart: 400. Someone else's job: 404.
	if r := e.Do("POST", "/api/v1/field/attachments", e.tech1, map[string]any{"kind": "photo"}); r.Status != 400 {
		t.Fatalf("json upload: %d", r.Status)
	}
	if r := e.upload(e.tech3, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "a.png", img); r.Status != 404 {
		t.Fatalf("stranger upload: %d", r.Status)
	}
	// Content-addressed: one file for the same bytes.
	e.upload(e.tech1, map[string]string{"kind": "photo", "work_order_id": job.ID, "client_ref": newID()}, "again.png", img)
	var keys int
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(DISTINCT storage_key) FROM field_attachments WHERE work_order_id = $1`, job.ID).Scan(&keys)
	if keys != 1 {
		t.Fatalf("%d storage keys", keys)
	}
	_ = io.EOF
	_ = fmt.Sprint
	_ = json.Marshal
}

// TestApplierOptions: the sync applier's options — a field fact made offline stands after the
// office canceled (AssumeFrom), a former holder's event applies, the device's ids are kept.
func TestApplierOptions(t *testing.T) {
	e := setup(t)
	svc := workorder.NewService(e.DB, t.TempDir(), nil)
	ctx := context.Background()
	job := e.newWO(e.tech1ID)
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/assign", e.disp, map[string]any{"assigned_to": e.tech2ID}, nil)
	e.must(200, "POST", "/api/v1/work-orders/"+job.ID+"/transition", e.disp, map[string]any{"to_status": "canceled"}, nil)
	req := field.TransitionRequest{Event: fieldexec.EventStart, ClientEventID: newID()}
	if _, err := svc.ApplyFieldEvent(ctx, e.tech1ID, "", job.ID, req); hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Fatalf("without options: %v", err)
	}
	evID, dev := newID(), newID()
	res, err := svc.ApplyFieldEventWith(ctx, e.tech1ID, dev, job.ID, req, workorder.FieldOptions{ID: evID, AssumeFrom: fieldexec.StatusScheduled, FormerHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Event.ID != evID || res.Job.Status != fieldexec.StatusInProgress {
		t.Fatalf("applied %+v %s", res.Event, res.Job.Status)
	}
	var device string
	e.DB.Pool.QueryRow(ctx, `SELECT device_id::text FROM work_order_events WHERE id = $1`, evID).Scan(&device)
	if device != dev {
		t.Fatalf("device %q", device)
	}
	again, err := svc.ApplyFieldEventWith(ctx, e.tech1ID, dev, job.ID, req, workorder.FieldOptions{FormerHolder: true})
	if err != nil || !again.Event.Replayed || again.Event.ID != evID {
		t.Fatalf("replay: %+v %v", again, err)
	}
	noteID := newID()
	n, created, err := svc.AddFieldNoteWith(ctx, e.tech1ID, dev, job.ID, field.NoteRequest{ClientRef: newID(), Body: "offline note"}, workorder.FieldOptions{ID: noteID, FormerHolder: true})
	if err != nil || !created || n.ID != noteID {
		t.Fatalf("note %+v %v %v", n, created, err)
	}
}
