package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/payments"
)

// MaxAmendmentsListed bounds the amendments of a year that Amendments
// returns.
const MaxAmendmentsListed = 500

// Amendments lists the amendments of the appropriations of year, recorded
// or confirmed, the latest recorded first (at most MaxAmendmentsListed).
func (s *BudgetStore) Amendments(ctx context.Context, year int) ([]payments.Amendment, error) {
	rows, err := s.pool.Query(ctx, amendmentSelect+` WHERE fiscal_year = $1 ORDER BY recorded_at DESC, id LIMIT $2`, year, MaxAmendmentsListed)
	if err != nil {
		return nil, fmt.Errorf("amendments of %d: %w", year, err)
	}
	out, err := pgx.CollectRows(rows, scanAmendment)
	if err != nil {
		return nil, fmt.Errorf("amendments of %d: %w", year, err)
	}
	return out, nil
}
