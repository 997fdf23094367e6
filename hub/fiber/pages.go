package fiber

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// kindStyle is how the map and the pages draw a kind.
var kindStyle = map[string]string{
	"olt": "#111827", "fdh_cabinet": "#7c3aed", "splitter": "#c026d3", "splice_closure": "#ea580c",
	"segment": "#1f5fd1", "termination_point": "#475569", "building": "#6b7280", "ont": "#16a34a",
	"mast": "#0891b2", "pole": "#92400e", "duct": "#9ca3af",
}

type mapKind struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Color string `json:"color"`
	Lines bool   `json:"lines"`
}

func (a *Area) pageRoutes(s *web.Server) {
	s.AddPages(templateFS, "templates")
	ad := s.Admin
	ad.GET("/network/map", web.Perm("gis:map:view"), a.handleMapPage)
	ad.GET("/network/plant", web.Perm("network:fiber:read"), a.handlePlantPage)
	ad.GET("/network/objects/:kind/:id", web.Perm("network:fiber:read"), a.handleObjectPage)
	ad.GET("/network/change-requests", web.Perm("network:change_request:review"), a.handleCRPage)
	ad.GET("/network/change-requests/:id", web.Perm("network:change_request:review"), a.handleCRReviewPage)
	ad.POST("/network/change-requests/:id/apply", web.Perm("network:change_request:review"), a.handleCRReviewForm(true))
	ad.POST("/network/change-requests/:id/reject", web.Perm("network:change_request:review"), a.handleCRReviewForm(false))
	ad.GET("/network/import", web.Perm("network:fiber:import"), a.handleImportPage)
	ad.POST("/network/import", web.Perm("network:fiber:import"), a.handleImportForm)
	ad.BodyLimit(http.MethodPost, "/network/import", a.ImportMaxBytes+1<<20) // the file and its multipart envelope
	s.Root.GET("/assets/fiber/*path", web.Public, handleStatic)

	s.AddNav("Network", "Network map", "/admin/network/map", "gis:map:view")
	s.AddNav("Network", "Fiber plant", "/admin/network/plant", "network:fiber:read")
	s.AddNav("Network", "Change requests", "/admin/network/change-requests", "network:change_request:review")
	s.AddNav("Network", "Import GeoJSON", "/admin/network/import", "network:fiber:import")
	s.AddDashboardCard(func(c *gin.Context, p *hub.Principal) *web.DashboardCard {
		if !p.Can("network:change_request:review") {
			return nil
		}
		_, n, err := a.Svc.FindChangeRequests(c.Request.Context(), CRFilter{Status: "pending", Limit: 1})
		if err != nil {
			return nil
		}
		return &web.DashboardCard{Title: "Fiber change requests", Value: strconv.Itoa(n), Note: "waiting for review", Href: "/admin/network/change-requests"}
	})
}

func handleStatic(c *gin.Context) {
	p := strings.TrimPrefix(c.Param("path"), "/")
	b, err := fs.ReadFile(staticFS, "static/"+p)
	if p == "" || strings.Contains(p, "..") || err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	http.ServeContent(c.Writer, c.Request, p, time.Time{}, bytes.NewReader(b))
}

func mapKinds() []mapKind {
	var out []mapKind
	for _, k := range Kinds {
		out = append(out, mapKind{k.Name, k.Label, kindStyle[k.Name], k.Lines})
	}
	return out
}

func (a *Area) handleMapPage(c *gin.Context) {
	ctx := c.Request.Context()
	center := [2]float64{45.677, -111.043}
	var minx, miny, maxx, maxy *float64
	if err := a.Svc.DB.Pool.QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
		SELECT ST_Extent(geom) e FROM (SELECT geom FROM fdh_cabinets WHERE deleted_at IS NULL UNION ALL SELECT geom FROM olt_devices WHERE deleted_at IS NULL) g) x`).
		Scan(&minx, &miny, &maxx, &maxy); err != nil {
		web.Error(c, err)
		return
	}
	cfg := map[string]any{"center": center, "zoom": 14, "tileURL": a.Svc.TileURL(ctx), "kinds": mapKinds(),
		"canReview": hub.PrincipalFrom(ctx).Can("network:fiber:read")}
	if minx != nil {
		cfg["bounds"] = [][2]float64{{*miny, *minx}, {*maxy, *maxx}}
	}
	if v := c.Query("focus"); v != "" { // "lat,lon" from an object page
		cfg["focus"] = v
	}
	b, _ := json.Marshal(cfg)
	a.s.Render(c, "fiber/map.html", gin.H{"Title": "Network map", "Config": string(b), "Kinds": mapKinds()})
}

type kindCount struct {
	Kind   *Kind
	Count  int
	Active bool
	Color  string
}

func (a *Area) handlePlantPage(c *gin.Context) {
	ctx := c.Request.Context()
	counts, err := a.Svc.Counts(ctx)
	if err != nil {
		web.Error(c, err)
		return
	}
	k := KindByName(c.DefaultQuery("kind", "fdh_cabinet"))
	if k == nil {
		k = KindByName("fdh_cabinet")
	}
	var tabs []kindCount
	for _, kk := range Kinds {
		tabs = append(tabs, kindCount{kk, counts[kk.Name], kk == k, kindStyle[kk.Name]})
	}
	sort.SliceStable(tabs, func(i, j int) bool { return tabs[i].Kind.Label < tabs[j].Kind.Label })
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindObjects(ctx, ListFilter{Kind: k, Query: c.Query("q"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "fiber/plant.html", gin.H{"Title": "Fiber plant", "Tabs": tabs, "Kind": k, "Items": items, "Total": total,
		"Limit": limit, "Offset": offset, "Q": c.Query("q"), "PagerQuery": template.URL("&kind=" + k.Name)})
}

type attrRow struct{ Name, Value string }

type strandRow struct {
	Strand
	Hex, TubeHex string
}

type spliceRow struct {
	Splice
	InHex, OutHex, InTubeHex, OutTubeHex string
}

type trayView struct {
	Tray
	Rows []spliceRow
}

func (a *Area) handleObjectPage(c *gin.Context) {
	ctx := c.Request.Context()
	k := KindByName(c.Param("kind"))
	if k == nil {
		web.Error(c, hub.Errorf(hub.ENOTFOUND, "no such kind"))
		return
	}
	raw, err := a.Svc.FindFeature(ctx, k, c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	var f struct {
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	}
	json.Unmarshal(raw, &f)
	var attrs []attrRow
	keys := make([]string, 0, len(f.Properties))
	for key := range f.Properties {
		if key != "id" && key != "kind" && key != "name" && key != "status" {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		attrs = append(attrs, attrRow{key, csvValue(f.Properties[key])})
	}
	title := csvValue(f.Properties["name"])
	if title == "" {
		title = "Unnamed " + strings.ToLower(k.Label)
	}
	data := gin.H{"Title": title, "Kind": k, "ID": c.Param("id"), "Props": f.Properties,
		"Attrs": attrs, "Feature": string(raw), "Color": kindStyle[k.Name]}
	switch k.Name {
	case "splice_closure":
		cl, err := a.Svc.FindClosure(ctx, c.Param("id"))
		if err != nil {
			web.Error(c, err)
			return
		}
		var trays []trayView
		for _, t := range cl.Trays {
			tv := trayView{Tray: t}
			for _, sp := range t.Splices {
				tv.Rows = append(tv.Rows, spliceRow{sp, ColorHex(sp.InStrand.Color), ColorHex(sp.OutStrand.Color),
					ColorHex(sp.InStrand.TubeColor), ColorHex(sp.OutStrand.TubeColor)})
			}
			trays = append(trays, tv)
		}
		data["Closure"], data["Trays"] = cl, trays
	case "segment":
		st, err := a.Svc.FindStrands(ctx, c.Param("id"))
		if err != nil {
			web.Error(c, err)
			return
		}
		rows := make([]strandRow, len(st))
		for i, s := range st {
			rows[i] = strandRow{s, ColorHex(s.Color), ColorHex(s.TubeColor)}
		}
		data["Strands"] = rows
	case "fdh_cabinet":
		cab, err := a.Svc.FindCabinet(ctx, c.Param("id"))
		if err != nil {
			web.Error(c, err)
			return
		}
		data["Cabinet"] = cab
	case "ont":
		t, err := a.Svc.TraceONT(ctx, c.Param("id"))
		if err != nil {
			web.Error(c, err)
			return
		}
		for i := range t.Hops {
			if col, ok := t.Hops[i].Detail["color"].(string); ok {
				t.Hops[i].Detail["hex"] = ColorHex(col)
			}
		}
		data["Trace"] = t
	}
	a.s.Render(c, "fiber/object.html", data)
}

func (a *Area) handleCRPage(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	status := c.DefaultQuery("status", "pending")
	if status == "all" {
		status = ""
	}
	items, total, err := a.Svc.FindChangeRequests(c.Request.Context(), CRFilter{Status: status, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "fiber/change_requests.html", gin.H{"Title": "Fiber change requests", "Items": items, "Total": total,
		"Limit": limit, "Offset": offset, "Status": c.DefaultQuery("status", "pending"), "PagerQuery": template.URL("&status=" + c.DefaultQuery("status", "pending"))})
}

type diffRow struct {
	Name, Before, After string
	Changed             bool
}

func featureProps(raw json.RawMessage) (map[string]any, string) {
	var f struct {
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	}
	if len(raw) == 0 {
		return nil, ""
	}
	json.Unmarshal(raw, &f)
	return f.Properties, string(f.Geometry)
}

func (a *Area) handleCRReviewPage(c *gin.Context) {
	cr, err := a.Svc.FindChangeRequest(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	rows, geoms, stale := crDiff(cr)
	a.s.Render(c, "fiber/change_request.html", gin.H{"Title": "Change request " + cr.Number, "CR": cr, "Rows": rows, "Stale": stale,
		"Geoms": geoms})
}

// crDiff is a change request's before/after table, both geometries for the map, and whether the
// object changed since the proposal.
func crDiff(cr *ChangeRequest) (rows []diffRow, geoms string, stale bool) {
	before, bg := featureProps(cr.Before)
	after, ag := featureProps(cr.After)
	if cr.Kind == "splice" {
		after = map[string]any{}
		for k, v := range cr.Properties {
			var x any
			json.Unmarshal(v, &x)
			after[k] = x
		}
	}
	names := map[string]bool{}
	for k := range before {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	for n := range names {
		if n == "id" || n == "kind" || n == "version" {
			continue
		}
		b, af := csvValue(before[n]), csvValue(after[n])
		if cr.Operation == "delete" {
			af = ""
		}
		rows = append(rows, diffRow{n, b, af, b != af})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if cr.Kind != "splice" {
		rows = append(rows, diffRow{"geometry", geomText(bg), geomText(ag), bg != ag && cr.Operation != "delete"})
		if m := moved(bg, ag); m > 0 && cr.Operation == "update" {
			rows = append(rows, diffRow{"moved", "", strconv.FormatFloat(math.Round(m), 'f', 0, 64) + " m", true})
		}
	}
	stale = cr.BaseVersion != nil && cr.CurrentVersion != nil && *cr.BaseVersion != *cr.CurrentVersion
	g, _ := json.Marshal(map[string]any{"before": json.RawMessage(orNull(bg)), "after": json.RawMessage(orNull(ag))})
	return rows, string(g), stale
}

// geomText shows a point as "lat, lon" and other geometries by type and size.
func geomText(g string) string {
	if g == "" {
		return ""
	}
	pg, err := ParseGeometry(json.RawMessage(g))
	if err != nil {
		return g
	}
	switch pg.Type {
	case "Point":
		return strconv.FormatFloat(pg.Point[1], 'f', 6, 64) + ", " + strconv.FormatFloat(pg.Point[0], 'f', 6, 64)
	case "LineString":
		return "LineString, " + strconv.Itoa(len(pg.Line)) + " points"
	}
	return pg.Type
}

// moved is the distance in metres between two points (0 unless both are points).
func moved(a, b string) float64 {
	ga, err1 := ParseGeometry(json.RawMessage(a))
	gb, err2 := ParseGeometry(json.RawMessage(b))
	if err1 != nil || err2 != nil || ga.Type != "Point" || gb.Type != "Point" {
		return 0
	}
	rad := math.Pi / 180
	dlat, dlon := (gb.Point[1]-ga.Point[1])*rad, (gb.Point[0]-ga.Point[0])*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(ga.Point[1]*rad)*math.Cos(gb.Point[1]*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * 6371008.8 * math.Asin(math.Sqrt(h))
}

func orNull(s string) string {
	if strings.TrimSpace(s) == "" {
		return "null"
	}
	return s
}

func (a *Area) handleCRReviewForm(apply bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		back := "/admin/network/change-requests/" + c.Param("id")
		p := hub.PrincipalFrom(c.Request.Context())
		var err error
		if apply {
			_, err = a.Svc.Apply(c.Request.Context(), c.Param("id"), c.PostForm("note"), p)
		} else {
			_, err = a.Svc.Reject(c.Request.Context(), c.Param("id"), c.PostForm("note"), p)
		}
		if err != nil {
			a.s.FormError(c, err, back)
			return
		}
		if apply {
			a.s.Flash(c, "Applied: the plant is changed.")
		} else {
			a.s.Flash(c, "Rejected.")
		}
		c.Redirect(http.StatusSeeOther, back)
	}
}

func (a *Area) handleImportPage(c *gin.Context) {
	a.s.Render(c, "fiber/import.html", gin.H{"Title": "Import GeoJSON", "Kinds": Kinds})
}

func (a *Area) handleImportForm(c *gin.Context) {
	fh, err := c.FormFile("file")
	if err != nil {
		a.s.FormError(c, hub.Errorf(hub.EINVALID, "choose a GeoJSON file"), "/admin/network/import")
		return
	}
	f, err := fh.Open()
	if err != nil {
		web.Error(c, err)
		return
	}
	defer f.Close()
	res, err := a.Svc.Import(c.Request.Context(), f, hub.PrincipalFrom(c.Request.Context()), nil)
	var ie *ImportError
	if errors.As(err, &ie) {
		c.Status(http.StatusUnprocessableEntity)
		a.s.Render(c, "fiber/import.html", gin.H{"Title": "Import GeoJSON", "Kinds": Kinds, "ImportError": ie, "File": fh.Filename})
		return
	}
	if err != nil {
		a.s.FormError(c, err, "/admin/network/import")
		return
	}
	a.s.Render(c, "fiber/import.html", gin.H{"Title": "Import GeoJSON", "Kinds": Kinds, "Result": res, "File": fh.Filename})
}
