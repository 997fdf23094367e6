package dispatch

import (
	"context"
	"net/url"
	"strings"
	"time"

	"dotmac.dev/field/hub"
)

// QueueEntry is a work order's last auto-assign outcome.
type QueueEntry struct {
	WorkOrderID string    `json:"work_order_id"`
	Number      string    `json:"number"`
	Title       string    `json:"title"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	RuleID      *string   `json:"rule_id"`
	AssignedTo  *string   `json:"assigned_to"`
	Score       *int      `json:"score"`
	Attempts    int       `json:"attempts"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// FindQueue lists the assignment queue, newest first, optionally by status.
func (s *Service) FindQueue(ctx context.Context, status string, limit, offset int) ([]QueueEntry, int, error) {
	if status != "" && !oneOf(status, []string{OutcomeQueued, OutcomeAssigned, OutcomeSkipped}) {
		return nil, 0, hub.Invalid(map[string]string{"status": "must be queued, assigned or skipped"})
	}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM work_order_assignment_queue WHERE $1 = '' OR status = $1`, status).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT q.work_order_id, w.number, w.title, q.status, q.reason, q.rule_id, q.assigned_to, q.score, q.attempts, q.updated_at
		FROM work_order_assignment_queue q JOIN work_orders w ON w.id = q.work_order_id
		WHERE $1 = '' OR q.status = $1 ORDER BY q.updated_at DESC, q.id LIMIT $2 OFFSET $3`, status, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []QueueEntry{}
	for rows.Next() {
		var e QueueEntry
		if err := rows.Scan(&e.WorkOrderID, &e.Number, &e.Title, &e.Status, &e.Reason, &e.RuleID, &e.AssignedTo, &e.Score, &e.Attempts, &e.UpdatedAt); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// Settings reads the dispatch settings (domain_settings, domain "dispatch").
func (s *Service) Settings(ctx context.Context) (*Settings, error) {
	st := &Settings{}
	rows, err := s.DB.Pool.Query(ctx, `SELECT key, value #>> '{}' FROM domain_settings WHERE domain = 'dispatch'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		switch k {
		case "map_tile_url":
			st.MapTileURL = v
		case "time_zone":
			st.TimeZone = v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	st.PingRetentionHours = int(s.retention(ctx) / time.Hour)
	if st.TimeZone == "" {
		st.TimeZone = "UTC"
	}
	return st, nil
}

// UpdateSettings stores the settings. The tile URL is a Leaflet template
// (https://tiles.example/{z}/{x}/{y}.png) or empty for no base map.
func (s *Service) UpdateSettings(ctx context.Context, in Settings) (*Settings, error) {
	f := hub.Fields{}
	in.MapTileURL = strings.TrimSpace(in.MapTileURL)
	if in.MapTileURL != "" {
		u, err := url.Parse(in.MapTileURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			!strings.Contains(in.MapTileURL, "{z}") || !strings.Contains(in.MapTileURL, "{x}") || !strings.Contains(in.MapTileURL, "{y}") {
			f.Add("map_tile_url", "must be an http(s) URL template with {z}, {x} and {y}, or empty")
		}
	}
	if in.PingRetentionHours != 0 && (in.PingRetentionHours < 1 || in.PingRetentionHours > 24*366) {
		f.Add("ping_retention_hours", "must be between 1 and 8784 hours (0 keeps the current value)")
	}
	in.TimeZone = strings.TrimSpace(in.TimeZone)
	if in.TimeZone != "" {
		if _, err := time.LoadLocation(in.TimeZone); err != nil || len(in.TimeZone) > 64 || strings.EqualFold(in.TimeZone, "local") {
			f.Add("time_zone", "must be a time zone name like America/Denver (empty keeps the current one)")
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if in.TimeZone != "" {
		if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO domain_settings (domain, key, value) VALUES ('dispatch', 'time_zone', to_jsonb($1::text))
			ON CONFLICT (domain, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, in.TimeZone); err != nil {
			return nil, err
		}
	}
	if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO domain_settings (domain, key, value) VALUES ('dispatch', 'map_tile_url', to_jsonb($1::text))
		ON CONFLICT (domain, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, in.MapTileURL); err != nil {
		return nil, err
	}
	if in.PingRetentionHours > 0 {
		if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO domain_settings (domain, key, value) VALUES ('dispatch', 'ping_retention_hours', to_jsonb($1::int))
			ON CONFLICT (domain, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, in.PingRetentionHours); err != nil {
			return nil, err
		}
	}
	return s.Settings(ctx)
}

// opsLocation is the operations' time zone (settings time_zone; UTC when unset or unknown).
func (s *Service) opsLocation(ctx context.Context) *time.Location {
	var name string
	err := s.DB.Pool.QueryRow(ctx, `SELECT value #>> '{}' FROM domain_settings WHERE domain = 'dispatch' AND key = 'time_zone'`).Scan(&name)
	if err != nil || name == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}
