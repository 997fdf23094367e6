package dispatch

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
)

// The dispatch rules page (/admin/operations/dispatch/rules): the rules in the order auto-assign
// tries them, a form to add one, and an edit form per rule, with field messages.

// ruleForm is the form's state: what the dispatcher typed, kept when it is refused.
type ruleForm struct {
	ID, Name, Priority, WorkType, WorkPriority, Region string
	SkillIDs                                           []string
	AutoAssign, IsActive                               bool
}

func (f ruleForm) Has(skill string) bool { return contains(f.SkillIDs, skill) }

func ruleFormOf(r *Rule) ruleForm {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return ruleForm{ID: r.ID, Name: r.Name, Priority: strconv.Itoa(r.Priority), WorkType: s(r.WorkType), WorkPriority: s(r.WorkPriority),
		Region: s(r.Region), SkillIDs: r.SkillIDs, AutoAssign: r.AutoAssign, IsActive: r.IsActive}
}

func readRuleForm(c *gin.Context) (ruleForm, RuleInput, error) {
	f := ruleForm{Name: strings.TrimSpace(c.PostForm("name")), Priority: strings.TrimSpace(c.PostForm("priority")),
		WorkType: c.PostForm("work_type"), WorkPriority: c.PostForm("work_priority"), Region: strings.TrimSpace(c.PostForm("region")),
		SkillIDs: c.PostFormArray("skill_ids"), AutoAssign: c.PostForm("auto_assign") == "on", IsActive: c.PostForm("is_active") == "on"}
	in := RuleInput{Name: &f.Name, WorkType: &f.WorkType, WorkPriority: &f.WorkPriority, Region: &f.Region, SkillIDs: &f.SkillIDs,
		AutoAssign: &f.AutoAssign, IsActive: &f.IsActive}
	if f.Priority == "" {
		zero := 0
		in.Priority = &zero
	} else if n, err := strconv.Atoi(f.Priority); err != nil {
		return f, in, hub.Invalid(map[string]string{"priority": "must be a whole number from -1000 to 1000"})
	} else {
		in.Priority = &n
	}
	return f, in, nil
}

func (a *Area) renderRules(c *gin.Context, status int, form ruleForm, err error) {
	rules, lerr := a.Svc.FindRules(c.Request.Context(), false)
	if lerr != nil {
		web.Error(c, lerr)
		return
	}
	skills, lerr := a.Svc.FindSkills(c.Request.Context())
	if lerr != nil {
		web.Error(c, lerr)
		return
	}
	names := map[string]string{}
	for _, s := range skills {
		names[s.ID] = s.Name
	}
	p := hub.PrincipalFrom(c.Request.Context())
	data := gin.H{"Title": "Dispatch rules", "Rules": rules, "Form": form, "Skills": skills, "SkillNames": names,
		"WorkTypes": WorkTypes, "Priorities": Priorities, "CanEdit": p.Can(permDispatch)}
	a.s.RenderForm(c, status, "dispatch/rules.html", data, err)
}

func (a *Area) pageRules(c *gin.Context) {
	a.renderRules(c, http.StatusOK, ruleForm{AutoAssign: true, IsActive: true, Priority: "0"}, nil)
}

func (a *Area) pageRuleEdit(c *gin.Context) {
	r, err := a.Svc.FindRuleByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		web.Error(c, err)
		return
	}
	a.renderRules(c, http.StatusOK, ruleFormOf(r), nil)
}

func (a *Area) pageRuleSave(c *gin.Context) {
	f, in, err := readRuleForm(c)
	f.ID = c.Param("id")
	if err == nil {
		if f.ID == "" {
			_, err = a.Svc.CreateRule(c.Request.Context(), in)
		} else {
			_, err = a.Svc.UpdateRule(c.Request.Context(), f.ID, in)
		}
	}
	if err != nil {
		a.renderRules(c, web.StatusFor(hub.ErrorCode(err)), f, err)
		return
	}
	if f.ID == "" {
		a.s.Flash(c, "Rule added")
	} else {
		a.s.Flash(c, "Rule saved")
	}
	c.Redirect(http.StatusSeeOther, "/admin/operations/dispatch/rules")
}

func (a *Area) pageRuleDelete(c *gin.Context) {
	if err := a.Svc.DeleteRule(c.Request.Context(), c.Param("id")); err != nil {
		web.Error(c, err)
		return
	}
	a.s.Flash(c, "Rule deleted")
	c.Redirect(http.StatusSeeOther, "/admin/operations/dispatch/rules")
}
