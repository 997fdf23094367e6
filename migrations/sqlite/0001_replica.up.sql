-- Edge agent replica: the technician's scope, mirrored from the hub (edge-agent/PROTOCOL.md).
--
-- Every replicated table has the same spine, so a new family plugs in with a table here and a
-- scope.Family declaration, without new plumbing in the applier:
--   id       the hub's entity id (change.Change.EntityID)
--   version  the hub's record version; 0 for a row created on this device and not yet on the hub
--   data     the hub's row as JSON (change.Change.Data), kept whole
--   local    overlay of this device's unacknowledged mutations (JSON object), NULL when none;
--            recomputed from the outbox after every downstream batch that touches the record
--   pending  1 for a row created on this device (a note, an event, a photo) the hub has not sent back
-- Query columns are generated from data (and local) so applying a change is one generic upsert.

CREATE TABLE work_orders (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT CHECK (local IS NULL OR json_valid(local)),
	pending INTEGER NOT NULL DEFAULT 0,
	evicting INTEGER NOT NULL DEFAULT 0, -- left the scope; dropped once its uploads are acknowledged
	status TEXT GENERATED ALWAYS AS (coalesce(json_extract(local, '$.status'), json_extract(data, '$.status'))) VIRTUAL,
	assigned_to TEXT GENERATED ALWAYS AS (json_extract(data, '$.assigned_to')) VIRTUAL,
	customer_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.customer_id')) VIRTUAL,
	scheduled_start TEXT GENERATED ALWAYS AS (json_extract(data, '$.scheduled_start')) VIRTUAL
);
CREATE INDEX work_orders_schedule_idx ON work_orders (scheduled_start);
CREATE INDEX work_orders_status_idx ON work_orders (status);

CREATE TABLE work_order_assignments (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL,
	person_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.person_id')) VIRTUAL
);
CREATE INDEX work_order_assignments_wo_idx ON work_order_assignments (work_order_id);

-- Job sites (address, pin, access notes).
CREATE TABLE sites (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

-- Customers and their contact details only (the hub never sends costs or rates).
CREATE TABLE customers (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE work_order_events (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL,
	client_event_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.client_event_id')) VIRTUAL,
	occurred_at TEXT GENERATED ALWAYS AS (json_extract(data, '$.occurred_at')) VIRTUAL
);
CREATE INDEX work_order_events_wo_idx ON work_order_events (work_order_id, occurred_at);
CREATE UNIQUE INDEX work_order_events_client_idx ON work_order_events (client_event_id);

CREATE TABLE work_order_notes (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL,
	client_ref TEXT GENERATED ALWAYS AS (json_extract(data, '$.client_ref')) VIRTUAL,
	created_at TEXT GENERATED ALWAYS AS (json_extract(data, '$.created_at')) VIRTUAL
);
CREATE INDEX work_order_notes_wo_idx ON work_order_notes (work_order_id, created_at);
CREATE UNIQUE INDEX work_order_notes_client_idx ON work_order_notes (client_ref);

-- Attachment metadata; the bytes live in DIR/blobs/<sha256> (table blobs).
CREATE TABLE field_attachments (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL,
	client_ref TEXT GENERATED ALWAYS AS (json_extract(data, '$.client_ref')) VIRTUAL,
	kind TEXT GENERATED ALWAYS AS (json_extract(data, '$.kind')) VIRTUAL,
	storage_key TEXT GENERATED ALWAYS AS (json_extract(data, '$.storage_key')) VIRTUAL,
	is_active INTEGER GENERATED ALWAYS AS (coalesce(json_extract(data, '$.is_active'), 1)) VIRTUAL
);
CREATE INDEX field_attachments_wo_idx ON field_attachments (work_order_id);
CREATE UNIQUE INDEX field_attachments_client_idx ON field_attachments (client_ref);

CREATE TABLE work_order_worklogs (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL
);
CREATE INDEX work_order_worklogs_wo_idx ON work_order_worklogs (work_order_id);

CREATE TABLE work_order_materials (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL
);
CREATE INDEX work_order_materials_wo_idx ON work_order_materials (work_order_id);

CREATE TABLE inventory_items (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

-- Van stock of the technician's van(s).
CREATE TABLE inventory_stock (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	item_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.item_id')) VIRTUAL
);
CREATE INDEX inventory_stock_item_idx ON inventory_stock (item_id);

CREATE TABLE survey_templates (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE survey_responses (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL
);
CREATE INDEX survey_responses_wo_idx ON survey_responses (work_order_id);

CREATE TABLE wireless_site_surveys (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL
);
CREATE INDEX wireless_site_surveys_wo_idx ON wireless_site_surveys (work_order_id);

-- Site survey points (wireless surveys).
CREATE TABLE survey_points (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	survey_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.survey_id')) VIRTUAL
);
CREATE INDEX survey_points_survey_idx ON survey_points (survey_id);

-- Fiber plant around the job sites: GeoJSON geometry in data, bounding box for map queries
-- (filled by the applier from the geometry).
CREATE TABLE fiber_features (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	kind TEXT GENERATED ALWAYS AS (json_extract(data, '$.kind')) VIRTUAL,
	min_lon REAL,
	min_lat REAL,
	max_lon REAL,
	max_lat REAL
);
CREATE INDEX fiber_features_bbox_idx ON fiber_features (min_lon, max_lon, min_lat, max_lat);

CREATE TABLE fiber_splice_closures (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE fiber_splice_trays (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	closure_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.closure_id')) VIRTUAL
);
CREATE INDEX fiber_splice_trays_closure_idx ON fiber_splice_trays (closure_id);

CREATE TABLE fiber_splices (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	tray_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.tray_id')) VIRTUAL
);
CREATE INDEX fiber_splices_tray_idx ON fiber_splices (tray_id);

CREATE TABLE fiber_test_results (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0,
	work_order_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.work_order_id')) VIRTUAL
);

CREATE TABLE fiber_change_requests (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL DEFAULT 0,
	data TEXT NOT NULL CHECK (json_valid(data)),
	local TEXT,
	pending INTEGER NOT NULL DEFAULT 0
);

-- The local outbox: every technician action, uploaded FIFO by seq (PROTOCOL.md section 3).
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	change_id TEXT NOT NULL UNIQUE,
	client_ref TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,              -- transition | note | attachment | consume | survey
	work_order_id TEXT NOT NULL,
	payload TEXT NOT NULL CHECK (json_valid(payload)), -- the upstream change.Change, encoded
	blob_sha256 TEXT,                -- attachments: content uploaded before the change
	blob_uploaded INTEGER NOT NULL DEFAULT 0,
	status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'acked', 'conflict')),
	attempts INTEGER NOT NULL DEFAULT 0,
	resends INTEGER NOT NULL DEFAULT 0, -- times re-queued after a reset or a missing result
	last_error TEXT,
	result TEXT,                     -- the hub's upload_result data
	created_at TEXT NOT NULL,
	sent_at TEXT,
	acked_at TEXT
);
CREATE INDEX outbox_status_idx ON outbox (status, seq);
CREATE INDEX outbox_wo_idx ON outbox (work_order_id, seq);

-- Feed positions (stream name → last batch applied).
CREATE TABLE cursors (
	stream TEXT PRIMARY KEY,
	cursor INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);

-- Small state: bootstrap progress, last sync, last error, the clock.
CREATE TABLE sync_state (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Parked uploads and per-field conflicts the hub reported, kept for the technician and the dispatcher.
CREATE TABLE conflicts (
	id TEXT PRIMARY KEY,
	outbox_seq INTEGER,
	client_ref TEXT,
	entity TEXT NOT NULL,
	entity_id TEXT NOT NULL,
	field TEXT NOT NULL DEFAULT '',
	device_value TEXT,               -- what was captured (the whole upload for a parked one)
	hub_value TEXT,
	code TEXT NOT NULL DEFAULT '',
	message TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
	created_at TEXT NOT NULL
);
CREATE INDEX conflicts_status_idx ON conflicts (status);

-- Local attachment content, by content hash.
CREATE TABLE blobs (
	sha256 TEXT PRIMARY KEY,
	mime TEXT NOT NULL,
	size INTEGER NOT NULL,
	created_at TEXT NOT NULL
);

-- The technician's hub credentials, cached for offline login.
CREATE TABLE credentials_cache (
	email TEXT PRIMARY KEY,          -- lower case
	person_id TEXT NOT NULL,
	password_hash TEXT NOT NULL,     -- bcrypt
	me TEXT NOT NULL CHECK (json_valid(me)),
	updated_at TEXT NOT NULL
);

-- Local API sessions (tokens are stored hashed).
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	person_id TEXT NOT NULL,
	access_hash TEXT NOT NULL UNIQUE,
	refresh_hash TEXT NOT NULL UNIQUE,
	access_expires_at TEXT NOT NULL,
	refresh_expires_at TEXT NOT NULL,
	revoked INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
);
-- Refresh tokens already rotated: presenting one again revokes its session.
CREATE TABLE used_refresh_tokens (
	refresh_hash TEXT PRIMARY KEY,
	session_id TEXT NOT NULL
);
