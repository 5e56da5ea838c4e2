package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// A run computes what is due and writes it as the lines of one draft batch;
// nothing is posted until the batch is approved. An ADA run takes one
// period, over when it runs, and every beneficiary, a chunk at a time; a
// grants run takes the return grants whose departure has come and the
// reinsertion tranches released, none of them batched yet.
//
// What a beneficiary has been paid for a period is the sum of the gross
// amounts of the approved lines for it, less the overpayments established
// for it: a run pays the difference between what is due and that, so that
// no day is ever paid twice however often a period is run. While a
// period's batch is a draft, running the period again replaces the draft;
// once it is approved, a later run adds only the differences.

// RunKind is what a run computes.
type RunKind string

// The kinds of runs.
const (
	RunADA    RunKind = "ada"    // the monthly ADA of one period, with its retroactive adjustments
	RunGrants RunKind = "grants" // return aid lump sums and reinsertion tranches
)

// RunStatus is where a run stands.
type RunStatus string

// The statuses of a run.
const (
	RunRunning RunStatus = "running"
	RunDone    RunStatus = "done"   // its batch is complete
	RunFailed  RunStatus = "failed" // stopped before the end: its lines were discarded
	// RunCancelled: left running by a process that stopped, and abandoned
	// by staff (CancelRun); its lines were discarded.
	RunCancelled RunStatus = "cancelled"
)

// Trigger says who started a run.
type Trigger string

// The triggers of a run.
const (
	TriggerStaff    Trigger = "staff"    // a person, from the API or ledgerctl
	TriggerSchedule Trigger = "schedule" // the monthly scheduler
)

// ParseRunKind reads a run kind.
func ParseRunKind(s string) (RunKind, error) {
	switch k := RunKind(s); k {
	case RunADA, RunGrants:
		return k, nil
	}
	return "", fmt.Errorf("%s is not a kind of run (ada or grants)", quoteShort(s))
}

// ParseTrigger reads a trigger.
func ParseTrigger(s string) (Trigger, error) {
	switch t := Trigger(s); t {
	case TriggerStaff, TriggerSchedule:
		return t, nil
	}
	return "", fmt.Errorf("%s is not a trigger (staff or schedule)", quoteShort(s))
}

// Run is one computation of a batch.
type Run struct {
	ID     uuid.UUID `json:"id"`
	Kind   RunKind   `json:"kind"`
	Period Period    `json:"period"`
	// Day is the day the run computed on: the day it started, in French
	// legal time, or for a grants run the day given (grants departed or
	// released on or before it).
	Day        ledger.Date `json:"day"`
	Status     RunStatus   `json:"status"`
	Trigger    Trigger     `json:"trigger"`
	By         string      `json:"by"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt time.Time   `json:"finished_at,omitzero"`
	BatchID    uuid.UUID   `json:"batch_id"`
	// Processed counts the beneficiaries (ADA) or grants and tranches
	// (grants) computed so far.
	Processed int    `json:"processed"`
	Lines     int    `json:"lines"`
	Error     string `json:"error,omitempty"`
}

// BatchStatus is where a batch stands. The approval workflow (workflow.go)
// adds the statuses around approval and those that follow it.
type BatchStatus string

// The statuses of a batch.
const (
	BatchBuilding  BatchStatus = "building"  // its run is writing it; not yet a draft
	BatchDraft     BatchStatus = "draft"     // complete, not approved: a new run of the period replaces it
	BatchReplaced  BatchStatus = "replaced"  // a newer draft took its place; about to be removed
	BatchApproving BatchStatus = "approving" // its lines are being recorded as paid
	// BatchUnapproving: an approval that failed part-way is being taken
	// back; nothing may approve it meanwhile.
	BatchUnapproving BatchStatus = "unapproving"
	BatchApproved    BatchStatus = "approved" // its lines count as paid
)

// Scheme is the aid a line pays.
type Scheme string

// The schemes.
const (
	SchemeADA              Scheme = "ada"
	SchemeReturn           Scheme = "return"
	SchemeReinsertion      Scheme = "reinsertion"
	SchemeBusinessCreation Scheme = "business_creation"
)

// Schemes lists the schemes in the order tables show them.
var Schemes = []Scheme{SchemeADA, SchemeReturn, SchemeReinsertion, SchemeBusinessCreation}

// LineKind says why a line pays.
type LineKind string

// The kinds of lines.
const (
	LineMonthly    LineKind = "monthly"    // the ADA of a period paid for the first time
	LineAdjustment LineKind = "adjustment" // more ADA due for a period already paid
	LineLumpSum    LineKind = "lump_sum"   // return aid
	LineTranche    LineKind = "tranche"    // a released tranche of reinsertion aid
)

// Totals add up lines.
type Totals struct {
	Lines     int             `json:"lines"`
	Gross     decimal.Decimal `json:"gross"`
	Deduction decimal.Decimal `json:"deduction"`
	Net       decimal.Decimal `json:"net"`
}

// Add counts l in t.
func (t *Totals) Add(l BatchLine) {
	t.Lines++
	t.Gross = t.Gross.Add(l.Gross)
	t.Deduction = t.Deduction.Add(l.Deduction)
	t.Net = t.Net.Add(l.Net)
}

// MarshalJSON writes the amounts as "204.00".
func (t Totals) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Lines     int        `json:"lines"`
		Gross     lineAmount `json:"gross"`
		Deduction lineAmount `json:"deduction"`
		Net       lineAmount `json:"net"`
	}{t.Lines, lineAmount(t.Gross), lineAmount(t.Deduction), lineAmount(t.Net)})
}

// Batch is the lines computed by one run, approved or paid together.
type Batch struct {
	ID          uuid.UUID   `json:"id"`
	RunID       uuid.UUID   `json:"run_id"`
	Kind        RunKind     `json:"kind"`
	Period      Period      `json:"period"`
	Status      BatchStatus `json:"status"`
	CreatedAt   time.Time   `json:"created_at"`
	CompletedAt time.Time   `json:"completed_at,omitzero"` // when its run finished writing it
	ApprovedAt  time.Time   `json:"approved_at,omitzero"`
	Lines       int         `json:"lines"`
	// Totals are per scheme, for the schemes the batch has lines of; Total
	// adds them up. Both are known once the batch is complete.
	Totals map[Scheme]Totals `json:"totals"`
	Total  Totals            `json:"total"`
	// Workflow is its approval and release.
	Workflow Workflow `json:"workflow"`
}

// BatchLine is one payment of a batch.
type BatchLine struct {
	// ID is the line's EndToEndId (LineID): 35 characters of letters,
	// digits and hyphens, derived from what the line pays and its run.
	ID            string    `json:"id"`
	BatchID       uuid.UUID `json:"batch_id"`
	Scheme        Scheme    `json:"scheme"`
	Kind          LineKind  `json:"kind"`
	BeneficiaryID string    `json:"beneficiary_id"`
	// Period is the month the line pays for: for ADA the month of the days
	// paid, for a grant the month of the run.
	Period Period `json:"period"`
	// Ref names the grant ("RET-2026-0042") or the tranche
	// ("REI-2026-0007/T1") a grant line pays; empty for ADA.
	Ref       string          `json:"ref,omitempty"`
	Gross     decimal.Decimal `json:"gross"`
	Deduction decimal.Decimal `json:"deduction"` // withheld against overpayments
	Net       decimal.Decimal `json:"net"`       // Gross − Deduction, what the payee receives
	// Basis is what had been paid for the period when the line was
	// computed (ADA): approval refuses a line whose basis is no longer
	// what has been paid, so that a day is never paid twice.
	Basis       decimal.Decimal `json:"basis"`
	Deductions  []Deduction     `json:"deductions"`
	Payee       Payee           `json:"payee"`
	Explanation Explanation     `json:"explanation"`
}

// MarshalJSON writes the amounts as "204.00".
func (l BatchLine) MarshalJSON() ([]byte, error) {
	type deduction struct {
		OverpaymentID string     `json:"overpayment_id"`
		Amount        lineAmount `json:"amount"`
	}
	ds := make([]deduction, len(l.Deductions))
	for i, d := range l.Deductions {
		ds[i] = deduction{d.OverpaymentID, lineAmount(d.Amount)}
	}
	return json.Marshal(struct {
		ID            string      `json:"id"`
		BatchID       uuid.UUID   `json:"batch_id"`
		Scheme        Scheme      `json:"scheme"`
		Kind          LineKind    `json:"kind"`
		BeneficiaryID string      `json:"beneficiary_id"`
		Period        Period      `json:"period"`
		Ref           string      `json:"ref,omitempty"`
		Gross         lineAmount  `json:"gross"`
		Deduction     lineAmount  `json:"deduction"`
		Net           lineAmount  `json:"net"`
		Basis         lineAmount  `json:"basis"`
		Deductions    []deduction `json:"deductions"`
		Payee         Payee       `json:"payee"`
		Explanation   Explanation `json:"explanation"`
	}{l.ID, l.BatchID, l.Scheme, l.Kind, l.BeneficiaryID, l.Period, l.Ref, lineAmount(l.Gross), lineAmount(l.Deduction),
		lineAmount(l.Net), lineAmount(l.Basis), ds, l.Payee, l.Explanation})
}

// Explanation says how a line's amount is made, for the people who check a
// batch and for the beneficiary.
type Explanation struct {
	// Text says it all in one paragraph: the days and daily amounts, what
	// was paid before, the deduction.
	Text string `json:"text"`
	// Segments are the ADA days of the period, with their daily amounts.
	Segments []ADASegment `json:"segments,omitempty"`
	// Due is what the period comes to, Paid what had been paid for it (ADA).
	Due  *decimal.Decimal `json:"due,omitempty"`
	Paid *decimal.Decimal `json:"paid,omitempty"`
	// Recovery says how the deduction was decided (Recovery.Why).
	Recovery string `json:"recovery,omitempty"`
	// Return is the return aid computation of a lump sum.
	Return *ReturnResult `json:"return,omitempty"`
}

// MarshalJSON writes the amounts as "204.00".
func (e Explanation) MarshalJSON() ([]byte, error) {
	type segment struct {
		From   ledger.Date `json:"from"`
		To     ledger.Date `json:"to"`
		Days   int         `json:"days"`
		Daily  lineAmount  `json:"daily"`
		Amount lineAmount  `json:"amount"`
		Why    string      `json:"why"`
	}
	var segs []segment
	for _, s := range e.Segments {
		segs = append(segs, segment{s.From, s.To, s.Days, lineAmount(s.Daily), lineAmount(s.Amount), s.Why})
	}
	opt := func(d *decimal.Decimal) *lineAmount {
		if d == nil {
			return nil
		}
		a := lineAmount(*d)
		return &a
	}
	return json.Marshal(struct {
		Text     string        `json:"text"`
		Segments []segment     `json:"segments,omitempty"`
		Due      *lineAmount   `json:"due,omitempty"`
		Paid     *lineAmount   `json:"paid,omitempty"`
		Recovery string        `json:"recovery,omitempty"`
		Return   *ReturnResult `json:"return,omitempty"`
	}{e.Text, segs, opt(e.Due), opt(e.Paid), e.Recovery, e.Return})
}

// BatchFilter selects batches; zero fields select all.
type BatchFilter struct {
	Kind   RunKind
	Period Period
	Status BatchStatus
	Limit  int // at most this many, newest first; 0 means 100
}

// Runs computes and reads the runs and their batches, and records who
// read whose lines.
type Runs interface {
	ReadLog
	// StartADARun computes the ADA of period p, over and within the
	// two-year limitation (ValidateRunPeriod), for every beneficiary, and
	// returns the finished run. Its batch replaces the period's draft, if
	// any; until the run is done, that draft stays as it was. Only one run
	// of a kind runs at a time: another is refused as a conflict.
	StartADARun(ctx context.Context, p Period, trigger Trigger, by string) (Run, error)
	// StartGrantsRun batches the return grants whose departure is on or
	// before day and the reinsertion tranches released on or before it,
	// none of them in another batch yet. Its batch replaces the draft
	// grants batch of day's month, if any. A zero day means today.
	StartGrantsRun(ctx context.Context, day ledger.Date, trigger Trigger, by string) (Run, error)
	// Runs returns the latest runs, newest first.
	Runs(ctx context.Context, limit int) ([]Run, error)
	// Batch returns one batch with its totals.
	Batch(ctx context.Context, id uuid.UUID) (Batch, error)
	// Batches returns the batches f selects, newest first. Replaced drafts
	// are left out unless f asks for them.
	Batches(ctx context.Context, f BatchFilter) ([]Batch, error)
	// BatchLines returns a page of a batch's lines in the order of their
	// ids, after cursor (the last id of the previous page); the next cursor
	// is set when the page is full.
	BatchLines(ctx context.Context, id uuid.UUID, cursor string, limit int) ([]BatchLine, string, error)
	// MarkBatchApproved records a draft batch as approved: the
	// overpayments its run found are established, its lines count as paid
	// for their periods and its deductions as recovered. It is refused when
	// a line or an overpayment was computed on what has since changed
	// (another batch approved for the same period, or the same overpayment
	// recovered): the period must be run again.
	MarkBatchApproved(ctx context.Context, id uuid.UUID) error
	// LastADAPeriod returns the latest period of an ADA run that is done,
	// or cancelled by staff, and false when there is none: a period whose
	// run failed or is still running (or was left running by a process
	// that stopped) does not count.
	LastADAPeriod(ctx context.Context) (Period, bool, error)
	// CancelRun abandons a run left running by a process that stopped (its
	// lease expired, or it holds none): the run becomes cancelled, with
	// the reason, its building batch is discarded, and the audit trail
	// records who did it and why. A run whose lease is still renewed is
	// alive, and is refused as a conflict naming its holder; so is a run
	// that is not running. Preparers and administrators may cancel.
	CancelRun(ctx context.Context, id uuid.UUID, by Actor, reason string) (Run, error)
}

// lineSpace is the namespace of the line ids.
var lineSpace = uuid.MustParse("b1f7c0de-3a52-4f0e-8d6b-6a0e9d4c2f17")

// LineIDLen is the length of a line id, the longest EndToEndId.
const LineIDLen = 35

// LineID returns the id of the line paying scheme to a beneficiary for a
// period in a run: the first 35 characters of a name-based UUID of them,
// letters, digits and hyphens, fit for an EndToEndId. ref names the grant
// or tranche of a grant line (a beneficiary may have several), and is
// empty for ADA.
func LineID(scheme Scheme, beneficiaryID string, p Period, run uuid.UUID, ref string) string {
	name := strings.Join([]string{string(scheme), beneficiaryID, p.String(), run.String(), ref}, "\x00")
	return uuid.NewSHA1(lineSpace, []byte(name)).String()[:LineIDLen]
}

// RetroPrefix starts the id of an overpayment found by a run.
const RetroPrefix = "RETRO-"

// RetroOverpaymentID returns the id of the overpayment a run finds
// for a beneficiary's period: RETRO-<beneficiary>-<period>, followed by -2,
// -3... when the period had overpayments before. taken reports the ids in
// use.
func RetroOverpaymentID(beneficiaryID string, p Period, taken func(string) bool) string {
	base := RetroPrefix + beneficiaryID + "-" + p.String()
	id := base
	for n := 2; taken(id); n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	return id
}

// EarlierPeriod is a period already paid whose ADA is computed again.
type EarlierPeriod struct {
	Period Period
	Days   []Day           // every day of the period, in order
	Paid   decimal.Decimal // paid for it, less the overpayments established for it
}

// ADACase is what an ADA run knows of one beneficiary.
type ADACase struct {
	BeneficiaryID string
	Period        Period
	Days          []Day           // every day of Period, in order
	Paid          decimal.Decimal // already paid for Period, less the overpayments established for it
	// RightsEnd is set when rights close within Period: its payment is the
	// last, from which every debt is recovered up to the whole amount.
	RightsEnd bool
	// Earlier are the periods already paid to compute again: those a fact
	// covering one of their days reached after they were last computed.
	Earlier []EarlierPeriod
	// Debts are every overpayment of the beneficiary, with what remains of
	// each once the approved deductions are taken off.
	Debts []Debt
	Payee Payee
}

// FoundOverpayment is an overpayment a run finds: a period paid more than
// it now comes to. It is established when the run's batch is approved.
type FoundOverpayment struct {
	ID            string          `json:"overpayment_id"`
	BeneficiaryID string          `json:"beneficiary_id"`
	Period        Period          `json:"period"`
	Amount        decimal.Decimal `json:"amount"`
	// Basis is what had been paid for the period when it was found.
	Basis decimal.Decimal `json:"basis"`
	Why   string          `json:"why"`
}

// ADAOutcome is what a run does for one beneficiary: the lines it pays and
// the overpayments it finds.
type ADAOutcome struct {
	Lines        []BatchLine
	Overpayments []FoundOverpayment
}

// ComputeADALines computes the lines of one beneficiary for an ADA run:
//
//   - each earlier period is computed again (ComputeADA) and compared with
//     what was paid for it (Reassess): more due is an adjustment line of
//     that period, less due an overpayment found;
//   - the run's period pays what is due less what was paid for it: the
//     whole amount as a monthly line when nothing was, the difference as an
//     adjustment line when more is due, an overpayment when less is;
//   - the line of the run's period withholds from its gross what Recover
//     decides against the debts, the overpayments just found included,
//     with the recovery cap of the schedule in force on the
//     period's last day (the whole line when rights close within it);
//   - a line of zero gross is left out.
//
// The overpayments found are established when the run's batch is approved;
// at stamps them as the debts the run's own line recovers. The lines carry
// no batch id.
func ComputeADALines(run uuid.UUID, at time.Time, c ADACase, sch Schedules) (ADAOutcome, error) {
	var out ADAOutcome
	debts := append([]Debt(nil), c.Debts...)
	taken := map[string]bool{}
	for _, d := range debts {
		taken[d.OverpaymentID] = true
	}
	establish := func(p Period, amount, basis decimal.Decimal, why string) {
		id := RetroOverpaymentID(c.BeneficiaryID, p, func(s string) bool { return taken[s] })
		taken[id] = true
		out.Overpayments = append(out.Overpayments, FoundOverpayment{ID: id, BeneficiaryID: c.BeneficiaryID, Period: p, Amount: amount,
			Basis: basis, Why: why})
		debts = append(debts, Debt{OverpaymentID: id, EstablishedAt: at, Remaining: amount})
	}
	line := func(p Period, kind LineKind, gross decimal.Decimal, res ADAResult, paid decimal.Decimal) BatchLine {
		due := res.Gross
		return BatchLine{
			ID: LineID(SchemeADA, c.BeneficiaryID, p, run, ""), Scheme: SchemeADA, Kind: kind, BeneficiaryID: c.BeneficiaryID,
			Period: p, Gross: gross, Deduction: decimal.Zero, Net: gross, Basis: paid, Deductions: []Deduction{}, Payee: c.Payee,
			Explanation: Explanation{Segments: res.Segments, Due: &due, Paid: &paid},
		}
	}

	if len(c.Earlier) > 0 {
		results := make(map[Period]ADAResult, len(c.Earlier))
		due := make(map[Period]decimal.Decimal, len(c.Earlier))
		history := make([]PeriodPayment, 0, len(c.Earlier))
		for _, e := range c.Earlier {
			if !e.Period.Before(c.Period) {
				return out, fmt.Errorf("ADA of %s: earlier period %s is not before %s", c.BeneficiaryID, e.Period, c.Period)
			}
			res, err := ComputeADA(c.BeneficiaryID, e.Period, e.Days, sch)
			if err != nil {
				return out, err
			}
			results[e.Period], due[e.Period] = res, res.Gross
			history = append(history, PeriodPayment{Period: e.Period, Paid: e.Paid})
		}
		for _, r := range Reassess(history, due) {
			if r.Overpayment.IsPositive() {
				establish(r.Period, r.Overpayment, r.Paid, r.Why)
				continue
			}
			l := line(r.Period, LineAdjustment, r.Adjustment, results[r.Period], r.Paid)
			l.Explanation.Text = "ADA " + r.Why + ". " + segmentsText(l.Explanation.Segments)
			out.Lines = append(out.Lines, l)
		}
	}

	res, err := ComputeADA(c.BeneficiaryID, c.Period, c.Days, sch)
	if err != nil {
		return out, err
	}
	adjustment, overpayment := Difference(c.Paid, res.Gross)
	if overpayment.IsPositive() {
		establish(c.Period, overpayment, c.Paid, fmt.Sprintf("%s now due %s, paid %s: %s overpaid", c.Period, res.Gross.StringFixed(2),
			c.Paid.StringFixed(2), overpayment.StringFixed(2)))
	}
	if adjustment.IsPositive() {
		s, err := sch.On(c.Period.Last())
		if err != nil {
			return out, fmt.Errorf("ADA of %s for %s: recovery cap: %w", c.BeneficiaryID, c.Period, err)
		}
		kind := LineMonthly
		text := "ADA " + c.Period.String() + ": " + segmentsText(res.Segments)
		if !c.Paid.IsZero() {
			kind = LineAdjustment
			text = fmt.Sprintf("ADA %s now due %s, paid %s: %s to pay. %s", c.Period, res.Gross.StringFixed(2),
				c.Paid.StringFixed(2), adjustment.StringFixed(2), segmentsText(res.Segments))
		}
		l := line(c.Period, kind, adjustment, res, c.Paid)
		// With no debt, Recover deducts nothing: its explanation is not used.
		rec := Recovery{Gross: adjustment, Deduction: decimal.Zero, Deductions: []Deduction{}, Net: adjustment.Sub(decimal.Zero)}
		if len(debts) > 0 {
			rec = Recover(adjustment, debts, s.ADA.RecoveryCap, c.RightsEnd)
		}
		l.Deduction, l.Net, l.Deductions = rec.Deduction, rec.Net, rec.Deductions
		if len(rec.Deductions) > 0 {
			l.Explanation.Recovery = rec.Why
			text += fmt.Sprintf(" Deduction %s against overpayments (%s): net %s.", rec.Deduction.StringFixed(2), rec.Why, rec.Net.StringFixed(2))
		}
		l.Explanation.Text = text
		out.Lines = append(out.Lines, l)
	}
	return out, nil
}

// segmentsText writes the covered days of a period and their amounts:
// "2026-10-03 to 2026-10-31: 29 × 14.20 (1 adult, not accommodated: 6.80 +
// 7.40) = 411.80".
func segmentsText(segs []ADASegment) string {
	if len(segs) == 0 {
		return "no day covered."
	}
	parts := make([]string, len(segs))
	total := decimal.Zero
	for i, s := range segs {
		days := s.From.String()
		if s.To.After(s.From) {
			days += " to " + s.To.String()
		}
		parts[i] = days + ": " + strconv.Itoa(s.Days) + " × " + s.Daily.StringFixed(2) + " (" + s.Why + ") = " + s.Amount.StringFixed(2)
		total = total.Add(s.Amount)
	}
	text := strings.Join(parts, "; ")
	if len(segs) > 1 {
		text += "; in all " + total.StringFixed(2)
	}
	return text + "."
}

// RightsEndIn reports whether rights close within a period: they are open
// on one of its days and not on the day after it.
func RightsEndIn(days []Day, after Day) bool {
	if after.RightsOpen {
		return false
	}
	for _, d := range days {
		if d.RightsOpen {
			return true
		}
	}
	return false
}

// ReturnLine computes the lump-sum line of a return grant in a grants run
// for period p (ComputeReturn).
func ReturnLine(run uuid.UUID, p Period, beneficiaryID string, g ReturnGrant, sch Schedules) (BatchLine, error) {
	res, err := ComputeReturn(g, sch)
	if err != nil {
		return BatchLine{}, fmt.Errorf("return grant %s of %s: %w", g.GrantID, beneficiaryID, err)
	}
	return BatchLine{
		ID: LineID(SchemeReturn, beneficiaryID, p, run, g.GrantID), Scheme: SchemeReturn, Kind: LineLumpSum,
		BeneficiaryID: beneficiaryID, Period: p, Ref: g.GrantID, Gross: res.Total, Deduction: decimal.Zero, Net: res.Total,
		Basis: decimal.Zero, Deductions: []Deduction{}, Payee: g.Payee,
		Explanation: Explanation{Text: fmt.Sprintf("Return aid %s, departure %s: %s.", g.GrantID, g.DepartureDate, res.Why), Return: &res},
	}, nil
}

// TrancheLine computes the line of a released tranche of a reinsertion
// grant decided on decided, in a grants run for period p: the grant is
// checked against the schedule in force then (CheckReinsertion), and the
// line pays the tranche, under scheme business_creation for that level and
// reinsertion for the others.
func TrancheLine(run uuid.UUID, p Period, beneficiaryID string, g ReinsertionGrant, decided ledger.Date, t TrancheState, sch Schedules) (BatchLine, error) {
	if err := CheckReinsertion(g, sch, decided); err != nil {
		return BatchLine{}, fmt.Errorf("reinsertion grant %s of %s: %w", g.GrantID, beneficiaryID, err)
	}
	if !t.Amount.IsPositive() {
		return BatchLine{}, fmt.Errorf("reinsertion grant %s of %s: tranche %s has no amount", g.GrantID, beneficiaryID, t.TrancheID)
	}
	scheme := SchemeReinsertion
	if g.Level == LevelBusinessCreation {
		scheme = SchemeBusinessCreation
	}
	ref := g.GrantID + "/" + t.TrancheID
	return BatchLine{
		ID: LineID(scheme, beneficiaryID, p, run, ref), Scheme: scheme, Kind: LineTranche, BeneficiaryID: beneficiaryID,
		Period: p, Ref: ref, Gross: t.Amount, Deduction: decimal.Zero, Net: t.Amount, Basis: decimal.Zero,
		Deductions: []Deduction{}, Payee: g.Payee,
		Explanation: Explanation{Text: fmt.Sprintf("Reinsertion aid %s (%s, %s decided), tranche %s released on %s: %s.",
			g.GrantID, g.Level, g.Amount.StringFixed(2), t.TrancheID, t.ReleasedOn, t.Amount.StringFixed(2))},
	}, nil
}

// DefaultRunDay is the day of the month from which the scheduler runs the
// ADA of the month before.
const DefaultRunDay = 5

// legalTime is French legal time, in which the days of the service are
// counted; UTC when the system has no time zone database.
var legalTime = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Paris"); err == nil {
		return l
	}
	return time.UTC
}()

// LegalDay returns the day t falls on in French legal time.
func LegalDay(t time.Time) ledger.Date { return ledger.DateOf(t.In(legalTime)) }

// Scheduler decides when the monthly ADA run is due: on or after Day of
// each month (DefaultRunDay when 0), for the month before, once.
type Scheduler struct {
	Day int // 1 to 28 (a later day counts as 28); 0 means DefaultRunDay
}

// Due returns the period to run at now, given the last period run (zero
// when none), and false when none is due: before the run day, or when the
// previous month, or a later one, was run already. It never offers the same
// period twice, and it never reaches back further than the previous month:
// months missed are run by staff.
func (s Scheduler) Due(now time.Time, last Period) (Period, bool) {
	day := s.Day
	switch {
	case day < 1:
		day = DefaultRunDay
	case day > 28:
		day = 28
	}
	today := LegalDay(now)
	if _, _, d := today.Time().Date(); d < day {
		return Period{}, false
	}
	p := PeriodOf(today).Prev()
	if !last.IsZero() && !last.Before(p) {
		return Period{}, false
	}
	return p, true
}

// lineAmount is an amount of a batch, written as a JSON string with two
// decimals ("204.00"), as the ledger writes its amounts.
type lineAmount decimal.Decimal

// MarshalJSON writes "204.00".
func (a lineAmount) MarshalJSON() ([]byte, error) {
	return json.Marshal(decimal.Decimal(a).StringFixed(2))
}
