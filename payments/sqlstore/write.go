package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// plan is what a batch writes, column by column: each table takes one
// INSERT ... SELECT FROM unnest of its columns, however many rows.
type plan struct {
	now     time.Time
	results []payments.Result

	events        eventRows
	beneficiaries beneficiaryRows
	facts         factRows
	payees        payeeRows
	returns       returnRows
	reinsertion   reinsertionRows
	tranches      trancheRows
	releases      releaseRows
	overpayments  overpaymentRows
	deadLetters   deadLetterRows
}

// apply adds the rows of a valid event.
func (p *plan) apply(r payments.Record, ev payments.Event) {
	p.events.add(r, ev)
	id, ben, at := ev.ID.String(), ev.BeneficiaryID, ev.OccurredAt
	switch ev.Type {
	case payments.RightsOpened:
		d := ev.RightsOpened
		territory := d.Territory
		if territory == "" {
			territory = payments.DefaultTerritory
		}
		adults, children := int64(d.Adults), int64(d.Children)
		p.facts.add(id, ben, "opened", d.From, at, &adults, &children, &d.Accommodated, &territory, "")
		p.payees.add(id, ben, at, d.Payee)
	case payments.HouseholdChanged:
		d := ev.Household
		adults, children := int64(d.Adults), int64(d.Children)
		p.facts.add(id, ben, "household", d.From, at, &adults, &children, nil, nil, "")
	case payments.AccommodationChanged:
		d := ev.Accommodation
		p.facts.add(id, ben, "accommodation", d.From, at, nil, nil, &d.Accommodated, nil, "")
	case payments.Suspended:
		p.facts.add(id, ben, "suspended", ev.Suspension.From, at, nil, nil, nil, nil, ev.Suspension.Reason)
	case payments.Resumed:
		p.facts.add(id, ben, "resumed", ev.Suspension.From, at, nil, nil, nil, nil, ev.Suspension.Reason)
	case payments.RightsClosed:
		p.facts.add(id, ben, "closed", ev.RightsClosed.LastDay, at, nil, nil, nil, nil, ev.RightsClosed.Reason)
	case payments.PayeeChanged:
		p.payees.add(id, ben, at, *ev.Payee)
	case payments.ReturnGrantDecided:
		p.returns.add(id, ben, at, ev.ReturnGrant)
	case payments.ReinsertionDecided:
		g := ev.Reinsertion
		p.reinsertion.add(id, ben, at, g)
		for i, t := range g.Tranches {
			p.tranches.add(g.GrantID, t.TrancheID, int64(i), t.Amount.StringFixed(2))
		}
	case payments.TrancheReleased:
		t := ev.Tranche
		p.releases.add(t.GrantID, t.TrancheID, t.ReleasedOn, id)
	case payments.OverpaymentEstablished:
		p.overpayments.add(id, ben, at, ev.Overpayment)
	}
}

// statement is one multi-row write: its SQL and its column arrays.
type statement struct {
	what string
	n    int
	sql  string
	args []any
}

// write runs the plan's statements in order: tranches are inserted before
// releases update them.
func (p *plan) write(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	var sent []statement
	for _, st := range []statement{
		p.events.statement(p.now),
		p.beneficiaries.statement(p.now),
		p.facts.statement(),
		p.payees.statement(),
		p.returns.statement(),
		p.reinsertion.statement(),
		p.tranches.statement(),
		p.releases.statement(),
		p.overpayments.statement(),
		p.deadLetters.statement(p.now),
	} {
		if st.n == 0 {
			continue
		}
		b.Queue(st.sql, st.args...)
		sent = append(sent, st)
	}
	// One round trip for every statement: they are prepared once per
	// connection (the inserts from arrays have one plan whatever the
	// arrays), then sent together in a pipeline.
	br := tx.SendBatch(ctx, b)
	for _, st := range sent {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("write %d %s: %w", st.n, st.what, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("write the batch: %w", err)
	}
	return nil
}

func day(d ledger.Date) string { return d.String() }

type eventRows struct {
	ids, types, bens, topics []string
	occurred                 []time.Time
	partitions, offsets      []int64
	payloads                 [][]byte // the records' values, byte for byte
}

func (e *eventRows) add(r payments.Record, ev payments.Event) {
	e.ids = append(e.ids, ev.ID.String())
	e.types = append(e.types, string(ev.Type))
	e.bens = append(e.bens, ev.BeneficiaryID)
	e.occurred = append(e.occurred, ev.OccurredAt)
	e.topics = append(e.topics, text(r.Topic, 0))
	e.partitions = append(e.partitions, int64(r.Partition))
	e.offsets = append(e.offsets, r.Offset)
	e.payloads = append(e.payloads, r.Value)
}

func (e *eventRows) statement(now time.Time) statement {
	return statement{what: "events", n: len(e.ids), sql: `INSERT INTO events
		(event_id, type, beneficiary_id, occurred_at, src_topic, src_partition, src_offset, payload, applied_at)
		SELECT u.id, u.t, u.b, u.o, u.st, u.sp, u.so, u.p, $9
		FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[],
			$8::BYTEA[]) AS u (id, t, b, o, st, sp, so, p)`,
		args: []any{e.ids, e.types, e.bens, e.occurred, e.topics, e.partitions, e.offsets, e.payloads, now}}
}

type beneficiaryRows struct {
	ids       []string
	firstSeen []time.Time
	unopened  []*time.Time
}

func (b *beneficiaryRows) add(id string, firstSeen time.Time, unopened *time.Time) {
	b.ids = append(b.ids, id)
	b.firstSeen = append(b.firstSeen, firstSeen)
	b.unopened = append(b.unopened, unopened)
}

// The update keeps the earliest first_seen should a concurrent batch have
// written the row after this one read it; unopened_since is what this
// batch decided from the row it read (a concurrent change of it is a
// serialization conflict, and the batch is retried).
func (b *beneficiaryRows) statement(now time.Time) statement {
	return statement{what: "beneficiaries", n: len(b.ids), sql: `INSERT INTO beneficiaries (id, first_seen, created_at, unopened_since)
		SELECT u.id, u.f, $4, u.w FROM unnest($1::TEXT[], $2::TIMESTAMPTZ[], $3::TIMESTAMPTZ[]) AS u (id, f, w)
		ON CONFLICT (id) DO UPDATE SET first_seen = least(beneficiaries.first_seen, excluded.first_seen),
			unopened_since = excluded.unopened_since`,
		args: []any{b.ids, b.firstSeen, b.unopened, now}}
}

type factRows struct {
	ids, bens, kinds, effective, reasons []string
	occurred                             []time.Time
	adults, children                     []*int64
	accommodated                         []*bool
	territories                          []*string
}

func (f *factRows) add(id, ben, kind string, effective ledger.Date, at time.Time, adults, children *int64, accommodated *bool, territory *string, reason string) {
	f.ids = append(f.ids, id)
	f.bens = append(f.bens, ben)
	f.kinds = append(f.kinds, kind)
	f.effective = append(f.effective, day(effective))
	f.occurred = append(f.occurred, at)
	f.adults = append(f.adults, adults)
	f.children = append(f.children, children)
	f.accommodated = append(f.accommodated, accommodated)
	f.territories = append(f.territories, territory)
	f.reasons = append(f.reasons, reason)
}

func (f *factRows) statement() statement {
	return statement{what: "ADA facts", n: len(f.ids), sql: `INSERT INTO ada_facts
		(event_id, beneficiary_id, kind, effective, occurred_at, adults, children, accommodated, territory, reason)
		SELECT * FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::DATE[], $5::TIMESTAMPTZ[], $6::BIGINT[], $7::BIGINT[],
			$8::BOOLEAN[], $9::TEXT[], $10::TEXT[])`,
		args: []any{f.ids, f.bens, f.kinds, f.effective, f.occurred, f.adults, f.children, f.accommodated, f.territories, f.reasons}}
}

type payeeRows struct {
	ids, bens, names, ibans, bics []string
	since                         []time.Time
}

func (p *payeeRows) add(id, ben string, since time.Time, py payments.Payee) {
	p.ids = append(p.ids, id)
	p.bens = append(p.bens, ben)
	p.since = append(p.since, since)
	p.names = append(p.names, py.Name)
	p.ibans = append(p.ibans, py.IBAN)
	p.bics = append(p.bics, py.BIC)
}

func (p *payeeRows) statement() statement {
	return statement{what: "payees", n: len(p.ids), sql: `INSERT INTO payees (event_id, beneficiary_id, since, name, iban, bic)
		SELECT * FROM unnest($1::UUID[], $2::TEXT[], $3::TIMESTAMPTZ[], $4::TEXT[], $5::TEXT[], $6::TEXT[])`,
		args: []any{p.ids, p.bens, p.since, p.names, p.ibans, p.bics}}
}

type returnRows struct {
	grants, ids, bens, countries, schemes, names, ibans, bics []string
	notified, validated, departure                            []string
	decided                                                   []time.Time
	adults, children                                          []int64
	increased, travel                                         []bool
}

func (r *returnRows) add(id, ben string, at time.Time, g *payments.ReturnGrant) {
	r.grants = append(r.grants, g.GrantID)
	r.ids = append(r.ids, id)
	r.bens = append(r.bens, ben)
	r.decided = append(r.decided, at)
	r.countries = append(r.countries, g.Country)
	r.adults = append(r.adults, int64(g.Adults))
	r.children = append(r.children, int64(g.Children))
	r.notified = append(r.notified, day(g.RemovalOrderNotifiedOn))
	r.validated = append(r.validated, day(g.ValidatedOn))
	r.increased = append(r.increased, g.IncreasedRate)
	r.travel = append(r.travel, g.TravelDocument)
	r.schemes = append(r.schemes, g.Scheme)
	r.departure = append(r.departure, day(g.DepartureDate))
	r.names = append(r.names, g.Payee.Name)
	r.ibans = append(r.ibans, g.Payee.IBAN)
	r.bics = append(r.bics, g.Payee.BIC)
}

func (r *returnRows) statement() statement {
	return statement{what: "return grants", n: len(r.grants), sql: `INSERT INTO return_grants
		(grant_id, event_id, beneficiary_id, decided_at, country, adults, children, removal_order_notified_on, validated_on,
		 increased_rate, travel_document, scheme, departure_date, payee_name, payee_iban, payee_bic)
		SELECT * FROM unnest($1::TEXT[], $2::UUID[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[],
			$8::DATE[], $9::DATE[], $10::BOOLEAN[], $11::BOOLEAN[], $12::TEXT[], $13::DATE[], $14::TEXT[], $15::TEXT[], $16::TEXT[])`,
		args: []any{r.grants, r.ids, r.bens, r.decided, r.countries, r.adults, r.children, r.notified, r.validated,
			r.increased, r.travel, r.schemes, r.departure, r.names, r.ibans, r.bics}}
}

type reinsertionRows struct {
	grants, ids, bens, levels, amounts, names, ibans, bics []string
	decided                                                []time.Time
	adults, children                                       []int64
}

func (r *reinsertionRows) add(id, ben string, at time.Time, g *payments.ReinsertionGrant) {
	r.grants = append(r.grants, g.GrantID)
	r.ids = append(r.ids, id)
	r.bens = append(r.bens, ben)
	r.decided = append(r.decided, at)
	r.levels = append(r.levels, string(g.Level))
	r.amounts = append(r.amounts, g.Amount.StringFixed(2))
	r.adults = append(r.adults, int64(g.Adults))
	r.children = append(r.children, int64(g.Children))
	r.names = append(r.names, g.Payee.Name)
	r.ibans = append(r.ibans, g.Payee.IBAN)
	r.bics = append(r.bics, g.Payee.BIC)
}

func (r *reinsertionRows) statement() statement {
	return statement{what: "reinsertion grants", n: len(r.grants), sql: `INSERT INTO reinsertion_grants
		(grant_id, event_id, beneficiary_id, decided_at, level, amount, adults, children, payee_name, payee_iban, payee_bic)
		SELECT u.g, u.id, u.b, u.d, u.l, u.a::DECIMAL(19,2), u.ad, u.ch, u.n, u.i, u.bic
		FROM unnest($1::TEXT[], $2::UUID[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::BIGINT[],
			$9::TEXT[], $10::TEXT[], $11::TEXT[]) AS u (g, id, b, d, l, a, ad, ch, n, i, bic)`,
		args: []any{r.grants, r.ids, r.bens, r.decided, r.levels, r.amounts, r.adults, r.children, r.names, r.ibans, r.bics}}
}

type trancheRows struct {
	grants, tranches, amounts []string
	positions                 []int64
}

func (t *trancheRows) add(grant, tranche string, position int64, amount string) {
	t.grants = append(t.grants, grant)
	t.tranches = append(t.tranches, tranche)
	t.positions = append(t.positions, position)
	t.amounts = append(t.amounts, amount)
}

func (t *trancheRows) statement() statement {
	return statement{what: "reinsertion tranches", n: len(t.grants), sql: `INSERT INTO reinsertion_tranches (grant_id, tranche_id, position, amount)
		SELECT u.g, u.t, u.p, u.a::DECIMAL(19,2) FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) AS u (g, t, p, a)`,
		args: []any{t.grants, t.tranches, t.positions, t.amounts}}
}

type releaseRows struct {
	grants, tranches, days, events []string
}

func (r *releaseRows) add(grant, tranche string, on ledger.Date, event string) {
	r.grants = append(r.grants, grant)
	r.tranches = append(r.tranches, tranche)
	r.days = append(r.days, day(on))
	r.events = append(r.events, event)
}

func (r *releaseRows) statement() statement {
	return statement{what: "tranche releases", n: len(r.grants), sql: `UPDATE reinsertion_tranches t SET released_on = u.d, release_event_id = u.e
		FROM unnest($1::TEXT[], $2::TEXT[], $3::DATE[], $4::UUID[]) AS u (g, tr, d, e)
		WHERE t.grant_id = u.g AND t.tranche_id = u.tr AND t.released_on IS NULL`,
		args: []any{r.grants, r.tranches, r.days, r.events}}
}

type overpaymentRows struct {
	overpayments, ids, bens, amounts, reasons []string
	established                               []time.Time
	fraud                                     []bool
}

func (o *overpaymentRows) add(id, ben string, at time.Time, op *payments.Overpayment) {
	o.overpayments = append(o.overpayments, op.OverpaymentID)
	o.ids = append(o.ids, id)
	o.bens = append(o.bens, ben)
	o.established = append(o.established, at)
	o.amounts = append(o.amounts, op.Amount.StringFixed(2))
	o.reasons = append(o.reasons, op.Reason)
	o.fraud = append(o.fraud, op.Fraud)
}

func (o *overpaymentRows) statement() statement {
	return statement{what: "overpayments", n: len(o.overpayments), sql: `INSERT INTO overpayments
		(overpayment_id, event_id, beneficiary_id, established_at, amount, reason, fraud)
		SELECT u.o, u.id, u.b, u.e, u.a::DECIMAL(19,2), u.r, u.f
		FROM unnest($1::TEXT[], $2::UUID[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::TEXT[], $6::TEXT[], $7::BOOLEAN[]) AS u (o, id, b, e, a, r, f)`,
		args: []any{o.overpayments, o.ids, o.bens, o.established, o.amounts, o.reasons, o.fraud}}
}

// deadLetterNamespace derives a dead letter's id from its source, so that
// the same record gets the same id however often it is recorded.
var deadLetterNamespace = uuid.MustParse("6c1f0f5e-2b0a-4f7e-9a55-0e3d1f3c9b21")

// DeadLetterID returns the id of the dead letter of the record read at src.
func DeadLetterID(src payments.Source) uuid.UUID {
	return uuid.NewSHA1(deadLetterNamespace, fmt.Appendf(nil, "%s/%d/%d", src.Topic, src.Partition, src.Offset))
}

type deadLetterRows struct {
	ids, topics, errors, fields, types, bens []string
	partitions, offsets                      []int64
	keys, values                             [][]byte
	events                                   []*string
	seen                                     map[payments.Source]bool
}

func (d *deadLetterRows) add(r payments.Record, reason, field string, h header) {
	// One row per source: the table keeps a record once.
	if d.seen[r.Source] {
		return
	}
	if d.seen == nil {
		d.seen = map[payments.Source]bool{}
	}
	d.seen[r.Source] = true
	d.ids = append(d.ids, DeadLetterID(r.Source).String())
	d.topics = append(d.topics, text(r.Topic, 0))
	d.partitions = append(d.partitions, int64(r.Partition))
	d.offsets = append(d.offsets, r.Offset)
	d.keys = append(d.keys, r.Key)
	value := r.Value
	if value == nil {
		value = []byte{}
	}
	d.values = append(d.values, value)
	d.errors = append(d.errors, text(reason, 0))
	d.fields = append(d.fields, text(field, maxLabelLen))
	var event *string
	if h.eventID != nil {
		s := h.eventID.String()
		event = &s
	}
	d.events = append(d.events, event)
	d.types = append(d.types, text(h.typ, maxLabelLen))
	d.bens = append(d.bens, text(h.beneficiary, maxLabelLen))
}

func (d *deadLetterRows) statement(now time.Time) statement {
	return statement{what: "dead letters", n: len(d.ids), sql: `INSERT INTO dead_letters
		(id, src_topic, src_partition, src_offset, record_key, value, error, field, event_id, type, beneficiary_id, received_at)
		SELECT u.id, u.t, u.p, u.o, u.k, u.v, u.e, u.f, u.ev, u.ty, u.b, $12
		FROM unnest($1::UUID[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BYTEA[], $6::BYTEA[], $7::TEXT[], $8::TEXT[],
			$9::UUID[], $10::TEXT[], $11::TEXT[]) AS u (id, t, p, o, k, v, e, f, ev, ty, b)
		ON CONFLICT DO NOTHING`,
		args: []any{d.ids, d.topics, d.partitions, d.offsets, d.keys, d.values, d.errors, d.fields, d.events, d.types, d.bens, now}}
}
