-- Inventory (reference §3.11): items, locations (warehouses and one van per technician), stock per
-- item and location, the movements ledger, reservations, work order materials, field consumptions
-- and alerts. Replicated tables carry version (grows on every change) and updated_at, bumped by
-- inventory_touch_row.

-- Bumps version and updated_at on every UPDATE of a replicated row (also used by surveys).
CREATE FUNCTION inventory_touch_row() RETURNS trigger AS $$
BEGIN
	NEW.version := OLD.version + 1;
	NEW.updated_at := now();
	RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TABLE inventory_items (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	sku text NOT NULL UNIQUE CHECK (length(trim(sku)) > 0),    -- SKU-000001 when generated
	name text NOT NULL CHECK (length(trim(name)) > 0),
	description text NOT NULL DEFAULT '',
	unit text NOT NULL DEFAULT 'each' CHECK (length(trim(unit)) > 0),
	unit_cost numeric(14,4) CHECK (unit_cost IS NULL OR unit_cost >= 0), -- hub only, never in field payloads
	currency text NOT NULL DEFAULT 'USD',
	is_serialized boolean NOT NULL DEFAULT false,
	reorder_level numeric(14,3) CHECK (reorder_level IS NULL OR reorder_level >= 0), -- default low-stock threshold
	is_active boolean NOT NULL DEFAULT true,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_items_name_idx ON inventory_items (lower(name));
CREATE TRIGGER inventory_items_touch BEFORE UPDATE ON inventory_items FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

CREATE TABLE inventory_locations (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL CHECK (length(trim(name)) > 0),
	code text NOT NULL UNIQUE CHECK (length(trim(code)) > 0),
	kind text NOT NULL CHECK (kind IN ('warehouse', 'van')),
	technician_id uuid REFERENCES people(id),
	address text NOT NULL DEFAULT '',
	is_active boolean NOT NULL DEFAULT true,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((kind = 'van') = (technician_id IS NOT NULL))
);
-- One active van per technician.
CREATE UNIQUE INDEX inventory_locations_one_van ON inventory_locations (technician_id) WHERE kind = 'van' AND is_active;
CREATE TRIGGER inventory_locations_touch BEFORE UPDATE ON inventory_locations FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

-- Stock of an item at a location. available = quantity_on_hand - reserved_quantity. On hand may go
-- below zero only through field consumption that already happened (an alert is raised); office
-- adjustments, reservations and transfers never take it there.
CREATE TABLE inventory_stock (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	location_id uuid NOT NULL REFERENCES inventory_locations(id),
	quantity_on_hand numeric(14,3) NOT NULL DEFAULT 0,
	reserved_quantity numeric(14,3) NOT NULL DEFAULT 0 CHECK (reserved_quantity >= 0),
	reorder_level numeric(14,3) CHECK (reorder_level IS NULL OR reorder_level >= 0), -- overrides the item's
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (item_id, location_id)
);
CREATE INDEX inventory_stock_location_idx ON inventory_stock (location_id);
CREATE TRIGGER inventory_stock_touch BEFORE UPDATE ON inventory_stock FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

-- The ledger: every change of quantity_on_hand or reserved_quantity is one row.
CREATE TABLE inventory_movements (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	location_id uuid NOT NULL REFERENCES inventory_locations(id),
	kind text NOT NULL CHECK (kind IN ('adjustment', 'reserve', 'release', 'consume', 'transfer_out', 'transfer_in')),
	on_hand_delta numeric(14,3) NOT NULL DEFAULT 0,
	reserved_delta numeric(14,3) NOT NULL DEFAULT 0,
	on_hand_after numeric(14,3) NOT NULL,
	reserved_after numeric(14,3) NOT NULL,
	reason text NOT NULL DEFAULT '',
	ref_type text NOT NULL DEFAULT '',                 -- reservation, consumption, transfer, material_request
	ref_id uuid,
	work_order_id uuid REFERENCES work_orders(id),
	serial_numbers text[] NOT NULL DEFAULT '{}',
	actor_id uuid REFERENCES people(id),
	device_id uuid,
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (on_hand_delta <> 0 OR reserved_delta <> 0)
);
CREATE INDEX inventory_movements_stock_idx ON inventory_movements (item_id, location_id, created_at);
CREATE INDEX inventory_movements_wo_idx ON inventory_movements (work_order_id) WHERE work_order_id IS NOT NULL;

CREATE TABLE inventory_reservations (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	location_id uuid NOT NULL REFERENCES inventory_locations(id),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	quantity numeric(14,3) NOT NULL CHECK (quantity > 0),
	consumed_quantity numeric(14,3) NOT NULL DEFAULT 0 CHECK (consumed_quantity >= 0 AND consumed_quantity <= quantity),
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released', 'consumed')),
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_reservations_stock_idx ON inventory_reservations (item_id, location_id) WHERE status = 'active';
CREATE INDEX inventory_reservations_wo_idx ON inventory_reservations (work_order_id);

CREATE TABLE work_order_materials (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	location_id uuid REFERENCES inventory_locations(id),
	reservation_id uuid REFERENCES inventory_reservations(id),
	quantity numeric(14,3) NOT NULL CHECK (quantity > 0),
	consumed_quantity numeric(14,3) NOT NULL DEFAULT 0 CHECK (consumed_quantity >= 0), -- monotonic; may exceed quantity
	status text NOT NULL DEFAULT 'required' CHECK (status IN ('required', 'reserved', 'used')),
	notes text NOT NULL DEFAULT '',
	flagged_for_review boolean NOT NULL DEFAULT false, -- consumed beyond what was reserved
	review_note text NOT NULL DEFAULT '',
	reviewed_by uuid REFERENCES people(id),
	reviewed_at timestamptz,
	version bigint NOT NULL DEFAULT 1,
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'reserved') <= (reservation_id IS NOT NULL))
);
CREATE INDEX work_order_materials_wo_idx ON work_order_materials (work_order_id);
CREATE INDEX work_order_materials_review_idx ON work_order_materials (created_at) WHERE flagged_for_review;
CREATE TRIGGER work_order_materials_touch BEFORE UPDATE ON work_order_materials FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

-- One row per accepted consumption call: client_ref makes replays idempotent forever.
CREATE TABLE material_consumptions (
	client_ref uuid PRIMARY KEY,
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	actor_id uuid REFERENCES people(id),
	device_id uuid,
	lines jsonb NOT NULL,                               -- [{material_id, quantity, beyond_reserved}]
	flagged boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX material_consumptions_wo_idx ON material_consumptions (work_order_id);

-- Alerts: low stock (below the threshold), negative stock (field consumption took on hand below
-- zero) and consumption beyond the reservation. One open alert per kind, item, location and work order.
CREATE TABLE inventory_alerts (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	kind text NOT NULL CHECK (kind IN ('low_stock', 'negative_stock', 'over_consumption')),
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	location_id uuid REFERENCES inventory_locations(id),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE CASCADE,
	material_id uuid REFERENCES work_order_materials(id) ON DELETE CASCADE,
	message text NOT NULL,
	quantity numeric(14,3),                              -- on hand, or the quantity beyond the reservation
	threshold numeric(14,3),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
	resolved_by uuid REFERENCES people(id),
	resolved_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX inventory_alerts_one_open ON inventory_alerts (kind, item_id,
	coalesce(location_id, '00000000-0000-0000-0000-000000000000'), coalesce(material_id, '00000000-0000-0000-0000-000000000000'))
	WHERE status = 'open';
CREATE INDEX inventory_alerts_status_idx ON inventory_alerts (status, created_at DESC);
