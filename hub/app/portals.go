package app

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// portalSections fill the customer, reseller and vendor landing pages. Each query is scoped to
// the signed-in account: a customer sees their own service accounts, a reseller the accounts of
// its organization subtree, a vendor what its organization proposed.
func (a *App) portalSections() {
	a.Server.AddPortalSection(hub.PortalCustomer, func(c *gin.Context, p *hub.Principal) []web.PortalSection {
		rows, err := a.DB.Pool.Query(c.Request.Context(), `
			SELECT w.number, w.title, w.status, w.scheduled_start, coalesce(s.address, '')
			FROM work_orders w JOIN customers cu ON cu.id = w.customer_id LEFT JOIN sites s ON s.id = w.site_id
			WHERE w.is_active AND (cu.person_id = $1 OR ($2 <> '' AND cu.organization_id::text = $2))
			ORDER BY w.scheduled_start DESC NULLS LAST LIMIT 20`, p.PersonID, p.OrganizationID)
		if err != nil {
			return []web.PortalSection{{Title: "Your visits", Body: "Your visits cannot be shown right now."}}
		}
		defer rows.Close()
		var b strings.Builder
		n := 0
		for rows.Next() {
			var num, title, status, addr string
			var at *time.Time
			if rows.Scan(&num, &title, &status, &at, &addr) != nil {
				continue
			}
			if n == 0 {
				b.WriteString(`<div class="table-wrap"><table><thead><tr><th>Visit</th><th>What</th><th>When</th><th>Where</th><th>Status</th></tr></thead><tbody>`)
			}
			n++
			when := "to be scheduled"
			if at != nil {
				when = at.UTC().Format("Mon 2 Jan 15:04 UTC")
			}
			fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><span class="badge %s">%s</span></td></tr>`,
				esc(num), esc(title), esc(when), esc(addr), esc(status), esc(strings.ReplaceAll(status, "_", " ")))
		}
		if n == 0 {
			return []web.PortalSection{{Title: "Your visits", Body: template.HTML(`<p class="muted">No technician visits on your account. When one is booked it shows here with its time and status.</p>`)}}
		}
		b.WriteString(`</tbody></table></div>`)
		return []web.PortalSection{{Title: "Your visits", Body: template.HTML(b.String())}}
	})
	a.Server.AddPortalSection(hub.PortalReseller, func(c *gin.Context, p *hub.Principal) []web.PortalSection {
		if p.OrganizationID == "" {
			return []web.PortalSection{{Title: "Accounts", Body: "Your login is not linked to a reseller organization yet."}}
		}
		rows, err := a.DB.Pool.Query(c.Request.Context(), `
			WITH RECURSIVE tree AS (SELECT id FROM organizations WHERE id = $1
				UNION SELECT o.id FROM organizations o JOIN tree t ON o.parent_id = t.id)
			SELECT cu.number, cu.name, cu.status, cu.service_plan,
				(SELECT count(*) FROM work_orders w WHERE w.customer_id = cu.id AND w.is_active AND w.status NOT IN ('completed', 'canceled'))
			FROM customers cu WHERE cu.organization_id IN (SELECT id FROM tree) ORDER BY cu.name LIMIT 200`, p.OrganizationID)
		if err != nil {
			return []web.PortalSection{{Title: "Accounts", Body: "Accounts cannot be shown right now."}}
		}
		defer rows.Close()
		var b strings.Builder
		n := 0
		for rows.Next() {
			var num, name, status, plan string
			var open int
			if rows.Scan(&num, &name, &status, &plan, &open) != nil {
				continue
			}
			if n == 0 {
				b.WriteString(`<div class="table-wrap"><table><thead><tr><th>Account</th><th>Name</th><th>Plan</th><th>Status</th><th>Open visits</th></tr></thead><tbody>`)
			}
			n++
			fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td>%s</td><td><span class="badge %s">%s</span></td><td>%d</td></tr>`,
				esc(num), esc(name), esc(plan), esc(status), esc(status), open)
		}
		if n == 0 {
			return []web.PortalSection{{Title: "Accounts", Body: template.HTML(`<p class="muted">No subscriber accounts under your organization yet.</p>`)}}
		}
		b.WriteString(`</tbody></table></div>`)
		return []web.PortalSection{{Title: fmt.Sprintf("Accounts (%d)", n), Body: template.HTML(b.String())}}
	})
	a.Server.AddPortalSection(hub.PortalVendor, func(c *gin.Context, p *hub.Principal) []web.PortalSection {
		const actions = `<p><a class="btn primary" href="/vendor/fiber/change-requests/new">Propose a change</a> <a class="btn ghost" href="/vendor/fiber/change-requests">All your requests</a></p>`
		rows, err := a.DB.Pool.Query(c.Request.Context(), `
			SELECT id::text, number, kind, operation, status, created_at FROM fiber_change_requests
			WHERE requested_by = $1 OR ($2 <> '' AND organization_id::text = $2) ORDER BY created_at DESC LIMIT 50`, p.PersonID, p.OrganizationID)
		if err != nil {
			return []web.PortalSection{{Title: "Plant change requests", Body: "Change requests cannot be shown right now."}}
		}
		defer rows.Close()
		var b strings.Builder
		n := 0
		for rows.Next() {
			var id, num, kind, op, status string
			var at time.Time
			if rows.Scan(&id, &num, &kind, &op, &status, &at) != nil {
				continue
			}
			if n == 0 {
				b.WriteString(`<div class="table-wrap"><table><thead><tr><th>Request</th><th>Object</th><th>Change</th><th>Status</th><th>Sent</th></tr></thead><tbody>`)
			}
			n++
			fmt.Fprintf(&b, `<tr><td><a href="/vendor/fiber/change-requests/%s">%s</a></td><td>%s</td><td>%s</td><td><span class="badge %s">%s</span></td><td>%s</td></tr>`,
				esc(id), esc(num), esc(kind), esc(op), esc(status), esc(status), at.UTC().Format("2006-01-02"))
		}
		if n == 0 {
			return []web.PortalSection{{Title: "Plant change requests", Body: template.HTML(`<p class="muted">You have not proposed any changes to the fiber plant. Propose as-built changes here (or through POST /api/v1/vendor/fiber/change-requests); each appears with its review status.</p>` + actions)}}
		}
		b.WriteString(`</tbody></table></div>`)
		return []web.PortalSection{{Title: "Plant change requests", Body: template.HTML(actions + b.String())}}
	})
}

func esc(s string) string { return template.HTMLEscapeString(s) }
