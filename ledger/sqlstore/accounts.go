package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// accountCache remembers accounts that exist. Accounts are never changed
// or deleted, so a cached account is never stale. Control and other chart
// accounts are always kept; beneficiaries' sub-ledger accounts are kept up
// to maxCachedSubAccounts, an arbitrary one making room for the next, so
// the cache stays small however many beneficiaries there are.
type accountCache struct {
	mu    sync.RWMutex
	chart map[string]ledger.Account
	sub   map[string]ledger.Account
}

const maxCachedSubAccounts = 50000

func (c *accountCache) get(code string) (ledger.Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if a, ok := c.chart[code]; ok {
		return a, true
	}
	a, ok := c.sub[code]
	return a, ok
}

func (c *accountCache) put(a ledger.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chart == nil {
		c.chart = make(map[string]ledger.Account)
		c.sub = make(map[string]ledger.Account)
	}
	if a.Parent == "" {
		c.chart[a.Code] = a
		return
	}
	if len(c.sub) >= maxCachedSubAccounts {
		for k := range c.sub {
			delete(c.sub, k)
			break
		}
	}
	c.sub[a.Code] = a
}

const accountCols = `code, name, type, currency, normal_side, COALESCE(parent_code, ''), sub_ledger, balance_shards, metadata, created_at`

func scanAccount(row pgx.Row) (ledger.Account, error) {
	var a ledger.Account
	var meta []byte
	var shards int64
	err := row.Scan(&a.Code, &a.Name, &a.Type, &a.Currency, &a.NormalSide, &a.Parent, &a.SubLedger, &shards, &meta, &a.CreatedAt)
	if err != nil {
		return a, err
	}
	a.BalanceShards = int(shards)
	if len(meta) > 0 && string(meta) != "{}" {
		if err := json.Unmarshal(meta, &a.Metadata); err != nil {
			return a, fmt.Errorf("account %s metadata: %w", a.Code, err)
		}
	}
	return a, nil
}

// CreateAccount adds an account. Creating an account that exists with the
// same type and currency returns it unchanged; with others it is a conflict.
func (s *Store) CreateAccount(ctx context.Context, a ledger.Account) (ledger.Account, error) {
	if a.BalanceShards == 0 {
		a.BalanceShards = 1
	}
	if a.NormalSide == "" {
		a.NormalSide = a.Type.NormalSide()
	}
	if err := a.Validate(); err != nil {
		return a, err
	}
	var out ledger.Account
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		if a.Parent != "" {
			p, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE code = $1`, a.Parent))
			if errors.Is(err, pgx.ErrNoRows) {
				return errs.Field("parent", "account %q does not exist", a.Parent)
			}
			if err != nil {
				return err
			}
			if p.Currency != a.Currency {
				return errs.Field("currency", "%s differs from the parent account's %s", a.Currency, p.Currency)
			}
		}
		meta, _ := json.Marshal(nonNil(a.Metadata))
		_, err := tx.Exec(ctx, `INSERT INTO accounts (code, name, type, currency, normal_side, parent_code, sub_ledger, balance_shards, metadata)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9) ON CONFLICT (code) DO NOTHING`,
			a.Code, a.Name, a.Type, a.Currency, a.NormalSide, a.Parent, a.SubLedger, int64(a.BalanceShards), meta)
		if err != nil {
			return err
		}
		out, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE code = $1`, a.Code))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("create account %s: %w", a.Code, err)
	}
	if out.Type != a.Type || out.Currency != a.Currency || out.NormalSide != a.NormalSide || out.Parent != a.Parent || out.SubLedger != a.SubLedger {
		return out, errs.E(errs.Conflict, "account %s already exists as a %s account in %s", a.Code, out.Type, out.Currency)
	}
	s.accounts.put(out)
	return out, nil
}

// Account returns one account.
func (s *Store) Account(ctx context.Context, code string) (ledger.Account, error) {
	if a, ok := s.accounts.get(code); ok {
		return a, nil
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, errs.E(errs.NotFound, "account %q does not exist", code)
	}
	if err != nil {
		return a, fmt.Errorf("read account %s: %w", code, err)
	}
	s.accounts.put(a)
	return a, nil
}

// Accounts lists accounts by code.
func (s *Store) Accounts(ctx context.Context, prefix, after string, limit int) ([]ledger.Account, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE code > $1 AND ($2 = '' OR (code >= $2 AND code < $2 || chr(1114111))) ORDER BY code LIMIT $3`, after, prefix, limit)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []ledger.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// resolver finds the accounts an entry names, inside its transaction, and
// creates the beneficiaries' sub-ledger accounts that do not exist yet.
type resolver struct {
	s       *Store
	found   map[string]ledger.Account
	created []ledger.Account
}

func (s *Store) newResolver() *resolver { return &resolver{s: s, found: map[string]ledger.Account{}} }

// lookup loads the named accounts that are not cached; it reports unknown
// ones through missing.
func (r *resolver) lookup(ctx context.Context, q querier, codes []string) (missing []string, err error) {
	var ask []string
	for _, c := range codes {
		if _, ok := r.found[c]; ok {
			continue
		}
		if a, ok := r.s.accounts.get(c); ok {
			r.found[c] = a
			continue
		}
		ask = append(ask, c)
	}
	if len(ask) == 0 {
		return nil, nil
	}
	args := []any{ask}
	if len(ask) > 100 {
		// A statement planned once for a small chart would scan the table
		// for each of thousands of codes: plan this one afresh.
		args = []any{pgx.QueryExecModeDescribeExec, ask}
	}
	rows, err := q.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE code = ANY($1)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		r.found[a.Code] = a
		r.s.accounts.put(a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range ask {
		if _, ok := r.found[c]; !ok {
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// subLedgerParent returns the control account under which code would be a
// beneficiary account, when there is one.
func (r *resolver) subLedgerParent(ctx context.Context, q querier, code string) (ledger.Account, bool, error) {
	i := strings.LastIndexByte(code, ':')
	if i <= 0 {
		return ledger.Account{}, false, nil
	}
	parent := code[:i]
	if _, err := r.lookup(ctx, q, []string{parent}); err != nil {
		return ledger.Account{}, false, err
	}
	p, ok := r.found[parent]
	return p, ok && p.SubLedger, nil
}

// child is the sub-ledger account code under parent p.
func child(p ledger.Account, code string) ledger.Account {
	return ledger.Account{
		Code: code, Name: p.Name + " — " + code[len(p.Code)+1:], Type: p.Type, Currency: p.Currency,
		NormalSide: p.NormalSide, Parent: p.Code, BalanceShards: 1,
	}
}

// resolve makes sure every code names an account, creating sub-ledger
// accounts where the chart allows; field(i) names the offending field.
func (r *resolver) resolve(ctx context.Context, tx pgx.Tx, codes []string, field func(i int) string, create bool) error {
	missing, err := r.lookup(ctx, tx, codes)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	miss := make(map[string]bool, len(missing))
	for _, c := range missing {
		miss[c] = true
	}
	var toCreate []ledger.Account
	for i, c := range codes {
		if !miss[c] {
			continue
		}
		p, ok, err := r.subLedgerParent(ctx, tx, c)
		if err != nil {
			return err
		}
		if !ok {
			return errs.Field(field(i), "account %q does not exist", c)
		}
		a := child(p, c)
		r.found[c] = a
		delete(miss, c)
		toCreate = append(toCreate, a)
	}
	if create && len(toCreate) > 0 {
		if err := insertAccounts(ctx, tx, toCreate); err != nil {
			return err
		}
		r.created = append(r.created, toCreate...)
	}
	return nil
}

// insertAccounts creates sub-ledger accounts in one statement.
func insertAccounts(ctx context.Context, tx pgx.Tx, as []ledger.Account) error {
	codes := make([]string, len(as))
	names := make([]string, len(as))
	types := make([]string, len(as))
	curs := make([]string, len(as))
	sides := make([]string, len(as))
	parents := make([]string, len(as))
	for i, a := range as {
		codes[i], names[i], types[i], curs[i], sides[i], parents[i] = a.Code, a.Name, string(a.Type), a.Currency, string(a.NormalSide), a.Parent
	}
	_, err := tx.Exec(ctx, `INSERT INTO accounts (code, name, type, currency, normal_side, parent_code)
		SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[])
		ON CONFLICT (code) DO NOTHING`, pgx.QueryExecModeDescribeExec, codes, names, types, curs, sides, parents)
	if err != nil {
		return fmt.Errorf("create sub-ledger accounts: %w", err)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
