package sqlstore

import (
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
// of entries by id, with their chunks and postings; pages of accounts by
// code, with their balance rows and postings; pages of seals by number,
// with the entries they cover. Each check holds within a page whatever is
// posted meanwhile, since an entry, a chunk of a bulk entry and a seal are
// each written whole in one transaction; seals made after Verify started
// are left for the next one.
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

// keyRange is the keys of one page: above lo and up to hi, a nil bound
// being none.
type keyRange struct {
	lo, hi any
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
		parts = append(parts, fmt.Sprintf("%s <= $%d", col, len(*args)))
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
}

// read runs one page in its own read-only transaction.
func (v *verifier) read(ctx context.Context, rep *ledger.VerifyReport, fn func(context.Context, pgx.Tx, *pageOut) error) (pageOut, error) {
	var out pageOut
	err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		out = pageOut{trial: map[string]decimal.Decimal{}}
		return fn(ctx, tx, &out)
	})
	if err != nil {
		return out, err
	}
	v.found.merge(&out.found)
	rep.Entries += out.entries
	rep.Postings += out.postings
	rep.Open += out.open
	rep.Accounts += out.accounts
	for cur, sum := range out.trial {
		v.trial[cur] = v.trial[cur].Add(sum)
	}
	return out, nil
}

// sealBound reads the seal head and how many seals there are: the seals
// up to the last one now are the ones verified.
func (v *verifier) sealBound(ctx context.Context, rep *ledger.VerifyReport) error {
	return db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT h.seq, h.hash, (SELECT count(*) FROM seals), (SELECT COALESCE(max(seq), 0) FROM seals)
			FROM seal_head h WHERE h.id = 1`).Scan(&v.headSeq, &v.headHash, &rep.Seals, &v.maxSeal)
	})
}

// entryPages checks the entries page by page.
func (v *verifier) entryPages(ctx context.Context, rep *ledger.VerifyReport) error {
	var lo any
	for {
		out, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			r, err := v.entryRange(ctx, tx, lo)
			if err != nil {
				return err
			}
			out.next, out.done = keyRange{lo: r.hi}, r.hi == nil
			for _, c := range []func(context.Context, pgx.Tx, keyRange, *pageOut) error{verifyEntriesBalance, verifyHashes} {
				if err := c(ctx, tx, r, out); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("entries after %v: %w", lo, err)
		}
		if out.done {
			return nil
		}
		lo = out.next.lo
	}
}

// entryRange returns the range of the page of entries after lo: at most
// v.page entries, fewer when they hold more than v.page postings, and
// open-ended when it reaches the last entry.
func (v *verifier) entryRange(ctx context.Context, tx pgx.Tx, lo any) (keyRange, error) {
	args := []any{}
	cond := keyRange{lo: lo}.cond("id", &args)
	args = append(args, v.page)
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT id, line_count FROM entries WHERE %s ORDER BY id LIMIT $%d`, cond, len(args)), args...)
	if err != nil {
		return keyRange{}, err
	}
	var (
		n     int
		lines int64
		hi    uuid.UUID
		cut   bool
	)
	for rows.Next() {
		var id uuid.UUID
		var lc int64
		if err := rows.Scan(&id, &lc); err != nil {
			rows.Close()
			return keyRange{}, err
		}
		n++
		if cut {
			continue
		}
		if n > 1 && lines+lc > int64(v.page) {
			cut = true
			continue
		}
		lines += lc
		hi = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return keyRange{}, err
	}
	if !cut && n < v.page {
		return keyRange{lo: lo}, nil
	}
	return keyRange{lo: lo, hi: hi}, nil
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

// verifyHashes recomputes every entry's header, chunk, content and entry
// hash from its rows, streaming the page's postings in entry order.
func verifyHashes(ctx context.Context, tx pgx.Tx, r keyRange, out *pageOut) error {
	add := func(p ledger.Problem) { out.found.add(checkHashes, p) }
	args := []any{}
	entries, err := tx.Query(ctx, `SELECT id, idempotency_key, kind, status, effective_date, posted_at, description, source_ref, metadata,
		reverses, contra, header_hash, content_hash, entry_hash, line_count FROM entries WHERE `+r.cond("id", &args)+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	var list []entryRow
	for entries.Next() {
		var e entryRow
		if err := entries.Scan(&e.id, &e.key, &e.kind, &e.status, &e.date, &e.postedAt, &e.desc, &e.source, &e.meta,
			&e.reverses, &e.contra, &e.header, &e.content, &e.entry, &e.lines); err != nil {
			entries.Close()
			return err
		}
		list = append(list, e)
		out.entries++
		if e.status == string(ledger.StatusOpen) {
			out.open++
		}
	}
	entries.Close()
	if err := entries.Err(); err != nil {
		return err
	}
	args = args[:0]
	chunks, err := tx.Query(ctx, `SELECT entry_id, chunk, first_line, line_count, hash FROM entry_chunks WHERE `+r.cond("entry_id", &args)+` ORDER BY entry_id, chunk`, args...)
	if err != nil {
		return err
	}
	type chunkRow struct {
		no, first, count int64
		hash             []byte
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
	posts, err := tx.Query(ctx, `SELECT entry_id, line, account_code, amount, currency, memo, effective_date, posted_at FROM postings WHERE `+r.cond("entry_id", &args)+`
		ORDER BY entry_id, line`, args...)
	if err != nil {
		return err
	}
	defer posts.Close()
	var (
		pending bool
		pid     uuid.UUID
		pline   int64
		pacct   string
		pamt    decimal.Decimal
		pcur    string
		pmemo   string
		pdate   time.Time
		pat     time.Time
	)
	next := func() (bool, error) {
		if !posts.Next() {
			return false, posts.Err()
		}
		return true, posts.Scan(&pid, &pline, &pacct, &pamt, &pcur, &pmemo, &pdate, &pat)
	}
	if pending, err = next(); err != nil {
		return err
	}
	for _, e := range list {
		header := ledger.HeaderHash(e.key, e.kind, ledger.DateOf(e.date), e.desc, e.source, e.meta, e.reverses, e.contra)
		if string(header) != string(e.header) {
			add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's header differs from when it was posted"})
		}
		var hashes [][]byte
		var n int64
		bad := ""
		cs := byEntry[e.id]
		if len(cs) == 0 && e.kind == ledger.KindStandard {
			// A standard entry is one chunk without a row of its own; the
			// content hash covers it.
			cs = []chunkRow{{no: 0, first: 0, count: e.lines}}
		}
		for _, c := range cs {
			h := ledger.NewChunkHasher(c.no, c.first)
			for i := int64(0); i < c.count; i++ {
				// Postings of entries that sort before this one belong to no
				// entry; the balance check reports them.
				for pending && pid.String() < e.id.String() {
					if pending, err = next(); err != nil {
						return err
					}
				}
				if !pending || pid != e.id || pline != c.first+i {
					bad = fmt.Sprintf("posting line %d is missing", c.first+i)
					break
				}
				if !ledger.DateOf(pdate).Time().Equal(ledger.DateOf(e.date).Time()) || !pat.Equal(e.postedAt) {
					bad = fmt.Sprintf("posting line %d has another date or posting time than its entry", pline)
				}
				h.Add(pline, pacct, pamt.StringFixed(2), pcur, pmemo)
				n++
				if pending, err = next(); err != nil {
					return err
				}
			}
			sum := h.Sum()
			if bad == "" && c.hash != nil && string(sum) != string(c.hash) {
				bad = fmt.Sprintf("the postings of chunk %d differ from when they were posted", c.no)
			}
			hashes = append(hashes, sum)
		}
		for pending && pid == e.id {
			bad = fmt.Sprintf("posting line %d is not part of any chunk", pline)
			if pending, err = next(); err != nil {
				return err
			}
		}
		if e.status != string(ledger.StatusPosted) {
			continue
		}
		content := ledger.ContentHash(header, hashes)
		switch {
		case bad != "":
			add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: bad})
		case n != e.lines:
			add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: fmt.Sprintf("has %d postings, %d when posted", n, e.lines)})
		case string(content) != string(e.content):
			add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's content differs from when it was posted"})
		case string(ledger.EntryHash(e.id, e.postedAt, content)) != string(e.entry):
			add(ledger.Problem{Kind: "content_hash", EntryID: e.id.String(), Detail: "the entry's id or posting time differs from when it was posted"})
		}
	}
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
