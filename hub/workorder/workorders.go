package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// woListCols are the columns of a work order without its crew.
const woListCols = `w.id, w.number, w.title, w.description, w.status, w.priority, w.work_type, w.customer_id, coalesce(c.name, ''),
	w.site_id, coalesce(s.address, ''), ST_Y(s.geom), ST_X(s.geom), w.ticket_id, w.project_id, w.assigned_to, coalesce(p.display_name, ''),
	w.scheduled_start, w.scheduled_end, w.estimated_duration_minutes, w.started_at, w.paused_at, w.resumed_at, w.completed_at,
	w.canceled_at, w.total_active_seconds, w.required_skills::text[], w.tags, w.access_notes, w.region, w.version, w.is_active,
	w.created_by, w.created_at, w.updated_at`

// woCols add the crew as JSON (for single rows; lists fetch a page's crews in one query).
const woCols = woListCols + `,
	coalesce((SELECT json_agg(json_build_object('person_id', a.person_id, 'name', ap.display_name, 'role', a.role,
		'is_primary', a.is_primary) ORDER BY a.is_primary DESC, ap.display_name)
		FROM work_order_assignments a JOIN people ap ON ap.id = a.person_id WHERE a.work_order_id = w.id), '[]')`

const woFrom = ` FROM work_orders w LEFT JOIN customers c ON c.id = w.customer_id LEFT JOIN sites s ON s.id = w.site_id
	LEFT JOIN people p ON p.id = w.assigned_to`

func woListDest(w *WorkOrder) []any {
	return []any{&w.ID, &w.Number, &w.Title, &w.Description, &w.Status, &w.Priority, &w.WorkType, &w.CustomerID, &w.CustomerName,
		&w.Site.ID, &w.Site.Address, &w.Site.Lat, &w.Site.Lon, &w.TicketID, &w.ProjectID, &w.AssignedTo, &w.AssignedToName,
		&w.ScheduledStart, &w.ScheduledEnd, &w.EstimatedDurationMinutes, &w.StartedAt, &w.PausedAt, &w.ResumedAt, &w.CompletedAt,
		&w.CanceledAt, &w.TotalActiveSeconds, &w.RequiredSkills, &w.Tags, &w.AccessNotes, &w.Region, &w.Version, &w.IsActive,
		&w.CreatedBy, &w.CreatedAt, &w.UpdatedAt}
}

func (w *WorkOrder) fillEmpty() {
	if w.Tags == nil {
		w.Tags = []string{}
	}
	if w.RequiredSkills == nil {
		w.RequiredSkills = []string{}
	}
	if w.Crew == nil {
		w.Crew = []CrewMember{}
	}
}

// scanWOList scans woListCols.
func scanWOList(row pgx.Row, w *WorkOrder) error {
	if err := row.Scan(woListDest(w)...); err != nil {
		return err
	}
	w.fillEmpty()
	return nil
}

func scanWO(row pgx.Row) (*WorkOrder, error) {
	var w WorkOrder
	var crew []byte
	err := row.Scan(append(woListDest(&w), &crew)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("work order")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(crew, &w.Crew); err != nil {
		return nil, err
	}
	w.fillEmpty()
	return &w, nil
}

// FindWorkOrderByID returns an active work order.
func (s *Service) FindWorkOrderByID(ctx context.Context, id string) (*WorkOrder, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("work order")
	}
	return scanWO(s.DB.Pool.QueryRow(ctx, `SELECT `+woCols+woFrom+` WHERE w.id = $1 AND w.is_active`, id))
}

func findWOTx(ctx context.Context, q Querier, id string) (*WorkOrder, error) {
	return scanWO(q.QueryRow(ctx, `SELECT `+woCols+woFrom+` WHERE w.id = $1`, id))
}

// ParseFilter reads the list filters from query values (status may repeat or be comma-separated;
// assigned_to "none" selects unassigned work).
func ParseFilter(get func(string) string, getAll func(string) []string) (Filter, error) {
	f := hub.Fields{}
	var out Filter
	for _, v := range getAll("status") {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			if !validStatus(st) {
				f.Add("status", "must be one of "+strings.Join(Statuses, ", "))
			}
			out.Status = append(out.Status, st)
		}
	}
	out.AssignedTo = strings.TrimSpace(get("assigned_to"))
	if out.AssignedTo != "" && out.AssignedTo != "none" && !postgres.ValidUUID(out.AssignedTo) {
		f.Add("assigned_to", "must be a UUID or none")
	}
	out.CustomerID = strings.TrimSpace(get("customer_id"))
	checkUUID(f, "customer_id", &out.CustomerID)
	from, to := get("from"), get("to")
	out.From = parseTime(f, "from", &from)
	out.To = parseTime(f, "to", &to)
	if out.From != nil && out.To != nil && !out.To.After(*out.From) {
		f.Add("to", "must be after from")
	}
	out.Query = strings.TrimSpace(get("q"))
	checkLen(f, "q", out.Query, 200)
	out.Priority = get("priority")
	checkEnum(f, "priority", out.Priority, Priorities)
	out.WorkType = get("work_type")
	checkEnum(f, "work_type", out.WorkType, WorkTypes)
	return out, f.Err()
}

func (f Filter) where() *where {
	var w where
	w.add("w.is_active")
	if len(f.Status) == 1 {
		w.add("w.status = ?", f.Status[0])
	} else if len(f.Status) > 1 {
		w.add("w.status = ANY(?)", f.Status)
	}
	switch f.AssignedTo {
	case "":
	case "none":
		w.add("w.assigned_to IS NULL")
	default:
		w.add("w.assigned_to = ?", f.AssignedTo)
	}
	if f.CustomerID != "" {
		w.add("w.customer_id = ?", f.CustomerID)
	}
	if f.From != nil {
		w.add("w.scheduled_start >= ?", *f.From)
	}
	if f.To != nil {
		w.add("w.scheduled_start < ?", *f.To)
	}
	if f.Priority != "" {
		w.add("w.priority = ?", f.Priority)
	}
	if f.WorkType != "" {
		w.add("w.work_type = ?", f.WorkType)
	}
	if f.Query != "" {
		like := "%" + likeEscape(f.Query) + "%"
		w.add("(w.number ILIKE ? OR w.title ILIKE ? OR EXISTS (SELECT 1 FROM customers qc WHERE qc.id = w.customer_id AND qc.name ILIKE ?))", like, like, like)
	}
	return &w
}

// FindWorkOrders lists active work orders in schedule order (unscheduled last, then by id, so
// pages are stable); the total counts every match. Pages come from the list cache while nothing
// they show has changed (listcache.go); the slice is the caller's to change.
func (s *Service) FindWorkOrders(ctx context.Context, f Filter) ([]WorkOrder, int, error) {
	p, err := s.findPage(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	return slices.Clone(p.items), p.total, nil
}

// ListEnvelope returns the API list envelope of a page as JSON, encoded once per cached page.
func (s *Service) ListEnvelope(ctx context.Context, f Filter) ([]byte, error) {
	p, err := s.findPage(ctx, f)
	if err != nil {
		return nil, err
	}
	if b := p.envelope(f.Limit, f.Offset); b != nil {
		return b, nil
	}
	return nil, errors.New("work-order list: encode failed")
}

func (s *Service) findPage(ctx context.Context, f Filter) (*listPage, error) {
	key := f.key()
	if p := s.list.get(key); p != nil {
		return p, nil
	}
	gen := s.list.gen.Load()
	// Readers that miss the same page at once (every open board right after a write) share one
	// query. The query runs on its own context so one caller leaving does not fail the others.
	v, err, _ := s.list.flight.Do(strconv.FormatUint(gen, 10)+"|"+key, func() (any, error) {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		items, total, err := s.queryWorkOrders(qctx, f)
		if err != nil {
			return nil, err
		}
		return s.list.put(key, gen, items, total), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*listPage), nil
}

func (s *Service) queryWorkOrders(ctx context.Context, f Filter) ([]WorkOrder, int, error) {
	w := f.where()
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM work_orders w WHERE `+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || f.Offset >= total {
		return []WorkOrder{}, total, nil
	}
	lim, off := w.arg(f.Limit), w.arg(f.Offset)
	// Page the ids on work_orders alone (index order), then join the display columns for the
	// page; the crews of the whole page come in one more query.
	rows, err := s.DB.Pool.Query(ctx, `WITH page AS (SELECT w.id, w.scheduled_start FROM work_orders w WHERE `+w.sql()+
		` ORDER BY w.scheduled_start NULLS LAST, w.id LIMIT `+lim+` OFFSET `+off+`)
		SELECT `+woListCols+` FROM page JOIN work_orders w ON w.id = page.id LEFT JOIN customers c ON c.id = w.customer_id
		LEFT JOIN sites s ON s.id = w.site_id LEFT JOIN people p ON p.id = w.assigned_to
		ORDER BY page.scheduled_start NULLS LAST, page.id`, w.args...)
	if err != nil {
		return nil, 0, err
	}
	out := make([]WorkOrder, 0, f.Limit)
	byID := make(map[string]int, f.Limit)
	ids := make([]string, 0, f.Limit)
	for rows.Next() {
		var wo WorkOrder
		if err := scanWOList(rows, &wo); err != nil {
			rows.Close()
			return nil, 0, err
		}
		byID[wo.ID] = len(out)
		ids = append(ids, wo.ID)
		out = append(out, wo)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	crew, err := s.DB.Pool.Query(ctx, `SELECT a.work_order_id, a.person_id, ap.display_name, a.role, a.is_primary
		FROM work_order_assignments a JOIN people ap ON ap.id = a.person_id WHERE a.work_order_id = ANY($1::uuid[])
		ORDER BY a.work_order_id, a.is_primary DESC, ap.display_name`, ids)
	if err != nil {
		return nil, 0, err
	}
	defer crew.Close()
	for crew.Next() {
		var woID string
		var m CrewMember
		if err := crew.Scan(&woID, &m.PersonID, &m.Name, &m.Role, &m.IsPrimary); err != nil {
			return nil, 0, err
		}
		if i, ok := byID[woID]; ok {
			out[i].Crew = append(out[i].Crew, m)
		}
	}
	return out, total, crew.Err()
}

// locked is the state of a work order row locked for change.
type locked struct {
	ID, Number, Title, Status string
	Version                   int64
	AssignedTo                *string
	Crew                      []string // helpers (not the primary)
	CustomerID                *string
	ScheduledStart            *time.Time
	ScheduledEnd              *time.Time
}

func (l *locked) payload() EventPayload {
	return EventPayload{ID: l.ID, Number: l.Number, Version: l.Version, Status: l.Status, AssignedTo: l.AssignedTo,
		Crew: l.Crew, ScheduledStart: l.ScheduledStart, ScheduledEnd: l.ScheduledEnd, Title: l.Title, CustomerID: l.CustomerID}
}

// lockWO locks an active work order FOR UPDATE.
func lockWO(ctx context.Context, tx pgx.Tx, id string) (*locked, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("work order")
	}
	var l locked
	err := l.scan(tx.QueryRow(ctx, `SELECT `+lockedCols+` FROM work_orders WHERE id = $1 AND is_active FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("work order")
	}
	if err != nil {
		return nil, err
	}
	l.Crew, err = helpers(ctx, tx, id)
	return &l, err
}

// lockedCols are the columns of work_orders locked.scan reads.
const lockedCols = `id, number, title, status, version, assigned_to, customer_id, scheduled_start, scheduled_end`

func (l *locked) scan(row pgx.Row) error {
	return row.Scan(&l.ID, &l.Number, &l.Title, &l.Status, &l.Version, &l.AssignedTo, &l.CustomerID, &l.ScheduledStart, &l.ScheduledEnd)
}

// helpersSQL lists the helpers of the work orders $1::uuid[] (work_order_id, person_id), each
// job's in the order helpers returns them.
const helpersSQL = `SELECT work_order_id::text, person_id::text FROM work_order_assignments WHERE work_order_id = ANY($1::uuid[]) AND NOT is_primary
	ORDER BY work_order_id, person_id`

func helpers(ctx context.Context, q Querier, id string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT person_id::text FROM work_order_assignments WHERE work_order_id = $1 AND NOT is_primary ORDER BY person_id`, id)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, err
}

// checkVersion answers 409 when the caller's version is stale.
func (l *locked) checkVersion(v *int64) error {
	if v != nil && *v != l.Version {
		return &hub.Error{Code: hub.ECONFLICT,
			Message: fmt.Sprintf("work order %s was changed by someone else (it is at version %d, you sent %d): reload it and try again", l.Number, l.Version, *v),
			Fields:  map[string]string{"version": fmt.Sprintf("is %d now", l.Version)}}
	}
	return nil
}

// bump increments the version (and updated_at) of a locked work order.
func bump(ctx context.Context, tx pgx.Tx, l *locked) error {
	return tx.QueryRow(ctx, `UPDATE work_orders SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version`, l.ID).Scan(&l.Version)
}

// checkTechnicians reports field errors for ids that are not active technicians.
func checkTechnicians(ctx context.Context, q Querier, f hub.Fields, field string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT person_id::text FROM technician_profiles tp JOIN people p ON p.id = tp.person_id
		WHERE tp.person_id = ANY($1::uuid[]) AND tp.is_active AND p.status = 'active'`, ids)
	if err != nil {
		return err
	}
	ok, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(ok, id) {
			f.Add(field, "is not an active technician: "+id)
		}
	}
	return nil
}

type woInput struct {
	start, end *time.Time
}

func (in *WorkOrderCreate) validate() (woInput, error) {
	f := hub.Fields{}
	var out woInput
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		f.Add("title", "is required")
	}
	checkLen(f, "title", in.Title, 200)
	checkLen(f, "description", in.Description, 10000)
	checkLen(f, "access_notes", in.AccessNotes, 2000)
	checkEnum(f, "work_type", in.WorkType, WorkTypes)
	checkEnum(f, "priority", in.Priority, Priorities)
	switch in.Status {
	case "", "draft", "scheduled", "dispatched":
	default:
		if validStatus(in.Status) {
			f.Add("status", "a new work order is draft, scheduled or dispatched")
		} else {
			f.Add("status", "must be one of draft, scheduled, dispatched")
		}
	}
	checkUUID(f, "customer_id", in.CustomerID)
	checkUUID(f, "site_id", in.SiteID)
	checkUUID(f, "ticket_id", in.TicketID)
	checkUUID(f, "project_id", in.ProjectID)
	checkUUID(f, "assigned_to", in.AssignedTo)
	for i := range in.Crew {
		checkUUID(f, "crew", &in.Crew[i])
	}
	for i := range in.RequiredSkills {
		checkUUID(f, "required_skills", &in.RequiredSkills[i])
	}
	if in.Site != nil {
		checkCoords(f, "site.", in.Site.Lat, in.Site.Lon)
		checkLen(f, "site.address", in.Site.Address, 500)
	}
	out.start = parseTime(f, "scheduled_start", in.ScheduledStart)
	out.end = parseTime(f, "scheduled_end", in.ScheduledEnd)
	if out.start != nil && out.end != nil && !out.end.After(*out.start) {
		f.Add("scheduled_end", "must be after scheduled_start")
	}
	if out.end != nil && out.start == nil && f["scheduled_start"] == "" {
		f.Add("scheduled_start", "is required with scheduled_end")
	}
	if in.EstimatedDurationMinutes != nil && (*in.EstimatedDurationMinutes < 1 || *in.EstimatedDurationMinutes > 7*24*60) {
		f.Add("estimated_duration_minutes", "must be from 1 to 10080")
	}
	if len(in.Tags) > 20 {
		f.Add("tags", "at most 20 tags")
	}
	for _, t := range in.Tags {
		if strings.TrimSpace(t) == "" || len(t) > 50 {
			f.Add("tags", "each tag has 1 to 50 characters")
		}
	}
	return out, f.Err()
}

// CreateWorkOrder creates a work order (WO-000001), its site when given inline, and its crew.
func (s *Service) CreateWorkOrder(ctx context.Context, in WorkOrderCreate, actorID string) (*WorkOrder, error) {
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = s.CreateWorkOrderTx(ctx, tx, in, actorID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindWorkOrderByID(ctx, id)
}

// CreateWorkOrderTx is CreateWorkOrder inside tx (the demo seed and the sync applier use it).
func (s *Service) CreateWorkOrderTx(ctx context.Context, tx pgx.Tx, in WorkOrderCreate, actorID string) (string, error) {
	v, err := in.validate()
	if err != nil {
		return "", err
	}
	in.AssignedTo = nilIfEmpty(in.AssignedTo)
	crew := dedupe(in.Crew, in.AssignedTo)
	f := hub.Fields{}
	if in.CustomerID != nil {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)`, *in.CustomerID).Scan(&ok); err != nil {
			return "", err
		}
		if !ok {
			f.Add("customer_id", "no such customer")
		}
	}
	if in.SiteID != nil {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)`, *in.SiteID).Scan(&ok); err != nil {
			return "", err
		}
		if !ok {
			f.Add("site_id", "no such site")
		}
	}
	if in.AssignedTo != nil {
		if err := checkTechnicians(ctx, tx, f, "assigned_to", []string{*in.AssignedTo}); err != nil {
			return "", err
		}
	} else if len(crew) > 0 {
		f.Add("crew", "a crew needs a primary technician (assigned_to)")
	}
	if err := checkTechnicians(ctx, tx, f, "crew", crew); err != nil {
		return "", err
	}
	if err := checkSkills(ctx, tx, f, in.RequiredSkills); err != nil {
		return "", err
	}
	if err := f.Err(); err != nil {
		return "", err
	}
	siteID := in.SiteID
	if siteID == nil && in.Site != nil && (in.Site.Address != "" || in.Site.Lat != nil) {
		id, err := insertSite(ctx, tx, in.CustomerID, "", in.Site.Address, in.Site.Lat, in.Site.Lon, "")
		if err != nil {
			return "", err
		}
		siteID = &id
	}
	if siteID == nil && in.CustomerID != nil {
		var sid *string
		if err := tx.QueryRow(ctx, `SELECT (SELECT id FROM sites WHERE customer_id = $1 ORDER BY created_at, id LIMIT 1)`, *in.CustomerID).Scan(&sid); err != nil {
			return "", err
		}
		siteID = sid
	}
	status := in.Status
	if status == "" {
		status = "draft"
		if v.start != nil {
			status = "scheduled"
		}
	}
	if in.WorkType == "" {
		in.WorkType = "other"
	}
	if in.Priority == "" {
		in.Priority = "normal"
	}
	if in.Region == "" && in.CustomerID != nil {
		if err := tx.QueryRow(ctx, `SELECT region FROM customers WHERE id = $1`, *in.CustomerID).Scan(&in.Region); err != nil {
			return "", err
		}
	}
	num, err := postgres.NextNumber(ctx, tx, "work_order", "WO")
	if err != nil {
		return "", err
	}
	id := postgres.NewID()
	var creator *string
	if actorID != "" {
		creator = &actorID
	}
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	skills := in.RequiredSkills
	if skills == nil {
		skills = []string{}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO work_orders (id, number, title, description, status, priority, work_type, customer_id, site_id,
		ticket_id, project_id, assigned_to, scheduled_start, scheduled_end, estimated_duration_minutes, required_skills, tags, access_notes,
		region, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::uuid[], $17, $18, $19, $20)`,
		id, num, in.Title, in.Description, status, in.Priority, in.WorkType, in.CustomerID, siteID, in.TicketID, in.ProjectID,
		in.AssignedTo, v.start, v.end, in.EstimatedDurationMinutes, skills, tags, in.AccessNotes, in.Region, creator); err != nil {
		return "", postgres.Translate(err)
	}
	if err := setCrew(ctx, tx, id, in.AssignedTo, crew); err != nil {
		return "", err
	}
	l := &locked{ID: id, Number: num, Title: in.Title, Status: status, Version: 1, AssignedTo: in.AssignedTo, Crew: crew,
		CustomerID: in.CustomerID, ScheduledStart: v.start, ScheduledEnd: v.end}
	if err := writeEvent(ctx, tx, TopicCreated, actorID, l.payload()); err != nil {
		return "", err
	}
	if in.AssignedTo != nil {
		if err := writeEvent(ctx, tx, TopicAssigned, actorID, l.payload()); err != nil {
			return "", err
		}
	}
	return id, nil
}

func dedupe(ids []string, primary *string) []string {
	out := []string{}
	for _, id := range ids {
		if id == "" || (primary != nil && id == *primary) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func checkSkills(ctx context.Context, q Querier, f hub.Fields, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM skills WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil {
		return err
	}
	if n != len(dedupe(ids, nil)) {
		f.Add("required_skills", "names a skill that does not exist")
	}
	return nil
}

// setCrew replaces a work order's assignments: the primary (role primary) and the helpers.
func setCrew(ctx context.Context, tx pgx.Tx, id string, primary *string, crew []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM work_order_assignments WHERE work_order_id = $1`, id); err != nil {
		return err
	}
	if primary == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary)
		SELECT $1::uuid, $2::uuid, 'primary', true UNION ALL SELECT $1::uuid, unnest($3::uuid[]), 'helper', false`, id, *primary, crew)
	return err
}

// UpdateWorkOrder applies office edits. A stale version is a 409; schedule checks see the merged
// values (scheduled_end > scheduled_start).
func (s *Service) UpdateWorkOrder(ctx context.Context, id string, upd WorkOrderUpdate, actorID string) (*WorkOrder, error) {
	f := hub.Fields{}
	var changed []string
	note := func(name string, set bool) {
		if set {
			changed = append(changed, name)
		}
	}
	if upd.Title != nil {
		*upd.Title = strings.TrimSpace(*upd.Title)
		if *upd.Title == "" {
			f.Add("title", "is required")
		}
		checkLen(f, "title", *upd.Title, 200)
	}
	if upd.Description != nil {
		checkLen(f, "description", *upd.Description, 10000)
	}
	if upd.AccessNotes != nil {
		checkLen(f, "access_notes", *upd.AccessNotes, 2000)
	}
	if upd.WorkType != nil {
		if *upd.WorkType == "" {
			f.Add("work_type", "must be one of "+strings.Join(WorkTypes, ", "))
		}
		checkEnum(f, "work_type", *upd.WorkType, WorkTypes)
	}
	if upd.Priority != nil {
		if *upd.Priority == "" {
			f.Add("priority", "must be one of "+strings.Join(Priorities, ", "))
		}
		checkEnum(f, "priority", *upd.Priority, Priorities)
	}
	checkUUID(f, "customer_id", upd.CustomerID)
	checkUUID(f, "site_id", upd.SiteID)
	if upd.Site != nil {
		checkCoords(f, "site.", upd.Site.Lat, upd.Site.Lon)
	}
	start, end := parseTime(f, "scheduled_start", upd.ScheduledStart), parseTime(f, "scheduled_end", upd.ScheduledEnd)
	if upd.EstimatedDurationMinutes != nil && (*upd.EstimatedDurationMinutes < 1 || *upd.EstimatedDurationMinutes > 7*24*60) {
		f.Add("estimated_duration_minutes", "must be from 1 to 10080")
	}
	if upd.RequiredSkills != nil {
		for i := range *upd.RequiredSkills {
			checkUUID(f, "required_skills", &(*upd.RequiredSkills)[i])
		}
	}
	if upd.Tags != nil {
		for _, t := range *upd.Tags {
			if strings.TrimSpace(t) == "" || len(t) > 50 {
				f.Add("tags", "each tag has 1 to 50 characters")
			}
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		l, err := lockWO(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := l.checkVersion(upd.Version); err != nil {
			return err
		}
		ns, ne := l.ScheduledStart, l.ScheduledEnd
		if start != nil {
			ns = start
		}
		if end != nil {
			ne = end
		}
		f := hub.Fields{}
		if ns != nil && ne != nil && !ne.After(*ns) {
			f.Add("scheduled_end", "must be after scheduled_start")
		}
		if upd.CustomerID != nil && *upd.CustomerID != "" {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)`, *upd.CustomerID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				f.Add("customer_id", "no such customer")
			}
		}
		if upd.RequiredSkills != nil {
			if err := checkSkills(ctx, tx, f, *upd.RequiredSkills); err != nil {
				return err
			}
		}
		if err := f.Err(); err != nil {
			return err
		}
		siteID := nilIfEmpty(upd.SiteID)
		if siteID == nil && upd.Site != nil {
			cust := l.CustomerID
			if upd.CustomerID != nil {
				cust = nilIfEmpty(upd.CustomerID)
			}
			sid, err := insertSite(ctx, tx, cust, "", upd.Site.Address, upd.Site.Lat, upd.Site.Lon, "")
			if err != nil {
				return err
			}
			siteID = &sid
		}
		var tags, skills any
		if upd.Tags != nil {
			tags = *upd.Tags
		}
		if upd.RequiredSkills != nil {
			skills = *upd.RequiredSkills
		}
		_, err = tx.Exec(ctx, `UPDATE work_orders SET title = coalesce($2, title), description = coalesce($3, description),
			work_type = coalesce($4, work_type), priority = coalesce($5, priority),
			customer_id = CASE WHEN $6::text IS NULL THEN customer_id ELSE nullif($6, '')::uuid END,
			site_id = coalesce($7, site_id), scheduled_start = coalesce($8, scheduled_start), scheduled_end = coalesce($9, scheduled_end),
			estimated_duration_minutes = coalesce($10, estimated_duration_minutes), access_notes = coalesce($11, access_notes),
			tags = coalesce($12::text[], tags), required_skills = coalesce($13::uuid[], required_skills), region = coalesce($14, region),
			version = version + 1, updated_at = now() WHERE id = $1`,
			id, upd.Title, upd.Description, upd.WorkType, upd.Priority, upd.CustomerID, siteID, start, end,
			upd.EstimatedDurationMinutes, upd.AccessNotes, tags, skills, upd.Region)
		if err != nil {
			return postgres.Translate(err)
		}
		l.Version++
		l.ScheduledStart, l.ScheduledEnd = ns, ne
		note("title", upd.Title != nil)
		note("description", upd.Description != nil)
		note("work_type", upd.WorkType != nil)
		note("priority", upd.Priority != nil)
		note("customer_id", upd.CustomerID != nil)
		note("site", siteID != nil)
		note("scheduled_start", start != nil)
		note("scheduled_end", end != nil)
		note("estimated_duration_minutes", upd.EstimatedDurationMinutes != nil)
		note("access_notes", upd.AccessNotes != nil)
		note("tags", upd.Tags != nil)
		note("required_skills", upd.RequiredSkills != nil)
		note("region", upd.Region != nil)
		p := l.payload()
		p.Changed = changed
		if p.Changed == nil {
			p.Changed = []string{}
		}
		return writeEvent(ctx, tx, TopicUpdated, actorID, p)
	})
	if err != nil {
		return nil, err
	}
	return s.FindWorkOrderByID(ctx, id)
}

// AssignWorkOrder sets (or, with an empty assigned_to, clears) the primary technician and the
// crew. With req.Version set, a concurrent change makes it a 409 instead of a lost update.
func (s *Service) AssignWorkOrder(ctx context.Context, id string, req AssignRequest, actorID string) (*WorkOrder, error) {
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error { return s.AssignWorkOrderTx(ctx, tx, id, req, actorID) })
	if err != nil {
		return nil, err
	}
	return s.FindWorkOrderByID(ctx, id)
}

// AssignWorkOrderTx is AssignWorkOrder inside tx (auto-assign in dispatch uses it).
func (s *Service) AssignWorkOrderTx(ctx context.Context, tx pgx.Tx, id string, req AssignRequest, actorID string) error {
	f := hub.Fields{}
	checkUUID(f, "assigned_to", req.AssignedTo)
	for i := range req.Crew {
		checkUUID(f, "crew", &req.Crew[i])
	}
	if err := f.Err(); err != nil {
		return err
	}
	primary := nilIfEmpty(req.AssignedTo)
	crew := dedupe(req.Crew, primary)
	if primary == nil && len(crew) > 0 {
		return hub.Invalid(map[string]string{"crew": "a crew needs a primary technician (assigned_to)"})
	}
	l, err := lockWO(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := l.checkVersion(req.Version); err != nil {
		return err
	}
	if l.Status == "completed" || l.Status == "canceled" {
		return hub.Errorf(hub.ECONFLICT, "work order %s is %s: it cannot be reassigned", l.Number, l.Status)
	}
	if primary != nil {
		if err := checkTechnicians(ctx, tx, f, "assigned_to", []string{*primary}); err != nil {
			return err
		}
	}
	if err := checkTechnicians(ctx, tx, f, "crew", crew); err != nil {
		return err
	}
	if err := f.Err(); err != nil {
		return err
	}
	prev, prevCrew := l.AssignedTo, l.Crew
	if _, err := tx.Exec(ctx, `UPDATE work_orders SET assigned_to = $2, version = version + 1, updated_at = now() WHERE id = $1`, id, primary); err != nil {
		return err
	}
	l.Version++
	if err := setCrew(ctx, tx, id, primary, crew); err != nil {
		return err
	}
	l.AssignedTo, l.Crew = primary, crew
	p := l.payload()
	p.PreviousAssignedTo, p.PreviousCrew = prev, prevCrew
	topic := TopicAssigned
	if primary == nil {
		topic = TopicUnassigned
	}
	if err := writeEvent(ctx, tx, topic, actorID, p); err != nil {
		return err
	}
	return audit(ctx, tx, actorID, topic, "work_order", id, map[string]any{"assigned_to": primary, "previous": prev, "crew": crew})
}

// TransitionWorkOrder changes the status from the office through the workflow rules (§3.4):
// while no active rule exists every change is allowed; otherwise the (from, to) pair must be a
// rule, with a note when the rule asks for one.
func (s *Service) TransitionWorkOrder(ctx context.Context, id string, req TransitionRequest, actorID string) (*WorkOrder, error) {
	f := hub.Fields{}
	if req.ToStatus == "" {
		f.Add("to_status", "is required")
	} else if !validStatus(req.ToStatus) {
		f.Add("to_status", "must be one of "+strings.Join(Statuses, ", "))
	}
	checkLen(f, "note", req.Note, 10000)
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		l, err := lockWO(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := l.checkVersion(req.Version); err != nil {
			return err
		}
		if l.Status == req.ToStatus {
			return hub.Errorf(hub.ECONFLICT, "work order %s is already %s", l.Number, strings.ReplaceAll(req.ToStatus, "_", " "))
		}
		var anyRule bool
		var requiresNote *bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_order_status_transitions WHERE is_active),
			(SELECT requires_note FROM work_order_status_transitions WHERE is_active AND from_status = $1 AND to_status = $2)`,
			l.Status, req.ToStatus).Scan(&anyRule, &requiresNote); err != nil {
			return err
		}
		if anyRule && requiresNote == nil {
			return &hub.Error{Code: hub.EINVALID, Message: fmt.Sprintf("transition not allowed: %s → %s", l.Status, req.ToStatus),
				Fields: map[string]string{"to_status": fmt.Sprintf("cannot go from %s to %s", l.Status, req.ToStatus)}}
		}
		if requiresNote != nil && *requiresNote && strings.TrimSpace(req.Note) == "" {
			return hub.Invalid(map[string]string{"note": "is required for this transition"})
		}
		return s.setStatus(ctx, tx, l, req.ToStatus, req.Note, actorID)
	})
	if err != nil {
		return nil, err
	}
	return s.FindWorkOrderByID(ctx, id)
}

// setStatus moves a locked work order to status to with the timestamp side effects, stops open
// timers when leaving in_progress, bumps the version and writes work_order.status_changed.
func (s *Service) setStatus(ctx context.Context, tx pgx.Tx, l *locked, to, note, actorID string) error {
	from := l.Status
	now := s.now()
	if from == "in_progress" && to != "in_progress" {
		if err := closeTimers(ctx, tx, l.ID, "", now); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE work_orders SET status = $2,
		started_at = CASE WHEN $2 = 'in_progress' THEN coalesce(started_at, $4) ELSE started_at END,
		resumed_at = CASE WHEN $2 = 'in_progress' AND $3 = 'paused' THEN $4 ELSE resumed_at END,
		paused_at = CASE WHEN $2 = 'paused' THEN $4 ELSE paused_at END,
		completed_at = CASE WHEN $2 = 'completed' THEN $4 ELSE completed_at END,
		canceled_at = CASE WHEN $2 = 'canceled' THEN $4 ELSE canceled_at END,
		total_active_seconds = (SELECT coalesce(sum(extract(epoch FROM ended_at - started_at)), 0)::bigint
			FROM work_order_worklogs WHERE work_order_id = $1 AND ended_at IS NOT NULL),
		version = version + 1, updated_at = now() WHERE id = $1`, l.ID, to, from, now); err != nil {
		return err
	}
	l.Version++
	l.Status = to
	p := l.payload()
	p.PreviousStatus = from
	p.Note = note
	if err := writeEvent(ctx, tx, TopicStatusChanged, actorID, p); err != nil {
		return err
	}
	if strings.TrimSpace(note) != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO work_order_notes (id, work_order_id, author_id, body, is_internal) VALUES ($1, $2, $3, $4, true)`,
			postgres.NewID(), l.ID, nilIfEmpty(&actorID), fmt.Sprintf("Status %s → %s: %s", from, to, note)); err != nil {
			return err
		}
	}
	return nil
}

// closeTimers ends the open worklogs of a work order (of one person, or everyone with "") at t
// (kept after the start and within 16 hours of it).
func closeTimers(ctx context.Context, tx pgx.Tx, woID, personID string, t time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE work_order_worklogs SET
		ended_at = least(greatest($3::timestamptz, started_at + interval '1 second'), started_at + interval '16 hours')
		WHERE work_order_id = $1 AND ended_at IS NULL AND ($2 = '' OR person_id::text = $2)`, woID, personID, t)
	return err
}

// AddNote adds an office note.
func (s *Service) AddNote(ctx context.Context, id string, in NoteCreate, actorID string) (*Note, error) {
	f := hub.Fields{}
	if strings.TrimSpace(in.Body) == "" {
		f.Add("body", "is required")
	}
	checkLen(f, "body", in.Body, 10000)
	if err := f.Err(); err != nil {
		return nil, err
	}
	noteID := postgres.NewID()
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		l, err := lockWO(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO work_order_notes (id, work_order_id, author_id, body, is_internal) VALUES ($1, $2, $3, $4, $5)`,
			noteID, id, nilIfEmpty(&actorID), in.Body, in.IsInternal); err != nil {
			return postgres.Translate(err)
		}
		if err := bump(ctx, tx, l); err != nil {
			return err
		}
		p := l.payload()
		p.NoteID = noteID
		return writeEvent(ctx, tx, TopicNoteAdded, actorID, p)
	})
	if err != nil {
		return nil, err
	}
	notes, err := s.FindNotes(ctx, id, true)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		if n.ID == noteID {
			return &n, nil
		}
	}
	return nil, notFound("note")
}

// FindNotes lists a work order's notes, oldest first (internal ones only when internal is true).
func (s *Service) FindNotes(ctx context.Context, id string, internal bool) ([]Note, error) {
	if _, err := s.FindWorkOrderByID(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT n.id, n.work_order_id, n.body, n.author_id, coalesce(p.display_name, ''), n.is_internal,
		n.client_ref, n.device_id, n.created_at FROM work_order_notes n LEFT JOIN people p ON p.id = n.author_id
		WHERE n.work_order_id = $1 AND ($2 OR NOT n.is_internal) ORDER BY n.created_at, n.id`, id, internal)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Note, error) {
		var n Note
		return n, r.Scan(&n.ID, &n.WorkOrder, &n.Body, &n.AuthorID, &n.AuthorName, &n.IsInternal, &n.ClientRef, &n.DeviceID, &n.CreatedAt)
	})
}

// DeleteWorkOrder soft-deletes a work order (it disappears everywhere, the sync relay evicts it).
func (s *Service) DeleteWorkOrder(ctx context.Context, id string, version *int64, actorID string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		l, err := lockWO(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := l.checkVersion(version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE work_orders SET is_active = false, version = version + 1, updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		l.Version++
		if err := writeEvent(ctx, tx, TopicDeleted, actorID, l.payload()); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, "work_order.delete", "work_order", id, map[string]any{"number": l.Number})
	})
}

// Timeline lists a work order's history from its domain events, oldest first.
func (s *Service) Timeline(ctx context.Context, id string) ([]TimelineEntry, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("work order")
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT e.created_at, e.topic, coalesce(p.display_name, 'system'), e.payload
		FROM domain_events e LEFT JOIN people p ON p.id = e.actor_id
		WHERE e.entity_id = $1 AND e.entity = 'work_order' ORDER BY e.id LIMIT 1000`, id)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TimelineEntry, error) {
		var t TimelineEntry
		var raw []byte
		if err := r.Scan(&t.At, &t.Kind, &t.Actor, &raw); err != nil {
			return t, err
		}
		var p EventPayload
		json.Unmarshal(raw, &p)
		json.Unmarshal(raw, &t.Payload)
		t.Summary = summarize(t.Kind, p)
		return t, nil
	})
	return out, err
}

func summarize(topic string, p EventPayload) string {
	switch topic {
	case TopicCreated:
		return "Created as " + label(p.Status)
	case TopicAssigned:
		if p.PreviousAssignedTo != nil {
			return "Reassigned"
		}
		return "Assigned"
	case TopicUnassigned:
		return "Unassigned"
	case TopicStatusChanged:
		s := label(p.PreviousStatus) + " → " + label(p.Status)
		if p.Note != "" {
			s += ": " + p.Note
		}
		return s
	case TopicUpdated:
		return "Edited " + strings.Join(p.Changed, ", ")
	case TopicNoteAdded:
		return "Note added"
	case TopicFieldEvent:
		s := "Field: " + label(p.Event)
		if p.ClockSkew {
			s += " (device clock skewed)"
		}
		return s
	case TopicAttachment:
		return "Attachment added"
	case TopicWorklog:
		return "Time logged"
	case TopicDeleted:
		return "Deleted"
	}
	return topic
}

func label(s string) string { return strings.ReplaceAll(s, "_", " ") }

// TransitionRule is a row of work_order_status_transitions.
type TransitionRule struct {
	FromStatus   string `json:"from_status"`
	ToStatus     string `json:"to_status"`
	RequiresNote bool   `json:"requires_note"`
	IsActive     bool   `json:"is_active"`
}

// FindTransitionRules lists the office workflow rules.
func (s *Service) FindTransitionRules(ctx context.Context) ([]TransitionRule, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT from_status, to_status, requires_note, is_active FROM work_order_status_transitions ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TransitionRule, error) {
		var t TransitionRule
		return t, r.Scan(&t.FromStatus, &t.ToStatus, &t.RequiresNote, &t.IsActive)
	})
}

// SaveTransitionRule adds or changes a rule.
func (s *Service) SaveTransitionRule(ctx context.Context, r TransitionRule, actorID string) error {
	f := hub.Fields{}
	if !validStatus(r.FromStatus) {
		f.Add("from_status", "must be one of "+strings.Join(Statuses, ", "))
	}
	if !validStatus(r.ToStatus) {
		f.Add("to_status", "must be one of "+strings.Join(Statuses, ", "))
	}
	if err := f.Err(); err != nil {
		return err
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO work_order_status_transitions (from_status, to_status, requires_note, is_active) VALUES ($1, $2, $3, $4)
			ON CONFLICT (from_status, to_status) DO UPDATE SET requires_note = EXCLUDED.requires_note, is_active = EXCLUDED.is_active`,
			r.FromStatus, r.ToStatus, r.RequiresNote, r.IsActive); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, "work_order.transition_rule", "work_order_status_transition", r.FromStatus+">"+r.ToStatus, map[string]any{"requires_note": r.RequiresNote, "is_active": r.IsActive})
	})
}

// DeleteTransitionRule removes a rule.
func (s *Service) DeleteTransitionRule(ctx context.Context, from, to string) error {
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM work_order_status_transitions WHERE from_status = $1 AND to_status = $2`, from, to)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("transition rule")
	}
	return err
}
