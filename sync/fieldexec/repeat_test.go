package fieldexec_test

import (
	"errors"
	"testing"
	"time"

	"dotmac.dev/field/sync/fieldexec"
)

// TestApply_RepeatedEnRoute: an en_route that follows an en_route within RepeatWindow and changes
// no status is a double tap (the PWA flake: a second tap, or a retry under a new
// client_event_id, used to open a second travel movement and a second event).
func TestApply_RepeatedEnRoute(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		from    fieldexec.Status
		last    fieldexec.Event
		lastAt  time.Time
		at      time.Time
		ev      fieldexec.Event
		repeat  bool
		to      fieldexec.Status
		wantErr error
	}{
		{"double tap while dispatched", di, fieldexec.EventEnRoute, t0, t0.Add(2 * time.Second), fieldexec.EventEnRoute, true, di, nil},
		{"double tap while paused", pa, fieldexec.EventEnRoute, t0, t0.Add(3 * time.Second), fieldexec.EventEnRoute, true, pa, nil},
		{"at the edge of the window", di, fieldexec.EventEnRoute, t0, t0.Add(fieldexec.RepeatWindow), fieldexec.EventEnRoute, true, di, nil},
		{"device clock stepped back", di, fieldexec.EventEnRoute, t0, t0.Add(-2 * time.Second), fieldexec.EventEnRoute, true, di, nil},
		{"just past the window", di, fieldexec.EventEnRoute, t0, t0.Add(fieldexec.RepeatWindow + time.Millisecond), fieldexec.EventEnRoute, false, di, nil},
		{"an hour later: a new trip", di, fieldexec.EventEnRoute, t0, t0.Add(time.Hour), fieldexec.EventEnRoute, false, di, nil},
		{"the status changes: not a repeat", sc, fieldexec.EventEnRoute, t0, t0.Add(time.Second), fieldexec.EventEnRoute, false, di, nil},
		{"the last event was arrived", di, fieldexec.EventArrived, t0, t0.Add(time.Second), fieldexec.EventEnRoute, false, di, nil},
		{"no last event known", di, "", time.Time{}, t0, fieldexec.EventEnRoute, false, di, nil},
		{"no time for this event", di, fieldexec.EventEnRoute, t0, time.Time{}, fieldexec.EventEnRoute, false, di, nil},
		{"only en_route: accept twice is allowed", di, fieldexec.EventAccept, t0, t0.Add(time.Second), fieldexec.EventAccept, false, di, nil},
		{"a conflict stays a conflict", ip, fieldexec.EventEnRoute, t0, t0.Add(time.Second), fieldexec.EventEnRoute, false, "", fieldexec.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := fieldexec.Apply(fieldexec.Input{Event: tt.ev, From: tt.from, Last: tt.last, LastAt: tt.lastAt, At: tt.at})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Repeat != tt.repeat || out.To != tt.to {
				t.Fatalf("out = %+v, want repeat %v to %s", out, tt.repeat, tt.to)
			}
			if tt.repeat && (out.StatusChanged || out.StartMovement || out.StartTimer || out.StopTimer) {
				t.Fatalf("a double tap does something: %+v", out)
			}
			if !tt.repeat && tt.ev == fieldexec.EventEnRoute && !out.StartMovement {
				t.Fatalf("a real en_route starts no movement: %+v", out)
			}
		})
	}
}
