package survey

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/field"
)

//go:embed templates
var templateFS embed.FS

func (a *Area) pages(s *web.Server) {
	s.AddPages(templateFS, "templates")
	r := s.Admin
	r.GET("/network/surveys", web.Perm("survey:site:read"), a.pageSurveys)
	r.POST("/network/surveys", web.Perm("survey:site:write"), a.formSurvey)
	r.GET("/network/surveys/:id", web.Perm("survey:site:read"), a.pageSurvey)
	r.POST("/network/surveys/:id/status", web.Perm("survey:site:write"), a.formSurveyStatus)
	r.POST("/network/surveys/:id/points", web.Perm("survey:site:write"), a.formPoint)
	r.POST("/network/surveys/:id/points/:point_id/delete", web.Perm("survey:site:write"), a.formPointDelete)
	r.POST("/network/surveys/:id/los", web.Perm("survey:site:write"), a.formPath)
	r.GET("/network/survey-forms", web.Perm("survey:form:read"), a.pageTemplates)
	r.GET("/network/survey-forms/new", web.Perm("survey:form:write"), a.pageTemplate)
	r.POST("/network/survey-forms", web.Perm("survey:form:write"), a.formTemplate)
	r.GET("/network/survey-forms/:id", web.Perm("survey:form:read"), a.pageTemplate)
	r.POST("/network/survey-forms/:id", web.Perm("survey:form:write"), a.formTemplate)

	s.AddNav("Network", "Surveys", "/admin/network/surveys", "survey:site:read")
	s.AddNav("Network", "Survey forms", "/admin/network/survey-forms", "survey:form:read")
}

func (a *Area) pageSurveys(c *gin.Context) {
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
	a.s.Render(c, "survey/surveys.html", gin.H{"Title": "Site surveys", "Surveys": ss, "Total": total, "Limit": limit, "Offset": offset,
		"Status": c.Query("status"), "Statuses": Statuses, "QueryString": "&status=" + c.Query("status")})
}

func formFloat(f hub.Fields, c *gin.Context, key string) *float64 {
	v := strings.TrimSpace(c.PostForm(key))
	if v == "" {
		return nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		f.Add(key, "must be a number")
		return nil
	}
	return &x
}

func (a *Area) formSurvey(c *gin.Context) {
	f := hub.Fields{}
	name, desc := c.PostForm("name"), c.PostForm("description")
	in := SurveyInput{Name: &name, Description: &desc, FrequencyMHz: formFloat(f, c, "frequency_mhz"),
		RxSensitivityDBm: formFloat(f, c, "rx_sensitivity_dbm"), DefaultAntennaHeightM: formFloat(f, c, "default_antenna_height_m"),
		DefaultTxPowerDBm: formFloat(f, c, "default_tx_power_dbm")}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, "/admin/network/surveys")
		return
	}
	sv, err := a.Svc.CreateSurvey(c.Request.Context(), hubActor(c), in)
	if err != nil {
		a.s.FormError(c, err, "/admin/network/surveys")
		return
	}
	a.s.Flash(c, "Created "+sv.Name)
	c.Redirect(http.StatusSeeOther, "/admin/network/surveys/"+sv.ID)
}

func hubActor(c *gin.Context) string { return actor(c) }

func (a *Area) pageSurvey(c *gin.Context) {
	sv, err := a.Svc.FindSurveyByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "survey/survey.html", gin.H{"Title": sv.Name, "S": sv, "Next": statusFlow[sv.Status], "PointTypes": PointTypes,
		"GeoJSON": sv.GeoJSON()})
}

func (a *Area) formSurveyStatus(c *gin.Context) {
	back := "/admin/network/surveys/" + c.Param("id")
	st := c.PostForm("status")
	if _, err := a.Svc.UpdateSurvey(c.Request.Context(), c.Param("id"), SurveyInput{Status: &st}); err != nil {
		a.s.FormError(c, err, back)
		return
	}
	a.s.Flash(c, "Status set to "+strings.ReplaceAll(st, "_", " "))
	c.Redirect(http.StatusSeeOther, back)
}

func (a *Area) formPoint(c *gin.Context) {
	back := "/admin/network/surveys/" + c.Param("id")
	f := hub.Fields{}
	in := PointInput{Name: c.PostForm("name"), PointType: c.PostForm("point_type"), Lat: formFloat(f, c, "lat"), Lon: formFloat(f, c, "lon"),
		GroundElevationM: formFloat(f, c, "ground_elevation_m"), AntennaHeightM: formFloat(f, c, "antenna_height_m"),
		AntennaGainDBi: formFloat(f, c, "antenna_gain_dbi"), TxPowerDBm: formFloat(f, c, "tx_power_dbm"), Notes: c.PostForm("notes")}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, back)
		return
	}
	p, err := a.Svc.AddPoint(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		a.s.FormError(c, err, back)
		return
	}
	a.s.Flash(c, "Added "+p.Name)
	c.Redirect(http.StatusSeeOther, back)
}

func (a *Area) formPointDelete(c *gin.Context) {
	back := "/admin/network/surveys/" + c.Param("id")
	if err := a.Svc.DeletePoint(c.Request.Context(), c.Param("id"), c.Param("point_id")); err != nil {
		a.s.FormError(c, err, back)
		return
	}
	a.s.Flash(c, "Point removed")
	c.Redirect(http.StatusSeeOther, back)
}

// parseProfile reads "distance_m, elevation_m" lines.
func parseProfile(text string) ([]ProfileSample, error) {
	var out []ProfileSample
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' })
		if len(parts) != 2 {
			return nil, hub.Invalid(map[string]string{"profile": fmt.Sprintf("line %d: want distance_m, elevation_m", i+1)})
		}
		d, err1 := strconv.ParseFloat(parts[0], 64)
		e, err2 := strconv.ParseFloat(parts[1], 64)
		if err1 != nil || err2 != nil {
			return nil, hub.Invalid(map[string]string{"profile": fmt.Sprintf("line %d: numbers expected", i+1)})
		}
		out = append(out, ProfileSample{DistanceM: d, ElevationM: e})
	}
	return out, nil
}

func (a *Area) formPath(c *gin.Context) {
	back := "/admin/network/surveys/" + c.Param("id")
	prof, err := parseProfile(c.PostForm("profile"))
	if err != nil {
		a.s.FormError(c, err, back)
		return
	}
	f := hub.Fields{}
	in := PathRequest{FromPointID: c.PostForm("from_point_id"), ToPointID: c.PostForm("to_point_id"), Profile: prof,
		FrequencyMHz: formFloat(f, c, "frequency_mhz")}
	if err := f.Err(); err != nil {
		a.s.FormError(c, err, back)
		return
	}
	p, err := a.Svc.AnalyzePath(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		a.s.FormError(c, err, back)
		return
	}
	verdict := "clear"
	switch {
	case !p.HasClearLOS:
		verdict = "obstructed"
	case !p.FresnelClear:
		verdict = "Fresnel zone partly blocked"
	}
	a.s.Flash(c, fmt.Sprintf("%s → %s: %.0f m, %s, RSSI %.1f dBm, fade margin %.1f dB", p.FromName, p.ToName, p.DistanceM, verdict,
		p.EstimatedRSSIDBm, p.FadeMarginDB))
	c.Redirect(http.StatusSeeOther, back)
}

func (a *Area) pageTemplates(c *gin.Context) {
	ts, err := a.Svc.FindTemplates(c.Request.Context())
	if err != nil {
		web.Error(c, err)
		return
	}
	a.s.Render(c, "survey/templates.html", gin.H{"Title": "Survey forms", "Templates": ts})
}

func (a *Area) pageTemplate(c *gin.Context) {
	t := &Template{IsActive: true, Questions: []field.Question{{ID: "q1", Type: field.QuestionText, Required: true}}}
	if id := c.Param("id"); id != "" {
		var err error
		if t, err = a.Svc.FindTemplateByID(c.Request.Context(), id); err != nil {
			web.Error(c, err)
			return
		}
	}
	title := "New survey form"
	if t.ID != "" {
		title = t.Name
	}
	wt := ""
	if t.WorkType != nil {
		wt = *t.WorkType
	}
	a.s.Render(c, "survey/template.html", gin.H{"Title": title, "T": t, "WorkType": wt, "WorkTypes": WorkTypes, "Types": QuestionTypes})
}

func (a *Area) formTemplate(c *gin.Context) {
	id := c.Param("id")
	back := "/admin/network/survey-forms/new"
	if id != "" {
		back = "/admin/network/survey-forms/" + id
	}
	in := TemplateInput{Name: c.PostForm("name"), Description: c.PostForm("description")}
	if wt := c.PostForm("work_type"); wt != "" {
		in.WorkType = &wt
	}
	active := c.PostForm("is_active") == "on"
	in.IsActive = &active
	if err := json.Unmarshal([]byte(c.PostForm("questions_json")), &in.Questions); err != nil {
		a.s.FormError(c, hub.Invalid(map[string]string{"questions": "could not be read"}), back)
		return
	}
	var t *Template
	var err error
	if id == "" {
		t, err = a.Svc.CreateTemplate(c.Request.Context(), actor(c), in)
	} else {
		t, err = a.Svc.UpdateTemplate(c.Request.Context(), id, in)
	}
	if err != nil {
		a.s.FormError(c, err, back)
		return
	}
	a.s.Flash(c, "Saved "+t.Name)
	c.Redirect(http.StatusSeeOther, "/admin/network/survey-forms/"+t.ID)
}
