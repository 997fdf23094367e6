package inventory

import (
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

//go:embed templates
var templateFS embed.FS

func (a *Area) pages(s *web.Server) {
	s.AddPages(templateFS, "templates")
	r := s.Admin
	r.GET("/inventory/stock", web.Perm("inventory:stock:read"), a.pageStock)
	r.GET("/inventory/stock.csv", web.Perm("inventory:stock:read"), a.pageStockCSV)
	r.POST("/inventory/stock/adjust", web.Perm("inventory:stock:write"), a.formAdjust)
	r.POST("/inventory/stock/threshold", web.Perm("inventory:stock:write"), a.formThreshold)
	r.POST("/inventory/transfers", web.Perm("inventory:transfer:write"), a.formTransfer)
	r.GET("/inventory/items", web.Perm("inventory:item:read"), a.pageItems)
	r.POST("/inventory/items", web.Perm("inventory:item:write"), a.formItem)
	r.GET("/inventory/items/:id", web.Perm("inventory:item:read"), a.pageItem)
	r.POST("/inventory/items/:id", web.Perm("inventory:item:write"), a.formItemEdit)
	r.POST("/inventory/items/:id/active", web.Perm("inventory:item:write"), a.formItemActive)
	r.GET("/inventory/locations", web.Perm("inventory:stock:read"), a.pageLocations)
	r.POST("/inventory/locations", web.Perm("inventory:location:write"), a.formLocation)
	r.GET("/inventory/locations/:id", web.Perm("inventory:stock:read"), a.pageLocation)
	r.POST("/inventory/locations/:id", web.Perm("inventory:location:write"), a.formLocationEdit)
	r.POST("/inventory/locations/:id/active", web.Perm("inventory:location:write"), a.formLocationActive)
	r.GET("/inventory/requests", web.Perm("operations:material_request:read"), a.pageRequests)
	r.POST("/inventory/requests", web.Perm("operations:material_request:write"), a.formRequest)
	r.GET("/inventory/requests/:id", web.Perm("operations:material_request:read"), a.pageRequest)
	r.POST("/inventory/requests/:id/:action", web.Perm("operations:material_request:write"), a.formRequestAction)
	r.GET("/inventory/alerts", web.Perm("inventory:stock:read"), a.pageAlerts)
	r.POST("/inventory/alerts/:id/resolve", web.Perm("inventory:stock:write"), a.formAlertResolve)

	s.AddNav("Inventory", "Stock", "/admin/inventory/stock", "inventory:stock:read")
	s.AddNav("Inventory", "Items", "/admin/inventory/items", "inventory:item:read")
	s.AddNav("Inventory", "Locations", "/admin/inventory/locations", "inventory:stock:read")
	s.AddNav("Inventory", "Material requests", "/admin/inventory/requests", "operations:material_request:read")
	s.AddNav("Inventory", "Alerts", "/admin/inventory/alerts", "inventory:stock:read")
	s.AddDashboardCard(func(c *gin.Context, p *hub.Principal) *web.DashboardCard {
		if !p.Can("inventory:stock:read") {
			return nil
		}
		_, n, err := a.Svc.FindAlerts(c.Request.Context(), AlertFilter{Status: "open", Limit: 1})
		if err != nil {
			return nil
		}
		return &web.DashboardCard{Title: "Stock alerts", Value: strconv.Itoa(n), Note: "open low-stock, negative and over-use alerts",
			Href: "/admin/inventory/alerts?status=open"}
	})
}

func parseQty(f hub.Fields, field, v string) float64 {
	q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		f.Add(field, "must be a number")
	}
	return q
}

func (a *Area) pageStock(c *gin.Context) {
	ctx := c.Request.Context()
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	f := StockFilter{LocationID: c.Query("location_id"), Kind: c.Query("kind"), LowOnly: c.Query("low") == "on", Limit: limit, Offset: offset}
	stock, total, err := a.Svc.FindStock(ctx, f)
	if err != nil {
		web.Error(c, err)
		return
	}
	locs, err := a.Svc.FindLocations(ctx, "")
	if err != nil {
		web.Error(c, err)
		return
	}
	items, _, err := a.Svc.FindItems(ctx, ItemFilter{Limit: 500})
	if err != nil {
		web.Error(c, err)
		return
	}
	q := "&location_id=" + f.LocationID + "&kind=" + f.Kind
	if f.LowOnly {
		q += "&low=on"
	}
	a.s.Render(c, "inventory/stock.html", gin.H{"Title": "Stock", "Stock": stock, "Total": total, "Limit": limit, "Offset": offset,
		"Filter": f, "Locations": locs, "Items": items, "Query": q, "CSVQuery": strings.TrimPrefix(q, "&")})
}

func (a *Area) pageStockCSV(c *gin.Context) {
	f := StockFilter{LocationID: c.Query("location_id"), Kind: c.Query("kind"), LowOnly: c.Query("low") == "on", Limit: 100000}
	stock, _, err := a.Svc.FindStock(c.Request.Context(), f)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="stock.csv"`)
	w := csv.NewWriter(c.Writer)
	w.Write([]string{"sku", "item", "unit", "location_code", "location", "kind", "on_hand", "reserved", "available", "reorder_level", "low"})
	for _, s := range stock {
		lvl := ""
		if s.ReorderLevel != nil {
			lvl = fmtQty(*s.ReorderLevel)
		}
		w.Write([]string{csvSafe(s.SKU), csvSafe(s.ItemName), csvSafe(s.Unit), csvSafe(s.LocationCode), csvSafe(s.LocationName), s.LocationKind,
			fmtQty(s.OnHand), fmtQty(s.Reserved), fmtQty(s.Available), lvl, strconv.FormatBool(s.Low)})
	}
	w.Flush()
}

// csvSafe keeps spreadsheet programs from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *Area) formAdjust(c *gin.Context) {
	f := hub.Fields{}
	in := Adjustment{ItemID: c.PostForm("item_id"), LocationID: c.PostForm("location_id"), Reason: c.PostForm("reason"),
		QuantityDelta: parseQty(f, "quantity_delta", c.PostForm("quantity_delta"))}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	st, err := a.Svc.AdjustStock(c.Request.Context(), actor(c), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	a.s.Flash(c, fmt.Sprintf("%s at %s: %s on hand, %s available", st.SKU, st.LocationName, fmtQty(st.OnHand), fmtQty(st.Available)))
	c.Redirect(http.StatusSeeOther, "/admin/inventory/stock")
}

func (a *Area) formThreshold(c *gin.Context) {
	f := hub.Fields{}
	in := Threshold{ItemID: c.PostForm("item_id"), LocationID: c.PostForm("location_id")}
	if v := strings.TrimSpace(c.PostForm("reorder_level")); v != "" {
		q := parseQty(f, "reorder_level", v)
		in.ReorderLevel = &q
	}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	st, err := a.Svc.SetThreshold(c.Request.Context(), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	a.s.Flash(c, fmt.Sprintf("Low-stock level of %s at %s saved", st.SKU, st.LocationName))
	c.Redirect(http.StatusSeeOther, "/admin/inventory/stock")
}

func (a *Area) formTransfer(c *gin.Context) {
	f := hub.Fields{}
	it := TransferItem{ItemID: c.PostForm("item_id"), Quantity: parseQty(f, "quantity", c.PostForm("quantity")),
		SerialNumbers: splitList(c.PostForm("serial_numbers"))}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	t, err := a.Svc.CreateTransfer(c.Request.Context(), actor(c), TransferCreate{FromLocationID: c.PostForm("from_location_id"),
		ToLocationID: c.PostForm("to_location_id"), Note: c.PostForm("note"), Items: []TransferItem{it}})
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/stock")
		return
	}
	a.s.Flash(c, fmt.Sprintf("Transfer %s: %s → %s", t.Number, t.FromLocationName, t.ToLocationName))
	c.Redirect(http.StatusSeeOther, "/admin/inventory/stock")
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (a *Area) pageItems(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindItems(c.Request.Context(), ItemFilter{Query: c.Query("q"), IncludeHidden: true, Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "inventory/items.html", gin.H{"Title": "Items", "Items": items, "Total": total, "Limit": limit, "Offset": offset,
		"Q": c.Query("q"), "QueryString": "&q=" + c.Query("q")})
}

func (a *Area) formItem(c *gin.Context) {
	f := hub.Fields{}
	in := ItemCreate{SKU: c.PostForm("sku"), Name: c.PostForm("name"), Unit: c.PostForm("unit"), Description: c.PostForm("description"),
		IsSerialized: c.PostForm("is_serialized") == "on"}
	if v := strings.TrimSpace(c.PostForm("unit_cost")); v != "" {
		q := parseQty(f, "unit_cost", v)
		in.UnitCost = &q
	}
	if v := strings.TrimSpace(c.PostForm("reorder_level")); v != "" {
		q := parseQty(f, "reorder_level", v)
		in.ReorderLevel = &q
	}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/inventory/items")
		return
	}
	it, err := a.Svc.CreateItem(c.Request.Context(), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/items")
		return
	}
	a.s.Flash(c, "Created "+it.SKU+" "+it.Name)
	c.Redirect(http.StatusSeeOther, "/admin/inventory/items")
}

func (a *Area) pageLocations(c *gin.Context) {
	ctx := c.Request.Context()
	locs, err := a.Svc.FindLocations(ctx, "")
	if err != nil {
		web.Error(c, err)
		return
	}
	techs, err := a.Svc.technicians(ctx)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "inventory/locations.html", gin.H{"Title": "Locations", "Locations": locs, "Technicians": techs})
}

func (a *Area) formLocation(c *gin.Context) {
	in := LocationCreate{Name: c.PostForm("name"), Code: c.PostForm("code"), Kind: c.PostForm("kind"), Address: c.PostForm("address")}
	if t := c.PostForm("technician_id"); t != "" {
		in.TechnicianID = &t
	}
	l, err := a.Svc.CreateLocation(c.Request.Context(), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/locations")
		return
	}
	a.s.Flash(c, "Created "+l.Code+" "+l.Name)
	c.Redirect(http.StatusSeeOther, "/admin/inventory/locations")
}

// person is a technician in a pick list.
type person struct{ ID, Name string }

func (s *Service) technicians(ctx context.Context) ([]person, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT DISTINCT p.id, p.display_name FROM people p JOIN person_roles pr ON pr.person_id = p.id
		JOIN roles r ON r.id = pr.role_id WHERE r.name = 'field_technician' AND p.status = 'active' ORDER BY p.display_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []person
	for rows.Next() {
		var p person
		if err := rows.Scan(&p.ID, &p.Name); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

var requestStatuses = []string{RequestDraft, RequestSubmitted, RequestApproved, RequestIssued, RequestFulfilled, RequestRejected, RequestCanceled}

func (a *Area) pageRequests(c *gin.Context) {
	ctx := c.Request.Context()
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	rs, total, err := a.Svc.FindMaterialRequests(ctx, RequestFilter{Status: c.Query("status"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	locs, err := a.Svc.FindLocations(ctx, "")
	if err != nil {
		web.Error(c, err)
		return
	}
	items, _, err := a.Svc.FindItems(ctx, ItemFilter{Limit: 500})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "inventory/requests.html", gin.H{"Title": "Material requests", "Requests": rs, "Total": total, "Limit": limit,
		"Offset": offset, "Status": c.Query("status"), "Statuses": requestStatuses, "Locations": locs, "Items": items,
		"QueryString": "&status=" + c.Query("status")})
}

func (a *Area) formRequest(c *gin.Context) {
	f := hub.Fields{}
	in := MaterialRequestCreate{Priority: c.PostForm("priority"), Notes: c.PostForm("notes"), Submit: c.PostForm("submit") == "on"}
	for _, p := range []struct {
		dst **string
		key string
	}{{&in.SourceLocationID, "source_location_id"}, {&in.DestinationLocationID, "destination_location_id"}, {&in.WorkOrderID, "work_order_id"}} {
		if v := strings.TrimSpace(c.PostForm(p.key)); v != "" {
			*p.dst = &v
		}
	}
	ids, qtys := c.PostFormArray("item_id"), c.PostFormArray("quantity")
	for i, id := range ids {
		if id == "" || i >= len(qtys) || strings.TrimSpace(qtys[i]) == "" {
			continue
		}
		in.Items = append(in.Items, MaterialRequestItem{ItemID: id, Quantity: parseQty(f, fmt.Sprintf("items[%d].quantity", i), qtys[i])})
	}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/inventory/requests")
		return
	}
	r, err := a.Svc.CreateMaterialRequest(c.Request.Context(), actor(c), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/inventory/requests")
		return
	}
	a.s.Flash(c, "Created "+r.Number)
	c.Redirect(http.StatusSeeOther, "/admin/inventory/requests/"+r.ID)
}

// requestActions are the buttons a request shows in a status.
func requestActions(status string) []string {
	var out []string
	for _, act := range []string{ActionSubmit, ActionApprove, ActionIssue, ActionFulfill, ActionReject, ActionCancel} {
		if contains(requestFlow[act].from, status) {
			out = append(out, act)
		}
	}
	return out
}

func (a *Area) pageRequest(c *gin.Context) {
	ctx := c.Request.Context()
	r, err := a.Svc.FindMaterialRequestByID(ctx, c.Param("id"))
	if err != nil {
		if hub.ErrorCode(err) == hub.ENOTFOUND {
			c.Status(http.StatusNotFound)
		}
		web.Error(c, err)
		return
	}
	locs, err := a.Svc.FindLocations(ctx, KindWarehouse)
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "inventory/request.html", gin.H{"Title": "Material request " + r.Number, "R": r, "Actions": requestActions(r.Status),
		"Warehouses": locs})
}

// actionPerm is the permission each request action needs beyond operations:material_request:write.
var actionPerm = map[string]string{ActionApprove: "operations:material_request:approve", ActionReject: "operations:material_request:approve",
	ActionIssue: "inventory:transfer:write"}

func (a *Area) formRequestAction(c *gin.Context) {
	id, action := c.Param("id"), c.Param("action")
	back := "/admin/inventory/requests/" + id
	if _, ok := requestFlow[action]; !ok {
		a.s.FormError(c, hub.Errorf(hub.EINVALID, "no such action"), back)
		return
	}
	if perm := actionPerm[action]; perm != "" && !hub.PrincipalFrom(c.Request.Context()).Can(perm) {
		a.s.FormError(c, hub.Errorf(hub.EFORBIDDEN, "you do not have the permission %s", perm), back)
		return
	}
	in := RequestAction{Reason: c.PostForm("reason")}
	if v := c.PostForm("source_location_id"); v != "" {
		in.SourceLocationID = &v
	}
	if action == ActionIssue {
		in.SerialNumbers = map[string][]string{}
		for key, vals := range c.Request.PostForm {
			if item, ok := strings.CutPrefix(key, "serials_"); ok && len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
				in.SerialNumbers[item] = splitList(vals[0])
			}
		}
	}
	r, err := a.Svc.ActRequest(c.Request.Context(), actor(c), id, action, in)
	if err != nil {
		a.s.FormError(c, err, back)
		return
	}
	a.s.Flash(c, r.Number+" is "+r.Status)
	c.Redirect(http.StatusSeeOther, back)
}

func (a *Area) pageAlerts(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	status := c.DefaultQuery("status", "open")
	if status == "all" {
		status = ""
	}
	as, total, err := a.Svc.FindAlerts(c.Request.Context(), AlertFilter{Status: status, Kind: c.Query("kind"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "inventory/alerts.html", gin.H{"Title": "Stock alerts", "Alerts": as, "Total": total, "Limit": limit, "Offset": offset,
		"Status": c.DefaultQuery("status", "open"), "Kind": c.Query("kind"),
		"QueryString": "&status=" + c.DefaultQuery("status", "open") + "&kind=" + c.Query("kind")})
}

func (a *Area) formAlertResolve(c *gin.Context) {
	if err := a.Svc.ResolveAlert(c.Request.Context(), actor(c), c.Param("id"), c.PostForm("note")); err != nil {
		a.s.FormError(c, err, "/admin/inventory/alerts")
		return
	}
	a.s.Flash(c, "Alert resolved")
	c.Redirect(http.StatusSeeOther, "/admin/inventory/alerts")
}
