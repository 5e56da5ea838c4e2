package ledger

import (
	"context"
	"fmt"
)

// SetUpChart creates the accounts of Chart that do not exist yet; it can be
// run any number of times.
func SetUpChart(ctx context.Context, s Service) error {
	for _, a := range Chart {
		if _, err := s.CreateAccount(ctx, a); err != nil {
			return fmt.Errorf("set up chart: %w", err)
		}
	}
	return nil
}
