-- Technician presence and location pings (reference §3.7).

-- One row per technician: the newest known position; never moves backwards in time.
CREATE TABLE field_tech_presence (
	person_id uuid PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
	status text NOT NULL DEFAULT 'off_shift' CHECK (status IN ('on_shift', 'on_break', 'off_shift')),
	location_sharing_enabled boolean NOT NULL DEFAULT true,
	lat double precision CHECK (lat IS NULL OR lat BETWEEN -90 AND 90),
	lon double precision CHECK (lon IS NULL OR lon BETWEEN -180 AND 180),
	accuracy_m real,
	geog geography(Point, 4326),                        -- KNN (<->) over the GiST index
	location_at timestamptz,                            -- recorded_at of the newest ping
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_tech_presence_geog_idx ON field_tech_presence USING gist (geog);

-- Immutable pings, partitioned by day (UTC). The maintenance job creates partitions ahead and
-- drops those past retention; the default partition catches anything outside them.
CREATE TABLE field_tech_location_pings (
	person_id uuid NOT NULL,
	recorded_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
	lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
	accuracy_m real,
	speed_mps real,
	heading real,
	PRIMARY KEY (person_id, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE TABLE field_tech_location_pings_default PARTITION OF field_tech_location_pings DEFAULT;

-- field_tech_ping_partition makes the partition of day d (UTC) if missing, moving any rows of that
-- day out of the default partition first.
CREATE FUNCTION field_tech_ping_partition(d date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	name text := 'field_tech_location_pings_' || to_char(d, 'YYYYMMDD');
	lo timestamptz := d::timestamp AT TIME ZONE 'UTC';
	hi timestamptz := (d + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN false;
	END IF;
	PERFORM pg_advisory_xact_lock(7301501);
	IF to_regclass(name) IS NOT NULL THEN
		RETURN false;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM field_tech_location_pings_default WHERE recorded_at >= lo AND recorded_at < hi) THEN
		EXECUTE format('CREATE TABLE %I PARTITION OF field_tech_location_pings FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
		RETURN true;
	END IF;
	CREATE TEMP TABLE field_tech_ping_move ON COMMIT DROP AS
		WITH moved AS (
			DELETE FROM field_tech_location_pings_default WHERE recorded_at >= lo AND recorded_at < hi RETURNING *
		) SELECT * FROM moved;
	EXECUTE format('CREATE TABLE %I PARTITION OF field_tech_location_pings FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
	INSERT INTO field_tech_location_pings SELECT * FROM field_tech_ping_move;
	DROP TABLE field_tech_ping_move;
	RETURN true;
END $$;

DO $$
BEGIN
	FOR i IN -2..14 LOOP
		PERFORM field_tech_ping_partition((now() AT TIME ZONE 'UTC')::date + i);
	END LOOP;
END $$;
