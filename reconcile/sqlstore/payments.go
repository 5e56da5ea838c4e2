package sqlstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/reconcile"
)

// errBookedAlready is the failure of a hopeful chunk (decide) one of whose
// payments was booked already: the chunk is to be decided again.
var errBookedAlready = errors.New("a payment of the chunk is booked already")

// readPayments reads into pays the payments ids name, each with what
// returned it, and with what booked it unless hopeful is set: the
// payments are then taken for not yet booked (decide).
func readPayments(ctx context.Context, tx pgx.Tx, ids []string, hopeful bool, pays map[string]*payRow) error {
	// No FOR UPDATE: the transaction is serializable, so two imports
	// booking the same payment cannot both commit, and a lock on every
	// row would write each one twice.
	// A look-up by key for each id: given the array, the planner would
	// rather scan every payment in transit for each chunk.
	booked := `(SELECT b.match_id FROM payment_bookings b WHERE b.line_id = x.line_id)`
	if hopeful {
		booked = `NULL::UUID`
	}
	q := `SELECT p.line_id, p.beneficiary_id, p.status, p.amount, p.booked, p.returned_by
		FROM unnest($1::TEXT[]) AS u (id),
		LATERAL (SELECT x.line_id, x.beneficiary_id, x.status, x.amount, ` + booked + ` AS booked, x.returned_by
			FROM line_payments x WHERE x.line_id = u.id LIMIT 1) AS p`
	rows, err := tx.Query(ctx, q, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p payRow
		if err := rows.Scan(&p.id, &p.ben, &p.status, &p.amount, &p.booked, &p.returned); err != nil {
			return err
		}
		pays[p.id] = &p
	}
	return rows.Err()
}

// readBookings reads into pays what booked those of lines' payments whose
// bookings decide: all but those of the debits that book their payment
// when it is not booked yet, whose bookings the chunk writes, and fails
// to when one is (errBookedAlready).
func readBookings(ctx context.Context, tx pgx.Tx, lines []*stLine, pays map[string]*payRow) error {
	var ids []string
	for _, l := range lines {
		p := pays[l.e2e]
		if l.matchStatus != "unmatched" || p == nil || reconcile.IsCharge(l.dir, l.bankCode) {
			continue
		}
		if l.dir == reconcile.Debit && reconcile.BookByEndToEnd(l.amount, p.candidate()).Match {
			continue
		}
		ids = append(ids, p.id)
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT line_id, match_id FROM payment_bookings WHERE line_id = ANY($1::TEXT[])`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p payRow
		if err := rows.Scan(&id, &p.booked); err != nil {
			return err
		}
		if x := pays[id]; x != nil {
			x.booked = p.booked
		}
	}
	return rows.Err()
}

// bookingsError is err, the failure to write the bookings of a chunk,
// as errBookedAlready when the chunk was hopeful and a payment it books
// has a booking already.
func bookingsError(err error, hopeful bool) error {
	if hopeful && db.IsUniqueViolation(err, "") {
		return errBookedAlready
	}
	return err
}
