package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// TestPeriodicSeal: what is posted is not sealed by the posting, and the
// periodic seal takes it at its next tick, and verify proves the seal.
func TestPeriodicSeal(t *testing.T) {
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	s := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, s); err != nil {
		t.Fatal(err)
	}
	e, err := s.Post(ctx, ledger.NewEntry{IdempotencyKey: "fund", EffectiveDate: ledger.DateOf(time.Now()), Description: "funding",
		Lines: []ledger.Line{{Account: ledger.BankMain, Amount: decimal.RequireFromString("120.50")},
			{Account: ledger.StateFunding, Amount: decimal.RequireFromString("-120.50")}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Verify(ctx); err != nil || rep.Seals != 0 || !rep.OK {
		t.Fatalf("before the seal: %+v, %v", rep, err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runSeal(sctx, s, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var seq *int64
		if err := pool.QueryRow(ctx, `SELECT seal_seq FROM entries WHERE id = $1`, e.ID).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if seq != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry was not sealed within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sealer did not stop with its context")
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK || rep.Seals < 1 {
		t.Fatalf("after the seal: %+v, %v", rep, err)
	}
}
