package inventory

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// Edit and (de)activate pages of items and locations. Each form carries the version it was drawn
// from: a save over a newer version is a 409 that shows the current values.

// itemForm is the item form as typed.
type itemForm struct{ Name, Unit, UnitCost, ReorderLevel, Description, Version string }

func itemFormOf(it *Item) itemForm {
	f := itemForm{Name: it.Name, Unit: it.Unit, Description: it.Description, Version: strconv.FormatInt(it.Version, 10)}
	if it.UnitCost != nil {
		f.UnitCost = strconv.FormatFloat(*it.UnitCost, 'f', -1, 64)
	}
	if it.ReorderLevel != nil {
		f.ReorderLevel = strconv.FormatFloat(*it.ReorderLevel, 'f', -1, 64)
	}
	return f
}

// formVersion reads the version a form was drawn from.
func formVersion(f hub.Fields, c *gin.Context) *int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(c.PostForm("version")), 10, 64)
	if err != nil || v < 1 {
		f.Add("version", "is missing: reload the page and try again")
		return nil
	}
	return &v
}

// editError re-renders an edit page after a failed save: field messages for the caller's
// mistakes, the current values for a conflict, a 500 for anything else.
func (a *Area) editError(c *gin.Context, err error, conflict func(msg string), invalid func(status int, e *hub.Error)) {
	var e *hub.Error
	if !errors.As(err, &e) {
		web.Error(c, err)
		return
	}
	if e.Code == hub.ECONFLICT && e.Fields["version"] != "" {
		conflict(e.Message)
		return
	}
	invalid(web.StatusFor(e.Code), e)
}

func (a *Area) renderItem(c *gin.Context, status int, it *Item, f itemForm, errs map[string]string, msg string) {
	c.Status(status)
	a.s.Render(c, "inventory/item.html", gin.H{"Title": it.SKU + " " + it.Name, "Item": it, "Form": f, "Errors": errs, "FormError": msg})
}

func (a *Area) pageItem(c *gin.Context) {
	it, err := a.Svc.FindItemByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	a.renderItem(c, http.StatusOK, it, itemFormOf(it), map[string]string{}, "")
}

func (a *Area) formItemEdit(c *gin.Context) {
	ctx := c.Request.Context()
	it, err := a.Svc.FindItemByID(ctx, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	in := itemForm{Name: c.PostForm("name"), Unit: c.PostForm("unit"), UnitCost: strings.TrimSpace(c.PostForm("unit_cost")),
		ReorderLevel: strings.TrimSpace(c.PostForm("reorder_level")), Description: c.PostForm("description"), Version: c.PostForm("version")}
	f := hub.Fields{}
	u := ItemUpdate{Name: &in.Name, Unit: &in.Unit, Description: &in.Description, Version: formVersion(f, c)}
	if in.UnitCost != "" {
		q := parseQty(f, "unit_cost", in.UnitCost)
		u.UnitCost = &q
	}
	if in.ReorderLevel != "" {
		q := parseQty(f, "reorder_level", in.ReorderLevel)
		u.ReorderLevel = &q
	}
	if len(f) > 0 {
		a.renderItem(c, http.StatusBadRequest, it, in, f, "Check the fields marked below.")
		return
	}
	a.saveItem(c, it, in, u, " Your changes were not saved; the form shows the current values.", func(saved *Item) string {
		return "Saved " + saved.SKU + " " + saved.Name
	})
}

// saveItem applies u to item it (in is the form as typed) and redirects to the item with the
// flash done(saved); a conflict shows the current values with the message and note, a refusal
// the form with its fields.
func (a *Area) saveItem(c *gin.Context, it *Item, in itemForm, u ItemUpdate, note string, done func(*Item) string) {
	ctx := c.Request.Context()
	saved, err := a.Svc.UpdateItem(ctx, it.ID, u)
	if err != nil {
		a.editError(c, err, func(msg string) {
			cur, err := a.Svc.FindItemByID(ctx, it.ID)
			if err != nil {
				web.Error(c, err)
				return
			}
			a.renderItem(c, http.StatusConflict, cur, itemFormOf(cur), map[string]string{}, msg+note)
		}, func(status int, e *hub.Error) {
			a.renderItem(c, status, it, in, e.Fields, e.Message)
		})
		return
	}
	a.s.Flash(c, done(saved))
	c.Redirect(http.StatusSeeOther, "/admin/inventory/items/"+saved.ID)
}

func (a *Area) formItemActive(c *gin.Context) {
	ctx := c.Request.Context()
	it, err := a.Svc.FindItemByID(ctx, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	f := hub.Fields{}
	v := formVersion(f, c)
	active, ok := parseActive(f, c)
	if !ok || len(f) > 0 {
		a.renderItem(c, http.StatusBadRequest, it, itemFormOf(it), f, "The form could not be read.")
		return
	}
	a.saveItem(c, it, itemFormOf(it), ItemUpdate{IsActive: &active, Version: v}, "", func(saved *Item) string {
		if active {
			return saved.SKU + " is active again"
		}
		return saved.SKU + " is deactivated: it no longer shows in pick lists"
	})
}

// parseActive reads active=true|false.
func parseActive(f hub.Fields, c *gin.Context) (bool, bool) {
	switch c.PostForm("active") {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	f.Add("active", "must be true or false")
	return false, false
}

// locationForm is the location form as typed.
type locationForm struct{ Name, Code, Address, Version string }

func locationFormOf(l *Location) locationForm {
	return locationForm{Name: l.Name, Code: l.Code, Address: l.Address, Version: strconv.FormatInt(l.Version, 10)}
}

func (a *Area) renderLocation(c *gin.Context, status int, l *Location, f locationForm, errs map[string]string, msg string) {
	c.Status(status)
	a.s.Render(c, "inventory/location.html", gin.H{"Title": l.Code + " " + l.Name, "Location": l, "Form": f, "Errors": errs, "FormError": msg})
}

func (a *Area) pageLocation(c *gin.Context) {
	l, err := a.Svc.FindLocationByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	a.renderLocation(c, http.StatusOK, l, locationFormOf(l), map[string]string{}, "")
}

func (a *Area) saveLocation(c *gin.Context, in locationForm, u LocationUpdate, f hub.Fields, done string) {
	ctx := c.Request.Context()
	l, err := a.Svc.FindLocationByID(ctx, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	if len(f) > 0 {
		a.renderLocation(c, http.StatusBadRequest, l, in, f, "Check the fields marked below.")
		return
	}
	saved, err := a.Svc.UpdateLocation(ctx, l.ID, u)
	if err != nil {
		a.editError(c, err, func(msg string) {
			cur, err := a.Svc.FindLocationByID(ctx, l.ID)
			if err != nil {
				web.Error(c, err)
				return
			}
			a.renderLocation(c, http.StatusConflict, cur, locationFormOf(cur), map[string]string{}, msg+" Your changes were not saved; the form shows the current values.")
		}, func(status int, e *hub.Error) {
			a.renderLocation(c, status, l, in, e.Fields, e.Message)
		})
		return
	}
	a.s.Flash(c, saved.Code+" "+done)
	c.Redirect(http.StatusSeeOther, "/admin/inventory/locations/"+saved.ID)
}

func (a *Area) formLocationEdit(c *gin.Context) {
	in := locationForm{Name: c.PostForm("name"), Code: c.PostForm("code"), Address: c.PostForm("address"), Version: c.PostForm("version")}
	f := hub.Fields{}
	u := LocationUpdate{Name: &in.Name, Code: &in.Code, Address: &in.Address, Version: formVersion(f, c)}
	a.saveLocation(c, in, u, f, "saved")
}

func (a *Area) formLocationActive(c *gin.Context) {
	f := hub.Fields{}
	v := formVersion(f, c)
	active, _ := parseActive(f, c)
	done := "is deactivated"
	if active {
		done = "is active again"
	}
	in := locationForm{Version: c.PostForm("version")}
	if l, err := a.Svc.FindLocationByID(c.Request.Context(), c.Param("id")); err == nil {
		in = locationFormOf(l)
	}
	a.saveLocation(c, in, LocationUpdate{IsActive: &active, Version: v}, f, done)
}
