// Package token issues and verifies the hub's access JWTs (golang-jwt/jwt/v5, HS256). Keys carry a
// kid so they can rotate: the first key signs, every key verifies.
package token

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Key is one signing key.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring signs with its first key and verifies with any.
type Keyring struct {
	keys   []Key
	byID   map[string][]byte
	TTL    time.Duration
	Issuer string
}

// ParseKeys reads "kid1:secret1,kid2:secret2".
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, sec, ok := strings.Cut(part, ":")
		if !ok || id == "" || len(sec) < 32 {
			return nil, fmt.Errorf("token: key %q: want kid:secret with a secret of at least 32 characters", id)
		}
		keys = append(keys, Key{ID: id, Secret: []byte(sec)})
	}
	if len(keys) == 0 {
		return nil, errors.New("token: no keys")
	}
	return keys, nil
}

// NewKeyring builds a keyring; ttl is the access token lifetime.
func NewKeyring(keys []Key, ttl time.Duration) *Keyring {
	k := &Keyring{keys: keys, byID: map[string][]byte{}, TTL: ttl, Issuer: "dotmac-field-hub"}
	for _, key := range keys {
		k.byID[key.ID] = key.Secret
	}
	return k
}

// Claims are the access token's claims.
type Claims struct {
	SessionID string `json:"sid"`
	Portal    string `json:"prt"`
	jwt.RegisteredClaims
}

// Issue signs an access token for a session.
func (k *Keyring) Issue(personID, sessionID, portal string, now time.Time) (string, error) {
	c := Claims{
		SessionID: sessionID,
		Portal:    portal,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   personID,
			Issuer:    k.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(k.TTL)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = k.keys[0].ID
	return t.SignedString(k.keys[0].Secret)
}

// ErrExpired is returned for a well-signed token past its expiry.
var ErrExpired = errors.New("token: expired")

// ErrInvalid is returned for any other bad token.
var ErrInvalid = errors.New("token: invalid")

var parser = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("dotmac-field-hub"), jwt.WithExpirationRequired())

// Verify checks a token and returns its claims.
func (k *Keyring) Verify(s string) (*Claims, error) {
	var c Claims
	_, err := parser.ParseWithClaims(s, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		sec, ok := k.byID[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return sec, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		return nil, ErrInvalid
	}
	if c.Subject == "" || c.SessionID == "" {
		return nil, ErrInvalid
	}
	return &c, nil
}

// SigningSecret returns the current signing key's secret (to derive other keys from it).
func (k *Keyring) SigningSecret() []byte { return k.keys[0].Secret }
