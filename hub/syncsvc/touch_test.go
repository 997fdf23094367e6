package syncsvc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/sync/change"
)

// A narrowed relay pass (Binding.Touches: the job's note, its own row, a material line …) must
// leave the feeds exactly where a pass re-reading every family would: after each change below
// reaches the device, a full re-read of the job publishes nothing. The changes are made the way
// the office and the field make them (the work-order API, the field API, the family triggers).
func TestRelay_NarrowedPassesMissNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	f := d.consume()
	wo := h.createWorkOrder(tech1) // a site in Bozeman: the demo plant is around it
	var mat string
	if err := h.env.DB.Pool.QueryRow(ctx, `INSERT INTO work_order_materials (work_order_id, item_id, quantity, status)
		SELECT $1, id, 5, 'required' FROM inventory_items ORDER BY sku LIMIT 1 RETURNING id`, wo).Scan(&mat); err != nil {
		t.Fatal(err)
	}
	onFeed := func(what string, ok func() bool) {
		t.Helper()
		hubtest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
			if !ok() {
				return fmt.Errorf("%s: %w", what, errNotYet)
			}
			return nil
		})
	}
	latestHas := func(entity, id, s string) func() bool {
		return func() bool {
			c, ok := f.latest(entity, id)
			return ok && strings.Contains(string(c.Data), s)
		}
	}
	anyHas := func(entity, s string) func() bool {
		return func() bool {
			_, ok := f.find(func(c change.Change) bool { return c.Entity == entity && strings.Contains(string(c.Data), s) })
			return ok
		}
	}
	nothingLeft := func(what string) {
		t.Helper()
		if err := h.svc.RelayNow(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := h.svc.RelayFull(ctx, []string{wo})
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("after %s a full re-read of the job published %d changes the narrowed pass missed", what, n)
		}
	}
	onFeed("the job", latestHas("work_order", wo, wo))
	onFeed("its material", latestHas("work_order_material", mat, mat))
	nothingLeft("the job arrived")

	// The office edits the description: the job's own row.
	r := h.env.Do("PATCH", "/api/v1/work-orders/"+wo, h.admin, map[string]any{"description": "Bring the long ladder"})
	if r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	onFeed("the description", latestHas("work_order", wo, "Bring the long ladder"))
	nothingLeft("a description edit")

	// The office writes a note.
	r = h.env.Do("POST", "/api/v1/work-orders/"+wo+"/notes", h.admin, map[string]any{"body": "Gate code 4411"})
	if r.Status != http.StatusCreated {
		t.Fatalf("note: %d %s", r.Status, r.Body)
	}
	onFeed("the office note", anyHas("work_order_note", "Gate code 4411"))
	nothingLeft("an office note")

	// The technician logs time from the field API.
	tok := h.env.Token("tech1@example.com", hubtest.TechPassword)
	start := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	end := start.Add(45 * time.Minute).Format(time.RFC3339)
	r = h.env.Do("POST", "/api/v1/field/jobs/"+wo+"/worklogs", tok, map[string]any{"worklogs": []map[string]any{
		{"client_ref": uuid.NewString(), "started_at": start.Format(time.RFC3339), "ended_at": end, "note": "pulled the drop"}}})
	if r.Status/100 != 2 {
		t.Fatalf("worklog: %d %s", r.Status, r.Body)
	}
	onFeed("the worklog", anyHas("work_order_worklog", "pulled the drop"))
	nothingLeft("a worklog")

	// Inventory changes a material line; a second line brings another item.
	h.exec(`UPDATE work_order_materials SET quantity = 7 WHERE id = $1`, mat)
	onFeed("the quantity", func() bool {
		c, ok := f.latest("work_order_material", mat)
		var m struct {
			Quantity float64 `json:"quantity"`
		}
		return ok && json.Unmarshal(c.Data, &m) == nil && m.Quantity == 7
	})
	var mat2, item2 string
	if err := h.env.DB.Pool.QueryRow(ctx, `INSERT INTO work_order_materials (work_order_id, item_id, quantity, status)
		SELECT $1, id, 1, 'required' FROM inventory_items ORDER BY sku DESC LIMIT 1 RETURNING id, item_id::text`, wo).Scan(&mat2, &item2); err != nil {
		t.Fatal(err)
	}
	onFeed("the second line", latestHas("work_order_material", mat2, mat2))
	onFeed("its item", latestHas("inventory_item", item2, item2))
	nothingLeft("material lines")
	h.exec(`DELETE FROM work_order_materials WHERE id = $1`, mat2)
	onFeed("the deleted line", func() bool { c, ok := f.latest("work_order_material", mat2); return ok && c.Op != change.OpUpsert })
	nothingLeft("a deleted material line")

	// A survey answer recorded by the office: the job's survey_template_id follows it.
	var resp string
	if err := h.env.DB.Pool.QueryRow(ctx, `INSERT INTO survey_responses (work_order_id, template_id, answers)
		SELECT $1, id, '{"ont_serial":"ZTEG0001"}' FROM survey_templates ORDER BY name LIMIT 1 RETURNING id`, wo).Scan(&resp); err != nil {
		t.Fatal(err)
	}
	onFeed("the survey answer", latestHas("survey_response", resp, "ZTEG0001"))
	nothingLeft("a survey answer")

	// Widening edits re-read everything: the site moves 2 km (other plant around it).
	r = h.env.Do("PATCH", "/api/v1/work-orders/"+wo, h.admin, map[string]any{"site": map[string]any{
		"address": "9 Far Rd, Bozeman", "lat": 45.69, "lon": -111.02}})
	if r.Status != http.StatusOK {
		t.Fatalf("patch site: %d %s", r.Status, r.Body)
	}
	onFeed("the new site", latestHas("work_order", wo, "9 Far Rd"))
	nothingLeft("a site move")
}
