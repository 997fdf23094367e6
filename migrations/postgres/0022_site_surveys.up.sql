-- Wireless site surveys (reference §3.14): surveys, points and line-of-sight paths computed by the
-- hub from an elevation profile supplied with the survey (no terrain download).

CREATE TABLE wireless_site_surveys (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL CHECK (length(trim(name)) > 0),
	description text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'in_progress', 'completed', 'archived')),
	frequency_mhz double precision NOT NULL DEFAULT 5800 CHECK (frequency_mhz > 0 AND frequency_mhz <= 100000),
	default_antenna_height_m double precision NOT NULL DEFAULT 10 CHECK (default_antenna_height_m >= 0),
	default_tx_power_dbm double precision NOT NULL DEFAULT 20,
	rx_sensitivity_dbm double precision NOT NULL DEFAULT -80,
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	project_id uuid,
	created_by uuid REFERENCES people(id),
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wireless_site_surveys_status_idx ON wireless_site_surveys (status, created_at DESC);
CREATE INDEX wireless_site_surveys_wo_idx ON wireless_site_surveys (work_order_id);
CREATE TRIGGER wireless_site_surveys_touch BEFORE UPDATE ON wireless_site_surveys FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

CREATE TABLE survey_points (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	survey_id uuid NOT NULL REFERENCES wireless_site_surveys(id) ON DELETE CASCADE,
	name text NOT NULL CHECK (length(trim(name)) > 0),
	point_type text NOT NULL CHECK (point_type IN ('tower', 'access_point', 'cpe', 'repeater', 'custom')),
	lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
	lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
	geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED,
	ground_elevation_m double precision,
	elevation_source text NOT NULL DEFAULT '',         -- manual, gps, profile
	antenna_height_m double precision NOT NULL DEFAULT 10 CHECK (antenna_height_m >= 0 AND antenna_height_m <= 1000),
	antenna_gain_dbi double precision NOT NULL DEFAULT 0 CHECK (antenna_gain_dbi BETWEEN -10 AND 60),
	tx_power_dbm double precision NOT NULL DEFAULT 20 CHECK (tx_power_dbm BETWEEN -30 AND 60),
	frequency_mhz double precision CHECK (frequency_mhz IS NULL OR frequency_mhz > 0),
	notes text NOT NULL DEFAULT '',
	sort_order int NOT NULL DEFAULT 0,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_points_survey_idx ON survey_points (survey_id, sort_order);
CREATE INDEX survey_points_geom_idx ON survey_points USING gist (geom);
CREATE TRIGGER survey_points_touch BEFORE UPDATE ON survey_points FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

CREATE TABLE survey_los_paths (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	survey_id uuid NOT NULL REFERENCES wireless_site_surveys(id) ON DELETE CASCADE,
	from_point_id uuid NOT NULL REFERENCES survey_points(id) ON DELETE CASCADE,
	to_point_id uuid NOT NULL REFERENCES survey_points(id) ON DELETE CASCADE,
	frequency_mhz double precision NOT NULL,
	distance_m double precision NOT NULL,
	bearing_deg double precision NOT NULL,
	free_space_loss_db double precision NOT NULL,
	has_clear_los boolean NOT NULL,
	fresnel_clearance_pct double precision NOT NULL,   -- worst first-Fresnel-zone clearance along the path
	max_obstruction_m double precision NOT NULL,       -- highest terrain above the line of sight (0 when clear)
	diffraction_loss_db double precision NOT NULL,
	estimated_rssi_dbm double precision NOT NULL,
	rx_sensitivity_dbm double precision NOT NULL,
	fade_margin_db double precision NOT NULL,
	elevation_profile jsonb NOT NULL DEFAULT '[]',     -- [{distance_m, elevation_m}]
	geom geometry(LineString, 4326) NOT NULL,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (from_point_id <> to_point_id),
	UNIQUE (from_point_id, to_point_id)
);
CREATE INDEX survey_los_paths_survey_idx ON survey_los_paths (survey_id);
CREATE TRIGGER survey_los_paths_touch BEFORE UPDATE ON survey_los_paths FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();
