package fiber

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// Area is the fiber plant's web area.
type Area struct {
	Svc *Service
	// ImportMaxBytes is the body limit of POST /api/v1/fiber/import and of the admin upload
	// (DefaultImportMaxBytes when 0); every other route keeps the server's MaxBodyBytes.
	ImportMaxBytes int64
	s              *web.Server
}

// DefaultImportMaxBytes is the default body limit of a GeoJSON import (API and admin upload).
const DefaultImportMaxBytes = 256 << 20

// NewArea returns the area.
func NewArea(svc *Service) *Area { return &Area{Svc: svc, ImportMaxBytes: DefaultImportMaxBytes} }

// Routes registers the fiber plant's API, field API and admin pages.
func (a *Area) Routes(s *web.Server) {
	a.s = s
	if a.ImportMaxBytes <= 0 {
		a.ImportMaxBytes = DefaultImportMaxBytes
	}
	read, write := web.Perm("network:fiber:read"), web.Perm("network:fiber:write")
	review := web.Perm("network:change_request:review")

	api := s.API
	api.GET("/fiber/features", read, a.handleFeatures)
	api.GET("/fiber/nearby", read, a.handleNearby)
	api.GET("/fiber/nearest-cabinet", read, a.handleNearestCabinet)
	api.GET("/fiber/objects", read, a.handleObjectIndex)
	api.GET("/fiber/objects/:kind/:id", read, a.handleObjectView)
	api.POST("/fiber/objects/:kind", write, a.handleObjectCreate)
	api.PATCH("/fiber/objects/:kind/:id", write, a.handleObjectUpdate)
	api.DELETE("/fiber/objects/:kind/:id", write, a.handleObjectDelete)
	api.GET("/fiber/splice-closures/:id", read, a.handleClosureView)
	api.POST("/fiber/splice-closures/:id/splices", write, a.handleSpliceCreate)
	api.DELETE("/fiber/splices/:id", write, a.handleSpliceDelete)
	api.GET("/fiber/segments/:id/strands", read, a.handleStrandIndex)
	api.PATCH("/fiber/segments/:id/strands/:number", write, a.handleStrandUpdate)
	api.GET("/fiber/fdh-cabinets/:id", read, a.handleCabinetView)
	api.GET("/fiber/onts/:id/trace", read, a.handleTrace)
	api.POST("/fiber/onts/:id/assignments", write, a.handleONTAssign)
	api.GET("/fiber/customers/:id/trace", read, a.handleCustomerTrace)
	api.POST("/fiber/import", web.Perm("network:fiber:import"), a.handleImport)
	api.BodyLimit(http.MethodPost, "/fiber/import", a.ImportMaxBytes)
	api.GET("/fiber/change-requests", review, a.handleCRIndex)
	api.POST("/fiber/change-requests", write, a.handleCRCreate(SourceStaff))
	api.GET("/fiber/change-requests/:id", review, a.handleCRView)
	api.POST("/fiber/change-requests/:id/apply", review, a.handleCRReview(true))
	api.POST("/fiber/change-requests/:id/reject", review, a.handleCRReview(false))

	// Field API (the edge agent answers the same from its replica) and vendor crews.
	api.GET("/field/map-assets", web.Perm("field:map:read"), a.handleMapAssets)
	api.GET("/field/splice-closures/:id", web.Perm("field:map:read"), a.handleClosureView)
	api.POST("/field/fiber/change-requests", web.Perm("field:fiber:propose"), a.handleCRCreate(SourceField))
	api.GET("/field/fiber/change-requests", web.Perm("field:fiber:propose"), a.handleCRMine)
	api.POST("/vendor/fiber/change-requests", web.Perm("vendor:fiber:propose"), a.handleCRCreate(SourceVendor))
	api.GET("/vendor/fiber/change-requests", web.Perm("vendor:fiber:propose"), a.handleCRMine)

	a.pageRoutes(s)
	a.vendorRoutes(s)
}

// --- features ---------------------------------------------------------------------------------

func queryLimit(c *gin.Context, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, hub.Invalid(map[string]string{"limit": fmt.Sprintf("must be a whole number from 1 to %d", max)})
	}
	return n, nil
}

func querySince(c *gin.Context) (int64, error) {
	v := c.Query("since_version")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, hub.Invalid(map[string]string{"since_version": "must be a whole number of 0 or more"})
	}
	return n, nil
}

// featureQuery reads bbox (required), kind, limit and since_version.
func featureQuery(c *gin.Context, maxLimit int) (FeatureQuery, error) {
	var q FeatureQuery
	if c.Query("bbox") == "" {
		return q, hub.Invalid(map[string]string{"bbox": "is required: minLon,minLat,maxLon,maxLat"})
	}
	b, err := ParseBBox(c.Query("bbox"))
	if err != nil {
		return q, err
	}
	q.BBox = &b
	if q.Kinds, err = ParseKinds(c.Query("kind")); err != nil {
		return q, err
	}
	if q.Limit, err = queryLimit(c, 20000, maxLimit); err != nil {
		return q, err
	}
	q.SinceVersion, err = querySince(c)
	return q, err
}

func (a *Area) writeFeatures(c *gin.Context, q FeatureQuery) {
	body, n, truncated, err := a.Svc.FeatureCollection(c.Request.Context(), q)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("X-Feature-Count", strconv.Itoa(n))
	if truncated {
		c.Header("X-Truncated", "true")
	}
	if c.Query("download") == "1" {
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="fiber-plant-%s.geojson"`, time.Now().UTC().Format("20060102-150405")))
	}
	c.Data(http.StatusOK, "application/geo+json", body)
}

func (a *Area) handleFeatures(c *gin.Context) {
	q, err := featureQuery(c, 500000)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.writeFeatures(c, q)
}

func (a *Area) handleMapAssets(c *gin.Context) {
	q, err := featureQuery(c, 50000)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.writeFeatures(c, q)
}

func latLon(c *gin.Context) (lon, lat float64, err error) {
	f := hub.Fields{}
	lat, e1 := strconv.ParseFloat(c.Query("lat"), 64)
	lon, e2 := strconv.ParseFloat(c.Query("lon"), 64)
	if e1 != nil || lat < -90 || lat > 90 {
		f.Add("lat", "must be a latitude from -90 to 90")
	}
	if e2 != nil || lon < -180 || lon > 180 {
		f.Add("lon", "must be a longitude from -180 to 180")
	}
	return lon, lat, f.Err()
}

func (a *Area) handleNearby(c *gin.Context) {
	lon, lat, err := latLon(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	radius := 300.0
	if v := c.Query("radius_m"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 || r > 10000 {
			web.Error(c, hub.Invalid(map[string]string{"radius_m": "must be a number of metres from 1 to 10000"}))
			return
		}
		radius = r
	}
	q := FeatureQuery{Near: true, NearLon: lon, NearLat: lat, NearM: radius}
	if q.Kinds, err = ParseKinds(c.Query("kind")); err != nil {
		web.Error(c, err)
		return
	}
	if q.Limit, err = queryLimit(c, 1000, 10000); err != nil {
		web.Error(c, err)
		return
	}
	a.writeFeatures(c, q)
}

func (a *Area) handleNearestCabinet(c *gin.Context) {
	lon, lat, err := latLon(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	n, err := queryLimit(c, 1, 20)
	if err != nil {
		web.Error(c, err)
		return
	}
	out, err := a.Svc.NearestCabinets(c.Request.Context(), lon, lat, n)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}

// --- objects ----------------------------------------------------------------------------------

func kindParam(c *gin.Context, name string) (*Kind, error) {
	k := KindByName(c.Param(name))
	if k == nil {
		k = KindByName(c.Query(name))
	}
	if k == nil {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such kind %q (one of %s)", c.Param(name)+c.Query(name), strings.Join(KindNames(), ", "))
	}
	return k, nil
}

func (a *Area) handleObjectIndex(c *gin.Context) {
	if c.Query("kind") == "" {
		web.Error(c, hub.Invalid(map[string]string{"kind": "is required (one of " + strings.Join(KindNames(), ", ") + ")"}))
		return
	}
	k, err := kindParam(c, "kind")
	if err != nil {
		web.Error(c, hub.Invalid(map[string]string{"kind": "must be one of " + strings.Join(KindNames(), ", ")}))
		return
	}
	f := ListFilter{Kind: k, Query: c.Query("q"), Status: c.Query("status")}
	if f.Status != "" && !contains(Statuses, f.Status) {
		web.Error(c, hub.Invalid(map[string]string{"status": "must be one of " + joinOr(Statuses)}))
		return
	}
	if v := c.Query("bbox"); v != "" {
		b, err := ParseBBox(v)
		if err != nil {
			web.Error(c, err)
			return
		}
		f.BBox = &b
	}
	csvOut := c.Query("format") == "csv"
	if csvOut {
		f.Limit = 100000
		if c.Query("limit") != "" {
			if f.Limit, err = queryLimit(c, 100000, 100000); err != nil {
				web.Error(c, err)
				return
			}
		}
	} else if f.Limit, f.Offset, err = web.Page(c); err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindObjects(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	if !csvOut {
		web.List(c, items, total, f.Limit, f.Offset)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, k.Name))
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	head := []string{"id", "kind", "name", "status", "version", "updated_at", "lon", "lat"}
	for _, at := range k.Attrs {
		head = append(head, at.Name)
	}
	if k.Lines {
		head = append(head, "length_m")
	}
	w.Write(head)
	for _, it := range items {
		rec := []string{it.ID, it.Kind, it.Name, it.Status, strconv.FormatInt(it.Version, 10), it.UpdatedAt.UTC().Format(time.RFC3339),
			strconv.FormatFloat(it.Lon, 'f', 7, 64), strconv.FormatFloat(it.Lat, 'f', 7, 64)}
		for _, h := range head[8:] {
			rec = append(rec, csvValue(it.Attrs[h]))
		}
		w.Write(rec)
	}
	w.Flush()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (a *Area) handleObjectView(c *gin.Context) {
	k, err := kindParam(c, "kind")
	if err != nil {
		web.Error(c, err)
		return
	}
	f, err := a.Svc.FindFeature(c.Request.Context(), k, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Data(http.StatusOK, "application/geo+json", f)
}

// objectBody is a create or change of one object: a GeoJSON Feature (geometry optional on change).
type objectBody struct {
	Type       string                     `json:"type"`
	Geometry   json.RawMessage            `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
	Version    int64                      `json:"version"`
}

func (a *Area) handleObjectCreate(c *gin.Context) {
	k, err := kindParam(c, "kind")
	if err != nil {
		web.Error(c, err)
		return
	}
	var in objectBody
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	f, err := a.Svc.SaveObject(c.Request.Context(), k.Name, "create", "", in.Geometry, in.Properties, 0, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Data(http.StatusCreated, "application/geo+json", f)
}

func (a *Area) handleObjectUpdate(c *gin.Context) {
	k, err := kindParam(c, "kind")
	if err != nil {
		web.Error(c, err)
		return
	}
	var in objectBody
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	f, err := a.Svc.SaveObject(c.Request.Context(), k.Name, "update", c.Param("id"), in.Geometry, in.Properties, in.Version, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Data(http.StatusOK, "application/geo+json", f)
}

func (a *Area) handleObjectDelete(c *gin.Context) {
	k, err := kindParam(c, "kind")
	if err != nil {
		web.Error(c, err)
		return
	}
	var expected int64
	if v := c.Query("version"); v != "" {
		if expected, err = strconv.ParseInt(v, 10, 64); err != nil || expected < 1 {
			web.Error(c, hub.Invalid(map[string]string{"version": "must be a whole number"}))
			return
		}
	}
	if _, err := a.Svc.SaveObject(c.Request.Context(), k.Name, "delete", c.Param("id"), nil, nil, expected, hub.PrincipalFrom(c.Request.Context())); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleClosureView(c *gin.Context) {
	cl, err := a.Svc.FindClosure(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, cl)
}

func (a *Area) handleSpliceCreate(c *gin.Context) {
	var in SpliceInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	in.ClosureID = c.Param("id")
	id, err := a.Svc.CreateSplice(c.Request.Context(), in, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	cl, err := a.Svc.FindClosure(c.Request.Context(), in.ClosureID)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": id, "closure": cl})
}

func (a *Area) handleSpliceDelete(c *gin.Context) {
	if err := a.Svc.DeleteSplice(c.Request.Context(), c.Param("id"), hub.PrincipalFrom(c.Request.Context())); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handleStrandIndex(c *gin.Context) {
	st, err := a.Svc.FindStrands(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	if c.Query("format") == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="strands.csv"`)
		w := csv.NewWriter(c.Writer)
		w.Write([]string{"number", "tube", "tube_color", "color", "status", "upstream_type", "upstream_id", "downstream_type", "downstream_id"})
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		for _, s := range st {
			w.Write([]string{strconv.Itoa(s.Number), strconv.Itoa(s.Tube), s.TubeColor, s.Color, s.Status,
				deref(s.UpstreamType), deref(s.UpstreamID), deref(s.DownstreamType), deref(s.DownstreamID)})
		}
		w.Flush()
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": st, "total": len(st)})
}

func (a *Area) handleStrandUpdate(c *gin.Context) {
	n, err := strconv.Atoi(c.Param("number"))
	if err != nil || n < 1 {
		web.Error(c, hub.Invalid(map[string]string{"number": "must be a strand number (1 or more)"}))
		return
	}
	var in StrandUpdate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	if err := a.Svc.UpdateStrand(c.Request.Context(), c.Param("id"), n, in, hub.PrincipalFrom(c.Request.Context())); err != nil {
		web.Error(c, err)
		return
	}
	st, err := a.Svc.FindStrands(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, st[n-1])
}

func (a *Area) handleCabinetView(c *gin.Context) {
	cab, err := a.Svc.FindCabinet(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, cab)
}

func (a *Area) handleTrace(c *gin.Context) {
	t, err := a.Svc.TraceONT(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (a *Area) handleCustomerTrace(c *gin.Context) {
	ont, err := a.Svc.FindONTForCustomer(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	t, err := a.Svc.TraceONT(c.Request.Context(), ont)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (a *Area) handleONTAssign(c *gin.Context) {
	var in ONTAssignment
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	id, err := a.Svc.AssignONT(c.Request.Context(), c.Param("id"), in, hub.PrincipalFrom(c.Request.Context()))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": id, "ont_id": c.Param("id"), "active": true})
}

// --- import -----------------------------------------------------------------------------------

func (a *Area) handleImport(c *gin.Context) {
	if ct := c.ContentType(); ct != "" && ct != "application/json" && ct != "application/geo+json" {
		web.Error(c, hub.Errorf(hub.EINVALID, "the body must be GeoJSON (Content-Type: application/geo+json or application/json)"))
		return
	}
	log := web.Logger(c)
	start := time.Now()
	res, err := a.Svc.Import(c.Request.Context(), c.Request.Body, hub.PrincipalFrom(c.Request.Context()), func(stage string, n int) {
		log.Info("fiber import progress", "stage", stage, "features", n, "elapsed_ms", time.Since(start).Milliseconds())
	})
	var ie *ImportError
	if errors.As(err, &ie) {
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, ImportErrorBody(ie))
		return
	}
	if err != nil {
		web.Error(c, err)
		return
	}
	log.Info("fiber import done", "imported", res.Imported, "elapsed_ms", time.Since(start).Milliseconds())
	c.JSON(http.StatusOK, res)
}

// --- change requests --------------------------------------------------------------------------

func (a *Area) handleCRCreate(source string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var p Proposal
		if err := web.BindJSON(c, &p); err != nil {
			web.Error(c, err)
			return
		}
		cr, created, err := a.Svc.Propose(c.Request.Context(), p, source, hub.PrincipalFrom(c.Request.Context()))
		if err != nil {
			web.Error(c, err)
			return
		}
		status := http.StatusCreated
		if !created {
			status = http.StatusOK
		}
		c.JSON(status, cr)
	}
}

func (a *Area) handleCRIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindChangeRequests(c.Request.Context(), CRFilter{Status: c.Query("status"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleCRMine(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	p := hub.PrincipalFrom(c.Request.Context())
	items, total, err := a.Svc.FindChangeRequests(c.Request.Context(), CRFilter{Status: c.Query("status"), RequestedBy: p.PersonID, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleCRView(c *gin.Context) {
	cr, err := a.Svc.FindChangeRequest(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, cr)
}

func (a *Area) handleCRReview(apply bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in struct {
			Note string `json:"note"`
		}
		if c.Request.ContentLength != 0 {
			if err := web.BindJSON(c, &in); err != nil {
				web.Error(c, err)
				return
			}
		}
		p := hub.PrincipalFrom(c.Request.Context())
		var cr *ChangeRequest
		var err error
		if apply {
			cr, err = a.Svc.Apply(c.Request.Context(), c.Param("id"), in.Note, p)
		} else {
			cr, err = a.Svc.Reject(c.Request.Context(), c.Param("id"), in.Note, p)
		}
		if err != nil {
			web.Error(c, err)
			return
		}
		c.JSON(http.StatusOK, cr)
	}
}
