package workflow

import "github.com/ofii/allowances/payments"

// Records are what the staff read and correct of the workflow as it is
// stored: the payment files, the payment exceptions and the audit trail.
type Records interface {
	payments.PaymentFiles
	payments.PaymentExceptions
	payments.AuditLog
}

// Store is everything the workflow asks of its store: the steps it drives,
// the records the staff read and the outbox of payment files.
type Store interface {
	Steps
	Records
	Outbox
}

// Service is the approval workflow the staff API, the server and the CLI's
// demonstration use: the batches' flow (Batches), the store's records,
// and the delivery to the bank.
type Service struct {
	*Batches
	Records
	*Delivery
}

var _ payments.Approvals = Service{}

// New returns the workflow of store, posting to l and delivering the files
// through cfg.Gateway (nil: they stay queued); cfg.Now and cfg.Logger are
// the workflow's clock and logger too.
func New(store Store, l Ledger, cfg DeliveryConfig) Service {
	b := NewBatches(store, l, cfg.Now, cfg.Logger)
	return Service{Batches: b, Records: store, Delivery: NewDelivery(store, b, cfg)}
}
