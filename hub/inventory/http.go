package inventory

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/field"
)

// Area is the inventory's web area: the JSON API and the admin pages.
type Area struct {
	Svc *Service
	s   *web.Server
}

// NewArea returns the area of svc.
func NewArea(svc *Service) *Area { return &Area{Svc: svc} }

// Routes registers the inventory API and pages.
func (a *Area) Routes(s *web.Server) {
	a.s = s
	r := s.API
	r.GET("/inventory/items", web.Perm("inventory:item:read"), a.handleItemIndex)
	r.POST("/inventory/items", web.Perm("inventory:item:write"), a.handleItemCreate)
	r.GET("/inventory/items/:id", web.Perm("inventory:item:read"), a.handleItemView)
	r.PATCH("/inventory/items/:id", web.Perm("inventory:item:write"), a.handleItemUpdate)
	r.GET("/inventory/locations", web.Perm("inventory:stock:read"), a.handleLocationIndex)
	r.POST("/inventory/locations", web.Perm("inventory:location:write"), a.handleLocationCreate)
	r.GET("/inventory/locations/:id", web.Perm("inventory:stock:read"), a.handleLocationView)
	r.PATCH("/inventory/locations/:id", web.Perm("inventory:location:write"), a.handleLocationUpdate)
	r.GET("/inventory/stock", web.Perm("inventory:stock:read"), a.handleStockIndex)
	r.POST("/inventory/stock/adjust", web.Perm("inventory:stock:write"), a.handleStockAdjust)
	r.POST("/inventory/stock/threshold", web.Perm("inventory:stock:write"), a.handleStockThreshold)
	r.GET("/inventory/movements", web.Perm("inventory:stock:read"), a.handleMovementIndex)
	r.GET("/inventory/transfers", web.Perm("inventory:stock:read"), a.handleTransferIndex)
	r.POST("/inventory/transfers", web.Perm("inventory:transfer:write"), a.handleTransferCreate)
	r.GET("/inventory/transfers/:id", web.Perm("inventory:stock:read"), a.handleTransferView)
	r.GET("/inventory/alerts", web.Perm("inventory:stock:read"), a.handleAlertIndex)
	r.POST("/inventory/alerts/:id/resolve", web.Perm("inventory:stock:write"), a.handleAlertResolve)

	r.GET("/material-requests", web.Perm("operations:material_request:read"), a.handleRequestIndex)
	r.POST("/material-requests", web.Perm("operations:material_request:write"), a.handleRequestCreate)
	r.GET("/material-requests/:id", web.Perm("operations:material_request:read"), a.handleRequestView)
	r.POST("/material-requests/:id/submit", web.Perm("operations:material_request:write"), a.handleRequestAction(ActionSubmit))
	r.POST("/material-requests/:id/approve", web.Perm("operations:material_request:approve"), a.handleRequestAction(ActionApprove))
	r.POST("/material-requests/:id/reject", web.Perm("operations:material_request:approve"), a.handleRequestAction(ActionReject))
	r.POST("/material-requests/:id/issue", web.Perm("inventory:transfer:write"), a.handleRequestAction(ActionIssue))
	r.POST("/material-requests/:id/fulfill", web.Perm("operations:material_request:write"), a.handleRequestAction(ActionFulfill))
	r.POST("/material-requests/:id/cancel", web.Perm("operations:material_request:write"), a.handleRequestAction(ActionCancel))

	r.GET("/work-orders/:id/materials", web.Perm("operations:work_order:read"), a.handleMaterialIndex)
	r.POST("/work-orders/:id/materials", web.Perm("inventory:reservation:write"), a.handleMaterialCreate)
	r.POST("/work-orders/:id/materials/:material_id/release", web.Perm("inventory:reservation:write"), a.handleMaterialRelease)

	r.GET("/field/jobs/:id/materials", web.Perm("field:job:read"), a.handleFieldMaterials)
	r.POST("/field/jobs/:id/materials/consume", web.Perm("field:material:confirm"), a.handleFieldConsume)

	a.pages(s)
}

func actor(c *gin.Context) string {
	if p := hub.PrincipalFrom(c.Request.Context()); p != nil {
		return p.PersonID
	}
	return ""
}

func (a *Area) handleItemIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, err := a.Svc.FindItems(c.Request.Context(), ItemFilter{Query: c.Query("q"), IncludeHidden: c.Query("all") == "true",
		Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, items, total, limit, offset)
}

func (a *Area) handleItemCreate(c *gin.Context) {
	var in ItemCreate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	it, err := a.Svc.CreateItem(c.Request.Context(), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, it)
}

func (a *Area) handleItemView(c *gin.Context) {
	it, err := a.Svc.FindItemByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (a *Area) handleItemUpdate(c *gin.Context) {
	var in ItemUpdate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	it, err := a.Svc.UpdateItem(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (a *Area) handleLocationUpdate(c *gin.Context) {
	var in LocationUpdate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	l, err := a.Svc.UpdateLocation(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func (a *Area) handleLocationIndex(c *gin.Context) {
	kind := c.Query("kind")
	if kind != "" && kind != KindVan && kind != KindWarehouse {
		web.Error(c, hub.Invalid(map[string]string{"kind": "must be warehouse or van"}))
		return
	}
	ls, err := a.Svc.FindLocations(c.Request.Context(), kind)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ls, len(ls), len(ls), 0)
}

func (a *Area) handleLocationCreate(c *gin.Context) {
	var in LocationCreate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	l, err := a.Svc.CreateLocation(c.Request.Context(), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

func (a *Area) handleLocationView(c *gin.Context) {
	l, err := a.Svc.FindLocationByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func (a *Area) handleStockIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	st, total, err := a.Svc.FindStock(c.Request.Context(), StockFilter{ItemID: c.Query("item_id"), LocationID: c.Query("location_id"),
		Kind: c.Query("kind"), LowOnly: c.Query("low") == "true", Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, st, total, limit, offset)
}

func (a *Area) handleStockAdjust(c *gin.Context) {
	var in Adjustment
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	st, err := a.Svc.AdjustStock(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *Area) handleStockThreshold(c *gin.Context) {
	var in Threshold
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	st, err := a.Svc.SetThreshold(c.Request.Context(), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *Area) handleMovementIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	ms, total, err := a.Svc.FindMovements(c.Request.Context(), MovementFilter{ItemID: c.Query("item_id"), LocationID: c.Query("location_id"),
		WorkOrderID: c.Query("work_order_id"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ms, total, limit, offset)
}

func (a *Area) handleTransferIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	ts, total, err := a.Svc.FindTransfers(c.Request.Context(), limit, offset)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ts, total, limit, offset)
}

func (a *Area) handleTransferCreate(c *gin.Context) {
	var in TransferCreate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	t, err := a.Svc.CreateTransfer(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, t)
}

func (a *Area) handleTransferView(c *gin.Context) {
	t, err := a.Svc.FindTransferByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (a *Area) handleAlertIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	as, total, err := a.Svc.FindAlerts(c.Request.Context(), AlertFilter{Status: c.Query("status"), Kind: c.Query("kind"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, as, total, limit, offset)
}

func (a *Area) handleAlertResolve(c *gin.Context) {
	var in struct {
		Note string `json:"note"`
	}
	if c.Request.ContentLength != 0 {
		if err := web.BindJSON(c, &in); err != nil {
			web.Error(c, err)
			return
		}
	}
	if err := a.Svc.ResolveAlert(c.Request.Context(), actor(c), c.Param("id"), in.Note); err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": c.Param("id"), "status": "resolved"})
}

func (a *Area) handleRequestIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	rs, total, err := a.Svc.FindMaterialRequests(c.Request.Context(), RequestFilter{Status: c.Query("status"),
		WorkOrderID: c.Query("work_order_id"), Limit: limit, Offset: offset})
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, rs, total, limit, offset)
}

func (a *Area) handleRequestCreate(c *gin.Context) {
	var in MaterialRequestCreate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	r, err := a.Svc.CreateMaterialRequest(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

func (a *Area) handleRequestView(c *gin.Context) {
	r, err := a.Svc.FindMaterialRequestByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (a *Area) handleRequestAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in RequestAction
		if c.Request.ContentLength != 0 {
			if err := web.BindJSON(c, &in); err != nil {
				web.Error(c, err)
				return
			}
		}
		r, err := a.Svc.ActRequest(c.Request.Context(), actor(c), c.Param("id"), action, in)
		if err != nil {
			web.Error(c, err)
			return
		}
		c.JSON(http.StatusOK, r)
	}
}

func (a *Area) handleMaterialIndex(c *gin.Context) {
	ms, err := a.Svc.FindMaterials(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ms, len(ms), len(ms), 0)
}

func (a *Area) handleMaterialCreate(c *gin.Context) {
	var in MaterialCreate
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	m, err := a.Svc.AddMaterial(c.Request.Context(), actor(c), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, m)
}

func (a *Area) handleMaterialRelease(c *gin.Context) {
	m, err := a.Svc.ReleaseMaterial(c.Request.Context(), actor(c), c.Param("id"), c.Param("material_id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

func (a *Area) handleFieldMaterials(c *gin.Context) {
	ms, err := a.Svc.FieldMaterials(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, field.ConsumeResponse{Materials: ms})
}

func (a *Area) handleFieldConsume(c *gin.Context) {
	var in field.ConsumeRequest
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	res, err := a.Svc.ConsumeMaterials(c.Request.Context(), actor(c), c.GetHeader("X-Device-ID"), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}
