package payments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Budget control: the appropriation of each scheme and fiscal year is kept
// in the ledger as memorandum entries on four accounts per scheme and
// year, which balance among themselves and never touch an account of
// money:
//
//	budget:appropriation:<scheme>:<year>  credit: what the State allotted
//	budget:available:<scheme>:<year>      debit: allotted, not yet committed
//	budget:committed:<scheme>:<year>      debit: committed by approved batches
//	budget:spent:<scheme>:<year>          debit: released to the bank
//
// An appropriation changes only by a confirmed amendment; the rules below
// are pure functions, the stores post what they give.

// The memorandum control accounts of the budget; each has one sub-account
// per scheme and year, "<control>:<scheme>:<year>", created on first use.
const (
	BudgetAppropriation = "budget:appropriation"
	BudgetAvailable     = "budget:available"
	BudgetCommitted     = "budget:committed"
	BudgetSpent         = "budget:spent"
)

// BudgetAccount is the account of control for scheme sc and fiscal year.
func BudgetAccount(control string, sc Scheme, year int) string {
	return fmt.Sprintf("%s:%s:%d", control, sc, year)
}

// BudgetChart is the memorandum accounts of the budget, one control
// account per kind and scheme (class 8 of the public-body chart: off
// balance-sheet commitments). They are created beside ledger.Chart.
func BudgetChart() []ledger.Account {
	kinds := []struct {
		code, name string
		typ        ledger.AccountType
	}{
		{BudgetAppropriation, "Appropriation (memorandum)", ledger.Equity},
		{BudgetAvailable, "Appropriation available (memorandum)", ledger.Asset},
		{BudgetCommitted, "Appropriation committed (memorandum)", ledger.Asset},
		{BudgetSpent, "Appropriation spent (memorandum)", ledger.Asset},
	}
	var out []ledger.Account
	for _, k := range kinds {
		for _, sc := range Schemes {
			out = append(out, ledger.Account{Code: k.code + ":" + string(sc), Name: k.name + " — " + SchemeLabel(sc), Type: k.typ,
				Currency: ledger.Currency, SubLedger: true, BalanceShards: 1,
				Metadata: map[string]string{"gbcp": "80", "memorandum": "true"}})
		}
	}
	return out
}

// AmendmentKind says how an amendment changes an appropriation.
type AmendmentKind string

// The amendment kinds.
const (
	AmendmentInitial       AmendmentKind = "initial"
	AmendmentSupplementary AmendmentKind = "supplementary"
	AmendmentTransferIn    AmendmentKind = "transfer_in"
	AmendmentTransferOut   AmendmentKind = "transfer_out"
)

// Valid reports whether k is one of the amendment kinds.
func (k AmendmentKind) Valid() bool {
	switch k {
	case AmendmentInitial, AmendmentSupplementary, AmendmentTransferIn, AmendmentTransferOut:
		return true
	}
	return false
}

// Adds reports whether an amendment of kind k adds to the appropriation.
func (k AmendmentKind) Adds() bool { return k != AmendmentTransferOut }

// AmendmentStatus is recorded, then confirmed by another person.
type AmendmentStatus string

// The amendment statuses.
const (
	AmendmentRecorded  AmendmentStatus = "recorded"
	AmendmentConfirmed AmendmentStatus = "confirmed"
)

// Amendment changes the appropriation of a scheme and fiscal year once
// confirmed: recorded by one person, confirmed by another.
type Amendment struct {
	ID          uuid.UUID       `json:"id"`
	Scheme      Scheme          `json:"scheme"`
	Year        int             `json:"year"`
	Kind        AmendmentKind   `json:"kind"`
	Amount      decimal.Decimal `json:"amount"`
	Reference   string          `json:"reference"`
	Reason      string          `json:"reason"`
	Status      AmendmentStatus `json:"status"`
	RecordedBy  string          `json:"recorded_by"`
	RecordedAt  time.Time       `json:"recorded_at"`
	ConfirmedBy string          `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time      `json:"confirmed_at,omitempty"`
}

// MaxAmendmentText bounds an amendment's reference and reason.
const MaxAmendmentText = 500

// maxBudgetYears bounds how far ahead an appropriation may be recorded.
const maxBudgetYears = 5

// CheckAmendment checks an amendment as recorded at now: a known scheme
// and kind, a fiscal year neither past nor more than five years ahead, a
// positive amount in cents, a reference and a reason. The error names the
// field at fault.
func CheckAmendment(a Amendment, now time.Time) error {
	if !a.Scheme.Valid() {
		return errs.Field("scheme", "%q is not a scheme", a.Scheme)
	}
	this := LegalDay(now).Time().Year()
	if a.Year < this || a.Year > this+maxBudgetYears {
		return errs.Field("year", "%d is not a fiscal year from %d to %d", a.Year, this, this+maxBudgetYears)
	}
	if !a.Kind.Valid() {
		return errs.Field("kind", "%q is not an amendment kind (initial, supplementary, transfer_in, transfer_out)", a.Kind)
	}
	if !a.Amount.IsPositive() {
		return errs.Field("amount", "%s is not a positive amount", a.Amount)
	}
	if a.Amount.Exponent() < -2 && !a.Amount.Equal(a.Amount.Round(2)) {
		return errs.Field("amount", "%s has more than two decimals", a.Amount)
	}
	if a.Amount.GreaterThan(decimal.New(1, 12)) {
		return errs.Field("amount", "%s is over the largest appropriation (1e12)", a.Amount)
	}
	for _, f := range []struct{ name, v string }{{"reference", a.Reference}, {"reason", a.Reason}} {
		v := strings.TrimSpace(f.v)
		if v == "" {
			return errs.Field(f.name, "is required")
		}
		if len(v) > MaxAmendmentText {
			return errs.Field(f.name, "is longer than %d bytes", MaxAmendmentText)
		}
	}
	return nil
}

// CheckAvailable refuses an amendment that would leave the available
// funds of its scheme and year negative.
func CheckAvailable(a Amendment, available decimal.Decimal) error {
	if a.Kind.Adds() || !a.Amount.GreaterThan(available) {
		return nil
	}
	return errs.Field("amount", "transferring out %s would leave %s %d below zero: %s available",
		a.Amount.StringFixed(2), a.Scheme, a.Year, available.StringFixed(2))
}

// AmendmentKey is the key of the posting of a confirmed amendment.
func AmendmentKey(id uuid.UUID) string { return "budget:amendment:" + id.String() }

// AmendmentPosting is the memorandum entry of a confirmed amendment, on
// the day of its confirmation: an addition debits available and credits
// the appropriation, a transfer out the reverse.
func AmendmentPosting(a Amendment, at time.Time) ledger.NewEntry {
	amt := a.Amount
	if !a.Kind.Adds() {
		amt = amt.Neg()
	}
	return ledger.NewEntry{
		IdempotencyKey: AmendmentKey(a.ID),
		EffectiveDate:  LegalDay(at),
		Description:    fmt.Sprintf("Budget %s %d: %s %s (%s)", a.Scheme, a.Year, a.Kind, a.Amount.StringFixed(2), a.Reference),
		SourceRef:      "amendment:" + a.ID.String(),
		Lines: []ledger.Line{
			{Account: BudgetAccount(BudgetAvailable, a.Scheme, a.Year), Amount: amt, Memo: a.Reference},
			{Account: BudgetAccount(BudgetAppropriation, a.Scheme, a.Year), Amount: amt.Neg(), Memo: a.Reference},
		},
	}
}

// CommitmentKey is the key of the commitment made by one round of a
// batch's approval: round is when the batch became 'approving' (its
// approved_at, in microseconds). Resuming an interrupted approval keeps
// the round, and so posts the commitment once; a batch whose approval was
// taken back and which is approved again commits in a new round, under a
// new key, once the first round's commitment is given back.
func CommitmentKey(batch uuid.UUID, round time.Time) string {
	return fmt.Sprintf("budget:commit:%s:%d", batch, round.UnixMicro())
}

// SpendingKey is the key of the spending of a batch's scheme.
func SpendingKey(batch uuid.UUID, sc Scheme) string {
	return fmt.Sprintf("budget:spend:%s:%s", batch, sc)
}

// CommitmentPosting commits, in one entry, the net of each of schemes of
// a batch against the appropriation of its year, on the day of its
// approval round (b.ApprovedAt): per scheme, Dr committed, Cr available.
// With guard, each available account is floored at zero in the entry's
// own transaction (ledger.NewEntry.Floors), so that the commitment is
// refused whole rather than go beyond what is available, whatever else
// commits at the same moment.
func CommitmentPosting(b Batch, schemes []Scheme, guard bool) ledger.NewEntry {
	year := BudgetYear(b)
	e := ledger.NewEntry{
		IdempotencyKey: CommitmentKey(b.ID, b.ApprovedAt),
		EffectiveDate:  LegalDay(b.ApprovedAt),
		Description:    fmt.Sprintf("Budget %d: batch %s committed", year, b.ID),
		SourceRef:      "batch:" + b.ID.String(),
	}
	memo := "batch " + b.ID.String()
	for _, sc := range schemes {
		net := b.Totals[sc].Net
		avail := BudgetAccount(BudgetAvailable, sc, year)
		e.Lines = append(e.Lines,
			ledger.Line{Account: BudgetAccount(BudgetCommitted, sc, year), Amount: net, Memo: memo},
			ledger.Line{Account: avail, Amount: net.Neg(), Memo: memo})
		if guard {
			e.Floors = append(e.Floors, ledger.Floor{Account: avail, Min: decimal.Zero})
		}
	}
	return e
}

// CommitmentRefused words the ledger's refusal of a guarded commitment
// (CommitmentPosting) as CheckBatchBudget does: a conflict naming each
// scheme at fault with what the batch commits, what was available and by
// how much it is over.
func CommitmentRefused(b Batch, fe *ledger.FloorError) error {
	year := BudgetYear(b)
	var faults []string
	for _, sf := range fe.Shortfalls {
		for _, sc := range Schemes {
			if BudgetAccount(BudgetAvailable, sc, year) != sf.Account {
				continue
			}
			net := b.Totals[sc].Net
			err := CheckCommitment(sc, year, net, sf.Balance.Add(net))
			if err == nil { // cannot be: the floor is zero
				err = fmt.Errorf("budget %s", fe.Error())
			}
			faults = append(faults, strings.TrimPrefix(err.Error(), "budget "))
		}
	}
	if len(faults) == 0 {
		faults = append(faults, fe.Error())
	}
	return errs.E(errs.Conflict, "batch %s is beyond its budget: %s", b.ID, strings.Join(faults, "; "))
}

// SpendingPosting turns the commitment of a released batch's scheme into
// spending: Dr spent, Cr committed.
func SpendingPosting(batch uuid.UUID, sc Scheme, year int, net decimal.Decimal, at time.Time) ledger.NewEntry {
	return ledger.NewEntry{
		IdempotencyKey: SpendingKey(batch, sc),
		EffectiveDate:  LegalDay(at),
		Description:    fmt.Sprintf("Budget %s %d: batch %s spent", sc, year, batch),
		SourceRef:      "batch:" + batch.String(),
		Lines: []ledger.Line{
			{Account: BudgetAccount(BudgetSpent, sc, year), Amount: net, Memo: "batch " + batch.String()},
			{Account: BudgetAccount(BudgetCommitted, sc, year), Amount: net.Neg(), Memo: "batch " + batch.String()},
		},
	}
}

// CheckCommitment refuses to commit net against what is available, with
// the amounts in the message (a conflict).
func CheckCommitment(sc Scheme, year int, net, available decimal.Decimal) error {
	if !net.GreaterThan(available) {
		return nil
	}
	return errs.E(errs.Conflict, "budget %s %d: the batch commits %s, %s available (%s over)",
		sc, year, net.StringFixed(2), available.StringFixed(2), net.Sub(available).StringFixed(2))
}

// Valid reports whether sc is one of Schemes.
func (sc Scheme) Valid() bool {
	for _, s := range Schemes {
		if s == sc {
			return true
		}
	}
	return false
}

// BudgetPosition is where the appropriation of one scheme and year stands
// when a batch is approved.
type BudgetPosition struct {
	Appropriated bool            // a confirmed amendment exists
	Available    decimal.Decimal // signed balance of budget:available
}

// BudgetOverride lets an approver who holds the budget role approve a
// batch beyond what is available, with a reason; it is audited.
type BudgetOverride struct {
	Force  bool   `json:"force_budget"`
	Reason string `json:"budget_reason,omitempty"`
}

// BudgetYear is the fiscal year a batch commits: the year of its period.
func BudgetYear(b Batch) int { return b.Period.Year }

// CommitsBudget reports whether a scheme's net is committed on approval:
// when the scheme has an appropriation for the year, or when control is
// enforced (a forced approval without one leaves its available funds
// negative, for all to see).
func CommitsBudget(p BudgetPosition, enforce bool) bool { return p.Appropriated || enforce }

// CommittedSchemes lists the schemes of a batch whose net its approval
// commits: those with a positive net that CommitsBudget, in the order of
// Schemes. A reissue commits nothing: its first batch did.
func CommittedSchemes(b Batch, pos map[Scheme]BudgetPosition, enforce bool) []Scheme {
	if !AccruesOnApproval(b) {
		return nil
	}
	var out []Scheme
	for _, sc := range Schemes {
		if t, ok := b.Totals[sc]; ok && t.Net.IsPositive() && CommitsBudget(pos[sc], enforce) {
			out = append(out, sc)
		}
	}
	return out
}

// CheckBatchBudget checks a batch's net per scheme against the positions
// of its year: a scheme beyond what is available, or without an
// appropriation when control is enforced, refuses the whole batch (a
// conflict naming every scheme at fault with its amounts). A reissue pays
// what its first batch committed and is never checked.
func CheckBatchBudget(b Batch, pos map[Scheme]BudgetPosition, enforce bool) error {
	if !AccruesOnApproval(b) {
		return nil
	}
	year := BudgetYear(b)
	var faults []string
	for _, sc := range Schemes {
		t, ok := b.Totals[sc]
		if !ok || !t.Net.IsPositive() {
			continue
		}
		p := pos[sc]
		switch {
		case !p.Appropriated && enforce:
			faults = append(faults, fmt.Sprintf("%s %d has no appropriation (the batch commits %s)", sc, year, t.Net.StringFixed(2)))
		case p.Appropriated:
			if err := CheckCommitment(sc, year, t.Net, p.Available); err != nil {
				faults = append(faults, strings.TrimPrefix(err.Error(), "budget "))
			}
		}
	}
	if len(faults) == 0 {
		return nil
	}
	return errs.E(errs.Conflict, "batch %s is beyond its budget: %s", b.ID, strings.Join(faults, "; "))
}

// BudgetCommitment is what a batch committed for one scheme, with the
// entries that committed (one entry per approval round, for all its
// schemes), spent or gave it back.
type BudgetCommitment struct {
	Batch    uuid.UUID
	Scheme   Scheme
	Year     int
	Amount   decimal.Decimal
	Entry    uuid.UUID
	Spent    *uuid.UUID
	Released *uuid.UUID
}

// UncommitKey is the key of the reversal that gives back the commitment
// (or spending) of a cancelled batch's scheme.
func UncommitKey(entry uuid.UUID) string { return "budget:giveback:" + entry.String() }

// BudgetLine is where one scheme's appropriation stands for a year, and
// where it is heading.
type BudgetLine struct {
	Scheme        Scheme          `json:"scheme"`
	Year          int             `json:"year"`
	Appropriation decimal.Decimal `json:"appropriation"`
	Committed     decimal.Decimal `json:"committed"`
	Spent         decimal.Decimal `json:"spent"`
	Available     decimal.Decimal `json:"available"`
	// MonthlyRun is the current caseload's month: for each household
	// with open rights, the average of its last three months' net.
	MonthlyRun decimal.Decimal `json:"monthly_run"`
	// Forecast is spent + committed + the remaining months × MonthlyRun.
	Forecast decimal.Decimal `json:"forecast"`
	// RunsOut is the month ("2027-09") in which the appropriation runs
	// out at that pace, empty when it lasts the year.
	RunsOut string `json:"runs_out,omitempty"`
	// MonthsOfCover is how many months of MonthlyRun the available funds
	// pay for (capped at 99; 99 when nothing runs).
	MonthsOfCover decimal.Decimal `json:"months_of_cover"`
}

// BudgetReport is the budget of a fiscal year, one line per scheme.
type BudgetReport struct {
	Year  int          `json:"year"`
	AsOf  Period       `json:"as_of"`
	Lines []BudgetLine `json:"lines"`
}

// Budgets serves the appropriations: their amendments and the report.
type Budgets interface {
	// Record records an amendment (role budget or admin).
	Record(ctx context.Context, a Amendment, by Actor) (Amendment, error)
	// Confirm confirms and posts an amendment another person recorded.
	Confirm(ctx context.Context, id uuid.UUID, by Actor) (Amendment, error)
	// Report is the budget of year as of now.
	Report(ctx context.Context, year int) (BudgetReport, error)
}

// maxCover caps the months of cover.
var maxCover = decimal.NewFromInt(99)

// Forecast completes a line whose appropriation, committed, spent,
// available and monthly run are set, as of the month asOf (the months
// after it to the end of the year are still to pay): the forecast to the
// year end, the month the appropriation runs out at that pace, and the
// months of cover. A year before asOf's has no month left; a later one has
// all twelve.
func Forecast(l BudgetLine, asOf Period) BudgetLine {
	remaining := 0
	switch {
	case l.Year == asOf.Year:
		remaining = 12 - asOf.Month
	case l.Year > asOf.Year:
		remaining = 12
	}
	first := 1 + 12 - remaining // first month still to pay
	used := l.Spent.Add(l.Committed)
	l.Forecast = used.Add(l.MonthlyRun.Mul(decimal.NewFromInt(int64(remaining)))).Round(2)
	l.RunsOut = ""
	if l.MonthlyRun.IsPositive() {
		for m := 0; m < remaining; m++ {
			used = used.Add(l.MonthlyRun)
			if used.GreaterThan(l.Appropriation) {
				l.RunsOut = Period{Year: l.Year, Month: first + m}.String()
				break
			}
		}
		l.MonthsOfCover = decimal.Min(maxCover, l.Available.Div(l.MonthlyRun).Round(2))
		if l.MonthsOfCover.IsNegative() {
			l.MonthsOfCover = decimal.Zero
		}
	} else {
		l.MonthsOfCover = maxCover
	}
	if l.RunsOut == "" && remaining == 0 && used.GreaterThan(l.Appropriation) {
		l.RunsOut = Period{Year: l.Year, Month: 12}.String()
	}
	return l
}
