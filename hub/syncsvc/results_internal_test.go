package syncsvc

import (
	"encoding/json"
	"testing"
)

// What the relay before an upload's results re-reads: for a note, the job's row and that note
// (as the relay's own pass for its note_added event); for anything else, everything of the job.
func TestResultTouch(t *testing.T) {
	all := DefaultBindings()
	wo, note := "0191c5a6-7f3e-7000-8000-0000000000aa", "0191c5a6-7f3e-7000-8000-000000000001"
	body, _ := json.Marshal(map[string]string{"id": note, "body": "gate code"})
	r := resultTouch(all, MutationResult{Action: "note", Entity: "work_order", EntityID: wo, Result: body})
	if ids, ok := r["work_order_note"]; !ok || len(ids) != 1 || ids[0] != note {
		t.Fatalf("a note: %v", r)
	}
	if ids, ok := r["work_order"]; !ok || ids != nil {
		t.Fatalf("a note must re-read its job's row: %v", r)
	}
	if len(r) != 2 {
		t.Fatalf("a note re-reads more than its job and itself: %v", r)
	}
	// A note result without the note (malformed): every note of the job.
	if r := resultTouch(all, MutationResult{Action: "note", Entity: "work_order", EntityID: wo}); r == nil || r["work_order_note"] != nil {
		t.Fatalf("a note without its id: %v", r)
	}
	for _, action := range []string{"transition", "attachment", "consume", "survey", ""} {
		if r := resultTouch(all, MutationResult{Action: action, Entity: "work_order", EntityID: wo, Result: body}); r != nil {
			t.Fatalf("%q re-reads only %v", action, r)
		}
	}
}
