package workorder_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

type woList struct {
	Items []struct {
		ID             string `json:"id"`
		Title          string `json:"title"`
		CustomerName   string `json:"customer_name"`
		AssignedToName string `json:"assigned_to_name"`
		Crew           []struct {
			PersonID  string `json:"person_id"`
			IsPrimary bool   `json:"is_primary"`
		} `json:"crew"`
	} `json:"items"`
	Total int `json:"total"`
}

// The list is served from the cache between writes, and every kind of write shows at once: a
// write through this hub's API is seen by the very next read; a write that bypasses the API (the
// sync applier, another replica, psql) is seen once PostgreSQL's NOTIFY arrives.
func TestWorkOrderList_CacheNeverServesStalePages(t *testing.T) {
	e := setup(t)
	job := e.newWO(e.tech1ID, e.tech2ID)
	path := "/api/v1/work-orders?assigned_to=" + e.tech1ID + "&limit=50"
	list := func() woList {
		t.Helper()
		var l woList
		e.must(http.StatusOK, "GET", path, e.disp, nil, &l)
		return l
	}
	find := func(l woList) int {
		for i, it := range l.Items {
			if it.ID == job.ID {
				return i
			}
		}
		return -1
	}
	first := list()
	i := find(first)
	if i < 0 {
		t.Fatalf("the new job is not listed: %+v", first)
	}
	if n := len(first.Items[i].Crew); n != 2 || !first.Items[i].Crew[0].IsPrimary {
		t.Fatalf("crew = %+v, want the primary first and one helper", first.Items[i].Crew)
	}
	if again := list(); again.Total != first.Total {
		t.Fatalf("total moved without a write: %d → %d", first.Total, again.Total)
	}

	// A write through the API: the next read shows it, with no wait.
	e.must(http.StatusOK, "PATCH", "/api/v1/work-orders/"+job.ID, e.disp, map[string]any{"title": "Renamed by the API", "version": job.Version}, nil)
	if l := list(); find(l) < 0 || l.Items[find(l)].Title != "Renamed by the API" {
		t.Fatalf("the API write is not read back at once: %+v", l.Items[find(l)])
	}

	// Writes behind the API's back: the title, then the customer's name, then the crew.
	eventually := func(what string, ok func(woList) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			l := list()
			if ok(l) {
				return
			}
			if time.Now().After(deadline) {
				b, _ := json.Marshal(l)
				t.Fatalf("%s: still stale after 10 s: %s", what, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx := t.Context()
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_orders SET title = 'Renamed in SQL' WHERE id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	eventually("title", func(l woList) bool { i := find(l); return i >= 0 && l.Items[i].Title == "Renamed in SQL" })
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_orders SET customer_id = (SELECT id FROM customers ORDER BY id LIMIT 1) WHERE id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	eventually("customer", func(l woList) bool { i := find(l); return i >= 0 && l.Items[i].CustomerName != "" })
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE customers SET name = 'Cache Test Customer' WHERE id = (SELECT customer_id FROM work_orders WHERE id = $1)`, job.ID); err != nil {
		t.Fatal(err)
	}
	eventually("customer name", func(l woList) bool { i := find(l); return i >= 0 && l.Items[i].CustomerName == "Cache Test Customer" })
	if _, err := e.DB.Pool.Exec(ctx, `DELETE FROM work_order_assignments WHERE work_order_id = $1 AND NOT is_primary`, job.ID); err != nil {
		t.Fatal(err)
	}
	eventually("crew", func(l woList) bool { i := find(l); return i >= 0 && len(l.Items[i].Crew) == 1 })
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_orders SET is_active = false WHERE id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	eventually("soft delete", func(l woList) bool { return find(l) < 0 && l.Total == first.Total-1 })
}
