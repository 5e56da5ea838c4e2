package reconcile

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

// The posting rules of the reconciliation: which ledger accounts a
// statement line moves, by how much, and under which idempotency key. They
// are pure: the stores record and post the entries they return, and decide
// no account of their own.

// keySpace derives the keys of the day entries from the matches they book.
// It is the space the stores derive the ids of matches from: the keys of
// entries already posted stay what they were.
var keySpace = uuid.MustParse("3b6f1d2a-8e47-4c09-a1f5-7d2e9c84b0a6")

// String is the line's reference, "<statement id>/<index>".
func (r LineRef) String() string { return fmt.Sprintf("%s/%d", r.StatementID, r.Index) }

// PostedLine is a statement line as the posting rules see it.
type PostedLine struct {
	Line      LineRef
	Direction Direction
	Amount    decimal.Decimal // positive
	Booking   ledger.Date     // the day its entry takes effect
	// Bank is the ledger account of the statement's account: bank:main,
	// or bank:<name> for another account of the service.
	Bank string
}

// pair is an entry of two lines: Dr debit, Cr credit, amount.
func pair(debit, credit string, amount decimal.Decimal, memo string) []ledger.Line {
	return []ledger.Line{{Account: debit, Amount: amount, Memo: memo}, {Account: credit, Amount: amount.Neg(), Memo: memo}}
}

// DayBooking is what one entry books for a day: the lines matched on one
// day by one rule, on the statements of one ledger account of the bank.
type DayBooking struct {
	Rule Rule // RuleEndToEnd, RuleBatch or RuleFee
	Bank string
	Day  ledger.Date
	Sum  decimal.Decimal
	// Matches are the ids of the matches it books, in the order they were
	// made: they key the entry, so that a retry posts the same entry and
	// another pass never reuses its key.
	Matches []string
	// Statement is the statement the entry is referred to.
	Statement uuid.UUID
}

// BookDay is the entry of a day's lines matched by the cascade: payments
// booked by the bank (by EndToEndId or by payment file) Dr
// payments-in-transit, Cr the bank; bank charges Dr expense:bank-fees, Cr
// the bank.
func BookDay(d DayBooking) ledger.NewEntry {
	key := fmt.Sprintf("recon:%s:%s:%s", d.Rule, d.Day, uuid.NewSHA1(keySpace, []byte(strings.Join(d.Matches, ","))))
	lines, desc := pair(ledger.PaymentsInTransit, d.Bank, d.Sum, "payments booked"), "Payments booked by the bank"
	if d.Rule == RuleFee {
		lines, desc = pair(ledger.ExpenseBankFees, d.Bank, d.Sum, "bank charges"), "Bank charges booked on the statement"
	}
	if d.Bank != ledger.BankMain {
		desc += " on " + d.Bank
	}
	return ledger.NewEntry{IdempotencyKey: key, EffectiveDate: d.Day, Description: fmt.Sprintf("%s on %s (%s, %d lines)", desc, d.Day, d.Rule, len(d.Matches)),
		SourceRef: fmt.Sprintf("statement:%s", d.Statement), Lines: lines}
}

// Returned is a payment the bank gave back, as the posting rules see it.
type Returned struct {
	Match       uuid.UUID       // the match of the return
	Payment     string          // the payment's line id
	Beneficiary string          // whose payable account the payment cleared
	Paid        decimal.Decimal // the payment's amount
	Reason      string          // the ISO return reason code
}

// ReturnPayment is the entry of a return: Dr the bank the amount returned,
// Dr expense:bank-fees what the bank withheld of it, Cr
// payable:<beneficiary> the amount paid, which is due again.
func ReturnPayment(l PostedLine, r Returned) ledger.NewEntry {
	lines := []ledger.Line{{Account: l.Bank, Amount: l.Amount, Memo: r.Payment}}
	if fee := r.Paid.Sub(l.Amount); fee.IsPositive() {
		lines = append(lines, ledger.Line{Account: ledger.ExpenseBankFees, Amount: fee, Memo: "fee withheld from the return of " + r.Payment})
	}
	lines = append(lines, ledger.Line{Account: ledger.SubAccount(ledger.Payable, r.Beneficiary), Amount: r.Paid.Neg(), Memo: r.Payment})
	return ledger.NewEntry{IdempotencyKey: "recon:return:" + r.Match.String(), EffectiveDate: l.Booking,
		Description: fmt.Sprintf("Payment %s returned by the bank (%s)", r.Payment, sepa.ReasonText(r.Reason)),
		SourceRef:   "statement:" + l.Line.String(), Lines: lines}
}

// MatchEffect is what a match of rule moves for its line, from which its
// undoing is made (a return's is its entry's): a fee Dr expense:bank-fees,
// Cr the bank; a line booked to suspense Dr suspense, Cr the bank for a
// debit, the other way for a credit; payments booked Dr
// payments-in-transit, Cr the bank.
func MatchEffect(rule Rule, l PostedLine) []ledger.Line {
	switch rule {
	case RuleFee:
		return pair(ledger.ExpenseBankFees, l.Bank, l.Amount, "")
	case RuleSuspense:
		if l.Direction == Credit {
			return pair(l.Bank, ledger.Suspense, l.Amount, "")
		}
		return pair(ledger.Suspense, l.Bank, l.Amount, "")
	}
	return pair(ledger.PaymentsInTransit, l.Bank, l.Amount, "")
}

// MatchByPerson is the entry of a line a person matched to payments (rule
// manual, or a suggestion confirmed): Dr payments-in-transit, Cr the bank.
func MatchByPerson(l PostedLine, rule Rule, match uuid.UUID, by string) ledger.NewEntry {
	return ledger.NewEntry{IdempotencyKey: "recon:" + string(rule) + ":" + match.String(), EffectiveDate: l.Booking,
		Description: fmt.Sprintf("Payments booked by the bank, matched by %s (%s)", by, rule), SourceRef: "statement:" + l.Line.String(),
		Lines: MatchEffect(rule, l)}
}

// BookToSuspense is the entry of a line booked to suspense: a debit Dr
// suspense, Cr the bank; a credit Dr the bank, Cr suspense.
func BookToSuspense(l PostedLine, match uuid.UUID, reason string) ledger.NewEntry {
	return ledger.NewEntry{IdempotencyKey: "recon:suspense:" + match.String(), EffectiveDate: l.Booking,
		Description: "Statement line booked to suspense: " + reason, SourceRef: "statement:" + l.Line.String(),
		Lines: MatchEffect(RuleSuspense, l)}
}

// UndoMatch is the entry that takes a match back: the lines it moved
// (effect), negated. It takes effect on the line's booking day, as the
// match did, so that the day's report shows the line unexplained.
func UndoMatch(match uuid.UUID, booking ledger.Date, effect []ledger.Line, reason string) ledger.NewEntry {
	lines := make([]ledger.Line, len(effect))
	for i, l := range effect {
		l.Amount = l.Amount.Neg()
		lines[i] = l
	}
	return ledger.NewEntry{IdempotencyKey: "recon:undo:" + match.String(), EffectiveDate: booking, Description: "Match undone: " + reason,
		SourceRef: "match:" + match.String(), Lines: lines}
}

// PostingRule describes a posting rule: when it applies, the account it
// debits and the one it credits ("bank:<account>" is the ledger account of
// the statement's account).
type PostingRule struct {
	Name   string `json:"name"`
	When   string `json:"when"`
	Debit  string `json:"debit"`
	Credit string `json:"credit"`
}

// StatementBank names, in PostingRules, the ledger account of the
// statement's account: bank:main, or bank:<name>.
const StatementBank = "bank:<account>"

// PostingRules describes the posting rules of the reconciliation, in the
// order of a payment's life.
func PostingRules() []PostingRule {
	payable := ledger.SubAccount(ledger.Payable, "<beneficiary>")
	return []PostingRule{
		{Name: "booking", When: "the statement books a debit of payments (by EndToEndId, by payment file, or matched by a person)",
			Debit: ledger.PaymentsInTransit, Credit: StatementBank},
		{Name: "return", When: "the statement books a return of a payment", Debit: StatementBank, Credit: payable},
		{Name: "return fee", When: "the bank withholds a fee from a return", Debit: ledger.ExpenseBankFees, Credit: payable},
		{Name: "fee", When: "the bank charges a fee", Debit: ledger.ExpenseBankFees, Credit: StatementBank},
		{Name: "suspense (debit)", When: "a debit nobody can match yet is booked to suspense", Debit: ledger.Suspense, Credit: StatementBank},
		{Name: "suspense (credit)", When: "a credit nobody can match yet is booked to suspense", Debit: StatementBank, Credit: ledger.Suspense},
		{Name: "undo", When: "a controller undoes a match: the lines of its entry, negated", Debit: "the match's credit", Credit: "the match's debit"},
	}
}
