package workorder_test

import (
	"context"
	"testing"
)

// TestFieldTransitions_EnRouteDoubleTap: through the hub's field API, an en_route repeated within
// fieldexec.RepeatWindow under a new client_event_id changes nothing and is answered as a
// replay, as the edge agent does (the shared state machine); the status stays dispatched and only
// one en_route counts.
func TestFieldTransitions_EnRouteDoubleTap(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID)
	var first, second transitionResp
	r := e.fire(e.tech1, job.ID, "en_route", nil)
	r.JSON(t, &first)
	if r.Status != 200 || first.Event.Replayed || first.Job.Status != "dispatched" {
		t.Fatalf("first en_route: %d %s", r.Status, r.Body)
	}
	r = e.fire(e.tech1, job.ID, "en_route", nil)
	r.JSON(t, &second)
	if r.Status != 200 || !second.Event.Replayed || second.Job.Status != "dispatched" || second.Job.Version != first.Job.Version {
		t.Fatalf("second en_route: %d %s", r.Status, r.Body)
	}
	var trips int
	e.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM work_order_events WHERE work_order_id = $1 AND event = 'en_route'
		AND NOT coalesce((payload->>'repeat')::boolean, false)`, job.ID).Scan(&trips)
	if trips != 1 {
		t.Fatalf("%d en_route events count, want 1", trips)
	}
}
