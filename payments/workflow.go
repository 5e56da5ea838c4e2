package payments

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/staff"
	"github.com/ofii/allowances/ledger"
)

// The approval workflow of a batch (DESIGN.md, "Batches and approval"):
//
//	draft ──submit──▶ pending_approval ──approve (1 or 2)──▶ approving ──▶ approved
//	  ▲                    │ reject                                         │ release
//	  └────────────────────┘                                                ▼
//	                                                       releasing ──▶ released
//	                                                                         │ status reports
//	                                                                         ▼
//	                                                           settled or partly_rejected
//
// A preparer submits a draft; approvers other than whoever computed or
// prepared it approve it; above a threshold of gross total a second,
// distinct approver is needed. The last approval records the lines as paid
// and posts the accrual; release writes the payment files, posts payable →
// payments in transit and queues the files for the bank. Draft, pending and
// approved batches can be cancelled with a reason; an approved batch's
// accrual is then reversed. A releasing batch is cancelled for what it has
// not sent: cancelled when no file reached the bank, else released with
// the files that did. Every transition is one audit event.

// The statuses the approval workflow adds to a batch.
const (
	BatchPending        BatchStatus = "pending_approval" // submitted: waiting for its approvals
	BatchCancelling     BatchStatus = "cancelling"       // being undone: its withdrawn files, then its accrual
	BatchCancelled      BatchStatus = "cancelled"        // cancelled with a reason; never paid
	BatchReleasing      BatchStatus = "releasing"        // its payment files are being written and posted
	BatchReleased       BatchStatus = "released"         // its files are queued for the bank, or sent
	BatchSettled        BatchStatus = "settled"          // the bank accepted every payment
	BatchPartlyRejected BatchStatus = "partly_rejected"  // the bank rejected some (or all) payments
)

// RunReissue is the kind of the batches that pay again, to a corrected
// payee, what the bank rejected. They have no run.
const RunReissue RunKind = "reissue"

// LineReissue is a line paying again a rejected line: its amount was
// accrued when the first batch was approved, so approval posts nothing.
const LineReissue LineKind = "reissue"

// The names of the roles of the staff (staff.Role), as an Actor holds them.
const (
	RolePreparer   = string(staff.RolePreparer)
	RoleApprover   = string(staff.RoleApprover)
	RoleBudget     = string(staff.RoleBudget)
	RoleController = string(staff.RoleController)
	RoleAuditor    = string(staff.RoleAuditor)
	RoleAdmin      = string(staff.RoleAdmin)
)

// Actor is who asks for a transition: a person authenticated by the API or
// by ledgerctl, or the service itself (the scheduler, the bank poller). It
// is staff.Actor, named here too so that the stores' signatures read as
// they did.
type Actor = staff.Actor

// System is the actor of what the service does by itself.
var System = Actor{Name: "system", Roles: []string{"system"}}

// Approval is one approver's approval of a batch.
type Approval struct {
	Approver string    `json:"approver"`
	Address  string    `json:"address,omitempty"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
}

// Workflow is what a batch's page shows of its approval and release.
type Workflow struct {
	ComputedBy      string     `json:"computed_by"` // who started the run (or made the reissue batch)
	PreparedBy      string     `json:"prepared_by,omitempty"`
	SubmittedAt     time.Time  `json:"submitted_at,omitzero"`
	ApprovalsNeeded int        `json:"approvals_needed"`
	Approvals       []Approval `json:"approvals"`
	// ApprovalsMissing is how many approvals a pending batch still needs.
	ApprovalsMissing int         `json:"approvals_missing"`
	ReleasedBy       string      `json:"released_by,omitempty"`
	ReleasedAt       time.Time   `json:"released_at,omitzero"`
	ExecutionDate    ledger.Date `json:"execution_date,omitzero"`
	ClosedAt         time.Time   `json:"closed_at,omitzero"` // settled, partly rejected or cancelled
	// Reason is the reason of the last rejection or of the cancellation.
	Reason string `json:"reason,omitempty"`
}

// FileStatus is where a payment file stands.
type FileStatus string

// The statuses of a payment file.
const (
	FileBuilding FileStatus = "building" // written, its release not yet posted: never sent
	FileQueued   FileStatus = "queued"   // in the outbox, waiting for the bank
	FileSent     FileStatus = "sent"     // the bank has it
	FileAccepted FileStatus = "accepted" // every payment accepted
	// FilePartlyRejected: every payment has a final status, some rejected.
	FilePartlyRejected FileStatus = "partly_rejected"
	FileRefused        FileStatus = "refused" // the bank refused the file itself (FF01...): staff must look
	// FileWithdrawn: never sent, withdrawn when its batch's release was
	// cancelled; its release posting is reversed and its payments freed.
	FileWithdrawn FileStatus = "withdrawn"
)

// PaymentFile is one pain.001 file of a released batch.
type PaymentFile struct {
	MsgID         string          `json:"msg_id"`
	BatchID       uuid.UUID       `json:"batch_id"`
	Part          int             `json:"part"`
	Format        string          `json:"format"`
	PmtInfID      string          `json:"pmt_inf_id"`
	ExecutionDate ledger.Date     `json:"execution_date"`
	Transactions  int             `json:"transactions"`
	Total         decimal.Decimal `json:"total"`
	SHA256        string          `json:"sha256"`
	Status        FileStatus      `json:"status"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        time.Time       `json:"sent_at,omitzero"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at,omitzero"`
	LastError     string          `json:"last_error,omitempty"`
	// Simulated is set when the file went to the embedded bank simulator
	// of dev mode, not to a bank: it paid nobody.
	Simulated bool `json:"simulated,omitempty"`
}

// MarshalJSON writes the total as "204.00".
func (f PaymentFile) MarshalJSON() ([]byte, error) {
	type file PaymentFile
	return json.Marshal(struct {
		file
		Total lineAmount `json:"total"`
	}{file(f), lineAmount(f.Total)})
}

// ExceptionStatus is where a payment exception stands.
type ExceptionStatus string

// The statuses of a payment exception.
const (
	ExceptionOpen      ExceptionStatus = "open"      // the payee must be corrected
	ExceptionCorrected ExceptionStatus = "corrected" // corrected: the next reissue batch pays it
	ExceptionReissued  ExceptionStatus = "reissued"  // in a reissue batch
	ExceptionClosed    ExceptionStatus = "closed"    // closed by staff with a reason, not paid again
)

// PaymentException is a payment the bank rejected: its amount is back in
// the payee's payable account, and it is paid again only once staff have
// corrected the payee.
type PaymentException struct {
	ID            uuid.UUID       `json:"id"`
	LineID        string          `json:"line_id"`
	BatchID       uuid.UUID       `json:"batch_id"`
	MsgID         string          `json:"msg_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	Scheme        Scheme          `json:"scheme"`
	Period        Period          `json:"period"`
	Amount        decimal.Decimal `json:"amount"`
	ReasonCode    string          `json:"reason_code"`
	Reason        string          `json:"reason"` // the code explained in words
	Action        string          `json:"action"` // what to do (sepa.Action)
	Status        ExceptionStatus `json:"status"`
	Payee         Payee           `json:"payee"`               // as paid
	Corrected     *Payee          `json:"corrected,omitempty"` // the payee to pay again
	CorrectedBy   string          `json:"corrected_by,omitempty"`
	ReissueBatch  *uuid.UUID      `json:"reissue_batch_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	Note          string          `json:"note,omitempty"` // why it was closed
}

// MarshalJSON writes the amount as "204.00".
func (e PaymentException) MarshalJSON() ([]byte, error) {
	type exception PaymentException
	return json.Marshal(struct {
		exception
		Amount lineAmount `json:"amount"`
	}{exception(e), lineAmount(e.Amount)})
}

// ExceptionFilter selects payment exceptions; zero fields select all.
type ExceptionFilter struct {
	Status  ExceptionStatus
	BatchID uuid.UUID
	After   uuid.UUID // the last id of the previous page
	Limit   int       // 0 means 100
}

// AuditEvent is one entry of the append-only audit trail.
type AuditEvent struct {
	ID         uuid.UUID      `json:"id"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Roles      []string       `json:"roles"`
	Address    string         `json:"address,omitempty"`
	Action     string         `json:"action"`      // submit, approve, reject, cancel, release, ...
	ObjectKind string         `json:"object_kind"` // batch, file, exception, report
	ObjectID   string         `json:"object_id"`
	From       string         `json:"from,omitempty"`
	To         string         `json:"to,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
	// BeneficiaryID is the person whose file the event concerns (a read).
	BeneficiaryID string `json:"beneficiary_id,omitempty"`
	// FieldsInFull are the fields a read showed in full, such as "iban":
	// a read has the list, empty when everything was masked; a change
	// has none.
	FieldsInFull []string `json:"fields_in_full,omitzero"`
}

// AuditFilter selects audit events, oldest first; zero fields select all.
type AuditFilter struct {
	ObjectID string
	Actor    string
	Action   string
	Kind     string // the object's kind: batch, file, timeline, batch_lines...
	// Beneficiary selects the events of one beneficiary's file: who read
	// it, and what was shown in full.
	Beneficiary string
	Since       time.Time
	After       string // the cursor of the previous page
	Limit       int    // 0 means 100
}

// ReportResult says what applying a status report changed.
type ReportResult struct {
	MsgID         string `json:"msg_id"`
	OriginalMsgID string `json:"original_msg_id"`
	Replayed      bool   `json:"replayed"` // applied before: nothing changed
	Accepted      int    `json:"accepted"` // payments newly accepted
	Rejected      int    `json:"rejected"` // payments newly rejected (now exceptions)
	Unchanged     int    `json:"unchanged"`
}

// BankActivity counts what one pass of the bank poller did.
type BankActivity struct {
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Reports   int `json:"reports"`
	Accepted  int `json:"accepted"`
	Rejected  int `json:"rejected"`
	Unchanged int `json:"unchanged"`
}

// BatchWorkflow moves a batch through its approval and release.
type BatchWorkflow interface {
	// Submit asks for the approval of a draft (role preparer).
	Submit(ctx context.Context, id uuid.UUID, by Actor, note string) (Batch, error)
	// Approve records one approval (role approver; not whoever computed or
	// prepared the batch; once per person); the last one needed records
	// the lines as paid and posts the accrual.
	Approve(ctx context.Context, id uuid.UUID, by Actor, note string) (Batch, error)
	// ApproveOverriding is Approve with a budget override: an approver
	// who also holds the budget role may force, with a reason, an
	// approval beyond the batch's budget (audited).
	ApproveOverriding(ctx context.Context, id uuid.UUID, by Actor, note string, o BudgetOverride) (Batch, error)
	// Reject sends a pending batch back to draft, with a reason (role
	// approver).
	Reject(ctx context.Context, id uuid.UUID, by Actor, reason string) (Batch, error)
	// Cancel cancels a batch not yet released, with a reason.
	Cancel(ctx context.Context, id uuid.UUID, by Actor, reason string) (Batch, error)
	// Release writes an approved batch's payment files, posts them to
	// payments in transit and queues them for the bank (role approver).
	Release(ctx context.Context, id uuid.UUID, by Actor) (Batch, error)
}

// PaymentFiles reads the payment files of the released batches.
type PaymentFiles interface {
	// Files lists a batch's payment files.
	Files(ctx context.Context, batch uuid.UUID) ([]PaymentFile, error)
	// FileContent returns a payment file and its bytes.
	FileContent(ctx context.Context, msgID string) (PaymentFile, []byte, error)
	// FileBeneficiaries returns the beneficiaries a payment file pays, each
	// once, in the order of their ids.
	FileBeneficiaries(ctx context.Context, msgID string) ([]string, error)
}

// PaymentExceptions are the payments the bank rejected, or the release
// held: corrected and paid again, or closed.
type PaymentExceptions interface {
	// Exceptions lists payment exceptions in the order of their ids (a
	// page after f.After).
	Exceptions(ctx context.Context, f ExceptionFilter) ([]PaymentException, error)
	// CorrectPayee records the payee to pay an open exception to; the
	// beneficiary's later payments go to it too.
	CorrectPayee(ctx context.Context, id uuid.UUID, by Actor, p Payee, reason string) (PaymentException, error)
	// CloseException closes an exception without paying it again.
	CloseException(ctx context.Context, id uuid.UUID, by Actor, reason string) (PaymentException, error)
	// Reissue makes a draft batch paying the corrected exceptions again.
	Reissue(ctx context.Context, by Actor, note string) (Batch, error)
}

// AuditLog is the append-only audit trail of the workflow, and of who read
// what.
type AuditLog interface {
	ReadLog
	// Audit reads the audit trail; the next cursor is set when the page is
	// full.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, string, error)
}

// StatusReports applies the bank's status reports (pain.002).
type StatusReports interface {
	// ApplyReport applies one pain.002 status report (role controller or
	// admin, or the service itself); applying it again changes nothing.
	ApplyReport(ctx context.Context, content []byte, by Actor) (ReportResult, error)
}

// BankOutbox delivers the released payment files to the bank and reads
// its answers.
type BankOutbox interface {
	// SendQueued delivers the queued files to the bank.
	SendQueued(ctx context.Context) (BankActivity, error)
	// FetchReports reads and applies the bank's status reports of the
	// files sent and not yet final.
	FetchReports(ctx context.Context) (BankActivity, error)
}

// Approvals is all the staff API reaches of the approval workflow, of the
// files and exceptions it makes, of the bank's answers and of the audit
// trail: the small interfaces above, together.
type Approvals interface {
	BatchWorkflow
	PaymentFiles
	PaymentExceptions
	AuditLog
	StatusReports
	BankOutbox
}

// MaxReasonLen bounds the notes and reasons people give.
const MaxReasonLen = 500

// CheckReason checks a note or a reason a person gives, and returns it
// trimmed; required says it must be given.
func CheckReason(field, s string, required bool) (string, error) {
	if err := ledger.CheckText(field, s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return "", errs.Field(field, "is required")
	case utf8.RuneCountInString(s) > MaxReasonLen:
		return "", errs.Field(field, "must have at most %d characters", MaxReasonLen)
	}
	return s, nil
}
