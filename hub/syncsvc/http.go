package syncsvc

import (
	"context"
	"embed"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

//go:embed templates
var templates embed.FS

// Area is the sync area of the hub's web server.
type Area struct {
	Svc *Service
	web *web.Server
}

// Build makes the sync service from the hub's dependencies, starts it when they are all there
// (not for `hub routes`), and returns its web area. goFn runs a background loop the app waits
// for at Close.
func Build(ctx context.Context, cfg Config, goFn func(ctx context.Context, fn func(ctx context.Context))) (*Area, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := validateBindings(s.Bindings); err != nil {
		return nil, err
	}
	if cfg.DB != nil && cfg.NC != nil {
		if err := s.Start(ctx); err != nil {
			return nil, err
		}
		if goFn != nil {
			goFn(ctx, func(ctx context.Context) {
				<-ctx.Done()
				s.Wait()
			})
		}
	}
	return &Area{Svc: s}, nil
}

// Routes implements web.Area.
func (a *Area) Routes(s *web.Server) {
	a.web = s
	api := s.API
	api.POST("/devices", web.Perm("sync:device:write"), a.handleDeviceCreate)
	api.GET("/devices", web.Perm("sync:device:read"), a.handleDeviceIndex)
	api.POST("/devices/enroll", web.Public, a.handleEnroll)
	api.GET("/devices/:id", web.Perm("sync:device:read"), a.handleDeviceView)
	api.POST("/devices/:id/revoke", web.Perm("sync:device:write"), a.handleDeviceRevoke)
	api.GET("/sync/conflicts", web.Perm("sync:conflict:read"), a.handleConflictIndex)
	api.GET("/sync/conflicts/:id", web.Perm("sync:conflict:read"), a.handleConflictView)
	api.POST("/sync/conflicts/:id/resolve", web.Perm("sync:conflict:resolve"), a.handleConflictResolve)
	api.GET("/sync/rejections", web.Perm("sync:device:read"), a.handleRejectionIndex)
	// Device endpoints: HTTP Basic with the device's NATS credentials (checked in the handler).
	api.GET("/sync/device", web.Public, a.device(a.handleDeviceSelf))
	api.GET("/sync/bootstrap", web.Public, a.device(a.handleBootstrap))
	api.GET("/sync/bootstrap/:id", web.Public, a.device(a.handleBootstrapFile))
	api.GET("/sync/checksums", web.Public, a.device(a.handleChecksums))
	api.GET("/sync/snapshot", web.Public, a.device(a.handleSnapshotPage))
	api.POST("/sync/rows", web.Public, a.device(a.handleChecksumRows))
	api.POST("/sync/fetch", web.Public, a.device(a.handleFetch))
	api.PUT("/sync/blobs/:sha256", web.Public, a.device(a.handleBlobPut))
	api.Handle(http.MethodHead, "/sync/blobs/:sha256", web.Public, a.device(a.handleBlobGet))
	api.GET("/sync/blobs/:sha256", web.Public, a.device(a.handleBlobGet))
	api.GET("/sync/mutations", web.Public, a.device(a.handleMutations))

	s.AddPages(templates, "templates")
	s.Admin.GET("/sync/devices", web.Perm("sync:device:read"), a.pageDevices)
	s.Admin.POST("/sync/devices", web.Perm("sync:device:write"), a.pageDeviceCreate)
	s.Admin.POST("/sync/devices/:id/revoke", web.Perm("sync:device:write"), a.pageDeviceRevoke)
	s.Admin.GET("/sync/conflicts", web.Perm("sync:conflict:read"), a.pageConflicts)
	s.Admin.POST("/sync/conflicts/:id/resolve", web.Perm("sync:conflict:resolve"), a.pageConflictResolve)
	s.AddNav("Operations", "Devices", "/admin/sync/devices", "sync:device:read")
	s.AddNav("Operations", "Sync conflicts", "/admin/sync/conflicts", "sync:conflict:read")
}

func (a *Area) handleDeviceCreate(c *gin.Context) {
	var in struct {
		TechnicianID string `json:"technician_id"`
		Name         string `json:"name"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	d, err := a.Svc.CreateDevice(c.Request.Context(), in.TechnicianID, in.Name, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, d)
}

func (a *Area) handleDeviceIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindDevices(c.Request.Context(), DeviceFilter{TechnicianID: c.Query("technician_id"), Status: c.Query("status"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleDeviceView(c *gin.Context) {
	d, err := a.Svc.FindDeviceByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (a *Area) handleDeviceRevoke(c *gin.Context) {
	var in struct {
		Reason string `json:"reason"`
	}
	if c.Request.ContentLength > 0 {
		if err := web.BindJSON(c, &in); err != nil {
			web.Error(c, err)
			return
		}
	}
	d, err := a.Svc.RevokeDevice(c.Request.Context(), c.Param("id"), in.Reason, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (a *Area) handleEnroll(c *gin.Context) {
	var in struct {
		Code         string `json:"code"`
		Name         string `json:"name"`
		Platform     string `json:"platform"`
		AgentVersion string `json:"agent_version"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	ver := strings.TrimSpace(in.AgentVersion + " " + in.Platform)
	e, err := a.Svc.Enroll(c.Request.Context(), in.Code, in.Name, c.ClientIP(), ver)
	if err != nil {
		web.Error(c, err)
		return
	}
	if e.HubURL == "" {
		scheme := "http"
		if c.Request.TLS != nil {
			scheme = "https"
		}
		e.HubURL = scheme + "://" + c.Request.Host
	}
	c.JSON(http.StatusOK, e)
}

func (a *Area) handleConflictIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindConflicts(c.Request.Context(), ConflictFilter{EntityID: c.Query("entity_id"), Status: c.Query("status"),
		DeviceID: c.Query("device_id"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleConflictView(c *gin.Context) {
	cf, err := a.Svc.FindConflictByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, cf)
}

func (a *Area) handleConflictResolve(c *gin.Context) {
	var in struct {
		Resolution string `json:"resolution"`
	}
	if c.Request.ContentLength > 0 {
		if err := web.BindJSON(c, &in); err != nil {
			web.Error(c, err)
			return
		}
	}
	cf, err := a.Svc.ResolveConflict(c.Request.Context(), c.Param("id"), in.Resolution, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, cf)
}

// Rejection is a parked upload.
type Rejection struct {
	ID       string `json:"id"`
	DeviceID string `json:"device_id"`
	Seq      int64  `json:"seq"`
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	Raw      string `json:"raw"`
	Created  string `json:"created_at"`
}

// FindRejections lists parked uploads, newest first.
func (s *Service) FindRejections(ctx context.Context, deviceID string, limit, offset int) ([]Rejection, int, error) {
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sync_rejections WHERE $1 = '' OR device_id::text = $1`, deviceID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, coalesce(device_id::text, ''), seq, subject, reason, left(raw, 2000), to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
		FROM sync_rejections WHERE $1 = '' OR device_id::text = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3`, deviceID, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Rejection{}
	for rows.Next() {
		var r Rejection
		if err := rows.Scan(&r.ID, &r.DeviceID, &r.Seq, &r.Subject, &r.Reason, &r.Raw, &r.Created); err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

func (a *Area) handleRejectionIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindRejections(c.Request.Context(), c.Query("device_id"), limit, offset)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

// device authenticates a device with HTTP Basic (device id, secret). A revoked device is told to
// purge: 403 forbidden with fields {"device":"revoked","action":"purge"}.
func (a *Area) device(h func(c *gin.Context, d *deviceAuth)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, secret, ok := c.Request.BasicAuth()
		if !ok { // Authorization: Bearer <device_id>.<secret> (the device_token of enrollment)
			if tok, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); found {
				id, secret, ok = strings.Cut(strings.TrimSpace(tok), ".")
			}
		}
		if !ok {
			c.Header("WWW-Authenticate", `Basic realm="dmf-device"`)
			web.Error(c, hub.Errorf(hub.EUNAUTHORIZED, "device credentials are required (Authorization: Bearer <device_token>)"))
			return
		}
		d, err := a.Svc.authenticateDevice(c.Request.Context(), id, secret)
		if err != nil {
			web.Error(c, err)
			return
		}
		if d.Status != DeviceActive {
			web.Error(c, &hub.Error{Code: hub.EFORBIDDEN, Message: "this device was revoked: purge the replica and the credentials",
				Fields: map[string]string{"device": "revoked", "action": "purge"}})
			return
		}
		a.Svc.touchDevice(c.Request.Context(), d.ID, c.ClientIP())
		h(c, d)
	}
}

func (a *Area) handleDeviceSelf(c *gin.Context, d *deviceAuth) {
	dev, err := a.Svc.FindDeviceByID(c.Request.Context(), d.ID)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, dev)
}

func (a *Area) handleBootstrap(c *gin.Context, d *deviceAuth) {
	snap, err := a.Svc.Bootstrap(c.Request.Context(), d.TechnicianID)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, snap)
}

// handleBootstrapFile serves a snapshot with Range and If-Range (ETag is its SHA-256), so an
// interrupted download resumes where it stopped.
func (a *Area) handleBootstrapFile(c *gin.Context, d *deviceAuth) {
	snap, err := a.Svc.FindSnapshot(d.TechnicianID, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	f, err := snap.Open()
	if err != nil {
		web.Error(c, hub.Errorf(hub.ENOTFOUND, "snapshot not found (it may have expired: ask for a new one)"))
		return
	}
	defer f.Close()
	c.Header("ETag", `"`+snap.SHA256+`"`)
	c.Header("X-Snapshot-SHA256", snap.SHA256)
	c.Header("X-Sync-Cursor", strconv.FormatUint(uint64(snap.Cursor), 10))
	c.Header("Content-Type", "application/vnd.sqlite3")
	c.Header("Cache-Control", "private, no-transform")
	http.ServeContent(c.Writer, c.Request, snap.ID+".sqlite", snap.CreatedAt, f)
}

func (a *Area) handleChecksums(c *gin.Context, d *deviceAuth) {
	cursor, tables, err := a.Svc.Checksums(c.Request.Context(), d.TechnicianID)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cursor": cursor, "tables": tables})
}

// handleChecksumRows answers POST /api/v1/sync/rows {"table","buckets":[…]} with the (id,
// version) rows of those buckets, for the device to diff and repair only what differs.
func (a *Area) handleChecksumRows(c *gin.Context, d *deviceAuth) {
	var in struct {
		Table   string `json:"table"`
		Buckets []int  `json:"buckets"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	for _, b := range in.Buckets {
		if b < 0 || b > 63 {
			web.Error(c, hub.Invalid(map[string]string{"buckets": "bucket numbers are 0–63"}))
			return
		}
	}
	if len(in.Buckets) == 0 {
		web.Error(c, hub.Invalid(map[string]string{"buckets": "name the buckets that differ"}))
		return
	}
	rows, err := a.Svc.ChecksumRows(c.Request.Context(), d.TechnicianID, in.Table, in.Buckets)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"table": in.Table, "rows": rows})
}

// handleFetch answers POST /api/v1/sync/fetch {"table","ids":[…]} with current downstream upserts.
func (a *Area) handleFetch(c *gin.Context, d *deviceAuth) {
	var in struct {
		Table  string   `json:"table"`
		Entity string   `json:"entity"`
		IDs    []string `json:"ids"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	entity := in.Entity
	if entity == "" {
		entity = a.Svc.entityOfTable(in.Table)
	}
	ch, err := a.Svc.Rows(c.Request.Context(), d.TechnicianID, entity, in.IDs)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"changes": ch})
}

// handleSnapshotPage answers GET /api/v1/sync/snapshot?page=<token> (PROTOCOL.md §5): pages of
// downstream upserts read from one snapshot, the same cursor on every page, checksums on the last.
func (a *Area) handleSnapshotPage(c *gin.Context, d *deviceAuth) {
	p, err := a.Svc.SnapshotPage(c.Request.Context(), d.TechnicianID, c.Query("page"), 0)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// handleMutations lists the outcomes of the device's mutations after an upload sequence, for a
// device that missed the results on its control subject.
func (a *Area) handleMutations(c *gin.Context, d *deviceAuth) {
	after, _ := strconv.ParseInt(c.DefaultQuery("after_seq", "0"), 10, 64)
	rows, err := a.Svc.DB.Pool.Query(c.Request.Context(), `SELECT change_id, client_ref, entity, entity_id, status, reason, result, seq, clock_skew
		FROM sync_mutations WHERE device_id = $1 AND seq > $2 ORDER BY seq, applied_at LIMIT 1000`, d.ID, after)
	if err != nil {
		web.Error(c, err)
		return
	}
	defer rows.Close()
	type item struct {
		MutationResult
		Seq int64 `json:"seq"`
	}
	out := []item{}
	for rows.Next() {
		var it item
		var res []byte
		if err := rows.Scan(&it.ChangeID, &it.ClientRef, &it.Entity, &it.EntityID, &it.Status, &it.Reason, &res, &it.Seq, &it.ClockSkew); err != nil {
			web.Error(c, err)
			return
		}
		it.Result = res
		out = append(out, it)
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}
