package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	// bulkInsert writes an ADA run's lines with multi-row INSERTs rather
	// than COPY.
	bulkInsert bool
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

// WithRunBulkInsert, when insert is set, has the ADA runs write their
// lines with multi-row INSERTs rather than COPY (the default): for a
// database role that may not COPY, as BULK_WRITE=insert, or auto on such a
// role, says. The rows written are the same.
func WithRunBulkInsert(insert bool) RunOption { return func(s *RunStore) { s.bulkInsert = insert } }

// WithProgress sets a function called after each chunk a run writes, with
// the run as it stands: for progress bars and logs. (An ADA run records its
// progress in its row after its first chunk, then every few seconds.)
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
		totals, err := s.adaRun(ctx, &run)
		return s.end(ctx, run, totals, err)
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
		return s.end(ctx, run, nil, s.grantsRun(ctx, &run))
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
func (s *RunStore) end(ctx context.Context, run payments.Run, totals map[payments.Scheme]payments.Totals, cause error) (payments.Run, error) {
	if cause == nil {
		cause = s.finish(ctx, &run, totals)
	}
	if cause == nil {
		s.analyze(ctx)
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
// transaction, and marks the draft it replaces. totals, when not nil, are
// the totals of the lines the run's committed chunks wrote, which are the
// batch's (its chunks alone write it, once each); else they are read.
func (s *RunStore) finish(ctx context.Context, run *payments.Run, written map[payments.Scheme]payments.Totals) error {
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
		totals := map[uuid.UUID]map[payments.Scheme]payments.Totals{run.BatchID: written}
		if written == nil {
			totals, err = readTotals(ctx, tx, []string{run.BatchID.String()}, `SELECT batch_id, scheme, count(*), sum(gross), sum(deduction), sum(net)
				FROM batch_lines WHERE batch_id = ANY($1::UUID[]) GROUP BY batch_id, scheme`)
			if err != nil {
				return fmt.Errorf("add up the batch: %w", err)
			}
		}
		var t totalRows
		lines := 0
		for scheme, x := range totals[run.BatchID] {
			if x.Lines == 0 {
				continue
			}
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

// analyze refreshes the planner's statistics of batch_lines once a run has
// written its batch, so that the approval and the release, which page
// through the batch by its key right after, are planned on the batch as it
// now is rather than on a table the statistics still think empty (a plan
// that sorted the whole batch for every page of 10,000 lines). Both
// PostgreSQL and CockroachDB take ANALYZE; it reads a sample, not the
// table. It is best effort: a role that may not analyze, or a server that
// takes too long, leaves the statistics to the server's own collection.
func (s *RunStore) analyze(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, _ = s.pool.Exec(ctx, `ANALYZE batch_lines`)
}
