package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/secret"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Templates holds one parsed set per page: the shared layouts and partials plus the page.
type Templates struct{ pages map[string]*template.Template }

var funcs = template.FuncMap{
	"fmtTime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return "—"
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"title": func(s string) string {
		s = strings.ReplaceAll(s, "_", " ")
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"add":  func(a, b int) int { return a + b },
	"list": func(v ...string) []string { return v },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
	"sub": func(a, b int) int { return a - b },
	"contains": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

func mustTemplates() *Templates {
	t, err := ParseTemplates(templateFS)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseTemplates parses templates/layouts/*.html and templates/partials/*.html into a base, then
// each templates/pages/**.html into its own clone. Areas add pages with AddPages.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	base := template.New("base").Funcs(funcs)
	for _, dir := range []string{"templates/layouts", "templates/partials"} {
		matches, _ := fs.Glob(fsys, dir+"/*.html")
		for _, m := range matches {
			b, err := fs.ReadFile(fsys, m)
			if err != nil {
				return nil, err
			}
			if _, err := base.New(path.Base(m)).Parse(string(b)); err != nil {
				return nil, err
			}
		}
	}
	t := &Templates{pages: map[string]*template.Template{}}
	if err := t.addPages(base, fsys, "templates/pages"); err != nil {
		return nil, err
	}
	t.pages[""] = base
	return t, nil
}

func (t *Templates) addPages(base *template.Template, fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		clone, err := base.Clone()
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, dir+"/")
		if _, err := clone.New(name).Parse(string(b)); err != nil {
			return err
		}
		t.pages[name] = clone
		return nil
	})
}

// AddPages lets an area add its own page templates (files under dir in fsys, named by their path
// below dir); they see the shared layouts and partials.
func (s *Server) AddPages(fsys fs.FS, dir string) {
	if err := s.tmpl.addPages(s.tmpl.pages[""], fsys, dir); err != nil {
		panic(err)
	}
}

// NavItem is one sidebar link.
type NavItem struct {
	Section, Label, Href, Perm string
}

// NavSection groups links in the staff sidebar.
type NavSection struct {
	Name  string
	Items []NavItem
}

var sectionOrder = []string{"Operations", "Customers", "Network", "Inventory", "Support", "CRM", "Reports", "System"}

// AddNav adds a staff sidebar link, shown only to those holding perm.
func (s *Server) AddNav(section, label, href, perm string) {
	for i := range s.nav {
		if s.nav[i].Name == section {
			s.nav[i].Items = append(s.nav[i].Items, NavItem{section, label, href, perm})
			return
		}
	}
	s.nav = append(s.nav, NavSection{Name: section, Items: []NavItem{{section, label, href, perm}}})
}

// navFor returns the sections and links p may see, in the fixed section order.
func (s *Server) navFor(p *hub.Principal) []NavSection {
	var out []NavSection
	for _, name := range sectionOrder {
		for _, sec := range s.nav {
			if sec.Name != name {
				continue
			}
			var items []NavItem
			for _, it := range sec.Items {
				if p.Can(it.Perm) {
					items = append(items, it)
				}
			}
			if len(items) > 0 {
				out = append(out, NavSection{Name: name, Items: items})
			}
		}
	}
	return out
}

// render executes a page with the common data (principal, nav, CSRF token, flash).
func (s *Server) render(c *gin.Context, page string, data gin.H) {
	t, ok := s.tmpl.pages[page]
	if !ok {
		Logger(c).Error("missing template", "page", page)
		c.String(http.StatusInternalServerError, "missing template")
		return
	}
	if data == nil {
		data = gin.H{}
	}
	p := hub.PrincipalFrom(c.Request.Context())
	data["Me"] = p
	data["Path"] = c.Request.URL.Path
	if p != nil {
		data["CSRF"] = s.csrfToken(p.SessionID)
		data["Nav"] = s.navFor(p)
	}
	if f, err := c.Cookie("dmf_flash"); err == nil && f != "" {
		if v, err := url.QueryUnescape(f); err == nil {
			data["Flash"] = v
		}
		c.SetCookie("dmf_flash", "", -1, "/", "", s.SecureCookies, true)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, page, data); err != nil {
		Logger(c).Error("template", "page", page, "error", err)
		c.String(http.StatusInternalServerError, "the page could not be rendered")
		return
	}
	status := c.Writer.Status()
	if status == 0 || !c.Writer.Written() && status == http.StatusOK {
		status = http.StatusOK
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// Render is render for areas.
func (s *Server) Render(c *gin.Context, page string, data gin.H) { s.render(c, page, data) }

// RenderForm renders a form page again with status after err: a *hub.Error puts its message in
// FormError and its field messages in Errors, so the page says what to fix beside what was typed;
// any other error is answered as an error. Errors is always set (empty without field messages).
func (s *Server) RenderForm(c *gin.Context, status int, page string, data gin.H, err error) {
	if _, ok := data["Errors"]; !ok {
		data["Errors"] = map[string]string{}
	}
	if err != nil {
		var he *hub.Error
		if !errors.As(err, &he) {
			Error(c, err)
			return
		}
		data["FormError"] = he.Message
		if he.Fields != nil {
			data["Errors"] = he.Fields
		}
	}
	c.Status(status)
	s.render(c, page, data)
}

// Flash sets a one-time message shown on the next page.
func (s *Server) Flash(c *gin.Context, msg string) {
	c.SetCookie("dmf_flash", url.QueryEscape(msg), 60, "/", "", s.SecureCookies, true)
}

// AddStatic serves an area's files under /static/<name>/ (gin allows one wildcard there, so
// areas register their file systems here instead of their own routes).
func (s *Server) AddStatic(name string, fsys fs.FS) {
	if s.static == nil {
		s.static = map[string]fs.FS{}
	}
	s.static[name] = fsys
}

func (s *Server) handleStatic(c *gin.Context) {
	p := strings.TrimPrefix(c.Param("path"), "/")
	if p == "" || strings.Contains(p, "..") {
		c.Status(http.StatusNotFound)
		return
	}
	var b []byte
	var err error
	if area, rest, ok := strings.Cut(p, "/"); ok && s.static[area] != nil {
		b, err = fs.ReadFile(s.static[area], rest)
	} else {
		b, err = staticFS.ReadFile("static/" + p)
	}
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	http.ServeContent(c.Writer, c.Request, p, time.Time{}, bytes.NewReader(b))
}

func (s *Server) now() time.Time { return time.Now() }

// --- web logins ------------------------------------------------------------------------------

func portalTitle(p hub.Portal) string {
	switch p {
	case hub.PortalCustomer:
		return "Customer portal"
	case hub.PortalReseller:
		return "Reseller portal"
	case hub.PortalVendor:
		return "Vendor portal"
	}
	return "Staff sign-in"
}

// cookiePath scopes a portal's session cookie: the staff cookie covers the whole site so the
// staff pages' scripts can call /api/v1 with it (CSRF-checked) and /auth/logout receives it;
// the other portals' cookies stay under their own prefix.
func cookiePath(p hub.Portal) string {
	if p == hub.PortalAdmin {
		return "/"
	}
	return homePath(p)
}

func homePath(p hub.Portal) string {
	if p == hub.PortalAdmin {
		return "/admin"
	}
	return "/" + string(p)
}

func (s *Server) loginCSRF(c *gin.Context) string {
	if v, err := c.Cookie("dmf_login_csrf"); err == nil && len(v) > 20 {
		return v
	}
	v := secret.NewToken(24)
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie("dmf_login_csrf", v, 3600, "/", "", s.SecureCookies, true)
	return v
}

func (s *Server) handleLoginPage(r *Router) gin.HandlerFunc {
	return func(c *gin.Context) {
		s.render(c, "login.html", gin.H{"Title": portalTitle(r.portal), "Action": loginPath(r.portal),
			"LoginCSRF": s.loginCSRF(c), "Next": safeNext(c.Query("next"), r.portal)})
	}
}

func safeNext(next string, p hub.Portal) string {
	if strings.HasPrefix(next, homePath(p)) && !strings.HasPrefix(next, "//") {
		return next
	}
	return homePath(p)
}

func (s *Server) handleLoginForm(r *Router) gin.HandlerFunc {
	return func(c *gin.Context) {
		email, next := c.PostForm("email"), safeNext(c.PostForm("next"), r.portal)
		fail := func(status int, msg string) {
			c.Status(status)
			s.render(c, "login.html", gin.H{"Title": portalTitle(r.portal), "Action": loginPath(r.portal),
				"LoginCSRF": s.loginCSRF(c), "Next": next, "Email": email, "Error": msg})
		}
		ck, err := c.Cookie("dmf_login_csrf")
		if err != nil || ck == "" || ck != c.PostForm("csrf_token") {
			fail(http.StatusForbidden, "The form expired. Please try again.")
			return
		}
		if !s.loginLimit(c, email) {
			return
		}
		sess, tok, err := s.Auth.Login(c.Request.Context(), hub.LoginRequest{Email: email, Password: c.PostForm("password"),
			Portal: r.portal, IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
		if err != nil {
			var msg string
			if e, ok := err.(*hub.Error); ok {
				msg = e.Message
				if len(e.Fields) > 0 {
					msg = "Enter your email and password."
				}
			} else {
				Logger(c).Error("login", "error", err)
				msg = "Sign-in is unavailable right now. Try again in a minute."
			}
			fail(StatusFor(hub.ErrorCode(err)), msg)
			return
		}
		c.SetSameSite(http.SameSiteLaxMode)
		c.SetCookie(cookieName(r.portal), tok, int(time.Until(sess.ExpiresAt).Seconds()), cookiePath(r.portal), "", s.SecureCookies, true)
		c.Redirect(http.StatusSeeOther, next)
	}
}

func (s *Server) handleLogoutForm(r *Router) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ck, err := c.Cookie(cookieName(r.portal)); err == nil {
			if sess, err := s.Auth.SessionByToken(c.Request.Context(), ck, r.portal); err == nil {
				if !s.validCSRF(c, sess.ID) {
					c.Status(http.StatusForbidden)
					s.render(c, "error.html", gin.H{"Title": "Form expired", "Message": "Reload the page and sign out again."})
					return
				}
				s.Auth.Logout(c.Request.Context(), sess.ID)
			}
		}
		c.SetCookie(cookieName(r.portal), "", -1, cookiePath(r.portal), "", s.SecureCookies, true)
		c.Redirect(http.StatusSeeOther, loginPath(r.portal))
	}
}
