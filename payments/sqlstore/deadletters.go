package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// Page sizes of the dead-letter reads.
const (
	DefaultDeadLetterLimit = 100
	MaxDeadLetterLimit     = 1000
)

// RecordDeadLetter records r as a dead letter with the given reason,
// whatever its value holds. A record already kept for the same source is
// left as it is.
func (s *Store) RecordDeadLetter(ctx context.Context, r payments.Record, reason string) error {
	if strings.TrimSpace(reason) == "" {
		reason = "the record could not be applied"
	}
	var rows deadLetterRows
	rows.add(r, reason, "", readHeader(r.Value))
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		st := rows.statement(s.stamp())
		_, err := tx.Exec(ctx, st.sql, append([]any{pgx.QueryExecModeDescribeExec}, st.args...)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("record a dead letter for %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return nil
}

const deadLetterCols = `id, src_topic, src_partition, src_offset, record_key, value, error, event_id, type, beneficiary_id, received_at, published_at`

func scanDeadLetter(r pgx.CollectableRow) (payments.DeadLetter, error) {
	var d payments.DeadLetter
	var key []byte
	var partition int64
	err := r.Scan(&d.ID, &d.Source.Topic, &partition, &d.Source.Offset, &key, &d.Value, &d.Error, &d.EventID, &d.Type,
		&d.Beneficiary, &d.ReceivedAt, &d.PublishedAt)
	d.Source.Partition, d.Key = int(partition), string(key)
	return d, err
}

func checkLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultDeadLetterLimit, nil
	case limit < 0 || limit > MaxDeadLetterLimit:
		return 0, errs.Field("limit", "must be between 1 and %d", MaxDeadLetterLimit)
	}
	return limit, nil
}

// UnpublishedDeadLetters returns up to limit dead letters not yet written
// to the dead-letter topic, oldest first (limit 0: DefaultDeadLetterLimit).
func (s *Store) UnpublishedDeadLetters(ctx context.Context, limit int) ([]payments.DeadLetter, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deadLetterCols+` FROM dead_letters WHERE published_at IS NULL
		ORDER BY received_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read unpublished dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("read unpublished dead letters: %w", err)
	}
	return out, nil
}

// MarkDeadLettersPublished records that the dead letters were written to
// the dead-letter topic. Marking one again keeps its first publication
// time; unknown ids are ignored.
func (s *Store) MarkDeadLettersPublished(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dead_letters SET published_at = $2 WHERE id = ANY($1::UUID[]) AND published_at IS NULL`,
			pgx.QueryExecModeDescribeExec, strs, s.stamp())
		return err
	})
	if err != nil {
		return fmt.Errorf("mark %d dead letters published: %w", len(ids), err)
	}
	return nil
}

// deadLetterCursor is the position after the last dead letter of a page.
type deadLetterCursor struct {
	At time.Time `json:"t"`
	ID uuid.UUID `json:"i"`
}

func (c deadLetterCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeDeadLetterCursor(s string) (deadLetterCursor, error) {
	var c deadLetterCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.At.IsZero() {
		return c, errs.Field("cursor", "is not a cursor returned by a previous page")
	}
	return c, nil
}

// DeadLetters lists the dead letters, newest first, filtered by type,
// beneficiary and earliest reception time, a page at a time: it returns
// the cursor of the next page, empty after the last.
func (s *Store) DeadLetters(ctx context.Context, q payments.DeadLetterQuery) ([]payments.DeadLetter, string, error) {
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Type != "" {
		where = append(where, "type = "+arg(q.Type))
	}
	if q.Beneficiary != "" {
		where = append(where, "beneficiary_id = "+arg(q.Beneficiary))
	}
	if !q.Since.IsZero() {
		where = append(where, "received_at >= "+arg(q.Since))
	}
	if q.Cursor != "" {
		c, err := decodeDeadLetterCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, fmt.Sprintf("(received_at, id) < (%s::TIMESTAMPTZ, %s::UUID)", arg(c.At), arg(c.ID)))
	}
	sql := `SELECT ` + deadLetterCols + ` FROM dead_letters`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY received_at DESC, id DESC LIMIT ` + arg(limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDeadLetter)
	if err != nil {
		return nil, "", fmt.Errorf("list dead letters: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = deadLetterCursor{At: last.ReceivedAt, ID: last.ID}.encode()
	}
	return out, next, nil
}
