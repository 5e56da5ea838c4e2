package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// A period already paid is computed again for a beneficiary whenever a
// fact covering one of its days arrived after the period was last computed
// for them, whatever runs were started or approved in between. What a
// computation read is recorded with what it made of the period: each line
// (and each overpayment found) carries the number of the beneficiary's ADA
// facts taking effect on or before the period's last day (facts are only
// ever added, so a larger number means that a fact arrived since), and the
// approval copies it into period_payments with what the period then came
// to (due); a period computed again and found unchanged is recorded in
// period_checks. Such a record holds while the period is taken to have
// been paid its due: a later payment, an overpayment or a cancellation
// changes that, and the next record or the fallback below decides.
//
// Where no record holds (rows from before the records, or a beneficiary
// the period paid nothing), the period is computed again when one of the
// beneficiary's facts covering it was applied after the start of the
// latest approved run of that very period, less sinceMargin.

// sinceMargin reaches back before the start of a period's last approved
// ADA run when looking for the events applied since: an event stamped just
// before that run started may have been committed after the run read its
// beneficiary. Reassessing a period that did not change costs a little and
// changes nothing.
const sinceMargin = 24 * time.Hour

// adaState is what every chunk of an ADA run shares.
type adaState struct {
	// since: per period from oldest, before the run's, that has an
	// approved ADA run, the start of the latest one less sinceMargin.
	since map[payments.Period]time.Time
	// oldest is the oldest period the run may reassess (two years).
	oldest payments.Period
	// paid are the periods from oldest, before the run's, with an
	// approved ADA batch.
	paid map[payments.Period]bool
}

func (s *RunStore) adaRun(ctx context.Context, run *payments.Run) (map[payments.Scheme]payments.Totals, error) {
	st := adaState{oldest: payments.PeriodOf(run.Day), since: map[payments.Period]time.Time{}, paid: map[payments.Period]bool{}}
	for range payments.LimitationMonths {
		st.oldest = st.oldest.Prev()
	}
	err := queryEach(ctx, s.pool, `SELECT r.period, max(r.started_at) FROM runs r JOIN batches b ON b.id = r.batch_id
		WHERE r.kind = 'ada' AND r.status = 'done' AND b.status NOT IN `+notPaid+` AND r.period >= $1 AND r.period < $2
		GROUP BY r.period`, []any{st.oldest.String(), run.Period.String()}, func(r pgx.Rows) error {
		var period string
		var at time.Time
		if err := r.Scan(&period, &at); err != nil {
			return err
		}
		p, err := payments.ParsePeriod(period)
		st.since[p] = at.Add(-sinceMargin)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the last approved ADA runs: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT period FROM batches WHERE kind = 'ada' AND status NOT IN `+notPaid+`
		AND period >= $1 AND period < $2 ORDER BY period`, st.oldest.String(), run.Period.String())
	if err != nil {
		return nil, fmt.Errorf("read the periods paid: %w", err)
	}
	paid, err := pgx.CollectRows(rows, scanPeriod)
	if err != nil {
		return nil, fmt.Errorf("read the periods paid: %w", err)
	}
	for _, p := range paid {
		st.paid[p] = true
	}

	return s.adaChunks(ctx, run, &st)
}

// adaWorkers is the number of chunks of an ADA run computed and written at
// once: one chunk's computing overlaps another's writing.
const adaWorkers = 2

// progressEvery is how often a run records its progress in its row: the
// update waits for the chunks in flight, which share the row (fence), so
// it is done once in a while rather than after every chunk.
const progressEvery = 5 * time.Second

// benRange is the beneficiaries of a chunk: ids, in order, every
// beneficiary after after up to the last of ids. Its reads select the range,
// which the indexes of the tables read lead with, and use the rows of ids.
type benRange struct {
	after string
	ids   []string
}

func (r benRange) last() string { return r.ids[len(r.ids)-1] }

// adaChunks reads the beneficiaries in chunks of ids and has adaWorkers
// goroutines compute and write them, each chunk in its own transaction.
// The run's progress is recorded in a transaction of its own, after the
// first chunk, then at most every progressEvery, and at the end, so that
// the chunks never write the same row; the progress function hears of
// every chunk, after the first chunk's progress is recorded. It returns the totals of
// the lines written, per scheme.
func (s *RunStore) adaChunks(ctx context.Context, run *payments.Run, st *adaState) (map[payments.Scheme]payments.Totals, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan benRange)
	type done struct{ processed, lines int }
	type chunkDone struct {
		done
		totals map[payments.Scheme]payments.Totals
	}
	results := make(chan chunkDone, adaWorkers)
	var wg sync.WaitGroup
	for range adaWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				var totals map[payments.Scheme]payments.Totals
				err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
					var err error
					totals, err = s.adaChunk(ctx, tx, run, st, r)
					return err
				})
				if err != nil {
					if errs.CodeOf(err) == errs.Internal {
						err = fmt.Errorf("beneficiaries %s to %s: %w", r.ids[0], r.last(), err)
					}
					cancel(err)
					continue
				}
				select {
				case results <- chunkDone{done{len(r.ids), linesOf(totals)}, totals}:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() {
		defer close(work)
		cursor := ""
		for {
			rows, err := s.pool.Query(ctx, `SELECT id FROM beneficiaries WHERE id > $1 ORDER BY id LIMIT $2`, cursor, s.chunk)
			if err != nil {
				cancel(fmt.Errorf("read beneficiaries after %q: %w", cursor, err))
				return
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				cancel(fmt.Errorf("read beneficiaries after %q: %w", cursor, err))
				return
			}
			if len(ids) == 0 {
				return
			}
			select {
			case work <- benRange{after: cursor, ids: ids}:
			case <-ctx.Done():
				return
			}
			if len(ids) < s.chunk {
				return
			}
			cursor = ids[len(ids)-1]
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	// The first chunk is recorded at once: a run shows its progress from
	// its first chunk on.
	var pending done
	var recorded time.Time
	record := func() error {
		if pending == (done{}) {
			return nil
		}
		err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
			return heartbeat(ctx, tx, run, s.stamp(), pending.processed, pending.lines)
		})
		pending, recorded = done{}, time.Now()
		return err
	}
	sums := map[payments.Scheme]payments.Totals{}
	for r := range results {
		if context.Cause(ctx) != nil {
			continue
		}
		for scheme, t := range r.totals {
			sum := sums[scheme]
			sum.Lines += t.Lines
			sum.Gross, sum.Deduction, sum.Net = sum.Gross.Add(t.Gross), sum.Deduction.Add(t.Deduction), sum.Net.Add(t.Net)
			sums[scheme] = sum
		}
		run.Processed += r.processed
		run.Lines += r.lines
		pending.processed += r.processed
		pending.lines += r.lines
		if time.Since(recorded) >= progressEvery {
			if err := record(); err != nil {
				cancel(err)
				continue
			}
		}
		s.report(*run)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return sums, record()
}

// linesOf counts the lines of totals.
func linesOf(totals map[payments.Scheme]payments.Totals) int {
	n := 0
	for _, t := range totals {
		n += t.Lines
	}
	return n
}

func scanPeriod(r pgx.CollectableRow) (payments.Period, error) {
	var s string
	if err := r.Scan(&s); err != nil {
		return payments.Period{}, err
	}
	return payments.ParsePeriod(s)
}

// adaChunk computes and writes the lines of the beneficiaries ids, and
// returns how many it wrote.
func (s *RunStore) adaChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, st *adaState, r benRange) (map[payments.Scheme]payments.Totals, error) {
	now := s.stamp()
	ids := r.ids
	if err := fence(ctx, tx, run); err != nil {
		return nil, err
	}
	facts, err := readFactsIn(ctx, tx, r)
	if err != nil {
		return nil, fmt.Errorf("read facts: %w", err)
	}
	paid, err := readPaid(ctx, tx, r, st.oldest, run.Period)
	if err != nil {
		return nil, fmt.Errorf("read what was paid: %w", err)
	}
	var lately map[string]map[payments.Period]bool
	if len(st.since) > 0 && (len(st.paid) > 0 || len(paid) > 0) {
		lately, err = readLateFacts(ctx, tx, r, st.since)
		if err != nil {
			return nil, fmt.Errorf("read the facts applied since the periods were run: %w", err)
		}
	}
	debts, err := readDebts(ctx, tx, r)
	if err != nil {
		return nil, fmt.Errorf("read overpayments: %w", err)
	}
	payees, err := readPayees(ctx, tx, r, now)
	if err != nil {
		return nil, fmt.Errorf("read payees: %w", err)
	}

	var lines lineRows
	// The days of the run's period, one beneficiary at a time: what
	// ComputeADALines makes of them keeps none of them.
	var days []payments.Day
	var found foundRows
	var checks checkRows
	for _, id := range ids {
		fs := facts[id]
		if fs == nil {
			fs = newFacts(nil)
		}
		days = appendDays(days[:0], fs, run.Period)
		c := payments.ADACase{
			BeneficiaryID: id, Period: run.Period, Days: days, Paid: paid[id][run.Period].paid,
			Debts: debts[id], Payee: payees[id],
		}
		c.RightsEnd = payments.RightsEndIn(c.Days, fs.day(run.Period.Last().AddDays(1)))
		for q := st.oldest; q.Before(run.Period); q = q.Next() {
			p, ok := paid[id][q]
			if (ok || st.paid[q]) && reassess(fs, p, lately[id][q], q) {
				c.Earlier = append(c.Earlier, payments.EarlierPeriod{Period: q, Days: daysOf(fs, q), Paid: p.paid})
			}
		}
		if len(c.Earlier) == 0 && c.Paid.IsZero() && !anyCovered(c.Days) {
			continue
		}
		out, err := payments.ComputeADALines(run.ID, now, c, s.sch)
		if err != nil {
			return nil, err
		}
		for _, l := range out.Lines {
			l.BatchID = run.BatchID
			if err := lines.add(l); err != nil {
				return nil, err
			}
			lines.seen[len(lines.seen)-1] = fs.seen(l.Period)
		}
		for _, o := range out.Overpayments {
			if err := found.add(run.BatchID, o, fs.seen(o.Period)); err != nil {
				return nil, err
			}
		}
		for _, e := range c.Earlier {
			if unchanged(out, e.Period) {
				checks.add(id, e.Period, fs.seen(e.Period), e.Paid)
			}
		}
	}
	if err := lines.write(ctx, tx, s.bulkInsert); err != nil {
		return nil, err
	}
	for _, w := range []statement{found.statement(), checks.statement(now)} {
		if err := execStatement(ctx, tx, w); err != nil {
			return nil, err
		}
	}
	return lines.totals(), nil
}

// unchanged reports whether a beneficiary's outcome has neither a line nor
// an overpayment for period q.
func unchanged(out payments.ADAOutcome, q payments.Period) bool {
	for _, l := range out.Lines {
		if l.Period == q {
			return false
		}
	}
	for _, o := range out.Overpayments {
		if o.Period == q {
			return false
		}
	}
	return true
}

// reassess reports whether period q, from the oldest the run may reassess,
// before the run's, and paid to anyone or to the beneficiary, must be
// computed again for a beneficiary with facts fs, of whom p is what was
// paid for q: when a fact covering one of its days arrived since the
// record that holds was made, or, when none holds, since the period's last
// approved run (lately).
func reassess(fs *facts, p paidState, lately bool, q payments.Period) bool {
	if p.holds {
		return fs.seen(q) > p.seen
	}
	return lately
}

// seen returns how many of the facts take effect on or before the last day
// of period q: those that may cover one of its days.
func (fs *facts) seen(q payments.Period) int64 {
	last := q.Last()
	return int64(sort.Search(len(fs.effective), func(i int) bool { return fs.effective[i].After(last) }))
}

// readLateFacts returns, per beneficiary of r, the periods of since that
// one of their facts covering a day of was applied after since[period].
func readLateFacts(ctx context.Context, q querier, r benRange, since map[payments.Period]time.Time) (map[string]map[payments.Period]bool, error) {
	var periods, lasts []string
	var times []time.Time
	for p, t := range since {
		periods = append(periods, p.String())
		lasts = append(lasts, p.Last().String())
		times = append(times, t)
	}
	out := map[string]map[payments.Period]bool{}
	err := queryEach(ctx, q, `SELECT DISTINCT f.beneficiary_id, s.p FROM ada_facts f JOIN events e ON e.event_id = f.event_id
		JOIN unnest($3::TEXT[], $4::TEXT[], $5::TIMESTAMPTZ[]) AS s (p, l, t) ON f.effective <= s.l::DATE AND e.applied_at > s.t
		WHERE f.beneficiary_id > $1 AND f.beneficiary_id <= $2`, []any{r.after, r.last(), periods, lasts, times}, func(r pgx.Rows) error {
		var id, period string
		if err := r.Scan(&id, &period); err != nil {
			return err
		}
		p, err := payments.ParsePeriod(period)
		if out[id] == nil {
			out[id] = map[payments.Period]bool{}
		}
		out[id][p] = true
		return err
	})
	return out, err
}

func anyCovered(days []payments.Day) bool {
	for _, d := range days {
		if d.Covered() {
			return true
		}
	}
	return false
}

// daysOf returns what applied on each day of p.
func daysOf(fs *facts, p payments.Period) []payments.Day {
	return appendDays(make([]payments.Day, 0, 31), fs, p)
}

// appendDays appends what applied on each day of p to out.
func appendDays(out []payments.Day, fs *facts, p payments.Period) []payments.Day {
	last := p.Last()
	for d := p.First(); !d.After(last); d = d.NextDay() {
		out = append(out, fs.day(d))
	}
	return out
}

// readFactsOf returns the ADA facts of the beneficiaries ids that have any.
func readFactsOf(ctx context.Context, q querier, ids []string) (map[string]*facts, error) {
	return readFacts(ctx, q, queryEach, `beneficiary_id = ANY($1::TEXT[])`, ids)
}

// readFactsIn returns the ADA facts of the beneficiaries of r that have
// any.
func readFactsIn(ctx context.Context, q querier, r benRange) (map[string]*facts, error) {
	return readFacts(ctx, q, queryRange, `beneficiary_id > $1 AND beneficiary_id <= $2`, r.after, r.last())
}

// readFacts returns the ADA facts where selects, by beneficiary.
func readFacts(ctx context.Context, q querier, query queryFunc, where string, args ...any) (map[string]*facts, error) {
	all := map[string][]fact{}
	err := query(ctx, q, `SELECT beneficiary_id, `+factCols+` FROM ada_facts WHERE `+where,
		args, func(r pgx.Rows) error {
			var id string
			var f fact
			var adults, children int64
			err := r.Scan(&id, &f.eventID, &f.kind, &f.effective, &f.occurred, &adults, &children, &f.accommodated, &f.territory, &f.reason)
			f.adults, f.children = int(adults), int(children)
			all[id] = append(all[id], f)
			return err
		})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*facts, len(all))
	for id, fs := range all {
		out[id] = newFacts(fs)
	}
	return out, nil
}

// DaysOfPeriod returns what applied on each day of period p to each of the
// beneficiaries ids, read in one statement: the bulk form of Days. A
// beneficiary without ADA facts (or unknown) gets days without rights.
func (s *Store) DaysOfPeriod(ctx context.Context, ids []string, p payments.Period) (map[string][]payments.Day, error) {
	if _, err := payments.ParsePeriod(p.String()); err != nil {
		return nil, err
	}
	facts, err := readFactsOf(ctx, s.pool, ids)
	if err != nil {
		return nil, fmt.Errorf("read the facts of %d beneficiaries: %w", len(ids), err)
	}
	out := make(map[string][]payments.Day, len(ids))
	for _, id := range ids {
		fs := facts[id]
		if fs == nil {
			fs = newFacts(nil)
		}
		out[id] = daysOf(fs, p)
	}
	return out, nil
}

// paidState is what was paid for a beneficiary's period, and the record
// of its last computation when one holds.
type paidState struct {
	// paid is the gross of the approved lines less the overpayments
	// established.
	paid decimal.Decimal
	// holds is set when a computation of the period came to paid: seen is
	// then how many facts the latest such computation read.
	holds bool
	seen  int64
}

// readPaid returns, per beneficiary of br and period from oldest to last, what
// was paid for ADA, with the record of the period's last computation that
// holds: that of an approved line or overpayment (period_payments), or of
// a period found unchanged (period_checks), whose due is what was paid.
func readPaid(ctx context.Context, q querier, br benRange, oldest, last payments.Period) (map[string]map[payments.Period]paidState, error) {
	type record struct {
		due  decimal.Decimal
		seen int64
	}
	type key struct {
		id string
		p  payments.Period
	}
	records := map[key][]record{}
	out := map[string]map[payments.Period]paidState{}
	err := queryRange(ctx, q, `SELECT beneficiary_id, period, sum(gross), due, max(facts_seen) FROM (
			SELECT beneficiary_id, period, gross, due, facts_seen FROM period_payments
			WHERE beneficiary_id > $1 AND beneficiary_id <= $2 AND scheme = 'ada' AND period >= $3 AND period <= $4
			UNION ALL
			SELECT beneficiary_id, period, 0::DECIMAL(19,2), due, facts_seen FROM period_checks
			WHERE beneficiary_id > $1 AND beneficiary_id <= $2 AND period >= $3 AND period <= $4
		) AS x GROUP BY beneficiary_id, period, due`, []any{br.after, br.last(), oldest.String(), last.String()}, func(r pgx.Rows) error {
		var id, period string
		var sum, due decimal.NullDecimal
		var seen *int64
		if err := r.Scan(&id, &period, &sum, &due, &seen); err != nil {
			return err
		}
		p, err := payments.ParsePeriod(period)
		if err != nil {
			return err
		}
		if out[id] == nil {
			out[id] = map[payments.Period]paidState{}
		}
		st := out[id][p]
		if sum.Valid {
			st.paid = st.paid.Add(sum.Decimal)
		}
		out[id][p] = st
		if due.Valid && seen != nil {
			k := key{id, p}
			records[k] = append(records[k], record{due.Decimal, *seen})
		}
		return nil
	})
	for k, rs := range records {
		st := out[k.id][k.p]
		for _, r := range rs {
			if r.due.Equal(st.paid) && (!st.holds || r.seen > st.seen) {
				st.holds, st.seen = true, r.seen
			}
		}
		out[k.id][k.p] = st
	}
	return out, err
}

// readDebts returns the overpayments of the beneficiaries of br with what
// remains of each once the approved deductions are taken off.
func readDebts(ctx context.Context, q querier, br benRange) (map[string][]payments.Debt, error) {
	out := map[string][]payments.Debt{}
	err := queryRange(ctx, q, `SELECT o.beneficiary_id, o.overpayment_id, o.established_at, o.fraud, o.amount - COALESCE(sum(r.amount), 0)
		FROM overpayments o LEFT JOIN recoveries r ON r.overpayment_id = o.overpayment_id
		WHERE o.beneficiary_id > $1 AND o.beneficiary_id <= $2
		GROUP BY o.beneficiary_id, o.overpayment_id, o.established_at, o.fraud, o.amount`, []any{br.after, br.last()}, func(r pgx.Rows) error {
		var id string
		var d payments.Debt
		err := r.Scan(&id, &d.OverpaymentID, &d.EstablishedAt, &d.Fraud, &d.Remaining)
		out[id] = append(out[id], d)
		return err
	})
	return out, err
}

// readPayees returns the ADA payee in force at t of each beneficiary of br
// that has one, as PayeeAt does.
func readPayees(ctx context.Context, q querier, br benRange, t time.Time) (map[string]payments.Payee, error) {
	out := map[string]payments.Payee{}
	err := queryRange(ctx, q, `SELECT beneficiary_id, name, iban, bic FROM payees WHERE beneficiary_id > $1 AND beneficiary_id <= $2
		AND since <= $3 ORDER BY beneficiary_id, since, event_id`, []any{br.after, br.last(), t}, func(r pgx.Rows) error {
		var id string
		var p payments.Payee
		err := r.Scan(&id, &p.Name, &p.IBAN, &p.BIC)
		out[id] = p // the last in order wins
		return err
	})
	return out, err
}

// queryEach runs a query whose arguments hold arrays, planned afresh for
// their sizes, and calls fn for every row.
func queryEach(ctx context.Context, q querier, sql string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, append([]any{pgx.QueryExecModeDescribeExec}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryFunc runs a query and calls fn for every row.
type queryFunc func(ctx context.Context, q querier, sql string, args []any, fn func(pgx.Rows) error) error

// queryRange runs a query that selects a range of beneficiaries (benRange),
// as a prepared statement: its plan, an index range scan, does not depend
// on the range's bounds.
func queryRange(ctx context.Context, q querier, sql string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// execStatement runs a multi-row write, planned afresh for its arrays; it
// does nothing for no rows.
func execStatement(ctx context.Context, tx pgx.Tx, st statement) error {
	if st.n == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, st.sql, append([]any{pgx.QueryExecModeDescribeExec}, st.args...)...); err != nil {
		return fmt.Errorf("write %d %s: %w", st.n, st.what, err)
	}
	return nil
}

// foundRows are the overpayments a chunk finds, kept with the run's batch
// until its approval establishes them.
type foundRows struct {
	batches, ids, bens, periods, amounts, bases, reasons []string
	seen                                                 []int64
}

func (f *foundRows) add(batch uuid.UUID, o payments.FoundOverpayment, seen int64) error {
	if err := cents("overpayment "+o.ID, o.Amount); err != nil {
		return err
	}
	if err := cents("overpayment "+o.ID+" basis", o.Basis); err != nil {
		return err
	}
	f.batches = append(f.batches, batch.String())
	f.ids = append(f.ids, o.ID)
	f.bens = append(f.bens, o.BeneficiaryID)
	f.periods = append(f.periods, o.Period.String())
	f.amounts = append(f.amounts, o.Amount.StringFixed(2))
	f.bases = append(f.bases, o.Basis.StringFixed(2))
	f.reasons = append(f.reasons, "ADA "+o.Why)
	f.seen = append(f.seen, seen)
	return nil
}

func (f *foundRows) statement() statement {
	return statement{what: "overpayments found", n: len(f.ids), sql: `INSERT INTO batch_overpayments
		(batch_id, overpayment_id, beneficiary_id, period, amount, basis, facts_seen, reason)
		SELECT u.b, u.o, u.ben, u.p, u.a::DECIMAL(19,2), u.ba::DECIMAL(19,2), u.fs, u.r
		FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::TEXT[])
			AS u (b, o, ben, p, a, ba, fs, r)`,
		args: []any{f.batches, f.ids, f.bens, f.periods, f.amounts, f.bases, f.seen, f.reasons}}
}

// checkRows are the periods a chunk computed again and found unchanged.
type checkRows struct {
	bens, periods, dues []string
	seen                []int64
}

func (c *checkRows) add(ben string, p payments.Period, seen int64, due decimal.Decimal) {
	c.bens = append(c.bens, ben)
	c.periods = append(c.periods, p.String())
	c.seen = append(c.seen, seen)
	c.dues = append(c.dues, due.StringFixed(2))
}

func (c *checkRows) statement(now time.Time) statement {
	return statement{what: "periods found unchanged", n: len(c.bens), sql: `INSERT INTO period_checks
		(beneficiary_id, period, facts_seen, due, checked_at)
		SELECT u.b, u.p, u.fs, u.d::DECIMAL(19,2), $5 FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) AS u (b, p, fs, d)
		ON CONFLICT (beneficiary_id, period) DO UPDATE SET facts_seen = excluded.facts_seen, due = excluded.due,
			checked_at = excluded.checked_at`,
		args: []any{c.bens, c.periods, c.seen, c.dues, now}}
}

// isCents reports whether cents(what, d) finds nothing to say.
func isCents(d decimal.Decimal) bool { return cents("", d) == nil }

// cents checks that an amount is whole cents, as DECIMAL(19,2) keeps it.
func cents(what string, d decimal.Decimal) error {
	if !d.Equal(d.Round(2)) {
		return fmt.Errorf("%s: %s is not a whole number of cents", what, d)
	}
	if d.Abs().Cmp(maxAmount) >= 0 {
		return fmt.Errorf("%s: %s is too large", what, d)
	}
	return nil
}
