-- Core: extensions, UUIDv7, people and organizations, credentials, RBAC, sessions, audit, sequences.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS citext;

-- Time-ordered UUIDv7 (RFC 9562) for rows created in SQL; Go code generates them with uuid.NewV7.
CREATE OR REPLACE FUNCTION uuid_generate_v7() RETURNS uuid AS $$
DECLARE
	ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
	b bytea := gen_random_bytes16();
BEGIN
	b := set_byte(b, 0, ((ms >> 40) & 255)::int);
	b := set_byte(b, 1, ((ms >> 32) & 255)::int);
	b := set_byte(b, 2, ((ms >> 24) & 255)::int);
	b := set_byte(b, 3, ((ms >> 16) & 255)::int);
	b := set_byte(b, 4, ((ms >> 8) & 255)::int);
	b := set_byte(b, 5, (ms & 255)::int);
	b := set_byte(b, 6, ((get_byte(b, 6) & 15) | 112));
	b := set_byte(b, 8, ((get_byte(b, 8) & 63) | 128));
	RETURN encode(b, 'hex')::uuid;
END $$ LANGUAGE plpgsql VOLATILE;

CREATE OR REPLACE FUNCTION gen_random_bytes16() RETURNS bytea AS $$
	SELECT decode(replace(gen_random_uuid()::text, '-', ''), 'hex')
$$ LANGUAGE sql VOLATILE;

CREATE TABLE organizations (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL,
	account_type text NOT NULL CHECK (account_type IN ('customer', 'reseller', 'vendor', 'partner')),
	account_status text NOT NULL DEFAULT 'active' CHECK (account_status IN ('active', 'inactive', 'suspended', 'archived')),
	parent_id uuid REFERENCES organizations(id),
	email citext,
	phone text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_parent_idx ON organizations(parent_id);

CREATE TABLE people (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	first_name text NOT NULL DEFAULT '',
	last_name text NOT NULL DEFAULT '',
	display_name text NOT NULL DEFAULT '',
	email citext NOT NULL UNIQUE,
	phone text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'archived')),
	organization_id uuid REFERENCES organizations(id),
	timezone text NOT NULL DEFAULT 'UTC',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_org_idx ON people(organization_id);

CREATE TABLE credentials (
	person_id uuid PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
	password_hash text NOT NULL,
	must_change_password boolean NOT NULL DEFAULT false,
	failed_attempts int NOT NULL DEFAULT 0,
	locked_until timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE permissions (
	key text PRIMARY KEY CHECK (key ~ '^[a-z_*]+(:[a-z_*-]+){1,2}$' OR key = '*'),
	description text NOT NULL DEFAULT ''
);

CREATE TABLE roles (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	name text NOT NULL UNIQUE,
	description text NOT NULL DEFAULT '',
	is_system boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_permissions (
	role_id uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	permission text NOT NULL REFERENCES permissions(key) ON DELETE CASCADE,
	PRIMARY KEY (role_id, permission)
);

CREATE TABLE person_roles (
	person_id uuid NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	role_id uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (person_id, role_id)
);
CREATE INDEX person_roles_role_idx ON person_roles(role_id);

CREATE TABLE person_permissions (
	person_id uuid NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	permission text NOT NULL REFERENCES permissions(key) ON DELETE CASCADE,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (person_id, permission)
);

-- Sessions back both API refresh tokens (portal 'api') and cookie sessions of the web portals.
CREATE TABLE sessions (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	person_id uuid NOT NULL REFERENCES people(id) ON DELETE CASCADE,
	portal text NOT NULL CHECK (portal IN ('api', 'admin', 'portal', 'reseller', 'vendor')),
	token_hash bytea NOT NULL,
	previous_token_hash bytea,
	rotated_at timestamptz,
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'expired')),
	revoked_reason text,
	ip text NOT NULL DEFAULT '',
	user_agent text NOT NULL DEFAULT '',
	expires_at timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_person_idx ON sessions(person_id) WHERE status = 'active';

CREATE TABLE audit_log (
	id uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
	at timestamptz NOT NULL DEFAULT now(),
	actor_id uuid,
	actor_email text NOT NULL DEFAULT '',
	action text NOT NULL,
	target_type text NOT NULL DEFAULT '',
	target_id text NOT NULL DEFAULT '',
	ip text NOT NULL DEFAULT '',
	success boolean NOT NULL DEFAULT true,
	details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log(at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log(actor_id, at DESC);
CREATE INDEX audit_log_action_idx ON audit_log(action, at DESC);

-- Human numbers (WO-000001, …): one row per key, taken with UPDATE … RETURNING.
CREATE TABLE document_sequences (
	key text PRIMARY KEY,
	prefix text NOT NULL,
	next_value bigint NOT NULL DEFAULT 1
);

CREATE TABLE domain_settings (
	domain text NOT NULL,
	key text NOT NULL,
	value jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (domain, key)
);
