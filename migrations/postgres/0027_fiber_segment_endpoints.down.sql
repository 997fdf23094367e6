DROP INDEX IF EXISTS fiber_segments_stale_idx;
DROP INDEX IF EXISTS fiber_segments_to_point_idx;
DROP INDEX IF EXISTS fiber_segments_from_point_idx;
