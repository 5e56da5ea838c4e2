// Package demostaff names the staff of the demonstration: the people the
// console's sign-in page offers in dev mode, and whom `ledgerctl demo`
// tells about. It holds names only, no credential.
package demostaff

import "github.com/ofii/allowances/payments"

// Person is one of the demo staff.
type Person struct {
	Name  string   // as the audit trail records it
	First string   // as the sign-in page shows it
	Roles []string // the staff API's roles
}

// Staff are the demo staff: a preparer, two approvers (a batch above the
// second-approval threshold needs both), a controller, an auditor and two
// people of the budget (one records an amendment of an appropriation, the
// other confirms it).
var Staff = []Person{
	{"marie.preparer", "Marie", []string{payments.RolePreparer}},
	{"paul.approver", "Paul", []string{payments.RoleApprover}},
	{"sophie.approver", "Sophie", []string{payments.RoleApprover}},
	{"claire.controller", "Claire", []string{payments.RoleController}},
	{"luc.auditor", "Luc", []string{payments.RoleAuditor}},
	{BudgetRecorder, "Agnès", []string{payments.RoleBudget}},
	{BudgetConfirmer, "Henri", []string{payments.RoleBudget}},
}

// The two people of the budget among Staff: the demonstration's
// appropriations are recorded by the first and confirmed by the second.
const (
	BudgetRecorder  = "agnes.budget"
	BudgetConfirmer = "henri.budget"
)

// Actor is the demo person named name acting from address, as the audit
// trail records them; ok is false when Staff has no one of that name.
func Actor(name, address string) (a payments.Actor, ok bool) {
	for _, p := range Staff {
		if p.Name == name {
			return payments.Actor{Name: p.Name, Roles: append([]string(nil), p.Roles...), Address: address}, true
		}
	}
	return payments.Actor{}, false
}
