// Package resolve decides, field by field, what happens when a device mutation
// meets the hub's record (ARCHITECTURE.md, sync guarantee 5). Every function is
// pure: the hub passes in both values and whether the hub changed the field
// since the version the device last saw, and stores the Decision, logging
// every losing value in its conflict log.
package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"dotmac.dev/field/sync/fieldexec"
	"dotmac.dev/field/sync/hlc"
)

// Owner says who owns a field.
type Owner string

// Owners.
const (
	OwnerOffice Owner = "office" // schedule, assignee and crew, priority, description, customer details
	OwnerField  Owner = "field"  // execution facts: events and status, actual times, notes, evidence, consumption, answers
	OwnerShared Owner = "shared" // either side may write
)

// Rule is how a field's conflicts are settled.
type Rule string

// Rules.
const (
	// HubWins keeps the hub's value; a different device value is logged.
	HubWins Rule = "hub_wins"
	// DeviceAppend merges a list: the hub's items, then the device's new ones
	// (by "id" or "client_ref" for objects, by value otherwise). Nothing is lost.
	DeviceAppend Rule = "device_append"
	// DeviceSum adds the device's value, a delta, to the hub's. Nothing is lost.
	DeviceSum Rule = "device_sum"
	// DeviceWins takes the device's value; a hub value it overwrites is logged.
	DeviceWins Rule = "device_wins"
	// LastWriter takes the device's value unless the hub changed the field
	// since the device's base; then the later hybrid logical clock wins.
	LastWriter Rule = "last_writer"
	// StateMachine is for a status driven by field events: the field fact
	// stands, and if the office changed the status meanwhile a conflict is
	// opened for review (e.g. the office canceled a job completed offline).
	StateMachine Rule = "state_machine"
)

var rules = []Rule{HubWins, DeviceAppend, DeviceSum, DeviceWins, LastWriter, StateMachine}

// Rules returns every rule.
func Rules() []Rule { return slices.Clone(rules) }

// Valid reports whether r is a known rule.
func (r Rule) Valid() bool { return slices.Contains(rules, r) }

// Owner returns who owns a field with rule r.
func (r Rule) Owner() Owner {
	switch r {
	case HubWins:
		return OwnerOffice
	case LastWriter:
		return OwnerShared
	}
	return OwnerField
}

// Winner says whose value a field ends with.
type Winner string

// Winners.
const (
	WinnerHub    Winner = "hub"
	WinnerDevice Winner = "device"
	WinnerMerged Winner = "merged"
)

// Decision is the outcome for one field.
type Decision struct {
	Value  json.RawMessage // what the field becomes
	Winner Winner
	// Conflict means a differing value lost: log Loser (and both values) in
	// the conflict log. Merges never conflict.
	Conflict bool
	Loser    json.RawMessage
	// Review means the conflict is opened for the dispatcher to act on, not
	// just recorded.
	Review bool
	Reason string // for the conflict log and for people
}

// ErrType means a value does not fit its rule (e.g. a non-number to sum).
var ErrType = errors.New("resolve: value does not fit the rule")

// Resolve settles one field. hub is the hub's current value, hubChanged says
// whether the hub changed it after the version the device based its change
// on, device is the device's value (for DeviceSum, the delta), and the HLCs
// are when each side last wrote it (the device's as received, drift-bounded).
func Resolve(rule Rule, hub json.RawMessage, hubChanged bool, device json.RawMessage, hubHLC, deviceHLC hlc.Timestamp) (Decision, error) {
	hub, device = orNull(hub), orNull(device)
	same := Equal(hub, device)
	switch rule {
	case HubWins:
		if same {
			return Decision{Value: hub, Winner: WinnerHub}, nil
		}
		return Decision{Value: hub, Winner: WinnerHub, Conflict: true, Loser: device,
			Reason: "office-owned field: the hub's value stands"}, nil

	case DeviceWins:
		if !hubChanged || same {
			return Decision{Value: device, Winner: WinnerDevice}, nil
		}
		return Decision{Value: device, Winner: WinnerDevice, Conflict: true, Loser: hub,
			Reason: "field-owned field changed on the hub too: the device's value stands"}, nil

	case DeviceAppend:
		v, err := appendLists(hub, device)
		if err != nil {
			return Decision{}, err
		}
		return Decision{Value: v, Winner: WinnerMerged}, nil

	case DeviceSum:
		v, err := sum(hub, device)
		if err != nil {
			return Decision{}, err
		}
		return Decision{Value: v, Winner: WinnerMerged}, nil

	case LastWriter:
		if !hubChanged || same {
			return Decision{Value: device, Winner: WinnerDevice}, nil
		}
		if deviceHLC.After(hubHLC) {
			return Decision{Value: device, Winner: WinnerDevice, Conflict: true, Loser: hub,
				Reason: "both changed it: the device wrote last"}, nil
		}
		return Decision{Value: hub, Winner: WinnerHub, Conflict: true, Loser: device,
			Reason: "both changed it: the hub wrote last"}, nil

	case StateMachine:
		var s string
		if err := json.Unmarshal(device, &s); err != nil || !fieldStatus(fieldexec.Status(s)) {
			return Decision{}, fmt.Errorf("%w: %s is not a status field events lead to", ErrType, device)
		}
		if !hubChanged || same {
			return Decision{Value: device, Winner: WinnerDevice}, nil
		}
		return Decision{Value: device, Winner: WinnerDevice, Conflict: true, Review: true, Loser: hub,
			Reason: fmt.Sprintf("the office set %s while the technician's events led to %s: the field fact stands; review", unquote(hub), s)}, nil
	}
	return Decision{}, fmt.Errorf("resolve: unknown rule %q", rule)
}

// fieldStatus reports whether some technician event leads to s.
func fieldStatus(s fieldexec.Status) bool {
	for _, from := range fieldexec.Statuses() {
		for _, e := range fieldexec.AllowedEvents(from) {
			if out, err := fieldexec.Apply(fieldexec.Input{Event: e, From: from, Reason: string(fieldexec.ReasonOther)}); err == nil && out.To == s {
				return true
			}
		}
	}
	return false
}

func unquote(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

var null = json.RawMessage("null")

func orNull(v json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(v)) == 0 {
		return null
	}
	return v
}

// Equal reports whether two JSON values are the same value (object key order
// and number spelling aside).
func Equal(a, b json.RawMessage) bool {
	a, b = orNull(a), orNull(b)
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(normalize(x), normalize(y))
}

// number is a normalized JSON number, distinct from a string.
type number string

// normalize turns json.Numbers into exact rationals so 1.0 == 1.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(t.String()); ok {
			return number(r.RatString())
		}
		return number(t)
	case []any:
		for i := range t {
			t[i] = normalize(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = normalize(t[k])
		}
	}
	return v
}

func appendLists(hub, device json.RawMessage) (json.RawMessage, error) {
	var h, d []json.RawMessage
	if err := listOf(hub, &h); err != nil {
		return nil, err
	}
	if err := listOf(device, &d); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, x := range h {
		seen[identity(x)] = true
	}
	out := slices.Clone(h)
	if out == nil {
		out = []json.RawMessage{}
	}
	for _, x := range d {
		if k := identity(x); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return json.Marshal(out)
}

func listOf(v json.RawMessage, dst *[]json.RawMessage) error {
	if string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%w: %s is not a list", ErrType, truncate(v))
	}
	return nil
}

// identity keys a list item: its "id" or "client_ref" if it is an object with
// one, else its compact JSON.
func identity(x json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(x, &obj) == nil {
		for _, k := range []string{"id", "client_ref"} {
			if v, ok := obj[k]; ok && string(v) != "null" {
				return k + "=" + string(v)
			}
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, x) != nil {
		return string(x)
	}
	return b.String()
}

// sum adds two JSON numbers exactly in decimal (no 0.1+0.2 drift).
func sum(hub, delta json.RawMessage) (json.RawMessage, error) {
	a, sa, err := decimal(hub)
	if err != nil {
		return nil, err
	}
	b, sb, err := decimal(delta)
	if err != nil {
		return nil, err
	}
	r := new(big.Rat).Add(a, b)
	s := r.FloatString(max(sa, sb))
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return json.RawMessage(s), nil
}

// decimal parses a JSON number (null is 0) and returns its decimal places.
func decimal(v json.RawMessage) (*big.Rat, int, error) {
	if string(v) == "null" {
		return new(big.Rat), 0, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil || bytes.HasPrefix(bytes.TrimSpace(v), []byte(`"`)) {
		return nil, 0, fmt.Errorf("%w: %s is not a number", ErrType, truncate(v))
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s is not a number", ErrType, truncate(v))
	}
	places := 0
	s := strings.ToLower(n.String())
	mant, exp, hasExp := strings.Cut(s, "e")
	if _, frac, ok := strings.Cut(mant, "."); ok {
		places = len(frac)
	}
	if hasExp {
		var e int
		fmt.Sscan(exp, &e)
		places = max(0, places-e)
	}
	return r, places, nil
}

func truncate(v json.RawMessage) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}
