package payments

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Debt is what remains to recover of one established overpayment.
type Debt struct {
	OverpaymentID string          `json:"overpayment_id"`
	EstablishedAt time.Time       `json:"established_at"`
	Remaining     decimal.Decimal `json:"remaining"`
	Fraud         bool            `json:"fraud"`
}

// Deduction is the part of one payment withheld against one overpayment.
type Deduction struct {
	OverpaymentID string          `json:"overpayment_id"`
	Amount        decimal.Decimal `json:"amount"`
}

// Recovery is how one ADA payment is split between the beneficiary and the
// overpayments it recovers.
type Recovery struct {
	Gross decimal.Decimal `json:"gross"`
	// Cap is the most that overpayments other than fraud could take from
	// this payment: the capped share of Gross, or the whole of Gross for the
	// last payment.
	Cap        decimal.Decimal `json:"cap"`
	Deduction  decimal.Decimal `json:"deduction"` // the sum of Deductions
	Net        decimal.Decimal `json:"net"`       // Gross − Deduction
	Deductions []Deduction     `json:"deductions"`
	Why        string          `json:"why"`
}

// Recover decides what a payment of gross withholds against the
// beneficiary's debts (docs/rules.md §1), in exact decimals.
//
//   - The cap is gross × capRate rounded down to the cent; capRate is read
//     between 0 and 1.
//   - Debts are taken oldest first: by EstablishedAt, then OverpaymentID.
//   - A fraud debt is not capped: it is recovered up to the whole gross.
//   - When debts of both kinds are due, fraud debts are taken first, and the
//     other debts only within what the fraud debts left of the cap: the cap
//     bounds everything withheld from a payment that recovers an ordinary
//     debt, fraud or not. With a gross of 200.00 and a cap of 60.00, a fraud
//     debt of 50.00 leaves 10.00 for the others, and a fraud debt of 80.00
//     leaves them nothing.
//   - The last payment (lastPayment, when rights close) takes up to the
//     whole gross for every debt, oldest first, fraud or not.
//   - A deduction never exceeds what remains of its debt, and the total never
//     exceeds gross, so Net is never negative. A gross of zero or less
//     withholds nothing; a debt with nothing remaining is ignored.
//
// Deductions lists the debts that give something, in the order taken. Why
// says it in words: "30 % cap 61.20 of 204.00; IND-2026-0311: 61.20 of 88.80
// recovered, 27.60 remains".
func Recover(gross decimal.Decimal, debts []Debt, capRate decimal.Decimal, lastPayment bool) Recovery {
	one := decimal.NewFromInt(1)
	rate := decimal.Max(decimal.Zero, decimal.Min(capRate, one))
	available := decimal.Max(gross, decimal.Zero)

	r := Recovery{Gross: gross, Deduction: decimal.Zero, Deductions: []Deduction{}}
	if lastPayment {
		r.Cap = available
	} else {
		r.Cap = available.Mul(rate).RoundFloor(2)
	}

	owed := make([]Debt, 0, len(debts))
	for _, d := range debts {
		if d.Remaining.IsPositive() {
			owed = append(owed, d)
		}
	}
	slices.SortStableFunc(owed, func(a, b Debt) int {
		if !lastPayment && a.Fraud != b.Fraud {
			if a.Fraud {
				return -1
			}
			return 1
		}
		if c := a.EstablishedAt.Compare(b.EstablishedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.OverpaymentID, b.OverpaymentID)
	})

	var why strings.Builder
	if lastPayment {
		why.WriteString("last payment: up to the whole " + recoveryMoney(gross))
	} else {
		why.WriteString(rate.Mul(decimal.NewFromInt(100)).String() + " % cap " + recoveryMoney(r.Cap) + " of " + recoveryMoney(gross))
	}
	if len(owed) == 0 {
		why.WriteString("; no overpayment to recover")
	}
	for _, d := range owed {
		// What this debt may still take: the rest of the gross for fraud and
		// on the last payment, the rest of the cap otherwise.
		limit := available.Sub(r.Deduction)
		if !d.Fraud && !lastPayment {
			limit = r.Cap.Sub(r.Deduction)
		}
		take := decimal.Max(decimal.Zero, decimal.Min(limit, d.Remaining))
		if take.IsPositive() {
			r.Deductions = append(r.Deductions, Deduction{OverpaymentID: d.OverpaymentID, Amount: take})
			r.Deduction = r.Deduction.Add(take)
		}
		why.WriteString("; " + d.OverpaymentID)
		if d.Fraud && !lastPayment {
			why.WriteString(" (fraud, no cap)")
		}
		why.WriteString(": " + recoveryMoney(take) + " of " + recoveryMoney(d.Remaining) + " recovered, ")
		if left := d.Remaining.Sub(take); left.IsPositive() {
			why.WriteString(recoveryMoney(left) + " remains")
		} else {
			why.WriteString("nothing remains")
		}
	}
	r.Net = gross.Sub(r.Deduction)
	r.Why = why.String()
	return r
}

// recoveryMoney writes an amount in euros with its cents, 61.20.
func recoveryMoney(d decimal.Decimal) string { return d.StringFixed(2) }
