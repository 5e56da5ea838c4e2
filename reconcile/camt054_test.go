package reconcile

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestCamt054(t *testing.T) {
	data := readTestdata(t, "camt054_v08.xml")
	p, err := readAll(NewCamt054Reader(bytes.NewReader(data), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	st := p.Summary.Statements[0]
	if st.ID != "NTF-20240305-0007" || st.Date != date("2024-03-05") || st.Entries != 2 || !st.Opening.Amount.IsZero() {
		t.Errorf("notification %+v", st)
	}
	if l := p.Statements[0].Lines[1]; l.ReturnReason != "MD07" || l.EndToEndID != "REIN-2024-03-000004" || l.Direction != Credit {
		t.Errorf("return %+v", l)
	}

	// The entries are read by the camt.053 code, with its checks.
	ntry := "Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[1]"
	threeDecimals, line := replaceOnce(t, data, `<Amt Ccy="EUR">420.00</Amt>`, `<Amt Ccy="EUR">420.000</Amt>`)
	otherCcy, ccyLine := replaceOnce(t, data, `<Amt Ccy="EUR">420.00</Amt>`, `<Amt Ccy="CHF">420.00</Amt>`)
	cases := []badCase{
		{name: "ThreeDecimals", data: threeDecimals, line: line, element: ntry + "/Amt", field: "Amount", reason: "3 decimals"},
		{name: "CurrencyMismatch", data: otherCcy, line: ccyLine, element: ntry + "/Amt", field: "Currency", reason: "currency mismatch: CHF"},
		{name: "Camt053", data: readTestdata(t, "camt053_v02.xml"), line: lineOf(t, readTestdata(t, "camt053_v02.xml"), "<Document"),
			element: "Document", reason: "not a camt.054 document"},
	}
	for _, c := range cases {
		c.open = NewCamt054Reader
		t.Run(c.name, c.run)
	}
}

// TestInputError checks that a failing input is reported as such, not as
// a malformed file.
func TestInputError(t *testing.T) {
	for _, c := range []struct {
		file string
		open func(io.Reader, Options) Reader
	}{
		{"camt053_v02.xml", NewCamt053Reader},
		{"cfonb_multi.txt", NewCFONBReader},
	} {
		t.Run(c.file, func(t *testing.T) {
			// The input fails instead of ending.
			r := io.MultiReader(bytes.NewReader(readTestdata(t, c.file)), iotest.ErrReader(iotest.ErrTimeout))
			_, err := Check(c.open(r, Options{}))
			var fe *FormatError
			if errors.As(err, &fe) || !errors.Is(err, iotest.ErrTimeout) {
				t.Errorf("got %v, want the input's error", err)
			}
		})
	}
}
