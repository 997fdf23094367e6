package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

// woData is a work order row as the hub sends it, with the device's overlay on top.
type woData struct {
	ID                 string   `json:"id"`
	Number             string   `json:"number"`
	Title              string   `json:"title"`
	Description        string   `json:"description"`
	Status             string   `json:"status"`
	Priority           string   `json:"priority"`
	WorkType           string   `json:"work_type"`
	CustomerID         *string  `json:"customer_id"`
	AssignedTo         *string  `json:"assigned_to"`
	ScheduledStart     *string  `json:"scheduled_start"`
	ScheduledEnd       *string  `json:"scheduled_end"`
	StartedAt          *string  `json:"started_at"`
	PausedAt           *string  `json:"paused_at"`
	ResumedAt          *string  `json:"resumed_at"`
	CompletedAt        *string  `json:"completed_at"`
	CanceledAt         *string  `json:"canceled_at"`
	TotalActiveSeconds float64  `json:"total_active_seconds"`
	Tags               []string `json:"tags"`
	AccessNotes        string   `json:"access_notes"`
	SiteID             *string  `json:"site_id"`
	SiteAddress        string   `json:"site_address"`
	SiteLat            *float64 `json:"site_lat"`
	SiteLon            *float64 `json:"site_lon"`
	SurveyTemplateID   *string  `json:"survey_template_id"`
}

// woOverlay is what a device's execution events change on a job.
type woOverlay struct {
	Status             string  `json:"status"`
	StartedAt          *string `json:"started_at"`
	PausedAt           *string `json:"paused_at"`
	ResumedAt          *string `json:"resumed_at"`
	CompletedAt        *string `json:"completed_at"`
	CanceledAt         *string `json:"canceled_at"`
	TotalActiveSeconds float64 `json:"total_active_seconds"`
}

func (w woData) overlay() woOverlay {
	return woOverlay{w.Status, w.StartedAt, w.PausedAt, w.ResumedAt, w.CompletedAt, w.CanceledAt, w.TotalActiveSeconds}
}

type job struct {
	woData
	Version int64
}

// loadJob reads a job in scope (not being evicted) with its overlay applied.
func loadJob(ctx context.Context, q querier, id string) (job, error) {
	var (
		data  string
		local sql.NullString
		j     job
	)
	err := q.QueryRowContext(ctx, `SELECT version, data, local FROM work_orders WHERE id = ? AND evicting = 0`, id).Scan(&j.Version, &data, &local)
	if errors.Is(err, sql.ErrNoRows) {
		return job{}, agent.Errorf(agent.ENOTFOUND, "job not found")
	}
	if err != nil {
		return job{}, err
	}
	if err := json.Unmarshal([]byte(data), &j.woData); err != nil {
		return job{}, fmt.Errorf("job %s: %w", id, err)
	}
	if local.Valid {
		_ = json.Unmarshal([]byte(local.String), &j.woData)
	}
	j.ID = id
	return j, nil
}

type assignment struct {
	PersonID   string `json:"person_id"`
	PersonName string `json:"person_name"`
	Role       string `json:"role"`
	IsPrimary  bool   `json:"is_primary"`
}

func loadCrew(ctx context.Context, q querier, woID string) ([]assignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT data FROM work_order_assignments WHERE work_order_id = ? ORDER BY json_extract(data, '$.is_primary') DESC, id`, woID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []assignment
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		var a assignment
		if json.Unmarshal([]byte(s), &a) == nil {
			out = append(out, a)
		}
	}
	return out, rows.Err()
}

// access says whether person may see (member) and drive (primary) the job.
func access(j job, crew []assignment, person string) (member, primary bool) {
	if j.AssignedTo != nil && *j.AssignedTo == person {
		return true, true
	}
	for _, a := range crew {
		if a.PersonID == person {
			return true, a.IsPrimary
		}
	}
	return false, false
}

func timePtr(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, ok := parseTime(*s)
	if !ok {
		return nil
	}
	return field.At(t)
}

func (d *DB) summary(ctx context.Context, q querier, j job, person string) (field.JobSummary, bool, error) {
	crew, err := loadCrew(ctx, q, j.ID)
	if err != nil {
		return field.JobSummary{}, false, err
	}
	member, primary := access(j, crew, person)
	s := field.JobSummary{
		ID: j.ID, Number: j.Number, Title: j.Title, Description: j.Description,
		Status: fieldexec.Status(j.Status), Priority: j.Priority, WorkType: j.WorkType, Version: j.Version,
		ScheduledStart: timePtr(j.ScheduledStart), ScheduledEnd: timePtr(j.ScheduledEnd),
		StartedAt: timePtr(j.StartedAt), PausedAt: timePtr(j.PausedAt), CompletedAt: timePtr(j.CompletedAt),
		TotalActiveSeconds: int64(j.TotalActiveSeconds), AccessNotes: j.AccessNotes, Tags: j.Tags,
		AssignedTo: j.AssignedTo, IsPrimary: primary,
		Site: field.Site{Address: j.SiteAddress, Lat: j.SiteLat, Lon: j.SiteLon},
	}
	for _, a := range crew {
		s.Crew = append(s.Crew, field.CrewMember{PersonID: a.PersonID, Name: a.PersonName, IsPrimary: a.IsPrimary})
	}
	if j.SiteID != nil { // the site's own row is the freshest (a pin moved on the hub)
		var data string
		if err := q.QueryRowContext(ctx, `SELECT data FROM sites WHERE id = ?`, *j.SiteID).Scan(&data); err == nil {
			var st struct {
				Address string   `json:"address"`
				Lat     *float64 `json:"lat"`
				Lon     *float64 `json:"lon"`
			}
			if json.Unmarshal([]byte(data), &st) == nil {
				s.Site = field.Site{Address: cmpOr(st.Address, j.SiteAddress), Lat: st.Lat, Lon: st.Lon}
				if st.Lat == nil || st.Lon == nil {
					s.Site.Lat, s.Site.Lon = j.SiteLat, j.SiteLon
				}
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return field.JobSummary{}, false, err
		}
	}
	if j.CustomerID != nil {
		var data string
		err := q.QueryRowContext(ctx, `SELECT data FROM customers WHERE id = ?`, *j.CustomerID).Scan(&data)
		if err == nil {
			var c field.Customer
			if json.Unmarshal([]byte(data), &c) == nil {
				c.ID = *j.CustomerID
				s.Customer = &c
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return field.JobSummary{}, false, err
		}
	}
	s.SetAllowedEvents()
	return s, member, nil
}

// JobFilter filters GET /api/v1/field/jobs.
type JobFilter struct {
	From, To *time.Time
	Statuses []string
	Limit    int
	Offset   int
}

// FindJobs lists the jobs of person in the replica.
func (d *DB) FindJobs(ctx context.Context, person string, f JobFilter) ([]field.JobSummary, int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id FROM work_orders WHERE evicting = 0 ORDER BY scheduled_start IS NULL, scheduled_start, id`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: jobs: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, 0, err
	}
	var all []field.JobSummary
	for _, id := range ids {
		j, err := loadJob(ctx, d.db, id)
		if err != nil {
			continue
		}
		s, member, err := d.summary(ctx, d.db, j, person)
		if err != nil {
			return nil, 0, err
		}
		if !member {
			continue
		}
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, string(s.Status)) {
			continue
		}
		if f.From != nil && (s.ScheduledStart == nil || s.ScheduledStart.Before(*f.From)) {
			continue
		}
		if f.To != nil && (s.ScheduledStart == nil || !s.ScheduledStart.Before(*f.To)) {
			continue
		}
		all = append(all, s)
	}
	total := len(all)
	if f.Offset > 0 {
		all = all[min(f.Offset, len(all)):]
	}
	if f.Limit > 0 && len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, total, nil
}

// FindJob returns one job with its detail lists.
func (d *DB) FindJob(ctx context.Context, person, id string) (field.Job, error) {
	return d.findJob(ctx, d.db, person, id)
}

func (d *DB) findJob(ctx context.Context, q querier, person, id string) (field.Job, error) {
	j, err := loadJob(ctx, q, id)
	if err != nil {
		return field.Job{}, err
	}
	s, member, err := d.summary(ctx, q, j, person)
	if err != nil {
		return field.Job{}, err
	}
	if !member {
		return field.Job{}, agent.Errorf(agent.ENOTFOUND, "job not found")
	}
	out := field.Job{JobSummary: s}
	if out.Notes, err = loadNotes(ctx, q, id); err != nil {
		return field.Job{}, err
	}
	if out.Materials, err = loadMaterials(ctx, q, id); err != nil {
		return field.Job{}, err
	}
	if out.Attachments, err = loadAttachments(ctx, q, id); err != nil {
		return field.Job{}, err
	}
	if out.Events, err = loadEvents(ctx, q, id); err != nil {
		return field.Job{}, err
	}
	if out.Survey, err = loadSurvey(ctx, q, j); err != nil {
		return field.Job{}, err
	}
	return out, nil
}

func queryData(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

type noteData struct {
	ID         string  `json:"id"`
	Body       string  `json:"body"`
	AuthorID   *string `json:"author_id"`
	AuthorName string  `json:"author_name"`
	IsInternal bool    `json:"is_internal"`
	ClientRef  *string `json:"client_ref"`
	CreatedAt  string  `json:"created_at"`
}

func (n noteData) note() field.Note {
	out := field.Note{ID: n.ID, Body: n.Body, AuthorName: n.AuthorName, IsInternal: n.IsInternal, ClientRef: n.ClientRef}
	if n.AuthorID != nil {
		out.AuthorID = *n.AuthorID
	}
	if t, ok := parseTime(n.CreatedAt); ok {
		out.CreatedAt = *field.At(t)
	}
	return out
}

func loadNotes(ctx context.Context, q querier, woID string) ([]field.Note, error) {
	datas, err := queryData(ctx, q, `SELECT data FROM work_order_notes WHERE work_order_id = ? ORDER BY created_at, id`, woID)
	if err != nil {
		return nil, err
	}
	var out []field.Note
	for _, s := range datas {
		var n noteData
		if json.Unmarshal([]byte(s), &n) == nil {
			out = append(out, n.note())
		}
	}
	return out, nil
}

type materialData struct {
	ID               string  `json:"id"`
	ItemID           string  `json:"item_id"`
	SKU              string  `json:"sku"`
	Name             string  `json:"name"`
	Unit             string  `json:"unit"`
	Quantity         float64 `json:"quantity"`
	ConsumedQuantity float64 `json:"consumed_quantity"`
	QuantityUsed     float64 `json:"quantity_used"`
	Status           string  `json:"status"`
}

func (m materialData) used() float64 { return max(m.ConsumedQuantity, m.QuantityUsed) }

func loadMaterials(ctx context.Context, q querier, woID string) ([]field.Material, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, data, local FROM work_order_materials WHERE work_order_id = ? ORDER BY id`, woID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []field.Material
	for rows.Next() {
		var (
			id, data string
			local    sql.NullString
		)
		if err := rows.Scan(&id, &data, &local); err != nil {
			return nil, err
		}
		var m materialData
		_ = json.Unmarshal([]byte(data), &m)
		if local.Valid {
			_ = json.Unmarshal([]byte(local.String), &m)
		}
		out = append(out, field.Material{ID: id, ItemID: m.ItemID, SKU: m.SKU, Name: m.Name, Unit: m.Unit,
			Quantity: m.Quantity, QuantityUsed: m.used(), Status: cmpOr(m.Status, field.MaterialRequired)})
	}
	return out, rows.Err()
}

type attachmentData struct {
	ID         string   `json:"id"`
	WorkOrder  string   `json:"work_order_id"`
	Kind       string   `json:"kind"`
	FileName   string   `json:"file_name"`
	MIME       string   `json:"mime"`
	Size       int64    `json:"size"`
	StorageKey string   `json:"storage_key"`
	CapturedAt *string  `json:"captured_at"`
	ClientRef  *string  `json:"client_ref"`
	SignerName string   `json:"signer_name"`
	Lat        *float64 `json:"lat"`
	Lon        *float64 `json:"lon"`
	IsActive   *bool    `json:"is_active"`
	CreatedAt  string   `json:"created_at"`
}

func (a attachmentData) attachment() field.Attachment {
	return field.Attachment{ID: a.ID, Kind: a.Kind, FileName: a.FileName, MIME: a.MIME, Size: a.Size,
		URL:        "/api/v1/field/attachments/" + a.ID + "/content",
		CapturedAt: timePtr(a.CapturedAt), ClientRef: a.ClientRef, SignerName: a.SignerName, Lat: a.Lat, Lon: a.Lon}
}

func loadAttachments(ctx context.Context, q querier, woID string) ([]field.Attachment, error) {
	datas, err := queryData(ctx, q, `SELECT data FROM field_attachments WHERE work_order_id = ? AND is_active ORDER BY json_extract(data, '$.created_at'), id`, woID)
	if err != nil {
		return nil, err
	}
	var out []field.Attachment
	for _, s := range datas {
		var a attachmentData
		if json.Unmarshal([]byte(s), &a) == nil {
			out = append(out, a.attachment())
		}
	}
	return out, nil
}

type eventData struct {
	ID            string           `json:"id"`
	WorkOrderID   string           `json:"work_order_id"`
	Event         fieldexec.Event  `json:"event"`
	FromStatus    fieldexec.Status `json:"from_status"`
	ToStatus      fieldexec.Status `json:"to_status"`
	ActorID       *string          `json:"actor_id"`
	Lat           *float64         `json:"lat"`
	Lon           *float64         `json:"lon"`
	Note          string           `json:"note"`
	OccurredAt    string           `json:"occurred_at"`
	ReceivedAt    string           `json:"received_at"`
	ClockSkew     bool             `json:"clock_skew"`
	ClientEventID string           `json:"client_event_id"`
	Payload       field.Payload    `json:"payload"`
}

func (e eventData) event() field.JobEvent {
	out := field.JobEvent{ID: e.ID, Event: e.Event, FromStatus: e.FromStatus, ToStatus: e.ToStatus, Lat: e.Lat, Lon: e.Lon,
		Note: e.Note, ClockSkew: e.ClockSkew, ClientEventID: e.ClientEventID, Payload: e.Payload}
	if e.ActorID != nil {
		out.ActorID = *e.ActorID
	}
	if t, ok := parseTime(e.OccurredAt); ok {
		out.OccurredAt = *field.At(t)
	}
	if t, ok := parseTime(e.ReceivedAt); ok {
		out.ReceivedAt = *field.At(t)
	}
	return out
}

func loadEvents(ctx context.Context, q querier, woID string) ([]field.JobEvent, error) {
	datas, err := queryData(ctx, q, `SELECT data FROM work_order_events WHERE work_order_id = ? ORDER BY occurred_at, json_extract(data, '$.received_at'), id`, woID)
	if err != nil {
		return nil, err
	}
	var out []field.JobEvent
	for _, s := range datas {
		var e eventData
		if json.Unmarshal([]byte(s), &e) == nil {
			out = append(out, e.event())
		}
	}
	return out, nil
}

type templateData struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Questions []field.Question `json:"questions"`
}

type responseData struct {
	ID         string                     `json:"id"`
	TemplateID string                     `json:"template_id"`
	Answers    map[string]json.RawMessage `json:"answers"`
}

// surveyOf finds the job's survey template and its response (with the overlay merged).
func surveyOf(ctx context.Context, q querier, j job) (*templateData, *responseData, string, error) {
	var resp *responseData
	var respID string
	rows, err := q.QueryContext(ctx, `SELECT id, data, local FROM survey_responses WHERE work_order_id = ? ORDER BY pending, id LIMIT 1`, j.ID)
	if err != nil {
		return nil, nil, "", err
	}
	for rows.Next() {
		var (
			data  string
			local sql.NullString
		)
		if err := rows.Scan(&respID, &data, &local); err != nil {
			rows.Close()
			return nil, nil, "", err
		}
		resp = &responseData{}
		_ = json.Unmarshal([]byte(data), resp)
		if local.Valid {
			var l responseData
			if json.Unmarshal([]byte(local.String), &l) == nil {
				if resp.Answers == nil {
					resp.Answers = map[string]json.RawMessage{}
				}
				for k, v := range l.Answers {
					resp.Answers[k] = v
				}
			}
		}
	}
	rows.Close()
	tmplID := ""
	if j.SurveyTemplateID != nil {
		tmplID = *j.SurveyTemplateID
	} else if resp != nil {
		tmplID = resp.TemplateID
	}
	if tmplID == "" {
		return nil, resp, respID, nil
	}
	var data string
	err = q.QueryRowContext(ctx, `SELECT data FROM survey_templates WHERE id = ?`, tmplID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resp, respID, nil
	}
	if err != nil {
		return nil, nil, "", err
	}
	var t templateData
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return nil, nil, "", err
	}
	t.ID = tmplID
	return &t, resp, respID, nil
}

func loadSurvey(ctx context.Context, q querier, j job) (*field.Survey, error) {
	t, resp, _, err := surveyOf(ctx, q, j)
	if err != nil || t == nil {
		return nil, err
	}
	s := &field.Survey{TemplateID: t.ID, Name: t.Name, Questions: t.Questions}
	if resp != nil {
		s.Answers = resp.Answers
	}
	return s, nil
}

// MapAssets returns the fiber plant in a bounding box as a GeoJSON FeatureCollection.
func (d *DB) MapAssets(ctx context.Context, minLon, minLat, maxLon, maxLat float64) (json.RawMessage, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, data FROM fiber_features
		WHERE max_lon >= ? AND min_lon <= ? AND max_lat >= ? AND min_lat <= ? ORDER BY id LIMIT 20000`, minLon, maxLon, minLat, maxLat)
	if err != nil {
		return nil, fmt.Errorf("sqlite: map assets: %w", err)
	}
	defer rows.Close()
	type feature struct {
		Type       string          `json:"type"`
		ID         string          `json:"id"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	}
	fc := struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}{Type: "FeatureCollection", Features: []feature{}}
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		var row map[string]json.RawMessage
		if json.Unmarshal([]byte(data), &row) != nil {
			continue
		}
		props := map[string]any{}
		if p, ok := row["properties"]; ok {
			_ = json.Unmarshal(p, &props)
		}
		for k, v := range row {
			if k == "geometry" || k == "properties" {
				continue
			}
			var x any
			if json.Unmarshal(v, &x) == nil {
				props[k] = x
			}
		}
		props["id"] = id
		fc.Features = append(fc.Features, feature{Type: "Feature", ID: id, Geometry: orNull(row["geometry"]), Properties: props})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return json.Marshal(fc)
}

// Strand is one fibre of a splice.
type Strand struct {
	Cable  string `json:"cable"`
	Number int    `json:"number"`
	Color  string `json:"color"`
}

// Splice joins two strands.
type Splice struct {
	ID        string   `json:"id"`
	InStrand  Strand   `json:"in_strand"`
	OutStrand Strand   `json:"out_strand"`
	LossDB    *float64 `json:"loss_db,omitempty"`
}

// Tray holds splices.
type Tray struct {
	ID      string   `json:"id"`
	Number  int      `json:"number"`
	Splices []Splice `json:"splices"`
}

// SpliceClosure is GET /api/v1/field/splice-closures/{id}.
type SpliceClosure struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Trays []Tray `json:"trays"`
}

// FindSpliceClosure returns a closure with its trays and splices.
func (d *DB) FindSpliceClosure(ctx context.Context, id string) (SpliceClosure, error) {
	var data string
	err := d.db.QueryRowContext(ctx, `SELECT data FROM fiber_splice_closures WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return SpliceClosure{}, agent.Errorf(agent.ENOTFOUND, "splice closure not found")
	}
	if err != nil {
		return SpliceClosure{}, err
	}
	out := SpliceClosure{ID: id, Trays: []Tray{}}
	var head struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal([]byte(data), &head)
	out.Name = head.Name
	trays, err := queryData(ctx, d.db, `SELECT data FROM fiber_splice_trays WHERE closure_id = ? ORDER BY json_extract(data, '$.number'), id`, id)
	if err != nil {
		return SpliceClosure{}, err
	}
	for _, t := range trays {
		var tr Tray
		if json.Unmarshal([]byte(t), &tr) != nil {
			continue
		}
		tr.Splices = []Splice{}
		sp, err := queryData(ctx, d.db, `SELECT data FROM fiber_splices WHERE tray_id = ? ORDER BY id`, tr.ID)
		if err != nil {
			return SpliceClosure{}, err
		}
		for _, s := range sp {
			var x Splice
			if json.Unmarshal([]byte(s), &x) == nil {
				tr.Splices = append(tr.Splices, x)
			}
		}
		out.Trays = append(out.Trays, tr)
	}
	return out, nil
}

// Status is what GET /api/v1/sync/status reads from the replica.
func (d *DB) Status(ctx context.Context) (field.SyncStatus, error) {
	var st field.SyncStatus
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent')`).Scan(&st.PendingUploads); err != nil {
		return st, fmt.Errorf("sqlite: status: %w", err)
	}
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE status = 'open'`).Scan(&st.OpenConflicts); err != nil {
		return st, fmt.Errorf("sqlite: status: %w", err)
	}
	if v, _ := state(ctx, d.db, StateLastSyncAt); v != "" {
		if t, ok := parseTime(v); ok {
			st.LastSyncAt = field.At(t)
		}
	}
	if v, _ := state(ctx, d.db, StateLastError); v != "" {
		st.LastError = &v
	}
	st.Scope = map[string]int{}
	for _, f := range d.Registry.Families() {
		n := 0
		for _, e := range f.Entities {
			var c int
			q := `SELECT count(*) FROM ` + e.Table
			if e.Table == workOrdersTable {
				q += ` WHERE evicting = 0`
			}
			if err := d.db.QueryRowContext(ctx, q).Scan(&c); err != nil {
				return st, fmt.Errorf("sqlite: status: %w", err)
			}
			if f.Name == "work_orders" && e.Table != workOrdersTable {
				st.Scope[e.Table] = c
				continue
			}
			n += c
		}
		st.Scope[f.Name] = n
	}
	return st, nil
}

// Conflict is a parked upload or a conflict the hub reported.
type Conflict struct {
	ID          string          `json:"id"`
	ClientRef   string          `json:"client_ref"`
	Entity      string          `json:"entity"`
	EntityID    string          `json:"entity_id"`
	Field       string          `json:"field"`
	DeviceValue json.RawMessage `json:"device_value"`
	HubValue    json.RawMessage `json:"hub_value"`
	Code        string          `json:"code"`
	Message     string          `json:"message"`
	Status      string          `json:"status"`
	CreatedAt   string          `json:"created_at"`
}

// Conflicts lists local conflicts, open first.
func (d *DB) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, coalesce(client_ref, ''), entity, entity_id, field, coalesce(device_value, 'null'),
		coalesce(hub_value, 'null'), code, message, status, created_at FROM conflicts ORDER BY status = 'open' DESC, created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: conflicts: %w", err)
	}
	defer rows.Close()
	out := []Conflict{}
	for rows.Next() {
		var c Conflict
		var dv, hv string
		if err := rows.Scan(&c.ID, &c.ClientRef, &c.Entity, &c.EntityID, &c.Field, &dv, &hv, &c.Code, &c.Message, &c.Status, &c.CreatedAt); err != nil {
			return nil, err
		}
		c.DeviceValue, c.HubValue = json.RawMessage(validJSON(dv)), json.RawMessage(validJSON(hv))
		out = append(out, c)
	}
	return out, rows.Err()
}

func validJSON(s string) string {
	if s == "" || !json.Valid([]byte(s)) {
		b, _ := json.Marshal(s)
		return string(b)
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseStatuses reads ?status=a,b.
func ParseStatuses(s string) []string { return splitList(s) }
