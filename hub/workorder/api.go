package workorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/field"
)

// Area is the work order area's web.Area (and app.JobArea).
type Area struct {
	Svc *Service
	s   *web.Server
}

// NewArea returns the area on svc.
func NewArea(svc *Service) *Area { return &Area{Svc: svc} }

// Routes registers the JSON API, the field API and the staff pages.
func (a *Area) Routes(s *web.Server) {
	a.s = s
	s.OnWrite(a.Svc.list.invalidate)
	r := s.API
	r.GET("/customers", web.Perm("customer:account:read"), a.handleCustomerIndex)
	r.POST("/customers", web.Perm("customer:account:create"), a.handleCustomerCreate)
	r.GET("/customers/:id", web.Perm("customer:account:read"), a.handleCustomerView)
	r.PATCH("/customers/:id", web.Perm("customer:account:update"), a.handleCustomerUpdate)
	r.GET("/customers/:id/sites", web.Perm("customer:account:read"), a.handleSiteIndex)
	r.POST("/customers/:id/sites", web.Perm("customer:account:update"), a.handleSiteCreate)

	r.GET("/skills", web.Perm("operations:technician:read"), a.handleSkillIndex)
	r.POST("/skills", web.Perm("operations:technician:write"), a.handleSkillCreate)
	r.DELETE("/skills/:id", web.Perm("operations:technician:write"), a.handleSkillDelete)
	r.GET("/technicians", web.Perm("operations:technician:read"), a.handleTechIndex)
	r.POST("/technicians", web.Perm("operations:technician:write"), a.handleTechCreate)
	r.GET("/technicians/:id", web.Perm("operations:technician:read"), a.handleTechView)
	r.PATCH("/technicians/:id", web.Perm("operations:technician:write"), a.handleTechUpdate)
	r.GET("/technicians/:id/skills", web.Perm("operations:technician:read"), a.handleTechSkills)
	r.POST("/technicians/:id/skills", web.Perm("operations:technician:write"), a.handleTechSkillSet)
	r.DELETE("/technicians/:id/skills/:skill_id", web.Perm("operations:technician:write"), a.handleTechSkillDelete)
	r.GET("/technicians/:id/shifts", web.Perm("operations:technician:read"), a.handleShiftIndex)
	r.POST("/technicians/:id/shifts", web.Perm("operations:technician:write"), a.handleShiftSave)
	r.PATCH("/technicians/:id/shifts/:shift_id", web.Perm("operations:technician:write"), a.handleShiftSave)
	r.DELETE("/technicians/:id/shifts/:shift_id", web.Perm("operations:technician:write"), a.handleShiftDelete)
	r.GET("/technicians/:id/availability", web.Perm("operations:technician:read"), a.handleBlockIndex)
	r.POST("/technicians/:id/availability", web.Perm("operations:technician:write"), a.handleBlockSave)
	r.PATCH("/technicians/:id/availability/:block_id", web.Perm("operations:technician:write"), a.handleBlockSave)
	r.DELETE("/technicians/:id/availability/:block_id", web.Perm("operations:technician:write"), a.handleBlockDelete)

	r.GET("/work-orders", web.Perm("operations:work_order:read"), a.handleWOIndex)
	r.POST("/work-orders", web.Perm("operations:work_order:create"), a.handleWOCreate)
	r.GET("/work-orders/:id", web.Perm("operations:work_order:read"), a.handleWOView)
	r.PATCH("/work-orders/:id", web.Perm("operations:work_order:update"), a.handleWOUpdate)
	r.DELETE("/work-orders/:id", web.Perm("operations:work_order:delete"), a.handleWODelete)
	r.POST("/work-orders/:id/assign", web.Perm("operations:work_order:dispatch"), a.handleWOAssign)
	r.POST("/work-orders/:id/transition", web.Perm("operations:work_order:update"), a.handleWOTransition)
	r.GET("/work-orders/:id/notes", web.Perm("operations:work_order:read"), a.handleWONotes)
	r.POST("/work-orders/:id/notes", web.Perm("operations:work_order:update"), a.handleWONoteCreate)
	r.GET("/work-orders/:id/timeline", web.Perm("operations:work_order:read"), a.handleWOTimeline)
	r.GET("/work-order-transitions", web.Perm("operations:work_order:read"), a.handleRuleIndex)
	r.POST("/work-order-transitions", web.Perm("system:settings:write"), a.handleRuleSave)
	r.DELETE("/work-order-transitions/:from/:to", web.Perm("system:settings:write"), a.handleRuleDelete)

	r.GET("/field/jobs", web.Perm("field:job:read"), a.handleJobIndex)
	r.GET("/field/jobs/:id", web.Perm("field:job:read"), a.handleJobView)
	r.POST("/field/jobs/:id/transition", web.Perm("field:job:transition"), a.handleJobTransition)
	r.POST("/field/jobs/:id/notes", web.Perm("field:note:create"), a.handleJobNote)
	r.POST("/field/jobs/:id/worklogs", web.Perm("field:worklog:write"), a.handleJobWorklogs)
	r.POST("/field/attachments", web.Perm("field:attachment:create"), a.handleAttachmentUpload)
	r.BodyLimit(http.MethodPost, "/field/attachments", MaxAttachmentBytes+1<<20)
	r.GET("/field/attachments/:id/content", web.Perm("field:attachment:read"), a.handleAttachmentContent)

	r.GET("/notifications", web.SignedIn, a.handleNotificationIndex)
	r.POST("/notifications/:id/read", web.SignedIn, a.handleNotificationRead)
	r.POST("/notifications/read-all", web.SignedIn, a.handleNotificationReadAll)

	a.pages(s)
}

func actor(c *gin.Context) string {
	if p := hub.PrincipalFrom(c.Request.Context()); p != nil {
		return p.PersonID
	}
	return ""
}

// deviceID is the optional X-Device-ID header of field calls made by an edge device directly.
func deviceID(c *gin.Context) string { return strings.TrimSpace(c.GetHeader("X-Device-ID")) }

func ok[T any](c *gin.Context, status int, v T, err error) {
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(status, v)
}

func bind[T any](c *gin.Context) (T, bool) {
	var v T
	if err := web.BindJSON(c, &v); err != nil {
		web.Error(c, err)
		return v, false
	}
	return v, true
}

func boolQuery(c *gin.Context, name string) (*bool, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, hub.Invalid(map[string]string{name: "must be true or false"})
	}
	return &b, nil
}

// --- customers --------------------------------------------------------------------------------

func (a *Area) handleCustomerIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	st := c.Query("status")
	if st != "" {
		f := hub.Fields{}
		checkEnum(f, "status", st, CustomerStatuses)
		if err := f.Err(); err != nil {
			web.Error(c, err)
			return
		}
	}
	items, total, err := a.Svc.FindCustomers(c.Request.Context(), CustomerFilter{Query: c.Query("q"), Status: st, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleCustomerCreate(c *gin.Context) {
	in, good := bind[CustomerCreate](c)
	if !good {
		return
	}
	v, err := a.Svc.CreateCustomer(c.Request.Context(), in, actor(c))
	ok(c, http.StatusCreated, v, err)
}

func (a *Area) handleCustomerView(c *gin.Context) {
	v, err := a.Svc.FindCustomerByID(c.Request.Context(), c.Param("id"))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleCustomerUpdate(c *gin.Context) {
	in, good := bind[CustomerUpdate](c)
	if !good {
		return
	}
	v, err := a.Svc.UpdateCustomer(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleSiteIndex(c *gin.Context) {
	cu, err := a.Svc.FindCustomerByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, cu.Sites, len(cu.Sites), len(cu.Sites), 0)
}

func (a *Area) handleSiteCreate(c *gin.Context) {
	in, good := bind[SiteCreate](c)
	if !good {
		return
	}
	v, err := a.Svc.CreateSite(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusCreated, v, err)
}

// --- technicians -------------------------------------------------------------------------------

func (a *Area) handleSkillIndex(c *gin.Context) {
	items, err := a.Svc.FindSkills(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleSkillCreate(c *gin.Context) {
	in, good := bind[Skill](c)
	if !good {
		return
	}
	v, err := a.Svc.CreateSkill(c.Request.Context(), in)
	ok(c, http.StatusCreated, v, err)
}

func (a *Area) handleSkillDelete(c *gin.Context) {
	if err := a.Svc.DeleteSkill(c.Request.Context(), c.Param("id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleTechIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	active, err := boolQuery(c, "active")
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindTechnicians(c.Request.Context(), TechnicianFilter{Query: c.Query("q"), Region: c.Query("region"),
		SkillID: c.Query("skill_id"), Active: active, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleTechCreate(c *gin.Context) {
	in, good := bind[TechnicianCreate](c)
	if !good {
		return
	}
	v, err := a.Svc.CreateTechnician(c.Request.Context(), in, actor(c))
	ok(c, http.StatusCreated, v, err)
}

func (a *Area) handleTechView(c *gin.Context) {
	v, err := a.Svc.FindTechnicianByID(c.Request.Context(), c.Param("id"))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleTechUpdate(c *gin.Context) {
	in, good := bind[TechnicianUpdate](c)
	if !good {
		return
	}
	v, err := a.Svc.UpdateTechnician(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleTechSkills(c *gin.Context) {
	items, err := a.Svc.TechnicianSkills(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleTechSkillSet(c *gin.Context) {
	in, good := bind[TechSkillInput](c)
	if !good {
		return
	}
	items, err := a.Svc.SetTechnicianSkill(c.Request.Context(), c.Param("id"), in, actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleTechSkillDelete(c *gin.Context) {
	if err := a.Svc.RemoveTechnicianSkill(c.Request.Context(), c.Param("id"), c.Param("skill_id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func windowQuery(c *gin.Context) (*time.Time, *time.Time, error) {
	f := hub.Fields{}
	from, to := c.Query("from"), c.Query("to")
	a, b := parseTime(f, "from", &from), parseTime(f, "to", &to)
	return a, b, f.Err()
}

func (a *Area) handleShiftIndex(c *gin.Context) {
	from, to, err := windowQuery(c)
	if err == nil {
		_, err = a.Svc.FindTechnicianByID(c.Request.Context(), c.Param("id"))
	}
	if err != nil {
		web.Error(c, err)
		return
	}
	items, err := a.Svc.FindShifts(c.Request.Context(), c.Param("id"), from, to)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleShiftSave(c *gin.Context) {
	in, good := bind[ShiftInput](c)
	if !good {
		return
	}
	status := http.StatusOK
	if c.Param("shift_id") == "" {
		status = http.StatusCreated
	}
	v, err := a.Svc.SaveShift(c.Request.Context(), c.Param("id"), c.Param("shift_id"), in, actor(c))
	ok(c, status, v, err)
}

func (a *Area) handleShiftDelete(c *gin.Context) {
	if err := a.Svc.DeleteShift(c.Request.Context(), c.Param("id"), c.Param("shift_id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleBlockIndex(c *gin.Context) {
	from, to, err := windowQuery(c)
	if err == nil {
		_, err = a.Svc.FindTechnicianByID(c.Request.Context(), c.Param("id"))
	}
	if err != nil {
		web.Error(c, err)
		return
	}
	items, err := a.Svc.FindBlocks(c.Request.Context(), c.Param("id"), from, to)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleBlockSave(c *gin.Context) {
	in, good := bind[BlockInput](c)
	if !good {
		return
	}
	status := http.StatusOK
	if c.Param("block_id") == "" {
		status = http.StatusCreated
	}
	v, err := a.Svc.SaveBlock(c.Request.Context(), c.Param("id"), c.Param("block_id"), in, actor(c))
	ok(c, status, v, err)
}

func (a *Area) handleBlockDelete(c *gin.Context) {
	if err := a.Svc.DeleteBlock(c.Request.Context(), c.Param("id"), c.Param("block_id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// --- work orders -------------------------------------------------------------------------------

func (a *Area) handleWOIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	f, err := ParseFilter(c.Query, c.QueryArray)
	if err != nil {
		web.Error(c, err)
		return
	}
	f.Limit, f.Offset = limit, offset
	body, err := a.Svc.ListEnvelope(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func (a *Area) handleWOCreate(c *gin.Context) {
	in, good := bind[WorkOrderCreate](c)
	if !good {
		return
	}
	v, err := a.Svc.CreateWorkOrder(c.Request.Context(), in, actor(c))
	ok(c, http.StatusCreated, v, err)
}

func (a *Area) handleWOView(c *gin.Context) {
	v, err := a.Svc.FindWorkOrderByID(c.Request.Context(), c.Param("id"))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleWOUpdate(c *gin.Context) {
	in, good := bind[WorkOrderUpdate](c)
	if !good {
		return
	}
	v, err := a.Svc.UpdateWorkOrder(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleWODelete(c *gin.Context) {
	var version *int64
	if v := c.Query("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			web.Error(c, hub.Invalid(map[string]string{"version": "must be a whole number"}))
			return
		}
		version = &n
	}
	if err := a.Svc.DeleteWorkOrder(c.Request.Context(), c.Param("id"), version, actor(c)); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleWOAssign(c *gin.Context) {
	in, good := bind[AssignRequest](c)
	if !good {
		return
	}
	v, err := a.Svc.AssignWorkOrder(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleWOTransition(c *gin.Context) {
	in, good := bind[TransitionRequest](c)
	if !good {
		return
	}
	v, err := a.Svc.TransitionWorkOrder(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleWONotes(c *gin.Context) {
	items, err := a.Svc.FindNotes(c.Request.Context(), c.Param("id"), true)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleWONoteCreate(c *gin.Context) {
	in, good := bind[NoteCreate](c)
	if !good {
		return
	}
	v, err := a.Svc.AddNote(c.Request.Context(), c.Param("id"), in, actor(c))
	ok(c, http.StatusCreated, v, err)
}

func (a *Area) handleWOTimeline(c *gin.Context) {
	if _, err := a.Svc.FindWorkOrderByID(c.Request.Context(), c.Param("id")); err != nil {
		web.Error(c, err)
		return
	}
	items, err := a.Svc.Timeline(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleRuleIndex(c *gin.Context) {
	items, err := a.Svc.FindTransitionRules(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), len(items), 0)
}

func (a *Area) handleRuleSave(c *gin.Context) {
	in, good := bind[TransitionRule](c)
	if !good {
		return
	}
	err := a.Svc.SaveTransitionRule(c.Request.Context(), in, actor(c))
	ok(c, http.StatusOK, in, err)
}

func (a *Area) handleRuleDelete(c *gin.Context) {
	if err := a.Svc.DeleteTransitionRule(c.Request.Context(), c.Param("from"), c.Param("to")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// --- field API ---------------------------------------------------------------------------------

func (a *Area) handleJobIndex(c *gin.Context) {
	f, err := ParseJobFilter(c.Query)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, err := a.Svc.ListJobs(c.Request.Context(), actor(c), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, field.List[field.JobSummary]{Items: items, Total: len(items), Limit: 500, Offset: 0})
}

func (a *Area) handleJobView(c *gin.Context) {
	v, err := a.Svc.Job(c.Request.Context(), actor(c), c.Param("id"))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleJobTransition(c *gin.Context) {
	in, good := bind[field.TransitionRequest](c)
	if !good {
		return
	}
	v, err := a.Svc.ApplyFieldEvent(c.Request.Context(), actor(c), deviceID(c), c.Param("id"), in)
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleJobNote(c *gin.Context) {
	in, good := bind[field.NoteRequest](c)
	if !good {
		return
	}
	v, created, err := a.Svc.AddFieldNote(c.Request.Context(), actor(c), deviceID(c), c.Param("id"), in)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	ok(c, status, v, err)
}

func (a *Area) handleJobWorklogs(c *gin.Context) {
	in, good := bind[WorklogBatch](c)
	if !good {
		return
	}
	items, err := a.Svc.AddWorklogs(c.Request.Context(), actor(c), deviceID(c), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// handleAttachmentUpload streams the multipart form: the file part (at most 10 MiB) and the fields.
func (a *Area) handleAttachmentUpload(c *gin.Context) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		web.Error(c, hub.Errorf(hub.EINVALID, "the body must be multipart/form-data with a file part"))
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		web.Error(c, hub.Errorf(hub.EINVALID, "the multipart body could not be read"))
		return
	}
	in := AttachmentInput{}
	f := hub.Fields{}
	var data []byte
	seenFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				web.Error(c, ErrTooLarge)
				return
			}
			web.Error(c, hub.Errorf(hub.EINVALID, "the multipart body is malformed"))
			return
		}
		name := part.FormName()
		if name == "file" {
			seenFile = true
			in.FileName = part.FileName()
			data, err = io.ReadAll(io.LimitReader(part, MaxAttachmentBytes+1))
			if err == nil && len(data) > MaxAttachmentBytes {
				err = ErrTooLarge
			}
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					err = ErrTooLarge
				} else {
					err = hub.Errorf(hub.EINVALID, "the file could not be read")
				}
				web.Error(c, err)
				return
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, 4097))
		if err != nil || len(b) > 4096 {
			f.Add(name, "is too long")
			continue
		}
		v := strings.TrimSpace(string(b))
		switch name {
		case "kind":
			in.Kind = v
		case "work_order_id":
			in.WorkOrderID = v
		case "client_ref":
			in.ClientRef = v
		case "signer_name":
			in.SignerName = v
		case "captured_at":
			in.CapturedAt = parseTime(f, "captured_at", &v)
		case "lat", "lon":
			if v == "" {
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				f.Add(name, "must be a number")
				continue
			}
			if name == "lat" {
				in.Lat = &x
			} else {
				in.Lon = &x
			}
		default:
			f.Add(name, "is not a known field")
		}
	}
	if !seenFile {
		f.Add("file", "is required")
	}
	if err := f.Err(); err != nil {
		web.Error(c, err)
		return
	}
	in.Content = bytes.NewReader(data)
	v, created, err := a.Svc.AddAttachment(c.Request.Context(), actor(c), deviceID(c), in)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	ok(c, status, v, err)
}

func (a *Area) handleAttachmentContent(c *gin.Context) {
	p := hub.PrincipalFrom(c.Request.Context())
	staff := p.Can("operations:work_order:read")
	a.serveAttachment(c, p.PersonID, staff)
}

func (a *Area) serveAttachment(c *gin.Context, personID string, staff bool) {
	af, err := a.Svc.AttachmentContent(c.Request.Context(), personID, c.Param("id"), staff)
	if err != nil {
		web.Error(c, err)
		return
	}
	fh, err := os.Open(af.Path)
	if err != nil {
		web.Error(c, err)
		return
	}
	defer fh.Close()
	name := af.FileName
	if name == "" {
		name = "attachment"
	}
	c.Header("Content-Type", af.MIME)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	c.Header("Cache-Control", "private, max-age=86400")
	c.Header("ETag", fmt.Sprintf("%q", af.Key))
	c.Header("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, fh)
}

// Deps are what Build needs from the app.
type Deps struct {
	DB         *postgres.DB
	DataDir    string
	HashParams *secret.Params
	Logger     *slog.Logger
	// Worker runs the notifier loop in this process (HUB_WORKER); Go starts it (app.Go).
	Worker bool
	Go     func(ctx context.Context, fn func(ctx context.Context))
}

// Build wires the area from the app's parts (hub/app/areas.go). With a worker, a loop listens
// for new domain events and drains them into notifications at once (the asynq task of Jobs is
// the periodic safety net).
func Build(ctx context.Context, d Deps) *Area {
	svc := NewService(d.DB, d.DataDir, d.Logger)
	svc.HashParams = d.HashParams
	if d.Worker && d.DB != nil && d.Go != nil {
		d.Go(ctx, svc.RunNotifier)
	}
	if d.DB != nil && d.Go != nil {
		d.Go(ctx, svc.RunListInvalidation)
	}
	return NewArea(svc)
}
