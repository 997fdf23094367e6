DROP TABLE IF EXISTS work_order_visit_requests;
DROP TABLE IF EXISTS work_order_access_tokens;
