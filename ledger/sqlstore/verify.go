package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
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

// DefaultVerifyPage is the most entries (or, for a page of accounts, the
// most accounts) Verify reads in one transaction; a page of entries also
// ends once its entries hold more postings than this, unless the page holds
// one entry only.
const DefaultVerifyPage = 5000

// WithSealChunk sets the most entries one seal covers (DefaultSealChunk).
func WithSealChunk(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.sealSize = n
		}
	}
}

// WithVerifyPage sets the size of the pages Verify reads (DefaultVerifyPage).
func WithVerifyPage(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.verifyPage = n
		}
	}
}

// Seal chains the entries posted since the last seal into new seals, one
// per chunk of at most DefaultSealChunk entries (see WithSealChunk), oldest
// first. Each seal is its own transaction that extends the chain by one, so
// a call stopped part-way leaves valid seals behind and the next call seals
// the rest. It returns the last seal made, or nil when there was nothing to
// seal. Sealers take turns on the seal_head row.
func (s *Store) Seal(ctx context.Context, reason string) (*ledger.Seal, error) {
	if err := ledger.ValidateSealReason(reason); err != nil {
		return nil, err
	}
	var last *ledger.Seal
	for {
		seal, err := s.sealChunk(ctx, reason)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if seal == nil {
			return last, nil
		}
		last = seal
		// A chunk that is not full took every entry posted when it read
		// them; entries posted since wait for the next call.
		if seal.EntryCount < int64(s.sealSize) {
			return last, nil
		}
	}
}

// sealChunk seals the oldest unsealed posted entries, at most s.sealChunk,
// in one transaction: it returns nil when there is nothing to seal.
func (s *Store) sealChunk(ctx context.Context, reason string) (*ledger.Seal, error) {
	var out *ledger.Seal
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		var seq int64
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM seal_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return err
		}
		seq++
		// Open bulk entries are left out: the seal after their last step
		// takes them.
		rows, err := tx.Query(ctx, `SELECT id, entry_hash FROM entries WHERE seal_seq IS NULL AND status = 'posted' ORDER BY posted_at, id LIMIT $1`, s.sealSize)
		if err != nil {
			return err
		}
		h := ledger.NewSealHasher(prev, seq)
		ids := make([]uuid.UUID, 0, 64)
		for rows.Next() {
			var id uuid.UUID
			var eh []byte
			if err := rows.Scan(&id, &eh); err != nil {
				rows.Close()
				return err
			}
			h.Add(id, eh)
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		sum, n := h.Sum()
		now := s.now().UTC().Truncate(time.Microsecond)
		b := &pgx.Batch{}
		b.Queue(`UPDATE seal_head SET seq = $1, hash = $2 WHERE id = 1`, seq, sum)
		b.Queue(`INSERT INTO seals (seq, sealed_at, prev_hash, hash, entry_count, reason) VALUES ($1, $2, $3, $4, $5, $6)`, seq, now, prev, sum, n, reason)
		b.Queue(`UPDATE entries SET seal_seq = $1 WHERE id = ANY($2)`, seq, ids)
		if err := sendBatch(ctx, tx, b); err != nil {
			return err
		}
		out = &ledger.Seal{Seq: seq, SealedAt: now, PrevHash: fmt.Sprintf("%x", prev), Hash: fmt.Sprintf("%x", sum), EntryCount: n, Reason: reason}
		return nil
	})
	return out, err
}

// Verify proves from the postings alone that the ledger holds together. It
// reads in pages (see WithVerifyPage), each a short read-only transaction at
// one snapshot, run again when the engine asks for it (db.InReadTx): pages
// of entries by id, with their chunks and postings (an entry of more lines
// than a page alone, its chunks a page's worth at a time); pages of
// accounts by code, with their balance rows and postings; pages of seals by
// number, with the entries they cover. Each check holds within a page
// whatever is posted meanwhile, since an entry, a chunk of a bulk entry and
// a seal are each written whole in one transaction, and the trial balance
// adds pages that each balance; seals made after Verify started are left
// for the next one. Each query reads a page's rows as a set.
func (s *Store) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	start := time.Now()
	v := &verifier{pool: s.pool, page: s.verifyPage, retry: db.ReadRetryPolicy, trial: map[string]decimal.Decimal{}}
	rep := ledger.VerifyReport{Problems: []ledger.Problem{}}
	for _, step := range []func(context.Context, *ledger.VerifyReport) error{v.sealBound, v.entryPages, v.accountPages, v.sealPages} {
		if err := step(ctx, &rep); err != nil {
			return rep, fmt.Errorf("verify: %w", err)
		}
	}
	currencies := make([]string, 0, len(v.trial))
	for cur := range v.trial {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		if sum := v.trial[cur]; !sum.IsZero() {
			v.found.add(checkTrialBalance, ledger.Problem{Kind: "trial_balance", Detail: fmt.Sprintf("all postings in %s sum to %s, not zero", cur, sum.StringFixed(2))})
		}
	}
	for _, ps := range v.found {
		rep.Problems = append(rep.Problems, ps...)
	}
	if len(rep.Problems) > maxProblems {
		rep.Problems = rep.Problems[:maxProblems]
	}
	rep.OK = len(rep.Problems) == 0
	rep.Took = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// maxProblems is the most problems a report lists.
const maxProblems = 1000

// The checks, in the order their problems are reported. Each check's
// problems come in key order whatever the pages, so that the report does
// not depend on the page size.
const (
	checkUnbalanced = iota
	checkBadPosting
	checkBalances
	checkBalanceAccount
	checkParentAccount
	checkTrialBalance
	checkHashes
	checkSeals
	numChecks
)

// problems holds the problems found, by check.
type problems [numChecks][]ledger.Problem

func (p *problems) add(check int, pr ledger.Problem) {
	if len(p[check]) < maxProblems {
		p[check] = append(p[check], pr)
	}
}

func (p *problems) merge(q *problems) {
	for c := range q {
		for _, pr := range q[c] {
			p.add(c, pr)
		}
	}
}

// verifier carries what Verify has read so far from page to page.
type verifier struct {
	pool  db.Beginner
	page  int
	retry db.RetryPolicy
	found problems
	trial map[string]decimal.Decimal // sum of all postings by currency

	// The seals at the start: those numbered up to maxSeal are verified.
	headSeq  int64
	headHash []byte
	maxSeal  int64
}

// keyRange is the keys of one page: above lo and up to hi (below hi when
// hiOpen), a nil bound being none.
type keyRange struct {
	lo, hi any
	hiOpen bool
}

// cond returns the condition on col that keeps the range, appending its
// arguments to args.
func (r keyRange) cond(col string, args *[]any) string {
	var parts []string
	if r.lo != nil {
		*args = append(*args, r.lo)
		parts = append(parts, fmt.Sprintf("%s > $%d", col, len(*args)))
	}
	if r.hi != nil {
		*args = append(*args, r.hi)
		op := "<="
		if r.hiOpen {
			op = "<"
		}
		parts = append(parts, fmt.Sprintf("%s %s $%d", col, op, len(*args)))
	}
	if len(parts) == 0 {
		return "true"
	}
	return strings.Join(parts, " AND ")
}

// pageOut is what one page found; it joins the report once the page's
// transaction has committed, so that an attempt run again counts nothing
// twice.
type pageOut struct {
	found                             problems
	entries, postings, open, accounts int64
	trial                             map[string]decimal.Decimal
	next                              keyRange // the next page's lower bound in lo
	done                              bool
	big                               *bigEntry // an entry checked over several pages, which this one starts
}

func newPageOut() pageOut { return pageOut{trial: map[string]decimal.Decimal{}} }

// read runs one page in its own read-only transaction.
func (v *verifier) read(ctx context.Context, rep *ledger.VerifyReport, fn func(context.Context, pgx.Tx, *pageOut) error) (pageOut, error) {
	var out pageOut
	err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		out = newPageOut()
		return fn(ctx, tx, &out)
	})
	if err != nil {
		return out, err
	}
	v.merge(rep, &out)
	return out, nil
}

// merge adds what a page found to the report.
func (v *verifier) merge(rep *ledger.VerifyReport, out *pageOut) {
	v.found.merge(&out.found)
	rep.Entries += out.entries
	rep.Postings += out.postings
	rep.Open += out.open
	rep.Accounts += out.accounts
	for cur, sum := range out.trial {
		v.trial[cur] = v.trial[cur].Add(sum)
	}
}

// sealBound reads the seal head and how many seals there are: the seals
// up to the last one now are the ones verified.
func (v *verifier) sealBound(ctx context.Context, rep *ledger.VerifyReport) error {
	return db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT h.seq, h.hash, (SELECT count(*) FROM seals), (SELECT COALESCE(max(seq), 0) FROM seals)
			FROM seal_head h WHERE h.id = 1`).Scan(&v.headSeq, &v.headHash, &rep.Seals, &v.maxSeal)
	})
}

// entryPages checks the entries page by page. An entry of more lines than
// a page is checked alone, its chunks a page's worth at a time.
func (v *verifier) entryPages(ctx context.Context, rep *ledger.VerifyReport) error {
	var lo any
	for {
		out, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			r, big, err := v.entryRange(ctx, tx, lo)
			if err != nil {
				return err
			}
			out.next, out.done = keyRange{lo: r.hi}, r.hi == nil
			for _, c := range []func(context.Context, pgx.Tx, keyRange, *pageOut) error{verifyEntriesBalance, verifyHashes} {
				if err := c(ctx, tx, r, out); err != nil {
					return err
				}
			}
			if big {
				out.big, err = startBigEntry(ctx, tx, r.hi.(uuid.UUID))
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("entries after %v: %w", lo, err)
		}
		if out.big != nil {
			if err := v.finishBigEntry(ctx, rep, out.big); err != nil {
				return fmt.Errorf("entry %s: %w", out.big.check.e.id, err)
			}
		}
		if out.done {
			return nil
		}
		lo = out.next.lo
	}
}

// entryRange returns the range of the page of entries after lo: at most
// v.page entries, fewer when they hold more than v.page postings, and
// open-ended when it reaches the last entry. When the first entry alone
// holds more than v.page postings in chunks, the range stops just below
// it, and big is true: the entry is hi, checked chunks at a time.
func (v *verifier) entryRange(ctx context.Context, tx pgx.Tx, lo any) (r keyRange, big bool, err error) {
	args := []any{}
	cond := keyRange{lo: lo}.cond("e.id", &args)
	args = append(args, v.page)
	// An open entry's line count is not known until it is posted: its
	// chunks say how many lines it holds so far.
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT e.id, e.line_count, (SELECT COALESCE(sum(c.line_count), 0) FROM entry_chunks c WHERE c.entry_id = e.id)
		FROM entries e WHERE %s ORDER BY e.id LIMIT $%d`, cond, len(args)), args...)
	if err != nil {
		return keyRange{}, false, err
	}
	defer rows.Close()
	var (
		n     int
		lines int64
		hi    uuid.UUID
		cut   bool
	)
	for rows.Next() {
		var id uuid.UUID
		var lc, chunked int64
		if err := rows.Scan(&id, &lc, &chunked); err != nil {
			return keyRange{}, false, err
		}
		n++
		if n == 1 && chunked > int64(v.page) {
			return keyRange{lo: lo, hi: id, hiOpen: true}, true, nil
		}
		if cut {
			continue
		}
		if n > 1 && lines+max(lc, chunked) > int64(v.page) {
			cut = true
			continue
		}
		lines += max(lc, chunked)
		hi = id
	}
	if err := rows.Err(); err != nil {
		return keyRange{}, false, err
	}
	if !cut && n < v.page {
		return keyRange{lo: lo}, false, nil
	}
	return keyRange{lo: lo, hi: hi}, false, nil
}

// accountPages checks the accounts page by page.
func (v *verifier) accountPages(ctx context.Context, rep *ledger.VerifyReport) error {
	var lo any
	for {
		out, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			args := []any{}
			cond := keyRange{lo: lo}.cond("code", &args)
			args = append(args, v.page)
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT code FROM accounts WHERE %s ORDER BY code LIMIT $%d`, cond, len(args)), args...)
			if err != nil {
				return err
			}
			codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			r := keyRange{lo: lo}
			if len(codes) == v.page {
				r.hi = codes[len(codes)-1]
			}
			out.accounts = int64(len(codes))
			out.next, out.done = keyRange{lo: r.hi}, r.hi == nil
			for _, c := range []func(context.Context, pgx.Tx, keyRange, *pageOut) error{verifyBalances, verifyAccounts} {
				if err := c(ctx, tx, r, out); err != nil {
					return err
				}
			}
			return nil
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

// verifyEntriesBalance: every entry's postings sum to zero per currency,
// and every posting belongs to an entry and names an account in its
// currency. It adds the page's postings to the trial balance.
func verifyEntriesBalance(ctx context.Context, tx pgx.Tx, r keyRange, out *pageOut) error {
	args := []any{}
	rows, err := tx.Query(ctx, `SELECT currency, sum(amount), count(*) FROM postings WHERE `+r.cond("entry_id", &args)+` GROUP BY currency`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var cur string
		var sum decimal.Decimal
		var n int64
		if err := rows.Scan(&cur, &sum, &n); err != nil {
			rows.Close()
			return err
		}
		out.trial[cur] = out.trial[cur].Add(sum)
		out.postings += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	args = args[:0]
	rows, err = tx.Query(ctx, `SELECT entry_id, currency, sum(amount) FROM postings WHERE `+r.cond("entry_id", &args)+`
		GROUP BY entry_id, currency HAVING sum(amount) <> 0 ORDER BY entry_id, currency`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id uuid.UUID
		var cur string
		var sum decimal.Decimal
		if err := rows.Scan(&id, &cur, &sum); err != nil {
			rows.Close()
			return err
		}
		out.found.add(checkUnbalanced, ledger.Problem{Kind: "unbalanced_entry", EntryID: id.String(), Detail: fmt.Sprintf("postings in %s sum to %s", cur, sum.StringFixed(2))})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	args = args[:0]
	rows, err = tx.Query(ctx, `SELECT p.entry_id, p.line, p.account_code, COALESCE(a.currency, ''), p.currency, e.id IS NULL
		FROM postings p LEFT JOIN accounts a ON a.code = p.account_code LEFT JOIN entries e ON e.id = p.entry_id
		WHERE (a.code IS NULL OR a.currency <> p.currency OR e.id IS NULL) AND `+r.cond("p.entry_id", &args)+`
		ORDER BY p.entry_id, p.line LIMIT `+fmt.Sprint(maxProblems), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var line int64
		var acct, acur, pcur string
		var orphan bool
		if err := rows.Scan(&id, &line, &acct, &acur, &pcur, &orphan); err != nil {
			return err
		}
		detail := fmt.Sprintf("line %d: ", line)
		switch {
		case orphan:
			detail += "belongs to no entry"
		case acur == "":
			detail += fmt.Sprintf("account %q does not exist", acct)
		default:
			detail += fmt.Sprintf("posted in %s to account %s kept in %s", pcur, acct, acur)
		}
		out.found.add(checkBadPosting, ledger.Problem{Kind: "bad_posting", EntryID: id.String(), Account: acct, Detail: detail})
	}
	return rows.Err()
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

type entryRow struct {
	id       uuid.UUID
	key      string
	kind     ledger.EntryKind
	status   string
	date     time.Time
	postedAt time.Time
	desc     string
	source   string
	meta     map[string]string
	reverses *uuid.UUID
	contra   string
	header   []byte
	content  []byte
	entry    []byte
	lines    int64
}

const verifiedEntryCols = `id, idempotency_key, kind, status, effective_date, posted_at, description, source_ref, metadata,
	reverses, contra, header_hash, content_hash, entry_hash, line_count`

func scanEntry(r pgx.Row, e *entryRow) error {
	return r.Scan(&e.id, &e.key, &e.kind, &e.status, &e.date, &e.postedAt, &e.desc, &e.source, &e.meta,
		&e.reverses, &e.contra, &e.header, &e.content, &e.entry, &e.lines)
}

// chunkRow is a chunk of an entry as stored.
type chunkRow struct {
	no, first, count int64
	hash             []byte
}

// postingRow is a posting as the hash check reads it.
type postingRow struct {
	line      int64
	acct      string
	amt       decimal.Decimal
	cur, memo string
	date, at  time.Time
}

const hashedCols = `line, account_code, amount, currency, memo, effective_date, posted_at`

func (p *postingRow) dest() []any {
	return []any{&p.line, &p.acct, &p.amt, &p.cur, &p.memo, &p.date, &p.at}
}

// within returns the postings of ps, sorted by line, whose lines are from
// lo up to hi (excluded).
func within(ps []postingRow, lo, hi int64) []postingRow {
	i := sort.Search(len(ps), func(i int) bool { return ps[i].line >= lo })
	j := sort.Search(len(ps), func(j int) bool { return ps[j].line >= hi })
	return ps[i:max(i, j)]
}

// entryCheck recomputes an entry's chunk, content and entry hashes, chunk
// by chunk: the chunks may be read in several pages, each chunk whole in
// one. It keeps the first problem its chunks show, and the first line that
// no chunk holds.
type entryCheck struct {
	e      entryRow
	chunks []chunkRow
	spans  [][2]int64 // the lines of each chunk, from first to end (excluded), by first line
	end    int64      // the end of the last chunk's lines
	hashes [][]byte
	n      int64 // postings hashed
	bad    string
	stray  *int64 // the first posting line outside every chunk
}

func newEntryCheck(e entryRow, cs []chunkRow) *entryCheck {
	if len(cs) == 0 && e.kind == ledger.KindStandard {
		// A standard entry is one chunk without a row of its own; the
		// content hash covers it.
		cs = []chunkRow{{no: 0, first: 0, count: e.lines}}
	}
	c := &entryCheck{e: e, chunks: cs}
	var next int64
	for _, ch := range cs {
		if ch.first != next {
			c.fail(fmt.Sprintf("chunk %d does not follow the chunk before it", ch.no))
		}
		next = ch.first + ch.count
		c.spans = append(c.spans, [2]int64{ch.first, next})
		c.end = max(c.end, next)
	}
	sort.Slice(c.spans, func(i, j int) bool { return c.spans[i][0] < c.spans[j][0] })
	return c
}

// strays notes the first of ps, postings of the entry in line order, that
// no chunk holds.
func (c *entryCheck) strays(ps []postingRow) {
	for _, p := range ps {
		// The last span that starts at or before the line.
		i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i][0] > p.line }) - 1
		if i >= 0 && p.line < c.spans[i][1] {
			continue
		}
		if c.stray == nil || p.line < *c.stray {
			line := p.line
			c.stray = &line
		}
		return
	}
}

func (c *entryCheck) fail(detail string) {
	if c.bad == "" {
		c.bad = detail
	}
}

// chunk hashes the chunk ch from ps, the entry's postings within it in
// line order.
func (c *entryCheck) chunk(ch chunkRow, ps []postingRow) {
	h := ledger.NewChunkHasher(ch.no, ch.first)
	for i := int64(0); i < ch.count; i++ {
		line := ch.first + i
		if i >= int64(len(ps)) || ps[i].line != line {
			c.fail(fmt.Sprintf("posting line %d is missing", line))
			break
		}
		p := ps[i]
		if !ledger.DateOf(p.date).Time().Equal(ledger.DateOf(c.e.date).Time()) || !p.at.Equal(c.e.postedAt) {
			c.fail(fmt.Sprintf("posting line %d has another date or posting time than its entry", line))
		}
		h.Add(p.line, p.acct, p.amt.StringFixed(2), p.cur, p.memo)
		c.n++
	}
	sum := h.Sum()
	if ch.hash != nil && string(sum) != string(ch.hash) {
		c.fail(fmt.Sprintf("the postings of chunk %d differ from when they were posted", ch.no))
	}
	c.hashes = append(c.hashes, sum)
}

// report adds the entry's problems: its header, and for a posted entry
// its postings, content and entry hash.
func (c *entryCheck) report(add problemFn) {
	e := c.e
	header := ledger.HeaderHash(e.key, e.kind, ledger.DateOf(e.date), e.desc, e.source, e.meta, e.reverses, e.contra)
	if string(header) != string(e.header) {
		add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's header differs from when it was posted"})
	}
	if e.status != string(ledger.StatusPosted) {
		return
	}
	if c.stray != nil {
		c.fail(fmt.Sprintf("posting line %d is not part of any chunk", *c.stray))
	}
	content := ledger.ContentHash(header, c.hashes)
	switch {
	case c.bad != "":
		add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: c.bad})
	case c.n != e.lines:
		add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: fmt.Sprintf("has %d postings, %d when posted", c.n, e.lines)})
	case string(content) != string(e.content):
		add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's content differs from when it was posted"})
	case string(ledger.EntryHash(e.id, e.postedAt, content)) != string(e.entry):
		add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's id or posting time differs from when it was posted"})
	}
}

type problemFn = func(ledger.Problem)

// verifyHashes recomputes the header, chunk, content and entry hashes of
// the page's entries from their rows, streaming the page's postings in
// entry order.
func verifyHashes(ctx context.Context, tx pgx.Tx, r keyRange, out *pageOut) error {
	add := func(p ledger.Problem) { out.found.add(checkHashes, p) }
	args := []any{}
	rows, err := tx.Query(ctx, `SELECT `+verifiedEntryCols+` FROM entries WHERE `+r.cond("id", &args)+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (entryRow, error) {
		var e entryRow
		return e, scanEntry(r, &e)
	})
	if err != nil {
		return err
	}
	args = args[:0]
	chunks, err := tx.Query(ctx, `SELECT entry_id, chunk, first_line, line_count, hash FROM entry_chunks WHERE `+r.cond("entry_id", &args)+` ORDER BY entry_id, chunk`, args...)
	if err != nil {
		return err
	}
	byEntry := map[uuid.UUID][]chunkRow{}
	for chunks.Next() {
		var id uuid.UUID
		var c chunkRow
		if err := chunks.Scan(&id, &c.no, &c.first, &c.count, &c.hash); err != nil {
			chunks.Close()
			return err
		}
		byEntry[id] = append(byEntry[id], c)
	}
	chunks.Close()
	if err := chunks.Err(); err != nil {
		return err
	}
	args = args[:0]
	posts, err := tx.Query(ctx, `SELECT entry_id, `+hashedCols+` FROM postings WHERE `+r.cond("entry_id", &args)+` ORDER BY entry_id, line`, args...)
	if err != nil {
		return err
	}
	defer posts.Close()
	var (
		pending bool
		pid     uuid.UUID
		p       postingRow
	)
	dest := append([]any{&pid}, p.dest()...)
	next := func() (bool, error) {
		if !posts.Next() {
			return false, posts.Err()
		}
		return true, posts.Scan(dest...)
	}
	if pending, err = next(); err != nil {
		return err
	}
	var ps []postingRow
	for _, e := range list {
		out.entries++
		if e.status == string(ledger.StatusOpen) {
			out.open++
		}
		// Postings of entries that sort before this one belong to no
		// entry; the balance check reports them.
		for pending && bytes.Compare(pid[:], e.id[:]) < 0 {
			if pending, err = next(); err != nil {
				return err
			}
		}
		ps = ps[:0]
		for pending && pid == e.id {
			ps = append(ps, p)
			if pending, err = next(); err != nil {
				return err
			}
		}
		c := newEntryCheck(e, byEntry[e.id])
		for _, ch := range c.chunks {
			c.chunk(ch, within(ps, ch.first, ch.first+ch.count))
		}
		c.strays(ps)
		c.report(add)
	}
	return nil
}

// bigEntry is an entry of more lines than a page, checked over several.
type bigEntry struct {
	check *entryCheck
	out   pageOut          // what its pages found
	above []ledger.Problem // bad postings numbered past the chunks, reported last
}

// startBigEntry reads the entry id, its chunks and the postings that no
// chunk holds.
func startBigEntry(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*bigEntry, error) {
	var e entryRow
	if err := scanEntry(tx.QueryRow(ctx, `SELECT `+verifiedEntryCols+` FROM entries WHERE id = $1`, id), &e); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT chunk, first_line, line_count, hash FROM entry_chunks WHERE entry_id = $1 ORDER BY chunk`, id)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunkRow, error) {
		var c chunkRow
		return c, r.Scan(&c.no, &c.first, &c.count, &c.hash)
	})
	if err != nil {
		return nil, err
	}
	b := &bigEntry{check: newEntryCheck(e, cs), out: newPageOut()}
	b.out.entries = 1
	if e.status == string(ledger.StatusOpen) {
		b.out.open = 1
	}
	outside := func(p string) string { return p + "entry_id = $1 AND (" + p + "line < 0 OR " + p + "line >= $2)" }
	ps, err := b.postings(ctx, tx, outside(""), id, b.check.end)
	if err != nil {
		return nil, err
	}
	b.check.strays(ps)
	bad, err := b.badPostings(ctx, tx, outside("p."), id, b.check.end)
	if err != nil {
		return nil, err
	}
	for _, p := range bad {
		if p.line < 0 {
			b.out.found.add(checkBadPosting, p.Problem)
		} else {
			b.above = append(b.above, p.Problem)
		}
	}
	return b, nil
}

// postings reads the entry's postings that cond keeps, in line order,
// adding them to the page's sums.
func (b *bigEntry) postings(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]postingRow, error) {
	rows, err := tx.Query(ctx, `SELECT `+hashedCols+` FROM postings WHERE `+cond+` ORDER BY line`, args...)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (postingRow, error) {
		var p postingRow
		return p, r.Scan(p.dest()...)
	})
	for _, p := range ps {
		b.out.trial[p.cur] = b.out.trial[p.cur].Add(p.amt)
		b.out.postings++
	}
	return ps, err
}

type linedProblem struct {
	ledger.Problem
	line int64
}

// badPostings returns the entry's postings that cond (on p) keeps and that name an
// account that does not exist or is kept in another currency.
func (b *bigEntry) badPostings(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]linedProblem, error) {
	rows, err := tx.Query(ctx, `SELECT p.line, p.account_code, COALESCE(a.currency, ''), p.currency
		FROM postings p LEFT JOIN accounts a ON a.code = p.account_code
		WHERE (a.code IS NULL OR a.currency <> p.currency) AND `+cond+`
		ORDER BY p.line LIMIT `+fmt.Sprint(maxProblems), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (linedProblem, error) {
		var p linedProblem
		var acur, pcur string
		if err := r.Scan(&p.line, &p.Account, &acur, &pcur); err != nil {
			return p, err
		}
		p.Kind, p.EntryID = "bad_posting", b.check.e.id.String()
		if acur == "" {
			p.Detail = fmt.Sprintf("line %d: account %q does not exist", p.line, p.Account)
		} else {
			p.Detail = fmt.Sprintf("line %d: posted in %s to account %s kept in %s", p.line, pcur, p.Account, acur)
		}
		return p, nil
	})
}

// finishBigEntry checks the entry's chunks, as many as hold at most a
// page of lines (one at least) in each transaction, then reports on it.
// The transactions read the lines from 0 to the end of the last chunk,
// each line once, whatever lies between the chunks: a chunk of an open
// entry written meanwhile falls whole in one of them.
func (v *verifier) finishBigEntry(ctx context.Context, rep *ledger.VerifyReport, b *bigEntry) error {
	cs := b.check.chunks
	var hi int64
	for len(cs) > 0 {
		n, lines := 1, cs[0].count
		for n < len(cs) && lines+cs[n].count <= int64(v.page) {
			lines += cs[n].count
			n++
		}
		group := cs[:n]
		lo := hi
		hi = max(lo, group[n-1].first+group[n-1].count)
		if n == len(cs) {
			hi = b.check.end
		}
		// The attempt works on copies, so that one run again counts
		// nothing twice.
		var try bigEntry
		err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
			check := *b.check
			check.hashes = append([][]byte(nil), b.check.hashes...)
			try = bigEntry{check: &check, out: newPageOut()}
			span := func(p string) string { return p + "entry_id = $1 AND " + p + "line >= $2 AND " + p + "line < $3" }
			ps, err := try.postings(ctx, tx, span(""), check.e.id, lo, hi)
			if err != nil {
				return err
			}
			for _, ch := range group {
				check.chunk(ch, within(ps, ch.first, ch.first+ch.count))
			}
			check.strays(ps)
			bad, err := try.badPostings(ctx, tx, span("p."), check.e.id, lo, hi)
			for _, p := range bad {
				try.out.found.add(checkBadPosting, p.Problem)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("lines %d to %d: %w", lo, hi-1, err)
		}
		b.check = try.check
		b.out.found.merge(&try.out.found)
		b.out.postings += try.out.postings
		for cur, sum := range try.out.trial {
			b.out.trial[cur] = b.out.trial[cur].Add(sum)
		}
		cs = cs[n:]
	}
	for _, p := range b.above {
		b.out.found.add(checkBadPosting, p)
	}
	// Every chunk is balanced when written: the entry balances unless its
	// postings were changed.
	currencies := make([]string, 0, len(b.out.trial))
	for cur := range b.out.trial {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		if sum := b.out.trial[cur]; !sum.IsZero() {
			b.out.found.add(checkUnbalanced, ledger.Problem{Kind: "unbalanced_entry", EntryID: b.check.e.id.String(),
				Detail: fmt.Sprintf("postings in %s sum to %s", cur, sum.StringFixed(2))})
		}
	}
	b.check.report(func(p ledger.Problem) { b.out.found.add(checkHashes, p) })
	v.merge(rep, &b.out)
	return nil
}

// sealChain is where the check of the seal chain stands between pages.
type sealChain struct {
	n       int64  // seals checked, numbered 1 to n
	prev    []byte // hash of seal n
	stopped bool   // a seal is missing: the chain cannot be followed
}

// sealPages recomputes each seal, up to the last one when Verify started,
// from the stored entry hashes (themselves checked by verifyHashes) and the
// previous seal, page by page; then it checks the seal head read at the
// start against the last seal.
func (v *verifier) sealPages(ctx context.Context, rep *ledger.VerifyReport) error {
	chain := sealChain{prev: []byte{}}
	for chain.n < v.maxSeal && !chain.stopped {
		var next sealChain
		_, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			next = chain
			return v.verifySeals(ctx, tx, &next, out)
		})
		if err != nil {
			return fmt.Errorf("seals after %d: %w", chain.n, err)
		}
		chain = next
	}
	if chain.stopped {
		return nil
	}
	if v.headSeq != chain.n || string(v.headHash) != string(chain.prev) {
		v.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: v.headSeq, Detail: "the seal head does not match the last seal"})
	}
	return nil
}

// verifySeals checks the page of seals after chain.n: at most v.page
// seals, fewer when they cover more than v.page entries, unless the page
// holds one seal only.
func (v *verifier) verifySeals(ctx context.Context, tx pgx.Tx, chain *sealChain, out *pageOut) error {
	rows, err := tx.Query(ctx, `SELECT seq, prev_hash, hash, entry_count FROM seals WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
		chain.n, v.maxSeal, v.page)
	if err != nil {
		return err
	}
	type sealRow struct {
		seq, count int64
		prev, hash []byte
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealRow, error) {
		var s sealRow
		return s, r.Scan(&s.seq, &s.prev, &s.hash, &s.count)
	})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		// The seals counted at the start are gone.
		out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: chain.n + 1, Detail: fmt.Sprintf("seal %d is missing", chain.n+1)})
		chain.stopped = true
		return nil
	}
	seals, covered := all[:0], int64(0)
	for _, s := range all {
		if len(seals) > 0 && covered+s.count > int64(v.page) {
			break
		}
		seals = append(seals, s)
		covered += s.count
	}
	ents, err := tx.Query(ctx, `SELECT seal_seq, id, entry_hash FROM entries WHERE seal_seq > $1 AND seal_seq <= $2 ORDER BY seal_seq, posted_at, id`,
		chain.n, seals[len(seals)-1].seq)
	if err != nil {
		return err
	}
	defer ents.Close()
	var (
		pending bool
		eseq    int64
		eid     uuid.UUID
		ehash   []byte
	)
	next := func() (bool, error) {
		if !ents.Next() {
			return false, ents.Err()
		}
		return true, ents.Scan(&eseq, &eid, &ehash)
	}
	if pending, err = next(); err != nil {
		return err
	}
	for _, s := range seals {
		if s.seq != chain.n+1 {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("seal %d is missing", chain.n+1)})
			chain.stopped = true
			return nil
		}
		if string(s.prev) != string(chain.prev) {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: "does not chain to the previous seal"})
		}
		h := ledger.NewSealHasher(s.prev, s.seq)
		for pending && eseq <= s.seq {
			if eseq == s.seq {
				h.Add(eid, ehash)
			}
			if pending, err = next(); err != nil {
				return err
			}
		}
		sum, n := h.Sum()
		if n != s.count || string(sum) != string(s.hash) {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("covers %d entries whose hashes do not chain to the seal (sealed %d)", n, s.count)})
		}
		chain.n, chain.prev = s.seq, s.hash
	}
	return nil
}
