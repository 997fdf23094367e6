package syncsvc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/sync/change"
)

// snapshot reads the device's whole JSON snapshot (PROTOCOL.md §5).
func (d *device) snapshot() []change.Change {
	d.h.t.Helper()
	var out []change.Change
	page := ""
	for {
		req, _ := http.NewRequest("GET", d.h.env.URL+"/api/v1/sync/snapshot?page="+url.QueryEscape(page), nil)
		req.SetBasicAuth(d.enr.NATSUser, d.enr.NATSPassword)
		r := d.h.env.Send(http.DefaultClient, req)
		if r.Status != 200 {
			d.h.t.Fatalf("snapshot: %d %s", r.Status, r.Body)
		}
		var p struct {
			Changes []change.Change `json:"changes"`
			Next    string          `json:"next"`
		}
		r.JSON(d.h.t, &p)
		out = append(out, p.Changes...)
		if p.Next == "" {
			return out
		}
		page = p.Next
	}
}

func (f *feed) find(pred func(c change.Change) bool) (change.Change, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out change.Change
	ok := false
	for _, b := range f.batches {
		for _, c := range b.Changes {
			if pred(c) {
				out, ok = c, true
			}
		}
	}
	return out, ok
}

// The materials, surveys and fiber families reach a technician's device: in the snapshot, and
// as changes (a consumption uploaded by the device, van stock, plant edited near a job site).
func TestFamilies_MaterialsSurveysFiber(t *testing.T) {
	h := newHarness(t)
	tech1 := h.techs["tech1@example.com"]
	d := h.enroll(tech1, "A")
	f := d.consume()

	counts := map[string]int{}
	var poleID, poleTable string
	tables := map[string]string{"pole": "poles", "segment": "fiber_segments", "fdh_cabinet": "fdh_cabinets", "splitter": "splitters",
		"termination_point": "fiber_termination_points", "building": "service_buildings", "ont": "ont_units", "mast": "wireless_masts",
		"duct": "ducts", "olt": "olt_devices"}
	for _, c := range d.snapshot() {
		counts[c.Entity]++
		if strings.Contains(string(c.Data), "unit_cost") || strings.Contains(string(c.Data), "monthly_rate") {
			t.Errorf("cost leaked: %s %s", c.Entity, c.Data)
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if c.Entity == "fiber_feature" && poleID == "" && json.Unmarshal(c.Data, &k) == nil && tables[k.Kind] != "" {
			poleID, poleTable = c.EntityID, tables[k.Kind]
		}
	}
	t.Logf("snapshot entities: %v", counts)
	for _, e := range []string{"work_order", "work_order_material", "inventory_item", "van_stock", "survey_template", "fiber_feature"} {
		if counts[e] == 0 {
			t.Errorf("no %s in tech1's snapshot", e)
		}
	}

	// A consumption uploaded by the device: applied by hub/inventory, the material and the van
	// stock come back on the feed.
	ctx := context.Background()
	var matID, woID string
	var consumed float64
	var version int64
	if err := h.env.DB.Pool.QueryRow(ctx, `SELECT m.id, m.work_order_id, m.consumed_quantity, w.version FROM work_order_materials m
		JOIN work_orders w ON w.id = m.work_order_id WHERE w.assigned_to = $1 AND w.status NOT IN ('completed', 'canceled', 'draft')
		ORDER BY m.id LIMIT 1`, tech1).Scan(&matID, &woID, &consumed, &version); err != nil {
		t.Fatalf("a material of tech1: %v", err)
	}
	cons := d.mutation("consume", woID, version, map[string]any{"client_ref": uuid.NewString(),
		"lines": []map[string]any{{"material_id": matID, "quantity": 1}}})
	d.upload(cons)
	if r := d.result(cons.ID); r.Status != "applied" {
		t.Fatalf("consume: %+v", r)
	}
	var after float64
	h.env.DB.Pool.QueryRow(ctx, `SELECT consumed_quantity FROM work_order_materials WHERE id = $1`, matID).Scan(&after)
	if after != consumed+1 {
		t.Fatalf("consumed %v → %v", consumed, after)
	}
	hubtest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, ok := f.latest("work_order_material", matID)
		var m struct {
			Consumed float64 `json:"consumed_quantity"`
		}
		if !ok || json.Unmarshal(c.Data, &m) != nil || m.Consumed != after {
			return fmt.Errorf("material not on the feed yet")
		}
		if _, ok := f.find(func(c change.Change) bool { return c.Entity == "van_stock" }); !ok {
			return fmt.Errorf("van stock not on the feed yet")
		}
		return nil
	})

	// The plant near a job site changes: followed by its version sequence, no domain event.
	if poleID == "" {
		t.Fatal("no plant near tech1's jobs")
	}
	h.exec(`UPDATE `+poleTable+` SET name = 'Plant renamed in the office' WHERE id = $1`, poleID)
	hubtest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		c, ok := f.latest("fiber_feature", poleID)
		if !ok || !strings.Contains(string(c.Data), "renamed in the office") {
			return fmt.Errorf("plant change not on the feed yet")
		}
		return nil
	})
	h.exec(`UPDATE `+poleTable+` SET deleted_at = now() WHERE id = $1`, poleID)
	hubtest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		c, ok := f.latest("fiber_feature", poleID)
		if !ok || (c.Op != change.OpDelete && c.Op != change.OpEvict) {
			return fmt.Errorf("plant deletion not on the feed yet")
		}
		return nil
	})
}
