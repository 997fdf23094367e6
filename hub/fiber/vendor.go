package fiber

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// Vendor portal: a contractor proposes as-built changes to the plant and follows their review.
// It sees only its own requests and its organization's; another vendor's are not found.

const vendorPerm = "vendor:fiber:propose"

func (a *Area) vendorRoutes(s *web.Server) {
	v := s.Vendor
	v.GET("/fiber/change-requests", web.Perm(vendorPerm), a.handleVendorCRIndex)
	v.GET("/fiber/change-requests/new", web.Perm(vendorPerm), a.handleVendorCRNew)
	v.POST("/fiber/change-requests", web.Perm(vendorPerm), a.handleVendorCRCreate)
	v.GET("/fiber/change-requests/:id", web.Perm(vendorPerm), a.handleVendorCRView)
}

func vendorData(c *gin.Context, title string, h gin.H) gin.H {
	h["Title"], h["Portal"], h["LogoutPath"] = title, string(hub.PortalVendor), "/vendor/logout"
	return h
}

func (a *Area) handleVendorCRIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	f := CRFilterFor(hub.PrincipalFrom(c.Request.Context()))
	f.Status, f.Limit, f.Offset = c.Query("status"), limit, offset
	items, total, err := a.Svc.FindChangeRequests(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "fiber/vendor_requests.html", vendorData(c, "Plant change requests", gin.H{"Items": items, "Total": total,
		"Limit": limit, "Offset": offset, "Status": c.Query("status"), "PagerQuery": "&status=" + c.Query("status")}))
}

// vendorForm is what the proposal form shows again after an error.
type vendorForm struct {
	Kind, Operation, ObjectID, Name, Status, Lat, Lon, Geometry, Properties, Note, ClientRef string
}

func (a *Area) renderVendorForm(c *gin.Context, status int, f vendorForm, errs map[string]string, msg string) {
	c.Status(status)
	a.s.Render(c, "fiber/vendor_propose.html", vendorData(c, "Propose a plant change", gin.H{"Form": f, "Errors": errs,
		"FormError": msg, "Kinds": Kinds, "Statuses": Statuses}))
}

func (a *Area) handleVendorCRNew(c *gin.Context) {
	f := vendorForm{Kind: c.Query("kind"), Operation: c.DefaultQuery("operation", "create"), ObjectID: c.Query("object_id"),
		ClientRef: "vendor-" + uuid.NewString()}
	a.renderVendorForm(c, http.StatusOK, f, map[string]string{}, "")
}

// formFields are the inputs of the proposal form; any other field of an error (an attribute such
// as fiber_count) is shown under "properties".
var formFields = map[string]bool{"kind": true, "operation": true, "object_id": true, "name": true, "status": true,
	"lat": true, "lon": true, "geometry": true, "properties": true, "note": true}

// proposalFromForm turns the form into a Proposal; errs holds what cannot be read.
func proposalFromForm(f vendorForm) (Proposal, map[string]string) {
	errs := hub.Fields{}
	p := Proposal{Kind: f.Kind, Operation: f.Operation, ObjectID: f.ObjectID, Note: f.Note, ClientRef: f.ClientRef,
		Properties: map[string]json.RawMessage{}}
	if f.Properties != "" {
		if err := json.Unmarshal([]byte(f.Properties), &p.Properties); err != nil || p.Properties == nil {
			errs.Add("properties", `must be a JSON object, e.g. {"fiber_count": 24}`)
			p.Properties = map[string]json.RawMessage{}
		}
	}
	for key, v := range map[string]string{"name": f.Name, "status": f.Status} {
		if v != "" {
			b, _ := json.Marshal(v)
			p.Properties[key] = b
		}
	}
	if f.Lat != "" || f.Lon != "" {
		lat, err1 := strconv.ParseFloat(f.Lat, 64)
		lon, err2 := strconv.ParseFloat(f.Lon, 64)
		switch {
		case err1 != nil || lat < -90 || lat > 90:
			errs.Add("lat", "must be a latitude from -90 to 90")
		case err2 != nil || lon < -180 || lon > 180:
			errs.Add("lon", "must be a longitude from -180 to 180")
		case f.Geometry != "":
			errs.Add("geometry", "give either a position (lat, lon) or a GeoJSON geometry, not both")
		default:
			p.Geometry, _ = json.Marshal(map[string]any{"type": "Point", "coordinates": []float64{lon, lat}})
		}
	} else if f.Geometry != "" {
		if !json.Valid([]byte(f.Geometry)) {
			errs.Add("geometry", `must be a GeoJSON geometry, e.g. {"type":"LineString","coordinates":[[10,50],[10.01,50]]}`)
		} else {
			p.Geometry = json.RawMessage(f.Geometry)
		}
	}
	if len(errs) > 0 {
		return p, errs
	}
	return p, nil
}

func (a *Area) handleVendorCRCreate(c *gin.Context) {
	t := func(k string) string { return strings.TrimSpace(c.PostForm(k)) }
	f := vendorForm{Kind: t("kind"), Operation: t("operation"), ObjectID: t("object_id"), Name: t("name"), Status: t("status"),
		Lat: t("lat"), Lon: t("lon"), Geometry: t("geometry"), Properties: t("properties"), Note: t("note"), ClientRef: t("client_ref")}
	p, errs := proposalFromForm(f)
	if errs != nil {
		a.renderVendorForm(c, http.StatusBadRequest, f, errs, "Check the fields marked below.")
		return
	}
	cr, _, err := a.Svc.Propose(c.Request.Context(), p, SourceVendor, hub.PrincipalFrom(c.Request.Context()))
	var he *hub.Error
	if errors.As(err, &he) {
		status, fields := web.StatusFor(he.Code), map[string]string{}
		if he.Code == hub.ENOTFOUND { // the object to change: a mistake in the form
			status, fields["object_id"] = http.StatusUnprocessableEntity, he.Message
		}
		var other []string
		for k, m := range he.Fields {
			if formFields[k] {
				fields[k] = m
			} else {
				other = append(other, k+": "+m)
			}
		}
		if len(other) > 0 {
			sort.Strings(other)
			fields["properties"] = strings.Join(other, "; ")
		}
		a.renderVendorForm(c, status, f, fields, he.Message)
		return
	}
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Flash(c, "Sent "+cr.Number+" for review.")
	c.Redirect(http.StatusSeeOther, "/vendor/fiber/change-requests/"+cr.ID)
}

func (a *Area) handleVendorCRView(c *gin.Context) {
	cr, err := a.Svc.FindChangeRequest(c.Request.Context(), c.Param("id"))
	if err == nil && !cr.VisibleTo(hub.PrincipalFrom(c.Request.Context())) {
		err = notFound("change request") // another vendor's request does not exist for this one
	}
	if err != nil {
		if hub.ErrorCode(err) == hub.ENOTFOUND && strings.Contains(c.GetHeader("Accept"), "text/html") {
			c.Status(http.StatusNotFound)
			a.s.Render(c, "error.html", vendorData(c, "Not found", gin.H{"Message": "There is no such change request among yours."}))
			return
		}
		web.Error(c, err)
		return
	}
	rows, geoms, _ := crDiff(cr)
	a.s.Render(c, "fiber/vendor_request.html", vendorData(c, "Change request "+cr.Number, gin.H{"CR": cr, "Rows": rows, "Geoms": geoms}))
}
