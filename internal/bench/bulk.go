package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/ofii/allowances/ledger"
)

// bulk measures (b): one entry of n lines over n beneficiary accounts
// through PostBulk, balanced by expense:ada, with the Go heap sampled.
func (e *env) bulk(ctx context.Context, n int) (Result, error) {
	e.settle(ctx)
	b := ledger.BulkEntry{
		IdempotencyKey: fmt.Sprintf("bench-bulk-%d", n),
		EffectiveDate:  e.day,
		Description:    fmt.Sprintf("Benchmark ADA run of %d lines", n),
		SourceRef:      "bench",
		Contra:         ledger.ExpenseADA,
		ChunkSize:      e.opts.ChunkSize,
		// Lines may be called more than once; each call yields the same lines.
		Lines: func(yield func(ledger.Line) error) error {
			amt := newAmounts(e.opts.Seed)
			for i := range n {
				if err := yield(ledger.Line{Account: beneficiary(i), Amount: amt.next(), Memo: bulkMemo}); err != nil {
					return err
				}
			}
			return nil
		},
		// Progress counts the contra lines too.
		Progress: func(lines int64) { e.prog.Set(min(lines, int64(n))) },
	}
	e.prog.Step(fmt.Sprintf("b bulk entry N=%d", n), int64(n))
	runtime.GC()
	h := startHeapSampler(20 * time.Millisecond)
	start := time.Now()
	entry, err := e.svc.PostBulk(ctx, b)
	took := time.Since(start)
	inuse, sys := h.stop()
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("bulk entry N=%d: %w", n, err)
	}
	e.prog.Step(fmt.Sprintf("b seal after the entry N=%d", n), 0)
	start = time.Now()
	_, err = e.svc.Seal(ctx, "bench bulk entry")
	sealed := time.Since(start)
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("seal after the bulk entry N=%d: %w", n, err)
	}
	return Result{
		Step: "b", Name: "bulk PostBulk", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took), Unit: "lines/s",
		PeakHeapInuse: inuse, PeakHeapSys: sys, EntryID: entry.ID.String(), SealSeconds: sealed.Seconds(),
		Note: fmt.Sprintf("%d postings with contra lines", entry.LineCount),
	}, nil
}

// heapSampler records the largest Go heap in use and obtained from the
// system, read through runtime/metrics (which does not stop the world).
type heapSampler struct {
	done       chan struct{}
	wg         sync.WaitGroup
	inuse, sys uint64
}

var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",  // in use by objects, live or not yet swept
	"/memory/classes/heap/unused:bytes",   // in use spans' free space; with objects: HeapInuse
	"/memory/classes/heap/free:bytes",     // free spans still mapped
	"/memory/classes/heap/released:bytes", // free spans returned to the system; all four: HeapSys
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	read := func() {
		metrics.Read(samples)
		var v [4]uint64
		for i, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		h.inuse = max(h.inuse, v[0]+v[1])
		h.sys = max(h.sys, v[0]+v[1]+v[2]+v[3])
	}
	read()
	h.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				read()
				return
			case <-t.C:
				read()
			}
		}
	})
	return h
}

// stop ends sampling and returns the peaks of HeapInuse and HeapSys.
func (h *heapSampler) stop() (inuse, sys uint64) {
	close(h.done)
	h.wg.Wait()
	return h.inuse, h.sys
}
