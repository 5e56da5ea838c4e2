package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// TestBulkSealsMonthAfterMonth posts three monthly bulk entries: the first
// over new beneficiaries (its seal inserts their sealed balances), the
// second over the same ones (its seal updates them) and the third over
// some of them and new ones (both). Balances are to the cent, every entry
// is sealed, and verify proves the books in full and from the last seal.
func TestBulkSealsMonthAfterMonth(t *testing.T) {
	for _, m := range []struct {
		name   string
		method sqlstore.BulkMethod
	}{{"Copy", sqlstore.BulkCopy}, {"Insert", sqlstore.BulkInsert}} {
		t.Run(m.name, func(t *testing.T) {
			s, pool := mustOpen(t, sqlstore.WithBulkMethod(m.method))
			ctx := context.Background()
			month := func(key string, from, n int) ledger.BulkEntry {
				return ledger.BulkEntry{IdempotencyKey: key, EffectiveDate: day, Description: key, Contra: ledger.ExpenseADA, ChunkSize: 700,
					Lines: func(yield func(ledger.Line) error) error {
						for i := from; i < from+n; i++ {
							if err := yield(ledger.Line{Account: fmt.Sprintf("payable:M%05d", i), Amount: decimal.New(-int64(10000+i), -2)}); err != nil {
								return err
							}
						}
						return nil
					},
				}
			}
			for _, b := range []ledger.BulkEntry{month("ada-2026-10", 0, 1500), month("ada-2026-11", 0, 1500), month("ada-2026-12", 1000, 1500)} {
				if _, err := s.PostBulk(ctx, b); err != nil {
					t.Fatalf("%s: %v", b.IdempotencyKey, err)
				}
				// Each month is sealed before the next is posted, as
				// ledgerd's periodic seal would between two runs.
				if _, err := s.Seal(ctx, b.IdempotencyKey); err != nil {
					t.Fatalf("seal %s: %v", b.IdempotencyKey, err)
				}
			}
			// M00999 was paid twice, M01000 three times, M02000 once.
			for acct, want := range map[string]string{"payable:M00999": "-219.98", "payable:M01000": "-330.00", "payable:M02000": "-120.00"} {
				if got := balance(t, s, acct, ledger.AsOf{}); got != want {
					t.Errorf("%s = %s, want %s", acct, got, want)
				}
			}
			var unsealed, sealedRows int64
			var sealedSum decimal.Decimal
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM entries WHERE seal_seq IS NULL`).Scan(&unsealed); err != nil || unsealed != 0 {
				t.Fatalf("%d entries left unsealed (%v)", unsealed, err)
			}
			if err := pool.QueryRow(ctx, `SELECT count(*), sum(balance) FROM sealed_balances WHERE account_code LIKE 'payable:M%'`).Scan(&sealedRows, &sealedSum); err != nil {
				t.Fatal(err)
			}
			// 2,500 beneficiaries; the lines pay 100.00 + i/100 each.
			want := decimal.Zero
			for _, r := range [][2]int{{0, 1500}, {0, 1500}, {1000, 2500}} {
				for i := r[0]; i < r[1]; i++ {
					want = want.Sub(decimal.New(int64(10000+i), -2))
				}
			}
			if sealedRows != 2500 || !sealedSum.Equal(want) {
				t.Fatalf("sealed balances: %d rows summing to %s, want 2500 summing to %s", sealedRows, sealedSum, want)
			}
			for _, o := range []ledger.VerifyOptions{{Full: true}, {}} {
				rep, err := s.VerifyWith(ctx, o)
				if err != nil || !rep.OK {
					t.Fatalf("verify full %t: %+v, %v", o.Full, rep.Problems, err)
				}
			}
		})
	}
}

// TestPostBulkBadAccountWritesNothing: a line naming an account that does
// not exist, or one kept in another currency than the contra account, is
// refused by its index before anything is written.
func TestPostBulkBadAccountWritesNothing(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, ledger.Account{Code: "bank:usd", Name: "USD account", Type: ledger.Asset, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		account, message string
	}{
		{"nowhere:B1", `account "nowhere:B1" does not exist`},
		{"bank:usd", "account bank:usd is kept in USD, the contra account in EUR"},
	} {
		b := bulkOf("bad-account-"+c.account, 2500, 1000)
		inner := b.Lines
		b.Lines = func(yield func(ledger.Line) error) error {
			i := 0
			return inner(func(l ledger.Line) error {
				if i == 1700 {
					l.Account = c.account
				}
				i++
				return yield(l)
			})
		}
		_, err := s.PostBulk(ctx, b)
		var e *errs.Error
		if !errors.As(err, &e) || e.Field != "lines[1700].account" || e.Message != c.message {
			t.Fatalf("%s: err = %v, want lines[1700].account: %s", c.account, err, c.message)
		}
	}
	var n int64
	_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM postings) + (SELECT count(*) FROM entries)`).Scan(&n)
	if n != 0 {
		t.Fatalf("bad bulk entries wrote %d rows", n)
	}
}
