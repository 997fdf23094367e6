-- Live fan-out of domain events: each consumer keeps its own cursor, and inserts wake listeners.

CREATE TABLE IF NOT EXISTS domain_event_consumers (
	consumer text PRIMARY KEY,
	last_id bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION domain_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('dmf_domain_events', '');
	RETURN NULL;
END $$;

CREATE TRIGGER domain_events_notify AFTER INSERT ON domain_events
	FOR EACH STATEMENT EXECUTE FUNCTION domain_events_notify();
