package ledger

import (
	"context"
	"fmt"
)

// SetUpChart creates the accounts of Chart, and the extra ones given (the
// service's other bank accounts, see BankAccount), that do not exist yet; it
// can be run any number of times.
func SetUpChart(ctx context.Context, s Service, extra ...Account) error {
	for _, a := range append(Chart[:len(Chart):len(Chart)], extra...) {
		if _, err := s.CreateAccount(ctx, a); err != nil {
			return fmt.Errorf("set up chart: %w", err)
		}
	}
	return nil
}
