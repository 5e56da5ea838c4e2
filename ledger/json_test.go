package ledger

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/json")

func amt(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var (
	entryID  = uuid.MustParse("0196a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b")
	postedAt = time.Date(2026, 10, 31, 17, 45, 12, 123456000, time.UTC)
	oct31    = NewDate(2026, 10, 31)
	posting1 = Posting{
		EntryID: entryID, Line: 1, Account: "expense:bank-fees", Amount: amt("12.5"), Currency: "EUR",
		Memo: "fees October", EffectiveDate: oct31, PostedAt: postedAt,
	}
	posting2 = Posting{
		EntryID: entryID, Line: 2, Account: "bank:main", Amount: amt("-12.5"), Currency: "EUR",
		EffectiveDate: oct31, PostedAt: postedAt,
	}
)

// jsonCases are the values whose JSON form testdata/json holds. Those marked
// full have every field set, so that their JSON must hold every field.
var jsonCases = []struct {
	name  string
	v     any
	full  bool
	check func(t *testing.T, got map[string]json.RawMessage)
}{
	{name: "line", full: true, v: Line{Account: "bank:main", Amount: amt("12.5"), Currency: "EUR", Memo: "October fees"}},
	{name: "line-omitempty", v: Line{Account: "equity:state-funding", Amount: amt("500000")}},
	{name: "line-cents", v: Line{Account: "expense:bank-fees", Amount: amt("-0.07")}},
	{name: "posting", full: true, v: posting1},
	{name: "posting-omitempty", v: Posting{EntryID: entryID, Line: 7, Account: "equity:state-funding", Amount: amt("-500000"), Currency: "EUR", EffectiveDate: oct31, PostedAt: postedAt}},
	{name: "statement-line", full: true, v: StatementLine{Posting: posting1, Description: "Bank fees, October", Running: amt("-0.07")},
		check: func(t *testing.T, got map[string]json.RawMessage) {
			for k, want := range map[string]string{"amount": `"12.50"`, "description": `"Bank fees, October"`, "running_balance": `"-0.07"`, "account": `"expense:bank-fees"`} {
				if string(got[k]) != want {
					t.Errorf("%s = %s, want %s", k, got[k], want)
				}
			}
		}},
	{name: "balance", full: true, v: Balance{Account: "bank:main", Currency: "EUR", Balance: amt("488411.5"), Natural: amt("488411.5"), AsOf: AsOf{Date: oct31, Time: postedAt}}},
	{name: "balance-now", v: Balance{Account: "equity:state-funding", Currency: "EUR", Balance: amt("-500000"), Natural: amt("500000")}},
	{name: "balance-as-of-date", v: Balance{Account: "expense:bank-fees", Currency: "EUR", Balance: amt("-0.07"), Natural: amt("-0.07"), AsOf: AsOf{Date: oct31}}},
	{name: "statement", full: true, v: Statement{
		Account: "expense:bank-fees", Currency: "EUR", Opening: amt("-12.57"), NextCursor: "abc",
		Lines: []StatementLine{
			{Posting: posting1, Description: "Bank fees, October", Running: amt("-0.07")},
			{Posting: Posting{EntryID: entryID, Line: 3, Account: "expense:bank-fees", Amount: amt("0.07"), Currency: "EUR", EffectiveDate: oct31, PostedAt: postedAt}, Description: "Rounding", Running: amt("0")},
		},
	}},
	{name: "statement-empty", v: Statement{Account: "bank:main", Currency: "EUR", Opening: amt("500000"), Lines: []StatementLine{}}},
	{name: "trial-balance-row", full: true, v: TrialBalanceRow{Account: "bank:main", Name: "Main bank account", Type: Asset, Currency: "EUR", Debit: amt("488411.5"), Credit: amt("0")}},
	{name: "trial-balance-sum", full: true, v: TrialBalanceSum{Debit: amt("500000"), Credit: amt("500000"), Difference: amt("0")}},
	{name: "trial-balance", full: true, v: TrialBalance{
		AsOf: AsOf{Time: postedAt},
		Rows: []TrialBalanceRow{
			{Account: "bank:main", Name: "Main bank account", Type: Asset, Currency: "EUR", Debit: amt("499987.5"), Credit: amt("0")},
			{Account: "equity:state-funding", Name: "State funding", Type: Equity, Currency: "EUR", Debit: amt("0"), Credit: amt("500000")},
			{Account: "expense:bank-fees", Name: "Bank fees", Type: Expense, Currency: "EUR", Debit: amt("12.5"), Credit: amt("0")},
		},
		Totals: map[string]TrialBalanceSum{"EUR": {Debit: amt("500000"), Credit: amt("500000"), Difference: amt("0")}},
	}},
	{name: "trial-balance-empty", v: TrialBalance{Rows: []TrialBalanceRow{}, Totals: map[string]TrialBalanceSum{}}},
	{name: "entry", v: Entry{
		ID: entryID, IdempotencyKey: "fees-2026-10", Kind: KindStandard, Status: StatusPosted, EffectiveDate: oct31,
		PostedAt: postedAt, Description: "Bank fees, October", LineCount: 2, ContentHash: "ab12",
		Postings: []Posting{posting1, posting2},
	}},
	{name: "new-entry", v: NewEntry{
		IdempotencyKey: "fees-2026-10", EffectiveDate: oct31, Description: "Bank fees, October",
		Lines: []Line{{Account: "expense:bank-fees", Amount: amt("12.5")}, {Account: "bank:main", Amount: amt("-12.5")}},
	}},
}

func TestJSONGolden(t *testing.T) {
	for _, tt := range jsonCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.MarshalIndent(tt.v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", "json", tt.name+".golden")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("JSON of %T differs from %s:\ngot:\n%s\nwant:\n%s", tt.v, file, got, want)
			}

			var obj map[string]json.RawMessage
			if err := json.Unmarshal(got, &obj); err != nil {
				t.Fatal(err)
			}
			if tt.full {
				if keys, want := objectKeys(t, got), jsonNames(reflect.TypeOf(tt.v)); !slices.Equal(keys, want) {
					t.Errorf("JSON of %T has the fields\n%v\nwant, in the order of the type\n%v", tt.v, keys, want)
				}
			}
			if tt.check != nil {
				tt.check(t, obj)
			}

			// The JSON reads back into the same value.
			back := reflect.New(reflect.TypeOf(tt.v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatalf("read back: %v", err)
			}
			again, err := json.MarshalIndent(back.Elem().Interface(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(again, '\n'), want) {
				t.Errorf("read back and written again:\n%s\nwant:\n%s", again, want)
			}
		})
	}
}

// objectKeys returns the keys of the JSON object b in their order.
func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// jsonNames returns the JSON names of t's fields in their order, those of
// embedded structs included, as encoding/json would write them without
// MarshalJSON.
func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			names = append(names, jsonNames(f.Type)...)
		case !f.IsExported():
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

// TestJSONAmountForms checks that amounts are written with two decimals
// whatever their exponent, and that decoding still takes every form.
func TestJSONAmountForms(t *testing.T) {
	for in, want := range map[string]string{
		"12.5": "12.50", "500000": "500000.00", "-0.07": "-0.07", "0": "0.00", "-3": "-3.00",
		"125.40": "125.40", "1e3": "1000.00", "0.10000": "0.10",
	} {
		b, err := json.Marshal(Line{Account: "a", Amount: amt(in)})
		if err != nil {
			t.Fatal(err)
		}
		if w := `{"account":"a","amount":"` + want + `"}`; string(b) != w {
			t.Errorf("%s: %s, want %s", in, b, w)
		}
	}
	for _, in := range []string{`"12.5"`, `12.5`, `"12.50"`, `12.50`} {
		var l Line
		if err := json.Unmarshal([]byte(`{"account":"a","amount":`+in+`}`), &l); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !l.Amount.Equal(amt("12.5")) {
			t.Errorf("%s: read %s", in, l.Amount)
		}
	}
}
