DELETE FROM domain_event_consumers WHERE consumer = 'sync.relay';
DROP TRIGGER IF EXISTS domain_events_sync_notify ON domain_events;
DROP FUNCTION IF EXISTS sync_notify_domain_event();
DROP TRIGGER IF EXISTS work_orders_sync_fields ON work_orders;
DROP FUNCTION IF EXISTS sync_track_field_changes();
DROP TABLE IF EXISTS sync_field_changes, sync_scope, sync_conflicts, sync_rejections, sync_mutations, devices CASCADE;
