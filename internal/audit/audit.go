// Package audit appends to the audit trail: one row of audit_events per
// change, written in the transaction of the change, and one per
// beneficiary whose file was read through the API, written before it is
// shown; never updated or deleted.
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
// which status to which, and why; or one read, of whose file (Beneficiary)
// and with which fields shown in full.
type Event struct {
	At       time.Time
	By       payments.Actor
	Action   string
	Kind     string // batch, file, exception, statement, match...
	ObjectID string
	From, To string
	Reason   string
	Details  map[string]any
	// Beneficiary is the person whose file the event concerns, if one.
	Beneficiary string
	// Fields are the fields a read showed in full, such as "iban".
	Fields []string
}

// Write appends e to the trail, in tx.
func Write(ctx context.Context, tx pgx.Tx, e Event) error {
	return WriteMany(ctx, tx, []Event{e})
}

// WriteMany appends events to the trail in one statement, in tx.
func WriteMany(ctx context.Context, tx pgx.Tx, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	ids := make([]uuid.UUID, n)
	ats := make([]time.Time, n)
	actors, roles, addresses := make([]string, n), make([]string, n), make([]string, n)
	actions, kinds, objects := make([]string, n), make([]string, n), make([]string, n)
	froms, tos, reasons := make([]string, n), make([]string, n), make([]string, n)
	details, beneficiaries, fields := make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		d, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
		ids[i], ats[i] = newID(), e.At
		actors[i], roles[i], addresses[i] = e.By.Name, strings.Join(e.By.Roles, "+"), e.By.Address
		actions[i], kinds[i], objects[i] = e.Action, e.Kind, e.ObjectID
		froms[i], tos[i], reasons[i] = e.From, e.To, e.Reason
		details[i], beneficiaries[i], fields[i] = string(d), e.Beneficiary, JoinFields(e.Fields)
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_events (id, at, actor, roles, address, action, object_kind, object_id,
		from_status, to_status, reason, details, beneficiary_id, fields_in_full)
		SELECT u.id, u.at, u.actor, u.roles, u.address, u.action, u.kind, u.object, u.fr, u.t, u.reason, u.details::JSONB,
			NULLIF(u.beneficiary, ''), u.fields
		FROM unnest($1::UUID[], $2::TIMESTAMPTZ[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[],
			$9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[])
			AS u (id, at, actor, roles, address, action, kind, object, fr, t, reason, details, beneficiary, fields)`,
		ids, ats, actors, roles, addresses, actions, kinds, objects, froms, tos, reasons, details, beneficiaries, fields)
	if err != nil {
		return fmt.Errorf("write the audit trail: %w", err)
	}
	return nil
}

// JoinFields is how the trail stores the fields shown in full: their
// names joined by '+', as the roles are.
func JoinFields(fields []string) string { return strings.Join(fields, "+") }

// SplitFields reads what JoinFields wrote; nothing reads as an empty list.
func SplitFields(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "+")
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
