package inventory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Service is the inventory on PostgreSQL.
type Service struct {
	DB *postgres.DB
}

// NewService returns the inventory service.
func NewService(db *postgres.DB) *Service { return &Service{DB: db} }

// fmtQty prints a quantity without trailing zeros ("2.5", "10").
func fmtQty(q float64) string { return strconv.FormatFloat(round3(q), 'f', -1, 64) }

// round3 rounds to the database's precision (numeric(14,3)).
func round3(q float64) float64 { return math.Round(q*1000) / 1000 }

func checkQuantity(f hub.Fields, field string, q float64, allowNegative bool) {
	switch {
	case math.IsNaN(q) || math.IsInf(q, 0) || math.Abs(q) > MaxQuantity:
		f.Add(field, "must be a finite number")
	case round3(q) == 0:
		f.Add(field, "must not be zero")
	case !allowNegative && q < 0:
		f.Add(field, "must be greater than 0")
	}
}

func checkID(f hub.Fields, field, id string, required bool) {
	switch {
	case id == "" && required:
		f.Add(field, "is required")
	case id != "" && !postgres.ValidUUID(id):
		f.Add(field, "must be a UUID")
	}
}

// stockRow is a locked inventory_stock row.
type stockRow struct {
	ID, ItemID, LocationID string
	OnHand, Reserved       float64
}

func (r stockRow) available() float64 { return round3(r.OnHand - r.Reserved) }

// lockStock takes the row lock of the stock of item at location. With create it makes the row
// first when missing; without, a missing row comes back as nil (nothing on hand).
func lockStock(ctx context.Context, tx pgx.Tx, itemID, locationID string, create bool) (*stockRow, error) {
	if create {
		if _, err := tx.Exec(ctx, `INSERT INTO inventory_stock (item_id, location_id) VALUES ($1, $2)
			ON CONFLICT (item_id, location_id) DO NOTHING`, itemID, locationID); err != nil {
			return nil, postgres.Translate(err)
		}
	}
	r := &stockRow{ItemID: itemID, LocationID: locationID}
	err := tx.QueryRow(ctx, `SELECT id, quantity_on_hand, reserved_quantity FROM inventory_stock
		WHERE item_id = $1 AND location_id = $2 FOR UPDATE`, itemID, locationID).Scan(&r.ID, &r.OnHand, &r.Reserved)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// stockKey orders stock locks.
func stockKey(itemID, locationID string) string { return itemID + "|" + locationID }

// move is one change of a locked stock row, written to the ledger.
type move struct {
	Kind            string
	OnHand, Reserve float64 // deltas
	Reason          string
	RefType         string
	RefID           *string
	WorkOrderID     *string
	Serials         []string
	ActorID         *string
	DeviceID        *string
}

// apply changes a locked stock row, writes the movement and raises or resolves alerts.
func apply(ctx context.Context, tx pgx.Tx, r *stockRow, m move) error {
	m.OnHand, m.Reserve = round3(m.OnHand), round3(m.Reserve)
	if m.OnHand == 0 && m.Reserve == 0 {
		return nil
	}
	err := tx.QueryRow(ctx, `UPDATE inventory_stock SET quantity_on_hand = quantity_on_hand + $2,
		reserved_quantity = reserved_quantity + $3 WHERE id = $1 RETURNING quantity_on_hand, reserved_quantity`,
		r.ID, m.OnHand, m.Reserve).Scan(&r.OnHand, &r.Reserved)
	if err != nil {
		return postgres.Translate(err)
	}
	if m.Serials == nil {
		m.Serials = []string{}
	}
	_, err = tx.Exec(ctx, `INSERT INTO inventory_movements (item_id, location_id, kind, on_hand_delta, reserved_delta,
		on_hand_after, reserved_after, reason, ref_type, ref_id, work_order_id, serial_numbers, actor_id, device_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		r.ItemID, r.LocationID, m.Kind, m.OnHand, m.Reserve, r.OnHand, r.Reserved, m.Reason, m.RefType, m.RefID,
		m.WorkOrderID, m.Serials, m.ActorID, m.DeviceID)
	if err != nil {
		return postgres.Translate(err)
	}
	return checkAlerts(ctx, tx, r)
}

// checkAlerts raises a negative-stock alert when on hand is below zero and a low-stock alert when
// available is below the threshold; it resolves them when the stock is back.
func checkAlerts(ctx context.Context, tx pgx.Tx, r *stockRow) error {
	var threshold *float64
	var sku, loc, unit string
	err := tx.QueryRow(ctx, `SELECT coalesce(s.reorder_level, i.reorder_level), i.sku, l.name, i.unit
		FROM inventory_stock s JOIN inventory_items i ON i.id = s.item_id JOIN inventory_locations l ON l.id = s.location_id
		WHERE s.id = $1`, r.ID).Scan(&threshold, &sku, &loc, &unit)
	if err != nil {
		return err
	}
	raise := func(kind, msg string, qty float64, th *float64) error {
		_, err := tx.Exec(ctx, `INSERT INTO inventory_alerts (kind, item_id, location_id, message, quantity, threshold)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, kind, r.ItemID, r.LocationID, msg, qty, th)
		return err
	}
	resolve := func(kind string) error {
		_, err := tx.Exec(ctx, `UPDATE inventory_alerts SET status = 'resolved', resolved_at = now(), updated_at = now()
			WHERE kind = $1 AND item_id = $2 AND location_id = $3 AND status = 'open'`, kind, r.ItemID, r.LocationID)
		return err
	}
	if r.OnHand < 0 {
		if err := raise(AlertNegativeStock, fmt.Sprintf("%s at %s is below zero: %s %s on hand", sku, loc, fmtQty(r.OnHand), unit),
			r.OnHand, nil); err != nil {
			return err
		}
	} else if err := resolve(AlertNegativeStock); err != nil {
		return err
	}
	if threshold != nil && r.available() < *threshold {
		return raise(AlertLowStock, fmt.Sprintf("%s at %s is low: %s %s available, threshold %s", sku, loc,
			fmtQty(r.available()), unit, fmtQty(*threshold)), r.available(), threshold)
	}
	return resolve(AlertLowStock)
}

// --- items ---------------------------------------------------------------------------------------

const itemCols = `id, sku, name, description, unit, unit_cost, currency, is_serialized, reorder_level, is_active, version, created_at, updated_at`

func scanItem(row pgx.Row) (*Item, error) {
	var it Item
	err := row.Scan(&it.ID, &it.SKU, &it.Name, &it.Description, &it.Unit, &it.UnitCost, &it.Currency, &it.IsSerialized,
		&it.ReorderLevel, &it.IsActive, &it.Version, &it.CreatedAt, &it.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &it, nil
}

// checkText checks an optional text update v: when set, norm(*v) must not be blank nor longer
// than max characters. It returns the normalised value to store (v itself when it is nil or
// invalid).
func checkText(f hub.Fields, field string, v *string, max int, norm func(string) string) *string {
	if v == nil {
		return nil
	}
	switch n := norm(*v); {
	case n == "":
		f.Add(field, "must not be blank")
	case len(n) > max:
		f.Add(field, fmt.Sprintf("is longer than %d characters", max))
	default:
		return &n
	}
	return v
}

func checkNonNegative(f hub.Fields, field string, v *float64) {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0 || *v > MaxQuantity) {
		f.Add(field, "must be a number of 0 or more")
	}
}

// CreateItem adds an item, generating its SKU from the document sequence when it has none.
func (s *Service) CreateItem(ctx context.Context, in ItemCreate) (*Item, error) {
	in.SKU, in.Name, in.Unit = strings.TrimSpace(in.SKU), strings.TrimSpace(in.Name), strings.TrimSpace(in.Unit)
	f := hub.Fields{}
	if in.Name == "" {
		f.Add("name", "is required")
	} else if len(in.Name) > 200 {
		f.Add("name", "is longer than 200 characters")
	}
	if len(in.SKU) > 64 {
		f.Add("sku", "is longer than 64 characters")
	}
	if in.Unit == "" {
		in.Unit = "each"
	} else if len(in.Unit) > 20 {
		f.Add("unit", "is longer than 20 characters")
	}
	if in.Currency == "" {
		in.Currency = "USD"
	} else if len(in.Currency) != 3 {
		f.Add("currency", "must be a 3-letter code")
	}
	checkNonNegative(f, "unit_cost", in.UnitCost)
	checkNonNegative(f, "reorder_level", in.ReorderLevel)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out *Item
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if in.SKU == "" {
			sku, err := postgres.NextNumber(ctx, tx, "inventory_sku", "SKU")
			if err != nil {
				return err
			}
			in.SKU = sku
		}
		var err error
		out, err = scanItem(tx.QueryRow(ctx, `INSERT INTO inventory_items (sku, name, description, unit, unit_cost, currency,
			is_serialized, reorder_level) VALUES ($1, $2, $3, $4, $5, upper($6), $7, $8) RETURNING `+itemCols,
			in.SKU, in.Name, in.Description, in.Unit, in.UnitCost, in.Currency, in.IsSerialized, in.ReorderLevel))
		return err
	})
	if hub.ErrorCode(err) == hub.ECONFLICT {
		return nil, &hub.Error{Code: hub.ECONFLICT, Message: "an item with this SKU exists", Fields: map[string]string{"sku": "is taken"}}
	}
	return out, err
}

// UpdateItem changes an item's office fields (is_active false hides it from pick lists). With
// u.Version set, an item changed since that version is a conflict.
func (s *Service) UpdateItem(ctx context.Context, id string, u ItemUpdate) (*Item, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such item")
	}
	f := hub.Fields{}
	u.Name = checkText(f, "name", u.Name, 200, strings.TrimSpace)
	u.Unit = checkText(f, "unit", u.Unit, 20, strings.TrimSpace)
	checkNonNegative(f, "unit_cost", u.UnitCost)
	checkNonNegative(f, "reorder_level", u.ReorderLevel)
	if err := f.Err(); err != nil {
		return nil, err
	}
	it, err := scanItem(s.DB.Pool.QueryRow(ctx, `UPDATE inventory_items SET name = coalesce($2, name),
		description = coalesce($3, description), unit = coalesce($4, unit), unit_cost = coalesce($5, unit_cost),
		reorder_level = coalesce($6, reorder_level), is_active = coalesce($7, is_active)
		WHERE id = $1 AND ($8::bigint IS NULL OR version = $8) RETURNING `+itemCols,
		id, u.Name, u.Description, u.Unit, u.UnitCost, u.ReorderLevel, u.IsActive, u.Version))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		cur, err := s.FindItemByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, changedSince("item", *u.Version, cur.Version)
	}
	return it, err
}

// changedSince is the conflict of an edit made on an older version.
func changedSince(what string, saw, now int64) error {
	return &hub.Error{Code: hub.ECONFLICT, Message: fmt.Sprintf("the %s changed since version %d (it is at version %d now): reload it and make your change again",
		what, saw, now), Fields: map[string]string{"version": "is out of date"}}
}

// FindItemByID returns one item.
func (s *Service) FindItemByID(ctx context.Context, id string) (*Item, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such item")
	}
	it, err := scanItem(s.DB.Pool.QueryRow(ctx, `SELECT `+itemCols+` FROM inventory_items WHERE id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such item")
	}
	return it, err
}

// FindItems lists items by name or SKU.
func (s *Service) FindItems(ctx context.Context, f ItemFilter) ([]Item, int, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where := `($1 = '' OR lower(name) LIKE '%' || lower($1) || '%' OR lower(sku) LIKE '%' || lower($1) || '%') AND ($2 OR is_active)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_items WHERE `+where, f.Query, f.IncludeHidden).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+itemCols+` FROM inventory_items WHERE `+where+` ORDER BY name, sku LIMIT $3 OFFSET $4`,
		f.Query, f.IncludeHidden, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *it)
	}
	return out, total, rows.Err()
}

// --- locations -----------------------------------------------------------------------------------

const locationCols = `l.id, l.name, l.code, l.kind, l.technician_id, coalesce(p.display_name, ''), l.address, l.is_active,
	l.version, l.created_at, l.updated_at`
const locationFrom = ` FROM inventory_locations l LEFT JOIN people p ON p.id = l.technician_id`

func scanLocation(row pgx.Row) (*Location, error) {
	var l Location
	err := row.Scan(&l.ID, &l.Name, &l.Code, &l.Kind, &l.TechnicianID, &l.TechnicianName, &l.Address, &l.IsActive,
		&l.Version, &l.CreatedAt, &l.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return &l, nil
}

// CreateLocation adds a warehouse, or a van (one per technician).
func (s *Service) CreateLocation(ctx context.Context, in LocationCreate) (*Location, error) {
	in.Name, in.Code = strings.TrimSpace(in.Name), strings.ToUpper(strings.TrimSpace(in.Code))
	f := hub.Fields{}
	if in.Name == "" {
		f.Add("name", "is required")
	}
	if len(in.Code) > 32 {
		f.Add("code", "is longer than 32 characters")
	}
	tech := ""
	if in.TechnicianID != nil {
		tech = *in.TechnicianID
	}
	switch in.Kind {
	case KindVan:
		checkID(f, "technician_id", tech, true)
	case KindWarehouse:
		if tech != "" {
			f.Add("technician_id", "only a van belongs to a technician")
		}
	case "":
		f.Add("kind", "is required (warehouse or van)")
	default:
		f.Add("kind", "must be warehouse or van")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var techID *string
	if tech != "" {
		techID = &tech
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if techID != nil {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM people WHERE id = $1)`, *techID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return hub.Invalid(map[string]string{"technician_id": "no such person"})
			}
			var has bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory_locations WHERE technician_id = $1 AND kind = 'van' AND is_active)`,
				*techID).Scan(&has); err != nil {
				return err
			}
			if has {
				return &hub.Error{Code: hub.ECONFLICT, Message: "this technician already has a van", Fields: map[string]string{"technician_id": "has a van"}}
			}
		}
		if in.Code == "" {
			prefix, key := "WH", "inventory_warehouse"
			if in.Kind == KindVan {
				prefix, key = "VAN", "inventory_van"
			}
			code, err := postgres.NextNumber(ctx, tx, key, prefix)
			if err != nil {
				return err
			}
			in.Code = code
		}
		err := tx.QueryRow(ctx, `INSERT INTO inventory_locations (name, code, kind, technician_id, address)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, in.Name, in.Code, in.Kind, techID, in.Address).Scan(&id)
		if hub.ErrorCode(postgres.Translate(err)) == hub.ECONFLICT {
			return &hub.Error{Code: hub.ECONFLICT, Message: "a location with this code exists", Fields: map[string]string{"code": "is taken"}}
		}
		return postgres.Translate(err)
	})
	if err != nil {
		return nil, err
	}
	return s.FindLocationByID(ctx, id)
}

// UpdateLocation renames, recodes, moves or (de)activates a location. A location still holding
// stock (on hand or reserved) cannot be deactivated, and a van comes back only while its
// technician has no other active van. With u.Version set, a location changed since that version is
// a conflict.
func (s *Service) UpdateLocation(ctx context.Context, id string, u LocationUpdate) (*Location, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such location")
	}
	f := hub.Fields{}
	u.Name = checkText(f, "name", u.Name, 200, strings.TrimSpace)
	u.Code = checkText(f, "code", u.Code, 32, func(c string) string { return strings.ToUpper(strings.TrimSpace(c)) })
	if u.Address != nil && len(*u.Address) > 500 {
		f.Add("address", "is longer than 500 characters")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var active bool
		var kind, code string
		var tech *string
		var version int64
		err := tx.QueryRow(ctx, `SELECT is_active, kind, code, technician_id::text, version FROM inventory_locations WHERE id = $1 FOR UPDATE`, id).
			Scan(&active, &kind, &code, &tech, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return hub.Errorf(hub.ENOTFOUND, "no such location")
		}
		if err != nil {
			return err
		}
		if u.Version != nil && *u.Version != version {
			return changedSince("location", *u.Version, version)
		}
		if u.Code != nil && *u.Code != code {
			var taken bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory_locations WHERE code = $1 AND id <> $2)`, *u.Code, id).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return &hub.Error{Code: hub.ECONFLICT, Message: "a location with this code exists", Fields: map[string]string{"code": "is taken"}}
			}
		}
		if u.IsActive != nil && !*u.IsActive && active {
			var holds bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory_stock WHERE location_id = $1
				AND (quantity_on_hand <> 0 OR reserved_quantity <> 0))`, id).Scan(&holds); err != nil {
				return err
			}
			if holds {
				return &hub.Error{Code: hub.ECONFLICT, Message: "this location still holds stock (on hand or reserved): transfer or adjust it to zero first",
					Fields: map[string]string{"is_active": "the location holds stock"}}
			}
		}
		if u.IsActive != nil && *u.IsActive && !active && kind == KindVan && tech != nil {
			var other bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory_locations WHERE technician_id = $1 AND kind = 'van' AND is_active AND id <> $2)`,
				*tech, id).Scan(&other); err != nil {
				return err
			}
			if other {
				return &hub.Error{Code: hub.ECONFLICT, Message: "the technician has another active van", Fields: map[string]string{"is_active": "the technician has another van"}}
			}
		}
		_, err = tx.Exec(ctx, `UPDATE inventory_locations SET name = coalesce($2, name), code = coalesce($3, code),
			address = coalesce($4, address), is_active = coalesce($5, is_active) WHERE id = $1`, id, u.Name, u.Code, u.Address, u.IsActive)
		return postgres.Translate(err)
	})
	if err != nil {
		return nil, err
	}
	return s.FindLocationByID(ctx, id)
}

// FindLocationByID returns one location.
func (s *Service) FindLocationByID(ctx context.Context, id string) (*Location, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such location")
	}
	l, err := scanLocation(s.DB.Pool.QueryRow(ctx, `SELECT `+locationCols+locationFrom+` WHERE l.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such location")
	}
	return l, err
}

// FindLocations lists locations, warehouses first; kind narrows to warehouse or van.
func (s *Service) FindLocations(ctx context.Context, kind string) ([]Location, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+locationCols+locationFrom+` WHERE ($1 = '' OR l.kind = $1)
		ORDER BY l.kind DESC, l.name`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Location
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *l)
	}
	return out, rows.Err()
}

// VanOf returns the active van of a technician.
func (s *Service) VanOf(ctx context.Context, technicianID string) (*Location, error) {
	if !postgres.ValidUUID(technicianID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no van")
	}
	l, err := scanLocation(s.DB.Pool.QueryRow(ctx, `SELECT `+locationCols+locationFrom+`
		WHERE l.technician_id = $1 AND l.kind = 'van' AND l.is_active`, technicianID))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "this technician has no van")
	}
	return l, err
}

// --- stock ---------------------------------------------------------------------------------------

const stockSelect = `SELECT s.id, s.item_id, i.sku, i.name, i.unit, s.location_id, l.name, l.code, l.kind,
	s.quantity_on_hand, s.reserved_quantity, coalesce(s.reorder_level, i.reorder_level), s.version, s.updated_at
	FROM inventory_stock s JOIN inventory_items i ON i.id = s.item_id JOIN inventory_locations l ON l.id = s.location_id`

func scanStock(row pgx.Row) (*Stock, error) {
	var st Stock
	err := row.Scan(&st.ID, &st.ItemID, &st.SKU, &st.ItemName, &st.Unit, &st.LocationID, &st.LocationName, &st.LocationCode,
		&st.LocationKind, &st.OnHand, &st.Reserved, &st.ReorderLevel, &st.Version, &st.UpdatedAt)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	st.Available = round3(st.OnHand - st.Reserved)
	st.Low = st.ReorderLevel != nil && st.Available < *st.ReorderLevel
	return &st, nil
}

// FindStock lists stock rows with on hand, reserved and available.
func (s *Service) FindStock(ctx context.Context, f StockFilter) ([]Stock, int, error) {
	fl := hub.Fields{}
	checkID(fl, "item_id", f.ItemID, false)
	checkID(fl, "location_id", f.LocationID, false)
	if f.Kind != "" && f.Kind != KindVan && f.Kind != KindWarehouse {
		fl.Add("kind", "must be warehouse or van")
	}
	if err := fl.Err(); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where := ` WHERE ($1 = '' OR s.item_id::text = $1) AND ($2 = '' OR s.location_id::text = $2) AND ($3 = '' OR l.kind = $3)
		AND (NOT $4 OR (coalesce(s.reorder_level, i.reorder_level) IS NOT NULL
			AND s.quantity_on_hand - s.reserved_quantity < coalesce(s.reorder_level, i.reorder_level)))`
	args := []any{f.ItemID, f.LocationID, f.Kind, f.LowOnly}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_stock s JOIN inventory_items i ON i.id = s.item_id
		JOIN inventory_locations l ON l.id = s.location_id`+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, stockSelect+where+` ORDER BY l.kind DESC, l.name, i.name LIMIT $5 OFFSET $6`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Stock
	for rows.Next() {
		st, err := scanStock(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *st)
	}
	return out, total, rows.Err()
}

func (s *Service) findStock(ctx context.Context, q pgx.Tx, itemID, locationID string) (*Stock, error) {
	return scanStock(q.QueryRow(ctx, stockSelect+` WHERE s.item_id = $1 AND s.location_id = $2`, itemID, locationID))
}

// itemAndLocation checks that both exist and are active and returns their labels.
func itemAndLocation(ctx context.Context, tx pgx.Tx, itemID, locationID string) (item, unit, loc string, err error) {
	var active bool
	err = tx.QueryRow(ctx, `SELECT sku || ' ' || name, unit, is_active FROM inventory_items WHERE id = $1`, itemID).Scan(&item, &unit, &active)
	if err == pgx.ErrNoRows || err == nil && !active {
		return "", "", "", hub.Invalid(map[string]string{"item_id": "no such item"})
	}
	if err != nil {
		return "", "", "", err
	}
	err = tx.QueryRow(ctx, `SELECT name, is_active FROM inventory_locations WHERE id = $1`, locationID).Scan(&loc, &active)
	if err == pgx.ErrNoRows || err == nil && !active {
		return "", "", "", hub.Invalid(map[string]string{"location_id": "no such location"})
	}
	return item, unit, loc, err
}

// AdjustStock changes on hand by a signed delta with a reason (a count, a delivery, breakage). It
// never takes stock that is reserved: a decrease beyond what is available is a conflict.
func (s *Service) AdjustStock(ctx context.Context, actorID string, in Adjustment) (*Stock, error) {
	f := hub.Fields{}
	checkID(f, "item_id", in.ItemID, true)
	checkID(f, "location_id", in.LocationID, true)
	checkQuantity(f, "quantity_delta", in.QuantityDelta, true)
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		f.Add("reason", "is required")
	} else if len(in.Reason) > 500 {
		f.Add("reason", "is longer than 500 characters")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out *Stock
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		item, unit, loc, err := itemAndLocation(ctx, tx, in.ItemID, in.LocationID)
		if err != nil {
			return err
		}
		r, err := lockStock(ctx, tx, in.ItemID, in.LocationID, true)
		if err != nil {
			return err
		}
		if in.QuantityDelta < 0 && -round3(in.QuantityDelta) > r.available() {
			return hub.Errorf(hub.ECONFLICT, "only %s %s of %s available at %s (on hand %s, reserved %s): cannot remove %s",
				fmtQty(max(r.available(), 0)), unit, item, loc, fmtQty(r.OnHand), fmtQty(r.Reserved), fmtQty(-in.QuantityDelta))
		}
		if err := apply(ctx, tx, r, move{Kind: "adjustment", OnHand: in.QuantityDelta, Reason: in.Reason, ActorID: nullable(actorID)}); err != nil {
			return err
		}
		out, err = s.findStock(ctx, tx, in.ItemID, in.LocationID)
		return err
	})
	return out, err
}

// SetThreshold sets (or clears, with nil) the low-stock level of an item at a location.
func (s *Service) SetThreshold(ctx context.Context, in Threshold) (*Stock, error) {
	f := hub.Fields{}
	checkID(f, "item_id", in.ItemID, true)
	checkID(f, "location_id", in.LocationID, true)
	checkNonNegative(f, "reorder_level", in.ReorderLevel)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out *Stock
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, _, _, err := itemAndLocation(ctx, tx, in.ItemID, in.LocationID); err != nil {
			return err
		}
		r, err := lockStock(ctx, tx, in.ItemID, in.LocationID, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE inventory_stock SET reorder_level = $2 WHERE id = $1`, r.ID, in.ReorderLevel); err != nil {
			return err
		}
		if err := checkAlerts(ctx, tx, r); err != nil {
			return err
		}
		out, err = s.findStock(ctx, tx, in.ItemID, in.LocationID)
		return err
	})
	return out, err
}

// FindMovements lists the ledger, newest first.
func (s *Service) FindMovements(ctx context.Context, f MovementFilter) ([]Movement, int, error) {
	fl := hub.Fields{}
	checkID(fl, "item_id", f.ItemID, false)
	checkID(fl, "location_id", f.LocationID, false)
	checkID(fl, "work_order_id", f.WorkOrderID, false)
	if err := fl.Err(); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where := ` WHERE ($1 = '' OR m.item_id::text = $1) AND ($2 = '' OR m.location_id::text = $2) AND ($3 = '' OR m.work_order_id::text = $3)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_movements m`+where, f.ItemID, f.LocationID, f.WorkOrderID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT m.id, m.item_id, i.sku, m.location_id, l.code, m.kind, m.on_hand_delta, m.reserved_delta,
		m.on_hand_after, m.reserved_after, m.reason, m.ref_type, m.ref_id, m.work_order_id, m.serial_numbers, m.actor_id, m.created_at
		FROM inventory_movements m JOIN inventory_items i ON i.id = m.item_id JOIN inventory_locations l ON l.id = m.location_id`+where+`
		ORDER BY m.created_at DESC, m.id DESC LIMIT $4 OFFSET $5`, f.ItemID, f.LocationID, f.WorkOrderID, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Movement
	for rows.Next() {
		var m Movement
		if err := rows.Scan(&m.ID, &m.ItemID, &m.SKU, &m.LocationID, &m.LocationCode, &m.Kind, &m.OnHandDelta, &m.ReservedDelta,
			&m.OnHandAfter, &m.ReservedAfter, &m.Reason, &m.RefType, &m.RefID, &m.WorkOrderID, &m.SerialNumbers, &m.ActorID, &m.CreatedAt); err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
