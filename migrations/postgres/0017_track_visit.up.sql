-- "Track my visit" links for customers (reference §3.7): random tokens stored hashed, 14-day TTL.

CREATE TABLE work_order_access_tokens (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	token_hash bytea NOT NULL UNIQUE,                   -- sha256 of the token; the token itself is never stored
	expires_at timestamptz NOT NULL,
	created_by uuid REFERENCES people(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX work_order_access_tokens_wo_idx ON work_order_access_tokens (work_order_id);

-- What customers asked for through a link: a confirmation, or a reschedule (one open at a time).
CREATE TABLE work_order_visit_requests (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	work_order_id uuid NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
	token_id uuid REFERENCES work_order_access_tokens(id) ON DELETE SET NULL,
	kind text NOT NULL CHECK (kind IN ('confirm', 'reschedule')),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'declined')),
	preferred_start timestamptz,
	preferred_end timestamptz,
	note text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	closed_at timestamptz,
	CHECK (preferred_end IS NULL OR preferred_start IS NULL OR preferred_end > preferred_start)
);
CREATE INDEX work_order_visit_requests_wo_idx ON work_order_visit_requests (work_order_id, created_at);
CREATE UNIQUE INDEX work_order_visit_requests_one_open_reschedule ON work_order_visit_requests (work_order_id)
	WHERE kind = 'reschedule' AND status = 'open';
