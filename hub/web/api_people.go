package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
)

// Page reads ?limit=&offset= (limit 1..500, default 50).
func Page(c *gin.Context) (limit, offset int, err error) {
	limit, offset = 50, 0
	f := hub.Fields{}
	if v := c.Query("limit"); v != "" {
		n, e := strconv.Atoi(v)
		if e != nil || n < 1 || n > 500 {
			f.Add("limit", "must be a whole number from 1 to 500")
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			f.Add("offset", "must be a whole number of 0 or more")
		}
		offset = n
	}
	return limit, offset, f.Err()
}

// List writes the CONTRACT list envelope.
func List[T any](c *gin.Context, items []T, total, limit, offset int) {
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "total": total, "limit": limit, "offset": offset})
}

func (s *Server) handlePersonIndex(c *gin.Context) {
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
	List(c, people, total, limit, offset)
}

func (s *Server) handlePersonCreate(c *gin.Context) {
	var in hub.PersonCreate
	if err := BindJSON(c, &in); err != nil {
		Error(c, err)
		return
	}
	p, err := s.People.CreatePerson(c.Request.Context(), in, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, p)
}

func (s *Server) handlePersonView(c *gin.Context) {
	p, err := s.People.FindPersonByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) handlePersonUpdate(c *gin.Context) {
	var upd hub.PersonUpdate
	if err := BindJSON(c, &upd); err != nil {
		Error(c, err)
		return
	}
	actor := hub.PrincipalFrom(c.Request.Context())
	if upd.Status != nil && *upd.Status != hub.PersonActive && !actor.Can("people:person:deactivate") {
		Error(c, hub.Errorf(hub.EFORBIDDEN, "you do not have the permission people:person:deactivate"))
		return
	}
	p, err := s.People.UpdatePerson(c.Request.Context(), c.Param("id"), upd, actor)
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) handlePersonDeactivate(c *gin.Context) {
	st := hub.PersonInactive
	p, err := s.People.UpdatePerson(c.Request.Context(), c.Param("id"), hub.PersonUpdate{Status: &st}, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) handleRoleGrant(c *gin.Context) {
	var b struct {
		Role string `json:"role"`
	}
	if err := BindJSON(c, &b); err != nil {
		Error(c, err)
		return
	}
	if b.Role == "" {
		Error(c, hub.Invalid(map[string]string{"role": "is required"}))
		return
	}
	if err := s.RBAC.GrantRole(c.Request.Context(), c.Param("id"), b.Role, hub.PrincipalFrom(c.Request.Context())); err != nil {
		Error(c, err)
		return
	}
	s.handlePersonView(c)
}

func (s *Server) handleRoleRevoke(c *gin.Context) {
	if err := s.RBAC.RevokeRole(c.Request.Context(), c.Param("id"), c.Param("role"), hub.PrincipalFrom(c.Request.Context())); err != nil {
		Error(c, err)
		return
	}
	s.handlePersonView(c)
}

func (s *Server) handlePermissionGrant(c *gin.Context) {
	var b struct {
		Permission string `json:"permission"`
	}
	if err := BindJSON(c, &b); err != nil {
		Error(c, err)
		return
	}
	if err := s.RBAC.GrantPermission(c.Request.Context(), c.Param("id"), b.Permission, hub.PrincipalFrom(c.Request.Context())); err != nil {
		Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) handleRoleIndex(c *gin.Context) {
	roles, err := s.RBAC.FindRoles(c.Request.Context())
	if err != nil {
		Error(c, err)
		return
	}
	List(c, roles, len(roles), len(roles), 0)
}

func (s *Server) handleRoleCreate(c *gin.Context) {
	var r hub.Role
	if err := BindJSON(c, &r); err != nil {
		Error(c, err)
		return
	}
	out, err := s.RBAC.CreateRole(c.Request.Context(), r, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) handleRolePermissions(c *gin.Context) {
	var b struct {
		Permissions []string `json:"permissions"`
	}
	if err := BindJSON(c, &b); err != nil {
		Error(c, err)
		return
	}
	if err := s.RBAC.SetRolePermissions(c.Request.Context(), c.Param("id"), b.Permissions, hub.PrincipalFrom(c.Request.Context())); err != nil {
		Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) handlePermissionIndex(c *gin.Context) {
	List(c, hub.Permissions, len(hub.Permissions), len(hub.Permissions), 0)
}

func (s *Server) handleAuditIndex(c *gin.Context) {
	limit, offset, err := Page(c)
	if err != nil {
		Error(c, err)
		return
	}
	entries, total, err := s.Audit.FindAuditEntries(c.Request.Context(), hub.AuditFilter{Action: c.Query("action"),
		ActorID: c.Query("actor_id"), Limit: limit, Offset: offset})
	if err != nil {
		Error(c, err)
		return
	}
	List(c, entries, total, limit, offset)
}
