package survey

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/field"
)

// Area is the surveys' web area.
type Area struct {
	Svc *Service
	s   *web.Server
}

// NewArea returns the area of svc.
func NewArea(svc *Service) *Area { return &Area{Svc: svc} }

// Routes registers the survey API and pages.
func (a *Area) Routes(s *web.Server) {
	a.s = s
	r := s.API
	r.GET("/site-surveys", web.Perm("survey:site:read"), a.handleSurveyIndex)
	r.POST("/site-surveys", web.Perm("survey:site:write"), a.handleSurveyCreate)
	r.GET("/site-surveys/:id", web.Perm("survey:site:read"), a.handleSurveyView)
	r.PATCH("/site-surveys/:id", web.Perm("survey:site:write"), a.handleSurveyUpdate)
	r.GET("/site-surveys/:id/geojson", web.Perm("survey:site:read"), a.handleSurveyGeoJSON)
	r.POST("/site-surveys/:id/points", web.Perm("survey:site:write"), a.handlePointCreate)
	r.PUT("/site-surveys/:id/points/:point_id", web.Perm("survey:site:write"), a.handlePointUpdate)
	r.DELETE("/site-surveys/:id/points/:point_id", web.Perm("survey:site:write"), a.handlePointDelete)
	r.POST("/site-surveys/:id/los", web.Perm("survey:site:write"), a.handlePathAnalyze)

	r.GET("/survey-templates", web.Perm("survey:form:read"), a.handleTemplateIndex)
	r.POST("/survey-templates", web.Perm("survey:form:write"), a.handleTemplateCreate)
	r.GET("/survey-templates/:id", web.Perm("survey:form:read"), a.handleTemplateView)
	r.PUT("/survey-templates/:id", web.Perm("survey:form:write"), a.handleTemplateUpdate)
	r.GET("/work-orders/:id/survey", web.Perm("operations:work_order:read"), a.handleWorkOrderSurvey)
	r.GET("/work-orders/:id/fiber-tests", web.Perm("operations:work_order:read"), a.handleWorkOrderFiberTests)
	r.GET("/fiber-tests", web.Perm("network:fiber:read"), a.handleFiberTestIndex)

	r.GET("/field/jobs/:id/survey", web.Perm("field:job:read"), a.handleFieldSurvey)
	r.POST("/field/jobs/:id/survey", web.Perm("field:survey:write"), a.handleFieldSurveySubmit)
	r.POST("/field/fiber/tests", web.Perm("field:fiber:test"), a.handleFieldFiberTest)

	a.pages(s)
}

func actor(c *gin.Context) string {
	if p := hub.PrincipalFrom(c.Request.Context()); p != nil {
		return p.PersonID
	}
	return ""
}

func (a *Area) handleSurveyIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	ss, total, err := a.Svc.FindSurveys(c.Request.Context(), c.Query("status"), limit, offset)
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ss, total, limit, offset)
}

func (a *Area) handleSurveyCreate(c *gin.Context) {
	var in SurveyInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	sv, err := a.Svc.CreateSurvey(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, sv)
}

func (a *Area) handleSurveyView(c *gin.Context) {
	sv, err := a.Svc.FindSurveyByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, sv)
}

func (a *Area) handleSurveyUpdate(c *gin.Context) {
	var in SurveyInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	sv, err := a.Svc.UpdateSurvey(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, sv)
}

func (a *Area) handleSurveyGeoJSON(c *gin.Context) {
	sv, err := a.Svc.FindSurveyByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, sv.GeoJSON())
}

func (a *Area) handlePointCreate(c *gin.Context) {
	var in PointInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	p, err := a.Svc.AddPoint(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, p)
}

func (a *Area) handlePointUpdate(c *gin.Context) {
	var in PointInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	p, err := a.Svc.UpdatePoint(c.Request.Context(), c.Param("id"), c.Param("point_id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *Area) handlePointDelete(c *gin.Context) {
	if err := a.Svc.DeletePoint(c.Request.Context(), c.Param("id"), c.Param("point_id")); err != nil {
		web.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *Area) handlePathAnalyze(c *gin.Context) {
	var in PathRequest
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	p, err := a.Svc.AnalyzePath(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *Area) handleTemplateIndex(c *gin.Context) {
	ts, err := a.Svc.FindTemplates(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ts, len(ts), len(ts), 0)
}

func (a *Area) handleTemplateCreate(c *gin.Context) {
	var in TemplateInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	t, err := a.Svc.CreateTemplate(c.Request.Context(), actor(c), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, t)
}

func (a *Area) handleTemplateView(c *gin.Context) {
	t, err := a.Svc.FindTemplateByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (a *Area) handleTemplateUpdate(c *gin.Context) {
	var in TemplateInput
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	t, err := a.Svc.UpdateTemplate(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (a *Area) handleWorkOrderSurvey(c *gin.Context) {
	sv, err := a.Svc.JobSurvey(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"survey": sv})
}

func (a *Area) handleWorkOrderFiberTests(c *gin.Context) {
	ts, err := a.Svc.FindFiberTests(c.Request.Context(), c.Param("id"), "")
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ts, len(ts), len(ts), 0)
}

func (a *Area) handleFiberTestIndex(c *gin.Context) {
	ts, err := a.Svc.FindFiberTests(c.Request.Context(), c.Query("work_order_id"), c.Query("asset_id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	web.List(c, ts, len(ts), len(ts), 0)
}

func (a *Area) handleFieldSurvey(c *gin.Context) {
	sv, err := a.Svc.FieldSurvey(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"survey": sv})
}

func (a *Area) handleFieldSurveySubmit(c *gin.Context) {
	var in field.SurveyRequest
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	sv, err := a.Svc.SubmitSurvey(c.Request.Context(), actor(c), c.GetHeader("X-Device-ID"), c.Param("id"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"survey": sv})
}

func (a *Area) handleFieldFiberTest(c *gin.Context) {
	var in FiberTestRequest
	if err := web.BindJSON(c, &in); err != nil {
		web.Error(c, err)
		return
	}
	t, err := a.Svc.RecordFiberTest(c.Request.Context(), actor(c), c.GetHeader("X-Device-ID"), in)
	if err != nil {
		web.Error(c, err)
		return
	}
	status := http.StatusCreated
	if t.Replayed {
		status = http.StatusOK
	}
	c.JSON(status, t)
}
