package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/token"
)

type httpMetrics struct {
	latency *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "dmf_http_request_duration_seconds",
		Help:    "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})}
	reg.MustRegister(m.latency)
	return m
}

// BodyLimit sets the largest request body of one route of this router (instead of MaxBodyBytes):
// uploads and imports. Call it while registering routes (an Area's Routes); the limits are kept per
// Server and only read once it serves.
func (r *Router) BodyLimit(method, path string, n int64) {
	if r.s.bodyLimits == nil {
		r.s.bodyLimits = map[string]int64{}
	}
	r.s.bodyLimits[method+" "+strings.TrimSuffix(r.g.BasePath(), "/")+path] = n
}

// OnWrite registers f to run after every request that may have written (any method but GET,
// HEAD and OPTIONS), once its handler has returned and so after its transaction committed. Read
// caches use it for read-your-writes on this replica; other replicas learn of writes by
// LISTEN/NOTIFY. Register hooks while building the routes, not while serving.
func (s *Server) OnWrite(f func()) { s.onWrite = append(s.onWrite, f) }

// requestContext gives each request an id, a logger, a body limit and a latency observation.
func (s *Server) requestContext() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-ID")
		if id == "" || len(id) > 64 {
			id = uuid.NewString()
		}
		c.Set(ctxRequestID, id)
		c.Header("X-Request-ID", id)
		logger := s.Logger.With("request_id", id)
		c.Set(ctxLogger, logger)
		if c.Request.Body != nil {
			limit := s.MaxBodyBytes
			if n, ok := s.bodyLimits[c.Request.Method+" "+c.FullPath()]; ok {
				limit = n
			}
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
		if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions {
			for _, f := range s.onWrite {
				f()
			}
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		d := time.Since(start)
		s.metrics.latency.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Observe(d.Seconds())
		if route != "/healthz" && route != "/readyz" && route != "/metrics" && !strings.HasPrefix(route, "/static") {
			level := slogLevel(status)
			logger.Log(c.Request.Context(), level, "http request", "method", c.Request.Method, "route", route,
				"status", status, "duration_ms", float64(d.Microseconds())/1000, "ip", c.ClientIP())
		}
	}
}

func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				Logger(c).Error("panic", "panic", r, "stack", string(debug.Stack()))
				Error(c, errors.New("panic"))
			}
		}()
		c.Next()
	}
}

// identifyAPI authenticates a bearer token when present (or, for staff pages' scripts, the admin
// cookie session). It never rejects: guard decides, so that rate limiting can key on the user.
func (s *Server) identifyAPI() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			if ck, err := c.Cookie(cookieName(hub.PortalAdmin)); err == nil && ck != "" {
				s.identifySession(c, ck, hub.PortalAdmin)
				if hub.PrincipalFrom(c.Request.Context()) != nil && c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
					if !s.validCSRF(c, hub.PrincipalFrom(c.Request.Context()).SessionID) {
						c.Set(ctxAuthErr, hub.Errorf(hub.EFORBIDDEN, "missing or invalid CSRF token"))
						c.Request = c.Request.WithContext(hub.NewContext(c.Request.Context(), nil))
					}
				}
			}
			c.Next()
			return
		}
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			raw, ok = strings.CutPrefix(h, "bearer ")
		}
		if !ok {
			c.Set(ctxAuthErr, hub.Errorf(hub.EUNAUTHORIZED, "the Authorization header must be 'Bearer <access token>'"))
			c.Next()
			return
		}
		claims, err := s.Keys.Verify(strings.TrimSpace(raw))
		switch {
		case errors.Is(err, token.ErrExpired):
			c.Set(ctxAuthErr, hub.Errorf(hub.EUNAUTHORIZED, "the access token has expired: refresh it"))
		case err != nil:
			c.Set(ctxAuthErr, hub.Errorf(hub.EUNAUTHORIZED, "the access token is invalid"))
		default:
			p, err := s.Auth.Principal(c.Request.Context(), claims.SessionID)
			if err != nil {
				c.Set(ctxAuthErr, err)
			} else if p.PersonID != claims.Subject {
				c.Set(ctxAuthErr, hub.Errorf(hub.EUNAUTHORIZED, "the access token is invalid"))
			} else {
				c.Request = c.Request.WithContext(hub.NewContext(c.Request.Context(), p))
			}
		}
		c.Next()
	}
}

func cookieName(p hub.Portal) string { return "dmf_" + string(p) }

// identifyCookie authenticates a portal's cookie session; another portal's cookie is never read.
func (s *Server) identifyCookie(p hub.Portal) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ck, err := c.Cookie(cookieName(p)); err == nil && ck != "" {
			s.identifySession(c, ck, p)
		}
		c.Next()
	}
}

func (s *Server) identifySession(c *gin.Context, cookie string, p hub.Portal) {
	sess, err := s.Auth.SessionByToken(c.Request.Context(), cookie, p)
	if err != nil {
		c.Set(ctxAuthErr, err)
		return
	}
	pr, err := s.Auth.Principal(c.Request.Context(), sess.ID)
	if err != nil {
		c.Set(ctxAuthErr, err)
		return
	}
	c.Request = c.Request.WithContext(hub.NewContext(c.Request.Context(), pr))
}

// guard enforces a route's access rule.
func (s *Server) guard(a Access, api bool, portal hub.Portal) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.Public {
			c.Next()
			return
		}
		p := hub.PrincipalFrom(c.Request.Context())
		if p == nil {
			err, _ := c.Get(ctxAuthErr)
			if e, ok := err.(error); ok && hub.ErrorCode(e) == hub.EFORBIDDEN {
				Error(c, e)
				return
			}
			if !api && c.Request.Method == http.MethodGet && portal != "" {
				c.Redirect(http.StatusSeeOther, loginPath(portal)+"?next="+c.Request.URL.RequestURI())
				c.Abort()
				return
			}
			if e, ok := err.(error); ok {
				Error(c, e)
				return
			}
			Error(c, hub.Errorf(hub.EUNAUTHORIZED, "sign in first: this needs an access token"))
			return
		}
		if a.SignedIn || p.Can(a.Perm) {
			c.Next()
			return
		}
		if !api && acceptsHTML(c) {
			c.Status(http.StatusForbidden)
			s.render(c, "error.html", gin.H{"Title": "Not allowed", "Message": "Your role does not allow this page (" + a.Perm + ")."})
			c.Abort()
			return
		}
		Error(c, hub.Errorf(hub.EFORBIDDEN, "you do not have the permission %s", a.Perm))
	}
}

func loginPath(p hub.Portal) string {
	if p == hub.PortalAdmin {
		return "/auth/login"
	}
	return "/" + string(p) + "/login"
}

// csrfToken derives a session-bound CSRF token.
func (s *Server) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, s.CSRFKey)
	m.Write([]byte("csrf:" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) validCSRF(c *gin.Context, sessionID string) bool {
	got := c.GetHeader("X-CSRF-Token")
	if got == "" {
		got = c.PostForm("csrf_token")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(sessionID)))
}

// csrfCheck rejects state-changing portal requests without the session's CSRF token.
func (s *Server) csrfCheck(p hub.Portal) gin.HandlerFunc {
	return func(c *gin.Context) {
		pr := hub.PrincipalFrom(c.Request.Context())
		if pr == nil { // public forms (login) use the double-submit cookie instead
			c.Next()
			return
		}
		if !s.validCSRF(c, pr.SessionID) {
			// Reading the form for its token may have hit the body limit: that is the answer.
			var tooBig *http.MaxBytesError
			// (http.MaxBytesReader keeps answering its error once the limit was crossed.)
			if c.Request.Body == nil {
				c.Request.Body = http.NoBody
			}
			if _, err := c.Request.Body.Read(make([]byte, 1)); errors.As(err, &tooBig) {
				c.Status(http.StatusRequestEntityTooLarge)
				if acceptsHTML(c) {
					s.render(c, "error.html", gin.H{"Title": "File too large", "Message": fmt.Sprintf("The upload is larger than this form accepts (%d MB). Nothing was saved.", tooBig.Limit>>20)})
					c.Abort()
					return
				}
				Error(c, tooBig)
				return
			}
			c.Status(http.StatusForbidden)
			if acceptsHTML(c) {
				s.render(c, "error.html", gin.H{"Title": "Form expired", "Message": "This form is stale or was not sent by this site. Reload the page and try again."})
				c.Abort()
				return
			}
			Error(c, hub.Errorf(hub.EFORBIDDEN, "missing or invalid CSRF token"))
			return
		}
		c.Next()
	}
}
