package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// routes is the core route table; feature areas add theirs through Deps.Areas.
func (s *Server) routes() {
	r := s.Root
	r.GET("/healthz", Public, s.handleHealthz)
	r.GET("/readyz", Public, s.handleReadyz)
	r.GET("/metrics", Public, s.metricsHandler())
	r.GET("/static/*path", Public, s.handleStatic)
	r.GET("/", Public, func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/admin") })

	// Web logins, one per portal; a session of one portal is refused by the others.
	r.GET("/auth/login", Public, s.handleLoginPage(s.Admin))
	r.POST("/auth/login", Public, s.handleLoginForm(s.Admin))
	r.POST("/auth/logout", Public, s.handleLogoutForm(s.Admin))
	for _, pr := range []*Router{s.Portal, s.Resell, s.Vendor} {
		pr.GET("/login", Public, s.handleLoginPage(pr))
		pr.POST("/login", Public, s.handleLoginForm(pr))
		pr.POST("/logout", Public, s.handleLogoutForm(pr))
	}

	a := s.API
	a.POST("/auth/login", Public, s.handleAPILogin)
	a.POST("/auth/refresh", Public, s.handleAPIRefresh)
	a.POST("/auth/logout", SignedIn, s.handleAPILogout)
	a.GET("/auth/me", SignedIn, s.handleAPIMe)

	a.GET("/people", Perm("people:person:read"), s.handlePersonIndex)
	a.POST("/people", Perm("people:person:write"), s.handlePersonCreate)
	a.GET("/people/:id", Perm("people:person:read"), s.handlePersonView)
	a.PATCH("/people/:id", Perm("people:person:write"), s.handlePersonUpdate)
	a.POST("/people/:id/deactivate", Perm("people:person:deactivate"), s.handlePersonDeactivate)
	a.POST("/people/:id/roles", Perm("rbac:role:assign"), s.handleRoleGrant)
	a.DELETE("/people/:id/roles/:role", Perm("rbac:role:assign"), s.handleRoleRevoke)
	a.POST("/people/:id/permissions", Perm("rbac:role:assign"), s.handlePermissionGrant)
	a.GET("/roles", Perm("rbac:role:read"), s.handleRoleIndex)
	a.POST("/roles", Perm("rbac:role:write"), s.handleRoleCreate)
	a.PUT("/roles/:id/permissions", Perm("rbac:role:write"), s.handleRolePermissions)
	a.GET("/permissions", Perm("rbac:permission:read"), s.handlePermissionIndex)
	a.GET("/audit", Perm("audit:log:read"), s.handleAuditIndex)

	s.adminRoutes()
	s.portalRoutes()
}

func (s *Server) handleHealthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) handleReadyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{}
	ok := true
	for _, ch := range s.Ready {
		if err := ch.Check(ctx); err != nil {
			ok = false
			checks[ch.Name()] = err.Error()
		} else {
			checks[ch.Name()] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"ready": ok, "checks": checks})
}
