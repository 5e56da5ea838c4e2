package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Reverse posts an entry that negates every posting of r.EntryID, chunk by
// chunk. A reversal of a small entry is one transaction; that of a bulk
// entry writes one transaction per chunk, and calling Reverse again with the
// same key finishes an interrupted one. An entry is reversed at most once.
func (s *Store) Reverse(ctx context.Context, r ledger.Reversal) (ledger.Entry, error) {
	if err := r.Validate(); err != nil {
		return ledger.Entry{}, err
	}
	fail := func(err error) (ledger.Entry, error) {
		return ledger.Entry{}, fmt.Errorf("reverse entry %s: %w", r.EntryID, err)
	}
	orig, err := s.entryHeader(ctx, s.pool, r.EntryID)
	if errs.Is(err, errs.NotFound) {
		return ledger.Entry{}, errs.Field("entry_id", "entry %s does not exist", r.EntryID)
	}
	if err != nil {
		return fail(err)
	}
	if orig.Status != ledger.StatusPosted {
		return ledger.Entry{}, &errs.Error{Code: errs.Conflict, Field: "entry_id", Message: fmt.Sprintf("entry %s is still being written", r.EntryID)}
	}
	date := r.EffectiveDate
	if date.IsZero() {
		date = orig.EffectiveDate
	}
	o := &openEntry{key: r.IdempotencyKey, kind: ledger.KindReversal, date: date, reverses: &r.EntryID,
		desc:   fmt.Sprintf("Reversal of %s: %s", orig.Description, r.Reason),
		source: orig.SourceRef, meta: map[string]string{"reason": r.Reason, "reverses": r.EntryID.String()}}
	o.header = ledger.HeaderHash(o.key, o.kind, o.date, o.desc, o.source, o.meta, o.reverses, "")
	chunks, err := s.chunkRanges(ctx, r.EntryID, orig.LineCount)
	if err != nil {
		return fail(err)
	}
	var hashes [][]byte
	var replay bool
	write := func(ctx context.Context, tx pgx.Tx, inOne bool) error {
		hashes, replay = hashes[:0], false
		var done map[int64][]byte
		var status ledger.EntryStatus
		var err error
		if inOne {
			status, done, _, err = s.startEntryTx(ctx, tx, o)
		} else {
			status, done, _, err = s.startEntry(ctx, o)
		}
		if err != nil {
			return err
		}
		if status == ledger.StatusPosted {
			replay = true
			return nil
		}
		var total int64
		for _, cr := range chunks {
			c, err := reversedChunk(ctx, s.pool, tx, r.EntryID, cr)
			if err != nil {
				return err
			}
			if _, ok := done[c.no]; !ok {
				if inOne {
					err = s.writeChunkTx(ctx, tx, o, c, false)
				} else {
					err = s.writeChunk(ctx, o, c, false)
				}
				if err != nil {
					return err
				}
			}
			hashes = append(hashes, c.hash)
			total += int64(len(c.lines))
		}
		if inOne {
			return finishEntryTx(ctx, tx, o, hashes, total)
		}
		return s.finishEntry(ctx, o, hashes, total)
	}
	if len(chunks) == 1 {
		err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error { return write(ctx, tx, true) })
	} else {
		err = write(ctx, nil, false)
	}
	if err != nil {
		return fail(outOfRange("entry_id", err))
	}
	if replay {
		return s.replayed(ctx, o.id)
	}
	return s.Entry(ctx, o.id)
}

type chunkRange struct{ no, first, count int64 }

// chunkRanges lists the chunks of an entry of lines lines; a standard
// entry, which has no chunk rows, is one chunk.
func (s *Store) chunkRanges(ctx context.Context, id uuid.UUID, lines int64) ([]chunkRange, error) {
	rows, err := s.pool.Query(ctx, `SELECT chunk, first_line, line_count FROM entry_chunks WHERE entry_id = $1 ORDER BY chunk`, id)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunkRange, error) {
		var c chunkRange
		return c, r.Scan(&c.no, &c.first, &c.count)
	})
	if err == nil && len(cs) == 0 {
		cs = []chunkRange{{no: 0, first: 0, count: lines}}
	}
	return cs, err
}

// reversedChunk reads one chunk of the original entry with its amounts
// negated; the reversal keeps the original's chunking and line numbers.
func reversedChunk(ctx context.Context, pool querier, tx pgx.Tx, id uuid.UUID, cr chunkRange) (chunk, error) {
	var q querier = pool
	if tx != nil {
		q = tx
	}
	rows, err := q.Query(ctx, `SELECT account_code, amount, currency, memo FROM postings
		WHERE entry_id = $1 AND line >= $2 AND line < $3 ORDER BY line`, id, cr.first, cr.first+cr.count)
	if err != nil {
		return chunk{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) {
		var l line
		err := r.Scan(&l.account, &l.amount, &l.currency, &l.memo)
		l.amount = l.amount.Neg()
		return l, err
	})
	if err != nil {
		return chunk{}, err
	}
	if int64(len(lines)) != cr.count {
		return chunk{}, errors.New("the original entry's postings do not match its chunks; run verify")
	}
	c := chunk{no: cr.no, first: cr.first, lines: lines}
	c.hash = chunkHash(c.no, c.first, c.lines)
	return c, nil
}
