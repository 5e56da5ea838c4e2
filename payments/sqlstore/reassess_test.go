package sqlstore_test

import (
	"testing"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// lateCorrections pays September and October to three households of one
// adult opened on 2026-09-01, then applies on 2026-11-10 two events that
// reach back into October: X accommodated from 2026-10-15 (October comes
// to 14 × 14.20 + 17 × 6.80 = 314.40 instead of 440.20: 125.80 overpaid),
// Y with a child from 2026-10-10 (9 × 6.80 + 22 × 10.20 = 285.60 instead
// of 210.80: 74.80 to pay). On 2026-11-25 a third one reaches back into
// September: Z with a child from 2026-09-21 (34.00 more for September,
// 31 × 3.40 = 105.40 more for October).
func lateCorrections(e *runEnv) {
	e.t.Helper()
	e.at("2026-08-20T08:00:00Z")
	e.apply(
		event(eid("lc-x"), payments.RightsOpened, "X", ts("2026-08-20T08:00:00Z"), opened("2026-09-01", 1, 0, false)),
		event(eid("lc-y"), payments.RightsOpened, "Y", ts("2026-08-20T08:00:00Z"), opened("2026-09-01", 1, 0, true)),
		event(eid("lc-z"), payments.RightsOpened, "Z", ts("2026-08-20T08:00:00Z"), opened("2026-09-01", 1, 0, true)),
	)
	e.at("2026-10-05T07:00:00Z")
	sep := e.runADA("2026-09")
	lines := e.lines(sep.BatchID)
	amounts(e.t, e.line(lines, "X", "2026-09"), "426.00", "0", "426.00")
	amounts(e.t, e.line(lines, "Y", "2026-09"), "204.00", "0", "204.00")
	e.approve(sep.BatchID)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	lines = e.lines(oct.BatchID)
	amounts(e.t, e.line(lines, "X", "2026-10"), "440.20", "0", "440.20")
	amounts(e.t, e.line(lines, "Y", "2026-10"), "210.80", "0", "210.80")
	amounts(e.t, e.line(lines, "Z", "2026-10"), "210.80", "0", "210.80")
	e.approve(oct.BatchID)

	e.at("2026-11-10T09:00:00Z")
	e.apply(
		event(eid("lc-x-acc"), payments.AccommodationChanged, "X", ts("2026-11-10T09:00:00Z"),
			map[string]any{"from": "2026-10-15", "accommodated": true}),
		event(eid("lc-y-child"), payments.HouseholdChanged, "Y", ts("2026-11-10T09:00:00Z"),
			map[string]any{"from": "2026-10-10", "adults": 1, "children": 1}),
	)
	e.at("2026-11-25T09:00:00Z")
	e.apply(event(eid("lc-z-child"), payments.HouseholdChanged, "Z", ts("2026-11-25T09:00:00Z"),
		map[string]any{"from": "2026-09-21", "adults": 1, "children": 1}))
}

// checkNovember checks the November run that follows lateCorrections: the
// October adjustments of X, Y and Z, X's overpayment recovered by a
// deduction from its November line. It returns the November lines.
func checkNovember(e *runEnv, nov payments.Run) []payments.BatchLine {
	t := e.t
	t.Helper()
	lines := e.lines(nov.BatchID)
	x := e.line(lines, "X", "2026-11")
	amounts(t, x, "204.00", "61.20", "142.80")
	if len(x.Deductions) != 1 || x.Deductions[0].OverpaymentID != "RETRO-X-2026-10" || !x.Deductions[0].Amount.Equal(eur("61.20")) {
		t.Errorf("X's deductions: %+v", x.Deductions)
	}
	for _, l := range lines {
		if l.BeneficiaryID == "X" && l.Period.String() == "2026-10" {
			t.Errorf("X has an October line although it was overpaid: %+v", l)
		}
	}
	y := e.line(lines, "Y", "2026-10")
	amounts(t, y, "74.80", "0", "74.80")
	if y.Kind != payments.LineAdjustment || !y.Basis.Equal(eur("210.80")) {
		t.Errorf("Y's October adjustment: %+v", y)
	}
	amounts(t, e.line(lines, "Y", "2026-11"), "306.00", "0", "306.00")
	z := e.line(lines, "Z", "2026-10")
	amounts(t, z, "105.40", "0", "105.40")
	if z.Kind != payments.LineAdjustment || !z.Basis.Equal(eur("210.80")) {
		t.Errorf("Z's October adjustment: %+v", z)
	}
	amounts(t, e.line(lines, "Z", "2026-11"), "306.00", "0", "306.00")
	return lines
}

// A fact that reaches back into a period already paid is caught by the
// next run, whatever was run and approved in between: here September is
// run again and approved (Z's correction) more than a day after the
// events that change X's and Y's October, and the November run still pays
// Y's October and recovers X's.
func TestLateCorrectionAfterAnEarlierPeriodIsRunAgain(t *testing.T) {
	for _, rerun := range []bool{true, false} {
		name := "without a September re-run"
		if rerun {
			name = "after a September re-run"
		}
		t.Run(name, func(t *testing.T) {
			e := newRunEnv(t)
			lateCorrections(e)
			if rerun {
				e.at("2026-11-27T07:00:00Z")
				sep := e.runADA("2026-09")
				lines := e.lines(sep.BatchID)
				if len(lines) != 1 {
					t.Fatalf("September again: %d lines %+v, want Z's adjustment alone", len(lines), lines)
				}
				amounts(t, e.line(lines, "Z", "2026-09"), "34.00", "0", "34.00")
				e.approve(sep.BatchID)
			}

			e.at("2026-12-05T07:00:00Z")
			nov := e.runADA("2026-11")
			lines := checkNovember(e, nov)
			want := 5 // X's, Y's and Z's November, Y's and Z's October
			if !rerun {
				want++ // and Z's September, which the re-run did not pay
				amounts(t, e.line(lines, "Z", "2026-09"), "34.00", "0", "34.00")
			}
			if len(lines) != want {
				t.Errorf("November: %d lines %+v, want %d", len(lines), lines, want)
			}
			// The overpayment is found by the draft and established by
			// its approval, once.
			if n := e.count(`SELECT count(*) FROM overpayments`); n != 0 {
				t.Errorf("%d overpayments established by a draft", n)
			}
			e.approve(nov.BatchID)
			if n := e.count(`SELECT count(*) FROM overpayments WHERE overpayment_id = 'RETRO-X-2026-10' AND beneficiary_id = 'X'
				AND amount = 125.80 AND NOT fraud`); n != 1 {
				t.Errorf("X's overpayment established %d times, want once", n)
			}
			if n := e.count(`SELECT count(*) FROM overpayments`); n != 1 {
				t.Errorf("%d overpayments, want X's alone", n)
			}
			var oct string
			if err := e.pool.QueryRow(e.ctx, `SELECT sum(gross)::TEXT FROM period_payments WHERE beneficiary_id = 'X' AND period = '2026-10'`).
				Scan(&oct); err != nil || oct != "314.40" {
				t.Errorf("X's October is taken as paid %s, want 314.40 (%v)", oct, err)
			}

			// December recovers the rest of X's overpayment (64.60, within
			// the cap of 30 % of 210.80) and reassesses October no more.
			e.at("2027-01-05T07:00:00Z")
			dec := e.runADA("2026-12")
			lines = e.lines(dec.BatchID)
			if len(lines) != 3 {
				t.Errorf("December: %d lines %+v, want the three December lines", len(lines), lines)
			}
			amounts(t, e.line(lines, "X", "2026-12"), "210.80", "63.24", "147.56")
			amounts(t, e.line(lines, "Y", "2026-12"), "316.20", "0", "316.20")
			amounts(t, e.line(lines, "Z", "2026-12"), "316.20", "0", "316.20")
			if n := e.count(`SELECT count(*) FROM overpayments`); n != 1 {
				t.Errorf("December established %d overpayments more", n-1)
			}
		})
	}
}

// A period reassessed and found unchanged is not reassessed again until a
// new fact covers it; a new fact for it is caught even when it comes
// after the unchanged reassessment.
func TestUnchangedReassessmentIsRemembered(t *testing.T) {
	e := newRunEnv(t)
	lateCorrections(e)
	e.at("2026-12-05T07:00:00Z")
	e.approve(e.runADA("2026-11").BatchID)

	// A household change that changes nothing (Y already has one child
	// from 2026-10-10): October comes to what was paid.
	e.at("2026-12-10T09:00:00Z")
	e.apply(event(eid("lc-y-same"), payments.HouseholdChanged, "Y", ts("2026-12-10T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "adults": 1, "children": 1}))
	e.at("2027-01-05T07:00:00Z")
	dec := e.runADA("2026-12")
	if n := len(e.lines(dec.BatchID)); n != 3 {
		t.Errorf("December: %d lines, want the three December lines", n)
	}
	if n := e.count(`SELECT count(*) FROM period_checks WHERE beneficiary_id = 'Y' AND period = '2026-10' AND due = 285.60`); n != 1 {
		t.Errorf("%d records of Y's October reassessed unchanged, want 1", n)
	}
	e.approve(dec.BatchID)

	// Run again, December computes Y's October no more: its record is the
	// December run's.
	e.at("2027-01-06T07:00:00Z")
	if again := e.runADA("2026-12"); again.Lines != 0 {
		t.Errorf("December again: %d lines", again.Lines)
	}
	if n := e.count(`SELECT count(*) FROM period_checks WHERE beneficiary_id = 'Y' AND period = '2026-10'
		AND checked_at = '2027-01-05T07:00:00Z'`); n != 1 {
		t.Errorf("Y's October was computed again although no fact came since")
	}

	// Y's second child from 2026-10-25 comes later: October is reassessed
	// again, 7 × 3.40 more.
	e.at("2027-01-20T09:00:00Z")
	e.apply(event(eid("lc-y-second"), payments.HouseholdChanged, "Y", ts("2027-01-20T09:00:00Z"),
		map[string]any{"from": "2026-10-25", "adults": 1, "children": 2}))
	e.at("2027-02-05T07:00:00Z")
	jan := e.runADA("2027-01")
	lines := e.lines(jan.BatchID)
	amounts(t, e.line(lines, "Y", "2026-10"), "23.80", "0", "23.80")
	amounts(t, e.line(lines, "Y", "2026-11"), "102.00", "0", "102.00")
	amounts(t, e.line(lines, "Y", "2026-12"), "105.40", "0", "105.40")
	if len(lines) != 6 {
		t.Errorf("January: %d lines %+v, want Y's three adjustments and the three January lines", len(lines), lines)
	}
}

// An overpayment found by a draft is established by the approval of its
// batch: a draft replaced by a new run, or cancelled, leaves no
// overpayment and no receivable behind.
func TestOverpaymentFoundByADraftIsEstablishedOnApproval(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{})
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("od1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	// Accommodated from 2026-10-20: October comes to 323.00, 88.80 less.
	e.at("2026-11-20T09:00:00Z")
	e.apply(event(eid("od2"), payments.AccommodationChanged, "H1", ts("2026-11-20T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "accommodated": true}))

	rec := ledger.SubAccount(ledger.OverpaymentReceivable, "H1")
	none := func(when string) {
		t.Helper()
		if n := e.count(`SELECT count(*) FROM overpayments`); n != 0 {
			t.Errorf("%s: %d overpayments", when, n)
		}
		if n := e.count(`SELECT count(*) FROM overpayment_bookings`); n != 0 {
			t.Errorf("%s: %d overpayments booked", when, n)
		}
		if n := e.count(`SELECT count(*) FROM period_payments WHERE beneficiary_id = 'H1' AND period = '2026-10' AND gross < 0`); n != 0 {
			t.Errorf("%s: %d overpayments taken off October", when, n)
		}
		wantAmount(t, when+": receivable", e.balance(rec), "0")
	}
	e.at("2026-12-05T07:00:00Z")
	first := e.runADA("2026-11")
	amounts(t, e.line(e.lines(first.BatchID), "H1", "2026-11"), "204.00", "61.20", "142.80")
	none("a draft")
	e.at("2026-12-05T08:00:00Z")
	second := e.runADA("2026-11") // replaces the first
	amounts(t, e.line(e.lines(second.BatchID), "H1", "2026-11"), "204.00", "61.20", "142.80")
	none("a replaced draft")
	if _, err := e.ap.Submit(e.ctx, second.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Cancel(e.ctx, second.BatchID, paul, "to be checked"); err != nil {
		t.Fatal(err)
	}
	none("a cancelled batch")

	e.at("2026-12-06T07:00:00Z")
	third := e.runADA("2026-11")
	amounts(t, e.line(e.lines(third.BatchID), "H1", "2026-11"), "204.00", "61.20", "142.80")
	none("the next draft")
	if _, err := e.ap.Submit(e.ctx, third.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, third.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM overpayments WHERE overpayment_id = 'RETRO-H1-2026-10' AND amount = 88.80`); n != 1 {
		t.Errorf("%d overpayments RETRO-H1-2026-10 of 88.80 after approval, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM overpayments`); n != 1 {
		t.Errorf("%d overpayments after approval, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM overpayment_bookings WHERE overpayment_id = 'RETRO-H1-2026-10'`); n != 1 {
		t.Errorf("the overpayment booked %d times, want once", n)
	}
	// 88.80 established, 61.20 recovered by the November line.
	wantAmount(t, "receivable after approval", e.balance(rec), "27.60")

	// Run again, November finds nothing more to establish.
	e.at("2026-12-07T07:00:00Z")
	if again := e.runADA("2026-11"); again.Lines != 0 {
		t.Errorf("November again: %d lines", again.Lines)
	}
	if n := e.count(`SELECT count(*) FROM overpayments`); n != 1 {
		t.Errorf("%d overpayments after running November again, want 1", n)
	}
	e.verify()
}

// An approval refused part-way (a line computed on what has since been
// paid) takes back the overpayments it had established: none is left
// behind, and the next run finds it again, established once.
func TestRefusedApprovalTakesBackItsOverpayments(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-09-25T09:00:00Z")
	e.apply(
		event(eid("ra-1"), payments.RightsOpened, "H1", ts("2026-09-25T09:00:00Z"), opened("2026-10-01", 1, 0, false)),
		event(eid("ra-2"), payments.RightsOpened, "H2", ts("2026-09-25T09:00:00Z"), opened("2026-10-01", 1, 0, false)),
	)
	e.at("2026-11-05T07:00:00Z")
	e.approve(e.runADA("2026-10").BatchID)

	// H2 has a child from 2026-10-20 (12 × 3.40 more for October); October
	// is run again, and the draft waits.
	e.at("2026-11-10T09:00:00Z")
	e.apply(event(eid("ra-2-child"), payments.HouseholdChanged, "H2", ts("2026-11-10T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "adults": 1, "children": 1}))
	e.at("2026-11-12T07:00:00Z")
	octAgain := e.runADA("2026-10")
	amounts(t, e.line(e.lines(octAgain.BatchID), "H2", "2026-10"), "40.80", "0", "40.80")

	// H1 accommodated from 2026-10-20: October comes to 351.40, 88.80 less.
	e.at("2026-11-20T09:00:00Z")
	e.apply(event(eid("ra-1-acc"), payments.AccommodationChanged, "H1", ts("2026-11-20T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "accommodated": true}))
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	lines := e.lines(nov.BatchID)
	amounts(t, e.line(lines, "H1", "2026-11"), "204.00", "61.20", "142.80")
	amounts(t, e.line(lines, "H2", "2026-10"), "40.80", "0", "40.80")

	// October's draft is approved first: November's line for H2's October
	// is stale, and its approval is refused after establishing H1's
	// overpayment, which it takes back.
	e.approve(octAgain.BatchID)
	err := e.runs.MarkBatchApproved(e.ctx, nov.BatchID)
	wantCode(t, "approving November", err, errs.Conflict, "run the period again")
	if b, err := e.runs.Batch(e.ctx, nov.BatchID); err != nil || b.Status != payments.BatchDraft {
		t.Errorf("November after the refusal: %+v, %v", b, err)
	}
	if n := e.count(`SELECT count(*) FROM overpayments`); n != 0 {
		t.Errorf("the refused approval left %d overpayments", n)
	}
	if n := e.count(`SELECT count(*) FROM period_payments WHERE gross < 0`); n != 0 {
		t.Errorf("the refused approval left %d overpayments taken off what was paid", n)
	}
	if n := e.count(`SELECT count(*) FROM recoveries`); n != 0 {
		t.Errorf("the refused approval left %d recoveries", n)
	}

	e.at("2026-12-05T08:00:00Z")
	again := e.runADA("2026-11")
	lines = e.lines(again.BatchID)
	if len(lines) != 2 {
		t.Errorf("November again: %d lines %+v, want H1's and H2's November", len(lines), lines)
	}
	amounts(t, e.line(lines, "H1", "2026-11"), "204.00", "61.20", "142.80")
	amounts(t, e.line(lines, "H2", "2026-11"), "528.00", "0", "528.00")
	e.approve(again.BatchID)
	if n := e.count(`SELECT count(*) FROM overpayments WHERE overpayment_id = 'RETRO-H1-2026-10' AND amount = 88.80`); n != 1 {
		t.Errorf("H1's overpayment established %d times, want once", n)
	}
	if n := e.count(`SELECT count(*) FROM recoveries WHERE overpayment_id = 'RETRO-H1-2026-10' AND amount = 61.20`); n != 1 {
		t.Errorf("%d recoveries of 61.20", n)
	}
}

// Where no record of a computation holds (payments recorded before the
// records were kept, or a beneficiary a paid period paid nothing), a fact
// applied after the period's last approved run is caught all the same.
func TestLateFactWithoutARecord(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-10-03T09:00:00Z")
	e.apply(
		event(eid("nr-1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)),
		event(eid("nr-2"), payments.RightsOpened, "H2", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)),
	)
	e.at("2026-11-05T07:00:00Z")
	e.approve(e.runADA("2026-10").BatchID)
	if _, err := e.pool.Exec(e.ctx, `UPDATE period_payments SET due = NULL, facts_seen = NULL`); err != nil {
		t.Fatal(err)
	}

	// H1 accommodated from 2026-10-20 (88.80 overpaid); H3's rights opened
	// backwards from 2026-10-22 (10 × 14.20 for October, which paid it
	// nothing).
	e.at("2026-11-20T09:00:00Z")
	e.apply(
		event(eid("nr-1-acc"), payments.AccommodationChanged, "H1", ts("2026-11-20T09:00:00Z"),
			map[string]any{"from": "2026-10-20", "accommodated": true}),
		event(eid("nr-3"), payments.RightsOpened, "H3", ts("2026-11-20T09:00:00Z"), opened("2026-10-22", 1, 0, false)),
	)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	lines := e.lines(nov.BatchID)
	amounts(t, e.line(lines, "H1", "2026-11"), "204.00", "61.20", "142.80")
	amounts(t, e.line(lines, "H2", "2026-11"), "426.00", "0", "426.00")
	amounts(t, e.line(lines, "H3", "2026-10"), "142.00", "0", "142.00")
	amounts(t, e.line(lines, "H3", "2026-11"), "426.00", "0", "426.00")
	if len(lines) != 4 {
		t.Errorf("November: %d lines %+v, want 4", len(lines), lines)
	}
}

// A fact the period's run did not read is caught by the next run even when
// it is stamped as applied well before that run started (its transaction
// committed late): what a line was computed from is counted, not dated.
func TestFactCommittedAfterTheRunReadItsBeneficiary(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("cl-1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-11-05T07:00:00Z")
	e.approve(e.runADA("2026-10").BatchID)

	// Stamped on 2026-11-02, two days before the run, written after it.
	e.at("2026-11-02T09:00:00Z")
	e.apply(event(eid("cl-1-acc"), payments.AccommodationChanged, "H1", ts("2026-11-02T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "accommodated": true}))
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	l := e.line(e.lines(nov.BatchID), "H1", "2026-11")
	amounts(t, l, "204.00", "61.20", "142.80")
	if len(l.Deductions) != 1 || l.Deductions[0].OverpaymentID != "RETRO-H1-2026-10" {
		t.Errorf("deductions: %+v", l.Deductions)
	}
}
