package hub

import (
	"context"
	"time"
)

// Person statuses.
const (
	PersonActive   = "active"
	PersonInactive = "inactive"
	PersonArchived = "archived"
)

// Person is anyone the hub knows: staff, technicians, customers' contacts, reseller and vendor users.
type Person struct {
	ID             string    `json:"id"`
	FirstName      string    `json:"first_name"`
	LastName       string    `json:"last_name"`
	DisplayName    string    `json:"display_name"`
	Email          string    `json:"email"`
	Phone          string    `json:"phone"`
	Status         string    `json:"status"`
	OrganizationID *string   `json:"organization_id"`
	Roles          []string  `json:"roles"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// PersonCreate is the input of CreatePerson; Password empty means no login.
type PersonCreate struct {
	FirstName      string   `json:"first_name"`
	LastName       string   `json:"last_name"`
	Email          string   `json:"email"`
	Phone          string   `json:"phone"`
	Password       string   `json:"password"`
	OrganizationID *string  `json:"organization_id"`
	Roles          []string `json:"roles"`
}

// PersonUpdate carries the fields to change; nil leaves a field alone.
type PersonUpdate struct {
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
	Phone     *string `json:"phone"`
	Status    *string `json:"status"`
}

// PersonFilter selects people.
type PersonFilter struct {
	Query  string
	Status string
	Role   string
	Limit  int
	Offset int
}

// Organization is a customer, reseller, vendor or partner account; resellers own a subtree.
type Organization struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	AccountType string    `json:"account_type"`
	Status      string    `json:"account_status"`
	ParentID    *string   `json:"parent_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// PersonService manages people.
type PersonService interface {
	FindPersonByID(ctx context.Context, id string) (*Person, error)
	FindPeople(ctx context.Context, f PersonFilter) ([]Person, int, error)
	CreatePerson(ctx context.Context, in PersonCreate, actor *Principal) (*Person, error)
	UpdatePerson(ctx context.Context, id string, upd PersonUpdate, actor *Principal) (*Person, error)
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID         string         `json:"id"`
	At         time.Time      `json:"at"`
	ActorID    *string        `json:"actor_id"`
	ActorEmail string         `json:"actor_email"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	IP         string         `json:"ip"`
	Success    bool           `json:"success"`
	Details    map[string]any `json:"details"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Action  string
	ActorID string
	Limit   int
	Offset  int
}
