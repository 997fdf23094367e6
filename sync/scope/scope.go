// Package scope declares what a device holds (ARCHITECTURE.md, sync guarantee
// 3): families of entities that travel together, the rule that puts a record
// in a technician's scope, and each field's conflict rule. A new family plugs
// in by declaration: Register it and the hub's relay, the edge agent's
// applier and the checksums see it.
//
// It also names the NATS subjects of the sync feeds.
package scope

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"dotmac.dev/field/sync/resolve"
)

// Entity is one kind of record in a family.
type Entity struct {
	Name  string // change.Change.Entity, e.g. "work_order"
	Table string // table on the hub and in the replica, e.g. "work_orders"
	// AppendOnly entities are only ever inserted by devices (events, notes,
	// attachments): an upstream change is an insert, never a field patch.
	AppendOnly bool
}

// Family is a set of entities replicated together under one scope rule.
type Family struct {
	Name     string
	Entities []Entity
	// Scope says in words which records of the family a technician holds;
	// the hub implements it in SQL.
	Scope string
	// Rules is the conflict rule of every field a device may change.
	Rules resolve.Table
}

// Entity returns the family's entity called name.
func (f Family) Entity(name string) (Entity, bool) {
	i := slices.IndexFunc(f.Entities, func(e Entity) bool { return e.Name == name })
	if i < 0 {
		return Entity{}, false
	}
	return f.Entities[i], true
}

// Validate checks names and that rules name only declared entities.
func (f Family) Validate() error {
	if !token(f.Name) {
		return fmt.Errorf("scope: bad family name %q", f.Name)
	}
	if len(f.Entities) == 0 {
		return fmt.Errorf("scope: family %s has no entities", f.Name)
	}
	seen := map[string]bool{}
	for _, e := range f.Entities {
		if !token(e.Name) || !token(e.Table) {
			return fmt.Errorf("scope: family %s: bad entity %q (table %q)", f.Name, e.Name, e.Table)
		}
		if seen[e.Name] {
			return fmt.Errorf("scope: family %s: entity %s declared twice", f.Name, e.Name)
		}
		seen[e.Name] = true
	}
	for e := range f.Rules {
		if !seen[e] {
			return fmt.Errorf("scope: family %s: rules for undeclared entity %s", f.Name, e)
		}
	}
	_, err := resolve.NewPolicy(f.Rules)
	return err
}

func token(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Registry holds the families in registration order. It is safe for
// concurrent use.
type Registry struct {
	mu       sync.RWMutex
	families []Family
	policy   *resolve.Policy
}

// NewRegistry returns a registry holding fams.
func NewRegistry(fams ...Family) (*Registry, error) {
	r := &Registry{}
	for _, f := range fams {
		if err := r.Register(f); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a family. Family, entity and table names must be unique
// across the registry.
func (r *Registry) Register(f Family) error {
	if err := f.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.families {
		if g.Name == f.Name {
			return fmt.Errorf("scope: family %s registered twice", f.Name)
		}
		for _, e := range f.Entities {
			for _, h := range g.Entities {
				if e.Name == h.Name || e.Table == h.Table {
					return fmt.Errorf("scope: entity %s (table %s) of %s clashes with %s", e.Name, e.Table, f.Name, g.Name)
				}
			}
		}
	}
	tables := make([]resolve.Table, 0, len(r.families)+1)
	for _, g := range append(slices.Clone(r.families), f) {
		tables = append(tables, g.Rules)
	}
	p, err := resolve.NewPolicy(tables...)
	if err != nil {
		return err
	}
	r.families = append(r.families, f)
	r.policy = p
	return nil
}

// Families returns the families in registration order.
func (r *Registry) Families() []Family {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.families)
}

// Family returns the family called name.
func (r *Registry) Family(name string) (Family, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, f := range r.families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// FamilyOf returns the family holding entity.
func (r *Registry) FamilyOf(entity string) (Family, Entity, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, f := range r.families {
		if e, ok := f.Entity(entity); ok {
			return f, e, true
		}
	}
	return Family{}, Entity{}, false
}

// Policy returns the conflict policy of every registered family.
func (r *Registry) Policy() *resolve.Policy {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.policy == nil {
		return resolve.MustPolicy()
	}
	return r.policy
}

// Tables returns every replicated table, in registration order.
func (r *Registry) Tables() []string {
	var out []string
	for _, f := range r.Families() {
		for _, e := range f.Entities {
			out = append(out, e.Table)
		}
	}
	return out
}

// NATS subjects of the sync feeds. Ids are one subject token each.
const (
	SubjectRoot  = "dmf"
	DownWildcard = "dmf.down.>" // every technician's downstream feed
	UpWildcard   = "dmf.up.>"   // every device's upstream feed
	CtlWildcard  = "dmf.ctl.>"  // every device's control channel
)

// DownSubject is technician techID's downstream change feed.
func DownSubject(techID string) string { return subject("down", techID) }

// UpSubject is device deviceID's upstream mutation feed.
func UpSubject(deviceID string) string { return subject("up", deviceID) }

// ControlSubject is device deviceID's control channel (revoke, rescope, resync).
func ControlSubject(deviceID string) string { return subject("ctl", deviceID) }

func subject(kind, id string) string {
	if !ValidID(id) {
		panic(fmt.Sprintf("scope: %q cannot be a subject token", id))
	}
	return SubjectRoot + "." + kind + "." + id
}

// ValidID reports whether id can be a subject token: non-empty, printable
// ASCII, without '.', '*', '>' or spaces. UUIDs are.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

// ParseSubject splits a feed subject into its kind ("down", "up", "ctl") and id.
func ParseSubject(subj string) (kind, id string, ok bool) {
	parts := strings.Split(subj, ".")
	if len(parts) != 3 || parts[0] != SubjectRoot || !ValidID(parts[2]) {
		return "", "", false
	}
	switch parts[1] {
	case "down", "up", "ctl":
		return parts[1], parts[2], true
	}
	return "", "", false
}
