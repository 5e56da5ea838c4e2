// Package staff holds who the people of the service are, for every entry
// point alike: the roles of the staff, and the Actor that asks for a
// change and is named in the audit trail. The HTTP API turns a bearer
// token into an Actor; ledgerctl names one itself when it works on the
// database directly.
package staff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ofii/allowances/internal/errs"
)

// Role is what a person may do (DESIGN.md: preparer and approver are
// different people; controllers reconcile; auditors read).
type Role string

// The roles of the staff.
const (
	RolePreparer   Role = "preparer"
	RoleApprover   Role = "approver"
	RoleController Role = "controller"
	RoleAuditor    Role = "auditor"
	RoleAdmin      Role = "admin"
	// RoleBudget records and confirms the appropriations, and lets an
	// approver who also holds it force an approval beyond the budget. It
	// is held beside another role: the routes open to every role do not
	// list it.
	RoleBudget Role = "budget"
)

// AllRoles returns every role, for what any authenticated person may do.
func AllRoles() []Role {
	return []Role{RolePreparer, RoleApprover, RoleController, RoleAuditor, RoleAdmin}
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(AllRoles(), r) || r == RoleBudget {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want preparer, approver, controller, auditor, admin or budget)", s)
}

// Names returns the names of roles, in their order.
func Names(roles []Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// Actor is who asks for a change: a person authenticated by the API or by
// ledgerctl, or the service itself (the scheduler, the bank poller). Its
// roles are names, as the audit trail records them: the service's own
// "system" is not a role of the staff.
type Actor struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Address string   `json:"address,omitempty"` // where the request came from
}

// Has reports whether a holds one of roles.
func (a Actor) Has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(a.Roles, r) {
			return true
		}
	}
	return false
}

// Allow refuses an actor without a name, or without one of roles, for what
// they ask to do: invalid without a name, forbidden without the role.
func (a Actor) Allow(what string, roles ...string) error {
	if strings.TrimSpace(a.Name) == "" {
		return errs.Field("actor", "is required: who may %s", what)
	}
	if !a.Has(roles...) {
		return errs.E(errs.Forbidden, "%s may not %s: it needs the role %s", a.Name, what, strings.Join(roles, " or "))
	}
	return nil
}
