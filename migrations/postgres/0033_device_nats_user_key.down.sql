ALTER TABLE devices DROP COLUMN IF EXISTS nats_user_key;
