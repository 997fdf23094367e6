-- Fiber plant on PostGIS, SRID 4326 (reference §3.13, §3.15): OLTs and PON ports, FDH cabinets,
-- splitters and their ports, splice closures with trays and splices, cables (segments) with
-- strands, termination points, ONTs and their assignments, service buildings, wireless masts,
-- poles and ducts.
--
-- Every map object has: id (UUIDv7), name, status, props (extra attributes from imports), version,
-- created_at, updated_at, deleted_at (soft delete). version comes from one sequence shared by the
-- whole plant, so it grows on every change of a row AND orders changes across tables: a replica
-- asks for "version > my cursor". Deletions leave a row in field_map_asset_tombstones (with the
-- geometry, so that "deleted near a job site" is answerable).

CREATE SEQUENCE fiber_version_seq;

-- fiber_bump gives an updated row a new version and updated_at.
CREATE FUNCTION fiber_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.version := nextval('fiber_version_seq');
	NEW.updated_at := now();
	RETURN NEW;
END $$;

CREATE TABLE field_map_asset_tombstones (
	id bigserial PRIMARY KEY,
	kind text NOT NULL,
	asset_id uuid NOT NULL,
	version bigint NOT NULL,
	geom geometry(Geometry, 4326),
	deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_map_asset_tombstones_version_idx ON field_map_asset_tombstones (version);
CREATE INDEX field_map_asset_tombstones_asset_idx ON field_map_asset_tombstones (asset_id);
CREATE INDEX field_map_asset_tombstones_geom_idx ON field_map_asset_tombstones USING gist (geom);

-- fiber_tombstone records soft deletes (deleted_at set) and hard deletes; TG_ARGV[0] is the kind.
CREATE FUNCTION fiber_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF OLD.deleted_at IS NULL THEN
			INSERT INTO field_map_asset_tombstones (kind, asset_id, version, geom)
			VALUES (TG_ARGV[0], OLD.id, nextval('fiber_version_seq'), OLD.geom);
		END IF;
		RETURN OLD;
	END IF;
	IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
		INSERT INTO field_map_asset_tombstones (kind, asset_id, version, geom)
		VALUES (TG_ARGV[0], NEW.id, NEW.version, OLD.geom);
	END IF;
	RETURN NEW;
END $$;

-- TIA-598 colour code: fibre n (1-based) is fibre ((n-1) % 12)+1 of tube ((n-1) / 12)+1; tubes
-- 13–24 repeat the colours with a black stripe (the black tube with a yellow one).
CREATE FUNCTION tia598_color(n int) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql AS $$
	SELECT (ARRAY['blue','orange','green','brown','slate','white','red','black','yellow','violet','rose','aqua'])[((n - 1) % 12) + 1]
$$;
CREATE FUNCTION tia598_tube_color(n int) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql AS $$
	SELECT tia598_color(((n - 1) / 12) % 12 + 1) ||
		CASE WHEN (n - 1) / 12 >= 12 THEN CASE WHEN ((n - 1) / 12) % 12 = 7 THEN '/yellow' ELSE '/black' END ELSE '' END
$$;

-- The status every map object carries.
CREATE DOMAIN fiber_object_status AS text
	CHECK (VALUE IN ('planned', 'active', 'maintenance', 'damaged', 'retired'));

CREATE TABLE olt_devices (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	hostname text NOT NULL DEFAULT '',
	vendor text NOT NULL DEFAULT '',
	model text NOT NULL DEFAULT '',
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE pon_ports (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	olt_id uuid NOT NULL REFERENCES olt_devices(id) ON DELETE CASCADE,
	slot int NOT NULL DEFAULT 1 CHECK (slot >= 0),
	port int NOT NULL CHECK (port >= 0),
	name text NOT NULL DEFAULT '',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (olt_id, slot, port)
);

CREATE TABLE fdh_cabinets (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	code text NOT NULL DEFAULT '',
	region text NOT NULL DEFAULT '',
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);
CREATE UNIQUE INDEX fdh_cabinets_code_key ON fdh_cabinets (code) WHERE code <> '' AND deleted_at IS NULL;

CREATE TABLE splitters (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	fdh_id uuid REFERENCES fdh_cabinets(id) ON DELETE SET NULL,
	ratio text NOT NULL DEFAULT '1:32' CHECK (ratio ~ '^[0-9]{1,2}:[0-9]{1,3}$'),
	input_ports int NOT NULL DEFAULT 1 CHECK (input_ports BETWEEN 1 AND 8),
	output_ports int NOT NULL DEFAULT 32 CHECK (output_ports BETWEEN 1 AND 256),
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);
CREATE INDEX splitters_fdh_idx ON splitters (fdh_id);

CREATE TABLE splitter_ports (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	splitter_id uuid NOT NULL REFERENCES splitters(id) ON DELETE CASCADE,
	port_type text NOT NULL CHECK (port_type IN ('input', 'output')),
	number int NOT NULL CHECK (number >= 1),
	UNIQUE (splitter_id, port_type, number)
);

CREATE TABLE fiber_splice_closures (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	closure_type text NOT NULL DEFAULT 'dome' CHECK (closure_type IN ('dome', 'inline', 'pedestal', 'vault', 'aerial', 'other')),
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE fiber_splice_trays (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	closure_id uuid NOT NULL REFERENCES fiber_splice_closures(id) ON DELETE CASCADE,
	number int NOT NULL CHECK (number >= 1),
	capacity int NOT NULL DEFAULT 24 CHECK (capacity BETWEEN 1 AND 288),
	UNIQUE (closure_id, number),
	UNIQUE (id, closure_id) -- target of the splices' (tray, closure) key: a tray of another closure cannot be named
);

CREATE TABLE fiber_segments (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	segment_type text NOT NULL DEFAULT 'distribution' CHECK (segment_type IN ('feeder', 'distribution', 'drop')),
	cable_type text NOT NULL DEFAULT 'single_mode'
		CHECK (cable_type IN ('single_mode', 'multi_mode', 'armored', 'aerial', 'underground', 'direct_buried')),
	fiber_count int NOT NULL DEFAULT 12 CHECK (fiber_count BETWEEN 1 AND 864),
	from_point_id uuid,
	to_point_id uuid,
	geometry_stale boolean NOT NULL DEFAULT false,
	geom geometry(LineString, 4326) NOT NULL CHECK (ST_NPoints(geom) >= 2),
	length_m double precision GENERATED ALWAYS AS (ST_Length(geom::geography)) STORED,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

-- Strands are rows only once something is known about them (status, an endpoint, a splice):
-- a cable of 288 fibres does not cost 288 rows until it is worked on. fiber_strand(segment, n)
-- returns a strand's id, making its row. A missing row means "available, unterminated".
CREATE TABLE fiber_strands (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	segment_id uuid NOT NULL REFERENCES fiber_segments(id) ON DELETE CASCADE,
	number int NOT NULL CHECK (number >= 1),
	tube int GENERATED ALWAYS AS ((number - 1) / 12 + 1) STORED,
	color text GENERATED ALWAYS AS (tia598_color(number)) STORED,
	tube_color text GENERATED ALWAYS AS (tia598_tube_color(number)) STORED,
	status text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'reserved', 'in_use', 'damaged')),
	-- the strand's ends: upstream faces the OLT
	upstream_type text CHECK (upstream_type IN ('olt_port', 'splitter_port', 'splice_closure', 'fdh', 'termination_point', 'ont', 'other')),
	upstream_id uuid,
	downstream_type text CHECK (downstream_type IN ('olt_port', 'splitter_port', 'splice_closure', 'fdh', 'termination_point', 'ont', 'other')),
	downstream_id uuid,
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (segment_id, number),
	CHECK ((upstream_type IS NULL) = (upstream_id IS NULL)),
	CHECK ((downstream_type IS NULL) = (downstream_id IS NULL))
);
CREATE INDEX fiber_strands_downstream_idx ON fiber_strands (downstream_id) WHERE downstream_id IS NOT NULL;
CREATE INDEX fiber_strands_upstream_idx ON fiber_strands (upstream_id) WHERE upstream_id IS NOT NULL;

CREATE FUNCTION fiber_strand_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
	SELECT fiber_count INTO n FROM fiber_segments WHERE id = NEW.segment_id;
	IF n IS NOT NULL AND NEW.number > n THEN
		RAISE EXCEPTION 'strand % does not exist: the cable has % fibres', NEW.number, n
			USING ERRCODE = 'check_violation', CONSTRAINT = 'fiber_strands_number_check';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER fiber_strands_check BEFORE INSERT OR UPDATE OF number, segment_id ON fiber_strands
	FOR EACH ROW EXECUTE FUNCTION fiber_strand_check();

CREATE FUNCTION fiber_strand(seg uuid, n int) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE sid uuid;
BEGIN
	SELECT id INTO sid FROM fiber_strands WHERE segment_id = seg AND number = n;
	IF FOUND THEN RETURN sid; END IF;
	INSERT INTO fiber_strands (segment_id, number) VALUES (seg, n)
		ON CONFLICT (segment_id, number) DO NOTHING RETURNING id INTO sid;
	IF sid IS NULL THEN
		SELECT id INTO sid FROM fiber_strands WHERE segment_id = seg AND number = n;
	END IF;
	RETURN sid;
END $$;

CREATE TABLE fiber_splices (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	closure_id uuid NOT NULL REFERENCES fiber_splice_closures(id) ON DELETE CASCADE,
	tray_id uuid NOT NULL,
	from_strand_id uuid NOT NULL REFERENCES fiber_strands(id),
	to_strand_id uuid NOT NULL REFERENCES fiber_strands(id),
	position int CHECK (position >= 1),
	splice_type text NOT NULL DEFAULT 'fusion' CHECK (splice_type IN ('fusion', 'mechanical')),
	loss_db numeric(5,2) CHECK (loss_db IS NULL OR loss_db BETWEEN 0 AND 10),
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- the tray belongs to the closure
	CONSTRAINT fiber_splices_tray_closure_fkey FOREIGN KEY (tray_id, closure_id)
		REFERENCES fiber_splice_trays(id, closure_id) ON DELETE CASCADE,
	-- no self-splice
	CONSTRAINT fiber_splices_self_check CHECK (from_strand_id <> to_strand_id)
);
-- one splice per strand pair, whichever way round
CREATE UNIQUE INDEX fiber_splices_pair_key ON fiber_splices (LEAST(from_strand_id, to_strand_id), GREATEST(from_strand_id, to_strand_id));
CREATE UNIQUE INDEX fiber_splices_position_key ON fiber_splices (tray_id, position) WHERE position IS NOT NULL;
CREATE INDEX fiber_splices_from_idx ON fiber_splices (from_strand_id);
CREATE INDEX fiber_splices_to_idx ON fiber_splices (to_strand_id);
CREATE INDEX fiber_splices_closure_idx ON fiber_splices (closure_id);

-- fiber_splice_check: both strands available or reserved, neither already spliced in this closure,
-- and no strand spliced more than twice (once at each end). Spliced strands become reserved.
CREATE FUNCTION fiber_splice_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	s record;
	n int;
BEGIN
	FOR s IN SELECT id, number, status FROM fiber_strands WHERE id IN (NEW.from_strand_id, NEW.to_strand_id) ORDER BY id FOR UPDATE LOOP
		IF s.status NOT IN ('available', 'reserved') THEN
			RAISE EXCEPTION 'strand % is % (only available or reserved strands can be spliced)', s.number, s.status
				USING ERRCODE = 'check_violation', CONSTRAINT = 'fiber_splices_strand_status';
		END IF;
		SELECT count(*) INTO n FROM fiber_splices
			WHERE id <> NEW.id AND (from_strand_id = s.id OR to_strand_id = s.id) AND closure_id = NEW.closure_id;
		IF n > 0 THEN
			RAISE EXCEPTION 'strand % is already spliced in this closure', s.number
				USING ERRCODE = 'unique_violation', CONSTRAINT = 'fiber_splices_strand_used';
		END IF;
		SELECT count(*) INTO n FROM fiber_splices WHERE id <> NEW.id AND (from_strand_id = s.id OR to_strand_id = s.id);
		IF n >= 2 THEN
			RAISE EXCEPTION 'strand % is already spliced at both ends', s.number
				USING ERRCODE = 'unique_violation', CONSTRAINT = 'fiber_splices_strand_used';
		END IF;
	END LOOP;
	RETURN NEW;
END $$;
CREATE TRIGGER fiber_splices_check BEFORE INSERT OR UPDATE OF from_strand_id, to_strand_id, closure_id ON fiber_splices
	FOR EACH ROW EXECUTE FUNCTION fiber_splice_check();

-- After a splice changes: its strands are reserved (if they were available) and the closure's
-- version grows, so replicas refetch the closure with its trays and splices.
CREATE FUNCTION fiber_splice_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		UPDATE fiber_strands SET status = 'reserved' WHERE id IN (NEW.from_strand_id, NEW.to_strand_id) AND status = 'available';
		UPDATE fiber_splice_closures SET updated_at = now() WHERE id = NEW.closure_id;
	END IF;
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		UPDATE fiber_splice_closures SET updated_at = now() WHERE id = OLD.closure_id;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER fiber_splices_after AFTER INSERT OR UPDATE OR DELETE ON fiber_splices
	FOR EACH ROW EXECUTE FUNCTION fiber_splice_after();

CREATE FUNCTION fiber_tray_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE fiber_splice_closures SET updated_at = now() WHERE id = COALESCE(NEW.closure_id, OLD.closure_id);
	RETURN NULL;
END $$;
CREATE TRIGGER fiber_splice_trays_after AFTER INSERT OR UPDATE OR DELETE ON fiber_splice_trays
	FOR EACH ROW EXECUTE FUNCTION fiber_tray_after();

-- A strand's change shows as a change of its cable.
CREATE FUNCTION fiber_strand_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE fiber_segments SET updated_at = now() WHERE id = COALESCE(NEW.segment_id, OLD.segment_id);
	RETURN NULL;
END $$;
CREATE TRIGGER fiber_strands_after AFTER INSERT OR UPDATE OR DELETE ON fiber_strands
	FOR EACH ROW EXECUTE FUNCTION fiber_strand_after();

CREATE TABLE fiber_termination_points (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	endpoint_type text NOT NULL DEFAULT 'terminal' CHECK (endpoint_type IN
		('fdh', 'splitter', 'splitter_port', 'pon_port', 'olt_port', 'ont', 'terminal', 'splice_closure', 'other')),
	ref_id uuid,
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE service_buildings (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	code text NOT NULL DEFAULT '',
	clli text NOT NULL DEFAULT '',
	address text NOT NULL DEFAULT '',
	site_id uuid REFERENCES sites(id) ON DELETE SET NULL,
	geom geometry(Geometry, 4326) NOT NULL CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')),
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE ont_units (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	serial text NOT NULL DEFAULT '',
	model text NOT NULL DEFAULT '',
	vendor text NOT NULL DEFAULT '',
	firmware text NOT NULL DEFAULT '',
	building_id uuid REFERENCES service_buildings(id) ON DELETE SET NULL,
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);
CREATE UNIQUE INDEX ont_units_serial_key ON ont_units (serial) WHERE serial <> '' AND deleted_at IS NULL;

CREATE TABLE ont_assignments (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	ont_id uuid NOT NULL REFERENCES ont_units(id) ON DELETE CASCADE,
	pon_port_id uuid REFERENCES pon_ports(id) ON DELETE SET NULL,
	customer_id uuid REFERENCES customers(id) ON DELETE SET NULL,
	site_id uuid REFERENCES sites(id) ON DELETE SET NULL,
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	person_id uuid REFERENCES people(id),
	active boolean NOT NULL DEFAULT true,
	assigned_at timestamptz NOT NULL DEFAULT now(),
	released_at timestamptz,
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq')
);
CREATE UNIQUE INDEX ont_assignments_active_key ON ont_assignments (ont_id) WHERE active;
CREATE INDEX ont_assignments_customer_idx ON ont_assignments (customer_id) WHERE active;
CREATE INDEX ont_assignments_site_idx ON ont_assignments (site_id) WHERE active;

CREATE TABLE wireless_masts (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	height_m double precision CHECK (height_m IS NULL OR height_m BETWEEN 0 AND 500),
	structure_type text NOT NULL DEFAULT 'monopole' CHECK (structure_type IN ('monopole', 'lattice', 'guyed', 'rooftop', 'water_tower', 'other')),
	owner text NOT NULL DEFAULT '',
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE poles (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	height_m double precision CHECK (height_m IS NULL OR height_m BETWEEN 0 AND 100),
	material text NOT NULL DEFAULT 'wood' CHECK (material IN ('wood', 'steel', 'concrete', 'composite', 'other')),
	owner text NOT NULL DEFAULT '',
	geom geometry(Point, 4326) NOT NULL,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

CREATE TABLE ducts (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	status fiber_object_status NOT NULL DEFAULT 'active',
	duct_type text NOT NULL DEFAULT 'conduit' CHECK (duct_type IN ('conduit', 'microduct', 'innerduct', 'trench', 'other')),
	diameter_mm double precision CHECK (diameter_mm IS NULL OR diameter_mm BETWEEN 1 AND 2000),
	geom geometry(LineString, 4326) NOT NULL CHECK (ST_NPoints(geom) >= 2),
	length_m double precision GENERATED ALWAYS AS (ST_Length(geom::geography)) STORED,
	props jsonb NOT NULL DEFAULT '{}',
	version bigint NOT NULL DEFAULT nextval('fiber_version_seq'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz
);

-- fiber_bump_version bumps only the version (rows without updated_at).
CREATE FUNCTION fiber_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.version := nextval('fiber_version_seq');
	RETURN NEW;
END $$;

-- Per map table: GiST on the live geometry, version for deltas, the bump and tombstone triggers.
DO $$
DECLARE
	t record;
	tbl text;
BEGIN
	FOR t IN SELECT * FROM (VALUES
		('olt_devices', 'olt'), ('fdh_cabinets', 'fdh_cabinet'), ('splitters', 'splitter'),
		('fiber_splice_closures', 'splice_closure'), ('fiber_segments', 'segment'),
		('fiber_termination_points', 'termination_point'), ('service_buildings', 'building'),
		('ont_units', 'ont'), ('wireless_masts', 'mast'), ('poles', 'pole'), ('ducts', 'duct')) AS v(tbl, kind)
	LOOP
		EXECUTE format('CREATE INDEX %I ON %I USING gist (geom) WHERE deleted_at IS NULL', t.tbl || '_geom_idx', t.tbl);
		EXECUTE format('CREATE INDEX %I ON %I (version)', t.tbl || '_version_idx', t.tbl);
		EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION fiber_bump()', t.tbl || '_bump', t.tbl);
		EXECUTE format('CREATE TRIGGER %I AFTER UPDATE OF deleted_at OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION fiber_tombstone(%L)',
			t.tbl || '_tombstone', t.tbl, t.kind);
	END LOOP;
	FOREACH tbl IN ARRAY ARRAY['pon_ports', 'fiber_strands', 'fiber_splices', 'ont_assignments'] LOOP
		EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION fiber_bump_version()', tbl || '_bump', tbl);
	END LOOP;
END $$ LANGUAGE plpgsql;

-- fiber_map_objects: every live map object with its kind, for maps, exports and sync.
CREATE VIEW fiber_map_objects AS
	SELECT 'olt'::text AS kind, id, name, status::text, version, updated_at, geom FROM olt_devices WHERE deleted_at IS NULL
	UNION ALL SELECT 'fdh_cabinet', id, name, status, version, updated_at, geom FROM fdh_cabinets WHERE deleted_at IS NULL
	UNION ALL SELECT 'splitter', id, name, status, version, updated_at, geom FROM splitters WHERE deleted_at IS NULL
	UNION ALL SELECT 'splice_closure', id, name, status, version, updated_at, geom FROM fiber_splice_closures WHERE deleted_at IS NULL
	UNION ALL SELECT 'segment', id, name, status, version, updated_at, geom FROM fiber_segments WHERE deleted_at IS NULL
	UNION ALL SELECT 'termination_point', id, name, status, version, updated_at, geom FROM fiber_termination_points WHERE deleted_at IS NULL
	UNION ALL SELECT 'building', id, name, status, version, updated_at, geom FROM service_buildings WHERE deleted_at IS NULL
	UNION ALL SELECT 'ont', id, name, status, version, updated_at, geom FROM ont_units WHERE deleted_at IS NULL
	UNION ALL SELECT 'mast', id, name, status, version, updated_at, geom FROM wireless_masts WHERE deleted_at IS NULL
	UNION ALL SELECT 'pole', id, name, status, version, updated_at, geom FROM poles WHERE deleted_at IS NULL
	UNION ALL SELECT 'duct', id, name, status, version, updated_at, geom FROM ducts WHERE deleted_at IS NULL;

-- fiber_objects_near(g, meters, since_version) lists the live plant within meters of g (on the
-- geography) changed after since_version: the sync "plant within 300 m of each job site" is
--   SELECT DISTINCT n.* FROM sites s, fiber_objects_near(s.geom, 300) n WHERE s.id = ANY($1)
-- A box in degrees (wide enough at the point's latitude) lets each table's GiST index prefilter.
CREATE FUNCTION fiber_objects_near(g geometry, meters double precision, since_version bigint DEFAULT 0)
RETURNS TABLE (kind text, id uuid, version bigint) STABLE PARALLEL SAFE LANGUAGE sql AS $$
	SELECT o.kind, o.id, o.version FROM fiber_map_objects o
	WHERE o.geom && ST_Expand(ST_Envelope(g),
			meters / (111320.0 * GREATEST(cos(radians(LEAST(GREATEST(abs(ST_YMin(g)), abs(ST_YMax(g))), 89.0))), 0.01)) * 1.01,
			meters / 110500.0 * 1.01)
		AND ST_DWithin(o.geom::geography, g::geography, meters)
		AND o.version > since_version
$$;

-- fiber_tombstones_near: deletions within meters of g after since_version.
CREATE FUNCTION fiber_tombstones_near(g geometry, meters double precision, since_version bigint DEFAULT 0)
RETURNS TABLE (kind text, id uuid, version bigint) STABLE PARALLEL SAFE LANGUAGE sql AS $$
	SELECT t.kind, t.asset_id, t.version FROM field_map_asset_tombstones t
	WHERE t.version > since_version
		AND t.geom && ST_Expand(ST_Envelope(g),
			meters / (111320.0 * GREATEST(cos(radians(LEAST(GREATEST(abs(ST_YMin(g)), abs(ST_YMax(g))), 89.0))), 0.01)) * 1.01,
			meters / 110500.0 * 1.01)
		AND ST_DWithin(t.geom::geography, g::geography, meters)
$$;

-- fiber_trace(ont) follows the light from an ONT back to its OLT port: the drop strand ending at
-- the ONT, then at each strand's upstream end either a splice (to the other strand), a splitter
-- (from the output port to the strand feeding its input) or the OLT port (the end). Rows are
-- hops in order; kind is ont | strand | splice | splitter | olt_port | break.
CREATE FUNCTION fiber_trace(ont uuid) RETURNS TABLE (hop int, kind text, ref_id uuid, label text, detail jsonb)
STABLE LANGUAGE plpgsql AS $$
DECLARE
	cur uuid;
	st record;
	nxt uuid;
	h int := 0;
	seen uuid[] := '{}';
	r record;
BEGIN
	SELECT o.id, o.name, o.serial INTO r FROM ont_units o WHERE o.id = ont AND o.deleted_at IS NULL;
	IF NOT FOUND THEN RETURN; END IF;
	hop := h; kind := 'ont'; ref_id := r.id; label := r.name; detail := jsonb_build_object('serial', r.serial);
	RETURN NEXT;
	SELECT s.id INTO cur FROM fiber_strands s WHERE s.downstream_id = ont AND s.downstream_type = 'ont' LIMIT 1;
	WHILE cur IS NOT NULL AND h < 128 LOOP
		IF cur = ANY(seen) THEN
			h := h + 1; hop := h; kind := 'break'; ref_id := cur; label := 'loop'; detail := '{}'; RETURN NEXT; RETURN;
		END IF;
		seen := seen || cur;
		SELECT s.*, g.name AS cable, g.segment_type INTO st FROM fiber_strands s JOIN fiber_segments g ON g.id = s.segment_id WHERE s.id = cur;
		h := h + 1; hop := h; kind := 'strand'; ref_id := st.id; label := st.cable || ' #' || st.number;
		detail := jsonb_build_object('segment_id', st.segment_id, 'cable', st.cable, 'segment_type', st.segment_type,
			'number', st.number, 'color', st.color, 'tube', st.tube, 'tube_color', st.tube_color, 'status', st.status);
		RETURN NEXT;
		nxt := NULL;
		IF st.upstream_type = 'olt_port' THEN
			SELECT p.id, p.slot, p.port, p.name, d.id AS olt_id, d.name AS olt INTO r FROM pon_ports p JOIN olt_devices d ON d.id = p.olt_id WHERE p.id = st.upstream_id;
			h := h + 1; hop := h; kind := 'olt_port'; ref_id := st.upstream_id;
			label := COALESCE(r.olt || ' ' || r.slot || '/' || r.port, 'unknown port');
			detail := jsonb_build_object('olt_id', r.olt_id, 'olt', r.olt, 'slot', r.slot, 'port', r.port);
			RETURN NEXT;
			RETURN;
		ELSIF st.upstream_type = 'splitter_port' THEN
			SELECT p.number, sp.id AS splitter_id, sp.name, sp.ratio, ip.id AS input_id INTO r
				FROM splitter_ports p JOIN splitters sp ON sp.id = p.splitter_id
				LEFT JOIN splitter_ports ip ON ip.splitter_id = sp.id AND ip.port_type = 'input' AND ip.number = 1
				WHERE p.id = st.upstream_id;
			h := h + 1; hop := h; kind := 'splitter'; ref_id := r.splitter_id; label := r.name || ' (' || r.ratio || ') out ' || r.number;
			detail := jsonb_build_object('ratio', r.ratio, 'output_port', r.number);
			RETURN NEXT;
			SELECT s.id INTO nxt FROM fiber_strands s WHERE s.downstream_id = r.input_id AND s.downstream_type = 'splitter_port' LIMIT 1;
		ELSIF st.upstream_type = 'splice_closure' THEN
			SELECT sp.id, sp.position, t.number AS tray, c.name, c.id AS closure_id,
				CASE WHEN sp.from_strand_id = cur THEN sp.to_strand_id ELSE sp.from_strand_id END AS other
				INTO r FROM fiber_splices sp JOIN fiber_splice_trays t ON t.id = sp.tray_id JOIN fiber_splice_closures c ON c.id = sp.closure_id
				WHERE sp.closure_id = st.upstream_id AND (sp.from_strand_id = cur OR sp.to_strand_id = cur) LIMIT 1;
			IF FOUND THEN
				h := h + 1; hop := h; kind := 'splice'; ref_id := r.id; label := r.name || ' tray ' || r.tray;
				detail := jsonb_build_object('closure_id', r.closure_id, 'tray', r.tray, 'position', r.position);
				RETURN NEXT;
				nxt := r.other;
			END IF;
		END IF;
		IF nxt IS NULL THEN
			h := h + 1; hop := h; kind := 'break'; ref_id := st.upstream_id; label := COALESCE(st.upstream_type, 'unterminated');
			detail := '{}';
			RETURN NEXT;
			RETURN;
		END IF;
		cur := nxt;
	END LOOP;
END $$;
