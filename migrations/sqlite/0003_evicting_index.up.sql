-- Every applied batch looks for jobs that left the scope (evicting = 1) to drop them once their
-- uploads are acknowledged. Without an index that is a scan of every work order's row — on a
-- tablet holding a large scope, most of the cost of applying one change.
CREATE INDEX IF NOT EXISTS work_orders_evicting_idx ON work_orders (id) WHERE evicting = 1;
