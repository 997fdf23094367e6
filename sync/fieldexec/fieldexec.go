// Package fieldexec is the field job state machine and completion gate shared by
// the hub and the edge agent (reference §3.7), so a tablet enforces offline
// exactly the rules the hub enforces online.
//
// The package is pure: Apply decides what an event does to a job; callers
// persist the status, the event row, the work timer and the travel movement.
package fieldexec

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is a work order status.
type Status string

// Work order statuses.
const (
	StatusDraft      Status = "draft"
	StatusScheduled  Status = "scheduled"
	StatusDispatched Status = "dispatched"
	StatusInProgress Status = "in_progress"
	StatusPaused     Status = "paused"
	StatusCompleted  Status = "completed"
	StatusCanceled   Status = "canceled"
)

var statuses = []Status{
	StatusDraft, StatusScheduled, StatusDispatched, StatusInProgress,
	StatusPaused, StatusCompleted, StatusCanceled,
}

// Statuses returns every status in lifecycle order.
func Statuses() []Status { return slices.Clone(statuses) }

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(statuses, s) }

// Terminal reports whether no technician event can leave s.
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusCanceled }

// TimerRunning reports whether the work timer runs while a job is in s.
func (s Status) TimerRunning() bool { return s == StatusInProgress }

// Label is s for people: "in progress".
func (s Status) Label() string { return strings.ReplaceAll(string(s), "_", " ") }

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", invalid("status", fmt.Sprintf("unknown status %q", s))
	}
	return st, nil
}

// Event is a technician execution event.
type Event string

// Technician events.
const (
	EventAccept           Event = "accept"
	EventEnRoute          Event = "en_route"
	EventArrived          Event = "arrived"
	EventStart            Event = "start"
	EventPause            Event = "pause"
	EventHold             Event = "hold"
	EventResume           Event = "resume"
	EventComplete         Event = "complete"
	EventUnableToComplete Event = "unable_to_complete"
)

var events = []Event{
	EventAccept, EventEnRoute, EventArrived, EventStart, EventPause,
	EventHold, EventResume, EventComplete, EventUnableToComplete,
}

// Events returns every event in the order a job usually sees them.
func Events() []Event { return slices.Clone(events) }

// Valid reports whether e is a known event.
func (e Event) Valid() bool { return slices.Contains(events, e) }

// Label is e for people: "Unable to complete".
func (e Event) Label() string {
	s := strings.ReplaceAll(string(e), "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ParseEvent returns the event named s.
func ParseEvent(s string) (Event, error) {
	e := Event(s)
	if !e.Valid() {
		return "", invalid("event", fmt.Sprintf("unknown event %q; use one of %s", s, join(events)))
	}
	return e, nil
}

// Reason says why a job could not be completed.
type Reason string

// Reasons for unable_to_complete.
const (
	ReasonCustomerAbsent Reason = "customer_absent"
	ReasonNoAccess       Reason = "no_access"
	ReasonSiteNotReady   Reason = "site_not_ready"
	ReasonNeedsParts     Reason = "needs_parts"
	ReasonUnsafe         Reason = "unsafe"
	ReasonOther          Reason = "other"
)

var reasons = []Reason{
	ReasonCustomerAbsent, ReasonNoAccess, ReasonSiteNotReady,
	ReasonNeedsParts, ReasonUnsafe, ReasonOther,
}

// Reasons returns every unable_to_complete reason.
func Reasons() []Reason { return slices.Clone(reasons) }

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool { return slices.Contains(reasons, r) }

// ParseReason returns the reason named s.
func ParseReason(s string) (Reason, error) {
	r := Reason(s)
	if s == "" {
		return "", invalid("reason", "a reason is required: one of "+join(reasons))
	}
	if !r.Valid() {
		return "", invalid("reason", fmt.Sprintf("unknown reason %q; use one of %s", s, join(reasons)))
	}
	return r, nil
}

// Evidence is what the job holds when complete is fired.
type Evidence struct {
	Photos                     int
	Signatures                 int
	SignatureUnavailableReason string
}

// Missing returns, per field, what the completion gate still needs; nil when met.
func (ev Evidence) Missing() map[string]string {
	var m map[string]string
	if ev.Photos < 1 {
		m = map[string]string{"photo": "at least one photo is required"}
	}
	if ev.Signatures < 1 && strings.TrimSpace(ev.SignatureUnavailableReason) == "" {
		if m == nil {
			m = map[string]string{}
		}
		m["signature"] = "a signature or signature_unavailable_reason is required"
	}
	return m
}

// MaxClockSkew is how far a device's occurred_at may differ from the hub's
// received_at before the event is flagged (never rejected).
const MaxClockSkew = 15 * time.Minute

// ClockSkewed reports whether occurredAt and receivedAt differ by more than
// MaxClockSkew either way. A zero occurredAt is never skewed.
func ClockSkewed(occurredAt, receivedAt time.Time) bool {
	if occurredAt.IsZero() || receivedAt.IsZero() {
		return false
	}
	d := receivedAt.Sub(occurredAt)
	return d > MaxClockSkew || d < -MaxClockSkew
}

// Input is one event fired at a job.
type Input struct {
	Event Event
	From  Status
	// Reason is required by unable_to_complete; ignored otherwise.
	Reason   string
	Evidence Evidence
	// GateEnabled turns on the completion gate (setting
	// field.completion_requires_evidence, default on).
	GateEnabled bool
	// Last is the job's latest event and LastAt when it occurred; At is when
	// this one occurred. With them, an en_route that follows an en_route
	// within RepeatWindow and changes no status is a double tap. Zero values
	// turn the check off.
	Last   Event
	LastAt time.Time
	At     time.Time
}

// RepeatWindow is how close an en_route must follow the last en_route, with
// no status change, to be taken as a double tap (the technician tapped twice,
// or the app sent the tap again under a new client_event_id).
const RepeatWindow = 10 * time.Second

// repeatedEnRoute reports whether in is an en_route repeated within
// RepeatWindow of the last one (either clock order: the times are the
// device's).
func (in Input) repeatedEnRoute(to Status) bool {
	if in.Event != EventEnRoute || in.Last != EventEnRoute || to != in.From || in.LastAt.IsZero() || in.At.IsZero() {
		return false
	}
	d := in.At.Sub(in.LastAt)
	return d <= RepeatWindow && d >= -RepeatWindow
}

// Outcome is what an accepted event does. The timer flags are set only when the
// timer's state changes (it runs exactly while the job is in_progress).
type Outcome struct {
	To            Status
	StatusChanged bool
	// Repeat marks a double tap (pause while paused, resume while in
	// progress, en_route again within RepeatWindow with no status change):
	// nothing changes and callers answer as for a replay.
	Repeat        bool
	StartTimer    bool
	StopTimer     bool
	StartMovement bool
	CloseMovement bool
}

// rule is one event's row of the transition table.
type rule struct {
	from   []Status // allowed source statuses
	to     Status   // target; "" leaves the status as it is
	stay   []Status // also allowed, without a status change
	repeat []Status // double taps: allowed, nothing happens
}

var table = map[Event]rule{
	EventAccept:           {from: []Status{StatusScheduled, StatusDispatched}},
	EventEnRoute:          {from: []Status{StatusScheduled, StatusDispatched}, to: StatusDispatched, stay: []Status{StatusPaused}},
	EventArrived:          {from: []Status{StatusScheduled, StatusDispatched, StatusPaused}},
	EventStart:            {from: []Status{StatusScheduled, StatusDispatched}, to: StatusInProgress},
	EventPause:            {from: []Status{StatusInProgress}, to: StatusPaused, repeat: []Status{StatusPaused}},
	EventHold:             {from: []Status{StatusInProgress}, to: StatusPaused, repeat: []Status{StatusPaused}},
	EventResume:           {from: []Status{StatusPaused}, to: StatusInProgress, repeat: []Status{StatusInProgress}},
	EventComplete:         {from: []Status{StatusInProgress}, to: StatusCompleted},
	EventUnableToComplete: {from: []Status{StatusScheduled, StatusDispatched, StatusInProgress, StatusPaused}, to: StatusCanceled},
}

// Apply decides what in.Event does to a job in status in.From. It returns a
// *Error with CodeConflict when the status does not allow the event, and with
// CodeInvalid when the event, status, gate or reason is wrong.
func Apply(in Input) (Outcome, error) {
	r, ok := table[in.Event]
	if !ok {
		_, err := ParseEvent(string(in.Event))
		return Outcome{}, err
	}
	if !in.From.Valid() {
		_, err := ParseStatus(string(in.From))
		return Outcome{}, err
	}
	to := in.From
	switch {
	case slices.Contains(r.repeat, in.From):
		return Outcome{To: in.From, Repeat: true}, nil
	case slices.Contains(r.from, in.From):
		if r.to != "" {
			to = r.to
		}
	case slices.Contains(r.stay, in.From):
	default:
		return Outcome{}, &Error{
			Code:    CodeConflict,
			Message: notAllowed(in.Event, in.From, r),
			Fields:  map[string]string{"status": fmt.Sprintf("job is %s", in.From.Label())},
		}
	}
	if in.repeatedEnRoute(to) {
		return Outcome{To: in.From, Repeat: true}, nil
	}
	switch in.Event {
	case EventComplete:
		if in.GateEnabled {
			if m := in.Evidence.Missing(); m != nil {
				return Outcome{}, &Error{Code: CodeInvalid, Message: "completion needs evidence", Fields: m}
			}
		}
	case EventUnableToComplete:
		if _, err := ParseReason(in.Reason); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{
		To:            to,
		StatusChanged: to != in.From,
		StartTimer:    to.TimerRunning() && !in.From.TimerRunning(),
		StopTimer:     in.From.TimerRunning() && !to.TimerRunning(),
		StartMovement: in.Event == EventEnRoute,
		CloseMovement: in.Event == EventArrived,
	}, nil
}

// AllowedEvents returns the events that move a job in status from forward,
// i.e. the buttons to enable (double taps are accepted by Apply but not listed).
// unable_to_complete is listed even though it needs a reason, and complete even
// though it needs evidence: use WhyNot to explain a disabled button.
func AllowedEvents(from Status) []Event {
	var out []Event
	for _, e := range events {
		r := table[e]
		if slices.Contains(r.from, from) || slices.Contains(r.stay, from) {
			out = append(out, e)
		}
	}
	return out
}

// WhyNot returns why ev cannot be fired from status from with evidence ev
// (completion gate on), or "" when it can. unable_to_complete is judged
// without a reason, which the technician picks when firing it.
func WhyNot(e Event, from Status, evidence Evidence) string {
	in := Input{Event: e, From: from, Evidence: evidence, GateEnabled: true, Reason: string(ReasonOther)}
	if _, err := Apply(in); err != nil {
		if fe, ok := err.(*Error); ok && len(fe.Fields) > 0 && fe.Code == CodeInvalid && e == EventComplete {
			msgs := make([]string, 0, len(fe.Fields))
			for _, k := range []string{"photo", "signature"} {
				if m, ok := fe.Fields[k]; ok {
					msgs = append(msgs, m)
				}
			}
			return capitalize(strings.Join(msgs, "; "))
		}
		return err.Error()
	}
	return ""
}

func notAllowed(e Event, from Status, r rule) string {
	ok := append(slices.Clone(r.from), r.stay...)
	names := make([]string, len(ok))
	for i, s := range ok {
		names[i] = s.Label()
	}
	return fmt.Sprintf("%s is not allowed while the job is %s (only when %s)", e.Label(), from.Label(), orList(names))
}

// Error codes, as in the API error shape.
const (
	CodeConflict = "conflict"
	CodeInvalid  = "invalid"
)

// Error is a rejected event: Code is CodeConflict or CodeInvalid, Fields says
// per field what is wrong (e.g. "photo", "signature", "reason", "status").
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

// Sentinels for errors.Is: errors.Is(err, fieldexec.ErrConflict).
var (
	ErrConflict = &Error{Code: CodeConflict}
	ErrInvalid  = &Error{Code: CodeInvalid}
)

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code
}

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func invalid(field, msg string) *Error {
	return &Error{Code: CodeInvalid, Message: msg, Fields: map[string]string{field: msg}}
}

func join[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return "never"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
