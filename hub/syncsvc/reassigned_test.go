package syncsvc_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/change"
)

var errNotYet = errors.New("not on the feed yet")

// A 1×1 PNG: the hub sniffs attachment bytes.
var onePixelPNG = []byte{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
	0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
	0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82}

// putBlob uploads evidence bytes before the change that needs them (PROTOCOL.md §3).
func (d *device) putBlob(b []byte) string {
	d.h.t.Helper()
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("PUT", d.h.env.URL+"/api/v1/sync/blobs/"+key, bytes.NewReader(b))
	req.Header.Set("Content-Type", "image/png")
	req.SetBasicAuth(d.enr.NATSUser, d.enr.NATSPassword)
	if r := d.h.env.Send(http.DefaultClient, req); r.Status >= 300 {
		d.h.t.Fatalf("put blob: %d %s", r.Status, r.Body)
	}
	return key
}

// TestApplier_ReassignedAwayFieldFacts: the office reassigns a job while the technician's tablet
// is offline; what the technician captured there meanwhile (materials consumed, survey answers,
// a photo, like events and notes) arrives as field facts rather than being parked.
func TestApplier_ReassignedAwayFieldFacts(t *testing.T) {
	h := newHarness(t)
	tech1, tech2 := h.techs["tech1@example.com"], h.techs["tech2@example.com"]
	d := h.enroll(tech1, "A")
	f := d.consume()
	wo := h.createWorkOrder(tech1) // work type install: the seeded install checklist applies
	var mat string
	if err := h.env.DB.Pool.QueryRow(t.Context(), `INSERT INTO work_order_materials (work_order_id, item_id, quantity, status)
		SELECT $1, id, 5, 'required' FROM inventory_items ORDER BY sku LIMIT 1 RETURNING id`, wo).Scan(&mat); err != nil {
		t.Fatal(err)
	}
	h.event("work_order.updated", "work_order", wo)
	hubtest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if _, ok := f.latest("work_order_material", mat); !ok {
			return errNotYet
		}
		return nil
	})
	_, v := h.woStatus(wo)

	// Offline, tech1 consumes, answers the survey, takes a photo and writes a note; meanwhile the
	// office gives the job to tech2.
	key := d.putBlob(onePixelPNG)
	consume := d.mutation("consume", wo, v, map[string]any{"client_ref": uuid.NewString(),
		"lines": []map[string]any{{"material_id": mat, "quantity": 2}}})
	survey := d.mutation("survey", wo, v, map[string]any{"client_ref": uuid.NewString(), "answers": map[string]any{
		"ont_serial": "ZTEG1234", "rx_power_dbm": -18.5, "drop_route": "aerial", "wallbox_photo": "photo-1"}})
	photoRef := uuid.NewString()
	photo := d.mutation("attachment", wo, v, map[string]any{"id": uuid.NewString(), "work_order_id": wo, "kind": "photo",
		"client_ref": photoRef, "file_name": "wallbox.png", "mime": "image/png", "size": len(onePixelPNG), "sha256": key})
	note := d.mutation("note", wo, v, map[string]string{"client_ref": uuid.NewString(), "body": "drop run along the fence"})
	h.reassign(wo, tech2)
	hubtest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if c, ok := f.latest("work_order", wo); !ok || c.Op != change.OpEvict {
			return errNotYet
		}
		return nil
	})

	d.upload(consume, survey, photo, note)
	for _, c := range []change.Change{consume, survey, photo, note} {
		if r := d.result(c.ID); r.Status != syncsvc.StatusApplied {
			t.Fatalf("%s after the reassignment: %+v", c.Action, r)
		}
	}
	if n := h.count(`SELECT count(*) FROM work_order_materials WHERE id = $1 AND consumed_quantity = 2`, mat); n != 1 {
		t.Error("the consumption did not count")
	}
	if n := h.count(`SELECT count(*) FROM survey_responses WHERE work_order_id = $1 AND answers->>'ont_serial' = 'ZTEG1234'`, wo); n != 1 {
		t.Error("the survey answers were not kept")
	}
	if n := h.count(`SELECT count(*) FROM field_attachments WHERE work_order_id = $1 AND client_ref = $2 AND uploaded_by = $3 AND mime = 'image/png'`,
		wo, photoRef, tech1); n != 1 {
		t.Error("the photo was not recorded through the work order service")
	}
	if n := h.count(`SELECT count(*) FROM work_order_notes WHERE work_order_id = $1 AND body = 'drop run along the fence'`, wo); n != 1 {
		t.Error("the note was not kept")
	}

	// Once, however often the tablet sends them again.
	again := []change.Change{consume, survey, photo, note}
	for i := range again {
		again[i].ID = uuid.NewString()
	}
	d.upload(again...)
	for _, c := range again {
		if r := d.result(c.ID); !r.Replayed {
			t.Fatalf("replay of %s: %+v", c.Action, r)
		}
	}
	if n := h.count(`SELECT count(*) FROM work_order_materials WHERE id = $1 AND consumed_quantity = 2`, mat); n != 1 {
		t.Error("the replayed consumption counted twice")
	}

	// A job the tablet never held is still out of its scope.
	other := h.createWorkOrder(tech2)
	_, ov := h.woStatus(other)
	stray := d.mutation("consume", other, ov, map[string]any{"client_ref": uuid.NewString(),
		"lines": []map[string]any{{"material_id": mat, "quantity": 1}}})
	d.upload(stray)
	if r := d.result(stray.ID); r.Status != syncsvc.StatusRejected || r.Code != "not_found" {
		t.Fatalf("consume on a job never held: %+v", r)
	}
}
