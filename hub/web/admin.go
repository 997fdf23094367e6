package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
)

// adminRoutes are the staff portal's core pages: dashboard and the System section.
func (s *Server) adminRoutes() {
	a := s.Admin
	a.GET("", SignedIn, s.handleDashboard)
	a.GET("/", SignedIn, s.handleDashboard)
	a.GET("/system/users", Perm("people:person:read"), s.handleUsersPage)
	a.POST("/system/users", Perm("people:person:write"), s.handleUsersCreate)
	a.POST("/system/users/:id/status", Perm("people:person:deactivate"), s.handleUsersStatus)
	a.POST("/system/users/:id/roles", Perm("rbac:role:assign"), s.handleUsersRoles)
	a.GET("/system/roles", Perm("rbac:role:read"), s.handleRolesPage)
	a.POST("/system/roles", Perm("rbac:role:write"), s.handleRolesCreate)
	a.POST("/system/roles/:id/permissions", Perm("rbac:role:write"), s.handleRolesPermissions)
	a.GET("/system/permissions", Perm("rbac:permission:read"), s.handlePermissionsPage)
	a.GET("/system/audit", Perm("audit:log:read"), s.handleAuditPage)

	s.AddNav("System", "Users", "/admin/system/users", "people:person:read")
	s.AddNav("System", "Roles", "/admin/system/roles", "rbac:role:read")
	s.AddNav("System", "Permissions", "/admin/system/permissions", "rbac:permission:read")
	s.AddNav("System", "Audit log", "/admin/system/audit", "audit:log:read")
}

func (s *Server) handleDashboard(c *gin.Context) {
	p := hub.PrincipalFrom(c.Request.Context())
	if p.Portal != hub.PortalAdmin {
		Error(c, hub.Errorf(hub.EFORBIDDEN, "staff only"))
		return
	}
	s.render(c, "admin/dashboard.html", gin.H{"Title": "Dashboard", "Cards": s.dashboardCards(c)})
}

// DashboardCard is a tile on the staff dashboard; areas contribute them with AddDashboardCard.
type DashboardCard struct {
	Title, Value, Note, Href string
}

// DashboardSource computes a card for a request (nil hides it).
type DashboardSource func(c *gin.Context, p *hub.Principal) *DashboardCard

// AddDashboardCard registers a dashboard tile.
func (s *Server) AddDashboardCard(src DashboardSource) { s.dash = append(s.dash, src) }

func (s *Server) dashboardCards(c *gin.Context) []DashboardCard {
	p := hub.PrincipalFrom(c.Request.Context())
	var out []DashboardCard
	for _, src := range s.dash {
		if card := src(c, p); card != nil {
			out = append(out, *card)
		}
	}
	return out
}

func (s *Server) handleUsersPage(c *gin.Context) {
	limit, offset, err := Page(c)
	if err != nil {
		Error(c, err)
		return
	}
	people, total, err := s.People.FindPeople(c.Request.Context(), hub.PersonFilter{Query: c.Query("q"), Status: c.Query("status"),
		Role: c.Query("role"), Limit: limit, Offset: offset})
	if err != nil {
		Error(c, err)
		return
	}
	roles, err := s.RBAC.FindRoles(c.Request.Context())
	if err != nil {
		Error(c, err)
		return
	}
	s.render(c, "admin/users.html", gin.H{"Title": "Users", "People": people, "Total": total, "Limit": limit, "Offset": offset,
		"Q": c.Query("q"), "Status": c.Query("status"), "Role": c.Query("role"), "Roles": roles, "Form": gin.H{}, "Errors": map[string]string{}})
}

func (s *Server) handleUsersCreate(c *gin.Context) {
	in := hub.PersonCreate{FirstName: c.PostForm("first_name"), LastName: c.PostForm("last_name"), Email: c.PostForm("email"),
		Phone: c.PostForm("phone"), Password: c.PostForm("password")}
	if r := c.PostForm("role"); r != "" {
		in.Roles = []string{r}
	}
	p, err := s.People.CreatePerson(c.Request.Context(), in, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		e, ok := err.(*hub.Error)
		if !ok {
			Error(c, err)
			return
		}
		people, total, _ := s.People.FindPeople(c.Request.Context(), hub.PersonFilter{Limit: 50})
		roles, _ := s.RBAC.FindRoles(c.Request.Context())
		c.Status(StatusFor(e.Code))
		s.render(c, "admin/users.html", gin.H{"Title": "Users", "People": people, "Total": total, "Limit": 50, "Roles": roles,
			"Form": in, "Errors": e.Fields, "FormError": e.Message, "OpenForm": true})
		return
	}
	s.Flash(c, "Created "+p.Email)
	c.Redirect(http.StatusSeeOther, "/admin/system/users")
}

func (s *Server) handleUsersStatus(c *gin.Context) {
	st := c.PostForm("status")
	_, err := s.People.UpdatePerson(c.Request.Context(), c.Param("id"), hub.PersonUpdate{Status: &st}, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		s.formError(c, err, "/admin/system/users")
		return
	}
	s.Flash(c, "Status set to "+st)
	c.Redirect(http.StatusSeeOther, "/admin/system/users")
}

func (s *Server) handleUsersRoles(c *gin.Context) {
	actor := hub.PrincipalFrom(c.Request.Context())
	id := c.Param("id")
	role := c.PostForm("role")
	var err error
	if c.PostForm("op") == "revoke" {
		err = s.RBAC.RevokeRole(c.Request.Context(), id, role, actor)
	} else {
		err = s.RBAC.GrantRole(c.Request.Context(), id, role, actor)
	}
	if err != nil {
		s.formError(c, err, "/admin/system/users")
		return
	}
	s.Flash(c, "Roles updated")
	c.Redirect(http.StatusSeeOther, "/admin/system/users")
}

// formError turns a service error on a form post into a flash message and a redirect back; an
// internal error still becomes a 500 page.
func (s *Server) formError(c *gin.Context, err error, back string) {
	e, ok := err.(*hub.Error)
	if !ok {
		Error(c, err)
		return
	}
	msg := e.Message
	for f, m := range e.Fields {
		msg += " — " + f + " " + m
	}
	s.Flash(c, msg)
	c.Redirect(http.StatusSeeOther, back)
}

// FormError is formError for areas.
func (s *Server) FormError(c *gin.Context, err error, back string) { s.formError(c, err, back) }

func (s *Server) handleRolesPage(c *gin.Context) {
	roles, err := s.RBAC.FindRoles(c.Request.Context())
	if err != nil {
		Error(c, err)
		return
	}
	s.render(c, "admin/roles.html", gin.H{"Title": "Roles", "Roles": roles, "Permissions": hub.Permissions})
}

func (s *Server) handleRolesCreate(c *gin.Context) {
	_, err := s.RBAC.CreateRole(c.Request.Context(), hub.Role{Name: c.PostForm("name"), Description: c.PostForm("description"),
		Permissions: c.PostFormArray("permissions")}, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		s.formError(c, err, "/admin/system/roles")
		return
	}
	s.Flash(c, "Role created")
	c.Redirect(http.StatusSeeOther, "/admin/system/roles")
}

func (s *Server) handleRolesPermissions(c *gin.Context) {
	err := s.RBAC.SetRolePermissions(c.Request.Context(), c.Param("id"), c.PostFormArray("permissions"), hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		s.formError(c, err, "/admin/system/roles")
		return
	}
	s.Flash(c, "Permissions saved")
	c.Redirect(http.StatusSeeOther, "/admin/system/roles")
}

func (s *Server) handlePermissionsPage(c *gin.Context) {
	groups := map[string][]string{}
	var order []string
	for _, p := range hub.Permissions {
		d, _, _ := strings.Cut(p, ":")
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], p)
	}
	s.render(c, "admin/permissions.html", gin.H{"Title": "Permissions", "Groups": groups, "Order": order})
}

func (s *Server) handleAuditPage(c *gin.Context) {
	limit, offset, err := Page(c)
	if err != nil {
		Error(c, err)
		return
	}
	entries, total, err := s.Audit.FindAuditEntries(c.Request.Context(), hub.AuditFilter{Action: c.Query("action"), Limit: limit, Offset: offset})
	if err != nil {
		Error(c, err)
		return
	}
	s.render(c, "admin/audit.html", gin.H{"Title": "Audit log", "Entries": entries, "Total": total, "Limit": limit, "Offset": offset,
		"Action": c.Query("action")})
}

// portalRoutes are the landing pages of the customer, reseller and vendor portals.
func (s *Server) portalRoutes() {
	s.Portal.GET("", Perm("portal:account:read"), s.handlePortalHome)
	s.Portal.GET("/", Perm("portal:account:read"), s.handlePortalHome)
	s.Resell.GET("", Perm("reseller:account:read"), s.handlePortalHome)
	s.Resell.GET("/", Perm("reseller:account:read"), s.handlePortalHome)
	s.Vendor.GET("", Perm("vendor:project:read"), s.handlePortalHome)
	s.Vendor.GET("/", Perm("vendor:project:read"), s.handlePortalHome)
}

// PortalSection is a block on a customer, reseller or vendor landing page; areas add them.
type PortalSection struct {
	Title string
	Body  any // template.HTML or a string
}

// PortalSource fills portal sections for a principal on a portal.
type PortalSource func(c *gin.Context, p *hub.Principal) []PortalSection

// AddPortalSection registers a landing-page block for a portal.
func (s *Server) AddPortalSection(p hub.Portal, src PortalSource) {
	if s.portalSrc == nil {
		s.portalSrc = map[hub.Portal][]PortalSource{}
	}
	s.portalSrc[p] = append(s.portalSrc[p], src)
}

func (s *Server) handlePortalHome(c *gin.Context) {
	p := hub.PrincipalFrom(c.Request.Context())
	var sections []PortalSection
	for _, src := range s.portalSrc[p.Portal] {
		sections = append(sections, src(c, p)...)
	}
	s.render(c, "portal/home.html", gin.H{"Title": portalTitle(p.Portal), "Portal": string(p.Portal), "Sections": sections,
		"LogoutPath": "/" + string(p.Portal) + "/logout"})
}
