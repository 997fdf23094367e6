-- Survey forms: templates per work type and the answers technicians give on site.

CREATE TABLE survey_templates (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL CHECK (length(trim(name)) > 0),
	description text NOT NULL DEFAULT '',
	work_type text CHECK (work_type IS NULL OR work_type IN ('install', 'repair', 'survey', 'maintenance', 'disconnect', 'other')),
	questions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(questions) = 'array'), -- [sync/field.Question]
	is_active boolean NOT NULL DEFAULT true,
	created_by uuid REFERENCES people(id),
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
-- The template of a work type: one active per work type.
CREATE UNIQUE INDEX survey_templates_one_per_work_type ON survey_templates (work_type) WHERE is_active AND work_type IS NOT NULL;
CREATE TRIGGER survey_templates_touch BEFORE UPDATE ON survey_templates FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

-- One response per work order: the latest submitted answers (field facts).
CREATE TABLE survey_responses (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL UNIQUE REFERENCES work_orders(id) ON DELETE CASCADE,
	template_id uuid NOT NULL REFERENCES survey_templates(id),
	answers jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(answers) = 'object'),
	submitted_by uuid REFERENCES people(id),
	device_id uuid,
	submitted_at timestamptz NOT NULL DEFAULT now(),
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_responses_template_idx ON survey_responses (template_id);
CREATE TRIGGER survey_responses_touch BEFORE UPDATE ON survey_responses FOR EACH ROW EXECUTE FUNCTION inventory_touch_row();

-- Every accepted submission, keyed by client_ref: replays are idempotent forever.
CREATE TABLE survey_submissions (
	client_ref uuid PRIMARY KEY,
	response_id uuid REFERENCES survey_responses(id) ON DELETE CASCADE, -- set once the answers are stored
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	answers jsonb NOT NULL,
	submitted_by uuid REFERENCES people(id),
	device_id uuid,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_submissions_wo_idx ON survey_submissions (work_order_id, created_at);
