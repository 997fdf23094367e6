package hub

import (
	"context"
	"regexp"
)

// Permissions is the catalogue of permission strings (domain:resource:action) the hub knows. The
// route walker test fails when a route names a permission missing from it.
var Permissions = []string{
	"audit:log:read",
	"system:settings:read", "system:settings:write",
	"rbac:role:read", "rbac:role:write", "rbac:role:delete", "rbac:permission:read", "rbac:role:assign",
	"people:person:read", "people:person:write", "people:person:deactivate",
	"customer:account:read", "customer:account:create", "customer:account:update", "customer:account:delete",
	"operations:work_order:read", "operations:work_order:create", "operations:work_order:update",
	"operations:work_order:delete", "operations:work_order:dispatch",
	"operations:technician:read", "operations:technician:write",
	"operations:material_request:read", "operations:material_request:write",
	"support:ticket:read", "support:ticket:create", "support:ticket:update", "support:ticket:assign", "support:ticket:close",
	"inventory:item:read", "inventory:item:write", "inventory:stock:read", "inventory:stock:write",
	"inventory:reservation:write", "inventory:location:write", "inventory:transfer:write",
	"operations:material_request:approve",
	"network:fiber:read", "network:fiber:write", "network:fiber:import", "network:change_request:review",
	"gis:map:view", "gis:map:edit", "gis:export",
	"survey:site:read", "survey:site:write", "survey:form:read", "survey:form:write",
	"crm:contact:read", "crm:contact:write", "crm:inbox:read",
	"project:project:read", "project:project:write",
	"reports:operations:read",
	"sync:device:read", "sync:device:write", "sync:conflict:read", "sync:conflict:resolve",
	"field:job:read", "field:job:transition", "field:note:create", "field:worklog:write",
	"field:attachment:create", "field:attachment:read", "field:material:confirm", "field:schedule:read",
	"field:device:register", "field:location:write", "field:survey:write", "field:fiber:propose", "field:map:read",
	"field:fiber:test",
	"portal:account:read", "portal:work_order:read", "portal:visit:confirm",
	"reseller:account:read", "reseller:subscriber:read",
	"vendor:project:read", "vendor:quote:write", "vendor:fiber:propose",
}

var permPattern = regexp.MustCompile(`^[a-z_]+:[a-z_*-]+:[a-z_*-]+$`)

// ValidPermission reports whether s is a well-formed permission string.
func ValidPermission(s string) bool { return s == "*" || permPattern.MatchString(s) }

// SystemRole is a seeded role with its permissions.
type SystemRole struct {
	Name        string
	Description string
	Permissions []string
}

// SystemRoles are seeded at every migrate; their permission sets are reset to these lists.
var SystemRoles = []SystemRole{
	{"admin", "Everything", []string{"*"}},
	{"dispatcher", "Plans and dispatches field work", []string{
		"operations:work_order:read", "operations:work_order:create", "operations:work_order:update",
		"operations:work_order:dispatch", "operations:technician:read", "operations:technician:write",
		"operations:material_request:read", "operations:material_request:write",
		"customer:account:read", "customer:account:create", "customer:account:update",
		"support:ticket:read", "support:ticket:create", "support:ticket:update", "support:ticket:assign",
		"inventory:item:read", "inventory:stock:read", "inventory:reservation:write",
		"operations:material_request:approve",
		"network:fiber:read", "gis:map:view", "gis:export", "survey:site:read", "survey:form:read",
		"sync:device:read", "sync:conflict:read", "sync:conflict:resolve", "reports:operations:read",
		"people:person:read",
	}},
	{"support", "Answers customers and works tickets", []string{
		"support:ticket:read", "support:ticket:create", "support:ticket:update", "support:ticket:assign",
		"support:ticket:close", "customer:account:read", "customer:account:update",
		"operations:work_order:read", "operations:work_order:create", "crm:contact:read",
		"crm:contact:write", "crm:inbox:read", "people:person:read",
	}},
	// field_technician holds only field:* permissions. It deliberately lacks
	// operations:work_order:update (tested).
	{"field_technician", "Works jobs in the field through the PWA", []string{
		"field:job:read", "field:job:transition", "field:note:create", "field:worklog:write",
		"field:attachment:create", "field:attachment:read", "field:material:confirm", "field:schedule:read",
		"field:device:register", "field:location:write", "field:survey:write", "field:fiber:propose", "field:map:read",
		"field:fiber:test",
	}},
	{"auditor", "Reads everything, changes nothing", []string{
		"audit:log:read", "system:settings:read", "rbac:role:read", "rbac:permission:read", "people:person:read",
		"customer:account:read", "operations:work_order:read", "operations:technician:read",
		"operations:material_request:read", "support:ticket:read", "inventory:item:read", "inventory:stock:read",
		"network:fiber:read", "gis:map:view", "survey:site:read", "survey:form:read", "crm:contact:read",
		"project:project:read", "reports:operations:read", "sync:device:read", "sync:conflict:read",
	}},
	{"customer", "A subscriber on the customer portal", []string{"portal:account:read", "portal:work_order:read", "portal:visit:confirm"}},
	{"reseller", "A reseller on the reseller portal", []string{"reseller:account:read", "reseller:subscriber:read", "network:fiber:read"}},
	{"vendor", "A contractor on the vendor portal", []string{"vendor:project:read", "vendor:quote:write", "vendor:fiber:propose", "network:fiber:read"}},
}

// Role is a named set of permissions.
type Role struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	IsSystem    bool     `json:"is_system"`
	Permissions []string `json:"permissions"`
}

// RBACService manages roles and grants.
type RBACService interface {
	FindRoles(ctx context.Context) ([]Role, error)
	CreateRole(ctx context.Context, r Role, actor *Principal) (*Role, error)
	SetRolePermissions(ctx context.Context, roleID string, perms []string, actor *Principal) error
	GrantRole(ctx context.Context, personID, roleName string, actor *Principal) error
	RevokeRole(ctx context.Context, personID, roleName string, actor *Principal) error
	GrantPermission(ctx context.Context, personID, perm string, actor *Principal) error
}
