package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/payments"
	httptransport "github.com/ofii/allowances/transport/http"
)

// The tokens of the budget's people.
const (
	claraBudgetToken = "clara-budget-token-0123456789"
	marcBudgetToken  = "marc-budget-token-0123456789"
)

func TestBudgetCLI(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, map[string]string{"BUDGET_CONTROL": "enforce", "AUTH_TOKENS": staffTokens +
		";clara:budget:" + httptransport.HashToken(claraBudgetToken) + ";marc:budget:" + httptransport.HashToken(marcBudgetToken)})
	id := octoberDraft(t, s)
	s.as(t, marieToken, "", "batches", "submit", id).want(t, cli.ExitOK, "pending_approval")
	// Enforced, and no appropriation for ADA 2026: refused, nothing done.
	s.as(t, paulToken, "", "batches", "approve", id).wantErr(t, cli.ExitFailure, "ada 2026 has no appropriation (the batch commits 411.80)")
	wantBatch(t, s, id, payments.BatchPending)
	s.as(t, paulToken, "", "batches", "approve", id, "--budget-reason", "x").wantErr(t, cli.ExitUsage, "--budget-reason: goes with --force-budget")
	s.as(t, paulToken, "", "batches", "approve", id, "--force-budget").wantErr(t, cli.ExitUsage, "--budget-reason: is required")
	s.as(t, paulToken, "", "batches", "approve", id, "--force-budget", "--budget-reason", "urgent").
		wantErr(t, cli.ExitFailure, "does not hold the budget role")
	wantBatch(t, s, id, payments.BatchPending)

	amend := []string{"budget", "amend", "--scheme", "ada", "--year", "2026", "--kind", "initial", "--amount", "1000.00",
		"--reference", "LFI 2026", "--reason", "programme 303"}
	s.as(t, claraBudgetToken, "", append(amend[:9:9], "1000.001", "--reference", "LFI 2026", "--reason", "x")...).
		wantErr(t, cli.ExitUsage, "--amount: 1000.001 has more than two decimals")
	s.as(t, paulToken, "", amend...).wantErr(t, cli.ExitFailure, "403 Forbidden")
	r := s.as(t, claraBudgetToken, "", append([]string{"-o", "json"}, amend...)...)
	r.want(t, cli.ExitOK, `"status": "recorded"`)
	var am payments.Amendment
	if err := json.Unmarshal([]byte(r.stdout), &am); err != nil {
		t.Fatal(err)
	}
	s.as(t, claraBudgetToken, "", "budget", "confirm", am.ID.String()).wantErr(t, cli.ExitFailure, "another person must confirm it")
	s.as(t, marcBudgetToken, "", "budget", "confirm", am.ID.String()).want(t, cli.ExitOK, "confirmed by marc")

	s.as(t, paulToken, "", "batches", "approve", id).want(t, cli.ExitOK, "approved")
	out := s.as(t, auditorTok, "", "budget", "show", "--year", "2026", "--csv")
	out.want(t, cli.ExitOK, "scheme,appropriation,committed,spent,available,monthly_run,forecast,runs_out,months_of_cover\n",
		"ada,1000.00,411.80,0.00,588.20,137.27,549.07,,4.28\n", "return,0.00,0.00,0.00,0.00,0.00,0.00,,99.00\n")
	s.as(t, auditorTok, "", "budget", "show", "--year", "2026").want(t, cli.ExitOK, "Budget 2026 as of 2026-11", "588.20")
	s.as(t, marieToken, "", "budget", "show", "--year", "2026").wantErr(t, cli.ExitFailure, "403 Forbidden")
	if r := s.as(t, auditorTok, "", "budget", "show"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "year") {
		t.Errorf("show without --year: %d %s", r.code, r.stderr)
	}
}
