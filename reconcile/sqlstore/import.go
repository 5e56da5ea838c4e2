package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// statementSpace derives a statement's id from its account, id and
// sequence number: the same statement in two files is one statement.
var statementSpace = uuid.MustParse("6a0f4c1e-2b9d-4e73-85a1-c3d7f0e9b214")

func statementID(st reconcile.Statement) uuid.UUID {
	return uuid.NewSHA1(statementSpace, fmt.Appendf(nil, "%s\x00%s\x00%d", st.Account, stmtKey(st), st.Sequence))
}

// stmtKey is the id a statement is kept under: its own, or for a camt.054
// notification "notification/" and its own, for a notification is not the
// statement of the same id.
func stmtKey(st reconcile.Statement) string {
	if strings.HasPrefix(st.Format, "camt.054") {
		return "notification/" + st.ID
	}
	return st.ID
}

// StoreStatements stores the statements plan imports of file, read again
// from its start, a chunk of lines at a time, deciding the first rules of
// the cascade as it goes: memory stays bounded whatever the file's size.
// The statements become visible, and their postings are made, only once
// every line is stored. The rest of the cascade then runs on what is left.
// A file or a statement imported before changes nothing.
func (s *Store) StoreStatements(ctx context.Context, file io.ReadSeeker, plan reconcile.ImportPlan, by payments.Actor) (reconcile.ImportResult, error) {
	summary, simulated := plan.Summary, plan.Simulated
	res := reconcile.ImportResult{Format: summary.Format, FileSHA256: summary.FileSHA256, Skipped: plan.Skipped}
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM statement_files WHERE sha256 = $1`, res.FileSHA256).Scan(&status)
	switch {
	case err == nil && status == "imported":
		// Imported before: its statements whose matching or postings were
		// interrupted are finished now, and nothing else changes.
		res.Replayed = true
		res.Match = emptyResult()
		if res.Statements, err = s.fileStatements(ctx, res.FileSHA256, true); err != nil {
			return res, err
		}
		ids := make([]uuid.UUID, len(res.Statements))
		for i, st := range res.Statements {
			ids[i] = st.ID
		}
		pending, err := s.pendingOf(ctx, ids)
		if err != nil {
			return res, err
		}
		res.Match, err = s.finish(context.WithoutCancel(ctx), pending)
		return res, err
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return res, fmt.Errorf("import: %w", err)
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO statement_files (sha256, format, bytes, statements, lines, status, imported_by, imported_at)
			VALUES ($1, $2, $3, $4, $5, 'importing', $6, $7) ON CONFLICT (sha256) DO NOTHING`, res.FileSHA256, summary.Format,
			summary.Bytes, int64(len(summary.Statements)), int64(summary.Lines), by.Name, s.now())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	// A camt.054 is a notification, not a statement: its lines are kept for
	// the record, and the booking comes with the camt.053 of the day.
	notice := plan.Notice
	// Second pass: the lines, a chunk per transaction.
	rd, err := reconcile.OpenFile(file, plan.Options)
	if err != nil {
		return res, err
	}
	total := newEffects()
	skip := map[uuid.UUID]bool{}
	for _, st := range summary.Statements {
		id := statementID(st)
		if !plan.Imports(st.ID) {
			skip[id] = true
			continue
		}
		var status string
		stored := simulated // a statement stored before keeps its mark
		err := s.pool.QueryRow(ctx, `SELECT status, simulated FROM statements WHERE id = $1`, id).Scan(&status, &stored)
		if err == nil && status == "imported" {
			skip[id] = true
		}
		res.Statements = append(res.Statements, reconcile.StatementResult{ID: id, StmtID: st.ID, Account: st.Account, Sequence: st.Sequence,
			Date: st.Date, Lines: st.Entries, Replayed: skip[id], Simulated: stored})
		if skip[id] {
			continue
		}
		err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO statements (id, account, stmt_id, sequence, file_sha256, format, currency, stmt_date, opening,
				closing, entries, status, imported_at, simulated, ledger_account, match_pending) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
				'importing', $12, $13, $14, true) ON CONFLICT (id) DO NOTHING`, id, st.Account, stmtKey(st), st.Sequence, res.FileSHA256, st.Format,
				st.Currency, st.Date, st.Opening.Amount, st.Closing.Amount, int64(st.Entries), s.now(), simulated, plan.Banks[st.ID])
			return err
		})
		if err != nil {
			return res, fmt.Errorf("import statement %s: %w", st.ID, err)
		}
	}
	index := map[string]uuid.UUID{}
	for _, st := range summary.Statements {
		index[st.ID] = statementID(st)
	}
	done := map[uuid.UUID]int{} // lines already stored by an interrupted import
	for id := range index {
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM statement_lines WHERE statement_id = $1`, index[id]).Scan(&n); err != nil {
			return res, fmt.Errorf("import: %w", err)
		}
		done[index[id]] = int(n)
	}
	keep := func(st reconcile.Statement, l reconcile.Line) (*stLine, bool) {
		id := index[st.ID]
		if skip[id] || l.Index < done[id] {
			return nil, false
		}
		return fromLine(id, l, plan.Banks[st.ID]), true
	}
	err = walkChunks(ctx, rd, s.cfg.ChunkSize, keep, func(chunk []*stLine) error {
		e, err := s.importChunk(ctx, chunk, by, notice)
		if err != nil {
			return err
		}
		total.add(e)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("import (import the file again to finish): %w", reconcile.FileError(err))
	}
	// The statements are whole: they become visible, with their postings.
	// From here on a client that hangs up changes nothing: the matching
	// and the postings go on, and what a stopped process leaves undone is
	// finished by FinishPending or by importing the file again.
	ctx = context.WithoutCancel(ctx)
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		for _, st := range summary.Statements {
			id := index[st.ID]
			if skip[id] || !plan.Imports(st.ID) {
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE statements SET status = 'imported', stmt_date = $2, closing = $3, entries = $4
				WHERE id = $1 AND status = 'importing'`, id, st.Date, st.Closing.Amount, int64(st.Entries))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			if err := writeAudit(ctx, tx, auditEvent(now, by, "import", "statement", id.String(), "", "imported", "",
				map[string]any{"statement": st.ID, "date": st.Date.String(), "lines": st.Entries, "file_sha256": res.FileSHA256,
					"opening": st.Opening.Amount.StringFixed(2), "closing": st.Closing.Amount.StringFixed(2)})); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE statement_files SET status = 'imported' WHERE sha256 = $1`, res.FileSHA256)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	// The rest of the cascade runs on the file's own lines: the lines of
	// earlier statements wait for new payments (FinishPending).
	ids := make([]uuid.UUID, 0, len(index))
	for _, st := range summary.Statements {
		if plan.Imports(st.ID) {
			ids = append(ids, index[st.ID])
		}
	}
	pending, err := s.pendingOf(ctx, ids)
	if err != nil {
		return res, err
	}
	rest, err := s.finish(ctx, pending)
	if err != nil {
		return res, err
	}
	total.result.Exceptions += rest.Exceptions
	total.result.Unmatched = rest.Unmatched
	total.result.Examined = rest.Examined
	for r, c := range rest.Matched {
		t := total.result.Matched[r]
		t.Count += c.Count
		t.Sum = t.Sum.Add(c.Sum)
		total.result.Matched[r] = t
	}
	res.Match = total.result
	s.log.Info("statement file imported", "format", res.Format, "sha256", res.FileSHA256, "statements", len(res.Statements),
		"lines", summary.Lines, "unmatched", res.Match.Unmatched, "exceptions", res.Match.Exceptions)
	return res, nil
}

// add counts e's result in t.
func (t *effects) add(e *effects) {
	for r, c := range e.result.Matched {
		x := t.result.Matched[r]
		x.Count += c.Count
		x.Sum = x.Sum.Add(c.Sum)
		t.result.Matched[r] = x
	}
	t.result.Exceptions += e.result.Exceptions
}

// fromLine is the store's form of a line read from a statement whose
// ledger account is bank.
func fromLine(stmt uuid.UUID, l reconcile.Line, bank string) *stLine {
	code := strings.Trim(strings.Join([]string{l.Domain, l.Family, l.SubFamily}, "/"), "/")
	if code == "" {
		code = l.BankCode
	}
	x := &stLine{stmt: stmt, idx: l.Index, amount: l.Amount, dir: l.Direction, status: l.Status, booking: l.BookingDate, value: l.ValueDate,
		bankRef: l.BankRef, bankCode: code, e2e: l.EndToEndID, pmtInf: l.PmtInfID, msgID: l.MsgID, returnReason: l.ReturnReason,
		cpName: l.CounterpartyName, cpIBAN: l.CounterpartyIBAN, label: l.Label, matchStatus: "unmatched", bank: bank}
	if x.booking.IsZero() {
		x.booking = x.value
	}
	// The bank's own reject code and its words, which the list of French
	// codes gives beside the ISO code of return_reason, stay with the
	// label the staff read.
	if l.BankReason != "" {
		x.label = strings.TrimSpace(x.label + " (bank reason " + l.BankReason + ")")
	}
	if l.Batch != nil {
		x.batchCount, x.pmtInf, x.msgID = l.Batch.Count, firstOf(l.Batch.PmtInfID, x.pmtInf), firstOf(l.Batch.MsgID, x.msgID)
		t := l.Batch.Total
		x.batchTotal = &t
	}
	if x.e2e == "" && x.returnReason == "" && len(l.Details) == 1 {
		x.returnReason = l.Details[0].ReturnReason
	}
	if x.e2e == "" && len(l.Details) == 1 {
		x.e2e = l.Details[0].EndToEndID
	}
	if strings.EqualFold(x.e2e, "NOTPROVIDED") {
		x.e2e = "" // the ISO placeholder: no reference
	}
	return x
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// importChunk decides and stores a chunk of lines, in one transaction: it
// takes the debits' payments for not yet booked, and when one of them
// was booked already, decides the chunk again reading their bookings.
func (s *Store) importChunk(ctx context.Context, lines []*stLine, by payments.Actor, notice bool) (*effects, error) {
	e, err := s.importChunkOnce(ctx, lines, by, notice, true)
	if errors.Is(err, errBookedAlready) {
		e, err = s.importChunkOnce(ctx, lines, by, notice, false)
	}
	return e, err
}

// importChunkOnce decides and stores a chunk of lines, in one
// transaction, hopeful or not (decide).
func (s *Store) importChunkOnce(ctx context.Context, lines []*stLine, by payments.Actor, notice, hopeful bool) (*effects, error) {
	var e *effects
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		for _, l := range lines {
			l.matchStatus, l.rule, l.matchID = "unmatched", "", nil
			if notice {
				l.matchStatus = "ignored"
			}
		}
		now := s.now()
		e = newEffects()
		e.hopeful = hopeful
		if err := s.decide(ctx, tx, lines, e, by.Name, now, hopeful); err != nil {
			return err
		}
		e.keepMatchedOnly(lines)
		e.aggregated(lines[len(lines)-1].stmt)
		rows := make([][]any, len(lines))
		for i, l := range lines {
			var value any
			if !l.value.IsZero() {
				value = l.value
			}
			var total any
			if l.batchTotal != nil {
				total = *l.batchTotal
			}
			var match any
			if l.matchID != nil {
				match = *l.matchID
			}
			rows[i] = []any{l.stmt, int64(l.idx), l.amount, string(l.dir), l.status, l.booking, value, l.bankRef, l.bankCode, l.e2e, l.pmtInf,
				l.msgID, int64(l.batchCount), total, l.returnReason, l.cpName, l.cpIBAN, l.label, l.matchStatus, l.rule, match}
		}
		if err := s.writeRows(ctx, tx, "statement_lines", []string{"statement_id", "idx", "amount", "direction", "status",
			"booking_date", "value_date", "bank_ref", "bank_code", "end_to_end_id", "pmt_inf_id", "msg_id", "batch_count", "batch_total",
			"return_reason", "counterparty_name", "counterparty_iban", "label", "match_status", "rule", "match_id"}, rows); err != nil {
			return fmt.Errorf("store the statement lines: %w", err)
		}
		return s.write(ctx, tx, e, now)
	})
	return e, err
}

// fileStatements lists the statements of a file.
func (s *Store) fileStatements(ctx context.Context, sha string, replayed bool) ([]reconcile.StatementResult, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, stmt_id, account, sequence, stmt_date, entries, simulated FROM statements
		WHERE file_sha256 = $1 ORDER BY stmt_date, stmt_id`, sha)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (reconcile.StatementResult, error) {
		var x reconcile.StatementResult
		var n int64
		err := r.Scan(&x.ID, &x.StmtID, &x.Account, &x.Sequence, &x.Date, &n, &x.Simulated)
		x.Lines, x.Replayed = int(n), replayed
		return x, err
	})
}

// FirstDayDue is the first booking day whose statement is due: the day
// after the last statement imported, or before any the first execution
// date of the payment files; ok is false when there is neither.
func (s *Store) FirstDayDue(ctx context.Context) (ledger.Date, bool, error) {
	var last, first *ledger.Date
	err := s.pool.QueryRow(ctx, `SELECT (SELECT max(stmt_date) FROM statements WHERE status = 'imported'),
		(SELECT min(execution_date) FROM payment_files WHERE status NOT IN ('building', 'withdrawn'))`).Scan(&last, &first)
	if err != nil {
		return ledger.Date{}, false, fmt.Errorf("find the statements due: %w", err)
	}
	switch {
	case last != nil:
		return last.AddDays(1), true, nil
	case first != nil:
		return *first, true, nil
	}
	return ledger.Date{}, false, nil
}
