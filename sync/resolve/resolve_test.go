package resolve_test

import (
	"encoding/json"
	"errors"
	"testing"

	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/resolve"
)

var (
	early = hlc.Timestamp{Wall: 1000, Node: "hub"}
	late  = hlc.Timestamp{Wall: 2000, Node: "dev"}
)

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		rule     resolve.Rule
		hub      string
		changed  bool
		device   string
		hubHLC   hlc.Timestamp
		devHLC   hlc.Timestamp
		value    string
		winner   resolve.Winner
		conflict bool
		loser    string
		review   bool
		wantErr  error
	}{
		// Office-owned: the hub always wins; a different device value is logged.
		{name: "HubWins/Same", rule: resolve.HubWins, hub: `"high"`, device: `"high"`, value: `"high"`, winner: "hub"},
		{name: "HubWins/DeviceEdit", rule: resolve.HubWins, hub: `"high"`, device: `"low"`, value: `"high"`, winner: "hub", conflict: true, loser: `"low"`},
		{name: "HubWins/BothChanged", rule: resolve.HubWins, hub: `"high"`, changed: true, device: `"low"`, devHLC: late, hubHLC: early, value: `"high"`, winner: "hub", conflict: true, loser: `"low"`},

		// Field facts.
		{name: "DeviceWins/HubUnchanged", rule: resolve.DeviceWins, hub: `null`, device: `"2025-03-01T10:00:00Z"`, value: `"2025-03-01T10:00:00Z"`, winner: "device"},
		{name: "DeviceWins/HubChanged", rule: resolve.DeviceWins, hub: `"a"`, changed: true, device: `"b"`, value: `"b"`, winner: "device", conflict: true, loser: `"a"`},
		{name: "DeviceWins/HubChangedSame", rule: resolve.DeviceWins, hub: `1.0`, changed: true, device: `1`, value: `1`, winner: "device"},
		{name: "Append/Union", rule: resolve.DeviceAppend, hub: `[{"id":"n1","body":"x"}]`, changed: true, device: `[{"id":"n1","body":"edited"},{"id":"n2"}]`,
			value: `[{"id":"n1","body":"x"},{"id":"n2"}]`, winner: "merged"},
		{name: "Append/ClientRef", rule: resolve.DeviceAppend, hub: `[{"client_ref":"r1"}]`, device: `[{"client_ref":"r1"},{"client_ref":"r2"}]`,
			value: `[{"client_ref":"r1"},{"client_ref":"r2"}]`, winner: "merged"},
		{name: "Append/Scalars", rule: resolve.DeviceAppend, hub: `["a","b"]`, device: `["b","c"]`, value: `["a","b","c"]`, winner: "merged"},
		{name: "Append/HubNull", rule: resolve.DeviceAppend, hub: ``, device: `["a"]`, value: `["a"]`, winner: "merged"},
		{name: "Append/NotList", rule: resolve.DeviceAppend, hub: `"a"`, device: `["a"]`, wantErr: resolve.ErrType},
		{name: "Sum/Decimal", rule: resolve.DeviceSum, hub: `0.1`, changed: true, device: `0.2`, value: `0.3`, winner: "merged"},
		{name: "Sum/HubNull", rule: resolve.DeviceSum, hub: `null`, device: `2.50`, value: `2.5`, winner: "merged"},
		{name: "Sum/Negative", rule: resolve.DeviceSum, hub: `3`, device: `-1.25`, value: `1.75`, winner: "merged"},
		{name: "Sum/Exponent", rule: resolve.DeviceSum, hub: `1e2`, device: `1.5e-1`, value: `100.15`, winner: "merged"},
		{name: "Sum/NotNumber", rule: resolve.DeviceSum, hub: `1`, device: `"2"`, wantErr: resolve.ErrType},

		// Shared: last writer.
		{name: "LastWriter/HubUnchanged", rule: resolve.LastWriter, hub: `"old"`, device: `"new"`, hubHLC: late, devHLC: early, value: `"new"`, winner: "device"},
		{name: "LastWriter/DeviceLater", rule: resolve.LastWriter, hub: `"office"`, changed: true, device: `"tech"`, hubHLC: early, devHLC: late, value: `"tech"`, winner: "device", conflict: true, loser: `"office"`},
		{name: "LastWriter/HubLater", rule: resolve.LastWriter, hub: `"office"`, changed: true, device: `"tech"`, hubHLC: late, devHLC: early, value: `"office"`, winner: "hub", conflict: true, loser: `"tech"`},
		{name: "LastWriter/TieOnNode", rule: resolve.LastWriter, hub: `"office"`, changed: true, device: `"tech"`,
			hubHLC: hlc.Timestamp{Wall: 5, Node: "hub"}, devHLC: hlc.Timestamp{Wall: 5, Node: "dev"}, value: `"office"`, winner: "hub", conflict: true, loser: `"tech"`},
		{name: "LastWriter/Same", rule: resolve.LastWriter, hub: `"x"`, changed: true, device: `"x"`, hubHLC: late, value: `"x"`, winner: "device"},

		// State machine: the field fact stands; an office change meanwhile opens a review.
		{name: "StateMachine/CancelVsCompleted", rule: resolve.StateMachine, hub: `"canceled"`, changed: true, device: `"completed"`,
			value: `"completed"`, winner: "device", conflict: true, loser: `"canceled"`, review: true},
		{name: "StateMachine/RescheduledVsStarted", rule: resolve.StateMachine, hub: `"scheduled"`, changed: true, device: `"in_progress"`,
			value: `"in_progress"`, winner: "device", conflict: true, loser: `"scheduled"`, review: true},
		{name: "StateMachine/NoOfficeChange", rule: resolve.StateMachine, hub: `"dispatched"`, device: `"in_progress"`, value: `"in_progress"`, winner: "device"},
		{name: "StateMachine/Same", rule: resolve.StateMachine, hub: `"completed"`, changed: true, device: `"completed"`, value: `"completed"`, winner: "device"},
		{name: "StateMachine/NotAFieldStatus", rule: resolve.StateMachine, hub: `"scheduled"`, device: `"draft"`, wantErr: resolve.ErrType},

		{name: "UnknownRule", rule: "coin_flip", hub: `1`, device: `2`, wantErr: errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := resolve.Resolve(tt.rule, raw(tt.hub), tt.changed, raw(tt.device), tt.hubHLC, tt.devHLC)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr.Error() != "" && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Value) != tt.value || d.Winner != tt.winner || d.Conflict != tt.conflict || d.Review != tt.review {
				t.Fatalf("got value=%s winner=%s conflict=%v review=%v, want %s %s %v %v",
					d.Value, d.Winner, d.Conflict, d.Review, tt.value, tt.winner, tt.conflict, tt.review)
			}
			if tt.conflict && (string(d.Loser) != tt.loser || d.Reason == "") {
				t.Fatalf("loser=%s reason=%q, want %s", d.Loser, d.Reason, tt.loser)
			}
			if !tt.conflict && d.Loser != nil {
				t.Fatalf("loser %s without conflict", d.Loser)
			}
		})
	}
}

func TestRule_Owner(t *testing.T) {
	want := map[resolve.Rule]resolve.Owner{
		resolve.HubWins: resolve.OwnerOffice, resolve.LastWriter: resolve.OwnerShared,
		resolve.DeviceAppend: resolve.OwnerField, resolve.DeviceSum: resolve.OwnerField,
		resolve.DeviceWins: resolve.OwnerField, resolve.StateMachine: resolve.OwnerField,
	}
	for _, r := range resolve.Rules() {
		if r.Owner() != want[r] {
			t.Errorf("%s.Owner() = %s, want %s", r, r.Owner(), want[r])
		}
	}
}

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		eq   bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2.0],"a":1}`, true},
		{`1`, `1.0`, true},
		{``, `null`, true},
		{`"1"`, `1`, false},
		{`[1,2]`, `[2,1]`, false},
	} {
		if got := resolve.Equal(raw(c.a), raw(c.b)); got != c.eq {
			t.Errorf("Equal(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	if _, err := resolve.NewPolicy(resolve.Table{"wo": {"x": "coin"}}); err == nil {
		t.Error("unknown rule accepted")
	}
	if _, err := resolve.NewPolicy(resolve.Table{"wo": {"x": resolve.HubWins}}, resolve.Table{"wo": {"x": resolve.DeviceWins}}); err == nil {
		t.Error("field declared twice accepted")
	}
	p := resolve.MustPolicy(resolve.Table{"wo": {"b": resolve.HubWins, "a": resolve.DeviceWins}}, resolve.Table{"note": {"body": resolve.DeviceWins}})
	if got := p.Fields("wo"); len(got) != 2 || got[0] != "a" {
		t.Errorf("Fields = %v", got)
	}
	if got := p.Entities(); len(got) != 2 || got[0] != "note" {
		t.Errorf("Entities = %v", got)
	}
	if r, ok := p.Rule("wo", "b"); !ok || r != resolve.HubWins {
		t.Errorf("Rule = %v %v", r, ok)
	}
}

func TestPolicy_Resolve(t *testing.T) {
	p := resolve.MustPolicy(resolve.Table{"work_order": {
		"priority":     resolve.HubWins,
		"status":       resolve.StateMachine,
		"access_notes": resolve.LastWriter,
		"tags":         resolve.DeviceAppend,
	}})
	m := resolve.Mutation{
		Entity: "work_order",
		Device: map[string]json.RawMessage{
			"priority":     raw(`"urgent"`),
			"status":       raw(`"completed"`),
			"access_notes": raw(`"gate 42"`),
			"tags":         raw(`["ladder"]`),
			"cost":         raw(`9999`),
		},
		Hub: map[string]json.RawMessage{
			"priority":     raw(`"normal"`),
			"status":       raw(`"canceled"`),
			"access_notes": raw(`"gate 41"`),
			"tags":         raw(`["fiber"]`),
			"cost":         raw(`10`),
		},
		HubChanged: func(f string) bool { return f == "status" || f == "access_notes" },
		HubHLC:     func(string) hlc.Timestamp { return early },
		DeviceHLC:  late,
	}
	values, ds, err := p.Resolve(m)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"status": `"completed"`, "access_notes": `"gate 42"`, "tags": `["fiber","ladder"]`}
	if len(values) != len(want) {
		t.Fatalf("values = %v", values)
	}
	for k, v := range want {
		if string(values[k]) != v {
			t.Errorf("%s = %s, want %s", k, values[k], v)
		}
	}
	conflicts := map[string]bool{}
	for _, d := range ds {
		if d.Conflict {
			conflicts[d.Field] = d.Review
		}
	}
	// priority and cost lose (logged), access_notes' hub value loses (logged),
	// status opens a review.
	if len(conflicts) != 4 || !conflicts["status"] || conflicts["cost"] {
		t.Fatalf("conflicts = %v", conflicts)
	}
	if _, _, err := p.Resolve(resolve.Mutation{Entity: "work_order", Device: map[string]json.RawMessage{"tags": raw(`1`)}}); !errors.Is(err, resolve.ErrType) {
		t.Fatalf("bad tags: %v", err)
	}
}
