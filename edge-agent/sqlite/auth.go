package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"dotmac.dev/field/edge-agent"
)

// CacheCredentials remembers a password the hub accepted, as a bcrypt hash, for offline login.
func (d *DB) CacheCredentials(ctx context.Context, email, password string, me agent.Me) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("sqlite: hash: %w", err)
	}
	raw, err := json.Marshal(me)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO credentials_cache (email, person_id, password_hash, me, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET person_id = excluded.person_id, password_hash = excluded.password_hash, me = excluded.me, updated_at = excluded.updated_at`,
		strings.ToLower(strings.TrimSpace(email)), me.ID, string(hash), string(raw), ts(d.now()))
	return err
}

// ForgetCredentials drops the cached password of email (the hub refused it).
func (d *DB) ForgetCredentials(ctx context.Context, email string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM credentials_cache WHERE email = ?`, strings.ToLower(strings.TrimSpace(email)))
	return err
}

// CheckCachedCredentials verifies a password against the cache (offline login).
func (d *DB) CheckCachedCredentials(ctx context.Context, email, password string) (agent.Me, error) {
	var hash, raw string
	err := d.db.QueryRowContext(ctx, `SELECT password_hash, me FROM credentials_cache WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))).Scan(&hash, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return agent.Me{}, agent.Errorf(agent.EUNAUTHORIZED, "the hub cannot be reached and this tablet has not seen this login yet: sign in once while online")
	}
	if err != nil {
		return agent.Me{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return agent.Me{}, agent.Errorf(agent.EUNAUTHORIZED, "wrong email or password")
	}
	var me agent.Me
	if err := json.Unmarshal([]byte(raw), &me); err != nil {
		return agent.Me{}, err
	}
	return me, nil
}

// CachedMe returns the cached profile of a person.
func (d *DB) CachedMe(ctx context.Context, personID string) (agent.Me, error) {
	var raw string
	err := d.db.QueryRowContext(ctx, `SELECT me FROM credentials_cache WHERE person_id = ? ORDER BY updated_at DESC LIMIT 1`, personID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return agent.Me{}, agent.Errorf(agent.EUNAUTHORIZED, "unknown user")
	}
	if err != nil {
		return agent.Me{}, err
	}
	var me agent.Me
	err = json.Unmarshal([]byte(raw), &me)
	return me, err
}

// Tokens is a local session's token pair.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Session lifetimes.
const (
	AccessTTL  = time.Hour
	RefreshTTL = 30 * 24 * time.Hour
)

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// CreateSession issues local tokens for person.
func (d *DB) CreateSession(ctx context.Context, person string) (Tokens, error) {
	t := Tokens{AccessToken: randomToken(), RefreshToken: randomToken(), TokenType: "bearer", ExpiresIn: int(AccessTTL.Seconds())}
	now := d.now()
	_, err := d.db.ExecContext(ctx, `INSERT INTO sessions (id, person_id, access_hash, refresh_hash, access_expires_at, refresh_expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, newID(), person, tokenHash(t.AccessToken), tokenHash(t.RefreshToken), ts(now.Add(AccessTTL)), ts(now.Add(RefreshTTL)), ts(now))
	if err != nil {
		return Tokens{}, fmt.Errorf("sqlite: session: %w", err)
	}
	return t, nil
}

// Authenticate returns the person of a valid access token.
func (d *DB) Authenticate(ctx context.Context, access string) (string, error) {
	var person, exp string
	var revoked bool
	err := d.db.QueryRowContext(ctx, `SELECT person_id, access_expires_at, revoked FROM sessions WHERE access_hash = ?`, tokenHash(access)).Scan(&person, &exp, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return "", agent.Errorf(agent.EUNAUTHORIZED, "sign in again")
	}
	if err != nil {
		return "", err
	}
	if t, ok := parseTime(exp); revoked || !ok || d.now().After(t) {
		return "", agent.Errorf(agent.EUNAUTHORIZED, "the session expired: refresh or sign in again")
	}
	return person, nil
}

// Refresh rotates a session's tokens. Presenting an already rotated refresh token revokes the
// session (it was stolen or replayed).
func (d *DB) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	var t Tokens
	var used string
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		h := tokenHash(refresh)
		if err := tx.QueryRowContext(ctx, `SELECT session_id FROM used_refresh_tokens WHERE refresh_hash = ?`, h).Scan(&used); err == nil {
			return errReused
		}
		var id, exp string
		var revoked bool
		err := tx.QueryRowContext(ctx, `SELECT id, refresh_expires_at, revoked FROM sessions WHERE refresh_hash = ?`, h).Scan(&id, &exp, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return agent.Errorf(agent.EUNAUTHORIZED, "sign in again")
		}
		if err != nil {
			return err
		}
		if e, ok := parseTime(exp); revoked || !ok || d.now().After(e) {
			return agent.Errorf(agent.EUNAUTHORIZED, "the session expired: sign in again")
		}
		t = Tokens{AccessToken: randomToken(), RefreshToken: randomToken(), TokenType: "bearer", ExpiresIn: int(AccessTTL.Seconds())}
		now := d.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO used_refresh_tokens (refresh_hash, session_id) VALUES (?, ?)`, h, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET access_hash = ?, refresh_hash = ?, access_expires_at = ?, refresh_expires_at = ? WHERE id = ?`,
			tokenHash(t.AccessToken), tokenHash(t.RefreshToken), ts(now.Add(AccessTTL)), ts(now.Add(RefreshTTL)), id)
		return err
	})
	if errors.Is(err, errReused) {
		if _, err := d.db.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE id = ?`, used); err != nil {
			return Tokens{}, err
		}
		return Tokens{}, agent.Errorf(agent.EUNAUTHORIZED, "this refresh token was already used: the session is revoked")
	}
	return t, err
}

var errReused = errors.New("refresh token reused")

// Logout revokes the session of an access token.
func (d *DB) Logout(ctx context.Context, access string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE access_hash = ?`, tokenHash(access))
	return err
}
