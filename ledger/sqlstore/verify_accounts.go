package sqlstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
	"github.com/shopspring/decimal"
)

// sealedState recomputes, in one read-only transaction, the balances
// digest of the last seal from the sealed balances and compares it with the
// one the seal recorded. Incremental, it adds the sealed balances to the
// trial balance, and the entries that this seal does not cover are the ones
// entryPages reads. The rows are narrow, one per account and currency, and
// streamed: the transaction must see them all at one seal.
func (v *verifier) sealedState(ctx context.Context, _ *ledger.VerifyReport) error {
	var (
		head   sealedHead
		digest ledger.BalancesDigest
		trial  map[string]decimal.Decimal
	)
	err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		digest, trial = ledger.BalancesDigest{}, map[string]decimal.Decimal{}
		if err := tx.QueryRow(ctx, `SELECT h.seq, s.balances_hash FROM seal_head h LEFT JOIN seals s ON s.seq = h.seq WHERE h.id = 1`).
			Scan(&head.seq, &head.balances); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT account_code, currency, balance, postings FROM sealed_balances`)
		if err != nil {
			return err
		}
		var x sealedRow
		return sumRows(rows, []any{&x.acct, &x.cur, &x.bal, &x.n}, func() {
			digest.Add(x.acct, x.cur, x.bal, x.n)
			trial[x.cur] = trial[x.cur].Add(x.bal)
		})
	})
	if err != nil {
		return fmt.Errorf("sealed balances: %w", err)
	}
	v.sealedAt = head.seq
	if !v.full {
		for cur, sum := range trial {
			v.trial[cur] = v.trial[cur].Add(sum)
		}
	}
	v.checkDigest(head, &digest)
	return nil
}

// sealedHead is the last seal as a page saw it.
type sealedHead struct {
	seq      int64
	balances []byte // its balances digest; nil when it predates sealed states
}

// checkDigest compares the digest of the sealed balances with the one the
// last seal recorded.
func (v *verifier) checkDigest(head sealedHead, digest *ledger.BalancesDigest) {
	if head.seq > 0 && head.balances == nil {
		return
	}
	want, err := ledger.ParseBalancesDigest(head.balances)
	if err != nil {
		v.found.add(checkSealedBalances, ledger.Problem{Kind: "seal", Seal: head.seq, Detail: err.Error()})
		return
	}
	if !want.Equal(digest) {
		v.found.add(checkSealedBalances, ledger.Problem{Kind: "seal", Seal: head.seq,
			Detail: "the sealed balances differ from those the seal recorded"})
	}
}

// incrementalAccountPages is how many times more accounts than a page
// incremental verify reads in one transaction.
const incrementalAccountPages = 10

// accountPages checks the accounts page by page, each page at the last
// seal it sees: when full, each stored balance against all its postings
// and each sealed balance against the postings of the sealed entries;
// incremental, each stored balance against its sealed balance plus the
// postings of the entries no seal covers.
func (v *verifier) accountPages(ctx context.Context, rep *ledger.VerifyReport) error {
	var lo any
	for {
		out, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			var seq int64
			if err := tx.QueryRow(ctx, `SELECT seq FROM seal_head WHERE id = 1`).Scan(&seq); err != nil {
				return err
			}
			args := []any{}
			cond := keyRange{lo: lo}.cond("code", &args)
			page := v.page
			if !v.full {
				// Narrow rows, and the postings since the last seal read
				// once per page: larger pages.
				page *= incrementalAccountPages
			}
			args = append(args, page)
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT code FROM accounts WHERE %s ORDER BY code LIMIT $%d`, cond, len(args)), args...)
			if err != nil {
				return err
			}
			codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			r := keyRange{lo: lo}
			if len(codes) == page {
				r.hi = codes[len(codes)-1]
			}
			out.accounts = int64(len(codes))
			out.next, out.done = keyRange{lo: r.hi}, r.hi == nil
			if v.full {
				args = args[:0]
				sealed, err := readSealed(ctx, tx, r.cond("account_code", &args), args...)
				if err != nil {
					return err
				}
				if err := verifyBalances(ctx, tx, r, out); err != nil {
					return err
				}
				if err := verifySealedBalances(ctx, tx, r, seq, sealed, out); err != nil {
					return err
				}
			} else if err := verifyTailBalances(ctx, tx, r, seq, out); err != nil {
				return err
			}
			return verifyAccounts(ctx, tx, r, out)
		})
		if err != nil {
			return fmt.Errorf("accounts after %v: %w", lo, err)
		}
		if out.done {
			return nil
		}
		lo = out.next.lo
	}
}

// sums is a balance and its number of postings.
type sums struct {
	bal decimal.Decimal
	n   int64
}

// sumRows scans each row into dest, then calls each.
func sumRows(rows pgx.Rows, dest []any, each func()) error {
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		each()
	}
	return rows.Err()
}

// verifyTailBalances: each stored balance equals its sealed balance (at
// seal seq) plus the postings of the entries no seal covers. The database
// compares them and returns the accounts that differ only.
func verifyTailBalances(ctx context.Context, tx pgx.Tx, r keyRange, seq int64, out *pageOut) error {
	// The unsealed entries first, then their postings by key: the
	// postings of sealed entries are never read.
	rows, err := tx.Query(ctx, `SELECT id FROM entries WHERE seal_seq IS NULL`)
	if err != nil {
		return err
	}
	tail, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	args := []any{tail}
	c1, c2, c3 := r.cond("account_code", &args), r.cond("account_code", &args), r.cond("account_code", &args)
	rows, err = tx.Query(ctx, `SELECT a, sum(sb), sum(sn), sum(eb), sum(en), sum(tb), sum(tn) FROM (
		SELECT account_code AS a, balance AS sb, postings AS sn, 0::DECIMAL AS eb, 0::BIGINT AS en, 0::DECIMAL AS tb, 0::BIGINT AS tn
			FROM account_balances WHERE `+c1+`
		UNION ALL SELECT account_code, 0::DECIMAL, 0::BIGINT, balance, postings, 0::DECIMAL, 0::BIGINT FROM sealed_balances WHERE `+c2+`
		UNION ALL SELECT account_code, 0::DECIMAL, 0::BIGINT, 0::DECIMAL, 0::BIGINT, amount, 1::BIGINT FROM postings WHERE entry_id = ANY($1) AND `+c3+`
		) u GROUP BY a HAVING sum(sb) <> sum(eb) + sum(tb) OR sum(sn) <> sum(en) + sum(tn) ORDER BY a`, args...)
	if err != nil {
		return err
	}
	var (
		acct                   string
		stored, sealed, posted sums
	)
	return sumRows(rows, []any{&acct, &stored.bal, &stored.n, &sealed.bal, &sealed.n, &posted.bal, &posted.n}, func() {
		out.found.add(checkBalances, ledger.Problem{Kind: "balance_mismatch", Account: acct,
			Detail: fmt.Sprintf("stored balance %s over %d postings, sealed %s over %d at seal %d plus %s over %d since",
				stored.bal.StringFixed(2), stored.n, sealed.bal.StringFixed(2), sealed.n, seq, posted.bal.StringFixed(2), posted.n)})
	})
}

// verifySealedBalances: each sealed balance (in sealed, the page's rows at
// seal seq) equals the sum of the postings of the entries sealed up to seq.
func verifySealedBalances(ctx context.Context, tx pgx.Tx, r keyRange, seq int64, sealed []sealedRow, out *pageOut) error {
	type key struct{ acct, cur string }
	type row struct{ sealed, posted sums }
	byKey := map[key]*row{}
	for _, x := range sealed {
		byKey[key{x.acct, x.cur}] = &row{sealed: sums{x.bal, x.n}}
	}
	args := []any{seq}
	rows, err := tx.Query(ctx, `SELECT p.account_code, p.currency, sum(p.amount), count(*) FROM postings p JOIN entries e ON e.id = p.entry_id
		WHERE e.seal_seq IS NOT NULL AND e.seal_seq <= $1 AND `+r.cond("p.account_code", &args)+` GROUP BY p.account_code, p.currency`, args...)
	if err != nil {
		return err
	}
	var k key
	var s sums
	if err := sumRows(rows, []any{&k.acct, &k.cur, &s.bal, &s.n}, func() {
		x := byKey[k]
		if x == nil {
			x = &row{}
			byKey[k] = x
		}
		x.posted = s
	}); err != nil {
		return err
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].acct != keys[j].acct {
			return keys[i].acct < keys[j].acct
		}
		return keys[i].cur < keys[j].cur
	})
	// An account whose stored balance differs from its postings is
	// reported once, as such.
	reported := map[string]bool{}
	for _, p := range out.found[checkBalances] {
		reported[p.Account] = true
	}
	for _, k := range keys {
		x := byKey[k]
		if reported[k.acct] {
			continue
		}
		if !x.sealed.bal.Equal(x.posted.bal) || x.sealed.n != x.posted.n {
			out.found.add(checkSealedBalances, ledger.Problem{Kind: "sealed_balance", Account: k.acct, Seal: seq,
				Detail: fmt.Sprintf("sealed balance %s %s over %d postings, the postings sealed up to seal %d sum to %s over %d",
					x.sealed.bal.StringFixed(2), k.cur, x.sealed.n, seq, x.posted.bal.StringFixed(2), x.posted.n)})
		}
	}
	return nil
}

// verifyBalances: each stored balance equals the sum of its postings.
func verifyBalances(ctx context.Context, tx pgx.Tx, r keyRange, out *pageOut) error {
	args := []any{}
	bcond := r.cond("account_code", &args)
	pcond := r.cond("account_code", &args)
	rows, err := tx.Query(ctx, `SELECT COALESCE(b.account_code, p.account_code), COALESCE(b.balance, 0), COALESCE(p.total, 0), COALESCE(b.n, 0), COALESCE(p.n, 0)
		FROM (SELECT account_code, sum(balance) AS balance, sum(postings) AS n FROM account_balances WHERE `+bcond+` GROUP BY account_code) b
		FULL OUTER JOIN (SELECT account_code, sum(amount) AS total, count(*) AS n FROM postings WHERE `+pcond+` GROUP BY account_code) p
		ON p.account_code = b.account_code
		WHERE COALESCE(b.balance, 0) <> COALESCE(p.total, 0) OR COALESCE(b.n, 0) <> COALESCE(p.n, 0)
		ORDER BY 1`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var acct string
		var stored, summed decimal.Decimal
		var sn, pn int64
		if err := rows.Scan(&acct, &stored, &summed, &sn, &pn); err != nil {
			return err
		}
		out.found.add(checkBalances, ledger.Problem{Kind: "balance_mismatch", Account: acct,
			Detail: fmt.Sprintf("stored balance %s over %d postings, postings sum to %s over %d", stored.StringFixed(2), sn, summed.StringFixed(2), pn)})
	}
	return rows.Err()
}

// verifyAccounts: every balance row and every sub-ledger account names an
// account that exists.
func verifyAccounts(ctx context.Context, tx pgx.Tx, r keyRange, out *pageOut) error {
	for _, q := range []struct {
		check  int
		sql    string
		col    string
		detail string
	}{
		{checkBalanceAccount, `SELECT DISTINCT b.account_code FROM account_balances b LEFT JOIN accounts a ON a.code = b.account_code WHERE a.code IS NULL AND %s ORDER BY 1 LIMIT %d`,
			"b.account_code", "a balance row names an account that does not exist"},
		{checkParentAccount, `SELECT c.code FROM accounts c LEFT JOIN accounts p ON p.code = c.parent_code WHERE c.parent_code IS NOT NULL AND p.code IS NULL AND %s ORDER BY 1 LIMIT %d`,
			"c.code", "the account's control account does not exist"},
	} {
		args := []any{}
		rows, err := tx.Query(ctx, fmt.Sprintf(q.sql, r.cond(q.col, &args), maxProblems), args...)
		if err != nil {
			return err
		}
		codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, code := range codes {
			out.found.add(q.check, ledger.Problem{Kind: "bad_account", Account: code, Detail: q.detail})
		}
	}
	return nil
}
