package payments

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// Where money moves when a batch is approved, released, answered by the
// bank or cancelled: each rule below takes domain values and returns the
// entry to post (or the reversal to ask for) with its idempotency key.
// The stores read the rows and post what they are given; no account is
// chosen anywhere else. PostingRules describes the same rules in words,
// for the chart of accounts.

// Rows yields values in order, stopping at the first error yield returns.
// Like ledger.BulkEntry.Lines, it may be called more than once and must
// yield the same values each time.
type Rows[T any] func(yield func(T) error) error

// AccrualLine is what the accrual of a batch reads of one of its lines.
type AccrualLine struct {
	ID            string
	BeneficiaryID string
	Net           decimal.Decimal // due to the payee
	Deduction     decimal.Decimal // withheld against overpayments
}

// FilePayment is one payment of a payment file: a line paid, or rejected
// by the bank.
type FilePayment struct {
	LineID        string
	BeneficiaryID string
	Amount        decimal.Decimal
}

// EstablishedOverpayment is an overpayment a run found, established when
// the batch of that run was approved.
type EstablishedOverpayment struct {
	ID            string
	BeneficiaryID string
	Amount        decimal.Decimal
	EstablishedAt time.Time
}

// ExpenseAccount is the expense account of a scheme.
func ExpenseAccount(sc Scheme) (string, error) {
	switch sc {
	case SchemeADA:
		return ledger.ExpenseADA, nil
	case SchemeReturn:
		return ledger.ExpenseReturn, nil
	case SchemeReinsertion:
		return ledger.ExpenseReinsertion, nil
	case SchemeBusinessCreation:
		return ledger.ExpenseBusinessCreation, nil
	}
	return "", fmt.Errorf("scheme %q has no expense account", sc)
}

// SchemeLabel names a scheme in a remittance text and entry descriptions.
func SchemeLabel(sc Scheme) string {
	switch sc {
	case SchemeADA:
		return "ADA"
	case SchemeReturn:
		return "AIDE AU RETOUR"
	case SchemeReinsertion:
		return "AIDE REINSERTION"
	case SchemeBusinessCreation:
		return "AIDE CREATION ENTREPRISE"
	}
	return strings.ToUpper(string(sc))
}

// The idempotency keys of the postings.

// AccrualKey is the key of the accrual of a batch's scheme.
func AccrualKey(batch uuid.UUID, sc Scheme) string { return fmt.Sprintf("accrual:%s:%s", batch, sc) }

// OverpaymentKey is the key of the booking of an overpayment.
func OverpaymentKey(id string) string { return "overpayment:" + id }

// ReleaseKey is the key of the release posting of a payment file.
func ReleaseKey(msgID string) string { return "release:" + msgID }

// RejectionKey is the key of the posting of the payments a status report
// rejected.
func RejectionKey(report string) string { return "rejected:" + report }

// CancelKey is the key of the reversal of a cancelled batch's accrual.
func CancelKey(batch uuid.UUID, sc Scheme) string { return fmt.Sprintf("cancel:%s:%s", batch, sc) }

// WithdrawKey is the key of the reversal of a withdrawn file's release.
func WithdrawKey(msgID string) string { return "withdraw:" + msgID }

// AccruesOnApproval reports whether approving b posts an accrual: a
// reissue batch pays again what the first batch accrued, so its approval
// (and its cancellation) posts nothing.
func AccruesOnApproval(b Batch) bool { return b.Kind != RunReissue }

// AccrualPosting is the accrual of a batch's scheme, posted by its last
// approval: Dr the scheme's expense (one line per chunk), Cr
// payable:<beneficiary> the net of each line, Cr
// receivable:overpayment:<beneficiary> its deduction. Its date is the day
// of the last approval, kept in the batch, so that a retry posts the same
// entry.
func AccrualPosting(b Batch, sc Scheme, lines Rows[AccrualLine]) (ledger.BulkEntry, error) {
	expense, err := ExpenseAccount(sc)
	if err != nil {
		return ledger.BulkEntry{}, err
	}
	return ledger.BulkEntry{
		IdempotencyKey: AccrualKey(b.ID, sc),
		EffectiveDate:  LegalDay(b.ApprovedAt),
		Description:    fmt.Sprintf("%s %s batch approved (%s)", SchemeLabel(sc), b.Period, sc),
		SourceRef:      "batch:" + b.ID.String(),
		Contra:         expense,
		ContraMemo:     "batch " + b.ID.String(),
		Lines: func(yield func(ledger.Line) error) error {
			return lines(func(l AccrualLine) error {
				if l.Net.IsPositive() {
					if err := yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, l.BeneficiaryID), Amount: l.Net.Neg(), Memo: l.ID}); err != nil {
						return err
					}
				}
				if l.Deduction.IsPositive() {
					return yield(ledger.Line{Account: ledger.SubAccount(ledger.OverpaymentReceivable, l.BeneficiaryID), Amount: l.Deduction.Neg(), Memo: l.ID})
				}
				return nil
			})
		},
	}, nil
}

// OverpaymentPosting books an established overpayment as a receivable, so
// that the deductions approved against it have something to clear: Dr
// receivable:overpayment:<beneficiary>, Cr expense:ada, on the day it was
// established.
func OverpaymentPosting(o EstablishedOverpayment) ledger.NewEntry {
	return ledger.NewEntry{
		IdempotencyKey: OverpaymentKey(o.ID),
		EffectiveDate:  LegalDay(o.EstablishedAt),
		Description:    "Overpayment " + o.ID + " established",
		SourceRef:      "overpayment:" + o.ID,
		Lines: []ledger.Line{
			{Account: ledger.SubAccount(ledger.OverpaymentReceivable, o.BeneficiaryID), Amount: o.Amount, Memo: o.ID},
			{Account: ledger.ExpenseADA, Amount: o.Amount.Neg(), Memo: o.ID},
		},
	}
}

// ReleasePosting posts a payment file released to the bank: Dr
// payable:<beneficiary> each payment, Cr payments in transit once per
// chunk, on the day of the batch's release.
func ReleasePosting(b Batch, f PaymentFile, paid Rows[FilePayment]) ledger.BulkEntry {
	return ledger.BulkEntry{
		IdempotencyKey: ReleaseKey(f.MsgID),
		EffectiveDate:  LegalDay(b.Workflow.ReleasedAt),
		Description:    fmt.Sprintf("Payment file %s released to the bank (%d payments)", f.MsgID, f.Transactions),
		SourceRef:      "file:" + f.MsgID,
		Contra:         ledger.PaymentsInTransit,
		ContraMemo:     f.MsgID,
		Lines: func(yield func(ledger.Line) error) error {
			return paid(func(p FilePayment) error {
				return yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, p.BeneficiaryID), Amount: p.Amount, Memo: p.LineID})
			})
		},
	}
}

// RejectionPosting posts the payments a status report (pain.002) rejected
// back from payments in transit to the payees: Dr payments in transit once
// per chunk, Cr payable:<beneficiary> each payment, on the day the report
// was received. The payments are then paid again by a reissue batch.
func RejectionPosting(report string, received time.Time, rejected Rows[FilePayment]) ledger.BulkEntry {
	return ledger.BulkEntry{
		IdempotencyKey: RejectionKey(report),
		EffectiveDate:  LegalDay(received),
		Description:    fmt.Sprintf("Payments rejected by the bank (status report %s)", report),
		SourceRef:      "report:" + report,
		Contra:         ledger.PaymentsInTransit,
		ContraMemo:     report,
		Lines: func(yield func(ledger.Line) error) error {
			return rejected(func(p FilePayment) error {
				return yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, p.BeneficiaryID), Amount: p.Amount.Neg(), Memo: p.LineID})
			})
		},
	}
}

// CancelReversal reverses the accrual (entry accrual) of a cancelled
// batch's scheme on the day of the cancellation: its expense, payables and
// deductions are undone.
func CancelReversal(b Batch, sc Scheme, accrual uuid.UUID, reason string, at time.Time) ledger.Reversal {
	return ledger.Reversal{EntryID: accrual, IdempotencyKey: CancelKey(b.ID, sc), EffectiveDate: LegalDay(at),
		Reason: "batch cancelled: " + reason}
}

// WithdrawalReversal reverses the release posting (entry release) of a
// file withdrawn before it was sent: its payments go back from payments in
// transit to the payees.
func WithdrawalReversal(f PaymentFile, release uuid.UUID, reason string, at time.Time) ledger.Reversal {
	return ledger.Reversal{EntryID: release, IdempotencyKey: WithdrawKey(f.MsgID), EffectiveDate: LegalDay(at),
		Reason: "payment file withdrawn before it was sent: " + reason}
}

// PostingRule describes one rule of where money moves, in words.
type PostingRule struct {
	Event string // what happens: "batch approved"
	Key   string // the idempotency key, with <placeholders>
	// Debit and Credit are the accounts debited and credited, with
	// <placeholders> for the sub-ledger accounts.
	Debit  []string
	Credit []string
	// Chart says, in the words of the chart of accounts ("due on
	// approval"), when the rule moves an account; an account the chart
	// says nothing of for this rule is absent.
	Chart map[string]string
}

// The sub-ledger accounts of the rules, as the chart of accounts names them.
const (
	payablePattern    = ledger.Payable + ":<beneficiary>"
	receivablePattern = ledger.OverpaymentReceivable + ":<beneficiary>"
)

// expenseAccounts are the expense accounts of every scheme, in the order of
// Schemes.
func expenseAccounts() []string {
	var out []string
	for _, sc := range Schemes {
		a, err := ExpenseAccount(sc)
		if err == nil {
			out = append(out, a)
		}
	}
	return out
}

// PostingRules describes the rules of this file, in the order the chart of
// accounts tells them: an overpayment is booked before the batch whose
// deductions clear it is accrued.
func PostingRules() []PostingRule {
	expenses := expenseAccounts()
	accrualChart := map[string]string{payablePattern: "due on approval", receivablePattern: "cleared by deductions"}
	for _, e := range expenses {
		accrualChart[e] = "a batch is approved"
	}
	return []PostingRule{
		{Event: "overpayment established (its batch approved)", Key: OverpaymentKey("<overpayment>"),
			Debit: []string{receivablePattern}, Credit: []string{ledger.ExpenseADA},
			Chart: map[string]string{receivablePattern: "an overpayment is established"}},
		{Event: "batch approved", Key: "accrual:<batch>:<scheme>",
			Debit: expenses, Credit: []string{payablePattern, receivablePattern}, Chart: accrualChart},
		{Event: "reissue batch approved: nothing, the first batch accrued it", Key: ""},
		{Event: "payment file released", Key: ReleaseKey("<msg_id>"),
			Debit: []string{payablePattern}, Credit: []string{ledger.PaymentsInTransit},
			Chart: map[string]string{payablePattern: "cleared on release", ledger.PaymentsInTransit: "release to the bank"}},
		{Event: "payments rejected by the bank (pain.002)", Key: RejectionKey("<report>"),
			Debit: []string{ledger.PaymentsInTransit}, Credit: []string{payablePattern}},
		{Event: "approved batch cancelled (its accrual reversed)", Key: "cancel:<batch>:<scheme>",
			Debit: []string{payablePattern, receivablePattern}, Credit: expenses},
		{Event: "payment file withdrawn before it was sent (its release reversed)", Key: WithdrawKey("<msg_id>"),
			Debit: []string{ledger.PaymentsInTransit}, Credit: []string{payablePattern}},
	}
}
