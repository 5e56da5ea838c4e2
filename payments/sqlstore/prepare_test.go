package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ofii/allowances/payments"
)

// Prepared records apply as unprepared ones do: the same outcomes, a
// redelivered prepared batch is all duplicates, and a record whose value
// changed after it was prepared is read again.
func TestApplyPrepared(t *testing.T) {
	s, _ := mustOpen(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	recs := records(0,
		event(eid("p/o"), payments.RightsOpened, "PREP-1", at, opened("2026-10-01", 1, 2, false)),
		[]byte(`{"event_id": "not a uuid"}`),
		event(eid("p/h"), payments.HouseholdChanged, "PREP-1", at.Add(time.Hour), map[string]any{"from": "2026-10-15", "adults": 2, "children": 2}),
		event(eid("p/o"), payments.RightsOpened, "PREP-1", at, opened("2026-10-01", 1, 2, false)),
		event(eid("p/x"), payments.HouseholdChanged, "PREP-1", at.Add(2*time.Hour), map[string]any{"from": "2026-10-20", "adults": 2, "children": 3}),
	)
	s.Prepare(recs)
	for i, r := range recs {
		if r.Prepared == nil {
			t.Fatalf("record %d not prepared", i)
		}
	}
	// The last record's value is replaced after it was prepared: it must be
	// read again, and its new value is invalid.
	recs[4].Value = []byte(`{}`)
	res := mustApply(t, s, recs)
	want := []payments.Outcome{payments.OutcomeApplied, payments.OutcomeDeadLetter, payments.OutcomeApplied, payments.OutcomeDuplicate,
		payments.OutcomeDeadLetter}
	for i, w := range want {
		if res[i].Outcome != w {
			t.Errorf("record %d: %s, want %s (%+v)", i, res[i].Outcome, w, res[i])
		}
	}
	again := mustApply(t, s, recs)
	for i, r := range again {
		if i != 1 && i != 4 && r.Outcome != payments.OutcomeDuplicate {
			t.Errorf("record %d applied again: %s", i, r.Outcome)
		}
	}
	ben, err := s.Beneficiary(ctx, "PREP-1")
	if err != nil {
		t.Fatal(err)
	}
	if ben.Events != 2 {
		t.Errorf("beneficiary has %d events, want 2", ben.Events)
	}
}
