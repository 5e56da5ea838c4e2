package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

// stLine is a statement line as the cascade sees it, with what it decided.
type stLine struct {
	stmt                                  uuid.UUID
	idx                                   int
	amount                                decimal.Decimal
	dir                                   reconcile.Direction
	status                                string
	booking, value                        ledger.Date
	bankRef, bankCode, e2e, pmtInf, msgID string
	batchCount                            int
	batchTotal                            *decimal.Decimal
	returnReason, cpName, cpIBAN, label   string
	matchStatus, rule                     string
	matchID                               *uuid.UUID
	bank                                  string // the ledger account of the statement's account
}

func (l *stLine) ref() string { return fmt.Sprintf("%s/%d", l.stmt, l.idx) }

// posted is the line as the posting rules see it.
func (l *stLine) posted() reconcile.PostedLine {
	return reconcile.PostedLine{Line: reconcile.LineRef{StatementID: l.stmt, Index: l.idx}, Direction: l.dir, Amount: l.amount,
		Booking: l.booking, Bank: l.bank}
}

// ruleUndone marks a line whose match a controller undid: the cascade
// leaves it to people from then on.
const ruleUndone = "undone"

// matchSpace derives the ids of the payment exceptions of the returns.
var matchSpace = uuid.MustParse("3b6f1d2a-8e47-4c09-a1f5-7d2e9c84b0a6")

// payRow is a paid line as the cascade sees it.
type payRow struct {
	id, ben, status  string
	amount           decimal.Decimal
	booked, returned *uuid.UUID
}

// candidate is the payment as the rules of the cascade see it; nil for
// none.
func (p *payRow) candidate() *reconcile.Candidate {
	if p == nil {
		return nil
	}
	return &reconcile.Candidate{ID: p.id, Amount: p.amount, Rejected: p.status == string(sepa.StatusRJCT), Booked: p.booked != nil,
		Returned: p.returned != nil}
}

// effects are what a chunk of decisions writes.
type effects struct {
	matches    [][]any            // recon_matches rows
	multi      [][]any            // recon_match_payments rows
	booked     map[string]booking // payment line id → what booked it
	returned   map[string]uuid.UUID
	postings   []posting
	exceptions [][]any // kind, statement, idx, payment, amount, reason
	payExc     []payExc
	byDate     map[dayKey]*daySum // for the aggregated postings
	result     reconcile.MatchResult
	// hopeful marks the effects of a chunk decided without reading the
	// bookings of its debits' payments (decide).
	hopeful bool
}

// booking is what booked a payment: a match, on a statement line.
type booking struct {
	match, stmt uuid.UUID
	idx         int
}

// dayKey is a rule, a ledger account of the bank and a day, whose matches
// one entry books.
type dayKey struct {
	rule reconcile.Rule
	bank string
	day  ledger.Date
}

// daySum adds up the matches of one rule booked on one day.
type daySum struct {
	sum     decimal.Decimal
	matches []string
}

type payExc struct {
	line, reason string
}

func newEffects() *effects {
	return &effects{booked: map[string]booking{}, returned: map[string]uuid.UUID{}, byDate: map[dayKey]*daySum{},
		result: reconcile.MatchResult{Matched: map[reconcile.Rule]reconcile.Count{}}}
}

func (e *effects) match(l *stLine, rule reconcile.Rule, payment, by, reason string, at time.Time) uuid.UUID {
	id := reconcile.MatchID(reconcile.OpenLine{PostedLine: reconcile.PostedLine{Line: reconcile.LineRef{StatementID: l.stmt, Index: l.idx}},
		Undone: l.rule == ruleUndone}, rule)
	e.matchAs(l, id, rule, payment, by, reason, at)
	return id
}

// matchAs is match, of the id given.
func (e *effects) matchAs(l *stLine, id uuid.UUID, rule reconcile.Rule, payment, by, reason string, at time.Time) {
	l.matchStatus, l.rule, l.matchID = "matched", string(rule), &id
	// A match by EndToEndId is its statement line and its booking
	// (payment_bookings) alone: a million of them cost no more rows.
	if rule != reconcile.RuleEndToEnd {
		e.matches = append(e.matches, []any{id, l.stmt, int64(l.idx), string(rule), l.amount, payment, by, at, reason})
	}
	c := e.result.Matched[rule]
	c.Count++
	c.Sum = c.Sum.Add(l.amount)
	e.result.Matched[rule] = c
}

// aggregate adds a match's amount to the day's entry of its rule and of
// the ledger account bank.
func (e *effects) aggregate(rule reconcile.Rule, bank string, day ledger.Date, amount decimal.Decimal, match uuid.UUID) {
	k := dayKey{rule, bank, day}
	d := e.byDate[k]
	if d == nil {
		d = &daySum{}
		e.byDate[k] = d
	}
	d.sum = d.sum.Add(amount)
	d.matches = append(d.matches, match.String())
}

func (e *effects) exception(kind reconcile.ExceptionKind, l *stLine, payment string, amount decimal.Decimal, reason string) {
	var stmt any = uuid.Nil
	idx := int64(-1)
	if l != nil {
		stmt, idx = l.stmt, int64(l.idx)
	}
	e.exceptions = append(e.exceptions, []any{string(kind), stmt, idx, payment, amount, reason})
	e.result.Exceptions++
}

// decide runs the first rules of the cascade over lines, in tx: fees, debits
// by EndToEndId (rule 1), returns (rule 3). The lines it cannot explain are
// left unmatched for the rest of the cascade.
//
// With hopeful set, the payments the debits book are taken for not yet
// booked, without a look-up of each in payment_bookings: the bookings the
// chunk then writes have the payment as key, so a payment booked already
// fails the write (errBookedAlready) and the caller decides the chunk
// again without hope. The bookings of the other lines' payments (returns,
// amounts that differ) are read, for they decide the verdict. The
// decisions are so those of the full reading whenever the chunk commits.
func (s *Store) decide(ctx context.Context, tx pgx.Tx, lines []*stLine, e *effects, by string, now time.Time, hopeful bool) error {
	var ids []string
	for _, l := range lines {
		if l.status != reconcile.StatusBooked {
			l.matchStatus = "ignored"
			continue
		}
		if l.e2e != "" && (l.dir == reconcile.Debit || l.returnReason != "") {
			ids = append(ids, l.e2e)
		}
	}
	pays := map[string]*payRow{}
	if len(ids) > 0 {
		if err := readPayments(ctx, tx, ids, hopeful, pays); err != nil {
			return err
		}
		if hopeful {
			if err := readBookings(ctx, tx, lines, pays); err != nil {
				return err
			}
		}
	}
	for _, l := range lines {
		if l.matchStatus != "unmatched" {
			continue
		}
		switch {
		case reconcile.IsCharge(l.dir, l.bankCode):
			id := e.match(l, reconcile.RuleFee, "", by, "", now)
			e.aggregate(reconcile.RuleFee, l.bank, l.booking, l.amount, id)
		case l.dir == reconcile.Debit && l.e2e != "":
			p := pays[l.e2e]
			v := reconcile.BookByEndToEnd(l.amount, p.candidate())
			switch {
			case v.Exception != "":
				e.exception(v.Exception, l, p.id, l.amount, v.Reason)
			case v.Match:
				id := e.match(l, reconcile.RuleEndToEnd, p.id, by, "", now)
				b := id
				p.booked = &b
				e.booked[p.id] = booking{id, l.stmt, l.idx}
				e.aggregate(reconcile.RuleEndToEnd, l.bank, l.booking, l.amount, id)
			}
		case l.dir == reconcile.Credit && l.returnReason != "" && l.e2e != "":
			p := pays[l.e2e]
			v := reconcile.ReturnByEndToEnd(l.amount, l.e2e, l.returnReason, p.candidate())
			if !v.Match {
				payment := ""
				if p != nil {
					payment = p.id
				}
				e.exception(v.Exception, l, payment, l.amount, v.Reason)
				continue
			}
			id := e.match(l, reconcile.RuleReturn, p.id, by, l.returnReason, now)
			r := id
			p.returned = &r
			e.returned[p.id] = id
			e.postings = append(e.postings, posting{statement: l.stmt, entry: reconcile.ReturnPayment(l.posted(),
				reconcile.Returned{Match: id, Payment: p.id, Beneficiary: p.ben, Paid: p.amount, Reason: l.returnReason})})
			e.payExc = append(e.payExc, payExc{line: p.id, reason: l.returnReason})
			e.exception(reconcile.ExceptionReturned, l, p.id, p.amount, reconcile.ReturnedReason(p.id, p.ben, l.returnReason))
		}
	}
	return nil
}

// aggregated turns the day sums of a chunk into its postings, one per
// rule, ledger account of the bank and day, keyed by the matches it books,
// so that a retry posts the same entry and another chunk never reuses its
// key.
func (e *effects) aggregated(stmt uuid.UUID) {
	for k, d := range e.byDate {
		e.postings = append(e.postings, posting{statement: stmt, entry: reconcile.BookDay(reconcile.DayBooking{Rule: k.rule, Bank: k.bank,
			Day: k.day, Sum: d.sum, Matches: d.matches, Statement: stmt})})
	}
	e.byDate = map[dayKey]*daySum{}
}

// write records the effects of decisions, in tx.
func (s *Store) write(ctx context.Context, tx pgx.Tx, e *effects, now time.Time) error {
	if len(e.matches) > 0 {
		if err := s.writeRows(ctx, tx, "recon_matches", []string{"id", "statement_id", "idx", "rule", "amount", "payment_line",
			"matched_by", "matched_at", "reason"}, e.matches); err != nil {
			return fmt.Errorf("record the matches: %w", err)
		}
	}
	if len(e.multi) > 0 {
		if err := s.writeRows(ctx, tx, "recon_match_payments", []string{"match_id", "line_id", "amount"}, e.multi); err != nil {
			return fmt.Errorf("record the payments of the matches: %w", err)
		}
	}
	if len(e.booked) > 0 {
		rows := make([][]any, 0, len(e.booked))
		for id, b := range e.booked {
			rows = append(rows, []any{id, b.match, b.stmt, int64(b.idx)})
		}
		if err := s.writeRows(ctx, tx, "payment_bookings", []string{"line_id", "match_id", "statement_id", "idx"}, rows); err != nil {
			return fmt.Errorf("mark the payments booked: %w", bookingsError(err, e.hopeful))
		}
	}
	if len(e.returned) > 0 {
		ids, matches := make([]string, 0, len(e.returned)), make([]string, 0, len(e.returned))
		for id, mid := range e.returned {
			ids, matches = append(ids, id), append(matches, mid.String())
		}
		if _, err := tx.Exec(ctx, `UPDATE line_payments p SET returned_by = u.m::UUID FROM unnest($1::TEXT[], $2::TEXT[]) AS u (id, m)
			WHERE p.line_id = u.id`, ids, matches); err != nil {
			return fmt.Errorf("mark the payments returned: %w", err)
		}
	}
	if len(e.booked) > 0 {
		ids := make([]string, 0, len(e.booked))
		for id := range e.booked {
			ids = append(ids, id)
		}
		if _, err := tx.Exec(ctx, `UPDATE recon_exceptions SET status = 'resolved', resolution = 'booked on a statement', resolved_by = 'system',
			updated_at = $2 WHERE kind = 'in_transit_too_long' AND status = 'open' AND payment_line = ANY($1::TEXT[])`, ids, now); err != nil {
			return err
		}
	}
	if err := insertPostings(ctx, tx, now, e.postings); err != nil {
		return err
	}
	for _, x := range e.exceptions {
		if _, err := tx.Exec(ctx, `INSERT INTO recon_exceptions (id, kind, statement_id, idx, payment_line, amount, reason, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8)
			ON CONFLICT (kind, statement_id, idx, payment_line) DO UPDATE SET status = 'open', reason = excluded.reason, updated_at = excluded.updated_at`,
			uuid.New(), x[0], x[1], x[2], x[3], x[4], x[5], now); err != nil {
			return fmt.Errorf("record an exception: %w", err)
		}
	}
	for _, p := range e.payExc {
		if _, err := tx.Exec(ctx, `INSERT INTO payment_exceptions (id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount,
			reason_code, status, payee_name, payee_iban, payee_bic, created_at, updated_at)
			SELECT $1, l.id, l.batch_id, lp.msg_id, l.beneficiary_id, l.scheme, l.period, l.net, $3, 'open', l.payee_name, l.payee_iban,
				l.payee_bic, $4, $4
			FROM batch_lines l JOIN line_payments lp ON lp.line_id = l.id WHERE l.id = $2
			ON CONFLICT (line_id) DO NOTHING`, uuid.NewSHA1(matchSpace, []byte("returned/"+p.line)), p.line, p.reason, now); err != nil {
			return fmt.Errorf("reopen payment %s as an exception: %w", p.line, err)
		}
	}
	return nil
}

// Match runs the whole cascade over every statement line not yet matched,
// a chunk at a time, then posts what it owes the ledger. Imports and the
// bank pass match only the lines that may have changed (FinishPending);
// this is the pass staff ask for, over the whole backlog.
func (s *Store) Match(ctx context.Context) (reconcile.MatchResult, error) {
	total, err := s.matchLines(ctx, "TRUE")
	if err != nil {
		return total, err
	}
	if err := s.postPending(ctx); err != nil {
		return total, err
	}
	return total, nil
}

// matchLines runs the whole cascade over the statement lines not yet
// matched that scope selects (an SQL condition on l, the line, whose
// arguments are args, from $4 on), a chunk at a time. It posts nothing.
func (s *Store) matchLines(ctx context.Context, scope string, args ...any) (reconcile.MatchResult, error) {
	total := reconcile.MatchResult{Matched: map[reconcile.Rule]reconcile.Count{}}
	var after struct {
		stmt uuid.UUID
		idx  int64
	}
	after.idx = -1
	for {
		var res reconcile.MatchResult
		var n int
		var last *stLine
		err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT `+lineCols+` FROM statement_lines l JOIN statements st ON st.id = l.statement_id
				WHERE st.status = 'imported' AND l.match_status = 'unmatched' AND l.rule <> '`+ruleUndone+`'
				AND (l.statement_id, l.idx) > ($1, $2) AND (`+scope+`)
				ORDER BY l.statement_id, l.idx LIMIT $3`, append([]any{after.stmt, after.idx, s.cfg.ChunkSize}, args...)...)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, scanLine)
			if err != nil {
				return err
			}
			n = len(lines)
			if n == 0 {
				return nil
			}
			last = lines[n-1]
			now := s.now()
			e := newEffects()
			if err := s.decide(ctx, tx, lines, e, "system", now, false); err != nil {
				return err
			}
			if err := s.cascadeRest(ctx, tx, lines, e, now); err != nil {
				return err
			}
			e.aggregated(last.stmt)
			if err := resolveMatched(ctx, tx, lines, now); err != nil {
				return err
			}
			if err := s.write(ctx, tx, e, now); err != nil {
				return err
			}
			if err := updateLines(ctx, tx, lines); err != nil {
				return err
			}
			res = e.result
			res.Examined = n
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("match the statement lines: %w", err)
		}
		addResult(&total, res)
		if n < s.cfg.ChunkSize {
			break
		}
		after.stmt, after.idx = last.stmt, int64(last.idx)
	}
	return total, nil
}

// resolveMatched resolves the exceptions still open on lines a pass has
// just matched (raised by an earlier pass, before the payment that
// explains them was written): the line is explained now.
func resolveMatched(ctx context.Context, tx pgx.Tx, lines []*stLine, now time.Time) error {
	var stmts []string
	var idxs []int64
	for _, l := range lines {
		if l.matchStatus == "matched" {
			stmts, idxs = append(stmts, l.stmt.String()), append(idxs, int64(l.idx))
		}
	}
	if len(stmts) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE recon_exceptions x SET status = 'resolved', resolution = 'matched by the cascade', resolved_by = 'system',
		updated_at = $3 FROM unnest($1::UUID[], $2::BIGINT[]) AS u (s, i)
		WHERE x.statement_id = u.s AND x.idx = u.i AND x.status = 'open' AND x.kind <> 'returned'`, stmts, idxs, now)
	if err != nil {
		return fmt.Errorf("resolve the exceptions of the lines matched: %w", err)
	}
	return nil
}

// cascadeRest runs the rules after the first over the lines decide left
// unmatched: batch bookings (rule 2), suggestions (rule 4), and opens an
// exception for every line still unexplained (rule 5).
func (s *Store) cascadeRest(ctx context.Context, tx pgx.Tx, lines []*stLine, e *effects, now time.Time) error {
	for _, l := range lines {
		if l.matchStatus != "unmatched" {
			continue
		}
		if l.dir == reconcile.Debit && (l.pmtInf != "" || l.msgID != "") {
			done, err := s.matchBatch(ctx, tx, l, e, now)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		e.result.Unmatched++
		if l.dir == reconcile.Debit && l.cpIBAN != "" {
			done, err := s.suggest(ctx, tx, l, e)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		if !e.hasException(l) {
			e.exception(reconcile.ExceptionUnmatched, l, "", l.amount, reconcile.Unexplained(l.dir, l.e2e))
		}
	}
	return nil
}

// keepMatchedOnly drops the exceptions of lines left unmatched: the
// rest of the cascade, which runs next, decides them.
func (e *effects) keepMatchedOnly(lines []*stLine) {
	unmatched := map[string]bool{}
	for _, l := range lines {
		if l.matchStatus == "unmatched" {
			unmatched[l.ref()] = true
		}
	}
	kept := e.exceptions[:0]
	for _, x := range e.exceptions {
		if stmt, ok := x[1].(uuid.UUID); ok && unmatched[fmt.Sprintf("%s/%d", stmt, x[2])] {
			e.result.Exceptions--
			continue
		}
		kept = append(kept, x)
	}
	e.exceptions = kept
}

func (e *effects) hasException(l *stLine) bool {
	for _, x := range e.exceptions {
		if x[1] == any(l.stmt) && x[2] == any(int64(l.idx)) {
			return true
		}
	}
	return false
}

// matchBatch matches a batch-booked debit to the payments of the file its
// PmtInfId or MsgId names, when their total is the line's amount (and
// their number the batch's, when given).
func (s *Store) matchBatch(ctx context.Context, tx pgx.Tx, l *stLine, e *effects, now time.Time) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT p.line_id, p.amount FROM line_payments p JOIN payment_files f ON f.msg_id = p.msg_id
		WHERE (f.pmt_inf_id = $1 OR f.msg_id = $2) AND NOT EXISTS (SELECT 1 FROM payment_bookings b WHERE b.line_id = p.line_id)
		AND p.status <> 'RJCT' ORDER BY p.line_id`,
		l.pmtInf, l.msgID)
	if err != nil {
		return false, err
	}
	type pay struct {
		id     string
		amount decimal.Decimal
	}
	pays, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pay, error) {
		var p pay
		err := r.Scan(&p.id, &p.amount)
		return p, err
	})
	if err != nil {
		return false, err
	}
	sum := decimal.Zero
	for _, p := range pays {
		sum = sum.Add(p.amount)
	}
	v := reconcile.BookByBatch(l.amount, l.batchCount, strings.TrimSpace(l.pmtInf+" "+l.msgID), len(pays), sum)
	if !v.Match {
		if v.Exception != "" {
			e.exception(v.Exception, l, "", l.amount, v.Reason)
		}
		return false, nil
	}
	id := e.match(l, reconcile.RuleBatch, "", "system", "", now)
	for _, p := range pays {
		e.multi = append(e.multi, []any{id, p.id, p.amount})
		e.booked[p.id] = booking{id, l.stmt, l.idx}
	}
	e.aggregate(reconcile.RuleBatch, l.bank, l.booking, l.amount, id)
	return true, nil
}

// suggest looks for the payments of the line's amount to its counterparty
// executed within the window: one is a suggestion for a controller to
// confirm, several are left to a person; the cascade never picks.
func (s *Store) suggest(ctx context.Context, tx pgx.Tx, l *stLine, e *effects) (bool, error) {
	from := sepa.AddBusinessDays(l.booking, -s.cfg.SuggestionDays)
	to := sepa.AddBusinessDays(l.booking, s.cfg.SuggestionDays)
	rows, err := tx.Query(ctx, `SELECT p.line_id FROM line_payments p JOIN batch_lines b ON b.id = p.line_id
		JOIN payment_files f ON f.msg_id = p.msg_id
		WHERE p.amount = $1 AND b.payee_iban = $2 AND NOT EXISTS (SELECT 1 FROM payment_bookings k WHERE k.line_id = p.line_id)
		AND p.status <> 'RJCT'
		AND f.execution_date BETWEEN $3 AND $4 ORDER BY p.line_id LIMIT 10`, l.amount, strings.ReplaceAll(l.cpIBAN, " ", ""), from, to)
	if err != nil {
		return false, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, err
	}
	v := reconcile.Suggest(ids, s.cfg.SuggestionDays)
	if v.Exception == "" {
		return false, nil
	}
	payment := ""
	if v.Exception == reconcile.ExceptionSuggestion {
		payment = ids[0]
	}
	e.exception(v.Exception, l, payment, l.amount, v.Reason)
	return true, nil
}

// updateLines writes what the cascade decided for lines already stored.
func updateLines(ctx context.Context, tx pgx.Tx, lines []*stLine) error {
	var stmts, statuses, rules, matches []string
	var idxs []int64
	for _, l := range lines {
		if l.matchStatus == "unmatched" {
			continue
		}
		m := ""
		if l.matchID != nil {
			m = l.matchID.String()
		}
		stmts, idxs, statuses, rules, matches = append(stmts, l.stmt.String()), append(idxs, int64(l.idx)), append(statuses, l.matchStatus),
			append(rules, l.rule), append(matches, m)
	}
	if len(stmts) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE statement_lines s SET match_status = u.st, rule = u.r, match_id = NULLIF(u.m, '')::UUID
		FROM unnest($1::UUID[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) AS u (s, i, st, r, m)
		WHERE s.statement_id = u.s AND s.idx = u.i`, stmts, idxs, statuses, rules, matches)
	return err
}

const lineCols = `l.statement_id, l.idx, l.amount, l.direction, l.status, l.booking_date, l.value_date, l.bank_ref, l.bank_code,
	l.end_to_end_id, l.pmt_inf_id, l.msg_id, l.batch_count, l.batch_total, l.return_reason, l.counterparty_name, l.counterparty_iban,
	l.label, l.match_status, l.rule, l.match_id, (SELECT a.ledger_account FROM statements a WHERE a.id = l.statement_id)`

func scanLine(r pgx.CollectableRow) (*stLine, error) {
	var l stLine
	var idx, count int64
	var dir string
	var value *ledger.Date
	err := r.Scan(&l.stmt, &idx, &l.amount, &dir, &l.status, &l.booking, &value, &l.bankRef, &l.bankCode, &l.e2e, &l.pmtInf, &l.msgID,
		&count, &l.batchTotal, &l.returnReason, &l.cpName, &l.cpIBAN, &l.label, &l.matchStatus, &l.rule, &l.matchID, &l.bank)
	l.idx, l.batchCount, l.dir = int(idx), int(count), reconcile.Direction(dir)
	if value != nil {
		l.value = *value
	}
	return &l, err
}
