package scope_test

import (
	"strings"
	"testing"

	"dotmac.dev/field/sync/resolve"
	"dotmac.dev/field/sync/scope"
)

func TestDefault(t *testing.T) {
	r := scope.Default()
	var names []string
	for _, f := range r.Families() {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "work_orders,materials,surveys,fiber" {
		t.Fatalf("families = %v", names)
	}
	f, e, ok := r.FamilyOf("work_order_note")
	if !ok || f.Name != scope.WorkOrders || e.Table != "work_order_notes" || !e.AppendOnly {
		t.Fatalf("FamilyOf = %v %v %v", f.Name, e, ok)
	}
	p := r.Policy()
	for _, c := range []struct {
		entity, field string
		rule          resolve.Rule
	}{
		{"work_order", "status", resolve.StateMachine},
		{"work_order", "priority", resolve.HubWins},
		{"work_order", "access_notes", resolve.LastWriter},
		{"work_order_material", "consumed_quantity", resolve.DeviceSum},
		{"fiber_test_result", "value_db", resolve.DeviceWins},
		{"customer", "phone", resolve.HubWins},
	} {
		if got, ok := p.Rule(c.entity, c.field); !ok || got != c.rule {
			t.Errorf("%s.%s = %v, want %v", c.entity, c.field, got, c.rule)
		}
	}
	if len(r.Tables()) < 15 {
		t.Errorf("tables = %v", r.Tables())
	}
	// Nothing that looks like money is replicated as a writable field.
	for _, e := range p.Entities() {
		for _, fl := range p.Fields(e) {
			if strings.Contains(fl, "cost") || strings.Contains(fl, "rate") || strings.Contains(fl, "price") {
				t.Errorf("%s.%s looks like money", e, fl)
			}
		}
	}
}

func TestRegister_PlugIn(t *testing.T) {
	r := scope.Default()
	err := r.Register(scope.Family{
		Name:     "vehicle_checks",
		Entities: []scope.Entity{{Name: "vehicle_check", Table: "vehicle_checks", AppendOnly: true}},
		Scope:    "checks of the technician's van",
		Rules:    resolve.Table{"vehicle_check": {"answers": resolve.DeviceWins}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rule, ok := r.Policy().Rule("vehicle_check", "answers"); !ok || rule != resolve.DeviceWins {
		t.Fatal("new family's policy not merged")
	}
	for _, bad := range []scope.Family{
		{Name: "vehicle_checks", Entities: []scope.Entity{{Name: "x", Table: "x"}}},    // name taken
		{Name: "other", Entities: []scope.Entity{{Name: "work_order", Table: "wo2"}}},  // entity taken
		{Name: "other", Entities: []scope.Entity{{Name: "wo2", Table: "work_orders"}}}, // table taken
		{Name: "Bad Name", Entities: []scope.Entity{{Name: "y", Table: "y"}}},          // name syntax
		{Name: "empty"}, // no entities
		{Name: "z", Entities: []scope.Entity{{Name: "z", Table: "z"}}, Rules: resolve.Table{"q": {"a": resolve.HubWins}}}, // undeclared entity
		{Name: "z", Entities: []scope.Entity{{Name: "z", Table: "z"}}, Rules: resolve.Table{"z": {"a": "nope"}}},          // bad rule
	} {
		if err := r.Register(bad); err == nil {
			t.Errorf("Register(%+v) accepted", bad)
		}
	}
}

func TestSubjects(t *testing.T) {
	id := "0190c8a2-7a10-7c4e-9b1a-2f0d4c1e5a01"
	if scope.DownSubject(id) != "dmf.down."+id || scope.UpSubject(id) != "dmf.up."+id || scope.ControlSubject(id) != "dmf.ctl."+id {
		t.Fatal("subjects")
	}
	if k, got, ok := scope.ParseSubject(scope.UpSubject(id)); !ok || k != "up" || got != id {
		t.Fatalf("ParseSubject = %s %s %v", k, got, ok)
	}
	for _, bad := range []string{"dmf.down", "dmf.side.x", "dmf.down.a.b", "nats.down.x", "dmf.down.*"} {
		if _, _, ok := scope.ParseSubject(bad); ok {
			t.Errorf("ParseSubject(%q) ok", bad)
		}
	}
	for _, bad := range []string{"", "a.b", "a*", ">", "a b", "é"} {
		if scope.ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("DownSubject with a dot did not panic")
		}
	}()
	scope.DownSubject("a.b")
}
