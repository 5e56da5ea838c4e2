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

// Seal chains the entries posted since the last seal into a new seal. It
// returns nil when there is nothing to seal. Sealers take turns on the
// seal_head row.
func (s *Store) Seal(ctx context.Context, reason string) (*ledger.Seal, error) {
	if err := ledger.ValidateSealReason(reason); err != nil {
		return nil, err
	}
	var out *ledger.Seal
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		var seq int64
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM seal_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return err
		}
		seq++
		rows, err := tx.Query(ctx, `SELECT id, entry_hash FROM entries WHERE seal_seq IS NULL AND status = 'posted' ORDER BY posted_at, id`)
		if err != nil {
			return err
		}
		h := ledger.NewSealHasher(prev, seq)
		var ids []uuid.UUID
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
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}

// Verify proves from the postings alone that the ledger holds together. It
// reads at one snapshot (a REPEATABLE READ, read-only transaction), so
// postings that land meanwhile do not make it see a half-written entry.
func (s *Store) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	start := time.Now()
	rep := ledger.VerifyReport{Problems: []ledger.Problem{}}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	add := func(p ledger.Problem) {
		if len(rep.Problems) < 1000 {
			rep.Problems = append(rep.Problems, p)
		}
	}
	checks := []func(context.Context, pgx.Tx, *ledger.VerifyReport, func(ledger.Problem)) error{
		verifyCounts, verifyEntriesBalance, verifyBalances, verifyAccounts, verifyTrialBalance, verifyHashes, verifySeals,
	}
	for _, c := range checks {
		if err := c(ctx, tx, &rep, add); err != nil {
			return rep, fmt.Errorf("verify: %w", err)
		}
	}
	rep.OK = len(rep.Problems) == 0
	rep.Took = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

type problemFn = func(ledger.Problem)

func verifyCounts(ctx context.Context, tx pgx.Tx, rep *ledger.VerifyReport, _ problemFn) error {
	return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM postings), (SELECT count(*) FROM accounts),
		(SELECT count(*) FROM seals), (SELECT count(*) FROM entries WHERE status = 'open')`).
		Scan(&rep.Entries, &rep.Postings, &rep.Accounts, &rep.Seals, &rep.Open)
}

// verifyEntriesBalance: every entry's postings sum to zero per currency, and
// every posting belongs to an entry and names an account in its currency.
func verifyEntriesBalance(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	rows, err := tx.Query(ctx, `SELECT entry_id, currency, sum(amount) FROM postings GROUP BY entry_id, currency HAVING sum(amount) <> 0`)
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
		add(ledger.Problem{Kind: "unbalanced_entry", EntryID: id.String(), Detail: fmt.Sprintf("postings in %s sum to %s", cur, sum.StringFixed(2))})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT p.entry_id, p.line, p.account_code, COALESCE(a.currency, ''), p.currency, e.id IS NULL
		FROM postings p LEFT JOIN accounts a ON a.code = p.account_code LEFT JOIN entries e ON e.id = p.entry_id
		WHERE a.code IS NULL OR a.currency <> p.currency OR e.id IS NULL LIMIT 1000`)
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
		add(ledger.Problem{Kind: "bad_posting", EntryID: id.String(), Account: acct, Detail: detail})
	}
	return rows.Err()
}

// verifyBalances: each stored balance equals the sum of its postings.
func verifyBalances(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	rows, err := tx.Query(ctx, `SELECT COALESCE(b.account_code, p.account_code), COALESCE(b.balance, 0), COALESCE(p.total, 0), COALESCE(b.n, 0), COALESCE(p.n, 0)
		FROM (SELECT account_code, sum(balance) AS balance, sum(postings) AS n FROM account_balances GROUP BY account_code) b
		FULL OUTER JOIN (SELECT account_code, sum(amount) AS total, count(*) AS n FROM postings GROUP BY account_code) p
		ON p.account_code = b.account_code
		WHERE COALESCE(b.balance, 0) <> COALESCE(p.total, 0) OR COALESCE(b.n, 0) <> COALESCE(p.n, 0)`)
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
		add(ledger.Problem{Kind: "balance_mismatch", Account: acct,
			Detail: fmt.Sprintf("stored balance %s over %d postings, postings sum to %s over %d", stored.StringFixed(2), sn, summed.StringFixed(2), pn)})
	}
	return rows.Err()
}

// verifyAccounts: every balance row and every sub-ledger account names an
// account that exists.
func verifyAccounts(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	rows, err := tx.Query(ctx, `SELECT DISTINCT b.account_code, 'balance' FROM account_balances b LEFT JOIN accounts a ON a.code = b.account_code WHERE a.code IS NULL
		UNION ALL
		SELECT c.code, 'parent' FROM accounts c LEFT JOIN accounts p ON p.code = c.parent_code WHERE c.parent_code IS NOT NULL AND p.code IS NULL
		LIMIT 1000`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var code, what string
		if err := rows.Scan(&code, &what); err != nil {
			return err
		}
		detail := "a balance row names an account that does not exist"
		if what == "parent" {
			detail = "the account's control account does not exist"
		}
		add(ledger.Problem{Kind: "bad_account", Account: code, Detail: detail})
	}
	return rows.Err()
}

// verifyTrialBalance: all postings sum to zero per currency.
func verifyTrialBalance(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	rows, err := tx.Query(ctx, `SELECT currency, sum(amount) FROM postings GROUP BY currency HAVING sum(amount) <> 0`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cur string
		var sum decimal.Decimal
		if err := rows.Scan(&cur, &sum); err != nil {
			return err
		}
		add(ledger.Problem{Kind: "trial_balance", Detail: fmt.Sprintf("all postings in %s sum to %s, not zero", cur, sum.StringFixed(2))})
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

// verifyHashes recomputes every entry's header, chunk, content and entry
// hash from its rows, streaming the postings in entry order.
func verifyHashes(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	entries, err := tx.Query(ctx, `SELECT id, idempotency_key, kind, status, effective_date, posted_at, description, source_ref, metadata,
		reverses, contra, header_hash, content_hash, entry_hash, line_count FROM entries ORDER BY id`)
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
	}
	entries.Close()
	if err := entries.Err(); err != nil {
		return err
	}
	chunks, err := tx.Query(ctx, `SELECT entry_id, chunk, first_line, line_count, hash FROM entry_chunks ORDER BY entry_id, chunk`)
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
	posts, err := tx.Query(ctx, `SELECT entry_id, line, account_code, amount, currency, memo, effective_date, posted_at FROM postings ORDER BY entry_id, line`)
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

// verifySeals recomputes each seal's chain from the stored entry hashes
// (themselves checked by verifyHashes) and the previous seal.
func verifySeals(ctx context.Context, tx pgx.Tx, _ *ledger.VerifyReport, add problemFn) error {
	rows, err := tx.Query(ctx, `SELECT seq, prev_hash, hash, entry_count FROM seals ORDER BY seq`)
	if err != nil {
		return err
	}
	type sealRow struct {
		seq, count int64
		prev, hash []byte
	}
	seals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealRow, error) {
		var s sealRow
		return s, r.Scan(&s.seq, &s.prev, &s.hash, &s.count)
	})
	if err != nil {
		return err
	}
	prev := []byte{}
	for i, s := range seals {
		if s.seq != int64(i+1) {
			add(ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("seal %d is missing", i+1)})
			return nil
		}
		if string(s.prev) != string(prev) {
			add(ledger.Problem{Kind: "seal", Seal: s.seq, Detail: "does not chain to the previous seal"})
		}
		ents, err := tx.Query(ctx, `SELECT id, entry_hash FROM entries WHERE seal_seq = $1 ORDER BY posted_at, id`, s.seq)
		if err != nil {
			return err
		}
		h := ledger.NewSealHasher(s.prev, s.seq)
		for ents.Next() {
			var id uuid.UUID
			var eh []byte
			if err := ents.Scan(&id, &eh); err != nil {
				ents.Close()
				return err
			}
			h.Add(id, eh)
		}
		ents.Close()
		if err := ents.Err(); err != nil {
			return err
		}
		sum, n := h.Sum()
		if n != s.count || string(sum) != string(s.hash) {
			add(ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("covers %d entries whose hashes do not chain to the seal (sealed %d)", n, s.count)})
		}
		prev = s.hash
	}
	var head []byte
	var seq int64
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM seal_head WHERE id = 1`).Scan(&seq, &head); err != nil {
		return err
	}
	if seq != int64(len(seals)) || string(head) != string(prev) {
		add(ledger.Problem{Kind: "seal", Seal: seq, Detail: "the seal head does not match the last seal"})
	}
	return nil
}
