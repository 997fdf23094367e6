package dispatch

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// Limits of the public track endpoints, per client address.
const (
	trackPostLimit  = 10
	trackPostWindow = 10 * time.Minute
	trackViewLimit  = 120
	trackViewWindow = time.Minute
)

func (a *Area) publicBase(c *gin.Context) string {
	if a.Svc.PublicURL != "" {
		return a.Svc.PublicURL
	}
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

func (a *Area) handleTrackLink(c *gin.Context) {
	l, err := a.Svc.CreateTrackLink(c.Request.Context(), c.Param("id"), actor(c), a.publicBase(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

// limit applies a per-address limit on the public track routes; false means it answered 429.
func (a *Area) limit(c *gin.Context, kind string, n int, window time.Duration) bool {
	if a.s == nil || a.s.Limiter == nil {
		return true
	}
	d := a.s.Limiter.Allow(c.Request.Context(), "track:"+kind+":"+c.ClientIP(), n, window)
	if d.Allowed {
		return true
	}
	secs := max(1, int(math.Ceil(d.Reset.Seconds())))
	c.Header("Retry-After", strconv.Itoa(secs))
	err := hub.Errorf(hub.ERATELIMITED, "too many requests: try again in %d seconds", secs)
	if wantsHTML(c) {
		c.Status(http.StatusTooManyRequests)
		a.s.Render(c, "error.html", gin.H{"Title": "Slow down", "Message": err.Message})
		c.Abort()
		return false
	}
	web.Error(c, err)
	return false
}

func wantsHTML(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("Accept"), "text/html") || c.ContentType() == "application/x-www-form-urlencoded"
}

func (a *Area) handleTrackJSON(c *gin.Context) {
	if !a.limit(c, "view", trackViewLimit, trackViewWindow) {
		return
	}
	v, err := a.Svc.Visit(c.Request.Context(), c.Param("token"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

func (a *Area) handleTrackPage(c *gin.Context) {
	if !a.limit(c, "view", trackViewLimit, trackViewWindow) {
		return
	}
	tok := c.Param("token")
	v, err := a.Svc.Visit(c.Request.Context(), tok)
	if err != nil {
		c.Status(web.StatusFor(hub.ErrorCode(err)))
		msg := "This link is not valid or has expired. Ask us for a new one."
		if hub.ErrorCode(err) == hub.EINTERNAL {
			web.Logger(c).Error("track page", "error", err)
			msg = "Something went wrong on our side. Please try again in a minute."
		}
		a.s.Render(c, "error.html", gin.H{"Title": "Track my visit", "Message": msg})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	a.s.Render(c, "track/visit.html", gin.H{"Title": "Your visit " + v.Number, "V": v, "Token": tok,
		"Message": c.Query("m"), "Error": c.Query("e")})
}

// trackDone answers a track form: JSON for scripts, a redirect back to the page for forms.
func (a *Area) trackDone(c *gin.Context, v *Visit, err error, ok string) {
	tok := url.PathEscape(c.Param("token"))
	if !wantsHTML(c) {
		if err != nil {
			web.Error(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
		return
	}
	if err != nil {
		e, isDomain := err.(*hub.Error)
		if !isDomain {
			web.Logger(c).Error("track form", "error", err)
			c.Redirect(http.StatusSeeOther, "/track/"+tok+"?e="+url.QueryEscape("Something went wrong on our side. Please try again."))
			return
		}
		msg := e.Message
		for _, m := range e.Fields {
			msg += " (" + m + ")"
			break
		}
		if e.Code == hub.ENOTFOUND {
			c.Status(http.StatusNotFound)
			a.s.Render(c, "error.html", gin.H{"Title": "Track my visit", "Message": "This link is not valid or has expired. Ask us for a new one."})
			return
		}
		c.Redirect(http.StatusSeeOther, "/track/"+tok+"?e="+url.QueryEscape(msg))
		return
	}
	c.Redirect(http.StatusSeeOther, "/track/"+tok+"?m="+url.QueryEscape(ok))
}

func (a *Area) handleTrackConfirm(c *gin.Context) {
	if !a.limit(c, "post", trackPostLimit, trackPostWindow) {
		return
	}
	v, err := a.Svc.ConfirmVisit(c.Request.Context(), c.Param("token"))
	a.trackDone(c, v, err, "Thank you: your visit is confirmed.")
}

func (a *Area) handleTrackReschedule(c *gin.Context) {
	if !a.limit(c, "post", trackPostLimit, trackPostWindow) {
		return
	}
	var in RescheduleInput
	if c.ContentType() == "application/json" {
		if err := web.BindJSON(c, &in); err != nil {
			web.Error(c, err)
			return
		}
	} else {
		in.Note = c.PostForm("note")
		if v := c.PostForm("preferred_date"); v != "" {
			slot := c.PostForm("preferred_slot") // morning | afternoon
			d, err := time.Parse("2006-01-02", v)
			if err != nil {
				a.trackDone(c, nil, hub.Invalid(map[string]string{"preferred_date": "must be a date"}), "")
				return
			}
			start, end := d.Add(8*time.Hour), d.Add(12*time.Hour)
			if slot == "afternoon" {
				start, end = d.Add(12*time.Hour), d.Add(17*time.Hour)
			}
			in.PreferredStart, in.PreferredEnd = &start, &end
		}
	}
	v, err := a.Svc.RequestReschedule(c.Request.Context(), c.Param("token"), in)
	a.trackDone(c, v, err, "Thank you: we received your request and will contact you to agree a new time.")
}
