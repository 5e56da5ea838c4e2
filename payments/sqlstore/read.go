package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// MaxDays is the most days Days returns at once.
const MaxDays = 3700

const factCols = `event_id, kind, effective, occurred_at, COALESCE(adults, 0), COALESCE(children, 0), COALESCE(accommodated, false),
	COALESCE(territory, ''), reason`

func scanFact(r pgx.CollectableRow) (fact, error) {
	var f fact
	var adults, children int64
	err := r.Scan(&f.eventID, &f.kind, &f.effective, &f.occurred, &adults, &children, &f.accommodated, &f.territory, &f.reason)
	f.adults, f.children = int(adults), int(children)
	return f, err
}

func notFound(id string) error { return errs.E(errs.NotFound, "beneficiary %s does not exist", id) }

// exists reports whether the beneficiary is known.
func exists(ctx context.Context, q querier, id string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM beneficiaries WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// readFacts returns the beneficiary's ADA facts, or a NotFound error when
// the beneficiary is unknown.
func (s *Store) readFacts(ctx context.Context, id string) (*facts, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+factCols+` FROM ada_facts WHERE beneficiary_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("read the facts of beneficiary %s: %w", id, err)
	}
	all, err := pgx.CollectRows(rows, scanFact)
	if err != nil {
		return nil, fmt.Errorf("read the facts of beneficiary %s: %w", id, err)
	}
	if len(all) == 0 {
		ok, err := exists(ctx, s.pool, id)
		if err != nil {
			return nil, fmt.Errorf("read beneficiary %s: %w", id, err)
		}
		if !ok {
			return nil, notFound(id)
		}
	}
	return newFacts(all), nil
}

// Days returns what applied to the beneficiary's ADA on each day from from
// to to, inclusive, at most MaxDays of them.
func (s *Store) Days(ctx context.Context, id string, from, to ledger.Date) ([]payments.Day, error) {
	switch {
	case from.IsZero():
		return nil, errs.Field("from", "is missing")
	case to.IsZero():
		return nil, errs.Field("to", "is missing")
	case to.Before(from):
		return nil, errs.Field("to", "%s is before from %s", to, from)
	case to.Time().Sub(from.Time()) >= MaxDays*24*time.Hour:
		return nil, errs.Field("to", "asks for more than %d days", MaxDays)
	}
	fs, err := s.readFacts(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []payments.Day
	for d := from; !d.After(to); d = d.AddDays(1) {
		out = append(out, fs.day(d))
	}
	return out, nil
}

// PayeeAt returns the ADA payee in force at t: the one of the latest rights
// opening or payee change that occurred at or before t. Grant payees do not
// count.
func (s *Store) PayeeAt(ctx context.Context, id string, t time.Time) (payments.Payee, error) {
	var p payments.Payee
	err := s.pool.QueryRow(ctx, `SELECT name, iban, bic FROM payees WHERE beneficiary_id = $1 AND since <= $2
		ORDER BY since DESC, event_id DESC LIMIT 1`, id, t).Scan(&p.Name, &p.IBAN, &p.BIC)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("read the payee of beneficiary %s: %w", id, err)
	}
	ok, err := exists(ctx, s.pool, id)
	if err != nil {
		return p, fmt.Errorf("read beneficiary %s: %w", id, err)
	}
	if !ok {
		return p, notFound(id)
	}
	return p, errs.E(errs.NotFound, "beneficiary %s has no payee at %s", id, t.UTC().Format(time.RFC3339))
}

// Beneficiary returns the beneficiary's timeline, read in one snapshot.
func (s *Store) Beneficiary(ctx context.Context, id string) (payments.Beneficiary, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return payments.Beneficiary{}, fmt.Errorf("read beneficiary %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	b, err := readBeneficiary(ctx, tx, id)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return b, err
		}
		return b, fmt.Errorf("read beneficiary %s: %w", id, err)
	}
	return b, nil
}

func readBeneficiary(ctx context.Context, tx pgx.Tx, id string) (payments.Beneficiary, error) {
	b := payments.Beneficiary{ID: id}
	var events int64
	err := tx.QueryRow(ctx, `SELECT b.first_seen, (SELECT count(*) FROM events e WHERE e.beneficiary_id = b.id)
		FROM beneficiaries b WHERE b.id = $1`, id).Scan(&b.FirstSeen, &events)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, notFound(id)
	}
	if err != nil {
		return b, err
	}
	b.Events = int(events)

	batch := &pgx.Batch{}
	batch.Queue(`SELECT `+factCols+` FROM ada_facts WHERE beneficiary_id = $1`, id)
	batch.Queue(`SELECT since, event_id, name, iban, bic FROM payees WHERE beneficiary_id = $1 ORDER BY since, event_id`, id)
	batch.Queue(`SELECT grant_id, country, adults, children, removal_order_notified_on, validated_on, increased_rate, travel_document,
		scheme, departure_date, payee_name, payee_iban, payee_bic FROM return_grants WHERE beneficiary_id = $1 ORDER BY decided_at, grant_id`, id)
	batch.Queue(`SELECT g.grant_id, g.level, g.amount, g.adults, g.children, g.payee_name, g.payee_iban, g.payee_bic,
		t.tranche_id, t.amount, t.released_on
		FROM reinsertion_grants g LEFT JOIN reinsertion_tranches t ON t.grant_id = g.grant_id
		WHERE g.beneficiary_id = $1 ORDER BY g.decided_at, g.grant_id, t.position`, id)
	batch.Queue(`SELECT overpayment_id, amount, reason, fraud, established_at, event_id FROM overpayments
		WHERE beneficiary_id = $1 ORDER BY established_at, overpayment_id`, id)
	br := tx.SendBatch(ctx, batch)
	defer br.Close()

	rows, _ := br.Query()
	all, err := pgx.CollectRows(rows, scanFact)
	if err != nil {
		return b, err
	}
	fs := newFacts(all)
	b.Rights, b.Household, b.Accommodation = fs.rights(), fs.householdSpans(), fs.accommodationSpans()
	b.Territory, b.Suspensions = fs.territorySpans(), fs.suspensions()

	rows, _ = br.Query()
	b.Payees, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.PayeeRecord, error) {
		var p payments.PayeeRecord
		err := r.Scan(&p.Since, &p.EventID, &p.Payee.Name, &p.Payee.IBAN, &p.Payee.BIC)
		return p, err
	})
	if err != nil {
		return b, err
	}

	rows, _ = br.Query()
	b.ReturnGrants, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.ReturnGrant, error) {
		var g payments.ReturnGrant
		var adults, children int64
		err := r.Scan(&g.GrantID, &g.Country, &adults, &children, &g.RemovalOrderNotifiedOn, &g.ValidatedOn, &g.IncreasedRate,
			&g.TravelDocument, &g.Scheme, &g.DepartureDate, &g.Payee.Name, &g.Payee.IBAN, &g.Payee.BIC)
		g.Adults, g.Children = int(adults), int(children)
		return g, err
	})
	if err != nil {
		return b, err
	}

	rows, _ = br.Query()
	b.Reinsertion = []payments.ReinsertionState{}
	var (
		grantID, level, name, iban, bic string
		amount                          decimal.Decimal
		adults, children                int64
		trancheID                       *string
		trancheAmount                   decimal.NullDecimal
		releasedOn                      ledger.Date
	)
	_, err = pgx.ForEachRow(rows, []any{&grantID, &level, &amount, &adults, &children, &name, &iban, &bic,
		&trancheID, &trancheAmount, &releasedOn}, func() error {
		n := len(b.Reinsertion)
		if n == 0 || b.Reinsertion[n-1].GrantID != grantID {
			b.Reinsertion = append(b.Reinsertion, payments.ReinsertionState{
				ReinsertionGrant: payments.ReinsertionGrant{GrantID: grantID, Level: payments.ReinsertionLevel(level), Amount: amount,
					Adults: int(adults), Children: int(children), Tranches: []payments.Tranche{},
					Payee: payments.Payee{Name: name, IBAN: iban, BIC: bic}},
				BeneficiaryID: id, Released: []payments.TrancheState{}})
			n++
		}
		g := &b.Reinsertion[n-1]
		if trancheID != nil {
			g.Tranches = append(g.Tranches, payments.Tranche{TrancheID: *trancheID, Amount: trancheAmount.Decimal})
			g.Released = append(g.Released, payments.TrancheState{TrancheID: *trancheID, Amount: trancheAmount.Decimal, ReleasedOn: releasedOn})
		}
		return nil
	})
	if err != nil {
		return b, err
	}

	rows, _ = br.Query()
	b.Overpayments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.OverpaymentRecord, error) {
		var o payments.OverpaymentRecord
		err := r.Scan(&o.OverpaymentID, &o.Amount, &o.Reason, &o.Fraud, &o.EstablishedAt, &o.EventID)
		return o, err
	})
	if err != nil {
		return b, err
	}
	if b.Payees == nil {
		b.Payees = []payments.PayeeRecord{}
	}
	if b.ReturnGrants == nil {
		b.ReturnGrants = []payments.ReturnGrant{}
	}
	if b.Overpayments == nil {
		b.Overpayments = []payments.OverpaymentRecord{}
	}
	return b, br.Close()
}
