package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// lineRows are the lines a chunk writes, column by column.
type lineRows struct {
	batches                                  []uuid.UUID
	ids, schemes, kinds, bens, periods, refs []string
	gross, deduction, net, basis             []decimal.Decimal
	deductions, names, ibans, bics           []string
	// explanations holds the lines' explanations (JSON) one after the
	// other, the ith ending at explained[i].
	explanations []byte
	explained    []int
	// seen is, for an ADA line, how many of the beneficiary's facts
	// covering its period the run read (see runs.go); -1 for the others.
	seen []int64
}

func (r *lineRows) n() int { return len(r.ids) }

// add checks a line against what the table holds and adds it.
func (r *lineRows) add(l payments.BatchLine) error {
	what := func() string {
		return fmt.Sprintf("line %s (%s of %s for %s)", l.ID, l.Scheme, l.BeneficiaryID, l.Period)
	}
	switch {
	case l.ID == "" || len(l.ID) > payments.LineIDLen:
		return fmt.Errorf("%s: an id must have 1 to %d characters", what(), payments.LineIDLen)
	case l.Gross.IsNegative() || l.Deduction.IsNegative() || l.Net.IsNegative():
		return fmt.Errorf("%s: gross %s, deduction %s and net %s must not be negative", what(), l.Gross, l.Deduction, l.Net)
	case !l.Net.Equal(l.Gross.Sub(l.Deduction)):
		return fmt.Errorf("%s: net %s is not gross %s less deduction %s", what(), l.Net, l.Gross, l.Deduction)
	}
	for _, a := range [...]decimal.Decimal{l.Gross, l.Deduction, l.Net, l.Basis} {
		if !isCents(a) {
			return cents(what(), a)
		}
	}
	ds := []byte("[]")
	if len(l.Deductions) > 0 {
		var err error
		if ds, err = json.Marshal(l.Deductions); err != nil {
			return fmt.Errorf("%s: deductions: %w", what(), err)
		}
	}
	ex, err := l.Explanation.AppendJSON(r.explanations)
	if err != nil {
		return fmt.Errorf("%s: explanation: %w", what(), err)
	}
	r.batches = append(r.batches, l.BatchID)
	r.ids = append(r.ids, l.ID)
	r.schemes = append(r.schemes, string(l.Scheme))
	r.kinds = append(r.kinds, string(l.Kind))
	r.bens = append(r.bens, l.BeneficiaryID)
	r.periods = append(r.periods, l.Period.String())
	r.refs = append(r.refs, l.Ref)
	r.gross = append(r.gross, l.Gross)
	r.deduction = append(r.deduction, l.Deduction)
	r.net = append(r.net, l.Net)
	r.basis = append(r.basis, l.Basis)
	r.deductions = append(r.deductions, string(ds))
	r.names = append(r.names, l.Payee.Name)
	r.ibans = append(r.ibans, l.Payee.IBAN)
	r.bics = append(r.bics, l.Payee.BIC)
	r.explanations = ex
	r.explained = append(r.explained, len(ex))
	r.seen = append(r.seen, -1)
	return nil
}

func (r *lineRows) statement() statement {
	return statement{what: "batch lines", n: len(r.ids), sql: `INSERT INTO batch_lines
		(batch_id, id, scheme, kind, beneficiary_id, period, ref, gross, deduction, net, basis, deductions,
		 payee_name, payee_iban, payee_bic, explanation, facts_seen)
		SELECT u.b, u.id, u.s, u.k, u.ben, u.p, u.r, u.g::DECIMAL(19,2), u.d::DECIMAL(19,2), u.n::DECIMAL(19,2),
			u.ba::DECIMAL(19,2), u.ds::JSONB, u.pn, u.pi, u.pb, u.e::JSONB, NULLIF(u.fs, -1)
		FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[],
			$10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::BIGINT[])
			AS u (b, id, s, k, ben, p, r, g, d, n, ba, ds, pn, pi, pb, e, fs)`,
		args: []any{uuidStrings(r.batches), r.ids, r.schemes, r.kinds, r.bens, r.periods, r.refs, fixed2(r.gross), fixed2(r.deduction),
			fixed2(r.net), fixed2(r.basis), r.deductions, r.names, r.ibans, r.bics, r.explanationStrings(), r.seen}}
}

// explanation returns the explanation of the ith line.
func (r *lineRows) explanation(i int) []byte {
	start := 0
	if i > 0 {
		start = r.explained[i-1]
	}
	return r.explanations[start:r.explained[i]]
}

// explanationStrings returns the explanations, as a multi-row INSERT takes
// them.
func (r *lineRows) explanationStrings() []string {
	out := make([]string, len(r.explained))
	for i := range out {
		out[i] = string(r.explanation(i))
	}
	return out
}

// totals adds up the lines per scheme.
func (r *lineRows) totals() map[payments.Scheme]payments.Totals {
	out := map[payments.Scheme]payments.Totals{}
	for i := range r.ids {
		t := out[payments.Scheme(r.schemes[i])]
		t.Add(payments.BatchLine{Gross: r.gross[i], Deduction: r.deduction[i], Net: r.net[i]})
		out[payments.Scheme(r.schemes[i])] = t
	}
	return out
}

// lineWriteCols are the columns of batch_lines a run writes.
var lineWriteCols = []string{"batch_id", "id", "scheme", "kind", "beneficiary_id", "period", "ref", "gross", "deduction", "net", "basis",
	"deductions", "payee_name", "payee_iban", "payee_bic", "explanation", "facts_seen"}

// write writes the lines in tx: with COPY, or with a multi-row INSERT when
// insert is set (a role that may not COPY, as BULK_WRITE says). Both write
// the same rows.
func (r *lineRows) write(ctx context.Context, tx pgx.Tx, insert bool) error {
	if insert || r.n() == 0 {
		return execStatement(ctx, tx, r.statement())
	}
	row := make([]any, len(lineWriteCols))
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"batch_lines"}, lineWriteCols, pgx.CopyFromSlice(r.n(), func(i int) ([]any, error) {
		var seen any
		if r.seen[i] != -1 {
			seen = r.seen[i]
		}
		row[0] = pgtype.UUID{Bytes: r.batches[i], Valid: true}
		row[1], row[2], row[3], row[4], row[5], row[6] = r.ids[i], r.schemes[i], r.kinds[i], r.bens[i], r.periods[i], r.refs[i]
		row[7], row[8], row[9], row[10] = numeric(r.gross[i]), numeric(r.deduction[i]), numeric(r.net[i]), numeric(r.basis[i])
		row[11] = r.deductions[i]
		row[12], row[13], row[14], row[15], row[16] = r.names[i], r.ibans[i], r.bics[i], r.explanation(i), seen
		return row, nil
	}))
	if err != nil {
		return fmt.Errorf("write %d batch lines: %w", r.n(), err)
	}
	return nil
}

// numeric is d as COPY writes it.
func numeric(d decimal.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
}

// fixed2 writes amounts with two decimals, as the arrays of a multi-row
// INSERT take them.
func fixed2(ds []decimal.Decimal) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.StringFixed(2)
	}
	return out
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// totalRows are a batch's totals per scheme.
type totalRows struct {
	batches, schemes, gross, deduction, net []string
	lines                                   []int64
}

func (t *totalRows) add(batch uuid.UUID, scheme payments.Scheme, x payments.Totals) {
	t.batches = append(t.batches, batch.String())
	t.schemes = append(t.schemes, string(scheme))
	t.lines = append(t.lines, int64(x.Lines))
	t.gross = append(t.gross, x.Gross.StringFixed(2))
	t.deduction = append(t.deduction, x.Deduction.StringFixed(2))
	t.net = append(t.net, x.Net.StringFixed(2))
}

func (t *totalRows) statement() statement {
	return statement{what: "batch totals", n: len(t.batches), sql: `INSERT INTO batch_totals (batch_id, scheme, lines, gross, deduction, net)
		SELECT u.b, u.s, u.l, u.g::DECIMAL(19,2), u.d::DECIMAL(19,2), u.n::DECIMAL(19,2)
		FROM unnest($1::UUID[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[]) AS u (b, s, l, g, d, n)`,
		args: []any{t.batches, t.schemes, t.lines, t.gross, t.deduction, t.net}}
}

// readTotals runs sql, which selects batch id, scheme, lines, gross,
// deduction and net for the batches of $1, and gathers its rows.
func readTotals(ctx context.Context, q querier, batches []string, sql string) (map[uuid.UUID]map[payments.Scheme]payments.Totals, error) {
	out := map[uuid.UUID]map[payments.Scheme]payments.Totals{}
	err := queryEach(ctx, q, sql, []any{batches}, func(r pgx.Rows) error {
		var id uuid.UUID
		var scheme string
		var lines int64
		var t payments.Totals
		if err := r.Scan(&id, &scheme, &lines, &t.Gross, &t.Deduction, &t.Net); err != nil {
			return err
		}
		t.Lines = int(lines)
		if out[id] == nil {
			out[id] = map[payments.Scheme]payments.Totals{}
		}
		out[id][payments.Scheme(scheme)] = t
		return nil
	})
	return out, err
}

const batchCols = `id, run_id, kind, period, status, created_at, completed_at, approved_at, lines,
	computed_by, prepared_by, submitted_at, approvals_needed, released_by, released_at, execution_date, closed_at, reason`

func scanBatch(r pgx.CollectableRow) (payments.Batch, error) {
	var b payments.Batch
	var kind, period, status string
	var completed, approved, submitted, released, closed *time.Time
	var execution *ledger.Date
	var lines, needed int64
	w := &b.Workflow
	if err := r.Scan(&b.ID, &b.RunID, &kind, &period, &status, &b.CreatedAt, &completed, &approved, &lines,
		&w.ComputedBy, &w.PreparedBy, &submitted, &needed, &w.ReleasedBy, &released, &execution, &closed, &w.Reason); err != nil {
		return b, err
	}
	b.Kind, b.Status, b.Lines = payments.RunKind(kind), payments.BatchStatus(status), int(lines)
	w.ApprovalsNeeded = int(needed)
	w.Approvals = []payments.Approval{}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{completed, &b.CompletedAt}, {approved, &b.ApprovedAt}, {submitted, &w.SubmittedAt}, {released, &w.ReleasedAt}, {closed, &w.ClosedAt}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	if execution != nil {
		w.ExecutionDate = *execution
	}
	var err error
	b.Period, err = payments.ParsePeriod(period)
	return b, err
}

// withTotals reads the totals of the batches.
func (s *RunStore) withTotals(ctx context.Context, bs []payments.Batch) error {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID.String()
	}
	totals, err := readTotals(ctx, s.pool, ids, `SELECT batch_id, scheme, lines, gross, deduction, net FROM batch_totals
		WHERE batch_id = ANY($1::UUID[])`)
	if err != nil {
		return err
	}
	approvals := map[uuid.UUID][]payments.Approval{}
	err = queryEach(ctx, s.pool, `SELECT batch_id, approver, address, note, approved_at FROM batch_approvals
		WHERE batch_id = ANY($1::UUID[]) ORDER BY approved_at, approver`, []any{ids}, func(r pgx.Rows) error {
		var id uuid.UUID
		var a payments.Approval
		err := r.Scan(&id, &a.Approver, &a.Address, &a.Note, &a.At)
		approvals[id] = append(approvals[id], a)
		return err
	})
	if err != nil {
		return err
	}
	for i := range bs {
		b := &bs[i]
		if a := approvals[b.ID]; a != nil {
			b.Workflow.Approvals = a
		}
		if b.Status == payments.BatchPending {
			b.Workflow.ApprovalsMissing = max(0, b.Workflow.ApprovalsNeeded-len(b.Workflow.Approvals))
		}
		b.Totals = totals[b.ID]
		if b.Totals == nil {
			b.Totals = map[payments.Scheme]payments.Totals{}
		}
		b.Total = payments.Totals{Gross: decimal.Zero, Deduction: decimal.Zero, Net: decimal.Zero}
		for _, t := range b.Totals {
			b.Total.Lines += t.Lines
			b.Total.Gross = b.Total.Gross.Add(t.Gross)
			b.Total.Deduction = b.Total.Deduction.Add(t.Deduction)
			b.Total.Net = b.Total.Net.Add(t.Net)
		}
	}
	return nil
}

func batchNotFound(id uuid.UUID) error { return errs.E(errs.NotFound, "batch %s does not exist", id) }

// Batch returns one batch with its totals.
func (s *RunStore) Batch(ctx context.Context, id uuid.UUID) (payments.Batch, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+batchCols+` FROM batches WHERE id = $1`, id)
	if err != nil {
		return payments.Batch{}, fmt.Errorf("read batch %s: %w", id, err)
	}
	b, err := pgx.CollectExactlyOneRow(rows, scanBatch)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, batchNotFound(id)
	}
	if err != nil {
		return b, fmt.Errorf("read batch %s: %w", id, err)
	}
	bs := []payments.Batch{b}
	if err := s.withTotals(ctx, bs); err != nil {
		return b, fmt.Errorf("read the totals of batch %s: %w", id, err)
	}
	return bs[0], nil
}

var batchStatuses = []payments.BatchStatus{payments.BatchBuilding, payments.BatchDraft, payments.BatchReplaced,
	payments.BatchPending, payments.BatchApproving, payments.BatchUnapproving, payments.BatchApproved, payments.BatchCancelling,
	payments.BatchCancelled, payments.BatchReleasing, payments.BatchReleased, payments.BatchSettled, payments.BatchPartlyRejected}

// Batches returns the batches f selects, newest first.
func (s *RunStore) Batches(ctx context.Context, f payments.BatchFilter) ([]payments.Batch, error) {
	limit, err := listLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Kind != "" {
		if _, err := payments.ParseRunKind(string(f.Kind)); err != nil && f.Kind != payments.RunReissue {
			return nil, errs.Field("kind", "%v", err)
		}
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	if !f.Period.IsZero() {
		if _, err := payments.ParsePeriod(f.Period.String()); err != nil {
			return nil, err
		}
		where = append(where, "period = "+arg(f.Period.String()))
	}
	switch {
	case f.Status == "":
		where = append(where, "status <> 'replaced'")
	case knownStatus(f.Status):
		where = append(where, "status = "+arg(string(f.Status)))
	default:
		names := make([]string, len(batchStatuses))
		for i, st := range batchStatuses {
			names[i] = string(st)
		}
		return nil, errs.Field("status", "%q is not a batch status (%s)", f.Status, strings.Join(names, ", "))
	}
	sql := `SELECT ` + batchCols + ` FROM batches WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	if out == nil {
		out = []payments.Batch{}
	}
	if err := s.withTotals(ctx, out); err != nil {
		return nil, fmt.Errorf("list batches: totals: %w", err)
	}
	return out, nil
}

func knownStatus(st payments.BatchStatus) bool {
	for _, k := range batchStatuses {
		if k == st {
			return true
		}
	}
	return false
}

const lineCols = `batch_id, id, scheme, kind, beneficiary_id, period, ref, gross, deduction, net, basis, deductions,
	payee_name, payee_iban, payee_bic, explanation`

// payCols are the columns of a line its payment needs (payee, amount,
// remittance), without the explanation and deductions a release never
// reads: decoding them was a sixth of the release's time.
const payCols = `batch_id, id, scheme, kind, beneficiary_id, period, ref, net, payee_name, payee_iban, payee_bic`

// scanPayLine scans a row of payCols.
func scanPayLine(r pgx.CollectableRow) (payments.BatchLine, error) {
	var l payments.BatchLine
	var scheme, kind, period string
	err := r.Scan(&l.BatchID, &l.ID, &scheme, &kind, &l.BeneficiaryID, &period, &l.Ref, &l.Net, &l.Payee.Name, &l.Payee.IBAN, &l.Payee.BIC)
	if err != nil {
		return l, err
	}
	l.Scheme, l.Kind = payments.Scheme(scheme), payments.LineKind(kind)
	if l.Period, err = payments.ParsePeriod(period); err != nil {
		return l, err
	}
	return l, nil
}

func scanLine(r pgx.CollectableRow) (payments.BatchLine, error) {
	var l payments.BatchLine
	var scheme, kind, period string
	var deductions, explanation []byte
	err := r.Scan(&l.BatchID, &l.ID, &scheme, &kind, &l.BeneficiaryID, &period, &l.Ref, &l.Gross, &l.Deduction, &l.Net, &l.Basis,
		&deductions, &l.Payee.Name, &l.Payee.IBAN, &l.Payee.BIC, &explanation)
	if err != nil {
		return l, err
	}
	l.Scheme, l.Kind = payments.Scheme(scheme), payments.LineKind(kind)
	if l.Period, err = payments.ParsePeriod(period); err != nil {
		return l, err
	}
	if err := json.Unmarshal(deductions, &l.Deductions); err != nil {
		return l, fmt.Errorf("line %s: deductions: %w", l.ID, err)
	}
	if err := json.Unmarshal(explanation, &l.Explanation); err != nil {
		return l, fmt.Errorf("line %s: explanation: %w", l.ID, err)
	}
	return l, nil
}

// BatchLines returns a page of a batch's lines, in the order of their ids.
func (s *RunStore) BatchLines(ctx context.Context, id uuid.UUID, cursor string, limit int) ([]payments.BatchLine, string, error) {
	limit, err := listLimit(limit)
	if err != nil {
		return nil, "", err
	}
	if len(cursor) > payments.LineIDLen {
		return nil, "", errs.Field("cursor", "is not a line id")
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM batches WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", batchNotFound(id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read batch %s: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+lineCols+` FROM batch_lines WHERE batch_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		id, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("read the lines of batch %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, scanLine)
	if err != nil {
		return nil, "", fmt.Errorf("read the lines of batch %s: %w", id, err)
	}
	if out == nil {
		out = []payments.BatchLine{}
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}
