package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
)

const materialSelect = `SELECT m.id, m.work_order_id, m.item_id, i.sku, i.name, i.unit, m.location_id, m.quantity,
	m.consumed_quantity, m.status, m.notes, m.flagged_for_review, m.review_note, m.version, m.created_at, m.updated_at,
	r.id, r.location_id, r.quantity, r.consumed_quantity, r.status
	FROM work_order_materials m JOIN inventory_items i ON i.id = m.item_id
	LEFT JOIN inventory_reservations r ON r.id = m.reservation_id`

func scanMaterial(row pgx.Row) (*Material, error) {
	var m Material
	var rid, rloc, rstatus *string
	var rq, rc *float64
	err := row.Scan(&m.ID, &m.WorkOrderID, &m.ItemID, &m.SKU, &m.Name, &m.Unit, &m.LocationID, &m.Quantity, &m.ConsumedQuantity,
		&m.Status, &m.Notes, &m.FlaggedForReview, &m.ReviewNote, &m.Version, &m.CreatedAt, &m.UpdatedAt,
		&rid, &rloc, &rq, &rc, &rstatus)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	if rid != nil {
		wo := m.WorkOrderID
		m.Reservation = &Reservation{ID: *rid, ItemID: m.ItemID, LocationID: *rloc, WorkOrderID: &wo, Quantity: *rq,
			ConsumedQuantity: *rc, Status: *rstatus}
	}
	return &m, nil
}

type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func materialsOf(ctx context.Context, q rowsQuerier, workOrderID string) ([]Material, error) {
	rows, err := q.Query(ctx, materialSelect+` WHERE m.work_order_id = $1 ORDER BY m.created_at, m.id`, workOrderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Material
	for rows.Next() {
		m, err := scanMaterial(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// FieldMaterial is a material as the field API shows it (no costs, no locations).
func FieldMaterial(m Material) field.Material {
	return field.Material{ID: m.ID, ItemID: m.ItemID, SKU: m.SKU, Name: m.Name, Unit: m.Unit, Quantity: m.Quantity,
		QuantityUsed: m.ConsumedQuantity, Status: m.Status}
}

func fieldMaterials(ms []Material) []field.Material {
	out := make([]field.Material, 0, len(ms))
	for _, m := range ms {
		out = append(out, FieldMaterial(m))
	}
	return out
}

// FindMaterials lists a work order's materials (office view).
func (s *Service) FindMaterials(ctx context.Context, workOrderID string) ([]Material, error) {
	if err := workOrderExists(ctx, s.DB.Pool, workOrderID); err != nil {
		return nil, err
	}
	return materialsOf(ctx, s.DB.Pool, workOrderID)
}

// JobMaterials returns a job's materials as field DTOs, for the job detail of the field API
// (GET /api/v1/field/jobs/{id}). It does not check scope: the caller has.
func (s *Service) JobMaterials(ctx context.Context, jobID string) ([]field.Material, error) {
	if !postgres.ValidUUID(jobID) {
		return []field.Material{}, nil
	}
	ms, err := materialsOf(ctx, s.DB.Pool, jobID)
	if err != nil {
		return nil, err
	}
	return fieldMaterials(ms), nil
}

// FieldMaterialsOf is JobMaterials on a given querier (a pgx.Tx or the pool): the work order
// area's job detail registers it as its materials source.
func FieldMaterialsOf(ctx context.Context, q rowsQuerier, jobID string) ([]field.Material, error) {
	if !postgres.ValidUUID(jobID) {
		return []field.Material{}, nil
	}
	ms, err := materialsOf(ctx, q, jobID)
	if err != nil {
		return nil, err
	}
	return fieldMaterials(ms), nil
}

// FieldMaterials returns the materials of a job in the technician's scope (404 otherwise).
func (s *Service) FieldMaterials(ctx context.Context, technicianID, jobID string) ([]field.Material, error) {
	var out []field.Material
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := jobInScope(ctx, tx, jobID, technicianID); err != nil {
			return err
		}
		ms, err := materialsOf(ctx, tx, jobID)
		out = fieldMaterials(ms)
		return err
	})
	return out, err
}

func workOrderExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) error {
	if !postgres.ValidUUID(id) {
		return hub.Errorf(hub.ENOTFOUND, "no such work order")
	}
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_orders WHERE id = $1 AND is_active)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return hub.Errorf(hub.ENOTFOUND, "no such work order")
	}
	return nil
}

// jobInScope answers 404 unless the technician is the job's primary technician or on its crew.
func jobInScope(ctx context.Context, tx pgx.Tx, jobID, technicianID string) error {
	return jobOf(ctx, tx, jobID, technicianID, false)
}

// jobOf is jobInScope; with formerHolder the job need not be the technician's any more (it
// was reassigned away while their device was offline), only live.
func jobOf(ctx context.Context, tx pgx.Tx, jobID, technicianID string, formerHolder bool) error {
	if !postgres.ValidUUID(jobID) || !postgres.ValidUUID(technicianID) {
		return hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_orders w WHERE w.id = $1 AND w.is_active AND w.status <> 'draft'
		AND ($3 OR w.assigned_to = $2 OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $2)))`,
		jobID, technicianID, formerHolder).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	return nil
}

// AddMaterial adds a material line to a work order. With a location it reserves the stock there
// under the stock row's lock: when less is available it answers a conflict saying how much is.
func (s *Service) AddMaterial(ctx context.Context, actorID, workOrderID string, in MaterialCreate) (*Material, error) {
	f := hub.Fields{}
	checkID(f, "item_id", in.ItemID, true)
	checkID(f, "location_id", in.LocationID, false)
	checkQuantity(f, "quantity", in.Quantity, false)
	if len(in.Notes) > 2000 {
		f.Add("notes", "is longer than 2000 characters")
	}
	if err := workOrderExists(ctx, s.DB.Pool, workOrderID); err != nil {
		return nil, err
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	qty := round3(in.Quantity)
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if in.LocationID == "" {
			var active bool
			err := tx.QueryRow(ctx, `SELECT is_active FROM inventory_items WHERE id = $1`, in.ItemID).Scan(&active)
			if err == pgx.ErrNoRows || err == nil && !active {
				return hub.Invalid(map[string]string{"item_id": "no such item"})
			}
			if err != nil {
				return err
			}
			return tx.QueryRow(ctx, `INSERT INTO work_order_materials (work_order_id, item_id, quantity, status, notes, created_by)
				VALUES ($1, $2, $3, 'required', $4, $5) RETURNING id`, workOrderID, in.ItemID, qty, in.Notes, nullable(actorID)).Scan(&id)
		}
		res, err := reserve(ctx, tx, actorID, workOrderID, in.ItemID, in.LocationID, qty)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO work_order_materials (work_order_id, item_id, location_id, reservation_id, quantity,
			status, notes, created_by) VALUES ($1, $2, $3, $4, $5, 'reserved', $6, $7) RETURNING id`,
			workOrderID, in.ItemID, in.LocationID, res, qty, in.Notes, nullable(actorID)).Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	return s.findMaterial(ctx, id)
}

// AddMaterialTx reserves qty of an item at a location for a work order inside tx and adds the
// material line (the demo seed uses it); it returns the material's id.
func AddMaterialTx(ctx context.Context, tx pgx.Tx, actorID, workOrderID, itemID, locationID string, qty float64) (string, error) {
	res, err := reserve(ctx, tx, actorID, workOrderID, itemID, locationID, round3(qty))
	if err != nil {
		return "", err
	}
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO work_order_materials (work_order_id, item_id, location_id, reservation_id, quantity, status, created_by)
		VALUES ($1, $2, $3, $4, $5, 'reserved', $6) RETURNING id`, workOrderID, itemID, locationID, res, round3(qty), nullable(actorID)).Scan(&id)
	return id, err
}

// AdjustTx changes on hand inside tx with a ledger row (the demo seed uses it).
func AdjustTx(ctx context.Context, tx pgx.Tx, actorID, itemID, locationID string, delta float64, reason string) error {
	r, err := lockStock(ctx, tx, itemID, locationID, true)
	if err != nil {
		return err
	}
	return apply(ctx, tx, r, move{Kind: "adjustment", OnHand: delta, Reason: reason, ActorID: nullable(actorID)})
}

// reserve holds qty of an item at a location for a work order (§3.11: available = on hand −
// reserved must cover it; reserved += qty).
func reserve(ctx context.Context, tx pgx.Tx, actorID, workOrderID, itemID, locationID string, qty float64) (string, error) {
	item, unit, loc, err := itemAndLocation(ctx, tx, itemID, locationID)
	if err != nil {
		return "", err
	}
	r, err := lockStock(ctx, tx, itemID, locationID, false)
	if err != nil {
		return "", err
	}
	avail := 0.0
	if r != nil {
		avail = r.available()
	}
	if r == nil || avail < qty {
		return "", &hub.Error{Code: hub.ECONFLICT,
			Message: fmt.Sprintf("only %s %s of %s available at %s; %s requested", fmtQty(max(avail, 0)), unit, item, loc, fmtQty(qty)),
			Fields:  map[string]string{"quantity": fmt.Sprintf("at most %s available", fmtQty(max(avail, 0)))}}
	}
	var id string
	if err := tx.QueryRow(ctx, `INSERT INTO inventory_reservations (item_id, location_id, work_order_id, quantity, created_by)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, itemID, locationID, workOrderID, qty, nullable(actorID)).Scan(&id); err != nil {
		return "", postgres.Translate(err)
	}
	return id, apply(ctx, tx, r, move{Kind: "reserve", Reserve: qty, RefType: "reservation", RefID: &id,
		WorkOrderID: &workOrderID, ActorID: nullable(actorID)})
}

func (s *Service) findMaterial(ctx context.Context, id string) (*Material, error) {
	m, err := scanMaterial(s.DB.Pool.QueryRow(ctx, materialSelect+` WHERE m.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such material")
	}
	return m, err
}

// ReleaseMaterial gives back what remains reserved for a material (§3.11 release: reserved −=
// the rest, reservation released); the line stays, as required.
func (s *Service) ReleaseMaterial(ctx context.Context, actorID, workOrderID, materialID string) (*Material, error) {
	if !postgres.ValidUUID(materialID) || !postgres.ValidUUID(workOrderID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such material")
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var resID *string
		var status string
		err := tx.QueryRow(ctx, `SELECT reservation_id, status FROM work_order_materials WHERE id = $1 AND work_order_id = $2 FOR UPDATE`,
			materialID, workOrderID).Scan(&resID, &status)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such material")
		}
		if err != nil {
			return err
		}
		if status == field.MaterialUsed {
			return hub.Errorf(hub.ECONFLICT, "this material is used: nothing to release")
		}
		if resID != nil {
			if err := releaseReservation(ctx, tx, actorID, *resID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE work_order_materials SET status = 'required' WHERE id = $1`, materialID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.findMaterial(ctx, materialID)
}

// releaseReservation releases what remains of an active reservation; no-op otherwise.
func releaseReservation(ctx context.Context, tx pgx.Tx, actorID, resID string) error {
	var itemID, locID, woID, status string
	var qty, consumed float64
	err := tx.QueryRow(ctx, `SELECT item_id, location_id, coalesce(work_order_id::text, ''), quantity, consumed_quantity, status
		FROM inventory_reservations WHERE id = $1 FOR UPDATE`, resID).Scan(&itemID, &locID, &woID, &qty, &consumed, &status)
	if err != nil {
		return err
	}
	if status != ReservationActive {
		return nil
	}
	r, err := lockStock(ctx, tx, itemID, locID, true)
	if err != nil {
		return err
	}
	rest := round3(min(qty-consumed, r.Reserved))
	if _, err := tx.Exec(ctx, `UPDATE inventory_reservations SET status = 'released', updated_at = now() WHERE id = $1`, resID); err != nil {
		return err
	}
	return apply(ctx, tx, r, move{Kind: "release", Reserve: -rest, RefType: "reservation", RefID: &resID,
		WorkOrderID: nullable(woID), ActorID: nullable(actorID)})
}

// ReleaseWorkOrder releases every active reservation of a work order (call it when a work order
// is canceled).
func (s *Service) ReleaseWorkOrder(ctx context.Context, actorID, workOrderID string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.id FROM inventory_reservations r WHERE r.work_order_id = $1 AND r.status = 'active'
			ORDER BY r.item_id, r.location_id`, workOrderID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := releaseReservation(ctx, tx, actorID, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE work_order_materials SET status = 'required' WHERE work_order_id = $1 AND status = 'reserved'`, workOrderID)
		return err
	})
}

// consumedLine is a line of material_consumptions.lines.
type consumedLine struct {
	MaterialID     string  `json:"material_id"`
	Quantity       float64 `json:"quantity"`
	BeyondReserved float64 `json:"beyond_reserved"`
	LocationID     *string `json:"location_id"`
}

type lockedMaterial struct {
	ID, ItemID, Status, SKU, Unit string
	LocationID, ResID             *string
	Quantity, Consumed            float64
}

// ConsumeMaterials records what a technician used on a job (POST /api/v1/field/jobs/{id}/materials/consume,
// and the sync upload applier). Each line's quantity is what this call consumes; calls add up.
// client_ref makes a call idempotent forever: a replay changes nothing and answers the job's
// materials as they are. Consumption beyond what was reserved is accepted (it already happened),
// taken from the reservation's location (else the technician's van), and flagged for review; stock
// that goes below zero raises an alert. Jobs outside the technician's scope are not found.
func (s *Service) ConsumeMaterials(ctx context.Context, actorID, deviceID, jobID string, req field.ConsumeRequest) (*field.ConsumeResponse, error) {
	return s.ConsumeMaterialsWith(ctx, actorID, deviceID, jobID, req, FieldOptions{})
}

// FieldOptions tune ConsumeMaterialsWith for the sync upload applier.
type FieldOptions struct {
	// FormerHolder lets the technician's consumption arrive although the job was reassigned away
	// from them while their device was offline (materials used are a field fact).
	FormerHolder bool
}

// ConsumeMaterialsWith is ConsumeMaterials with the applier's options.
func (s *Service) ConsumeMaterialsWith(ctx context.Context, actorID, deviceID, jobID string, req field.ConsumeRequest, opt FieldOptions) (*field.ConsumeResponse, error) {
	if e := req.Validate(); e != nil {
		return nil, hub.Invalid(e)
	}
	if deviceID != "" && !postgres.ValidUUID(deviceID) {
		deviceID = ""
	}
	var out []Material
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := jobOf(ctx, tx, jobID, actorID, opt.FormerHolder); err != nil {
			return err
		}
		var ref string
		err := tx.QueryRow(ctx, `INSERT INTO material_consumptions (client_ref, work_order_id, actor_id, device_id, lines)
			VALUES ($1, $2, $3, $4, '[]') ON CONFLICT (client_ref) DO NOTHING RETURNING client_ref`,
			req.ClientRef, jobID, actorID, nullable(deviceID)).Scan(&ref)
		if err == pgx.ErrNoRows { // a replay
			var wo string
			if err := tx.QueryRow(ctx, `SELECT work_order_id FROM material_consumptions WHERE client_ref = $1`, req.ClientRef).Scan(&wo); err != nil {
				return err
			}
			if wo != jobID {
				return hub.Errorf(hub.ECONFLICT, "client_ref %s was used for another job", req.ClientRef)
			}
			out, err = materialsOf(ctx, tx, jobID)
			return err
		}
		if err != nil {
			return postgres.Translate(err)
		}
		if err := consume(ctx, tx, actorID, deviceID, jobID, req); err != nil {
			return err
		}
		out, err = materialsOf(ctx, tx, jobID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &field.ConsumeResponse{Materials: fieldMaterials(out)}, nil
}

func consume(ctx context.Context, tx pgx.Tx, actorID, deviceID, jobID string, req field.ConsumeRequest) error {
	// Lock the job's materials first (one consumer of a job at a time), then stock rows in key order.
	rows, err := tx.Query(ctx, `SELECT m.id, m.item_id, m.status, i.sku, i.unit, coalesce(m.location_id, r.location_id),
		CASE WHEN r.status = 'active' THEN r.id END, m.quantity, m.consumed_quantity
		FROM work_order_materials m JOIN inventory_items i ON i.id = m.item_id
		LEFT JOIN inventory_reservations r ON r.id = m.reservation_id
		WHERE m.work_order_id = $1 ORDER BY m.id FOR UPDATE OF m`, jobID)
	if err != nil {
		return err
	}
	mats := map[string]*lockedMaterial{}
	for rows.Next() {
		var m lockedMaterial
		if err := rows.Scan(&m.ID, &m.ItemID, &m.Status, &m.SKU, &m.Unit, &m.LocationID, &m.ResID, &m.Quantity, &m.Consumed); err != nil {
			rows.Close()
			return err
		}
		mats[m.ID] = &m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	f := hub.Fields{}
	for i, l := range req.Lines {
		if mats[l.MaterialID] == nil {
			f.Add(fmt.Sprintf("lines[%d].material_id", i), "is not a material of this job")
		}
	}
	if err := f.Err(); err != nil {
		return err
	}
	var van *string
	if err := tx.QueryRow(ctx, `SELECT id FROM inventory_locations WHERE technician_id = $1 AND kind = 'van' AND is_active`,
		actorID).Scan(&van); err != nil && err != pgx.ErrNoRows {
		return err
	}
	lines := append([]field.ConsumeLine(nil), req.Lines...)
	loc := func(m *lockedMaterial) string {
		if m.LocationID != nil {
			return *m.LocationID
		}
		if van != nil {
			return *van
		}
		return ""
	}
	sort.Slice(lines, func(i, j int) bool {
		a, b := mats[lines[i].MaterialID], mats[lines[j].MaterialID]
		return stockKey(a.ItemID, loc(a)) < stockKey(b.ItemID, loc(b))
	})
	ref := req.ClientRef
	var done []consumedLine
	flagged := false
	for _, l := range lines {
		m := mats[l.MaterialID]
		q := round3(l.Quantity)
		fromRes := 0.0
		var resQty, resConsumed float64
		if m.ResID != nil {
			if err := tx.QueryRow(ctx, `SELECT quantity, consumed_quantity FROM inventory_reservations WHERE id = $1 FOR UPDATE`,
				*m.ResID).Scan(&resQty, &resConsumed); err != nil {
				return err
			}
			fromRes = min(q, round3(resQty-resConsumed))
		}
		beyond := round3(q - fromRes)
		cl := consumedLine{MaterialID: m.ID, Quantity: q, BeyondReserved: beyond}
		if where := loc(m); where != "" {
			cl.LocationID = &where
			r, err := lockStock(ctx, tx, m.ItemID, where, true)
			if err != nil {
				return err
			}
			if err := apply(ctx, tx, r, move{Kind: "consume", OnHand: -q, Reserve: -min(fromRes, r.Reserved), RefType: "consumption",
				RefID: &ref, WorkOrderID: &jobID, ActorID: nullable(actorID), DeviceID: nullable(deviceID),
				Reason: "used on the job"}); err != nil {
				return err
			}
		}
		if m.ResID != nil && fromRes > 0 {
			if _, err := tx.Exec(ctx, `UPDATE inventory_reservations SET consumed_quantity = consumed_quantity + $2,
				status = CASE WHEN consumed_quantity + $2 >= quantity THEN 'consumed' ELSE status END, updated_at = now()
				WHERE id = $1`, *m.ResID, fromRes); err != nil {
				return err
			}
		}
		m.Consumed = round3(m.Consumed + q)
		status := m.Status
		if m.Consumed >= m.Quantity {
			status = field.MaterialUsed
		}
		note := ""
		if beyond > 0 {
			flagged = true
			note = fmt.Sprintf("%s %s used beyond the %s reserved", fmtQty(beyond), m.Unit, fmtQty(resQty))
			if err := raiseOverConsumption(ctx, tx, jobID, m, cl.LocationID, beyond); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE work_order_materials SET consumed_quantity = $2, status = $3,
			flagged_for_review = flagged_for_review OR $4, review_note = CASE WHEN $4 THEN $5 ELSE review_note END WHERE id = $1`,
			m.ID, m.Consumed, status, beyond > 0, note); err != nil {
			return err
		}
		// A used material whose reservation still holds something (it was reserved for more than
		// the line's quantity) gives the rest back.
		if status == field.MaterialUsed && m.ResID != nil {
			if err := releaseReservation(ctx, tx, actorID, *m.ResID); err != nil {
				return err
			}
		}
		done = append(done, cl)
	}
	b, _ := json.Marshal(done)
	if _, err := tx.Exec(ctx, `UPDATE material_consumptions SET lines = $2, flagged = $3 WHERE client_ref = $1`, ref, b, flagged); err != nil {
		return err
	}
	// When every material of the job is used, its issued material requests are fulfilled.
	_, err = tx.Exec(ctx, `UPDATE material_requests SET status = 'fulfilled', fulfilled_at = now()
		WHERE work_order_id = $1 AND status = 'issued'
		AND NOT EXISTS (SELECT 1 FROM work_order_materials WHERE work_order_id = $1 AND status <> 'used')`, jobID)
	return err
}

func raiseOverConsumption(ctx context.Context, tx pgx.Tx, jobID string, m *lockedMaterial, loc *string, beyond float64) error {
	tag, err := tx.Exec(ctx, `UPDATE inventory_alerts SET quantity = quantity + $2, updated_at = now(),
		message = $3 || ' (' || (quantity + $2)::text || ' in all)'
		WHERE kind = 'over_consumption' AND material_id = $1 AND status = 'open'`, m.ID, beyond,
		fmt.Sprintf("%s used beyond its reservation on a job", m.SKU))
	if err != nil || tag.RowsAffected() > 0 {
		return err
	}
	var wo string
	if err := tx.QueryRow(ctx, `SELECT number FROM work_orders WHERE id = $1`, jobID).Scan(&wo); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO inventory_alerts (kind, item_id, location_id, work_order_id, material_id, message, quantity)
		VALUES ('over_consumption', $1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, m.ItemID, loc, jobID, m.ID,
		fmt.Sprintf("%s: %s %s of %s used beyond the reservation; review it", wo, fmtQty(beyond), m.Unit, m.SKU), beyond)
	return err
}

// --- alerts --------------------------------------------------------------------------------------

// FindAlerts lists alerts, open first and newest first.
func (s *Service) FindAlerts(ctx context.Context, f AlertFilter) ([]Alert, int, error) {
	fl := hub.Fields{}
	if f.Status != "" && f.Status != "open" && f.Status != "resolved" {
		fl.Add("status", "must be open or resolved")
	}
	if f.Kind != "" && f.Kind != AlertLowStock && f.Kind != AlertNegativeStock && f.Kind != AlertOverConsumption {
		fl.Add("kind", "must be low_stock, negative_stock or over_consumption")
	}
	if err := fl.Err(); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where := ` WHERE ($1 = '' OR a.status = $1) AND ($2 = '' OR a.kind = $2)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_alerts a`+where, f.Status, f.Kind).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT a.id, a.kind, a.item_id, i.sku, i.name, a.location_id, coalesce(l.name, ''),
		a.work_order_id, a.material_id, a.message, a.quantity, a.threshold, a.status, a.resolved_by, a.resolved_at, a.created_at, a.updated_at
		FROM inventory_alerts a JOIN inventory_items i ON i.id = a.item_id LEFT JOIN inventory_locations l ON l.id = a.location_id`+where+`
		ORDER BY a.status = 'open' DESC, a.created_at DESC, a.id LIMIT $3 OFFSET $4`, f.Status, f.Kind, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		if err := rows.Scan(&a.ID, &a.Kind, &a.ItemID, &a.SKU, &a.ItemName, &a.LocationID, &a.LocationName, &a.WorkOrderID,
			&a.MaterialID, &a.Message, &a.Quantity, &a.Threshold, &a.Status, &a.ResolvedBy, &a.ResolvedAt, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// ResolveAlert closes an alert; closing an over-consumption alert marks its material reviewed.
func (s *Service) ResolveAlert(ctx context.Context, actorID, id, note string) error {
	if !postgres.ValidUUID(id) {
		return hub.Errorf(hub.ENOTFOUND, "no such alert")
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var status string
		var material *string
		err := tx.QueryRow(ctx, `SELECT status, material_id FROM inventory_alerts WHERE id = $1 FOR UPDATE`, id).Scan(&status, &material)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such alert")
		}
		if err != nil {
			return err
		}
		if status != "open" {
			return hub.Errorf(hub.ECONFLICT, "this alert is already resolved")
		}
		if _, err := tx.Exec(ctx, `UPDATE inventory_alerts SET status = 'resolved', resolved_by = $2, resolved_at = now(), updated_at = now()
			WHERE id = $1`, id, nullable(actorID)); err != nil {
			return err
		}
		if material != nil {
			note = strings.TrimSpace(note)
			_, err = tx.Exec(ctx, `UPDATE work_order_materials SET flagged_for_review = false, reviewed_by = $2, reviewed_at = now(),
				review_note = CASE WHEN $3 = '' THEN review_note ELSE $3 END WHERE id = $1`, *material, nullable(actorID), note)
		}
		return err
	})
}
