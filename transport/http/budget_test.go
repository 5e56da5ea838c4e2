package httptransport

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
)

// The tokens of the budget's people: two who keep the appropriations, and
// an approver who also holds the budget role.
const (
	claraToken = "clara-budget-token-0123456789"
	marcToken  = "marc-budget-token-0123456789"
	beaToken   = "bea-approver-budget-token-0123456789"
)

// newBudgetAPI is newApprovalAPI with budget control on.
func newBudgetAPI(t *testing.T) *batchAPI {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
		"clara:budget:" + HashToken(claraToken),
		"marc:budget:" + HashToken(marcToken),
		"bea:approver+budget:" + HashToken(beaToken),
	}, ";"))
	if err != nil {
		t.Fatalf("parse tokens: %v", err)
	}
	l := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, l); err != nil {
		t.Fatalf("set up chart: %v", err)
	}
	clock := ticking(runDay)
	runs := paysql.NewRunStore(pool, paysql.WithRunClock(clock))
	approvals, err := paysql.NewApprovalStore(pool, runs, paysql.ApprovalConfig{Debtor: testDebtor, Now: clock})
	if err != nil {
		t.Fatalf("approval store: %v", err)
	}
	budget := paysql.NewBudgetStore(pool, l, clock)
	if err := budget.SetUp(ctx); err != nil {
		t.Fatal(err)
	}
	wf := workflow.New(approvals, l, workflow.DeliveryConfig{Now: clock, Logger: slog.New(slog.DiscardHandler)})
	wf.SetBudget(budget, false)
	events := paysql.New(pool, paysql.WithClock(func() time.Time { return eventsDay }))
	logs := &syncBuffer{}
	h := NewHandler(l, Options{
		Tokens: tokens, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		MaxBodyBytes: testMaxBody, MaxReportBytes: 2 * testMaxBody,
		Beneficiaries: events, Runs: runs, Approvals: wf, Budget: budget,
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	return &batchAPI{testAPI: &testAPI{srv: srv, pool: pool, logs: logs}, events: events}
}

type amendmentJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount string `json:"amount"`
}

type budgetJSON struct {
	Year  int `json:"year"`
	Lines []struct {
		Scheme        string `json:"scheme"`
		Appropriation string `json:"appropriation"`
		Committed     string `json:"committed"`
		Available     string `json:"available"`
	} `json:"lines"`
}

func TestBudgetOverHTTP(t *testing.T) {
	a := newBudgetAPI(t)
	const good = `{"scheme":"ada","year":2026,"kind":"initial","amount":"400.00","reference":"LFI 2026","reason":"programme 303"}`
	for _, bad := range []struct{ body, field string }{
		{strings.Replace(good, `"400.00"`, `"400.001"`, 1), `"field":"amount"`},
		{strings.Replace(good, `"400.00"`, `"-4"`, 1), `"field":"amount"`},
		{strings.Replace(good, `"400.00"`, `"0"`, 1), `"field":"amount"`},
		{strings.Replace(good, `"400.00"`, `"1e400"`, 1), `"field":"amount"`},
		{strings.Replace(good, `2026`, `2025`, 1), `"field":"year"`},
		{strings.Replace(good, `"ada"`, `"gold"`, 1), `"field":"scheme"`},
		{strings.Replace(good, `"initial"`, `"gift"`, 1), `"field":"kind"`},
		{strings.Replace(good, `"LFI 2026"`, `""`, 1), `"field":"reference"`},
		{strings.Replace(good, `"programme 303"`, `" "`, 1), `"field":"reason"`},
		{strings.Replace(good, `"initial"`, `"transfer_out"`, 1), `"field":"amount"`},
		{`{"scheme":"ada","extra":1}`, `"field":"extra"`},
	} {
		r := a.do(t, "POST", "/v1/budget/amendments", claraToken, bad.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), bad.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", bad.body, r.status, r.body, bad.field)
		}
	}
	a.call(t, "POST", "/v1/budget/amendments", approverToken, good, http.StatusForbidden, nil)
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM budget_amendments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d amendments recorded from refused requests (%v)", n, err)
	}
	var am amendmentJSON
	a.call(t, "POST", "/v1/budget/amendments", claraToken, good, http.StatusCreated, &am)
	a.call(t, "POST", "/v1/budget/amendments/"+am.ID+"/confirm", claraToken, "", http.StatusForbidden, nil)
	a.call(t, "POST", "/v1/budget/amendments/not-an-id/confirm", marcToken, "", http.StatusBadRequest, nil)
	a.call(t, "POST", "/v1/budget/amendments/"+am.ID+"/confirm", marcToken, "", http.StatusOK, &am)
	if am.Status != "confirmed" {
		t.Fatalf("confirmed: %+v", am)
	}

	// 411.80 against 400.00: refused with the amounts, then forced.
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, nil)
	r := a.call(t, "POST", base+"/approve", approverToken, "", http.StatusConflict, nil)
	if !strings.Contains(string(r.body), "411.80, 400.00 available (11.80 over)") {
		t.Errorf("refusal: %s", r.body)
	}
	a.call(t, "POST", base+"/approve", approverToken, `{"force_budget":true,"budget_reason":"urgent"}`, http.StatusForbidden, nil)
	a.call(t, "POST", base+"/approve", beaToken, `{"force_budget":true}`, http.StatusBadRequest, nil)
	a.call(t, "POST", base+"/approve", beaToken, `{"budget_reason":"x"}`, http.StatusBadRequest, nil)
	a.call(t, "POST", base+"/approve", beaToken, `{"force_budget":true,"budget_reason":"supplementary under way"}`, http.StatusOK, nil)

	var b budgetJSON
	a.call(t, "GET", "/v1/budget?year=2026", auditorToken, "", http.StatusOK, &b)
	if len(b.Lines) != 4 || b.Lines[0].Appropriation != "400" || b.Lines[0].Committed != "411.8" || b.Lines[0].Available != "-11.8" {
		t.Errorf("budget %+v", b)
	}
	a.call(t, "GET", "/v1/budget?year=20x6", auditorToken, "", http.StatusBadRequest, nil)
	a.call(t, "GET", "/v1/budget", auditorToken, "", http.StatusBadRequest, nil)
	a.call(t, "GET", "/v1/budget?year=2026", preparerToken, "", http.StatusForbidden, nil)
}
