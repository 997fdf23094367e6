// Package field holds the JSON shapes of the field API (CONTRACT.md "Field API"
// and notes/field-api.md) so the hub and the edge agent serialise identically.
//
// Times are *time.Time (null when absent); set them with At so both sides emit
// the same UTC, microsecond-precision RFC 3339 strings. Lists are never null:
// the MarshalJSON methods turn nil slices into [].
package field

import (
	"bytes"
	"encoding/json"
	"time"

	"dotmac.dev/field/sync/fieldexec"
)

// At returns t in UTC truncated to microseconds (PostgreSQL's precision), or
// nil when t is zero.
func At(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// JobSummary is an item of GET /api/v1/field/jobs, and the head of Job.
type JobSummary struct {
	ID                 string            `json:"id"`
	Number             string            `json:"number"`
	Title              string            `json:"title"`
	Description        string            `json:"description"`
	Status             fieldexec.Status  `json:"status"`
	Priority           string            `json:"priority"`
	WorkType           string            `json:"work_type"`
	Version            int64             `json:"version"`
	ScheduledStart     *time.Time        `json:"scheduled_start"`
	ScheduledEnd       *time.Time        `json:"scheduled_end"`
	StartedAt          *time.Time        `json:"started_at"`
	PausedAt           *time.Time        `json:"paused_at"`
	CompletedAt        *time.Time        `json:"completed_at"`
	TotalActiveSeconds int64             `json:"total_active_seconds"`
	AccessNotes        string            `json:"access_notes"`
	Tags               []string          `json:"tags"`
	AssignedTo         *string           `json:"assigned_to"` // primary technician's person id
	IsPrimary          bool              `json:"is_primary"`  // is the caller the primary technician
	Crew               []CrewMember      `json:"crew"`
	Site               Site              `json:"site"`
	Customer           *Customer         `json:"customer"`
	AllowedEvents      []fieldexec.Event `json:"allowed_events"`
}

// SetAllowedEvents fills AllowedEvents from the shared state machine: the
// primary technician gets the events the status allows, anyone else none.
func (j *JobSummary) SetAllowedEvents() {
	j.AllowedEvents = []fieldexec.Event{}
	if j.IsPrimary {
		j.AllowedEvents = append(j.AllowedEvents, fieldexec.AllowedEvents(j.Status)...)
	}
}

// MarshalJSON writes nil lists as [].
func (j JobSummary) MarshalJSON() ([]byte, error) {
	type plain JobSummary
	p := plain(j)
	p.Tags = nonNil(p.Tags)
	p.Crew = nonNil(p.Crew)
	p.AllowedEvents = nonNil(p.AllowedEvents)
	return json.Marshal(p)
}

// Job is GET /api/v1/field/jobs/{id}: the summary plus its detail lists.
type Job struct {
	JobSummary
	JobDetail
}

// JobDetail is what Job adds to JobSummary. Survey is null when the job has none.
type JobDetail struct {
	Notes       []Note       `json:"notes"`
	Materials   []Material   `json:"materials"`
	Attachments []Attachment `json:"attachments"`
	Events      []JobEvent   `json:"events"`
	Survey      *Survey      `json:"survey"`
}

// MarshalJSON writes one object: the summary's keys, then the detail's.
func (j Job) MarshalJSON() ([]byte, error) {
	head, err := j.JobSummary.MarshalJSON()
	if err != nil {
		return nil, err
	}
	d := j.JobDetail
	d.Notes = nonNil(d.Notes)
	d.Materials = nonNil(d.Materials)
	d.Attachments = nonNil(d.Attachments)
	d.Events = nonNil(d.Events)
	tail, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(head) + len(tail))
	b.Write(head[:len(head)-1])
	b.WriteByte(',')
	b.Write(tail[1:])
	return b.Bytes(), nil
}

// UnmarshalJSON reads the flat object written by MarshalJSON.
func (j *Job) UnmarshalJSON(data []byte) error {
	type plainSummary JobSummary
	var s plainSummary
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	var d JobDetail
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	j.JobSummary, j.JobDetail = JobSummary(s), d
	return nil
}

// CrewMember is one person assigned to a job.
type CrewMember struct {
	PersonID  string `json:"person_id"`
	Name      string `json:"name"`
	IsPrimary bool   `json:"is_primary"`
}

// Site is where the job happens.
type Site struct {
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

// Customer is what a technician sees of a customer: never costs or rates.
type Customer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Email   string `json:"email"`
	Address string `json:"address"`
}

// Note is a work order note.
type Note struct {
	ID         string    `json:"id"`
	Body       string    `json:"body"`
	AuthorID   string    `json:"author_id"`
	AuthorName string    `json:"author_name"`
	IsInternal bool      `json:"is_internal"`
	ClientRef  *string   `json:"client_ref"`
	CreatedAt  time.Time `json:"created_at"`
}

// Material statuses.
const (
	MaterialRequired = "required"
	MaterialReserved = "reserved"
	MaterialUsed     = "used"
)

// Material is a work order material line.
type Material struct {
	ID           string  `json:"id"`
	ItemID       string  `json:"item_id"`
	SKU          string  `json:"sku"`
	Name         string  `json:"name"`
	Unit         string  `json:"unit"`
	Quantity     float64 `json:"quantity"`
	QuantityUsed float64 `json:"quantity_used"`
	Status       string  `json:"status"`
}

// Attachment kinds.
const (
	KindPhoto     = "photo"
	KindSignature = "signature"
	KindDocument  = "document"
)

// Attachment is a photo, signature or document on a job.
type Attachment struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	FileName   string     `json:"file_name"`
	MIME       string     `json:"mime"`
	Size       int64      `json:"size"`
	URL        string     `json:"url"`
	CapturedAt *time.Time `json:"captured_at"`
	ClientRef  *string    `json:"client_ref"`
	SignerName string     `json:"signer_name"`
	Lat        *float64   `json:"lat"`
	Lon        *float64   `json:"lon"`
}

// Payload is the extra data of a transition (request and stored event).
type Payload struct {
	Reason                     string `json:"reason,omitempty"`
	SignatureUnavailableReason string `json:"signature_unavailable_reason,omitempty"`
}

// JobEvent is one accepted execution event.
type JobEvent struct {
	ID            string           `json:"id"`
	Event         fieldexec.Event  `json:"event"`
	FromStatus    fieldexec.Status `json:"from_status"`
	ToStatus      fieldexec.Status `json:"to_status"`
	OccurredAt    time.Time        `json:"occurred_at"`
	ReceivedAt    time.Time        `json:"received_at"`
	ActorID       string           `json:"actor_id"`
	Lat           *float64         `json:"lat"`
	Lon           *float64         `json:"lon"`
	Note          string           `json:"note"`
	ClockSkew     bool             `json:"clock_skew"`
	ClientEventID string           `json:"client_event_id"`
	Payload       Payload          `json:"payload"`
}

// Survey question types.
const (
	QuestionText      = "text"
	QuestionNumber    = "number"
	QuestionChoice    = "choice"
	QuestionCheckbox  = "checkbox"
	QuestionPhoto     = "photo"
	QuestionGPS       = "gps"
	QuestionSignature = "signature"
)

// Survey is a job's survey form with its answers so far.
type Survey struct {
	TemplateID string                     `json:"template_id"`
	Name       string                     `json:"name"`
	Questions  []Question                 `json:"questions"`
	Answers    map[string]json.RawMessage `json:"answers"`
}

// MarshalJSON writes nil lists and maps as [] and {}.
func (s Survey) MarshalJSON() ([]byte, error) {
	type plain Survey
	p := plain(s)
	p.Questions = nonNil(p.Questions)
	if p.Answers == nil {
		p.Answers = map[string]json.RawMessage{}
	}
	return json.Marshal(p)
}

// Question is one survey question.
type Question struct {
	ID       string   `json:"id"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Options  []string `json:"options"`
}

// MarshalJSON writes nil options as [].
func (q Question) MarshalJSON() ([]byte, error) {
	type plain Question
	p := plain(q)
	p.Options = nonNil(p.Options)
	return json.Marshal(p)
}

// TransitionResponse answers POST /api/v1/field/jobs/{id}/transition.
type TransitionResponse struct {
	Job   Job             `json:"job"`
	Event TransitionEvent `json:"event"`
}

// TransitionEvent says what became of the event in a TransitionResponse.
type TransitionEvent struct {
	ID        string `json:"id"`
	Replayed  bool   `json:"replayed"`
	ClockSkew bool   `json:"clock_skew"`
}

// ConsumeResponse answers POST /api/v1/field/jobs/{id}/materials/consume.
type ConsumeResponse struct {
	Materials []Material `json:"materials"`
}

// SyncStatus is the edge agent's GET /api/v1/sync/status.
type SyncStatus struct {
	Online         bool           `json:"online"`
	PendingUploads int            `json:"pending_uploads"`
	LastSyncAt     *time.Time     `json:"last_sync_at"`
	LastError      *string        `json:"last_error"`
	OpenConflicts  int            `json:"open_conflicts"`
	Scope          map[string]int `json:"scope"` // rows held per family, e.g. "work_orders"
}

// List is the list envelope of CONTRACT.md.
type List[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// MarshalJSON writes nil items as [].
func (l List[T]) MarshalJSON() ([]byte, error) {
	type plain List[T]
	p := plain(l)
	p.Items = nonNil(p.Items)
	return json.Marshal(p)
}

// ErrorResponse is the error envelope: {"error":{"code","message","fields"}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of ErrorResponse.
type ErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// MarshalJSON writes nil fields as {}.
func (e ErrorBody) MarshalJSON() ([]byte, error) {
	type plain ErrorBody
	p := plain(e)
	if p.Fields == nil {
		p.Fields = map[string]string{}
	}
	return json.Marshal(p)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
