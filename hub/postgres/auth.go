package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/secret"
)

// AuthService implements hub.AuthService.
type AuthService struct {
	db *DB

	MaxFailures     int           // failed logins before a lockout (5)
	LockoutDuration time.Duration // 15 min
	RefreshTTL      time.Duration // API refresh tokens (30 days)
	WebSessionTTL   time.Duration // cookie sessions (12 h)
	RotationGrace   time.Duration // how long the previous refresh token still works (30 s)

	cache *principalCache
	dummy string // hash checked for unknown emails so timing does not reveal them
}

// NewAuthService returns the service with the CONTRACT defaults.
func NewAuthService(db *DB) *AuthService {
	dummy, _ := secret.HashPassword("dummy password for timing")
	return &AuthService{
		db: db, MaxFailures: 5, LockoutDuration: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour,
		WebSessionTTL: 12 * time.Hour, RotationGrace: 30 * time.Second,
		cache: newPrincipalCache(), dummy: dummy,
	}
}

var errBadLogin = hub.Errorf(hub.EUNAUTHORIZED, "invalid email or password")

// Login implements hub.AuthService.
func (s *AuthService) Login(ctx context.Context, req hub.LoginRequest) (*hub.Session, string, error) {
	email := strings.TrimSpace(req.Email)
	f := hub.Fields{}
	if email == "" {
		f.Add("email", "is required")
	}
	if req.Password == "" {
		f.Add("password", "is required")
	}
	if err := f.Err(); err != nil {
		return nil, "", err
	}
	now := s.db.Now()
	var (
		personID, status, hash string
		failures               int
		lockedUntil            *time.Time
		roles                  []string
	)
	err := s.db.Pool.QueryRow(ctx, `
		SELECT p.id, p.status, c.password_hash, c.failed_attempts, c.locked_until,
			coalesce(array(SELECT r.name FROM person_roles pr JOIN roles r ON r.id = pr.role_id WHERE pr.person_id = p.id), '{}')
		FROM people p JOIN credentials c ON c.person_id = p.id WHERE p.email = $1`, email).
		Scan(&personID, &status, &hash, &failures, &lockedUntil, &roles)
	if errors.Is(err, pgx.ErrNoRows) {
		secret.CheckPassword(s.dummy, req.Password)
		s.audit(ctx, hub.AuditEntry{ActorEmail: email, Action: "auth.login", IP: req.IP, Success: false,
			Details: map[string]any{"reason": "unknown email", "portal": req.Portal}})
		return nil, "", errBadLogin
	}
	if err != nil {
		return nil, "", err
	}
	if lockedUntil != nil && lockedUntil.After(now) {
		s.audit(ctx, hub.AuditEntry{ActorID: &personID, ActorEmail: email, Action: "auth.login", IP: req.IP, Success: false,
			Details: map[string]any{"reason": "locked", "portal": req.Portal}})
		mins := int(lockedUntil.Sub(now).Minutes()) + 1
		return nil, "", hub.Errorf(hub.EUNAUTHORIZED, "too many failed logins: try again in %d minutes", mins)
	}
	ok, err := secret.CheckPassword(hash, req.Password)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		if lockedUntil != nil { // an expired lock starts a fresh count
			failures = 0
		}
		failures++
		var lock *time.Time
		if failures >= s.MaxFailures {
			t := now.Add(s.LockoutDuration)
			lock = &t
		}
		if _, err := s.db.Pool.Exec(ctx, `UPDATE credentials SET failed_attempts = $2, locked_until = $3 WHERE person_id = $1`,
			personID, failures, lock); err != nil {
			return nil, "", err
		}
		details := map[string]any{"reason": "wrong password", "portal": req.Portal, "failures": failures}
		if lock != nil {
			details["locked_until"] = lock
		}
		s.audit(ctx, hub.AuditEntry{ActorID: &personID, ActorEmail: email, Action: "auth.login", IP: req.IP, Success: false, Details: details})
		return nil, "", errBadLogin
	}
	if status != hub.PersonActive {
		s.audit(ctx, hub.AuditEntry{ActorID: &personID, ActorEmail: email, Action: "auth.login", IP: req.IP, Success: false,
			Details: map[string]any{"reason": "person " + status, "portal": req.Portal}})
		return nil, "", hub.Errorf(hub.EUNAUTHORIZED, "this account is %s", status)
	}
	if !portalAllows(req.Portal, roles) {
		s.audit(ctx, hub.AuditEntry{ActorID: &personID, ActorEmail: email, Action: "auth.login", IP: req.IP, Success: false,
			Details: map[string]any{"reason": "wrong portal", "portal": req.Portal}})
		return nil, "", hub.Errorf(hub.EFORBIDDEN, "this account cannot sign in here")
	}
	ttl := s.RefreshTTL
	if req.Portal != hub.PortalAPI {
		ttl = s.WebSessionTTL
	}
	tok := secret.NewToken(32)
	sess := &hub.Session{ID: NewID(), PersonID: personID, Portal: req.Portal, ExpiresAt: now.Add(ttl)}
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE credentials SET failed_attempts = 0, locked_until = NULL WHERE person_id = $1`, personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, person_id, portal, token_hash, ip, user_agent, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, sess.ID, personID, string(req.Portal), secret.Digest(tok), req.IP,
			truncate(req.UserAgent, 300), sess.ExpiresAt); err != nil {
			return err
		}
		return writeAudit(ctx, tx, hub.AuditEntry{ActorID: &personID, ActorEmail: email, Action: "auth.login", IP: req.IP,
			Success: true, TargetType: "session", TargetID: sess.ID, Details: map[string]any{"portal": req.Portal}})
	})
	if err != nil {
		return nil, "", err
	}
	return sess, sess.ID + "." + tok, nil
}

// portalAllows decides who may open a session where: customers, resellers and vendors only on their
// own portal (and the API); staff on the admin portal and the API.
func portalAllows(p hub.Portal, roles []string) bool {
	has := func(name string) bool {
		for _, r := range roles {
			if r == name {
				return true
			}
		}
		return false
	}
	switch p {
	case hub.PortalAPI:
		return true
	case hub.PortalCustomer:
		return has("customer")
	case hub.PortalReseller:
		return has("reseller")
	case hub.PortalVendor:
		return has("vendor")
	case hub.PortalAdmin:
		for _, r := range roles {
			if r != "customer" && r != "reseller" && r != "vendor" {
				return true
			}
		}
	}
	return false
}

func splitToken(tok string) (id, sec string, ok bool) {
	id, sec, ok = strings.Cut(tok, ".")
	if !ok || !ValidUUID(id) || sec == "" {
		return "", "", false
	}
	return id, sec, true
}

var errBadRefresh = hub.Errorf(hub.EUNAUTHORIZED, "the refresh token is invalid or expired")

// Refresh implements hub.AuthService: rotation with a grace for the previous token; reuse after
// the grace revokes the session.
func (s *AuthService) Refresh(ctx context.Context, tok, ip string) (*hub.Session, string, error) {
	id, sec, ok := splitToken(tok)
	if !ok {
		return nil, "", errBadRefresh
	}
	now := s.db.Now()
	var out *hub.Session
	var newTok string
	var reused bool
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var (
			personID, portal, status string
			cur, prev                []byte
			rotatedAt                *time.Time
			expires                  time.Time
			personStatus             string
		)
		err := tx.QueryRow(ctx, `SELECT s.person_id, s.portal, s.status, s.token_hash, s.previous_token_hash, s.rotated_at,
			s.expires_at, p.status FROM sessions s JOIN people p ON p.id = s.person_id WHERE s.id = $1 FOR UPDATE OF s`, id).
			Scan(&personID, &portal, &status, &cur, &prev, &rotatedAt, &expires, &personStatus)
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadRefresh
		}
		if err != nil {
			return err
		}
		if status != "active" || portal != string(hub.PortalAPI) || !expires.After(now) || personStatus != hub.PersonActive {
			return errBadRefresh
		}
		d := secret.Digest(sec)
		switch {
		case bytes.Equal(d, cur):
			// normal rotation
		case prev != nil && bytes.Equal(d, prev) && rotatedAt != nil && now.Sub(*rotatedAt) <= s.RotationGrace:
			// a retry of a rotation whose answer was lost: issue a fresh token, keep the grace window
		case prev != nil && bytes.Equal(d, prev):
			reused = true
			if _, err := tx.Exec(ctx, `UPDATE sessions SET status = 'revoked', revoked_reason = 'refresh token reused' WHERE id = $1`, id); err != nil {
				return err
			}
			if err := writeAudit(ctx, tx, hub.AuditEntry{ActorID: &personID, Action: "auth.refresh_reuse", IP: ip, Success: false,
				TargetType: "session", TargetID: id}); err != nil {
				return err
			}
			return notifyInvalidate(ctx, tx, "session:"+id)
		default:
			return errBadRefresh
		}
		newTok = secret.NewToken(32)
		newPrev := cur
		if !bytes.Equal(d, cur) {
			newPrev = prev
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET token_hash = $2, previous_token_hash = $3, rotated_at = $4, last_seen_at = $4, ip = $5
			WHERE id = $1`, id, secret.Digest(newTok), newPrev, now, ip); err != nil {
			return err
		}
		out = &hub.Session{ID: id, PersonID: personID, Portal: hub.Portal(portal), ExpiresAt: expires}
		return nil
	})
	if reused {
		s.cache.invalidate("session:" + id)
		return nil, "", hub.Errorf(hub.EUNAUTHORIZED, "this refresh token was already used: the session is revoked, sign in again")
	}
	if err != nil {
		return nil, "", err
	}
	return out, id + "." + newTok, nil
}

// SessionByToken implements hub.AuthService for cookie sessions.
func (s *AuthService) SessionByToken(ctx context.Context, tok string, portal hub.Portal) (*hub.Session, error) {
	id, sec, ok := splitToken(tok)
	if !ok {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "not signed in")
	}
	var sess hub.Session
	var hash []byte
	var p, status string
	err := s.db.Pool.QueryRow(ctx, `SELECT id, person_id, portal, token_hash, status, expires_at FROM sessions WHERE id = $1`, id).
		Scan(&sess.ID, &sess.PersonID, &p, &hash, &status, &sess.ExpiresAt)
	if err != nil || status != "active" || p != string(portal) || !sess.ExpiresAt.After(s.db.Now()) || !bytes.Equal(hash, secret.Digest(sec)) {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "not signed in")
	}
	sess.Portal = hub.Portal(p)
	return &sess, nil
}

// Logout implements hub.AuthService.
func (s *AuthService) Logout(ctx context.Context, sessionID string) error {
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var personID string
		err := tx.QueryRow(ctx, `UPDATE sessions SET status = 'revoked', revoked_reason = 'logout' WHERE id = $1 AND status = 'active' RETURNING person_id`,
			sessionID).Scan(&personID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, hub.AuditEntry{ActorID: &personID, Action: "auth.logout", TargetType: "session", TargetID: sessionID, Success: true}); err != nil {
			return err
		}
		return notifyInvalidate(ctx, tx, "session:"+sessionID)
	})
	s.cache.invalidate("session:" + sessionID)
	return err
}

// Principal implements hub.AuthService with a cache that LISTEN/NOTIFY keeps fresh across replicas.
func (s *AuthService) Principal(ctx context.Context, sessionID string) (*hub.Principal, error) {
	if p, ok := s.cache.get(sessionID, s.db.Now()); ok {
		if p == nil {
			return nil, hub.Errorf(hub.EUNAUTHORIZED, "the session has ended: sign in again")
		}
		return p, nil
	}
	gen := s.cache.generation()
	p, err := s.loadPrincipal(ctx, sessionID)
	if err != nil {
		if hub.ErrorCode(err) == hub.EUNAUTHORIZED {
			s.cache.put(sessionID, nil, gen, s.db.Now())
		}
		return nil, err
	}
	s.cache.put(sessionID, p, gen, s.db.Now())
	return p, nil
}

func (s *AuthService) loadPrincipal(ctx context.Context, sessionID string) (*hub.Principal, error) {
	p := &hub.Principal{SessionID: sessionID}
	var portal, sessStatus, personStatus string
	var expires time.Time
	var org *string
	err := s.db.Pool.QueryRow(ctx, `
		SELECT s.person_id, s.portal, s.status, s.expires_at, p.email, coalesce(nullif(p.display_name, ''), p.email), p.status, p.organization_id,
			coalesce(array(SELECT r.name FROM person_roles pr JOIN roles r ON r.id = pr.role_id WHERE pr.person_id = p.id ORDER BY 1), '{}'),
			coalesce(array(SELECT DISTINCT x.perm FROM (
				SELECT rp.permission AS perm FROM person_roles pr JOIN role_permissions rp ON rp.role_id = pr.role_id WHERE pr.person_id = p.id
				UNION SELECT pp.permission FROM person_permissions pp WHERE pp.person_id = p.id) x ORDER BY 1), '{}')
		FROM sessions s JOIN people p ON p.id = s.person_id WHERE s.id = $1`, sessionID).
		Scan(&p.PersonID, &portal, &sessStatus, &expires, &p.Email, &p.DisplayName, &personStatus, &org, &p.Roles, &p.Permissions)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "the session has ended: sign in again")
	}
	if err != nil {
		return nil, err
	}
	if sessStatus != "active" || !expires.After(s.db.Now()) || personStatus != hub.PersonActive {
		return nil, hub.Errorf(hub.EUNAUTHORIZED, "the session has ended: sign in again")
	}
	p.Portal = hub.Portal(portal)
	if org != nil {
		p.OrganizationID = *org
	}
	return p, nil
}

// RevokePersonSessions ends every active session of a person (deactivation), at once.
func RevokePersonSessions(ctx context.Context, tx pgx.Tx, personID, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE sessions SET status = 'revoked', revoked_reason = $2 WHERE person_id = $1 AND status = 'active'`,
		personID, reason); err != nil {
		return err
	}
	return notifyInvalidate(ctx, tx, "person:"+personID)
}

// Invalidate drops cached principals now (the NOTIFY reaches other replicas at commit).
func (s *AuthService) Invalidate(key string) { s.cache.invalidate(key) }

func (s *AuthService) audit(ctx context.Context, e hub.AuditEntry) {
	if err := writeAudit(ctx, s.db.Pool, e); err != nil {
		s.db.Logger.Error("audit write failed", "action", e.Action, "error", err)
	}
}

// writeAudit inserts an audit row through a pool or a transaction.
func writeAudit(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, e hub.AuditEntry) error {
	details, err := json.Marshal(e.Details)
	if err != nil || e.Details == nil {
		details = []byte("{}")
	}
	var id string
	return q.QueryRow(ctx, `INSERT INTO audit_log (id, actor_id, actor_email, action, target_type, target_id, ip, success, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		NewID(), e.ActorID, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP, e.Success, details).Scan(&id)
}

func notifyInvalidate(ctx context.Context, tx pgx.Tx, key string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify('dmf_authz', $1)`, key)
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// principalCache caches principals by session id. Entries live at most ttl; invalidations by
// session, person or "all" arrive through LISTEN dmf_authz (ListenInvalidations). A generation
// counter stops a load that raced an invalidation from caching stale data.
type principalCache struct {
	mu      sync.Mutex
	gen     uint64
	ttl     time.Duration
	entries map[string]cacheEntry
}

type cacheEntry struct {
	p   *hub.Principal
	at  time.Time
	gen uint64
}

func newPrincipalCache() *principalCache {
	return &principalCache{ttl: 30 * time.Second, entries: map[string]cacheEntry{}}
}

func (c *principalCache) generation() uint64 { c.mu.Lock(); defer c.mu.Unlock(); return c.gen }

func (c *principalCache) get(id string, now time.Time) (*hub.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || now.Sub(e.at) > c.ttl {
		return nil, false
	}
	return e.p, true
}

func (c *principalCache) put(id string, p *hub.Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) > 100_000 {
		c.entries = map[string]cacheEntry{}
	}
	c.entries[id] = cacheEntry{p: p, at: now, gen: gen}
}

func (c *principalCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	kind, id, _ := strings.Cut(key, ":")
	switch kind {
	case "session":
		delete(c.entries, id)
	case "person":
		for k, e := range c.entries {
			if e.p == nil || e.p.PersonID == id {
				delete(c.entries, k)
			}
		}
	default:
		c.entries = map[string]cacheEntry{}
	}
}

// ListenInvalidations keeps the cache fresh from NOTIFY dmf_authz until ctx ends. When the listen
// connection drops, the cache is flushed (it may have missed notifications) and the loop reconnects.
func (s *AuthService) ListenInvalidations(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.cache.invalidate("all")
		if ctx.Err() != nil {
			return
		}
		s.db.Logger.Warn("authz listener stopped; reconnecting", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *AuthService) listenOnce(ctx context.Context) error {
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN dmf_authz`); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `UNLISTEN dmf_authz`)
	s.cache.invalidate("all")
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		s.cache.invalidate(n.Payload)
	}
}
