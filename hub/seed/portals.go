package seed

import "context"

func init() { Register(60, "portal accounts", seedPortalAccounts) }

// seedPortalAccounts links the demo customer login to a service account and puts a dozen
// subscribers under the demo reseller, so every portal has its own data to show.
func seedPortalAccounts(ctx context.Context, d *Demo) error {
	cust, org := d.People["customer1@example.com"], d.Orgs["Mendes Household"]
	if _, err := d.Tx.Exec(ctx, `UPDATE customers SET person_id = $1, organization_id = $2, name = 'Carla Mendes'
		WHERE id = (SELECT customer_id FROM work_orders WHERE customer_id IS NOT NULL ORDER BY scheduled_start NULLS LAST LIMIT 1)`, cust, org); err != nil {
		return err
	}
	_, err := d.Tx.Exec(ctx, `UPDATE customers SET organization_id = $1
		WHERE id IN (SELECT id FROM customers WHERE person_id IS NULL ORDER BY number LIMIT 12)`, d.Orgs["Lakeside Resellers"])
	return err
}
