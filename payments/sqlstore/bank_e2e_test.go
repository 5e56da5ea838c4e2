package sqlstore_test

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
	"github.com/ofii/allowances/reconcile"
)

// bankEnv is an approval environment whose gateway talks over HTTP to a
// bank simulator.
type bankEnv struct {
	*approvalEnv
	sim *banksim.Bank
	gw  *bank.HTTPGateway
	out *workflow.Delivery // the delivery of the files through gw
}

const breakerOpen = 300 * time.Millisecond

func newBankEnv(t *testing.T, closed ...string) *bankEnv {
	t.Helper()
	rejects := map[string]bool{}
	for _, iban := range closed {
		rejects[iban] = true
	}
	sim := banksim.New(banksim.Config{Account: debtor.IBAN, OpeningBalance: decimal.RequireFromString("100000.00"),
		RejectIBANs: rejects, Seed: 7, Today: func() ledger.Date { return ledger.NewDate(2026, 12, 5) }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gw, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: srv.URL, Timeout: 150 * time.Millisecond, Retries: 2,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		Breaker: bank.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: breakerOpen}}, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{MaxFileTransactions: 2})
	e.ap = workflow.New(e.store, e.ledger, workflow.DeliveryConfig{Gateway: gw, Now: e.clock, Logger: quiet()})
	return &bankEnv{approvalEnv: e, sim: sim, gw: gw, out: e.ap.Delivery}
}

// released runs, approves and releases November: three files of two.
func (e *bankEnv) released() payments.Batch {
	e.t.Helper()
	nov := e.november()
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
		e.t.Fatal(err)
	}
	b, err := e.ap.Release(e.ctx, nov.ID, ana)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// later moves the clock past every file's next attempt.
func (e *bankEnv) later() { e.at(e.clock().Add(10 * time.Minute).Format(time.RFC3339)) }

// deliveredOnce checks that the bank accepted each file once and paid each
// payment of the batch in exactly one accepted file.
func (e *bankEnv) deliveredOnce(batch payments.Batch) {
	e.t.Helper()
	files, err := e.ap.Files(e.ctx, batch.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	sent := map[string]bool{}
	for _, f := range files {
		sent[f.MsgID] = true
		if f.Status == payments.FileQueued {
			e.t.Errorf("file %s still queued", f.MsgID)
		}
	}
	paid := map[string]int{}
	for _, r := range e.sim.Received() {
		if !sent[r.MsgID] {
			e.t.Errorf("the bank received %s, which the batch does not have", r.MsgID)
		}
		delete(sent, r.MsgID)
		for _, tx := range r.Transactions {
			if tx.Accepted {
				paid[tx.EndToEndID]++
			}
		}
	}
	if len(sent) > 0 {
		e.t.Errorf("files never received: %v", sent)
	}
	for _, l := range e.lines(batch.ID) {
		if paid[l.ID] != 1 {
			e.t.Errorf("payment %s accepted %d times", l.ID, paid[l.ID])
		}
	}
}

func TestBankPathAgainstTheSimulator(t *testing.T) {
	e := newBankEnv(t)
	b := e.released()
	wantAmount(t, "in transit after release", e.balance(ledger.PaymentsInTransit), "2557.40")
	act, err := e.out.SendQueued(e.ctx)
	if err != nil || act.Sent != 3 || act.Failed != 0 {
		t.Fatalf("send: %v %+v", err, act)
	}
	// Sending again sends nothing: the files are sent.
	if act, err := e.out.SendQueued(e.ctx); err != nil || act.Sent != 0 {
		t.Errorf("second send: %v %+v", err, act)
	}
	got, err := e.out.FetchReports(e.ctx)
	if err != nil || got.Reports != 3 || got.Accepted != 6 || got.Rejected != 0 {
		t.Fatalf("reports: %v %+v", err, got)
	}
	if got, err := e.out.FetchReports(e.ctx); err != nil || got.Reports != 0 {
		t.Errorf("reports fetched again: %v %+v", err, got)
	}
	if b := e.batch(b.ID); b.Status != payments.BatchSettled {
		t.Errorf("batch %s", b.Status)
	}
	e.deliveredOnce(b)
	wantAmount(t, "in transit after the reports", e.balance(ledger.PaymentsInTransit), "2557.40")
	// The bank books the payments on the execution date.
	e.sim.SetToday(ledger.NewDate(2026, 12, 7))
	docs, err := e.gw.Statements(e.ctx, debtor.IBAN, ledger.NewDate(2026, 12, 7))
	if err != nil || len(docs) != 1 {
		t.Fatalf("statements: %v %d", err, len(docs))
	}
	xsdValid(t, "camt.053.001.08", docs[0].Bytes)
	sum, err := reconcile.Check(reconcile.NewCamt053Reader(bytes.NewReader(docs[0].Bytes), reconcile.Options{}))
	if err != nil || len(sum.Statements) != 1 {
		t.Fatalf("statement: %v %+v", err, sum)
	}
	st := sum.Statements[0]
	if st.Entries != 6 || !st.Opening.Amount.Sub(st.Closing.Amount).Equal(decimal.RequireFromString("2557.40")) {
		t.Errorf("statement: %d entries, opening %s, closing %s", st.Entries, st.Opening.Amount, st.Closing.Amount)
	}
	e.verify()
}

func TestBankRejectionThroughTheSimulator(t *testing.T) {
	e := newBankEnv(t, ibans[0]) // every worked example is paid to ibans[0]
	b := e.released()
	if _, err := e.out.SendQueued(e.ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.out.FetchReports(e.ctx)
	if err != nil || got.Rejected != 6 {
		t.Fatalf("reports: %v %+v", err, got)
	}
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), "0")
	wantAmount(t, "payables", e.payables(), "2557.40")
	if b := e.batch(b.ID); b.Status != payments.BatchPartlyRejected {
		t.Errorf("batch %s", b.Status)
	}
	excs, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{BatchID: b.ID})
	if len(excs) != 6 || excs[0].ReasonCode != "AC04" {
		t.Errorf("exceptions: %+v", excs)
	}
	e.verify()
}

func TestBankFaults(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults banksim.Faults
	}{
		{"outage", banksim.Faults{Outage: true}},
		{"connections dropped", banksim.Faults{Outage: true, Drop: true}},
		{"half the requests fail", banksim.Faults{ErrorRate: 0.5}},
		{"half the answers are lost", banksim.Faults{ErrorRate: 0.5, LoseAnswers: true}},
		{"timeouts", banksim.Faults{Latency: 400 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newBankEnv(t)
			b := e.released()
			e.sim.SetFaults(tt.faults)
			permanent := tt.faults.Outage || tt.faults.Latency > 0
			if permanent {
				act, err := e.out.SendQueued(e.ctx)
				if err != nil || act.Sent != 0 || act.Failed == 0 {
					t.Fatalf("send in the outage: %v %+v", err, act)
				}
				// 2 attempts per call, 3 failures open the breaker: the
				// second call opens it.
				for i := 0; i < 3 && e.gw.BreakerStates()["submit"] != "open"; i++ {
					e.later()
					if _, err := e.out.SendQueued(e.ctx); err != nil {
						t.Fatal(err)
					}
				}
				if s := e.gw.BreakerStates()["submit"]; s != "open" {
					t.Fatalf("breaker %s after the failures", s)
				}
				reached := e.sim.Requests()
				e.later()
				act, err = e.out.SendQueued(e.ctx)
				if err != nil || act.Sent != 0 {
					t.Fatalf("send with the breaker open: %v %+v", err, act)
				}
				if n := e.sim.Requests(); n != reached {
					t.Errorf("%d requests reached the bank while the breaker was open", n-reached)
				}
				// A pass stops at the first file the bank cannot take: the
				// others wait untried.
				files, _ := e.ap.Files(e.ctx, b.ID)
				for i, f := range files {
					if f.Status != payments.FileQueued || (i == 0) != (f.LastError != "") {
						t.Errorf("file %s during the outage: %s %q", f.MsgID, f.Status, f.LastError)
					}
				}
				e.sim.SetFaults(banksim.Faults{})
			}
			// Keep sending until every file is out, as ledgerd's loop does.
			deadline := time.Now().Add(20 * time.Second)
			for {
				e.later()
				if _, err := e.out.SendQueued(e.ctx); err != nil {
					t.Fatal(err)
				}
				files, _ := e.ap.Files(e.ctx, b.ID)
				queued := 0
				for _, f := range files {
					if f.Status == payments.FileQueued {
						queued++
					}
				}
				if queued == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d files still queued", queued)
				}
				if e.gw.BreakerStates()["submit"] == "open" {
					time.Sleep(breakerOpen)
				}
			}
			e.sim.SetFaults(banksim.Faults{})
			for i := 0; i < 10; i++ {
				if _, err := e.out.FetchReports(e.ctx); err == nil {
					break
				}
				time.Sleep(breakerOpen)
			}
			e.deliveredOnce(b)
			if b := e.batch(b.ID); b.Status != payments.BatchSettled {
				t.Errorf("batch %s after the faults", b.Status)
			}
			wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), "2557.40")
			e.verify()
		})
	}
}
