package payments

import "context"

// ReadAction is the action of the audit trail's rows that record a read of
// a beneficiary's file.
const ReadAction = "read"

// What a read showed: the object_kind of its row in the audit trail.
const (
	ReadTimeline   = "timeline"          // GET /v1/beneficiaries/{id}
	ReadDays       = "days"              // GET /v1/beneficiaries/{id}/days
	ReadBatchLines = "batch_lines"       // GET /v1/batches/{id}/lines, one row per beneficiary of the page
	ReadException  = "payment_exception" // a payment exception, listed or changed
	ReadDeadLetter = "dead_letter"       // a dead letter of the eligibility stream
	ReadFile       = "payment_file"      // GET /v1/files/{msgId}, one row per beneficiary it pays
	ReadStatement  = "account_statement" // GET /v1/accounts/{code}/statement of a beneficiary's account
	ReadBalance    = "account_balance"   // GET /v1/accounts/{code}/balance of a beneficiary's account
)

// FieldIBAN names an IBAN shown in full among a read's fields.
const FieldIBAN = "iban"

// Read is what one request showed of one beneficiary's file: What (one of
// the Read* kinds) of which object, and the fields it showed in full.
// Beneficiary is empty only when the object names no one: a dead letter
// that could not be read that far, a payment file whose payments were not
// recorded by beneficiary.
type Read struct {
	What        string
	ObjectID    string
	Beneficiary string
	Fields      []string
	Details     map[string]any
}

// ReadLog records in the audit trail who read which beneficiary's file.
// The API records a read before it answers, and answers nothing when the
// record cannot be written: no one's file is shown without a trace.
type ReadLog interface {
	// RecordReads writes one audit row per read, all in one transaction,
	// naming by as the reader.
	RecordReads(ctx context.Context, by Actor, reads []Read) error
}
