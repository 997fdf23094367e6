-- Live fan-out of domain events: the live relay keeps its cursor in domain_event_consumers (0011)
-- as consumer "live", and every insert into domain_events (also set-based ones that do not go
-- through outbox.Write) wakes the relays.

CREATE FUNCTION domain_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('dmf_domain_events', '');
	RETURN NULL;
END $$;

CREATE TRIGGER domain_events_notify AFTER INSERT ON domain_events
	FOR EACH STATEMENT EXECUTE FUNCTION domain_events_notify();
