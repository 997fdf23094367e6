-- The work-order list: indexes that serve each filter in its sort order (scheduled_start NULLS
-- LAST, id — ascending btree order already puts NULLs last), and a statement-level NOTIFY on
-- every table the list shows, so each hub replica can drop its cached list pages the moment
-- anything they show changes (hub/workorder/listcache.go).
CREATE INDEX IF NOT EXISTS work_orders_status_sched_id_idx ON work_orders (status, scheduled_start, id) WHERE is_active;
CREATE INDEX IF NOT EXISTS work_orders_assigned_status_sched_id_idx ON work_orders (assigned_to, status, scheduled_start, id) WHERE is_active;
CREATE INDEX IF NOT EXISTS work_orders_assigned_sched_id_idx ON work_orders (assigned_to, scheduled_start, id) WHERE is_active;
DROP INDEX IF EXISTS work_orders_status_idx;
DROP INDEX IF EXISTS work_orders_assigned_idx;

CREATE OR REPLACE FUNCTION work_order_list_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- One payload for all: PostgreSQL folds identical notifications of a transaction into one.
	PERFORM pg_notify('dmf_wo_list', '');
	RETURN NULL;
END $$;

CREATE TRIGGER work_order_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON work_orders
	FOR EACH STATEMENT EXECUTE FUNCTION work_order_list_notify();
CREATE TRIGGER work_order_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON work_order_assignments
	FOR EACH STATEMENT EXECUTE FUNCTION work_order_list_notify();
CREATE TRIGGER work_order_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customers
	FOR EACH STATEMENT EXECUTE FUNCTION work_order_list_notify();
CREATE TRIGGER work_order_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sites
	FOR EACH STATEMENT EXECUTE FUNCTION work_order_list_notify();
CREATE TRIGGER work_order_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON people
	FOR EACH STATEMENT EXECUTE FUNCTION work_order_list_notify();
