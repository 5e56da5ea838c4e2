package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/ofii/allowances/payments"
)

// docs/rules.md §1: a rights_opened after a rights_closed starts a new
// period of rights, also on the day after last_day, and a new period of
// rights ends a suspension; whichever order the events arrive in.
func TestReopeningAfterAClosure(t *testing.T) {
	open := event(eid("ro-open"), payments.RightsOpened, "RO", ts("2026-09-25T09:00:00Z"), opened("2026-10-01", 1, 0, false))
	susp := event(eid("ro-susp"), payments.Suspended, "RO", ts("2026-10-10T09:00:00Z"), map[string]any{"from": "2026-10-10", "reason": "absent"})
	closed := event(eid("ro-closed"), payments.RightsClosed, "RO", ts("2026-10-25T09:00:00Z"), map[string]any{"last_day": "2026-10-31"})
	reopen := event(eid("ro-reopen"), payments.RightsOpened, "RO", ts("2026-10-30T09:00:00Z"), opened("2026-11-01", 1, 1, false))
	want := []payments.Day{
		day("2026-10-09", true, false, 1, 0, false, "metropole"),
		day("2026-10-10", true, true, 1, 0, false, "metropole"),
		day("2026-10-31", true, true, 1, 0, false, "metropole"),
		// The day after last_day: open again, no longer suspended.
		day("2026-11-01", true, false, 1, 1, false, "metropole"),
		day("2026-11-30", true, false, 1, 1, false, "metropole"),
	}
	wantRights := []payments.RightsPeriod{{From: date("2026-10-01"), LastDay: date("2026-10-31")}, {From: date("2026-11-01")}}
	wantSusp := []payments.SuspensionSpan{{From: date("2026-10-10"), Until: date("2026-11-01"), Reason: "absent"}}
	for _, order := range [][][]byte{{open, susp, closed, reopen}, {reopen, closed, open, susp}} {
		s, _ := mustOpen(t)
		for i, v := range order {
			mustApply(t, s, records(int64(i), v))
		}
		checkDays(t, s, "RO", want...)
		b, err := s.Beneficiary(context.Background(), "RO")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b.Rights, wantRights) || !reflect.DeepEqual(b.Suspensions, wantSusp) {
			t.Errorf("rights %+v, suspensions %+v; want %+v, %+v", b.Rights, b.Suspensions, wantRights, wantSusp)
		}
	}
}

// A reopening on the day after last_day is paid from that day: November
// comes to 30 × 17.60 (one adult and one child, not accommodated), with no
// day lost between the two periods of rights; October's suspended days are
// not paid.
func TestReopeningIsPaidFromTheDayAfterLastDay(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-10-30T09:00:00Z")
	e.apply(
		event(eid("rp-open"), payments.RightsOpened, "RP", ts("2026-09-25T09:00:00Z"), opened("2026-10-01", 1, 0, false)),
		event(eid("rp-susp"), payments.Suspended, "RP", ts("2026-10-10T09:00:00Z"), map[string]any{"from": "2026-10-21"}),
		event(eid("rp-closed"), payments.RightsClosed, "RP", ts("2026-10-25T09:00:00Z"), map[string]any{"last_day": "2026-10-31"}),
		event(eid("rp-reopen"), payments.RightsOpened, "RP", ts("2026-10-30T09:00:00Z"), opened("2026-11-01", 1, 1, false)),
	)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	amounts(t, e.line(e.lines(oct.BatchID), "RP", "2026-10"), "284.00", "0", "284.00") // 20 × 14.20
	e.approve(oct.BatchID)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	l := e.line(e.lines(nov.BatchID), "RP", "2026-11")
	amounts(t, l, "528.00", "0", "528.00")
	segments(t, l, seg{"2026-11-01", "2026-11-30", 30, "17.60"})
}
