package sqlstore_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// stream is a generated eligibility stream.
type stream struct {
	values  [][]byte // first copies, each beneficiary's in order
	invalid []bool   // whether each is invalid (in any order)
}

func (s stream) invalidCount() int {
	n := 0
	for _, b := range s.invalid {
		if b {
			n++
		}
	}
	return n
}

// generate returns a seeded random stream for n beneficiaries: each opens
// rights or gets a grant first, then a random mix of every type of event
// with valid references, some of them retroactive, interleaved across
// beneficiaries; and a few records that are invalid in any order.
func generate(seed uint64, n int) stream {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type gen struct {
		value   []byte
		invalid bool
	}
	perBen := make([][]gen, n)
	for i := range n {
		ben := fmt.Sprintf("OFII-2026-%06d", i)
		at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(300*24)) * time.Hour)
		cur := ledger.DateOf(at)
		k := 0
		add := func(who string, t payments.EventType, data map[string]any, invalid bool) {
			// Now and then two events of one instant.
			if r.IntN(10) != 0 {
				at = at.Add(time.Duration(1+r.IntN(72)) * time.Hour)
			}
			k++
			perBen[i] = append(perBen[i], gen{event(eid(fmt.Sprintf("%s/%d", ben, k)), t, who, at, data), invalid})
		}
		next := func(t payments.EventType, data map[string]any) { add(ben, t, data, false) }
		// from returns an effective date near the current one, sometimes
		// in the past.
		from := func() string {
			cur = cur.AddDays(r.IntN(20))
			return cur.AddDays(-r.IntN(30)).String()
		}
		var grants []string
		pending := map[string][]string{}
		decideReinsertion := func() {
			g := fmt.Sprintf("REI-%d-%d", i, k)
			grants = append(grants, g)
			pending[g] = []string{"T1", "T2"}
			next(payments.ReinsertionDecided, map[string]any{"grant_id": g, "level": "employment", "amount": "3000.00",
				"tranches": []any{map[string]any{"tranche_id": "T1", "amount": "1000.50"}, map[string]any{"tranche_id": "T2", "amount": "1999.50"}},
				"payee":    payee("Operator "+ben, i)})
		}
		decideReturn := func() {
			next(payments.ReturnGrantDecided, map[string]any{"grant_id": fmt.Sprintf("RET-%d-%d", i, k), "country": "GE",
				"adults": 1 + r.IntN(2), "children": r.IntN(3), "removal_order_notified_on": cur.String(),
				"validated_on": cur.AddDays(5).String(), "increased_rate": r.IntN(2) == 0, "travel_document": r.IntN(2) == 0,
				"departure_date": cur.AddDays(20).String(), "payee": payee("Returnee "+ben, i+1)})
		}
		switch r.IntN(10) {
		case 0:
			decideReturn()
		case 1:
			decideReinsertion()
		default:
			next(payments.RightsOpened, map[string]any{"from": from(), "adults": 1 + r.IntN(3), "children": r.IntN(4),
				"accommodated": r.IntN(2) == 0, "territory": []string{"metropole", "guyane"}[r.IntN(5)/4], "payee": payee(ben, i)})
		}
		for range 8 + r.IntN(6) {
			switch x := r.IntN(100); {
			case x < 25:
				next(payments.HouseholdChanged, map[string]any{"from": from(), "adults": 1 + r.IntN(3), "children": r.IntN(5)})
			case x < 40:
				next(payments.AccommodationChanged, map[string]any{"from": from(), "accommodated": r.IntN(2) == 0})
			case x < 50:
				next(payments.Suspended, map[string]any{"from": from(), "reason": "missed appointment"})
			case x < 60:
				next(payments.Resumed, map[string]any{"from": from()})
			case x < 66:
				next(payments.PayeeChanged, map[string]any{"payee": payee(ben, i+k)})
			case x < 71:
				next(payments.RightsClosed, map[string]any{"last_day": from(), "reason": "final decision"})
			case x < 76:
				next(payments.RightsOpened, map[string]any{"from": from(), "adults": 1 + r.IntN(3), "children": r.IntN(4),
					"accommodated": r.IntN(2) == 0, "payee": payee(ben, i+k)})
			case x < 82:
				next(payments.OverpaymentEstablished, map[string]any{"overpayment_id": fmt.Sprintf("IND-%d-%d", i, k),
					"amount": fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)), "reason": "undeclared resources", "fraud": r.IntN(5) == 0})
			case x < 86:
				decideReinsertion()
			case x < 88:
				decideReturn()
			default:
				released := false
				for _, g := range grants {
					if ts := pending[g]; len(ts) > 0 {
						next(payments.TrancheReleased, map[string]any{"grant_id": g, "tranche_id": ts[0], "released_on": cur.String()})
						pending[g] = ts[1:]
						released = true
						break
					}
				}
				if !released {
					next(payments.HouseholdChanged, map[string]any{"from": from(), "adults": 1, "children": 0})
				}
			}
		}
		// Invalid in any order: a release of an unknown grant, an unknown
		// tranche, a value that is not JSON.
		if i%25 == 0 {
			add(fmt.Sprint("GHOST-", i), payments.TrancheReleased, map[string]any{"grant_id": fmt.Sprint("REI-GHOST-", i),
				"tranche_id": "T1", "released_on": cur.String()}, true)
			if len(grants) > 0 {
				add(ben, payments.TrancheReleased, map[string]any{"grant_id": grants[0], "tranche_id": "T9", "released_on": cur.String()}, true)
			}
			perBen[i] = append(perBen[i], gen{[]byte(`{"event_id": "` + ben), true})
		}
	}
	// Interleave the beneficiaries, each one's events in order.
	var out stream
	pos := make([]int, n)
	left := 0
	for _, evs := range perBen {
		left += len(evs)
	}
	live := make([]int, n)
	for i := range live {
		live[i] = i
	}
	for left > 0 {
		j := r.IntN(len(live))
		b := live[j]
		out.values = append(out.values, perBen[b][pos[b]].value)
		out.invalid = append(out.invalid, perBen[b][pos[b]].invalid)
		pos[b]++
		left--
		if pos[b] == len(perBen[b]) {
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		}
	}
	return out
}

// applyInBatches applies records in batches whose sizes size returns, and
// counts the outcomes.
func applyInBatches(t *testing.T, s *sqlstore.Store, recs []payments.Record, size func() int) map[payments.Outcome]int {
	t.Helper()
	total := map[payments.Outcome]int{}
	for len(recs) > 0 {
		n := min(size(), len(recs))
		for o, c := range outcomes(mustApply(t, s, recs[:n])) {
			total[o] += c
		}
		recs = recs[n:]
	}
	return total
}

// Redelivery changes nothing: the stream applied once, and the stream
// applied with every record delivered twice (the second copy anywhere
// after the first, at another offset, or at the same offset for an
// invalid record) in random batch sizes, leave the same state.
func TestRedeliveryLeavesTheSameState(t *testing.T) {
	const beneficiaries = 500
	st := generate(42, beneficiaries)
	n := len(st.values)
	if n < 5000 {
		t.Fatalf("generated %d events, want at least 5000", n)
	}
	invalid := st.invalidCount()
	t.Logf("%d records for %d beneficiaries, %d of them invalid", n, beneficiaries, invalid)

	first := records(0, st.values...)
	ref, refPool := mustOpen(t)
	got := applyInBatches(t, ref, first, func() int { return 700 })
	if got[payments.OutcomeDeadLetter] != invalid || got[payments.OutcomeApplied] != n-invalid || got[payments.OutcomeDuplicate] != 0 {
		t.Fatalf("reference outcomes %v, want %d applied and %d dead letters", got, n-invalid, invalid)
	}

	// Every record twice: the second copy anywhere after the first. A
	// valid one is published again (another partition and offset) or
	// redelivered (the same offset); an invalid one is redelivered, so
	// that it is kept once.
	r := rand.New(rand.NewPCG(7, 11))
	type placed struct {
		key float64
		rec payments.Record
	}
	all := make([]placed, 0, 2*n)
	for i, rec := range first {
		all = append(all, placed{float64(i), rec})
		dup := rec
		if !st.invalid[i] && r.IntN(3) != 0 {
			dup.Source = payments.Source{Topic: topic, Partition: 1 + r.IntN(5), Offset: int64(1_000_000 + i)}
		}
		all = append(all, placed{float64(i) + 0.5 + r.Float64()*float64(n-i), dup})
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].key < all[b].key })
	twice := make([]payments.Record, len(all))
	for i, p := range all {
		twice[i] = p.rec
	}

	s2, pool2 := mustOpen(t)
	got = applyInBatches(t, s2, twice, func() int { return 1 + r.IntN(1200) })
	valid := n - invalid
	if got[payments.OutcomeApplied] != valid || got[payments.OutcomeDuplicate] != valid || got[payments.OutcomeDeadLetter] != 2*invalid {
		t.Errorf("outcomes %v, want %d applied, %d duplicates, %d dead letters", got, valid, valid, 2*invalid)
	}

	want, have := dump(t, refPool), dump(t, pool2)
	for _, tbl := range tables {
		if len(want[tbl]) == 0 && tbl != "dead_letters" {
			t.Errorf("the stream wrote no %s: the generator misses a type", tbl)
		}
		if !reflect.DeepEqual(want[tbl], have[tbl]) {
			t.Errorf("%s: %d rows once, %d rows after redelivery, or different rows", tbl, len(want[tbl]), len(have[tbl]))
			for i := range min(len(want[tbl]), len(have[tbl])) {
				if want[tbl][i] != have[tbl][i] {
					t.Errorf("first difference:\n once:  %s\n twice: %s", want[tbl][i], have[tbl][i])
					break
				}
			}
		}
	}

	// Every beneficiary reads the same from both.
	for i := 0; i < beneficiaries; i += 7 {
		id := fmt.Sprintf("OFII-2026-%06d", i)
		a, err1 := ref.Days(t.Context(), id, ledger.NewDate(2026, 1, 1), ledger.NewDate(2027, 12, 31))
		b, err2 := s2.Days(t.Context(), id, ledger.NewDate(2026, 1, 1), ledger.NewDate(2027, 12, 31))
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("Days of %s differ: %v %v", id, err1, err2)
		}
		ba, err1 := ref.Beneficiary(t.Context(), id)
		bb, err2 := s2.Beneficiary(t.Context(), id)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ba, bb) {
			t.Errorf("timeline of %s differs: %v %v", id, err1, err2)
		}
	}
}
