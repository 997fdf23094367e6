-- Domain events for the replicated families whose services write none (materials and van stock,
-- surveys, fiber test results and change requests): the sync relay reads domain_events and maps
-- each event to the work orders it touches (hub/syncsvc Binding.Roots). The fiber plant itself is
-- followed by its version sequence (fiber_version_seq), not by events.

CREATE FUNCTION sync_family_event() RETURNS trigger AS $$
DECLARE
	r record;
	wo uuid;
	old_wo uuid;
	j jsonb;
BEGIN
	IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
	j := to_jsonb(r);
	IF TG_ARGV[0] = 'van_stock' THEN
		IF NOT EXISTS (SELECT 1 FROM inventory_locations l WHERE l.id = r.location_id AND l.kind = 'van') THEN
			RETURN NULL;
		END IF;
	ELSIF TG_ARGV[0] = 'survey_point' THEN
		SELECT s.work_order_id INTO wo FROM wireless_site_surveys s WHERE s.id = r.survey_id;
	ELSIF j ? 'work_order_id' THEN
		wo := (j ->> 'work_order_id')::uuid;
		IF TG_OP = 'UPDATE' THEN
			old_wo := (to_jsonb(OLD) ->> 'work_order_id')::uuid;
		END IF;
	END IF;
	INSERT INTO domain_events (topic, entity, entity_id, payload)
	VALUES ('sync.' || TG_ARGV[0] || '.' || lower(TG_OP), TG_ARGV[0], r.id,
		jsonb_strip_nulls(jsonb_build_object('work_order_id', wo, 'previous_work_order_id', old_wo)));
	IF old_wo IS NOT NULL AND old_wo IS DISTINCT FROM wo THEN
		INSERT INTO domain_events (topic, entity, entity_id, payload)
		VALUES ('sync.' || TG_ARGV[0] || '.moved', TG_ARGV[0], r.id, jsonb_build_object('work_order_id', old_wo));
	END IF;
	RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER work_order_materials_sync AFTER INSERT OR UPDATE OR DELETE ON work_order_materials
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('work_order_material');
CREATE TRIGGER inventory_stock_sync AFTER INSERT OR UPDATE OF quantity_on_hand, reserved_quantity OR DELETE ON inventory_stock
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('van_stock');
CREATE TRIGGER inventory_items_sync AFTER UPDATE OF sku, name, unit ON inventory_items
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('inventory_item');
CREATE TRIGGER survey_templates_sync AFTER INSERT OR UPDATE ON survey_templates
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('survey_template');
CREATE TRIGGER survey_responses_sync AFTER INSERT OR UPDATE OR DELETE ON survey_responses
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('survey_response');
CREATE TRIGGER wireless_site_surveys_sync AFTER INSERT OR UPDATE OR DELETE ON wireless_site_surveys
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('wireless_site_survey');
CREATE TRIGGER survey_points_sync AFTER INSERT OR UPDATE OR DELETE ON survey_points
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('survey_point');
CREATE TRIGGER fiber_test_results_sync AFTER INSERT OR UPDATE ON fiber_test_results
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('fiber_test_result');
CREATE TRIGGER fiber_change_requests_sync AFTER INSERT OR UPDATE ON fiber_change_requests
	FOR EACH ROW EXECUTE FUNCTION sync_family_event('fiber_change_request');
