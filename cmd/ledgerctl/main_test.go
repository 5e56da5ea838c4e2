package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/dbtest"
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

func TestConfigRedactsPassword(t *testing.T) {
	r := ledgerctl(t, "", "config", "--database-url", "postgres://ofii:s3cret@db.internal:5432/ledger")
	r.want(t, cli.ExitOK, "| `DATABASE_URL` |", "postgres://ofii:xxxxx@db.internal:5432/ledger")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("the password shows:\n%s", r.stdout)
	}
}

// TestLedger runs the commands against a real database, in the order an
// operator would on a new installation.
func TestLedger(t *testing.T) {
	pool, dsn := dbtest.MustOpen(t)
	db := func(args ...string) []string { return append(args, "--database-url", dsn) }

	ledgerctl(t, "", db("migrate")...).want(t, cli.ExitOK, "schema up to date at version")
	ledgerctl(t, "", db("chart")...).want(t, cli.ExitOK, "bank:main", "equity:state-funding", "expense:ada")

	r := ledgerctl(t, "", db("-o", "json", "post", "testdata/entry.json")...)
	r.want(t, cli.ExitOK)
	var posted ledger.Entry
	if err := json.Unmarshal([]byte(r.stdout), &posted); err != nil {
		t.Fatalf("post -o json: %v\n%s", err, r.stdout)
	}
	if len(posted.Postings) != 2 || posted.Replayed {
		t.Fatalf("posted %+v", posted)
	}

	t.Run("PostAgainReplays", func(t *testing.T) {
		ledgerctl(t, "", db("post", "testdata/entry.json")...).
			want(t, cli.ExitOK, posted.ID.String(), "10000.00", "replayed: an entry with this key already existed")
	})
	t.Run("Balance", func(t *testing.T) {
		ledgerctl(t, "", db("balance", "bank:main")...).want(t, cli.ExitOK, "10000.00 EUR")
		ledgerctl(t, "", db("balance", "bank:main", "--as-of", "2025-01-01")...).want(t, cli.ExitOK, "0.00 EUR", "end of 2025-01-01")
		r := ledgerctl(t, "", db("-o", "json", "balance", "equity:state-funding")...)
		r.want(t, cli.ExitOK)
		var b ledger.Balance
		if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
			t.Fatal(err)
		}
		if !b.Natural.Equal(decimal.RequireFromString("10000")) || !b.Balance.Equal(decimal.RequireFromString("-10000")) {
			t.Errorf("equity balance %s natural %s, want -10000 and 10000", b.Balance, b.Natural)
		}
	})
	t.Run("Entry", func(t *testing.T) {
		ledgerctl(t, "", db("entry", posted.ID.String())...).want(t, cli.ExitOK, "DGEF-2025-0001", "Transfer from the Treasury")
	})
	t.Run("Accounts", func(t *testing.T) {
		ledgerctl(t, "", db("accounts", "--prefix", "bank:")...).want(t, cli.ExitOK, "bank:main", "10000.00")
	})
	t.Run("Statement", func(t *testing.T) {
		ledgerctl(t, "", db("statement", "bank:main", "--all")...).want(t, cli.ExitOK, shortID(posted.ID), "Transfer from the Treasury", "closing balance 10000.00")
	})

	trialBalance := func(t *testing.T) ledger.TrialBalanceSum {
		t.Helper()
		r := ledgerctl(t, "", db("-o", "json", "trial-balance")...)
		r.want(t, cli.ExitOK)
		var tb ledger.TrialBalance
		if err := json.Unmarshal([]byte(r.stdout), &tb); err != nil {
			t.Fatalf("trial-balance -o json: %v\n%s", err, r.stdout)
		}
		return tb.Totals["EUR"]
	}
	t.Run("TrialBalance", func(t *testing.T) {
		sum := trialBalance(t)
		want := decimal.RequireFromString("10000.00")
		if !sum.Debit.Equal(want) || !sum.Credit.Equal(want) || !sum.Difference.IsZero() {
			t.Errorf("EUR totals: debit %s credit %s difference %s; want 10000.00 both and 0", sum.Debit, sum.Credit, sum.Difference)
		}
		ledgerctl(t, "", db("trial-balance")...).want(t, cli.ExitOK, "bank:main", "10000.00")
	})
	t.Run("UnbalancedEntryIsRejected", func(t *testing.T) {
		r := ledgerctl(t, "", db("post", "testdata/unbalanced.json")...)
		r.want(t, cli.ExitUsage)
		if !strings.HasPrefix(r.stderr, "error: lines") {
			t.Errorf("stderr does not name the lines: %s", r.stderr)
		}
		sum := trialBalance(t)
		if !sum.Debit.Equal(decimal.RequireFromString("10000.00")) {
			t.Errorf("after the rejected entry, EUR debits total %s, want 10000.00", sum.Debit)
		}
		r = ledgerctl(t, "", db("-o", "json", "statement", "bank:main")...)
		var st ledger.Statement
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Lines) != 1 {
			t.Errorf("bank:main statement after the rejected entry: %d lines (%v), want 1", len(st.Lines), err)
		}
	})
	t.Run("Verify", func(t *testing.T) {
		ledgerctl(t, "", db("verify")...).want(t, cli.ExitOK, "OK:")
	})
	t.Run("SealThenNothingToSeal", func(t *testing.T) {
		ledgerctl(t, "", db("seal", "--reason", "daily")...).want(t, cli.ExitOK, "hash")
		ledgerctl(t, "", db("seal")...).want(t, cli.ExitOK, "nothing to seal")
	})
	t.Run("VerifyFindsTampering", func(t *testing.T) {
		if _, err := pool.Exec(context.Background(), "UPDATE postings SET amount = 9000.00 WHERE account_code = 'bank:main'"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := pool.Exec(context.Background(), "UPDATE postings SET amount = 10000.00 WHERE account_code = 'bank:main'"); err != nil {
				t.Fatal(err)
			}
		}()
		r := ledgerctl(t, "", db("verify")...)
		r.want(t, cli.ExitFailure, "KIND", "DETAIL")
		if !strings.Contains(r.stderr, "NOT OK") {
			t.Errorf("stderr does not say NOT OK: %s", r.stderr)
		}
	})
	t.Run("Reverse", func(t *testing.T) {
		ledgerctl(t, "", db("reverse", posted.ID.String(), "--key", "reverse-funding-2025-01", "--reason", "posted twice by mistake")...).
			want(t, cli.ExitOK, "reversal", posted.ID.String())
		ledgerctl(t, "", db("balance", "bank:main")...).want(t, cli.ExitOK, "0.00 EUR")
		ledgerctl(t, "", db("verify")...).want(t, cli.ExitOK, "OK:")
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
