-- Fiber change requests (reference §3.13): technicians and vendors propose creating, changing or
-- deleting plant objects (and splices); a reviewer sees before/after and applies or rejects.
CREATE TABLE fiber_change_requests (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	number text NOT NULL UNIQUE,                         -- FCR-000001
	kind text NOT NULL,                                  -- segment, splice_closure, …, splice
	object_id uuid,                                      -- the object changed or deleted (null for create)
	operation text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
	payload jsonb NOT NULL DEFAULT '{}',                 -- {"geometry": GeoJSON|null, "properties": {...}}
	before jsonb,                                        -- the object as a GeoJSON feature when proposed
	base_version bigint,                                 -- its version when proposed
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
	source text NOT NULL DEFAULT 'staff' CHECK (source IN ('field', 'vendor', 'staff')),
	requested_by uuid REFERENCES people(id),
	organization_id uuid REFERENCES organizations(id),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	note text NOT NULL DEFAULT '',
	client_ref text UNIQUE,                              -- offline idempotency
	dedupe_key text,                                     -- identical pending proposals collapse (splices)
	reviewed_by uuid REFERENCES people(id),
	reviewed_at timestamptz,
	review_note text NOT NULL DEFAULT '',
	applied_object_id uuid,
	applied_version bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (operation = 'create' OR object_id IS NOT NULL)
);
CREATE INDEX fiber_change_requests_status_idx ON fiber_change_requests (status, created_at DESC);
CREATE INDEX fiber_change_requests_object_idx ON fiber_change_requests (object_id);
CREATE UNIQUE INDEX fiber_change_requests_dedupe_key ON fiber_change_requests (dedupe_key) WHERE status = 'pending' AND dedupe_key IS NOT NULL;
