-- Fiber test results (reference §3.7 fiber_test_results): measurements taken in the field per work
-- order or network asset, judged against the link's loss budget.

CREATE TABLE fiber_test_results (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid REFERENCES work_orders(id) ON DELETE SET NULL,
	asset_type text NOT NULL DEFAULT '',                -- segment, splice_closure, … (fiber plant, no FK: owned by hub/fiber)
	asset_id uuid,
	test_type text NOT NULL CHECK (test_type IN ('otdr', 'optical_power', 'insertion_loss', 'reflectance', 'continuity', 'other')),
	wavelength_nm int CHECK (wavelength_nm IS NULL OR wavelength_nm BETWEEN 600 AND 1700),
	value_db double precision,
	unit text NOT NULL DEFAULT 'dB' CHECK (unit IN ('dB', 'dBm')),
	length_km double precision CHECK (length_km IS NULL OR length_km >= 0),
	splices int CHECK (splices IS NULL OR splices >= 0),
	connectors int CHECK (connectors IS NULL OR connectors >= 0),
	budget_db double precision,                        -- the loss budget the value was judged against
	budget_source text NOT NULL DEFAULT '' CHECK (budget_source IN ('', 'given', 'computed')),
	passed boolean,
	instrument text NOT NULL DEFAULT '',
	attachment_id uuid REFERENCES field_attachments(id) ON DELETE SET NULL,
	notes text NOT NULL DEFAULT '',
	measured_by uuid REFERENCES people(id),
	measured_at timestamptz NOT NULL,
	client_ref uuid NOT NULL UNIQUE,
	device_id uuid,
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (work_order_id IS NOT NULL OR asset_id IS NOT NULL)
);
CREATE INDEX fiber_test_results_wo_idx ON fiber_test_results (work_order_id, measured_at);
CREATE INDEX fiber_test_results_asset_idx ON fiber_test_results (asset_type, asset_id, measured_at);
