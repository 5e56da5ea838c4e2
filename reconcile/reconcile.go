package reconcile

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Rule says what made a match (standards: the matching cascade).
type Rule string

// The rules of the matching cascade, and the decisions of controllers.
const (
	RuleEndToEnd   Rule = "end_to_end" // 1: a debit with the payment's EndToEndId and amount
	RuleBatch      Rule = "batch"      // 2: a batch-booked debit with a file's PmtInfId or MsgId and total
	RuleReturn     Rule = "return"     // 3: a return credit naming the payment's EndToEndId
	RuleSuggestion Rule = "suggestion" // 4: same amount and payee account within the window, confirmed by a controller
	RuleManual     Rule = "manual"     // a controller matched the line by hand
	RuleFee        Rule = "fee"        // a bank charge (BkTxCd ACMT/MDOP/CHRG, or CFONB fees)
	RuleSuspense   Rule = "suspense"   // a controller booked the line to suspense, with a reason
)

// Rules lists the rules in the order reports show them.
var Rules = []Rule{RuleEndToEnd, RuleBatch, RuleReturn, RuleSuggestion, RuleManual, RuleFee, RuleSuspense}

// ExceptionKind says why a controller must look.
type ExceptionKind string

// The kinds of reconciliation exceptions.
const (
	ExceptionUnmatched      ExceptionKind = "unmatched"           // no rule explains the statement line
	ExceptionAmountMismatch ExceptionKind = "amount_mismatch"     // the EndToEndId names a payment of another amount
	ExceptionDuplicate      ExceptionKind = "duplicate"           // the payment was booked by another line already
	ExceptionAmbiguous      ExceptionKind = "ambiguous"           // several payments fit equally: a person chooses
	ExceptionSuggestion     ExceptionKind = "suggestion"          // one payment fits by amount, payee and dates: confirm it
	ExceptionReturned       ExceptionKind = "returned"            // the bank returned a payment: its payee is to correct
	ExceptionInTransit      ExceptionKind = "in_transit_too_long" // accepted by the bank, still not booked
)

// ExceptionStatus is where a reconciliation exception stands.
type ExceptionStatus string

// The statuses of a reconciliation exception.
const (
	ExceptionOpen     ExceptionStatus = "open"
	ExceptionResolved ExceptionStatus = "resolved" // matched by hand, confirmed or booked to suspense
	ExceptionClosed   ExceptionStatus = "closed"   // closed with a reason, nothing posted
)

// LineRef names a statement line.
type LineRef struct {
	StatementID uuid.UUID `json:"statement_id"`
	Index       int       `json:"index"`
}

// Exception is one thing a controller must resolve.
type Exception struct {
	ID        uuid.UUID       `json:"id"`
	Kind      ExceptionKind   `json:"kind"`
	Line      *LineRef        `json:"line,omitempty"`    // the statement line, when there is one
	Payment   string          `json:"payment,omitempty"` // the payment (line id, EndToEndId), when there is one
	Amount    decimal.Decimal `json:"amount"`
	Reason    string          `json:"reason"`
	Owner     string          `json:"owner,omitempty"`
	Status    ExceptionStatus `json:"status"`
	AgeDays   int             `json:"age_days"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// Resolution says what was done, and ResolvedBy who did it.
	Resolution string `json:"resolution,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	// Line details, for the controller.
	BookingDate ledger.Date `json:"booking_date,omitzero"`
	Direction   Direction   `json:"direction,omitempty"`
	Label       string      `json:"label,omitempty"`
}

// MarshalJSON writes the amount as "204.00".
func (e Exception) MarshalJSON() ([]byte, error) {
	type exception Exception
	return json.Marshal(struct {
		exception
		Amount string `json:"amount"`
	}{exception(e), e.Amount.StringFixed(2)})
}

// ExceptionFilter selects exceptions, oldest first; zero fields select all.
type ExceptionFilter struct {
	Status ExceptionStatus
	Kind   ExceptionKind
	Owner  string
	After  uuid.UUID // the last id of the previous page
	Limit  int       // 0 means 100
}

// Count and Sum add up matched lines or payments.
type Count struct {
	Count int             `json:"count"`
	Sum   decimal.Decimal `json:"sum"`
}

// MarshalJSON writes the sum as "204.00".
func (c Count) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Count int    `json:"count"`
		Sum   string `json:"sum"`
	}{c.Count, c.Sum.StringFixed(2)})
}

// StatementResult is what importing one statement did.
type StatementResult struct {
	ID       uuid.UUID   `json:"id"`
	StmtID   string      `json:"statement"`
	Account  string      `json:"account"`
	Sequence int64       `json:"sequence"`
	Date     ledger.Date `json:"date"`
	Lines    int         `json:"lines"`
	Replayed bool        `json:"replayed"` // imported before: nothing changed
	// Simulated is set when the statement was fetched from the embedded
	// bank simulator of dev mode, not from a bank.
	Simulated bool `json:"simulated,omitempty"`
}

// ImportResult is what importing a statement file did.
type ImportResult struct {
	Format     string            `json:"format"`
	FileSHA256 string            `json:"file_sha256"`
	Replayed   bool              `json:"replayed"` // the same file was imported before
	Statements []StatementResult `json:"statements"`
	// Skipped are the statements of the file that are of other accounts
	// than the service's: a bank sends one file per customer contract,
	// with every account in it. They are neither stored nor refused.
	Skipped []SkippedStatement `json:"skipped,omitempty"`
	Match   MatchResult        `json:"match"`
}

// SkippedStatement is a statement of a file left out of its import.
type SkippedStatement struct {
	StmtID  string      `json:"stmt_id"`
	Account string      `json:"account"`
	Date    ledger.Date `json:"date"`
	Lines   int         `json:"lines"`
	Reason  string      `json:"reason"`
}

// MatchResult counts what a pass of the cascade did.
type MatchResult struct {
	Matched    map[Rule]Count `json:"matched"`
	Exceptions int            `json:"exceptions"` // opened by this pass
	Unmatched  int            `json:"unmatched"`  // lines left without a match
	// Examined counts the stored lines the pass read to match them again:
	// an import's own, or the unmatched lines a new payment may explain;
	// never the whole backlog of unmatched lines.
	Examined int `json:"examined"`
}

// Match is what explains a statement line.
type Match struct {
	ID        uuid.UUID       `json:"id"`
	Line      LineRef         `json:"line"`
	Rule      Rule            `json:"rule"`
	Amount    decimal.Decimal `json:"amount"`
	Payments  []string        `json:"payments"` // the payments (line ids) it books or returns
	MatchedBy string          `json:"matched_by"`
	MatchedAt time.Time       `json:"matched_at"`
	Reason    string          `json:"reason,omitempty"`
	UndoneBy  string          `json:"undone_by,omitempty"`
	UndoneAt  time.Time       `json:"undone_at,omitzero"`
}

// MarshalJSON writes the amount as "204.00".
func (m Match) MarshalJSON() ([]byte, error) {
	type match Match
	return json.Marshal(struct {
		match
		Amount string `json:"amount"`
	}{match(m), m.Amount.StringFixed(2)})
}

// MatchFilter selects matches; zero fields select all.
type MatchFilter struct {
	StatementID uuid.UUID
	Payment     string // a payment's line id
	Rule        Rule
	Limit       int // 0 means 100
}

// AgeBucket counts payments in transit by age in business days.
type AgeBucket struct {
	Ages string `json:"ages"` // "0-2", "3-5", "6-10", "over 10"
	Count
}

// MarshalJSON writes the ages with the count and the sum ("204.00"): the
// MarshalJSON of the embedded Count alone would drop the ages.
func (b AgeBucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Ages  string `json:"ages"`
		Count int    `json:"count"`
		Sum   string `json:"sum"`
	}{b.Ages, b.Count.Count, b.Sum.StringFixed(2)})
}

// MaxReportExceptions is how many open exceptions a report lists; its
// OpenTotal counts them all.
const MaxReportExceptions = 1000

// Report is the reconciliation of one account on one day.
type Report struct {
	Account string      `json:"account"`
	Date    ledger.Date `json:"date"`
	// Statement balances: found is false when no statement of the day was
	// imported.
	StatementFound   bool            `json:"statement_found"`
	StatementOpening decimal.Decimal `json:"statement_opening"`
	StatementClosing decimal.Decimal `json:"statement_closing"`
	// StatementSimulated is set when a statement of the day came from the
	// embedded bank simulator of dev mode: its balances are no bank's.
	StatementSimulated bool `json:"statement_simulated,omitempty"`
	// LedgerAccount is the ledger account that stands for the account:
	// bank:main for the service's paying account, bank:<name> for another.
	LedgerAccount string `json:"ledger_account"`
	// LedgerClosing is LedgerAccount at the end of the day (effective
	// dates).
	LedgerClosing decimal.Decimal `json:"ledger_closing"`
	Difference    decimal.Decimal `json:"difference"` // statement − ledger
	Agrees        bool            `json:"agrees"`
	Lines         int             `json:"lines"`
	Matched       map[Rule]Count  `json:"matched"`
	Unmatched     Count           `json:"unmatched"`
	// OpenExceptions are the exceptions still open, whatever their day,
	// oldest first: at most MaxReportExceptions of them; OpenTotal counts
	// and sums every one.
	OpenExceptions []Exception `json:"open_exceptions"`
	// OpenTotal is the exact count and sum of the open exceptions.
	OpenTotal      Count       `json:"open_exceptions_total"`
	InTransit      []AgeBucket `json:"in_transit"`
	InTransitTotal Count       `json:"in_transit_total"`
	Verdict        string      `json:"verdict"` // the report in one sentence
	GeneratedAt    time.Time   `json:"generated_at"`
}

// MarshalJSON writes the amounts as "204.00".
func (r Report) MarshalJSON() ([]byte, error) {
	type report Report
	return json.Marshal(struct {
		report
		StatementOpening string `json:"statement_opening"`
		StatementClosing string `json:"statement_closing"`
		LedgerClosing    string `json:"ledger_closing"`
		Difference       string `json:"difference"`
	}{report(r), r.StatementOpening.StringFixed(2), r.StatementClosing.StringFixed(2), r.LedgerClosing.StringFixed(2), r.Difference.StringFixed(2)})
}

// StatementImporter imports the statement files people send.
type StatementImporter interface {
	// Import reads a statement file (camt.053, camt.054 or CFONB 120, told
	// apart by their content), checks it whole, stores its statements and
	// runs the matching cascade. A file or statement imported before
	// changes nothing. A malformed file imports nothing.
	Import(ctx context.Context, content []byte, by payments.Actor) (ImportResult, error)
	// ImportFrom is Import from a file read twice (checked, then stored),
	// in bounded memory whatever its size.
	ImportFrom(ctx context.Context, file io.ReadSeeker, by payments.Actor) (ImportResult, error)
}

// StatementFetcher fetches the statements from the bank.
type StatementFetcher interface {
	// Fetch asks the bank for the account's statements of a day and
	// imports them.
	Fetch(ctx context.Context, day ledger.Date, by payments.Actor) ([]ImportResult, error)
}

// Matching runs the matching cascade and lists its matches.
type Matching interface {
	// Match runs the cascade over every line not yet matched.
	Match(ctx context.Context) (MatchResult, error)
	// Sweep opens an exception for each payment accepted by the bank and
	// still not booked after the configured number of business days.
	Sweep(ctx context.Context, today ledger.Date) (int, error)
	// Matches lists the matches f selects, newest first.
	Matches(ctx context.Context, f MatchFilter) ([]Match, error)
}

// ExceptionDesk is the work of controllers on the reconciliation
// exceptions.
type ExceptionDesk interface {
	// Exceptions lists the exceptions f selects.
	Exceptions(ctx context.Context, f ExceptionFilter) ([]Exception, error)
	// MatchByHand explains an exception's statement line by payments
	// (their line ids) whose amounts add up to the line's.
	MatchByHand(ctx context.Context, id uuid.UUID, payments []string, by payments.Actor, reason string) (Exception, error)
	// Confirm confirms a suggestion: the line is matched to the payment.
	Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (Exception, error)
	// BookToSuspense books an exception's statement line to suspense.
	BookToSuspense(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (Exception, error)
	// Close closes an exception with a reason, posting nothing.
	Close(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (Exception, error)
	// Assign gives an exception an owner.
	Assign(ctx context.Context, id uuid.UUID, owner string, by payments.Actor) (Exception, error)
	// UndoMatch takes a match back: its postings are reversed and its line
	// is unmatched again, with an exception.
	UndoMatch(ctx context.Context, matchID uuid.UUID, by payments.Actor, reason string) error
}

// Reporter reconciles an account on a day.
type Reporter interface {
	// Report reconciles an account on a day.
	Report(ctx context.Context, account string, day ledger.Date) (Report, error)
}

// Service is every operation of the reconciliation, as the server serves
// them: each caller takes the interface of the few it needs.
type Service interface {
	StatementImporter
	StatementFetcher
	Matching
	ExceptionDesk
	Reporter
}

// Services puts the reconciliation's services together as one Service.
type Services struct {
	StatementImporter
	StatementFetcher
	Matching
	ExceptionDesk
	Reporter
}

var _ Service = Services{}
