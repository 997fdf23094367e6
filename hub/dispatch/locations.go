package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
)

// MaxPings is the largest batch of POST /api/v1/field/locations.
const MaxPings = 200

// MaxPingAhead is how far in the future a ping's recorded_at may be (device clocks drift).
const MaxPingAhead = 5 * time.Minute

// PingInput is one position report.
type PingInput struct {
	Lat        *float64   `json:"lat"`
	Lon        *float64   `json:"lon"`
	Accuracy   *float64   `json:"accuracy"` // metres
	RecordedAt *time.Time `json:"recorded_at"`
	Speed      *float64   `json:"speed"`   // m/s
	Heading    *float64   `json:"heading"` // degrees
}

// PingBatch is the body of POST /api/v1/field/locations. Status, when given, sets the
// technician's presence status.
type PingBatch struct {
	Pings  []PingInput `json:"pings"`
	Status *string     `json:"status"`
}

// PingResult answers a batch.
type PingResult struct {
	Accepted   int       `json:"accepted"`
	Duplicates int       `json:"duplicates"`
	Discarded  int       `json:"discarded"` // dropped because location sharing is off
	Presence   *Presence `json:"presence"`
}

// PresenceStatuses are the presence states.
var PresenceStatuses = []string{"on_shift", "on_break", "off_shift"}

func (b *PingBatch) validate(now time.Time, retention time.Duration) error {
	f := hub.Fields{}
	switch {
	case len(b.Pings) == 0:
		f.Add("pings", "must hold at least one ping")
	case len(b.Pings) > MaxPings:
		f.Add("pings", fmt.Sprintf("must hold at most %d pings per batch", MaxPings))
	}
	if b.Status != nil && !oneOf(*b.Status, PresenceStatuses) {
		f.Add("status", "must be one of "+strings.Join(PresenceStatuses, ", "))
	}
	for i, p := range b.Pings {
		k := "pings[" + strconv.Itoa(i) + "]."
		switch {
		case p.Lat == nil:
			f.Add(k+"lat", "is required")
		case *p.Lat < -90 || *p.Lat > 90:
			f.Add(k+"lat", "must be between -90 and 90")
		}
		switch {
		case p.Lon == nil:
			f.Add(k+"lon", "is required")
		case *p.Lon < -180 || *p.Lon > 180:
			f.Add(k+"lon", "must be between -180 and 180")
		}
		if p.Accuracy != nil && (*p.Accuracy < 0 || *p.Accuracy > 100000) {
			f.Add(k+"accuracy", "must be between 0 and 100000 metres")
		}
		if p.Speed != nil && (*p.Speed < 0 || *p.Speed > 150) {
			f.Add(k+"speed", "must be between 0 and 150 m/s")
		}
		if p.Heading != nil && (*p.Heading < 0 || *p.Heading >= 360) {
			f.Add(k+"heading", "must be from 0 up to 360 degrees")
		}
		switch {
		case p.RecordedAt == nil:
			f.Add(k+"recorded_at", "is required (RFC 3339 with a zone)")
		case p.RecordedAt.After(now.Add(MaxPingAhead)):
			f.Add(k+"recorded_at", "is in the future: check the device clock")
		case p.RecordedAt.Before(now.Add(-retention)):
			f.Add(k+"recorded_at", "is older than the retention period")
		}
	}
	return f.Err()
}

func f32(p *float64) *float32 {
	if p == nil {
		return nil
	}
	v := float32(*p)
	return &v
}

// RecordPings stores a batch of pings (idempotent per technician and recorded_at) and moves the
// presence snapshot to the newest of them, never backwards: a batch older than the snapshot
// leaves it as it is. With location sharing off the positions are discarded.
func (s *Service) RecordPings(ctx context.Context, personID string, b PingBatch) (*PingResult, error) {
	now := s.now()
	retention := s.retention(ctx)
	if err := b.validate(now, retention); err != nil {
		return nil, err
	}
	newest := 0
	for i, p := range b.Pings {
		if p.RecordedAt.After(*b.Pings[newest].RecordedAt) {
			newest = i
		}
	}
	res := &PingResult{}
	var moved bool
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		sharing := true
		err := tx.QueryRow(ctx, `SELECT location_sharing_enabled FROM field_tech_presence WHERE person_id = $1 FOR UPDATE`, personID).Scan(&sharing)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		if !sharing {
			res.Discarded = len(b.Pings)
			_, err := tx.Exec(ctx, `UPDATE field_tech_presence SET last_seen_at = now(), status = coalesce($2, status), updated_at = now() WHERE person_id = $1`,
				personID, b.Status)
			return err
		}
		n := len(b.Pings)
		at, lat, lon := make([]time.Time, n), make([]float64, n), make([]float64, n)
		acc, spd, hdg := make([]*float32, n), make([]*float32, n), make([]*float32, n)
		for i, p := range b.Pings {
			at[i], lat[i], lon[i] = p.RecordedAt.UTC(), *p.Lat, *p.Lon
			acc[i], spd[i], hdg[i] = f32(p.Accuracy), f32(p.Speed), f32(p.Heading)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO field_tech_location_pings (person_id, recorded_at, lat, lon, accuracy_m, speed_mps, heading)
			SELECT $1, u.at, u.lat, u.lon, u.acc, u.spd, u.hdg
			FROM unnest($2::timestamptz[], $3::float8[], $4::float8[], $5::real[], $6::real[], $7::real[]) AS u(at, lat, lon, acc, spd, hdg)
			ON CONFLICT DO NOTHING`, personID, at, lat, lon, acc, spd, hdg)
		if err != nil {
			return err
		}
		res.Accepted = int(tag.RowsAffected())
		res.Duplicates = n - res.Accepted
		p := b.Pings[newest]
		return tx.QueryRow(ctx, `INSERT INTO field_tech_presence AS pr (person_id, status, lat, lon, accuracy_m, geog, location_at, last_seen_at, updated_at)
			VALUES ($1, coalesce($6, CASE WHEN EXISTS (SELECT 1 FROM shifts WHERE person_id = $1 AND starts_at <= now() AND ends_at > now())
				THEN 'on_shift' ELSE 'off_shift' END), $2, $3, $4, ST_SetSRID(ST_MakePoint($3, $2), 4326)::geography, $5, now(), now())
			ON CONFLICT (person_id) DO UPDATE SET
				lat = CASE WHEN pr.location_at IS NULL OR EXCLUDED.location_at > pr.location_at THEN EXCLUDED.lat ELSE pr.lat END,
				lon = CASE WHEN pr.location_at IS NULL OR EXCLUDED.location_at > pr.location_at THEN EXCLUDED.lon ELSE pr.lon END,
				accuracy_m = CASE WHEN pr.location_at IS NULL OR EXCLUDED.location_at > pr.location_at THEN EXCLUDED.accuracy_m ELSE pr.accuracy_m END,
				geog = CASE WHEN pr.location_at IS NULL OR EXCLUDED.location_at > pr.location_at THEN EXCLUDED.geog ELSE pr.geog END,
				location_at = greatest(pr.location_at, EXCLUDED.location_at),
				status = coalesce($6, pr.status),
				last_seen_at = now(), updated_at = now()
			RETURNING (xmax = 0 OR location_at = $5)`, personID, *p.Lat, *p.Lon, f32(p.Accuracy), p.RecordedAt.UTC(), b.Status).Scan(&moved)
	})
	if err != nil {
		return nil, err
	}
	pr, err := s.FindPresence(ctx, personID)
	if err != nil {
		return nil, err
	}
	res.Presence = pr
	if moved || b.Status != nil {
		s.publishPresence(personID, "technician.location", pr)
	}
	return res, nil
}

func (s *Service) publishPresence(personID, topic string, pr *Presence) {
	payload, _ := json.Marshal(pr)
	s.publish(SubjectTechnicians, map[string]any{"type": "technician", "topic": topic, "entity": "technician",
		"entity_id": personID, "payload": json.RawMessage(payload), "at": s.now().UTC()})
}

// FindPresence returns a technician's presence (positions hidden while sharing is off).
func (s *Service) FindPresence(ctx context.Context, personID string) (*Presence, error) {
	pr := &Presence{}
	err := s.DB.Pool.QueryRow(ctx, `SELECT status, location_sharing_enabled, lat, lon, accuracy_m, location_at, last_seen_at
		FROM field_tech_presence WHERE person_id = $1`, personID).
		Scan(&pr.Status, &pr.Sharing, &pr.Lat, &pr.Lon, &pr.AccuracyM, &pr.LocationAt, &pr.LastSeenAt)
	if err == pgx.ErrNoRows {
		return &Presence{Status: "off_shift", Sharing: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if !pr.Sharing {
		pr.Lat, pr.Lon, pr.AccuracyM, pr.LocationAt = nil, nil, nil, nil
	}
	pr.Fresh = pr.LocationAt != nil && s.now().Sub(*pr.LocationAt) < Fresh
	return pr, nil
}

// SetSharing turns a technician's location sharing on or off.
func (s *Service) SetSharing(ctx context.Context, personID string, enabled bool) (*Presence, error) {
	if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO field_tech_presence (person_id, location_sharing_enabled) VALUES ($1, $2)
		ON CONFLICT (person_id) DO UPDATE SET location_sharing_enabled = EXCLUDED.location_sharing_enabled, updated_at = now()`,
		personID, enabled); err != nil {
		return nil, err
	}
	pr, err := s.FindPresence(ctx, personID)
	if err != nil {
		return nil, err
	}
	s.publishPresence(personID, "technician.sharing", pr)
	return pr, nil
}

// retention reads the setting dispatch.ping_retention_hours, else PingRetention.
func (s *Service) retention(ctx context.Context) time.Duration {
	var hours float64
	err := s.DB.Pool.QueryRow(ctx, `SELECT (value #>> '{}')::float8 FROM domain_settings WHERE domain = 'dispatch' AND key = 'ping_retention_hours'`).Scan(&hours)
	if err == nil && hours >= 1 {
		return time.Duration(hours * float64(time.Hour))
	}
	if s.PingRetention > 0 {
		return s.PingRetention
	}
	return DefaultPingRetention
}

// PruneResult reports a maintenance run.
type PruneResult struct {
	Created       int   `json:"partitions_created"`
	Dropped       int   `json:"partitions_dropped"`
	DeletedPings  int64 `json:"deleted_pings"`
	RetentionHour int   `json:"retention_hours"`
}

// PrunePings keeps the pings table in shape: daily partitions exist two weeks ahead, partitions
// entirely past retention are dropped, and older rows left elsewhere are deleted.
func (s *Service) PrunePings(ctx context.Context) (*PruneResult, error) {
	now := s.now().UTC()
	retention := s.retention(ctx)
	cutoff := now.Add(-retention)
	res := &PruneResult{RetentionHour: int(retention / time.Hour)}
	for i := -1; i <= 14; i++ {
		var made bool
		if err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT field_tech_ping_partition($1::date)`, dayStart(now).AddDate(0, 0, i).Format("2006-01-02")).Scan(&made)
		}); err != nil {
			return nil, fmt.Errorf("dispatch: ping partition: %w", err)
		}
		if made {
			res.Created++
		}
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'field_tech_location_pings'::regclass AND c.relname ~ '^field_tech_location_pings_[0-9]{8}$'`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "field_tech_location_pings_"))
		if err != nil || day.AddDate(0, 0, 1).After(cutoff) {
			continue
		}
		if _, err := s.DB.Pool.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, err
		}
		res.Dropped++
	}
	tag, err := s.DB.Pool.Exec(ctx, `DELETE FROM field_tech_location_pings WHERE recorded_at < $1`, cutoff)
	if err != nil {
		return nil, err
	}
	res.DeletedPings = tag.RowsAffected()
	return res, nil
}
