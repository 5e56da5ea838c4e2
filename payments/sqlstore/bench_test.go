package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ofii/allowances/payments"
)

// BenchmarkApply applies batches of 1000 new events: 500 beneficiaries
// open rights and change household. It reports events per second, parsing
// included.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{250, 500, 1000, 2000} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) { benchmarkApply(b, batch) })
	}
}

func benchmarkApply(b *testing.B, batch int) {
	s, _ := mustOpen(b)
	at := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	make1 := func(n int) []payments.Record {
		values := make([][]byte, 0, batch)
		for j := range batch / 2 {
			ben := fmt.Sprintf("B-%d-%d", n, j)
			values = append(values,
				event(eid(ben+"/o"), payments.RightsOpened, ben, at, opened("2026-10-01", 1+j%3, j%4, j%2 == 0)),
				event(eid(ben+"/h"), payments.HouseholdChanged, ben, at.Add(time.Hour),
					map[string]any{"from": "2026-11-15", "adults": 2, "children": 1 + j%3}))
		}
		return records(int64(n*batch), values...)
	}
	// Warm up: the tables are not empty in production.
	for n := range 5 {
		mustApply(b, s, make1(-1-n))
	}
	batches := make([][]payments.Record, b.N)
	for n := range batches {
		batches[n] = make1(n)
	}
	b.ResetTimer()
	for n := range b.N {
		res := mustApply(b, s, batches[n])
		if res[batch-1].Outcome != payments.OutcomeApplied {
			b.Fatalf("not applied: %+v", res[batch-1])
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
