package sqlstore_test

import (
	"encoding/json"
	"testing"

	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// An ADA run writes the same lines with COPY (the default) and with
// multi-row INSERTs (WithRunBulkInsert, for a role that may not COPY): a
// varied population (territories, households, accommodation, suspension,
// a household change, rights opened in the month, a period reassessed with
// an overpayment found and recovered), in chunks of 2, each beneficiary's
// line identical to the cent and word for word but for the run's ids.
func TestADARunCopyAndInsertWriteTheSameLines(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2))
	workedExamples(e)
	households(e, 9)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	e.approve(oct.BatchID)
	workedExamplesNovember(e)
	e.apply(event(eid("h1-acc"), payments.AccommodationChanged, "H1", ts("2026-11-20T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "accommodated": true}))

	e.at("2026-12-05T07:00:00Z")
	byCopy := e.runADA("2026-11")
	copied := e.lines(byCopy.BatchID) // the next run replaces the draft
	insert := sqlstore.NewRunStore(e.pool, sqlstore.WithRunClock(e.clock), sqlstore.WithChunkSize(2), sqlstore.WithRunBulkInsert(true))
	e.at("2026-12-05T07:01:00Z")
	byInsert, err := insert.StartADARun(e.ctx, mustPeriod(t, "2026-11"), payments.TriggerStaff, "marie.curie")
	if err != nil || byInsert.Status != payments.RunDone {
		t.Fatalf("run with INSERTs: %+v, %v", byInsert, err)
	}
	inserted := e.lines(byInsert.BatchID)
	if len(copied) < 15 || len(copied) != len(inserted) || byCopy.Lines != byInsert.Lines {
		t.Fatalf("%d lines by COPY, %d by INSERT", len(copied), len(inserted))
	}
	key := func(l payments.BatchLine) string { return l.BeneficiaryID + "/" + l.Period.String() }
	want := map[string]string{}
	deducted := false
	for _, l := range copied {
		l.ID, l.BatchID = "", [16]byte{}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		want[key(l)] = string(b)
		deducted = deducted || l.Deduction.IsPositive()
	}
	if !deducted {
		t.Fatal("no line recovers an overpayment: the population is not varied enough")
	}
	for _, l := range inserted {
		l.ID, l.BatchID = "", [16]byte{}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if want[key(l)] != string(b) {
			t.Errorf("line %s\nby INSERT %s\nby COPY   %s", key(l), b, want[key(l)])
		}
	}
}
