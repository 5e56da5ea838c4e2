package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// DefaultChunkSize is the number of lines a bulk entry writes per
// transaction.
const DefaultChunkSize = 10000

// openEntry is the header of an entry written chunk by chunk.
type openEntry struct {
	id       uuid.UUID
	key      string
	kind     ledger.EntryKind
	date     ledger.Date
	postedAt time.Time
	desc     string
	source   string
	meta     map[string]string
	reverses *uuid.UUID
	contra   string
	header   []byte
}

// existingChunks returns the hashes of the chunks already written.
func existingChunks(ctx context.Context, q querier, id uuid.UUID) (map[int64][]byte, error) {
	rows, err := q.Query(ctx, `SELECT chunk, hash FROM entry_chunks WHERE entry_id = $1`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var n int64
		var h []byte
		if err := rows.Scan(&n, &h); err != nil {
			return nil, err
		}
		out[n] = h
	}
	return out, rows.Err()
}

// startEntry inserts the header of an open entry, or finds the entry that
// holds its idempotency key. It returns the entry's id, posting time,
// status and the chunks already written.
func (s *Store) startEntry(ctx context.Context, o *openEntry) (status ledger.EntryStatus, done map[int64][]byte, content []byte, err error) {
	err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		status, done, content, err = s.startEntryTx(ctx, tx, o)
		return err
	})
	return status, done, content, err
}

func (s *Store) startEntryTx(ctx context.Context, tx pgx.Tx, o *openEntry) (status ledger.EntryStatus, done map[int64][]byte, content []byte, err error) {
	{
		var id uuid.UUID
		var header []byte
		var st string
		var posted time.Time
		err := tx.QueryRow(ctx, `SELECT id, header_hash, status, posted_at, content_hash FROM entries WHERE idempotency_key = $1`, o.key).
			Scan(&id, &header, &st, &posted, &content)
		if err == nil {
			if string(header) != string(o.header) {
				return "", nil, nil, &errs.Error{Code: errs.Conflict, Field: "idempotency_key",
					Message: fmt.Sprintf("%q was already used by entry %s with other content", o.key, id)}
			}
			o.id, o.postedAt, status = id, posted, ledger.EntryStatus(st)
			done, err = existingChunks(ctx, tx, id)
			return status, done, content, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", nil, nil, err
		}
		o.id = uuid.New()
		o.postedAt = s.now().UTC().Truncate(time.Microsecond)
		meta, _ := json.Marshal(nonNil(o.meta))
		_, err = tx.Exec(ctx, `INSERT INTO entries (id, idempotency_key, kind, status, effective_date, posted_at, description, source_ref,
			metadata, reverses, contra, header_hash) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11)`,
			o.id, o.key, o.kind, o.date.Time(), o.postedAt, o.desc, o.source, meta, o.reverses, o.contra, o.header)
		return ledger.StatusOpen, map[int64][]byte{}, nil, mapWriteError(err)
	}
}

// finishEntry marks an open entry posted with its content hash.
func (s *Store) finishEntry(ctx context.Context, o *openEntry, chunks [][]byte, lines int64) error {
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		return finishEntryTx(ctx, tx, o, chunks, lines)
	})
}

func finishEntryTx(ctx context.Context, tx pgx.Tx, o *openEntry, chunks [][]byte, lines int64) error {
	content := ledger.ContentHash(o.header, chunks)
	{
		_, err := tx.Exec(ctx, `UPDATE entries SET status = 'posted', content_hash = $2, entry_hash = $3, line_count = $4, chunk_count = $5
			WHERE id = $1 AND status = 'open'`, o.id, content, ledger.EntryHash(o.id, o.postedAt, content), lines, int64(len(chunks)))
		return err
	}
}

// chunk is a balanced run of lines about to be written.
type chunk struct {
	no    int64
	first int64
	lines []line
	hash  []byte
}

// writeChunk writes one chunk in its own transaction: its postings (COPY or
// multi-row INSERT), its balance changes (one row per account, the hot
// account once) and its chunk row, which makes a second write of the same
// chunk fail instead of doubling it.
func (s *Store) writeChunk(ctx context.Context, o *openEntry, c chunk, createAccounts bool) error {
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		return s.writeChunkTx(ctx, tx, o, c, createAccounts)
	})
}

func (s *Store) writeChunkTx(ctx context.Context, tx pgx.Tx, o *openEntry, c chunk, createAccounts bool) error {
	{
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM entry_chunks WHERE entry_id = $1 AND chunk = $2)`, o.id, c.no).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		r := s.newResolver()
		codes := uniqueAccounts(c.lines)
		if err := r.resolve(ctx, tx, codes, func(int) string { return "lines" }, createAccounts); err != nil {
			return err
		}
		if err := s.insertPostings(ctx, tx, o, c); err != nil {
			return err
		}
		shard := func(n int) int64 { return c.no % int64(n) }
		if _, err := tx.Exec(ctx, upsertBalances, balanceArgs(balanceDeltas(c.lines, r.found, shard))...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO entry_chunks (entry_id, chunk, first_line, line_count, hash) VALUES ($1, $2, $3, $4, $5)`,
			o.id, c.no, c.first, int64(len(c.lines)), c.hash)
		return err
	}
}

func uniqueAccounts(lines []line) []string {
	seen := make(map[string]bool, len(lines))
	var out []string
	for _, l := range lines {
		if !seen[l.account] {
			seen[l.account] = true
			out = append(out, l.account)
		}
	}
	return out
}

var postingCols = []string{"entry_id", "line", "account_code", "amount", "currency", "effective_date", "posted_at", "memo"}

func (s *Store) insertPostings(ctx context.Context, tx pgx.Tx, o *openEntry, c chunk) error {
	date := o.date.Time()
	if s.bulk == BulkCopy {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"postings"}, postingCols, pgx.CopyFromSlice(len(c.lines), func(i int) ([]any, error) {
			l := c.lines[i]
			return []any{o.id, c.first + int64(i), l.account, l.amount, l.currency, date, o.postedAt, l.memo}, nil
		}))
		return err
	}
	nums := make([]int64, len(c.lines))
	accts := make([]string, len(c.lines))
	amounts := make([]decimal.Decimal, len(c.lines))
	curs := make([]string, len(c.lines))
	memos := make([]string, len(c.lines))
	for i, l := range c.lines {
		nums[i], accts[i], amounts[i], curs[i], memos[i] = c.first+int64(i), l.account, l.amount, l.currency, l.memo
	}
	_, err := tx.Exec(ctx, `INSERT INTO postings (entry_id, line, account_code, amount, currency, effective_date, posted_at, memo)
		SELECT $1, u.l, u.a, u.m, u.c, $2, $3, u.mm FROM unnest($4::BIGINT[], $5::TEXT[], $6::DECIMAL(19,2)[], $7::TEXT[], $8::TEXT[]) AS u (l, a, m, c, mm)`,
		o.id, date, o.postedAt, nums, accts, amounts, curs, memos)
	return err
}

// bulkChunks cuts a bulk entry's lines into balanced chunks, checking each
// line and each account on the way; it calls fn for each chunk.
func (s *Store) bulkChunks(ctx context.Context, b ledger.BulkEntry, contra ledger.Account, fn func(chunk) error) (int64, error) {
	size := b.ChunkSize
	if size == 0 {
		size = DefaultChunkSize
	}
	var (
		next  int64 // number of the next line of the entry
		index int64 // index of the next input line, for error messages
		no    int64
		buf   = make([]ledger.Line, 0, size)
	)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		first := index - int64(len(buf))
		r := s.newResolver()
		codes := make([]string, len(buf))
		for i, l := range buf {
			codes[i] = l.Account
		}
		missing, err := r.lookup(ctx, s.pool, codes)
		if err != nil {
			return err
		}
		for _, m := range missing {
			p, ok, err := r.subLedgerParent(ctx, s.pool, m)
			if err != nil {
				return err
			}
			if !ok {
				for i, c := range codes {
					if c == m {
						return errs.Field(fmt.Sprintf("lines[%d].account", first+int64(i)), "account %q does not exist", m)
					}
				}
			}
			r.found[m] = child(p, m)
		}
		c := chunk{no: no, first: next, lines: make([]line, 0, len(buf)+1)}
		sum := decimal.Zero
		for i, l := range buf {
			a := r.found[l.Account]
			cur := l.Currency
			if cur == "" {
				cur = a.Currency
			}
			if cur != a.Currency {
				return errs.Field(fmt.Sprintf("lines[%d].currency", first+int64(i)), "%s does not match account %s, kept in %s", cur, a.Code, a.Currency)
			}
			if cur != contra.Currency {
				return errs.Field(fmt.Sprintf("lines[%d].currency", first+int64(i)), "%s differs from the contra account's %s", cur, contra.Currency)
			}
			c.lines = append(c.lines, line{account: l.Account, amount: l.Amount, currency: cur, memo: l.Memo})
			sum = sum.Add(l.Amount)
		}
		if !sum.IsZero() {
			c.lines = append(c.lines, line{account: contra.Code, amount: sum.Neg(), currency: contra.Currency, memo: b.ContraMemo})
		}
		c.hash = chunkHash(c.no, c.first, c.lines)
		next += int64(len(c.lines))
		no++
		buf = buf[:0]
		return fn(c)
	}
	err := b.Lines(func(l ledger.Line) error {
		if err := ledger.ValidateLine(fmt.Sprintf("lines[%d]", index), l); err != nil {
			return err
		}
		if l.Account == contra.Code {
			return errs.Field(fmt.Sprintf("lines[%d].account", index), "is the contra account, whose lines are computed")
		}
		buf = append(buf, l)
		index++
		if len(buf) == size {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil && index == 0 {
		err = errs.Field("lines", "a bulk entry needs at least one line")
	}
	return next, err
}

// PostBulk posts one entry of many lines; see ledger.BulkEntry. Every line
// is checked before anything is written.
func (s *Store) PostBulk(ctx context.Context, b ledger.BulkEntry) (ledger.Entry, error) {
	if err := b.Validate(); err != nil {
		return ledger.Entry{}, err
	}
	contra, err := s.Account(ctx, b.Contra)
	if errs.Is(err, errs.NotFound) {
		return ledger.Entry{}, errs.Field("contra", "account %q does not exist", b.Contra)
	}
	if err != nil {
		return ledger.Entry{}, err
	}
	fail := func(err error) (ledger.Entry, error) {
		return ledger.Entry{}, fmt.Errorf("post bulk entry %q: %w", b.IdempotencyKey, err)
	}
	// First pass: check every line and compute every chunk's hash.
	var hashes [][]byte
	if _, err := s.bulkChunks(ctx, b, contra, func(c chunk) error {
		hashes = append(hashes, c.hash)
		return nil
	}); err != nil {
		return fail(err)
	}
	o := &openEntry{key: b.IdempotencyKey, kind: ledger.KindBulk, date: b.EffectiveDate, desc: b.Description,
		source: b.SourceRef, meta: b.Metadata, contra: b.Contra}
	o.header = ledger.HeaderHash(o.key, o.kind, o.date, o.desc, o.source, o.meta, nil, o.contra)
	status, done, stored, err := s.startEntry(ctx, o)
	if err != nil {
		return fail(err)
	}
	content := ledger.ContentHash(o.header, hashes)
	conflict := &errs.Error{Code: errs.Conflict, Field: "idempotency_key",
		Message: fmt.Sprintf("%q was already used by entry %s with other lines", b.IdempotencyKey, o.id)}
	if status == ledger.StatusPosted {
		if string(stored) != string(content) {
			return ledger.Entry{}, conflict
		}
		return s.replayed(ctx, o.id)
	}
	for n, h := range done {
		if n >= int64(len(hashes)) || string(hashes[n]) != string(h) {
			return ledger.Entry{}, conflict
		}
	}
	// Second pass: write the chunks not yet written.
	var written int64
	total, err := s.bulkChunks(ctx, b, contra, func(c chunk) error {
		if c.no >= int64(len(hashes)) || string(c.hash) != string(hashes[c.no]) {
			return errors.New("the lines changed between the check and the write")
		}
		if _, ok := done[c.no]; !ok {
			if err := s.writeChunk(ctx, o, c, true); err != nil {
				return fmt.Errorf("chunk %d: %w", c.no, err)
			}
		}
		written += int64(len(c.lines))
		if b.Progress != nil {
			b.Progress(written)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if err := s.finishEntry(ctx, o, hashes, total); err != nil {
		return fail(err)
	}
	if _, err := s.Seal(ctx, "bulk entry "+o.id.String()); err != nil {
		return fail(err)
	}
	return s.Entry(ctx, o.id)
}

func (s *Store) replayed(ctx context.Context, id uuid.UUID) (ledger.Entry, error) {
	e, err := s.Entry(ctx, id)
	e.Replayed = true
	return e, err
}
