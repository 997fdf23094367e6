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
		got := touchOf(all, tc.e)
		if (got == nil) != (tc.want == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
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
	need.add("a", []string{"work_order_note"})
	need.add("a", []string{"work_order"})
	need.add("b", []string{"work_order"})
	need.add("b", nil)
	need.add("b", []string{"work_order_note"})
	if len(need["a"]) != 2 || !need["a"]["work_order"] || !need["a"]["work_order_note"] {
		t.Fatalf("a: %v", need["a"])
	}
	if v, ok := need["b"]; !ok || v != nil {
		t.Fatalf("b must re-read everything: %v", v)
	}
}
