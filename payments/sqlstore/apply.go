package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// parsed is a record once parsed, outside the transaction.
type parsed struct {
	ev    payments.Event
	err   error  // why the record is invalid whatever the database holds
	value []byte // the value parsed
}

func parse(r payments.Record) parsed {
	if p, ok := r.Prepared.(*parsed); ok && bytes.Equal(p.value, r.Value) {
		return *p
	}
	ev, err := payments.ParseEvent(r.Value)
	if err == nil {
		err = storable(r.Value, ev)
	}
	return parsed{ev: ev, err: err, value: r.Value}
}

// parseChunk is how many records a parsing goroutine takes at a time.
const parseChunk = 64

// parseAll parses the records, on every processor for a large batch:
// parsing costs as much as writing.
func parseAll(records []payments.Record) []parsed {
	in := make([]parsed, len(records))
	workers := min(runtime.GOMAXPROCS(0), (len(records)+parseChunk-1)/parseChunk)
	if workers <= 1 {
		for i, r := range records {
			in[i] = parse(r)
		}
		return in
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(parseChunk)) - parseChunk
				if start >= len(records) {
					return
				}
				for i := start; i < min(start+parseChunk, len(records)); i++ {
					in[i] = parse(records[i])
				}
			}
		})
	}
	wg.Wait()
	return in
}

// Apply parses every record, then in one transaction sorts them, in order,
// into duplicates (their event id was applied before, in the database or
// earlier in the batch), dead letters (they fail to parse, or release a
// tranche of a grant that does not exist, or reuse a grant or overpayment
// id) and applied events, and writes the applied events and their effects
// and the dead letters with a few multi-row statements. A beneficiary's
// change that arrives before its rights opening is applied all the same:
// it takes effect once the opening is there (Unopened lists those waiting).
// An invalid event's id is not recorded, so a later valid copy can still
// apply. It returns one Result per record; an error means that nothing was
// written.
func (s *Store) Apply(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	if len(records) == 0 {
		return nil, nil
	}
	return s.apply(ctx, records, parseAll(records))
}

// Prepare parses the records in place, on every processor for a large
// batch, and checks that their values and fields can be stored: the work
// of Apply before its transaction, which Apply then skips.
func (s *Store) Prepare(records []payments.Record) {
	for i, p := range parseAll(records) {
		records[i].Prepared = &p
	}
}

// apply writes records, parsed as in, in one transaction.
func (s *Store) apply(ctx context.Context, records []payments.Record, in []parsed) ([]payments.Result, error) {
	var out []payments.Result
	for attempt := 1; ; attempt++ {
		err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
			p, err := s.decide(ctx, tx, records, in)
			if err != nil {
				return err
			}
			if err := p.write(ctx, tx); err != nil {
				return err
			}
			out = p.results
			return nil
		})
		if err == nil {
			return out, nil
		}
		// A concurrent batch committed one of these events or ids after
		// this one read them; the next attempt sees it and calls the
		// record a duplicate or a dead letter. (PostgreSQL usually reports
		// this as a serialization failure, which InTx retries itself.)
		if attempt < 3 && db.IsUniqueViolation(err, "") {
			continue
		}
		return nil, fmt.Errorf("apply a batch of %d eligibility records: %w", len(records), err)
	}
}

// known is what the database and the batch so far hold that decides a
// record's outcome.
type known struct {
	events       map[uuid.UUID]bool
	beneficiary  map[string]*beneficiaryState
	returnGrants map[string]bool
	reinsertion  map[string]*grantState
	overpayments map[string]bool
}

type beneficiaryState struct {
	firstSeen time.Time
	opened    bool       // has a rights opening
	unopened  *time.Time // when its first fact waiting for an opening was applied, while it has none
	write     bool       // new, seen earlier than stored, or unopened changed in this batch
}

type grantState struct {
	beneficiary string
	tranches    map[string]*ledger.Date // release day; zero while not released
}

// readKnown reads, in one statement per kind, what the database holds about
// the batch's event ids, beneficiaries, grants and overpayments.
func readKnown(ctx context.Context, tx pgx.Tx, in []parsed) (*known, error) {
	k := &known{events: map[uuid.UUID]bool{}, beneficiary: map[string]*beneficiaryState{}, returnGrants: map[string]bool{},
		reinsertion: map[string]*grantState{}, overpayments: map[string]bool{}}
	var ids, bens, returns, grants, overpayments []string
	seenBen := map[string]bool{}
	for _, p := range in {
		if p.err != nil {
			continue
		}
		ev := p.ev
		ids = append(ids, ev.ID.String())
		if !seenBen[ev.BeneficiaryID] {
			seenBen[ev.BeneficiaryID] = true
			bens = append(bens, ev.BeneficiaryID)
		}
		switch ev.Type {
		case payments.ReturnGrantDecided:
			returns = append(returns, ev.ReturnGrant.GrantID)
		case payments.ReinsertionDecided:
			grants = append(grants, ev.Reinsertion.GrantID)
		case payments.TrancheReleased:
			grants = append(grants, ev.Tranche.GrantID)
		case payments.OverpaymentEstablished:
			overpayments = append(overpayments, ev.Overpayment.OverpaymentID)
		}
	}
	if len(ids) == 0 {
		return k, nil
	}
	var q reads
	q.add("known events", `SELECT event_id FROM events WHERE event_id = ANY($1::UUID[])`, ids, func(r pgx.Rows) error {
		var id uuid.UUID
		err := r.Scan(&id)
		k.events[id] = true
		return err
	})
	q.add("known beneficiaries", `SELECT b.id, b.first_seen, b.unopened_since,
		EXISTS (SELECT 1 FROM ada_facts f WHERE f.beneficiary_id = b.id AND f.kind = 'opened')
		FROM beneficiaries b WHERE b.id = ANY($1::TEXT[])`, bens, func(r pgx.Rows) error {
		var id string
		var b beneficiaryState
		err := r.Scan(&id, &b.firstSeen, &b.unopened, &b.opened)
		k.beneficiary[id] = &b
		return err
	})
	q.add("known return grants", `SELECT grant_id FROM return_grants WHERE grant_id = ANY($1::TEXT[])`, returns, func(r pgx.Rows) error {
		var id string
		err := r.Scan(&id)
		k.returnGrants[id] = true
		return err
	})
	q.add("known reinsertion grants", `SELECT g.grant_id, g.beneficiary_id, t.tranche_id, t.released_on
		FROM reinsertion_grants g LEFT JOIN reinsertion_tranches t ON t.grant_id = g.grant_id
		WHERE g.grant_id = ANY($1::TEXT[])`, grants, func(r pgx.Rows) error {
		var id, ben string
		var tranche *string
		var released ledger.Date
		if err := r.Scan(&id, &ben, &tranche, &released); err != nil {
			return err
		}
		g := k.reinsertion[id]
		if g == nil {
			g = &grantState{beneficiary: ben, tranches: map[string]*ledger.Date{}}
			k.reinsertion[id] = g
		}
		if tranche != nil {
			g.tranches[*tranche] = &released
		}
		return nil
	})
	q.add("known overpayments", `SELECT overpayment_id FROM overpayments WHERE overpayment_id = ANY($1::TEXT[])`, overpayments, func(r pgx.Rows) error {
		var id string
		err := r.Scan(&id)
		k.overpayments[id] = true
		return err
	})
	if err := q.run(ctx, tx); err != nil {
		return nil, err
	}
	return k, nil
}

// reads are queries of one array argument each, sent together in one
// round trip.
type reads struct {
	b     pgx.Batch
	whats []string
	fns   []func(pgx.Rows) error
}

// add queues a query whose rows fn reads; with an empty array it does
// nothing.
func (q *reads) add(what, sql string, arg []string, fn func(pgx.Rows) error) {
	if len(arg) == 0 {
		return
	}
	q.b.Queue(sql, arg)
	q.whats, q.fns = append(q.whats, what), append(q.fns, fn)
}

// run sends the queries and reads their rows, in order.
func (q *reads) run(ctx context.Context, tx pgx.Tx) error {
	if len(q.fns) == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, &q.b)
	for i, fn := range q.fns {
		if err := readRows(br, fn); err != nil {
			br.Close()
			return fmt.Errorf("read %s: %w", q.whats[i], err)
		}
	}
	return br.Close()
}

func readRows(br pgx.BatchResults, fn func(pgx.Rows) error) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// waitsForOpening reports whether an event of type t states a fact that has
// no effect until the beneficiary's rights are opened.
func waitsForOpening(t payments.EventType) bool {
	switch t {
	case payments.HouseholdChanged, payments.AccommodationChanged, payments.Suspended, payments.Resumed,
		payments.RightsClosed, payments.PayeeChanged, payments.OverpaymentEstablished:
		return true
	}
	return false
}

// check returns why ev cannot be applied on top of what is known, as an
// Invalid error naming the field, or nil. Any event may name a beneficiary
// not seen before: a change, a payee or an overpayment may arrive before
// the rights opening it follows (a replay, a partition moved), and is kept
// to take effect once the opening is there. Only a tranche's release needs
// what it refers to, its grant, to be known.
func (k *known) check(ev payments.Event) error {
	switch ev.Type {
	case payments.ReturnGrantDecided:
		if id := ev.ReturnGrant.GrantID; k.returnGrants[id] {
			return errs.Field("data.grant_id", "%s was already decided by another event", id)
		}
	case payments.ReinsertionDecided:
		if id := ev.Reinsertion.GrantID; k.reinsertion[id] != nil {
			return errs.Field("data.grant_id", "%s was already decided by another event", id)
		}
	case payments.TrancheReleased:
		t := ev.Tranche
		g := k.reinsertion[t.GrantID]
		switch {
		case g == nil:
			return errs.Field("data.grant_id", "%s is not a known reinsertion grant", t.GrantID)
		case g.beneficiary != ev.BeneficiaryID:
			return errs.Field("data.grant_id", "%s is a grant of another beneficiary", t.GrantID)
		case g.tranches[t.TrancheID] == nil:
			return errs.Field("data.tranche_id", "%s is not a tranche of grant %s", t.TrancheID, t.GrantID)
		case !g.tranches[t.TrancheID].IsZero():
			return errs.Field("data.tranche_id", "%s of grant %s was already released on %s", t.TrancheID, t.GrantID, g.tranches[t.TrancheID])
		}
	case payments.OverpaymentEstablished:
		if id := ev.Overpayment.OverpaymentID; k.overpayments[id] {
			return errs.Field("data.overpayment_id", "%s was already established by another event", id)
		}
	}
	return nil
}

// note adds an event applied at now to what is known.
func (k *known) note(ev payments.Event, now time.Time) {
	k.events[ev.ID] = true
	at := ev.OccurredAt.UTC().Truncate(time.Microsecond)
	b := k.beneficiary[ev.BeneficiaryID]
	switch {
	case b == nil:
		b = &beneficiaryState{firstSeen: at, write: true}
		k.beneficiary[ev.BeneficiaryID] = b
	case at.Before(b.firstSeen):
		b.firstSeen, b.write = at, true
	}
	switch {
	case ev.Type == payments.RightsOpened:
		b.opened = true
		if b.unopened != nil {
			b.unopened, b.write = nil, true
		}
	case waitsForOpening(ev.Type) && !b.opened && b.unopened == nil:
		b.unopened, b.write = &now, true
	}
	switch ev.Type {
	case payments.ReturnGrantDecided:
		k.returnGrants[ev.ReturnGrant.GrantID] = true
	case payments.ReinsertionDecided:
		g := &grantState{beneficiary: ev.BeneficiaryID, tranches: map[string]*ledger.Date{}}
		for _, t := range ev.Reinsertion.Tranches {
			g.tranches[t.TrancheID] = &ledger.Date{}
		}
		k.reinsertion[ev.Reinsertion.GrantID] = g
	case payments.TrancheReleased:
		*k.reinsertion[ev.Tranche.GrantID].tranches[ev.Tranche.TrancheID] = ev.Tranche.ReleasedOn
	case payments.OverpaymentEstablished:
		k.overpayments[ev.Overpayment.OverpaymentID] = true
	}
}

// decide reads what the batch needs and sorts its records, in order.
func (s *Store) decide(ctx context.Context, tx pgx.Tx, records []payments.Record, in []parsed) (*plan, error) {
	k, err := readKnown(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	p := &plan{now: s.stamp(), results: make([]payments.Result, len(records))}
	for i, r := range records {
		it := in[i]
		if it.err != nil {
			p.deadLetter(i, r, it.ev, it.err, false)
			continue
		}
		ev := it.ev
		if k.events[ev.ID] {
			p.results[i] = payments.Result{Outcome: payments.OutcomeDuplicate, Type: ev.Type}
			continue
		}
		if err := k.check(ev); err != nil {
			p.deadLetter(i, r, ev, err, true)
			continue
		}
		k.note(ev, p.now)
		p.apply(r, ev)
		p.results[i] = payments.Result{Outcome: payments.OutcomeApplied, Type: ev.Type}
	}
	for id, b := range k.beneficiary {
		if b.write {
			p.beneficiaries.add(id, b.firstSeen, b.unopened)
		}
	}
	return p, nil
}

// deadLetter records r as a dead letter. parsedOK says ev was parsed.
func (p *plan) deadLetter(i int, r payments.Record, ev payments.Event, cause error, parsedOK bool) {
	reason := cause.Error()
	var field string
	var e *errs.Error
	if errors.As(cause, &e) {
		field = e.Field
	}
	var h header
	if parsedOK {
		id := ev.ID
		h = header{eventID: &id, typ: string(ev.Type), beneficiary: ev.BeneficiaryID}
	} else {
		h = readHeader(r.Value)
	}
	p.results[i] = payments.Result{Outcome: payments.OutcomeDeadLetter, Type: knownType(h.typ), Error: reason}
	p.deadLetters.add(r, reason, field, h)
}
