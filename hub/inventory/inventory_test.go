package inventory_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/inventory"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
	"dotmac.dev/field/sync/field"
)

type bundle struct {
	t     *testing.T
	ctx   context.Context
	db    *postgres.DB
	svc   *inventory.Service
	admin string
	tech  string
	other string
	wh    *inventory.Location
	van   *inventory.Location
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db := postgrestest.NewDB(t)
	b := &bundle{t: t, ctx: context.Background(), db: db, svc: inventory.NewService(db)}
	b.admin = b.person("admin")
	b.tech = b.person("tech")
	b.other = b.person("other")
	var err error
	b.wh, err = b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Main warehouse", Kind: inventory.KindWarehouse})
	b.ok(err)
	b.van, err = b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Van 1", Kind: inventory.KindVan, TechnicianID: &b.tech})
	b.ok(err)
	return b
}

func (b *bundle) ok(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) person(name string) string {
	b.t.Helper()
	id := postgres.NewID()
	_, err := b.db.Pool.Exec(b.ctx, `INSERT INTO people (id, first_name, display_name, email) VALUES ($1, $2, $2, $3)`,
		id, name, name+"-"+id[:8]+"@example.com")
	b.ok(err)
	return id
}

// workOrder makes a dispatched work order assigned to tech.
func (b *bundle) workOrder(tech string) string {
	b.t.Helper()
	id := postgres.NewID()
	_, err := b.db.Pool.Exec(b.ctx, `INSERT INTO work_orders (id, number, title, status, assigned_to) VALUES ($1, $2, 'Install', 'dispatched', $3)`,
		id, "WO-"+id[len(id)-8:], tech)
	b.ok(err)
	return id
}

func (b *bundle) item(name string) *inventory.Item {
	b.t.Helper()
	it, err := b.svc.CreateItem(b.ctx, inventory.ItemCreate{Name: name, Unit: "each"})
	b.ok(err)
	return it
}

func (b *bundle) stock(itemID, locID string) inventory.Stock {
	b.t.Helper()
	st, _, err := b.svc.FindStock(b.ctx, inventory.StockFilter{ItemID: itemID, LocationID: locID})
	b.ok(err)
	if len(st) != 1 {
		b.t.Fatalf("stock rows: %d", len(st))
	}
	return st[0]
}

func (b *bundle) adjust(itemID, locID string, q float64) {
	b.t.Helper()
	_, err := b.svc.AdjustStock(b.ctx, b.admin, inventory.Adjustment{ItemID: itemID, LocationID: locID, QuantityDelta: q, Reason: "delivery"})
	b.ok(err)
}

func (b *bundle) wantStock(itemID, locID string, onHand, reserved float64) {
	b.t.Helper()
	st := b.stock(itemID, locID)
	if st.OnHand != onHand || st.Reserved != reserved || st.Available != onHand-reserved {
		b.t.Fatalf("stock: on hand %v reserved %v available %v, want %v %v %v", st.OnHand, st.Reserved, st.Available, onHand, reserved, onHand-reserved)
	}
	// The ledger adds up to the stock.
	var sumOn, sumRes float64
	b.ok(b.db.Pool.QueryRow(b.ctx, `SELECT coalesce(sum(on_hand_delta), 0), coalesce(sum(reserved_delta), 0) FROM inventory_movements
		WHERE item_id = $1 AND location_id = $2`, itemID, locID).Scan(&sumOn, &sumRes))
	if sumOn != onHand || sumRes != reserved {
		b.t.Fatalf("ledger sums on hand %v reserved %v, want %v %v", sumOn, sumRes, onHand, reserved)
	}
}

func code(err error) string { return hub.ErrorCode(err) }

func TestItem_SKUGenerated(t *testing.T) {
	b := setup(t)
	a, c := b.item("ONT"), b.item("Drop cable")
	if a.SKU != "SKU-000001" || c.SKU != "SKU-000002" {
		t.Fatalf("skus %s %s", a.SKU, c.SKU)
	}
	_, err := b.svc.CreateItem(b.ctx, inventory.ItemCreate{SKU: "SKU-000001", Name: "dup"})
	if code(err) != hub.ECONFLICT {
		t.Fatalf("duplicate sku: %v", err)
	}
	_, err = b.svc.CreateItem(b.ctx, inventory.ItemCreate{Name: " "})
	if code(err) != hub.EINVALID {
		t.Fatalf("blank name: %v", err)
	}
}

func TestLocation_OneVanPerTechnician(t *testing.T) {
	b := setup(t)
	_, err := b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Van 2", Kind: inventory.KindVan, TechnicianID: &b.tech})
	if code(err) != hub.ECONFLICT {
		t.Fatalf("second van: %v", err)
	}
	_, err = b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Van 3", Kind: inventory.KindVan})
	if code(err) != hub.EINVALID {
		t.Fatalf("van without technician: %v", err)
	}
	_, err = b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Shed", Kind: "shed"})
	if code(err) != hub.EINVALID {
		t.Fatalf("bad kind: %v", err)
	}
}

func TestReserve_FiftyGoroutinesNeverOversell(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.wh.ID, 10)
	wo := b.workOrder(b.tech)
	var wg sync.WaitGroup
	var mu sync.Mutex
	okN, conflicts := 0, 0
	var other []error
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.wh.ID, Quantity: 1})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				okN++
			case code(err) == hub.ECONFLICT:
				conflicts++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	if okN != 10 || conflicts != 40 {
		t.Fatalf("reserved %d, refused %d; want 10 and 40", okN, conflicts)
	}
	b.wantStock(it.ID, b.wh.ID, 10, 10)
}

func TestReserve_ConflictSaysWhatIsAvailable(t *testing.T) {
	b := setup(t)
	it := b.item("Drop cable")
	b.adjust(it.ID, b.wh.ID, 7.5)
	wo := b.workOrder(b.tech)
	_, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.wh.ID, Quantity: 3})
	b.ok(err)
	_, err = b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.wh.ID, Quantity: 5})
	e, ok := err.(*hub.Error)
	if !ok || e.Code != hub.ECONFLICT || !strings.Contains(e.Message, "only 4.5 each") {
		t.Fatalf("got %v", err)
	}
	// No stock row at the van: nothing available.
	_, err = b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 1})
	if e, ok := err.(*hub.Error); !ok || e.Code != hub.ECONFLICT || !strings.Contains(e.Message, "only 0 each") {
		t.Fatalf("no stock row: %v", err)
	}
	b.wantStock(it.ID, b.wh.ID, 7.5, 3)
}

func TestReservation_Arithmetic(t *testing.T) {
	b := setup(t)
	it := b.item("Splice sleeve")
	b.adjust(it.ID, b.van.ID, 20)
	wo := b.workOrder(b.tech)
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 5})
	b.ok(err)
	if m.Status != field.MaterialReserved || m.Reservation == nil || m.Reservation.Status != inventory.ReservationActive {
		t.Fatalf("material %+v", m)
	}
	b.wantStock(it.ID, b.van.ID, 20, 5)

	// Office adjustments never take reserved stock.
	_, err = b.svc.AdjustStock(b.ctx, b.admin, inventory.Adjustment{ItemID: it.ID, LocationID: b.van.ID, QuantityDelta: -16, Reason: "count"})
	if code(err) != hub.ECONFLICT {
		t.Fatalf("adjust below reserved: %v", err)
	}

	// Release: reserved -= rest, reservation released, line back to required.
	m, err = b.svc.ReleaseMaterial(b.ctx, b.admin, wo, m.ID)
	b.ok(err)
	if m.Status != field.MaterialRequired || m.Reservation.Status != inventory.ReservationReleased {
		t.Fatalf("released %+v %+v", m, m.Reservation)
	}
	b.wantStock(it.ID, b.van.ID, 20, 0)

	// Consume a reserved line in two calls: reserved and on hand go down together.
	m2, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 4})
	b.ok(err)
	b.wantStock(it.ID, b.van.ID, 20, 4)
	consume := func(q float64) []field.Material {
		res, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, field.ConsumeRequest{ClientRef: postgres.NewID(),
			Lines: []field.ConsumeLine{{MaterialID: m2.ID, Quantity: q}}})
		b.ok(err)
		return res.Materials
	}
	consume(1.5)
	b.wantStock(it.ID, b.van.ID, 18.5, 2.5)
	ms := consume(2.5)
	b.wantStock(it.ID, b.van.ID, 16, 0)
	for _, fm := range ms {
		if fm.ID == m2.ID && (fm.Status != field.MaterialUsed || fm.QuantityUsed != 4) {
			t.Fatalf("material after full use: %+v", fm)
		}
	}
	var resStatus string
	b.ok(b.db.Pool.QueryRow(b.ctx, `SELECT r.status FROM inventory_reservations r JOIN work_order_materials m ON m.reservation_id = r.id
		WHERE m.id = $1`, m2.ID).Scan(&resStatus))
	if resStatus != inventory.ReservationConsumed {
		t.Fatalf("reservation %s", resStatus)
	}
	// A release after use is a conflict, and changes nothing.
	if _, err := b.svc.ReleaseMaterial(b.ctx, b.admin, wo, m2.ID); code(err) != hub.ECONFLICT {
		t.Fatalf("release used: %v", err)
	}
}

func TestConsume_BeyondReservationFlaggedAndBelowZeroAlerted(t *testing.T) {
	b := setup(t)
	it := b.item("Connector")
	b.adjust(it.ID, b.van.ID, 3)
	wo := b.workOrder(b.tech)
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 2})
	b.ok(err)
	res, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, field.ConsumeRequest{ClientRef: postgres.NewID(),
		Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 5}}})
	b.ok(err)
	if fm := res.Materials[0]; fm.QuantityUsed != 5 || fm.Status != field.MaterialUsed {
		t.Fatalf("material %+v", fm)
	}
	b.wantStock(it.ID, b.van.ID, -2, 0)
	ms, err := b.svc.FindMaterials(b.ctx, wo)
	b.ok(err)
	if !ms[0].FlaggedForReview || !strings.Contains(ms[0].ReviewNote, "3 each used beyond") {
		t.Fatalf("not flagged: %+v", ms[0])
	}
	alerts, _, err := b.svc.FindAlerts(b.ctx, inventory.AlertFilter{Status: "open"})
	b.ok(err)
	kinds := map[string]inventory.Alert{}
	for _, a := range alerts {
		kinds[a.Kind] = a
	}
	if _, ok := kinds[inventory.AlertNegativeStock]; !ok {
		t.Fatalf("no negative stock alert: %+v", alerts)
	}
	over, ok := kinds[inventory.AlertOverConsumption]
	if !ok || *over.Quantity != 3 {
		t.Fatalf("over consumption alert: %+v", alerts)
	}
	// Reviewing the alert clears the flag; restocking resolves the negative alert.
	b.ok(b.svc.ResolveAlert(b.ctx, b.admin, over.ID, "used on the splice tray"))
	ms, _ = b.svc.FindMaterials(b.ctx, wo)
	if ms[0].FlaggedForReview {
		t.Fatal("still flagged after review")
	}
	b.adjust(it.ID, b.van.ID, 10)
	alerts, _, _ = b.svc.FindAlerts(b.ctx, inventory.AlertFilter{Status: "open"})
	if len(alerts) != 0 {
		t.Fatalf("open alerts after restock: %+v", alerts)
	}
}

func TestConsume_RequiredLineTakesFromTheVan(t *testing.T) {
	b := setup(t)
	it := b.item("Cable tie")
	b.adjust(it.ID, b.van.ID, 100)
	wo := b.workOrder(b.tech)
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, Quantity: 10})
	b.ok(err)
	if m.Status != field.MaterialRequired {
		t.Fatalf("status %s", m.Status)
	}
	_, err = b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, field.ConsumeRequest{ClientRef: postgres.NewID(),
		Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 4}}})
	b.ok(err)
	b.wantStock(it.ID, b.van.ID, 96, 0)
}

func TestConsume_ClientRefIdempotentForever(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.van.ID, 5)
	wo := b.workOrder(b.tech)
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 2})
	b.ok(err)
	req := field.ConsumeRequest{ClientRef: postgres.NewID(), Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 1}}}
	for range 3 {
		res, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, req)
		b.ok(err)
		if res.Materials[0].QuantityUsed != 1 {
			t.Fatalf("replay changed the material: %+v", res.Materials[0])
		}
	}
	b.wantStock(it.ID, b.van.ID, 4, 1)
	// The same client_ref on another job is a conflict.
	wo2 := b.workOrder(b.tech)
	if _, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo2, req); code(err) != hub.ECONFLICT {
		t.Fatalf("client_ref on another job: %v", err)
	}
	// Concurrent replays of one new client_ref apply once.
	req2 := field.ConsumeRequest{ClientRef: postgres.NewID(), Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 1}}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, req2); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b.wantStock(it.ID, b.van.ID, 3, 0)
}

func TestConsume_ScopeAndValidation(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.van.ID, 5)
	wo := b.workOrder(b.tech)
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 2})
	b.ok(err)
	req := field.ConsumeRequest{ClientRef: postgres.NewID(), Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 1}}}
	if _, err := b.svc.ConsumeMaterials(b.ctx, b.other, "", wo, req); code(err) != hub.ENOTFOUND {
		t.Fatalf("outside scope: %v", err)
	}
	// A crew member may consume.
	_, err = b.db.Pool.Exec(b.ctx, `INSERT INTO work_order_assignments (work_order_id, person_id) VALUES ($1, $2)`, wo, b.other)
	b.ok(err)
	if _, err := b.svc.ConsumeMaterials(b.ctx, b.other, "", wo, req); err != nil {
		t.Fatalf("crew: %v", err)
	}
	for name, bad := range map[string]field.ConsumeRequest{
		"no lines":      {ClientRef: postgres.NewID()},
		"zero":          {ClientRef: postgres.NewID(), Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 0}}},
		"bad ref":       {ClientRef: "x", Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 1}}},
		"other job mat": {ClientRef: postgres.NewID(), Lines: []field.ConsumeLine{{MaterialID: postgres.NewID(), Quantity: 1}}},
	} {
		if _, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, bad); code(err) != hub.EINVALID {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := b.svc.ConsumeMaterials(b.ctx, b.tech, "", "not-a-uuid", req); code(err) != hub.ENOTFOUND {
		t.Fatalf("bad job id: %v", err)
	}
}

func TestTransfer_WarehouseToVanToVan(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.wh.ID, 10)
	van2, err := b.svc.CreateLocation(b.ctx, inventory.LocationCreate{Name: "Van 2", Kind: inventory.KindVan, TechnicianID: &b.other})
	b.ok(err)
	tr, err := b.svc.CreateTransfer(b.ctx, b.admin, inventory.TransferCreate{FromLocationID: b.wh.ID, ToLocationID: b.van.ID,
		Items: []inventory.TransferItem{{ItemID: it.ID, Quantity: 6}}})
	b.ok(err)
	if tr.Number != "TR-000001" || len(tr.Items) != 1 {
		t.Fatalf("transfer %+v", tr)
	}
	_, err = b.svc.CreateTransfer(b.ctx, b.admin, inventory.TransferCreate{FromLocationID: b.van.ID, ToLocationID: van2.ID,
		Items: []inventory.TransferItem{{ItemID: it.ID, Quantity: 2}}})
	b.ok(err)
	b.wantStock(it.ID, b.wh.ID, 4, 0)
	b.wantStock(it.ID, b.van.ID, 4, 0)
	b.wantStock(it.ID, van2.ID, 2, 0)
	// Reserved stock does not move; the whole transfer fails.
	wo := b.workOrder(b.tech)
	_, err = b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 3})
	b.ok(err)
	other := b.item("Sleeve")
	b.adjust(other.ID, b.van.ID, 5)
	_, err = b.svc.CreateTransfer(b.ctx, b.admin, inventory.TransferCreate{FromLocationID: b.van.ID, ToLocationID: van2.ID,
		Items: []inventory.TransferItem{{ItemID: other.ID, Quantity: 5}, {ItemID: it.ID, Quantity: 2}}})
	if e, ok := err.(*hub.Error); !ok || e.Code != hub.ECONFLICT || !strings.Contains(e.Message, "only 1 each") {
		t.Fatalf("transfer of reserved stock: %v", err)
	}
	b.wantStock(other.ID, b.van.ID, 5, 0)
	// Same location, empty items.
	_, err = b.svc.CreateTransfer(b.ctx, b.admin, inventory.TransferCreate{FromLocationID: b.van.ID, ToLocationID: b.van.ID})
	if code(err) != hub.EINVALID {
		t.Fatalf("same location: %v", err)
	}
}

func TestTransfers_ConcurrentOppositeDirectionsDoNotDeadlock(t *testing.T) {
	b := setup(t)
	a, c := b.item("A"), b.item("B")
	for _, id := range []string{a.ID, c.ID} {
		b.adjust(id, b.wh.ID, 100)
		b.adjust(id, b.van.ID, 100)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := b.wh.ID, b.van.ID
			items := []inventory.TransferItem{{ItemID: a.ID, Quantity: 1}, {ItemID: c.ID, Quantity: 1}}
			if i%2 == 1 {
				from, to = to, from
				items[0], items[1] = items[1], items[0]
			}
			if _, err := b.svc.CreateTransfer(b.ctx, b.admin, inventory.TransferCreate{FromLocationID: from, ToLocationID: to, Items: items}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b.wantStock(a.ID, b.wh.ID, 100, 0)
	b.wantStock(c.ID, b.van.ID, 100, 0)
}

func TestMaterialRequest_Lifecycle(t *testing.T) {
	b := setup(t)
	ont, err := b.svc.CreateItem(b.ctx, inventory.ItemCreate{Name: "ONT", IsSerialized: true})
	b.ok(err)
	cable := b.item("Drop cable")
	b.adjust(ont.ID, b.wh.ID, 5)
	b.adjust(cable.ID, b.wh.ID, 500)
	wo := b.workOrder(b.tech)
	r, err := b.svc.CreateMaterialRequest(b.ctx, b.tech, inventory.MaterialRequestCreate{WorkOrderID: &wo, SourceLocationID: &b.wh.ID,
		DestinationLocationID: &b.van.ID, Items: []inventory.MaterialRequestItem{{ItemID: ont.ID, Quantity: 2}, {ItemID: cable.ID, Quantity: 150}}})
	b.ok(err)
	if r.Status != inventory.RequestDraft || r.Number != "MR-000001" || len(r.Items) != 2 {
		t.Fatalf("request %+v", r)
	}
	act := func(action string, in inventory.RequestAction) (*inventory.MaterialRequest, error) {
		return b.svc.ActRequest(b.ctx, b.admin, r.ID, action, in)
	}
	if _, err := act(inventory.ActionApprove, inventory.RequestAction{}); code(err) != hub.ECONFLICT {
		t.Fatalf("approve a draft: %v", err)
	}
	_, err = act(inventory.ActionSubmit, inventory.RequestAction{})
	b.ok(err)
	_, err = act(inventory.ActionApprove, inventory.RequestAction{})
	b.ok(err)
	// Serialized items need one serial per unit.
	if _, err := act(inventory.ActionIssue, inventory.RequestAction{}); code(err) != hub.EINVALID {
		t.Fatalf("issue without serials: %v", err)
	}
	r, err = act(inventory.ActionIssue, inventory.RequestAction{SerialNumbers: map[string][]string{ont.ID: {"ZTEG001", "ZTEG002"}}})
	b.ok(err)
	if r.Status != inventory.RequestIssued || r.TransferID == nil {
		t.Fatalf("issued %+v", r)
	}
	b.wantStock(ont.ID, b.wh.ID, 3, 0)
	b.wantStock(ont.ID, b.van.ID, 2, 0)
	b.wantStock(cable.ID, b.van.ID, 150, 0)
	var serials []string
	b.ok(b.db.Pool.QueryRow(b.ctx, `SELECT serial_numbers FROM inventory_movements WHERE item_id = $1 AND kind = 'transfer_in'`, ont.ID).Scan(&serials))
	if strings.Join(serials, ",") != "ZTEG001,ZTEG002" {
		t.Fatalf("serials %v", serials)
	}
	if _, err := act(inventory.ActionCancel, inventory.RequestAction{}); code(err) != hub.ECONFLICT {
		t.Fatalf("cancel issued: %v", err)
	}
	r, err = act(inventory.ActionFulfill, inventory.RequestAction{})
	b.ok(err)
	if r.Status != inventory.RequestFulfilled {
		t.Fatalf("status %s", r.Status)
	}

	// Reject needs a reason; cancel from draft.
	r2, err := b.svc.CreateMaterialRequest(b.ctx, b.tech, inventory.MaterialRequestCreate{DestinationLocationID: &b.van.ID, Submit: true,
		Items: []inventory.MaterialRequestItem{{ItemID: cable.ID, Quantity: 10}}})
	b.ok(err)
	if r2.Status != inventory.RequestSubmitted {
		t.Fatalf("submitted %s", r2.Status)
	}
	if _, err := b.svc.ActRequest(b.ctx, b.admin, r2.ID, inventory.ActionReject, inventory.RequestAction{}); code(err) != hub.EINVALID {
		t.Fatalf("reject without reason: %v", err)
	}
	r2, err = b.svc.ActRequest(b.ctx, b.admin, r2.ID, inventory.ActionReject, inventory.RequestAction{Reason: "use the spare reel"})
	b.ok(err)
	if r2.Status != inventory.RequestRejected || r2.RejectReason != "use the spare reel" {
		t.Fatalf("rejected %+v", r2)
	}
	r3, err := b.svc.CreateMaterialRequest(b.ctx, b.tech, inventory.MaterialRequestCreate{DestinationLocationID: &b.van.ID,
		Items: []inventory.MaterialRequestItem{{ItemID: cable.ID, Quantity: 10}}})
	b.ok(err)
	r3, err = b.svc.ActRequest(b.ctx, b.admin, r3.ID, inventory.ActionCancel, inventory.RequestAction{})
	b.ok(err)
	if r3.Status != inventory.RequestCanceled {
		t.Fatalf("canceled %s", r3.Status)
	}
	// Bad input.
	_, err = b.svc.CreateMaterialRequest(b.ctx, b.tech, inventory.MaterialRequestCreate{Priority: "whenever",
		Items: []inventory.MaterialRequestItem{{ItemID: "x", Quantity: -1}}})
	if e, ok := err.(*hub.Error); !ok || e.Code != hub.EINVALID || len(e.Fields) < 3 {
		t.Fatalf("bad request: %v", err)
	}
}

func TestIssuedRequestFulfilledWhenJobMaterialsUsed(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.wh.ID, 5)
	wo := b.workOrder(b.tech)
	r, err := b.svc.CreateMaterialRequest(b.ctx, b.tech, inventory.MaterialRequestCreate{WorkOrderID: &wo, SourceLocationID: &b.wh.ID,
		DestinationLocationID: &b.van.ID, Submit: true, Items: []inventory.MaterialRequestItem{{ItemID: it.ID, Quantity: 1}}})
	b.ok(err)
	for _, a := range []string{inventory.ActionApprove, inventory.ActionIssue} {
		_, err = b.svc.ActRequest(b.ctx, b.admin, r.ID, a, inventory.RequestAction{})
		b.ok(err)
	}
	m, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.van.ID, Quantity: 1})
	b.ok(err)
	_, err = b.svc.ConsumeMaterials(b.ctx, b.tech, "", wo, field.ConsumeRequest{ClientRef: postgres.NewID(),
		Lines: []field.ConsumeLine{{MaterialID: m.ID, Quantity: 1}}})
	b.ok(err)
	r, err = b.svc.FindMaterialRequestByID(b.ctx, r.ID)
	b.ok(err)
	if r.Status != inventory.RequestFulfilled {
		t.Fatalf("status %s", r.Status)
	}
}

func TestLowStockAlerts(t *testing.T) {
	b := setup(t)
	lvl := 5.0
	it, err := b.svc.CreateItem(b.ctx, inventory.ItemCreate{Name: "Connector", ReorderLevel: &lvl})
	b.ok(err)
	b.adjust(it.ID, b.van.ID, 6)
	open := func() int {
		_, n, err := b.svc.FindAlerts(b.ctx, inventory.AlertFilter{Status: "open", Kind: inventory.AlertLowStock})
		b.ok(err)
		return n
	}
	if open() != 0 {
		t.Fatal("alert above the level")
	}
	b.adjust(it.ID, b.van.ID, -2)
	b.adjust(it.ID, b.van.ID, -1)
	if open() != 1 {
		t.Fatalf("low alerts %d, want exactly 1", open())
	}
	if st := b.stock(it.ID, b.van.ID); !st.Low {
		t.Fatalf("stock not low: %+v", st)
	}
	// A per-location threshold overrides the item's.
	zero := 1.0
	_, err = b.svc.SetThreshold(b.ctx, inventory.Threshold{ItemID: it.ID, LocationID: b.van.ID, ReorderLevel: &zero})
	b.ok(err)
	if open() != 0 {
		t.Fatal("alert not resolved by the lower threshold")
	}
	low, _, err := b.svc.FindStock(b.ctx, inventory.StockFilter{LowOnly: true})
	b.ok(err)
	if len(low) != 0 {
		t.Fatalf("low stock list %+v", low)
	}
}

func TestMovementsLedger(t *testing.T) {
	b := setup(t)
	it := b.item("ONT")
	b.adjust(it.ID, b.wh.ID, 3)
	wo := b.workOrder(b.tech)
	_, err := b.svc.AddMaterial(b.ctx, b.admin, wo, inventory.MaterialCreate{ItemID: it.ID, LocationID: b.wh.ID, Quantity: 2})
	b.ok(err)
	ms, total, err := b.svc.FindMovements(b.ctx, inventory.MovementFilter{ItemID: it.ID})
	b.ok(err)
	if total != 2 || ms[0].Kind != "reserve" || ms[1].Kind != "adjustment" || ms[0].ReservedAfter != 2 || ms[1].Reason != "delivery" {
		t.Fatalf("movements %+v", ms)
	}
	_, _, err = b.svc.FindMovements(b.ctx, inventory.MovementFilter{ItemID: "nope"})
	if code(err) != hub.EINVALID {
		t.Fatalf("bad filter: %v", err)
	}

}
