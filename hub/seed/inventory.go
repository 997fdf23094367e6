package seed

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/inventory"
	"dotmac.dev/field/hub/postgres"
)

func init() { Register(30, "inventory: items, warehouse, vans, stock, materials", seedInventory) }

type demoItem struct {
	key, sku, name, unit string
	cost, reorder        float64
	serialized           bool
	warehouse, van       float64
}

var demoItems = []demoItem{
	{"ont", "ONT-ZTE-F601", "ONT ZTE F601 (GPON)", "each", 38.50, 4, true, 40, 3},
	{"drop", "CAB-DROP-1F", "Drop cable 1F G.657A2", "m", 0.32, 150, false, 3000, 300},
	{"sc_apc", "CON-SCAPC-FAST", "SC/APC fast connector", "each", 1.90, 10, false, 400, 24},
	{"sleeve", "SPL-SLEEVE-60", "Splice protection sleeve 60 mm", "each", 0.08, 40, false, 2000, 100},
	{"wallbox", "BOX-WALL-2P", "Fiber wall box, 2 ports", "each", 4.20, 4, false, 120, 6},
	{"patch", "PC-SCAPC-3M", "Patch cord SC/APC 3 m", "each", 2.10, 6, false, 150, 8},
	{"clamp", "HW-DROP-CLAMP", "Drop cable clamp", "each", 0.55, 20, false, 600, 30},
	{"cpe", "CPE-5AC-LITE", "Wireless CPE 5 GHz", "each", 62.00, 2, true, 12, 1},
}

func seedInventory(ctx context.Context, d *Demo) error {
	tx := d.Tx
	admin := d.People["admin@example.com"]
	items := map[string]string{}
	for _, it := range demoItems {
		var id string
		if err := tx.QueryRow(ctx, `INSERT INTO inventory_items (sku, name, unit, unit_cost, is_serialized, reorder_level)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, it.sku, it.name, it.unit, it.cost, it.serialized, it.reorder).Scan(&id); err != nil {
			return err
		}
		items[it.key] = id
	}
	var wh string
	if err := tx.QueryRow(ctx, `INSERT INTO inventory_locations (name, code, kind, address)
		VALUES ('Bozeman warehouse', 'WH-BZN', 'warehouse', '2150 N 7th Ave, Bozeman, MT') RETURNING id`).Scan(&wh); err != nil {
		return err
	}
	for _, it := range demoItems {
		if err := inventory.AdjustTx(ctx, tx, admin, items[it.key], wh, it.warehouse, "opening stock"); err != nil {
			return err
		}
	}
	vans := map[string]string{}
	for i, email := range []string{"tech1@example.com", "tech2@example.com", "tech3@example.com"} {
		tech, ok := d.People[email]
		if !ok {
			continue
		}
		var name string
		if err := tx.QueryRow(ctx, `SELECT display_name FROM people WHERE id = $1`, tech).Scan(&name); err != nil {
			return err
		}
		var van string
		if err := tx.QueryRow(ctx, `INSERT INTO inventory_locations (name, code, kind, technician_id) VALUES ($1, $2, 'van', $3) RETURNING id`,
			"Van of "+name, fmt.Sprintf("VAN-%02d", i+1), tech).Scan(&van); err != nil {
			return err
		}
		vans[email] = van
		for _, it := range demoItems {
			q := it.van
			if i == 2 && it.key == "sc_apc" { // tech3's van runs low on connectors: a low-stock alert to look at
				q = 6
			}
			if q == 0 {
				continue
			}
			// Stock reaches the vans as transfers from the warehouse, as it would.
			if err := inventory.AdjustTx(ctx, tx, admin, items[it.key], wh, -q, "loaded into "+name+"'s van"); err != nil {
				return err
			}
			if err := inventory.AdjustTx(ctx, tx, admin, items[it.key], van, q, "loaded from the warehouse"); err != nil {
				return err
			}
		}
	}
	d.Values["inventory_items"] = items
	d.Values["inventory_warehouse"] = wh
	d.Values["inventory_vans"] = vans

	// Materials on tech1's upcoming work orders, reserved from the van.
	tech1, van1 := d.People["tech1@example.com"], vans["tech1@example.com"]
	if tech1 == "" || van1 == "" {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, work_type FROM work_orders WHERE assigned_to = $1 AND is_active
		AND status IN ('scheduled', 'dispatched', 'in_progress', 'paused') ORDER BY scheduled_start NULLS LAST, id LIMIT 4`, tech1)
	if err != nil {
		return err
	}
	type wo struct{ id, workType string }
	wos, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wo, error) {
		var w wo
		return w, r.Scan(&w.id, &w.workType)
	})
	if err != nil {
		return err
	}
	kits := map[string][]struct {
		key string
		qty float64
	}{
		"install": {{"ont", 1}, {"drop", 60}, {"sc_apc", 2}, {"sleeve", 4}, {"wallbox", 1}, {"patch", 1}, {"clamp", 3}},
		"repair":  {{"sc_apc", 2}, {"sleeve", 4}, {"patch", 1}},
		"survey":  {{"cpe", 1}},
	}
	for _, w := range wos {
		kit, ok := kits[w.workType]
		if !ok {
			kit = kits["repair"]
		}
		for _, k := range kit {
			if _, err := inventory.AddMaterialTx(ctx, tx, admin, w.id, items[k.key], van1, k.qty); err != nil {
				if hub.ErrorCode(err) == hub.ECONFLICT {
					continue // not enough on the van for one more job: the line is simply left out
				}
				return err
			}
		}
	}
	// A submitted material request from tech1 to restock the van.
	number, err := postgres.NextNumber(ctx, tx, "material_request", "MR")
	if err != nil {
		return err
	}
	var mr string
	if err := tx.QueryRow(ctx, `INSERT INTO material_requests (number, status, priority, requested_by, source_location_id,
		destination_location_id, notes, submitted_at) VALUES ($1, 'submitted', 'high', $2, $3, $4, 'Restock before the Friday installs', now())
		RETURNING id`, number, tech1, wh, van1).Scan(&mr); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO material_request_items (material_request_id, item_id, quantity) VALUES ($1, $2, 2), ($1, $3, 300), ($1, $4, 20)`,
		mr, items["ont"], items["drop"], items["sc_apc"])
	return err
}
