package syncsvc

import "testing"

// A pass of notes only re-reads the work-order family; anything else in the pass, or an event
// that can move scope (an assignment), makes it read every family.
func TestNarrowBindings(t *testing.T) {
	all := DefaultBindings()
	note := domainEvent{Topic: "work_order.note_added", Entity: "work_order"}
	assigned := domainEvent{Topic: "work_order.assigned", Entity: "work_order"}
	got := narrowBindings(all, []domainEvent{note, note})
	if len(got) != 1 || got[0].Family.Name != "work_orders" {
		t.Fatalf("notes only: %d bindings", len(got))
	}
	if !readBy(got, "work_order_note") || readBy(got, "fiber_feature") {
		t.Fatal("the work-order family must read notes and not the plant")
	}
	if got := narrowBindings(all, []domainEvent{note, assigned}); len(got) != len(all) {
		t.Fatalf("a pass with an assignment read %d of %d families", len(got), len(all))
	}
	if got := narrowBindings(all, nil); len(got) != len(all) {
		t.Fatalf("an empty pass: %d", len(got))
	}
}
