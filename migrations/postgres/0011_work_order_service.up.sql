-- Work order service helpers: per-consumer delivery of domain events, saved list filters.

-- Several consumers (notifications, the sync relay, the live board) read the same domain events.
-- Each keeps its own low-water mark here: every event with id <= last_id is done for it.
CREATE TABLE domain_event_consumers (
	consumer text PRIMARY KEY,
	last_id bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (consumer, event) above the consumer's mark: processed, or failed with a retry time.
CREATE TABLE domain_event_deliveries (
	consumer text NOT NULL,
	event_id bigint NOT NULL REFERENCES domain_events(id) ON DELETE CASCADE,
	attempts int NOT NULL DEFAULT 0,
	last_error text,
	next_attempt_at timestamptz,
	processed_at timestamptz,
	PRIMARY KEY (consumer, event_id)
);

CREATE INDEX domain_events_created_idx ON domain_events (created_at);
CREATE INDEX domain_events_entity_idx ON domain_events (entity_id, id);

-- Saved filters of the work order list, per user.
CREATE TABLE work_order_saved_filters (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	person_id uuid NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	name text NOT NULL CHECK (length(trim(name)) > 0),
	query text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (person_id, name)
);

-- Work order keyset/list helpers: by customer in schedule order, number search.
CREATE INDEX work_orders_customer_sched_idx ON work_orders (customer_id, scheduled_start) WHERE is_active;
CREATE INDEX work_orders_active_sched_id_idx ON work_orders (scheduled_start, id) WHERE is_active;
CREATE INDEX customers_email_idx ON customers (lower(email::text) text_pattern_ops);
CREATE INDEX work_order_worklogs_person_idx ON work_order_worklogs (person_id, started_at);
CREATE INDEX field_attachments_storage_idx ON field_attachments (storage_key);
