package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

var (
	incremental = ledger.VerifyOptions{}
	full        = ledger.VerifyOptions{Full: true}
)

func verifyWith(t *testing.T, s *sqlstore.Store, o ledger.VerifyOptions) ledger.VerifyReport {
	t.Helper()
	rep, err := s.VerifyWith(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// problemKeys returns the kind and entry or account (or seal) of each
// problem.
func problemKeys(rep ledger.VerifyReport) map[string]bool {
	out := map[string]bool{}
	for _, p := range rep.Problems {
		k := p.Kind + " " + p.EntryID + p.Account
		if p.Kind == "seal" {
			k = fmt.Sprintf("seal %d", p.Seal)
		}
		out[k] = true
	}
	return out
}

// sealedLedger posts a bulk entry of 30 lines and seals it, posts 40
// transfers, seals them, then posts 5 transfers after the seal. It returns a sealed transfer and
// an unsealed one.
func sealedLedger(t *testing.T, opts ...sqlstore.Option) (s *sqlstore.Store, pool *pgxpool.Pool, sealed, tail ledger.Entry) {
	t.Helper()
	ctx := context.Background()
	s, pool = mustOpen(t, opts...)
	if _, err := s.PostBulk(ctx, bulkFor("run", "I", 30, 7)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx, "the run"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		e, err := s.Post(ctx, transfer(fmt.Sprintf("s-%d", i), ledger.StateFunding, ledger.BankMain, fmt.Sprintf("%d.25", 10+i)))
		if err != nil {
			t.Fatal(err)
		}
		if i == 17 {
			sealed = e
		}
	}
	seal, err := s.Seal(ctx, "month end")
	if err != nil || seal == nil || seal.PostingCount == 0 {
		t.Fatalf("seal = %+v, %v", seal, err)
	}
	for i := range 5 {
		e, err := s.Post(ctx, transfer(fmt.Sprintf("t-%d", i), ledger.StateFunding, ledger.BankMain, "3.10"))
		if err != nil {
			t.Fatal(err)
		}
		tail = e
	}
	return s, pool, sealed, tail
}

// TestIncrementalVerifyReadsTheTail: incremental verify reads only the
// entries posted since the last seal, and finds the ledger sound as full
// verify does; after a new seal it reads nothing but accounts and seals.
func TestIncrementalVerifyReadsTheTail(t *testing.T) {
	s, pool, _, _ := sealedLedger(t, sqlstore.WithSealChunk(8))
	inc := verifyWith(t, s, incremental)
	if !inc.OK || inc.Mode != "incremental" || inc.Entries != 5 || inc.Postings != 10 || inc.FromSeal < 6 || inc.Seals != inc.FromSeal {
		t.Fatalf("incremental = %+v", inc)
	}
	all := verifyWith(t, s, full)
	if !all.OK || all.Mode != "full" || all.Entries != 46 || all.Postings != 125 || all.FromSeal != 0 || all.Accounts != inc.Accounts {
		t.Fatalf("full = %+v", all)
	}
	if _, err := s.Seal(context.Background(), "again"); err != nil {
		t.Fatal(err)
	}
	inc = verifyWith(t, s, incremental)
	if !inc.OK || inc.Entries != 0 || inc.Postings != 0 {
		t.Fatalf("incremental after the last seal = %+v", inc)
	}
	// The page size changes nothing.
	for _, page := range []int{1, 3, 1000} {
		rep := verifyWith(t, sqlstore.New(pool, sqlstore.WithVerifyPage(page)), incremental)
		if !reflect.DeepEqual(withoutTime(rep), withoutTime(inc)) {
			t.Fatalf("pages of %d: %+v, want %+v", page, rep, inc)
		}
	}
}

// TestIncrementalVerifyFindsTamperingAfterTheSeal: a change to an entry or
// posting after the last seal is found by incremental verify, as by full.
func TestIncrementalVerifyFindsTamperingAfterTheSeal(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, sql string
		want      []string
	}{
		{"Amount", `UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`,
			[]string{"content_hash %s", "unbalanced_entry %s", "balance_mismatch " + ledger.BankMain, "trial_balance "}},
		{"Deleted", `DELETE FROM postings WHERE entry_id = $1 AND line = 1`,
			[]string{"content_hash %s", "unbalanced_entry %s", "balance_mismatch " + ledger.StateFunding, "trial_balance "}},
		{"Description", `UPDATE entries SET description = 'x' WHERE id = $1`, []string{"content_hash %s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, pool, _, tail := sealedLedger(t)
			if _, err := pool.Exec(ctx, tt.sql, tail.ID); err != nil {
				t.Fatal(err)
			}
			for _, o := range []ledger.VerifyOptions{incremental, full} {
				got := problemKeys(verifyWith(t, s, o))
				want := map[string]bool{}
				for _, k := range tt.want {
					if len(k) > 2 && k[len(k)-2:] == "%s" {
						k = fmt.Sprintf(k, tail.ID)
					}
					want[k] = true
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("full %t: problems %v, want %v", o.Full, got, want)
				}
			}
		})
	}
}

// TestTamperingBeforeTheSeal: what incremental verify finds of a change to
// what the last seal covers, and what only full verify finds.
func TestTamperingBeforeTheSeal(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		sql  []string
		// inc is what incremental verify reports; nil when it cannot see
		// the change, which full verify finds.
		inc, full []string
	}{
		// A sealed posting changed alone: its stored balance no longer
		// equals its postings. Incremental reads neither.
		{"PostingAlone", []string{`UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`}, nil,
			[]string{"content_hash %s", "unbalanced_entry %s", "balance_mismatch " + ledger.BankMain, "trial_balance "}},
		// A sealed posting's memo changed: no balance moves, yet the
		// entry's content hash breaks.
		{"MemoAlone", []string{`UPDATE postings SET memo = 'x' WHERE entry_id = $1 AND line = 0`}, nil, []string{"content_hash %s"}},
		// A sealed posting and the stored balance changed together: the
		// stored balance no longer equals the sealed balance plus the tail.
		{"PostingAndBalance", []string{
			`UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`,
			`UPDATE account_balances SET balance = balance + 1 WHERE account_code = 'bank:main' AND shard = (SELECT min(shard) FROM account_balances WHERE account_code = 'bank:main')`},
			[]string{"balance_mismatch " + ledger.BankMain},
			[]string{"content_hash %s", "unbalanced_entry %s", "sealed_balance " + ledger.BankMain, "trial_balance "}},
		// Postings, stored and sealed balances changed together: the
		// balances digest of the seal no longer matches.
		{"PostingAndBothBalances", []string{
			`UPDATE postings SET amount = amount + 1 WHERE entry_id = $1 AND line = 0`,
			`UPDATE account_balances SET balance = balance + 1 WHERE account_code = 'bank:main' AND shard = (SELECT min(shard) FROM account_balances WHERE account_code = 'bank:main')`,
			`UPDATE sealed_balances SET balance = balance + 1 WHERE account_code = 'bank:main'`},
			[]string{"seal %d", "trial_balance "},
			[]string{"content_hash %s", "unbalanced_entry %s", "seal %d", "trial_balance "}},
		// A seal's hash changed: its state hash no longer chains, nor does
		// the next seal.
		{"SealHash", []string{`UPDATE seals SET hash = '\x00' WHERE seq = 1`}, []string{"seal 1", "seal 2"}, []string{"seal 1", "seal 2"}},
		// A sealed balance changed alone: the digest no longer matches,
		// and the stored balance no longer equals it plus the tail.
		{"SealedBalanceAlone", []string{`UPDATE sealed_balances SET balance = balance + 1 WHERE account_code = 'bank:main'`},
			[]string{"seal %d", "balance_mismatch " + ledger.BankMain, "trial_balance "},
			[]string{"seal %d", "sealed_balance " + ledger.BankMain}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, pool, sealed, _ := sealedLedger(t)
			var seq int64
			if err := pool.QueryRow(ctx, `SELECT seq FROM seal_head`).Scan(&seq); err != nil {
				t.Fatal(err)
			}
			for _, q := range tt.sql {
				var err error
				if countArgs(q) > 0 {
					_, err = pool.Exec(ctx, q, sealed.ID)
				} else {
					_, err = pool.Exec(ctx, q)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			keys := func(ks []string) map[string]bool {
				out := map[string]bool{}
				for _, k := range ks {
					switch {
					case len(k) > 2 && k[len(k)-2:] == "%s":
						k = fmt.Sprintf(k, sealed.ID)
					case len(k) > 2 && k[len(k)-2:] == "%d":
						k = fmt.Sprintf(k, seq)
					}
					out[k] = true
				}
				return out
			}
			inc := verifyWith(t, s, incremental)
			if got, want := problemKeys(inc), keys(tt.inc); !reflect.DeepEqual(got, want) {
				t.Errorf("incremental: problems %v, want %v", got, want)
			}
			if tt.inc == nil && !inc.OK {
				t.Errorf("incremental found the change: %+v", inc.Problems)
			}
			if got, want := problemKeys(verifyWith(t, s, full)), keys(tt.full); !reflect.DeepEqual(got, want) {
				t.Errorf("full: problems %v, want %v", got, want)
			}
		})
	}
}

func countArgs(q string) int {
	n := 0
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] >= '1' && q[i+1] <= '9' {
			n++
		}
	}
	return n
}

// TestIncrementalAfterSealsWithoutState: on a ledger whose last seal was
// made before seals recorded their state, incremental verify reads
// everything; the next seal records the state of all sealed entries, from
// which incremental verify starts again.
func TestIncrementalAfterSealsWithoutState(t *testing.T) {
	ctx := context.Background()
	s, pool, _, _ := sealedLedger(t)
	// As such a ledger stands once migrated: seals without state, the
	// sealed balances filled from the sealed postings.
	for _, q := range []string{
		`UPDATE seals SET posting_count = NULL, balances_hash = NULL, state_hash = NULL`,
		`UPDATE seal_head SET state_hash = '\x'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rep := verifyWith(t, s, incremental)
	if !rep.OK || rep.Mode != "full" || rep.Entries != 46 {
		t.Fatalf("incremental without sealed state = %+v", rep)
	}
	seal, err := s.Seal(ctx, "first with state")
	if err != nil || seal == nil || seal.PostingCount != 10 {
		t.Fatalf("seal = %+v, %v", seal, err)
	}
	if _, err := s.Post(ctx, transfer("after", ledger.StateFunding, ledger.BankMain, "1.00")); err != nil {
		t.Fatal(err)
	}
	rep = verifyWith(t, s, incremental)
	if !rep.OK || rep.Mode != "incremental" || rep.Entries != 1 || rep.FromSeal != seal.Seq {
		t.Fatalf("incremental = %+v", rep)
	}
	if rep := verifyWith(t, s, full); !rep.OK || rep.Entries != 47 {
		t.Fatalf("full = %+v", rep)
	}
	// A seal after one with state may not drop it.
	if _, err := pool.Exec(ctx, `UPDATE seals SET state_hash = NULL WHERE seq = $1`, seal.Seq); err != nil {
		t.Fatal(err)
	}
	if got := problemKeys(verifyWith(t, s, full)); !got[fmt.Sprintf("seal %d", seal.Seq)] {
		t.Fatalf("full = %v, want seal %d", got, seal.Seq)
	}
}
