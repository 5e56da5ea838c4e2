package ledger

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// The ledger's types write every amount as a JSON string with exactly two
// decimals ("125.40", "-3.00", "0.00"): strings, so that no client reads
// them into a binary float, and two decimals, because the ledger keeps euros
// to the cent and a person comparing the output with a bank statement
// expects "125.40", not the "125.4" that decimal.Decimal writes. Every
// transport (the HTTP API, ledgerctl -o json) gets this form from here.
//
// Only writing changes: the amounts stay decimal.Decimal, which reads
// "125.4", "125.40" and 125.4 alike.
//
// Each MarshalJSON below writes the fields of its type in their order, with
// their tags, the amounts as fixed. A field added to one of these types must
// be added here too; TestJSONGolden fails until it is.
//
// Beware of embedding: a type embedding another that has a MarshalJSON
// method gets that method promoted, and encoding/json then writes the
// embedded value alone. StatementLine embeds Posting, so it has its own
// MarshalJSON, which writes the posting's fields and its own.

// fixed is an amount written as a JSON string with two decimals.
type fixed decimal.Decimal

// MarshalJSON writes the amount as a quoted string with two decimals.
func (a fixed) MarshalJSON() ([]byte, error) {
	s := decimal.Decimal(a).StringFixed(2)
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// MarshalJSON writes l with its amount as "12.50".
func (l Line) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Account  string `json:"account"`
		Amount   fixed  `json:"amount"`
		Currency string `json:"currency,omitempty"`
		Memo     string `json:"memo,omitempty"`
	}{l.Account, fixed(l.Amount), l.Currency, l.Memo})
}

// postingJSON is a Posting as written, also the first fields of a
// StatementLine.
type postingJSON struct {
	EntryID       uuid.UUID `json:"entry_id"`
	Line          int64     `json:"line"`
	Account       string    `json:"account"`
	Amount        fixed     `json:"amount"`
	Currency      string    `json:"currency"`
	Memo          string    `json:"memo,omitempty"`
	EffectiveDate Date      `json:"effective_date"`
	PostedAt      time.Time `json:"posted_at"`
}

func (p Posting) json() postingJSON {
	return postingJSON{p.EntryID, p.Line, p.Account, fixed(p.Amount), p.Currency, p.Memo, p.EffectiveDate, p.PostedAt}
}

// MarshalJSON writes p with its amount as "12.50".
func (p Posting) MarshalJSON() ([]byte, error) { return json.Marshal(p.json()) }

// MarshalJSON writes l, the fields of its posting first, with its amount
// and running balance as "12.50". Without it, StatementLine would have the
// MarshalJSON of the Posting it embeds, and write neither its description
// nor its running balance.
func (l StatementLine) MarshalJSON() ([]byte, error) {
	// postingJSON has no methods: its fields are written as l's own.
	return json.Marshal(struct {
		postingJSON
		Description string `json:"description"`
		Running     fixed  `json:"running_balance"`
	}{l.Posting.json(), l.Description, fixed(l.Running)})
}

// MarshalJSON writes b with its balances as "12.50".
func (b Balance) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Account  string `json:"account"`
		Currency string `json:"currency"`
		Balance  fixed  `json:"balance"`
		Natural  fixed  `json:"natural"`
		AsOf     AsOf   `json:"as_of"`
	}{b.Account, b.Currency, fixed(b.Balance), fixed(b.Natural), b.AsOf})
}

// MarshalJSON writes s with its opening balance as "12.50"; its lines write
// themselves.
func (s Statement) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Account    string          `json:"account"`
		Currency   string          `json:"currency"`
		Opening    fixed           `json:"opening_balance"`
		Lines      []StatementLine `json:"lines"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}{s.Account, s.Currency, fixed(s.Opening), s.Lines, s.NextCursor})
}

// MarshalJSON writes r with its debit and credit as "12.50".
func (r TrialBalanceRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Account  string      `json:"account"`
		Name     string      `json:"name"`
		Type     AccountType `json:"type"`
		Currency string      `json:"currency"`
		Debit    fixed       `json:"debit"`
		Credit   fixed       `json:"credit"`
	}{r.Account, r.Name, r.Type, r.Currency, fixed(r.Debit), fixed(r.Credit)})
}

// MarshalJSON writes s with its totals and difference as "12.50".
func (s TrialBalanceSum) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Debit      fixed `json:"debit"`
		Credit     fixed `json:"credit"`
		Difference fixed `json:"difference"`
	}{fixed(s.Debit), fixed(s.Credit), fixed(s.Difference)})
}
