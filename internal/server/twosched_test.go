package server_test

import (
	"testing"
	"time"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/payments"
)

// TestTwoSchedulersRunAMonthOnce: two ledgerd on one database, each with
// its monthly scheduler due: the month is run once (one run, done, one
// batch), whichever takes the run's lease; the other finds it running, then
// done.
func TestTwoSchedulersRunAMonthOnce(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	now := schedClock()
	loadHouseholds(t, pool, now)
	a := start(t, schedConfig(t, url), server.WithClock(now))
	b := start(t, schedConfig(t, url), server.WithClock(now))
	apiA := client{t: t, base: "http://" + a.HTTP}
	checkOctoberPaidOnce(t, apiA)
	// Both schedulers have checked again by now (every LEASE_TTL, 1s).
	time.Sleep(2500 * time.Millisecond)
	for _, api := range []client{apiA, {t: t, base: "http://" + b.HTTP}} {
		runs := octoberRuns(api)
		if len(runs) != 1 || runs[0].Status != payments.RunDone {
			t.Errorf("October's runs seen from %s: %+v, want one, done", api.base, runs)
		}
	}
	checkOctoberPaidOnce(t, apiA)
}
