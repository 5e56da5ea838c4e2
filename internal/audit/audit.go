// Package audit appends to the audit trail: one row of audit_events per
// change, written in the transaction of the change, never updated or
// deleted.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/payments"
)

// Event is one change: who (by) did what (Action) to which object, from
// which status to which, and why.
type Event struct {
	At       time.Time
	By       payments.Actor
	Action   string
	Kind     string // batch, file, exception, statement, match...
	ObjectID string
	From, To string
	Reason   string
	Details  map[string]any
}

// Write appends e to the trail, in tx.
func Write(ctx context.Context, tx pgx.Tx, e Event) error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	d, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("audit details: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (id, at, actor, roles, address, action, object_kind, object_id,
		from_status, to_status, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::JSONB)`,
		newID(), e.At, e.By.Name, strings.Join(e.By.Roles, "+"), e.By.Address, e.Action, e.Kind, e.ObjectID, e.From, e.To, e.Reason, string(d))
	if err != nil {
		return fmt.Errorf("write the audit trail: %w", err)
	}
	return nil
}

// newID returns the id of a new event: a version 7 UUID, ordered by
// creation, so that events of the same instant read in the order they were
// written.
func newID() uuid.UUID {
	if id, err := uuid.NewV7(); err == nil {
		return id
	}
	return uuid.New()
}
