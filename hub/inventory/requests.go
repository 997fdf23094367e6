package inventory

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// --- transfers -----------------------------------------------------------------------------------

func checkItems(f hub.Fields, items []TransferItem) {
	if len(items) == 0 {
		f.Add("items", "at least one item is required")
		return
	}
	if len(items) > 200 {
		f.Add("items", "at most 200 items")
	}
	seen := map[string]bool{}
	for i, it := range items {
		p := fmt.Sprintf("items[%d].", i)
		checkID(f, p+"item_id", it.ItemID, true)
		if seen[it.ItemID] {
			f.Add(p+"item_id", "appears twice")
		}
		seen[it.ItemID] = true
		checkQuantity(f, p+"quantity", it.Quantity, false)
		checkSerials(f, p+"serial_numbers", it.SerialNumbers)
	}
}

func checkSerials(f hub.Fields, field string, serials []string) {
	seen := map[string]bool{}
	for _, sn := range serials {
		sn = strings.TrimSpace(sn)
		switch {
		case sn == "" || len(sn) > 100:
			f.Add(field, "serial numbers must be 1 to 100 characters")
		case seen[sn]:
			f.Add(field, "serial number "+sn+" appears twice")
		}
		seen[sn] = true
	}
}

// CreateTransfer moves stock from one location to another (warehouse → van, van → van, van →
// warehouse) in one transaction: only available stock moves, each side gets a ledger row.
func (s *Service) CreateTransfer(ctx context.Context, actorID string, in TransferCreate) (*Transfer, error) {
	f := hub.Fields{}
	checkID(f, "from_location_id", in.FromLocationID, true)
	checkID(f, "to_location_id", in.ToLocationID, true)
	if in.FromLocationID != "" && in.FromLocationID == in.ToLocationID {
		f.Add("to_location_id", "must differ from from_location_id")
	}
	checkItems(f, in.Items)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = transfer(ctx, tx, actorID, in, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindTransferByID(ctx, id)
}

func transfer(ctx context.Context, tx pgx.Tx, actorID string, in TransferCreate, requestID *string) (string, error) {
	for _, loc := range []struct{ field, id string }{{"from_location_id", in.FromLocationID}, {"to_location_id", in.ToLocationID}} {
		var active bool
		err := tx.QueryRow(ctx, `SELECT is_active FROM inventory_locations WHERE id = $1`, loc.id).Scan(&active)
		if err == pgx.ErrNoRows || err == nil && !active {
			return "", hub.Invalid(map[string]string{loc.field: "no such location"})
		}
		if err != nil {
			return "", err
		}
	}
	number, err := postgres.NextNumber(ctx, tx, "inventory_transfer", "TR")
	if err != nil {
		return "", err
	}
	var id string
	if err := tx.QueryRow(ctx, `INSERT INTO inventory_transfers (number, from_location_id, to_location_id, material_request_id, note, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, number, in.FromLocationID, in.ToLocationID, requestID, in.Note,
		nullable(actorID)).Scan(&id); err != nil {
		return "", postgres.Translate(err)
	}
	// Lock the stock rows of both sides in key order.
	type lock struct{ item, loc string }
	var locks []lock
	for _, it := range in.Items {
		locks = append(locks, lock{it.ItemID, in.FromLocationID}, lock{it.ItemID, in.ToLocationID})
	}
	sort.Slice(locks, func(i, j int) bool {
		return stockKey(locks[i].item, locks[i].loc) < stockKey(locks[j].item, locks[j].loc)
	})
	rows := map[string]*stockRow{}
	for i, l := range locks {
		item, _, _, err := itemAndLocation(ctx, tx, l.item, l.loc)
		if err != nil {
			if e, ok := err.(*hub.Error); ok && e.Fields["item_id"] != "" {
				return "", hub.Invalid(map[string]string{fmt.Sprintf("items[%d].item_id", itemIndex(in.Items, l.item)): "no such item"})
			}
			return "", err
		}
		_ = item
		r, err := lockStock(ctx, tx, l.item, l.loc, true)
		if err != nil {
			return "", err
		}
		rows[stockKey(l.item, l.loc)] = r
		_ = i
	}
	ref := id
	for _, it := range in.Items {
		var sku, unit, name string
		var serialized bool
		if err := tx.QueryRow(ctx, `SELECT sku, unit, name, is_serialized FROM inventory_items WHERE id = $1`, it.ItemID).Scan(&sku, &unit, &name, &serialized); err != nil {
			return "", err
		}
		q := round3(it.Quantity)
		if serialized && len(it.SerialNumbers) > 0 && (q != math.Trunc(q) || int(q) != len(it.SerialNumbers)) {
			return "", hub.Invalid(map[string]string{fmt.Sprintf("items[%d].serial_numbers", itemIndex(in.Items, it.ItemID)): fmt.Sprintf("%s is serialized: give one serial number per unit (%s units, %d serial numbers)", sku, fmtQty(q), len(it.SerialNumbers))})
		}
		from, to := rows[stockKey(it.ItemID, in.FromLocationID)], rows[stockKey(it.ItemID, in.ToLocationID)]
		if from.available() < q {
			var loc string
			tx.QueryRow(ctx, `SELECT name FROM inventory_locations WHERE id = $1`, in.FromLocationID).Scan(&loc)
			return "", &hub.Error{Code: hub.ECONFLICT,
				Message: fmt.Sprintf("only %s %s of %s %s available at %s; %s to transfer", fmtQty(max(from.available(), 0)), unit, sku, name, loc, fmtQty(q)),
				Fields:  map[string]string{fmt.Sprintf("items[%d].quantity", itemIndex(in.Items, it.ItemID)): fmt.Sprintf("at most %s available", fmtQty(max(from.available(), 0)))}}
		}
		serials := cleanSerials(it.SerialNumbers)
		if _, err := tx.Exec(ctx, `INSERT INTO inventory_transfer_items (transfer_id, item_id, quantity, serial_numbers) VALUES ($1, $2, $3, $4)`,
			id, it.ItemID, q, serials); err != nil {
			return "", postgres.Translate(err)
		}
		reason := "transfer " + number
		if err := apply(ctx, tx, from, move{Kind: "transfer_out", OnHand: -q, Reason: reason, RefType: "transfer", RefID: &ref,
			Serials: serials, ActorID: nullable(actorID)}); err != nil {
			return "", err
		}
		if err := apply(ctx, tx, to, move{Kind: "transfer_in", OnHand: q, Reason: reason, RefType: "transfer", RefID: &ref,
			Serials: serials, ActorID: nullable(actorID)}); err != nil {
			return "", err
		}
	}
	return id, nil
}

func itemIndex(items []TransferItem, id string) int {
	for i, it := range items {
		if it.ItemID == id {
			return i
		}
	}
	return 0
}

func cleanSerials(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// FindTransferByID returns a transfer with its items.
func (s *Service) FindTransferByID(ctx context.Context, id string) (*Transfer, error) {
	ts, _, err := s.findTransfers(ctx, id, 1, 0)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such transfer")
	}
	return &ts[0], nil
}

// FindTransfers lists transfers, newest first.
func (s *Service) FindTransfers(ctx context.Context, limit, offset int) ([]Transfer, int, error) {
	return s.findTransfers(ctx, "", limit, offset)
}

func (s *Service) findTransfers(ctx context.Context, id string, limit, offset int) ([]Transfer, int, error) {
	if id != "" && !postgres.ValidUUID(id) {
		return nil, 0, nil
	}
	if limit <= 0 {
		limit = 50
	}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_transfers WHERE ($1 = '' OR id::text = $1)`, id).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT t.id, t.number, t.from_location_id, f.name, t.to_location_id, d.name, t.material_request_id,
		t.note, t.created_by, t.created_at FROM inventory_transfers t JOIN inventory_locations f ON f.id = t.from_location_id
		JOIN inventory_locations d ON d.id = t.to_location_id WHERE ($1 = '' OR t.id::text = $1)
		ORDER BY t.created_at DESC, t.id DESC LIMIT $2 OFFSET $3`, id, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	var out []Transfer
	for rows.Next() {
		var t Transfer
		if err := rows.Scan(&t.ID, &t.Number, &t.FromLocationID, &t.FromLocationName, &t.ToLocationID, &t.ToLocationName,
			&t.MaterialRequestID, &t.Note, &t.CreatedBy, &t.CreatedAt); err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for i := range out {
		rows, err := s.DB.Pool.Query(ctx, `SELECT ti.item_id, i.sku, i.name, ti.quantity, ti.serial_numbers FROM inventory_transfer_items ti
			JOIN inventory_items i ON i.id = ti.item_id WHERE ti.transfer_id = $1 ORDER BY i.name`, out[i].ID)
		if err != nil {
			return nil, 0, err
		}
		out[i].Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TransferItem, error) {
			var it TransferItem
			err := r.Scan(&it.ItemID, &it.SKU, &it.Name, &it.Quantity, &it.SerialNumbers)
			return it, err
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// --- material requests ---------------------------------------------------------------------------

var priorities = []string{"low", "medium", "high", "urgent"}

// CreateMaterialRequest opens a request (draft, or submitted with Submit).
func (s *Service) CreateMaterialRequest(ctx context.Context, actorID string, in MaterialRequestCreate) (*MaterialRequest, error) {
	f := hub.Fields{}
	if in.Priority == "" {
		in.Priority = "medium"
	} else if !contains(priorities, in.Priority) {
		f.Add("priority", "must be low, medium, high or urgent")
	}
	for field, p := range map[string]*string{"work_order_id": in.WorkOrderID, "source_location_id": in.SourceLocationID,
		"destination_location_id": in.DestinationLocationID} {
		if p != nil {
			checkID(f, field, *p, false)
		}
	}
	if in.SourceLocationID != nil && in.DestinationLocationID != nil && *in.SourceLocationID != "" && *in.SourceLocationID == *in.DestinationLocationID {
		f.Add("destination_location_id", "must differ from source_location_id")
	}
	if len(in.Notes) > 2000 {
		f.Add("notes", "is longer than 2000 characters")
	}
	items := make([]TransferItem, len(in.Items))
	for i, it := range in.Items {
		items[i] = TransferItem{ItemID: it.ItemID, Quantity: it.Quantity, SerialNumbers: it.SerialNumbers}
	}
	checkItems(f, items)
	if err := f.Err(); err != nil {
		return nil, err
	}
	empty := func(p *string) *string {
		if p == nil || *p == "" {
			return nil
		}
		return p
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if wo := empty(in.WorkOrderID); wo != nil {
			if err := workOrderExists(ctx, tx, *wo); err != nil {
				return hub.Invalid(map[string]string{"work_order_id": "no such work order"})
			}
		}
		number, err := postgres.NextNumber(ctx, tx, "material_request", "MR")
		if err != nil {
			return err
		}
		status := RequestDraft
		if in.Submit {
			status = RequestSubmitted
		}
		err = tx.QueryRow(ctx, `INSERT INTO material_requests (number, status, priority, work_order_id, requested_by, source_location_id,
			destination_location_id, notes, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $2 = 'submitted' THEN now() END)
			RETURNING id`, number, status, in.Priority, empty(in.WorkOrderID), nullable(actorID), empty(in.SourceLocationID),
			empty(in.DestinationLocationID), in.Notes).Scan(&id)
		if err != nil {
			e := postgres.Translate(err)
			if hub.ErrorCode(e) == hub.EINVALID {
				return hub.Invalid(map[string]string{"location": "no such location"})
			}
			return e
		}
		for i, it := range in.Items {
			_, err := tx.Exec(ctx, `INSERT INTO material_request_items (material_request_id, item_id, quantity, serial_numbers)
				VALUES ($1, $2, $3, $4)`, id, it.ItemID, round3(it.Quantity), cleanSerials(it.SerialNumbers))
			if err != nil {
				if hub.ErrorCode(postgres.Translate(err)) == hub.EINVALID {
					return hub.Invalid(map[string]string{fmt.Sprintf("items[%d].item_id", i): "no such item"})
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.FindMaterialRequestByID(ctx, id)
}

const requestSelect = `SELECT r.id, r.number, r.status, r.priority, r.work_order_id, r.requested_by, coalesce(p.display_name, ''),
	r.approved_by, r.source_location_id, coalesce(sl.name, ''), r.destination_location_id, coalesce(dl.name, ''), r.transfer_id,
	r.notes, r.reject_reason, r.submitted_at, r.approved_at, r.issued_at, r.fulfilled_at, r.version, r.created_at, r.updated_at
	FROM material_requests r LEFT JOIN people p ON p.id = r.requested_by
	LEFT JOIN inventory_locations sl ON sl.id = r.source_location_id LEFT JOIN inventory_locations dl ON dl.id = r.destination_location_id`

func scanRequest(row pgx.Row) (*MaterialRequest, error) {
	var r MaterialRequest
	err := row.Scan(&r.ID, &r.Number, &r.Status, &r.Priority, &r.WorkOrderID, &r.RequestedBy, &r.RequestedByName, &r.ApprovedBy,
		&r.SourceLocationID, &r.SourceLocationName, &r.DestinationLocationID, &r.DestinationName, &r.TransferID, &r.Notes,
		&r.RejectReason, &r.SubmittedAt, &r.ApprovedAt, &r.IssuedAt, &r.FulfilledAt, &r.Version, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &r, nil
}

// FindMaterialRequestByID returns a request with its items.
func (s *Service) FindMaterialRequestByID(ctx context.Context, id string) (*MaterialRequest, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such material request")
	}
	r, err := scanRequest(s.DB.Pool.QueryRow(ctx, requestSelect+` WHERE r.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such material request")
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT ri.item_id, i.sku, i.name, i.unit, i.is_serialized, ri.quantity, ri.serial_numbers
		FROM material_request_items ri JOIN inventory_items i ON i.id = ri.item_id WHERE ri.material_request_id = $1 ORDER BY i.name`, id)
	if err != nil {
		return nil, err
	}
	r.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (MaterialRequestItem, error) {
		var it MaterialRequestItem
		err := row.Scan(&it.ItemID, &it.SKU, &it.Name, &it.Unit, &it.IsSerialized, &it.Quantity, &it.SerialNumbers)
		return it, err
	})
	return r, err
}

// FindMaterialRequests lists requests, newest first.
func (s *Service) FindMaterialRequests(ctx context.Context, f RequestFilter) ([]MaterialRequest, int, error) {
	fl := hub.Fields{}
	if f.Status != "" && !contains([]string{RequestDraft, RequestSubmitted, RequestApproved, RequestIssued, RequestFulfilled,
		RequestRejected, RequestCanceled}, f.Status) {
		fl.Add("status", "is not a request status")
	}
	checkID(fl, "work_order_id", f.WorkOrderID, false)
	if err := fl.Err(); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where := ` WHERE ($1 = '' OR r.status = $1) AND ($2 = '' OR r.work_order_id::text = $2)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM material_requests r`+where, f.Status, f.WorkOrderID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, requestSelect+where+` ORDER BY r.created_at DESC, r.id DESC LIMIT $3 OFFSET $4`,
		f.Status, f.WorkOrderID, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []MaterialRequest
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, rows.Err()
}

// Material request actions.
const (
	ActionSubmit  = "submit"
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionIssue   = "issue"
	ActionFulfill = "fulfill"
	ActionCancel  = "cancel"
)

// requestFlow maps an action to the statuses it leaves from and the status it reaches.
var requestFlow = map[string]struct {
	from []string
	to   string
}{
	ActionSubmit:  {[]string{RequestDraft}, RequestSubmitted},
	ActionApprove: {[]string{RequestSubmitted}, RequestApproved},
	ActionReject:  {[]string{RequestSubmitted, RequestApproved}, RequestRejected},
	ActionIssue:   {[]string{RequestApproved}, RequestIssued},
	ActionFulfill: {[]string{RequestIssued}, RequestFulfilled},
	ActionCancel:  {[]string{RequestDraft, RequestSubmitted, RequestApproved}, RequestCanceled},
}

// ActRequest moves a request along draft → submitted → approved → issued → fulfilled (or
// rejected, canceled). Issuing transfers the items from the source to the destination location
// in the same transaction, with serial numbers for serialized items.
func (s *Service) ActRequest(ctx context.Context, actorID, id, action string, in RequestAction) (*MaterialRequest, error) {
	flow, ok := requestFlow[action]
	if !ok {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such action")
	}
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such material request")
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if action == ActionReject && in.Reason == "" {
		return nil, hub.Invalid(map[string]string{"reason": "is required to reject"})
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var status, number string
		var src, dst, requester *string
		err := tx.QueryRow(ctx, `SELECT status, number, source_location_id, destination_location_id, requested_by
			FROM material_requests WHERE id = $1 FOR UPDATE`, id).Scan(&status, &number, &src, &dst, &requester)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "no such material request")
		}
		if err != nil {
			return err
		}
		if !contains(flow.from, status) {
			return hub.Errorf(hub.ECONFLICT, "%s is %s: it cannot be %s", number, status, pastTense(action))
		}
		set := ""
		args := []any{id, flow.to}
		switch action {
		case ActionSubmit:
			set = `, submitted_at = now()`
		case ActionApprove:
			set, args = `, approved_at = now(), approved_by = $3`, append(args, nullable(actorID))
		case ActionReject:
			set, args = `, rejected_at = now(), reject_reason = $3`, append(args, in.Reason)
		case ActionFulfill:
			set = `, fulfilled_at = now()`
		case ActionCancel:
			set = `, canceled_at = now()`
		case ActionIssue:
			if in.SourceLocationID != nil && *in.SourceLocationID != "" {
				if !postgres.ValidUUID(*in.SourceLocationID) {
					return hub.Invalid(map[string]string{"source_location_id": "must be a UUID"})
				}
				src = in.SourceLocationID
			}
			f := hub.Fields{}
			if src == nil {
				f.Add("source_location_id", "is required to issue")
			}
			if dst == nil {
				f.Add("destination_location_id", "the request has no destination location")
			}
			if src != nil && dst != nil && *src == *dst {
				f.Add("source_location_id", "must differ from the destination")
			}
			if err := f.Err(); err != nil {
				return err
			}
			tid, err := s.issue(ctx, tx, actorID, id, number, *src, *dst, in.SerialNumbers)
			if err != nil {
				return err
			}
			set, args = `, issued_at = now(), issued_by = $3, transfer_id = $4, source_location_id = $5`, append(args, nullable(actorID), tid, *src)
		}
		_, err = tx.Exec(ctx, `UPDATE material_requests SET status = $2`+set+` WHERE id = $1`, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindMaterialRequestByID(ctx, id)
}

func (s *Service) issue(ctx context.Context, tx pgx.Tx, actorID, id, number, src, dst string, serials map[string][]string) (string, error) {
	rows, err := tx.Query(ctx, `SELECT ri.item_id, ri.quantity, ri.serial_numbers, i.is_serialized, i.sku
		FROM material_request_items ri JOIN inventory_items i ON i.id = ri.item_id WHERE ri.material_request_id = $1 ORDER BY ri.item_id`, id)
	if err != nil {
		return "", err
	}
	type line struct {
		TransferItem
		serialized bool
		sku        string
	}
	var lines []line
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.ItemID, &l.Quantity, &l.SerialNumbers, &l.serialized, &l.sku); err != nil {
			rows.Close()
			return "", err
		}
		lines = append(lines, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	f := hub.Fields{}
	items := make([]TransferItem, 0, len(lines))
	for _, l := range lines {
		if sn, ok := serials[l.ItemID]; ok {
			l.SerialNumbers = cleanSerials(sn)
			checkSerials(f, "serial_numbers."+l.ItemID, sn)
		}
		if l.serialized && (l.Quantity != math.Trunc(l.Quantity) || len(l.SerialNumbers) != int(l.Quantity)) {
			f.Add("serial_numbers."+l.ItemID, fmt.Sprintf("%s is serialized: %s serial numbers are needed, %d given",
				l.sku, fmtQty(l.Quantity), len(l.SerialNumbers)))
		}
		if _, err := tx.Exec(ctx, `UPDATE material_request_items SET serial_numbers = $3 WHERE material_request_id = $1 AND item_id = $2`,
			id, l.ItemID, cleanSerials(l.SerialNumbers)); err != nil {
			return "", err
		}
		items = append(items, l.TransferItem)
	}
	if err := f.Err(); err != nil {
		return "", err
	}
	return transfer(ctx, tx, actorID, TransferCreate{FromLocationID: src, ToLocationID: dst, Note: "issued for " + number, Items: items}, &id)
}

func pastTense(action string) string {
	switch action {
	case ActionSubmit:
		return "submitted"
	case ActionApprove:
		return "approved"
	case ActionReject:
		return "rejected"
	case ActionIssue:
		return "issued"
	case ActionFulfill:
		return "fulfilled"
	}
	return "canceled"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
