package sqlstore

import (
	"sync"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// digestWorkers is the number of goroutines that draw the balances
// digest's elements of a seal while its rows are read.
const digestWorkers = 2

// digestBatch is the number of row changes handed to a worker at once.
const digestBatch = 512

// rowChange is one sealed balance row changed by a seal: the row before
// (none when old is false) and the postings added to it.
type rowChange struct {
	acct, cur string
	add       decimal.Decimal
	addN      int64
	old       bool
	bal       decimal.Decimal
	n         int64
}

// digestPipe applies row changes to a balances digest on digestWorkers
// goroutines, so that the database streams the next rows while the
// elements of the last ones are drawn. Each worker keeps its own digest;
// the digest is a sum, so their order does not matter and close merges
// them into the one it was started from.
type digestPipe struct {
	into  *ledger.BalancesDigest
	work  chan []rowChange
	parts []ledger.BalancesDigest
	wg    sync.WaitGroup
	batch []rowChange
}

func newDigestPipe(into *ledger.BalancesDigest) *digestPipe {
	p := &digestPipe{into: into, work: make(chan []rowChange, digestWorkers), parts: make([]ledger.BalancesDigest, digestWorkers)}
	for i := range digestWorkers {
		p.wg.Go(func() {
			d := &p.parts[i]
			for rs := range p.work {
				for _, r := range rs {
					if r.old {
						d.Remove(r.acct, r.cur, r.bal, r.n)
					}
					d.Add(r.acct, r.cur, r.bal.Add(r.add), r.n+r.addN)
				}
			}
		})
	}
	return p
}

// add queues one row change.
func (p *digestPipe) add(r rowChange) {
	if p.batch == nil {
		p.batch = make([]rowChange, 0, digestBatch)
	}
	p.batch = append(p.batch, r)
	if len(p.batch) == digestBatch {
		p.work <- p.batch
		p.batch = nil
	}
}

// close waits for the workers and merges their digests into the one the
// pipe was started from. It must be called once, even after an error.
func (p *digestPipe) close() {
	if len(p.batch) > 0 {
		p.work <- p.batch
	}
	close(p.work)
	p.wg.Wait()
	for i := range p.parts {
		p.into.Merge(&p.parts[i])
	}
}
