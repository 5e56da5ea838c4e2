package staff_test

import (
	"errors"
	"testing"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/staff"
)

func TestParseRole(t *testing.T) {
	for _, r := range staff.AllRoles() {
		got, err := staff.ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Admin", "system", "admin "} {
		if _, err := staff.ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

func TestActorAllow(t *testing.T) {
	a := staff.Actor{Name: "nadia", Roles: []string{string(staff.RoleApprover)}}
	if err := a.Allow("approve a batch", string(staff.RoleApprover)); err != nil {
		t.Errorf("approver refused: %v", err)
	}
	var e *errs.Error
	if err := a.Allow("submit a batch", string(staff.RolePreparer), string(staff.RoleAdmin)); !errors.As(err, &e) || e.Code != errs.Forbidden {
		t.Errorf("got %v, want forbidden", err)
	}
	if err := (staff.Actor{Roles: a.Roles}).Allow("approve a batch", string(staff.RoleApprover)); !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "actor" {
		t.Errorf("nameless actor: got %v, want invalid actor", err)
	}
}
