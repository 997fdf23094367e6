package hub

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Portal names which front door a session belongs to; a session of one portal is refused by the others.
type Portal string

const (
	PortalAPI      Portal = "api"
	PortalAdmin    Portal = "admin"
	PortalCustomer Portal = "portal"
	PortalReseller Portal = "reseller"
	PortalVendor   Portal = "vendor"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	PersonID       string
	SessionID      string
	Email          string
	DisplayName    string
	Portal         Portal
	OrganizationID string
	Roles          []string
	Permissions    []string // sorted; "*" means every permission (admin)
}

// Can reports whether the principal holds perm. "*" grants everything; "domain:*" grants every
// permission of that domain; "domain:resource:*" every action on that resource.
func (p *Principal) Can(perm string) bool {
	if p == nil {
		return false
	}
	for _, have := range p.Permissions {
		if have == "*" || have == perm {
			return true
		}
		if prefix, ok := strings.CutSuffix(have, "*"); ok && strings.HasPrefix(perm, prefix) {
			return true
		}
	}
	return false
}

// HasRole reports whether the principal holds the named role.
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

// Tokens is what a successful login or refresh returns (CONTRACT.md "Auth").
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// LoginRequest carries credentials and where they came from.
type LoginRequest struct {
	Email     string
	Password  string
	Portal    Portal
	IP        string
	UserAgent string
}

// Session is a stored login: a refresh token for the API, or a cookie session for a web portal.
type Session struct {
	ID        string
	PersonID  string
	Portal    Portal
	ExpiresAt time.Time
}

// AuthService authenticates people and manages their sessions.
type AuthService interface {
	// Login checks credentials (with lockout) and opens a session; it returns the session and
	// the opaque secret that identifies it (refresh token or cookie value).
	Login(ctx context.Context, req LoginRequest) (*Session, string, error)
	// Refresh rotates an API refresh token; reuse of an old token after the grace revokes the session.
	Refresh(ctx context.Context, token, ip string) (*Session, string, error)
	// SessionByToken resolves a cookie session's secret.
	SessionByToken(ctx context.Context, token string, portal Portal) (*Session, error)
	Logout(ctx context.Context, sessionID string) error
	// Principal loads the caller of an active session with current roles and permissions.
	Principal(ctx context.Context, sessionID string) (*Principal, error)
}

type principalKey struct{}

// NewContext returns ctx carrying the principal.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
