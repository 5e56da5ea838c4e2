// Package ledger is the double-entry core of the service: accounts, entries
// and their postings, balances, reversals, verification and sealing. Every
// euro the service owes, pays or recovers moves through it.
//
// Amounts are signed: a debit is positive, a credit negative, and the
// postings of every entry sum to zero per currency. Entries are immutable; a
// mistake is corrected by a reversal that names the entry it negates.
package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// AccountType is the accounting class of an account.
type AccountType string

// The account types.
const (
	Asset     AccountType = "asset"
	Liability AccountType = "liability"
	Equity    AccountType = "equity"
	Income    AccountType = "income"
	Expense   AccountType = "expense"
)

// Valid reports whether t is one of the five account types.
func (t AccountType) Valid() bool {
	switch t {
	case Asset, Liability, Equity, Income, Expense:
		return true
	}
	return false
}

// NormalSide is the side on which an account of this type normally carries
// its balance.
func (t AccountType) NormalSide() Side {
	if t == Asset || t == Expense {
		return Debit
	}
	return Credit
}

// Side is debit or credit.
type Side string

// The two sides of an account.
const (
	Debit  Side = "debit"
	Credit Side = "credit"
)

// Account is a ledger account. A control account with SubLedger set has one
// child per beneficiary, created on first use as "<control>:<id>".
type Account struct {
	Code          string            `json:"code"`
	Name          string            `json:"name"`
	Type          AccountType       `json:"type"`
	Currency      string            `json:"currency"`
	NormalSide    Side              `json:"normal_side"`
	Parent        string            `json:"parent,omitempty"`
	SubLedger     bool              `json:"sub_ledger"`
	BalanceShards int               `json:"balance_shards"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
}

// Line is one posting of an entry being written.
type Line struct {
	Account  string          `json:"account"`
	Amount   decimal.Decimal `json:"amount"`             // debit positive, credit negative
	Currency string          `json:"currency,omitempty"` // defaults to the account's
	Memo     string          `json:"memo,omitempty"`
}

// NewEntry is an entry to post. The same IdempotencyKey with the same
// content returns the first entry; with other content it is a conflict.
type NewEntry struct {
	IdempotencyKey string            `json:"idempotency_key"`
	EffectiveDate  Date              `json:"effective_date"`
	Description    string            `json:"description"`
	SourceRef      string            `json:"source_ref,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Lines          []Line            `json:"lines"`
	// Floors, when set, guard the entry: it is posted only if no balance
	// named falls below its floor once the entry is applied, checked in
	// the entry's own transaction; else nothing is written and Post
	// returns a *FloorError (a conflict). An idempotent replay is not
	// checked again. Only the service's own callers set it: it is not
	// part of the HTTP API.
	Floors []Floor `json:"-"`
}

// Floor is the least balance an account posted to by an entry may have
// once the entry is applied (the signed balance, debit positive).
type Floor struct {
	Account string
	Min     decimal.Decimal
}

// Reversal asks for an entry that negates EntryID.
type Reversal struct {
	EntryID        uuid.UUID `json:"entry_id"`
	IdempotencyKey string    `json:"idempotency_key"`
	EffectiveDate  Date      `json:"effective_date"` // zero: the original's
	Reason         string    `json:"reason"`
}

// EntryKind says how an entry came to be.
type EntryKind string

// The entry kinds.
const (
	KindStandard EntryKind = "standard"
	KindReversal EntryKind = "reversal"
	KindBulk     EntryKind = "bulk"
)

// EntryStatus is "posted", or "open" while a bulk entry is being written.
type EntryStatus string

// The entry statuses.
const (
	StatusOpen   EntryStatus = "open"
	StatusPosted EntryStatus = "posted"
)

// Entry is a posted (or, for bulk, in-progress) entry.
type Entry struct {
	ID             uuid.UUID         `json:"id"`
	IdempotencyKey string            `json:"idempotency_key"`
	Kind           EntryKind         `json:"kind"`
	Status         EntryStatus       `json:"status"`
	EffectiveDate  Date              `json:"effective_date"`
	PostedAt       time.Time         `json:"posted_at"`
	Description    string            `json:"description"`
	SourceRef      string            `json:"source_ref,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Reverses       *uuid.UUID        `json:"reverses,omitempty"`
	ReversedBy     *uuid.UUID        `json:"reversed_by,omitempty"`
	LineCount      int64             `json:"line_count"`
	ContentHash    string            `json:"content_hash,omitempty"` // hex
	SealSeq        *int64            `json:"seal_seq,omitempty"`
	Postings       []Posting         `json:"postings,omitempty"` // filled for small entries
	// Replayed is true when the call found an earlier entry with the same
	// idempotency key and content, and wrote nothing.
	Replayed bool `json:"replayed,omitempty"`
}

// Posting is one line of a posted entry.
type Posting struct {
	EntryID       uuid.UUID       `json:"entry_id"`
	Line          int64           `json:"line"`
	Account       string          `json:"account"`
	Amount        decimal.Decimal `json:"amount"`
	Currency      string          `json:"currency"`
	Memo          string          `json:"memo,omitempty"`
	EffectiveDate Date            `json:"effective_date"`
	PostedAt      time.Time       `json:"posted_at"`
}

// Balance is an account's balance, now or as of a past moment.
type Balance struct {
	Account  string          `json:"account"`
	Currency string          `json:"currency"`
	Balance  decimal.Decimal `json:"balance"` // signed, debit positive
	// Natural is the balance seen from the account's normal side: positive
	// when a liability is owed, an asset held, an expense incurred.
	Natural decimal.Decimal `json:"natural"`
	AsOf    AsOf            `json:"as_of"`
}

// AsOf selects a moment for a balance or a trial balance: the end of an
// effective date (what the books say for that day, including later
// back-dated entries), or a posting time (what the ledger knew then). The
// zero AsOf means now. Its JSON form holds only the half that is set: {}
// means now.
type AsOf struct {
	Date Date      `json:"date,omitzero"`
	Time time.Time `json:"time,omitzero"`
}

// IsZero reports whether a is "now".
func (a AsOf) IsZero() bool { return a.Date.IsZero() && a.Time.IsZero() }

// StatementQuery selects a page of an account statement.
type StatementQuery struct {
	Account string
	From    Date   // inclusive; zero: from the first posting
	To      Date   // inclusive; zero: to the last
	Cursor  string // from the previous page's NextCursor
	Limit   int    // default 100, at most 1000
}

// StatementLine is a posting with the account's running balance after it.
type StatementLine struct {
	Posting
	Description string          `json:"description"`
	Running     decimal.Decimal `json:"running_balance"`
}

// Statement is a page of postings of one account in effective-date order.
type Statement struct {
	Account    string          `json:"account"`
	Currency   string          `json:"currency"`
	Opening    decimal.Decimal `json:"opening_balance"` // before the first line of this page
	Lines      []StatementLine `json:"lines"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// TrialBalanceRow is one account's line of the trial balance.
type TrialBalanceRow struct {
	Account  string          `json:"account"`
	Name     string          `json:"name"`
	Type     AccountType     `json:"type"`
	Currency string          `json:"currency"`
	Debit    decimal.Decimal `json:"debit"`  // balance when on the debit side
	Credit   decimal.Decimal `json:"credit"` // balance when on the credit side, positive
}

// TrialBalance lists every account with a balance at a moment; debits and
// credits are equal per currency.
type TrialBalance struct {
	AsOf   AsOf                       `json:"as_of"`
	Rows   []TrialBalanceRow          `json:"rows"`
	Totals map[string]TrialBalanceSum `json:"totals"` // per currency
}

// TrialBalanceSum is the total of the debit and credit columns of one
// currency, and their difference, which must be zero.
type TrialBalanceSum struct {
	Debit      decimal.Decimal `json:"debit"`
	Credit     decimal.Decimal `json:"credit"`
	Difference decimal.Decimal `json:"difference"`
}

// Problem is one thing verify found wrong.
type Problem struct {
	Kind    string `json:"kind"` // unbalanced_entry, balance_mismatch, trial_balance, content_hash, seal, ...
	EntryID string `json:"entry_id,omitempty"`
	Account string `json:"account,omitempty"`
	Seal    int64  `json:"seal,omitempty"`
	Detail  string `json:"detail"`
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	OK       bool  `json:"ok"`
	Entries  int64 `json:"entries"`
	Postings int64 `json:"postings"`
	Accounts int64 `json:"accounts"`
	Seals    int64 `json:"seals"`
	Open     int64 `json:"open_entries"` // bulk entries still being written
	// Mode is "full" when every posting was read, "incremental" when the
	// postings of the entries sealed up to seal FromSeal were not (see
	// VerifyOptions).
	Mode     string    `json:"mode"`
	FromSeal int64     `json:"from_seal,omitempty"`
	Problems []Problem `json:"problems"`
	Took     string    `json:"took"`
}

// VerifyOptions choose how much Verify reads.
//
// Incremental (the default) reads the seal rows, the accounts with their
// stored and sealed balances, and the entries that no seal covers with their
// postings. It proves: the seals chain to one another and to the seal head,
// and their sealed states chain too; the sealed balances are the ones the
// last seal recorded (by its balances digest); every entry after the last
// seal balances, names accounts in its currency and still has the content it
// was posted with; every stored balance equals its sealed balance plus the
// postings since the last seal; the trial balance is zero. It does not read
// the postings of sealed entries: a change to a sealed posting, entry or
// entry hash that leaves the stored balances alone, or a posting written
// under no entry, is found by Full only.
//
// Full reads everything: every entry and posting, every seal recomputed from
// its entries' hashes, and the sealed balances recomputed from the postings
// of the sealed entries, besides all of the above.
type VerifyOptions struct {
	Full bool
}

// Seal chains the hashes of the entries posted since the previous seal.
type Seal struct {
	Seq        int64     `json:"seq"`
	SealedAt   time.Time `json:"sealed_at"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
	EntryCount int64     `json:"entry_count"`
	// PostingCount is the postings of the entries the seal covers, and
	// StateHash the hash of the sealed state it records (balances of every
	// account over all sealed entries), chained to the previous seal's.
	PostingCount int64  `json:"posting_count"`
	StateHash    string `json:"state_hash,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// Service is what the rest of the service needs from the ledger.
type Service interface {
	// CreateAccount adds an account to the chart; creating the same account
	// again with the same attributes is a no-op.
	CreateAccount(ctx context.Context, a Account) (Account, error)
	Account(ctx context.Context, code string) (Account, error)
	// Accounts lists accounts whose code starts with prefix, in code order,
	// after the code given as cursor.
	Accounts(ctx context.Context, prefix, after string, limit int) ([]Account, error)

	// Post posts a standard entry in one transaction; an entry with
	// Floors is refused whole, with a *FloorError, when it would take a
	// guarded balance below its floor.
	Post(ctx context.Context, e NewEntry) (Entry, error)
	Reverse(ctx context.Context, r Reversal) (Entry, error)
	// PostBulk posts one entry of many lines in chunks; see BulkEntry.
	PostBulk(ctx context.Context, b BulkEntry) (Entry, error)
	Entry(ctx context.Context, id uuid.UUID) (Entry, error)

	Balance(ctx context.Context, account string, at AsOf) (Balance, error)
	Statement(ctx context.Context, q StatementQuery) (Statement, error)
	TrialBalance(ctx context.Context, at AsOf) (TrialBalance, error)

	Seal(ctx context.Context, reason string) (*Seal, error)
	// Verify proves the whole ledger, reading every posting; VerifyWith
	// proves as much as its options ask (see VerifyOptions).
	Verify(ctx context.Context) (VerifyReport, error)
	VerifyWith(ctx context.Context, o VerifyOptions) (VerifyReport, error)
}
