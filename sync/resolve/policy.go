package resolve

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"dotmac.dev/field/sync/hlc"
)

// Table declares rules per entity and field:
//
//	resolve.Table{"work_order": {"priority": resolve.HubWins, "status": resolve.StateMachine}}
type Table map[string]map[string]Rule

// Policy maps entity and field to a rule. Build it with NewPolicy; it is
// read-only afterwards and safe for concurrent use.
type Policy struct {
	rules map[string]map[string]Rule
}

// NewPolicy merges tables into a policy. It rejects unknown rules and a field
// declared twice.
func NewPolicy(tables ...Table) (*Policy, error) {
	p := &Policy{rules: map[string]map[string]Rule{}}
	for _, t := range tables {
		for entity, fields := range t {
			if entity == "" {
				return nil, fmt.Errorf("resolve: empty entity name")
			}
			m := p.rules[entity]
			if m == nil {
				m = map[string]Rule{}
				p.rules[entity] = m
			}
			for field, r := range fields {
				if !r.Valid() {
					return nil, fmt.Errorf("resolve: %s.%s: unknown rule %q", entity, field, r)
				}
				if _, dup := m[field]; dup {
					return nil, fmt.Errorf("resolve: %s.%s declared twice", entity, field)
				}
				m[field] = r
			}
		}
	}
	return p, nil
}

// MustPolicy is NewPolicy for package-level tables; it panics on error.
func MustPolicy(tables ...Table) *Policy {
	p, err := NewPolicy(tables...)
	if err != nil {
		panic(err)
	}
	return p
}

// Rule returns the rule of entity.field, if declared.
func (p *Policy) Rule(entity, field string) (Rule, bool) {
	r, ok := p.rules[entity][field]
	return r, ok
}

// Entities returns the entities with rules, sorted.
func (p *Policy) Entities() []string { return slices.Sorted(maps.Keys(p.rules)) }

// Fields returns entity's fields with rules, sorted.
func (p *Policy) Fields(entity string) []string { return slices.Sorted(maps.Keys(p.rules[entity])) }

// Table returns a copy of the policy as a table.
func (p *Policy) Table() Table {
	t := Table{}
	for e, fs := range p.rules {
		t[e] = maps.Clone(fs)
	}
	return t
}

// Mutation is a device's field changes to one record, with the hub's side.
type Mutation struct {
	Entity string
	// Device holds the fields the device changed (for DeviceSum fields, deltas).
	Device map[string]json.RawMessage
	// Hub holds the hub's current values of those fields.
	Hub map[string]json.RawMessage
	// HubChanged reports whether the hub changed a field after the device's
	// base version.
	HubChanged func(field string) bool
	HubHLC     func(field string) hlc.Timestamp // when the hub last wrote the field; nil: zero
	DeviceHLC  hlc.Timestamp
}

// FieldDecision is a Decision about one named field.
type FieldDecision struct {
	Field string
	Rule  Rule
	Decision
}

// Resolve settles every field of m, in field-name order. Values holds the
// fields to write (those whose value changes). A field the policy does not
// declare is not writable from the field: the hub's value stays and the
// device's is logged as a conflict.
func (p *Policy) Resolve(m Mutation) (values map[string]json.RawMessage, decisions []FieldDecision, err error) {
	values = map[string]json.RawMessage{}
	for _, f := range slices.Sorted(maps.Keys(m.Device)) {
		rule, ok := p.Rule(m.Entity, f)
		if !ok {
			rule = HubWins
		}
		changed := m.HubChanged != nil && m.HubChanged(f)
		var hubHLC hlc.Timestamp
		if m.HubHLC != nil {
			hubHLC = m.HubHLC(f)
		}
		d, err := Resolve(rule, m.Hub[f], changed, m.Device[f], hubHLC, m.DeviceHLC)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.%s: %w", m.Entity, f, err)
		}
		if !ok {
			d.Reason = "field is not writable from the field: the hub's value stands"
		}
		if !Equal(d.Value, m.Hub[f]) {
			values[f] = d.Value
		}
		decisions = append(decisions, FieldDecision{Field: f, Rule: rule, Decision: d})
	}
	return values, decisions, nil
}
