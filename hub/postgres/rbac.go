package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
)

// RBACService implements hub.RBACService.
type RBACService struct {
	db   *DB
	auth *AuthService
}

// NewRBACService returns the service.
func NewRBACService(db *DB, auth *AuthService) *RBACService { return &RBACService{db: db, auth: auth} }

// FindRoles implements hub.RBACService.
func (s *RBACService) FindRoles(ctx context.Context) ([]hub.Role, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT r.id, r.name, r.description, r.is_system,
		coalesce(array(SELECT permission FROM role_permissions rp WHERE rp.role_id = r.id ORDER BY 1), '{}')
		FROM roles r ORDER BY r.is_system DESC, r.name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (hub.Role, error) {
		var r hub.Role
		err := row.Scan(&r.ID, &r.Name, &r.Description, &r.IsSystem, &r.Permissions)
		return r, err
	})
}

func validatePerms(perms []string) error {
	known := map[string]bool{"*": true}
	for _, p := range hub.Permissions {
		known[p] = true
	}
	for _, p := range perms {
		if !known[p] {
			return &hub.Error{Code: hub.EINVALID, Message: "unknown permission", Fields: map[string]string{"permissions": "unknown permission " + p}}
		}
	}
	return nil
}

// CreateRole implements hub.RBACService.
func (s *RBACService) CreateRole(ctx context.Context, r hub.Role, actor *hub.Principal) (*hub.Role, error) {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 60 {
		return nil, hub.Invalid(map[string]string{"name": "is required (at most 60 characters)"})
	}
	if err := validatePerms(r.Permissions); err != nil {
		return nil, err
	}
	r.ID = NewID()
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)`, r.ID, r.Name, r.Description); err != nil {
			if hub.ErrorCode(translate(err)) == hub.ECONFLICT {
				return &hub.Error{Code: hub.ECONFLICT, Message: "a role with this name exists", Fields: map[string]string{"name": "is already taken"}}
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])`, r.ID, r.Permissions); err != nil {
			return err
		}
		return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "role.create",
			TargetType: "role", TargetID: r.ID, Success: true, Details: map[string]any{"name": r.Name, "permissions": r.Permissions}})
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// SetRolePermissions implements hub.RBACService. System roles are reset at each migrate, so they
// are read-only here.
func (s *RBACService) SetRolePermissions(ctx context.Context, roleID string, perms []string, actor *hub.Principal) error {
	if !ValidUUID(roleID) {
		return hub.Errorf(hub.ENOTFOUND, "role not found")
	}
	if err := validatePerms(perms); err != nil {
		return err
	}
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var system bool
		if err := tx.QueryRow(ctx, `SELECT is_system FROM roles WHERE id = $1 FOR UPDATE`, roleID).Scan(&system); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.Errorf(hub.ENOTFOUND, "role not found")
			}
			return err
		}
		if system {
			return hub.Errorf(hub.ECONFLICT, "system roles are defined by the product and cannot be edited; create a new role instead")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM role_permissions WHERE role_id = $1`, roleID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])`, roleID, perms); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "role.permissions",
			TargetType: "role", TargetID: roleID, Success: true, Details: map[string]any{"permissions": perms}}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify('dmf_authz', 'all')`)
		return err
	})
	if err == nil && s.auth != nil {
		s.auth.Invalidate("all")
	}
	return err
}

// GrantRole implements hub.RBACService.
func (s *RBACService) GrantRole(ctx context.Context, personID, roleName string, actor *hub.Principal) error {
	return s.change(ctx, personID, func(tx pgx.Tx) error { return grantRoleTx(ctx, tx, personID, roleName, actor) })
}

// RevokeRole implements hub.RBACService.
func (s *RBACService) RevokeRole(ctx context.Context, personID, roleName string, actor *hub.Principal) error {
	return s.change(ctx, personID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM person_roles WHERE person_id = $1 AND role_id = (SELECT id FROM roles WHERE name = $2)`, personID, roleName)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return hub.Errorf(hub.ENOTFOUND, "the person does not hold role %q", roleName)
		}
		return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "role.revoke",
			TargetType: "person", TargetID: personID, Success: true, Details: map[string]any{"role": roleName}})
	})
}

// GrantPermission implements hub.RBACService (a direct grant).
func (s *RBACService) GrantPermission(ctx context.Context, personID, perm string, actor *hub.Principal) error {
	if err := validatePerms([]string{perm}); err != nil {
		return err
	}
	return s.change(ctx, personID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO person_permissions (person_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING`, personID, perm); err != nil {
			return translate(err)
		}
		return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "permission.grant",
			TargetType: "person", TargetID: personID, Success: true, Details: map[string]any{"permission": perm}})
	})
}

func (s *RBACService) change(ctx context.Context, personID string, fn func(pgx.Tx) error) error {
	if !ValidUUID(personID) {
		return hub.Errorf(hub.ENOTFOUND, "person not found")
	}
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM people WHERE id = $1`, personID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.Errorf(hub.ENOTFOUND, "person not found")
			}
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		return notifyInvalidate(ctx, tx, "person:"+personID)
	})
	if err == nil && s.auth != nil {
		s.auth.Invalidate("person:" + personID)
	}
	return err
}

func grantRoleTx(ctx context.Context, tx pgx.Tx, personID, roleName string, actor *hub.Principal) error {
	tag, err := tx.Exec(ctx, `INSERT INTO person_roles (person_id, role_id) SELECT $1, id FROM roles WHERE name = $2 ON CONFLICT DO NOTHING`,
		personID, roleName)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM roles WHERE name = $1)`, roleName).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return hub.Invalid(map[string]string{"role": "unknown role " + roleName})
		}
		return nil
	}
	return writeAudit(ctx, tx, hub.AuditEntry{ActorID: actorID(actor), ActorEmail: actorEmail(actor), Action: "role.grant",
		TargetType: "person", TargetID: personID, Success: true, Details: map[string]any{"role": roleName}})
}

// AuditService reads the audit log.
type AuditService struct{ db *DB }

// NewAuditService returns the service.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

// FindAuditEntries lists the audit log, newest first.
func (s *AuditService) FindAuditEntries(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEntry, int, error) {
	where, args := "true", []any{}
	if f.Action != "" {
		args = append(args, f.Action+"%")
		where += " AND action LIKE $1"
	}
	if f.ActorID != "" && ValidUUID(f.ActorID) {
		args = append(args, f.ActorID)
		where += " AND actor_id = $" + itoa(len(args))
	}
	var total int
	if err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.db.Pool.Query(ctx, `SELECT id, at, actor_id, actor_email, action, target_type, target_id, ip, success, details
		FROM audit_log WHERE `+where+` ORDER BY at DESC LIMIT $`+itoa(len(args)-1)+` OFFSET $`+itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hub.AuditEntry, error) {
		var e hub.AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.IP, &e.Success, &e.Details)
		return e, err
	})
	return out, total, err
}
