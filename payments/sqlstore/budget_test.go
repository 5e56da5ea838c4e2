package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	ledgersql "github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

func TestBudgetAmendmentsFourEyesAndVerify(t *testing.T) {
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	now := func() time.Time { return time.Date(2027, 1, 10, 9, 0, 0, 0, time.UTC) }
	l := ledgersql.New(pool, ledgersql.WithClock(now))
	if err := ledger.SetUpChart(ctx, l); err != nil {
		t.Fatal(err)
	}
	s := sqlstore.NewBudgetStore(pool, l, now)
	if err := s.SetUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUp(ctx); err != nil {
		t.Fatalf("set up again: %v", err)
	}
	claire := payments.Actor{Name: "claire", Roles: []string{"budget"}}
	marc := payments.Actor{Name: "marc", Roles: []string{"budget"}}
	prep := payments.Actor{Name: "paul", Roles: []string{"preparer"}}
	amend := func(kind payments.AmendmentKind, amt string) payments.Amendment {
		return payments.Amendment{Scheme: payments.SchemeADA, Year: 2027, Kind: kind, Amount: decimal.RequireFromString(amt),
			Reference: "LFI 2027", Reason: "programme 303"}
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM budget_amendments`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Hostile inputs: nothing recorded.
	for _, bad := range []struct {
		a     payments.Amendment
		field string
	}{
		{func() payments.Amendment { a := amend(payments.AmendmentInitial, "10.001"); return a }(), "amount"},
		{func() payments.Amendment { a := amend(payments.AmendmentInitial, "-1"); return a }(), "amount"},
		{func() payments.Amendment { a := amend(payments.AmendmentInitial, "1"); a.Year = 2026; return a }(), "year"},
		{func() payments.Amendment { a := amend("gift", "1"); return a }(), "kind"},
		{func() payments.Amendment {
			a := amend(payments.AmendmentInitial, "1")
			a.Scheme = "x'; DROP TABLE x"
			return a
		}(), "scheme"},
		{func() payments.Amendment { a := amend(payments.AmendmentInitial, "1"); a.Reference = ""; return a }(), "reference"},
		{amend(payments.AmendmentTransferOut, "0.01"), "amount"}, // nothing available yet
	} {
		_, err := s.Record(ctx, bad.a, claire)
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != bad.field {
			t.Fatalf("%+v: got %v, want invalid %s", bad.a, err, bad.field)
		}
	}
	if _, err := s.Record(ctx, amend(payments.AmendmentInitial, "100"), prep); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a preparer recorded an amendment: %v", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d amendments recorded from bad input", n)
	}

	a, err := s.Record(ctx, amend(payments.AmendmentInitial, "1200000.00"), claire)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, a.ID, claire); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("the recorder confirmed: %v", err)
	}
	if got, _ := s.Appropriations(ctx, 2027); !got[0].Appropriation.IsZero() {
		t.Fatalf("unconfirmed amendment counted: %+v", got[0])
	}
	c, err := s.Confirm(ctx, a.ID, marc)
	if err != nil || c.Status != payments.AmendmentConfirmed || c.ConfirmedBy != "marc" {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	if _, err := s.Confirm(ctx, a.ID, marc); err != nil {
		t.Fatalf("confirm again: %v", err)
	}

	out, err := s.Record(ctx, amend(payments.AmendmentTransferOut, "200000.01"), marc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, out.ID, claire); err != nil {
		t.Fatal(err)
	}
	// More than what is left is refused at recording.
	if _, err := s.Record(ctx, amend(payments.AmendmentTransferOut, "1000000.00"), marc); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("transfer beyond available: %v", err)
	}
	got, err := s.Appropriations(ctx, 2027)
	if err != nil {
		t.Fatal(err)
	}
	want := decimal.RequireFromString("999999.99")
	if !got[0].Appropriation.Equal(want) || !got[0].Available.Equal(want) || !got[0].Committed.IsZero() || !got[1].Appropriation.IsZero() {
		t.Fatalf("appropriations %+v", got)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("verify with budget entries: %v", err)
	}
	if !rep.OK {
		t.Fatalf("verify: %+v", rep)
	}
	var audited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE object_kind = 'budget_amendment'`).Scan(&audited); err != nil || audited != 4 {
		t.Fatalf("%d audit events of the amendments (%v), want 4", audited, err)
	}
	if n, err := s.Repost(ctx); err != nil || n != 0 {
		t.Fatalf("repost: %d %v", n, err)
	}
}
