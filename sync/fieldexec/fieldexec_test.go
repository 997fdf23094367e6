package fieldexec_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/sync/fieldexec"
)

// Abbreviations for the matrix below.
const (
	dr = fieldexec.StatusDraft
	sc = fieldexec.StatusScheduled
	di = fieldexec.StatusDispatched
	ip = fieldexec.StatusInProgress
	pa = fieldexec.StatusPaused
	co = fieldexec.StatusCompleted
	ca = fieldexec.StatusCanceled
)

// want is the expected result of one (event, status) pair: "409" for a
// conflict, "=" for allowed without a status change, "rep" for a double tap,
// or the target status.
var matrix = map[fieldexec.Event]map[fieldexec.Status]string{
	fieldexec.EventAccept:           {dr: "409", sc: "=", di: "=", ip: "409", pa: "409", co: "409", ca: "409"},
	fieldexec.EventEnRoute:          {dr: "409", sc: "dispatched", di: "=", ip: "409", pa: "=", co: "409", ca: "409"},
	fieldexec.EventArrived:          {dr: "409", sc: "=", di: "=", ip: "409", pa: "=", co: "409", ca: "409"},
	fieldexec.EventStart:            {dr: "409", sc: "in_progress", di: "in_progress", ip: "409", pa: "409", co: "409", ca: "409"},
	fieldexec.EventPause:            {dr: "409", sc: "409", di: "409", ip: "paused", pa: "rep", co: "409", ca: "409"},
	fieldexec.EventHold:             {dr: "409", sc: "409", di: "409", ip: "paused", pa: "rep", co: "409", ca: "409"},
	fieldexec.EventResume:           {dr: "409", sc: "409", di: "409", ip: "rep", pa: "in_progress", co: "409", ca: "409"},
	fieldexec.EventComplete:         {dr: "409", sc: "409", di: "409", ip: "completed", pa: "409", co: "409", ca: "409"},
	fieldexec.EventUnableToComplete: {dr: "409", sc: "canceled", di: "canceled", ip: "canceled", pa: "canceled", co: "409", ca: "409"},
}

var fullEvidence = fieldexec.Evidence{Photos: 1, Signatures: 1}

func TestApply_Matrix(t *testing.T) {
	if len(matrix) != len(fieldexec.Events()) {
		t.Fatalf("matrix covers %d events, want %d", len(matrix), len(fieldexec.Events()))
	}
	for _, ev := range fieldexec.Events() {
		for _, from := range fieldexec.Statuses() {
			want, ok := matrix[ev][from]
			if !ok {
				t.Fatalf("matrix misses (%s, %s)", ev, from)
			}
			t.Run(string(ev)+"/"+string(from), func(t *testing.T) {
				out, err := fieldexec.Apply(fieldexec.Input{
					Event: ev, From: from, Reason: "no_access", Evidence: fullEvidence, GateEnabled: true,
				})
				switch want {
				case "409":
					if !errors.Is(err, fieldexec.ErrConflict) {
						t.Fatalf("err = %v, want conflict", err)
					}
					var fe *fieldexec.Error
					if !errors.As(err, &fe) || fe.Fields["status"] == "" || !strings.Contains(fe.Message, "not allowed") {
						t.Fatalf("conflict lacks a status field or message: %+v", fe)
					}
					if slices.Contains(fieldexec.AllowedEvents(from), ev) {
						t.Fatalf("AllowedEvents(%s) lists %s", from, ev)
					}
					if fieldexec.WhyNot(ev, from, fullEvidence) == "" {
						t.Fatalf("WhyNot is empty for a conflict")
					}
					return
				case "rep":
					if err != nil || !out.Repeat || out.To != from || out.StatusChanged || out.StartTimer || out.StopTimer {
						t.Fatalf("double tap: out=%+v err=%v", out, err)
					}
					if slices.Contains(fieldexec.AllowedEvents(from), ev) {
						t.Fatalf("AllowedEvents(%s) lists the double tap %s", from, ev)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				to := from
				if want != "=" {
					to = fieldexec.Status(want)
				}
				if out.To != to || out.StatusChanged != (to != from) || out.Repeat {
					t.Fatalf("out = %+v, want To=%s changed=%v", out, to, to != from)
				}
				if out.StartTimer != (to == ip && from != ip) || out.StopTimer != (from == ip && to != ip) {
					t.Fatalf("timer flags wrong: %+v", out)
				}
				if out.StartMovement != (ev == fieldexec.EventEnRoute) || out.CloseMovement != (ev == fieldexec.EventArrived) {
					t.Fatalf("movement flags wrong: %+v", out)
				}
				if !slices.Contains(fieldexec.AllowedEvents(from), ev) {
					t.Fatalf("AllowedEvents(%s) misses %s", from, ev)
				}
				if got := fieldexec.WhyNot(ev, from, fullEvidence); got != "" {
					t.Fatalf("WhyNot = %q, want empty", got)
				}
			})
		}
	}
}

func TestApply_CompletionGate(t *testing.T) {
	tests := []struct {
		name   string
		ev     fieldexec.Evidence
		gate   bool
		fields []string // missing fields; nil when accepted
	}{
		{"PhotoAndSignature", fieldexec.Evidence{Photos: 1, Signatures: 1}, true, nil},
		{"PhotoAndUnavailableReason", fieldexec.Evidence{Photos: 2, SignatureUnavailableReason: "customer left"}, true, nil},
		{"NoPhoto", fieldexec.Evidence{Signatures: 1}, true, []string{"photo"}},
		{"NoSignature", fieldexec.Evidence{Photos: 1}, true, []string{"signature"}},
		{"BlankUnavailableReason", fieldexec.Evidence{Photos: 1, SignatureUnavailableReason: "  "}, true, []string{"signature"}},
		{"Nothing", fieldexec.Evidence{}, true, []string{"photo", "signature"}},
		{"GateOff", fieldexec.Evidence{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventComplete, From: ip, Evidence: tt.ev, GateEnabled: tt.gate})
			if tt.fields == nil {
				if err != nil || out.To != co || !out.StopTimer {
					t.Fatalf("out=%+v err=%v", out, err)
				}
				return
			}
			var fe *fieldexec.Error
			if !errors.As(err, &fe) || fe.Code != fieldexec.CodeInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
			if len(fe.Fields) != len(tt.fields) {
				t.Fatalf("fields = %v, want %v", fe.Fields, tt.fields)
			}
			for _, f := range tt.fields {
				if fe.Fields[f] == "" {
					t.Fatalf("fields = %v, want %s", fe.Fields, f)
				}
			}
			if why := fieldexec.WhyNot(fieldexec.EventComplete, ip, tt.ev); why == "" || !strings.Contains(strings.ToLower(why), tt.fields[0]) {
				t.Fatalf("WhyNot = %q", why)
			}
		})
	}
	// The gate does not mask a conflict: status is checked first.
	_, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventComplete, From: pa, GateEnabled: true})
	if !errors.Is(err, fieldexec.ErrConflict) {
		t.Fatalf("complete from paused without evidence: %v, want conflict", err)
	}
}

func TestApply_UnableToCompleteReason(t *testing.T) {
	for _, r := range fieldexec.Reasons() {
		out, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventUnableToComplete, From: ip, Reason: string(r), GateEnabled: true})
		if err != nil || out.To != ca || !out.StopTimer {
			t.Fatalf("%s: out=%+v err=%v", r, out, err)
		}
	}
	for _, reason := range []string{"", "bored"} {
		_, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventUnableToComplete, From: di, Reason: reason})
		var fe *fieldexec.Error
		if !errors.As(err, &fe) || fe.Code != fieldexec.CodeInvalid || fe.Fields["reason"] == "" {
			t.Fatalf("reason %q: err = %v, want invalid reason", reason, err)
		}
	}
	// From paused the timer is already stopped.
	out, err := fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventUnableToComplete, From: pa, Reason: "unsafe"})
	if err != nil || out.StopTimer {
		t.Fatalf("out=%+v err=%v", out, err)
	}
}

func TestApply_Unknown(t *testing.T) {
	for _, in := range []fieldexec.Input{
		{Event: "teleport", From: sc},
		{Event: fieldexec.EventStart, From: "lost"},
	} {
		_, err := fieldexec.Apply(in)
		if !errors.Is(err, fieldexec.ErrInvalid) {
			t.Fatalf("%+v: err = %v, want invalid", in, err)
		}
	}
}

func TestParse(t *testing.T) {
	for _, e := range fieldexec.Events() {
		if got, err := fieldexec.ParseEvent(string(e)); err != nil || got != e {
			t.Fatalf("ParseEvent(%s) = %v, %v", e, got, err)
		}
	}
	for _, s := range fieldexec.Statuses() {
		if got, err := fieldexec.ParseStatus(string(s)); err != nil || got != s {
			t.Fatalf("ParseStatus(%s) = %v, %v", s, got, err)
		}
	}
	if _, err := fieldexec.ParseEvent("Start"); err == nil {
		t.Fatal("ParseEvent is case-insensitive")
	}
	if fieldexec.EventUnableToComplete.Label() != "Unable to complete" || ip.Label() != "in progress" {
		t.Fatal("labels")
	}
}

func TestClockSkewed(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		occurred time.Time
		want     bool
	}{
		{now, false},
		{now.Add(-fieldexec.MaxClockSkew), false},
		{now.Add(fieldexec.MaxClockSkew), false},
		{now.Add(-fieldexec.MaxClockSkew - time.Second), true},
		{now.Add(fieldexec.MaxClockSkew + time.Second), true},
		{time.Time{}, false},
	}
	for _, tt := range tests {
		if got := fieldexec.ClockSkewed(tt.occurred, now); got != tt.want {
			t.Errorf("ClockSkewed(%v) = %v, want %v", tt.occurred, got, tt.want)
		}
	}
}

func TestAllowedEvents_Terminal(t *testing.T) {
	for _, s := range fieldexec.Statuses() {
		if got := fieldexec.AllowedEvents(s); (len(got) == 0) != (s.Terminal() || s == dr) {
			t.Errorf("AllowedEvents(%s) = %v", s, got)
		}
	}
}
