// Package web is the hub's HTTP layer: the Gin router, middleware, JSON API handlers and the
// server-rendered portals. Handlers authenticate, parse, call one service and render.
package web

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/token"
)

// Context keys.
const (
	ctxLogger    = "dmf.logger"
	ctxRequestID = "dmf.request_id"
	ctxAuthErr   = "dmf.auth_err"
)

// Access is how a route is guarded: a named permission, any signed-in caller, or public.
type Access struct {
	Perm     string
	SignedIn bool
	Public   bool
}

// Perm guards a route with a permission.
func Perm(p string) Access { return Access{Perm: p} }

// Public declares a route open to anyone.
var Public = Access{Public: true}

// SignedIn lets any authenticated caller in (their own profile, logout).
var SignedIn = Access{SignedIn: true}

func (a Access) String() string {
	switch {
	case a.Public:
		return "public"
	case a.SignedIn:
		return "signed-in"
	}
	return a.Perm
}

// Checker is a readiness dependency.
type Checker interface {
	Name() string
	Check(ctx context.Context) error
}

// Deps are the services the web layer calls. cmd/hub wires them; tests build them from postgres.
type Deps struct {
	Auth    hub.AuthService
	People  hub.PersonService
	RBAC    hub.RBACService
	Audit   AuditFinder
	Keys    *token.Keyring
	Limiter *RateLimiter
	Logger  *slog.Logger
	Ready   []Checker
	// Registry exposes Prometheus metrics; nil makes a private one.
	Registry *prometheus.Registry
	// CSRFKey signs portal CSRF tokens.
	CSRFKey []byte
	// SecureCookies sets Secure on cookies (behind TLS).
	SecureCookies bool
	// LoginLimit is the stricter per-IP limit on logins and refreshes per minute (20 by default).
	LoginLimit int
	// MaxBodyBytes caps request bodies (1 MiB by default).
	MaxBodyBytes int64
	// Areas register further routes (work orders, inventory, fiber, sync …) on the server.
	Areas []Area
}

// AuditFinder lists audit entries.
type AuditFinder interface {
	FindAuditEntries(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEntry, int, error)
}

// Area is a feature that adds its routes: API under /api/v1, staff pages under /admin, and the
// other portals. Each area keeps its handlers in its own files.
type Area interface {
	Routes(s *Server)
}

// Server is the hub's HTTP server.
type Server struct {
	Deps
	Engine *gin.Engine
	API    *Router // /api/v1, bearer (or staff cookie) auth
	Admin  *Router // /admin, staff cookie sessions
	Portal *Router // /portal, customer cookie sessions
	Resell *Router // /reseller
	Vendor *Router // /vendor
	Root   *Router // everything else (health, auth pages, static, public links)

	access     map[string]Access
	bodyLimits map[string]int64 // "POST /api/v1/fiber/import" → bytes, from Router.BodyLimit
	metrics    *httpMetrics
	tmpl       *Templates
	nav        []NavSection
	dash       []DashboardSource
	portalSrc  map[hub.Portal][]PortalSource
	static     map[string]fs.FS
	onWrite    []func()
}

// New builds the router with every route.
func New(d Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.LoginLimit <= 0 {
		d.LoginLimit = 20
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	e := gin.New()
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	s := &Server{Deps: d, Engine: e, access: map[string]Access{}, metrics: newHTTPMetrics(d.Registry)}
	s.tmpl = mustTemplates()
	e.Use(s.requestContext(), s.recoverer())
	e.NoRoute(s.notFound)
	e.NoMethod(func(c *gin.Context) {
		Error(c, hub.Errorf(hub.EINVALID, "method %s is not allowed here", c.Request.Method))
		c.Status(http.StatusMethodNotAllowed)
	})

	s.Root = &Router{s: s, g: e.Group("")}
	s.API = &Router{s: s, g: e.Group("/api/v1", s.identifyAPI(), s.rateLimit()), api: true}
	s.Admin = &Router{s: s, g: e.Group("/admin", s.identifyCookie(hub.PortalAdmin)), portal: hub.PortalAdmin}
	s.Portal = &Router{s: s, g: e.Group("/portal", s.identifyCookie(hub.PortalCustomer)), portal: hub.PortalCustomer}
	s.Resell = &Router{s: s, g: e.Group("/reseller", s.identifyCookie(hub.PortalReseller)), portal: hub.PortalReseller}
	s.Vendor = &Router{s: s, g: e.Group("/vendor", s.identifyCookie(hub.PortalVendor)), portal: hub.PortalVendor}

	s.routes()
	for _, a := range d.Areas {
		a.Routes(s)
	}
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Engine.ServeHTTP(w, r) }

// Router registers routes with their access rule on a group.
type Router struct {
	s      *Server
	g      *gin.RouterGroup
	api    bool
	portal hub.Portal
}

// Handle registers a route. Every route states its access; the route walker test checks it.
func (r *Router) Handle(method, path string, a Access, h ...gin.HandlerFunc) {
	if !a.Public && !a.SignedIn && !hub.ValidPermission(a.Perm) {
		panic(fmt.Sprintf("web: route %s %s has no valid access rule", method, path))
	}
	full := strings.TrimSuffix(r.g.BasePath(), "/") + path
	if path == "" {
		full = r.g.BasePath()
	}
	r.s.access[method+" "+full] = a
	chain := []gin.HandlerFunc{r.s.guard(a, r.api, r.portal)}
	if !r.api && r.portal != "" && method != http.MethodGet && method != http.MethodHead {
		chain = append(chain, r.s.csrfCheck(r.portal))
	}
	r.g.Handle(method, path, append(chain, h...)...)
}

// GET, POST, PATCH, PUT and DELETE are shorthands of Handle.
func (r *Router) GET(p string, a Access, h ...gin.HandlerFunc) { r.Handle(http.MethodGet, p, a, h...) }
func (r *Router) POST(p string, a Access, h ...gin.HandlerFunc) {
	r.Handle(http.MethodPost, p, a, h...)
}
func (r *Router) PATCH(p string, a Access, h ...gin.HandlerFunc) {
	r.Handle(http.MethodPatch, p, a, h...)
}
func (r *Router) PUT(p string, a Access, h ...gin.HandlerFunc) { r.Handle(http.MethodPut, p, a, h...) }
func (r *Router) DELETE(p string, a Access, h ...gin.HandlerFunc) {
	r.Handle(http.MethodDelete, p, a, h...)
}

// AccessOf returns the declared access of a registered route ("GET /api/v1/auth/me").
func (s *Server) AccessOf(methodPath string) (Access, bool) {
	a, ok := s.access[methodPath]
	return a, ok
}

// RouteTable lists every route with its access, sorted (the README's route table is built from it).
func (s *Server) RouteTable() []string {
	var out []string
	for _, r := range s.Engine.Routes() {
		a := s.access[r.Method+" "+r.Path]
		out = append(out, fmt.Sprintf("%-6s %-60s %s", r.Method, r.Path, a))
	}
	sort.Strings(out)
	return out
}

// Metrics serves Prometheus.
func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}

func (s *Server) notFound(c *gin.Context) {
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || !acceptsHTML(c) {
		Error(c, hub.Errorf(hub.ENOTFOUND, "no such route: %s %s", c.Request.Method, c.Request.URL.Path))
		return
	}
	c.Status(http.StatusNotFound)
	s.render(c, "error.html", gin.H{"Title": "Not found", "Message": "There is nothing at this address."})
}

func acceptsHTML(c *gin.Context) bool { return strings.Contains(c.GetHeader("Accept"), "text/html") }

// Shutdown-friendly http.Server with sane timeouts.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      0, // websockets and large exports set their own deadlines
		IdleTimeout:       120 * time.Second,
	}
}
