package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// camtSamples are the hand-written camt files of testdata/, each checked
// against its XSD before it is read.
var camtSamples = []struct {
	file, xsd, golden string
	open              func(io.Reader, Options) Reader
	format            string
}{
	{"camt053_v02.xml", "camt.053.001.02.xsd", "camt053_v02.golden.json", NewCamt053Reader, FormatCamt053v02},
	{"camt053_v08.xml", "camt.053.001.08.xsd", "camt053_v08.golden.json", NewCamt053Reader, FormatCamt053v08},
	{"camt054_v08.xml", "camt.054.001.08.xsd", "camt054_v08.golden.json", NewCamt054Reader, FormatCamt054v08},
}

func TestCamtGolden(t *testing.T) {
	for _, s := range camtSamples {
		t.Run(s.file, func(t *testing.T) {
			validateXSD(t, s.xsd, s.file)
			p, err := readAll(s.open(bytes.NewReader(readTestdata(t, s.file)), Options{}))
			if err != nil {
				t.Fatal(err)
			}
			if p.Summary.Format != s.format {
				t.Errorf("format %q, want %q", p.Summary.Format, s.format)
			}
			checkBalances(t, p)
			checkGolden(t, s.golden, p)
		})
	}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func date(s string) ledger.Date {
	v, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

// TestCamt053Lines checks, beyond the golden files, the fields matching
// relies on.
func TestCamt053Lines(t *testing.T) {
	p, err := readAll(NewCamt053Reader(bytes.NewReader(readTestdata(t, "camt053_v02.xml")), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	st := p.Summary.Statements[0]
	if st.ID != "STMT-20240301-001" || st.Sequence != 61 || st.Account != "FR7630001000640000001234559" ||
		st.Currency != "EUR" || st.Date != date("2024-03-01") || st.Entries != 4 ||
		!st.Opening.Amount.Equal(d("150000")) || !st.Closing.Amount.Equal(d("148642")) || len(st.FileSHA256) != 64 {
		t.Errorf("statement %+v", st)
	}
	if h := p.Statements[0].Header; h.FileSHA256 != "" || h.Entries != 0 || !h.Closing.Amount.Equal(st.Closing.Amount) {
		t.Errorf("header %+v: want the balances, no entry count, no hash", h)
	}
	lines := p.Statements[0].Lines

	t.Run("OnePayment", func(t *testing.T) {
		l := lines[0]
		if l.Direction != Debit || !l.Amount.Equal(d("350")) || l.Status != StatusBooked ||
			l.EndToEndID != "ADA-2024-02-000123" || l.PmtInfID != "PMT-20240229-ADA-01" || l.MsgID != "OFII-20240229-0001" ||
			l.CounterpartyName != "Amina Diallo" || l.CounterpartyIBAN != "FR7630004008280001234567841" ||
			l.BankRef != "2024061A0001234" || l.BankCode != "0106" || l.Batch != nil || len(l.Details) != 1 ||
			l.BookingDate != date("2024-03-01") || l.Details[0].Remittance != "ADA FEVRIER 2024" {
			t.Errorf("%+v", l)
		}
	})
	t.Run("Batch", func(t *testing.T) {
		l := lines[1]
		b := l.Batch
		if b == nil || b.Count != 3 || !b.Total.Equal(d("1210.50")) || b.PmtInfID != "PMT-20240229-ADA-02" ||
			l.PmtInfID != "PMT-20240229-ADA-02" || l.MsgID != "OFII-20240229-0001" || l.EndToEndID != "" || len(l.Details) != 0 {
			t.Errorf("%+v batch %+v", l, b)
		}
	})
	t.Run("Return", func(t *testing.T) {
		l := lines[2]
		if l.Direction != Credit || l.SubFamily != "RRTN" || l.ReturnReason != "AC04" || l.EndToEndID != "ADA-2024-02-000087" ||
			l.CounterpartyName != "Karim Haddad" || l.CounterpartyIBAN != "FR7620041010050500789452173" ||
			!l.Details[0].Amount.Equal(d("204")) {
			t.Errorf("%+v", l)
		}
	})
	t.Run("Fee", func(t *testing.T) {
		l := lines[3]
		if l.Domain != "ACMT" || l.Family != "MDOP" || l.SubFamily != "CHRG" || !l.Signed().Equal(d("-1.50")) ||
			l.Label != "FRAIS RETOUR VIR SEPA" {
			t.Errorf("%+v", l)
		}
	})

	p8, err := readAll(NewCamt053Reader(bytes.NewReader(readTestdata(t, "camt053_v08.xml")), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("BatchWithDetails", func(t *testing.T) {
		l := p8.Statements[0].Lines[1]
		if len(l.Details) != 2 || l.EndToEndID != "" || l.Details[0].EndToEndID != "REIN-2024-03-000004" ||
			!l.Details[1].Amount.Equal(d("400")) || l.Details[1].CounterpartyName != "Mariam Traore" || l.Batch.Count != 2 {
			t.Errorf("%+v", l)
		}
	})
	t.Run("ReturnLessFee", func(t *testing.T) {
		// The bank names the original parties: we are the debtor, so the
		// counterparty is the creditor.
		l := p8.Statements[0].Lines[2]
		if !l.Amount.Equal(d("797.50")) || l.ReturnReason != "AC04" || l.CounterpartyName != "Yusuf Demir" ||
			l.EndToEndID != "REIN-2024-02-000031" {
			t.Errorf("%+v", l)
		}
	})
	t.Run("DateTimeAndPending", func(t *testing.T) {
		lines := p8.Statements[0].Lines
		if lines[3].BookingDate != date("2024-03-04") || lines[4].Status != StatusPending {
			t.Errorf("%+v %+v", lines[3], lines[4])
		}
	})
	t.Run("DebitOpeningPRCD", func(t *testing.T) {
		st := p8.Summary.Statements[1]
		if !st.Opening.Amount.Equal(d("-1000")) || st.Opening.Date != date("2024-03-01") || st.Sequence != 0 || !st.Closing.Amount.Equal(d("500")) {
			t.Errorf("%+v", st)
		}
	})
}

// TestCamt053Bad feeds files a bank must never be believed about.
func TestCamt053Bad(t *testing.T) {
	v02 := readTestdata(t, "camt053_v02.xml")
	stmt := "Document/BkToCstmrStmt/Stmt[1]"
	ntry1 := stmt + "/Ntry[1]"
	firstAmt := `<Amt Ccy="EUR">350.00</Amt>`

	truncAt := bytes.Index(v02, []byte("<AcctSvcrRef>2024061R")) + len("<AcctSvcrRef>2024061R")
	truncated := v02[:truncAt]

	withAmt := func(v string) ([]byte, int) { return replaceOnce(t, v02, firstAmt, `<Amt Ccy="EUR">`+v+`</Amt>`) }
	threeDecimals, threeDecimalsLine := withAmt("350.001")
	negative, negativeLine := withAmt("-350.00")
	notNumber, notNumberLine := withAmt("35O.00")
	otherCcy, otherCcyLine := replaceOnce(t, v02, firstAmt, `<Amt Ccy="USD">350.00</Amt>`)
	badStatus, badStatusLine := replaceOnce(t, v02, "<Sts>BOOK</Sts>", "<Sts>DONE</Sts>")

	mismatch, _ := replaceOnce(t, v02, `<Amt Ccy="EUR">148642.00</Amt>`, `<Amt Ccy="EUR">148643.00</Amt>`)
	balBlock := func(tp string) string {
		i := bytes.Index(v02, []byte("<Cd>"+tp+"</Cd>"))
		start := bytes.LastIndex(v02[:i], []byte("      <Bal>"))
		end := i + bytes.Index(v02[i:], []byte("</Bal>\n")) + len("</Bal>\n")
		return string(v02[start:end])
	}
	noCLBD, _ := replaceOnce(t, v02, balBlock("CLBD"), "")
	noOPBD, _ := replaceOnce(t, v02, balBlock("OPBD"), "")
	balAfterNtry, _ := replaceOnce(t, v02, "    </Stmt>", balBlock("CLBD")+"    </Stmt>")
	stmtBlock := string(v02[bytes.Index(v02, []byte("    <Stmt>")):bytes.Index(v02, []byte("  </BkToCstmrStmt>"))])
	twoStmts, _ := replaceOnce(t, v02, "  </BkToCstmrStmt>", stmtBlock+"  </BkToCstmrStmt>")

	dtd := []byte(`<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&xxe;</BkToCstmrStmt></Document>
`)
	var bomb bytes.Buffer
	bomb.WriteString("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n<BkToCstmrStmt>\n<GrpHdr>\n")
	for range 100 {
		bomb.WriteString("<AddtlInf>\n")
	}
	const limit = 1024

	cases := []badCase{
		{name: "Truncated", data: truncated, line: bytes.Count(truncated, []byte("\n")) + 1,
			element: "Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/AcctSvcrRef", reason: "XML syntax error: unexpected EOF"},
		{name: "DTDWithEntity", data: dtd, line: 4, reason: "DTD and entity declarations are not allowed"},
		{name: "DepthBomb", data: bomb.Bytes(), line: 3 + 62,
			element: "Document/BkToCstmrStmt/GrpHdr" + strings.Repeat("/AddtlInf", 62), reason: "nested deeper than 64 levels"},
		{name: "TooLarge", data: v02, opts: Options{MaxBytes: limit}, line: bytes.Count(v02[:limit], []byte("\n")) + 1,
			element: stmt + "/Bal[1]/CdtDbtInd", reason: "file larger than the limit of 1024 bytes"},
		{name: "ThreeDecimals", data: threeDecimals, line: threeDecimalsLine, element: ntry1 + "/Amt", field: "Amount",
			reason: `amount "350.001" has 3 decimals, at most 2 are allowed`},
		{name: "Negative", data: negative, line: negativeLine, element: ntry1 + "/Amt", field: "Amount", reason: "negative amount"},
		{name: "NotANumber", data: notNumber, line: notNumberLine, element: ntry1 + "/Amt", field: "Amount", reason: `"35O.00" is not a decimal amount`},
		{name: "CurrencyMismatch", data: otherCcy, line: otherCcyLine, element: ntry1 + "/Amt", field: "Currency",
			reason: "currency mismatch: USD in a statement in EUR"},
		{name: "UnknownStatus", data: badStatus, line: badStatusLine, element: ntry1 + "/Sts", field: "Status", reason: `unknown entry status "DONE"`},
		{name: "BalanceMismatch", data: mismatch, line: lineOf(t, mismatch, "</Stmt>"), element: stmt, field: "Closing",
			reason: "balance mismatch: opening 150000.00 + booked entries -1358.00 = 148642.00, but the closing balance is 148643.00"},
		{name: "NoCLBD", data: noCLBD, line: lineOf(t, noCLBD, "<Ntry>"), element: stmt, field: "Closing", reason: "no closing balance (Bal of type CLBD)"},
		{name: "NoOPBD", data: noOPBD, line: lineOf(t, noOPBD, "<Ntry>"), element: stmt, field: "Opening", reason: "no opening balance"},
		{name: "BalanceAfterEntries", data: balAfterNtry, line: lineOf(t, balAfterNtry, "      <Bal>\n        <Tp>\n          <CdOrPrtry>\n            <Cd>CLBD</Cd>\n          </CdOrPrtry>\n        </Tp>\n        <Amt Ccy=\"EUR\">148642.00</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Dt>\n          <Dt>2024-03-01</Dt>\n        </Dt>\n      </Bal>\n    </Stmt>"),
			element: stmt + "/Bal", reason: "a balance after an entry: balances must come before the entries"},
		{name: "SameStatementTwice", data: twoStmts, line: lineOf(t, v02, "<Ntry>") + strings.Count(stmtBlock, "\n"),
			element: "Document/BkToCstmrStmt/Stmt[2]", field: "ID", reason: `a second Stmt with Id "STMT-20240301-001"`},
		{name: "NotCamt053", data: readTestdata(t, "camt054_v08.xml"), line: lineOf(t, readTestdata(t, "camt054_v08.xml"), "<Document"), element: "Document", reason: "not a camt.053 document"},
		{name: "Empty", data: []byte("  \n"), reason: "empty file"},
		{name: "NoStatement", data: []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr/></BkToCstmrStmt></Document>`),
			line: 1, element: "Document", reason: "no Stmt in the message"},
		{name: "TrailingElement", data: append(append([]byte{}, v02...), "<Document/>\n"...), line: lineOf(t, v02, "</Document>") + 1,
			element: "Document", reason: "unexpected element after the BkToCstmrStmt message"},
	}
	for _, c := range cases {
		c.open = NewCamt053Reader
		t.Run(c.name, c.run)
	}

	t.Run("TooLargeIsErrTooLarge", func(t *testing.T) {
		_, err := Check(NewCamt053Reader(bytes.NewReader(v02), Options{MaxBytes: limit}))
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
	})
	t.Run("ExactlyMaxBytes", func(t *testing.T) {
		if _, err := Check(NewCamt053Reader(bytes.NewReader(v02), Options{MaxBytes: int64(len(v02))})); err != nil {
			t.Error(err)
		}
	})
	t.Run("ErrorIsSticky", func(t *testing.T) {
		rd := NewCamt053Reader(bytes.NewReader(mismatch), Options{})
		_, err := Check(rd)
		if _, err2 := rd.NextStatement(); err2 != err {
			t.Errorf("after %v, NextStatement returned %v", err, err2)
		}
		if _, err2 := rd.NextLine(); err2 != err {
			t.Errorf("after %v, NextLine returned %v", err, err2)
		}
	})
}

// TestCamt053SkipLines checks that a caller that reads headers only still
// gets every statement checked.
func TestCamt053SkipLines(t *testing.T) {
	v02 := readTestdata(t, "camt053_v02.xml")
	mismatch, _ := replaceOnce(t, v02, `<Amt Ccy="EUR">148642.00</Amt>`, `<Amt Ccy="EUR">148643.00</Amt>`)
	rd := NewCamt053Reader(bytes.NewReader(mismatch), Options{})
	if _, err := rd.NextStatement(); err != nil {
		t.Fatal(err)
	}
	var fe *FormatError
	if _, err := rd.NextStatement(); !errors.As(err, &fe) || fe.Field != "Closing" {
		t.Errorf("got %v, want the balance mismatch", err)
	}
}

// camtStream writes a camt.053.001.08 statement of n entries to w, one
// entry at a time: a debit of 1.23 each, except every tenth, a return
// credit of 4.56.
func camtStream(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	opening := int64(100_000_000_00)
	closing := opening
	for i := range n {
		if i%10 == 9 {
			closing += 456
		} else {
			closing -= 123
		}
	}
	cents := func(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>BIG</MsgId><CreDtTm>2024-03-04T21:30:00</CreDtTm></GrpHdr>
<Stmt><Id>BIG-1</Id><Acct><Id><IBAN>FR7630001000640000001234559</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-04</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-04</Dt></Dt></Bal>
`, cents(opening), cents(closing))
	for i := range n {
		amt, ind, sub := "1.23", "DBIT", "ESCT"
		if i%10 == 9 {
			amt, ind, sub = "4.56", "CRDT", "RRTN"
		}
		fmt.Fprintf(bw, `<Ntry><Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-03-04</Dt></BookgDt>`+
			`<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>%s</SubFmlyCd></Fmly></Domn></BkTxCd>`+
			`<NtryDtls><TxDtls><Refs><EndToEndId>ADA-2024-03-%09d</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>`+"\n", amt, ind, sub, i)
	}
	bw.WriteString("</Stmt></BkToCstmrStmt></Document>\n")
	return bw.Flush()
}

// checkStreaming reads n lines from a file written on the fly by write,
// through a pipe, and fails if the heap in use ever passes 32 MiB: the
// reader must hold one line at a time, never the file.
func checkStreaming(t *testing.T, n int, write func(io.Writer, int) error, open func(io.Reader, Options) Reader) {
	const maxHeap = 32 << 20
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw, n)) }()
	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	count := 0
	sum, err := Walk(open(pr, Options{}), func(st Statement, l Line) error {
		count++
		if count%10_000 == 0 {
			sample()
		}
		return nil
	})
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	sample()
	if count != n || sum.Lines != n || sum.Statements[0].Entries != n {
		t.Errorf("read %d lines, summary %d, want %d", count, sum.Lines, n)
	}
	t.Logf("%d lines, %d bytes, peak heap in use %.1f MiB", n, sum.Bytes, float64(peak)/(1<<20))
	if peak > maxHeap {
		t.Errorf("heap in use reached %d bytes, more than %d: the reader does not stream", peak, maxHeap)
	}
}

func TestCamt053Streaming(t *testing.T) {
	checkStreaming(t, 200_000, camtStream, NewCamt053Reader)
}

// TestCamtBOM: a camt file that starts with a byte-order mark reads as the
// same file without it.
func TestCamtBOM(t *testing.T) {
	for _, s := range camtSamples {
		t.Run(s.file, func(t *testing.T) {
			orig := readTestdata(t, s.file)
			want, err := readAll(s.open(bytes.NewReader(orig), Options{}))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(s.open(bytes.NewReader(append([]byte("\ufeff"), orig...)), Options{}))
			if err != nil {
				t.Fatalf("with a BOM: %v", err)
			}
			if !sameStatements(want, got) {
				t.Errorf("with a BOM it reads otherwise:\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
