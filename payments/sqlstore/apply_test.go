package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

const examples = "../../testdata/contracts/examples/"

func validExamples(t testing.TB) []payments.Record {
	var values [][]byte
	for _, l := range readLines(t, examples+"valid.jsonl") {
		values = append(values, []byte(l))
	}
	return records(100, values...)
}

// day is the Day expected on a date.
func day(s string, open, suspended bool, adults, children int, accommodated bool, territory string) payments.Day {
	return payments.Day{Date: date(s), RightsOpen: open, Suspended: suspended, Adults: adults, Children: children,
		Accommodated: accommodated, Territory: territory}
}

// checkDays compares Days on each of the wanted days.
func checkDays(t *testing.T, s *sqlstore.Store, id string, want ...payments.Day) {
	t.Helper()
	for _, w := range want {
		got, err := s.Days(context.Background(), id, w.Date, w.Date)
		if err != nil {
			t.Fatalf("Days(%s, %s): %v", id, w.Date, err)
		}
		if len(got) != 1 || got[0] != w {
			t.Errorf("Days(%s, %s) = %+v, want %+v", id, w.Date, got, w)
		}
	}
}

func TestApplyContractExamples(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	res := mustApply(t, s, validExamples(t))
	for i, r := range res {
		if r.Outcome != payments.OutcomeApplied || r.Error != "" || r.Type == "" {
			t.Errorf("record %d: %+v, want applied", i, r)
		}
	}
	got := counts(t, pool)
	want := map[string]int64{"beneficiaries": 3, "events": 12, "ada_facts": 7, "payees": 3, "return_grants": 1,
		"reinsertion_grants": 1, "reinsertion_tranches": 2, "overpayments": 1, "dead_letters": 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row counts = %v, want %v", got, want)
	}

	// OFII-2026-000123: opened on 2026-10-03 for one adult, a child from
	// 2026-11-15, rights closed after 2027-01-31.
	checkDays(t, s, "OFII-2026-000123",
		day("2026-10-02", false, false, 0, 0, false, ""),
		day("2026-10-03", true, false, 1, 0, false, "metropole"),
		day("2026-11-14", true, false, 1, 0, false, "metropole"),
		day("2026-11-15", true, false, 1, 1, false, "metropole"),
		day("2027-01-31", true, false, 1, 1, false, "metropole"),
		day("2027-02-01", false, false, 1, 1, false, "metropole"),
	)
	// OFII-2026-000200: housed until 2026-11-30, suspended from 2026-12-10
	// to 2026-12-19.
	checkDays(t, s, "OFII-2026-000200",
		day("2026-10-31", false, false, 0, 0, false, ""),
		day("2026-11-01", true, false, 2, 1, true, "metropole"),
		day("2026-11-30", true, false, 2, 1, true, "metropole"),
		day("2026-12-01", true, false, 2, 1, false, "metropole"),
		day("2026-12-09", true, false, 2, 1, false, "metropole"),
		day("2026-12-10", true, true, 2, 1, false, "metropole"),
		day("2026-12-19", true, true, 2, 1, false, "metropole"),
		day("2026-12-20", true, false, 2, 1, false, "metropole"),
	)
	// OFII-2026-000777 has grants and no ADA.
	checkDays(t, s, "OFII-2026-000777", day("2026-12-01", false, false, 0, 0, false, ""))

	days, err := s.Days(ctx, "OFII-2026-000200", date("2026-12-01"), date("2026-12-31"))
	if err != nil {
		t.Fatal(err)
	}
	covered := 0
	for _, d := range days {
		if d.Covered() {
			covered++
		}
	}
	if len(days) != 31 || covered != 21 {
		t.Errorf("December 2026 of OFII-2026-000200: %d days, %d covered; want 31 and 21", len(days), covered)
	}

	b, err := s.Beneficiary(ctx, "OFII-2026-000123")
	if err != nil {
		t.Fatal(err)
	}
	if b.Events != 4 || !b.FirstSeen.Equal(ts("2026-10-03T09:12:00Z")) {
		t.Errorf("events %d, first seen %s; want 4 and 2026-10-03T09:12:00Z", b.Events, b.FirstSeen)
	}
	wantRights := []payments.RightsPeriod{{From: date("2026-10-03"), LastDay: date("2027-01-31"), Reason: "final decision notified"}}
	wantHousehold := []payments.HouseholdSpan{{From: date("2026-10-03"), Adults: 1}, {From: date("2026-11-15"), Adults: 1, Children: 1}}
	wantAccommodation := []payments.AccommodationSpan{{From: date("2026-10-03")}}
	wantTerritory := []payments.TerritorySpan{{From: date("2026-10-03"), Territory: "metropole"}}
	if !reflect.DeepEqual(b.Rights, wantRights) || !reflect.DeepEqual(b.Household, wantHousehold) ||
		!reflect.DeepEqual(b.Accommodation, wantAccommodation) || !reflect.DeepEqual(b.Territory, wantTerritory) ||
		len(b.Suspensions) != 0 {
		t.Errorf("timeline of OFII-2026-000123:\n%+v\n%+v\n%+v\n%+v\n%+v", b.Rights, b.Household, b.Accommodation, b.Territory, b.Suspensions)
	}
	if len(b.Payees) != 2 || b.Payees[0].Payee.IBAN != "FR7630006000011234567890189" || b.Payees[1].Payee.IBAN != "FR7630004008230001073943676" ||
		!b.Payees[1].Since.Equal(ts("2026-12-01T08:00:00Z")) || b.Payees[0].Payee.BIC != "AGRIFRPP" {
		t.Errorf("payees = %+v", b.Payees)
	}

	b, err = s.Beneficiary(ctx, "OFII-2026-000200")
	if err != nil {
		t.Fatal(err)
	}
	wantSusp := []payments.SuspensionSpan{{From: date("2026-12-10"), Until: date("2026-12-20"), Reason: "missed appointment"}}
	wantAccommodation = []payments.AccommodationSpan{{From: date("2026-11-01"), Accommodated: true}, {From: date("2026-12-01")}}
	if !reflect.DeepEqual(b.Suspensions, wantSusp) || !reflect.DeepEqual(b.Accommodation, wantAccommodation) ||
		!reflect.DeepEqual(b.Rights, []payments.RightsPeriod{{From: date("2026-11-01")}}) {
		t.Errorf("timeline of OFII-2026-000200: %+v %+v %+v", b.Rights, b.Suspensions, b.Accommodation)
	}
	if len(b.Overpayments) != 1 || b.Overpayments[0].OverpaymentID != "IND-2026-0311" || !b.Overpayments[0].Amount.Equal(decimal.RequireFromString("136")) ||
		b.Overpayments[0].Reason != "undeclared resources" || b.Overpayments[0].Fraud || !b.Overpayments[0].EstablishedAt.Equal(ts("2026-12-15T08:00:00Z")) {
		t.Errorf("overpayments = %+v", b.Overpayments)
	}

	b, err = s.Beneficiary(ctx, "OFII-2026-000777")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.ReturnGrants) != 1 || b.ReturnGrants[0].GrantID != "RET-2026-0042" || b.ReturnGrants[0].Country != "GE" ||
		b.ReturnGrants[0].Children != 2 || !b.ReturnGrants[0].TravelDocument || b.ReturnGrants[0].DepartureDate != date("2026-11-20") ||
		b.ReturnGrants[0].Payee.IBAN != "FR1420041010050500013M02606" {
		t.Errorf("return grants = %+v", b.ReturnGrants)
	}
	if len(b.Reinsertion) != 1 {
		t.Fatalf("reinsertion = %+v", b.Reinsertion)
	}
	g := b.Reinsertion[0]
	if g.GrantID != "REI-2026-0007" || g.Level != payments.LevelBusinessCreation || !g.Amount.Equal(decimal.RequireFromString("4500")) ||
		len(g.Tranches) != 2 || len(g.Released) != 2 || g.BeneficiaryID != "OFII-2026-000777" ||
		g.Released[0].TrancheID != "T1" || g.Released[0].ReleasedOn != date("2026-12-02") || !g.Released[0].Amount.Equal(decimal.RequireFromString("2000")) ||
		g.Released[1].TrancheID != "T2" || !g.Released[1].ReleasedOn.IsZero() {
		t.Errorf("reinsertion grant = %+v", g)
	}
	if len(b.Rights) != 0 || len(b.Payees) != 0 {
		t.Errorf("a beneficiary with grants only has rights %v and payees %v", b.Rights, b.Payees)
	}

	// The ADA payee in force: the first until the change, then the new one.
	for _, c := range []struct{ at, iban string }{
		{"2026-10-03T09:12:00Z", "FR7630006000011234567890189"},
		{"2026-11-30T23:59:59Z", "FR7630006000011234567890189"},
		{"2026-12-01T08:00:00Z", "FR7630004008230001073943676"},
	} {
		p, err := s.PayeeAt(ctx, "OFII-2026-000123", ts(c.at))
		if err != nil || p.IBAN != c.iban {
			t.Errorf("PayeeAt(%s) = %+v, %v; want %s", c.at, p, err, c.iban)
		}
	}
	if _, err := s.PayeeAt(ctx, "OFII-2026-000123", ts("2026-10-03T09:11:59Z")); !errs.Is(err, errs.NotFound) {
		t.Errorf("payee before the opening: %v, want not found", err)
	}
	if _, err := s.PayeeAt(ctx, "OFII-2026-000777", ts("2027-01-01T00:00:00Z")); !errs.Is(err, errs.NotFound) {
		t.Errorf("a grant's payee is not an ADA payee: %v", err)
	}
	for _, f := range []func() error{
		func() error { _, err := s.Beneficiary(ctx, "OFII-2099-000001"); return err },
		func() error {
			_, err := s.Days(ctx, "OFII-2099-000001", date("2026-01-01"), date("2026-01-02"))
			return err
		},
		func() error { _, err := s.PayeeAt(ctx, "OFII-2099-000001", time.Now()); return err },
	} {
		if err := f(); !errs.Is(err, errs.NotFound) {
			t.Errorf("unknown beneficiary: %v, want not found", err)
		}
	}
	if _, err := s.Days(ctx, "OFII-2026-000123", date("2026-02-01"), date("2026-01-01")); !errs.Is(err, errs.Invalid) {
		t.Errorf("Days with to before from: %v", err)
	}
	if _, err := s.Days(ctx, "OFII-2026-000123", date("2000-01-01"), date("2026-01-01")); !errs.Is(err, errs.Invalid) {
		t.Errorf("Days over 26 years: %v", err)
	}
}

// Every invalid example becomes a dead letter naming its problem, and
// nothing of it is applied.
func TestApplyInvalidExamples(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	mustApply(t, s, validExamples(t))
	before := counts(t, pool)

	wantField := map[string]string{
		"not JSON":                                         "body: ",
		"unknown type":                                     "type: ",
		"schema_version 2 is not supported":                "schema_version: ",
		"missing event_id":                                 "event_id: ",
		"data.from is not a real date":                     "data.from: ",
		"data.adults must be at least 1":                   "data.adults: ",
		"data.children is negative":                        "data.children: ",
		"data.payee.iban fails its check digits":           "data.payee.iban: ",
		"beneficiary_id has forbidden characters":          "beneficiary_id: ",
		"amount has three decimals":                        "data.amount: ",
		"reinsertion tranches do not add up to the amount": "data.tranches: ",
		"return aid refused for an EU national":            "data.country: ",
		"tranche released for an unknown grant":            "data.grant_id: REI-2099-0404 is not a known reinsertion grant",
	}
	var whys []string
	var values [][]byte
	for _, l := range readLines(t, examples+"invalid.jsonl") {
		var x struct{ Why, Value string }
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatal(err)
		}
		whys, values = append(whys, x.Why), append(values, []byte(x.Value))
	}
	recs := records(500, values...)
	res := mustApply(t, s, recs)
	for i, r := range res {
		want, ok := wantField[whys[i]]
		if !ok {
			t.Errorf("no expectation for %q", whys[i])
		}
		if r.Outcome != payments.OutcomeDeadLetter || !strings.HasPrefix(r.Error, want) {
			t.Errorf("%s: %+v, want a dead letter starting %q", whys[i], r, want)
		}
	}
	after := counts(t, pool)
	for _, tbl := range tables {
		want := before[tbl]
		if tbl == "dead_letters" {
			want += int64(len(recs))
		}
		if after[tbl] != want {
			t.Errorf("%s: %d rows, want %d", tbl, after[tbl], want)
		}
	}

	// Redelivered at the same offsets, they are not kept twice.
	mustApply(t, s, recs)
	if n := counts(t, pool)["dead_letters"]; n != int64(len(recs)) {
		t.Errorf("%d dead letters after redelivery, want %d", n, len(recs))
	}

	// Staff find them, newest first, by beneficiary or type, a page at a
	// time; every one keeps its original value.
	all, next, err := s.DeadLetters(ctx, payments.DeadLetterQuery{})
	if err != nil || next != "" || len(all) != len(recs) {
		t.Fatalf("DeadLetters: %d, %q, %v", len(all), next, err)
	}
	for _, d := range all {
		i := int(d.Source.Offset - 500)
		if d.Source.Topic != topic || string(d.Value) != string(values[i]) || d.Error != res[i].Error || d.ID != sqlstore.DeadLetterID(d.Source) {
			t.Errorf("dead letter %+v does not match record %d", d, i)
		}
	}
	got, _, err := s.DeadLetters(ctx, payments.DeadLetterQuery{Beneficiary: "OFII-2099-999999"})
	if err != nil || len(got) != 1 || got[0].Error != "data.grant_id: REI-2099-0404 is not a known reinsertion grant" ||
		got[0].Type != "reinsertion.tranche_released" || got[0].EventID == nil || got[0].EventID.String() != "9b7e4a21-3c5d-5f60-8a1b-2c3d4e5f6a7b" {
		t.Errorf("dead letters of OFII-2099-999999: %+v, %v", got, err)
	}
	got, _, err = s.DeadLetters(ctx, payments.DeadLetterQuery{Type: "ada.rights_opened"})
	if err != nil || len(got) != 7 {
		t.Errorf("rights_opened dead letters: %d, %v; want 7", len(got), err)
	}
	var paged []payments.DeadLetter
	cursor := ""
	for range 20 {
		page, next, err := s.DeadLetters(ctx, payments.DeadLetterQuery{Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(ids(paged), ids(all)) {
		t.Errorf("pages give %v, want %v", ids(paged), ids(all))
	}
	if got, _, err := s.DeadLetters(ctx, payments.DeadLetterQuery{Since: time.Now().Add(time.Hour)}); err != nil || len(got) != 0 {
		t.Errorf("dead letters received in the future: %d, %v", len(got), err)
	}
	if _, _, err := s.DeadLetters(ctx, payments.DeadLetterQuery{Cursor: "nonsense"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("bad cursor: %v", err)
	}

	// The outbox: all unpublished, oldest first, until marked.
	un, err := s.UnpublishedDeadLetters(ctx, 0)
	if err != nil || len(un) != len(recs) {
		t.Fatalf("unpublished: %d, %v", len(un), err)
	}
	if err := s.MarkDeadLettersPublished(ctx, ids(un[:5])); err != nil {
		t.Fatal(err)
	}
	un2, err := s.UnpublishedDeadLetters(ctx, 100)
	if err != nil || len(un2) != len(recs)-5 {
		t.Fatalf("unpublished after marking 5: %d, %v", len(un2), err)
	}
	all, _, _ = s.DeadLetters(ctx, payments.DeadLetterQuery{})
	published := 0
	for _, d := range all {
		if d.PublishedAt != nil {
			published++
		}
	}
	if published != 5 {
		t.Errorf("%d dead letters published, want 5", published)
	}
}

func ids(ds []payments.DeadLetter) []uuid.UUID {
	out := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// References are checked against the database and against what the batch
// applied before.
func TestApplyReferences(t *testing.T) {
	s, pool := mustOpen(t)
	at := ts("2026-11-01T10:00:00Z")
	rei := func(name, ben, grant string) []byte {
		return event(eid(name), payments.ReinsertionDecided, ben, at, map[string]any{"grant_id": grant, "level": "social",
			"amount": "400.00", "tranches": []any{map[string]any{"tranche_id": "T1", "amount": "100.00"},
				map[string]any{"tranche_id": "T2", "amount": "300.00"}}, "payee": payee("Operator", 3)})
	}
	release := func(name, ben, grant, tranche string) []byte {
		return event(eid(name), payments.TrancheReleased, ben, at.Add(time.Hour),
			map[string]any{"grant_id": grant, "tranche_id": tranche, "released_on": "2026-11-02"})
	}
	over := func(name, ben, id string) []byte {
		return event(eid(name), payments.OverpaymentEstablished, ben, at, map[string]any{"overpayment_id": id, "amount": "10.00"})
	}
	susp := event(eid("susp-B"), payments.Suspended, "B", at.Add(time.Hour), map[string]any{"from": "2026-11-05"})
	first := mustApply(t, s, records(0,
		susp, // B unknown yet: kept until its opening arrives
		event(eid("open-A"), payments.RightsOpened, "A", at, opened("2026-11-01", 1, 0, false)),
		event(eid("hh-A"), payments.HouseholdChanged, "A", at.Add(time.Hour), map[string]any{"from": "2026-11-10", "adults": 2, "children": 0}),
		rei("rei-A", "A", "REI-1"),
		release("rel-A-T1", "A", "REI-1", "T1"), // grant decided earlier in the batch
		release("rel-A-T1-again", "A", "REI-1", "T1"),
		release("rel-A-T9", "A", "REI-1", "T9"),
		release("rel-A-X", "A", "REI-404", "T1"),
		rei("rei-B", "B", "REI-1"), // creates B, but the grant id is taken
		over("over-A", "A", "IND-1"),
		over("over-A2", "A", "IND-1"),
		susp, // the same event again
	))
	want := []struct {
		outcome payments.Outcome
		error   string
	}{
		{payments.OutcomeApplied, ""},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeDeadLetter, "data.tranche_id: T1 of grant REI-1 was already released on 2026-11-02"},
		{payments.OutcomeDeadLetter, "data.tranche_id: T9 is not a tranche of grant REI-1"},
		{payments.OutcomeDeadLetter, "data.grant_id: REI-404 is not a known reinsertion grant"},
		{payments.OutcomeDeadLetter, "data.grant_id: REI-1 was already decided by another event"},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeDeadLetter, "data.overpayment_id: IND-1 was already established by another event"},
		{payments.OutcomeDuplicate, ""},
	}
	for i, w := range want {
		if first[i].Outcome != w.outcome || first[i].Error != w.error {
			t.Errorf("record %d: %+v, want %s %q", i, first[i], w.outcome, w.error)
		}
	}
	// The same checks against the database, in a later batch; B's
	// suspension, kept before its opening, is a duplicate now, and takes
	// effect with the opening.
	second := mustApply(t, s, records(100,
		event(eid("open-B"), payments.RightsOpened, "B", at, opened("2026-11-01", 1, 0, false)),
		susp,
		release("rel-A-T1-again", "A", "REI-1", "T1"),
		release("rel-B-T2", "B", "REI-1", "T2"),
		release("rel-A-T2", "A", "REI-1", "T2"),
		over("over-A2", "A", "IND-1"),
		rei("rei-A", "A", "REI-1"),
	))
	wantSecond := []struct {
		outcome payments.Outcome
		error   string
	}{
		{payments.OutcomeApplied, ""},
		{payments.OutcomeDuplicate, ""},
		{payments.OutcomeDeadLetter, "data.tranche_id: T1 of grant REI-1 was already released on 2026-11-02"},
		{payments.OutcomeDeadLetter, "data.grant_id: REI-1 is a grant of another beneficiary"},
		{payments.OutcomeApplied, ""},
		{payments.OutcomeDeadLetter, "data.overpayment_id: IND-1 was already established by another event"},
		{payments.OutcomeDuplicate, ""},
	}
	for i, w := range wantSecond {
		if second[i].Outcome != w.outcome || second[i].Error != w.error {
			t.Errorf("second batch, record %d: %+v, want %s %q", i, second[i], w.outcome, w.error)
		}
	}
	checkDays(t, s, "B", day("2026-11-05", true, true, 1, 0, false, "metropole"))
	b, err := s.Beneficiary(context.Background(), "A")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Reinsertion) != 1 || b.Reinsertion[0].Released[0].ReleasedOn != date("2026-11-02") || b.Reinsertion[0].Released[1].ReleasedOn != date("2026-11-02") {
		t.Errorf("reinsertion of A: %+v", b.Reinsertion)
	}
	if c := counts(t, pool); c["events"] != 8 || c["dead_letters"] != 8 {
		t.Errorf("counts = %v, want 8 events and 8 dead letters", c)
	}
}

// Applying a batch again changes nothing: every record is a duplicate.
func TestApplyTwiceIsIdempotent(t *testing.T) {
	s, pool := mustOpen(t)
	recs := validExamples(t)
	mustApply(t, s, recs)
	before := dump(t, pool)
	res := mustApply(t, s, recs)
	if o := outcomes(res); o[payments.OutcomeDuplicate] != len(recs) {
		t.Errorf("second apply: %v, want %d duplicates", o, len(recs))
	}
	for i := range res {
		if res[i].Type == "" {
			t.Errorf("duplicate %d has no type", i)
		}
	}
	// The same events delivered again at other offsets, twice in one batch.
	again := append(records(1000, valuesOf(recs)...), records(2000, valuesOf(recs)...)...)
	if o := outcomes(mustApply(t, s, again)); o[payments.OutcomeDuplicate] != len(again) {
		t.Errorf("redelivery: %v", o)
	}
	if after := dump(t, pool); !reflect.DeepEqual(before, after) {
		t.Errorf("state changed by duplicates")
	}
}

func valuesOf(recs []payments.Record) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	return out
}

// An event effective in the past changes what applied on past days.
func TestRetroactiveHouseholdChange(t *testing.T) {
	s, _ := mustOpen(t)
	mustApply(t, s, records(0, event(eid("o"), payments.RightsOpened, "R", ts("2026-10-01T09:00:00Z"), opened("2026-10-01", 1, 0, false))))
	checkDays(t, s, "R", day("2026-10-20", true, false, 1, 0, false, "metropole"))
	// Recorded in November, effective from 2026-10-10.
	mustApply(t, s, records(1, event(eid("h"), payments.HouseholdChanged, "R", ts("2026-11-03T09:00:00Z"),
		map[string]any{"from": "2026-10-10", "adults": 2, "children": 3})))
	checkDays(t, s, "R",
		day("2026-10-09", true, false, 1, 0, false, "metropole"),
		day("2026-10-10", true, false, 2, 3, false, "metropole"),
		day("2026-10-20", true, false, 2, 3, false, "metropole"))
	// A suspension decided later, for days already passed, and a closure
	// recorded before a reopening it precedes.
	mustApply(t, s, records(2,
		event(eid("s"), payments.Suspended, "R", ts("2026-11-04T09:00:00Z"), map[string]any{"from": "2026-10-15"}),
		event(eid("r"), payments.Resumed, "R", ts("2026-11-04T09:01:00Z"), map[string]any{"from": "2026-10-18"}),
		event(eid("o2"), payments.RightsOpened, "R", ts("2026-12-01T09:00:00Z"), opened("2026-12-10", 1, 1, true)),
		event(eid("c"), payments.RightsClosed, "R", ts("2026-12-02T09:00:00Z"), map[string]any{"last_day": "2026-11-30"}),
	))
	checkDays(t, s, "R",
		day("2026-10-14", true, false, 2, 3, false, "metropole"),
		day("2026-10-15", true, true, 2, 3, false, "metropole"),
		day("2026-10-17", true, true, 2, 3, false, "metropole"),
		day("2026-10-18", true, false, 2, 3, false, "metropole"),
		day("2026-11-30", true, false, 2, 3, false, "metropole"),
		day("2026-12-01", false, false, 2, 3, false, "metropole"),
		day("2026-12-10", true, false, 1, 1, true, "metropole"))
	b, err := s.Beneficiary(context.Background(), "R")
	if err != nil {
		t.Fatal(err)
	}
	wantRights := []payments.RightsPeriod{{From: date("2026-10-01"), LastDay: date("2026-11-30")}, {From: date("2026-12-10")}}
	wantSusp := []payments.SuspensionSpan{{From: date("2026-10-15"), Until: date("2026-10-18")}}
	wantHH := []payments.HouseholdSpan{{From: date("2026-10-01"), Adults: 1}, {From: date("2026-10-10"), Adults: 2, Children: 3},
		{From: date("2026-12-10"), Adults: 1, Children: 1}}
	if !reflect.DeepEqual(b.Rights, wantRights) || !reflect.DeepEqual(b.Suspensions, wantSusp) || !reflect.DeepEqual(b.Household, wantHH) {
		t.Errorf("timeline: %+v %+v %+v", b.Rights, b.Suspensions, b.Household)
	}
}

// Two facts of one kind taking effect on the same day give the same Day
// whichever arrives first: the later occurred_at wins, then the larger
// event id.
func TestSameDayFactsAreOrderIndependent(t *testing.T) {
	open := event(eid("open"), payments.RightsOpened, "S", ts("2026-10-01T09:00:00Z"), opened("2026-10-01", 1, 0, false))
	early := event(eid("early"), payments.HouseholdChanged, "S", ts("2026-10-20T09:00:00Z"), map[string]any{"from": "2026-11-01", "adults": 2, "children": 0})
	late := event(eid("late"), payments.HouseholdChanged, "S", ts("2026-10-21T09:00:00Z"), map[string]any{"from": "2026-11-01", "adults": 1, "children": 4})
	// Same instant: the larger event id wins.
	a, bID := eid("tie-a"), eid("tie-b")
	if strings.Compare(a.String(), bID.String()) > 0 {
		a, bID = bID, a
	}
	tieSmall := event(a, payments.AccommodationChanged, "S", ts("2026-10-22T09:00:00Z"), map[string]any{"from": "2026-11-01", "accommodated": false})
	tieLarge := event(bID, payments.AccommodationChanged, "S", ts("2026-10-22T09:00:00Z"), map[string]any{"from": "2026-11-01", "accommodated": true})
	// A suspension and a resumption on the same day: the later decision wins.
	susp := event(eid("susp"), payments.Suspended, "S", ts("2026-10-23T09:00:00Z"), map[string]any{"from": "2026-11-05"})
	res := event(eid("res"), payments.Resumed, "S", ts("2026-10-24T09:00:00Z"), map[string]any{"from": "2026-11-05"})
	want := []payments.Day{
		day("2026-10-31", true, false, 1, 0, false, "metropole"),
		day("2026-11-01", true, false, 1, 4, true, "metropole"),
		day("2026-11-05", true, false, 1, 4, true, "metropole"),
	}
	var dumps []map[string][]string
	for _, order := range [][][]byte{{open, early, late, tieSmall, tieLarge, susp, res}, {open, res, tieLarge, late, susp, tieSmall, early}} {
		s, pool := mustOpen(t)
		// One event per batch, to leave no doubt about the order.
		for i, v := range order {
			mustApply(t, s, records(int64(i), v))
		}
		checkDays(t, s, "S", want...)
		dumps = append(dumps, dump(t, pool))
	}
	if !reflect.DeepEqual(dumps[0]["ada_facts"], dumps[1]["ada_facts"]) {
		t.Errorf("facts differ by order")
	}
}

// Records the store cannot hold become dead letters rather than failing
// the batch.
func TestUnstorableValuesAreDeadLetters(t *testing.T) {
	s, pool := mustOpen(t)
	base := string(event(eid("nul"), payments.RightsOpened, "N", ts("2026-10-01T09:00:00Z"), opened("2026-10-01", 1, 0, false)))
	withExtra := func(id, extra string) []byte {
		v := strings.Replace(base, eid("nul").String(), eid(id).String(), 1)
		return []byte(strings.Replace(v, `{"beneficiary_id"`, `{"note": `+extra+`, "beneficiary_id"`, 1))
	}
	recs := records(0,
		withExtra("a", `"a\u0000b"`),
		withExtra("b", `"\ud800"`),
		withExtra("c", `1e999999`),
		withExtra("d", `"\ud83d\ude00 \\u0000 fine"`),
		[]byte("\xff\xfe"),
	)
	res := mustApply(t, s, recs)
	for i, want := range []payments.Outcome{payments.OutcomeDeadLetter, payments.OutcomeDeadLetter, payments.OutcomeDeadLetter,
		payments.OutcomeApplied, payments.OutcomeDeadLetter} {
		if res[i].Outcome != want {
			t.Errorf("record %d: %+v, want %s", i, res[i], want)
		}
	}
	if c := counts(t, pool); c["events"] != 1 || c["dead_letters"] != 4 {
		t.Errorf("counts: %v", c)
	}
}

// The consumer's last resort keeps a record once per source, whatever it
// holds.
func TestRecordDeadLetter(t *testing.T) {
	s, pool := mustOpen(t)
	ctx := context.Background()
	r := payments.Record{Source: payments.Source{Topic: topic, Partition: 3, Offset: 77}, Key: []byte("OFII-1"), Value: []byte("\x00\xff{")}
	for range 2 {
		if err := s.RecordDeadLetter(ctx, r, "kept failing: timeout"); err != nil {
			t.Fatal(err)
		}
	}
	if n := counts(t, pool)["dead_letters"]; n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	un, err := s.UnpublishedDeadLetters(ctx, 10)
	if err != nil || len(un) != 1 {
		t.Fatalf("unpublished: %v, %v", un, err)
	}
	d := un[0]
	if d.Key != "OFII-1" || string(d.Value) != string(r.Value) || d.Error != "kept failing: timeout" || d.Source != r.Source {
		t.Errorf("dead letter = %+v", d)
	}
	if err := s.MarkDeadLettersPublished(ctx, []uuid.UUID{d.ID, uuid.New()}); err != nil {
		t.Fatal(err)
	}
	if un, _ := s.UnpublishedDeadLetters(ctx, 10); len(un) != 0 {
		t.Errorf("still unpublished: %v", un)
	}
	if _, err := s.UnpublishedDeadLetters(ctx, -1); !errs.Is(err, errs.Invalid) {
		t.Errorf("negative limit: %v", err)
	}
}

// Two consumers applying the same batch at once: each event is applied
// exactly once, and the loser sees duplicates.
func TestConcurrentApplyOfTheSameEvents(t *testing.T) {
	s, pool := mustOpen(t)
	var values [][]byte
	for i := range 200 {
		ben := fmt.Sprintf("C-%d", i%50)
		at := ts("2026-10-01T09:00:00Z").Add(time.Duration(i) * time.Minute)
		if i < 50 {
			values = append(values, event(eid(fmt.Sprint("c", i)), payments.RightsOpened, ben, at, opened("2026-10-01", 1, 0, false)))
		} else {
			values = append(values, event(eid(fmt.Sprint("c", i)), payments.HouseholdChanged, ben, at,
				map[string]any{"from": ledger.NewDate(2026, 10, 1).AddDays(i).String(), "adults": 1 + i%3, "children": i % 4}))
		}
	}
	var wg sync.WaitGroup
	results := make([][]payments.Result, 4)
	for w := range results {
		wg.Go(func() {
			res, err := s.Apply(context.Background(), records(int64(w*1000), values...))
			if err != nil {
				t.Error(err)
			}
			results[w] = res
		})
	}
	wg.Wait()
	applied := 0
	for _, res := range results {
		applied += outcomes(res)[payments.OutcomeApplied]
	}
	if applied != len(values) {
		t.Errorf("%d applied in all, want %d", applied, len(values))
	}
	if c := counts(t, pool); c["events"] != 200 || c["ada_facts"] != 200 || c["beneficiaries"] != 50 {
		t.Errorf("counts: %v", c)
	}
}
