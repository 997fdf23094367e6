-- Customers and sites, technicians, work orders and field execution (reference §3.2, §3.5–§3.7).

CREATE TABLE customers (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	number text NOT NULL UNIQUE,                       -- CUS-000001
	name text NOT NULL,
	email citext,
	phone text NOT NULL DEFAULT '',
	address text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'terminated', 'pending')),
	person_id uuid REFERENCES people(id),              -- the portal login of a subscriber
	organization_id uuid REFERENCES organizations(id), -- the account (resellers own a subtree)
	service_plan text NOT NULL DEFAULT '',
	region text NOT NULL DEFAULT '',
	-- costs and rates never leave the hub in field payloads
	monthly_rate numeric(12,2),
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_name_trgm_idx ON customers (lower(name) text_pattern_ops);
CREATE INDEX customers_org_idx ON customers (organization_id);

CREATE TABLE sites (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	customer_id uuid REFERENCES customers(id),
	label text NOT NULL DEFAULT '',
	address text NOT NULL DEFAULT '',
	geom geometry(Point, 4326),
	access_notes text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_customer_idx ON sites (customer_id);
CREATE INDEX sites_geom_idx ON sites USING gist (geom);

CREATE TABLE skills (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL UNIQUE,
	description text NOT NULL DEFAULT ''
);

-- A technician is a person (technician_profiles.person_id is the technician id everywhere).
CREATE TABLE technician_profiles (
	person_id uuid PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
	title text NOT NULL DEFAULT 'Field technician',
	region text NOT NULL DEFAULT '',
	home_base geometry(Point, 4326),
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE technician_skills (
	person_id uuid NOT NULL REFERENCES technician_profiles(person_id) ON DELETE CASCADE,
	skill_id uuid NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
	proficiency int NOT NULL DEFAULT 50 CHECK (proficiency BETWEEN 0 AND 100),
	is_primary boolean NOT NULL DEFAULT false,
	PRIMARY KEY (person_id, skill_id)
);
CREATE UNIQUE INDEX technician_skills_one_primary ON technician_skills (person_id) WHERE is_primary;

CREATE TABLE shifts (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	person_id uuid NOT NULL REFERENCES technician_profiles(person_id) ON DELETE CASCADE,
	starts_at timestamptz NOT NULL,
	ends_at timestamptz NOT NULL,
	timezone text NOT NULL DEFAULT 'UTC',
	shift_type text NOT NULL DEFAULT 'regular',
	CHECK (ends_at > starts_at)
);
CREATE INDEX shifts_person_time_idx ON shifts (person_id, starts_at, ends_at);

CREATE TABLE availability_blocks (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	person_id uuid NOT NULL REFERENCES technician_profiles(person_id) ON DELETE CASCADE,
	starts_at timestamptz NOT NULL,
	ends_at timestamptz NOT NULL,
	reason text NOT NULL DEFAULT '',
	block_type text NOT NULL DEFAULT 'time_off',
	is_available boolean NOT NULL DEFAULT false,
	CHECK (ends_at > starts_at)
);
CREATE INDEX availability_person_time_idx ON availability_blocks (person_id, starts_at, ends_at);

CREATE TABLE work_orders (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	number text NOT NULL UNIQUE,                        -- WO-000001
	title text NOT NULL,
	description text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'draft'
		CHECK (status IN ('draft', 'scheduled', 'dispatched', 'in_progress', 'paused', 'completed', 'canceled')),
	priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('lower', 'low', 'medium', 'normal', 'high', 'urgent')),
	work_type text NOT NULL DEFAULT 'other' CHECK (work_type IN ('install', 'repair', 'survey', 'maintenance', 'disconnect', 'other')),
	customer_id uuid REFERENCES customers(id),
	site_id uuid REFERENCES sites(id),
	ticket_id uuid,
	project_id uuid,
	assigned_to uuid REFERENCES people(id),             -- primary technician
	scheduled_start timestamptz,
	scheduled_end timestamptz,
	estimated_duration_minutes int CHECK (estimated_duration_minutes IS NULL OR estimated_duration_minutes > 0),
	estimated_arrival_at timestamptz,
	started_at timestamptz,
	paused_at timestamptz,
	resumed_at timestamptz,
	completed_at timestamptz,
	canceled_at timestamptz,
	total_active_seconds bigint NOT NULL DEFAULT 0,
	required_skills uuid[] NOT NULL DEFAULT '{}',
	tags text[] NOT NULL DEFAULT '{}',
	access_notes text NOT NULL DEFAULT '',
	region text NOT NULL DEFAULT '',
	metadata jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT 1,                  -- grows with every change (optimistic locking, sync)
	is_active boolean NOT NULL DEFAULT true,            -- soft delete
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (scheduled_end IS NULL OR scheduled_start IS NULL OR scheduled_end > scheduled_start)
);
CREATE INDEX work_orders_status_idx ON work_orders (status, scheduled_start) WHERE is_active;
CREATE INDEX work_orders_assigned_idx ON work_orders (assigned_to, scheduled_start) WHERE is_active;
CREATE INDEX work_orders_schedule_idx ON work_orders (scheduled_start) WHERE is_active;
CREATE INDEX work_orders_customer_idx ON work_orders (customer_id);

-- Crew: the primary technician and helpers. The primary is also work_orders.assigned_to.
CREATE TABLE work_order_assignments (
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	person_id uuid NOT NULL REFERENCES people(id),
	role text NOT NULL DEFAULT 'helper',
	is_primary boolean NOT NULL DEFAULT false,
	assigned_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (work_order_id, person_id)
);
CREATE INDEX work_order_assignments_person_idx ON work_order_assignments (person_id);

CREATE TABLE work_order_notes (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	author_id uuid REFERENCES people(id),
	body text NOT NULL CHECK (length(trim(body)) > 0),
	is_internal boolean NOT NULL DEFAULT false,
	client_ref uuid UNIQUE,                             -- offline idempotency
	device_id uuid,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX work_order_notes_wo_idx ON work_order_notes (work_order_id, created_at);

CREATE TABLE work_order_events (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	event text NOT NULL CHECK (event IN ('accept', 'en_route', 'arrived', 'start', 'pause', 'hold', 'resume', 'complete', 'unable_to_complete')),
	from_status text NOT NULL,
	to_status text NOT NULL,
	actor_id uuid REFERENCES people(id),
	lat double precision CHECK (lat IS NULL OR lat BETWEEN -90 AND 90),
	lon double precision CHECK (lon IS NULL OR lon BETWEEN -180 AND 180),
	note text NOT NULL DEFAULT '',
	occurred_at timestamptz NOT NULL,                   -- the device's clock
	received_at timestamptz NOT NULL DEFAULT now(),     -- the hub's clock
	clock_skew boolean NOT NULL DEFAULT false,
	client_event_id uuid NOT NULL UNIQUE,               -- offline idempotency, for any offline duration
	device_id uuid,
	payload jsonb NOT NULL DEFAULT '{}',
	result jsonb                                        -- the original answer, returned on replay
);
CREATE INDEX work_order_events_wo_idx ON work_order_events (work_order_id, received_at);

CREATE TABLE work_order_worklogs (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	person_id uuid NOT NULL REFERENCES people(id),
	started_at timestamptz NOT NULL,
	ended_at timestamptz,
	source text NOT NULL DEFAULT 'timer' CHECK (source IN ('timer', 'manual')),
	backdated boolean NOT NULL DEFAULT false,
	note text NOT NULL DEFAULT '',
	client_ref uuid UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (ended_at IS NULL OR ended_at > started_at),
	CHECK (ended_at IS NULL OR ended_at - started_at <= interval '16 hours')
);
CREATE UNIQUE INDEX work_order_worklogs_one_open ON work_order_worklogs (person_id) WHERE ended_at IS NULL;
CREATE INDEX work_order_worklogs_wo_idx ON work_order_worklogs (work_order_id);

CREATE TABLE field_attachments (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE CASCADE,
	asset_type text,                                    -- or attached to a network asset
	asset_id uuid,
	kind text NOT NULL CHECK (kind IN ('photo', 'signature', 'document')),
	storage_key text NOT NULL,                          -- sha256 of the content
	file_name text NOT NULL DEFAULT '',
	mime text NOT NULL,
	size bigint NOT NULL CHECK (size > 0),
	lat double precision,
	lon double precision,
	captured_at timestamptz,
	signer_name text NOT NULL DEFAULT '',
	uploaded_by uuid REFERENCES people(id),
	client_ref uuid UNIQUE,
	device_id uuid,
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_attachments_wo_idx ON field_attachments (work_order_id) WHERE is_active;

-- Office status changes: table-driven rules (empty table = everything allowed).
CREATE TABLE work_order_status_transitions (
	from_status text NOT NULL,
	to_status text NOT NULL,
	requires_note boolean NOT NULL DEFAULT false,
	is_active boolean NOT NULL DEFAULT true,
	PRIMARY KEY (from_status, to_status)
);

-- Domain events written in the same transaction as the change; consumed by asynq jobs, the live
-- board and the sync relay.
CREATE TABLE domain_events (
	id bigserial PRIMARY KEY,
	event_id uuid NOT NULL DEFAULT uuid_generate_v7() UNIQUE,
	topic text NOT NULL,                                -- work_order.assigned, work_order.status_changed, …
	entity text NOT NULL,
	entity_id uuid NOT NULL,
	payload jsonb NOT NULL DEFAULT '{}',
	actor_id uuid,
	created_at timestamptz NOT NULL DEFAULT now(),
	processed_at timestamptz,
	attempts int NOT NULL DEFAULT 0,
	last_error text
);
CREATE INDEX domain_events_pending_idx ON domain_events (id) WHERE processed_at IS NULL;

CREATE TABLE notifications (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	person_id uuid NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	channel text NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email', 'sms', 'push')),
	title text NOT NULL,
	body text NOT NULL DEFAULT '',
	link text NOT NULL DEFAULT '',
	event_id uuid,
	read_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (person_id, event_id, channel)
);
CREATE INDEX notifications_person_idx ON notifications (person_id, created_at DESC);
