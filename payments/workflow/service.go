package workflow

import "github.com/ofii/allowances/payments"

// Store is what the staff reach of the approval workflow as it is stored:
// the batches' transitions, their files, the exceptions, the audit trail
// and the application of status reports.
type Store interface {
	payments.BatchWorkflow
	payments.PaymentFiles
	payments.PaymentExceptions
	payments.AuditLog
	payments.StatusReports
}

// Service is the approval workflow the staff API and the server use: the
// store's transitions and reads, with the delivery to the bank.
type Service struct {
	Store
	*Delivery
}

var _ payments.Approvals = Service{}

// New returns the workflow of store, delivered to the bank by d.
func New(store Store, d *Delivery) Service { return Service{Store: store, Delivery: d} }
