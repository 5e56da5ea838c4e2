package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/reconcile/sqlstore"
)

// TestFetchedFromTheSimulatorIsMarked: the statements fetched through the
// gateway of Config.Simulated are marked simulated, in the import result and
// in the report of their day; those fetched from a bank, or imported by
// hand, are not; a statement imported again keeps its mark.
func TestFetchedFromTheSimulatorIsMarked(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 2)
	sim, err := newRecon(e.pool, e.ledger, sqlstore.Config{Account: account, Now: e.clock, Logger: quiet()}, e.gw, true)
	if err != nil {
		t.Fatal(err)
	}
	e.at("2026-11-10T08:00:00Z")
	fri, mon, tue := ledger.NewDate(2026, 11, 6), ledger.NewDate(2026, 11, 9), ledger.NewDate(2026, 11, 10)
	res, err := sim.Fetch(e.ctx, fri, payments.System)
	if err != nil || len(res) != 1 || len(res[0].Statements) != 1 || !res[0].Statements[0].Simulated || res[0].Statements[0].Lines != 2 {
		t.Fatalf("fetch from the simulator: %v %+v", err, res)
	}
	if r := e.report(fri); !r.StatementSimulated || !r.Agrees || !strings.Contains(r.Verdict, "came from the bank simulator") {
		t.Errorf("report of %s: simulated %v, agrees %v: %s", fri, r.StatementSimulated, r.Agrees, r.Verdict)
	}
	res, err = e.rec.Fetch(e.ctx, mon, payments.System)
	if err != nil || len(res) != 1 || len(res[0].Statements) != 1 || res[0].Statements[0].Simulated {
		t.Fatalf("fetch from a bank: %v %+v", err, res)
	}
	if r := e.report(mon); !r.StatementFound || r.StatementSimulated || strings.Contains(r.Verdict, "simulator") {
		t.Errorf("report of %s: found %v, simulated %v: %s", mon, r.StatementFound, r.StatementSimulated, r.Verdict)
	}
	// By hand: Tuesday's statement is not marked, even through the store of
	// the simulator; Friday's, imported again, keeps its mark.
	for _, c := range []struct {
		day             ledger.Date
		replayed, marks bool
	}{{tue, false, false}, {fri, true, true}} {
		docs, err := e.gw.Statements(e.ctx, account, c.day)
		if err != nil || len(docs) != 1 {
			t.Fatalf("statements of %s: %v %d", c.day, err, len(docs))
		}
		r, err := sim.Import(e.ctx, docs[0].Bytes, controller)
		if err != nil || r.Replayed != c.replayed || len(r.Statements) != 1 || r.Statements[0].Simulated != c.marks {
			t.Errorf("import of %s by hand: %v %+v; want replayed %v, simulated %v", c.day, err, r, c.replayed, c.marks)
		}
	}
	if r := e.report(tue); !r.StatementFound || r.StatementSimulated {
		t.Errorf("report of %s: found %v, simulated %v", tue, r.StatementFound, r.StatementSimulated)
	}
}
