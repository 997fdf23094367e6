DROP TABLE IF EXISTS fiber_change_requests;
