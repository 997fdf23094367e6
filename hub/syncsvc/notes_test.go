package syncsvc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"dotmac.dev/field/sync/change"
)

// noteRows are a job's version, its notes and its domain events, without what differs between
// two jobs (ids, numbers, customers, times).
func (h *harness) noteRows(wo string) string {
	h.t.Helper()
	var version, audits int64
	var notes, events []byte
	if err := h.env.DB.Pool.QueryRow(context.Background(), `SELECT version,
		(SELECT coalesce(json_agg(json_build_object('author', author_id, 'body', body, 'internal', is_internal, 'device', device_id,
			'ref', client_ref IS NOT NULL) ORDER BY body), '[]') FROM work_order_notes WHERE work_order_id = w.id),
		(SELECT coalesce(json_agg(json_build_object('topic', topic, 'entity', entity, 'actor', actor_id,
			'payload', payload - 'id' - 'number' - 'note_id' - 'scheduled_start' - 'scheduled_end' - 'customer_id') ORDER BY id), '[]')
			FROM domain_events WHERE entity_id = w.id AND topic <> 'work_order.created'),
		(SELECT count(*) FROM audit_log WHERE target_id = w.id::text)
		FROM work_orders w WHERE w.id = $1`, wo).Scan(&version, &notes, &events, &audits); err != nil {
		h.t.Fatal(err)
	}
	return fmt.Sprintf("version %d\nnotes %s\nevents %s\naudit entries %d", version, notes, events, audits)
}

// TestApplier_NotesAsFieldAPI: notes uploaded by a device (a run of them in one batch, added
// together) leave the rows, versions and domain events the field API leaves for the same notes
// posted one by one from that device, and the device gets the API's answers: 201 with the note,
// 400 for a blank body, 200 with the stored note for a client_ref sent again.
func TestApplier_NotesAsFieldAPI(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	token := h.env.Token("tech1@example.com", "tech123!")
	byAPI, bySync := h.createWorkOrder(tech1), h.createWorkOrder(tech1)

	type sent struct{ ref, body string }
	plan := func() []sent {
		first := uuid.NewString()
		return []sent{{first, "Gate code 4411"}, {uuid.NewString(), "Dog in the yard"}, {uuid.NewString(), "   "},
			{first, "Gate code 4411"}, {uuid.NewString(), "Cabinet is locked"}, {uuid.NewString(), "Customer asked for a call"}}
	}

	// The field API, one request per note, from the device.
	var apiStatus []int
	var apiBodies []json.RawMessage
	for _, n := range plan() {
		b, _ := json.Marshal(map[string]string{"client_ref": n.ref, "body": n.body})
		req, _ := http.NewRequest("POST", h.env.URL+"/api/v1/field/jobs/"+byAPI+"/notes", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Device-ID", d.enr.DeviceID)
		r := h.env.Send(http.DefaultClient, req)
		apiStatus = append(apiStatus, r.Status)
		apiBodies = append(apiBodies, r.Body)
	}
	if !slices.Equal(apiStatus, []int{201, 201, 400, 200, 201, 201}) {
		t.Fatalf("field API: %v", apiStatus)
	}

	// The same notes uploaded in one batch.
	var changes []change.Change
	for _, n := range plan() {
		changes = append(changes, d.mutation("note", bySync, 1, map[string]string{"client_ref": n.ref, "body": n.body}))
	}
	d.upload(changes...)
	for i, c := range changes {
		r := d.result(c.ID)
		var ur struct {
			HTTPStatus int             `json:"http_status"`
			Result     json.RawMessage `json:"result"`
		}
		got, _ := d.feed.latest("upload_result", c.ClientRef)
		json.Unmarshal(got.Data, &ur)
		if ur.HTTPStatus != apiStatus[i] {
			t.Fatalf("note %d: the device got %d (%+v), the field API answered %d", i, ur.HTTPStatus, r, apiStatus[i])
		}
		if apiStatus[i] >= 400 {
			continue
		}
		// The answer is the API's body but for the note's own id, client_ref and time.
		var api, dev map[string]any
		json.Unmarshal(apiBodies[i], &api)
		json.Unmarshal(ur.Result, &dev)
		for _, k := range []string{"id", "client_ref", "created_at"} {
			if _, ok := dev[k]; !ok {
				t.Fatalf("note %d: the result has no %s: %s", i, k, ur.Result)
			}
			delete(api, k)
			delete(dev, k)
		}
		if a, b := fmt.Sprint(api), fmt.Sprint(dev); a != b {
			t.Fatalf("note %d: field API %s, upload result %s", i, a, b)
		}
	}
	a, b := h.noteRows(byAPI), h.noteRows(bySync)
	t.Logf("rows of each job:\n%s", a)
	if a != b {
		t.Fatalf("rows differ:\nfield API:\n%s\nupload:\n%s", a, b)
	}
}

// TestApplier_NotesBetweenOtherChanges: in a batch that mixes notes with other changes, the
// changes take effect in upload order (FIFO per device): each run of notes between two
// transitions is added after the one before it and before the one after it.
func TestApplier_NotesBetweenOtherChanges(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	wo := h.createWorkOrder(tech1)
	_, v := h.woStatus(wo)
	note := func(body string) change.Change {
		return d.mutation("note", wo, v, map[string]string{"client_ref": uuid.NewString(), "body": body})
	}
	batch := []change.Change{note("n1"), d.transition(wo, v, "start", nil), note("n2"), note("n3"),
		d.transition(wo, v, "pause", nil), note("n4"), note(""), d.transition(wo, v, "resume", nil)}
	d.upload(batch...)
	for i, c := range batch {
		r := d.result(c.ID)
		if want := map[bool]string{true: "rejected", false: "applied"}[i == 6]; r.Status != want {
			t.Fatalf("change %d (%s): %+v", i, c.Action, r)
		}
	}
	rows, err := h.env.DB.Pool.Query(context.Background(), `SELECT topic, (payload->>'version')::bigint, coalesce(payload->>'event', '') FROM domain_events
		WHERE entity_id = $1 AND topic IN ('work_order.note_added', 'work_order.field_event') ORDER BY id`, wo)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	last := int64(0)
	for rows.Next() {
		var topic, ev string
		var ver int64
		if err := rows.Scan(&topic, &ver, &ev); err != nil {
			t.Fatal(err)
		}
		if ver <= last {
			t.Fatalf("version %d after %d", ver, last)
		}
		last = ver
		if ev != "" {
			topic = ev
		}
		got = append(got, topic)
	}
	want := []string{"work_order.note_added", "start", "work_order.note_added", "work_order.note_added", "pause", "work_order.note_added", "resume"}
	if !slices.Equal(got, want) {
		t.Fatalf("order of effects:\n got %v\nwant %v", got, want)
	}
	if s, ver := h.woStatus(wo); s != "in_progress" || ver != last {
		t.Fatalf("status %s version %d, last event at %d", s, ver, last)
	}
}

// TestApplier_UploadsInARow: batches uploaded one after the other (a tablet emptying its outbox)
// are each answered, and every note reaches the feed before, or in the same batch as, its result.
func TestApplier_UploadsInARow(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	wo := h.createWorkOrder(tech1)
	f := d.consume()
	var all []change.Change
	for b := range 6 {
		var batch []change.Change
		for i := range 20 {
			batch = append(batch, d.mutation("note", wo, 1, map[string]string{"client_ref": uuid.NewString(), "body": fmt.Sprintf("note %d.%d", b, i)}))
		}
		if b == 3 {
			batch = append(batch, d.transition(wo, 1, "start", nil))
		}
		d.upload(batch...)
		all = append(all, batch...)
	}
	for _, c := range all {
		if r := d.result(c.ID); r.Status != "applied" {
			t.Fatalf("%s: %+v", c.Action, r)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	noteAt, resultAt := map[string]int{}, map[string]int{}
	for i, b := range f.batches {
		for _, c := range b.Changes {
			var d struct {
				ClientRef string `json:"client_ref"`
			}
			json.Unmarshal(c.Data, &d)
			switch c.Entity {
			case "work_order_note":
				if _, ok := noteAt[d.ClientRef]; !ok {
					noteAt[d.ClientRef] = i
				}
			case "upload_result":
				resultAt[d.ClientRef] = i
			}
		}
	}
	for _, c := range all {
		if c.Action != "note" {
			continue
		}
		var n struct {
			ClientRef string `json:"client_ref"`
		}
		json.Unmarshal(c.Data, &n)
		at, ok := noteAt[n.ClientRef]
		if !ok || at > resultAt[c.ClientRef] {
			t.Fatalf("note %s on the feed in batch %d (%v), its result in batch %d", n.ClientRef, at, ok, resultAt[c.ClientRef])
		}
	}
}
