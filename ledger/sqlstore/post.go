package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// errDuplicateKey says the idempotency key is taken; the caller looks the
// first entry up once the failed transaction is over.
var errDuplicateKey = errors.New("idempotency key already used")

// line is a line whose account is known and currency resolved.
type line struct {
	account  string
	amount   decimal.Decimal
	currency string
	memo     string
}

// checkLines resolves each line's currency from its account and checks that
// the lines balance per currency.
func checkLines(in []ledger.Line, found map[string]ledger.Account) ([]line, error) {
	out := make([]line, len(in))
	sums := map[string]decimal.Decimal{}
	for i, l := range in {
		a := found[l.Account]
		cur := l.Currency
		if cur == "" {
			cur = a.Currency
		} else if cur != a.Currency {
			return nil, errs.Field(fmt.Sprintf("lines[%d].currency", i), "%s does not match account %s, kept in %s", cur, a.Code, a.Currency)
		}
		out[i] = line{account: l.Account, amount: l.Amount, currency: cur, memo: l.Memo}
		sums[cur] = sums[cur].Add(l.Amount)
	}
	for _, cur := range sortedKeys(sums) {
		if !sums[cur].IsZero() {
			return nil, errs.Field("lines", "postings in %s sum to %s, not zero: debits must equal credits", cur, sums[cur].StringFixed(2))
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func chunkHash(chunk, first int64, lines []line) []byte {
	h := ledger.NewChunkHasher(chunk, first)
	for i, l := range lines {
		h.Add(first+int64(i), l.account, l.amount.StringFixed(2), l.currency, l.memo)
	}
	return h.Sum()
}

// Post writes a standard entry in one round trip after BEGIN: the entry, its
// postings and the balance updates go as one batch. A standard entry is one
// chunk of lines; unlike a bulk entry's, it has no entry_chunks row.
func (s *Store) Post(ctx context.Context, e ledger.NewEntry) (ledger.Entry, error) {
	if err := e.Validate(); err != nil {
		return ledger.Entry{}, err
	}
	header := ledger.HeaderHash(e.IdempotencyKey, ledger.KindStandard, e.EffectiveDate, e.Description, e.SourceRef, e.Metadata, nil, "")
	var out ledger.Entry
	var content []byte
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		r := s.newResolver()
		codes := make([]string, len(e.Lines))
		for i, l := range e.Lines {
			codes[i] = l.Account
		}
		if err := r.resolve(ctx, tx, codes, func(i int) string { return fmt.Sprintf("lines[%d].account", i) }, true); err != nil {
			return err
		}
		lines, err := checkLines(e.Lines, r.found)
		if err != nil {
			return err
		}
		ch := chunkHash(0, 0, lines)
		content = ledger.ContentHash(header, [][]byte{ch})
		id := uuid.New()
		postedAt := s.now().UTC().Truncate(time.Microsecond)
		meta, _ := json.Marshal(nonNil(e.Metadata))
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO entries (id, idempotency_key, kind, status, effective_date, posted_at, description, source_ref, metadata,
			header_hash, line_count, chunk_count, content_hash, entry_hash) VALUES ($1, $2, 'standard', 'posted', $3, $4, $5, $6, $7, $8, $9, 1, $10, $11)`,
			id, e.IdempotencyKey, e.EffectiveDate.Time(), postedAt, e.Description, e.SourceRef, meta, header, int64(len(lines)), content,
			ledger.EntryHash(id, postedAt, content))
		queuePostings(b, id, e.EffectiveDate, postedAt, lines)
		queueBalances(b, balanceDeltas(lines, r.found, shardFor(tx)))
		if err := sendBatch(ctx, tx, b); err != nil {
			return err
		}
		if err := checkFloors(ctx, tx, e.Floors); err != nil {
			return err
		}
		out = ledger.Entry{ID: id, IdempotencyKey: e.IdempotencyKey, Kind: ledger.KindStandard, Status: ledger.StatusPosted,
			EffectiveDate: e.EffectiveDate, PostedAt: postedAt, Description: e.Description, SourceRef: e.SourceRef,
			Metadata: e.Metadata, LineCount: int64(len(lines)), ContentHash: fmt.Sprintf("%x", content)}
		for i, l := range lines {
			out.Postings = append(out.Postings, ledger.Posting{EntryID: id, Line: int64(i), Account: l.account, Amount: l.amount,
				Currency: l.currency, Memo: l.memo, EffectiveDate: e.EffectiveDate, PostedAt: postedAt})
		}
		return nil
	})
	if errors.Is(err, errDuplicateKey) {
		return s.replay(ctx, e.IdempotencyKey, nil, content)
	}
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("post entry %q: %w", e.IdempotencyKey, outOfRange("lines", err))
	}
	return out, nil
}

// checkFloors refuses, with the figures, an entry that left a balance
// below its floor: it reads, in the entry's transaction and once its
// balance rows are updated, each guarded account's balance across its
// shards. Under SERIALIZABLE, two entries moving the same balance at once
// cannot both pass: the second is retried and reads the first's.
func checkFloors(ctx context.Context, tx pgx.Tx, floors []ledger.Floor) error {
	if len(floors) == 0 {
		return nil
	}
	accts := make([]string, len(floors))
	for i, f := range floors {
		accts[i] = f.Account
	}
	bal := make(map[string]decimal.Decimal, len(floors))
	rows, err := tx.Query(ctx, `SELECT account_code, sum(balance) FROM account_balances WHERE account_code = ANY($1::TEXT[]) GROUP BY account_code`, accts)
	if err != nil {
		return fmt.Errorf("read the guarded balances: %w", err)
	}
	for rows.Next() {
		var a string
		var b decimal.Decimal
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return fmt.Errorf("read the guarded balances: %w", err)
		}
		bal[a] = b
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the guarded balances: %w", err)
	}
	var short []ledger.Shortfall
	for _, f := range floors {
		if b := bal[f.Account]; b.LessThan(f.Min) {
			short = append(short, ledger.Shortfall{Account: f.Account, Balance: b, Min: f.Min})
		}
	}
	if len(short) > 0 {
		return &ledger.FloorError{Shortfalls: short}
	}
	return nil
}

// outOfRange turns the database's refusal of a number beyond its column
// (SQLSTATE 22003), which the domain's bound on a posting cannot rule out
// for a balance that many entries build up, into an error naming field;
// the transaction was rolled back and nothing was written.
func outOfRange(field string, err error) error {
	if db.IsNumericOutOfRange(err) {
		return errs.Field(field, "would take a balance beyond %s, the most an account may hold",
			ledger.MaxBalance.StringFixed(0))
	}
	return err
}

// sendBatch runs a batch and maps the constraint violations that mean
// something to a caller.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	br := tx.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return mapWriteError(err)
		}
	}
	return br.Close()
}

func mapWriteError(err error) error {
	switch {
	case db.IsUniqueViolation(err, "entries_idempotency_key_key"):
		return errDuplicateKey
	case db.IsUniqueViolation(err, "entries_reverses_key"):
		return &errs.Error{Code: errs.Conflict, Field: "entry_id", Message: "the entry was already reversed"}
	}
	return err
}

// queuePostings adds one multi-row INSERT of the lines.
func queuePostings(b *pgx.Batch, id uuid.UUID, date ledger.Date, postedAt time.Time, lines []line) {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO postings (entry_id, line, account_code, amount, currency, effective_date, posted_at, memo) VALUES `)
	args := []any{id, date.Time(), postedAt}
	for i, l := range lines {
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($1, $%d, $%d, $%d, $%d, $2, $3, $%d)", n+1, n+2, n+3, n+4, n+5)
		args = append(args, int64(i), l.account, l.amount, l.currency, l.memo)
	}
	b.Queue(sb.String(), args...)
}

// delta is the change of one balance row.
type delta struct {
	account string
	shard   int64
	amount  decimal.Decimal
	count   int64
}

// shardFor picks the balance row of a hot account for this transaction:
// the connection's backend id spreads concurrent writers over the rows, and
// a random offset moves a retried transaction to another row.
func shardFor(tx pgx.Tx) func(shards int) int64 {
	pid := int64(tx.Conn().PgConn().PID())
	off := rand.Int64N(1 << 20)
	return func(shards int) int64 {
		if shards <= 1 {
			return 0
		}
		return (pid + off) % int64(shards)
	}
}

func balanceDeltas(lines []line, found map[string]ledger.Account, shard func(int) int64) []delta {
	idx := map[string]int{}
	var out []delta
	for _, l := range lines {
		i, ok := idx[l.account]
		if !ok {
			i = len(out)
			idx[l.account] = i
			out = append(out, delta{account: l.account, shard: shard(found[l.account].BalanceShards)})
		}
		out[i].amount = out[i].amount.Add(l.amount)
		out[i].count++
	}
	// A fixed order keeps two writers from locking the same rows in
	// opposite orders.
	sort.Slice(out, func(a, b int) bool { return out[a].account < out[b].account })
	return out
}

// upsertBalances applies balance changes given as arrays. The amounts
// travel as text, which pgx sends in the binary array format, where a
// DECIMAL array would be encoded element by element as text.
const upsertBalances = `INSERT INTO account_balances (account_code, shard, balance, postings)
	SELECT u.a, u.s, u.m::DECIMAL(19,2), u.n FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[]) AS u (a, s, m, n)
	ON CONFLICT (account_code, shard) DO UPDATE
	SET balance = account_balances.balance + excluded.balance, postings = account_balances.postings + excluded.postings`

func balanceArgs(ds []delta) []any {
	accts := make([]string, len(ds))
	shards := make([]int64, len(ds))
	amounts := make([]string, len(ds))
	counts := make([]int64, len(ds))
	for i, d := range ds {
		accts[i], shards[i], amounts[i], counts[i] = d.account, d.shard, d.amount.StringFixed(2), d.count
	}
	return []any{accts, shards, amounts, counts}
}

// queueBalances adds the balance changes of a small entry as a multi-row
// upsert of scalar parameters: for a handful of rows its prepared statement
// is cheaper to encode and plan than the array form.
func queueBalances(b *pgx.Batch, ds []delta) {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO account_balances (account_code, shard, balance, postings) VALUES `)
	args := make([]any, 0, 4*len(ds))
	for i, d := range ds {
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d, $%d, $%d::DECIMAL(19,2), $%d)", n+1, n+2, n+3, n+4)
		args = append(args, d.account, d.shard, d.amount, d.count)
	}
	sb.WriteString(` ON CONFLICT (account_code, shard) DO UPDATE
	SET balance = account_balances.balance + excluded.balance, postings = account_balances.postings + excluded.postings`)
	b.Queue(sb.String(), args...)
}

// replay returns the entry first posted under key when its content (or,
// when content is nil, its header) matches; otherwise it is a conflict.
func (s *Store) replay(ctx context.Context, key string, header, content []byte) (ledger.Entry, error) {
	var id uuid.UUID
	var gotHeader, gotContent []byte
	err := s.pool.QueryRow(ctx, `SELECT id, header_hash, content_hash FROM entries WHERE idempotency_key = $1`, key).Scan(&id, &gotHeader, &gotContent)
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("look up idempotency key %q: %w", key, err)
	}
	same := content != nil && string(content) == string(gotContent) || content == nil && string(header) == string(gotHeader)
	if !same {
		return ledger.Entry{}, &errs.Error{Code: errs.Conflict, Field: "idempotency_key",
			Message: fmt.Sprintf("%q was already used by entry %s with other content", key, id)}
	}
	e, err := s.Entry(ctx, id)
	if err != nil {
		return e, err
	}
	e.Replayed = true
	return e, nil
}
