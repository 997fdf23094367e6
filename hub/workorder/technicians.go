package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
)

const techCols = `p.id, p.first_name, p.last_name, p.display_name, p.email::text, p.phone, tp.title, tp.region, tp.is_active, p.status,
	ST_Y(tp.home_base), ST_X(tp.home_base),
	coalesce((SELECT json_agg(json_build_object('skill_id', ts.skill_id, 'name', sk.name, 'proficiency', ts.proficiency,
		'is_primary', ts.is_primary) ORDER BY ts.is_primary DESC, ts.proficiency DESC, sk.name)
		FROM technician_skills ts JOIN skills sk ON sk.id = ts.skill_id WHERE ts.person_id = p.id), '[]'),
	(SELECT count(*) FROM work_orders w WHERE w.assigned_to = p.id AND w.is_active AND w.status IN ('scheduled', 'dispatched', 'in_progress', 'paused')),
	tp.created_at, tp.updated_at`

const techFrom = ` FROM technician_profiles tp JOIN people p ON p.id = tp.person_id`

func scanTech(row pgx.Row) (*Technician, error) {
	var t Technician
	var skills []byte
	err := row.Scan(&t.ID, &t.FirstName, &t.LastName, &t.Name, &t.Email, &t.Phone, &t.Title, &t.Region, &t.IsActive, &t.Status,
		&t.HomeLat, &t.HomeLon, &skills, &t.OpenJobs, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("technician")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(skills, &t.Skills); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateTechnician creates a person with the field_technician role and a technician profile.
func (s *Service) CreateTechnician(ctx context.Context, in TechnicianCreate, actorID string) (*Technician, error) {
	pc := hub.PersonCreate{FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Password: in.Password, Phone: in.Phone}
	err := postgres.ValidatePersonCreate(&pc)
	f := hub.Fields{}
	var he *hub.Error
	if errors.As(err, &he) {
		for k, v := range he.Fields {
			f.Add(k, v)
		}
	} else if err != nil {
		return nil, err
	}
	checkLen(f, "region", in.Region, 100)
	checkLen(f, "title", in.Title, 100)
	checkCoords(f, "home_", in.HomeLat, in.HomeLon)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var id string
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = CreateTechnicianTx(ctx, tx, pc, in, s.HashParams)
		if err != nil {
			return err
		}
		return audit(ctx, tx, actorID, "technician.create", "person", id, map[string]any{"email": pc.Email, "region": in.Region})
	})
	if hub.ErrorCode(err) == hub.ECONFLICT {
		return nil, &hub.Error{Code: hub.ECONFLICT, Message: "a person with this email already exists", Fields: map[string]string{"email": "is already taken"}}
	}
	if err != nil {
		return nil, err
	}
	return s.FindTechnicianByID(ctx, id)
}

// CreateTechnicianTx inserts the person, the role grant and the profile inside tx.
func CreateTechnicianTx(ctx context.Context, tx pgx.Tx, pc hub.PersonCreate, in TechnicianCreate, params *secret.Params) (string, error) {
	id, err := postgres.CreatePersonTx(ctx, tx, pc, params)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO person_roles (person_id, role_id) SELECT $1, id FROM roles WHERE name = 'field_technician'
		ON CONFLICT DO NOTHING`, id); err != nil {
		return "", err
	}
	title := in.Title
	if title == "" {
		title = "Field technician"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO technician_profiles (person_id, title, region, home_base)
		VALUES ($1, $2, $3, CASE WHEN $4::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($5::float8, $4::float8), 4326) END)`,
		id, title, in.Region, in.HomeLat, in.HomeLon); err != nil {
		return "", postgres.Translate(err)
	}
	return id, nil
}

// FindTechnicianByID returns a technician with skills, upcoming shifts and availability blocks.
func (s *Service) FindTechnicianByID(ctx context.Context, id string) (*Technician, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("technician")
	}
	t, err := scanTech(s.DB.Pool.QueryRow(ctx, `SELECT `+techCols+techFrom+` WHERE p.id = $1`, id))
	if err != nil {
		return nil, err
	}
	from := s.now().Add(-24 * time.Hour)
	if t.Shifts, err = s.FindShifts(ctx, id, &from, nil); err != nil {
		return nil, err
	}
	if t.Blocks, err = s.FindBlocks(ctx, id, &from, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// FindTechnicians lists technicians.
func (s *Service) FindTechnicians(ctx context.Context, f TechnicianFilter) ([]Technician, int, error) {
	var w where
	if q := strings.TrimSpace(f.Query); q != "" {
		like := "%" + likeEscape(q) + "%"
		w.add("(p.display_name ILIKE ? OR p.email::text ILIKE ? OR p.phone ILIKE ?)", like, like, like)
	}
	if f.Region != "" {
		w.add("tp.region = ?", f.Region)
	}
	if f.SkillID != "" {
		if !postgres.ValidUUID(f.SkillID) {
			return nil, 0, hub.Invalid(map[string]string{"skill_id": "must be a UUID"})
		}
		w.add("EXISTS (SELECT 1 FROM technician_skills ts WHERE ts.person_id = p.id AND ts.skill_id = ?)", f.SkillID)
	}
	if f.Active != nil {
		w.add("tp.is_active = ?", *f.Active)
	}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*)`+techFrom+` WHERE `+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	lim, off := w.arg(f.Limit), w.arg(f.Offset)
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+techCols+techFrom+` WHERE `+w.sql()+` ORDER BY p.display_name, p.id LIMIT `+lim+` OFFSET `+off, w.args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Technician{}
	for rows.Next() {
		t, err := scanTech(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *t)
	}
	return out, total, rows.Err()
}

// UpdateTechnician changes a technician's profile.
func (s *Service) UpdateTechnician(ctx context.Context, id string, upd TechnicianUpdate, actorID string) (*Technician, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("technician")
	}
	f := hub.Fields{}
	checkCoords(f, "home_", upd.HomeLat, upd.HomeLon)
	if upd.Region != nil {
		checkLen(f, "region", *upd.Region, 100)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE technician_profiles SET region = coalesce($2, region), title = coalesce($3, title),
			is_active = coalesce($4, is_active),
			home_base = CASE WHEN $5::float8 IS NULL THEN home_base ELSE ST_SetSRID(ST_MakePoint($6::float8, $5::float8), 4326) END,
			updated_at = now() WHERE person_id = $1`, id, upd.Region, upd.Title, upd.IsActive, upd.HomeLat, upd.HomeLon)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("technician")
		}
		if upd.Phone != nil {
			if _, err := tx.Exec(ctx, `UPDATE people SET phone = $2, updated_at = now() WHERE id = $1`, id, *upd.Phone); err != nil {
				return err
			}
		}
		return audit(ctx, tx, actorID, "technician.update", "person", id, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.FindTechnicianByID(ctx, id)
}

// --- skills -----------------------------------------------------------------------------------

// FindSkills lists every skill by name.
func (s *Service) FindSkills(ctx context.Context) ([]Skill, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, name, description FROM skills ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Skill, error) {
		var k Skill
		return k, r.Scan(&k.ID, &k.Name, &k.Description)
	})
}

// CreateSkill adds a skill; names are unique.
func (s *Service) CreateSkill(ctx context.Context, in Skill) (*Skill, error) {
	in.Name = strings.TrimSpace(in.Name)
	f := hub.Fields{}
	if in.Name == "" {
		f.Add("name", "is required")
	}
	checkLen(f, "name", in.Name, 100)
	checkLen(f, "description", in.Description, 1000)
	if err := f.Err(); err != nil {
		return nil, err
	}
	in.ID = postgres.NewID()
	_, err := s.DB.Pool.Exec(ctx, `INSERT INTO skills (id, name, description) VALUES ($1, $2, $3)`, in.ID, in.Name, in.Description)
	if err = postgres.Translate(err); hub.ErrorCode(err) == hub.ECONFLICT {
		return nil, &hub.Error{Code: hub.ECONFLICT, Message: "a skill with this name exists", Fields: map[string]string{"name": "is already taken"}}
	}
	return &in, err
}

// DeleteSkill removes a skill (and every technician's grade of it).
func (s *Service) DeleteSkill(ctx context.Context, id string) error {
	if !postgres.ValidUUID(id) {
		return notFound("skill")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM skills WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("skill")
	}
	return err
}

// SetTechnicianSkill adds or regrades a technician's skill; is_primary moves the primary mark.
func (s *Service) SetTechnicianSkill(ctx context.Context, techID string, in TechSkillInput, actorID string) ([]TechSkill, error) {
	if !postgres.ValidUUID(techID) {
		return nil, notFound("technician")
	}
	f := hub.Fields{}
	if in.SkillID == "" {
		f.Add("skill_id", "is required")
	}
	checkUUID(f, "skill_id", &in.SkillID)
	prof := 50
	if in.Proficiency != nil {
		prof = *in.Proficiency
		if prof < 0 || prof > 100 {
			f.Add("proficiency", "must be from 0 to 100")
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := lockTech(ctx, tx, techID); err != nil {
			return err
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM skills WHERE id = $1)`, in.SkillID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return hub.Invalid(map[string]string{"skill_id": "no such skill"})
		}
		if in.IsPrimary {
			if _, err := tx.Exec(ctx, `UPDATE technician_skills SET is_primary = false WHERE person_id = $1 AND skill_id <> $2`, techID, in.SkillID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO technician_skills (person_id, skill_id, proficiency, is_primary) VALUES ($1, $2, $3, $4)
			ON CONFLICT (person_id, skill_id) DO UPDATE SET proficiency = EXCLUDED.proficiency, is_primary = EXCLUDED.is_primary`,
			techID, in.SkillID, prof, in.IsPrimary)
		if err != nil {
			return err
		}
		return audit(ctx, tx, actorID, "technician.skill", "person", techID, map[string]any{"skill_id": in.SkillID, "proficiency": prof})
	})
	if err != nil {
		return nil, err
	}
	return s.techSkills(ctx, techID)
}

// RemoveTechnicianSkill removes a skill from a technician.
func (s *Service) RemoveTechnicianSkill(ctx context.Context, techID, skillID string) error {
	if !postgres.ValidUUID(techID) || !postgres.ValidUUID(skillID) {
		return notFound("technician skill")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM technician_skills WHERE person_id = $1 AND skill_id = $2`, techID, skillID)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("technician skill")
	}
	return err
}

// TechnicianSkills lists a technician's skills.
func (s *Service) TechnicianSkills(ctx context.Context, techID string) ([]TechSkill, error) {
	if _, err := s.FindTechnicianByID(ctx, techID); err != nil {
		return nil, err
	}
	return s.techSkills(ctx, techID)
}

func (s *Service) techSkills(ctx context.Context, techID string) ([]TechSkill, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT ts.skill_id, sk.name, ts.proficiency, ts.is_primary FROM technician_skills ts
		JOIN skills sk ON sk.id = ts.skill_id WHERE ts.person_id = $1 ORDER BY ts.is_primary DESC, ts.proficiency DESC, sk.name`, techID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TechSkill, error) {
		var k TechSkill
		return k, r.Scan(&k.SkillID, &k.Name, &k.Proficiency, &k.IsPrimary)
	})
}

func lockTech(ctx context.Context, tx pgx.Tx, techID string) error {
	var x string
	err := tx.QueryRow(ctx, `SELECT person_id FROM technician_profiles WHERE person_id = $1 FOR UPDATE`, techID).Scan(&x)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("technician")
	}
	return err
}

// --- shifts and availability --------------------------------------------------------------------

func validateWindow(f hub.Fields, start, end *time.Time) {
	if start != nil && end != nil {
		if !end.After(*start) {
			f.Add("ends_at", "must be after starts_at")
		} else if end.Sub(*start) > 31*24*time.Hour {
			f.Add("ends_at", "must be within 31 days of starts_at")
		}
	}
}

// FindShifts lists a technician's shifts that end after from (and start before to).
func (s *Service) FindShifts(ctx context.Context, techID string, from, to *time.Time) ([]Shift, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, person_id, starts_at, ends_at, timezone, shift_type FROM shifts
		WHERE person_id = $1 AND ($2::timestamptz IS NULL OR ends_at > $2) AND ($3::timestamptz IS NULL OR starts_at < $3)
		ORDER BY starts_at LIMIT 500`, techID, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Shift, error) {
		var x Shift
		return x, r.Scan(&x.ID, &x.PersonID, &x.StartsAt, &x.EndsAt, &x.Timezone, &x.ShiftType)
	})
}

// SaveShift creates (shiftID "") or changes a shift.
func (s *Service) SaveShift(ctx context.Context, techID, shiftID string, in ShiftInput, actorID string) (*Shift, error) {
	if !postgres.ValidUUID(techID) || (shiftID != "" && !postgres.ValidUUID(shiftID)) {
		return nil, notFound("shift")
	}
	f := hub.Fields{}
	start, end := parseTime(f, "starts_at", in.StartsAt), parseTime(f, "ends_at", in.EndsAt)
	if shiftID == "" {
		if in.StartsAt == nil {
			f.Add("starts_at", "is required")
		}
		if in.EndsAt == nil {
			f.Add("ends_at", "is required")
		}
	}
	if in.ShiftType != nil {
		checkEnum(f, "shift_type", *in.ShiftType, ShiftTypes)
	}
	if in.Timezone != nil {
		if _, err := time.LoadLocation(*in.Timezone); err != nil || *in.Timezone == "" {
			f.Add("timezone", "is not a known time zone (e.g. America/Denver)")
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out Shift
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := lockTech(ctx, tx, techID); err != nil {
			return err
		}
		var row pgx.Row
		if shiftID == "" {
			tz, typ := "UTC", "regular"
			if in.Timezone != nil {
				tz = *in.Timezone
			}
			if in.ShiftType != nil {
				typ = *in.ShiftType
			}
			f := hub.Fields{}
			validateWindow(f, start, end)
			if err := f.Err(); err != nil {
				return err
			}
			row = tx.QueryRow(ctx, `INSERT INTO shifts (id, person_id, starts_at, ends_at, timezone, shift_type) VALUES ($1, $2, $3, $4, $5, $6)
				RETURNING id, person_id, starts_at, ends_at, timezone, shift_type`, postgres.NewID(), techID, start, end, tz, typ)
		} else {
			var cs, ce time.Time
			if err := tx.QueryRow(ctx, `SELECT starts_at, ends_at FROM shifts WHERE id = $1 AND person_id = $2 FOR UPDATE`, shiftID, techID).Scan(&cs, &ce); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return notFound("shift")
				}
				return err
			}
			if start == nil {
				start = &cs
			}
			if end == nil {
				end = &ce
			}
			f := hub.Fields{}
			validateWindow(f, start, end)
			if err := f.Err(); err != nil {
				return err
			}
			row = tx.QueryRow(ctx, `UPDATE shifts SET starts_at = $3, ends_at = $4, timezone = coalesce($5, timezone), shift_type = coalesce($6, shift_type)
				WHERE id = $1 AND person_id = $2 RETURNING id, person_id, starts_at, ends_at, timezone, shift_type`,
				shiftID, techID, start, end, in.Timezone, in.ShiftType)
		}
		if err := row.Scan(&out.ID, &out.PersonID, &out.StartsAt, &out.EndsAt, &out.Timezone, &out.ShiftType); err != nil {
			return postgres.Translate(err)
		}
		return audit(ctx, tx, actorID, "technician.shift", "person", techID, map[string]any{"shift_id": out.ID})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteShift removes a shift.
func (s *Service) DeleteShift(ctx context.Context, techID, shiftID string) error {
	if !postgres.ValidUUID(techID) || !postgres.ValidUUID(shiftID) {
		return notFound("shift")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM shifts WHERE id = $1 AND person_id = $2`, shiftID, techID)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("shift")
	}
	return err
}

// FindBlocks lists a technician's availability blocks in a window.
func (s *Service) FindBlocks(ctx context.Context, techID string, from, to *time.Time) ([]Block, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, person_id, starts_at, ends_at, reason, block_type, is_available FROM availability_blocks
		WHERE person_id = $1 AND ($2::timestamptz IS NULL OR ends_at > $2) AND ($3::timestamptz IS NULL OR starts_at < $3)
		ORDER BY starts_at LIMIT 500`, techID, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Block, error) {
		var x Block
		return x, r.Scan(&x.ID, &x.PersonID, &x.StartsAt, &x.EndsAt, &x.Reason, &x.BlockType, &x.IsAvailable)
	})
}

// SaveBlock creates (blockID "") or changes an availability block.
func (s *Service) SaveBlock(ctx context.Context, techID, blockID string, in BlockInput, actorID string) (*Block, error) {
	if !postgres.ValidUUID(techID) || (blockID != "" && !postgres.ValidUUID(blockID)) {
		return nil, notFound("availability block")
	}
	f := hub.Fields{}
	start, end := parseTime(f, "starts_at", in.StartsAt), parseTime(f, "ends_at", in.EndsAt)
	if blockID == "" {
		if in.StartsAt == nil {
			f.Add("starts_at", "is required")
		}
		if in.EndsAt == nil {
			f.Add("ends_at", "is required")
		}
	}
	if in.BlockType != nil {
		checkEnum(f, "block_type", *in.BlockType, BlockTypes)
	}
	if in.Reason != nil {
		checkLen(f, "reason", *in.Reason, 500)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out Block
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := lockTech(ctx, tx, techID); err != nil {
			return err
		}
		var row pgx.Row
		if blockID == "" {
			typ, reason, avail := "time_off", "", false
			if in.BlockType != nil {
				typ = *in.BlockType
			}
			if in.Reason != nil {
				reason = *in.Reason
			}
			if in.IsAvailable != nil {
				avail = *in.IsAvailable
			}
			f := hub.Fields{}
			validateWindow(f, start, end)
			if err := f.Err(); err != nil {
				return err
			}
			row = tx.QueryRow(ctx, `INSERT INTO availability_blocks (id, person_id, starts_at, ends_at, reason, block_type, is_available)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, person_id, starts_at, ends_at, reason, block_type, is_available`,
				postgres.NewID(), techID, start, end, reason, typ, avail)
		} else {
			var cs, ce time.Time
			if err := tx.QueryRow(ctx, `SELECT starts_at, ends_at FROM availability_blocks WHERE id = $1 AND person_id = $2 FOR UPDATE`,
				blockID, techID).Scan(&cs, &ce); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return notFound("availability block")
				}
				return err
			}
			if start == nil {
				start = &cs
			}
			if end == nil {
				end = &ce
			}
			f := hub.Fields{}
			validateWindow(f, start, end)
			if err := f.Err(); err != nil {
				return err
			}
			row = tx.QueryRow(ctx, `UPDATE availability_blocks SET starts_at = $3, ends_at = $4, reason = coalesce($5, reason),
				block_type = coalesce($6, block_type), is_available = coalesce($7, is_available)
				WHERE id = $1 AND person_id = $2 RETURNING id, person_id, starts_at, ends_at, reason, block_type, is_available`,
				blockID, techID, start, end, in.Reason, in.BlockType, in.IsAvailable)
		}
		if err := row.Scan(&out.ID, &out.PersonID, &out.StartsAt, &out.EndsAt, &out.Reason, &out.BlockType, &out.IsAvailable); err != nil {
			return postgres.Translate(err)
		}
		return audit(ctx, tx, actorID, "technician.availability", "person", techID, map[string]any{"block_id": out.ID})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteBlock removes an availability block.
func (s *Service) DeleteBlock(ctx context.Context, techID, blockID string) error {
	if !postgres.ValidUUID(techID) || !postgres.ValidUUID(blockID) {
		return notFound("availability block")
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM availability_blocks WHERE id = $1 AND person_id = $2`, blockID, techID)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("availability block")
	}
	return err
}
