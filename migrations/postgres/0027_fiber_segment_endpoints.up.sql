-- Moving a point object (closure, cabinet, pole, …) marks the cables that end at it
-- geometry_stale (fiber_segments.geometry_stale, 0025). Finding them by from_point_id and
-- to_point_id must not scan every segment of a large plant.
CREATE INDEX fiber_segments_from_point_idx ON fiber_segments (from_point_id) WHERE from_point_id IS NOT NULL;
CREATE INDEX fiber_segments_to_point_idx ON fiber_segments (to_point_id) WHERE to_point_id IS NOT NULL;
CREATE INDEX fiber_segments_stale_idx ON fiber_segments (id) WHERE geometry_stale AND deleted_at IS NULL;
