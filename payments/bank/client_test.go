package bank_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
)

func TestGateway_HappyPath(t *testing.T) {
	b, srv := newBank(t, banksim.Config{
		Token:       "s3cret",
		RejectIBANs: map[string]bool{ibanClosed: true},
		ReturnIBANs: map[string]bool{ibanReturn: true},
	})
	g := newGateway(t, srv, bank.HTTPConfig{Token: "s3cret"}, nil)
	ctx := context.Background()

	m := message("OFII-20261102-0001",
		payment("E2E-GOOD-1", ibanGood1, "123.45"),
		payment("E2E-GOOD-2", ibanGood2, "1000.00"),
		payment("E2E-CLOSED", ibanClosed, "50.00"),
		payment("E2E-BADSUM", ibanTypo, "20.00"),
		payment("E2E-RETURN", ibanReturn, "300.10"),
	)
	f := file(t, m)
	f.Bytes = bytes.Replace(f.Bytes, []byte(ibanTypo), []byte(ibanBadSum), 1)

	t.Run("Submit", func(t *testing.T) {
		r, err := g.SubmitFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if r.Duplicate || r.MsgID != m.MsgID || r.ReceivedAt.IsZero() {
			t.Errorf("receipt %+v, want a first receipt of %s", r, m.MsgID)
		}
	})
	t.Run("ResubmitIsDuplicate", func(t *testing.T) {
		r, err := g.SubmitFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Duplicate || r.MsgID != m.MsgID {
			t.Errorf("receipt %+v, want a duplicate of %s", r, m.MsgID)
		}
		got := b.Received()
		if len(got) != 1 || got[0].Attempts != 2 || got[0].Duplicates != 1 {
			t.Errorf("received %+v, want one file with 2 attempts", got)
		}
	})
	t.Run("StatusReport", func(t *testing.T) {
		docs, err := g.StatusReports(ctx, m.MsgID)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 1 {
			t.Fatalf("%d reports, want 1", len(docs))
		}
		validate(t, "pain.002.001.10.xsd", docs[0].Bytes)
		r := reportOf(t, g, m.MsgID)
		if r.OriginalMsgID != m.MsgID || r.GroupStatus != sepa.StatusPART {
			t.Errorf("report of %s, group %s; want %s, PART", r.OriginalMsgID, r.GroupStatus, m.MsgID)
		}
		want := map[string][2]string{
			"E2E-GOOD-1": {"ACCP", ""},
			"E2E-GOOD-2": {"ACCP", ""},
			"E2E-CLOSED": {"RJCT", "AC04"},
			"E2E-BADSUM": {"RJCT", "AC01"},
			"E2E-RETURN": {"ACCP", ""},
		}
		for id, w := range want {
			st, reason := r.StatusOf(m.PmtInfID, id)
			if string(st) != w[0] || reason != w[1] {
				t.Errorf("%s: %s %q, want %s %q", id, st, reason, w[0], w[1])
			}
		}
	})
	t.Run("UnknownMsgIdIsRefused", func(t *testing.T) {
		_, err := g.StatusReports(ctx, "NO-SUCH-FILE")
		if !isRefusal(err, "NOTFOUND") {
			t.Fatalf("err = %v, want a NOTFOUND refusal", err)
		}
	})
	t.Run("NoStatementBeforeTheDay", func(t *testing.T) {
		docs, err := g.Statements(ctx, banksim.DefaultAccount, monday.AddDays(1))
		if err != nil || len(docs) != 0 {
			t.Fatalf("statements of tomorrow: %d, %v; want none", len(docs), err)
		}
		s := statementOn(t, g, monday)
		if len(s.Ntry) != 0 || s.Bal[0].Amt != "10000000.00" || s.Bal[1].Amt != "10000000.00" {
			t.Errorf("today's statement: %+v, want no entries at 10000000.00", s)
		}
	})
	t.Run("DebitsBookedNextBusinessDay", func(t *testing.T) {
		b.SetToday(monday.AddDays(1))
		s := statementOn(t, g, monday.AddDays(1))
		if s.IBAN != banksim.DefaultAccount || s.Seq != 2 || s.ID != "STMT-2026-11-03" {
			t.Errorf("statement %s seq %d of %s", s.ID, s.Seq, s.IBAN)
		}
		want := map[string]string{"E2E-GOOD-1": "123.45", "E2E-GOOD-2": "1000.00", "E2E-RETURN": "300.10"}
		if len(s.Ntry) != len(want) {
			t.Fatalf("%d entries, want %d", len(s.Ntry), len(want))
		}
		for _, n := range s.Ntry {
			tx := n.TxDtls[0]
			if n.Ind != "DBIT" || n.Sts != "BOOK" || n.BookgDt != "2026-11-03" || n.SubFmly != "ESCT" ||
				n.Amt != want[tx.EndToEndID] || tx.MsgID != m.MsgID || tx.PmtInfID != m.PmtInfID {
				t.Errorf("entry %+v", n)
			}
		}
		if s.Bal[0].Amt != "10000000.00" || s.Bal[1].Amt != "9998576.45" || s.Bal[1].Ind != "CRDT" {
			t.Errorf("balances %+v, want 10000000.00 to 9998576.45", s.Bal)
		}
	})
	t.Run("ReturnBookedThreeBusinessDaysLater", func(t *testing.T) {
		friday := monday.AddDays(4)
		b.SetToday(friday)
		for _, d := range []ledger.Date{monday.AddDays(2), monday.AddDays(3)} {
			if s := statementOn(t, g, d); len(s.Ntry) != 0 || s.Bal[0].Amt != "9998576.45" {
				t.Errorf("statement of %s: %+v, want no entries", d, s)
			}
		}
		s := statementOn(t, g, friday)
		if len(s.Ntry) != 1 {
			t.Fatalf("%d entries on %s, want the return", len(s.Ntry), friday)
		}
		n := s.Ntry[0]
		if n.Ind != "CRDT" || n.Amt != "300.10" || n.Domn != "PMNT" || n.Fmly != "ICDT" || n.SubFmly != "RRTN" ||
			n.TxDtls[0].EndToEndID != "E2E-RETURN" || n.TxDtls[0].Return != "AC04" {
			t.Errorf("return entry %+v", n)
		}
		if s.Bal[1].Amt != "9998876.55" {
			t.Errorf("closing %s, want 9998876.55", s.Bal[1].Amt)
		}
	})
	t.Run("WrongTokenIsRefused", func(t *testing.T) {
		other := newGateway(t, srv, bank.HTTPConfig{Token: "wrong"}, nil)
		before := b.Requests()
		_, err := other.StatusReports(ctx, m.MsgID)
		if !isRefusal(err, "UNAUTHORIZED") {
			t.Errorf("err = %v, want an UNAUTHORIZED refusal", err)
		}
		if n := b.Requests() - before; n != 1 {
			t.Errorf("%d requests, want 1: a refusal is not retried", n)
		}
	})
}

func TestGateway_Breaker(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "Answers503", true: "DropsConnections"}[drop], func(t *testing.T) {
			b, srv := newBank(t, banksim.Config{})
			reg := prometheus.NewRegistry()
			g := newGateway(t, srv, bank.HTTPConfig{
				Retries: 2,
				Breaker: bank.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: 2 * time.Second},
			}, reg)
			ctx := context.Background()
			b.SetFaults(banksim.Faults{Outage: true, Drop: drop})

			// 2 attempts fail: retries exhausted, the breaker still closed.
			_, err := g.StatusReports(ctx, "ANY")
			if !errors.Is(err, bank.ErrUnavailable) || errors.Is(err, gobreaker.ErrOpenState) {
				t.Fatalf("first call: %v, want unavailable after its retries", err)
			}
			// The 3rd failure opens the breaker; the retry stops there.
			_, err = g.StatusReports(ctx, "ANY")
			if !errors.Is(err, bank.ErrUnavailable) || !errors.Is(err, gobreaker.ErrOpenState) {
				t.Fatalf("second call: %v, want unavailable, breaker open", err)
			}
			if n := b.Requests(); n != 3 {
				t.Errorf("%d requests reached the bank, want 3", n)
			}
			if got := g.BreakerStates(); got["reports"] != "open" || got["submit"] != "closed" || got["statements"] != "closed" {
				t.Errorf("states %v, want only reports open", got)
			}
			checkGauge(t, reg, "reports", 2)
			checkGauge(t, reg, "submit", 0)

			// While open, calls fail at once without reaching the bank.
			for range 5 {
				begin := time.Now()
				_, err := g.StatusReports(ctx, "ANY")
				if !errors.Is(err, bank.ErrUnavailable) || !errors.Is(err, gobreaker.ErrOpenState) {
					t.Fatalf("call while open: %v", err)
				}
				if d := time.Since(begin); d > 500*time.Millisecond {
					t.Errorf("call while open took %s", d)
				}
			}
			if n := b.Requests(); n != 3 {
				t.Errorf("%d requests reached the bank while open, want still 3", n)
			}

			// The bank recovers; after OpenTimeout the probe closes the breaker.
			b.SetFaults(banksim.Faults{})
			deadline := time.Now().Add(10 * time.Second)
			for g.BreakerStates()["reports"] != "half-open" {
				if time.Now().After(deadline) {
					t.Fatal("the breaker never became half-open")
				}
				time.Sleep(10 * time.Millisecond)
			}
			checkGauge(t, reg, "reports", 1)
			_, err = g.StatusReports(ctx, "ANY")
			if !isRefusal(err, "NOTFOUND") {
				t.Fatalf("probe: %v, want the bank's NOTFOUND", err)
			}
			if got := g.BreakerStates()["reports"]; got != "closed" {
				t.Errorf("state after the probe: %s, want closed", got)
			}
			checkGauge(t, reg, "reports", 0)
			checkCounter(t, reg, "reports", "failed", 3)
			checkCounter(t, reg, "reports", "rejected_open", 6)
			checkCounter(t, reg, "reports", "refused", 1)
		})
	}
}

func TestGateway_ErrorRate(t *testing.T) {
	b, srv := newBank(t, banksim.Config{Seed: 7})
	reg := prometheus.NewRegistry()
	g := newGateway(t, srv, bank.HTTPConfig{
		Retries: 12,
		Breaker: bank.BreakerConfig{ConsecutiveFailures: 1000},
	}, reg)
	// Half the requests fail, and the bank carries them out before losing
	// the answer: a resend meets DU01.
	b.SetFaults(banksim.Faults{ErrorRate: 0.5, LoseAnswers: true})

	const files = 20
	for i := range files {
		m := message(fmt.Sprintf("OFII-ER-%02d", i),
			payment(fmt.Sprintf("E2E-ER-%02d-A", i), ibanGood1, "10.00"),
			payment(fmt.Sprintf("E2E-ER-%02d-B", i), ibanGood2, "0.01"))
		if _, err := g.SubmitFile(context.Background(), file(t, m)); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	b.SetFaults(banksim.Faults{})

	got := b.Received()
	if len(got) != files {
		t.Fatalf("%d files received, want %d", len(got), files)
	}
	seen := map[string]bool{}
	duplicates := 0
	for _, f := range got {
		if seen[f.MsgID] {
			t.Errorf("%s recorded twice", f.MsgID)
		}
		seen[f.MsgID] = true
		if f.Attempts != 1+f.Duplicates || f.GroupStatus != sepa.StatusACCP {
			t.Errorf("%s: %d attempts, %d duplicates, %s", f.MsgID, f.Attempts, f.Duplicates, f.GroupStatus)
		}
		duplicates += f.Duplicates
	}
	if duplicates == 0 {
		t.Error("no answer was lost: the test does not exercise the resend of a delivered file")
	}
	if b.Requests() <= files {
		t.Errorf("%d requests for %d files: no fault was injected", b.Requests(), files)
	}
	t.Logf("%d requests, %d duplicates refused", b.Requests(), duplicates)

	// Every transfer is booked once.
	b.SetToday(monday.AddDays(1))
	s := statementOn(t, g, monday.AddDays(1))
	booked := map[string]int{}
	for _, n := range s.Ntry {
		booked[n.TxDtls[0].EndToEndID]++
	}
	if len(booked) != 2*files {
		t.Errorf("%d transfers booked, want %d", len(booked), 2*files)
	}
	for id, n := range booked {
		if n != 1 {
			t.Errorf("%s booked %d times", id, n)
		}
	}
	if s.Bal[1].Amt != "9999799.80" {
		t.Errorf("closing %s, want 9999799.80", s.Bal[1].Amt)
	}
}

func TestGateway_Timeouts(t *testing.T) {
	t.Run("SlowBankOpensTheBreaker", func(t *testing.T) {
		b, srv := newBank(t, banksim.Config{})
		reg := prometheus.NewRegistry()
		g := newGateway(t, srv, bank.HTTPConfig{
			Timeout: 30 * time.Millisecond,
			Retries: 1,
			Breaker: bank.BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Minute},
		}, reg)
		b.SetFaults(banksim.Faults{Latency: 2 * time.Second})
		for i := range 2 {
			_, err := g.Statements(context.Background(), banksim.DefaultAccount, monday)
			if !errors.Is(err, bank.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: %v, want unavailable after a timeout", i, err)
			}
			if strings.Contains(err.Error(), banksim.DefaultAccount) {
				t.Errorf("the error shows the IBAN: %v", err)
			}
		}
		if got := g.BreakerStates()["statements"]; got != "open" {
			t.Errorf("state %s, want open", got)
		}
		_, err := g.Statements(context.Background(), banksim.DefaultAccount, monday)
		if !errors.Is(err, gobreaker.ErrOpenState) {
			t.Errorf("call while open: %v", err)
		}
		checkCounter(t, reg, "statements", "failed", 2)
		checkGauge(t, reg, "statements", 2)
	})
	t.Run("CallerCancelDoesNotCount", func(t *testing.T) {
		b, srv := newBank(t, banksim.Config{})
		reg := prometheus.NewRegistry()
		g := newGateway(t, srv, bank.HTTPConfig{
			Retries: 3,
			Breaker: bank.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Minute},
		}, reg)
		b.SetFaults(banksim.Faults{Latency: 2 * time.Second})
		for range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := g.Statements(ctx, banksim.DefaultAccount, monday)
			if !errors.Is(err, context.Canceled) || errors.Is(err, bank.ErrUnavailable) {
				t.Fatalf("err = %v, want the caller's cancellation", err)
			}
		}
		// A caller's own deadline is the caller giving up too.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := g.Statements(ctx, banksim.DefaultAccount, monday); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's deadline", err)
		}
		if got := g.BreakerStates()["statements"]; got != "closed" {
			t.Errorf("state %s, want closed: a cancelled call is not the bank's failure", got)
		}
		if n := b.Requests(); n != 4 {
			t.Errorf("%d requests, want 4: a cancelled call is not retried", n)
		}
		checkCounter(t, reg, "statements", "cancelled", 4)
		checkCounter(t, reg, "statements", "failed", 0)
	})
}

func TestGateway_Refusal(t *testing.T) {
	b, srv := newBank(t, banksim.Config{})
	reg := prometheus.NewRegistry()
	g := newGateway(t, srv, bank.HTTPConfig{
		Retries: 3,
		Breaker: bank.BreakerConfig{ConsecutiveFailures: 2},
	}, reg)
	bad := bank.File{MsgID: "OFII-BAD", Bytes: []byte("<Document>not a payment file</Document>")}
	for i := range 4 {
		before := b.Requests()
		_, err := g.SubmitFile(context.Background(), bad)
		var r *bank.Refusal
		if !errors.As(err, &r) || r.Code != "FF01" || r.Status != 400 {
			t.Fatalf("attempt %d: %v, want an FF01 refusal", i, err)
		}
		if errors.Is(err, bank.ErrUnavailable) {
			t.Errorf("a refusal is not unavailability: %v", err)
		}
		if n := b.Requests() - before; n != 1 {
			t.Errorf("%d requests, want 1: a refusal is not retried", n)
		}
	}
	if got := g.BreakerStates()["submit"]; got != "closed" {
		t.Errorf("state %s, want closed", got)
	}
	if len(b.Received()) != 0 {
		t.Errorf("the refused file was recorded: %+v", b.Received())
	}
	checkCounter(t, reg, "submit", "refused", 4)

	t.Run("ChecksumMismatchNeverSent", func(t *testing.T) {
		before := b.Requests()
		f := file(t, message("OFII-SUM", payment("E2E-SUM", ibanAnother, "1.00")))
		f.SHA256 = "00"
		if _, err := g.SubmitFile(context.Background(), f); err == nil {
			t.Error("a file whose SHA256 does not match its bytes was sent")
		}
		if b.Requests() != before {
			t.Error("the bank was called")
		}
	})
}

func TestNewHTTPGateway_Errors(t *testing.T) {
	for _, base := range []string{"", "bank.example", "ftp://bank.example", "http://"} {
		if _, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: base}, nil, nil); err == nil {
			t.Errorf("base URL %q accepted", base)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: "http://bank.example"}, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: "http://bank.example"}, nil, reg); err == nil {
		t.Error("a second gateway registered the same metrics on the same registry")
	}
}

// checkGauge checks bank_breaker_state{endpoint}.
func checkGauge(t *testing.T, reg *prometheus.Registry, endpoint string, want float64) {
	t.Helper()
	if got := metricValue(t, reg, "bank_breaker_state", map[string]string{"endpoint": endpoint}); got != want {
		t.Errorf("bank_breaker_state{endpoint=%q} = %v, want %v", endpoint, got, want)
	}
}

// checkCounter checks bank_requests_total{endpoint,outcome}.
func checkCounter(t *testing.T, reg *prometheus.Registry, endpoint, outcome string, want float64) {
	t.Helper()
	got := metricValue(t, reg, "bank_requests_total", map[string]string{"endpoint": endpoint, "outcome": outcome})
	if got != want {
		t.Errorf("bank_requests_total{endpoint=%q,outcome=%q} = %v, want %v", endpoint, outcome, got, want)
	}
}

// metricValue returns the value of the gauge or counter name with labels,
// 0 when it has none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// validate checks doc against an ISO 20022 schema of testdata/xsd with
// xmllint.
func validate(t *testing.T, xsd string, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is missing: install libxml2-utils (apt-get install libxml2-utils)")
	}
	path := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join("..", "..", "testdata", "xsd", xsd), path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", xsd, err, out)
	}
}
