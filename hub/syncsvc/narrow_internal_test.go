package syncsvc

import (
	"slices"
	"testing"
)

// What a domain event makes the relay re-read: the entities its topic declares (Binding.Touches),
// or everything when the event may move scope or does not say what changed.
func TestTouchOf(t *testing.T) {
	all := DefaultBindings()
	ev := func(topic, payload string) domainEvent {
		return domainEvent{Topic: topic, Entity: "work_order", Payload: []byte(payload)}
	}
	for _, tc := range []struct {
		name string
		e    domainEvent
		want []string // nil: everything
	}{
		{"a note", ev("work_order.note_added", `{}`), []string{"work_order", "work_order_note"}},
		{"a worklog", ev("work_order.worklog_added", `{}`), []string{"work_order", "work_order_worklog"}},
		{"the description edited", ev("work_order.updated", `{"changed":["description","priority"]}`), []string{"work_order"}},
		{"the site moved", ev("work_order.updated", `{"changed":["description","site"]}`), nil},
		{"the customer changed", ev("work_order.updated", `{"changed":["customer_id"]}`), nil},
		{"the work type changed (survey template)", ev("work_order.updated", `{"changed":["work_type"]}`), nil},
		{"an update that does not say what changed", ev("work_order.updated", `{}`), nil},
		{"an update with a malformed payload", ev("work_order.updated", `not json`), nil},
		{"an assignment", ev("work_order.assigned", `{}`), nil},
		{"a status change", ev("work_order.status_changed", `{}`), nil},
		{"an unknown topic", ev("bench", ``), nil},
		{"a material line", ev("sync.work_order_material.update", `{}`), []string{"work_order_material", "inventory_item"}},
		{"a material line moved to another job", ev("sync.work_order_material.moved", `{}`), []string{"work_order_material", "inventory_item"}},
		{"a survey answer", ev("sync.survey_response.insert", `{}`), []string{"work_order", "survey_response", "survey_template"}},
		{"a survey point", ev("sync.survey_point.delete", `{}`), []string{"survey_point"}},
		{"van stock (a root that is not a job)", ev("sync.van_stock.update", `{}`), nil},
	} {
		r := touchOf(all, tc.e)
		if (r == nil) != (tc.want == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, r, tc.want)
			continue
		}
		var got []string
		for e := range r {
			got = append(got, e)
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}

	// A note re-reads its own row when the event names it, every note of the job when not.
	note := "0191c5a6-7f3e-7000-8000-000000000001"
	for _, e := range []domainEvent{
		{Topic: "work_order.note_added", Entity: "work_order_note", EntityID: note, Payload: []byte(`{"work_order_id":"x"}`)},
		{Topic: "work_order.note_added", Entity: "work_order", EntityID: "wo", Payload: []byte(`{"note_id":"` + note + `"}`)},
	} {
		r := touchOf(all, e)
		if ids := r["work_order_note"]; len(ids) != 1 || ids[0] != note {
			t.Errorf("%s event: notes %v, want just %s", e.Entity, ids, note)
		}
		if ids, ok := r["work_order"]; !ok || ids != nil {
			t.Errorf("%s event: the job's row must be read whole: %v %v", e.Entity, ids, ok)
		}
	}
	if r := touchOf(all, domainEvent{Topic: "work_order.note_added", Entity: "work_order", Payload: []byte(`{}`)}); r == nil || r["work_order_note"] != nil {
		t.Errorf("a note event without its id must re-read every note of the job: %v", r)
	}

	// Narrowed bindings read those entities and nothing else (not the plant near the job).
	nb := narrowTo(all, []string{"work_order", "work_order_note"})
	if !readBy(nb, "work_order_note") || !readBy(nb, "work_order") || readBy(nb, "fiber_feature") || readBy(nb, "customer") {
		t.Fatalf("narrowed to a note: %+v", nb)
	}
	if got := narrowTo(all, nil); len(got) != 0 {
		t.Fatalf("narrowed to nothing: %d bindings", len(got))
	}
}

// Several events of one job re-read the union of what they touch; one that may move scope makes
// the job re-read everything, whatever comes before or after it in the pass.
func TestTouchedRoots(t *testing.T) {
	need := touchedRoots{}
	need.add("a", reread{"work_order_note": {"n1"}})
	need.add("a", reread{"work_order": nil})
	need.add("a", reread{"work_order_note": {"n2"}})
	need.add("b", reread{"work_order": nil})
	need.add("b", nil)
	need.add("b", reread{"work_order_note": {"n3"}})
	need.add("c", reread{"work_order_note": {"n4"}})
	need.add("c", reread{"work_order_note": nil})
	need.add("c", reread{"work_order_note": {"n5"}})
	if a := need["a"]; len(a) != 2 || a["work_order"] != nil || !slices.Equal(a["work_order_note"], []string{"n1", "n2"}) {
		t.Fatalf("a: %v", a)
	}
	if v, ok := need["b"]; !ok || v != nil {
		t.Fatalf("b must re-read everything: %v", v)
	}
	if ids, ok := need["c"]["work_order_note"]; !ok || ids != nil {
		t.Fatalf("c must re-read every note: %v", need["c"])
	}
}
