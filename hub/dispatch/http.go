package dispatch

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/nats-io/nats.go"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/live"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/web"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Permissions used here (all in hub.Permissions).
const (
	permRead     = "operations:work_order:read"
	permDispatch = "operations:work_order:dispatch"
	permUpdate   = "operations:work_order:update"
	permLocation = "field:location:write"
	permSettings = "system:settings:write"
)

// TaskPrunePings is the asynq task that maintains the pings table.
const TaskPrunePings = "dispatch:prune_location_pings"

// Deps wire the area (hub/app/areas.go builds them from the App).
type Deps struct {
	DB        *postgres.DB
	NC        *nats.Conn // nil: no live updates (one-off commands, route listing)
	Logger    *slog.Logger
	PublicURL string
	// Go runs a background loop until the hub closes.
	Go func(ctx context.Context, fn func(ctx context.Context))
}

// Area is the dispatch feature: API, board page, live socket, track pages and jobs.
type Area struct {
	Svc *Service
	Hub *live.Hub
	s   *web.Server
}

// New builds the area and, with a database and NATS, starts the live relay and subscription.
func New(ctx context.Context, d Deps) (*Area, error) {
	a := &Area{Svc: NewService(d.DB, d.Logger), Hub: live.NewHub(d.Logger)}
	a.Svc.PublicURL = d.PublicURL
	if d.DB == nil || d.NC == nil {
		return a, nil
	}
	nc := d.NC
	a.Svc.Publish = func(subject string, data []byte) { nc.Publish(subject, data) }
	sub, err := a.Hub.Subscribe(nc)
	if err != nil {
		return nil, err
	}
	relay := &live.Relay{DB: d.DB, NC: nc, Logger: a.Svc.Logger}
	run := d.Go
	if run == nil {
		run = func(ctx context.Context, fn func(context.Context)) { go fn(ctx) }
	}
	run(ctx, relay.Run)
	run(ctx, func(ctx context.Context) {
		<-ctx.Done()
		sub.Unsubscribe()
		a.Hub.Close()
	})
	return a, nil
}

// Routes registers every route of the area.
func (a *Area) Routes(s *web.Server) {
	a.s = s
	s.AddPages(templateFS, "templates")
	s.AddNav("Operations", "Dispatch board", "/admin/operations/dispatch", permRead)
	s.AddNav("Operations", "Dispatch rules", "/admin/operations/dispatch/rules", permRead)

	api := s.API
	api.GET("/dispatch/rules", web.Perm(permRead), a.handleRuleIndex)
	api.POST("/dispatch/rules", web.Perm(permDispatch), a.handleRuleCreate)
	api.GET("/dispatch/rules/:id", web.Perm(permRead), a.handleRuleView)
	api.PATCH("/dispatch/rules/:id", web.Perm(permDispatch), a.handleRuleUpdate)
	api.DELETE("/dispatch/rules/:id", web.Perm(permDispatch), a.handleRuleDelete)
	api.GET("/dispatch/queue", web.Perm(permRead), a.handleQueue)
	api.POST("/dispatch/work-orders/:id/auto-assign", web.Perm(permDispatch), a.handleAutoAssign)
	api.POST("/dispatch/work-orders/:id/assign", web.Perm(permDispatch), a.handleAssign)
	api.GET("/dispatch/work-orders/:id/nearest-techs", web.Perm(permRead), a.handleNearest)
	api.GET("/dispatch/work-orders/:id/board", web.Perm(permRead), a.handleBoardJob)
	api.POST("/dispatch/auto-assign", web.Perm(permDispatch), a.handleAutoAssignBatch)
	api.GET("/dispatch/technicians/:id/route", web.Perm(permRead), a.handleRoute)
	api.GET("/dispatch/board", web.Perm(permRead), a.handleBoard)
	api.GET("/dispatch/map", web.Perm(permRead), a.handleMap)
	api.GET("/dispatch/settings", web.Perm(permRead), a.handleSettings)
	api.PUT("/dispatch/settings", web.Perm(permSettings), a.handleSettingsUpdate)

	api.POST("/field/locations", web.Perm(permLocation), a.handlePings)
	api.POST("/field/locations/sharing", web.Perm(permLocation), a.handleSharing)
	api.GET("/field/locations/me", web.Perm(permLocation), a.handlePresence)

	api.POST("/work-orders/:id/track-link", web.Perm(permUpdate), a.handleTrackLink)
	api.GET("/track/:token", web.Public, a.handleTrackJSON)

	// The board page's own calls: the same handlers on the staff cookie session (whose cookie
	// is scoped to /admin), CSRF-checked on POST.
	adm := s.Admin
	adm.GET("/operations/dispatch", web.Perm(permRead), a.handleBoardPage)
	adm.GET("/operations/dispatch/ws", web.Perm(permRead), a.handleSocket)
	adm.GET("/operations/dispatch/board.json", web.Perm(permRead), a.handleBoard)
	adm.GET("/operations/dispatch/map.json", web.Perm(permRead), a.handleMap)
	adm.GET("/operations/dispatch/jobs/:id", web.Perm(permRead), a.handleBoardJob)
	adm.GET("/operations/dispatch/jobs/:id/nearest", web.Perm(permRead), a.handleNearest)
	adm.POST("/operations/dispatch/jobs/:id/assign", web.Perm(permDispatch), a.handleAssign)
	adm.POST("/operations/dispatch/jobs/:id/auto-assign", web.Perm(permDispatch), a.handleAutoAssign)
	adm.POST("/operations/dispatch/auto-assign", web.Perm(permDispatch), a.handleAutoAssignBatch)
	adm.GET("/operations/dispatch/rules", web.Perm(permRead), a.pageRules)
	adm.POST("/operations/dispatch/rules", web.Perm(permDispatch), a.pageRuleSave)
	adm.GET("/operations/dispatch/rules/:id", web.Perm(permRead), a.pageRuleEdit)
	adm.POST("/operations/dispatch/rules/:id", web.Perm(permDispatch), a.pageRuleSave)
	adm.POST("/operations/dispatch/rules/:id/delete", web.Perm(permDispatch), a.pageRuleDelete)

	s.Root.GET("/track/:token", web.Public, a.handleTrackPage)
	s.Root.POST("/track/:token/confirm", web.Public, a.handleTrackConfirm)
	s.Root.POST("/track/:token/reschedule", web.Public, a.handleTrackReschedule)
	s.Root.GET("/assets/dispatch/*path", web.Public, a.handleStatic)
}

// Jobs registers the pings maintenance task, hourly.
func (a *Area) Jobs(mux *asynq.ServeMux, sched *asynq.Scheduler) error {
	mux.HandleFunc(TaskPrunePings, func(ctx context.Context, _ *asynq.Task) error {
		res, err := a.Svc.PrunePings(ctx)
		if err != nil {
			return err
		}
		a.Svc.Logger.Info("location pings maintained", "partitions_created", res.Created, "partitions_dropped", res.Dropped,
			"deleted_pings", res.DeletedPings, "retention_hours", res.RetentionHour)
		return nil
	})
	_, err := sched.Register("@every 1h", asynq.NewTask(TaskPrunePings, nil), asynq.Unique(time.Hour))
	return err
}

func actor(c *gin.Context) string {
	if p := hub.PrincipalFrom(c.Request.Context()); p != nil {
		return p.PersonID
	}
	return ""
}

// --- rules and auto-assign -----------------------------------------------------------------------

func (a *Area) handleRuleIndex(c *gin.Context) {
	rules, err := a.Svc.FindRules(c.Request.Context(), c.Query("active") == "true")
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, rules, len(rules), len(rules), 0)
}

func (a *Area) handleRuleCreate(c *gin.Context) {
	var in RuleInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	r, err := a.Svc.CreateRule(c.Request.Context(), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

func (a *Area) handleRuleView(c *gin.Context) {
	r, err := a.Svc.FindRuleByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (a *Area) handleRuleUpdate(c *gin.Context) {
	var in RuleInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	r, err := a.Svc.UpdateRule(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (a *Area) handleRuleDelete(c *gin.Context) {
	if err := a.Svc.DeleteRule(c.Request.Context(), c.Param("id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleQueue(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindQueue(c.Request.Context(), c.Query("status"), limit, offset)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleAutoAssign(c *gin.Context) {
	r, err := a.Svc.AutoAssign(c.Request.Context(), c.Param("id"), actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// batchInput is the body of POST /dispatch/auto-assign (both optional: today and the next 7 days).
type batchInput struct {
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
}

func (a *Area) handleAutoAssignBatch(c *gin.Context) {
	var in batchInput
	if c.Request.ContentLength != 0 {
		if err := web.BindJSON(c, &in); err != nil {
			web.Error(c, err)
			return
		}
	}
	f := BatchFilter{From: dayStartIn(a.Svc.now(), a.Svc.opsLocation(c.Request.Context()))}
	f.To = f.From.AddDate(0, 0, 7)
	if in.From != nil {
		f.From = *in.From
	}
	if in.To != nil {
		f.To = *in.To
	} else if in.From != nil {
		f.To = f.From.AddDate(0, 0, 7)
	}
	res, err := a.Svc.AutoAssignBatch(c.Request.Context(), f, actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *Area) handleAssign(c *gin.Context) {
	var in AssignInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	j, err := a.Svc.Assign(c.Request.Context(), c.Param("id"), in, actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

func (a *Area) handleNearest(c *gin.Context) {
	f := hub.Fields{}
	maxKM := 0.0
	if v := c.Query("max_km"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 || n > 20000 {
			f.Add("max_km", "must be a number of kilometres above 0")
		}
		maxKM = n
	}
	limit := 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			f.Add("limit", "must be a whole number from 1 to 200")
		}
		limit = n
	}
	if err := f.Err(); err != nil {
		web.Error(c, err)
		return
	}
	items, err := a.Svc.NearestTechs(c.Request.Context(), c.Param("id"), maxKM, limit)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, len(items), limit, 0)
}

func (a *Area) handleRoute(c *gin.Context) {
	loc := a.Svc.opsLocation(c.Request.Context())
	day := dayStartIn(a.Svc.now(), loc)
	if v := c.Query("date"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			web.Error(c, hub.Invalid(map[string]string{"date": "must be a date like 2025-01-31"}))
			return
		}
		day = d
	}
	r, err := a.Svc.Route(c.Request.Context(), c.Param("id"), day)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// --- board ---------------------------------------------------------------------------------------

func (a *Area) boardFilter(c *gin.Context) (BoardFilter, error) {
	tz := c.Query("tz")
	if tz == "" {
		tz = a.Svc.opsLocation(c.Request.Context()).String()
	}
	return ParseBoardFilter(c.Query("date"), c.Query("days"), c.Query("region"), c.Query("skill"), c.Query("status"), tz, a.Svc.now())
}

func (a *Area) handleBoard(c *gin.Context) {
	f, err := a.boardFilter(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	start := time.Now()
	b, err := a.Svc.Board(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	body, err := json.Marshal(b)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Server-Timing", "board;dur="+strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 1, 64))
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func (a *Area) handleBoardJob(c *gin.Context) {
	j, err := a.Svc.FindBoardJob(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

func (a *Area) handleMap(c *gin.Context) {
	f, err := a.boardFilter(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	g, err := a.Svc.BoardGeoJSON(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Content-Type", "application/geo+json")
	c.JSON(http.StatusOK, g)
}

// Settings are the dispatch settings the board reads.
type Settings struct {
	MapTileURL         string `json:"map_tile_url"`
	PingRetentionHours int    `json:"ping_retention_hours"`
	// TimeZone is the operations' IANA zone (default UTC): where a dispatcher's and a
	// technician's day starts and ends for the board, auto-assign's day load and day routes.
	TimeZone string `json:"time_zone"`
}

func (a *Area) handleSettings(c *gin.Context) {
	st, err := a.Svc.Settings(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *Area) handleSettingsUpdate(c *gin.Context) {
	var in Settings
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	st, err := a.Svc.UpdateSettings(c.Request.Context(), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *Area) handleBoardPage(c *gin.Context) {
	st, err := a.Svc.Settings(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	p := hub.PrincipalFrom(c.Request.Context())
	a.s.Render(c, "dispatch/board.html", gin.H{"Title": "Dispatch board", "TileURL": st.MapTileURL,
		"CanDispatch": p.Can(permDispatch), "Today": dayStartIn(a.Svc.now(), a.Svc.opsLocation(c.Request.Context())).Format("2006-01-02")})
}

func (a *Area) handleSocket(c *gin.Context) {
	a.Hub.ServeHTTP(c.Writer, c.Request)
	c.Abort()
}

func (a *Area) handleStatic(c *gin.Context) {
	p := strings.TrimPrefix(c.Param("path"), "/")
	if p == "" || strings.Contains(p, "..") {
		c.Status(http.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(staticFS, path.Join("static", p))
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	http.ServeContent(c.Writer, c.Request, p, time.Time{}, bytes.NewReader(b))
}

// --- locations -----------------------------------------------------------------------------------

func (a *Area) handlePings(c *gin.Context) {
	var in PingBatch
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	res, err := a.Svc.RecordPings(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

type sharingInput struct {
	Enabled *bool `json:"enabled"`
}

func (a *Area) handleSharing(c *gin.Context) {
	var in sharingInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	if in.Enabled == nil {
		web.Error(c, hub.Invalid(map[string]string{"enabled": "is required: true or false"}))
		return
	}
	pr, err := a.Svc.SetSharing(c.Request.Context(), actor(c), *in.Enabled)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, pr)
}

func (a *Area) handlePresence(c *gin.Context) {
	pr, err := a.Svc.FindPresence(c.Request.Context(), actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, pr)
}
