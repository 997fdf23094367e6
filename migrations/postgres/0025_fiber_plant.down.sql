DROP FUNCTION IF EXISTS fiber_trace(uuid);
DROP FUNCTION IF EXISTS fiber_tombstones_near(geometry, double precision, bigint);
DROP FUNCTION IF EXISTS fiber_objects_near(geometry, double precision, bigint);
DROP VIEW IF EXISTS fiber_map_objects;
DROP TABLE IF EXISTS ducts, poles, wireless_masts, ont_assignments, ont_units, service_buildings,
	fiber_termination_points, fiber_splices, fiber_strands, fiber_segments, fiber_splice_trays,
	fiber_splice_closures, splitter_ports, splitters, fdh_cabinets, pon_ports, olt_devices,
	field_map_asset_tombstones;
DROP FUNCTION IF EXISTS fiber_strand(uuid, int);
DROP FUNCTION IF EXISTS fiber_strand_check(), fiber_splice_check(), fiber_splice_after(), fiber_tray_after(),
	fiber_strand_after(), fiber_bump(), fiber_bump_version(), fiber_tombstone();
DROP DOMAIN IF EXISTS fiber_object_status;
DROP FUNCTION IF EXISTS tia598_tube_color(int), tia598_color(int);
DROP SEQUENCE IF EXISTS fiber_version_seq;
