package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
)

// DefaultVerifyPage is the most entries (or, for a page of accounts, the
// most accounts) Verify reads in one transaction; a page of entries also
// ends once its entries hold more postings than this, unless the page holds
// one entry only.
const DefaultVerifyPage = 5000

// WithVerifyPage sets the size of the pages Verify reads (DefaultVerifyPage).
func WithVerifyPage(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.verifyPage = n
		}
	}
}

// Verify proves the whole ledger from its postings: VerifyWith with Full.
func (s *Store) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	return s.VerifyWith(ctx, ledger.VerifyOptions{Full: true})
}

// VerifyWith proves that the ledger holds together, from every posting
// (o.Full) or from the last seal on (see ledger.VerifyOptions for what each
// proves). Incremental verify falls back to full when the last seal
// predates sealed states. It reads:
//
//   - the sealed balances, in one read-only transaction (one narrow row per
//     account and currency, streamed), to recompute the balances digest of
//     the last seal; incremental, this seal is where the proof starts;
//   - pages of accounts by code, each at the last seal it sees, with their
//     balance rows and sealed balances and, when full, their postings;
//     incremental, the postings of the unsealed entries that touch them;
//   - pages of entries by id, with their chunks and postings (an entry of
//     more lines than a page alone, its chunks a page's worth at a time):
//     every entry when full, else those that the seal where the proof
//     starts does not cover;
//   - pages of seals by number, each recomputed from the hashes of the
//     entries it covers when full, and in both modes checked for its link
//     to the previous seal and its sealed state's.
//
// Each page is a short read-only transaction at one snapshot, run again
// when the engine asks for it (db.InReadTx). Each check holds within a page
// whatever is posted meanwhile, since an entry, a chunk of a bulk entry and
// a seal are each written whole in one transaction, and the trial balance
// adds pages that each balance; seals made after Verify started are left
// for the next one. Each query reads a page's rows as a set.
//
// Incremental, the cost is the accounts, the seals and the postings since
// the last seal (the latter once per page of accounts); full, every posting
// about three times.
func (s *Store) VerifyWith(ctx context.Context, o ledger.VerifyOptions) (ledger.VerifyReport, error) {
	start := time.Now()
	v := &verifier{pool: s.pool, page: s.verifyPage, retry: db.ReadRetryPolicy, trial: map[string]decimal.Decimal{}, full: o.Full}
	rep := ledger.VerifyReport{Problems: []ledger.Problem{}}
	if err := v.sealBound(ctx, &rep); err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	if !v.full && v.maxSeal > 0 && !v.stateful {
		// The last seal predates sealed states: there is nothing to
		// start from.
		v.full = true
	}
	rep.Mode = "full"
	steps := []func(context.Context, *ledger.VerifyReport) error{v.entryPages, v.accountPages, v.sealedState, v.sealPages}
	if !v.full {
		rep.Mode = "incremental"
		steps = []func(context.Context, *ledger.VerifyReport) error{v.sealedState, v.accountPages, v.entryPages, v.sealPages}
	}
	for _, step := range steps {
		if err := step(ctx, &rep); err != nil {
			return rep, fmt.Errorf("verify: %w", err)
		}
	}
	if !v.full {
		rep.FromSeal = v.sealedAt
	}
	currencies := make([]string, 0, len(v.trial))
	for cur := range v.trial {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		if sum := v.trial[cur]; !sum.IsZero() {
			v.found.add(checkTrialBalance, ledger.Problem{Kind: "trial_balance", Detail: fmt.Sprintf("all postings in %s sum to %s, not zero", cur, sum.StringFixed(2))})
		}
	}
	for _, ps := range v.found {
		rep.Problems = append(rep.Problems, ps...)
	}
	if len(rep.Problems) > maxProblems {
		rep.Problems = rep.Problems[:maxProblems]
	}
	rep.OK = len(rep.Problems) == 0
	rep.Took = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// maxProblems is the most problems a report lists.
const maxProblems = 1000

// The checks, in the order their problems are reported. Each check's
// problems come in key order whatever the pages, so that the report does
// not depend on the page size.
const (
	checkUnbalanced = iota
	checkBadPosting
	checkBalances
	checkSealedBalances
	checkBalanceAccount
	checkParentAccount
	checkTrialBalance
	checkHashes
	checkSeals
	numChecks
)

// problems holds the problems found, by check.
type problems [numChecks][]ledger.Problem

func (p *problems) add(check int, pr ledger.Problem) {
	if len(p[check]) < maxProblems {
		p[check] = append(p[check], pr)
	}
}

func (p *problems) merge(q *problems) {
	for c := range q {
		for _, pr := range q[c] {
			p.add(c, pr)
		}
	}
}

// verifier carries what Verify has read so far from page to page.
type verifier struct {
	pool  db.Beginner
	page  int
	retry db.RetryPolicy
	found problems
	trial map[string]decimal.Decimal // sum of all postings by currency

	// The seals at the start: those numbered up to maxSeal are verified.
	headSeq   int64
	headHash  []byte
	headState []byte
	maxSeal   int64
	stateful  bool // the last seal at the start records its sealed state

	full     bool  // read every posting, not only those after sealedAt
	sealedAt int64 // the last seal when the sealed balances were read
}

// keyRange is the keys of one page: above lo and up to hi (below hi when
// hiOpen), a nil bound being none.
type keyRange struct {
	lo, hi any
	hiOpen bool
	// ids, when not nil, keeps only these keys within the range.
	ids []uuid.UUID
}

// cond returns the condition on col that keeps the range, appending its
// arguments to args.
func (r keyRange) cond(col string, args *[]any) string {
	var parts []string
	if r.lo != nil {
		*args = append(*args, r.lo)
		parts = append(parts, fmt.Sprintf("%s > $%d", col, len(*args)))
	}
	if r.hi != nil {
		*args = append(*args, r.hi)
		op := "<="
		if r.hiOpen {
			op = "<"
		}
		parts = append(parts, fmt.Sprintf("%s %s $%d", col, op, len(*args)))
	}
	if r.ids != nil {
		*args = append(*args, r.ids)
		parts = append(parts, fmt.Sprintf("%s = ANY($%d)", col, len(*args)))
	}
	if len(parts) == 0 {
		return "true"
	}
	return strings.Join(parts, " AND ")
}

// pageOut is what one page found; it joins the report once the page's
// transaction has committed, so that an attempt run again counts nothing
// twice.
type pageOut struct {
	found                             problems
	entries, postings, open, accounts int64
	trial                             map[string]decimal.Decimal
	next                              keyRange // the next page's lower bound in lo
	done                              bool
	big                               *bigEntry // an entry checked over several pages, which this one starts
}

func newPageOut() pageOut { return pageOut{trial: map[string]decimal.Decimal{}} }

// read runs one page in its own read-only transaction.
func (v *verifier) read(ctx context.Context, rep *ledger.VerifyReport, fn func(context.Context, pgx.Tx, *pageOut) error) (pageOut, error) {
	var out pageOut
	err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		out = newPageOut()
		return fn(ctx, tx, &out)
	})
	if err != nil {
		return out, err
	}
	v.merge(rep, &out)
	return out, nil
}

// merge adds what a page found to the report.
func (v *verifier) merge(rep *ledger.VerifyReport, out *pageOut) {
	v.found.merge(&out.found)
	rep.Entries += out.entries
	rep.Postings += out.postings
	rep.Open += out.open
	rep.Accounts += out.accounts
	for cur, sum := range out.trial {
		v.trial[cur] = v.trial[cur].Add(sum)
	}
}

// sealBound reads the seal head and how many seals there are: the seals
// up to the last one now are the ones verified.
func (v *verifier) sealBound(ctx context.Context, rep *ledger.VerifyReport) error {
	return db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT h.seq, h.hash, h.state_hash, (SELECT count(*) FROM seals), (SELECT COALESCE(max(seq), 0) FROM seals),
			COALESCE((SELECT s.state_hash IS NOT NULL FROM seals s WHERE s.seq = (SELECT max(seq) FROM seals)), false)
			FROM seal_head h WHERE h.id = 1`).Scan(&v.headSeq, &v.headHash, &v.headState, &rep.Seals, &v.maxSeal, &v.stateful)
	})
}
