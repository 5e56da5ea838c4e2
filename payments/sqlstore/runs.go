package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/lease"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// A run works in chunks, each its own transaction through db.InTx: a chunk
// reads what it needs of a thousand beneficiaries (their facts, what was
// paid, their debts and payees), computes their lines with the pure code
// of package payments, and writes the lines, the overpayments it finds
// (established when the batch is approved), the periods it found unchanged
// and the run's heartbeat with a few multi-row statements.
// Memory stays bounded whatever the caseload.
//
// The lines go into a batch of status 'building' under the run's own id,
// invisible as a draft. Only when the last chunk is written does one
// transaction make it the period's draft and mark the draft before it
// 'replaced'; the replaced draft's lines, and those of a run that failed,
// are then removed a chunk at a time. A run interrupted half-way leaves the
// previous draft as it was; started again, it ends with exactly one
// complete draft.
//
// One run of a kind runs at a time: a run holds the lease "run:<kind>"
// (package lease) from before it is recorded until it ends, renewing it
// every third of the lease time, and a run of the kind asked for meanwhile
// is refused as a conflict naming the holder. A process that dies (killed,
// its machine lost) stops renewing: once its lease expires, the next run of
// the kind, started by the scheduler or by staff, takes the lease, marks
// the run it finds still running failed ("interrupted"), discards that
// run's building batch and computes the period again from the start, at
// once. A run that lost its lease is stopped (its context is cancelled),
// and a chunk of a run no longer running fails, so that two processes never
// write the same batch. A run left running by a dead process can also be
// abandoned by staff (CancelRun).

// Defaults of a RunStore.
const (
	DefaultChunkSize = 1000
	// DefaultRunLease is the lease time of a run (LEASE_TTL).
	DefaultRunLease = 30 * time.Second
	// MaxByLen bounds the name of who started a run.
	MaxByLen = 200
)

// RunStore implements payments.Runs on a pgx pool.
type RunStore struct {
	pool     *pgxpool.Pool
	retry    db.RetryPolicy
	now      func() time.Time
	sch      payments.Schedules
	chunk    int
	lease    time.Duration
	holder   string
	progress func(payments.Run)
}

var _ payments.Runs = (*RunStore)(nil)

// RunOption configures a RunStore.
type RunOption func(*RunStore)

// WithSchedules sets the rate schedules the runs compute with (default:
// payments.DefaultSchedules()).
func WithSchedules(sch payments.Schedules) RunOption { return func(s *RunStore) { s.sch = sch } }

// WithRunClock sets the clock of the runs: the day a run computes on, and
// the times it records (tests).
func WithRunClock(now func() time.Time) RunOption { return func(s *RunStore) { s.now = now } }

// WithRunRetryPolicy sets the retry policy of the write transactions.
func WithRunRetryPolicy(p db.RetryPolicy) RunOption { return func(s *RunStore) { s.retry = p } }

// WithChunkSize sets how many beneficiaries, grants or lines one
// transaction takes (default DefaultChunkSize).
func WithChunkSize(n int) RunOption {
	return func(s *RunStore) {
		if n > 0 {
			s.chunk = n
		}
	}
}

// WithRunLease sets the lease time of the runs (default DefaultRunLease):
// a run renews its lease every third of it, and a run whose process stopped
// is taken over once it has passed since the last renewal.
func WithRunLease(d time.Duration) RunOption {
	return func(s *RunStore) {
		if d > 0 {
			s.lease = d
		}
	}
}

// WithRunHolder names the process in the leases its runs take (default
// lease.DefaultHolder(): host:pid:random); each run adds its own suffix, so
// that two runs of one process never share a lease.
func WithRunHolder(name string) RunOption {
	return func(s *RunStore) {
		if name != "" {
			s.holder = name
		}
	}
}

// WithProgress sets a function called after each chunk a run writes, with
// the run as it stands: for progress bars and logs.
func WithProgress(fn func(payments.Run)) RunOption { return func(s *RunStore) { s.progress = fn } }

// NewRunStore returns a RunStore on pool.
func NewRunStore(pool *pgxpool.Pool, opts ...RunOption) *RunStore {
	s := &RunStore{pool: pool, retry: db.DefaultRetryPolicy, now: time.Now, chunk: DefaultChunkSize, lease: DefaultRunLease}
	for _, o := range opts {
		o(s)
	}
	if s.holder == "" {
		s.holder = lease.DefaultHolder()
	}
	if s.sch == nil {
		s.sch = payments.DefaultSchedules()
	}
	return s
}

// stamp is the store's clock, in UTC and at the database's precision.
func (s *RunStore) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// retroSpace derives the event id recorded with an overpayment a run
// finds, when its batch's approval establishes it (the overpayments table
// names the event of each).
var retroSpace = uuid.MustParse("5d0e8a43-9c1b-4e27-b6f2-71a3c84d9e05")

// notPaid lists the statuses of batches whose lines do not count: the SQL
// of a batch status that is not (yet, or any longer) approved.
const notPaid = `('building', 'draft', 'replaced', 'pending_approval', 'cancelled')`

func checkStarter(trigger payments.Trigger, by string) error {
	if _, err := payments.ParseTrigger(string(trigger)); err != nil {
		return errs.Field("trigger", "%v", err)
	}
	switch by = strings.TrimSpace(by); {
	case by == "":
		return errs.Field("by", "is required: who starts the run")
	case !utf8.ValidString(by) || strings.ContainsRune(by, 0):
		return errs.Field("by", "must be text")
	case len(by) > MaxByLen:
		return errs.Field("by", "is longer than %d bytes", MaxByLen)
	}
	return nil
}

// StartADARun computes the ADA of period p: see payments.Runs.
func (s *RunStore) StartADARun(ctx context.Context, p payments.Period, trigger payments.Trigger, by string) (payments.Run, error) {
	if err := checkStarter(trigger, by); err != nil {
		return payments.Run{}, err
	}
	today := payments.LegalDay(s.now())
	if err := payments.ValidateRunPeriod(p, today); err != nil {
		return payments.Run{}, err
	}
	return s.leased(ctx, payments.RunADA, func(ctx context.Context) (payments.Run, error) {
		run, err := s.begin(ctx, payments.RunADA, p, today, trigger, strings.TrimSpace(by))
		if err != nil {
			return payments.Run{}, err
		}
		s.collect(ctx)
		return s.end(ctx, run, s.adaRun(ctx, &run))
	})
}

// StartGrantsRun batches the grants due on day: see payments.Runs.
func (s *RunStore) StartGrantsRun(ctx context.Context, day ledger.Date, trigger payments.Trigger, by string) (payments.Run, error) {
	if err := checkStarter(trigger, by); err != nil {
		return payments.Run{}, err
	}
	today := payments.LegalDay(s.now())
	if day.IsZero() {
		day = today
	}
	if day.After(today) {
		return payments.Run{}, errs.Field("day", "%s is in the future (today is %s): grants are batched once due", day, today)
	}
	p := payments.PeriodOf(day)
	if _, err := payments.ParsePeriod(p.String()); err != nil {
		return payments.Run{}, errs.Field("day", "%s is out of range", day)
	}
	return s.leased(ctx, payments.RunGrants, func(ctx context.Context) (payments.Run, error) {
		run, err := s.begin(ctx, payments.RunGrants, p, day, trigger, strings.TrimSpace(by))
		if err != nil {
			return payments.Run{}, err
		}
		s.collect(ctx)
		return s.end(ctx, run, s.grantsRun(ctx, &run))
	})
}

// LeaseName is the name of the lease a run of kind holds while it works.
func LeaseName(kind payments.RunKind) string { return "run:" + string(kind) }

// leaseStore returns the leases of one taking: the process's holder name
// with a suffix of its own, so that a second run (or a cancellation) in the
// same process never takes over a lease the first still renews.
func (s *RunStore) leaseStore() *lease.Store {
	return lease.New(s.pool, s.holder+"/"+uuid.NewString()[:8])
}

// leased runs job under the lease of kind, renewed while it works. When
// another holds the lease, job is not run and the answer is a conflict
// naming the holder and the run it works on.
func (s *RunStore) leased(ctx context.Context, kind payments.RunKind, job func(ctx context.Context) (payments.Run, error)) (payments.Run, error) {
	var run payments.Run
	ok, held, err := s.leaseStore().Run(ctx, LeaseName(kind), s.lease, func(ctx context.Context) error {
		var err error
		run, err = job(ctx)
		return err
	})
	if !ok && err == nil {
		return payments.Run{}, s.busy(ctx, kind, held)
	}
	if errors.Is(err, lease.ErrLost) {
		return run, fmt.Errorf("%s run %s stopped: another process took its lease over: %w", kind, run.ID, err)
	}
	return run, err
}

// busy is the conflict of a run asked for while the lease of its kind is
// held by held.
func (s *RunStore) busy(ctx context.Context, kind payments.RunKind, held lease.Info) error {
	var id uuid.UUID
	var by string
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT id, started_by, started_at FROM runs WHERE kind = $1 AND status = 'running'`, string(kind)).
		Scan(&id, &by, &at)
	what := fmt.Sprintf("a %s run is starting", kind)
	if err == nil {
		what = fmt.Sprintf("%s run %s, started by %s at %s, is still running", kind, id, by, at.UTC().Format(time.RFC3339))
	}
	return errs.E(errs.Conflict, "%s in %s (its lease is renewed until %s): one %s run at a time", what, held.Holder,
		held.ExpiresAt.UTC().Format(time.RFC3339), kind)
}

// begin records a new run and its building batch, under the lease of its
// kind: a run of the kind still marked running was left by a process that
// stopped (else it would hold the lease), and is marked failed first.
func (s *RunStore) begin(ctx context.Context, kind payments.RunKind, p payments.Period, day ledger.Date,
	trigger payments.Trigger, by string) (payments.Run, error) {
	run := payments.Run{ID: uuid.New(), Kind: kind, Period: p, Day: day, Status: payments.RunRunning, Trigger: trigger, By: by,
		BatchID: uuid.New()}
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		now := s.stamp()
		run.StartedAt = now
		_, err := tx.Exec(ctx, `UPDATE runs SET status = 'failed', finished_at = $2,
			error = 'interrupted: its process stopped (its lease expired) after its last progress at ' || heartbeat_at::TEXT ||
				'; taken over by run ' || $3::TEXT
			WHERE kind = $1 AND status = 'running'`, string(kind), now, run.ID.String())
		if err != nil {
			return fmt.Errorf("fail interrupted runs: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO runs (id, kind, period, run_day, status, trigger, started_by, started_at, heartbeat_at, batch_id)
			VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $7, $8)`,
			run.ID, string(kind), p.String(), day, string(trigger), by, now, run.BatchID)
		if err != nil {
			return fmt.Errorf("record the run: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO batches (id, run_id, kind, period, status, created_at) VALUES ($1, $2, $3, $4, 'building', $5)`,
			run.BatchID, run.ID, string(kind), p.String(), now)
		if err != nil {
			return fmt.Errorf("record the batch: %w", err)
		}
		return nil
	})
	if err != nil {
		if db.IsUniqueViolation(err, "runs_one_running_idx") {
			return run, errs.E(errs.Conflict, "another %s run started at the same time: one %s run at a time", kind, kind)
		}
		if errs.CodeOf(err) != errs.Internal {
			return run, err
		}
		return run, fmt.Errorf("start the %s run for %s: %w", kind, p, err)
	}
	return run, nil
}

// end finishes a run: on success its batch becomes the period's draft; on
// failure the run is marked failed (even when ctx was cancelled) and its
// lines are removed. It returns the run as it ends.
func (s *RunStore) end(ctx context.Context, run payments.Run, cause error) (payments.Run, error) {
	if cause == nil {
		cause = s.finish(ctx, &run)
	}
	if cause == nil {
		s.collect(ctx)
		return run, nil
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	err := db.InTxWith(bg, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		now := s.stamp()
		run.Status, run.FinishedAt, run.Error = payments.RunFailed, now, msg
		_, err := tx.Exec(ctx, `UPDATE runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = $1 AND status = 'running'`,
			run.ID, now, strings.ToValidUTF8(msg, "?"))
		return err
	})
	if err == nil {
		s.collect(bg)
	}
	if errs.CodeOf(cause) != errs.Internal {
		return run, cause
	}
	return run, fmt.Errorf("%s run %s for %s failed: %w", run.Kind, run.ID, run.Period, cause)
}

// finish makes the run's batch the period's draft, with its totals, in one
// transaction, and marks the draft it replaces.
func (s *RunStore) finish(ctx context.Context, run *payments.Run) error {
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		now := s.stamp()
		tag, err := tx.Exec(ctx, `UPDATE runs SET status = 'done', finished_at = $2, heartbeat_at = $2 WHERE id = $1 AND status = 'running'`,
			run.ID, now)
		if err != nil {
			return fmt.Errorf("finish the run: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errs.E(errs.Conflict, "run %s was stopped before it finished (its lease expired)", run.ID)
		}
		totals, err := readTotals(ctx, tx, []string{run.BatchID.String()}, `SELECT batch_id, scheme, count(*), sum(gross), sum(deduction), sum(net)
			FROM batch_lines WHERE batch_id = ANY($1::UUID[]) GROUP BY batch_id, scheme`)
		if err != nil {
			return fmt.Errorf("add up the batch: %w", err)
		}
		var t totalRows
		lines := 0
		for scheme, x := range totals[run.BatchID] {
			t.add(run.BatchID, scheme, x)
			lines += x.Lines
		}
		if _, err := tx.Exec(ctx, `DELETE FROM batch_totals WHERE batch_id = $1`, run.BatchID); err != nil {
			return err
		}
		if err := execStatement(ctx, tx, t.statement()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE batches SET status = 'replaced' WHERE kind = $1 AND period = $2 AND status = 'draft' AND id <> $3`,
			string(run.Kind), run.Period.String(), run.BatchID)
		if err != nil {
			return fmt.Errorf("replace the previous draft: %w", err)
		}
		tag, err = tx.Exec(ctx, `UPDATE batches SET status = 'draft', completed_at = $2, lines = $3 WHERE id = $1 AND status = 'building'`,
			run.BatchID, now, int64(lines))
		if err != nil {
			return fmt.Errorf("make the batch a draft: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("batch %s of run %s is no longer building", run.BatchID, run.ID)
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET lines = $2 WHERE id = $1`, run.ID, int64(lines)); err != nil {
			return err
		}
		run.Status, run.FinishedAt, run.Lines = payments.RunDone, now, lines
		return nil
	})
}

// heartbeat counts a chunk's work in the run and proves it alive, in the
// chunk's transaction; a run no longer running fails the chunk.
func heartbeat(ctx context.Context, tx pgx.Tx, run *payments.Run, now time.Time, processed, lines int) error {
	tag, err := tx.Exec(ctx, `UPDATE runs SET heartbeat_at = $2, processed = processed + $3, lines = lines + $4
		WHERE id = $1 AND status = 'running'`, run.ID, now, int64(processed), int64(lines))
	if err != nil {
		return fmt.Errorf("record the run's progress: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errs.E(errs.Conflict, "run %s was stopped by another (its lease expired)", run.ID)
	}
	return nil
}

// fence makes a chunk's transaction fail when its run is no longer running
// (its lease expired and another took it over). It only shares the run's
// row, so that chunks written side by side do not conflict.
func fence(ctx context.Context, tx pgx.Tx, run *payments.Run) error {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM runs WHERE id = $1 FOR SHARE`, run.ID).Scan(&status)
	if err != nil {
		return fmt.Errorf("check the run: %w", err)
	}
	if status != string(payments.RunRunning) {
		return errs.E(errs.Conflict, "run %s was stopped by another (its lease expired)", run.ID)
	}
	return nil
}

func (s *RunStore) report(run payments.Run) {
	if s.progress != nil {
		s.progress(run)
	}
}

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

func (s *RunStore) adaRun(ctx context.Context, run *payments.Run) error {
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
		return fmt.Errorf("read the last approved ADA runs: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT period FROM batches WHERE kind = 'ada' AND status NOT IN `+notPaid+`
		AND period >= $1 AND period < $2 ORDER BY period`, st.oldest.String(), run.Period.String())
	if err != nil {
		return fmt.Errorf("read the periods paid: %w", err)
	}
	paid, err := pgx.CollectRows(rows, scanPeriod)
	if err != nil {
		return fmt.Errorf("read the periods paid: %w", err)
	}
	for _, p := range paid {
		st.paid[p] = true
	}

	return s.adaChunks(ctx, run, &st)
}

// adaWorkers is the number of chunks of an ADA run computed and written at
// once: one chunk's computing overlaps another's writing.
const adaWorkers = 2

// adaChunks reads the beneficiaries in chunks of ids and has adaWorkers
// goroutines compute and write them, each chunk in its own transaction.
// The run's progress is recorded after each chunk, in a transaction of its
// own, so that the chunks never write the same row.
func (s *RunStore) adaChunks(ctx context.Context, run *payments.Run, st *adaState) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan []string)
	type done struct{ processed, lines int }
	results := make(chan done)
	var wg sync.WaitGroup
	for range adaWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ids := range work {
				var lines int
				err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
					var err error
					lines, err = s.adaChunk(ctx, tx, run, st, ids)
					return err
				})
				if err != nil {
					if errs.CodeOf(err) == errs.Internal {
						err = fmt.Errorf("beneficiaries %s to %s: %w", ids[0], ids[len(ids)-1], err)
					}
					cancel(err)
					continue
				}
				select {
				case results <- done{len(ids), lines}:
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
			case work <- ids:
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
	for r := range results {
		err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
			return heartbeat(ctx, tx, run, s.stamp(), r.processed, r.lines)
		})
		if err != nil {
			cancel(err)
			continue
		}
		run.Processed += r.processed
		run.Lines += r.lines
		s.report(*run)
	}
	return context.Cause(ctx)
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
func (s *RunStore) adaChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, st *adaState, ids []string) (int, error) {
	now := s.stamp()
	if err := fence(ctx, tx, run); err != nil {
		return 0, err
	}
	facts, err := readFactsOf(ctx, tx, ids)
	if err != nil {
		return 0, fmt.Errorf("read facts: %w", err)
	}
	paid, err := readPaid(ctx, tx, ids, st.oldest, run.Period)
	if err != nil {
		return 0, fmt.Errorf("read what was paid: %w", err)
	}
	var lately map[string]map[payments.Period]bool
	if len(st.since) > 0 && (len(st.paid) > 0 || len(paid) > 0) {
		lately, err = readLateFacts(ctx, tx, ids, st.since)
		if err != nil {
			return 0, fmt.Errorf("read the facts applied since the periods were run: %w", err)
		}
	}
	debts, err := readDebts(ctx, tx, ids)
	if err != nil {
		return 0, fmt.Errorf("read overpayments: %w", err)
	}
	payees, err := readPayees(ctx, tx, ids, now)
	if err != nil {
		return 0, fmt.Errorf("read payees: %w", err)
	}

	var lines lineRows
	var found foundRows
	var checks checkRows
	for _, id := range ids {
		fs := facts[id]
		if fs == nil {
			fs = newFacts(nil)
		}
		c := payments.ADACase{
			BeneficiaryID: id, Period: run.Period, Days: daysOf(fs, run.Period), Paid: paid[id][run.Period].paid,
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
			return 0, err
		}
		for _, l := range out.Lines {
			l.BatchID = run.BatchID
			if err := lines.add(l); err != nil {
				return 0, err
			}
			lines.seen[len(lines.seen)-1] = fs.seen(l.Period)
		}
		for _, o := range out.Overpayments {
			if err := found.add(run.BatchID, o, fs.seen(o.Period)); err != nil {
				return 0, err
			}
		}
		for _, e := range c.Earlier {
			if unchanged(out, e.Period) {
				checks.add(id, e.Period, fs.seen(e.Period), e.Paid)
			}
		}
	}
	for _, w := range []statement{lines.statement(), found.statement(), checks.statement(now)} {
		if err := execStatement(ctx, tx, w); err != nil {
			return 0, err
		}
	}
	return lines.n(), nil
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

// readLateFacts returns, per beneficiary of ids, the periods of since that
// one of their facts covering a day of was applied after since[period].
func readLateFacts(ctx context.Context, q querier, ids []string, since map[payments.Period]time.Time) (map[string]map[payments.Period]bool, error) {
	var periods, lasts []string
	var times []time.Time
	for p, t := range since {
		periods = append(periods, p.String())
		lasts = append(lasts, p.Last().String())
		times = append(times, t)
	}
	out := map[string]map[payments.Period]bool{}
	err := queryEach(ctx, q, `SELECT DISTINCT f.beneficiary_id, s.p FROM ada_facts f JOIN events e ON e.event_id = f.event_id
		JOIN unnest($2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[]) AS s (p, l, t) ON f.effective <= s.l::DATE AND e.applied_at > s.t
		WHERE f.beneficiary_id = ANY($1::TEXT[])`, []any{ids, periods, lasts, times}, func(r pgx.Rows) error {
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
	out := make([]payments.Day, 0, p.Days())
	for d := p.First(); !d.After(p.Last()); d = d.AddDays(1) {
		out = append(out, fs.day(d))
	}
	return out
}

// readFactsOf returns the ADA facts of the beneficiaries ids that have any.
func readFactsOf(ctx context.Context, q querier, ids []string) (map[string]*facts, error) {
	all := map[string][]fact{}
	err := queryEach(ctx, q, `SELECT beneficiary_id, `+factCols+` FROM ada_facts WHERE beneficiary_id = ANY($1::TEXT[])`,
		[]any{ids}, func(r pgx.Rows) error {
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

// readPaid returns, per beneficiary and period from oldest to last, what
// was paid for ADA, with the record of the period's last computation that
// holds: that of an approved line or overpayment (period_payments), or of
// a period found unchanged (period_checks), whose due is what was paid.
func readPaid(ctx context.Context, q querier, ids []string, oldest, last payments.Period) (map[string]map[payments.Period]paidState, error) {
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
	err := queryEach(ctx, q, `SELECT beneficiary_id, period, sum(gross), due, max(facts_seen) FROM (
			SELECT beneficiary_id, period, gross, due, facts_seen FROM period_payments
			WHERE beneficiary_id = ANY($1::TEXT[]) AND scheme = 'ada' AND period >= $2 AND period <= $3
			UNION ALL
			SELECT beneficiary_id, period, 0::DECIMAL(19,2), due, facts_seen FROM period_checks
			WHERE beneficiary_id = ANY($1::TEXT[]) AND period >= $2 AND period <= $3
		) AS x GROUP BY beneficiary_id, period, due`, []any{ids, oldest.String(), last.String()}, func(r pgx.Rows) error {
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

// readDebts returns the beneficiaries' overpayments with what remains of
// each once the approved deductions are taken off.
func readDebts(ctx context.Context, q querier, ids []string) (map[string][]payments.Debt, error) {
	out := map[string][]payments.Debt{}
	err := queryEach(ctx, q, `SELECT o.beneficiary_id, o.overpayment_id, o.established_at, o.fraud, o.amount - COALESCE(sum(r.amount), 0)
		FROM overpayments o LEFT JOIN recoveries r ON r.overpayment_id = o.overpayment_id
		WHERE o.beneficiary_id = ANY($1::TEXT[])
		GROUP BY o.beneficiary_id, o.overpayment_id, o.established_at, o.fraud, o.amount`, []any{ids}, func(r pgx.Rows) error {
		var id string
		var d payments.Debt
		err := r.Scan(&id, &d.OverpaymentID, &d.EstablishedAt, &d.Fraud, &d.Remaining)
		out[id] = append(out[id], d)
		return err
	})
	return out, err
}

// readPayees returns the ADA payee in force at t of each beneficiary that
// has one, as PayeeAt does.
func readPayees(ctx context.Context, q querier, ids []string, t time.Time) (map[string]payments.Payee, error) {
	out := map[string]payments.Payee{}
	err := queryEach(ctx, q, `SELECT beneficiary_id, name, iban, bic FROM payees WHERE beneficiary_id = ANY($1::TEXT[]) AND since <= $2
		ORDER BY beneficiary_id, since, event_id`, []any{ids, t}, func(r pgx.Rows) error {
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

// grantsRun batches the return grants, then the reinsertion tranches, a
// chunk at a time.
func (s *RunStore) grantsRun(ctx context.Context, run *payments.Run) error {
	for _, chunk := range []func(context.Context, pgx.Tx, *payments.Run, *grantCursor) (int, int, error){s.returnChunk, s.trancheChunk} {
		var cur grantCursor
		for {
			var n, lines int
			next := cur
			err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
				next = cur
				var err error
				n, lines, err = chunk(ctx, tx, run, &next)
				return err
			})
			if err != nil {
				if errs.CodeOf(err) != errs.Internal {
					return err
				}
				return fmt.Errorf("grants after %q: %w", cur.grant, err)
			}
			run.Processed += n
			run.Lines += lines
			if n > 0 {
				s.report(*run)
			}
			if n < s.chunk {
				break
			}
			cur = next
		}
	}
	return nil
}

// grantCursor is where a grants run got to: the last grant (and tranche).
type grantCursor struct{ grant, tranche string }

// notBatched is the condition that no batch but the draft being replaced
// (the grants draft of the run's period) holds a line paying ref under one
// of schemes. $2 is the run's period.
func notBatched(ref, schemes string) string {
	return `NOT EXISTS (SELECT 1 FROM batch_lines l JOIN batches b ON b.id = l.batch_id
		WHERE l.scheme IN ` + schemes + ` AND l.ref = ` + ref + ` AND b.status NOT IN ('building', 'replaced', 'cancelled')
		AND NOT (b.kind = 'grants' AND b.period = $2 AND b.status = 'draft'))`
}

// returnChunk batches the next return grants that departed on or before
// the run's day.
func (s *RunStore) returnChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, cur *grantCursor) (int, int, error) {
	now := s.stamp()
	rows, err := tx.Query(ctx, `SELECT g.grant_id, g.beneficiary_id, g.country, g.adults, g.children, g.removal_order_notified_on,
		g.validated_on, g.increased_rate, g.travel_document, g.scheme, g.departure_date, g.payee_name, g.payee_iban, g.payee_bic
		FROM return_grants g WHERE g.departure_date <= $1 AND g.grant_id > $3 AND `+notBatched("g.grant_id", `('return')`)+`
		ORDER BY g.grant_id LIMIT $4`, run.Day, run.Period.String(), cur.grant, s.chunk)
	if err != nil {
		return 0, 0, fmt.Errorf("read return grants: %w", err)
	}
	type grant struct {
		ben string
		g   payments.ReturnGrant
	}
	grants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grant, error) {
		var x grant
		var adults, children int64
		err := r.Scan(&x.g.GrantID, &x.ben, &x.g.Country, &adults, &children, &x.g.RemovalOrderNotifiedOn, &x.g.ValidatedOn,
			&x.g.IncreasedRate, &x.g.TravelDocument, &x.g.Scheme, &x.g.DepartureDate, &x.g.Payee.Name, &x.g.Payee.IBAN, &x.g.Payee.BIC)
		x.g.Adults, x.g.Children = int(adults), int(children)
		return x, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read return grants: %w", err)
	}
	var lines lineRows
	for _, x := range grants {
		l, err := payments.ReturnLine(run.ID, run.Period, x.ben, x.g, s.sch)
		if err != nil {
			return 0, 0, err
		}
		l.BatchID = run.BatchID
		if err := lines.add(l); err != nil {
			return 0, 0, err
		}
		cur.grant = x.g.GrantID
	}
	if err := execStatement(ctx, tx, lines.statement()); err != nil {
		return 0, 0, err
	}
	return len(grants), lines.n(), heartbeat(ctx, tx, run, now, len(grants), lines.n())
}

// trancheChunk batches the next reinsertion tranches released on or
// before the run's day.
func (s *RunStore) trancheChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, cur *grantCursor) (int, int, error) {
	now := s.stamp()
	rows, err := tx.Query(ctx, `SELECT t.grant_id, t.tranche_id, t.amount, t.released_on, g.beneficiary_id, g.level, g.amount, g.adults,
		g.children, g.decided_at, g.payee_name, g.payee_iban, g.payee_bic
		FROM reinsertion_tranches t JOIN reinsertion_grants g ON g.grant_id = t.grant_id
		WHERE t.released_on IS NOT NULL AND t.released_on <= $1 AND (t.grant_id, t.tranche_id) > ($3, $4)
		AND `+notBatched("t.grant_id || '/' || t.tranche_id", `('reinsertion', 'business_creation')`)+`
		ORDER BY t.grant_id, t.tranche_id LIMIT $5`, run.Day, run.Period.String(), cur.grant, cur.tranche, s.chunk)
	if err != nil {
		return 0, 0, fmt.Errorf("read released tranches: %w", err)
	}
	type tranche struct {
		ben     string
		g       payments.ReinsertionGrant
		decided time.Time
		t       payments.TrancheState
	}
	tranches, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tranche, error) {
		var x tranche
		var level string
		var adults, children int64
		err := r.Scan(&x.g.GrantID, &x.t.TrancheID, &x.t.Amount, &x.t.ReleasedOn, &x.ben, &level, &x.g.Amount, &adults, &children,
			&x.decided, &x.g.Payee.Name, &x.g.Payee.IBAN, &x.g.Payee.BIC)
		x.g.Level, x.g.Adults, x.g.Children = payments.ReinsertionLevel(level), int(adults), int(children)
		return x, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read released tranches: %w", err)
	}
	// Each grant with all its tranches, for CheckReinsertion.
	all := map[string][]payments.Tranche{}
	var grantIDs []string
	for _, x := range tranches {
		if _, ok := all[x.g.GrantID]; !ok {
			all[x.g.GrantID] = nil
			grantIDs = append(grantIDs, x.g.GrantID)
		}
	}
	if len(grantIDs) > 0 {
		err = queryEach(ctx, tx, `SELECT grant_id, tranche_id, amount FROM reinsertion_tranches WHERE grant_id = ANY($1::TEXT[])
			ORDER BY grant_id, position`, []any{grantIDs}, func(r pgx.Rows) error {
			var id string
			var t payments.Tranche
			err := r.Scan(&id, &t.TrancheID, &t.Amount)
			all[id] = append(all[id], t)
			return err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("read tranches: %w", err)
		}
	}
	var lines lineRows
	for _, x := range tranches {
		x.g.Tranches = all[x.g.GrantID]
		l, err := payments.TrancheLine(run.ID, run.Period, x.ben, x.g, payments.LegalDay(x.decided), x.t, s.sch)
		if err != nil {
			return 0, 0, err
		}
		l.BatchID = run.BatchID
		if err := lines.add(l); err != nil {
			return 0, 0, err
		}
		cur.grant, cur.tranche = x.g.GrantID, x.t.TrancheID
	}
	if err := execStatement(ctx, tx, lines.statement()); err != nil {
		return 0, 0, err
	}
	return len(tranches), lines.n(), heartbeat(ctx, tx, run, now, len(tranches), lines.n())
}

const runCols = `id, kind, period, run_day, status, trigger, started_by, started_at, finished_at, batch_id, processed, lines, error`

func scanRun(r pgx.CollectableRow) (payments.Run, error) {
	var run payments.Run
	var kind, period, status, trigger string
	var finished *time.Time
	var processed, lines int64
	err := r.Scan(&run.ID, &kind, &period, &run.Day, &status, &trigger, &run.By, &run.StartedAt, &finished, &run.BatchID,
		&processed, &lines, &run.Error)
	if err != nil {
		return run, err
	}
	run.Kind, run.Status, run.Trigger = payments.RunKind(kind), payments.RunStatus(status), payments.Trigger(trigger)
	run.Processed, run.Lines = int(processed), int(lines)
	if finished != nil {
		run.FinishedAt = *finished
	}
	run.Period, err = payments.ParsePeriod(period)
	return run, err
}

// Page sizes of the run and batch listings.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

func listLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultListLimit, nil
	case limit < 0 || limit > MaxListLimit:
		return 0, errs.Field("limit", "must be between 1 and %d", MaxListLimit)
	}
	return limit, nil
}

// Runs returns the latest runs, newest first.
func (s *RunStore) Runs(ctx context.Context, limit int) ([]payments.Run, error) {
	limit, err := listLimit(limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runCols+` FROM runs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	if out == nil {
		out = []payments.Run{}
	}
	return out, nil
}

// Run returns one run.
func (s *RunStore) Run(ctx context.Context, id uuid.UUID) (payments.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id)
	if err != nil {
		return payments.Run{}, fmt.Errorf("read run %s: %w", id, err)
	}
	run, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return run, errs.E(errs.NotFound, "run %s does not exist", id)
	}
	if err != nil {
		return run, fmt.Errorf("read run %s: %w", id, err)
	}
	return run, nil
}

// LastADAPeriod returns the latest period of an ADA run done, or
// cancelled by staff: a run still running, or failed, does not count.
func (s *RunStore) LastADAPeriod(ctx context.Context) (payments.Period, bool, error) {
	var period *string
	err := s.pool.QueryRow(ctx, `SELECT max(period) FROM runs WHERE kind = 'ada' AND status IN ('done', 'cancelled')`).Scan(&period)
	if err != nil {
		return payments.Period{}, false, fmt.Errorf("read the last ADA period run: %w", err)
	}
	if period == nil {
		return payments.Period{}, false, nil
	}
	p, err := payments.ParsePeriod(*period)
	return p, err == nil, err
}
