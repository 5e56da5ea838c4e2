package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/demostaff"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// The two people of the budget in the demonstration (demostaff): one
// records an appropriation, the other confirms it.
var (
	demoBudget1 = demoActor(demostaff.BudgetRecorder)
	demoBudget2 = demoActor(demostaff.BudgetConfirmer)
)

// demoActor is the demo person of that name, acting in the demonstration.
func demoActor(name string) payments.Actor {
	a, ok := demostaff.Actor(name, "demo")
	if !ok {
		panic("demostaff has no " + name)
	}
	return a
}

// demoBudgetYear is the fiscal year of the demonstration's month.
const demoBudgetYear = 2026

// budgetClock is the budget's clock in the demonstration: the real time,
// kept within the demonstration's fiscal year so that its appropriation
// may still be recorded.
func (d *demo) budgetClock() time.Time {
	end := time.Date(demoBudgetYear, 12, 31, 12, 0, 0, 0, time.UTC)
	if n := d.now(); n.Before(end) {
		return n
	}
	return end
}

// demoAppropriation is the appropriation the demonstration gives a scheme
// for the year: three months of what its batches pay, rounded up to the
// thousand, so that the month fits and the forecast has room.
func demoAppropriation(net decimal.Decimal) decimal.Decimal {
	thousand := decimal.NewFromInt(1000)
	return net.Mul(decimal.NewFromInt(3)).Div(thousand).Ceil().Mul(thousand)
}

// appropriate records and confirms, four eyes, the year's appropriation
// of each scheme the batches pay, before their approval.
func (d *demo) appropriate(ctx context.Context, bs *paysql.BudgetStore, batches ...payments.Batch) error {
	nets := map[payments.Scheme]decimal.Decimal{}
	for _, b := range batches {
		for sc, t := range b.Totals {
			nets[sc] = nets[sc].Add(t.Net)
		}
	}
	for _, sc := range payments.Schemes {
		if !nets[sc].IsPositive() {
			continue
		}
		a, err := bs.Record(ctx, payments.Amendment{Scheme: sc, Year: demoBudgetYear, Kind: payments.AmendmentInitial,
			Amount: demoAppropriation(nets[sc]), Reference: fmt.Sprintf("LFI %d", demoBudgetYear), Reason: "initial appropriation of the year"},
			demoBudget1)
		if err != nil {
			return fmt.Errorf("appropriation of %s: %w", sc, err)
		}
		if _, err := bs.Confirm(ctx, a.ID, demoBudget2); err != nil {
			return fmt.Errorf("appropriation of %s: %w", sc, err)
		}
		d.step("%s records the %d appropriation of %s, %s; %s confirms it", demoBudget1.Name, demoBudgetYear, sc,
			cli.Amount(a.Amount), demoBudget2.Name)
	}
	return nil
}

// committed says what the approvals committed of each appropriation.
func (d *demo) committed(ctx context.Context, bs *paysql.BudgetStore) error {
	apps, err := bs.Appropriations(ctx, demoBudgetYear)
	if err != nil {
		return err
	}
	var parts []string
	for _, a := range apps {
		if a.Appropriation.IsPositive() {
			parts = append(parts, fmt.Sprintf("%s %s committed, %s available", a.Scheme, cli.Amount(a.Committed), cli.Amount(a.Available)))
		}
	}
	d.step("budget %d after approval: %s", demoBudgetYear, strings.Join(parts, "; "))
	return nil
}

// budget prints the budget of the year, as `ledgerctl budget show` does.
func (d *demo) budget(ctx context.Context, bs *paysql.BudgetStore) error {
	rep, err := bs.Report(ctx, demoBudgetYear)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	if err := budgetTable(d.w, rep); err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	return nil
}

// budgetStore is the demonstration's budget, posting to svc.
func (d *demo) budgetStore(svc ledger.Service) *paysql.BudgetStore {
	return paysql.NewBudgetStore(d.a.pool, svc, d.budgetClock)
}
