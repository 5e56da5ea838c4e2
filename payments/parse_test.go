package payments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

const contractExamplesDir = "../testdata/contracts/examples/"

// readLines returns the non-blank lines of a JSON Lines file.
func readExampleLines(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(contractExamplesDir + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			lines = append(lines, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatalf("%s has no lines", name)
	}
	return lines
}

// invalidExample is a line of invalid.jsonl.
type invalidExample struct {
	Why   string `json:"why"`
	Value string `json:"value"`
}

func readInvalidExamples(t testing.TB) []invalidExample {
	t.Helper()
	var out []invalidExample
	for i, line := range readExampleLines(t, "invalid.jsonl") {
		var ex invalidExample
		if err := json.Unmarshal(line, &ex); err != nil {
			t.Fatalf("invalid.jsonl line %d: %v", i+1, err)
		}
		out = append(out, ex)
	}
	return out
}

// dataSet returns the typed data fields of ev that are set.
func dataFieldsSet(ev Event) []string {
	var set []string
	for name, isSet := range map[string]bool{
		"RightsOpened": ev.RightsOpened != nil, "Household": ev.Household != nil,
		"Accommodation": ev.Accommodation != nil, "Suspension": ev.Suspension != nil,
		"RightsClosed": ev.RightsClosed != nil, "Payee": ev.Payee != nil,
		"ReturnGrant": ev.ReturnGrant != nil, "Reinsertion": ev.Reinsertion != nil,
		"Tranche": ev.Tranche != nil, "Overpayment": ev.Overpayment != nil,
	} {
		if isSet {
			set = append(set, name)
		}
	}
	return set
}

// dataFieldOf is the typed data field each event type sets.
var dataFieldOf = map[EventType]string{
	RightsOpened: "RightsOpened", HouseholdChanged: "Household", AccommodationChanged: "Accommodation",
	Suspended: "Suspension", Resumed: "Suspension", RightsClosed: "RightsClosed", PayeeChanged: "Payee",
	ReturnGrantDecided: "ReturnGrant", ReinsertionDecided: "Reinsertion", TrancheReleased: "Tranche",
	OverpaymentEstablished: "Overpayment",
}

// checkParsed checks what holds of every parsed event.
func checkParsedEvent(t testing.TB, ev Event) {
	t.Helper()
	if ev.ID == uuid.Nil || ev.SchemaVersion != SchemaVersion || ev.BeneficiaryID == "" || ev.OccurredAt.IsZero() {
		t.Errorf("envelope not filled: %+v", ev)
	}
	if set := dataFieldsSet(ev); len(set) != 1 || set[0] != dataFieldOf[ev.Type] {
		t.Errorf("type %s sets %v, want only %s", ev.Type, set, dataFieldOf[ev.Type])
	}
}

// asInvalid returns err as an *errs.Error of code Invalid with a field.
func asInvalidError(t testing.TB, err error) *errs.Error {
	t.Helper()
	e, ok := err.(*errs.Error)
	if !ok {
		t.Fatalf("error %v is a %T, not an *errs.Error", err, err)
	}
	if e.Code != errs.Invalid || e.Field == "" || e.Message == "" {
		t.Fatalf("error %#v: want code invalid, a field and a message", e)
	}
	return e
}

func mustDate(s string) ledger.Date {
	d, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseValidExamples(t *testing.T) {
	byType := map[EventType][]Event{}
	for i, line := range readExampleLines(t, "valid.jsonl") {
		ev, err := ParseEvent(line)
		if err != nil {
			t.Errorf("valid.jsonl line %d: %v", i+1, err)
			continue
		}
		checkParsedEvent(t, ev)
		byType[ev.Type] = append(byType[ev.Type], ev)
	}
	for _, typ := range EventTypes {
		if len(byType[typ]) == 0 {
			t.Errorf("valid.jsonl has no %s event", typ)
		}
	}
	if t.Failed() {
		return
	}

	first := byType[RightsOpened][0]
	if first.ID != uuid.MustParse("ed3c098d-ea03-5ba3-af5d-12357e24c380") || first.BeneficiaryID != "OFII-2026-000123" ||
		!first.OccurredAt.Equal(time.Date(2026, 10, 3, 9, 12, 0, 0, time.UTC)) {
		t.Errorf("envelope: %+v", first)
	}
	want := RightsOpenedData{From: mustDate("2026-10-03"), Adults: 1, Children: 0, Accommodated: false, Territory: "metropole",
		Payee: Payee{Name: "Amina Diallo", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"}}
	if *first.RightsOpened != want {
		t.Errorf("rights opened: %+v, want %+v", *first.RightsOpened, want)
	}
	want = RightsOpenedData{From: mustDate("2026-11-01"), Adults: 2, Children: 1, Accommodated: true, Territory: DefaultTerritory,
		Payee: Payee{Name: "Ahmad Rahimi", IBAN: "FR7610107001010001234567883"}}
	if got := *byType[RightsOpened][1].RightsOpened; got != want {
		t.Errorf("rights opened without territory: %+v, want %+v", got, want)
	}
	if got := *byType[HouseholdChanged][0].Household; got != (HouseholdData{From: mustDate("2026-11-15"), Adults: 1, Children: 1}) {
		t.Errorf("household: %+v", got)
	}
	if got := *byType[AccommodationChanged][0].Accommodation; got != (AccommodationData{From: mustDate("2026-12-01")}) {
		t.Errorf("accommodation: %+v", got)
	}
	if got := *byType[Suspended][0].Suspension; got != (SuspensionData{From: mustDate("2026-12-10"), Reason: "missed appointment"}) {
		t.Errorf("suspension: %+v", got)
	}
	if got := *byType[Resumed][0].Suspension; got != (SuspensionData{From: mustDate("2026-12-20")}) {
		t.Errorf("resumption: %+v", got)
	}
	if got := *byType[RightsClosed][0].RightsClosed; got != (RightsClosedData{LastDay: mustDate("2027-01-31"), Reason: "final decision notified"}) {
		t.Errorf("rights closed: %+v", got)
	}
	if got := *byType[PayeeChanged][0].Payee; got != (Payee{Name: "Amina Diallo", IBAN: "FR7630004008230001073943676"}) {
		t.Errorf("payee: %+v", got)
	}

	o := byType[OverpaymentEstablished][0].Overpayment
	if o.OverpaymentID != "IND-2026-0311" || o.Amount.StringFixed(2) != "136.00" || !o.Amount.Equal(decimal.NewFromInt(136)) ||
		o.Reason != "undeclared resources" || o.Fraud {
		t.Errorf("overpayment: %+v", *o)
	}

	r := byType[ReturnGrantDecided][0].ReturnGrant
	wantReturn := ReturnGrant{GrantID: "RET-2026-0042", Country: "GE", Adults: 1, Children: 2,
		RemovalOrderNotifiedOn: mustDate("2026-10-20"), ValidatedOn: mustDate("2026-11-05"), IncreasedRate: false,
		TravelDocument: true, Scheme: "standard", DepartureDate: mustDate("2026-11-20"),
		Payee: Payee{Name: "Giorgi Beridze", IBAN: "FR1420041010050500013M02606"}}
	if *r != wantReturn {
		t.Errorf("return grant: %+v, want %+v", *r, wantReturn)
	}

	g := byType[ReinsertionDecided][0].Reinsertion
	if g.GrantID != "REI-2026-0007" || g.Level != LevelBusinessCreation || g.Amount.StringFixed(2) != "4500.00" ||
		g.Adults != 0 || g.Children != 0 || g.Payee.IBAN != "FR1420041010050500013M02606" || len(g.Tranches) != 2 ||
		g.Tranches[0].TrancheID != "T1" || g.Tranches[0].Amount.StringFixed(2) != "2000.00" ||
		g.Tranches[1].TrancheID != "T2" || g.Tranches[1].Amount.StringFixed(2) != "2500.00" {
		t.Errorf("reinsertion: %+v", *g)
	}
	if got := *byType[TrancheReleased][0].Tranche; got != (TrancheRelease{GrantID: "REI-2026-0007", TrancheID: "T1", ReleasedOn: mustDate("2026-12-02")}) {
		t.Errorf("tranche release: %+v", got)
	}
}

// invalidExampleWants is the error each line of invalid.jsonl must give, by its
// why: the field, and words the message must hold. An empty field means the
// line is valid in shape and must parse.
var invalidExampleWants = map[string]struct{ field, msg string }{
	"not JSON":                                         {"body", "is not valid JSON"},
	"unknown type":                                     {"type", `"ada.teleported" is not a known event type`},
	"schema_version 2 is not supported":                {"schema_version", "2 is not supported (this service reads 1)"},
	"missing event_id":                                 {"event_id", "is required"},
	"data.from is not a real date":                     {"data.from", "2026-02-30 is not a date"},
	"data.adults must be at least 1":                   {"data.adults", "must be at least 1, got 0"},
	"data.children is negative":                        {"data.children", "must not be negative, got -1"},
	"data.payee.iban fails its check digits":           {"data.payee.iban", "check digits do not match"},
	"beneficiary_id has forbidden characters":          {"beneficiary_id", `"OFII 2026/000123" has characters other than letters, digits, '-' and '_'`},
	"amount has three decimals":                        {"data.amount", `"10.005" has more than two decimals`},
	"reinsertion tranches do not add up to the amount": {"data.tranches", "add up to 300.00, not the decided 400.00"},
	"return aid refused for an EU national":            {"data.country", "nationals of DE (EU) are not eligible for return aid"},
	"tranche released for an unknown grant":            {}, // the store's check, not the parser's
}

func TestParseInvalidExamples(t *testing.T) {
	for _, ex := range readInvalidExamples(t) {
		want, ok := invalidExampleWants[ex.Why]
		if !ok {
			t.Errorf("invalid.jsonl: no expected error for %q: add it to invalidExampleWants", ex.Why)
			continue
		}
		ev, err := ParseEvent([]byte(ex.Value))
		if want.field == "" {
			if err != nil {
				t.Errorf("%s: %v, want it to parse", ex.Why, err)
			} else {
				checkParsedEvent(t, ev)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: parsed, want an error on %s", ex.Why, want.field)
			continue
		}
		e := asInvalidError(t, err)
		if e.Field != want.field || !strings.Contains(e.Message, want.msg) {
			t.Errorf("%s: %q, want %s: …%s…", ex.Why, err, want.field, want.msg)
		}
	}
}

// A jdoc is a JSON document being built for a test case.
type jdoc = map[string]any

// base returns a valid event of type typ, its data given.
func eventDoc(typ EventType, data jdoc) jdoc {
	return jdoc{
		"event_id":       "0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10",
		"type":           string(typ),
		"schema_version": 1,
		"occurred_at":    "2026-10-03T09:12:00Z",
		"beneficiary_id": "OFII-2026-000123",
		"data":           data,
	}
}

func payeeDoc() jdoc {
	return jdoc{"name": "Amina Diallo", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"}
}

// The valid events of each type that the cases below change.
func rightsOpenedDoc() jdoc {
	return eventDoc(RightsOpened, jdoc{"from": "2026-10-03", "adults": 2, "children": 1, "accommodated": false,
		"territory": "metropole", "payee": payeeDoc()})
}
func householdChangedDoc() jdoc {
	return eventDoc(HouseholdChanged, jdoc{"from": "2026-11-15", "adults": 2, "children": 2})
}
func accommodationChangedDoc() jdoc {
	return eventDoc(AccommodationChanged, jdoc{"from": "2026-11-20", "accommodated": true})
}
func suspendedDoc() jdoc {
	return eventDoc(Suspended, jdoc{"from": "2026-12-01", "reason": "refused accommodation offer"})
}
func resumedDoc() jdoc { return eventDoc(Resumed, jdoc{"from": "2026-12-20"}) }
func rightsClosedDoc() jdoc {
	return eventDoc(RightsClosed, jdoc{"last_day": "2027-01-31", "reason": "final decision notified"})
}
func payeeChangedDoc() jdoc { return eventDoc(PayeeChanged, jdoc{"payee": payeeDoc()}) }
func returnGrantDoc() jdoc {
	return eventDoc(ReturnGrantDecided, jdoc{"grant_id": "RET-2026-0042", "country": "GE", "adults": 1, "children": 2,
		"removal_order_notified_on": "2026-10-20", "validated_on": "2026-11-05", "increased_rate": false,
		"travel_document": true, "departure_date": "2026-11-20", "payee": payeeDoc()})
}
func reinsertionDoc(level string, amount string, tranches ...string) jdoc {
	var ts []any
	for i, a := range tranches {
		ts = append(ts, jdoc{"tranche_id": "T" + strconv.Itoa(i+1), "amount": a})
	}
	return eventDoc(ReinsertionDecided, jdoc{"grant_id": "REI-2026-0007", "level": level, "amount": amount,
		"tranches": ts, "payee": payeeDoc()})
}
func trancheReleasedDoc() jdoc {
	return eventDoc(TrancheReleased, jdoc{"grant_id": "REI-2026-0007", "tranche_id": "T1", "released_on": "2026-12-02"})
}
func overpaymentDoc() jdoc {
	return eventDoc(OverpaymentEstablished, jdoc{"overpayment_id": "IND-2026-0311", "amount": "136.00",
		"reason": "undeclared resources", "fraud": false})
}

// set changes the value at a dotted path of d ("data.tranches.1.amount"),
// or removes it when v is the value removeField.
func setPath(d jdoc, path string, v any) jdoc {
	keys := strings.Split(path, ".")
	var cur any = d
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case jdoc:
			if last {
				if v == removeField {
					delete(c, k)
				} else {
					c[k] = v
				}
				return d
			}
			cur = c[k]
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil {
				panic(path)
			}
			if last {
				c[n] = v
				return d
			}
			cur = c[n]
		default:
			panic(path)
		}
	}
	return d
}

// removeField, given to set, removes the field.
var removeField = &struct{ removeField bool }{}

func encodeDoc(d jdoc) []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// parseCase is an event to parse: with an empty field it must parse (and
// pass check, when there is one); otherwise it must fail on field with a
// message holding msg.
type parseCase struct {
	name  string
	value []byte
	field string
	msg   string
	check func(t *testing.T, ev Event)
}

// ok, bad and raw build cases.
func okCase(name string, d jdoc, check func(*testing.T, Event)) parseCase {
	return parseCase{name: name, value: encodeDoc(d), check: check}
}
func badCase(name string, d jdoc, field, msg string) parseCase {
	return parseCase{name: name, value: encodeDoc(d), field: field, msg: msg}
}
func rawCase(name, value, field, msg string) parseCase {
	return parseCase{name: name, value: []byte(value), field: field, msg: msg}
}

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := ParseEvent(c.value)
			if c.field == "" {
				if err != nil {
					t.Fatalf("%v\nvalue: %s", err, c.value)
				}
				checkParsedEvent(t, ev)
				if c.check != nil {
					c.check(t, ev)
				}
				return
			}
			if err == nil {
				t.Fatalf("parsed, want an error on %s\nvalue: %s", c.field, c.value)
			}
			e := asInvalidError(t, err)
			if e.Field != c.field || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("error %q, want %s: …%s…", err, c.field, c.msg)
			}
		})
	}
}

const goodEventText = `{"event_id": "0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10", "type": "ada.resumed", "schema_version": 1,
 "occurred_at": "2026-10-03T09:12:00Z", "beneficiary_id": "B1", "data": {"from": "2026-12-20"}}`

func TestParseEventBody(t *testing.T) {
	runParseCases(t, []parseCase{
		rawCase("good", goodEventText, "", ""),
		rawCase("trailing whitespace", goodEventText+"\n\r\t ", "", ""),
		rawCase("leading whitespace", "\n  "+goodEventText, "", ""),
		rawCase("too large", `{"pad": "`+strings.Repeat("x", MaxEventBytes)+`"}`, "body", "more than the 65536 allowed"),
		{name: "invalid UTF-8", value: []byte("{\"event_id\": \"\xff\"}"), field: "body", msg: "is not valid UTF-8"},
		rawCase("empty", "", "body", "is empty"),
		rawCase("blank", " \n ", "body", "is empty"),
		rawCase("cut short", `{"event_id": "x", "type": `, "body", "is not valid JSON"),
		rawCase("bad token", `{"event_id": x}`, "body", "is not valid JSON: invalid character 'x'"),
		rawCase("single quotes", `{'event_id': 'x'}`, "body", "is not valid JSON"),
		rawCase("trailing object", goodEventText+` {}`, "body", "has more data after its JSON object"),
		rawCase("trailing garbage", goodEventText+`x`, "body", "has more data after its JSON object"),
		rawCase("trailing brace", goodEventText+`}`, "body", "has more data after its JSON object"),
		rawCase("two events", goodEventText+"\n"+goodEventText, "body", "has more data after its JSON object"),
		rawCase("array", `[`+goodEventText+`]`, "body", "must be a JSON object, got an array"),
		rawCase("string", `"event"`, "body", "must be a JSON object, got a string"),
		rawCase("number", `1`, "body", "must be a JSON object, got a number"),
		rawCase("null", `null`, "body", "must be a JSON object, got null"),
		rawCase("empty object", `{}`, "event_id", "is required"),
		rawCase("duplicate known field", strings.Replace(goodEventText, `"type": "ada.resumed",`, `"type": "ada.resumed", "type": "ada.suspended",`, 1),
			"type", "is given more than once"),
		rawCase("duplicate unknown field ignored", strings.Replace(goodEventText, `"type"`, `"x": 1, "x": 2, "type"`, 1), "", ""),
		rawCase("duplicate data field", strings.Replace(goodEventText, `{"from": "2026-12-20"}`, `{"from": "2026-12-20", "from": "2026-12-21"}`, 1),
			"data.from", "is given more than once"),
		rawCase("field names are case-sensitive", strings.Replace(goodEventText, `"from"`, `"From"`, 1), "data.from", "is required"),
		rawCase("string too long", strings.Replace(goodEventText, `"type"`, `"note": "`+strings.Repeat("x", MaxEventString+1)+`", "type"`, 1),
			"note", "has a string longer than 4096 bytes"),
		rawCase("string at the limit", strings.Replace(goodEventText, `"type"`, `"note": "`+strings.Repeat("x", MaxEventString)+`", "type"`, 1), "", ""),
		rawCase("key too long", `{"`+strings.Repeat("k", MaxEventString+1)+`": 1}`, "body", "has a string longer than 4096 bytes"),
		rawCase("too deep", `{"data": {"x": `+strings.Repeat("[", MaxEventDepth)+strings.Repeat("]", MaxEventDepth)+`}}`,
			"data.x[0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "nests objects and arrays deeper than 16 levels"),
		rawCase("deep within the limit", strings.Replace(goodEventText, `"type"`, `"x": `+strings.Repeat("[", MaxEventDepth-1)+strings.Repeat("]", MaxEventDepth-1)+`, "type"`, 1), "", ""),
		rawCase("too many values", `{"data": {"tranches": [`+strings.Repeat("0,", MaxEventValues)+`0]}}`,
			"data.tranches[4093]", "is value number 4097: an event holds at most 4096"),
		rawCase("escaped field name", strings.Replace(goodEventText, `"from"`, `"\u0066rom"`, 1), "", ""),
	})
}

func TestParseEventEnvelope(t *testing.T) {
	withID := func(id any) jdoc { return setPath(resumedDoc(), "event_id", id) }
	runParseCases(t, []parseCase{
		okCase("unknown fields ignored", setPath(setPath(setPath(rightsOpenedDoc(), "extra", jdoc{"a": []any{1, "x"}}), "data.extra", true), "data.payee.extra", nil), nil),
		badCase("event_id missing", setPath(resumedDoc(), "event_id", removeField), "event_id", "is required"),
		badCase("event_id number", withID(12), "event_id", "must be a string, got a number"),
		badCase("event_id null", withID(nil), "event_id", "must be a string, got null"),
		badCase("event_id not a UUID", withID("x"), "event_id", `"x" is not a UUID`),
		badCase("event_id without dashes", withID("0b5a0d8e6f5c4d449b0e1f3b2c6a7d10"), "event_id", "is not a UUID"),
		badCase("event_id in braces", withID("{0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10}"), "event_id", "is not a UUID"),
		badCase("event_id as URN", withID("urn:uuid:0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10"), "event_id", "is not a UUID"),
		badCase("event_id dash misplaced", withID("0b5a0d8e6-f5c-4d44-9b0e-1f3b2c6a7d10"), "event_id", "is not a UUID"),
		badCase("event_id not hex", withID("0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d1g"), "event_id", "is not a UUID"),
		badCase("event_id nil", withID("00000000-0000-0000-0000-000000000000"), "event_id", "must not be the nil UUID"),
		okCase("event_id version 4", withID("f47ac10b-58cc-4372-a567-0e02b2c3d479"), nil),
		okCase("event_id version 7", withID("01890a5d-ac96-774b-bcce-b302099a8057"), nil),
		okCase("event_id version 1", withID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), nil),
		okCase("event_id uppercase", withID("0B5A0D8E-6F5C-4D44-9B0E-1F3B2C6A7D10"), func(t *testing.T, ev Event) {
			if ev.ID.String() != "0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10" {
				t.Errorf("id %s", ev.ID)
			}
		}),

		badCase("type missing", setPath(resumedDoc(), "type", removeField), "type", "is required"),
		badCase("type unknown", setPath(resumedDoc(), "type", "ada.teleported"), "type", `"ada.teleported" is not a known event type`),
		badCase("type empty", setPath(resumedDoc(), "type", ""), "type", `"" is not a known event type`),
		badCase("type upper case", setPath(resumedDoc(), "type", "ADA.RESUMED"), "type", "is not a known event type"),
		badCase("type number", setPath(resumedDoc(), "type", 3), "type", "must be a string, got a number"),
		badCase("type long is cut in the message", setPath(resumedDoc(), "type", strings.Repeat("a", 3000)), "type", `"`+strings.Repeat("a", 40)+`"… is not a known event type`),

		badCase("schema_version missing", setPath(resumedDoc(), "schema_version", removeField), "schema_version", "is required"),
		badCase("schema_version 2", setPath(resumedDoc(), "schema_version", 2), "schema_version", "2 is not supported (this service reads 1)"),
		badCase("schema_version 0", setPath(resumedDoc(), "schema_version", 0), "schema_version", "0 is not supported"),
		badCase("schema_version string", setPath(resumedDoc(), "schema_version", "1"), "schema_version", "must be an integer, got a string"),
		badCase("schema_version 1.0", setPath(resumedDoc(), "schema_version", json.Number("1.0")), "schema_version", "must be an integer, got 1.0"),
		badCase("schema_version 1e0", setPath(resumedDoc(), "schema_version", json.Number("1e0")), "schema_version", "must be an integer, got 1e0"),
		badCase("schema_version huge", setPath(resumedDoc(), "schema_version", json.Number("99999999999999999999999")), "schema_version", "is out of range"),
		badCase("schema_version 2 before an unknown type", setPath(setPath(resumedDoc(), "schema_version", 2), "type", "ada.new"), "schema_version", "2 is not supported"),

		badCase("occurred_at missing", setPath(resumedDoc(), "occurred_at", removeField), "occurred_at", "is required"),
		badCase("occurred_at without zone", setPath(resumedDoc(), "occurred_at", "2026-10-03T09:12:00"), "occurred_at", "is not an RFC 3339 time with a time zone"),
		badCase("occurred_at date only", setPath(resumedDoc(), "occurred_at", "2026-10-03"), "occurred_at", "is not an RFC 3339 time"),
		badCase("occurred_at with a space", setPath(resumedDoc(), "occurred_at", "2026-10-03 09:12:00Z"), "occurred_at", "is not an RFC 3339 time"),
		badCase("occurred_at not a day", setPath(resumedDoc(), "occurred_at", "2026-02-30T09:12:00Z"), "occurred_at", "is not an RFC 3339 time"),
		badCase("occurred_at number", setPath(resumedDoc(), "occurred_at", 1759482720), "occurred_at", "must be a string, got a number"),
		badCase("occurred_at year 1999", setPath(resumedDoc(), "occurred_at", "1999-12-31T23:00:00Z"), "occurred_at", "outside the years 2000 to 2199"),
		okCase("occurred_at with offset", setPath(resumedDoc(), "occurred_at", "2026-10-03T11:12:00.123+02:00"), func(t *testing.T, ev Event) {
			if !ev.OccurredAt.Equal(time.Date(2026, 10, 3, 9, 12, 0, 123e6, time.UTC)) {
				t.Errorf("occurred_at %v", ev.OccurredAt)
			}
		}),

		badCase("beneficiary_id missing", setPath(resumedDoc(), "beneficiary_id", removeField), "beneficiary_id", "is required"),
		badCase("beneficiary_id empty", setPath(resumedDoc(), "beneficiary_id", ""), "beneficiary_id", "must not be empty"),
		okCase("beneficiary_id 40 characters", setPath(resumedDoc(), "beneficiary_id", strings.Repeat("a_-9", 10)), nil),
		badCase("beneficiary_id 41 characters", setPath(resumedDoc(), "beneficiary_id", strings.Repeat("a", 41)), "beneficiary_id", "is longer than 40 characters"),
		badCase("beneficiary_id space", setPath(resumedDoc(), "beneficiary_id", "OFII 1"), "beneficiary_id", `"OFII 1" has characters other than letters, digits, '-' and '_'`),
		badCase("beneficiary_id accent", setPath(resumedDoc(), "beneficiary_id", "é"), "beneficiary_id", "has characters other than"),
		badCase("beneficiary_id number", setPath(resumedDoc(), "beneficiary_id", 123), "beneficiary_id", "must be a string, got a number"),

		badCase("data missing", setPath(resumedDoc(), "data", removeField), "data", "is required"),
		badCase("data array", setPath(resumedDoc(), "data", []any{}), "data", "must be an object, got an array"),
		badCase("data null", setPath(resumedDoc(), "data", nil), "data", "must be an object, got null"),
		badCase("data string", setPath(resumedDoc(), "data", "{}"), "data", "must be an object, got a string"),
		badCase("data empty", setPath(resumedDoc(), "data", jdoc{}), "data.from", "is required"),
	})
}

func TestParseEventDates(t *testing.T) {
	from := func(v any) jdoc { return setPath(resumedDoc(), "data.from", v) }
	runParseCases(t, []parseCase{
		okCase("a date", from("2026-12-20"), func(t *testing.T, ev Event) {
			if ev.Suspension.From != ledger.NewDate(2026, 12, 20) {
				t.Errorf("from %s", ev.Suspension.From)
			}
		}),
		okCase("29 February of a leap year", from("2028-02-29"), nil),
		okCase("first allowed day", from("2000-01-01"), nil),
		okCase("last allowed day", from("2199-12-31"), nil),
		badCase("30 February", from("2026-02-30"), "data.from", "2026-02-30 is not a date"),
		badCase("29 February of another year", from("2027-02-29"), "data.from", "2027-02-29 is not a date"),
		badCase("month 13", from("2026-13-01"), "data.from", "2026-13-01 is not a date"),
		badCase("day 0", from("2026-01-00"), "data.from", "2026-01-00 is not a date"),
		badCase("one-digit month", from("2026-1-05"), "data.from", `"2026-1-05" is not a date of the form YYYY-MM-DD`),
		badCase("French order", from("20/12/2026"), "data.from", "is not a date of the form YYYY-MM-DD"),
		badCase("with a time", from("2026-12-20T00:00:00Z"), "data.from", "is not a date of the form YYYY-MM-DD"),
		badCase("empty", from(""), "data.from", "is not a date of the form YYYY-MM-DD"),
		badCase("year 1999", from("1999-12-31"), "data.from", "1999-12-31 is outside the years 2000 to 2199"),
		badCase("year 2200", from("2200-01-01"), "data.from", "outside the years 2000 to 2199"),
		badCase("number", from(20261220), "data.from", "must be a string, got a number"),
		badCase("null", from(nil), "data.from", "must be a string, got null"),
		badCase("last_day", setPath(rightsClosedDoc(), "data.last_day", "2027-02-29"), "data.last_day", "2027-02-29 is not a date"),
		badCase("released_on", setPath(trancheReleasedDoc(), "data.released_on", "2026-12-32"), "data.released_on", "is not a date"),
		badCase("departure_date", setPath(returnGrantDoc(), "data.departure_date", "2026-11-31"), "data.departure_date", "is not a date"),
		badCase("validated_on", setPath(returnGrantDoc(), "data.validated_on", "05/11/2026"), "data.validated_on", "is not a date of the form"),
		badCase("removal_order_notified_on", setPath(returnGrantDoc(), "data.removal_order_notified_on", "2026-00-20"), "data.removal_order_notified_on", "is not a date"),
	})
}

func TestParseEventCounts(t *testing.T) {
	ro := func(adults, children any) jdoc {
		return setPath(setPath(rightsOpenedDoc(), "data.adults", adults), "data.children", children)
	}
	runParseCases(t, []parseCase{
		okCase("one adult", ro(1, 0), func(t *testing.T, ev Event) {
			if ev.RightsOpened.Adults != 1 || ev.RightsOpened.Children != 0 {
				t.Errorf("%+v", ev.RightsOpened)
			}
		}),
		okCase("twenty persons", ro(10, 10), nil),
		okCase("twenty adults", ro(20, 0), nil),
		badCase("no adult", ro(0, 2), "data.adults", "must be at least 1, got 0"),
		badCase("negative adults", ro(-1, 0), "data.adults", "must be at least 1, got -1"),
		badCase("negative children", ro(1, -1), "data.children", "must not be negative, got -1"),
		badCase("21 adults", ro(21, 0), "data.adults", "must be at most 20, got 21"),
		badCase("21 children", ro(1, 21), "data.children", "must be at most 20, got 21"),
		badCase("21 persons", ro(10, 11), "data.children", "10 adults and 11 children make 21 persons, more than 20"),
		badCase("adults string", ro("2", 0), "data.adults", "must be an integer, got a string"),
		badCase("adults fraction", ro(json.Number("1.5"), 0), "data.adults", "must be an integer, got 1.5"),
		badCase("children boolean", ro(1, false), "data.children", "must be an integer, got a boolean"),
		badCase("adults huge", ro(json.Number("123456789012345678901234567890"), 0), "data.adults", "is out of range"),
		badCase("adults missing", setPath(rightsOpenedDoc(), "data.adults", removeField), "data.adults", "is required"),
		badCase("children missing", setPath(rightsOpenedDoc(), "data.children", removeField), "data.children", "is required"),
		badCase("household adults", setPath(householdChangedDoc(), "data.adults", 0), "data.adults", "must be at least 1, got 0"),
		badCase("household persons", setPath(householdChangedDoc(), "data.children", 19), "data.children", "make 21 persons"),
		badCase("household children missing", setPath(householdChangedDoc(), "data.children", removeField), "data.children", "is required"),
		badCase("return adults", setPath(returnGrantDoc(), "data.adults", 0), "data.adults", "must be at least 1"),
		badCase("return children", setPath(returnGrantDoc(), "data.children", -2), "data.children", "must not be negative, got -2"),
		badCase("return persons", setPath(returnGrantDoc(), "data.adults", 19), "data.children", "make 21 persons"),
		badCase("return adults missing", setPath(returnGrantDoc(), "data.adults", removeField), "data.adults", "is required"),
		badCase("reinsertion adults", setPath(reinsertionDoc("social", "400.00", "400.00"), "data.adults", 0), "data.adults", "must be at least 1"),
		badCase("reinsertion children", setPath(reinsertionDoc("social", "400.00", "400.00"), "data.children", -1), "data.children", "must not be negative"),
		badCase("reinsertion persons", setPath(setPath(reinsertionDoc("employment", "400.00", "400.00"), "data.adults", 15), "data.children", 6),
			"data.children", "make 21 persons"),
	})
}

func TestParseEventBooleans(t *testing.T) {
	runParseCases(t, []parseCase{
		badCase("accommodated missing", setPath(rightsOpenedDoc(), "data.accommodated", removeField), "data.accommodated", "is required"),
		badCase("accommodated string", setPath(rightsOpenedDoc(), "data.accommodated", "true"), "data.accommodated", "must be true or false, got a string"),
		badCase("accommodated number", setPath(accommodationChangedDoc(), "data.accommodated", 1), "data.accommodated", "must be true or false, got a number"),
		badCase("accommodated null", setPath(accommodationChangedDoc(), "data.accommodated", nil), "data.accommodated", "must be true or false, got null"),
		badCase("accommodation from missing", setPath(accommodationChangedDoc(), "data.from", removeField), "data.from", "is required"),
		okCase("accommodated true", accommodationChangedDoc(), func(t *testing.T, ev Event) {
			if !ev.Accommodation.Accommodated || ev.Accommodation.From != ledger.NewDate(2026, 11, 20) {
				t.Errorf("%+v", ev.Accommodation)
			}
		}),
	})
}

func TestParseEventTerritory(t *testing.T) {
	territory := func(want string) func(*testing.T, Event) {
		return func(t *testing.T, ev Event) {
			if ev.RightsOpened.Territory != want {
				t.Errorf("territory %q, want %q", ev.RightsOpened.Territory, want)
			}
		}
	}
	runParseCases(t, []parseCase{
		okCase("default", setPath(rightsOpenedDoc(), "data.territory", removeField), territory("metropole")),
		okCase("metropole", setPath(rightsOpenedDoc(), "data.territory", "metropole"), territory("metropole")),
		okCase("guyane", setPath(rightsOpenedDoc(), "data.territory", "guyane"), territory("guyane")),
		okCase("saint-martin", setPath(rightsOpenedDoc(), "data.territory", "saint-martin"), territory("saint-martin")),
		badCase("unknown", setPath(rightsOpenedDoc(), "data.territory", "mayotte"), "data.territory",
			`"mayotte" is not a territory (metropole, guyane, saint-martin)`),
		badCase("empty", setPath(rightsOpenedDoc(), "data.territory", ""), "data.territory", `"" is not a territory`),
		badCase("capitals", setPath(rightsOpenedDoc(), "data.territory", "Guyane"), "data.territory", "is not a territory"),
		badCase("number", setPath(rightsOpenedDoc(), "data.territory", 973), "data.territory", "must be a string, got a number"),
	})
}

func TestParseEventPayee(t *testing.T) {
	payeeIs := func(want Payee) func(*testing.T, Event) {
		return func(t *testing.T, ev Event) {
			if ev.RightsOpened.Payee != want {
				t.Errorf("payee %+v, want %+v", ev.RightsOpened.Payee, want)
			}
		}
	}
	p := func(field string, v any) jdoc { return setPath(rightsOpenedDoc(), "data.payee."+field, v) }
	const iban = "FR7630006000011234567890189"
	runParseCases(t, []parseCase{
		badCase("missing", setPath(rightsOpenedDoc(), "data.payee", removeField), "data.payee", "is required"),
		badCase("string", setPath(rightsOpenedDoc(), "data.payee", "Amina Diallo"), "data.payee", "must be an object, got a string"),
		badCase("null", setPath(rightsOpenedDoc(), "data.payee", nil), "data.payee", "must be an object, got null"),
		badCase("payee_changed missing", setPath(payeeChangedDoc(), "data.payee", removeField), "data.payee", "is required"),
		badCase("payee_changed iban", setPath(payeeChangedDoc(), "data.payee.iban", "FR7630006000011234567890188"), "data.payee.iban", "check digits do not match"),

		okCase("name trimmed", p("name", "  Amina Diallo \n"), payeeIs(Payee{Name: "Amina Diallo", IBAN: iban, BIC: "AGRIFRPP"})),
		okCase("name of 70 characters", p("name", strings.Repeat("é", 70)), nil),
		okCase("name of 70 characters once trimmed", p("name", " "+strings.Repeat("a", 70)+" "), nil),
		okCase("name with diacritics and ligatures", p("name", "Élodie Œuvray-N’Guessan Müller Łukasz Straße"),
			payeeIs(Payee{Name: "Élodie Œuvray-N’Guessan Müller Łukasz Straße", IBAN: iban, BIC: "AGRIFRPP"})),
		// A name the bank cannot take would block its batch at release.
		badCase("name in Arabic script", p("name", "أمينة ديالو"), "data.payee.name", `has the letter 'أ' at position 1, which is not of the Latin script`),
		badCase("name in Cyrillic script", p("name", "Иван Петров"), "data.payee.name", "which is not of the Latin script"),
		badCase("name in Chinese script", p("name", "王伟"), "data.payee.name", "which is not of the Latin script"),
		badCase("name in two scripts", p("name", "Amina Диалло"), "data.payee.name", `has the letter 'Д' at position 7`),
		badCase("name with an emoji", p("name", "Amina 😀"), "data.payee.name", `has the character '😀' at position 7, which a bank cannot take in a name`),
		badCase("name without a letter", p("name", "-- .."), "data.payee.name", "has no letter"),
		badCase("name of 71 characters", p("name", strings.Repeat("é", 71)), "data.payee.name", "is longer than 70 characters (71)"),
		badCase("name missing", p("name", removeField), "data.payee.name", "is required"),
		badCase("name empty", p("name", ""), "data.payee.name", "must not be blank"),
		badCase("name blank", p("name", "   "), "data.payee.name", "must not be blank"),
		badCase("name with NUL", p("name", "Amina\x00Diallo"), "data.payee.name", "must not contain control characters"),
		badCase("name with line break", p("name", "Amina\nDiallo"), "data.payee.name", "must not contain control characters"),
		badCase("name with DEL", p("name", "Amina\x7f"), "data.payee.name", "must not contain control characters"),
		badCase("name number", p("name", 1), "data.payee.name", "must be a string, got a number"),

		okCase("iban with spaces", p("iban", "FR76 3000 6000 0112 3456 7890 189"), payeeIs(Payee{Name: "Amina Diallo", IBAN: iban, BIC: "AGRIFRPP"})),
		okCase("iban of another country", p("iban", "DE89370400440532013000"), nil),
		badCase("iban missing", p("iban", removeField), "data.payee.iban", "is required"),
		badCase("iban check digits", p("iban", "FR7630006000011234567890188"), "data.payee.iban", "check digits do not match"),
		badCase("iban lowercase", p("iban", "fr7630006000011234567890189"), "data.payee.iban", "lowercase letter"),
		badCase("iban length", p("iban", "FR763000600001123456789018"), "data.payee.iban", "has 26 characters: an IBAN of FR has 27"),
		badCase("iban country", p("iban", "QQ7630006000011234567890189"), "data.payee.iban", "not a country code"),
		badCase("iban empty", p("iban", ""), "data.payee.iban", "is empty"),
		badCase("iban number", p("iban", 76), "data.payee.iban", "must be a string, got a number"),

		okCase("bic missing", p("bic", removeField), payeeIs(Payee{Name: "Amina Diallo", IBAN: iban})),
		okCase("bic of 11", p("bic", "AGRIFRPPXXX"), payeeIs(Payee{Name: "Amina Diallo", IBAN: iban, BIC: "AGRIFRPPXXX"})),
		okCase("bic with digits", p("bic", "BNPAFRP1"), nil),
		okCase("bic of Kosovo", p("bic", "RBKOXKPR"), nil),
		badCase("bic of 7", p("bic", "AGRIFRP"), "data.payee.bic", `"AGRIFRP" is not a BIC`),
		badCase("bic of 9", p("bic", "AGRIFRPPX"), "data.payee.bic", "is not a BIC"),
		badCase("bic lowercase", p("bic", "agrifrpp"), "data.payee.bic", "is not a BIC"),
		badCase("bic digit in the bank code", p("bic", "AGR1FRPP"), "data.payee.bic", "is not a BIC"),
		badCase("bic empty", p("bic", ""), "data.payee.bic", "is not a BIC"),
		badCase("bic unknown country", p("bic", "AGRIZZPP"), "data.payee.bic", `"AGRIZZPP" has ZZ as its country code (5th and 6th letters), which is not a country`),
		badCase("bic number", p("bic", 1), "data.payee.bic", "must be a string, got a number"),
	})
}

func TestParseEventAmounts(t *testing.T) {
	amount := func(v any) jdoc { return setPath(overpaymentDoc(), "data.amount", v) }
	is := func(want string) func(*testing.T, Event) {
		return func(t *testing.T, ev Event) {
			if got := ev.Overpayment.Amount; !got.Equal(decimal.RequireFromString(want)) {
				t.Errorf("amount %s, want %s", got, want)
			}
		}
	}
	runParseCases(t, []parseCase{
		okCase("two decimals", amount("136.00"), is("136")),
		okCase("one decimal", amount("136.5"), is("136.50")),
		okCase("no decimals", amount("136"), is("136")),
		okCase("one cent", amount("0.01"), is("0.01")),
		okCase("largest", amount("9999999999999.99"), is("9999999999999.99")),
		okCase("leading zeros", amount("0136.10"), is("136.1")),
		badCase("three decimals", amount("10.005"), "data.amount", `"10.005" has more than two decimals`),
		badCase("three zero decimals", amount("10.000"), "data.amount", "has more than two decimals"),
		badCase("zero", amount("0.00"), "data.amount", `must be more than zero, got "0.00"`),
		badCase("zero without decimals", amount("0"), "data.amount", "must be more than zero"),
		badCase("negative", amount("-5.00"), "data.amount", `must be more than zero, got "-5.00"`),
		badCase("14 digits", amount("12345678901234"), "data.amount", "is too large: at most 13 digits before the point"),
		badCase("comma", amount("1,50"), "data.amount", `"1,50" is not an amount`),
		badCase("point without decimals", amount("10."), "data.amount", "is not an amount"),
		badCase("no integer part", amount(".50"), "data.amount", "is not an amount"),
		badCase("exponent", amount("1e3"), "data.amount", "is not an amount"),
		badCase("currency", amount("136.00 EUR"), "data.amount", "is not an amount"),
		badCase("spaces", amount(" 136.00"), "data.amount", "is not an amount"),
		badCase("empty", amount(""), "data.amount", "is not an amount"),
		badCase("plus sign", amount("+1.00"), "data.amount", "is not an amount"),
		badCase("JSON number", amount(json.Number("136.00")), "data.amount", `must be a string such as "136.00", got the number 136.00`),
		badCase("null", amount(nil), "data.amount", "must be a string, got null"),
		badCase("missing", amount(removeField), "data.amount", "is required"),
	})
}

func TestParseEventOverpayment(t *testing.T) {
	runParseCases(t, []parseCase{
		okCase("defaults", setPath(setPath(overpaymentDoc(), "data.reason", removeField), "data.fraud", removeField), func(t *testing.T, ev Event) {
			if o := ev.Overpayment; o.Reason != "" || o.Fraud || o.OverpaymentID != "IND-2026-0311" {
				t.Errorf("%+v", o)
			}
		}),
		okCase("fraud", setPath(overpaymentDoc(), "data.fraud", true), func(t *testing.T, ev Event) {
			if !ev.Overpayment.Fraud {
				t.Error("fraud not read")
			}
		}),
		badCase("fraud string", setPath(overpaymentDoc(), "data.fraud", "no"), "data.fraud", "must be true or false, got a string"),
		badCase("id missing", setPath(overpaymentDoc(), "data.overpayment_id", removeField), "data.overpayment_id", "is required"),
		badCase("id empty", setPath(overpaymentDoc(), "data.overpayment_id", ""), "data.overpayment_id", "must not be empty"),
		badCase("id too long", setPath(overpaymentDoc(), "data.overpayment_id", strings.Repeat("I", 41)), "data.overpayment_id", "is longer than 40 characters"),
		badCase("id slash", setPath(overpaymentDoc(), "data.overpayment_id", "IND/1"), "data.overpayment_id", "has characters other than"),
		badCase("reason too long", setPath(overpaymentDoc(), "data.reason", strings.Repeat("r", 201)), "data.reason", "is longer than 200 characters (201)"),
		badCase("reason number", setPath(overpaymentDoc(), "data.reason", 3), "data.reason", "must be a string, got a number"),
	})
}

func TestParseEventSuspensionAndClosing(t *testing.T) {
	runParseCases(t, []parseCase{
		okCase("reason trimmed", setPath(suspendedDoc(), "data.reason", "  missed appointment "), func(t *testing.T, ev Event) {
			if ev.Suspension.Reason != "missed appointment" {
				t.Errorf("reason %q", ev.Suspension.Reason)
			}
		}),
		okCase("reason of 200 characters", setPath(suspendedDoc(), "data.reason", strings.Repeat("é", 200)), nil),
		okCase("reason on two lines", setPath(suspendedDoc(), "data.reason", "refused\noffer"), nil),
		okCase("resumed with a reason", setPath(resumedDoc(), "data.reason", "appointment kept"), nil),
		badCase("reason of 201 characters", setPath(suspendedDoc(), "data.reason", strings.Repeat("é", 201)), "data.reason", "is longer than 200 characters"),
		badCase("resumed reason too long", setPath(resumedDoc(), "data.reason", strings.Repeat("a", 201)), "data.reason", "is longer than 200 characters"),
		badCase("reason with NUL", setPath(suspendedDoc(), "data.reason", "a\x00b"), "data.reason", "must not contain control characters"),
		badCase("reason null", setPath(suspendedDoc(), "data.reason", nil), "data.reason", "must be a string, got null"),
		badCase("suspended from missing", setPath(suspendedDoc(), "data.from", removeField), "data.from", "is required"),
		badCase("resumed from missing", setPath(resumedDoc(), "data.from", removeField), "data.from", "is required"),
		okCase("closed without reason", setPath(rightsClosedDoc(), "data.reason", removeField), func(t *testing.T, ev Event) {
			if ev.RightsClosed.LastDay != ledger.NewDate(2027, 1, 31) || ev.RightsClosed.Reason != "" {
				t.Errorf("%+v", ev.RightsClosed)
			}
		}),
		badCase("closed last_day missing", setPath(rightsClosedDoc(), "data.last_day", removeField), "data.last_day", "is required"),
		badCase("closed with from instead", setPath(setPath(rightsClosedDoc(), "data.last_day", removeField), "data.from", "2027-01-31"), "data.last_day", "is required"),
		badCase("closed reason too long", setPath(rightsClosedDoc(), "data.reason", strings.Repeat("a", 201)), "data.reason", "is longer than 200 characters"),
	})
}

func TestParseEventReturnGrant(t *testing.T) {
	country := func(c string) jdoc { return setPath(returnGrantDoc(), "data.country", c) }
	refused := func(c, group string) parseCase {
		return badCase("refused "+c, country(c), "data.country", "nationals of "+c+" ("+group+") are not eligible for return aid")
	}
	scheme := func(want string) func(*testing.T, Event) {
		return func(t *testing.T, ev Event) {
			if ev.ReturnGrant.Scheme != want {
				t.Errorf("scheme %q, want %q", ev.ReturnGrant.Scheme, want)
			}
		}
	}
	runParseCases(t, []parseCase{
		okCase("Georgia", country("GE"), nil),
		okCase("Kosovo", country("XK"), nil),
		okCase("Morocco", country("MA"), nil),
		okCase("United Kingdom", country("GB"), nil),
		refused("FR", "EU"), refused("DE", "EU"), refused("HR", "EU"), refused("CY", "EU"),
		refused("IS", "EEA"), refused("LI", "EEA"), refused("NO", "EEA"),
		refused("CH", "Switzerland"), refused("AD", "Andorra"), refused("MC", "Monaco"),
		refused("SM", "San Marino"), refused("VA", "Vatican"),
		refused("GP", "France, EU"), refused("RE", "France, EU"), refused("CW", "Netherlands, EU"),
		badCase("unknown country", country("ZZ"), "data.country", "ZZ is not a country code"),
		badCase("lowercase", country("ge"), "data.country", `"ge" is not an ISO 3166-1 alpha-2 country code`),
		badCase("alpha-3", country("GEO"), "data.country", "is not an ISO 3166-1 alpha-2 country code"),
		badCase("empty", country(""), "data.country", "is not an ISO 3166-1 alpha-2 country code"),
		badCase("country missing", setPath(returnGrantDoc(), "data.country", removeField), "data.country", "is required"),
		badCase("country number", setPath(returnGrantDoc(), "data.country", 268), "data.country", "must be a string, got a number"),

		okCase("validated the day of notification", setPath(returnGrantDoc(), "data.validated_on", "2026-10-20"), nil),
		badCase("validated before notification", setPath(returnGrantDoc(), "data.validated_on", "2026-10-19"), "data.validated_on",
			"2026-10-19 is before the removal order's notification (removal_order_notified_on 2026-10-20)"),
		badCase("notification missing", setPath(returnGrantDoc(), "data.removal_order_notified_on", removeField), "data.removal_order_notified_on", "is required"),
		badCase("validation missing", setPath(returnGrantDoc(), "data.validated_on", removeField), "data.validated_on", "is required"),
		badCase("departure missing", setPath(returnGrantDoc(), "data.departure_date", removeField), "data.departure_date", "is required"),

		okCase("scheme default", returnGrantDoc(), scheme("standard")),
		okCase("scheme standard", setPath(returnGrantDoc(), "data.scheme", "standard"), scheme("standard")),
		okCase("scheme channel", setPath(returnGrantDoc(), "data.scheme", "channel"), scheme("channel")),
		badCase("scheme unknown", setPath(returnGrantDoc(), "data.scheme", "express"), "data.scheme", `"express" is not a scheme (standard or channel)`),
		badCase("scheme number", setPath(returnGrantDoc(), "data.scheme", 2), "data.scheme", "must be a string, got a number"),

		okCase("flags default to false", setPath(setPath(returnGrantDoc(), "data.increased_rate", removeField), "data.travel_document", removeField),
			func(t *testing.T, ev Event) {
				if ev.ReturnGrant.IncreasedRate || ev.ReturnGrant.TravelDocument {
					t.Errorf("%+v", ev.ReturnGrant)
				}
			}),
		okCase("increased rate", setPath(returnGrantDoc(), "data.increased_rate", true), func(t *testing.T, ev Event) {
			if !ev.ReturnGrant.IncreasedRate {
				t.Error("increased_rate not read")
			}
		}),
		badCase("increased rate string", setPath(returnGrantDoc(), "data.increased_rate", "true"), "data.increased_rate", "must be true or false"),
		badCase("travel document number", setPath(returnGrantDoc(), "data.travel_document", 1), "data.travel_document", "must be true or false"),

		badCase("grant_id missing", setPath(returnGrantDoc(), "data.grant_id", removeField), "data.grant_id", "is required"),
		badCase("grant_id space", setPath(returnGrantDoc(), "data.grant_id", "RET 1"), "data.grant_id", `"RET 1" has characters other than`),
		badCase("grant_id too long", setPath(returnGrantDoc(), "data.grant_id", strings.Repeat("R", 41)), "data.grant_id", "is longer than 40 characters"),
		okCase("grant_id of 40", setPath(returnGrantDoc(), "data.grant_id", strings.Repeat("R", 40)), nil),
		badCase("payee missing", setPath(returnGrantDoc(), "data.payee", removeField), "data.payee", "is required"),
		badCase("payee iban", setPath(returnGrantDoc(), "data.payee.iban", "FR1420041010050500013M02607"), "data.payee.iban", "check digits do not match"),
	})
}

func TestParseEventReinsertion(t *testing.T) {
	withHousehold := func(d jdoc, adults, children int) jdoc {
		return setPath(setPath(d, "data.adults", adults), "data.children", children)
	}
	runParseCases(t, []parseCase{
		okCase("example", reinsertionDoc("business_creation", "4500.00", "2000.00", "2500.00"), func(t *testing.T, ev Event) {
			g := ev.Reinsertion
			if g.Level != LevelBusinessCreation || !g.Amount.Equal(decimal.NewFromInt(4500)) || len(g.Tranches) != 2 ||
				g.Tranches[1].TrancheID != "T2" || g.Tranches[1].Amount.StringFixed(2) != "2500.00" {
				t.Errorf("%+v", g)
			}
		}),
		okCase("tranches written differently", reinsertionDoc("business_creation", "4500", "2000.0", "2500.00"), nil),
		okCase("one tranche", reinsertionDoc("employment", "100.01", "100.01"), nil),
		okCase("household read", withHousehold(reinsertionDoc("social", "800.00", "800.00"), 2, 0), func(t *testing.T, ev Event) {
			if ev.Reinsertion.Adults != 2 || ev.Reinsertion.Children != 0 {
				t.Errorf("%+v", ev.Reinsertion)
			}
		}),

		badCase("sum short", reinsertionDoc("business_creation", "4500.00", "2000.00", "2000.00"), "data.tranches", "add up to 4000.00, not the decided 4500.00"),
		badCase("sum over", reinsertionDoc("business_creation", "4500.00", "2000.00", "2500.01"), "data.tranches", "add up to 4500.01, not the decided 4500.00"),
		badCase("no tranche", reinsertionDoc("employment", "100.00"), "data.tranches", "must be an array, got null"),
		badCase("empty tranches", setPath(reinsertionDoc("employment", "100.00"), "data.tranches", []any{}), "data.tranches", "must hold at least one tranche"),
		badCase("tranches missing", setPath(reinsertionDoc("employment", "100.00", "100.00"), "data.tranches", removeField), "data.tranches", "is required"),
		badCase("tranches object", setPath(reinsertionDoc("employment", "100.00", "100.00"), "data.tranches", jdoc{}), "data.tranches", "must be an array, got an object"),
		badCase("tranche not an object", setPath(reinsertionDoc("employment", "100.00", "100.00"), "data.tranches.0", "T1"), "data.tranches[0]", "must be an object, got a string"),
		badCase("tranche id repeated", setPath(reinsertionDoc("employment", "300.00", "100.00", "100.00", "100.00"), "data.tranches.2.tranche_id", "T1"),
			"data.tranches[2].tranche_id", `"T1" is already the id of tranches[0]`),
		badCase("tranche id missing", setPath(reinsertionDoc("employment", "200.00", "100.00", "100.00"), "data.tranches.1.tranche_id", removeField),
			"data.tranches[1].tranche_id", "is required"),
		badCase("tranche id too long", setPath(reinsertionDoc("employment", "200.00", "100.00", "100.00"), "data.tranches.1.tranche_id", strings.Repeat("T", 41)),
			"data.tranches[1].tranche_id", "is longer than 40 characters"),
		badCase("tranche id bad", setPath(reinsertionDoc("employment", "200.00", "100.00", "100.00"), "data.tranches.0.tranche_id", "T 1"),
			"data.tranches[0].tranche_id", "has characters other than"),
		badCase("tranche amount zero", reinsertionDoc("employment", "200.00", "200.00", "0.00"), "data.tranches[1].amount", "must be more than zero"),
		badCase("tranche amount three decimals", reinsertionDoc("employment", "200.00", "199.995", "0.005"), "data.tranches[0].amount", "has more than two decimals"),
		badCase("tranche amount missing", setPath(reinsertionDoc("employment", "200.00", "100.00", "100.00"), "data.tranches.1.amount", removeField),
			"data.tranches[1].amount", "is required"),
		badCase("tranche amount number", setPath(reinsertionDoc("employment", "200.00", "100.00", "100.00"), "data.tranches.1.amount", 100),
			"data.tranches[1].amount", "must be a string"),

		badCase("amount zero", reinsertionDoc("employment", "0.00", "0.00"), "data.amount", "must be more than zero"),
		badCase("amount missing", setPath(reinsertionDoc("employment", "100.00", "100.00"), "data.amount", removeField), "data.amount", "is required"),
		badCase("level unknown", reinsertionDoc("premium", "100.00", "100.00"), "data.level", `"premium" is not a level (social, employment or business_creation)`),
		badCase("level missing", setPath(reinsertionDoc("social", "100.00", "100.00"), "data.level", removeField), "data.level", "is required"),
		badCase("grant_id missing", setPath(reinsertionDoc("social", "100.00", "100.00"), "data.grant_id", removeField), "data.grant_id", "is required"),
		badCase("payee missing", setPath(reinsertionDoc("social", "100.00", "100.00"), "data.payee", removeField), "data.payee", "is required"),

		// Ceilings of the default schedule.
		okCase("social single at the ceiling", reinsertionDoc("social", "400.00", "400.00"), nil),
		badCase("social single over", reinsertionDoc("social", "400.01", "400.01"), "data.amount",
			"400.01 is above the ceiling of 400.00 for social aid to 1 adult and 0 children"),
		okCase("social one adult, one child", withHousehold(reinsertionDoc("social", "700.00", "700.00"), 1, 1), nil),
		badCase("social one adult, one child over", withHousehold(reinsertionDoc("social", "700.01", "700.01"), 1, 1), "data.amount",
			"700.01 is above the ceiling of 700.00 for social aid to 1 adult and 1 child"),
		okCase("social couple", withHousehold(reinsertionDoc("social", "800.00", "800.00"), 2, 0), nil),
		badCase("social couple over", withHousehold(reinsertionDoc("social", "800.01", "800.01"), 2, 0), "data.amount", "above the ceiling of 800.00"),
		okCase("social couple, two children", withHousehold(reinsertionDoc("social", "1400.00", "700.00", "700.00"), 2, 2), nil),
		badCase("social couple, two children over", withHousehold(reinsertionDoc("social", "1400.01", "700.00", "700.01"), 2, 2), "data.amount",
			"1400.01 is above the ceiling of 1400.00 for social aid to 2 adults and 2 children"),
		okCase("social children without adults", setPath(reinsertionDoc("social", "1000.00", "1000.00"), "data.children", 2), nil),
		badCase("social children without adults over", setPath(reinsertionDoc("social", "1000.01", "1000.01"), "data.children", 2), "data.amount",
			"above the ceiling of 1000.00 for social aid to 1 adult and 2 children"),
		okCase("employment at the ceiling", reinsertionDoc("employment", "4000.00", "4000.00"), nil),
		badCase("employment over", reinsertionDoc("employment", "4000.01", "4000.01"), "data.amount",
			"4000.01 is above the ceiling of 4000.00 for employment aid"),
		okCase("business creation at the ceiling", reinsertionDoc("business_creation", "7000.00", "3500.00", "3500.00"), nil),
		badCase("business creation over", reinsertionDoc("business_creation", "7000.01", "3500.00", "3500.01"), "data.amount",
			"7000.01 is above the ceiling of 7000.00 for business_creation aid"),
	})
}

func TestReinsertionCeiling(t *testing.T) {
	for _, c := range []struct {
		level            ReinsertionLevel
		adults, children int
		want             int64
	}{
		{LevelSocial, 0, 0, 400},
		{LevelSocial, 1, 0, 400},
		{LevelSocial, 2, 0, 800},
		{LevelSocial, 3, 0, 800},
		{LevelSocial, 1, 1, 700},
		{LevelSocial, 2, 3, 1700},
		{LevelSocial, 0, 2, 1000},
		{LevelSocial, 1, -1, 400},
		{LevelEmployment, 1, 0, 4000},
		{LevelEmployment, 2, 5, 4000},
		{LevelBusinessCreation, 1, 0, 7000},
		{LevelBusinessCreation, 4, 4, 7000},
		{"premium", 1, 0, 0},
	} {
		if got := ReinsertionCeiling(c.level, c.adults, c.children); !got.Equal(decimal.NewFromInt(c.want)) {
			t.Errorf("ReinsertionCeiling(%s, %d, %d) = %s, want %d", c.level, c.adults, c.children, got, c.want)
		}
	}
}

func TestParseEventTrancheReleased(t *testing.T) {
	runParseCases(t, []parseCase{
		okCase("example", trancheReleasedDoc(), nil),
		badCase("grant_id missing", setPath(trancheReleasedDoc(), "data.grant_id", removeField), "data.grant_id", "is required"),
		badCase("tranche_id missing", setPath(trancheReleasedDoc(), "data.tranche_id", removeField), "data.tranche_id", "is required"),
		badCase("released_on missing", setPath(trancheReleasedDoc(), "data.released_on", removeField), "data.released_on", "is required"),
		badCase("tranche_id number", setPath(trancheReleasedDoc(), "data.tranche_id", 1), "data.tranche_id", "must be a string, got a number"),
		badCase("grant_id bad", setPath(trancheReleasedDoc(), "data.grant_id", "REI 7"), "data.grant_id", "has characters other than"),
	})
}

func TestIsCountry(t *testing.T) {
	if n := len(strings.Fields(alpha2Codes)); n != 249 {
		t.Errorf("%d ISO 3166-1 alpha-2 codes, want 249", n)
	}
	for _, c := range []string{"FR", "GE", "AF", "SY", "XK", "ZW", "AX", "SS"} {
		if !IsCountry(c) {
			t.Errorf("IsCountry(%s) = false", c)
		}
	}
	for _, c := range []string{"", "F", "fr", "ZZ", "UK", "EU", "FRA", "YU"} {
		if IsCountry(c) {
			t.Errorf("IsCountry(%q) = true", c)
		}
	}
	for c := range returnAidExcluded {
		if !IsCountry(c) {
			t.Errorf("returnAidExcluded holds %s, not a country", c)
		}
	}
	for c := range ibanLengths {
		if !IsCountry(c) {
			t.Errorf("ibanLengths holds %s, not a country", c)
		}
	}
}

// FuzzParseEvent checks that ParseEvent never panics and that every error
// is an *errs.Error of code Invalid naming a field, with a short message.
func FuzzParseEvent(f *testing.F) {
	for _, line := range readExampleLines(f, "valid.jsonl") {
		f.Add(line)
	}
	for _, ex := range readInvalidExamples(f) {
		f.Add([]byte(ex.Value))
	}
	f.Add([]byte(goodEventText))
	f.Add(encodeDoc(reinsertionDoc("social", "400.00", "200.00", "200.00")))
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := ParseEvent(value)
		if err == nil {
			checkParsedEvent(t, ev)
			return
		}
		var e *errs.Error
		if !errors.As(err, &e) || error(e) != err {
			t.Fatalf("error %v is a %T, not an *errs.Error", err, err)
		}
		if e.Code != errs.Invalid || e.Field == "" || e.Message == "" {
			t.Fatalf("error %#v: want code invalid, a field and a message", e)
		}
		if len(e.Error()) > 300 {
			t.Fatalf("message of %d bytes: %s", len(e.Error()), e)
		}
	})
}
