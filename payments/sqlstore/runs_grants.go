package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// grantsRun batches the return grants, then the reinsertion tranches, a
// chunk at a time.
func (s *RunStore) grantsRun(ctx context.Context, run *payments.Run) error {
	for _, chunk := range []func(context.Context, pgx.Tx, *payments.Run, *grantCursor) (int, int, error){s.returnChunk, s.trancheChunk} {
		var cur grantCursor
		for {
			var n, lines int
			next := cur
			err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
				next = cur
				var err error
				n, lines, err = chunk(ctx, tx, run, &next)
				return err
			})
			if err != nil {
				if errs.CodeOf(err) != errs.Internal {
					return err
				}
				return fmt.Errorf("grants after %q: %w", cur.grant, err)
			}
			run.Processed += n
			run.Lines += lines
			if n > 0 {
				s.report(*run)
			}
			if n < s.chunk {
				break
			}
			cur = next
		}
	}
	return nil
}

// grantCursor is where a grants run got to: the last grant (and tranche).
type grantCursor struct{ grant, tranche string }

// notBatched is the condition that no batch but the draft being replaced
// (the grants draft of the run's period) holds a line paying ref under one
// of schemes. $2 is the run's period.
func notBatched(ref, schemes string) string {
	return `NOT EXISTS (SELECT 1 FROM batch_lines l JOIN batches b ON b.id = l.batch_id
		WHERE l.scheme IN ` + schemes + ` AND l.ref = ` + ref + ` AND b.status NOT IN ('building', 'replaced', 'cancelled')
		AND NOT (b.kind = 'grants' AND b.period = $2 AND b.status = 'draft'))`
}

// returnChunk batches the next return grants that departed on or before
// the run's day.
func (s *RunStore) returnChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, cur *grantCursor) (int, int, error) {
	now := s.stamp()
	rows, err := tx.Query(ctx, `SELECT g.grant_id, g.beneficiary_id, g.country, g.adults, g.children, g.removal_order_notified_on,
		g.validated_on, g.increased_rate, g.travel_document, g.scheme, g.departure_date, g.payee_name, g.payee_iban, g.payee_bic
		FROM return_grants g WHERE g.departure_date <= $1 AND g.grant_id > $3 AND `+notBatched("g.grant_id", `('return')`)+`
		ORDER BY g.grant_id LIMIT $4`, run.Day, run.Period.String(), cur.grant, s.chunk)
	if err != nil {
		return 0, 0, fmt.Errorf("read return grants: %w", err)
	}
	type grant struct {
		ben string
		g   payments.ReturnGrant
	}
	grants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grant, error) {
		var x grant
		var adults, children int64
		err := r.Scan(&x.g.GrantID, &x.ben, &x.g.Country, &adults, &children, &x.g.RemovalOrderNotifiedOn, &x.g.ValidatedOn,
			&x.g.IncreasedRate, &x.g.TravelDocument, &x.g.Scheme, &x.g.DepartureDate, &x.g.Payee.Name, &x.g.Payee.IBAN, &x.g.Payee.BIC)
		x.g.Adults, x.g.Children = int(adults), int(children)
		return x, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read return grants: %w", err)
	}
	var lines lineRows
	for _, x := range grants {
		l, err := payments.ReturnLine(run.ID, run.Period, x.ben, x.g, s.sch)
		if err != nil {
			return 0, 0, err
		}
		l.BatchID = run.BatchID
		if err := lines.add(l); err != nil {
			return 0, 0, err
		}
		cur.grant = x.g.GrantID
	}
	if err := execStatement(ctx, tx, lines.statement()); err != nil {
		return 0, 0, err
	}
	return len(grants), lines.n(), heartbeat(ctx, tx, run, now, len(grants), lines.n())
}

// trancheChunk batches the next reinsertion tranches released on or
// before the run's day.
func (s *RunStore) trancheChunk(ctx context.Context, tx pgx.Tx, run *payments.Run, cur *grantCursor) (int, int, error) {
	now := s.stamp()
	rows, err := tx.Query(ctx, `SELECT t.grant_id, t.tranche_id, t.amount, t.released_on, g.beneficiary_id, g.level, g.amount, g.adults,
		g.children, g.decided_at, g.payee_name, g.payee_iban, g.payee_bic
		FROM reinsertion_tranches t JOIN reinsertion_grants g ON g.grant_id = t.grant_id
		WHERE t.released_on IS NOT NULL AND t.released_on <= $1 AND (t.grant_id, t.tranche_id) > ($3, $4)
		AND `+notBatched("t.grant_id || '/' || t.tranche_id", `('reinsertion', 'business_creation')`)+`
		ORDER BY t.grant_id, t.tranche_id LIMIT $5`, run.Day, run.Period.String(), cur.grant, cur.tranche, s.chunk)
	if err != nil {
		return 0, 0, fmt.Errorf("read released tranches: %w", err)
	}
	type tranche struct {
		ben     string
		g       payments.ReinsertionGrant
		decided time.Time
		t       payments.TrancheState
	}
	tranches, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tranche, error) {
		var x tranche
		var level string
		var adults, children int64
		err := r.Scan(&x.g.GrantID, &x.t.TrancheID, &x.t.Amount, &x.t.ReleasedOn, &x.ben, &level, &x.g.Amount, &adults, &children,
			&x.decided, &x.g.Payee.Name, &x.g.Payee.IBAN, &x.g.Payee.BIC)
		x.g.Level, x.g.Adults, x.g.Children = payments.ReinsertionLevel(level), int(adults), int(children)
		return x, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read released tranches: %w", err)
	}
	// Each grant with all its tranches, for CheckReinsertion.
	all := map[string][]payments.Tranche{}
	var grantIDs []string
	for _, x := range tranches {
		if _, ok := all[x.g.GrantID]; !ok {
			all[x.g.GrantID] = nil
			grantIDs = append(grantIDs, x.g.GrantID)
		}
	}
	if len(grantIDs) > 0 {
		err = queryEach(ctx, tx, `SELECT grant_id, tranche_id, amount FROM reinsertion_tranches WHERE grant_id = ANY($1::TEXT[])
			ORDER BY grant_id, position`, []any{grantIDs}, func(r pgx.Rows) error {
			var id string
			var t payments.Tranche
			err := r.Scan(&id, &t.TrancheID, &t.Amount)
			all[id] = append(all[id], t)
			return err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("read tranches: %w", err)
		}
	}
	var lines lineRows
	for _, x := range tranches {
		x.g.Tranches = all[x.g.GrantID]
		l, err := payments.TrancheLine(run.ID, run.Period, x.ben, x.g, payments.LegalDay(x.decided), x.t, s.sch)
		if err != nil {
			return 0, 0, err
		}
		l.BatchID = run.BatchID
		if err := lines.add(l); err != nil {
			return 0, 0, err
		}
		cur.grant, cur.tranche = x.g.GrantID, x.t.TrancheID
	}
	if err := execStatement(ctx, tx, lines.statement()); err != nil {
		return 0, 0, err
	}
	return len(tranches), lines.n(), heartbeat(ctx, tx, run, now, len(tranches), lines.n())
}
