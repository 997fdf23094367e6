package workorder

import (
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/web"
)

//go:embed templates
var templateFS embed.FS

// pages registers the staff pages.
func (a *Area) pages(s *web.Server) {
	s.AddPages(templateFS, "templates")
	r := s.Admin
	r.GET("/operations/work-orders", web.Perm("operations:work_order:read"), a.pageWOIndex)
	r.GET("/operations/work-orders/export.csv", web.Perm("operations:work_order:read"), a.pageWOExport)
	r.POST("/operations/work-orders/filters", web.Perm("operations:work_order:read"), a.pageFilterSave)
	r.POST("/operations/work-orders/filters/:id/delete", web.Perm("operations:work_order:read"), a.pageFilterDelete)
	r.GET("/operations/work-orders/new", web.Perm("operations:work_order:create"), a.pageWONew)
	r.POST("/operations/work-orders", web.Perm("operations:work_order:create"), a.pageWOCreate)
	r.GET("/operations/work-orders/:id", web.Perm("operations:work_order:read"), a.pageWOView)
	r.GET("/operations/work-orders/:id/edit", web.Perm("operations:work_order:update"), a.pageWOEdit)
	r.POST("/operations/work-orders/:id", web.Perm("operations:work_order:update"), a.pageWOUpdate)
	r.POST("/operations/work-orders/:id/notes", web.Perm("operations:work_order:update"), a.pageWONote)
	r.POST("/operations/work-orders/:id/assign", web.Perm("operations:work_order:dispatch"), a.pageWOAssign)
	r.POST("/operations/work-orders/:id/transition", web.Perm("operations:work_order:update"), a.pageWOTransition)
	r.GET("/operations/attachments/:id/content", web.Perm("operations:work_order:read"), a.pageAttachment)
	r.GET("/operations/technicians", web.Perm("operations:technician:read"), a.pageTechIndex)
	r.GET("/operations/technicians/new", web.Perm("operations:technician:write"), a.pageTechNew)
	r.POST("/operations/technicians", web.Perm("operations:technician:write"), a.pageTechCreate)
	r.GET("/operations/technicians/:id", web.Perm("operations:technician:read"), a.pageTechView)
	r.GET("/customers", web.Perm("customer:account:read"), a.pageCustomerIndex)
	r.GET("/customers/picker", web.Perm("customer:account:read"), a.pageCustomerPicker)
	r.GET("/customers/new", web.Perm("customer:account:create"), a.pageCustomerNew)
	r.POST("/customers", web.Perm("customer:account:create"), a.pageCustomerCreate)
	r.GET("/customers/:id", web.Perm("customer:account:read"), a.pageCustomerView)

	s.AddNav("Operations", "Work orders", "/admin/operations/work-orders", "operations:work_order:read")
	s.AddNav("Operations", "Technicians", "/admin/operations/technicians", "operations:technician:read")
	s.AddNav("Customers", "Customers", "/admin/customers", "customer:account:read")
	s.AddDashboardCard(func(c *gin.Context, p *hub.Principal) *web.DashboardCard {
		if !p.Can("operations:work_order:read") || a.Svc.DB == nil {
			return nil
		}
		var open, unassigned int
		if err := a.Svc.DB.Pool.QueryRow(c.Request.Context(), `SELECT count(*) FILTER (WHERE status IN ('scheduled', 'dispatched', 'in_progress', 'paused')),
			count(*) FILTER (WHERE assigned_to IS NULL AND status NOT IN ('completed', 'canceled')) FROM work_orders WHERE is_active`).Scan(&open, &unassigned); err != nil {
			return nil
		}
		return &web.DashboardCard{Title: "Open work orders", Value: strconv.Itoa(open), Note: fmt.Sprintf("%d unassigned", unassigned),
			Href: "/admin/operations/work-orders?status=scheduled,dispatched,in_progress,paused"}
	})
}

// listQuery turns the page's filter form (dates as YYYY-MM-DD) into API-style values.
func listQuery(c *gin.Context) (Filter, url.Values, error) {
	v := url.Values{}
	for _, k := range []string{"q", "status", "assigned_to", "customer_id", "priority", "work_type", "from", "to"} {
		for _, x := range c.QueryArray(k) {
			if x = strings.TrimSpace(x); x != "" {
				v.Add(k, x)
			}
		}
	}
	api := url.Values{}
	for k, xs := range v {
		api[k] = xs
	}
	for _, k := range []string{"from", "to"} {
		if d := v.Get(k); len(d) == 10 {
			t, err := time.Parse("2006-01-02", d)
			if err != nil {
				return Filter{}, v, hub.Invalid(map[string]string{k: "must be a date (YYYY-MM-DD)"})
			}
			if k == "to" {
				t = t.Add(24 * time.Hour)
			}
			api.Set(k, t.Format(time.RFC3339))
		}
	}
	f, err := ParseFilter(api.Get, func(k string) []string { return api[k] })
	return f, v, err
}

// SavedFilter is a named query of the work order list, kept per user.
type SavedFilter struct {
	ID    string
	Name  string
	Query string
}

func (a *Area) savedFilters(c *gin.Context) []SavedFilter {
	rows, err := a.Svc.DB.Pool.Query(c.Request.Context(), `SELECT id, name, query FROM work_order_saved_filters WHERE person_id = $1 ORDER BY name`, actor(c))
	if err != nil {
		return nil
	}
	out, _ := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SavedFilter, error) {
		var f SavedFilter
		return f, r.Scan(&f.ID, &f.Name, &f.Query)
	})
	return out
}

func (a *Area) techOptions(c *gin.Context) []Technician {
	items, _, err := a.Svc.FindTechnicians(c.Request.Context(), TechnicianFilter{Limit: 500})
	if err != nil {
		return nil
	}
	return items
}

func (a *Area) pageWOIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	f, v, ferr := listQuery(c)
	data := gin.H{"Title": "Work orders", "Values": v, "Statuses": Statuses, "Priorities": Priorities, "WorkTypes": WorkTypes,
		"Techs": a.techOptions(c), "Saved": a.savedFilters(c), "Limit": limit, "Offset": offset, "Query": "", "QueryString": v.Encode()}
	if v.Encode() != "" {
		data["Query"] = "&" + v.Encode()
	}
	if err == nil {
		err = ferr
	}
	if err != nil {
		var he *hub.Error
		if errors.As(err, &he) {
			data["FormError"], data["Errors"] = he.Message, he.Fields
			c.Status(http.StatusBadRequest)
			a.s.Render(c, "operations/work_orders.html", data)
			return
		}
		web.Error(c, err)
		return
	}
	f.Limit, f.Offset = limit, offset
	items, total, err := a.Svc.FindWorkOrders(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	data["Items"], data["Total"] = items, total
	a.s.Render(c, "operations/work_orders.html", data)
}

func (a *Area) pageWOExport(c *gin.Context) {
	f, _, err := listQuery(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="work-orders-`+time.Now().UTC().Format("20060102-1504")+`.csv"`)
	w := csv.NewWriter(c.Writer)
	w.Write([]string{"number", "title", "status", "priority", "work_type", "customer", "address", "lat", "lon", "assigned_to",
		"scheduled_start", "scheduled_end", "started_at", "completed_at", "total_active_seconds", "tags", "version"})
	f.Limit = 500
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	fl := func(x *float64) string {
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'f', 6, 64)
	}
	for f.Offset = 0; f.Offset < 100_000; f.Offset += f.Limit {
		items, total, err := a.Svc.FindWorkOrders(c.Request.Context(), f)
		if err != nil {
			web.Logger(c).Error("csv export", "error", err)
			break
		}
		for _, x := range items {
			w.Write([]string{x.Number, csvSafe(x.Title), x.Status, x.Priority, x.WorkType, csvSafe(x.CustomerName), csvSafe(x.Site.Address),
				fl(x.Site.Lat), fl(x.Site.Lon), csvSafe(x.AssignedToName), ts(x.ScheduledStart), ts(x.ScheduledEnd), ts(x.StartedAt),
				ts(x.CompletedAt), strconv.FormatInt(x.TotalActiveSeconds, 10), strings.Join(x.Tags, ";"), strconv.FormatInt(x.Version, 10)})
		}
		if f.Offset+f.Limit >= total {
			break
		}
	}
	w.Flush()
}

// csvSafe keeps spreadsheet formulas from running (=, +, -, @ at the start of a cell).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *Area) pageFilterSave(c *gin.Context) {
	name := strings.TrimSpace(c.PostForm("name"))
	q := c.PostForm("query")
	if vals, err := url.ParseQuery(q); err != nil || len(q) > 2000 {
		a.s.FormError(c, hub.Invalid(map[string]string{"query": "is not a filter"}), "/admin/operations/work-orders")
		return
	} else {
		q = vals.Encode()
	}
	if name == "" || len(name) > 80 {
		a.s.FormError(c, hub.Invalid(map[string]string{"name": "give the filter a name (up to 80 characters)"}), "/admin/operations/work-orders?"+q)
		return
	}
	_, err := a.Svc.DB.Pool.Exec(c.Request.Context(), `INSERT INTO work_order_saved_filters (person_id, name, query) VALUES ($1, $2, $3)
		ON CONFLICT (person_id, name) DO UPDATE SET query = EXCLUDED.query`, actor(c), name, q)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Flash(c, "Saved the filter “"+name+"”")
	c.Redirect(http.StatusSeeOther, "/admin/operations/work-orders?"+q)
}

func (a *Area) pageFilterDelete(c *gin.Context) {
	if postgres.ValidUUID(c.Param("id")) {
		a.Svc.DB.Pool.Exec(c.Request.Context(), `DELETE FROM work_order_saved_filters WHERE id = $1 AND person_id = $2`, c.Param("id"), actor(c))
	}
	a.s.Flash(c, "Filter removed")
	c.Redirect(http.StatusSeeOther, "/admin/operations/work-orders")
}

// woForm is the create/edit form's values.
type woForm struct {
	ID, Title, Description, WorkType, Priority, Status, CustomerID, CustomerName, Address, Lat, Lon string
	Start, End, Duration, AssignedTo, AccessNotes, Tags                                             string
	Version                                                                                         int64
}

const formTime = "2006-01-02T15:04"

func fromWO(w *WorkOrder) woForm {
	f := woForm{ID: w.ID, Title: w.Title, Description: w.Description, WorkType: w.WorkType, Priority: w.Priority, Status: w.Status,
		CustomerID: deref(w.CustomerID), CustomerName: w.CustomerName, Address: w.Site.Address, AssignedTo: deref(w.AssignedTo),
		AccessNotes: w.AccessNotes, Tags: strings.Join(w.Tags, ", "), Version: w.Version}
	if w.Site.Lat != nil {
		f.Lat, f.Lon = strconv.FormatFloat(*w.Site.Lat, 'f', 6, 64), strconv.FormatFloat(*w.Site.Lon, 'f', 6, 64)
	}
	if w.ScheduledStart != nil {
		f.Start = w.ScheduledStart.UTC().Format(formTime)
	}
	if w.ScheduledEnd != nil {
		f.End = w.ScheduledEnd.UTC().Format(formTime)
	}
	if w.EstimatedDurationMinutes != nil {
		f.Duration = strconv.Itoa(*w.EstimatedDurationMinutes)
	}
	return f
}

func readForm(c *gin.Context) woForm {
	return woForm{Title: c.PostForm("title"), Description: c.PostForm("description"), WorkType: c.PostForm("work_type"),
		Priority: c.PostForm("priority"), Status: c.PostForm("status"), CustomerID: strings.TrimSpace(c.PostForm("customer_id")),
		CustomerName: strings.TrimSpace(c.PostForm("customer_q")), Address: c.PostForm("address"), Lat: strings.TrimSpace(c.PostForm("lat")), Lon: strings.TrimSpace(c.PostForm("lon")),
		Start: c.PostForm("scheduled_start"), End: c.PostForm("scheduled_end"), Duration: strings.TrimSpace(c.PostForm("duration")),
		AssignedTo: c.PostForm("assigned_to"), AccessNotes: c.PostForm("access_notes"), Tags: c.PostForm("tags")}
}

// parse converts form values (times in UTC, "YYYY-MM-DDTHH:MM") into API inputs, collecting field messages.
func (f woForm) parse(fields hub.Fields) (start, end *string, lat, lon *float64, dur *int, tags []string) {
	if f.CustomerName != "" && f.CustomerID == "" {
		fields.Add("customer_id", "choose the customer from the list of matches, or clear the field")
	}
	conv := func(name, v string) *string {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		t, err := time.Parse(formTime, v)
		if err != nil {
			fields.Add(name, "must be a date and time")
			return nil
		}
		s := t.UTC().Format(time.RFC3339)
		return &s
	}
	start, end = conv("scheduled_start", f.Start), conv("scheduled_end", f.End)
	num := func(name, v string) *float64 {
		if v == "" {
			return nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fields.Add(name, "must be a number")
			return nil
		}
		return &x
	}
	lat, lon = num("site.lat", f.Lat), num("site.lon", f.Lon)
	if f.Duration != "" {
		n, err := strconv.Atoi(f.Duration)
		if err != nil {
			fields.Add("estimated_duration_minutes", "must be a whole number of minutes")
		} else {
			dur = &n
		}
	}
	for _, t := range strings.Split(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return
}

func (a *Area) renderForm(c *gin.Context, status int, f woForm, err error) {
	data := gin.H{"Title": "New work order", "Form": f, "Statuses": Statuses, "Priorities": Priorities, "WorkTypes": WorkTypes,
		"Techs": a.techOptions(c)}
	if f.ID != "" {
		data["Title"] = "Edit work order"
	}
	a.s.RenderForm(c, status, "operations/work_order_form.html", data, err)
}

func (a *Area) pageWONew(c *gin.Context) {
	f := woForm{WorkType: "install", Priority: "normal", Status: "scheduled", CustomerID: c.Query("customer_id")}
	if f.CustomerID != "" {
		if cu, err := a.Svc.FindCustomerByID(c.Request.Context(), f.CustomerID); err == nil {
			f.CustomerName = cu.Name
		}
	}
	a.renderForm(c, http.StatusOK, f, nil)
}

func (a *Area) pageWOCreate(c *gin.Context) {
	f := readForm(c)
	fields := hub.Fields{}
	start, end, lat, lon, dur, tags := f.parse(fields)
	if err := fields.Err(); err != nil {
		a.renderForm(c, http.StatusBadRequest, f, err)
		return
	}
	in := WorkOrderCreate{Title: f.Title, Description: f.Description, WorkType: f.WorkType, Priority: f.Priority, Status: f.Status,
		ScheduledStart: start, ScheduledEnd: end, EstimatedDurationMinutes: dur, AccessNotes: f.AccessNotes, Tags: tags,
		AssignedTo: nilIfEmpty(&f.AssignedTo), CustomerID: nilIfEmpty(&f.CustomerID)}
	if f.Address != "" || lat != nil {
		in.Site = &SiteInput{Address: f.Address, Lat: lat, Lon: lon}
	}
	w, err := a.Svc.CreateWorkOrder(c.Request.Context(), in, actor(c))
	if err != nil {
		a.renderForm(c, web.StatusFor(hub.ErrorCode(err)), f, err)
		return
	}
	a.s.Flash(c, "Created "+w.Number)
	c.Redirect(http.StatusSeeOther, "/admin/operations/work-orders/"+w.ID)
}

func (a *Area) pageWOEdit(c *gin.Context) {
	w, err := a.Svc.FindWorkOrderByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.notFoundPage(c, err)
		return
	}
	a.renderForm(c, http.StatusOK, fromWO(w), nil)
}

func (a *Area) pageWOUpdate(c *gin.Context) {
	f := readForm(c)
	f.ID = c.Param("id")
	f.Version, _ = strconv.ParseInt(c.PostForm("version"), 10, 64)
	fields := hub.Fields{}
	start, end, lat, lon, dur, tags := f.parse(fields)
	if err := fields.Err(); err != nil {
		a.renderForm(c, http.StatusBadRequest, f, err)
		return
	}
	upd := WorkOrderUpdate{Title: &f.Title, Description: &f.Description, WorkType: &f.WorkType, Priority: &f.Priority,
		ScheduledStart: start, ScheduledEnd: end, EstimatedDurationMinutes: dur, AccessNotes: &f.AccessNotes, Tags: &tags, Version: &f.Version}
	if tags == nil {
		empty := []string{}
		upd.Tags = &empty
	}
	if f.CustomerID != "" {
		upd.CustomerID = &f.CustomerID
	}
	if f.Address != "" || lat != nil {
		cur, err := a.Svc.FindWorkOrderByID(c.Request.Context(), f.ID)
		if err == nil && (cur.Site.Address != f.Address || !sameCoord(cur.Site.Lat, lat) || !sameCoord(cur.Site.Lon, lon)) {
			upd.Site = &SiteInput{Address: f.Address, Lat: lat, Lon: lon}
		}
	}
	w, err := a.Svc.UpdateWorkOrder(c.Request.Context(), f.ID, upd, actor(c))
	if err != nil {
		a.renderForm(c, web.StatusFor(hub.ErrorCode(err)), f, err)
		return
	}
	a.s.Flash(c, "Saved "+w.Number)
	c.Redirect(http.StatusSeeOther, "/admin/operations/work-orders/"+w.ID)
}

func sameCoord(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	d := *a - *b
	return d < 1e-6 && d > -1e-6
}

func (a *Area) notFoundPage(c *gin.Context, err error) {
	if hub.ErrorCode(err) != hub.ENOTFOUND {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNotFound)
	a.s.Render(c, "error.html", gin.H{"Title": "Not found", "Message": "This record does not exist or was deleted."})
}

func (a *Area) pageWOView(c *gin.Context) {
	ctx := c.Request.Context()
	w, err := a.Svc.FindWorkOrderByID(ctx, c.Param("id"))
	if err != nil {
		a.notFoundPage(c, err)
		return
	}
	notes, err := a.Svc.FindNotes(ctx, w.ID, true)
	if err != nil {
		web.Error(c, err)
		return
	}
	timeline, err := a.Svc.Timeline(ctx, w.ID)
	if err != nil {
		web.Error(c, err)
		return
	}
	atts, err := a.Svc.WorkOrderAttachments(ctx, w.ID)
	if err != nil {
		web.Error(c, err)
		return
	}
	events, err := fieldEvents(ctx, a.Svc.DB.Pool, w.ID)
	if err != nil {
		web.Error(c, err)
		return
	}
	for i, j := 0, len(timeline)-1; i < j; i, j = i+1, j-1 { // newest first
		timeline[i], timeline[j] = timeline[j], timeline[i]
	}
	a.s.Render(c, "operations/work_order.html", gin.H{"Title": w.Number + " · " + w.Title, "WO": w, "Notes": notes, "Timeline": timeline,
		"Attachments": atts, "FieldEvents": events, "Statuses": Statuses, "Techs": a.techOptions(c)})
}

func (a *Area) back(c *gin.Context) string { return "/admin/operations/work-orders/" + c.Param("id") }

func (a *Area) pageWONote(c *gin.Context) {
	_, err := a.Svc.AddNote(c.Request.Context(), c.Param("id"), NoteCreate{Body: c.PostForm("body"), IsInternal: c.PostForm("is_internal") != ""}, actor(c))
	if err != nil {
		a.s.FormError(c, err, a.back(c))
		return
	}
	a.s.Flash(c, "Note added")
	c.Redirect(http.StatusSeeOther, a.back(c)+"#notes")
}

func (a *Area) pageWOAssign(c *gin.Context) {
	v, _ := strconv.ParseInt(c.PostForm("version"), 10, 64)
	to := c.PostForm("assigned_to")
	var crew []string
	for _, x := range c.PostFormArray("crew") {
		if x != "" && x != to {
			crew = append(crew, x)
		}
	}
	_, err := a.Svc.AssignWorkOrder(c.Request.Context(), c.Param("id"), AssignRequest{AssignedTo: &to, Crew: crew, Version: &v}, actor(c))
	if err != nil {
		a.s.FormError(c, err, a.back(c))
		return
	}
	a.s.Flash(c, "Assignment saved")
	c.Redirect(http.StatusSeeOther, a.back(c))
}

func (a *Area) pageWOTransition(c *gin.Context) {
	v, _ := strconv.ParseInt(c.PostForm("version"), 10, 64)
	_, err := a.Svc.TransitionWorkOrder(c.Request.Context(), c.Param("id"), TransitionRequest{ToStatus: c.PostForm("to_status"), Note: c.PostForm("note"), Version: &v}, actor(c))
	if err != nil {
		a.s.FormError(c, err, a.back(c))
		return
	}
	a.s.Flash(c, "Status changed to "+label(c.PostForm("to_status")))
	c.Redirect(http.StatusSeeOther, a.back(c))
}

func (a *Area) pageAttachment(c *gin.Context) { a.serveAttachment(c, actor(c), true) }

func (a *Area) pageTechIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindTechnicians(c.Request.Context(), TechnicianFilter{Query: c.Query("q"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	q := ""
	if c.Query("q") != "" {
		q = "&q=" + url.QueryEscape(c.Query("q"))
	}
	a.s.Render(c, "operations/technicians.html", gin.H{"Title": "Technicians", "Items": items, "Total": total, "Limit": limit, "Offset": offset,
		"Q": c.Query("q"), "Query": q, "CanCreate": hub.PrincipalFrom(c.Request.Context()).Can("operations:technician:write")})
}

func (a *Area) pageTechView(c *gin.Context) {
	t, err := a.Svc.FindTechnicianByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.notFoundPage(c, err)
		return
	}
	from := time.Now().Add(-24 * time.Hour)
	jobs, _, err := a.Svc.FindWorkOrders(c.Request.Context(), Filter{AssignedTo: t.ID, From: &from, Limit: 50})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "operations/technician.html", gin.H{"Title": t.Name, "Tech": t, "Jobs": jobs})
}

func (a *Area) pageCustomerIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindCustomers(c.Request.Context(), CustomerFilter{Query: c.Query("q"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	q := ""
	if c.Query("q") != "" {
		q = "&q=" + url.QueryEscape(c.Query("q"))
	}
	a.s.Render(c, "customers/customers.html", gin.H{"Title": "Customers", "Items": items, "Total": total, "Limit": limit, "Offset": offset,
		"Q": c.Query("q"), "Query": q, "CanCreate": hub.PrincipalFrom(c.Request.Context()).Can("customer:account:create")})
}

func (a *Area) pageCustomerView(c *gin.Context) {
	cu, err := a.Svc.FindCustomerByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.notFoundPage(c, err)
		return
	}
	jobs, total, err := a.Svc.FindWorkOrders(c.Request.Context(), Filter{CustomerID: cu.ID, Limit: 50})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "customers/customer.html", gin.H{"Title": cu.Name, "C": cu, "Jobs": jobs, "JobsTotal": total})
}

var customerPickerTmpl = template.Must(template.New("picker").Parse(`{{range .}}<li role="option"><button type="button" class="picker-opt"
 data-id="{{.ID}}" data-name="{{.Name}}" data-address="{{.Address}}"{{with .Lat}} data-lat="{{.}}"{{end}}{{with .Lon}} data-lon="{{.}}"{{end}} onclick="dmfPick(this)">
 <strong>{{.Name}}</strong> <span class="muted small">{{.Number}}{{with .Address}} · {{.}}{{end}}</span></button></li>{{else}}<li class="muted small">No customer matches. Leave it empty for a job without a customer.</li>{{end}}`))

// pageCustomerPicker answers the work order form's customer typeahead with up to 8 matches as
// HTML options (htmx swaps them in; dmfPick in app.js fills the form).
func (a *Area) pageCustomerPicker(c *gin.Context) {
	q := strings.TrimSpace(c.Query("customer_q"))
	if q == "" {
		c.Data(http.StatusOK, "text/html; charset=utf-8", nil)
		return
	}
	if len(q) > 200 {
		q = q[:200]
	}
	items, _, err := a.Svc.FindCustomers(c.Request.Context(), CustomerFilter{Query: q, Status: "", Limit: 8})
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	if err := customerPickerTmpl.Execute(c.Writer, items); err != nil {
		web.Logger(c).Error("customer picker", "error", err)
	}
}

// customerForm is the new-customer form as typed.
type customerForm struct {
	Name, Email, Phone, ServicePlan, Region, Status, Address, Lat, Lon string
}

func (a *Area) renderCustomerForm(c *gin.Context, status int, f customerForm, err error) {
	data := gin.H{"Title": "New customer", "Form": f, "Statuses": CustomerStatuses}
	a.s.RenderForm(c, status, "customers/customer_form.html", data, err)
}

func (a *Area) pageCustomerNew(c *gin.Context) {
	a.renderCustomerForm(c, http.StatusOK, customerForm{Status: "active"}, nil)
}

func (a *Area) pageCustomerCreate(c *gin.Context) {
	f := customerForm{Name: strings.TrimSpace(c.PostForm("name")), Email: strings.TrimSpace(c.PostForm("email")),
		Phone: strings.TrimSpace(c.PostForm("phone")), ServicePlan: strings.TrimSpace(c.PostForm("service_plan")),
		Region: strings.TrimSpace(c.PostForm("region")), Status: c.PostForm("status"), Address: strings.TrimSpace(c.PostForm("address")),
		Lat: strings.TrimSpace(c.PostForm("lat")), Lon: strings.TrimSpace(c.PostForm("lon"))}
	in := CustomerCreate{Name: f.Name, Email: f.Email, Phone: f.Phone, ServicePlan: f.ServicePlan, Region: f.Region, Status: f.Status, Address: f.Address}
	fields := hub.Fields{}
	num := func(name, v string, limit float64) *float64 {
		if v == "" {
			return nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < -limit || x > limit {
			fields.Add(name, fmt.Sprintf("must be a number from %g to %g", -limit, limit))
			return nil
		}
		return &x
	}
	in.Lat, in.Lon = num("lat", f.Lat, 90), num("lon", f.Lon, 180)
	if (in.Lat == nil) != (in.Lon == nil) && fields.Err() == nil {
		fields.Add("lon", "give both latitude and longitude, or neither")
	}
	if err := fields.Err(); err != nil {
		a.renderCustomerForm(c, http.StatusBadRequest, f, err)
		return
	}
	cu, err := a.Svc.CreateCustomer(c.Request.Context(), in, actor(c))
	if err != nil {
		a.renderCustomerForm(c, web.StatusFor(hub.ErrorCode(err)), f, err)
		return
	}
	a.s.Flash(c, "Created "+cu.Number+" "+cu.Name)
	c.Redirect(http.StatusSeeOther, "/admin/customers/"+cu.ID)
}

// techForm is the new-technician form as typed (never the password).
type techForm struct {
	FirstName, LastName, Email, Phone, Title, Region, Primary string
	Skills                                                    map[string]string // skill id → proficiency as typed
}

func (f techForm) HasSkill(id string) bool { _, ok := f.Skills[id]; return ok }
func (f techForm) Proficiency(id string) string {
	if v, ok := f.Skills[id]; ok {
		return v
	}
	return "50"
}

func (a *Area) renderTechForm(c *gin.Context, status int, f techForm, err error) {
	skills, serr := a.Svc.FindSkills(c.Request.Context())
	if serr != nil {
		web.Error(c, serr)
		return
	}
	data := gin.H{"Title": "New technician", "Form": f, "Skills": skills}
	a.s.RenderForm(c, status, "operations/technician_form.html", data, err)
}

func (a *Area) pageTechNew(c *gin.Context) {
	a.renderTechForm(c, http.StatusOK, techForm{Title: "Field technician", Skills: map[string]string{}}, nil)
}

// pageTechCreate validates the skills before anything is written, so a refused form creates no
// half technician.
func (a *Area) pageTechCreate(c *gin.Context) {
	f := techForm{FirstName: strings.TrimSpace(c.PostForm("first_name")), LastName: strings.TrimSpace(c.PostForm("last_name")),
		Email: strings.TrimSpace(c.PostForm("email")), Phone: strings.TrimSpace(c.PostForm("phone")), Title: strings.TrimSpace(c.PostForm("title")),
		Region: strings.TrimSpace(c.PostForm("region")), Primary: c.PostForm("primary_skill"), Skills: map[string]string{}}
	all, err := a.Svc.FindSkills(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	known := map[string]bool{}
	for _, s := range all {
		known[s.ID] = true
	}
	fields := hub.Fields{}
	var skills []TechSkillInput
	for _, id := range c.PostFormArray("skill") {
		v := strings.TrimSpace(c.PostForm("proficiency_" + id))
		f.Skills[id] = v
		n, err := strconv.Atoi(v)
		switch {
		case !known[id]:
			fields.Add("skills", "one of the skills no longer exists: reload the page")
		case err != nil || n < 0 || n > 100:
			fields.Add("skills", "each proficiency must be a whole number from 0 to 100")
		default:
			skills = append(skills, TechSkillInput{SkillID: id, Proficiency: &n, IsPrimary: id == f.Primary})
		}
	}
	if f.Primary != "" && !f.HasSkill(f.Primary) {
		fields.Add("skills", "the primary skill (★) must be one of the ticked skills")
	}
	if err := fields.Err(); err != nil {
		a.renderTechForm(c, http.StatusBadRequest, f, err)
		return
	}
	t, err := a.Svc.CreateTechnician(c.Request.Context(), TechnicianCreate{FirstName: f.FirstName, LastName: f.LastName, Email: f.Email,
		Password: c.PostForm("password"), Phone: f.Phone, Region: f.Region, Title: f.Title}, actor(c))
	if err != nil {
		a.renderTechForm(c, web.StatusFor(hub.ErrorCode(err)), f, err)
		return
	}
	for _, s := range skills {
		if _, err := a.Svc.SetTechnicianSkill(c.Request.Context(), t.ID, s, actor(c)); err != nil {
			a.s.Flash(c, "Created "+t.Name+", but a skill was not saved: "+err.Error())
			c.Redirect(http.StatusSeeOther, "/admin/operations/technicians/"+t.ID)
			return
		}
	}
	a.s.Flash(c, "Created "+t.Name)
	c.Redirect(http.StatusSeeOther, "/admin/operations/technicians/"+t.ID)
}
