package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The hand-written CFONB samples: one content, three ways of ending lines.
var cfonbSamples = []struct{ file, golden string }{
	{"cfonb_multi.txt", "cfonb_multi.golden.json"},
	{"cfonb_multi_crlf.txt", "cfonb_multi_crlf.golden.json"},
	{"cfonb_multi_noeol.txt", "cfonb_multi_noeol.golden.json"},
}

func TestCFONBGolden(t *testing.T) {
	var first parsed
	for i, s := range cfonbSamples {
		t.Run(s.file, func(t *testing.T) {
			p, err := readAll(NewCFONBReader(bytes.NewReader(readTestdata(t, s.file)), Options{}))
			if err != nil {
				t.Fatal(err)
			}
			checkBalances(t, p)
			checkGolden(t, s.golden, p)
			if i == 0 {
				first = p
				return
			}
			// The same records whatever the line ends: only the file's
			// size and hash differ.
			if !sameStatements(first, p) {
				t.Errorf("%s does not read as %s", s.file, cfonbSamples[0].file)
			}
		})
	}
}

func sameStatements(a, b parsed) bool {
	strip := func(p parsed) parsed {
		p.Summary.Bytes, p.Summary.FileSHA256 = 0, ""
		sts := append([]Statement{}, p.Summary.Statements...)
		for i := range sts {
			sts[i].FileSHA256 = ""
		}
		p.Summary.Statements = sts
		ps := append([]parsedStatement{}, p.Statements...)
		for i := range ps {
			ps[i].Header.FileSHA256 = ""
		}
		p.Statements = ps
		return p
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func TestCFONBLines(t *testing.T) {
	p, err := readAll(NewCFONBReader(bytes.NewReader(readTestdata(t, "cfonb_multi.txt")), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Summary.Statements); n != 3 || p.Summary.Lines != 8 || p.Summary.Format != FormatCFONB120 {
		t.Fatalf("%d statements, %d lines, format %q", n, p.Summary.Lines, p.Summary.Format)
	}
	st := p.Summary.Statements[0]
	if st.ID != "30001-00064-00000012345-2024-02-29" || st.Account != "30001-00064-00000012345" || st.Currency != "EUR" ||
		st.Date != date("2024-03-01") || st.Opening.Date != date("2024-02-29") || !st.Closing.Amount.Equal(d("148642")) || st.Sequence != 0 {
		t.Errorf("statement %+v", st)
	}
	if h := p.Statements[0].Header; !h.Closing.Amount.IsZero() || !h.Date.IsZero() || !h.Opening.Amount.Equal(d("150000")) {
		t.Errorf("header %+v: the closing balance comes at the end", h)
	}
	if st := p.Summary.Statements[2]; !st.Opening.Amount.Equal(d("-1000")) || !st.Closing.Amount.Equal(d("-2000")) {
		t.Errorf("debit balances: %+v", st)
	}

	lines := p.Statements[0].Lines
	t.Run("DebitWithComplements", func(t *testing.T) {
		l := lines[0]
		if l.Direction != Debit || !l.Amount.Equal(d("350")) || l.EndToEndID != "ADA-2024-02-000123" ||
			l.CounterpartyName != "AMINA DIALLO" || l.BookingDate != date("2024-03-01") || l.ValueDate != date("2024-03-01") ||
			l.BankRef != "2024061A0001234" || l.BankCode != "06" || l.Label != "VIR SEPA EMIS ADA FEV 2024" || l.Status != StatusBooked {
			t.Errorf("%+v", l)
		}
	})
	t.Run("LabelComplement", func(t *testing.T) {
		if l := lines[1]; l.Label != "REMISE VIR SEPA 3 OPERATIONS PMT-20240229-ADA-02" || !l.Signed().Equal(d("-1210.50")) {
			t.Errorf("%+v", l)
		}
	})
	t.Run("Return", func(t *testing.T) {
		l := lines[2]
		if l.Direction != Credit || !l.Amount.Equal(d("204")) || l.ReturnReason != "AC04" || l.EndToEndID != "ADA-2024-02-000087" ||
			l.CounterpartyName != "KARIM HADDAD" || l.Label != "RETOUR VIR SEPA MOTIF AC04 COMPTE CLOTURE" {
			t.Errorf("%+v", l)
		}
	})
	t.Run("EntryNumberWhenNoReference", func(t *testing.T) {
		if l := lines[3]; l.BankRef != "0001237" || !l.Signed().Equal(d("-1.50")) {
			t.Errorf("%+v", l)
		}
	})
	t.Run("Latin1", func(t *testing.T) {
		if l := p.Statements[1].Lines[0]; l.Label != "VIR SEPA EMIS ADA MARS 2024 DOSSIER N° 75-2023-01187" {
			t.Errorf("label %q", l.Label)
		}
	})
}

// cfonbEdit returns the sample cfonb_multi.txt with its line n (1-based)
// changed by edit.
func cfonbEdit(tb testing.TB, n int, edit func(string) string) []byte {
	tb.Helper()
	lines := strings.SplitAfter(string(readTestdata(tb, "cfonb_multi.txt")), "\n")
	rec := strings.TrimSuffix(lines[n-1], "\n")
	lines[n-1] = edit(rec) + "\n"
	return []byte(strings.Join(lines, ""))
}

// setCols writes s at 1-based column from of rec.
func setCols(rec string, from int, s string) string {
	return rec[:from-1] + s + rec[from-1+len(s):]
}

func TestCFONBBad(t *testing.T) {
	sample := readTestdata(t, "cfonb_multi.txt")
	lines := strings.Split(strings.TrimSuffix(string(sample), "\n"), "\n")
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	amount := "Amount (columns 91-104)"

	cases := []badCase{
		{name: "BadSignCharacter", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 104, "X") }),
			line: 2, element: "record 04", field: amount, reason: `"X" at column 104 is not a sign character`},
		{name: "OrphanComplement", data: join(lines[0], lines[2], lines[1]),
			line: 2, element: "record 05", reason: "05 complement without a 04 movement before it"},
		{name: "Record119", data: cfonbEdit(t, 3, func(r string) string { return r[:119] }),
			line: 3, element: "record 05", reason: "record of 119 characters, want 120"},
		{name: "Record121", data: cfonbEdit(t, 3, func(r string) string { return r + " " }),
			line: 3, element: "record 05", reason: "record longer than 120 characters"},
		{name: "UnknownRecordCode", data: cfonbEdit(t, 5, func(r string) string { return setCols(r, 1, "03") }),
			line: 5, element: "record 03", reason: `unknown record code "03"`},
		{name: "InvalidDate", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 35, "310224") }),
			line: 2, element: "record 04", field: "BookingDate (columns 35-40)", reason: `"310224" is not a valid DDMMYY date`},
		{name: "InvalidValueDate", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 43, "01 324") }),
			line: 2, element: "record 04", field: "ValueDate (columns 43-48)", reason: "not a date of the form DDMMYY"},
		{name: "NonDigitInAmount", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 95, "O") }),
			line: 2, element: "record 04", field: amount, reason: `"O" at column 95 is not a digit`},
		{name: "BalanceMismatch", data: cfonbEdit(t, 12, func(r string) string { return setCols(r, 91, "0000001486421{") }),
			line: 12, element: "record 07", field: "Closing",
			reason: "balance mismatch: opening 150000.00 + booked entries -1358.00 = 148642.00, but the closing balance is 148642.10"},
		{name: "No07", data: join(lines[:11]...), line: 11, reason: "the file ends before the 07 closing balance of account 30001-00064-00000012345, opened line 1"},
		{name: "MovementBefore01", data: join(lines[1:]...), line: 1, element: "record 04", reason: "04 record outside a statement"},
		{name: "01Before07", data: join(append(lines[:2:2], lines[12:]...)...), line: 3, element: "record 01",
			reason: "01 opening balance before the 07 closing balance"},
		{name: "OtherAccount", data: cfonbEdit(t, 4, func(r string) string { return setCols(r, 22, "00000067890") }),
			line: 4, element: "record 05", field: "Account", reason: "a record of account 30001-00064-00000067890 in the statement of account 30001-00064-00000012345"},
		{name: "OtherCurrency", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 17, "USD") }),
			line: 2, element: "record 04", field: "Currency (columns 17-19)", reason: `currency mismatch: "USD" in a statement in EUR`},
		{name: "NULInLabel", data: cfonbEdit(t, 2, func(r string) string { return setCols(r, 50, "\x00") }),
			line: 2, element: "record 04", reason: "byte 0x00 (NUL) at column 50"},
		{name: "BadDecimals", data: cfonbEdit(t, 1, func(r string) string { return setCols(r, 20, " ") }),
			line: 1, element: "record 01", field: "number of decimals (column 20)", reason: `" " is not a digit`},
		{name: "Empty", data: []byte("\n"), reason: "empty file: no 01 record"},
		{name: "SameStatementTwice", data: join(append(lines[:12:12], lines[:12]...)...), line: 13, element: "record 01", field: "ID",
			reason: "a second statement of account 30001-00064-00000012345 opening on 2024-02-29 (the first opened line 1)"},
		{name: "TooLarge", data: sample, opts: Options{MaxBytes: 1000}, line: 9, reason: "file larger than the limit of 1000 bytes"},
	}
	for _, c := range cases {
		c.open = NewCFONBReader
		t.Run(c.name, c.run)
	}
}

// cfonbStream writes a CFONB statement of n movements, each with an RCN
// complement, to w one record at a time.
func cfonbStream(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	rec := func(code, date, rest string) {
		r := code + "30001" + "0106" + "00064" + "EUR" + "2" + " " + "00000012345" + "06" + date
		fmt.Fprintf(bw, "%-120s\n", r+rest)
	}
	pad := func(s string, n int) string { return fmt.Sprintf("%-*s", n, s) }
	// Opening 1,000,000.00, then debits of 1.23: closing 1,000,000.00 - n × 1.23.
	closing := 100_000_000 - 123*int64(n)
	rec("01", "030324", pad("", 50)+"0000010000000{")
	for i := range n {
		rec("04", "040324", "  040324"+pad("VIR SEPA EMIS ADA", 32)+" "+fmt.Sprintf("%07d", i%10_000_000)+"  "+"0000000000012L"+pad("REF", 16))
		rec("05", "040324", pad("", 5)+"RCN"+pad(fmt.Sprintf("ADA-2024-03-%09d", i), 70))
	}
	rec("07", "040324", pad("", 50)+cfonbAmount(closing))
	return bw.Flush()
}

// cfonbAmount writes cents as a CFONB amount: 13 digits and a character
// for the last digit and the sign.
func cfonbAmount(cents int64) string {
	signs := "{ABCDEFGHI"
	if cents < 0 {
		signs, cents = "}JKLMNOPQR", -cents
	}
	return fmt.Sprintf("%013d", cents/10) + string(signs[cents%10])
}

func TestCFONBStreaming(t *testing.T) {
	checkStreaming(t, 200_000, cfonbStream, NewCFONBReader)
}

// TestCFONBTolerated: a byte-order mark at the start and blank lines
// between records, as some banks' exports have, read as the same
// statements; a record of another length is still refused, on its line.
func TestCFONBTolerated(t *testing.T) {
	orig := readTestdata(t, "cfonb_multi.txt")
	want, err := readAll(NewCFONBReader(bytes.NewReader(orig), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	crlf := bytes.ReplaceAll(orig, []byte("\n"), []byte("\r\n"))
	for name, file := range map[string][]byte{
		"BOM":              append([]byte("\ufeff"), orig...),
		"BlankLines":       bytes.ReplaceAll(orig, []byte("\n"), []byte("\n\n")),
		"BlankCRLFLines":   bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\r\n\r\n")),
		"BOMAndBlankFirst": append([]byte("\ufeff\n\n"), orig...),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(NewCFONBReader(bytes.NewReader(file), Options{}))
			if err != nil {
				t.Fatal(err)
			}
			if !sameStatements(want, got) {
				t.Errorf("does not read as cfonb_multi.txt:\n%+v\nwant\n%+v", got.Summary, want.Summary)
			}
		})
	}
	// A short record after two blank lines is named by its line.
	lines := bytes.SplitAfter(orig, []byte("\n"))
	bad := append([]byte{}, lines[0]...)
	bad = append(bad, '\n', '\n')
	bad = append(bad, []byte("0415589")...)
	bad = append(bad, '\n')
	_, err = readAll(NewCFONBReader(bytes.NewReader(bad), Options{}))
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Line != 4 {
		t.Errorf("a short record on line 4: %v", err)
	}
}

// TestCFONBReturnReasons reads returns whose reason French banks write in a
// 05 complement: after a marker in any complement, alone in a return's, or
// only as the CFONB code of columns 41-42; and code-like words that are no
// reason.
func TestCFONBReturnReasons(t *testing.T) {
	p, err := readAll(NewCFONBReader(bytes.NewReader(readTestdata(t, "cfonb_returns.txt")), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	checkBalances(t, p)
	checkGolden(t, "cfonb_returns.golden.json", p)
	lines := p.Statements[0].Lines
	want := []struct {
		e2e, reason string
		amount      string
	}{
		{"ADA-2024-02-000201", "MS03", "120"},   // LIB "RETOUR VIR SEPA MOTIF:MS03"
		{"ADA-2024-02-000202", "AC04", "80.50"}, // MMO "MOTIF DE REJET AC04", over the CFONB code 04
		{"ADA-2024-02-000203", "MD07", "40"},    // alone in the LIB of a return
		{"ADA-2024-02-000204", "06", "25"},      // the CFONB code of columns 41-42 only
		{"", "", "300"},                         // a credit that is no return: "AC04" and "AM04" are words of its text
		{"ADA-2024-03-000001", "", "15"},        // "MOTIF XX99": no code the service knows
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if l := lines[i]; l.EndToEndID != w.e2e || l.ReturnReason != w.reason || !l.Amount.Equal(d(w.amount)) {
			t.Errorf("line %d: EndToEndId %q reason %q amount %s, want %q %q %s", i+1, l.EndToEndID, l.ReturnReason, l.Amount, w.e2e, w.reason, w.amount)
		}
	}
}

func TestReturnReasonMarkers(t *testing.T) {
	credit := Line{Direction: Credit, Label: "VIREMENT"}
	ret := Line{Direction: Credit, Label: "RETOUR VIR SEPA"}
	debit := Line{Direction: Debit, Label: "RETOUR"}
	for _, c := range []struct {
		line  Line
		notes []string
		want  string
	}{
		{credit, []string{"MOTIF AC04"}, "AC04"},
		{credit, []string{"RSN:AC06"}, "AC06"},
		{credit, []string{"REASON BE04"}, "BE04"},
		{credit, []string{"MOT. RR03 NOM ABSENT"}, "RR03"},
		{credit, []string{"motif md07"}, "MD07"},
		{debit, []string{"MOTIF DU RETOUR AM04"}, "AM04"},
		{credit, []string{"AC04"}, ""},                 // alone, in a credit that is no return
		{ret, []string{"REF 12 AC04"}, "AC04"},         // alone, in a return
		{debit, []string{"AC04"}, ""},                  // alone, in a debit
		{ret, []string{"MOTIF AC4"}, ""},               // no code
		{ret, []string{"MOTIFAC04"}, ""},               // one word, not a code
		{ret, []string{"MOTIF ZZ01 X"}, ""},            // an unknown code
		{ret, []string{"MOTIF PAIEMENT AC04"}, "AC04"}, // alone in a return, all the same
		{ret, nil, ""},
	} {
		if got := returnReason(c.line, c.notes); got != c.want {
			t.Errorf("returnReason(%s %q, %q) = %q, want %q", c.line.Direction, c.line.Label, c.notes, got, c.want)
		}
	}
}
