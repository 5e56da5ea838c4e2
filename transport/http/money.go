package httptransport

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// amount is a euro amount in a response: a JSON string with exactly two
// decimals ("125.40"), where decimal.Decimal would write "125.4". See the
// package comment for why.
type amount decimal.Decimal

// MarshalJSON writes the amount as a quoted string with two decimals.
func (a amount) MarshalJSON() ([]byte, error) {
	s := decimal.Decimal(a).StringFixed(2)
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// The views below are the ledger's types as the API writes them. Each
// embeds the ledger type and shadows its amounts with an amount field of the
// same JSON name: encoding/json writes the shallower field, so every other
// field is written as the ledger defines it and new ones need no change here.

// asOfView writes only the half of an AsOf that is set; {} means now.
type asOfView struct {
	Date ledger.Date `json:"date,omitzero"`
	Time time.Time   `json:"time,omitzero"`
}

func viewAsOf(a ledger.AsOf) asOfView { return asOfView(a) }

type postingView struct {
	ledger.Posting
	Amount amount `json:"amount"`
}

func viewPosting(p ledger.Posting) postingView {
	return postingView{Posting: p, Amount: amount(p.Amount)}
}

type entryView struct {
	ledger.Entry
	Postings []postingView `json:"postings,omitempty"`
}

func viewEntry(e ledger.Entry) entryView {
	v := entryView{Entry: e}
	for _, p := range e.Postings {
		v.Postings = append(v.Postings, viewPosting(p))
	}
	return v
}

type balanceView struct {
	ledger.Balance
	Amount  amount   `json:"balance"`
	Natural amount   `json:"natural"`
	AsOf    asOfView `json:"as_of"`
}

func viewBalance(b ledger.Balance) balanceView {
	return balanceView{Balance: b, Amount: amount(b.Balance), Natural: amount(b.Natural), AsOf: viewAsOf(b.AsOf)}
}

type statementLineView struct {
	ledger.StatementLine
	Amount  amount `json:"amount"`
	Running amount `json:"running_balance"`
}

type statementView struct {
	ledger.Statement
	Opening amount              `json:"opening_balance"`
	Lines   []statementLineView `json:"lines"`
}

func viewStatement(s ledger.Statement) statementView {
	v := statementView{Statement: s, Opening: amount(s.Opening), Lines: make([]statementLineView, 0, len(s.Lines))}
	for _, l := range s.Lines {
		v.Lines = append(v.Lines, statementLineView{StatementLine: l, Amount: amount(l.Amount), Running: amount(l.Running)})
	}
	return v
}

type trialBalanceRowView struct {
	ledger.TrialBalanceRow
	Debit  amount `json:"debit"`
	Credit amount `json:"credit"`
}

type trialBalanceSumView struct {
	Debit      amount `json:"debit"`
	Credit     amount `json:"credit"`
	Difference amount `json:"difference"`
}

type trialBalanceView struct {
	ledger.TrialBalance
	AsOf   asOfView                       `json:"as_of"`
	Rows   []trialBalanceRowView          `json:"rows"`
	Totals map[string]trialBalanceSumView `json:"totals"`
}

func viewTrialBalance(tb ledger.TrialBalance) trialBalanceView {
	v := trialBalanceView{
		TrialBalance: tb,
		AsOf:         viewAsOf(tb.AsOf),
		Rows:         make([]trialBalanceRowView, 0, len(tb.Rows)),
		Totals:       make(map[string]trialBalanceSumView, len(tb.Totals)),
	}
	for _, r := range tb.Rows {
		v.Rows = append(v.Rows, trialBalanceRowView{TrialBalanceRow: r, Debit: amount(r.Debit), Credit: amount(r.Credit)})
	}
	for cur, s := range tb.Totals {
		v.Totals[cur] = trialBalanceSumView{Debit: amount(s.Debit), Credit: amount(s.Credit), Difference: amount(s.Difference)}
	}
	return v
}
