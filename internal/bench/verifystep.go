package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// tailShare is the share of the postings of step v posted after the last
// seal: one in a hundred.
const tailShare = 100

// verifyStep measures (v): verify of a ledger of at least n postings, all
// but about one in a hundred sealed, read whole (full) and from the last
// seal (incremental). The postings missing after the earlier steps are
// posted first as one bulk entry, then the ledger is sealed, then n/100
// postings of two-line transfers between cold accounts follow; none of that
// is timed.
func (e *env) verifyStep(ctx context.Context, n int) ([]Result, error) {
	var have int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM postings`).Scan(&have); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tail := max(n/tailShare, 2)
	if missing := int64(n-tail) - have; missing > 0 {
		lines := int(missing) - 1 // and the contra line
		e.prog.Step(fmt.Sprintf("v post %d lines", lines), int64(lines))
		_, err := e.svc.PostBulk(ctx, ledger.BulkEntry{
			IdempotencyKey: fmt.Sprintf("bench-verify-%d", n), EffectiveDate: e.day, Description: "Benchmark postings to verify",
			SourceRef: "bench", Contra: ledger.ExpenseADA, ChunkSize: e.opts.ChunkSize,
			Lines: func(yield func(ledger.Line) error) error {
				amt := newAmounts(e.opts.Seed)
				for i := range lines {
					if err := yield(ledger.Line{Account: beneficiary(i), Amount: amt.next(), Memo: bulkMemo}); err != nil {
						return err
					}
				}
				return nil
			},
			Progress: func(k int64) { e.prog.Set(min(k, int64(lines))) },
		})
		e.prog.Done()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	if _, err := e.svc.Seal(ctx, "bench"); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if err := e.postTail(ctx, tail/2); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	e.settle(ctx)
	var out []Result
	for _, full := range []bool{true, false} {
		name := "verify --full"
		if !full {
			name = "verify (from the last seal)"
		}
		e.prog.Step("v "+name, -1)
		start := time.Now()
		rep, err := e.svc.VerifyWith(ctx, ledger.VerifyOptions{Full: full})
		took := time.Since(start)
		e.prog.Done()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if !rep.OK {
			return nil, fmt.Errorf("verify: %d problems, the first %+v", len(rep.Problems), rep.Problems[0])
		}
		out = append(out, Result{Step: "v", Name: name, N: rep.Postings, Seconds: took.Seconds(), Rate: rate(rep.Postings, took),
			Unit: "postings read/s", Note: fmt.Sprintf("%s mode over a ledger of at least %d postings, %d posted after the last seal (%d entries, %d accounts, %d seals read)",
				rep.Mode, n, tail, rep.Entries, rep.Accounts, rep.Seals)})
	}
	return out, nil
}

// postTail posts k two-line transfers between cold accounts from four
// clients.
func (e *env) postTail(ctx context.Context, k int) error {
	e.prog.Step(fmt.Sprintf("v post %d transfers after the seal", k), int64(k))
	defer e.prog.Done()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		done  int64
	)
	const clients = 4
	for c := range clients {
		wg.Go(func() {
			for i := c; i < k; i += clients {
				n := e.opts.ColdAccounts
				amt := decimal.New(int64(100+i%49900), -2)
				_, err := e.svc.Post(ctx, ledger.NewEntry{
					IdempotencyKey: fmt.Sprintf("bench-verify-tail-%d", i), EffectiveDate: e.day, Description: "Benchmark transfer",
					Lines: []ledger.Line{{Account: cold(i % n), Amount: amt}, {Account: cold((i + 1) % n), Amount: amt.Neg()}},
				})
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				done++
				if c == 0 {
					e.prog.Set(done)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
