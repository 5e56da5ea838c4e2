package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// guarded is a transfer out of from that may not take its balance below
// min.
func guarded(key, from, to, amount, min string) ledger.NewEntry {
	e := transfer(key, from, to, amount)
	e.Floors = []ledger.Floor{{Account: from, Min: d(min)}}
	return e
}

// A guarded entry that would take a balance below its floor is refused
// with the figures, and nothing of it is written; its replay is not
// checked again.
func TestPostFloorRefusesWithTheFigures(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	if _, err := s.Post(ctx, transfer("fund", ledger.StateFunding, ledger.BankMain, "1000.00")); err != nil {
		t.Fatal(err)
	}
	first, err := s.Post(ctx, guarded("out-1", ledger.BankMain, ledger.ExpenseADA, "600.00", "0"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Post(ctx, guarded("out-2", ledger.BankMain, ledger.ExpenseADA, "600.00", "0"))
	var fe *ledger.FloorError
	if !errors.As(err, &fe) || errs.CodeOf(err) != errs.Conflict || len(fe.Shortfalls) != 1 {
		t.Fatalf("beyond the floor: %v", err)
	}
	if sf := fe.Shortfalls[0]; sf.Account != ledger.BankMain || !sf.Balance.Equal(d("-200")) || !sf.Min.IsZero() {
		t.Errorf("shortfall %+v", sf)
	}
	if want := "bank:main would be -200.00, below its floor of 0.00"; errs.MessageOf(err) != "the entry is refused: "+want {
		t.Errorf("message %q", errs.MessageOf(err))
	}
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{}); got != "400.00" {
		t.Errorf("bank after the refusal: %s", got)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries WHERE idempotency_key = 'out-2') +
		(SELECT count(*) FROM postings WHERE memo = 'out-2')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused entry was written: %d rows, %v", n, err)
	}
	// A floor below which the balance already is: the replay of the
	// first entry is not checked again.
	again := guarded("out-1", ledger.BankMain, ledger.ExpenseADA, "600.00", "100000")
	e, err := s.Post(ctx, again)
	if err != nil || !e.Replayed || e.ID != first.ID {
		t.Fatalf("replay: %v %+v", err, e)
	}
	// A floor on an account the entry does not post to, or of more than
	// two decimals, is invalid.
	bad := transfer("bad", ledger.BankMain, ledger.ExpenseADA, "1.00")
	bad.Floors = []ledger.Floor{{Account: ledger.StateFunding, Min: decimal.Zero}}
	if _, err := s.Post(ctx, bad); !errs.Is(err, errs.Invalid) || !errors.As(err, new(*errs.Error)) {
		t.Errorf("floor on another account: %v", err)
	}
	bad.Floors = []ledger.Floor{{Account: ledger.BankMain, Min: d("0.001")}}
	if _, err := s.Post(ctx, bad); !errs.Is(err, errs.Invalid) {
		t.Errorf("floor of three decimals: %v", err)
	}
	mustVerify(t, s)
}

// Guarded entries posted at the same moment cannot together go below the
// floor: of ten transfers of 150.00 out of 400.00, exactly two pass.
func TestPostFloorHoldsUnderConcurrency(t *testing.T) {
	s, _ := mustOpen(t)
	ctx := context.Background()
	if _, err := s.Post(ctx, transfer("fund", ledger.StateFunding, ledger.BankMain, "400.00")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, 10)
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, results[i] = s.Post(ctx, guarded(fmt.Sprintf("out-%d", i), ledger.BankMain, ledger.ExpenseADA, "150.00", "0"))
		}()
	}
	close(start)
	wg.Wait()
	passed := 0
	for _, err := range results {
		switch {
		case err == nil:
			passed++
		case !errors.As(err, new(*ledger.FloorError)):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if passed != 2 {
		t.Errorf("%d transfers passed, want 2", passed)
	}
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{}); got != "100.00" {
		t.Errorf("bank: %s", got)
	}
	mustVerify(t, s)
}
