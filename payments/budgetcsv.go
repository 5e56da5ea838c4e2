package payments

import (
	"encoding/csv"
	"fmt"
	"io"
)

// BudgetColumns are the columns of the budget of a year, in its table and
// its CSV: one row per scheme (BudgetRow).
var BudgetColumns = []string{"scheme", "appropriation", "committed", "spent", "available", "monthly_run", "forecast", "runs_out", "months_of_cover"}

// BudgetRow is a line of the budget under BudgetColumns: amounts with two
// decimals and a point, the month it runs out as "2027-09" or empty.
func BudgetRow(l BudgetLine) []string {
	return []string{string(l.Scheme), l.Appropriation.StringFixed(2), l.Committed.StringFixed(2), l.Spent.StringFixed(2),
		l.Available.StringFixed(2), l.MonthlyRun.StringFixed(2), l.Forecast.StringFixed(2), l.RunsOut, l.MonthsOfCover.StringFixed(2)}
}

// WriteBudgetCSV writes the budget of a year as CSV: BudgetColumns, then a
// row per scheme. `ledgerctl budget show --csv` and the console's download
// write the same.
func WriteBudgetCSV(w io.Writer, rep BudgetReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BudgetColumns); err != nil {
		return fmt.Errorf("budget %d as CSV: %w", rep.Year, err)
	}
	for _, l := range rep.Lines {
		if err := cw.Write(BudgetRow(l)); err != nil {
			return fmt.Errorf("budget %d as CSV: %w", rep.Year, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("budget %d as CSV: %w", rep.Year, err)
	}
	return nil
}
