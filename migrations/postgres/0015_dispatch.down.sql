DROP INDEX IF EXISTS work_orders_unassigned_idx;
DROP TABLE IF EXISTS work_order_assignment_queue;
DROP TABLE IF EXISTS dispatch_rules;
