package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

// orderBeneficiaries are the beneficiaries of orderStream.
var orderBeneficiaries = []string{"ORD-1", "ORD-2", "ORD-3"}

// changedIBAN is ORD-1's payee after its payee change.
var changedIBAN = ibans[2]

// orderStream returns the events of a few beneficiaries, each one's in
// the order upstream decided them: an opening, then changes of every kind
// (household, accommodation, suspension and resumption, payee, an
// overpayment, a closure and a second opening), all taking effect in
// October 2026; and one event that breaks the contract (an IBAN failing its
// check), which must go to the dead letters in any order.
func orderStream() (values [][]byte, broken []byte) {
	at := func(s string) time.Time { return ts(s + "T09:00:00Z") }
	second := opened("2026-10-20", 1, 2, false)
	second["payee"] = payee("Amina Diallo", 1)
	values = [][]byte{
		event(eid("o1-open"), payments.RightsOpened, "ORD-1", at("2026-10-03"), opened("2026-10-03", 1, 0, false)),
		event(eid("o1-hh"), payments.HouseholdChanged, "ORD-1", at("2026-10-15"), map[string]any{"from": "2026-10-15", "adults": 2, "children": 1}),
		event(eid("o1-susp"), payments.Suspended, "ORD-1", at("2026-10-20"), map[string]any{"from": "2026-10-20", "reason": "missed appointment"}),
		event(eid("o1-payee"), payments.PayeeChanged, "ORD-1", at("2026-10-21"), map[string]any{"payee": payee("Amina Diallo", 2)}),
		event(eid("o1-res"), payments.Resumed, "ORD-1", at("2026-10-25"), map[string]any{"from": "2026-10-25"}),
		event(eid("o1-over"), payments.OverpaymentEstablished, "ORD-1", at("2026-10-26"),
			map[string]any{"overpayment_id": "IND-ORD-1", "amount": "50.00", "reason": "undeclared resources"}),

		event(eid("o2-open"), payments.RightsOpened, "ORD-2", at("2026-10-01"), opened("2026-10-01", 2, 0, true)),
		event(eid("o2-acc"), payments.AccommodationChanged, "ORD-2", at("2026-10-10"), map[string]any{"from": "2026-10-10", "accommodated": false}),
		event(eid("o2-close"), payments.RightsClosed, "ORD-2", at("2026-10-28"), map[string]any{"last_day": "2026-10-28", "reason": "final decision notified"}),

		event(eid("o3-open"), payments.RightsOpened, "ORD-3", at("2026-10-05"), opened("2026-10-05", 1, 2, false)),
		event(eid("o3-close"), payments.RightsClosed, "ORD-3", at("2026-10-12"), map[string]any{"last_day": "2026-10-12", "reason": "departure"}),
		event(eid("o3-reopen"), payments.RightsOpened, "ORD-3", at("2026-10-20"), second),
		event(eid("o3-hh"), payments.HouseholdChanged, "ORD-3", at("2026-10-22"), map[string]any{"from": "2026-10-22", "adults": 2, "children": 2}),
	}
	broken = event(eid("o2-bad-payee"), payments.PayeeChanged, "ORD-2", at("2026-10-11"),
		map[string]any{"payee": map[string]any{"name": "Typo", "iban": "FR7630006000011234567890188"}})
	return values, broken
}

// An order of a stream, and the batch size it is applied in.
type streamOrder struct {
	name   string
	values [][]byte
	batch  int
}

// orders returns the stream in order, reversed, and shuffled with a fixed
// seed, the invalid event among them.
func orders(t *testing.T) []streamOrder {
	t.Helper()
	values, broken := orderStream()
	inOrder := append(slices.Clone(values), broken)
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)
	shuffled := slices.Clone(inOrder)
	rand.New(rand.NewPCG(7, 11)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	out := []streamOrder{{"in order", inOrder, len(inOrder)}, {"reversed", reversed, 1}, {"shuffled", shuffled, 3}}
	// The test proves something only if the other orders put changes
	// before the openings they follow.
	for _, o := range out[1:] {
		if early := changesBeforeOpening(t, o.values); len(early) < 2 {
			t.Fatalf("%s: only %v arrive before their opening", o.name, early)
		}
	}
	return out
}

// changesBeforeOpening returns the beneficiaries some of whose events come
// before their first opening in values.
func changesBeforeOpening(t *testing.T, values [][]byte) []string {
	t.Helper()
	seenOpening, early := map[string]bool{}, map[string]bool{}
	for _, v := range values {
		var h struct {
			Type        payments.EventType `json:"type"`
			Beneficiary string             `json:"beneficiary_id"`
		}
		if err := json.Unmarshal(v, &h); err != nil {
			t.Fatal(err)
		}
		if h.Type == payments.RightsOpened {
			seenOpening[h.Beneficiary] = true
		} else if !seenOpening[h.Beneficiary] {
			early[h.Beneficiary] = true
		}
	}
	var out []string
	for b := range early {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// orderState is what the tests compare between orders: each beneficiary's
// timeline and days as JSON, and the lines of the ADA run of October, to
// the cent, with their payee and their segments.
type orderState struct {
	timelines map[string]string
	lines     map[string]string
}

func readOrderState(t *testing.T, s *sqlstore.Store, runs *sqlstore.RunStore) orderState {
	t.Helper()
	ctx := context.Background()
	st := orderState{timelines: map[string]string{}, lines: map[string]string{}}
	for _, id := range orderBeneficiaries {
		b, err := s.Beneficiary(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		days, err := s.Days(ctx, id, date("2026-09-25"), date("2026-11-05"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(struct {
			B    payments.Beneficiary
			Days []payments.Day
		}{b, days})
		if err != nil {
			t.Fatal(err)
		}
		st.timelines[id] = string(j)
	}
	run, err := runs.StartADARun(ctx, mustPeriod(t, "2026-10"), payments.TriggerStaff, "marie.curie")
	if err != nil || run.Status != payments.RunDone {
		t.Fatalf("ADA run of 2026-10: %+v, %v", run, err)
	}
	cursor := ""
	for {
		page, next, err := runs.BatchLines(ctx, run.BatchID, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page {
			var segs []string
			for _, g := range l.Explanation.Segments {
				segs = append(segs, fmt.Sprintf("%s..%s %d×%s=%s", g.From, g.To, g.Days, g.Daily.StringFixed(2), g.Amount.StringFixed(2)))
			}
			key := fmt.Sprintf("%s %s %s", l.BeneficiaryID, l.Period, l.Kind)
			if _, dup := st.lines[key]; dup {
				t.Fatalf("two lines for %s", key)
			}
			st.lines[key] = fmt.Sprintf("gross %s deduction %s net %s to %s [%s]", l.Gross.StringFixed(2), l.Deduction.StringFixed(2),
				l.Net.StringFixed(2), l.Payee.IBAN, strings.Join(segs, ", "))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return st
}

// applyOrder applies values in batches of size and checks that every event
// is applied but the broken one, a dead letter naming its IBAN.
func applyOrder(t *testing.T, s *sqlstore.Store, values [][]byte, size int) {
	t.Helper()
	_, broken := orderStream()
	recs := records(0, values...)
	for len(recs) > 0 {
		n := min(size, len(recs))
		for i, r := range mustApply(t, s, recs[:n]) {
			isBroken := string(recs[i].Value) == string(broken)
			switch {
			case isBroken && (r.Outcome != payments.OutcomeDeadLetter || !strings.HasPrefix(r.Error, "data.payee.iban: ")):
				t.Errorf("the broken event: %+v, want a dead letter naming data.payee.iban", r)
			case !isBroken && r.Outcome != payments.OutcomeApplied:
				t.Errorf("record at offset %d: %+v, want it applied", recs[i].Offset, r)
			}
		}
		recs = recs[n:]
	}
}

// A beneficiary's events applied in order, in reverse order one at a time,
// or shuffled, give the same timelines and the same lines of the month's
// ADA run, to the cent; none of them is a dead letter but the one that
// breaks the contract.
func TestAnyOrderGivesTheSameState(t *testing.T) {
	var ref orderState
	for i, o := range orders(t) {
		e := newRunEnv(t)
		e.at("2026-11-01T08:00:00Z")
		applyOrder(t, e.events, o.values, o.batch)
		if n := e.count(`SELECT count(*) FROM dead_letters`); n != 1 {
			t.Errorf("%s: %d dead letters, want 1", o.name, n)
		}
		if n := e.count(`SELECT count(*) FROM events`); n != len(o.values)-1 {
			t.Errorf("%s: %d events applied, want %d", o.name, n, len(o.values)-1)
		}
		// Every beneficiary has its opening now: none waits.
		if n := e.count(`SELECT count(*) FROM beneficiaries WHERE unopened_since IS NOT NULL`); n != 0 {
			t.Errorf("%s: %d beneficiaries still wait for an opening", o.name, n)
		}
		if list, _, err := e.events.Unopened(e.ctx, payments.UnopenedQuery{Days: 1}); err != nil || len(list) != 0 {
			t.Errorf("%s: unopened list %+v, %v; want it empty", o.name, list, err)
		}
		e.at("2026-11-05T07:00:00Z")
		st := readOrderState(t, e.events, e.runs)
		if i == 0 {
			ref = st
			checkInOrderLines(t, st)
			continue
		}
		for _, id := range orderBeneficiaries {
			if st.timelines[id] != ref.timelines[id] {
				t.Errorf("%s: timeline of %s differs:\n got  %s\n want %s", o.name, id, st.timelines[id], ref.timelines[id])
			}
		}
		if len(st.lines) != len(ref.lines) {
			t.Errorf("%s: %d lines, want %d", o.name, len(st.lines), len(ref.lines))
		}
		for k, want := range ref.lines {
			if st.lines[k] != want {
				t.Errorf("%s: line %s:\n got  %s\n want %s", o.name, k, st.lines[k], want)
			}
		}
	}
}

// checkInOrderLines checks that the reference run paid what the facts
// say, so that equal lines mean equally right lines.
func checkInOrderLines(t *testing.T, st orderState) {
	t.Helper()
	if len(st.lines) != len(orderBeneficiaries) {
		t.Fatalf("in order: lines %v, want one monthly line per beneficiary", st.lines)
	}
	// ORD-1: 12 days alone, 5 days three persons, suspended from the 20th to
	// the 24th, 7 days three persons, less the overpayment, to the changed
	// payee. ORD-2: housed to the 9th, then not, to its last day. ORD-3:
	// to the 12th, then from the reopening on the 20th, four persons from
	// the 22nd, to the second opening's payee.
	for id, want := range map[string]string{
		"ORD-1": "gross 511.20 deduction 50.00 net 461.20 to " + changedIBAN,
		"ORD-2": "gross 566.80 deduction 0.00 net 566.80 to " + ibans[0],
		"ORD-3": "gross 528.00 deduction 0.00 net 528.00 to " + ibans[1],
	} {
		if l := st.lines[id+" 2026-10 monthly"]; !strings.HasPrefix(l, want+" [") {
			t.Errorf("in order: %s %s, want %s", id, l, want)
		}
	}
}

// A beneficiary whose facts have waited for an opening for the set number
// of days shows in the unopened list, as of the store's clock, and leaves
// it when the opening arrives; a beneficiary with an opening, or with a
// grant only, never shows.
func TestUnopenedList(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	now := ts("2026-11-02T08:00:00Z")
	s := sqlstore.New(pool, sqlstore.WithClock(func() time.Time { return now }), sqlstore.WithUnopenedDays(7))
	t0 := now
	offset := int64(0)
	apply := func(values ...[]byte) {
		t.Helper()
		for i, r := range mustApply(t, s, records(offset, values...)) {
			if r.Outcome != payments.OutcomeApplied {
				t.Fatalf("event %d: %+v", i, r)
			}
		}
		offset += int64(len(values))
	}
	list := func(q payments.UnopenedQuery) ([]payments.Unopened, string) {
		t.Helper()
		out, next, err := s.Unopened(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return out, next
	}
	ids := func(us []payments.Unopened) string {
		var out []string
		for _, u := range us {
			out = append(out, u.ID)
		}
		return strings.Join(out, ",")
	}
	occurred := ts("2026-10-30T10:00:00Z")
	apply(
		event(eid("u1-hh"), payments.HouseholdChanged, "U-1", occurred, map[string]any{"from": "2026-11-10", "adults": 2, "children": 0}),
		event(eid("u2-payee"), payments.PayeeChanged, "U-2", occurred, map[string]any{"payee": payee("Ines Martin", 1)}),
		event(eid("o-open"), payments.RightsOpened, "O-1", occurred, opened("2026-11-01", 1, 0, false)),
		event(eid("o-hh"), payments.HouseholdChanged, "O-1", occurred.Add(time.Hour), map[string]any{"from": "2026-11-05", "adults": 2, "children": 0}),
		event(eid("g-ret"), payments.ReturnGrantDecided, "G-1", occurred, map[string]any{"grant_id": "RET-U-1", "country": "GE",
			"adults": 1, "children": 0, "removal_order_notified_on": "2026-10-20", "validated_on": "2026-10-25",
			"increased_rate": false, "travel_document": false, "departure_date": "2026-11-20", "payee": payee("Returnee", 3)}),
	)

	now = t0.Add(7*24*time.Hour - time.Second)
	if got, _ := list(payments.UnopenedQuery{}); len(got) != 0 {
		t.Errorf("after 7 days less a second: %s, want none", ids(got))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(sqlstore.UnopenedGauge(s))
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 || mfs[0].GetName() != "ledger_beneficiaries_unopened" || len(mfs[0].GetMetric()) != 1 {
			t.Fatalf("gather: %v, %v", mfs, err)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if v := gauge(); v != 0 {
		t.Errorf("gauge after 7 days less a second: %v, want 0", v)
	}
	now = t0.Add(7 * 24 * time.Hour)
	if v := gauge(); v != 2 {
		t.Errorf("gauge after 7 days: %v, want 2", v)
	}
	got, next := list(payments.UnopenedQuery{})
	if ids(got) != "U-1,U-2" || next != "" {
		t.Fatalf("after 7 days: %s (next %q), want U-1,U-2", ids(got), next)
	}
	for _, u := range got {
		if !u.Since.Equal(t0) || !u.FirstSeen.Equal(occurred) || u.Events != 1 {
			t.Errorf("%+v, want since %s, first seen %s, 1 event", u, t0, occurred)
		}
	}
	// Its days are a query's choice; a page at a time.
	now = t0.Add(24 * time.Hour)
	if got, _ := list(payments.UnopenedQuery{Days: 1}); ids(got) != "U-1,U-2" {
		t.Errorf("after a day, asking for 1 day: %s", ids(got))
	}
	if got, _ := list(payments.UnopenedQuery{Days: 2}); len(got) != 0 {
		t.Errorf("after a day, asking for 2 days: %s", ids(got))
	}
	page, next := list(payments.UnopenedQuery{Days: 1, Limit: 1})
	if ids(page) != "U-1" || next == "" {
		t.Fatalf("first page: %s, next %q", ids(page), next)
	}
	page, next = list(payments.UnopenedQuery{Days: 1, Limit: 1, Cursor: next})
	if ids(page) != "U-2" || next != "" {
		t.Fatalf("second page: %s, next %q", ids(page), next)
	}
	for _, q := range []payments.UnopenedQuery{{Days: -1}, {Days: sqlstore.MaxUnopenedDays + 1}, {Cursor: "nonsense"}, {Limit: -1}} {
		if _, _, err := s.Unopened(ctx, q); !errs.Is(err, errs.Invalid) {
			t.Errorf("Unopened(%+v): %v, want invalid", q, err)
		}
	}
	// U-1's household waits: no rights, nothing covered.
	if d, err := s.Days(ctx, "U-1", date("2026-11-10"), date("2026-11-10")); err != nil || d[0].RightsOpen || d[0].Adults != 2 {
		t.Errorf("U-1 on 2026-11-10 before its opening: %+v, %v", d, err)
	}

	// The opening arrives on the 8th day, after the change it comes before.
	now = t0.Add(8 * 24 * time.Hour)
	apply(event(eid("u1-open"), payments.RightsOpened, "U-1", ts("2026-10-28T09:00:00Z"), opened("2026-11-01", 1, 0, false)))
	if got, _ := list(payments.UnopenedQuery{}); ids(got) != "U-2" {
		t.Errorf("after U-1's opening: %s, want U-2", ids(got))
	}
	if v := gauge(); v != 1 {
		t.Errorf("gauge after U-1's opening: %v, want 1", v)
	}
	if d, err := s.Days(ctx, "U-1", date("2026-11-09"), date("2026-11-10")); err != nil ||
		!d[0].Covered() || d[0].Adults != 1 || !d[1].Covered() || d[1].Adults != 2 {
		t.Errorf("U-1 on 2026-11-09 and 10 after its opening: %+v, %v", d, err)
	}
	// Later facts neither bring U-1 back nor restart U-2's wait.
	apply(
		event(eid("u1-acc"), payments.AccommodationChanged, "U-1", ts("2026-11-08T09:00:00Z"), map[string]any{"from": "2026-11-08", "accommodated": true}),
		event(eid("u2-over"), payments.OverpaymentEstablished, "U-2", ts("2026-11-08T09:00:00Z"), map[string]any{"overpayment_id": "IND-U-2", "amount": "12.00"}),
	)
	got, _ = list(payments.UnopenedQuery{})
	if ids(got) != "U-2" || !got[0].Since.Equal(t0) || got[0].Events != 2 {
		t.Errorf("after later facts: %+v, want U-2 alone, waiting since %s with 2 events", got, t0)
	}
}

// A producer's replay in reverse order, through the broker and the
// consumer in batches of two: every event is applied, nothing but the event
// that breaks the contract reaches the dead-letter topic, and the state and
// the run's lines are those of the stream applied in order.
func TestReversedStreamThroughKafka(t *testing.T) {
	values, broken := orderStream()
	inOrder := append(slices.Clone(values), broken)
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)

	broker, err := kafka.StartEmbedded(0, 4, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	store, pool := mustOpen(t)
	publish(t, broker.Addr(), reversed)
	cfg := e2eConfig(broker.Addr(), "reversed")
	cfg.BatchSize = 2
	stop := runConsumer(t, cfg, store)
	waitRows(t, pool, `SELECT count(*) FROM events`, int64(len(values)), 30*time.Second)
	waitRows(t, pool, `SELECT count(*) FROM dead_letters WHERE published_at IS NOT NULL`, 1, 30*time.Second)
	stop()

	dlq := readTopic(t, broker.Addr(), dlqTopic)
	if len(dlq) != 1 || string(dlq[0].Value) != string(broken) {
		t.Fatalf("%d records on the dead-letter topic, want the broken event alone: %v", len(dlq), dlq)
	}
	for _, h := range dlq[0].Headers {
		if h.Key == "error" && !strings.HasPrefix(string(h.Value), "data.payee.iban: ") {
			t.Errorf("dead letter's error %q, want it to name data.payee.iban", h.Value)
		}
	}
	if n := unopenedCount(t, pool); n != 0 {
		t.Errorf("%d beneficiaries wait for an opening, want none", n)
	}

	ref, refPool := mustOpen(t)
	mustApply(t, ref, records(0, inOrder...))
	want, have := dump(t, refPool), dump(t, pool)
	for _, tbl := range tables {
		if tbl != "dead_letters" && !slices.Equal(want[tbl], have[tbl]) {
			t.Errorf("%s differs from the stream applied in order:\n want %v\n have %v", tbl, want[tbl], have[tbl])
		}
	}
	runClock := func() time.Time { return ts("2026-11-05T07:00:00Z") }
	wantState := readOrderState(t, ref, sqlstore.NewRunStore(refPool, sqlstore.WithRunClock(runClock)))
	haveState := readOrderState(t, store, sqlstore.NewRunStore(pool, sqlstore.WithRunClock(runClock)))
	checkInOrderLines(t, wantState)
	for _, id := range orderBeneficiaries {
		if haveState.timelines[id] != wantState.timelines[id] {
			t.Errorf("timeline of %s differs:\n got  %s\n want %s", id, haveState.timelines[id], wantState.timelines[id])
		}
	}
	if !maps.Equal(haveState.lines, wantState.lines) {
		t.Errorf("lines through Kafka in reverse:\n %v\nwant\n %v", haveState.lines, wantState.lines)
	}
}

// readTopic returns every record of a topic, partition by partition.
func readTopic(t *testing.T, addr, name string) []kafkago.Message {
	t.Helper()
	parts, err := kafkago.DefaultDialer.LookupPartitions(context.Background(), "tcp", addr, name)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafkago.Message
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: name, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				break
			}
			out = append(out, m)
		}
		cancel()
		r.Close()
	}
	return out
}

// unopenedCount counts the beneficiaries waiting for an opening.
func unopenedCount(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM beneficiaries WHERE unopened_since IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
