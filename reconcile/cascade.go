package reconcile

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/payments/sepa"
)

// The rules of the matching cascade, as pure decisions: the store reads
// the lines and the payments they may name, asks these, and writes what
// they decide (the matches, their entries from the posting rules, the
// exceptions).

// Candidate is a payment a statement line names (by its EndToEndId), as
// the cascade sees it.
type Candidate struct {
	ID       string
	Amount   decimal.Decimal
	Rejected bool // the bank's status report rejected it
	Booked   bool // a statement line booked it already
	Returned bool // a statement line returned it already
}

// Verdict is what a rule decides for a statement line: a match (Match), an
// exception (Exception, with its Reason), or neither, when the rest of the
// cascade decides.
type Verdict struct {
	Match     bool
	Exception ExceptionKind
	Reason    string
}

// IsCharge reports whether a line is a bank charge: a debit of bank
// transaction code .../CHRG, or ACMT/MDOP/... (account management).
func IsCharge(dir Direction, bankCode string) bool {
	c := strings.ToUpper(bankCode)
	return dir == Debit && (strings.HasSuffix(c, "/CHRG") || strings.Contains(c, "/CHRG/") || strings.HasPrefix(c, "ACMT/MDOP/"))
}

// BookByEndToEnd is rule 1: a debit of amount naming payment p (nil when
// no payment has its EndToEndId) books it when p is accepted, not booked
// yet, and of the same amount.
func BookByEndToEnd(amount decimal.Decimal, p *Candidate) Verdict {
	switch {
	case p == nil:
		return Verdict{} // left for the rest of the cascade
	case p.Rejected:
		return Verdict{Exception: ExceptionUnmatched, Reason: fmt.Sprintf("the bank booked payment %s, which its status report rejected", p.ID)}
	case p.Booked:
		return Verdict{Exception: ExceptionDuplicate, Reason: fmt.Sprintf("payment %s is booked already by another statement line", p.ID)}
	case !p.Amount.Equal(amount):
		return Verdict{Exception: ExceptionAmountMismatch, Reason: fmt.Sprintf("payment %s is of %s, the statement line of %s", p.ID,
			p.Amount.StringFixed(2), amount.StringFixed(2))}
	}
	return Verdict{Match: true}
}

// ReturnByEndToEnd is rule 3: a credit of amount returning, for reason,
// the payment of EndToEndId e2e (p, nil when there is none) is its return
// when p was booked, not returned yet, and the amount is at most p's (the
// bank may withhold a fee).
func ReturnByEndToEnd(amount decimal.Decimal, e2e, reason string, p *Candidate) Verdict {
	switch {
	case p == nil:
		return Verdict{Exception: ExceptionUnmatched, Reason: fmt.Sprintf("return (%s) of %s, a payment the service never made", reason, e2e)}
	case !p.Booked || p.Returned:
		return Verdict{Exception: ExceptionUnmatched, Reason: fmt.Sprintf("return (%s) of payment %s, which is not booked or was returned already",
			reason, p.ID)}
	case amount.GreaterThan(p.Amount):
		return Verdict{Exception: ExceptionAmountMismatch, Reason: fmt.Sprintf("return of %s for payment %s of %s", amount.StringFixed(2), p.ID,
			p.Amount.StringFixed(2))}
	}
	return Verdict{Match: true}
}

// ReturnedReason is the reason of the exception a return opens: the
// payee of the payment is to correct, and the payment is paid again.
func ReturnedReason(payment, beneficiary, reason string) string {
	return fmt.Sprintf("the bank returned payment %s of %s: %s; correct the payee "+
		"(ledgerctl exceptions correct) and it is paid again by a reissue batch", payment, beneficiary, sepa.ReasonText(reason))
}

// BookByBatch is rule 2: a batch-booked debit of amount, naming a payment
// file by batch (its PmtInfId or MsgId) and, when count is positive, the
// number of payments it books, books the n payments of that file not yet
// booked, whose amounts add up to sum, when the sums (and the numbers)
// agree. There is nothing to decide when the file has no such payment.
func BookByBatch(amount decimal.Decimal, count int, batch string, n int, sum decimal.Decimal) Verdict {
	if n == 0 {
		return Verdict{}
	}
	if !sum.Equal(amount) || (count > 0 && count != n) {
		return Verdict{Exception: ExceptionAmountMismatch, Reason: fmt.Sprintf("batch %s: %d payments not yet booked for %s, the line books %s",
			batch, n, sum.StringFixed(2), amount.StringFixed(2))}
	}
	return Verdict{Match: true}
}

// Suggest is rule 4: a debit of the amount and payee account of payments
// ids, executed within days business days of its booking, is suggested
// for the payment when there is one, and left to a person when there are
// several: the cascade never picks.
func Suggest(ids []string, days int) Verdict {
	switch len(ids) {
	case 0:
		return Verdict{}
	case 1:
		return Verdict{Exception: ExceptionSuggestion, Reason: fmt.Sprintf("payment %s has the amount and the payee account of this line "+
			"and was executed within %d business days: confirm the match", ids[0], days)}
	}
	return Verdict{Exception: ExceptionAmbiguous, Reason: fmt.Sprintf("%d payments have the amount and the payee account of this line "+
		"(%s): match it by hand", len(ids), strings.Join(ids, ", "))}
}

// Unexplained is rule 5: why a line nothing explains is an exception.
func Unexplained(dir Direction, e2e string) string {
	switch {
	case dir == Credit:
		return "a credit that is not the return of a payment"
	case e2e != "":
		return fmt.Sprintf("no payment has EndToEndId %s", e2e)
	}
	return "no payment explains this line"
}
