-- On an external NATS cluster in operator mode each device gets its own user key pair and JWT
-- (hub/syncsvc/natsjwt.go); its public key is what the account's revocation list names.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS nats_user_key text;
