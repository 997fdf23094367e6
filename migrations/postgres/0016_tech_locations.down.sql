DROP TABLE IF EXISTS field_tech_location_pings;
DROP FUNCTION IF EXISTS field_tech_ping_partition(date);
DROP TABLE IF EXISTS field_tech_presence;
