DROP TABLE IF EXISTS material_request_items;
ALTER TABLE IF EXISTS inventory_transfers DROP CONSTRAINT IF EXISTS inventory_transfers_request_fk;
DROP TABLE IF EXISTS material_requests;
DROP TABLE IF EXISTS inventory_transfer_items;
DROP TABLE IF EXISTS inventory_transfers;
