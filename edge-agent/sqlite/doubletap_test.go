package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestTransition_EnRouteDoubleTap: a second en_route within fieldexec.RepeatWindow under a new
// client_event_id (a double tap, or the PWA sending the tap again) is answered as a replay of
// the first: one event, one upload. A later en_route is a new trip.
func TestTransition_EnRouteDoubleTap(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	wo := uuid.NewString()
	seedJob(t, db, wo)

	first, err := db.Transition(ctx, techID, wo, transition("en_route"))
	if err != nil || first.Event.Replayed {
		t.Fatalf("first en_route: %+v %v", first.Event, err)
	}
	second, err := db.Transition(ctx, techID, wo, transition("en_route"))
	if err != nil || !second.Event.Replayed || second.Event.ID != first.Event.ID || second.Job.Status != "dispatched" {
		t.Fatalf("second en_route: %+v %v, want a replay of %s", second.Event, err, first.Event.ID)
	}
	if n := count(t, db, `SELECT count(*) FROM work_order_events WHERE work_order_id = ?`, wo); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 1 {
		t.Fatalf("%d uploads, want 1", n)
	}

	later := transition("en_route")
	at := time.Now().UTC().Add(time.Hour)
	later.OccurredAt = &at
	third, err := db.Transition(ctx, techID, wo, later)
	if err != nil || third.Event.Replayed {
		t.Fatalf("en_route an hour later: %+v %v", third.Event, err)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 2 {
		t.Fatalf("%d uploads, want 2", n)
	}
}
