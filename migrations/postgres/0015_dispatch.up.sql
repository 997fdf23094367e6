-- Dispatch rules and the assignment queue (reference §3.6).

CREATE TABLE dispatch_rules (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL DEFAULT '',
	priority int NOT NULL DEFAULT 0,                    -- the highest matching active rule wins
	work_type text CHECK (work_type IS NULL OR work_type IN ('install', 'repair', 'survey', 'maintenance', 'disconnect', 'other')),
	work_priority text CHECK (work_priority IS NULL OR work_priority IN ('lower', 'low', 'medium', 'normal', 'high', 'urgent')),
	region text,                                        -- matches the order's region; candidates must work there
	skill_ids uuid[] NOT NULL DEFAULT '{}',             -- required when the order names none
	auto_assign boolean NOT NULL DEFAULT true,          -- false: matching orders wait for a dispatcher
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_rules_active_idx ON dispatch_rules (priority DESC, created_at) WHERE is_active;

-- One row per work order that went through auto-assign: the last outcome and why.
CREATE TABLE work_order_assignment_queue (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL UNIQUE REFERENCES work_orders(id) ON DELETE CASCADE,
	status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'assigned', 'skipped')),
	reason text NOT NULL DEFAULT '',
	rule_id uuid REFERENCES dispatch_rules(id) ON DELETE SET NULL,
	assigned_to uuid REFERENCES people(id),
	score int,
	attempts int NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX work_order_assignment_queue_status_idx ON work_order_assignment_queue (status, updated_at);

-- Board and auto-assign read open jobs by technician and time, and unassigned ones by time.
CREATE INDEX work_orders_unassigned_idx ON work_orders (scheduled_start) WHERE is_active AND assigned_to IS NULL;
