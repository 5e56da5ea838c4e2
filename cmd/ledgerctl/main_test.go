package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
	httptransport "github.com/ofii/allowances/transport/http"
)

// result is what one run of ledgerctl left.
type result struct {
	code           int
	stdout, stderr string
}

// ledgerctl runs the command line args in-process with stdin as standard
// input and an empty environment, so that every setting has its default.
func ledgerctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int, stdout ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"UnknownCommand", []string{"nosuch"}, `unknown command "nosuch"`},
		{"UnknownFlag", []string{"statement", "bank:main", "--frm", "2025-01-01"}, "unknown flag: --frm"},
		{"MissingArgument", []string{"balance"}, "accepts 1 arg"},
		{"BadOutput", []string{"-o", "yaml", "config"}, "--output"},
		{"MissingRequiredFlag", []string{"reverse", "0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a", "--key", "k"}, `"reason" not set`},
		{"BadAsOf", []string{"balance", "bank:main", "--as-of", "2025-13-01"}, "error: --as-of: "},
		{"BadFromDate", []string{"statement", "bank:main", "--from", "01/02/2025"}, "error: --from: "},
		{"BadEntryID", []string{"entry", "42"}, "error: ID: "},
		{"MissingFile", []string{"post", "testdata/nosuch.json"}, "error: FILE: "},
		{"UnknownField", []string{"post", "testdata/unknown-field.json"}, "error: lines[1].amout: unknown field"},
		{"AccountWithSlash", []string{"balance", "bank/main"}, "error: ACCOUNT: "},
		{"BadAuditSince", []string{"audit", "--since", "monday"}, "error: --since: "},
		{"BadDays", []string{"beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-15"}, "error: --days: "},
		{"UnknownRole", []string{"token", "new", "ops", "--role", "admin,boss"}, "error: --role: "},
		{"EmptyToken", []string{"token", "hash"}, "error: token: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ledgerctl(t, "", tc.args...)
			r.want(t, cli.ExitUsage)
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
	t.Run("BadSetting", func(t *testing.T) {
		var out, errOut bytes.Buffer
		env := func(k string) string {
			if k == "LOG_LEVEL" {
				return "loud"
			}
			return ""
		}
		if code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errOut, env); code != cli.ExitUsage {
			t.Errorf("exit status %d, want %d", code, cli.ExitUsage)
		}
		if !strings.Contains(errOut.String(), "LOG_LEVEL") {
			t.Errorf("stderr does not name LOG_LEVEL: %s", errOut.String())
		}
	})
}

func TestParseAsOf(t *testing.T) {
	at, err := parseAsOf("--as-of", "2025-03-31")
	if err != nil || at.Date != ledger.NewDate(2025, 3, 31) || !at.Time.IsZero() {
		t.Errorf("date: %+v, %v", at, err)
	}
	at, err = parseAsOf("--as-of", "2025-03-31T18:00:00+02:00")
	if err != nil || !at.Date.IsZero() || at.Time.UTC().Hour() != 16 {
		t.Errorf("time: %+v, %v", at, err)
	}
	if at, err = parseAsOf("--as-of", ""); err != nil || !at.IsZero() {
		t.Errorf("empty: %+v, %v", at, err)
	}
}

func TestToken(t *testing.T) {
	t.Run("Hash", func(t *testing.T) {
		r := ledgerctl(t, "secret\n", "token", "hash")
		r.want(t, cli.ExitOK)
		if r.stdout != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
	})
	t.Run("New", func(t *testing.T) {
		r := ledgerctl(t, "", "-o", "json", "token", "new", "amina", "--role", "preparer,Approver", "--role", "preparer")
		r.want(t, cli.ExitOK)
		var tok newToken
		if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
			t.Fatal(err)
		}
		if len(tok.Token) != 43 || tok.SHA256 != httptransport.HashToken(tok.Token) {
			t.Errorf("token %q with hash %q", tok.Token, tok.SHA256)
		}
		if want := "amina:preparer+approver:" + tok.SHA256; tok.ConfigLine != want {
			t.Errorf("config line %q, want %q", tok.ConfigLine, want)
		}
		// The same token hashed on its own gives the same line.
		h := ledgerctl(t, tok.Token, "token", "hash")
		if strings.TrimSpace(h.stdout) != tok.SHA256 {
			t.Errorf("token hash says %q, token new said %q", h.stdout, tok.SHA256)
		}
	})
}

// TestTokenFile keeps a token with 'token save' and has the staff commands
// use it when neither --token nor LEDGER_TOKEN is given.
func TestTokenFile(t *testing.T) {
	s := startLedgerd(t, nil)
	home := t.TempDir()
	path := filepath.Join(home, "ledgerctl", "token")
	env := map[string]string{"LEDGER_URL": s.URL, "XDG_CONFIG_HOME": home}
	at := func(t *testing.T, env map[string]string, stdin string, args ...string) result {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
		return result{code, out.String(), errOut.String()}
	}

	r := at(t, env, "", "token", "save")
	r.want(t, cli.ExitUsage)
	wantStderr(t, r, "no token on standard input")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an empty token was saved: %v", err)
	}

	at(t, env, auditorTok+"\n", "token", "save").want(t, cli.ExitOK, "token saved to "+path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the token file has mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != auditorTok+"\n" {
		t.Errorf("the token file holds %q", b)
	}

	// The auditor's token of the file reads the trail, which only
	// auditors and administrators may.
	at(t, env, "", "audit").want(t, cli.ExitOK, "no audit events")
	// --token and LEDGER_TOKEN come before the file.
	r = at(t, env, "", "audit", "--token", marieToken)
	r.want(t, cli.ExitFailure)
	wantStderr(t, r, "403 Forbidden")
	withEnv := map[string]string{"LEDGER_TOKEN": marieToken}
	for k, v := range env {
		withEnv[k] = v
	}
	r = at(t, withEnv, "", "audit")
	r.want(t, cli.ExitFailure)
	wantStderr(t, r, "403 Forbidden")

	// Saving again replaces the token, still 0600.
	at(t, env, marieToken+"\n", "-o", "json", "token", "save").want(t, cli.ExitOK, `"path"`)
	r = at(t, env, "", "audit")
	r.want(t, cli.ExitFailure)
	wantStderr(t, r, "403 Forbidden")

	// A token file others may read is refused, before anything is sent.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r = at(t, env, "", "balance", "bank:main")
	r.want(t, cli.ExitUsage)
	wantStderr(t, r, path, "mode 0644")
}

// TestWriteLostAnswer has the writes talk to a server that reads the whole
// request and hangs up without answering: the request may have been
// carried out, and the error says so and what to run.
func TestWriteLostAnswer(t *testing.T) {
	env := map[string]string{"LEDGER_URL": hangUpServer(t), "LEDGER_TOKEN": opsToken, "XDG_CONFIG_HOME": t.TempDir()}
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"post", "testdata/entry.json"}, `run the same command again: the key "state-funding-2025-01" makes it safe`},
		{[]string{"reverse", "0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a", "--key", "rev-1", "--reason", "twice"}, `run the same command again: the key "rev-1" makes it safe`},
		{[]string{"seal"}, "run 'ledgerctl seal' again"},
	} {
		r := ledgerctlEnv(t, env, tc.args...)
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "the connection to ledgerd at "+env["LEDGER_URL"]+" was lost before it answered", "ledgerd may have done it", tc.hint)
	}
}

func TestConfigShowsServerNotToken(t *testing.T) {
	env := map[string]string{"LEDGER_URL": "http://ledgerd.internal:8080", "LEDGER_TOKEN": "tok-s3cret"}
	r := ledgerctlEnv(t, env, "config")
	r.want(t, cli.ExitOK, "LEDGER_URL", "http://ledgerd.internal:8080", "LEDGER_TOKEN")
	if strings.Contains(r.stdout, "tok-s3cret") {
		t.Errorf("the token shows:\n%s", r.stdout)
	}
	var settings []setting
	jsonOf(t, ledgerctlEnv(t, env, "-o", "json", "config"), &settings)
	seen := 0
	for _, st := range settings {
		switch st.Env {
		case "LEDGER_URL":
			seen++
			if st.Value != "http://ledgerd.internal:8080" || st.Source != "environment" {
				t.Errorf("LEDGER_URL: %+v", st)
			}
		case "LEDGER_TOKEN":
			seen++
			if st.Value != "(set, not shown)" {
				t.Errorf("LEDGER_TOKEN shows as %q", st.Value)
			}
		}
	}
	if seen != 2 {
		t.Errorf("config lists %d of LEDGER_URL and LEDGER_TOKEN", seen)
	}
}

func TestConfigRedactsPassword(t *testing.T) {
	r := ledgerctl(t, "", "config", "--database-url", "postgres://ofii:s3cret@db.internal:5432/ledger")
	r.want(t, cli.ExitOK, "| `DATABASE_URL` |", "postgres://ofii:xxxxx@db.internal:5432/ledger")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("the password shows:\n%s", r.stdout)
	}
}

// secondEntry is posted from standard input after testdata/entry.json.
const secondEntry = `{
  "idempotency_key": "state-funding-2025-02",
  "effective_date": "2025-02-03",
  "description": "State funding, second instalment",
  "lines": [
    {"account": "bank:main", "amount": "500.25", "memo": "Second transfer"},
    {"account": "equity:state-funding", "amount": "-500.25"}
  ]
}`

// openDB opens the database of s for the checks of a test, closed when it
// ends.
func openDB(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// countRows runs a SELECT count(*) query.
func countRows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// jsonOf decodes the standard output of a successful run into v.
func jsonOf(t *testing.T, r result, v any) {
	t.Helper()
	r.want(t, cli.ExitOK)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decode the output: %v\n%s", err, r.stdout)
	}
}

// wantCents fails unless got is want to the cent, written with two
// decimals.
func wantCents(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if got.StringFixed(2) != want || !got.Equal(decimal.RequireFromString(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// wantStderr fails unless the run's standard error holds every one of
// parts.
func wantStderr(t *testing.T, r result, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr lacks %q:\n%s", p, r.stderr)
		}
	}
}

// TestLedger runs the ledger's commands against a ledgerd, in the order an
// operator would on a new installation: the setup on the database, then
// the writes as an administrator and the reads as other staff.
func TestLedger(t *testing.T) {
	s := startLedgerd(t, nil)
	pool := openDB(t, s.DSN)
	entries := func(t *testing.T) int { return countRows(t, pool, "SELECT count(*) FROM entries") }

	// Setup uses the database itself: no token is needed.
	s.as(t, "", "", "migrate").want(t, cli.ExitOK, "schema up to date at version")
	s.as(t, "", "", "chart").want(t, cli.ExitOK, "bank:main", "equity:state-funding", "expense:ada")

	var posted ledger.Entry
	jsonOf(t, s.as(t, opsToken, "", "-o", "json", "post", "testdata/entry.json"), &posted)
	if len(posted.Postings) != 2 || posted.Replayed || posted.IdempotencyKey != "state-funding-2025-01" {
		t.Fatalf("posted %+v", posted)
	}
	wantCents(t, "bank:main line", posted.Postings[0].Amount, "10000.00")
	s.as(t, opsToken, secondEntry, "post", "-").want(t, cli.ExitOK, "state-funding-2025-02", "500.25")
	before := entries(t)

	t.Run("PostAgainReplays", func(t *testing.T) {
		s.as(t, opsToken, "", "post", "testdata/entry.json").
			want(t, cli.ExitOK, posted.ID.String(), "10000.00", "replayed: an entry with this key already existed")
		if n := entries(t); n != before {
			t.Errorf("%d entries after the replay, want %d", n, before)
		}
	})
	t.Run("Balance", func(t *testing.T) {
		s.as(t, claireToken, "", "balance", "bank:main").want(t, cli.ExitOK, "10500.25 EUR")
		s.as(t, claireToken, "", "balance", "bank:main", "--as-of", "2025-01-01").want(t, cli.ExitOK, "0.00 EUR", "end of 2025-01-01")
		s.as(t, claireToken, "", "balance", "bank:main", "--as-of", "2025-01-31").want(t, cli.ExitOK, "10000.00 EUR", "end of 2025-01-31")
		var b ledger.Balance
		jsonOf(t, s.as(t, claireToken, "", "-o", "json", "balance", "equity:state-funding"), &b)
		wantCents(t, "equity natural balance", b.Natural, "10500.25")
		wantCents(t, "equity signed balance", b.Balance, "-10500.25")
		r := s.as(t, claireToken, "", "balance", "nosuch:account")
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "404 Not Found")
	})
	t.Run("Entry", func(t *testing.T) {
		s.as(t, auditorTok, "", "entry", posted.ID.String()).want(t, cli.ExitOK, "DGEF-2025-0001", "Transfer from the Treasury", "10000.00")
		r := s.as(t, auditorTok, "", "entry", "0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a")
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "404 Not Found")
	})
	t.Run("Accounts", func(t *testing.T) {
		s.as(t, paulToken, "", "accounts", "--prefix", "bank:").want(t, cli.ExitOK, "bank:main", "10500.25")
		var rows []accountBalance
		jsonOf(t, s.as(t, paulToken, "", "-o", "json", "accounts", "--limit", "2"), &rows)
		if len(rows) != 2 || rows[0].Code >= rows[1].Code {
			t.Errorf("accounts --limit 2 listed %d accounts, want 2 in code order: %+v", len(rows), rows)
		}
		var all []accountBalance
		jsonOf(t, s.as(t, paulToken, "", "-o", "json", "accounts"), &all)
		if len(all) != len(ledger.Chart) {
			t.Errorf("accounts listed %d accounts, the chart has %d", len(all), len(ledger.Chart))
		}
		for _, r := range all {
			if r.Code == "equity:state-funding" {
				wantCents(t, "equity:state-funding in accounts", r.Balance.Natural, "10500.25")
			}
		}
	})
	t.Run("Statement", func(t *testing.T) {
		s.as(t, marieToken, "", "statement", "bank:main", "--all").
			want(t, cli.ExitOK, shortID(posted.ID), "Transfer from the Treasury", "500.25", "closing balance 10500.25")
		var first ledger.Statement
		jsonOf(t, s.as(t, marieToken, "", "-o", "json", "statement", "bank:main", "--limit", "1"), &first)
		if len(first.Lines) != 1 || first.NextCursor == "" || first.Lines[0].EntryID != posted.ID {
			t.Fatalf("first page: %+v", first)
		}
		wantCents(t, "first running balance", first.Lines[0].Running, "10000.00")
		r := s.as(t, marieToken, "", "statement", "bank:main", "--limit", "1")
		r.want(t, cli.ExitOK, "more lines follow: add --cursor "+first.NextCursor)
		var second ledger.Statement
		jsonOf(t, s.as(t, marieToken, "", "-o", "json", "statement", "bank:main", "--limit", "1", "--cursor", first.NextCursor), &second)
		if len(second.Lines) != 1 || second.Lines[0].EntryID == posted.ID {
			t.Fatalf("second page: %+v", second)
		}
		wantCents(t, "second page opening", second.Opening, "10000.00")
		wantCents(t, "second running balance", second.Lines[0].Running, "10500.25")
		s.as(t, marieToken, "", "statement", "bank:main", "--from", "2025-02-01").want(t, cli.ExitOK, "opening balance 10000.00", "closing balance 10500.25")
		r = s.as(t, marieToken, "", "statement", "bank:main", "--from", "2025-03-01", "--to", "2025-02-01")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "error: 400 Bad Request: --to: 2025-02-01 is before from (2025-03-01)")
	})

	trialBalance := func(t *testing.T) ledger.TrialBalanceSum {
		t.Helper()
		var tb ledger.TrialBalance
		jsonOf(t, s.as(t, claireToken, "", "-o", "json", "trial-balance"), &tb)
		return tb.Totals["EUR"]
	}
	wantTotals := func(t *testing.T, want string) {
		t.Helper()
		sum := trialBalance(t)
		wantCents(t, "EUR debits", sum.Debit, want)
		wantCents(t, "EUR credits", sum.Credit, want)
		wantCents(t, "EUR difference", sum.Difference, "0.00")
	}
	t.Run("TrialBalance", func(t *testing.T) {
		wantTotals(t, "10500.25")
		s.as(t, claireToken, "", "trial-balance").want(t, cli.ExitOK, "bank:main", "10500.25")
		s.as(t, claireToken, "", "trial-balance", "--as-of", "2025-01-31").want(t, cli.ExitOK, "end of 2025-01-31", "10000.00")
	})
	t.Run("UnbalancedEntryIsRejected", func(t *testing.T) {
		r := s.as(t, opsToken, "", "post", "testdata/unbalanced.json")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "error: 400 Bad Request: lines: postings in EUR sum to 9000.00, not zero")
		wantTotals(t, "10500.25")
		var st ledger.Statement
		jsonOf(t, s.as(t, claireToken, "", "-o", "json", "statement", "bank:main"), &st)
		if len(st.Lines) != 2 {
			t.Errorf("bank:main statement after the rejected entry: %d lines, want 2", len(st.Lines))
		}
	})
	t.Run("Auth", func(t *testing.T) {
		byMarie := strings.Replace(secondEntry, "state-funding-2025-02", "posted-by-a-preparer", 1)
		t.Run("PreparerCannotPost", func(t *testing.T) {
			r := s.as(t, marieToken, byMarie, "post", "-")
			r.want(t, cli.ExitFailure)
			wantStderr(t, r, "error: 403 Forbidden")
			if n := countRows(t, pool, "SELECT count(*) FROM entries WHERE idempotency_key = 'posted-by-a-preparer'"); n != 0 {
				t.Errorf("the preparer's entry was posted")
			}
		})
		t.Run("ControllerCannotReverseNorSeal", func(t *testing.T) {
			r := s.as(t, claireToken, "", "reverse", posted.ID.String(), "--key", "k", "--reason", "no")
			r.want(t, cli.ExitFailure)
			wantStderr(t, r, "error: 403 Forbidden")
			r = s.as(t, claireToken, "", "seal")
			r.want(t, cli.ExitFailure)
			wantStderr(t, r, "error: 403 Forbidden")
			if n := countRows(t, pool, "SELECT count(*) FROM seals"); n != 0 {
				t.Errorf("%d seals after a controller's seal, want 0", n)
			}
		})
		t.Run("UnknownToken", func(t *testing.T) {
			r := s.as(t, "not-a-token-of-anyone", byMarie, "post", "-")
			r.want(t, cli.ExitFailure)
			wantStderr(t, r, "error: 401 Unauthorized")
			r = s.as(t, "not-a-token-of-anyone", "", "balance", "bank:main")
			r.want(t, cli.ExitFailure)
			wantStderr(t, r, "error: 401 Unauthorized")
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
		t.Run("NoToken", func(t *testing.T) {
			for _, args := range [][]string{{"balance", "bank:main"}, {"post", "-"}} {
				r := s.as(t, "", byMarie, args...)
				r.want(t, cli.ExitUsage)
				wantStderr(t, r, "--token", "LEDGER_TOKEN")
			}
		})
		t.Run("Unreachable", func(t *testing.T) {
			env := s.env(opsToken)
			env["LEDGER_URL"] = "http://127.0.0.1:1"
			for _, args := range [][]string{{"balance", "bank:main"}, {"post", "testdata/unbalanced.json"}, {"post", "-"}} {
				var out, errOut bytes.Buffer
				code := run(context.Background(), args, strings.NewReader(byMarie), &out, &errOut, func(k string) string { return env[k] })
				r := result{code, out.String(), errOut.String()}
				r.want(t, cli.ExitFailure)
				wantStderr(t, r, "http://127.0.0.1:1")
			}
		})
		if n := entries(t); n != before {
			t.Errorf("%d entries after the refused requests, want %d", n, before)
		}
		wantTotals(t, "10500.25")
	})
	t.Run("Verify", func(t *testing.T) {
		s.as(t, "", "", "verify").want(t, cli.ExitOK, "OK:")
		s.as(t, claireToken, "", "verify", "--api").want(t, cli.ExitOK, "OK:")
		r := s.as(t, "", "", "verify", "--api")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "--token")
	})
	t.Run("SealThenNothingToSeal", func(t *testing.T) {
		var seal *ledger.Seal
		jsonOf(t, s.as(t, opsToken, "", "-o", "json", "seal", "--reason", "daily"), &seal)
		if seal == nil || seal.EntryCount != 2 || seal.Reason != "daily" || seal.Hash == "" {
			t.Fatalf("seal: %+v", seal)
		}
		s.as(t, opsToken, "", "seal").want(t, cli.ExitOK, "nothing to seal")
		if n := countRows(t, pool, "SELECT count(*) FROM seals"); n != 1 {
			t.Errorf("%d seals, want 1", n)
		}
	})
	t.Run("VerifyFindsTampering", func(t *testing.T) {
		if _, err := pool.Exec(context.Background(), "UPDATE postings SET amount = 9000.00 WHERE account_code = 'bank:main' AND amount = 10000.00"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := pool.Exec(context.Background(), "UPDATE postings SET amount = 10000.00 WHERE account_code = 'bank:main' AND amount = 9000.00"); err != nil {
				t.Fatal(err)
			}
		}()
		// The posting is sealed: reading every posting finds it.
		r := s.as(t, "", "", "verify", "--full")
		r.want(t, cli.ExitFailure, "KIND", "DETAIL", "full")
		wantStderr(t, r, "NOT OK")
		r = s.as(t, claireToken, "", "verify", "--api", "--full")
		r.want(t, cli.ExitFailure, "KIND", "DETAIL")
		wantStderr(t, r, "NOT OK")
	})
	t.Run("VerifyFromTheLastSealFindsABalanceChanged", func(t *testing.T) {
		change := func(by string) {
			if _, err := pool.Exec(context.Background(), `UPDATE account_balances SET balance = balance + `+by+`
				WHERE account_code = 'bank:main' AND shard = (SELECT min(shard) FROM account_balances WHERE account_code = 'bank:main')`); err != nil {
				t.Fatal(err)
			}
		}
		change("1")
		defer change("-1")
		r := s.as(t, "", "", "verify")
		r.want(t, cli.ExitFailure, "incremental", "balance_mismatch", "bank:main")
		wantStderr(t, r, "NOT OK")
		r = s.as(t, claireToken, "", "verify", "--api")
		r.want(t, cli.ExitFailure, "balance_mismatch")
		wantStderr(t, r, "NOT OK")
	})
	t.Run("Reverse", func(t *testing.T) {
		args := []string{"reverse", posted.ID.String(), "--key", "reverse-funding-2025-01", "--reason", "posted twice by mistake"}
		s.as(t, opsToken, "", args...).want(t, cli.ExitOK, "reversal", posted.ID.String())
		s.as(t, opsToken, "", args...).want(t, cli.ExitOK, "replayed: an entry with this key already existed")
		s.as(t, claireToken, "", "balance", "bank:main").want(t, cli.ExitOK, "500.25 EUR")
		s.as(t, claireToken, "", "entry", posted.ID.String()).want(t, cli.ExitOK, "reversed by")
		wantTotals(t, "500.25")
		s.as(t, "", "", "verify").want(t, cli.ExitOK, "OK:")
		r := s.as(t, opsToken, "", "reverse", posted.ID.String(), "--key", "reverse-again", "--reason", "again", "--date", "2025-13-01")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "--date")
		r = s.as(t, opsToken, "", "reverse", "0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a", "--key", "reverse-nothing", "--reason", "no such entry")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "error: 400 Bad Request: ENTRY_ID: entry 0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a does not exist")
	})
}

func TestConfigHidesSASLPassword(t *testing.T) {
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "KAFKA_SASL_PASSWORD" {
			return "kafka-s3cret"
		}
		return ""
	}
	if code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errOut, env); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "kafka-s3cret") || !strings.Contains(out.String(), "(set, not shown)") {
		t.Errorf("the SASL password is not hidden:\n%s", out.String())
	}
}
