package syncsvc

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

type techOption struct{ ID, Name string }

func (s *Service) technicians(ctx context.Context) []techOption {
	rows, err := s.DB.Pool.Query(ctx, `SELECT DISTINCT p.id::text, coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name), p.email::text) AS n
		FROM people p JOIN person_roles pr ON pr.person_id = p.id JOIN roles r ON r.id = pr.role_id
		WHERE r.name = 'field_technician' AND p.status = 'active' ORDER BY n`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []techOption
	for rows.Next() {
		var t techOption
		if rows.Scan(&t.ID, &t.Name) == nil {
			out = append(out, t)
		}
	}
	return out
}

func (a *Area) pageDevices(c *gin.Context) {
	a.renderDevices(c, nil)
}

func (a *Area) renderDevices(c *gin.Context, enrolled *NewDevice) {
	ctx := c.Request.Context()
	limit, offset, err := web.Page(c)
	if err != nil {
		limit, offset = 50, 0
	}
	status := c.Query("status")
	devs, total, err := a.Svc.FindDevices(ctx, DeviceFilter{Status: status, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	lag := map[string]int64{}
	for _, d := range devs {
		lag[d.ID] = a.Svc.DownLag(ctx, d.ID)
	}
	p := hub.PrincipalFrom(ctx)
	hubURL := a.Svc.HubURL
	if hubURL == "" {
		hubURL = "http://" + c.Request.Host
	}
	q := ""
	if status != "" {
		q = "&status=" + url.QueryEscape(status)
	}
	if enrolled != nil {
		c.Status(http.StatusCreated)
	}
	a.web.Render(c, "sync/devices.html", gin.H{"Title": "Devices", "Devices": devs, "Total": total, "Limit": limit, "Offset": offset,
		"Status": status, "Query": q, "Lag": lag, "Technicians": a.Svc.technicians(ctx), "CanWrite": p.Can("sync:device:write"),
		"Enrolled": enrolled, "HubURL": hubURL, "OpenForm": len(devs) == 0})
}

func (a *Area) pageDeviceCreate(c *gin.Context) {
	d, err := a.Svc.CreateDevice(c.Request.Context(), c.PostForm("technician_id"), c.PostForm("name"), hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		a.web.FormError(c, err, "/admin/sync/devices")
		return
	}
	// The code is shown once, on this very response (never in a redirect URL or a cookie).
	a.renderDevices(c, d)
}

func (a *Area) pageDeviceRevoke(c *gin.Context) {
	d, err := a.Svc.RevokeDevice(c.Request.Context(), c.Param("id"), c.PostForm("reason"), hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		a.web.FormError(c, err, "/admin/sync/devices")
		return
	}
	a.web.Flash(c, d.Name+" was revoked: it is disconnected and will wipe its data at next contact.")
	c.Redirect(http.StatusSeeOther, "/admin/sync/devices")
}

func (a *Area) pageConflicts(c *gin.Context) {
	ctx := c.Request.Context()
	limit, offset, err := web.Page(c)
	if err != nil {
		limit, offset = 50, 0
	}
	status, ok := c.GetQuery("status")
	if !ok {
		status = "open"
	}
	f := ConflictFilter{EntityID: c.Query("entity_id"), Status: status, DeviceID: c.Query("device_id"), Limit: limit, Offset: offset}
	items, total, err := a.Svc.FindConflicts(ctx, f)
	if err != nil {
		web.Error(c, err)
		return
	}
	q := "&status=" + url.QueryEscape(status)
	if f.EntityID != "" {
		q += "&entity_id=" + url.QueryEscape(f.EntityID)
	}
	a.web.Render(c, "sync/conflicts.html", gin.H{"Title": "Sync conflicts", "Conflicts": items, "Total": total, "Limit": limit,
		"Offset": offset, "Status": status, "EntityID": f.EntityID, "Query": q,
		"CanResolve": hub.PrincipalFrom(ctx).Can("sync:conflict:resolve")})
}

func (a *Area) pageConflictResolve(c *gin.Context) {
	_, err := a.Svc.ResolveConflict(c.Request.Context(), c.Param("id"), c.PostForm("resolution"), hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		a.web.FormError(c, err, "/admin/sync/conflicts")
		return
	}
	a.web.Flash(c, "Conflict resolved.")
	c.Redirect(http.StatusSeeOther, "/admin/sync/conflicts")
}
