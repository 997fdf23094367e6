-- Hub side of the offline sync (ARCHITECTURE.md "The sync guarantees"; hub/syncsvc).

-- Edge devices: one per tablet, enrolled with a one-time code, holding their own NATS credentials.
CREATE TABLE devices (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	technician_id uuid NOT NULL REFERENCES people(id),
	name text NOT NULL CHECK (length(trim(name)) > 0),
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
	-- sha256 hex of the one-time enrollment code (random, 10 base32 chars) and of the device secret
	-- (random, 32 bytes): both are high-entropy, so a fast hash is the right one.
	enrollment_code_hash text UNIQUE,
	enrollment_expires_at timestamptz,
	secret_hash text,
	enrolled_at timestamptz,
	revoked_at timestamptz,
	revoked_by uuid REFERENCES people(id),
	revoke_reason text NOT NULL DEFAULT '',
	last_seen_at timestamptz,
	last_ip text NOT NULL DEFAULT '',
	agent_version text NOT NULL DEFAULT '',
	up_cursor bigint NOT NULL DEFAULT 0,           -- last DMF_UP sequence applied for this device
	last_applied_at timestamptz,
	last_error text NOT NULL DEFAULT '',
	last_error_at timestamptz,
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_technician_idx ON devices (technician_id);

-- Every device mutation applied (or refused) once, for any offline duration: a replay answers the
-- stored result. Not a dedupe window.
CREATE TABLE sync_mutations (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	client_ref text NOT NULL,
	change_id text NOT NULL,
	seq bigint NOT NULL,                             -- DMF_UP stream sequence of its batch
	entity text NOT NULL,
	entity_id text NOT NULL,
	action text NOT NULL DEFAULT '',
	status text NOT NULL CHECK (status IN ('applied', 'conflict', 'rejected')),
	reason text NOT NULL DEFAULT '',
	result jsonb NOT NULL DEFAULT '{}',
	occurred_at timestamptz,                         -- device HLC wall time
	clock_skew boolean NOT NULL DEFAULT false,
	applied_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (device_id, client_ref)
);
CREATE INDEX sync_mutations_device_idx ON sync_mutations (device_id, applied_at DESC);

-- Messages that could not be read at all (malformed, forged, stale schema): parked, never blocking.
CREATE TABLE sync_rejections (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	device_id uuid REFERENCES devices(id) ON DELETE CASCADE,
	seq bigint NOT NULL,
	subject text NOT NULL,
	reason text NOT NULL,
	raw text NOT NULL,                               -- the first 64 KiB of the message
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_rejections_device_idx ON sync_rejections (device_id, created_at DESC);

-- The conflict log: every losing value, both sides, who and when (guarantee 5).
CREATE TABLE sync_conflicts (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	entity text NOT NULL,
	entity_id text NOT NULL,
	field text NOT NULL,
	rule text NOT NULL DEFAULT '',
	hub_value jsonb,
	device_value jsonb,
	winner text NOT NULL CHECK (winner IN ('hub', 'device', 'merged')),
	reason text NOT NULL DEFAULT '',
	review boolean NOT NULL DEFAULT false,           -- opened for the dispatcher (state-machine clash)
	device_id uuid REFERENCES devices(id) ON DELETE SET NULL,
	technician_id uuid REFERENCES people(id),
	client_ref text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
	resolution text NOT NULL DEFAULT '',
	resolved_by uuid REFERENCES people(id),
	resolved_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_conflicts_entity_idx ON sync_conflicts (entity_id, created_at DESC);
CREATE INDEX sync_conflicts_open_idx ON sync_conflicts (created_at DESC) WHERE status = 'open';
CREATE UNIQUE INDEX sync_conflicts_once ON sync_conflicts (device_id, client_ref, field) WHERE client_ref <> '';

-- What the relay has published to each technician's feed: the scope ledger. evicted_at keeps the
-- memory that a technician held a record (late edits from a device that lost the job are accepted).
CREATE TABLE sync_scope (
	technician_id uuid NOT NULL,
	entity text NOT NULL,
	entity_id text NOT NULL,
	version bigint NOT NULL,
	root_id uuid,                                    -- the work order that brought it into scope
	evicted_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (technician_id, entity, entity_id)
);
CREATE INDEX sync_scope_root_idx ON sync_scope (root_id, technician_id);

-- The version at which each field of a versioned record last changed on the hub, so a device
-- mutation based on version v conflicts on exactly the fields changed after v.
CREATE TABLE sync_field_changes (
	entity text NOT NULL,
	entity_id uuid NOT NULL,
	field text NOT NULL,
	version bigint NOT NULL,
	changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (entity, entity_id, field)
);

CREATE OR REPLACE FUNCTION sync_track_field_changes() RETURNS trigger AS $$
DECLARE
	o jsonb := to_jsonb(OLD);
	n jsonb := to_jsonb(NEW);
	k text;
BEGIN
	FOR k IN SELECT key FROM jsonb_each(n) LOOP
		IF k NOT IN ('version', 'updated_at') AND (o -> k) IS DISTINCT FROM (n -> k) THEN
			INSERT INTO sync_field_changes (entity, entity_id, field, version, changed_at)
			VALUES (TG_ARGV[0], NEW.id, k, NEW.version, clock_timestamp())
			ON CONFLICT (entity, entity_id, field) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at;
		END IF;
	END LOOP;
	RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER work_orders_sync_fields AFTER UPDATE ON work_orders
	FOR EACH ROW
	EXECUTE FUNCTION sync_track_field_changes('work_order');

-- Wake the relay as soon as a domain event commits.
CREATE OR REPLACE FUNCTION sync_notify_domain_event() RETURNS trigger AS $$
BEGIN
	PERFORM pg_notify('dmf_domain_events', '');
	RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER domain_events_sync_notify AFTER INSERT ON domain_events
	FOR EACH STATEMENT EXECUTE FUNCTION sync_notify_domain_event();

-- Cursor of each domain_events consumer (the sync relay is "sync.relay").
CREATE TABLE IF NOT EXISTS domain_event_consumers (
	consumer text PRIMARY KEY,
	last_id bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);
