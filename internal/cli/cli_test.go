package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

func TestAmount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0.00"},
		{"10000", "10000.00"},
		{"1234567.5", "1234567.50"},
		{"-12.5", "-12.50"},
		{"-0.001", "0.00"},
		{"0.125", "0.13"},
		{"999999999999.99", "999999999999.99"},
	} {
		if got := cli.Amount(decimal.RequireFromString(tc.in)); got != tc.want {
			t.Errorf("Amount(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSides(t *testing.T) {
	for _, tc := range []struct{ in, debit, credit string }{
		{"250.00", "250.00", ""},
		{"-250.5", "", "250.50"},
		{"0", "", ""},
	} {
		d, c := cli.Sides(decimal.RequireFromString(tc.in))
		if d != tc.debit || c != tc.credit {
			t.Errorf("Sides(%s) = %q, %q, want %q, %q", tc.in, d, c, tc.debit, tc.credit)
		}
	}
}

func TestTable(t *testing.T) {
	t.Run("AlignsNumbersRight", func(t *testing.T) {
		var b bytes.Buffer
		tb := cli.NewTable(&b, "ACCOUNT", "DEBIT", "CREDIT", "MEMO")
		tb.Row("bank:main", "10000.00", "", "Treasury transfer")
		tb.Row("equity:state-funding", "", "10000.00", "")
		tb.Row("expense:ada", "426.00", "", "ADA, March")
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "" +
			"ACCOUNT                  DEBIT    CREDIT  MEMO\n" +
			"bank:main             10000.00            Treasury transfer\n" +
			"equity:state-funding            10000.00\n" +
			"expense:ada             426.00            ADA, March\n"
		if b.String() != want {
			t.Errorf("got\n%s\nwant\n%s", b.String(), want)
		}
	})
	t.Run("NoHeader", func(t *testing.T) {
		var b bytes.Buffer
		tb := cli.NewTable(&b)
		tb.Row("id", "7")
		tb.Row("description", "Funding\twith a tab")
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "id           7\ndescription  Funding with a tab\n"
		if b.String() != want {
			t.Errorf("got\n%q\nwant\n%q", b.String(), want)
		}
	})
	t.Run("TextColumnStaysLeft", func(t *testing.T) {
		var b bytes.Buffer
		tb := cli.NewTable(&b, "CODE", "N")
		tb.Row("12", "1")
		tb.Row("payable", "100")
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "CODE       N\n12         1\npayable  100\n"
		if b.String() != want {
			t.Errorf("got\n%q\nwant\n%q", b.String(), want)
		}
	})
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "json"} {
		if f, err := cli.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := cli.ParseFormat("yaml"); err == nil {
		t.Error("ParseFormat(yaml) accepted")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		out  string
	}{
		{"OK", nil, cli.ExitOK, ""},
		{"FieldError", fmt.Errorf("post entry: %w", errs.Field("lines", "debits and credits differ by 1.00 EUR")), cli.ExitUsage, "error: lines: debits and credits differ by 1.00 EUR\n"},
		{"NotFound", errs.E(errs.NotFound, "no account %q", "bank:x"), cli.ExitFailure, "error: no account \"bank:x\"\n"},
		{"Usage", cli.Usage(errors.New(`unknown flag: --frm`)), cli.ExitUsage, "error: unknown flag: --frm\n"},
		{"Other", fmt.Errorf("open database: %w", errors.New("connection refused")), cli.ExitFailure, "error: open database: connection refused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cli.ExitCode(tc.err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d", got, tc.code)
			}
			var b bytes.Buffer
			cli.PrintError(&b, tc.err)
			if b.String() != tc.out {
				t.Errorf("PrintError wrote %q, want %q", b.String(), tc.out)
			}
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		field    string // "" when the error names none
		msg      string // part of the message
	}{
		{"UnknownField", `{"idempotency_key":"k","lines":[{"account":"a","amount":"1"},{"acount":"b"}]}`, "lines[1].acount", "unknown field"},
		{"BadAmount", `{"lines":[{"account":"a","amount":"1"},{"account":"b","amount":"ten"}]}`, "lines[1].amount", "ten"},
		{"BadDate", `{"effective_date":"2025-13-01"}`, "effective_date", "YYYY-MM-DD"},
		{"WrongType", `{"description": 12}`, "description", "must be a string, not a JSON number"},
		{"MetadataValue", `{"metadata":{"programme":303}}`, "metadata.programme", "must be a string"},
		{"NotAnObject", `[1,2]`, "", "must be a JSON object"},
		{"Syntax", "{\n  \"description\": \"x\",\n  ]\n}", "", "line 3, column 3"},
		{"CutShort", `{"description": "x"`, "", "cut short"},
		{"Empty", ``, "", "no JSON value"},
		{"Trailing", "{}\n {}", "", "after the JSON value at line 2, column 2"},
		{"NotUTF8", "{\n  \"description\": \"caf\xe9\"\n}", "", "not UTF-8 text: the byte at line 2, column 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e ledger.NewEntry
			err := cli.DecodeStrict([]byte(tc.in), &e)
			var ee *errs.Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
			}
			if ee.Code != errs.Invalid || ee.Field != tc.field || !strings.Contains(ee.Message, tc.msg) {
				t.Errorf("got code %q field %q message %q; want invalid, field %q, message with %q", ee.Code, ee.Field, ee.Message, tc.field, tc.msg)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		var e ledger.NewEntry
		in := `{"idempotency_key":"k","effective_date":"2025-01-02","lines":[{"account":"bank:main","amount":"10.50"},{"account":"equity:state-funding","amount":-10.5}]}`
		if err := cli.DecodeStrict([]byte(in), &e); err != nil {
			t.Fatal(err)
		}
		if e.EffectiveDate.String() != "2025-01-02" || len(e.Lines) != 2 || !e.Lines[1].Amount.Equal(decimal.RequireFromString("-10.5")) {
			t.Errorf("decoded %+v", e)
		}
	})
}

func TestProgressIsSilentOffTerminal(t *testing.T) {
	var b bytes.Buffer
	p := cli.NewProgress(&b, -1, "reading", false)
	p.Add(10)
	p.Set(20)
	p.Finish()
	var nilP *cli.Progress
	nilP.Add(1)
	if b.Len() != 0 {
		t.Errorf("progress wrote %q to a buffer", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := cli.WriteJSON(&b, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"a\": \"b\"\n}\n" {
		t.Errorf("got %q", b.String())
	}
}
