package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/cli"
	httptransport "github.com/ofii/allowances/transport/http"
)

// TestTokenLastDay: a token issued with a last day carries it in its
// config line, and once that day is past the server refuses it with 401,
// which ledgerctl prints as the API gives it; nothing is done.
func TestTokenLastDay(t *testing.T) {
	r := ledgerctl(t, "", "-o", "json", "token", "new", "interim", "--role", "auditor", "--last-day", "2026-01-31")
	r.want(t, cli.ExitOK)
	var tok newToken
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatal(err)
	}
	if want := "interim:auditor:" + httptransport.HashToken(tok.Token) + ":2026-01-31"; tok.ConfigLine != want {
		t.Fatalf("config line %q, want %q", tok.ConfigLine, want)
	}
	if r := ledgerctl(t, "", "token", "new", "interim", "--role", "auditor", "--last-day", "31/01/2026"); r.code != cli.ExitUsage ||
		!strings.Contains(r.stderr, `error: --last-day: "31/01/2026" is not a date YYYY-MM-DD`) {
		t.Errorf("a bad last day: %d %s", r.code, r.stderr)
	}

	s := startLedgerd(t, map[string]string{"AUTH_TOKENS": staffTokens + ";" + tok.ConfigLine})
	r = s.as(t, tok.Token, "", "runs", "list")
	r.want(t, cli.ExitFailure)
	if want := "error: 401 Unauthorized: the token of interim expired at the end of 2026-01-31 (UTC): ask an administrator for a new one\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	// An unknown token, and one with a role that may not act, get what
	// the API answers.
	r = s.as(t, "invented-token-0123456789", "", "runs", "list")
	r.want(t, cli.ExitFailure)
	if want := "error: 401 Unauthorized: the bearer token is not valid\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	r = s.as(t, auditorTok, "", "runs", "start", "grants")
	r.want(t, cli.ExitFailure)
	if !strings.HasPrefix(r.stderr, "error: 403 Forbidden: this needs one of the roles preparer, admin; court-of-audit has auditor") {
		t.Errorf("stderr = %q", r.stderr)
	}
}
