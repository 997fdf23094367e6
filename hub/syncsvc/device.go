package syncsvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/jetstream"
	"dotmac.dev/field/sync/scope"
)

// Device statuses (CONTRACT.md).
const (
	DeviceActive  = "active"
	DeviceRevoked = "revoked"
)

// EnrollmentTTL is how long a one-time enrollment code stays valid.
const EnrollmentTTL = 30 * time.Minute

// Device is an enrolled (or enrollable) tablet.
type Device struct {
	ID                   string     `json:"id"`
	TechnicianID         string     `json:"technician_id"`
	TechnicianName       string     `json:"technician_name"`
	Name                 string     `json:"name"`
	Status               string     `json:"status"`
	Enrolled             bool       `json:"enrolled"`
	EnrolledAt           *time.Time `json:"enrolled_at"`
	EnrollmentExpiresAt  *time.Time `json:"enrollment_expires_at"`
	RevokedAt            *time.Time `json:"revoked_at"`
	LastSeenAt           *time.Time `json:"last_seen_at"`
	LastIP               string     `json:"last_ip"`
	AgentVersion         string     `json:"agent_version"`
	UpCursor             int64      `json:"up_cursor"`
	LastAppliedAt        *time.Time `json:"last_applied_at"`
	LastError            string     `json:"last_error"`
	LastErrorAt          *time.Time `json:"last_error_at"`
	CreatedAt            time.Time  `json:"created_at"`
	Connected            bool       `json:"connected"`
	PendingUploads       int64      `json:"pending_uploads"`
	OpenConflicts        int64      `json:"open_conflicts"`
	Rejections           int64      `json:"rejections"`
	enrollmentCodeExpiry time.Time
}

// NewDevice answers POST /api/v1/devices: the one-time code is shown once.
type NewDevice struct {
	ID             string    `json:"id"`
	TechnicianID   string    `json:"technician_id"`
	Name           string    `json:"name"`
	Status         string    `json:"status"`
	EnrollmentCode string    `json:"enrollment_code"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// Enrollment is what a tablet receives for its code: who it is and how to reach the hub.
type Enrollment struct {
	DeviceID       string `json:"device_id"`
	TechnicianID   string `json:"technician_id"`
	TechnicianName string `json:"technician_name"`
	HubURL         string `json:"hub_url"`
	NATSURL        string `json:"nats_url"`
	NATSUser       string `json:"nats_user"`
	NATSPassword   string `json:"nats_password"`
	// NATSJWT and NATSSeed are the device's own NATS user credentials on an external cluster in
	// operator mode (empty with the embedded server, which checks nats_user/nats_password).
	NATSJWT  string `json:"nats_jwt,omitempty"`
	NATSSeed string `json:"nats_seed,omitempty"`
	// DeviceToken authenticates the device on the hub's sync HTTP endpoints
	// (Authorization: Bearer <device_token>; HTTP Basic nats_user:nats_password works too).
	DeviceToken    string `json:"device_token"`
	InboxPrefix    string `json:"inbox_prefix"`
	DownStream     string `json:"down_stream"`
	DownSubject    string `json:"down_subject"`
	DownDurable    string `json:"down_durable"`
	UpStream       string `json:"up_stream"`
	UpSubject      string `json:"up_subject"`
	ControlSubject string `json:"control_subject"`
	SchemaVersion  int    `json:"schema_version"`
}

// DeviceFilter filters FindDevices.
type DeviceFilter struct {
	TechnicianID string
	Status       string
	Limit        int
	Offset       int
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func randomCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:12]
	return s[:4] + "-" + s[4:8] + "-" + s[8:]
}

// normalizeCode accepts codes typed with or without dashes, in any case.
func normalizeCode(code string) string {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(c) != 12 {
		return c
	}
	return c[:4] + "-" + c[4:8] + "-" + c[8:]
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const deviceColumns = `d.id, d.technician_id, coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name), p.email::text),
	d.name, d.status, d.enrolled_at, d.enrollment_expires_at, d.revoked_at, d.last_seen_at, d.last_ip, d.agent_version,
	d.up_cursor, d.last_applied_at, d.last_error, d.last_error_at, d.created_at,
	(SELECT count(*) FROM sync_conflicts c WHERE c.device_id = d.id AND c.status = 'open'),
	(SELECT count(*) FROM sync_rejections r WHERE r.device_id = d.id)`

func scanDevice(row pgx.Row) (*Device, error) {
	var d Device
	err := row.Scan(&d.ID, &d.TechnicianID, &d.TechnicianName, &d.Name, &d.Status, &d.EnrolledAt, &d.EnrollmentExpiresAt,
		&d.RevokedAt, &d.LastSeenAt, &d.LastIP, &d.AgentVersion, &d.UpCursor, &d.LastAppliedAt, &d.LastError, &d.LastErrorAt,
		&d.CreatedAt, &d.OpenConflicts, &d.Rejections)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	d.Enrolled = d.EnrolledAt != nil
	if d.Enrolled {
		d.EnrollmentExpiresAt = nil
	}
	return &d, nil
}

// CreateDevice registers a device for a technician and returns its one-time enrollment code.
func (s *Service) CreateDevice(ctx context.Context, technicianID, name string, actor *hub.Principal) (*NewDevice, error) {
	f := hub.Fields{}
	name = strings.TrimSpace(name)
	if !postgres.ValidUUID(technicianID) {
		f.Add("technician_id", "technician_id must be a person id")
	}
	if name == "" {
		f.Add("name", "name is required")
	} else if len(name) > 200 {
		f.Add("name", "name is longer than 200 characters")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	var ok bool
	if err := s.DB.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM people WHERE id = $1 AND status = 'active')`, technicianID).Scan(&ok); err != nil {
		return nil, err
	}
	if !ok {
		return nil, hub.Invalid(map[string]string{"technician_id": "no active person has this id"})
	}
	code := randomCode()
	out := &NewDevice{ID: postgres.NewID(), TechnicianID: technicianID, Name: name, Status: DeviceActive, EnrollmentCode: code,
		ExpiresAt: s.now().Add(EnrollmentTTL).UTC().Truncate(time.Second)}
	_, err := s.DB.Pool.Exec(ctx, `INSERT INTO devices (id, technician_id, name, enrollment_code_hash, enrollment_expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6)`, out.ID, technicianID, name, hashSecret(code), out.ExpiresAt, actorID(actor))
	if err != nil {
		return nil, postgres.Translate(err)
	}
	return out, nil
}

func actorID(p *hub.Principal) *string {
	if p == nil || p.PersonID == "" {
		return nil
	}
	return &p.PersonID
}

// FindDeviceByID returns a device.
func (s *Service) FindDeviceByID(ctx context.Context, id string) (*Device, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "device not found")
	}
	d, err := scanDevice(s.DB.Pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN people p ON p.id = d.technician_id WHERE d.id = $1`, id))
	if hub.ErrorCode(err) == hub.ENOTFOUND {
		return nil, hub.Errorf(hub.ENOTFOUND, "device not found")
	}
	if err != nil {
		return nil, err
	}
	s.decorate(ctx, d)
	return d, nil
}

// FindDevices lists devices, newest first.
func (s *Service) FindDevices(ctx context.Context, f DeviceFilter) ([]Device, int, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	where := ` WHERE ($1 = '' OR d.technician_id::text = $1) AND ($2 = '' OR d.status = $2)`
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM devices d`+where, f.TechnicianID, f.Status).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN people p ON p.id = d.technician_id`+where+
		` ORDER BY d.created_at DESC LIMIT $3 OFFSET $4`, f.TechnicianID, f.Status, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for i := range out {
		s.decorate(ctx, &out[i])
	}
	return out, total, nil
}

// decorate adds live figures: connected now, uploads waiting in the stream.
func (s *Service) decorate(ctx context.Context, d *Device) {
	d.Connected = s.connected(d.ID)
	d.PendingUploads = s.pendingUploads(ctx, d.ID)
}

// Enroll trades a one-time code for the device's credentials. The code is spent.
func (s *Service) Enroll(ctx context.Context, code, name, ip, agentVersion string) (*Enrollment, error) {
	code = normalizeCode(code)
	if code == "" {
		return nil, hub.Invalid(map[string]string{"code": "code is required"})
	}
	secret := randomSecret()
	var id, tech, techName string
	var expires *time.Time
	var status string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT d.id, d.technician_id, d.status, d.enrollment_expires_at,
			coalesce(nullif(p.display_name, ''), trim(p.first_name || ' ' || p.last_name))
			FROM devices d JOIN people p ON p.id = d.technician_id WHERE d.enrollment_code_hash = $1 FOR UPDATE OF d`,
			hashSecret(code)).Scan(&id, &tech, &status, &expires, &techName)
		if errors.Is(err, pgx.ErrNoRows) {
			return hub.Errorf(hub.ENOTFOUND, "this enrollment code is not valid or was already used: ask the office for a new one")
		}
		if err != nil {
			return err
		}
		if status != DeviceActive || expires == nil || !expires.After(s.now()) {
			return hub.Errorf(hub.ENOTFOUND, "this enrollment code has expired: ask the office for a new one")
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET enrollment_code_hash = NULL, enrollment_expires_at = NULL, secret_hash = $2,
			enrolled_at = now(), last_seen_at = now(), last_ip = $3, agent_version = $4,
			name = CASE WHEN $5 = '' THEN name ELSE $5 END, updated_at = now() WHERE id = $1`,
			id, hashSecret(secret), ip, agentVersion, strings.TrimSpace(name))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.metrics.enrollments.Inc()
	s.startApplier(id)
	down, up := s.downCfg, s.upCfg
	var natsJWT, natsSeed string
	if s.deviceJWTs != nil {
		pub, sub := jetstream.DevicePermissions(down, up, tech, id)
		var key string
		var err error
		if natsJWT, natsSeed, key, err = s.deviceJWTs.Mint(id, pub, sub); err != nil {
			return nil, fmt.Errorf("device NATS credentials: %w", err)
		}
		if _, err := s.DB.Pool.Exec(ctx, `UPDATE devices SET nats_user_key = $2 WHERE id = $1`, id, key); err != nil {
			return nil, err
		}
		s.Logger.Info("device NATS user minted", "device_id", id, "nats_user_key", key)
	}
	return &Enrollment{
		NATSJWT: natsJWT, NATSSeed: natsSeed,
		DeviceID: id, TechnicianID: tech, TechnicianName: techName, HubURL: s.HubURL, NATSURL: s.AgentNATSURL,
		NATSUser: id, NATSPassword: secret, DeviceToken: id + "." + secret, InboxPrefix: jetstream.InboxPrefix(id),
		DownStream: down.Stream, DownSubject: down.Subject(tech), DownDurable: id,
		UpStream: up.Stream, UpSubject: up.Subject(id), ControlSubject: scope.ControlSubject(id),
		SchemaVersion: changeSchemaVersion,
	}, nil
}

// deviceAuth is what the credentials check returns.
type deviceAuth struct {
	ID, TechnicianID, Status string
}

// authenticateDevice checks a device id and secret. A revoked device authenticates (so it can be
// told to purge) but comes back with Status revoked.
func (s *Service) authenticateDevice(ctx context.Context, id, secret string) (*deviceAuth, error) {
	return checkDevice(ctx, s.DB, id, secret)
}

func checkDevice(ctx context.Context, db *postgres.DB, id, secret string) (*deviceAuth, error) {
	if !postgres.ValidUUID(id) || secret == "" {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "device credentials are invalid")
	}
	var d deviceAuth
	var hash *string
	err := db.Pool.QueryRow(ctx, `SELECT id, technician_id, status, secret_hash FROM devices WHERE id = $1`, id).
		Scan(&d.ID, &d.TechnicianID, &d.Status, &hash)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && hash == nil) {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "device credentials are invalid")
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(*hash), []byte(hashSecret(secret))) != 1 {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "device credentials are invalid")
	}
	return &d, nil
}

// touchDevice records a contact (throttled to one write per device every 10 s).
func (s *Service) touchDevice(ctx context.Context, id, ip string) {
	s.touchMu.Lock()
	last := s.touched[id]
	now := s.now()
	if now.Sub(last) < 10*time.Second {
		s.touchMu.Unlock()
		return
	}
	s.touched[id] = now
	s.touchMu.Unlock()
	_, _ = s.DB.Pool.Exec(ctx, `UPDATE devices SET last_seen_at = now(), last_ip = CASE WHEN $2 = '' THEN last_ip ELSE $2 END WHERE id = $1`, id, ip)
}

// RevokeDevice cuts a device off: its credentials stop working at once, its live connections are
// closed, and it is told (now if connected, else at its next contact) to purge its replica.
func (s *Service) RevokeDevice(ctx context.Context, id, reason string, actor *hub.Principal) (*Device, error) {
	if !postgres.ValidUUID(id) {
		return nil, hub.Errorf(hub.ENOTFOUND, "device not found")
	}
	tag, err := s.DB.Pool.Exec(ctx, `UPDATE devices SET status = 'revoked', revoked_at = coalesce(revoked_at, now()), revoked_by = $2,
		revoke_reason = $3, enrollment_code_hash = NULL, enrollment_expires_at = NULL, updated_at = now() WHERE id = $1`,
		id, actorID(actor), strings.TrimSpace(reason))
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, hub.Errorf(hub.ENOTFOUND, "device not found")
	}
	s.metrics.revocations.Inc()
	s.sendControl(id, Control{Type: ControlRevoke, Reason: "this device was revoked by the office: purge the replica"})
	s.disconnect(id)
	return s.FindDeviceByID(ctx, id)
}
