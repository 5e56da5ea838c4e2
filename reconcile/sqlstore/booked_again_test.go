package sqlstore_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/reconcile"
	"github.com/ofii/allowances/reconcile/sqlstore"
)

// A payment booked by one statement and booked again by a later one: the
// later import, which takes its payments for not yet booked, finds the
// booking when it writes its own, decides its lines again reading the
// bookings, and the line is a duplicate: the payment keeps its first
// booking, and the other payment of the statement is booked. The same by
// COPY, and by multi-row INSERTs a line per chunk.
func TestBookedAgainByALaterStatement(t *testing.T) {
	t.Run("copy", func(t *testing.T) {
		e := newEnv(t, banksim.Config{}, 2)
		bookedAgain(t, e, e.rec)
	})
	t.Run("insert, a line per chunk", func(t *testing.T) {
		e := newEnv(t, banksim.Config{}, 2)
		rec, err := newRecon(e.pool, e.ledger, sqlstore.Config{Account: account, Now: e.clock, Logger: quiet(), Insert: true, ChunkSize: 1}, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		bookedAgain(t, e, rec)
	})
}

func bookedAgain(t *testing.T, e *env, rec recon) {
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	lines := map[string]payments.BatchLine{}
	for _, l := range page {
		lines[l.BeneficiaryID] = l
	}
	h1, h2 := lines["H1"], lines["H2"]
	day := ledger.NewDate(2026, 11, 6)
	first, err := rec.Import(e.ctx, camt("FIRST-1", day, funding, "DBIT "+h1.Net.StringFixed(2)+" "+h1.ID), controller)
	if err != nil || first.Match.Matched[reconcile.RuleEndToEnd].Count != 1 {
		t.Fatalf("first import: %v %+v", err, first)
	}
	var booking string
	if err := e.pool.QueryRow(e.ctx, `SELECT match_id::TEXT FROM payment_bookings WHERE line_id = $1`, h1.ID).Scan(&booking); err != nil {
		t.Fatal(err)
	}
	next := ledger.NewDate(2026, 11, 9)
	doc := camt("SECOND-1", next, e.report(day).StatementClosing, "DBIT "+h1.Net.StringFixed(2)+" "+h1.ID,
		"DBIT "+h2.Net.StringFixed(2)+" "+h2.ID)
	second, err := rec.Import(e.ctx, doc, controller)
	if err != nil || second.Match.Matched[reconcile.RuleEndToEnd].Count != 1 || second.Match.Unmatched != 1 {
		t.Fatalf("second import: %v %+v", err, second)
	}
	wantAmount(t, "booked by the second statement", second.Match.Matched[reconcile.RuleEndToEnd].Sum, h2.Net)
	open, _ := rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || open[0].Kind != reconcile.ExceptionDuplicate || open[0].Payment != h1.ID {
		t.Fatalf("exceptions: %+v", open)
	}
	var again string
	if err := e.pool.QueryRow(e.ctx, `SELECT match_id::TEXT FROM payment_bookings WHERE line_id = $1`, h1.ID).Scan(&again); err != nil || again != booking {
		t.Fatalf("booking of %s: %s, was %s (%v)", h1.ID, again, booking, err)
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payment_bookings WHERE line_id = $1`, h2.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bookings of %s: %d (%v)", h2.ID, n, err)
	}
	// Booked again for another amount: a duplicate still, as the full
	// reading of the bookings decides, not an amount that differs.
	third := ledger.NewDate(2026, 11, 10)
	doc = camt("THIRD-1", third, e.report(next).StatementClosing, "DBIT "+h1.Net.Add(decimal.New(1, 0)).StringFixed(2)+" "+h1.ID)
	if res, err := rec.Import(e.ctx, doc, controller); err != nil || res.Match.Unmatched != 1 {
		t.Fatalf("third import: %v %+v", err, res)
	}
	open, _ = rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 2 || open[0].Kind != reconcile.ExceptionDuplicate || open[1].Kind != reconcile.ExceptionDuplicate {
		t.Fatalf("exceptions: %+v", open)
	}
	e.verify()
}
