package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// op is one transaction of a timed step, run by client w; seq is unique
// across the clients of the step.
type op func(ctx context.Context, w int, r *rand.Rand, seq int64) error

// outcome is what a timed step measured.
type outcome struct {
	done, failed int64
	took         time.Duration
	p50, p99     time.Duration
	firstErr     error
}

// drive runs op from opts.Clients clients for opts.Duration, or until
// opts.Count transactions were started. A transaction that fails is counted
// in failed, not in done; one in flight at the end is waited for.
func (e *env) drive(ctx context.Context, step string, fn op) (outcome, error) {
	var (
		seq, done, failed atomic.Int64
		errOnce           sync.Once
		firstErr          error
		wg                sync.WaitGroup
	)
	clients, count := e.opts.Clients, int64(e.opts.Count)
	lats := make([][]time.Duration, clients)
	if count > 0 {
		e.prog.Step(step, count)
	} else {
		e.prog.Step(step, e.opts.Duration.Milliseconds())
	}
	start := time.Now()
	deadline := start.Add(e.opts.Duration)
	for w := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(e.opts.Seed, uint64(w)+1))
			for ctx.Err() == nil {
				s := seq.Add(1)
				if (count > 0 && s > count) || (count <= 0 && !time.Now().Before(deadline)) {
					return
				}
				t0 := time.Now()
				if err := fn(ctx, w, r, s); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						errOnce.Do(func() { firstErr = err })
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-tick.C:
			if count > 0 {
				e.prog.Set(done.Load() + failed.Load())
			} else {
				e.prog.Set(min(time.Since(start), e.opts.Duration).Milliseconds())
			}
		}
	}
	took := time.Since(start)
	e.prog.Done()
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return outcome{
		done: done.Load(), failed: failed.Load(), took: took, firstErr: firstErr,
		p50: percentile(all, 0.50), p99: percentile(all, 0.99),
	}, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (o outcome) result(step, name, unit, note string) Result {
	if o.firstErr != nil {
		note += fmt.Sprintf("; first error: %v", o.firstErr)
	}
	return Result{
		Step: step, Name: name, N: o.done, Seconds: o.took.Seconds(), Rate: rate(o.done, o.took), Unit: unit,
		Errors: o.failed, P50Ms: ms(o.p50), P99Ms: ms(o.p99), Note: note,
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// transfers measures (c), two-line entries between random pairs of cold
// accounts, or with hot, (d), each between bank:main and a cold account.
func (e *env) transfers(ctx context.Context, hot bool) (Result, error) {
	e.settle(ctx)
	step, name, note := "c", "transfers, cold accounts", fmt.Sprintf("Post: Dr payable:C<i>, Cr payable:C<j> over %d accounts", e.opts.ColdAccounts)
	if hot {
		step, name, note = "d", "transfers, hot account", fmt.Sprintf("Post: Dr bank:main, Cr payable:C<j> over %d accounts", e.opts.ColdAccounts)
	}
	o, err := e.drive(ctx, step+" "+name, func(ctx context.Context, _ int, r *rand.Rand, seq int64) error {
		n := e.opts.ColdAccounts
		amt := decimal.New(100+r.Int64N(49901), -2) // 1.00 to 500.00
		var from, to string
		if hot {
			from, to = ledger.BankMain, cold(r.IntN(n))
		} else {
			i, j := r.IntN(n), r.IntN(n-1)
			if j >= i {
				j++
			}
			from, to = cold(i), cold(j)
		}
		_, err := e.svc.Post(ctx, ledger.NewEntry{
			IdempotencyKey: fmt.Sprintf("bench-%s-%d", step, seq),
			EffectiveDate:  e.day,
			Description:    "Benchmark transfer",
			Lines: []ledger.Line{
				{Account: from, Amount: amt},
				{Account: to, Amount: amt.Neg()},
			},
		})
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	return o.result(step, name, "transfers/s", note), nil
}
