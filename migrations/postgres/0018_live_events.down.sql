DROP TRIGGER IF EXISTS domain_events_notify ON domain_events;
DROP FUNCTION IF EXISTS domain_events_notify();
DELETE FROM domain_event_consumers WHERE consumer LIKE 'live%';
