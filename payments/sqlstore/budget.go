package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// BudgetRoles may record and confirm amendments of an appropriation.
var BudgetRoles = []string{payments.RoleBudget, payments.RoleAdmin}

// BudgetStore keeps the amendments of the appropriations and posts the
// confirmed ones to the budget's memorandum accounts.
type BudgetStore struct {
	pool   *pgxpool.Pool
	ledger ledger.Service
	now    func() time.Time
	ready  atomic.Bool // the budget's accounts exist
}

// NewBudgetStore returns the budget's store on pool, posting to l; now
// nil means time.Now.
func NewBudgetStore(pool *pgxpool.Pool, l ledger.Service, now func() time.Time) *BudgetStore {
	if now == nil {
		now = time.Now
	}
	return &BudgetStore{pool: pool, ledger: l, now: now}
}

// SetUp creates the budget's memorandum control accounts that do not
// exist yet; it can be run any number of times. The store runs it before
// it first posts, so that the chart holds them only once a budget is kept.
func (s *BudgetStore) SetUp(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	for _, a := range payments.BudgetChart() {
		if _, err := s.ledger.CreateAccount(ctx, a); err != nil {
			return fmt.Errorf("set up budget accounts: %w", err)
		}
	}
	s.ready.Store(true)
	return nil
}

// balanceTx is the signed balance of an account, zero when it was never
// posted to.
func balanceTx(ctx context.Context, q pgx.Tx, account string) (decimal.Decimal, error) {
	var sum decimal.Decimal
	err := q.QueryRow(ctx, `SELECT COALESCE(sum(balance), 0) FROM account_balances WHERE account_code = $1`, account).Scan(&sum)
	if err != nil {
		return sum, fmt.Errorf("balance of %s: %w", account, err)
	}
	return sum, nil
}

// Record records an amendment, to be confirmed by another person. Nothing
// is posted until then.
func (s *BudgetStore) Record(ctx context.Context, a payments.Amendment, by payments.Actor) (payments.Amendment, error) {
	if err := by.Allow("record a budget amendment", BudgetRoles...); err != nil {
		return payments.Amendment{}, err
	}
	now := s.now().UTC()
	if err := payments.CheckAmendment(a, now); err != nil {
		return payments.Amendment{}, err
	}
	a.ID, a.Status, a.RecordedBy, a.RecordedAt = uuid.New(), payments.AmendmentRecorded, by.Name, now
	a.ConfirmedBy, a.ConfirmedAt = "", nil
	err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		available, err := balanceTx(ctx, tx, payments.BudgetAccount(payments.BudgetAvailable, a.Scheme, a.Year))
		if err != nil {
			return err
		}
		if err := payments.CheckAvailable(a, available); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO budget_amendments (id, scheme, fiscal_year, kind, amount, reference, reason, status, recorded_by, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			a.ID, string(a.Scheme), a.Year, string(a.Kind), a.Amount, a.Reference, a.Reason, string(a.Status), a.RecordedBy, a.RecordedAt)
		if err != nil {
			return err
		}
		return audit(ctx, tx, now.Truncate(time.Microsecond), by, "record", "budget_amendment", a.ID.String(), "", string(a.Status), a.Reason,
			map[string]any{"scheme": a.Scheme, "year": a.Year, "kind": a.Kind, "amount": a.Amount.StringFixed(2), "reference": a.Reference})
	})
	if err != nil {
		return payments.Amendment{}, fmt.Errorf("record budget amendment: %w", err)
	}
	return a, nil
}

// Confirm confirms an amendment another person recorded and posts it. A
// transfer out that would leave the available funds negative is refused.
// Confirming a confirmed amendment again posts nothing new (its entry is
// idempotent) and returns it.
func (s *BudgetStore) Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (payments.Amendment, error) {
	if err := by.Allow("confirm a budget amendment", BudgetRoles...); err != nil {
		return payments.Amendment{}, err
	}
	a, err := s.Amendment(ctx, id)
	if err != nil {
		return a, err
	}
	if a.RecordedBy == by.Name {
		return a, errs.E(errs.Forbidden, "%s recorded amendment %s: another person must confirm it", by.Name, id)
	}
	if a.Status == payments.AmendmentConfirmed {
		if a.ConfirmedBy != by.Name {
			return a, errs.E(errs.Conflict, "amendment %s was confirmed by %s", id, a.ConfirmedBy)
		}
		// The same confirmation again finishes one cut short.
		if err := s.post(ctx, a, *a.ConfirmedAt); err != nil {
			return a, err
		}
		return s.Amendment(ctx, id)
	}
	at := s.now().UTC().Truncate(time.Microsecond)
	err = db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		available, err := balanceTx(ctx, tx, payments.BudgetAccount(payments.BudgetAvailable, a.Scheme, a.Year))
		if err != nil {
			return err
		}
		if err := payments.CheckAvailable(a, available); err != nil {
			return errs.E(errs.Conflict, "%s", err.Error())
		}
		// Claim the amendment; the posting below is made only by the
		// confirmer who claimed it.
		tag, err := tx.Exec(ctx, `UPDATE budget_amendments SET status = 'confirmed', confirmed_by = $2, confirmed_at = $3
			WHERE id = $1 AND status = 'recorded'`, id, by.Name, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errs.E(errs.Conflict, "amendment %s is no longer awaiting confirmation", id)
		}
		return audit(ctx, tx, at.Truncate(time.Microsecond), by, "confirm", "budget_amendment", id.String(),
			string(payments.AmendmentRecorded), string(payments.AmendmentConfirmed), "", nil)
	})
	if err != nil {
		return a, fmt.Errorf("confirm budget amendment %s: %w", id, err)
	}
	// The claim is committed; the posting is idempotent, so a confirmation
	// cut short here is finished by confirming again, or by Repost.
	if err := s.post(ctx, a, at); err != nil {
		return a, err
	}
	return s.Amendment(ctx, id)
}

// post posts a confirmed amendment (idempotent) and records its entry.
func (s *BudgetStore) post(ctx context.Context, a payments.Amendment, at time.Time) error {
	if err := s.SetUp(ctx); err != nil {
		return err
	}
	entry, err := s.ledger.Post(ctx, payments.AmendmentPosting(a, at))
	if err != nil {
		return fmt.Errorf("post budget amendment %s: %w", a.ID, err)
	}
	if err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE budget_amendments SET entry_id = $2 WHERE id = $1`, a.ID, entry.ID)
		return err
	}); err != nil {
		return fmt.Errorf("confirm budget amendment %s: %w", a.ID, err)
	}
	return nil
}

// Repost posts the confirmed amendments whose posting was cut short (a
// crash between the confirmation and its entry); it is safe to run at any
// time.
func (s *BudgetStore) Repost(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, amendmentSelect+` WHERE status = 'confirmed' AND entry_id IS NULL ORDER BY confirmed_at LIMIT 1000`)
	if err != nil {
		return 0, fmt.Errorf("repost budget amendments: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanAmendment)
	if err != nil {
		return 0, fmt.Errorf("repost budget amendments: %w", err)
	}
	for _, a := range list {
		if err := s.post(ctx, a, *a.ConfirmedAt); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}

const amendmentSelect = `SELECT id, scheme, fiscal_year, kind, amount, reference, reason, status, recorded_by, recorded_at,
	COALESCE(confirmed_by, ''), confirmed_at FROM budget_amendments`

func scanAmendment(r pgx.CollectableRow) (payments.Amendment, error) {
	var a payments.Amendment
	var sc, kind, status string
	err := r.Scan(&a.ID, &sc, &a.Year, &kind, &a.Amount, &a.Reference, &a.Reason, &status, &a.RecordedBy, &a.RecordedAt, &a.ConfirmedBy, &a.ConfirmedAt)
	a.Scheme, a.Kind, a.Status = payments.Scheme(sc), payments.AmendmentKind(kind), payments.AmendmentStatus(status)
	return a, err
}

// Amendment returns one amendment.
func (s *BudgetStore) Amendment(ctx context.Context, id uuid.UUID) (payments.Amendment, error) {
	rows, err := s.pool.Query(ctx, amendmentSelect+` WHERE id = $1`, id)
	if err != nil {
		return payments.Amendment{}, fmt.Errorf("amendment %s: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAmendment)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, errs.E(errs.NotFound, "amendment %s does not exist", id)
	}
	if err != nil {
		return a, fmt.Errorf("amendment %s: %w", id, err)
	}
	return a, nil
}

// Appropriation is where the appropriation of a scheme and year stands.
type Appropriation struct {
	Scheme        payments.Scheme `json:"scheme"`
	Year          int             `json:"year"`
	Appropriation decimal.Decimal `json:"appropriation"`
	Available     decimal.Decimal `json:"available"`
	Committed     decimal.Decimal `json:"committed"`
	Spent         decimal.Decimal `json:"spent"`
}

// Appropriations reads the budget accounts of every scheme for year, in
// one transaction so that they balance.
func (s *BudgetStore) Appropriations(ctx context.Context, year int) ([]Appropriation, error) {
	var out []Appropriation
	err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		for _, sc := range payments.Schemes {
			a := Appropriation{Scheme: sc, Year: year}
			for _, f := range []struct {
				control string
				into    *decimal.Decimal
				neg     bool
			}{{payments.BudgetAppropriation, &a.Appropriation, true}, {payments.BudgetAvailable, &a.Available, false},
				{payments.BudgetCommitted, &a.Committed, false}, {payments.BudgetSpent, &a.Spent, false}} {
				b, err := balanceTx(ctx, tx, payments.BudgetAccount(f.control, sc, year))
				if err != nil {
					return err
				}
				if f.neg {
					b = b.Neg()
				}
				*f.into = b
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("appropriations of %d: %w", year, err)
	}
	return out, nil
}

// Positions reads where the appropriation of every scheme stands for year.
func (s *BudgetStore) Positions(ctx context.Context, year int) (map[payments.Scheme]payments.BudgetPosition, error) {
	out := map[payments.Scheme]payments.BudgetPosition{}
	err := db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		for _, sc := range payments.Schemes {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM budget_amendments WHERE scheme = $1 AND fiscal_year = $2 AND status = 'confirmed'`,
				string(sc), year).Scan(&n); err != nil {
				return err
			}
			avail, err := balanceTx(ctx, tx, payments.BudgetAccount(payments.BudgetAvailable, sc, year))
			if err != nil {
				return err
			}
			out[sc] = payments.BudgetPosition{Appropriated: n > 0, Available: avail}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("budget positions of %d: %w", year, err)
	}
	return out, nil
}

// Overridden audits an approval forced beyond the budget.
func (s *BudgetStore) Overridden(ctx context.Context, batch uuid.UUID, by payments.Actor, reason, refused string) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		return audit(ctx, tx, s.now().UTC().Truncate(time.Microsecond), by, "force_budget", "batch", batch.String(), "", "", reason,
			map[string]any{"refused": refused})
	})
}

// Committed records the entry that committed a batch's scheme; recording
// it again changes nothing. A commitment of a new approval round replaces
// one that was given back; one replacing a commitment still standing is
// refused, so that a scheme of a batch is never committed twice.
func (s *BudgetStore) Committed(ctx context.Context, c payments.BudgetCommitment) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO budget_commitments (batch_id, scheme, fiscal_year, amount, entry_id, committed_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch_id, scheme) DO UPDATE
			SET fiscal_year = excluded.fiscal_year, amount = excluded.amount, entry_id = excluded.entry_id,
				spent_entry = NULL, released_entry = NULL, committed_at = excluded.committed_at
			WHERE budget_commitments.released_entry IS NOT NULL AND budget_commitments.entry_id <> excluded.entry_id`,
			c.Batch, string(c.Scheme), c.Year, c.Amount, c.Entry, s.now().UTC())
		if err != nil {
			return err
		}
		var entry uuid.UUID
		var released *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT entry_id, released_entry FROM budget_commitments WHERE batch_id = $1 AND scheme = $2`,
			c.Batch, string(c.Scheme)).Scan(&entry, &released); err != nil {
			return err
		}
		switch {
		case entry != c.Entry:
			return fmt.Errorf("batch %s: %s is committed by entry %s, not given back: entry %s cannot commit it again",
				c.Batch, c.Scheme, entry, c.Entry)
		case released != nil:
			return fmt.Errorf("batch %s: entry %s committing %s was given back: its approval round cannot commit again", c.Batch, c.Entry, c.Scheme)
		}
		return nil
	})
}

// Commitments reads what a batch committed.
func (s *BudgetStore) Commitments(ctx context.Context, batch uuid.UUID) ([]payments.BudgetCommitment, error) {
	rows, err := s.pool.Query(ctx, `SELECT batch_id, scheme, fiscal_year, amount, entry_id, spent_entry, released_entry
		FROM budget_commitments WHERE batch_id = $1 ORDER BY scheme LIMIT 10`, batch)
	if err != nil {
		return nil, fmt.Errorf("commitments of batch %s: %w", batch, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.BudgetCommitment, error) {
		var c payments.BudgetCommitment
		var sc string
		err := r.Scan(&c.Batch, &sc, &c.Year, &c.Amount, &c.Entry, &c.Spent, &c.Released)
		c.Scheme = payments.Scheme(sc)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("commitments of batch %s: %w", batch, err)
	}
	return out, nil
}

// MarkSpent records the entry that spent a commitment.
func (s *BudgetStore) MarkSpent(ctx context.Context, batch uuid.UUID, sc payments.Scheme, entry uuid.UUID) error {
	return s.mark(ctx, "spent_entry", batch, sc, entry)
}

// MarkReleased records the entry that gave a commitment back.
func (s *BudgetStore) MarkReleased(ctx context.Context, batch uuid.UUID, sc payments.Scheme, entry uuid.UUID) error {
	return s.mark(ctx, "released_entry", batch, sc, entry)
}

func (s *BudgetStore) mark(ctx context.Context, column string, batch uuid.UUID, sc payments.Scheme, entry uuid.UUID) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE budget_commitments SET `+column+` = $3 WHERE batch_id = $1 AND scheme = $2`, batch, string(sc), entry)
		return err
	})
}

var _ payments.Budgets = (*BudgetStore)(nil)

// Report is the budget of year as of the current month: each scheme's
// appropriation, committed, spent and available funds, and its forecast.
// The monthly run of a scheme is what its approved batches paid for the
// last three months (the current one included), divided by three: the sum
// over the households paid of the average of their last three months. A
// batch counts from its approval on, released and settled by the bank or
// not; a reissue batch pays again what its first batch counted.
func (s *BudgetStore) Report(ctx context.Context, year int) (payments.BudgetReport, error) {
	asOf := payments.PeriodOf(payments.LegalDay(s.now()))
	if year < 2000 || year > asOf.Year+5 {
		return payments.BudgetReport{}, errs.Field("year", "%d is not a fiscal year from 2000 to %d", year, asOf.Year+5)
	}
	apps, err := s.Appropriations(ctx, year)
	if err != nil {
		return payments.BudgetReport{}, err
	}
	runs := map[payments.Scheme]decimal.Decimal{}
	from := asOf.Prev().Prev()
	rows, err := s.pool.Query(ctx, `SELECT l.scheme, COALESCE(sum(l.net), 0) FROM batch_lines l JOIN batches b ON b.id = l.batch_id
		WHERE b.status IN ('approved', 'releasing', 'released', 'settled', 'partly_rejected') AND b.kind <> 'reissue'
		AND l.period >= $1 AND l.period <= $2 GROUP BY l.scheme`,
		from.String(), asOf.String())
	if err != nil {
		return payments.BudgetReport{}, fmt.Errorf("budget report %d: %w", year, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sc string
		var sum decimal.Decimal
		if err := rows.Scan(&sc, &sum); err != nil {
			return payments.BudgetReport{}, fmt.Errorf("budget report %d: %w", year, err)
		}
		runs[payments.Scheme(sc)] = sum.Div(decimal.NewFromInt(3)).Round(2)
	}
	if err := rows.Err(); err != nil {
		return payments.BudgetReport{}, fmt.Errorf("budget report %d: %w", year, err)
	}
	r := payments.BudgetReport{Year: year, AsOf: asOf}
	for _, a := range apps {
		r.Lines = append(r.Lines, payments.Forecast(payments.BudgetLine{Scheme: a.Scheme, Year: year, Appropriation: a.Appropriation,
			Committed: a.Committed, Spent: a.Spent, Available: a.Available, MonthlyRun: runs[a.Scheme]}, asOf))
	}
	return r, nil
}

// budgetCollector exports the months of cover of each scheme's
// appropriation for the current year, and the threshold below which the
// alert fires.
type budgetCollector struct {
	s         *BudgetStore
	minMonths int
	cover     *prometheus.Desc
	min       *prometheus.Desc
}

// BudgetGauges exports ledger_budget_months_of_cover{scheme}: how many
// months of the current run the available funds of the current year pay
// for (NaN for a scheme without an appropriation, which the alert leaves
// alone; 99 when nothing runs), and ledger_budget_min_months, the
// BUDGET_MIN_MONTHS the alert compares it with.
func BudgetGauges(s *BudgetStore, minMonths int) prometheus.Collector {
	return &budgetCollector{s: s, minMonths: minMonths,
		cover: prometheus.NewDesc("ledger_budget_months_of_cover",
			"Months of the current monthly run that the scheme's available appropriation for the current year pays for (NaN: no appropriation).",
			[]string{"scheme"}, nil),
		min: prometheus.NewDesc("ledger_budget_min_months",
			"BUDGET_MIN_MONTHS: the months of cover below which the budget alert fires.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.cover; ch <- c.min }

// Collect implements prometheus.Collector.
func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.min, prometheus.GaugeValue, float64(c.minMonths))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	year := payments.LegalDay(c.s.now()).Time().Year()
	rep, err := c.s.Report(ctx, year)
	pos, perr := c.s.Positions(ctx, year)
	for _, sc := range payments.Schemes {
		v := math.NaN()
		if err == nil && perr == nil && pos[sc].Appropriated {
			for _, l := range rep.Lines {
				if l.Scheme == sc {
					v = l.MonthsOfCover.InexactFloat64()
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(c.cover, prometheus.GaugeValue, v, string(sc))
	}
}
