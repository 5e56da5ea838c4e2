package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var day = ledger.NewDate(2026, 11, 5)

// mustOpen returns a store on a fresh database with the chart set up.
func mustOpen(t testing.TB, opts ...sqlstore.Option) (*sqlstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	s := sqlstore.New(pool, opts...)
	if err := ledger.SetUpChart(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func transfer(key, from, to, amount string) ledger.NewEntry {
	return ledger.NewEntry{IdempotencyKey: key, EffectiveDate: day, Description: "transfer " + key,
		Lines: []ledger.Line{{Account: to, Amount: d(amount)}, {Account: from, Amount: d(amount).Neg()}}}
}

func mustVerify(t *testing.T, s *sqlstore.Store) ledger.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify found problems: %+v", rep.Problems)
	}
	return rep
}

func balance(t *testing.T, s *sqlstore.Store, acct string, at ledger.AsOf) string {
	t.Helper()
	b, err := s.Balance(context.Background(), acct, at)
	if err != nil {
		t.Fatal(err)
	}
	return b.Balance.StringFixed(2)
}

func TestPost(t *testing.T) {
	s, _ := mustOpen(t)
	ctx := context.Background()
	fund := transfer("fund-1", ledger.StateFunding, ledger.BankMain, "100000.00")
	e, err := s.Post(ctx, fund)
	if err != nil {
		t.Fatal(err)
	}
	if e.Replayed || len(e.Postings) != 2 || e.Status != ledger.StatusPosted {
		t.Fatalf("entry = %+v", e)
	}
	adaLines := []ledger.Line{
		{Account: ledger.ExpenseADA, Amount: d("426.00")},
		{Account: "payable:B-0001", Amount: d("-300.00")},
		{Account: "receivable:overpayment:B-0001", Amount: d("-126.00")},
	}
	e2, err := s.Post(ctx, ledger.NewEntry{IdempotencyKey: "ada-1", EffectiveDate: day, Description: "ADA 2026-10 B-0001", Lines: adaLines})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(ctx, "payable:B-0001")
	if err != nil {
		t.Fatal(err)
	}
	if a.Parent != ledger.Payable || a.Type != ledger.Liability || a.NormalSide != ledger.Credit {
		t.Fatalf("sub-ledger account = %+v", a)
	}
	for acct, want := range map[string]string{
		ledger.BankMain: "100000.00", ledger.StateFunding: "-100000.00", ledger.ExpenseADA: "426.00",
		"payable:B-0001": "-300.00", "receivable:overpayment:B-0001": "-126.00",
	} {
		if got := balance(t, s, acct, ledger.AsOf{}); got != want {
			t.Errorf("balance %s = %s, want %s", acct, got, want)
		}
	}
	b, _ := s.Balance(ctx, "payable:B-0001", ledger.AsOf{})
	if b.Natural.StringFixed(2) != "300.00" {
		t.Errorf("natural balance of payable = %s, want 300.00", b.Natural.StringFixed(2))
	}

	t.Run("IdempotentReplay", func(t *testing.T) {
		again, err := s.Post(ctx, ledger.NewEntry{IdempotencyKey: "ada-1", EffectiveDate: day, Description: "ADA 2026-10 B-0001", Lines: adaLines})
		if err != nil {
			t.Fatal(err)
		}
		if !again.Replayed || again.ID != e2.ID {
			t.Fatalf("replay = %v id %s, want replay of %s", again.Replayed, again.ID, e2.ID)
		}
		if got := balance(t, s, ledger.ExpenseADA, ledger.AsOf{}); got != "426.00" {
			t.Fatalf("replay changed the balance: %s", got)
		}
	})
	t.Run("ErrKeyReusedWithOtherContent", func(t *testing.T) {
		_, err := s.Post(ctx, transfer("ada-1", ledger.StateFunding, ledger.BankMain, "1.00"))
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Conflict || e.Field != "idempotency_key" {
			t.Fatalf("err = %v, want conflict on idempotency_key", err)
		}
	})
	t.Run("Reverse", func(t *testing.T) {
		r, err := s.Reverse(ctx, ledger.Reversal{EntryID: e2.ID, IdempotencyKey: "rev-ada-1", Reason: "wrong household"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != ledger.KindReversal || *r.Reverses != e2.ID || len(r.Postings) != 3 || !r.Postings[0].Amount.Equal(d("-426.00")) {
			t.Fatalf("reversal = %+v", r)
		}
		if got := balance(t, s, ledger.ExpenseADA, ledger.AsOf{}); got != "0.00" {
			t.Fatalf("expense after reversal = %s", got)
		}
		orig, _ := s.Entry(ctx, e2.ID)
		if orig.ReversedBy == nil || *orig.ReversedBy != r.ID {
			t.Fatalf("original not marked reversed: %+v", orig.ReversedBy)
		}
		again, err := s.Reverse(ctx, ledger.Reversal{EntryID: e2.ID, IdempotencyKey: "rev-ada-1", Reason: "wrong household"})
		if err != nil || !again.Replayed || again.ID != r.ID {
			t.Fatalf("same reversal again = %v, %v", again.Replayed, err)
		}
		_, err = s.Reverse(ctx, ledger.Reversal{EntryID: e2.ID, IdempotencyKey: "rev-ada-1-bis", Reason: "again"})
		if errs.CodeOf(err) != errs.Invalid && errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("second reversal err = %v", err)
		}
		var fe *errs.Error
		if !errors.As(err, &fe) || fe.Field != "entry_id" {
			t.Fatalf("second reversal err = %v, want one naming entry_id", err)
		}
	})
	mustVerify(t, s)
}

func TestPostBadInput(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	if _, err := s.Post(ctx, transfer("ok", ledger.StateFunding, ledger.BankMain, "10.00")); err != nil {
		t.Fatal(err)
	}
	usd, err := s.CreateAccount(ctx, ledger.Account{Code: "bank:usd", Name: "USD account", Type: ledger.Asset, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	line := func(acct, amt string) ledger.Line { return ledger.Line{Account: acct, Amount: d(amt)} }
	entry := func(lines ...ledger.Line) ledger.NewEntry {
		return ledger.NewEntry{IdempotencyKey: uuid.NewString(), EffectiveDate: day, Description: "bad", Lines: lines}
	}
	negZero := decimal.RequireFromString("-0.00")
	tests := []struct {
		name  string
		e     ledger.NewEntry
		field string
	}{
		{"ErrUnbalanced", entry(line(ledger.BankMain, "10.00"), line(ledger.StateFunding, "-9.99")), "lines"},
		{"ErrSinglePosting", entry(line(ledger.BankMain, "10.00")), "lines"},
		{"ErrNoPostings", entry(), "lines"},
		{"ErrZeroAmount", entry(line(ledger.BankMain, "0"), line(ledger.StateFunding, "0")), "lines[0].amount"},
		{"ErrNegativeZero", entry(ledger.Line{Account: ledger.BankMain, Amount: negZero}, line(ledger.StateFunding, "0")), "lines[0].amount"},
		{"ErrThreeDecimals", entry(line(ledger.BankMain, "10.005"), line(ledger.StateFunding, "-10.005")), "lines[0].amount"},
		{"ErrTooLarge", entry(line(ledger.BankMain, "100000000000000000"), line(ledger.StateFunding, "-100000000000000000")), "lines[0].amount"},
		{"ErrOverBound", entry(line(ledger.BankMain, "10000000000000.00"), line(ledger.StateFunding, "-10000000000000.00")), "lines[0].amount"},
		{"ErrNULInMemo", entry(line(ledger.BankMain, "1.00"), ledger.Line{Account: ledger.StateFunding, Amount: d("-1.00"), Memo: "a\x00b"}), "lines[1].memo"},
		{"ErrBadUTF8InMemo", entry(line(ledger.BankMain, "1.00"), ledger.Line{Account: ledger.StateFunding, Amount: d("-1.00"), Memo: "caf\xe9"}), "lines[1].memo"},
		{"ErrNULInKey", ledger.NewEntry{IdempotencyKey: "k\x00", EffectiveDate: day, Description: "x", Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "idempotency_key"},
		{"ErrNULInDescription", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Description: "x\x00", Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "description"},
		{"ErrNULInSourceRef", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Description: "x", SourceRef: "\x00", Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "source_ref"},
		{"ErrNULInMetadataValue", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Description: "x", Metadata: map[string]string{"ref": "a\x00"},
			Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "metadata.ref"},
		{"ErrNULInMetadataKey", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Description: "x", Metadata: map[string]string{"re\x00f": "a"},
			Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "metadata"},
		{"ErrUnknownAccount", entry(line(ledger.BankMain, "1.00"), line("equity:nowhere", "-1.00")), "lines[1].account"},
		{"ErrUnknownControlChild", entry(line(ledger.BankMain, "1.00"), line("bank:main:x", "-1.00")), "lines[1].account"},
		{"ErrBadAccountCode", entry(line(ledger.BankMain, "1.00"), line("Bank Main", "-1.00")), "lines[1].account"},
		{"ErrCurrencyMismatch", entry(ledger.Line{Account: ledger.BankMain, Amount: d("1.00"), Currency: "USD"}, line(ledger.StateFunding, "-1.00")), "lines[0].currency"},
		{"ErrUnbalancedPerCurrency", entry(line(ledger.BankMain, "1.00"), line(usd.Code, "-1.00")), "lines"},
		{"ErrNoKey", ledger.NewEntry{EffectiveDate: day, Description: "x", Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "idempotency_key"},
		{"ErrNoDate", ledger.NewEntry{IdempotencyKey: "k", Description: "x", Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "effective_date"},
		{"ErrNoDescription", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "description"},
		{"ErrBadMetadataKey", ledger.NewEntry{IdempotencyKey: "k", EffectiveDate: day, Description: "x", Metadata: map[string]string{"Bad Key": "v"},
			Lines: []ledger.Line{line(ledger.BankMain, "1"), line(ledger.StateFunding, "-1")}}, "metadata.Bad Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Post(ctx, tt.e)
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	var entries, postings, accounts int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM postings), (SELECT count(*) FROM accounts WHERE parent_code IS NOT NULL)`).
		Scan(&entries, &postings, &accounts); err != nil {
		t.Fatal(err)
	}
	if entries != 1 || postings != 2 || accounts != 0 {
		t.Fatalf("bad input wrote something: %d entries, %d postings, %d sub-ledger accounts", entries, postings, accounts)
	}
	t.Run("ErrNULInReason", func(t *testing.T) {
		_, err := s.Reverse(ctx, ledger.Reversal{EntryID: uuid.New(), IdempotencyKey: "r", Reason: "typo\x00"})
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "reason" {
			t.Fatalf("err = %v, want invalid reason", err)
		}
	})
	t.Run("ErrNULInSealReason", func(t *testing.T) {
		_, err := s.Seal(ctx, "month end\x00")
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "reason" {
			t.Fatalf("err = %v, want invalid reason", err)
		}
	})
	t.Run("ErrNULInAccountName", func(t *testing.T) {
		_, err := s.CreateAccount(ctx, ledger.Account{Code: "bank:nul", Name: "N\x00", Type: ledger.Asset, Currency: "EUR"})
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "name" {
			t.Fatalf("err = %v, want invalid name", err)
		}
	})
	t.Run("ErrReverseUnknown", func(t *testing.T) {
		_, err := s.Reverse(ctx, ledger.Reversal{EntryID: uuid.New(), IdempotencyKey: "r", Reason: "x"})
		var e *errs.Error
		if !errors.As(err, &e) || e.Field != "entry_id" {
			t.Fatalf("err = %v", err)
		}
	})
	mustVerify(t, s)
}

func TestBalanceAsOfAndStatement(t *testing.T) {
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, _ := mustOpen(t, sqlstore.WithClock(clock))
	ctx := context.Background()
	for i := 1; i <= 25; i++ {
		e := transfer(fmt.Sprintf("t%02d", i), ledger.StateFunding, ledger.BankMain, fmt.Sprintf("%d.10", i))
		e.EffectiveDate = ledger.NewDate(2026, 10, i)
		if _, err := s.Post(ctx, e); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
	}
	// Sum of i.10 for i = 1..10 is 55 + 1.00 = 56.00.
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{Date: ledger.NewDate(2026, 10, 10)}); got != "56.00" {
		t.Errorf("as of 2026-10-10 = %s, want 56.00", got)
	}
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{Date: ledger.NewDate(2026, 9, 30)}); got != "0.00" {
		t.Errorf("as of 2026-09-30 = %s, want 0.00", got)
	}
	// Posted at 09:00, 10:00, 11:00: the first three.
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{Time: time.Date(2026, 11, 1, 11, 30, 0, 0, time.UTC)}); got != "6.30" {
		t.Errorf("as of 11:30 = %s, want 6.30", got)
	}
	if got := balance(t, s, ledger.BankMain, ledger.AsOf{}); got != "327.50" {
		t.Errorf("now = %s, want 327.50", got)
	}
	var all []ledger.StatementLine
	q := ledger.StatementQuery{Account: ledger.BankMain, Limit: 10}
	for page := 0; ; page++ {
		st, err := s.Statement(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) > 0 && !st.Opening.Equal(all[len(all)-1].Running) {
			t.Fatalf("page %d opens at %s, previous closed at %s", page, st.Opening, all[len(all)-1].Running)
		}
		all = append(all, st.Lines...)
		if st.NextCursor == "" {
			break
		}
		q.Cursor = st.NextCursor
	}
	if len(all) != 25 || all[24].Running.StringFixed(2) != "327.50" || all[9].Running.StringFixed(2) != "56.00" {
		t.Fatalf("statement: %d lines, last running %s", len(all), all[len(all)-1].Running)
	}
	st, err := s.Statement(ctx, ledger.StatementQuery{Account: ledger.BankMain, From: ledger.NewDate(2026, 10, 11), To: ledger.NewDate(2026, 10, 12)})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lines) != 2 || st.Opening.StringFixed(2) != "56.00" || st.Lines[1].Running.StringFixed(2) != "79.20" {
		t.Fatalf("statement 11-12 Oct: opening %s, %d lines", st.Opening, len(st.Lines))
	}
	if _, err := s.Statement(ctx, ledger.StatementQuery{Account: ledger.BankMain, Cursor: "garbage"}); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("bad cursor err = %v", err)
	}
	tb, err := s.TrialBalance(ctx, ledger.AsOf{Date: ledger.NewDate(2026, 10, 10)})
	if err != nil {
		t.Fatal(err)
	}
	eur := tb.Totals["EUR"]
	if len(tb.Rows) != 2 || eur.Debit.StringFixed(2) != "56.00" || eur.Credit.StringFixed(2) != "56.00" || !eur.Difference.IsZero() {
		t.Fatalf("trial balance = %+v", tb)
	}
}

// TestConcurrentTransfers posts transfers among 20 accounts from 16
// goroutines, every one touching the hot bank account, and checks the
// ledger against an independent sum.
func TestConcurrentTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	s, pool := mustOpen(t)
	ctx := context.Background()
	accts := []string{ledger.BankMain}
	for i := 1; i < 20; i++ {
		accts = append(accts, fmt.Sprintf("payable:C%02d", i))
	}
	const workers, perWorker = 16, 500
	var mu sync.Mutex
	want := map[string]decimal.Decimal{}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				other := accts[1+rng.IntN(len(accts)-1)]
				amt := decimal.New(int64(1+rng.IntN(99999)), -2)
				from, to := ledger.BankMain, other
				if rng.IntN(2) == 0 {
					from, to = other, ledger.BankMain
				}
				_, err := s.Post(ctx, transfer(fmt.Sprintf("w%d-%d", w, i), from, to, amt.StringFixed(2)))
				if err != nil {
					failed.Add(1)
					t.Errorf("transfer: %v", err)
					continue
				}
				ok.Add(1)
				mu.Lock()
				want[to] = want[to].Add(amt)
				want[from] = want[from].Sub(amt)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d transfers succeeded, %d failed", ok.Load(), failed.Load())
	rep := mustVerify(t, s)
	if rep.Entries != ok.Load() {
		t.Fatalf("%d entries, %d successful calls", rep.Entries, ok.Load())
	}
	for _, a := range accts {
		if got := balance(t, s, a, ledger.AsOf{}); got != want[a].StringFixed(2) {
			t.Errorf("balance %s = %s, want %s", a, got, want[a].StringFixed(2))
		}
	}
	var rows int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM account_balances WHERE account_code = $1`, ledger.BankMain).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows < 2 {
		t.Errorf("hot account kept in %d balance row, want it spread over several", rows)
	}
	t.Logf("hot account spread over %d balance rows", rows)
}

func TestIdempotencyUnderConcurrency(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 12)
	errsSeen := make([]error, 12)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.Post(ctx, transfer("same-key", ledger.StateFunding, ledger.BankMain, "42.42"))
			ids[i], errsSeen[i] = e.ID, err
		}()
	}
	wg.Wait()
	for i, err := range errsSeen {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Fatalf("call %d got entry %s, call 0 got %s", i, ids[i], ids[0])
		}
	}
	var n int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&n)
	if n != 1 || balance(t, s, ledger.BankMain, ledger.AsOf{}) != "42.42" {
		t.Fatalf("%d entries, bank %s", n, balance(t, s, ledger.BankMain, ledger.AsOf{}))
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	tamper := []struct {
		name string
		sql  string
		kind string
	}{
		{"PostingAmount", `UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`, "content_hash"},
		{"PostingAmountBothSides", `UPDATE postings SET amount = CASE WHEN line = 0 THEN amount + 1 ELSE amount - 1 END WHERE entry_id = $1`, "content_hash"},
		{"Description", `UPDATE entries SET description = 'something else' WHERE id = $1`, "content_hash"},
		{"PostedAt", `UPDATE entries SET posted_at = posted_at - interval '1 day' WHERE id = $1`, "content_hash"},
		{"DeletedPosting", `DELETE FROM postings WHERE entry_id = $1 AND line = 1`, "content_hash"},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			s, pool := mustOpen(t)
			e, err := s.Post(ctx, transfer("victim", ledger.StateFunding, ledger.BankMain, "250.00"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Post(ctx, transfer("bystander", ledger.StateFunding, ledger.BankMain, "1.00")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Seal(ctx, "test"); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s)
			if _, err := pool.Exec(ctx, tt.sql, e.ID); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatal("verify passed after tampering")
			}
			found := false
			for _, p := range rep.Problems {
				if p.EntryID == e.ID.String() && p.Kind == tt.kind {
					found = true
				}
			}
			if !found {
				t.Fatalf("verify did not name entry %s (%s): %+v", e.ID, tt.kind, rep.Problems)
			}
		})
	}
	t.Run("SealHash", func(t *testing.T) {
		s, pool := mustOpen(t)
		if _, err := s.Post(ctx, transfer("a", ledger.StateFunding, ledger.BankMain, "1.00")); err != nil {
			t.Fatal(err)
		}
		seal, err := s.Seal(ctx, "test")
		if err != nil || seal == nil || seal.EntryCount != 1 {
			t.Fatalf("seal = %+v, %v", seal, err)
		}
		if again, err := s.Seal(ctx, "test"); err != nil || again != nil {
			t.Fatalf("second seal = %+v, %v; want nothing to seal", again, err)
		}
		if _, err := pool.Exec(ctx, `UPDATE seals SET entry_count = 2`); err != nil {
			t.Fatal(err)
		}
		rep, _ := s.Verify(ctx)
		if rep.OK || rep.Problems[0].Kind != "seal" {
			t.Fatalf("verify = %+v", rep)
		}
	})
}

func bulkOf(key string, n int, chunk int) ledger.BulkEntry {
	return ledger.BulkEntry{
		IdempotencyKey: key, EffectiveDate: day, Description: "ADA 2026-10", Contra: ledger.ExpenseADA, ChunkSize: chunk,
		Lines: func(yield func(ledger.Line) error) error {
			for i := range n {
				amt := decimal.New(-int64(30000+i%15000), -2)
				if err := yield(ledger.Line{Account: fmt.Sprintf("payable:B%06d", i), Amount: amt, Memo: fmt.Sprintf("line %d", i)}); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func TestPostBulk(t *testing.T) {
	for _, m := range []struct {
		name   string
		method sqlstore.BulkMethod
	}{{"Copy", sqlstore.BulkCopy}, {"Insert", sqlstore.BulkInsert}} {
		t.Run(m.name, func(t *testing.T) {
			s, pool := mustOpen(t, sqlstore.WithBulkMethod(m.method))
			ctx := context.Background()
			const n = 2500
			var want decimal.Decimal
			for i := range n {
				want = want.Add(decimal.New(int64(30000+i%15000), -2))
			}
			b := bulkOf("run-2026-10", n, 1000)
			var progress []int64
			b.Progress = func(l int64) { progress = append(progress, l) }
			e, err := s.PostBulk(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			// 2,500 lines in chunks of 1,000: three chunks, three contra lines.
			if e.Status != ledger.StatusPosted || e.LineCount != n+3 || len(progress) != 3 || progress[2] != n+3 {
				t.Fatalf("entry = %+v, progress %v", e, progress)
			}
			if got := balance(t, s, ledger.ExpenseADA, ledger.AsOf{}); got != want.StringFixed(2) {
				t.Fatalf("expense = %s, want %s", got, want.StringFixed(2))
			}
			if got := balance(t, s, "payable:B000007", ledger.AsOf{}); got != "-300.07" {
				t.Fatalf("payable:B000007 = %s", got)
			}
			var contraRows int64
			_ = pool.QueryRow(ctx, `SELECT count(*) FROM postings WHERE account_code = $1`, ledger.ExpenseADA).Scan(&contraRows)
			if contraRows != 3 {
				t.Fatalf("hot account touched %d times, want once per chunk (3)", contraRows)
			}
			again, err := s.PostBulk(ctx, bulkOf("run-2026-10", n, 1000))
			if err != nil || !again.Replayed || again.ID != e.ID {
				t.Fatalf("replay = %+v, %v", again, err)
			}
			if _, err := s.PostBulk(ctx, bulkOf("run-2026-10", n+1, 1000)); errs.CodeOf(err) != errs.Conflict {
				t.Fatalf("same key other lines: err = %v", err)
			}
			// Posting does not seal: the entry waits for the next seal.
			rep := mustVerify(t, s)
			if rep.Seals != 0 {
				t.Fatalf("bulk posting sealed itself: %+v", rep)
			}
			if _, err := s.Seal(ctx, "after the run"); err != nil {
				t.Fatal(err)
			}
			if rep = mustVerify(t, s); rep.Seals < 1 {
				t.Fatalf("bulk posting was not sealed: %+v", rep)
			}
			r, err := s.Reverse(ctx, ledger.Reversal{EntryID: e.ID, IdempotencyKey: "rev-run", Reason: "recomputed"})
			if err != nil {
				t.Fatal(err)
			}
			if r.LineCount != e.LineCount || balance(t, s, ledger.ExpenseADA, ledger.AsOf{}) != "0.00" {
				t.Fatalf("reversal %d lines, expense %s", r.LineCount, balance(t, s, ledger.ExpenseADA, ledger.AsOf{}))
			}
			mustVerify(t, s)
		})
	}
}

func TestPostBulkBadLineWritesNothing(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	b := bulkOf("bad-run", 2500, 1000)
	inner := b.Lines
	b.Lines = func(yield func(ledger.Line) error) error {
		i := 0
		return inner(func(l ledger.Line) error {
			if i == 2100 {
				l.Amount = d("12.345")
			}
			i++
			return yield(l)
		})
	}
	_, err := s.PostBulk(ctx, b)
	var e *errs.Error
	if !errors.As(err, &e) || e.Field != "lines[2100].amount" {
		t.Fatalf("err = %v, want lines[2100].amount", err)
	}
	var n int64
	_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM postings) + (SELECT count(*) FROM entries)`).Scan(&n)
	if n != 0 {
		t.Fatalf("bad bulk entry wrote %d rows", n)
	}
}

// TestBalanceOverflowIsInvalid takes a balance close to what DECIMAL(19,2)
// holds with a bulk entry, whose lines, each under the bound of a posting,
// add up on one account: an entry that would take it beyond is an invalid
// request naming its lines, not a database failure, and changes nothing;
// a bulk entry whose lines alone sum beyond it is refused before anything
// is written.
func TestBalanceOverflowIsInvalid(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	for _, a := range []ledger.Account{
		{Code: "test:hoard", Name: "Hoard", Type: ledger.Asset, Currency: "EUR"},
		{Code: "test:source", Name: "Source", Type: ledger.Equity, Currency: "EUR"},
		{Code: "test:other", Name: "Other", Type: ledger.Equity, Currency: "EUR"},
	} {
		if _, err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	most := d("9999999999999.99") // the largest posting
	bulk := func(key, contra string, n int) ledger.BulkEntry {
		return ledger.BulkEntry{IdempotencyKey: key, EffectiveDate: day, Description: "fill", Contra: contra,
			Lines: func(yield func(ledger.Line) error) error {
				for range n {
					if err := yield(ledger.Line{Account: "test:hoard", Amount: most}); err != nil {
						return err
					}
				}
				return nil
			}}
	}
	if _, err := s.PostBulk(ctx, bulk("fill", "test:source", 9999)); err != nil {
		t.Fatal(err)
	}
	full := most.Mul(decimal.NewFromInt(9999))
	if got := balance(t, s, "test:hoard", ledger.AsOf{}); got != full.StringFixed(2) {
		t.Fatalf("hoard = %s, want %s", got, full.StringFixed(2))
	}
	count := func() (n int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries) + (SELECT count(*) FROM postings)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()

	// Two more of the largest postings take the hoard to 10,001 of them:
	// beyond 10^17.
	more := ledger.NewEntry{IdempotencyKey: "two-more", EffectiveDate: day, Description: "two more", Lines: []ledger.Line{
		{Account: "test:hoard", Amount: most}, {Account: "test:hoard", Amount: most},
		{Account: "test:source", Amount: most.Neg()}, {Account: "test:source", Amount: most.Neg()}}}
	_, err := s.Post(ctx, more)
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "lines" || !strings.Contains(e.Message, "beyond 100000000000000000") {
		t.Fatalf("post beyond the balance's range: err = %v, want invalid lines", err)
	}
	if _, err := s.PostBulk(ctx, bulk("too-much", "test:other", 10001)); !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "lines" {
		t.Fatalf("bulk entry beyond the contra's range: err = %v, want invalid lines", err)
	}
	if n := count(); n != before {
		t.Fatalf("refused entries wrote %d rows", n-before)
	}
	if got := balance(t, s, "test:hoard", ledger.AsOf{}); got != full.StringFixed(2) {
		t.Fatalf("hoard = %s after refused entries, want %s", got, full.StringFixed(2))
	}
	if got := balance(t, s, "test:other", ledger.AsOf{}); got != "0.00" {
		t.Fatalf("other = %s after a refused bulk entry, want 0.00", got)
	}
	mustVerify(t, s)
}

// TestPostBulkResumes interrupts a bulk entry after its second chunk and
// posts it again: the entry completes with each line once.
func TestPostBulkResumes(t *testing.T) {
	s, pool := mustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	b := bulkOf("resumed", 3000, 1000)
	b.Progress = func(l int64) {
		if l >= 2000 {
			cancel()
		}
	}
	if _, err := s.PostBulk(ctx, b); err == nil {
		t.Fatal("interrupted bulk entry reported success")
	}
	var status string
	_ = pool.QueryRow(context.Background(), `SELECT status FROM entries`).Scan(&status)
	if status != "open" {
		t.Fatalf("status after interruption = %q", status)
	}
	e, err := s.PostBulk(context.Background(), bulkOf("resumed", 3000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	var postings int64
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM postings`).Scan(&postings)
	if e.Status != ledger.StatusPosted || postings != 3003 {
		t.Fatalf("status %s, %d postings, want 3003", e.Status, postings)
	}
	mustVerify(t, s)
}
