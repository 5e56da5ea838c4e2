package demostaff

import (
	"slices"
	"testing"

	"github.com/ofii/allowances/internal/staff"
	"github.com/ofii/allowances/payments"
)

// TestStaff: every name once, every role one of the staff's, and the two
// people of the budget there to record and confirm, four eyes.
func TestStaff(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Staff {
		if seen[p.Name] || p.First == "" || len(p.Roles) == 0 {
			t.Errorf("demo person %+v: a name given twice, or no first name or role", p)
		}
		seen[p.Name] = true
		for _, r := range p.Roles {
			if _, err := staff.ParseRole(r); err != nil {
				t.Errorf("%s: %v", p.Name, err)
			}
		}
	}
	if BudgetRecorder == BudgetConfirmer {
		t.Fatal("one person would record and confirm the appropriations")
	}
	for _, name := range []string{BudgetRecorder, BudgetConfirmer} {
		a, ok := Actor(name, "demo")
		if !ok || a.Name != name || a.Address != "demo" || !slices.Contains(a.Roles, payments.RoleBudget) {
			t.Errorf("Actor(%s) = %+v, %v", name, a, ok)
		}
	}
	if _, ok := Actor("nobody", "demo"); ok {
		t.Error("Actor finds a person who is not of the demo staff")
	}
}
