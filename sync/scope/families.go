package scope

import (
	"time"

	"dotmac.dev/field/sync/resolve"
)

// Family names.
const (
	WorkOrders = "work_orders"
	Materials  = "materials"
	Surveys    = "surveys"
	Fiber      = "fiber"
)

// DefaultFiberRadiusMeters is how far around each job site fiber plant is in
// scope.
const DefaultFiberRadiusMeters = 300

// ClosedRetention is how long a completed or canceled work order stays in
// scope, so the technician can still see the day's finished jobs.
const ClosedRetention = 7 * 24 * time.Hour

// Rule shorthands for the tables below.
const (
	hub    = resolve.HubWins
	dev    = resolve.DeviceWins
	add    = resolve.DeviceAppend
	sum    = resolve.DeviceSum
	last   = resolve.LastWriter
	status = resolve.StateMachine
)

// WorkOrdersFamily: the technician's jobs with their crew, customer, site,
// events, notes, attachments and worklogs. Tables as in migrations 0010.
var WorkOrdersFamily = Family{
	Name: WorkOrders,
	Entities: []Entity{
		{Name: "work_order", Table: "work_orders"},
		{Name: "work_order_assignment", Table: "work_order_assignments"}, // id: work_order_id + ":" + person_id
		{Name: "customer", Table: "customers"},
		{Name: "site", Table: "sites"},
		{Name: "work_order_event", Table: "work_order_events", AppendOnly: true},
		{Name: "work_order_note", Table: "work_order_notes", AppendOnly: true},
		{Name: "field_attachment", Table: "field_attachments", AppendOnly: true},
		{Name: "work_order_worklog", Table: "work_order_worklogs", AppendOnly: true},
	},
	Scope: "work orders not in draft where the technician is assigned_to or has an assignment (crew), " +
		"until ClosedRetention after they are completed or canceled; their assignments; their customers " +
		"(name, phone, email, address: never costs or rates) and sites; their events, notes, active " +
		"attachments and worklogs",
	Rules: resolve.Table{
		"work_order": {
			// Office-owned.
			"title": hub, "description": hub, "priority": hub, "work_type": hub,
			"scheduled_start": hub, "scheduled_end": hub, "estimated_arrival_at": hub,
			"assigned_to": hub, "customer_id": hub, "site_id": hub, "tags": hub, "is_active": hub,
			// Field facts: the status and times the technician's events drive.
			"status": status, "started_at": dev, "paused_at": dev, "resumed_at": dev,
			"completed_at": dev, "canceled_at": dev, "total_active_seconds": dev,
			// Shared: the technician may correct the access notes.
			"access_notes": last,
		},
		"work_order_assignment": {"role": hub, "is_primary": hub},
		"customer":              {"name": hub, "phone": hub, "email": hub, "address": hub},
		// The technician may pin the site where it really is (a manual pin beats a geocode).
		"site": {"label": hub, "address": hub, "lat": last, "lon": last, "access_notes": last},
		"work_order_event": {
			"event": dev, "from_status": dev, "to_status": dev, "occurred_at": dev,
			"lat": dev, "lon": dev, "note": dev, "payload": dev,
		},
		"work_order_note": {"body": dev, "is_internal": hub},
		"field_attachment": {
			"kind": dev, "file_name": dev, "mime": dev, "size": dev, "captured_at": dev,
			"signer_name": dev, "lat": dev, "lon": dev, "is_active": last,
		},
		"work_order_worklog": {"started_at": dev, "ended_at": dev, "note": dev},
	},
}

// MaterialsFamily: materials of the technician's jobs and the stock of their van.
var MaterialsFamily = Family{
	Name: Materials,
	Entities: []Entity{
		{Name: "work_order_material", Table: "work_order_materials"},
		{Name: "inventory_item", Table: "inventory_items"},
		{Name: "van_stock", Table: "inventory_stock"},
	},
	Scope: "materials of the work orders in scope; stock rows of the inventory locations of kind van whose " +
		"technician_id is the technician; the items either refers to (sku, name, unit: never prices)",
	Rules: resolve.Table{
		"work_order_material": {
			"item_id": hub, "quantity": hub, "status": hub, "notes": hub,
			"consumed_quantity": sum, // the device sends what it consumed; calls add up
		},
		"inventory_item": {"sku": hub, "name": hub, "unit": hub},
		"van_stock":      {"quantity_on_hand": sum, "reserved_quantity": hub},
	},
}

// SurveysFamily: survey forms, responses and wireless survey points.
var SurveysFamily = Family{
	Name: Surveys,
	Entities: []Entity{
		{Name: "survey_template", Table: "survey_templates"},
		{Name: "survey_response", Table: "survey_responses"},
		{Name: "wireless_site_survey", Table: "wireless_site_surveys"},
		{Name: "survey_point", Table: "survey_points"},
	},
	Scope: "survey templates attached to work orders in scope and their responses; wireless site surveys " +
		"linked to those work orders (or their projects) with their points",
	Rules: resolve.Table{
		"survey_template":      {"name": hub, "questions": hub},
		"survey_response":      {"answers": dev, "submitted_at": dev},
		"wireless_site_survey": {"name": hub, "frequency_mhz": hub, "status": last},
		"survey_point": {
			"point_type": dev, "name": dev, "lat": dev, "lon": dev, "antenna_height_m": dev,
			"antenna_gain_dbi": dev, "tx_power_dbm": dev, "notes": dev, "sort_order": last,
		},
	},
}

// FiberFamily: fiber plant around the technician's job sites.
var FiberFamily = Family{
	Name: Fiber,
	Entities: []Entity{
		{Name: "fiber_feature", Table: "fiber_features"},
		{Name: "fiber_splice_closure", Table: "fiber_splice_closures"},
		{Name: "fiber_splice_tray", Table: "fiber_splice_trays"},
		{Name: "fiber_splice", Table: "fiber_splices"},
		{Name: "fiber_test_result", Table: "fiber_test_results", AppendOnly: true},
		{Name: "fiber_change_request", Table: "fiber_change_requests", AppendOnly: true},
	},
	Scope: "fiber plant (segments, splice closures with trays and splices, FDH cabinets, splitters, " +
		"termination points, buildings, masts) within DefaultFiberRadiusMeters of the site of each work " +
		"order in scope (PostGIS ST_DWithin on geography); test results and change requests of those work orders",
	Rules: resolve.Table{
		// Plant is changed from the field only through change requests the office reviews.
		"fiber_feature":        {"name": hub, "status": hub, "geometry": hub},
		"fiber_splice_closure": {"name": hub},
		"fiber_splice_tray":    {"number": hub},
		"fiber_splice":         {"in_strand": hub, "out_strand": hub, "loss_db": hub},
		"fiber_test_result": {
			"test_type": dev, "wavelength_nm": dev, "value_db": dev, "unit": dev,
			"passed": dev, "instrument": dev, "measured_at": dev,
		},
		"fiber_change_request": {"asset_type": dev, "asset_id": dev, "operation": dev, "payload": dev},
	},
}

// Default returns a registry with the four families of the product.
func Default() *Registry {
	r, err := NewRegistry(WorkOrdersFamily, MaterialsFamily, SurveysFamily, FiberFamily)
	if err != nil {
		panic(err)
	}
	return r
}
