package postgres

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/secret"
)

// PersonService implements hub.PersonService.
type PersonService struct {
	db   *DB
	auth *AuthService
	// HashParams lets tests use cheap password hashes.
	HashParams *secret.Params
}

// NewPersonService returns the service; auth is told about deactivations so caches drop at once.
func NewPersonService(db *DB, auth *AuthService) *PersonService {
	return &PersonService{db: db, auth: auth}
}

const personCols = `p.id, p.first_name, p.last_name, p.display_name, p.email, p.phone, p.status, p.organization_id,
	coalesce(array(SELECT r.name FROM person_roles pr JOIN roles r ON r.id = pr.role_id WHERE pr.person_id = p.id ORDER BY 1), '{}'),
	p.created_at, p.updated_at`

func scanPerson(row pgx.Row) (*hub.Person, error) {
	var p hub.Person
	err := row.Scan(&p.ID, &p.FirstName, &p.LastName, &p.DisplayName, &p.Email, &p.Phone, &p.Status, &p.OrganizationID,
		&p.Roles, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// FindPersonByID implements hub.PersonService.
func (s *PersonService) FindPersonByID(ctx context.Context, id string) (*hub.Person, error) {
	if !ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "person not found")
	}
	p, err := scanPerson(s.db.Pool.QueryRow(ctx, `SELECT `+personCols+` FROM people p WHERE p.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "person not found")
	}
	return p, err
}

// FindPeople implements hub.PersonService.
func (s *PersonService) FindPeople(ctx context.Context, f hub.PersonFilter) ([]hub.Person, int, error) {
	where := []string{"true"}
	args := []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+itoa(len(args))))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		add("(p.email ILIKE ? OR p.display_name ILIKE ? OR p.phone ILIKE ?)", "%"+q+"%")
	}
	if f.Status != "" {
		add("p.status = ?", f.Status)
	}
	if f.Role != "" {
		add("EXISTS (SELECT 1 FROM person_roles pr JOIN roles r ON r.id = pr.role_id WHERE pr.person_id = p.id AND r.name = ?)", f.Role)
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM people p WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.db.Pool.Query(ctx, `SELECT `+personCols+` FROM people p WHERE `+w+
		` ORDER BY p.display_name, p.email LIMIT $`+itoa(len(args)-1)+` OFFSET $`+itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []hub.Person{}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, total, rows.Err()
}

// ValidatePersonCreate checks a PersonCreate's fields.
func ValidatePersonCreate(in *hub.PersonCreate) error {
	f := hub.Fields{}
	in.Email = strings.TrimSpace(in.Email)
	in.FirstName = strings.TrimSpace(in.FirstName)
	in.LastName = strings.TrimSpace(in.LastName)
	if in.Email == "" {
		f.Add("email", "is required")
	} else if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		f.Add("email", "is not a valid email address")
	}
	if in.FirstName == "" && in.LastName == "" {
		f.Add("first_name", "a first or last name is required")
	}
	if in.Password != "" && len(in.Password) < 8 {
		f.Add("password", "must be at least 8 characters")
	}
	if len(in.FirstName) > 100 {
		f.Add("first_name", "must be at most 100 characters")
	}
	if len(in.LastName) > 100 {
		f.Add("last_name", "must be at most 100 characters")
	}
	if in.OrganizationID != nil && !ValidUUID(*in.OrganizationID) {
		f.Add("organization_id", "is not a valid id")
	}
	return f.Err()
}

// CreatePerson implements hub.PersonService.
func (s *PersonService) CreatePerson(ctx context.Context, in hub.PersonCreate, actor *hub.Principal) (*hub.Person, error) {
	if err := ValidatePersonCreate(&in); err != nil {
		return nil, err
	}
	var id string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = CreatePersonTx(ctx, tx, in, s.HashParams)
		if err != nil {
			return err
		}
		for _, r := range in.Roles {
			if err := grantRoleTx(ctx, tx, id, r, actor); err != nil {
				return err
			}
		}
		return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "person.create",
			TargetType: "person", TargetID: id, Success: true, Details: map[string]any{"email": in.Email, "roles": in.Roles}})
	})
	if err != nil {
		if hub.ErrorCode(err) == hub.ECONFLICT {
			return nil, &hub.Error{Code: hub.ECONFLICT, Message: "a person with this email already exists",
				Fields: map[string]string{"email": "is already taken"}}
		}
		return nil, err
	}
	return s.FindPersonByID(ctx, id)
}

// CreatePersonTx inserts a person (and a credential when a password is given) inside tx.
func CreatePersonTx(ctx context.Context, tx pgx.Tx, in hub.PersonCreate, params *secret.Params) (string, error) {
	id := NewID()
	display := strings.TrimSpace(in.FirstName + " " + in.LastName)
	if _, err := tx.Exec(ctx, `INSERT INTO people (id, first_name, last_name, display_name, email, phone, organization_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, in.FirstName, in.LastName, display, in.Email, in.Phone, in.OrganizationID); err != nil {
		return "", translate(err)
	}
	if in.Password != "" {
		var hash string
		var err error
		if params != nil {
			hash, err = secret.HashPasswordWith(in.Password, *params)
		} else {
			hash, err = secret.HashPassword(in.Password)
		}
		if err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO credentials (person_id, password_hash) VALUES ($1, $2)`, id, hash); err != nil {
			return "", err
		}
	}
	return id, nil
}

// UpdatePerson implements hub.PersonService. Deactivating or archiving revokes every session at once.
func (s *PersonService) UpdatePerson(ctx context.Context, id string, upd hub.PersonUpdate, actor *hub.Principal) (*hub.Person, error) {
	if !ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "person not found")
	}
	f := hub.Fields{}
	if upd.Status != nil {
		switch *upd.Status {
		case hub.PersonActive, hub.PersonInactive, hub.PersonArchived:
		default:
			f.Add("status", "must be one of active, inactive, archived")
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	deactivated := false
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var old string
		if err := tx.QueryRow(ctx, `SELECT status FROM people WHERE id = $1 FOR UPDATE`, id).Scan(&old); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.Errorf(hub.ENOTFOUND, "person not found")
			}
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE people SET
			first_name = coalesce($2, first_name), last_name = coalesce($3, last_name), phone = coalesce($4, phone),
			status = coalesce($5, status), updated_at = now(),
			display_name = trim(coalesce($2, first_name) || ' ' || coalesce($3, last_name))
			WHERE id = $1`, id, upd.FirstName, upd.LastName, upd.Phone, upd.Status)
		if err != nil {
			return translate(err)
		}
		if upd.Status != nil && *upd.Status != old && *upd.Status != hub.PersonActive {
			deactivated = true
			if err := RevokePersonSessions(ctx, tx, id, "person "+*upd.Status); err != nil {
				return err
			}
			return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "person.deactivate",
				TargetType: "person", TargetID: id, Success: true, Details: map[string]any{"status": *upd.Status}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if deactivated && s.auth != nil {
		s.auth.Invalidate("person:" + id)
	}
	return s.FindPersonByID(ctx, id)
}

func actorID(p *hub.Principal) *string {
	if p == nil {
		return nil
	}
	return &p.PersonID
}

func actorEmail(p *hub.Principal) string {
	if p == nil {
		return "system"
	}
	return p.Email
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
