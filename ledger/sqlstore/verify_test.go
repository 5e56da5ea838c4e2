package sqlstore_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// bulkFor is a bulk entry of n lines to the beneficiaries prefix000000,
// prefix000001, ...
func bulkFor(key, prefix string, n, chunk int) ledger.BulkEntry {
	return ledger.BulkEntry{
		IdempotencyKey: key, EffectiveDate: day, Description: "ADA " + key, Contra: ledger.ExpenseADA, ChunkSize: chunk,
		Lines: func(yield func(ledger.Line) error) error {
			for i := range n {
				if err := yield(ledger.Line{Account: fmt.Sprintf("payable:%s%06d", prefix, i), Amount: decimal.New(-int64(100+i), -2)}); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// sealCounts returns the number of entries of each seal, in order.
func sealCounts(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT entry_count FROM seals ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSealInChunks: a seal covers at most the chunk size of entries, each
// chunk its own seal chained to the one before; a call stopped after its
// first chunk leaves that seal valid, and the next call seals the rest.
func TestSealInChunks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var armed atomic.Bool
	var calls atomic.Int32
	clock := func() time.Time {
		// The clock stamps each seal inside its transaction: stopping the
		// call there keeps the second seal from being committed.
		if armed.Load() && calls.Add(1) == 2 {
			cancel()
		}
		return time.Now()
	}
	s, pool := mustOpen(t, sqlstore.WithSealChunk(100), sqlstore.WithClock(clock))
	bg := context.Background()
	post := func(prefix string, n int) {
		for i := range n {
			if _, err := s.Post(bg, transfer(fmt.Sprintf("%s-%d", prefix, i), ledger.StateFunding, ledger.BankMain, "1.00")); err != nil {
				t.Fatal(err)
			}
		}
	}
	post("a", 250)
	seal, err := s.Seal(bg, "month end")
	if err != nil || seal == nil || seal.Seq != 3 || seal.EntryCount != 50 || seal.Reason != "month end" {
		t.Fatalf("seal = %+v, %v; want the third seal, of 50 entries", seal, err)
	}
	if got := sealCounts(t, pool); !reflect.DeepEqual(got, []int64{100, 100, 50}) {
		t.Fatalf("seals cover %v entries, want [100 100 50]", got)
	}
	if rep := mustVerify(t, s); rep.Seals != 3 || rep.Entries != 250 {
		t.Fatalf("report = %+v", rep)
	}

	post("b", 250)
	armed.Store(true)
	if _, err := s.Seal(ctx, "stopped"); err == nil {
		t.Fatal("a seal stopped part-way reported success")
	}
	armed.Store(false)
	if got := sealCounts(t, pool); !reflect.DeepEqual(got, []int64{100, 100, 50, 100}) {
		t.Fatalf("after the stop, seals cover %v entries, want [100 100 50 100]", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM entries WHERE seal_seq IS NULL`); n != 150 {
		t.Fatalf("%d entries unsealed after the stop, want 150", n)
	}
	mustVerify(t, s)
	seal, err = s.Seal(bg, "resumed")
	if err != nil || seal == nil || seal.Seq != 6 || seal.EntryCount != 50 {
		t.Fatalf("resumed seal = %+v, %v; want the sixth, of 50 entries", seal, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM entries WHERE seal_seq IS NULL`); n != 0 {
		t.Fatalf("%d entries unsealed, want none", n)
	}
	if rep := mustVerify(t, s); rep.Seals != 6 || rep.Entries != 500 {
		t.Fatalf("report = %+v", rep)
	}
}

// TestBulkPostedWhenItsSealFails: the seal that follows a bulk posting
// gives up (another sealer holds the seal head longer than the role's
// lock_timeout); the posting still succeeds, and the next seal takes it.
func TestBulkPostedWhenItsSealFails(t *testing.T) {
	ctx := context.Background()
	pool, dsn := dbtest.MustOpen(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("lock_timeout", "200")
	u.RawQuery = q.Encode()
	impatient, err := db.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(impatient.Close)
	s := sqlstore.New(impatient)
	if err := ledger.SetUpChart(ctx, s); err != nil {
		t.Fatal(err)
	}
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Rollback(ctx) }()
	if _, err := hold.Exec(ctx, `SELECT seq FROM seal_head WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx, "blocked"); err == nil {
		t.Fatal("a seal succeeded while the seal head was held")
	}
	e, err := s.PostBulk(ctx, bulkFor("held", "H", 1200, 500))
	if err != nil {
		t.Fatalf("bulk posting failed because its seal did: %v", err)
	}
	if e.Status != ledger.StatusPosted || e.LineCount != 1203 {
		t.Fatalf("entry = %+v", e)
	}
	if n := count(t, pool, `SELECT count(*) FROM entries WHERE seal_seq IS NULL AND status = 'posted'`); n != 1 {
		t.Fatalf("%d posted entries unsealed, want the bulk entry", n)
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	seal, err := s.Seal(ctx, "after")
	if err != nil || seal == nil || seal.EntryCount != 1 {
		t.Fatalf("seal = %+v, %v; want the bulk entry sealed", seal, err)
	}
	mustVerify(t, s)
}

// TestSealWhileBulkPosting runs sealers, in chunks of a few entries, while
// bulk entries and single entries are posted: every posting succeeds, the
// ledger verifies, and a last seal leaves no posted entry unsealed.
func TestSealWhileBulkPosting(t *testing.T) {
	s, pool := mustOpen(t, sqlstore.WithSealChunk(3))
	ctx := context.Background()
	const bulks, lines = 4, 900
	var (
		wg      sync.WaitGroup
		posting sync.WaitGroup
		mu      sync.Mutex
		ids     []uuid.UUID
		seals   atomic.Int64
	)
	for i := range bulks {
		posting.Add(1)
		go func() {
			defer posting.Done()
			e, err := s.PostBulk(ctx, bulkFor(fmt.Sprintf("run-%d", i), fmt.Sprintf("R%d-", i), lines, 200))
			if err != nil {
				t.Errorf("bulk entry %d: %v", i, err)
				return
			}
			if e.Status != ledger.StatusPosted || e.LineCount != lines+5 {
				t.Errorf("bulk entry %d = %+v", i, e)
			}
			mu.Lock()
			ids = append(ids, e.ID)
			mu.Unlock()
		}()
	}
	for w := range 2 {
		posting.Add(1)
		go func() {
			defer posting.Done()
			for i := range 40 {
				if _, err := s.Post(ctx, transfer(fmt.Sprintf("t%d-%d", w, i), ledger.StateFunding, ledger.BankMain, "2.00")); err != nil {
					t.Errorf("transfer %d-%d: %v", w, i, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				seal, err := s.Seal(ctx, "hourly")
				if err != nil {
					// A sealer may give up; the next one seals what it left.
					t.Logf("seal: %v", err)
				}
				if seal != nil {
					seals.Add(1)
				}
			}
		}()
	}
	posting.Wait()
	close(done)
	wg.Wait()
	if t.Failed() {
		return
	}
	if seals.Load() == 0 {
		t.Fatal("no seal was made while posting")
	}
	if _, err := s.Seal(ctx, "last"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM entries WHERE seal_seq IS NULL OR status <> 'posted'`); n != 0 {
		t.Fatalf("%d entries unsealed or open after the last seal", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM entries WHERE id = ANY($1) AND status = 'posted' AND line_count = $2`, ids, lines+5); n != bulks {
		t.Fatalf("%d bulk entries posted whole, want %d", n, bulks)
	}
	rep := mustVerify(t, s)
	var sealed int64
	for _, c := range sealCounts(t, pool) {
		if c > 3 {
			t.Fatalf("a seal covers %d entries, more than its chunk", c)
		}
		sealed += c
	}
	if rep.Entries != bulks+80 || sealed != rep.Entries {
		t.Fatalf("%d entries, %d sealed; want %d, all", rep.Entries, sealed, bulks+80)
	}
}

// withoutTime is a report without its duration, to compare reports.
func withoutTime(r ledger.VerifyReport) ledger.VerifyReport {
	r.Took = ""
	return r
}

// TestVerifyPagesGiveOneReport verifies a ledger of a few thousand entries,
// sound and then tampered with in several places, with pages of many sizes:
// the reports are the same, and each tampering is found whichever page it
// falls in.
func TestVerifyPagesGiveOneReport(t *testing.T) {
	s, pool := mustOpen(t, sqlstore.WithSealChunk(97))
	ctx := context.Background()
	const transfers = 2400
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < transfers; i += 3 {
				if _, err := s.Post(ctx, transfer(fmt.Sprintf("t-%d", i), ledger.StateFunding, ledger.BankMain, fmt.Sprintf("%d.%02d", 1+i%50, i%100))); err != nil {
					t.Errorf("transfer %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	bulk, err := s.PostBulk(ctx, bulkFor("run", "B", 1200, 250))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx, "month end"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 { // posted after the last seal
		if _, err := s.Post(ctx, transfer(fmt.Sprintf("late-%d", i), ledger.StateFunding, ledger.BankMain, "3.00")); err != nil {
			t.Fatal(err)
		}
	}
	reports := func() ledger.VerifyReport {
		t.Helper()
		var first ledger.VerifyReport
		for i, page := range []int{1 << 20, 7, 50, 1000} {
			rep, err := sqlstore.New(pool, sqlstore.WithVerifyPage(page)).Verify(ctx)
			if err != nil {
				t.Fatalf("verify with pages of %d: %v", page, err)
			}
			if i == 0 {
				first = rep
				continue
			}
			if !reflect.DeepEqual(withoutTime(rep), withoutTime(first)) {
				t.Fatalf("pages of %d report\n%+v\nin one page:\n%+v", page, rep, first)
			}
		}
		return first
	}
	rep := reports()
	seals := int64(len(sealCounts(t, pool)))
	if !rep.OK || rep.Entries != transfers+31 || rep.Postings != 2*transfers+1205+60 || rep.Seals != seals || seals < 25 || rep.Open != 0 {
		t.Fatalf("sound ledger: %+v (%d seals)", rep, seals)
	}

	// The entries in key order: victims far into the ledger fall in late
	// pages whatever their size.
	rows, err := pool.Query(ctx, `SELECT id FROM entries WHERE kind = 'standard' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	amended, deleted, orphan := byID[1777], byID[301], uuid.New()
	for _, sql := range []struct {
		q    string
		args []any
	}{
		{`UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`, []any{amended}},
		{`DELETE FROM postings WHERE entry_id = $1 AND line = 1`, []any{deleted}},
		{`UPDATE postings SET memo = 'changed' WHERE entry_id = $1 AND line = 777`, []any{bulk.ID}},
		{`DELETE FROM postings WHERE entry_id = $1 AND line = 100`, []any{bulk.ID}},
		{`UPDATE seals SET hash = '\x00' WHERE seq = $1`, []any{seals / 2}},
		{`INSERT INTO postings (entry_id, line, account_code, amount, currency, effective_date, posted_at)
			VALUES ($1, 0, $2, 9.99, 'EUR', '2026-11-05', now())`, []any{orphan, ledger.BankMain}},
	} {
		if _, err := pool.Exec(ctx, sql.q, sql.args...); err != nil {
			t.Fatal(err)
		}
	}
	rep = reports()
	want := map[string]bool{
		"unbalanced_entry " + amended.String():             false,
		"unbalanced_entry " + deleted.String():             false,
		"content_hash " + amended.String():                 false,
		"content_hash " + deleted.String():                 false,
		"content_hash " + bulk.ID.String():                 false,
		"unbalanced_entry " + bulk.ID.String():             false,
		"balance_mismatch payable:B000100":                 false,
		"unbalanced_entry " + orphan.String():              false,
		"bad_posting " + orphan.String() + ledger.BankMain: false,
		"balance_mismatch " + ledger.BankMain:              false,
		"balance_mismatch " + ledger.StateFunding:          false,
		"trial_balance ":                                   false,
		fmt.Sprintf("seal %d", seals/2):                    false,
		fmt.Sprintf("seal %d", seals/2+1):                  false,
	}
	for _, p := range rep.Problems {
		k := p.Kind + " " + p.EntryID + p.Account
		if p.Kind == "seal" {
			k = fmt.Sprintf("seal %d", p.Seal)
		}
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected problem %+v", p)
		}
		want[k] = true
	}
	for k, found := range want {
		if !found {
			t.Errorf("verify did not report %s: %+v", k, rep.Problems)
		}
	}
}

// TestVerifyWhilePosting verifies, in small pages, over and over while
// entries, bulk entries and seals are being written: no run reports a
// problem.
func TestVerifyWhilePosting(t *testing.T) {
	s, _ := mustOpen(t, sqlstore.WithSealChunk(20), sqlstore.WithVerifyPage(10))
	ctx := context.Background()
	var posting, background sync.WaitGroup
	for w := range 2 {
		posting.Add(1)
		go func() {
			defer posting.Done()
			for i := range 150 {
				if _, err := s.Post(ctx, transfer(fmt.Sprintf("t%d-%d", w, i), ledger.StateFunding, ledger.BankMain, "5.00")); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		}()
	}
	// One verify runs while the first bulk entry is half written, its
	// chunks read a few at a time.
	var (
		mid    ledger.VerifyReport
		midErr error
		once   sync.Once
	)
	posting.Add(1)
	go func() {
		defer posting.Done()
		for i := range 2 {
			b := bulkFor(fmt.Sprintf("run-%d", i), fmt.Sprintf("V%d-", i), 600, 60)
			if i == 0 {
				b.Progress = func(n int64) {
					if n >= 180 {
						once.Do(func() { mid, midErr = s.Verify(ctx) })
					}
				}
			}
			if _, err := s.PostBulk(ctx, b); err != nil {
				t.Errorf("bulk entry: %v", err)
				return
			}
		}
	}()
	done := make(chan struct{})
	var runs atomic.Int64
	background.Add(2)
	go func() {
		defer background.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			_, _ = s.Seal(ctx, "hourly")
		}
	}()
	go func() {
		defer background.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Errorf("verify: %v", err)
				return
			}
			if !rep.OK {
				t.Errorf("verify while posting found problems: %+v", rep.Problems)
				return
			}
			runs.Add(1)
		}
	}()
	posting.Wait()
	close(done)
	background.Wait()
	if midErr != nil || !mid.OK || mid.Open < 1 {
		t.Fatalf("verify with a bulk entry half written: %+v, %v; want no problem and the entry open", mid, midErr)
	}
	if runs.Load() < 2 {
		t.Fatalf("verify ran %d times while posting, want several", runs.Load())
	}
	if _, err := s.Seal(ctx, "last"); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, s); rep.Entries != 302 || rep.Open != 0 {
		t.Fatalf("report = %+v", rep)
	}
}
