package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	auditlog "github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// recordReads writes one audit row per read, naming by, in one
// transaction and one statement. A read without a reader, or of nothing
// known, is refused: the trail must say who saw what.
func recordReads(ctx context.Context, pool *pgxpool.Pool, retry db.RetryPolicy, at time.Time, by payments.Actor, reads []payments.Read) error {
	if len(reads) == 0 {
		return nil
	}
	if by.Name == "" {
		return errs.Field("actor", "is required: who read the file")
	}
	events := make([]auditlog.Event, len(reads))
	for i, r := range reads {
		if r.What == "" || (r.ObjectID == "" && r.Beneficiary == "") {
			return fmt.Errorf("record a read: read %d names neither what was read nor whose file", i)
		}
		fields := r.Fields
		if fields == nil {
			fields = []string{}
		}
		events[i] = auditlog.Event{At: at, By: by, Action: payments.ReadAction, Kind: r.What, ObjectID: r.ObjectID,
			Beneficiary: r.Beneficiary, Fields: fields, Details: r.Details}
	}
	err := db.InTxWith(ctx, pool, retry, func(ctx context.Context, tx pgx.Tx) error {
		return auditlog.WriteMany(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("record %d reads in the audit trail: %w", len(reads), err)
	}
	return nil
}

// RecordReads records who read the beneficiaries' timelines, days and dead
// letters.
func (s *Store) RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error {
	return recordReads(ctx, s.pool, s.retry, s.stamp(), by, reads)
}

// RecordReads records who read the lines of a batch.
func (s *RunStore) RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error {
	return recordReads(ctx, s.pool, s.retry, s.stamp(), by, reads)
}

// RecordReads records who read the payment exceptions.
func (s *ApprovalStore) RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error {
	return recordReads(ctx, s.pool, s.runs.retry, s.now(), by, reads)
}
