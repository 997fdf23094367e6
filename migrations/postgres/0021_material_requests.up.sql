-- Material requests (reference §3.11) and stock transfers between locations.

CREATE TABLE inventory_transfers (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	number text NOT NULL UNIQUE,                         -- TR-000001
	from_location_id uuid NOT NULL REFERENCES inventory_locations(id),
	to_location_id uuid NOT NULL REFERENCES inventory_locations(id),
	material_request_id uuid,                            -- set when a request was issued
	note text NOT NULL DEFAULT '',
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (from_location_id <> to_location_id)
);
CREATE INDEX inventory_transfers_created_idx ON inventory_transfers (created_at DESC);

CREATE TABLE inventory_transfer_items (
	transfer_id uuid NOT NULL REFERENCES inventory_transfers(id) ON DELETE CASCADE,
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	quantity numeric(14,3) NOT NULL CHECK (quantity > 0),
	serial_numbers text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (transfer_id, item_id)
);

CREATE TABLE material_requests (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	number text NOT NULL UNIQUE,                         -- MR-000001
	status text NOT NULL DEFAULT 'draft'
		CHECK (status IN ('draft', 'submitted', 'approved', 'issued', 'fulfilled', 'rejected', 'canceled')),
	priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	requested_by uuid REFERENCES people(id),
	approved_by uuid REFERENCES people(id),
	issued_by uuid REFERENCES people(id),
	source_location_id uuid REFERENCES inventory_locations(id),
	destination_location_id uuid REFERENCES inventory_locations(id),
	transfer_id uuid REFERENCES inventory_transfers(id),
	notes text NOT NULL DEFAULT '',
	reject_reason text NOT NULL DEFAULT '',
	submitted_at timestamptz,
	approved_at timestamptz,
	issued_at timestamptz,
	fulfilled_at timestamptz,
	rejected_at timestamptz,
	canceled_at timestamptz,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (source_location_id IS NULL OR destination_location_id IS NULL OR source_location_id <> destination_location_id)
);
CREATE INDEX material_requests_status_idx ON material_requests (status, created_at DESC);
CREATE INDEX material_requests_wo_idx ON material_requests (work_order_id);
CREATE TRIGGER material_requests_touch BEFORE UPDATE ON material_requests FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

ALTER TABLE inventory_transfers ADD CONSTRAINT inventory_transfers_request_fk
	FOREIGN KEY (material_request_id) REFERENCES material_requests(id) ON DELETE SET NULL;

CREATE TABLE material_request_items (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	material_request_id uuid NOT NULL REFERENCES material_requests(id) ON DELETE CASCADE,
	item_id uuid NOT NULL REFERENCES inventory_items(id),
	quantity numeric(14,3) NOT NULL CHECK (quantity > 0),
	serial_numbers text[] NOT NULL DEFAULT '{}',
	UNIQUE (material_request_id, item_id)
);
