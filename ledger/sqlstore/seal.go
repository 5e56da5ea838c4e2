package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
)

// DefaultSealChunk is the most entries one seal covers. Seal writes one
// seal per chunk of this many entries, each in its own short transaction,
// well inside CockroachDB's limits on a transaction's size.
const DefaultSealChunk = 10000

// sealPostings is the most postings one seal covers, unless its first
// entry alone holds more: the seal writes a sealed balance row for each
// account they touch.
const sealPostings = 100_000

// WithSealChunk sets the most entries one seal covers (DefaultSealChunk).
func WithSealChunk(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.sealSize = n
		}
	}
}

// Seal chains the entries posted since the last seal into new seals, one
// per chunk of at most DefaultSealChunk entries (see WithSealChunk), oldest
// first. Each seal is its own transaction that extends the chain by one, so
// a call stopped part-way leaves valid seals behind and the next call seals
// the rest. It returns the last seal made, or nil when there was nothing to
// seal. Sealers take turns on the seal_head row.
//
// Each seal also records the sealed state (see ledger.SealStateHash): it
// adds the postings of its entries to the sealed balances of their
// accounts, updates the balances digest with the rows it changed, and
// chains the state hash to the previous seal's. Incremental verify starts
// from that state.
func (s *Store) Seal(ctx context.Context, reason string) (*ledger.Seal, error) {
	if err := ledger.ValidateSealReason(reason); err != nil {
		return nil, err
	}
	var last *ledger.Seal
	for {
		seal, more, err := s.sealChunk(ctx, reason)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if seal == nil {
			return last, nil
		}
		last = seal
		// A chunk that is not full took every entry posted when it read
		// them; entries posted since wait for the next call.
		if !more {
			return last, nil
		}
	}
}

// sealChunk seals the oldest unsealed posted entries, at most s.sealSize
// holding at most sealPostings postings (one entry at least), in one
// transaction: it returns nil when there is nothing to seal, and more when
// it left entries it read for the next chunk.
func (s *Store) sealChunk(ctx context.Context, reason string) (out *ledger.Seal, more bool, err error) {
	err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		out, more = nil, false
		var seq int64
		var prev, prevState []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash, state_hash FROM seal_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev, &prevState); err != nil {
			return err
		}
		seq++
		// Open bulk entries are left out: the seal after their last step
		// takes them.
		rows, err := tx.Query(ctx, `SELECT id, entry_hash, line_count FROM entries WHERE seal_seq IS NULL AND status = 'posted' ORDER BY posted_at, id LIMIT $1`, s.sealSize)
		if err != nil {
			return err
		}
		h := ledger.NewSealHasher(prev, seq)
		ids := make([]uuid.UUID, 0, 64)
		var lines int64
		for rows.Next() {
			var id uuid.UUID
			var eh []byte
			var lc int64
			if err := rows.Scan(&id, &eh, &lc); err != nil {
				rows.Close()
				return err
			}
			if len(ids) > 0 && lines+lc > sealPostings {
				more = true
				break
			}
			h.Add(id, eh)
			ids = append(ids, id)
			lines += lc
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		more = more || len(ids) == s.sealSize
		sum, n := h.Sum()
		digest, postings, err := sealBalances(ctx, tx, seq, ids)
		if err != nil {
			return fmt.Errorf("sealed balances: %w", err)
		}
		balances := digest.Bytes()
		state := ledger.SealStateHash(prevState, seq, sum, postings, balances)
		now := s.now().UTC().Truncate(time.Microsecond)
		b := &pgx.Batch{}
		b.Queue(`UPDATE seal_head SET seq = $1, hash = $2, state_hash = $3 WHERE id = 1`, seq, sum, state)
		b.Queue(`INSERT INTO seals (seq, sealed_at, prev_hash, hash, entry_count, reason, posting_count, balances_hash, state_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, seq, now, prev, sum, n, reason, postings, balances, state)
		b.Queue(`UPDATE entries SET seal_seq = $1 WHERE id = ANY($2)`, seq, ids)
		if err := sendBatch(ctx, tx, b); err != nil {
			return err
		}
		out = &ledger.Seal{Seq: seq, SealedAt: now, PrevHash: fmt.Sprintf("%x", prev), Hash: fmt.Sprintf("%x", sum), EntryCount: n,
			PostingCount: postings, StateHash: fmt.Sprintf("%x", state), Reason: reason}
		return nil
	})
	return out, more, err
}

// sealedRow is one row of sealed_balances.
type sealedRow struct {
	acct, cur string
	bal       decimal.Decimal
	n         int64
}

// sealBalances adds the postings of the entries ids to the sealed
// balances of seal seq, and returns the balances digest after them and the
// number of postings. The digest before them is the previous seal's, or,
// when that seal predates sealed states, the one of every sealed balance.
func sealBalances(ctx context.Context, tx pgx.Tx, seq int64, ids []uuid.UUID) (ledger.BalancesDigest, int64, error) {
	var digest ledger.BalancesDigest
	var prevDigest []byte
	if seq > 1 {
		if err := tx.QueryRow(ctx, `SELECT balances_hash FROM seals WHERE seq = $1`, seq-1).Scan(&prevDigest); err != nil {
			return digest, 0, fmt.Errorf("seal %d: %w", seq-1, err)
		}
	}
	if seq > 1 && prevDigest == nil {
		all, err := readSealed(ctx, tx, `true`)
		if err != nil {
			return digest, 0, err
		}
		for _, r := range all {
			digest.Add(r.acct, r.cur, r.bal, r.n)
		}
	} else {
		var err error
		if digest, err = ledger.ParseBalancesDigest(prevDigest); err != nil {
			return digest, 0, fmt.Errorf("seal %d: %w", seq-1, err)
		}
	}
	// The database sums the postings per account and inserts the rows of
	// the accounts that have none yet with a plain INSERT, streaming them
	// back; when they hold every posting, as on the first seal of a month's
	// payments, that is all. Otherwise one UPDATE adds the other sums to
	// the rows that exist and streams back each row with what it added,
	// from which the row before follows. The digest is drawn from the rows
	// streamed back, which are never all held here. Seals take turns on
	// seal_head, so no other seal changes these rows in between; the rows
	// this seal inserted carry its seq, which the UPDATE leaves alone.
	var total int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM postings WHERE entry_id = ANY($1)`, ids).Scan(&total); err != nil {
		return digest, 0, err
	}
	pipe := newDigestPipe(&digest)
	postings, err := applySealSums(ctx, tx, seq, ids, total, pipe)
	pipe.close()
	return digest, postings, err
}

// applySealSums applies the sums of the postings of the entries ids to the
// sealed balances, as sealBalances says, and hands each row changed to
// pipe. It returns the number of postings applied.
func applySealSums(ctx context.Context, tx pgx.Tx, seq int64, ids []uuid.UUID, total int64, pipe *digestPipe) (int64, error) {
	var (
		postings int64
		r        rowChange
	)
	rows, err := tx.Query(ctx, `INSERT INTO sealed_balances (account_code, currency, balance, postings, seal_seq)
		SELECT d.account_code, d.currency, d.b, d.n, $2::BIGINT FROM (`+sealSums+`) AS d
		WHERE NOT EXISTS (SELECT 1 FROM sealed_balances s WHERE s.account_code = d.account_code AND s.currency = d.currency)
		RETURNING account_code, currency, balance, postings`, ids, seq)
	if err != nil {
		return 0, err
	}
	err = sumRows(rows, []any{&r.acct, &r.cur, &r.add, &r.addN}, func() {
		postings += r.addN
		pipe.add(rowChange{acct: r.acct, cur: r.cur, add: r.add, addN: r.addN})
	})
	if err != nil || postings == total {
		return postings, err
	}
	rows, err = tx.Query(ctx, `UPDATE sealed_balances SET balance = sealed_balances.balance + d.b,
			postings = sealed_balances.postings + d.n, seal_seq = $2
		FROM (`+sealSums+`) AS d
		WHERE sealed_balances.account_code = d.account_code AND sealed_balances.currency = d.currency AND sealed_balances.seal_seq <> $2
		RETURNING sealed_balances.account_code, sealed_balances.currency, sealed_balances.balance, sealed_balances.postings, d.b, d.n`, ids, seq)
	if err != nil {
		return 0, err
	}
	var now, added decimal.Decimal
	var nowN int64
	err = sumRows(rows, []any{&r.acct, &r.cur, &now, &nowN, &added, &r.addN}, func() {
		postings += r.addN
		pipe.add(rowChange{acct: r.acct, cur: r.cur, add: added, addN: r.addN, old: true, bal: now.Sub(added), n: nowN - r.addN})
	})
	if err == nil && postings != total {
		err = fmt.Errorf("the sealed balances took %d postings of %d", postings, total)
	}
	return postings, err
}

// sealSums sums the postings of the entries $1 per account and currency.
const sealSums = `SELECT account_code, currency, sum(amount) AS b, count(*) AS n FROM postings WHERE entry_id = ANY($1) GROUP BY account_code, currency`

// readSealed reads the sealed balance rows that cond keeps.
func readSealed(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]sealedRow, error) {
	rows, err := tx.Query(ctx, `SELECT account_code, currency, balance, postings FROM sealed_balances WHERE `+cond+` ORDER BY account_code, currency`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealedRow, error) {
		var x sealedRow
		return x, r.Scan(&x.acct, &x.cur, &x.bal, &x.n)
	})
}
