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
// second-approval threshold needs both), a controller and an auditor.
var Staff = []Person{
	{"marie.preparer", "Marie", []string{payments.RolePreparer}},
	{"paul.approver", "Paul", []string{payments.RoleApprover}},
	{"sophie.approver", "Sophie", []string{payments.RoleApprover}},
	{"claire.controller", "Claire", []string{payments.RoleController}},
	{"luc.auditor", "Luc", []string{payments.RoleAuditor}},
}
