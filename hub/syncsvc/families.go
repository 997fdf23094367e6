package syncsvc

import (
	"fmt"

	"dotmac.dev/field/sync/scope"
)

// The bindings of the materials, surveys and fiber families (scope.MaterialsFamily,
// scope.SurveysFamily, scope.FiberFamily) on the tables of hub/inventory (0020), hub/survey
// (0022, 0023), and hub/fiber (0024–0026). Their services write no domain events: migration 0031
// adds triggers that do (entity = the scope entity, payload.work_order_id when the row belongs
// to a job). The fiber plant is followed by its version sequence instead (Binding.Poll).

// vanScope selects the active van of technician $1 (limited to the locations $2 when not NULL).
const vanScope = `inventory_locations l WHERE l.kind = 'van' AND l.is_active AND l.technician_id = $1::uuid
	AND ($2::uuid[] IS NULL OR l.id = ANY($2::uuid[]))`

// MaterialsBinding: materials of the jobs in scope, the stock of the technician's van (rooted at
// the van's location id: a scope root that is not a work order), and the items either refers to.
// Never costs.
func MaterialsBinding() Binding {
	return Binding{
		Family:   scope.MaterialsFamily,
		Requires: []string{"work_order_materials", "inventory_items", "inventory_stock", "inventory_locations"},
		Roots: map[string]string{
			"work_order_material": `SELECT work_order_id FROM work_order_materials WHERE id = $1`,
			"van_stock":           `SELECT location_id FROM inventory_stock WHERE id = $1`,
			"inventory_item": `SELECT m.work_order_id FROM work_order_materials m JOIN work_orders w ON w.id = m.work_order_id
				WHERE m.item_id = $1 AND w.is_active AND w.status NOT IN ('draft', 'completed', 'canceled')
				UNION SELECT s.location_id FROM inventory_stock s JOIN inventory_locations l ON l.id = s.location_id AND l.kind = 'van'
				WHERE s.item_id = $1`,
		},
		Owners: `SELECT technician_id::text FROM inventory_locations WHERE id = ANY($1::uuid[]) AND kind = 'van' AND technician_id IS NOT NULL`,
		// A material line (its item may enter or leave the scope with it).
		Touches: rowEvents(map[string]Touch{"work_order_material": {Entities: []string{"work_order_material", "inventory_item"}}}),
		Sources: []Source{
			{Entity: "work_order_material", SQL: woScope + `
SELECT m.work_order_id, m.id::text, m.version, jsonb_build_object(
	'id', m.id, 'work_order_id', m.work_order_id, 'item_id', m.item_id, 'sku', i.sku, 'name', i.name, 'unit', i.unit,
	'quantity', m.quantity, 'consumed_quantity', m.consumed_quantity, 'status', m.status, 'notes', m.notes,
	'version', m.version, 'updated_at', m.updated_at)
  FROM wo JOIN work_order_materials m ON m.work_order_id = wo.id JOIN inventory_items i ON i.id = m.item_id
 WHERE` + idFilter("m.id::text")},
			{Entity: "inventory_item", Shared: true, SQL: woScope + `, refs AS (
	SELECT m.item_id, wo.id AS root FROM wo JOIN work_order_materials m ON m.work_order_id = wo.id
	UNION ALL
	SELECT s.item_id, l.id FROM inventory_stock s CROSS JOIN ` + vanScope + ` AND s.location_id = l.id)
SELECT DISTINCT ON (i.id) r.root, i.id::text, i.version, jsonb_build_object('id', i.id, 'sku', i.sku, 'name', i.name, 'unit', i.unit,
	'version', i.version)
  FROM refs r JOIN inventory_items i ON i.id = r.item_id
 WHERE` + idFilter("i.id::text") + ` ORDER BY i.id, r.root`},
			{Entity: "van_stock", SQL: `
SELECT l.id, s.id::text, s.version, jsonb_build_object('id', s.id, 'item_id', s.item_id, 'location_id', s.location_id,
	'sku', i.sku, 'name', i.name, 'unit', i.unit,
	'quantity_on_hand', s.quantity_on_hand, 'reserved_quantity', s.reserved_quantity, 'version', s.version, 'updated_at', s.updated_at)
  FROM inventory_stock s JOIN inventory_items i ON i.id = s.item_id CROSS JOIN ` + vanScope + ` AND s.location_id = l.id
   AND` + idFilter("s.id::text")},
		},
	}
}

// jobTemplate is the survey template of work order wo: the one its answers were given against,
// else the active template of its work type (as hub/survey's jobSurvey).
const jobTemplate = `coalesce((SELECT r.template_id FROM survey_responses r WHERE r.work_order_id = wo.id),
	(SELECT t2.id FROM survey_templates t2 WHERE t2.work_type = wo.work_type AND t2.is_active))`

// SurveysBinding: the survey form of each job in scope with its answers, and the wireless site
// surveys linked to those jobs with their points.
func SurveysBinding() Binding {
	return Binding{
		Family:   scope.SurveysFamily,
		Requires: []string{"survey_templates", "survey_responses", "wireless_site_surveys", "survey_points"},
		Roots: map[string]string{
			"survey_template": `SELECT w.id FROM work_orders w JOIN survey_templates t ON t.id = $1
				WHERE w.is_active AND w.status NOT IN ('draft', 'completed', 'canceled')
				  AND (w.work_type = t.work_type OR EXISTS (SELECT 1 FROM survey_responses r WHERE r.work_order_id = w.id AND r.template_id = t.id))`,
			"survey_response":      `SELECT work_order_id FROM survey_responses WHERE id = $1`,
			"wireless_site_survey": `SELECT work_order_id FROM wireless_site_surveys WHERE id = $1 AND work_order_id IS NOT NULL`,
			"survey_point": `SELECT s.work_order_id FROM survey_points p JOIN wireless_site_surveys s ON s.id = p.survey_id
				WHERE p.id = $1 AND s.work_order_id IS NOT NULL`,
		},
		Touches: rowEvents(map[string]Touch{
			// An answer also sets the job's survey_template_id, and may bring its template in.
			"survey_response":      {Entities: []string{"work_order", "survey_response", "survey_template"}},
			"wireless_site_survey": {Entities: []string{"wireless_site_survey", "survey_point"}},
			"survey_point":         {Entities: []string{"survey_point"}},
		}),
		Sources: []Source{
			{Entity: "survey_template", Shared: true, SQL: woScope + `
SELECT DISTINCT ON (t.id) wo.id, t.id::text, t.version, jsonb_build_object('id', t.id, 'name', t.name, 'description', t.description,
	'work_type', t.work_type, 'questions', t.questions, 'version', t.version)
  FROM wo JOIN survey_templates t ON t.id = ` + jobTemplate + `
 WHERE` + idFilter("t.id::text") + ` ORDER BY t.id, wo.id`},
			{Entity: "survey_response", SQL: woScope + `
SELECT r.work_order_id, r.id::text, r.version, jsonb_build_object('id', r.id, 'work_order_id', r.work_order_id,
	'template_id', r.template_id, 'answers', r.answers, 'submitted_at', r.submitted_at, 'version', r.version)
  FROM wo JOIN survey_responses r ON r.work_order_id = wo.id
 WHERE` + idFilter("r.id::text")},
			{Entity: "wireless_site_survey", SQL: woScope + `
SELECT s.work_order_id, s.id::text, s.version, jsonb_build_object('id', s.id, 'work_order_id', s.work_order_id, 'name', s.name,
	'description', s.description, 'status', s.status, 'frequency_mhz', s.frequency_mhz,
	'default_antenna_height_m', s.default_antenna_height_m, 'default_tx_power_dbm', s.default_tx_power_dbm,
	'rx_sensitivity_dbm', s.rx_sensitivity_dbm, 'version', s.version, 'updated_at', s.updated_at)
  FROM wo JOIN wireless_site_surveys s ON s.work_order_id = wo.id
 WHERE` + idFilter("s.id::text")},
			{Entity: "survey_point", SQL: woScope + `
SELECT s.work_order_id, p.id::text, p.version, jsonb_build_object('id', p.id, 'survey_id', p.survey_id, 'point_type', p.point_type,
	'name', p.name, 'lat', p.lat, 'lon', p.lon, 'ground_elevation_m', p.ground_elevation_m, 'antenna_height_m', p.antenna_height_m,
	'antenna_gain_dbi', p.antenna_gain_dbi, 'tx_power_dbm', p.tx_power_dbm, 'frequency_mhz', p.frequency_mhz, 'notes', p.notes,
	'sort_order', p.sort_order, 'version', p.version)
  FROM wo JOIN wireless_site_surveys s ON s.work_order_id = wo.id JOIN survey_points p ON p.survey_id = s.id
 WHERE` + idFilter("p.id::text")},
		},
	}
}

// FiberRadiusMeters is how far around each job site the plant is replicated.
const FiberRadiusMeters = scope.DefaultFiberRadiusMeters

// nearPlant is the CTE "near" of the live plant within the radius of each job site in scope
// (hub/fiber's fiber_objects_near), each object rooted at one of those jobs. OFFSET 0 keeps the
// lateral subquery from being flattened: each site then probes each plant table's GiST index,
// instead of a join filter testing every site against every object (the planner's choice when
// the statistics are thin, quadratic in the scope).
var nearPlant = fmt.Sprintf(`, near AS (
	SELECT DISTINCT ON (n.id) n.id, n.kind, wo.id AS root
	  FROM wo JOIN sites st ON st.id = wo.site_id
	 CROSS JOIN LATERAL (SELECT f.id, f.kind FROM fiber_objects_near(st.geom, %d) f OFFSET 0) n
	 WHERE st.geom IS NOT NULL
	 ORDER BY n.id, wo.id)
`, FiberRadiusMeters)

// FiberBinding: the fiber plant within FiberRadiusMeters of each job site in scope (the map
// objects as GeoJSON, splice closures with their trays and splices), and the test results and
// change requests of those jobs. Plant versions come from fiber_version_seq, which the relay
// follows (Poll): a change to the plant near a job reaches its technicians without a domain event.
func FiberBinding() Binding {
	return Binding{
		Family:   scope.FiberFamily,
		Requires: []string{"fiber_splice_closures", "fiber_splices", "fiber_test_results", "fiber_change_requests"},
		Roots: map[string]string{
			"fiber_test_result":    `SELECT work_order_id FROM fiber_test_results WHERE id = $1 AND work_order_id IS NOT NULL`,
			"fiber_change_request": `SELECT work_order_id FROM fiber_change_requests WHERE id = $1 AND work_order_id IS NOT NULL`,
		},
		// The four plant sources share "near": a whole-scope read computes it once.
		Materialize: []CTE{{Name: "near", SQL: nearPlant, Columns: "id uuid, kind text, root uuid"}},
		Poll: &Poll{
			Name: "sync.fiber",
			Head: `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fiber_version_seq`,
			Roots: fmt.Sprintf(`SELECT w.id::text FROM work_orders w JOIN sites st ON st.id = w.site_id
	WHERE w.is_active AND w.status <> 'draft' AND st.geom IS NOT NULL
	  AND (w.status NOT IN ('completed', 'canceled') OR coalesce(w.completed_at, w.canceled_at, w.updated_at) > now() - interval '%d seconds')
	  AND EXISTS (SELECT 1 FROM devices d WHERE d.status = 'active' AND d.enrolled_at IS NOT NULL AND (d.technician_id = w.assigned_to
	      OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = d.technician_id)))
	  AND (EXISTS (SELECT 1 FROM fiber_objects_near(st.geom, %[2]d, $1) n WHERE n.version <= $2)
	       OR EXISTS (SELECT 1 FROM fiber_tombstones_near(st.geom, %[2]d, $1) n WHERE n.version <= $2))`,
				int(scope.ClosedRetention.Seconds()), FiberRadiusMeters),
		},
		Touches: rowEvents(map[string]Touch{
			"fiber_test_result":    {Entities: []string{"fiber_test_result"}},
			"fiber_change_request": {Entities: []string{"fiber_change_request"}},
		}),
		Sources: []Source{
			{Entity: "fiber_feature", Shared: true, SQL: woScope + nearPlant + `
SELECT near.root, o.id::text, o.version, jsonb_build_object('id', o.id, 'kind', o.kind, 'name', o.name, 'status', o.status,
	'geometry', ST_AsGeoJSON(o.geom, 7)::jsonb, 'version', o.version, 'updated_at', o.updated_at)
  FROM near JOIN fiber_map_objects o ON o.id = near.id AND o.kind = near.kind
 WHERE` + idFilter("o.id::text")},
			{Entity: "fiber_splice_closure", Shared: true, SQL: woScope + nearPlant + `
SELECT near.root, c.id::text, c.version, jsonb_build_object('id', c.id, 'name', c.name, 'status', c.status,
	'closure_type', c.closure_type, 'version', c.version)
  FROM near JOIN fiber_splice_closures c ON c.id = near.id AND near.kind = 'splice_closure' AND c.deleted_at IS NULL
 WHERE` + idFilter("c.id::text")},
			// Trays have no version of their own: any change of a tray bumps its closure's.
			{Entity: "fiber_splice_tray", Shared: true, SQL: woScope + nearPlant + `
SELECT near.root, t.id::text, c.version, jsonb_build_object('id', t.id, 'closure_id', t.closure_id, 'number', t.number,
	'capacity', t.capacity)
  FROM near JOIN fiber_splice_closures c ON c.id = near.id AND near.kind = 'splice_closure' AND c.deleted_at IS NULL
  JOIN fiber_splice_trays t ON t.closure_id = c.id
 WHERE` + idFilter("t.id::text")},
			{Entity: "fiber_splice", Shared: true, SQL: woScope + nearPlant + `
SELECT near.root, sp.id::text, sp.version, jsonb_build_object('id', sp.id, 'closure_id', sp.closure_id, 'tray_id', sp.tray_id,
	'position', sp.position, 'splice_type', sp.splice_type, 'loss_db', sp.loss_db,
	'in_strand', jsonb_build_object('cable', fs.name, 'number', f.number, 'color', f.color),
	'out_strand', jsonb_build_object('cable', ts.name, 'number', t.number, 'color', t.color), 'version', sp.version)
  FROM near JOIN fiber_splices sp ON sp.closure_id = near.id AND near.kind = 'splice_closure'
  JOIN fiber_strands f ON f.id = sp.from_strand_id JOIN fiber_segments fs ON fs.id = f.segment_id
  JOIN fiber_strands t ON t.id = sp.to_strand_id JOIN fiber_segments ts ON ts.id = t.segment_id
 WHERE` + idFilter("sp.id::text")},
			{Entity: "fiber_test_result", SQL: woScope + `
SELECT r.work_order_id, r.id::text, 1, jsonb_build_object('id', r.id, 'work_order_id', r.work_order_id, 'asset_type', r.asset_type,
	'asset_id', r.asset_id, 'test_type', r.test_type, 'wavelength_nm', r.wavelength_nm, 'value_db', r.value_db, 'unit', r.unit,
	'length_km', r.length_km, 'budget_db', r.budget_db, 'passed', r.passed, 'instrument', r.instrument, 'notes', r.notes,
	'attachment_id', r.attachment_id, 'measured_at', r.measured_at, 'client_ref', r.client_ref, 'created_at', r.created_at)
  FROM wo JOIN fiber_test_results r ON r.work_order_id = wo.id
 WHERE` + idFilter("r.id::text")},
			{Entity: "fiber_change_request", SQL: woScope + `
SELECT r.work_order_id, r.id::text, ` + ver("r.updated_at") + `, jsonb_build_object('id', r.id, 'number', r.number, 'kind', r.kind,
	'object_id', r.object_id, 'operation', r.operation, 'payload', r.payload, 'status', r.status, 'source', r.source,
	'work_order_id', r.work_order_id, 'note', r.note, 'review_note', r.review_note, 'client_ref', r.client_ref,
	'created_at', r.created_at, 'updated_at', r.updated_at)
  FROM wo JOIN fiber_change_requests r ON r.work_order_id = wo.id
 WHERE` + idFilter("r.id::text")},
		},
	}
}
