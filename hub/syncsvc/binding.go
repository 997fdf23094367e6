package syncsvc

import (
	"fmt"
	"strings"

	"dotmac.dev/field/sync/scope"
)

// Source is how the hub reads one replicated entity of a family.
type Source struct {
	Entity string // scope entity name, e.g. "work_order"
	// SQL selects the entity's rows in technician $1's scope as (root_id uuid, id text,
	// version bigint, data jsonb). $2 (uuid[]) limits the rows to those brought in by these work
	// orders (NULL: the whole scope); $3 (text[]) limits them to these ids (NULL: all). Versions
	// rise with every change of a row. Data never holds costs or rates.
	SQL string
	// Shared rows can be in scope through several work orders (a customer, fiber near two jobs):
	// before evicting one, the relay checks it is not still in scope through another.
	Shared bool
}

// Binding is the hub side of a scope.Family: where its rows come from and which work orders a
// domain event touches. Declaring one is all a new family needs; the relay, the bootstrap
// snapshot, the checksums and the applier's scope check use it.
type Binding struct {
	Family  scope.Family
	Sources []Source
	// Roots maps a domain event's entity to SQL returning the work order ids it touches, with
	// $1 = the event's entity_id (uuid). Events of other entities are matched by a
	// payload.work_order_id when present.
	Roots map[string]string
	// Requires lists tables that must exist for the binding to be active (families whose
	// migrations land later stay off until then).
	Requires []string
	// Owners, for families with scope roots that are not work orders (a technician's van), is SQL
	// returning the technician ids owning the roots $1 (uuid[]).
	Owners string
	// Poll follows a family whose changes write no domain events (the fiber plant: a shared
	// version sequence).
	Poll *Poll
	// Materialize lists CTEs that several sources repeat verbatim. A whole-scope read (bootstrap
	// snapshot, checksums) computes each once into a temporary table of its transaction and
	// reads it in their place; smaller reads (the relay, repairs) keep the CTE inline.
	Materialize []CTE
	// Touches narrows what the relay re-reads for the jobs of a domain event, by topic: see Touch.
	// A topic not declared here re-reads every family of its jobs.
	Touches map[string]Touch
}

// Touch declares that an event of a topic changes only Entities (of any family): it can neither
// move a job in or out of a technician's scope nor change any other row replicated for it. The relay then re-reads only those entities of the
// event's jobs (a note re-reads the job and its notes, not the plant within 300 m).
//
// When Changed is set, the event narrows only if its payload lists, in "changed", nothing but
// these members (an update of the description narrows; one of the site widens, since the plant
// around the job moves with it). An event without "changed" then re-reads everything.
//
// Rows names, for an entity of Entities, the payload member holding the id of the one row the
// event added (an event on that entity itself gives its entity_id): the relay re-reads that row
// instead of every row of the entity for the job (the 1,000th note of a job re-reads one note,
// not a thousand). Only for events that add or change that row and never remove one.
type Touch struct {
	Entities []string
	Changed  []string
	Rows     map[string]string
}

// rowEvents declares, per entity, the Touch of the events the sync_family_event trigger
// (migration 0031) writes for its rows: sync.<entity>.insert|update|delete|moved.
func rowEvents(byEntity map[string]Touch) map[string]Touch {
	m := map[string]Touch{}
	for entity, t := range byEntity {
		for _, op := range []string{"insert", "update", "delete", "moved"} {
			m["sync."+entity+"."+op] = t
		}
	}
	return m
}

// RootSelf is the Roots query of an entity whose id is its work order's: the relay takes the
// event's entity_id without asking the database.
const RootSelf = `SELECT $1::uuid`

// CTE is a common table expression shared by a binding's sources: SQL is the exact fragment
// (", name AS (...)") as it appears in their SQL, after woScope; Columns its column definitions.
type CTE struct {
	Name    string
	SQL     string
	Columns string
}

// Poll is how the relay follows a family by a version sequence: every pass it reads Head; when it
// grew, Roots($1 = last head relayed, $2 = new head) returns the work orders whose rows changed in
// between, which are relayed like those of a domain event. The window is checked again after
// gapWait for changes that committed late.
type Poll struct {
	Name  string // its cursor's row in domain_event_consumers
	Head  string // SQL returning the newest version (bigint)
	Roots string // SQL returning root ids (text) changed in ($1, $2]
}

// Source returns the binding's source for entity.
func (b Binding) Source(entity string) (Source, bool) {
	for _, s := range b.Sources {
		if s.Entity == entity {
			return s, true
		}
	}
	return Source{}, false
}

// woScope is the CTE of work orders in technician $1's scope (scope.WorkOrdersFamily.Scope),
// limited to the work orders $2 when not NULL.
var woScope = fmt.Sprintf(`WITH wo AS (
	SELECT w.* FROM work_orders w
	 WHERE w.is_active AND w.status <> 'draft'
	   AND (w.status NOT IN ('completed', 'canceled')
	        OR coalesce(w.completed_at, w.canceled_at, w.updated_at) > now() - interval '%d seconds')
	   AND (w.assigned_to = $1::uuid OR EXISTS (SELECT 1 FROM work_order_assignments a WHERE a.work_order_id = w.id AND a.person_id = $1::uuid))
	   AND ($2::uuid[] IS NULL OR w.id = ANY($2::uuid[])))
`, int(scope.ClosedRetention.Seconds()))

const micros = `(extract(epoch FROM %s) * 1000000)::bigint`

func ver(col string) string { return fmt.Sprintf(micros, col) }

// idFilter limits a source to $3.
func idFilter(col string) string { return ` ($3::text[] IS NULL OR ` + col + ` = ANY($3::text[])) ` }

// WorkOrdersBinding binds scope.WorkOrdersFamily to the tables of migration 0010.
func WorkOrdersBinding() Binding {
	byWO := func(table string) string {
		return `SELECT work_order_id FROM ` + table + ` WHERE id = $1`
	}
	return Binding{
		Family:   scope.WorkOrdersFamily,
		Requires: []string{"work_orders", "work_order_assignments", "customers", "sites", "survey_templates", "survey_responses"},
		Roots: map[string]string{
			"work_order":            RootSelf,
			"work_order_note":       byWO("work_order_notes"),
			"work_order_event":      byWO("work_order_events"),
			"field_attachment":      byWO("field_attachments"),
			"work_order_worklog":    byWO("work_order_worklogs"),
			"customer":              `SELECT id FROM work_orders WHERE customer_id = $1`,
			"site":                  `SELECT id FROM work_orders WHERE site_id = $1`,
			"work_order_assignment": RootSelf,
		},
		Touches: map[string]Touch{
			// The office edits a job's text, schedule or tags: the job's own row. Its site (the
			// plant around it), its customer and its work type (the survey template) widen.
			"work_order.updated": {Entities: []string{"work_order"}, Changed: []string{"title", "description", "priority",
				"scheduled_start", "scheduled_end", "estimated_duration_minutes", "access_notes", "tags", "required_skills", "region"}},
			"work_order.note_added": {Entities: []string{"work_order", "work_order_note"},
				Rows: map[string]string{"work_order_note": "note_id"}},
			"work_order.attachment_added": {Entities: []string{"work_order", "field_attachment"},
				Rows: map[string]string{"field_attachment": "attachment_id"}},
			"work_order.worklog_added": {Entities: []string{"work_order", "work_order_worklog"}},
		},
		Sources: []Source{
			{Entity: "work_order", SQL: woScope + `
SELECT w.id, w.id::text, w.version, jsonb_build_object(
	'id', w.id, 'number', w.number, 'title', w.title, 'description', w.description, 'status', w.status,
	'priority', w.priority, 'work_type', w.work_type, 'customer_id', w.customer_id, 'site_id', w.site_id,
	'assigned_to', w.assigned_to, 'scheduled_start', w.scheduled_start, 'scheduled_end', w.scheduled_end,
	'started_at', w.started_at, 'paused_at', w.paused_at, 'resumed_at', w.resumed_at, 'completed_at', w.completed_at,
	'canceled_at', w.canceled_at, 'total_active_seconds', w.total_active_seconds, 'tags', to_jsonb(w.tags),
	'access_notes', w.access_notes, 'site_address', coalesce(s.address, ''), 'site_lat', ST_Y(s.geom), 'site_lon', ST_X(s.geom),
	'survey_template_id', coalesce((SELECT r.template_id FROM survey_responses r WHERE r.work_order_id = w.id),
		(SELECT t.id FROM survey_templates t WHERE t.work_type = w.work_type AND t.is_active)),
	'version', w.version, 'created_at', w.created_at, 'updated_at', w.updated_at)
  FROM wo w LEFT JOIN sites s ON s.id = w.site_id
 WHERE` + idFilter("w.id::text")},
			{Entity: "work_order_assignment", SQL: woScope + `
SELECT a.work_order_id, a.work_order_id::text || ':' || a.person_id::text, ` + ver("a.assigned_at") + `, jsonb_build_object(
	'id', a.work_order_id::text || ':' || a.person_id::text, 'work_order_id', a.work_order_id, 'person_id', a.person_id,
	'person_name', coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name)),
	'role', a.role, 'is_primary', a.is_primary, 'assigned_at', a.assigned_at)
  FROM wo JOIN work_order_assignments a ON a.work_order_id = wo.id JOIN people p ON p.id = a.person_id
 WHERE` + idFilter("a.work_order_id::text || ':' || a.person_id::text")},
			{Entity: "customer", Shared: true, SQL: woScope + `
SELECT DISTINCT ON (c.id) wo.id, c.id::text, ` + ver("c.updated_at") + `, jsonb_build_object(
	'id', c.id, 'number', c.number, 'name', c.name, 'phone', c.phone, 'email', c.email, 'address', c.address,
	'updated_at', c.updated_at)
  FROM wo JOIN customers c ON c.id = wo.customer_id
 WHERE` + idFilter("c.id::text") + ` ORDER BY c.id, wo.id`},
			{Entity: "site", Shared: true, SQL: woScope + `
SELECT DISTINCT ON (st.id) wo.id, st.id::text, ` + ver("st.updated_at") + `, jsonb_build_object(
	'id', st.id, 'customer_id', st.customer_id, 'label', st.label, 'address', st.address, 'lat', ST_Y(st.geom),
	'lon', ST_X(st.geom), 'access_notes', st.access_notes, 'updated_at', st.updated_at)
  FROM wo JOIN sites st ON st.id = wo.site_id
 WHERE` + idFilter("st.id::text") + ` ORDER BY st.id, wo.id`},
			{Entity: "work_order_event", SQL: woScope + `
SELECT e.work_order_id, e.id::text, 1, jsonb_build_object(
	'id', e.id, 'work_order_id', e.work_order_id, 'event', e.event, 'from_status', e.from_status, 'to_status', e.to_status,
	'actor_id', e.actor_id, 'lat', e.lat, 'lon', e.lon, 'note', e.note, 'occurred_at', e.occurred_at,
	'received_at', e.received_at, 'clock_skew', e.clock_skew, 'client_event_id', e.client_event_id,
	'device_id', e.device_id, 'payload', e.payload)
  FROM wo JOIN work_order_events e ON e.work_order_id = wo.id
 WHERE` + idFilter("e.id::text")},
			{Entity: "work_order_note", SQL: woScope + `
SELECT n.work_order_id, n.id::text, 1, jsonb_build_object(
	'id', n.id, 'work_order_id', n.work_order_id, 'body', n.body, 'author_id', n.author_id,
	'author_name', coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name), ''),
	'is_internal', n.is_internal, 'client_ref', n.client_ref, 'device_id', n.device_id, 'created_at', n.created_at)
  FROM wo JOIN work_order_notes n ON n.work_order_id = wo.id LEFT JOIN people p ON p.id = n.author_id
 WHERE` + idFilter("n.id::text")},
			{Entity: "field_attachment", SQL: woScope + `
SELECT f.work_order_id, f.id::text, 1, jsonb_build_object(
	'id', f.id, 'work_order_id', f.work_order_id, 'kind', f.kind, 'storage_key', f.storage_key, 'file_name', f.file_name, 'mime', f.mime,
	'size', f.size, 'url', '/api/v1/field/attachments/' || f.id::text || '/content', 'captured_at', f.captured_at,
	'client_ref', f.client_ref, 'signer_name', f.signer_name, 'lat', f.lat, 'lon', f.lon, 'is_active', f.is_active,
	'created_at', f.created_at)
  FROM wo JOIN field_attachments f ON f.work_order_id = wo.id AND f.is_active
 WHERE` + idFilter("f.id::text")},
			{Entity: "work_order_worklog", SQL: woScope + `
SELECT l.work_order_id, l.id::text, ` + ver("coalesce(l.ended_at, l.started_at)") + `, jsonb_build_object(
	'id', l.id, 'work_order_id', l.work_order_id, 'person_id', l.person_id, 'started_at', l.started_at,
	'ended_at', l.ended_at, 'minutes', CASE WHEN l.ended_at IS NULL THEN NULL
	                                   ELSE floor(extract(epoch FROM l.ended_at - l.started_at) / 60)::int END,
	'source', l.source, 'note', l.note, 'client_ref', l.client_ref)
  FROM wo JOIN work_order_worklogs l ON l.work_order_id = wo.id
 WHERE` + idFilter("l.id::text")},
		},
	}
}

// DefaultBindings are the families the hub replicates: work orders, materials, surveys and the
// fiber plant around the jobs (families.go). A new family is one more Binding here.
func DefaultBindings() []Binding {
	return []Binding{WorkOrdersBinding(), MaterialsBinding(), SurveysBinding(), FiberBinding()}
}

// validateBindings checks that each binding names only its family's entities.
func validateBindings(bs []Binding) error {
	for _, b := range bs {
		for _, src := range b.Sources {
			if _, ok := b.Family.Entity(src.Entity); !ok {
				return fmt.Errorf("syncsvc: binding %s: %s is not an entity of the family", b.Family.Name, src.Entity)
			}
			if !strings.Contains(src.SQL, "$3") {
				return fmt.Errorf("syncsvc: binding %s: the SQL of %s does not use $3", b.Family.Name, src.Entity)
			}
		}
	}
	return nil
}
