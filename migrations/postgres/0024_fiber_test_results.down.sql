DROP TABLE IF EXISTS fiber_test_results;
