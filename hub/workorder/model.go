// Package workorder is the hub's work order area: customers and their sites, technicians (skills,
// shifts, availability), work orders with crews, notes and office status rules, field execution
// on the hub (the field API, on the shared sync/fieldexec state machine), in-app notifications
// from domain events, and the staff pages.
//
// Files: model.go (types, vocabulary, validation), service.go (the Service and helpers),
// customers.go, technicians.go, workorders.go, field.go (execution: events, notes, worklogs),
// attachments.go, notify.go (domain events → notifications), api.go (JSON routes), pages.go
// (staff pages), templates/.
package workorder

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/fieldexec"
)

// Vocabulary (CONTRACT.md "Core resources").
var (
	Statuses   = []string{"draft", "scheduled", "dispatched", "in_progress", "paused", "completed", "canceled"}
	Priorities = []string{"lower", "low", "medium", "normal", "high", "urgent"}
	WorkTypes  = []string{"install", "repair", "survey", "maintenance", "disconnect", "other"}
	// CustomerStatuses of a subscriber account.
	CustomerStatuses = []string{"active", "suspended", "terminated", "pending"}
)

// Domain event topics written by this area (entity "work_order" unless noted).
const (
	TopicCreated        = "work_order.created"
	TopicUpdated        = "work_order.updated"
	TopicAssigned       = "work_order.assigned"
	TopicUnassigned     = "work_order.unassigned"
	TopicStatusChanged  = "work_order.status_changed"
	TopicNoteAdded      = "work_order.note_added"
	TopicDeleted        = "work_order.deleted"
	TopicFieldEvent     = "work_order.field_event"
	TopicAttachment     = "work_order.attachment_added"
	TopicWorklog        = "work_order.worklog_added"
	TopicCustomerCreate = "customer.created" // entity "customer"
	TopicCustomerUpdate = "customer.updated" // entity "customer"
)

// EventPayload is the payload of every work_order.* domain event: enough for the sync relay
// (scope changes: assigned_to, previous_assigned_to, crew) and the live board (status, schedule).
type EventPayload struct {
	ID                 string     `json:"id"`
	Number             string     `json:"number"`
	Version            int64      `json:"version"`
	Status             string     `json:"status"`
	PreviousStatus     string     `json:"previous_status,omitempty"`
	AssignedTo         *string    `json:"assigned_to"`
	PreviousAssignedTo *string    `json:"previous_assigned_to"`
	Crew               []string   `json:"crew"`
	PreviousCrew       []string   `json:"previous_crew,omitempty"`
	ScheduledStart     *time.Time `json:"scheduled_start"`
	ScheduledEnd       *time.Time `json:"scheduled_end"`
	Title              string     `json:"title"`
	CustomerID         *string    `json:"customer_id"`
	// Field execution details (work_order.field_event).
	Event         string `json:"event,omitempty"`
	ClientEventID string `json:"client_event_id,omitempty"`
	DeviceID      string `json:"device_id,omitempty"`
	ClockSkew     bool   `json:"clock_skew,omitempty"`
	// Other details: note id, attachment id, changed fields.
	NoteID       string   `json:"note_id,omitempty"`
	AttachmentID string   `json:"attachment_id,omitempty"`
	Changed      []string `json:"changed,omitempty"`
	Note         string   `json:"note,omitempty"`
}

// Customer is a subscriber with a primary service site.
type Customer struct {
	ID          string    `json:"id"`
	Number      string    `json:"number"`
	Name        string    `json:"name"`
	Email       string    `json:"email"`
	Phone       string    `json:"phone"`
	Address     string    `json:"address"`
	Lat         *float64  `json:"lat"`
	Lon         *float64  `json:"lon"`
	Status      string    `json:"status"`
	Region      string    `json:"region"`
	ServicePlan string    `json:"service_plan"`
	SiteID      *string   `json:"site_id"`
	Sites       []Site    `json:"sites,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Site is a service location (PostGIS point).
type Site struct {
	ID          string   `json:"id"`
	CustomerID  *string  `json:"customer_id"`
	Label       string   `json:"label"`
	Address     string   `json:"address"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	AccessNotes string   `json:"access_notes"`
}

// CustomerCreate is POST /api/v1/customers.
type CustomerCreate struct {
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Phone       string   `json:"phone"`
	Address     string   `json:"address"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	Status      string   `json:"status"`
	Region      string   `json:"region"`
	ServicePlan string   `json:"service_plan"`
}

// CustomerUpdate is PATCH /api/v1/customers/{id}; nil leaves a field alone. lat/lon move the
// primary site, address renames it.
type CustomerUpdate struct {
	Name        *string  `json:"name"`
	Email       *string  `json:"email"`
	Phone       *string  `json:"phone"`
	Address     *string  `json:"address"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	Status      *string  `json:"status"`
	Region      *string  `json:"region"`
	ServicePlan *string  `json:"service_plan"`
}

// SiteCreate is POST /api/v1/customers/{id}/sites.
type SiteCreate struct {
	Label       string   `json:"label"`
	Address     string   `json:"address"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	AccessNotes string   `json:"access_notes"`
}

// CustomerFilter selects customers: Query matches name, number, email, phone or address.
type CustomerFilter struct {
	Query  string
	Status string
	Limit  int
	Offset int
}

// Technician is a person with a technician profile; ID is the person id.
type Technician struct {
	ID        string      `json:"id"`
	FirstName string      `json:"first_name"`
	LastName  string      `json:"last_name"`
	Name      string      `json:"name"`
	Email     string      `json:"email"`
	Phone     string      `json:"phone"`
	Title     string      `json:"title"`
	Region    string      `json:"region"`
	IsActive  bool        `json:"is_active"`
	Status    string      `json:"status"`
	HomeLat   *float64    `json:"home_lat"`
	HomeLon   *float64    `json:"home_lon"`
	Skills    []TechSkill `json:"skills"`
	Shifts    []Shift     `json:"shifts,omitempty"`
	Blocks    []Block     `json:"availability,omitempty"`
	OpenJobs  int         `json:"open_jobs"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// TechnicianCreate is POST /api/v1/technicians.
type TechnicianCreate struct {
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	Email     string   `json:"email"`
	Password  string   `json:"password"`
	Phone     string   `json:"phone"`
	Region    string   `json:"region"`
	Title     string   `json:"title"`
	HomeLat   *float64 `json:"home_lat"`
	HomeLon   *float64 `json:"home_lon"`
}

// TechnicianUpdate is PATCH /api/v1/technicians/{id}.
type TechnicianUpdate struct {
	Region   *string  `json:"region"`
	Title    *string  `json:"title"`
	IsActive *bool    `json:"is_active"`
	Phone    *string  `json:"phone"`
	HomeLat  *float64 `json:"home_lat"`
	HomeLon  *float64 `json:"home_lon"`
}

// TechnicianFilter selects technicians.
type TechnicianFilter struct {
	Query   string
	Region  string
	SkillID string
	Active  *bool
	Limit   int
	Offset  int
}

// Skill is a named capability (fiber splicing, ONT install, …).
type Skill struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// TechSkill is a technician's skill with proficiency 0–100; one may be primary.
type TechSkill struct {
	SkillID     string `json:"skill_id"`
	Name        string `json:"name"`
	Proficiency int    `json:"proficiency"`
	IsPrimary   bool   `json:"is_primary"`
}

// TechSkillInput is POST /api/v1/technicians/{id}/skills (upsert by skill_id).
type TechSkillInput struct {
	SkillID     string `json:"skill_id"`
	Proficiency *int   `json:"proficiency"`
	IsPrimary   bool   `json:"is_primary"`
}

// Shift is a working window of a technician.
type Shift struct {
	ID        string    `json:"id"`
	PersonID  string    `json:"technician_id"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Timezone  string    `json:"timezone"`
	ShiftType string    `json:"shift_type"`
}

// ShiftInput is POST/PATCH /api/v1/technicians/{id}/shifts; times are RFC 3339 strings.
type ShiftInput struct {
	StartsAt  *string `json:"starts_at"`
	EndsAt    *string `json:"ends_at"`
	Timezone  *string `json:"timezone"`
	ShiftType *string `json:"shift_type"`
}

// Block is an availability block: time off (is_available false) or extra availability.
type Block struct {
	ID          string    `json:"id"`
	PersonID    string    `json:"technician_id"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	Reason      string    `json:"reason"`
	BlockType   string    `json:"block_type"`
	IsAvailable bool      `json:"is_available"`
}

// BlockInput is POST/PATCH /api/v1/technicians/{id}/availability.
type BlockInput struct {
	StartsAt    *string `json:"starts_at"`
	EndsAt      *string `json:"ends_at"`
	Reason      *string `json:"reason"`
	BlockType   *string `json:"block_type"`
	IsAvailable *bool   `json:"is_available"`
}

// Shift types and availability block types.
var (
	ShiftTypes = []string{"regular", "overtime", "on_call"}
	BlockTypes = []string{"time_off", "sick", "training", "meeting", "other"}
)

// SiteRef is a work order's site as shown on it.
type SiteRef struct {
	ID      *string  `json:"id"`
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

// CrewMember is one person on a work order.
type CrewMember struct {
	PersonID  string `json:"person_id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	IsPrimary bool   `json:"is_primary"`
}

// WorkOrder is the office view of a work order.
type WorkOrder struct {
	ID                       string       `json:"id"`
	Number                   string       `json:"number"`
	Title                    string       `json:"title"`
	Description              string       `json:"description"`
	Status                   string       `json:"status"`
	Priority                 string       `json:"priority"`
	WorkType                 string       `json:"work_type"`
	CustomerID               *string      `json:"customer_id"`
	CustomerName             string       `json:"customer_name"`
	Site                     SiteRef      `json:"site"`
	TicketID                 *string      `json:"ticket_id"`
	ProjectID                *string      `json:"project_id"`
	AssignedTo               *string      `json:"assigned_to"`
	AssignedToName           string       `json:"assigned_to_name"`
	Crew                     []CrewMember `json:"crew"`
	ScheduledStart           *time.Time   `json:"scheduled_start"`
	ScheduledEnd             *time.Time   `json:"scheduled_end"`
	EstimatedDurationMinutes *int         `json:"estimated_duration_minutes"`
	StartedAt                *time.Time   `json:"started_at"`
	PausedAt                 *time.Time   `json:"paused_at"`
	ResumedAt                *time.Time   `json:"resumed_at"`
	CompletedAt              *time.Time   `json:"completed_at"`
	CanceledAt               *time.Time   `json:"canceled_at"`
	TotalActiveSeconds       int64        `json:"total_active_seconds"`
	RequiredSkills           []string     `json:"required_skills"`
	Tags                     []string     `json:"tags"`
	AccessNotes              string       `json:"access_notes"`
	Region                   string       `json:"region"`
	Version                  int64        `json:"version"`
	IsActive                 bool         `json:"is_active"`
	CreatedBy                *string      `json:"created_by"`
	CreatedAt                time.Time    `json:"created_at"`
	UpdatedAt                time.Time    `json:"updated_at"`
}

// SiteInput is a work order's site given inline (address and point); it creates a site.
type SiteInput struct {
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

// WorkOrderCreate is POST /api/v1/work-orders. Times are RFC 3339 strings so a bad one gets a
// field message.
type WorkOrderCreate struct {
	Title                    string     `json:"title"`
	Description              string     `json:"description"`
	WorkType                 string     `json:"work_type"`
	Priority                 string     `json:"priority"`
	Status                   string     `json:"status"`
	CustomerID               *string    `json:"customer_id"`
	SiteID                   *string    `json:"site_id"`
	Site                     *SiteInput `json:"site"`
	TicketID                 *string    `json:"ticket_id"`
	ProjectID                *string    `json:"project_id"`
	ScheduledStart           *string    `json:"scheduled_start"`
	ScheduledEnd             *string    `json:"scheduled_end"`
	EstimatedDurationMinutes *int       `json:"estimated_duration_minutes"`
	AssignedTo               *string    `json:"assigned_to"`
	Crew                     []string   `json:"crew"`
	AccessNotes              string     `json:"access_notes"`
	Tags                     []string   `json:"tags"`
	RequiredSkills           []string   `json:"required_skills"`
	Region                   string     `json:"region"`
}

// WorkOrderUpdate is PATCH /api/v1/work-orders/{id} (office edits); nil leaves a field alone.
// Version, when given, must match (optimistic locking): a mismatch is a 409.
type WorkOrderUpdate struct {
	Title                    *string    `json:"title"`
	Description              *string    `json:"description"`
	WorkType                 *string    `json:"work_type"`
	Priority                 *string    `json:"priority"`
	CustomerID               *string    `json:"customer_id"`
	SiteID                   *string    `json:"site_id"`
	Site                     *SiteInput `json:"site"`
	ScheduledStart           *string    `json:"scheduled_start"`
	ScheduledEnd             *string    `json:"scheduled_end"`
	EstimatedDurationMinutes *int       `json:"estimated_duration_minutes"`
	AccessNotes              *string    `json:"access_notes"`
	Tags                     *[]string  `json:"tags"`
	RequiredSkills           *[]string  `json:"required_skills"`
	Region                   *string    `json:"region"`
	Version                  *int64     `json:"version"`
}

// AssignRequest is POST /api/v1/work-orders/{id}/assign. An empty or null assigned_to unassigns
// (and clears the crew). Crew lists helper person ids (the primary is added by itself).
type AssignRequest struct {
	AssignedTo *string  `json:"assigned_to"`
	Crew       []string `json:"crew"`
	Version    *int64   `json:"version"`
}

// TransitionRequest is POST /api/v1/work-orders/{id}/transition (office status changes).
type TransitionRequest struct {
	ToStatus string `json:"to_status"`
	Note     string `json:"note"`
	Version  *int64 `json:"version"`
}

// NoteCreate is POST /api/v1/work-orders/{id}/notes.
type NoteCreate struct {
	Body       string `json:"body"`
	IsInternal bool   `json:"is_internal"`
}

// Note is a work order note (office view).
type Note struct {
	ID         string    `json:"id"`
	WorkOrder  string    `json:"work_order_id"`
	Body       string    `json:"body"`
	AuthorID   *string   `json:"author_id"`
	AuthorName string    `json:"author_name"`
	IsInternal bool      `json:"is_internal"`
	ClientRef  *string   `json:"client_ref"`
	DeviceID   *string   `json:"device_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// Filter selects work orders for the office list.
type Filter struct {
	Status     []string
	AssignedTo string // a person id, or "none" for unassigned
	CustomerID string
	From, To   *time.Time // scheduled_start window
	Query      string     // number, title or customer name
	Priority   string
	WorkType   string
	Limit      int
	Offset     int
}

// TimelineEntry is one line of a work order's history (domain events, field events, notes).
type TimelineEntry struct {
	At      time.Time      `json:"at"`
	Kind    string         `json:"kind"` // event topic or field event name
	Actor   string         `json:"actor"`
	Summary string         `json:"summary"`
	Payload map[string]any `json:"payload"`
}

// --- validation helpers -------------------------------------------------------------------------

const timeHint = "must be an RFC 3339 time with a zone, e.g. 2025-03-01T09:00:00Z"

func parseTime(f hub.Fields, field string, s *string) *time.Time {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(*s))
	if err != nil {
		f.Add(field, timeHint)
		return nil
	}
	return &t
}

func checkEnum(f hub.Fields, field, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		f.Add(field, "must be one of "+strings.Join(allowed, ", "))
	}
}

func checkUUID(f hub.Fields, field string, v *string) {
	if v != nil && *v != "" && !postgres.ValidUUID(*v) {
		f.Add(field, "must be a UUID")
	}
}

func checkCoords(f hub.Fields, prefix string, lat, lon *float64) {
	if (lat == nil) != (lon == nil) {
		f.Add(prefix+"lat", "lat and lon go together")
		return
	}
	if lat != nil && (math.IsNaN(*lat) || *lat < -90 || *lat > 90) {
		f.Add(prefix+"lat", "must be between -90 and 90")
	}
	if lon != nil && (math.IsNaN(*lon) || *lon < -180 || *lon > 180) {
		f.Add(prefix+"lon", "must be between -180 and 180")
	}
}

func checkLen(f hub.Fields, field, v string, max int) {
	if len(v) > max {
		f.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

func validStatus(s string) bool { return fieldexec.Status(s).Valid() }

func strp(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nilIfEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func coords(lat, lon *float64) string {
	if lat == nil || lon == nil {
		return ""
	}
	return fmt.Sprintf("%.5f, %.5f", *lat, *lon)
}

// Coords is "lat, lon" for pages ("" when unknown).
func (s SiteRef) Coords() string { return coords(s.Lat, s.Lon) }

// Coords is "lat, lon" for pages ("" when unknown).
func (s Site) Coords() string { return coords(s.Lat, s.Lon) }

// ActiveTime is the time worked, for pages ("1 h 25 min").
func (w WorkOrder) ActiveTime() string {
	if w.TotalActiveSeconds <= 0 {
		return "—"
	}
	d := time.Duration(w.TotalActiveSeconds) * time.Second
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// IsHelper reports whether person is on the crew as a helper.
func (w WorkOrder) IsHelper(person string) bool {
	for _, c := range w.Crew {
		if c.PersonID == person && !c.IsPrimary {
			return true
		}
	}
	return false
}

// When is the scheduled start for compact tables ("Nov 28 16:00 UTC").
func (w WorkOrder) When() string {
	if w.ScheduledStart == nil {
		return "unscheduled"
	}
	return w.ScheduledStart.UTC().Format("Jan 2 15:04") + " UTC"
}
