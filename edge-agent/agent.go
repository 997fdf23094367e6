// Package agent is the edge agent's domain: the enrolled device's credentials, the error type
// every layer shares, and the interfaces the local web API and the sync client are written
// against. Adapters live in sub-packages: sqlite (the replica), natsync (sync with the hub),
// web (the local API and the PWA); cmd/edge-agent wires them.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Error codes, as in the API error shape of CONTRACT.md.
const (
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ERATELIMITED  = "rate_limited"
	EINTERNAL     = "internal"
	// EUNAVAILABLE is a transient refusal (503, Retry-After): the replica is busy, e.g. while a
	// bootstrap or reset rewrites it in one transaction. The PWA retries with the same client id.
	EUNAVAILABLE = "unavailable"
)

// Error is a failure with a code and a message safe to show to the technician.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	// Status overrides the HTTP status chosen from Code (422 for a gate not met).
	Status int
}

func (e *Error) Error() string { return fmt.Sprintf("agent: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL when it carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Credentials is what enrollment gives the device (PROTOCOL.md section 1).
type Credentials struct {
	DeviceID     string    `json:"device_id"`
	TechnicianID string    `json:"technician_id"`
	HubURL       string    `json:"hub_url"`
	NATSURL      string    `json:"nats_url"`
	NATSUser     string    `json:"nats_user,omitempty"`
	NATSPassword string    `json:"nats_password,omitempty"`
	NATSJWT      string    `json:"nats_jwt,omitempty"`
	NATSSeed     string    `json:"nats_seed,omitempty"`
	DeviceToken  string    `json:"device_token,omitempty"`
	EnrolledAt   time.Time `json:"enrolled_at"`
}

// Token is the bearer token for the hub's device endpoints.
func (c Credentials) Token() string {
	if c.DeviceToken != "" {
		return c.DeviceToken
	}
	return c.NATSPassword
}

// Validate checks that the credentials can be used.
func (c Credentials) Validate() error {
	switch {
	case c.DeviceID == "" || c.TechnicianID == "":
		return errors.New("agent: credentials need device_id and technician_id")
	case c.HubURL == "":
		return errors.New("agent: credentials need hub_url")
	case c.NATSURL == "":
		return errors.New("agent: credentials need nats_url")
	case c.NATSPassword == "" && (c.NATSJWT == "" || c.NATSSeed == ""):
		return errors.New("agent: credentials need nats_password or nats_jwt and nats_seed")
	}
	return nil
}

// File names in the data directory.
const (
	CredentialsFile = "credentials.json"
	RevokedFile     = "REVOKED"
	DatabaseFile    = "replica.db"
	BlobsDir        = "blobs"
	BootstrapDir    = "bootstrap" // the snapshot file being downloaded (PROTOCOL.md §5)
)

// ErrNotEnrolled is returned by LoadCredentials when the directory holds none.
var ErrNotEnrolled = errors.New("agent: not enrolled (run edge-agent enroll)")

// ErrRevoked is returned when the device was revoked and purged.
var ErrRevoked = errors.New("agent: this device was revoked; its data was purged")

// LoadCredentials reads DIR/credentials.json.
func LoadCredentials(dir string) (Credentials, error) {
	if _, err := os.Stat(filepath.Join(dir, RevokedFile)); err == nil {
		return Credentials{}, ErrRevoked
	}
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, ErrNotEnrolled
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("agent: read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return Credentials{}, fmt.Errorf("agent: credentials: %w", err)
	}
	return c, c.Validate()
}

// SaveCredentials writes DIR/credentials.json with mode 0600 (atomically).
func SaveCredentials(dir string, c Credentials) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: data dir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return fmt.Errorf("agent: write credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: write credentials: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: write credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: write credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agent: write credentials: %w", err)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, CredentialsFile))
}

// Me is the signed-in technician (GET /api/v1/auth/me).
type Me struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// SyncState is what the sync client reports for GET /api/v1/sync/status.
type SyncState struct {
	Online    bool
	LastError string
}

// SyncReporter is implemented by the sync client.
type SyncReporter interface {
	SyncState() SyncState
}

// HubAuth checks a technician's hub credentials when the hub can be reached (natsync.HubClient).
type HubAuth interface {
	// Login returns the hub's view of the person. It returns an *Error with EUNAUTHORIZED when the
	// hub refuses the password, and ErrHubUnreachable when the hub cannot be asked.
	Login(ctx context.Context, email, password string) (Me, error)
}

// ErrHubUnreachable means the hub could not be asked (offline, or a server error).
var ErrHubUnreachable = errors.New("agent: hub unreachable")
