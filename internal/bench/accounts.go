package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ofii/allowances/ledger"
)

// beneficiary is the bulk entry's i-th beneficiary account.
func beneficiary(i int) string { return ledger.SubAccount(ledger.Payable, "B"+strconv.Itoa(i)) }

// cold is the transfers' i-th account.
func cold(i int) string { return ledger.SubAccount(ledger.Payable, "C"+strconv.Itoa(i)) }

// createAccounts creates the cold accounts of the transfers and, in
// AccountsInsert mode, the beneficiary accounts of the largest bulk entry,
// and says how the latter came to be.
func (e *env) createAccounts(ctx context.Context) (string, error) {
	parent, err := e.svc.Account(ctx, ledger.Payable)
	if err != nil {
		return "", err
	}
	if err := e.insertAccounts(ctx, "cold accounts", parent, e.opts.ColdAccounts, cold); err != nil {
		return "", err
	}
	if e.opts.Accounts == AccountsStore {
		return "created by the store on first posting (timed in b)", nil
	}
	n := 0
	for _, s := range e.opts.Sizes {
		n = max(n, s)
	}
	if err := e.insertAccounts(ctx, "beneficiary accounts", parent, n, beneficiary); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d created beforehand by multi-row INSERT into accounts (not timed)", n), nil
}

// insertAccounts writes n sub-ledger accounts of parent with multi-row
// INSERTs of up to 1,000 rows, outside the timings.
func (e *env) insertAccounts(ctx context.Context, step string, parent ledger.Account, n int, code func(int) string) error {
	const batch = 1000
	const cols = 7
	side := parent.NormalSide
	if side == "" {
		side = parent.Type.NormalSide()
	}
	e.prog.Step(step, int64(n))
	defer e.prog.Done()
	var sql strings.Builder
	args := make([]any, 0, batch*cols)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		sql.Reset()
		args = args[:0]
		sql.WriteString(`INSERT INTO accounts (code, name, type, currency, normal_side, parent_code, balance_shards) VALUES `)
		for i := lo; i < hi; i++ {
			if i > lo {
				sql.WriteByte(',')
			}
			p := len(args)
			fmt.Fprintf(&sql, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7)
			c := code(i)
			args = append(args, c, parent.Name+" — "+c[len(parent.Code)+1:], string(parent.Type),
				parent.Currency, string(side), parent.Code, int64(1))
		}
		sql.WriteString(` ON CONFLICT (code) DO NOTHING`)
		if _, err := e.pool.Exec(ctx, sql.String(), args...); err != nil {
			return fmt.Errorf("create %s: %w", step, err)
		}
		e.prog.Set(int64(hi))
	}
	return nil
}
