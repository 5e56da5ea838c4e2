package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	ledgersql "github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// TestBudgetAmendmentsOfAYear lists the amendments of one year only, the
// latest recorded first, each with who recorded and who confirmed it.
func TestBudgetAmendmentsOfAYear(t *testing.T) {
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	at := time.Date(2027, 1, 10, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { at = at.Add(time.Minute); return at }
	l := ledgersql.New(pool, ledgersql.WithClock(now))
	if err := ledger.SetUpChart(ctx, l); err != nil {
		t.Fatal(err)
	}
	s := sqlstore.NewBudgetStore(pool, l, now)
	claire := payments.Actor{Name: "claire", Roles: []string{payments.RoleBudget}}
	marc := payments.Actor{Name: "marc", Roles: []string{payments.RoleBudget}}
	var ids []string
	for _, c := range []struct {
		year int
		amt  string
	}{{2027, "1000.00"}, {2028, "5.00"}, {2027, "250.50"}} {
		a, err := s.Record(ctx, payments.Amendment{Scheme: payments.SchemeADA, Year: c.year, Kind: payments.AmendmentInitial,
			Amount: decimal.RequireFromString(c.amt), Reference: "LFI", Reason: "programme 303"}, claire)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID.String())
	}
	first, err := s.Amendments(ctx, 2027)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].ID.String() != ids[2] || first[1].ID.String() != ids[0] {
		t.Fatalf("amendments of 2027: %+v", first)
	}
	if _, err := s.Confirm(ctx, first[1].ID, marc); err != nil {
		t.Fatal(err)
	}
	list, err := s.Amendments(ctx, 2027)
	if err != nil {
		t.Fatal(err)
	}
	got := list[1]
	if got.Status != payments.AmendmentConfirmed || got.RecordedBy != "claire" || got.ConfirmedBy != "marc" || got.ConfirmedAt == nil ||
		!got.Amount.Equal(decimal.RequireFromString("1000")) || list[0].Status != payments.AmendmentRecorded || list[0].ConfirmedBy != "" {
		t.Errorf("after the confirmation: %+v", list)
	}
	if none, err := s.Amendments(ctx, 2030); err != nil || len(none) != 0 {
		t.Errorf("amendments of 2030: %v %v", none, err)
	}
}
