package dispatch

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Rule is a dispatch rule: which orders it matches (nil = any) and what auto-assign does for them.
type Rule struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Priority     int       `json:"priority"`
	WorkType     *string   `json:"work_type"`
	WorkPriority *string   `json:"work_priority"`
	Region       *string   `json:"region"`
	SkillIDs     []string  `json:"skill_ids"`
	AutoAssign   bool      `json:"auto_assign"`
	IsActive     bool      `json:"is_active"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func (r *Rule) label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// RuleInput creates or patches a rule; nil fields are left as they are (or defaulted on create).
// For the optional matchers, an empty string clears the matcher ("any").
type RuleInput struct {
	Name         *string   `json:"name"`
	Priority     *int      `json:"priority"`
	WorkType     *string   `json:"work_type"`
	WorkPriority *string   `json:"work_priority"`
	Region       *string   `json:"region"`
	SkillIDs     *[]string `json:"skill_ids"`
	AutoAssign   *bool     `json:"auto_assign"`
	IsActive     *bool     `json:"is_active"`
}

// Vocabularies of CONTRACT.md.
var (
	WorkTypes  = []string{"install", "repair", "survey", "maintenance", "disconnect", "other"}
	Priorities = []string{"lower", "low", "medium", "normal", "high", "urgent"}
	Statuses   = []string{"draft", "scheduled", "dispatched", "in_progress", "paused", "completed", "canceled"}
)

func oneOf(v string, list []string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func (in *RuleInput) validate() error {
	f := hub.Fields{}
	if in.Name != nil && len(*in.Name) > 200 {
		f.Add("name", "must be at most 200 characters")
	}
	if in.Priority != nil && (*in.Priority < -1000 || *in.Priority > 1000) {
		f.Add("priority", "must be between -1000 and 1000")
	}
	if in.WorkType != nil && *in.WorkType != "" && !oneOf(*in.WorkType, WorkTypes) {
		f.Add("work_type", "must be one of "+strings.Join(WorkTypes, ", ")+" (or empty for any)")
	}
	if in.WorkPriority != nil && *in.WorkPriority != "" && !oneOf(*in.WorkPriority, Priorities) {
		f.Add("work_priority", "must be one of "+strings.Join(Priorities, ", ")+" (or empty for any)")
	}
	if in.Region != nil && len(*in.Region) > 100 {
		f.Add("region", "must be at most 100 characters")
	}
	if in.SkillIDs != nil {
		if len(*in.SkillIDs) > 50 {
			f.Add("skill_ids", "must list at most 50 skills")
		}
		for _, id := range *in.SkillIDs {
			if !postgres.ValidUUID(id) {
				f.Add("skill_ids", "must be skill ids (UUIDs)")
			}
		}
	}
	return f.Err()
}

func emptyNil(p *string) *string {
	if p == nil {
		return nil
	}
	v := strings.TrimSpace(*p)
	if v == "" {
		return nil
	}
	return &v
}

const ruleCols = `id, name, priority, work_type, work_priority, region, skill_ids::text[], auto_assign, is_active, created_at, updated_at`

func scanRule(row pgx.Row) (*Rule, error) {
	var r Rule
	if err := row.Scan(&r.ID, &r.Name, &r.Priority, &r.WorkType, &r.WorkPriority, &r.Region, &r.SkillIDs, &r.AutoAssign,
		&r.IsActive, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	if r.SkillIDs == nil {
		r.SkillIDs = []string{}
	}
	return &r, nil
}

// FindRules lists rules, highest priority first.
func (s *Service) FindRules(ctx context.Context, activeOnly bool) ([]Rule, error) {
	return findRules(ctx, s.DB.Pool, activeOnly)
}

func findRules(ctx context.Context, q querier, activeOnly bool) ([]Rule, error) {
	rows, err := q.Query(ctx, `SELECT `+ruleCols+` FROM dispatch_rules WHERE is_active OR NOT $1 ORDER BY priority DESC, created_at, id`, activeOnly)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Rule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// FindRuleByID returns one rule.
func (s *Service) FindRuleByID(ctx context.Context, id string) (*Rule, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "dispatch rule not found")
	}
	r, err := scanRule(s.DB.Pool.QueryRow(ctx, `SELECT `+ruleCols+` FROM dispatch_rules WHERE id = $1`, id))
	if err != nil {
		if err == pgx.ErrNoRows {
			return nil, hub.Errorf(hub.ENOTFOUND, "dispatch rule not found")
		}
		return nil, err
	}
	return r, nil
}

// CreateRule adds a rule (active and auto-assigning unless said otherwise).
func (s *Service) CreateRule(ctx context.Context, in RuleInput) (*Rule, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	r := Rule{AutoAssign: true, IsActive: true, SkillIDs: []string{}}
	applyRule(&r, in)
	if err := s.checkSkills(ctx, r.SkillIDs); err != nil {
		return nil, err
	}
	out, err := scanRule(s.DB.Pool.QueryRow(ctx, `INSERT INTO dispatch_rules (name, priority, work_type, work_priority, region, skill_ids, auto_assign, is_active)
		VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7, $8) RETURNING `+ruleCols,
		r.Name, r.Priority, r.WorkType, r.WorkPriority, r.Region, r.SkillIDs, r.AutoAssign, r.IsActive))
	return out, postgres.Translate(err)
}

func applyRule(r *Rule, in RuleInput) {
	if in.Name != nil {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if in.Priority != nil {
		r.Priority = *in.Priority
	}
	if in.WorkType != nil {
		r.WorkType = emptyNil(in.WorkType)
	}
	if in.WorkPriority != nil {
		r.WorkPriority = emptyNil(in.WorkPriority)
	}
	if in.Region != nil {
		r.Region = emptyNil(in.Region)
	}
	if in.SkillIDs != nil {
		r.SkillIDs = append([]string{}, *in.SkillIDs...)
	}
	if in.AutoAssign != nil {
		r.AutoAssign = *in.AutoAssign
	}
	if in.IsActive != nil {
		r.IsActive = *in.IsActive
	}
}

// UpdateRule patches a rule.
func (s *Service) UpdateRule(ctx context.Context, id string, in RuleInput) (*Rule, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	r, err := s.FindRuleByID(ctx, id)
	if err != nil {
		return nil, err
	}
	applyRule(r, in)
	if err := s.checkSkills(ctx, r.SkillIDs); err != nil {
		return nil, err
	}
	out, err := scanRule(s.DB.Pool.QueryRow(ctx, `UPDATE dispatch_rules SET name = $2, priority = $3, work_type = $4, work_priority = $5,
		region = $6, skill_ids = $7::uuid[], auto_assign = $8, is_active = $9, updated_at = now() WHERE id = $1 RETURNING `+ruleCols,
		id, r.Name, r.Priority, r.WorkType, r.WorkPriority, r.Region, r.SkillIDs, r.AutoAssign, r.IsActive))
	return out, postgres.Translate(err)
}

// DeleteRule removes a rule (queue rows keep their history with rule_id cleared).
func (s *Service) DeleteRule(ctx context.Context, id string) error {
	if !postgres.ValidUUID(id) {
		return hub.Errorf(hub.ENOTFOUND, "dispatch rule not found")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM dispatch_rules WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENOTFOUND, "dispatch rule not found")
	}
	return nil
}

func (s *Service) checkSkills(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM skills WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil {
		return err
	}
	if n != len(uniq(ids)) {
		return hub.Invalid(map[string]string{"skill_ids": "names a skill that does not exist"})
	}
	return nil
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// FindSkills lists the skills by name (the rules form's choices).
func (s *Service) FindSkills(ctx context.Context) ([]Skill, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id::text, name FROM skills ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Skill, error) {
		var k Skill
		return k, r.Scan(&k.ID, &k.Name)
	})
}
