package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// DefaultUnopenedDays is how many days a beneficiary's facts may wait for a
// rights opening before Unopened lists it, unless WithUnopenedDays says
// otherwise (ORPHAN_FACTS_DAYS).
const DefaultUnopenedDays = 7

// MaxUnopenedDays bounds the days a query of Unopened may ask for.
const MaxUnopenedDays = 3650

// WithUnopenedDays sets how many days a beneficiary's facts may wait for a
// rights opening before Unopened lists it; below 1 it keeps the default.
func WithUnopenedDays(days int) Option {
	return func(s *Store) {
		if days > 0 {
			s.unopenedDays = days
		}
	}
}

// unopenedCursor is the position after the last beneficiary of a page.
type unopenedCursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

func (c unopenedCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeUnopenedCursor(s string) (unopenedCursor, error) {
	var c unopenedCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.At.IsZero() || c.ID == "" {
		return c, errs.Field("cursor", "is not a cursor returned by a previous page")
	}
	return c, nil
}

// Unopened lists the beneficiaries with facts that have waited for a
// rights opening for q.Days days or more (the store's setting when 0), as
// of the store's clock, longest waiting first, a page at a time: it returns
// the cursor of the next page, empty after the last. A beneficiary leaves
// the list when its opening is applied.
func (s *Store) Unopened(ctx context.Context, q payments.UnopenedQuery) ([]payments.Unopened, string, error) {
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	days := q.Days
	switch {
	case days == 0:
		days = s.unopenedDays
	case days < 0 || days > MaxUnopenedDays:
		return nil, "", errs.Field("days", "must be between 1 and %d", MaxUnopenedDays)
	}
	cutoff := s.stamp().AddDate(0, 0, -days)
	args := []any{cutoff, limit + 1}
	where := `unopened_since IS NOT NULL AND unopened_since <= $1`
	if q.Cursor != "" {
		c, err := decodeUnopenedCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		args = append(args, c.At, c.ID)
		where += ` AND (unopened_since, id) > ($3::TIMESTAMPTZ, $4::TEXT)`
	}
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.unopened_since, b.first_seen,
		(SELECT count(*) FROM events e WHERE e.beneficiary_id = b.id)
		FROM beneficiaries b WHERE `+where+` ORDER BY b.unopened_since, b.id LIMIT $2`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list the beneficiaries without a rights opening: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.Unopened, error) {
		var u payments.Unopened
		var events int64
		err := r.Scan(&u.ID, &u.Since, &u.FirstSeen, &events)
		u.Events = int(events)
		return u, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list the beneficiaries without a rights opening: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = unopenedCursor{At: last.Since, ID: last.ID}.encode()
	}
	return out, next, nil
}

// UnopenedGauge returns the gauge ledger_beneficiaries_unopened: how many
// beneficiaries have facts that have waited for a rights opening for the
// store's days or more, counted at each scrape (NaN when the database does
// not answer within five seconds).
func UnopenedGauge(s *Store) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ledger_beneficiaries_unopened",
		Help: "Beneficiaries whose facts have waited for a rights opening for ORPHAN_FACTS_DAYS days or more.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := s.unopenedCount(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
}

// unopenedCount counts the beneficiaries Unopened lists with the store's
// days.
func (s *Store) unopenedCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM beneficiaries WHERE unopened_since IS NOT NULL AND unopened_since <= $1`,
		s.stamp().AddDate(0, 0, -s.unopenedDays)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the beneficiaries without a rights opening: %w", err)
	}
	return n, nil
}
