package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ofii/allowances/ledger"
	"github.com/shopspring/decimal"
)

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
	var from string
	if v.full {
		from = "entries e WHERE " + keyRange{lo: lo}.cond("e.id", &args)
	} else {
		// Only the entries that the seal where the proof starts does not
		// cover (those sealed since are still read), found by the index on
		// seal_seq: the sealed entries are not read.
		c1 := keyRange{lo: lo}.cond("id", &args)
		c2 := keyRange{lo: lo}.cond("id", &args)
		args = append(args, v.sealedAt, v.page)
		from = fmt.Sprintf(`(SELECT id FROM entries WHERE seal_seq IS NULL AND %s
			UNION ALL SELECT id FROM entries WHERE seal_seq > $%d AND %s ORDER BY id LIMIT $%d) t
			JOIN entries e ON e.id = t.id WHERE true`, c1, len(args)-1, c2, len(args))
	}
	args = append(args, v.page)
	// An open entry's line count is not known until it is posted: its
	// chunks say how many lines it holds so far.
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT e.id, e.line_count, (SELECT COALESCE(sum(c.line_count), 0) FROM entry_chunks c WHERE c.entry_id = e.id)
		FROM %s ORDER BY e.id LIMIT $%d`, from, len(args)), args...)
	if err != nil {
		return keyRange{}, false, err
	}
	defer rows.Close()
	var (
		n     int
		lines int64
		hi    uuid.UUID
		cut   bool
		ids   []uuid.UUID
	)
	if !v.full {
		// The page keeps only the entries listed, none when it is empty.
		ids = []uuid.UUID{}
	}
	for rows.Next() {
		var id uuid.UUID
		var lc, chunked int64
		if err := rows.Scan(&id, &lc, &chunked); err != nil {
			return keyRange{}, false, err
		}
		n++
		if n == 1 && chunked > int64(v.page) {
			return keyRange{lo: lo, hi: id, hiOpen: true, ids: ids}, true, nil
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
		if ids != nil {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return keyRange{}, false, err
	}
	if !cut && n < v.page {
		return keyRange{lo: lo, ids: ids}, false, nil
	}
	return keyRange{lo: lo, hi: hi, ids: ids}, false, nil
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
