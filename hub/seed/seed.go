// Package seed fills a database with the demo data of `make run` (CONTRACT.md "Demo logins") and a
// believable small ISP. Each area adds its own step in its own file with Register; steps run in
// order inside one transaction, and seeding is skipped when the demo admin already exists.
package seed

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
)

// Demo carries what earlier steps created to later ones.
type Demo struct {
	Tx     pgx.Tx
	Out    io.Writer
	People map[string]string // email → person id
	Orgs   map[string]string // name → organization id
	Values map[string]any    // anything else a step wants to hand on
	// HashParams lets tests seed with cheap password hashes.
	HashParams *secret.Params
}

// Step is one seeding step.
type Step struct {
	Order int
	Name  string
	Run   func(ctx context.Context, d *Demo) error
}

var steps []Step

// Register adds a step (call it from an init function of this package).
func Register(order int, name string, run func(ctx context.Context, d *Demo) error) {
	steps = append(steps, Step{Order: order, Name: name, Run: run})
}

// Login is a demo login.
type Login struct {
	Who, Email, Password, Portal string
	Roles                        []string
	First, Last                  string
	Org                          string
}

// Logins are the demo logins of CONTRACT.md (and two more technicians).
var Logins = []Login{
	{"administrator", "admin@example.com", "admin123!", "/admin", []string{"admin"}, "Ada", "Admin", ""},
	{"dispatcher", "dispatcher@example.com", "dispatch123!", "/admin", []string{"dispatcher"}, "Dana", "Dispatch", ""},
	{"technician", "tech1@example.com", "tech123!", "edge agent", []string{"field_technician"}, "Tomás", "Okafor", ""},
	{"technician", "tech2@example.com", "tech123!", "edge agent", []string{"field_technician"}, "Priya", "Nair", ""},
	{"technician", "tech3@example.com", "tech123!", "edge agent", []string{"field_technician"}, "Jonas", "Berg", ""},
	{"customer", "customer1@example.com", "customer123!", "/portal", []string{"customer"}, "Carla", "Mendes", "Mendes Household"},
	{"reseller", "reseller1@example.com", "reseller123!", "/reseller", []string{"reseller"}, "Rafael", "Silva", "Lakeside Resellers"},
	{"vendor", "vendor1@example.com", "vendor123!", "/vendor", []string{"vendor"}, "Vera", "Fibreworks", "Northline Fibreworks"},
}

func init() {
	Register(0, "people and organizations", seedPeople)
}

func seedPeople(ctx context.Context, d *Demo) error {
	orgType := map[string]string{"Mendes Household": "customer", "Lakeside Resellers": "reseller", "Northline Fibreworks": "vendor"}
	for _, name := range []string{"Lakeside Resellers", "Northline Fibreworks", "Mendes Household"} {
		var parent *string
		if name == "Mendes Household" { // the demo customer is an account of the demo reseller
			p := d.Orgs["Lakeside Resellers"]
			parent = &p
		}
		id := postgres.NewID()
		if _, err := d.Tx.Exec(ctx, `INSERT INTO organizations (id, name, account_type, parent_id) VALUES ($1, $2, $3, $4)`,
			id, name, orgType[name], parent); err != nil {
			return err
		}
		d.Orgs[name] = id
	}
	for _, l := range Logins {
		var org *string
		if l.Org != "" {
			o := d.Orgs[l.Org]
			org = &o
		}
		id, err := postgres.CreatePersonTx(ctx, d.Tx, hub.PersonCreate{FirstName: l.First, LastName: l.Last, Email: l.Email,
			Password: l.Password, OrganizationID: org, Phone: "+1 555 0100"}, d.HashParams)
		if err != nil {
			return fmt.Errorf("seed %s: %w", l.Email, err)
		}
		for _, r := range l.Roles {
			if _, err := d.Tx.Exec(ctx, `INSERT INTO person_roles (person_id, role_id) SELECT $1, id FROM roles WHERE name = $2`, id, r); err != nil {
				return err
			}
		}
		d.People[l.Email] = id
	}
	return nil
}

// Run seeds the demo data unless it is there already; it reports whether it seeded.
func Run(ctx context.Context, db *postgres.DB, out io.Writer, params *secret.Params) (bool, error) {
	var exists bool
	if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM people WHERE email = 'admin@example.com')`).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Order < steps[j].Order })
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		d := &Demo{Tx: tx, Out: out, People: map[string]string{}, Orgs: map[string]string{}, Values: map[string]any{}, HashParams: params}
		for _, s := range steps {
			if out != nil {
				fmt.Fprintf(out, "seeding %s…\n", s.Name)
			}
			if err := s.Run(ctx, d); err != nil {
				return fmt.Errorf("seed: %s: %w", s.Name, err)
			}
		}
		return nil
	})
	return err == nil, err
}
