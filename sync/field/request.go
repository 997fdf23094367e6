package field

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"dotmac.dev/field/sync/fieldexec"
)

// Limits shared by the hub and the edge agent.
const (
	MaxNoteBytes       = 10_000
	MaxAttachmentBytes = 10 << 20
	MaxConsumeLines    = 100
)

// AttachmentMIMEs are the accepted attachment content types.
var AttachmentMIMEs = []string{"image/jpeg", "image/png", "image/webp", "application/pdf"}

// Errors maps a request field to what is wrong with it; nil means valid.
type Errors map[string]string

func (e Errors) add(field, msg string) Errors {
	if e == nil {
		e = Errors{}
	}
	if _, ok := e[field]; !ok {
		e[field] = msg
	}
	return e
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its canonical text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

func checkRef(e Errors, field, v string) Errors {
	switch {
	case v == "":
		return e.add(field, field+" is required")
	case !IsUUID(v):
		return e.add(field, field+" must be a UUID")
	}
	return e
}

func checkCoords(e Errors, lat, lon *float64) Errors {
	if (lat == nil) != (lon == nil) {
		return e.add("lat", "lat and lon go together")
	}
	if lat != nil && (math.IsNaN(*lat) || *lat < -90 || *lat > 90) {
		e = e.add("lat", "lat must be between -90 and 90")
	}
	if lon != nil && (math.IsNaN(*lon) || *lon < -180 || *lon > 180) {
		e = e.add("lon", "lon must be between -180 and 180")
	}
	return e
}

// TransitionRequest is POST /api/v1/field/jobs/{id}/transition.
type TransitionRequest struct {
	Event         fieldexec.Event `json:"event"`
	ClientEventID string          `json:"client_event_id"`
	OccurredAt    *time.Time      `json:"occurred_at"`
	Lat           *float64        `json:"lat"`
	Lon           *float64        `json:"lon"`
	Note          string          `json:"note"`
	Payload       Payload         `json:"payload"`
}

// Validate checks the shape of the request. The state machine (status, gate,
// reason) is checked by fieldexec.Apply against the job.
func (r TransitionRequest) Validate() Errors {
	var e Errors
	if r.Event == "" {
		e = e.add("event", "event is required")
	} else if !r.Event.Valid() {
		e = e.add("event", fmt.Sprintf("unknown event %q", r.Event))
	}
	e = checkRef(e, "client_event_id", r.ClientEventID)
	e = checkCoords(e, r.Lat, r.Lon)
	if len(r.Note) > MaxNoteBytes {
		e = e.add("note", fmt.Sprintf("note is longer than %d bytes", MaxNoteBytes))
	}
	if r.Event == fieldexec.EventUnableToComplete {
		if _, err := fieldexec.ParseReason(r.Payload.Reason); err != nil {
			e = e.add("reason", err.Error())
		}
	}
	return e
}

// Input returns the fieldexec input for a job in status from holding evidence.
func (r TransitionRequest) Input(from fieldexec.Status, evidence fieldexec.Evidence, gate bool) fieldexec.Input {
	if evidence.SignatureUnavailableReason == "" {
		evidence.SignatureUnavailableReason = r.Payload.SignatureUnavailableReason
	}
	return fieldexec.Input{Event: r.Event, From: from, Reason: r.Payload.Reason, Evidence: evidence, GateEnabled: gate}
}

// NoteRequest is POST /api/v1/field/jobs/{id}/notes.
type NoteRequest struct {
	ClientRef string `json:"client_ref"`
	Body      string `json:"body"`
}

// Validate rejects a blank or oversized body and a missing client_ref.
func (r NoteRequest) Validate() Errors {
	e := checkRef(nil, "client_ref", r.ClientRef)
	switch {
	case strings.TrimSpace(r.Body) == "":
		e = e.add("body", "body is required")
	case len(r.Body) > MaxNoteBytes:
		e = e.add("body", fmt.Sprintf("body is longer than %d bytes", MaxNoteBytes))
	case !utf8.ValidString(r.Body):
		e = e.add("body", "body is not valid UTF-8")
	}
	return e
}

// ConsumeRequest is POST /api/v1/field/jobs/{id}/materials/consume. Each line's
// quantity is what this call consumes; calls add up.
type ConsumeRequest struct {
	ClientRef string        `json:"client_ref"`
	Lines     []ConsumeLine `json:"lines"`
}

// ConsumeLine is one material consumed.
type ConsumeLine struct {
	MaterialID string  `json:"material_id"`
	Quantity   float64 `json:"quantity"`
}

// Validate needs at least one line, each a known-shaped id and a positive,
// finite quantity, with no material twice.
func (r ConsumeRequest) Validate() Errors {
	e := checkRef(nil, "client_ref", r.ClientRef)
	switch {
	case len(r.Lines) == 0:
		return e.add("lines", "at least one line is required")
	case len(r.Lines) > MaxConsumeLines:
		return e.add("lines", fmt.Sprintf("at most %d lines", MaxConsumeLines))
	}
	seen := map[string]bool{}
	for i, l := range r.Lines {
		p := fmt.Sprintf("lines[%d].", i)
		if !IsUUID(l.MaterialID) {
			e = e.add(p+"material_id", "material_id must be a UUID")
		} else if seen[l.MaterialID] {
			e = e.add(p+"material_id", "material appears twice")
		}
		seen[l.MaterialID] = true
		if !(l.Quantity > 0) || math.IsInf(l.Quantity, 0) {
			e = e.add(p+"quantity", "quantity must be greater than 0")
		}
	}
	return e
}

// SurveyRequest is POST /api/v1/field/jobs/{id}/survey.
type SurveyRequest struct {
	ClientRef string                     `json:"client_ref"`
	Answers   map[string]json.RawMessage `json:"answers"`
}

// Validate checks client_ref and that every answer is well-formed JSON. Pass the
// survey's questions to also reject unknown ids, wrong types, and unanswered
// required questions.
func (r SurveyRequest) Validate(questions ...Question) Errors {
	e := checkRef(nil, "client_ref", r.ClientRef)
	if len(r.Answers) == 0 {
		return e.add("answers", "at least one answer is required")
	}
	byID := map[string]Question{}
	for _, q := range questions {
		byID[q.ID] = q
	}
	for id, raw := range r.Answers {
		f := "answers." + id
		if !json.Valid(raw) {
			e = e.add(f, "answer is not valid JSON")
			continue
		}
		if len(questions) == 0 {
			continue
		}
		q, ok := byID[id]
		if !ok {
			e = e.add(f, "no such question")
			continue
		}
		if msg := checkAnswer(q, raw); msg != "" {
			e = e.add(f, msg)
		}
	}
	for _, q := range questions {
		if raw, ok := r.Answers[q.ID]; q.Required && (!ok || isBlank(raw)) {
			e = e.add("answers."+q.ID, q.Label+" is required")
		}
	}
	return e
}

func isBlank(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == `""` || s == "[]"
}

func checkAnswer(q Question, raw json.RawMessage) string {
	if isBlank(raw) {
		return ""
	}
	switch q.Type {
	case QuestionNumber:
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return "must be a number"
		}
	case QuestionCheckbox:
		var b bool
		var many []string
		if json.Unmarshal(raw, &b) != nil && json.Unmarshal(raw, &many) != nil {
			return "must be true, false or a list of options"
		}
		for _, v := range many {
			if len(q.Options) > 0 && !slices.Contains(q.Options, v) {
				return fmt.Sprintf("%q is not an option", v)
			}
		}
	case QuestionChoice:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "must be one of the options"
		}
		if len(q.Options) > 0 && !slices.Contains(q.Options, s) {
			return fmt.Sprintf("%q is not an option", s)
		}
	case QuestionGPS:
		var p struct{ Lat, Lon *float64 }
		if json.Unmarshal(raw, &p) != nil || p.Lat == nil || p.Lon == nil {
			return `must be {"lat":…,"lon":…}`
		}
		if m := checkCoords(nil, p.Lat, p.Lon); m != nil {
			return "coordinates out of range"
		}
	default: // text, photo and signature (an attachment id)
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "must be a string"
		}
	}
	return ""
}

// AttachmentUpload is the form of POST /api/v1/field/attachments (the file
// itself travels as the multipart part "file").
type AttachmentUpload struct {
	Kind        string
	WorkOrderID string
	ClientRef   string
	CapturedAt  *time.Time
	Lat, Lon    *float64
	SignerName  string
	MIME        string // of the file part, as sniffed
	Size        int64  // of the file part
}

// Validate checks the form fields and the file's type and size.
func (u AttachmentUpload) Validate() Errors {
	var e Errors
	if !slices.Contains([]string{KindPhoto, KindSignature, KindDocument}, u.Kind) {
		e = e.add("kind", "kind must be photo, signature or document")
	}
	e = checkRef(e, "work_order_id", u.WorkOrderID)
	e = checkRef(e, "client_ref", u.ClientRef)
	e = checkCoords(e, u.Lat, u.Lon)
	switch {
	case u.Size <= 0:
		e = e.add("file", "file is required")
	case u.Size > MaxAttachmentBytes:
		e = e.add("file", fmt.Sprintf("file is larger than %d MB", MaxAttachmentBytes>>20))
	}
	if u.Size > 0 && !slices.Contains(AttachmentMIMEs, u.MIME) {
		e = e.add("file", fmt.Sprintf("type %q is not accepted; use JPEG, PNG, WebP, GIF or PDF", u.MIME))
	}
	return e
}
