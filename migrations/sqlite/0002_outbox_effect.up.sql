-- What the device computed when it took an action (event id, received_at, clock skew, author…),
-- kept beside the upload so the action can be replayed locally on top of the hub's rows; the
-- upload's own data carries only the field API request body and the created row's id.
ALTER TABLE outbox ADD COLUMN effect TEXT CHECK (effect IS NULL OR json_valid(effect));
