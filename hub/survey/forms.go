package survey

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
)

// WorkTypes are the work order types a template attaches to (CONTRACT.md vocabulary).
var WorkTypes = []string{"install", "repair", "survey", "maintenance", "disconnect", "other"}

// QuestionTypes are the question types of a survey form.
var QuestionTypes = []string{field.QuestionText, field.QuestionNumber, field.QuestionChoice, field.QuestionCheckbox,
	field.QuestionPhoto, field.QuestionGPS, field.QuestionSignature}

// Template is a survey form. A work order gets the active template of its work type.
type Template struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	WorkType    *string          `json:"work_type"`
	Questions   []field.Question `json:"questions"`
	IsActive    bool             `json:"is_active"`
	Version     int64            `json:"version"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// TemplateInput creates or replaces a template.
type TemplateInput struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	WorkType    *string          `json:"work_type"`
	Questions   []field.Question `json:"questions"`
	IsActive    *bool            `json:"is_active"`
}

var questionID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// MaxQuestions bounds a template.
const MaxQuestions = 200

func (in *TemplateInput) validate() error {
	f := hub.Fields{}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		f.Add("name", "is required")
	} else if len(in.Name) > 200 {
		f.Add("name", "is longer than 200 characters")
	}
	if in.WorkType != nil && *in.WorkType == "" {
		in.WorkType = nil
	}
	if in.WorkType != nil && !slices.Contains(WorkTypes, *in.WorkType) {
		f.Add("work_type", "must be one of "+strings.Join(WorkTypes, ", "))
	}
	if len(in.Questions) == 0 {
		f.Add("questions", "at least one question is required")
	}
	if len(in.Questions) > MaxQuestions {
		f.Add("questions", fmt.Sprintf("at most %d questions", MaxQuestions))
	}
	seen := map[string]bool{}
	for i := range in.Questions {
		q := &in.Questions[i]
		p := fmt.Sprintf("questions[%d].", i)
		q.ID, q.Label = strings.TrimSpace(q.ID), strings.TrimSpace(q.Label)
		switch {
		case !questionID.MatchString(q.ID):
			f.Add(p+"id", "must be lower-case letters, digits and _ (starting with a letter)")
		case seen[q.ID]:
			f.Add(p+"id", "appears twice")
		}
		seen[q.ID] = true
		if q.Label == "" || len(q.Label) > 500 {
			f.Add(p+"label", "is required (at most 500 characters)")
		}
		if !slices.Contains(QuestionTypes, q.Type) {
			f.Add(p+"type", "must be one of "+strings.Join(QuestionTypes, ", "))
		}
		var opts []string
		for _, o := range q.Options {
			if o = strings.TrimSpace(o); o != "" && !slices.Contains(opts, o) {
				opts = append(opts, o)
			}
		}
		q.Options = opts
		if q.Type == field.QuestionChoice && len(opts) < 2 {
			f.Add(p+"options", "a choice needs at least two options")
		}
		if q.Type != field.QuestionChoice && q.Type != field.QuestionCheckbox && len(opts) > 0 {
			f.Add(p+"options", "only choice and checkbox questions have options")
		}
	}
	return f.Err()
}

const templateCols = `id, name, description, work_type, questions, is_active, version, created_at, updated_at`

func scanTemplate(row pgx.Row) (*Template, error) {
	var t Template
	var qs []byte
	if err := row.Scan(&t.ID, &t.Name, &t.Description, &t.WorkType, &qs, &t.IsActive, &t.Version, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, postgres.Translate(err)
	}
	if err := json.Unmarshal(qs, &t.Questions); err != nil {
		return nil, fmt.Errorf("survey: template %s questions: %w", t.ID, err)
	}
	return &t, nil
}

func workTypeTaken(wt *string) error {
	return &hub.Error{Code: hub.ECONFLICT, Message: fmt.Sprintf("another active template is attached to %s work orders", *wt),
		Fields: map[string]string{"work_type": "has an active template"}}
}

// CreateTemplate adds a form template.
func (s *Service) CreateTemplate(ctx context.Context, actorID string, in TemplateInput) (*Template, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	active := in.IsActive == nil || *in.IsActive
	qs, _ := json.Marshal(in.Questions)
	t, err := scanTemplate(s.DB.Pool.QueryRow(ctx, `INSERT INTO survey_templates (name, description, work_type, questions, is_active, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+templateCols, in.Name, in.Description, in.WorkType, qs, active, nullable(actorID)))
	if hub.ErrorCode(err) == hub.ECONFLICT {
		return nil, workTypeTaken(in.WorkType)
	}
	return t, err
}

// UpdateTemplate replaces a template's name, work type, questions and state. Answers already given
// keep their question ids; questions removed stay in old answers.
func (s *Service) UpdateTemplate(ctx context.Context, id string, in TemplateInput) (*Template, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such template")
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	qs, _ := json.Marshal(in.Questions)
	t, err := scanTemplate(s.DB.Pool.QueryRow(ctx, `UPDATE survey_templates SET name = $2, description = $3, work_type = $4, questions = $5,
		is_active = coalesce($6, is_active) WHERE id = $1 RETURNING `+templateCols, id, in.Name, in.Description, in.WorkType, qs, in.IsActive))
	switch hub.ErrorCode(err) {
	case hub.ECONFLICT:
		return nil, workTypeTaken(in.WorkType)
	case hub.ENOTFOUND:
		return nil, hub.Errorf(hub.ENOTFOUND, "no such template")
	}
	return t, err
}

// FindTemplates lists templates, active first.
func (s *Service) FindTemplates(ctx context.Context) ([]Template, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+templateCols+` FROM survey_templates ORDER BY is_active DESC, work_type NULLS LAST, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// FindTemplateByID returns a template.
func (s *Service) FindTemplateByID(ctx context.Context, id string) (*Template, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such template")
	}
	t, err := scanTemplate(s.DB.Pool.QueryRow(ctx, `SELECT `+templateCols+` FROM survey_templates WHERE id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such template")
	}
	return t, err
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// jobSurvey is the form of a job: the template its answers were given against, else the active
// template of its work type; nil when there is none.
func jobSurvey(ctx context.Context, q rowQuerier, jobID string) (*field.Survey, error) {
	var tid, name *string
	var qs, answers []byte
	err := q.QueryRow(ctx, `SELECT t.id, t.name, t.questions, r.answers FROM work_orders w
		LEFT JOIN survey_responses r ON r.work_order_id = w.id
		LEFT JOIN survey_templates t ON t.id = coalesce(r.template_id,
			(SELECT id FROM survey_templates WHERE work_type = w.work_type AND is_active))
		WHERE w.id = $1`, jobID).Scan(&tid, &name, &qs, &answers)
	if err == pgx.ErrNoRows {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	if err != nil {
		return nil, err
	}
	if tid == nil {
		return nil, nil
	}
	sv := &field.Survey{TemplateID: *tid, Name: *name, Answers: map[string]json.RawMessage{}}
	if err := json.Unmarshal(qs, &sv.Questions); err != nil {
		return nil, err
	}
	if answers != nil {
		if err := json.Unmarshal(answers, &sv.Answers); err != nil {
			return nil, err
		}
	}
	return sv, nil
}

// JobSurvey returns a job's survey form with its answers as the field DTO (nil when the job's work
// type has no template), for the job detail of the field API and the office. It does not check
// scope: the caller has.
func (s *Service) JobSurvey(ctx context.Context, jobID string) (*field.Survey, error) {
	if !postgres.ValidUUID(jobID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "no such job")
	}
	return jobSurvey(ctx, s.DB.Pool, jobID)
}

// JobSurveyOf is JobSurvey on a given querier (a pgx.Tx or the pool): the work order area's job
// detail registers it as its survey source.
func JobSurveyOf(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, jobID string) (*field.Survey, error) {
	if !postgres.ValidUUID(jobID) {
		return nil, nil
	}
	return jobSurvey(ctx, q, jobID)
}

// FieldSurvey is JobSurvey for a technician: 404 outside their scope.
func (s *Service) FieldSurvey(ctx context.Context, technicianID, jobID string) (*field.Survey, error) {
	var out *field.Survey
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := jobInScope(ctx, tx, jobID, technicianID); err != nil {
			return err
		}
		var err error
		out, err = jobSurvey(ctx, tx, jobID)
		return err
	})
	return out, err
}

// SubmitSurvey stores the answers a technician gave on site (POST /api/v1/field/jobs/{id}/survey,
// and the sync upload applier). The answers are checked against the job's template: known
// question ids, types, options, required questions (422 otherwise). They replace the job's earlier
// answers (field facts: the device wins). client_ref makes the call idempotent forever: a replay
// changes nothing and answers the survey as it is. Jobs outside the technician's scope are 404.
func (s *Service) SubmitSurvey(ctx context.Context, actorID, deviceID, jobID string, req field.SurveyRequest) (*field.Survey, error) {
	return s.SubmitSurveyWith(ctx, actorID, deviceID, jobID, req, FieldOptions{})
}

// FieldOptions tune SubmitSurveyWith for the sync upload applier.
type FieldOptions struct {
	// FormerHolder lets the technician's answers arrive although the job was reassigned away
	// from them while their device was offline (survey answers are a field fact).
	FormerHolder bool
}

// SubmitSurveyWith is SubmitSurvey with the applier's options.
func (s *Service) SubmitSurveyWith(ctx context.Context, actorID, deviceID, jobID string, req field.SurveyRequest, opt FieldOptions) (*field.Survey, error) {
	if e := req.Validate(); e != nil {
		return nil, hub.Invalid(e)
	}
	if deviceID != "" && !postgres.ValidUUID(deviceID) {
		deviceID = ""
	}
	var out *field.Survey
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := jobOf(ctx, tx, jobID, actorID, opt.FormerHolder); err != nil {
			return err
		}
		answers, _ := json.Marshal(req.Answers)
		var ref string
		err := tx.QueryRow(ctx, `INSERT INTO survey_submissions (client_ref, work_order_id, answers, submitted_by, device_id)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_ref) DO NOTHING RETURNING client_ref`,
			req.ClientRef, jobID, answers, nullable(actorID), nullable(deviceID)).Scan(&ref)
		if err == pgx.ErrNoRows { // a replay
			var wo string
			if err := tx.QueryRow(ctx, `SELECT work_order_id FROM survey_submissions WHERE client_ref = $1`, req.ClientRef).Scan(&wo); err != nil {
				return err
			}
			if wo != jobID {
				return hub.Errorf(hub.ECONFLICT, "client_ref %s was used for another job", req.ClientRef)
			}
			out, err = jobSurvey(ctx, tx, jobID)
			return err
		}
		if err != nil {
			return postgres.Translate(err)
		}
		sv, err := jobSurvey(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if sv == nil {
			return hub.Errorf(hub.ENOTFOUND, "this job has no survey form")
		}
		if e := req.Validate(sv.Questions...); e != nil {
			return &hub.Error{Code: hub.EUNPROCESSABLE, Message: "the answers do not fit the survey form", Fields: e}
		}
		var respID string
		if err := tx.QueryRow(ctx, `INSERT INTO survey_responses (work_order_id, template_id, answers, submitted_by, device_id, submitted_at)
			VALUES ($1, $2, $3, $4, $5, now())
			ON CONFLICT (work_order_id) DO UPDATE SET template_id = EXCLUDED.template_id, answers = EXCLUDED.answers,
				submitted_by = EXCLUDED.submitted_by, device_id = EXCLUDED.device_id, submitted_at = EXCLUDED.submitted_at
			RETURNING id`, jobID, sv.TemplateID, answers, nullable(actorID), nullable(deviceID)).Scan(&respID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE survey_submissions SET response_id = $2 WHERE client_ref = $1`, req.ClientRef, respID); err != nil {
			return err
		}
		out, err = jobSurvey(ctx, tx, jobID)
		return err
	})
	return out, err
}
