package syncsvc

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Conflict is an entry of the conflict log (CONTRACT.md).
type Conflict struct {
	ID             string          `json:"id"`
	Entity         string          `json:"entity"`
	EntityID       string          `json:"entity_id"`
	Field          string          `json:"field"`
	Rule           string          `json:"rule"`
	HubValue       json.RawMessage `json:"hub_value"`
	DeviceValue    json.RawMessage `json:"device_value"`
	Winner         string          `json:"winner"`
	Reason         string          `json:"reason"`
	Review         bool            `json:"review"`
	DeviceID       *string         `json:"device_id"`
	DeviceName     string          `json:"device_name"`
	TechnicianID   *string         `json:"technician_id"`
	TechnicianName string          `json:"technician_name"`
	ClientRef      string          `json:"client_ref"`
	Status         string          `json:"status"`
	Resolution     string          `json:"resolution"`
	ResolvedBy     *string         `json:"resolved_by"`
	ResolvedAt     *time.Time      `json:"resolved_at"`
	CreatedAt      time.Time       `json:"created_at"`
	// EntityLabel names the record for people (a work order's number).
	EntityLabel string `json:"entity_label"`
}

// ConflictFilter filters FindConflicts.
type ConflictFilter struct {
	EntityID string
	Status   string
	DeviceID string
	Limit    int
	Offset   int
}

const conflictColumns = `c.id, c.entity, c.entity_id, c.field, c.rule, coalesce(c.hub_value, 'null'::jsonb), coalesce(c.device_value, 'null'::jsonb),
	c.winner, c.reason, c.review, c.device_id, coalesce(d.name, ''), c.technician_id,
	coalesce(nullif(p.display_name, ''), trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')), ''),
	c.client_ref, c.status, c.resolution, c.resolved_by, c.resolved_at, c.created_at,
	coalesce((SELECT w.number FROM work_orders w WHERE c.entity = 'work_order' AND w.id::text = c.entity_id), '')`

const conflictFrom = ` FROM sync_conflicts c LEFT JOIN devices d ON d.id = c.device_id LEFT JOIN people p ON p.id = c.technician_id`

func scanConflict(row pgx.Row) (*Conflict, error) {
	var c Conflict
	var hv, dv []byte
	if err := row.Scan(&c.ID, &c.Entity, &c.EntityID, &c.Field, &c.Rule, &hv, &dv, &c.Winner, &c.Reason, &c.Review, &c.DeviceID,
		&c.DeviceName, &c.TechnicianID, &c.TechnicianName, &c.ClientRef, &c.Status, &c.Resolution, &c.ResolvedBy, &c.ResolvedAt,
		&c.CreatedAt, &c.EntityLabel); err != nil {
		return nil, postgres.Translate(err)
	}
	c.HubValue, c.DeviceValue = hv, dv
	return &c, nil
}

// FindConflicts lists the conflict log, newest first.
func (s *Service) FindConflicts(ctx context.Context, f ConflictFilter) ([]Conflict, int, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	if f.Status != "" && f.Status != "open" && f.Status != "resolved" {
		return nil, 0, hub.Invalid(map[string]string{"status": "status is open or resolved"})
	}
	where := ` WHERE ($1 = '' OR c.entity_id = $1) AND ($2 = '' OR c.status = $2) AND ($3 = '' OR c.device_id::text = $3)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sync_conflicts c`+where, f.EntityID, f.Status, f.DeviceID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+conflictColumns+conflictFrom+where+` ORDER BY c.created_at DESC, c.id DESC LIMIT $4 OFFSET $5`,
		f.EntityID, f.Status, f.DeviceID, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Conflict{}
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *c)
	}
	return out, total, rows.Err()
}

// FindConflictByID returns one conflict.
func (s *Service) FindConflictByID(ctx context.Context, id string) (*Conflict, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "conflict not found")
	}
	c, err := scanConflict(s.DB.Pool.QueryRow(ctx, `SELECT `+conflictColumns+conflictFrom+` WHERE c.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "conflict not found")
	}
	return c, err
}

// ResolveConflict closes a conflict with the dispatcher's note (e.g. "kept completed; customer
// confirmed"). The winning value already stands; resolving records that someone reviewed it.
// Resolving a resolved conflict is a conflict error.
func (s *Service) ResolveConflict(ctx context.Context, id, resolution string, actor *hub.Principal) (*Conflict, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "conflict not found")
	}
	resolution = strings.TrimSpace(resolution)
	if len(resolution) > 2000 {
		return nil, hub.Invalid(map[string]string{"resolution": "resolution is longer than 2000 characters"})
	}
	if resolution == "" {
		resolution = "reviewed"
	}
	tag, err := s.DB.Pool.Exec(ctx, `UPDATE sync_conflicts SET status = 'resolved', resolution = $2, resolved_by = $3, resolved_at = now()
		WHERE id = $1 AND status = 'open'`, id, resolution, actorID(actor))
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		c, err := s.FindConflictByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return c, hub.Errorf(hub.ECONFLICT, "this conflict was already resolved")
	}
	return s.FindConflictByID(ctx, id)
}
