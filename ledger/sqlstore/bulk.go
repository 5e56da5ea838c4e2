package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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
	var id uuid.UUID
	var header []byte
	var st string
	var posted time.Time
	err = tx.QueryRow(ctx, `SELECT id, header_hash, status, posted_at, content_hash FROM entries WHERE idempotency_key = $1`, o.key).
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

// finishEntry marks an open entry posted with its content hash.
func (s *Store) finishEntry(ctx context.Context, o *openEntry, chunks [][]byte, lines int64) error {
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		return finishEntryTx(ctx, tx, o, chunks, lines)
	})
}

func finishEntryTx(ctx context.Context, tx pgx.Tx, o *openEntry, chunks [][]byte, lines int64) error {
	content := ledger.ContentHash(o.header, chunks)
	tag, err := tx.Exec(ctx, `UPDATE entries SET status = 'posted', content_hash = $2, entry_hash = $3, line_count = $4, chunk_count = $5
		WHERE id = $1 AND status = 'open'`, o.id, content, ledger.EntryHash(o.id, o.postedAt, content), lines, int64(len(chunks)))
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	// Another call finished it first: it must have posted the same content.
	var stored []byte
	if err := tx.QueryRow(ctx, `SELECT content_hash FROM entries WHERE id = $1 AND status = 'posted'`, o.id).Scan(&stored); err != nil {
		return fmt.Errorf("finish entry %s: %w", o.id, err)
	}
	if string(stored) != string(content) {
		return fmt.Errorf("entry %s was posted with other content", o.id)
	}
	return nil
}

// chunk is a balanced run of lines about to be written.
type chunk struct {
	no    int64
	first int64
	lines []line
	hash  []byte
	input int64 // index of its first line in the caller's lines
}

// writeChunk writes one chunk in its own transaction: its chunk row, its
// postings (COPY or multi-row INSERT) and its balance changes (one row per
// account, the hot contra account once).
func (s *Store) writeChunk(ctx context.Context, o *openEntry, c chunk, createAccounts bool) error {
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		return s.writeChunkTx(ctx, tx, o, c, createAccounts)
	})
}

func (s *Store) writeChunkTx(ctx context.Context, tx pgx.Tx, o *openEntry, c chunk, createAccounts bool) error {
	// The chunk row goes first: when the chunk was already written (by a
	// resumed call racing this one), its primary key stops this write
	// before anything else, and nothing is doubled.
	var n int64
	err := tx.QueryRow(ctx, `INSERT INTO entry_chunks (entry_id, chunk, first_line, line_count, hash) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (entry_id, chunk) DO NOTHING RETURNING chunk`, o.id, c.no, c.first, int64(len(c.lines)), c.hash).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	// The check pass found every account, or the control account under
	// which it is created now.
	if createAccounts {
		if err := s.createSubAccounts(ctx, tx, c.lines); err != nil {
			return err
		}
	}
	if err := s.insertPostings(ctx, tx, o, c); err != nil {
		return err
	}
	// Beneficiary accounts have one balance row; the hot contra account
	// spreads its chunks over its rows.
	shards := map[string]ledger.Account{}
	if a, ok := s.accounts.get(o.contra); ok {
		shards[o.contra] = a
	}
	shard := func(n int) int64 { return c.no % int64(max(n, 1)) }
	_, err = tx.Exec(ctx, upsertBalances, append([]any{pgx.QueryExecModeDescribeExec}, balanceArgs(balanceDeltas(c.lines, shards, shard))...)...)
	return err
}

// createSubAccounts creates the beneficiary accounts of lines that do not
// exist yet, one statement per control account, taking the name, type,
// currency and side from the control account in SQL so that only the codes
// travel.
func (s *Store) createSubAccounts(ctx context.Context, tx pgx.Tx, lines []line) error {
	byParent := map[string][]string{}
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		j := strings.LastIndexByte(l.account, ':')
		if seen[l.account] || j <= 0 {
			continue
		}
		seen[l.account] = true
		if p, ok := s.accounts.get(l.account[:j]); ok && p.SubLedger {
			byParent[p.Code] = append(byParent[p.Code], l.account)
		}
	}
	for parent, codes := range byParent {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (code, name, type, currency, normal_side, parent_code)
			SELECT u.code, p.name || ' — ' || substr(u.code, length(p.code) + 2), p.type, p.currency, p.normal_side, p.code
			FROM unnest($1::TEXT[]) AS u (code) JOIN accounts p ON p.code = $2
			ON CONFLICT (code) DO NOTHING`, pgx.QueryExecModeDescribeExec, codes, parent)
		if err != nil {
			return fmt.Errorf("create accounts under %s: %w", parent, err)
		}
	}
	return nil
}

var postingCols = []string{"entry_id", "line", "account_code", "amount", "currency", "effective_date", "posted_at", "memo"}

func (s *Store) insertPostings(ctx context.Context, tx pgx.Tx, o *openEntry, c chunk) error {
	date := o.date.Time()
	if s.bulk == BulkCopy {
		// The id goes as a pgtype.UUID: a uuid.UUID has no binary encoding
		// of its own in pgx, which then fails and encodes it again through
		// its text form on every row.
		id := pgtype.UUID{Bytes: o.id, Valid: true}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"postings"}, postingCols, pgx.CopyFromSlice(len(c.lines), func(i int) ([]any, error) {
			l := c.lines[i]
			return []any{id, c.first + int64(i), l.account, l.amount, l.currency, date, o.postedAt, l.memo}, nil
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
		pgx.QueryExecModeDescribeExec, o.id, date, o.postedAt, nums, accts, amounts, curs, memos)
	return err
}

// bulkChunks cuts a bulk entry's lines into balanced chunks, checking each
// line's shape on the way; it calls fn for each chunk.
func (s *Store) bulkChunks(b ledger.BulkEntry, contra ledger.Account, fn func(chunk) error) (int64, error) {
	size := b.ChunkSize
	if size == 0 {
		size = DefaultChunkSize
	}
	var (
		next  int64 // number of the next line of the entry
		index int64 // index of the next input line, for error messages
		no    int64
		buf   = make([]ledger.Line, 0, size)
		total decimal.Decimal // of the lines so far: what the contra account takes
	)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		first := index - int64(len(buf))
		c := chunk{no: no, first: next, input: first, lines: make([]line, 0, len(buf)+1)}
		sum := decimal.Zero
		for i, l := range buf {
			cur := l.Currency
			if cur == "" {
				cur = contra.Currency
			}
			if cur != contra.Currency {
				return errs.Field(fmt.Sprintf("lines[%d].currency", first+int64(i)), "%s differs from the contra account's %s", cur, contra.Currency)
			}
			c.lines = append(c.lines, line{account: l.Account, amount: l.Amount, currency: cur, memo: l.Memo})
			sum = sum.Add(l.Amount)
		}
		// The contra account takes the sum of every line: refuse, before
		// anything is written, what neither its posting nor its balance
		// could hold.
		if total = total.Add(sum); total.Abs().GreaterThanOrEqual(ledger.MaxBalance) {
			return errs.Field("lines", "lines 0 to %d sum to %s, beyond %s, the most the contra account %s may hold",
				index-1, total.StringFixed(2), ledger.MaxBalance.StringFixed(0), contra.Code)
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

// checkAccounts checks the accounts of one chunk: each must exist, or be a
// beneficiary account that a sub-ledger control account creates on first
// use, and be kept in the contra account's currency. It reports whether the
// chunk names accounts that its write must create.
func (s *Store) checkAccounts(ctx context.Context, c chunk, contra ledger.Account) (bool, error) {
	lines := c.lines
	if n := len(lines); n > 0 && lines[n-1].account == contra.Code {
		lines = lines[:n-1]
	}
	codes := make([]string, len(lines))
	for i, l := range lines {
		codes[i] = l.account
	}
	// The database returns only the codes that are missing or kept in
	// another currency, with that currency: a chunk of good lines costs
	// one index probe per line and no row back.
	rows, err := s.pool.Query(ctx, `SELECT u.code, a.currency FROM unnest($1::TEXT[]) AS u (code)
		LEFT JOIN accounts a ON a.code = u.code WHERE a.code IS NULL OR a.currency <> $2`,
		pgx.QueryExecModeDescribeExec, codes, contra.Currency)
	if err != nil {
		return false, err
	}
	// bad holds the currency of each code returned, "" when it is missing.
	bad := map[string]string{}
	for rows.Next() {
		var code string
		var cur *string
		if err := rows.Scan(&code, &cur); err != nil {
			rows.Close()
			return false, err
		}
		if cur != nil {
			bad[code] = *cur
		} else {
			bad[code] = ""
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(bad) == 0 {
		return false, nil
	}
	currency := make(map[string]string, len(bad))
	for code, cur := range bad {
		if cur != "" {
			currency[code] = cur
		}
	}
	create := false
	for i, code := range codes {
		if _, ok := bad[code]; !ok {
			continue
		}
		field := fmt.Sprintf("lines[%d].account", c.input+int64(i))
		cur, ok := currency[code]
		if !ok {
			j := strings.LastIndexByte(code, ':')
			if j <= 0 {
				return false, errs.Field(field, "account %q does not exist", code)
			}
			p, err := s.Account(ctx, code[:j])
			if errs.Is(err, errs.NotFound) || err == nil && !p.SubLedger {
				return false, errs.Field(field, "account %q does not exist", code)
			}
			if err != nil {
				return false, err
			}
			cur, create = p.Currency, true
			currency[code] = cur
		}
		if cur != contra.Currency {
			return false, errs.Field(field, "account %s is kept in %s, the contra account in %s", code, cur, contra.Currency)
		}
	}
	return create, nil
}

// checkChunks cuts the lines into chunks and checks their accounts,
// BulkWriters chunks at a time. It returns each chunk's hash and whether it
// creates accounts; the error is that of the earliest bad line.
func (s *Store) checkChunks(ctx context.Context, b ledger.BulkEntry, contra ledger.Account) ([][]byte, []bool, error) {
	var (
		mu      sync.Mutex
		hashes  [][]byte
		creates []bool
		firstNo = int64(-1)
		firstEr error
		wg      sync.WaitGroup
	)
	work := make(chan chunk)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range BulkWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				create, err := s.checkAccounts(ctx, c, contra)
				mu.Lock()
				if err != nil && (firstNo < 0 || c.no < firstNo) {
					firstNo, firstEr = c.no, err
				}
				creates[c.no] = create
				mu.Unlock()
			}
		}()
	}
	_, err := s.bulkChunks(b, contra, func(c chunk) error {
		mu.Lock()
		hashes = append(hashes, c.hash)
		creates = append(creates, false)
		failed := firstEr != nil
		mu.Unlock()
		if failed {
			return errStop
		}
		select {
		case work <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	if firstEr != nil {
		return nil, nil, firstEr
	}
	if err != nil {
		return nil, nil, err
	}
	return hashes, creates, nil
}

// errStop ends an iteration over lines early.
var errStop = errors.New("stopped")

// BulkWriters is the number of chunks of a bulk entry written at once.
var BulkWriters = 2

// PostBulk posts one entry of many lines; see ledger.BulkEntry. Every line
// is checked before anything is written; then the chunks are written by
// BulkWriters transactions at a time.
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
	// First pass: check every line and account, and hash every chunk.
	hashes, creates, err := s.checkChunks(ctx, b, contra)
	if err != nil {
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
	total, err := s.writeChunks(ctx, b, contra, o, hashes, creates, done)
	if err != nil {
		return fail(outOfRange("lines", err))
	}
	if err := s.finishEntry(ctx, o, hashes, total); err != nil {
		return fail(err)
	}
	// The entry is posted. It is sealed by the next seal (ledgerd seals
	// every SEAL_INTERVAL), not here: sealing a million lines' accounts
	// took as long again as posting them, and the poster needs none of it.
	return s.Entry(ctx, o.id)
}

// writeChunks cuts the lines again and has BulkWriters goroutines write the
// chunks that are not done; it returns the number of lines of the entry.
func (s *Store) writeChunks(ctx context.Context, b ledger.BulkEntry, contra ledger.Account, o *openEntry, hashes [][]byte, creates []bool, done map[int64][]byte) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan chunk)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written int64
	for range BulkWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if err := s.writeChunk(ctx, o, c, creates[c.no]); err != nil {
					cancel(fmt.Errorf("chunk %d: %w", c.no, err))
					continue
				}
				mu.Lock()
				written += int64(len(c.lines))
				if b.Progress != nil {
					b.Progress(written)
				}
				mu.Unlock()
			}
		}()
	}
	chunks := 0
	total, err := s.bulkChunks(b, contra, func(c chunk) error {
		chunks++
		if c.no >= int64(len(hashes)) || string(c.hash) != string(hashes[c.no]) {
			return errors.New("the lines changed between the check and the write")
		}
		if _, ok := done[c.no]; ok {
			mu.Lock()
			written += int64(len(c.lines))
			mu.Unlock()
			return nil
		}
		select {
		case work <- c:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(work)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return 0, cause
	}
	if err == nil && chunks != len(hashes) {
		err = fmt.Errorf("the lines gave %d chunks, %d when checked", chunks, len(hashes))
	}
	return total, err
}

func (s *Store) replayed(ctx context.Context, id uuid.UUID) (ledger.Entry, error) {
	e, err := s.Entry(ctx, id)
	e.Replayed = true
	return e, err
}
