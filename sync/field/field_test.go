package field_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

const (
	id1 = "0190c8a2-7a10-7c4e-9b1a-2f0d4c1e5a01"
	id2 = "0190c8a2-7a10-7c4e-9b1a-2f0d4c1e5a02"
)

func ptr[T any](v T) *T { return &v }

func TestJobSummary_JSON(t *testing.T) {
	s := field.JobSummary{ID: id1, Number: "WO-000001", Status: fieldexec.StatusDispatched, IsPrimary: true}
	s.SetAllowedEvents()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + id1 + `","number":"WO-000001","title":"","description":"","status":"dispatched","priority":"","work_type":"","version":0,` +
		`"scheduled_start":null,"scheduled_end":null,"started_at":null,"paused_at":null,"completed_at":null,"total_active_seconds":0,` +
		`"access_notes":"","tags":[],"assigned_to":null,"is_primary":true,"crew":[],"site":{"address":"","lat":null,"lon":null},` +
		`"customer":null,"allowed_events":["accept","en_route","arrived","start","unable_to_complete"]}`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	for _, k := range []string{"notes", "materials", "attachments", "events", "survey"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Fatalf("summary has key %q", k)
		}
	}
	s.IsPrimary = false
	s.SetAllowedEvents()
	if b, _ := json.Marshal(s); !strings.Contains(string(b), `"allowed_events":[]`) {
		t.Fatalf("crew member gets events: %s", b)
	}
}

func TestJob_RoundTrip(t *testing.T) {
	at := field.At(time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.FixedZone("WAT", 3600)))
	j := field.Job{
		JobSummary: field.JobSummary{
			ID: id1, Number: "WO-000007", Title: "Install", Status: fieldexec.StatusInProgress, Version: 4,
			ScheduledStart: at, StartedAt: at, Tags: []string{"fiber"}, AssignedTo: ptr(id2), IsPrimary: true,
			Crew:     []field.CrewMember{{PersonID: id2, Name: "Ada", IsPrimary: true}},
			Site:     field.Site{Address: "1 Marina", Lat: ptr(6.45), Lon: ptr(3.39)},
			Customer: &field.Customer{ID: id1, Name: "Acme"},
		},
		JobDetail: field.JobDetail{
			Notes:  []field.Note{{ID: id1, Body: "gate code 1234", CreatedAt: *at, ClientRef: ptr(id2)}},
			Events: []field.JobEvent{{ID: id1, Event: "start", FromStatus: "dispatched", ToStatus: "in_progress", OccurredAt: *at, ReceivedAt: *at, ClientEventID: id2}},
			Survey: &field.Survey{TemplateID: id1, Name: "Site", Questions: []field.Question{{ID: "q1", Label: "Height", Type: field.QuestionNumber}},
				Answers: map[string]json.RawMessage{"q1": json.RawMessage(`12.5`)}},
		},
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		`"scheduled_start":"2025-03-01T08:30:00.123456Z"`,
		`"materials":[]`, `"attachments":[]`, `"payload":{}`, `"options":[]`,
		`"answers":{"q1":12.5}`, `"customer":{"id":`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("missing %s in\n%s", frag, b)
		}
	}
	var back field.Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
	if back.Title != "Install" || len(back.Notes) != 1 || back.Survey == nil || *back.AssignedTo != id2 {
		t.Fatalf("decoded %+v", back)
	}
	// A detail without a survey writes null, not an omitted key.
	j.Survey = nil
	if b, _ := json.Marshal(j); !strings.Contains(string(b), `"survey":null`) {
		t.Fatalf("no survey: %s", b)
	}
}

func TestTransitionResponse_JSON(t *testing.T) {
	r := field.TransitionResponse{Job: field.Job{JobSummary: field.JobSummary{ID: id1}}, Event: field.TransitionEvent{ID: id2, Replayed: true}}
	b, _ := json.Marshal(r)
	if !strings.HasPrefix(string(b), `{"job":{"id":"`+id1) || !strings.HasSuffix(string(b), `"event":{"id":"`+id2+`","replayed":true,"clock_skew":false}}`) {
		t.Fatalf("got %s", b)
	}
}

func TestEnvelopes_JSON(t *testing.T) {
	b, _ := json.Marshal(field.List[field.JobSummary]{Limit: 50})
	if string(b) != `{"items":[],"total":0,"limit":50,"offset":0}` {
		t.Fatalf("list: %s", b)
	}
	b, _ = json.Marshal(field.ErrorResponse{Error: field.ErrorBody{Code: "conflict", Message: "no"}})
	if string(b) != `{"error":{"code":"conflict","message":"no","fields":{}}}` {
		t.Fatalf("error: %s", b)
	}
	b, _ = json.Marshal(field.SyncStatus{Scope: map[string]int{"work_orders": 3}})
	if string(b) != `{"online":false,"pending_uploads":0,"last_sync_at":null,"last_error":null,"open_conflicts":0,"scope":{"work_orders":3}}` {
		t.Fatalf("status: %s", b)
	}
}

func keys(e field.Errors) []string {
	var ks []string
	for k := range e {
		ks = append(ks, k)
	}
	return ks
}

func TestTransitionRequest_Validate(t *testing.T) {
	tests := []struct {
		name string
		req  field.TransitionRequest
		want []string
	}{
		{"OK", field.TransitionRequest{Event: "start", ClientEventID: id1, Lat: ptr(6.5), Lon: ptr(3.3)}, nil},
		{"NoEvent", field.TransitionRequest{ClientEventID: id1}, []string{"event"}},
		{"UnknownEvent", field.TransitionRequest{Event: "fly", ClientEventID: id1}, []string{"event"}},
		{"NoClientEventID", field.TransitionRequest{Event: "start"}, []string{"client_event_id"}},
		{"BadClientEventID", field.TransitionRequest{Event: "start", ClientEventID: "abc"}, []string{"client_event_id"}},
		{"HalfCoords", field.TransitionRequest{Event: "start", ClientEventID: id1, Lat: ptr(1.0)}, []string{"lat"}},
		{"LatRange", field.TransitionRequest{Event: "start", ClientEventID: id1, Lat: ptr(91.0), Lon: ptr(0.0)}, []string{"lat"}},
		{"NoReason", field.TransitionRequest{Event: "unable_to_complete", ClientEventID: id1}, []string{"reason"}},
		{"Reason", field.TransitionRequest{Event: "unable_to_complete", ClientEventID: id1, Payload: field.Payload{Reason: "unsafe"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(tt.req.Validate()); !sameSet(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransitionRequest_Input(t *testing.T) {
	r := field.TransitionRequest{Event: "complete", ClientEventID: id1, Payload: field.Payload{SignatureUnavailableReason: "gone"}}
	out, err := fieldexec.Apply(r.Input(fieldexec.StatusInProgress, fieldexec.Evidence{Photos: 1}, true))
	if err != nil || out.To != fieldexec.StatusCompleted {
		t.Fatalf("out=%+v err=%v", out, err)
	}
}

func TestOtherRequests_Validate(t *testing.T) {
	tests := []struct {
		name string
		errs field.Errors
		want []string
	}{
		{"NoteOK", field.NoteRequest{ClientRef: id1, Body: "hi"}.Validate(), nil},
		{"NoteBlank", field.NoteRequest{ClientRef: id1, Body: " \n"}.Validate(), []string{"body"}},
		{"NoteNoRef", field.NoteRequest{Body: "x"}.Validate(), []string{"client_ref"}},
		{"ConsumeOK", field.ConsumeRequest{ClientRef: id1, Lines: []field.ConsumeLine{{MaterialID: id2, Quantity: 1.5}}}.Validate(), nil},
		{"ConsumeEmpty", field.ConsumeRequest{ClientRef: id1}.Validate(), []string{"lines"}},
		{"ConsumeBad", field.ConsumeRequest{ClientRef: id1, Lines: []field.ConsumeLine{{MaterialID: id2, Quantity: 0}, {MaterialID: id2, Quantity: 1}}}.Validate(),
			[]string{"lines[0].quantity", "lines[1].material_id"}},
		{"UploadOK", field.AttachmentUpload{Kind: "photo", WorkOrderID: id1, ClientRef: id2, MIME: "image/jpeg", Size: 1000}.Validate(), nil},
		{"UploadBig", field.AttachmentUpload{Kind: "photo", WorkOrderID: id1, ClientRef: id2, MIME: "image/jpeg", Size: field.MaxAttachmentBytes + 1}.Validate(), []string{"file"}},
		{"UploadType", field.AttachmentUpload{Kind: "video", WorkOrderID: id1, ClientRef: id2, MIME: "video/mp4", Size: 10}.Validate(), []string{"kind", "file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(tt.errs); !sameSet(got, tt.want) {
				t.Fatalf("fields = %v (%v), want %v", got, tt.errs, tt.want)
			}
		})
	}
}

func TestSurveyRequest_Validate(t *testing.T) {
	qs := []field.Question{
		{ID: "h", Label: "Height", Type: field.QuestionNumber, Required: true},
		{ID: "c", Label: "Colour", Type: field.QuestionChoice, Options: []string{"red", "blue"}},
		{ID: "g", Label: "Spot", Type: field.QuestionGPS},
	}
	ans := func(kv ...string) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name    string
		answers map[string]json.RawMessage
		want    []string
	}{
		{"OK", ans("h", "3", "c", `"red"`, "g", `{"lat":1,"lon":2}`), nil},
		{"MissingRequired", ans("c", `"red"`), []string{"answers.h"}},
		{"WrongTypes", ans("h", `"tall"`, "c", `"green"`, "g", `{"lat":100,"lon":2}`), []string{"answers.h", "answers.c", "answers.g"}},
		{"Unknown", ans("h", "1", "zz", "1"), []string{"answers.zz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keys(field.SurveyRequest{ClientRef: id1, Answers: tt.answers}.Validate(qs...))
			if !sameSet(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return len(a) == len(b) || reflect.DeepEqual(a, b)
}
