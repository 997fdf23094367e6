package dispatch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// TrackTTL is how long a "Track my visit" link works.
const TrackTTL = 14 * 24 * time.Hour

// TrackFresh is how recent the technician's position must be to be shown to the customer.
const TrackFresh = 120 * time.Second

// TrackLink is a new customer link; the token is shown once and stored only hashed.
type TrackLink struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// CreateTrackLink makes a link for a work order. base is the public URL of the hub.
func (s *Service) CreateTrackLink(ctx context.Context, workOrderID, actorID, base string) (*TrackLink, error) {
	if !postgres.ValidUUID(workOrderID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	exp := s.now().Add(TrackTTL).UTC().Truncate(time.Microsecond)
	tag, err := s.DB.Pool.Exec(ctx, `INSERT INTO work_order_access_tokens (work_order_id, token_hash, expires_at, created_by)
		SELECT id, $2, $3, $4 FROM work_orders WHERE id = $1 AND is_active`, workOrderID, hashToken(tok), exp, nilIfEmpty(actorID))
	if err != nil {
		return nil, postgres.Translate(err)
	}
	if tag.RowsAffected() == 0 {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	return &TrackLink{URL: strings.TrimSuffix(base, "/") + "/track/" + tok, Token: tok, ExpiresAt: exp}, nil
}

// Visit is what a customer sees through a link.
type Visit struct {
	Number           string        `json:"number"`
	Title            string        `json:"title"`
	Status           string        `json:"status"`
	WorkType         string        `json:"work_type"`
	ScheduledStart   *time.Time    `json:"scheduled_start"`
	ScheduledEnd     *time.Time    `json:"scheduled_end"`
	EstimatedArrival *time.Time    `json:"estimated_arrival_at"`
	CompletedAt      *time.Time    `json:"completed_at"`
	TechnicianName   string        `json:"technician_name"` // first name only
	EnRoute          bool          `json:"en_route"`
	Technician       *TechPosition `json:"technician_location"` // only while dispatched, en route, sharing and fresh
	ConfirmedAt      *time.Time    `json:"confirmed_at"`
	Reschedule       *Reschedule   `json:"reschedule_request"`
	CanConfirm       bool          `json:"can_confirm"`
	CanReschedule    bool          `json:"can_reschedule"`
	ExpiresAt        time.Time     `json:"expires_at"`
}

// TechPosition is the technician's live position shown to a customer.
type TechPosition struct {
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	AccuracyM *float32  `json:"accuracy_m"`
	At        time.Time `json:"at"`
}

// Reschedule is a customer's reschedule request.
type Reschedule struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	PreferredStart *time.Time `json:"preferred_start"`
	PreferredEnd   *time.Time `json:"preferred_end"`
	Note           string     `json:"note"`
	CreatedAt      time.Time  `json:"created_at"`
}

var errLink = hub.Errorf(hub.ENOTFOUND, "this link is not valid or has expired")

// resolveToken returns the token id and work order id of a live token.
func (s *Service) resolveToken(ctx context.Context, q querier, tok string) (tokenID, workOrderID string, exp time.Time, err error) {
	if len(tok) < 20 || len(tok) > 100 {
		return "", "", exp, errLink
	}
	err = q.QueryRow(ctx, `UPDATE work_order_access_tokens SET last_used_at = now()
		WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id, work_order_id, expires_at`, hashToken(tok), s.now()).
		Scan(&tokenID, &workOrderID, &exp)
	if err == pgx.ErrNoRows {
		return "", "", exp, errLink
	}
	return tokenID, workOrderID, exp, err
}

// Visit returns the visit state for a token.
func (s *Service) Visit(ctx context.Context, tok string) (*Visit, error) {
	_, woID, exp, err := s.resolveToken(ctx, s.DB.Pool, tok)
	if err != nil {
		return nil, err
	}
	return s.visit(ctx, woID, exp)
}

func (s *Service) visit(ctx context.Context, woID string, exp time.Time) (*Visit, error) {
	v := &Visit{ExpiresAt: exp}
	var assigned *string
	var lastEvent *string
	var first *string
	var sharing *bool
	var plat, plon *float64
	var pacc *float32
	var pat *time.Time
	err := s.DB.Pool.QueryRow(ctx, `SELECT w.number, w.title, w.status, w.work_type, w.scheduled_start, w.scheduled_end,
			w.estimated_arrival_at, w.completed_at, w.assigned_to, nullif(p.first_name, ''),
			(SELECT e.event FROM work_order_events e WHERE e.work_order_id = w.id AND e.event IN ('accept', 'en_route', 'arrived', 'start', 'pause', 'hold', 'resume', 'complete', 'unable_to_complete')
				ORDER BY e.received_at DESC, e.id DESC LIMIT 1),
			pr.location_sharing_enabled, pr.lat, pr.lon, pr.accuracy_m, pr.location_at,
			(SELECT max(r.created_at) FROM work_order_visit_requests r WHERE r.work_order_id = w.id AND r.kind = 'confirm')
		FROM work_orders w LEFT JOIN people p ON p.id = w.assigned_to
		LEFT JOIN field_tech_presence pr ON pr.person_id = w.assigned_to
		WHERE w.id = $1 AND w.is_active`, woID).Scan(&v.Number, &v.Title, &v.Status, &v.WorkType, &v.ScheduledStart, &v.ScheduledEnd,
		&v.EstimatedArrival, &v.CompletedAt, &assigned, &first, &lastEvent, &sharing, &plat, &plon, &pacc, &pat, &v.ConfirmedAt)
	if err == pgx.ErrNoRows {
		return nil, errLink
	}
	if err != nil {
		return nil, err
	}
	if first != nil {
		v.TechnicianName = *first
	}
	v.EnRoute = v.Status == "dispatched" && lastEvent != nil && *lastEvent == "en_route"
	if v.EnRoute && sharing != nil && *sharing && plat != nil && plon != nil && pat != nil && s.now().Sub(*pat) < TrackFresh {
		v.Technician = &TechPosition{Lat: *plat, Lon: *plon, AccuracyM: pacc, At: *pat}
	}
	var r Reschedule
	err = s.DB.Pool.QueryRow(ctx, `SELECT id, status, preferred_start, preferred_end, note, created_at FROM work_order_visit_requests
		WHERE work_order_id = $1 AND kind = 'reschedule' ORDER BY created_at DESC LIMIT 1`, woID).
		Scan(&r.ID, &r.Status, &r.PreferredStart, &r.PreferredEnd, &r.Note, &r.CreatedAt)
	if err == nil {
		v.Reschedule = &r
	} else if err != pgx.ErrNoRows {
		return nil, err
	}
	closed := v.Status == "completed" || v.Status == "canceled"
	v.CanConfirm = !closed && v.ConfirmedAt == nil
	v.CanReschedule = !closed && v.Status != "in_progress" && (v.Reschedule == nil || v.Reschedule.Status != "open")
	return v, nil
}

// ConfirmVisit records the customer's confirmation (once; again is a no-op). A completed or
// canceled visit cannot be confirmed.
func (s *Service) ConfirmVisit(ctx context.Context, tok string) (*Visit, error) {
	var woID string
	var exp time.Time
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		tid, wid, e, err := s.resolveToken(ctx, tx, tok)
		if err != nil {
			return err
		}
		woID, exp = wid, e
		var status, number string
		if err := tx.QueryRow(ctx, `SELECT status, number FROM work_orders WHERE id = $1 FOR UPDATE`, wid).Scan(&status, &number); err != nil {
			return err
		}
		if status == "completed" || status == "canceled" {
			return hub.Errorf(hub.ECONFLICT, "this visit is %s: there is nothing to confirm", status)
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_order_visit_requests WHERE work_order_id = $1 AND kind = 'confirm')`, wid).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO work_order_visit_requests (work_order_id, token_id, kind, status, closed_at) VALUES ($1, $2, 'confirm', 'done', now())`,
			wid, tid); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload) VALUES ('work_order.visit_confirmed', 'work_order', $1,
			jsonb_build_object('work_order_id', $1::uuid, 'number', $2::text))`, wid, number)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.visit(ctx, woID, exp)
}

// RescheduleInput is a customer's reschedule request.
type RescheduleInput struct {
	PreferredStart *time.Time `json:"preferred_start"`
	PreferredEnd   *time.Time `json:"preferred_end"`
	Note           string     `json:"note"`
}

// RequestReschedule opens a reschedule request; only one may be open at a time.
func (s *Service) RequestReschedule(ctx context.Context, tok string, in RescheduleInput) (*Visit, error) {
	f := hub.Fields{}
	in.Note = strings.TrimSpace(in.Note)
	if len(in.Note) > 1000 {
		f.Add("note", "must be at most 1000 characters")
	}
	if in.PreferredStart == nil && in.Note == "" {
		f.Add("preferred_start", "give a preferred time or a note")
	}
	if in.PreferredStart != nil && in.PreferredStart.Before(s.now()) {
		f.Add("preferred_start", "must be in the future")
	}
	if in.PreferredEnd != nil && (in.PreferredStart == nil || !in.PreferredEnd.After(*in.PreferredStart)) {
		f.Add("preferred_end", "must be after preferred_start")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var woID string
	var exp time.Time
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		tid, wid, e, err := s.resolveToken(ctx, tx, tok)
		if err != nil {
			return err
		}
		woID, exp = wid, e
		var status, number string
		if err := tx.QueryRow(ctx, `SELECT status, number FROM work_orders WHERE id = $1 FOR UPDATE`, wid).Scan(&status, &number); err != nil {
			return err
		}
		if status == "completed" || status == "canceled" || status == "in_progress" {
			return hub.Errorf(hub.ECONFLICT, "this visit is %s and can no longer be rescheduled", strings.ReplaceAll(status, "_", " "))
		}
		var id string
		err = tx.QueryRow(ctx, `INSERT INTO work_order_visit_requests (work_order_id, token_id, kind, preferred_start, preferred_end, note)
			VALUES ($1, $2, 'reschedule', $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id`, wid, tid, in.PreferredStart, in.PreferredEnd, in.Note).Scan(&id)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ECONFLICT, "a reschedule request is already open for this visit: we will be in touch")
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload) VALUES ('work_order.reschedule_requested', 'work_order', $1,
			jsonb_build_object('work_order_id', $1::uuid, 'number', $2::text, 'request_id', $3::uuid, 'preferred_start', $4::timestamptz,
				'preferred_end', $5::timestamptz, 'note', $6::text))`, wid, number, id, in.PreferredStart, in.PreferredEnd, in.Note)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.visit(ctx, woID, exp)
}
