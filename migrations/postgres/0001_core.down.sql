DROP TABLE IF EXISTS domain_settings, document_sequences, audit_log, sessions, person_permissions,
	person_roles, role_permissions, roles, permissions, credentials, people, organizations CASCADE;
DROP FUNCTION IF EXISTS uuid_generate_v7();
DROP FUNCTION IF EXISTS gen_random_bytes16();
-- The postgis and citext extensions stay: other databases objects may depend on them.
