package sepa

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/errs"
)

// repeat is an endless reader of s over and over.
type repeat struct {
	s string
	n int
}

func (r *repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.s[r.n%len(r.s)]
		r.n++
	}
	return len(p), nil
}

// counting counts the bytes read from r.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readAhead is what the reader's buffer may take beyond the byte that
// passes a limit.
const readAhead = 20 << 10

const head002 = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>` + "\n"

// TestReadStatusReportLimits feeds endless hostile files: each must be
// refused with the element and line at fault, in a short error, after
// reading little more than the limit it passes.
func TestReadStatusReportLimits(t *testing.T) {
	for _, c := range []struct {
		name     string
		prefix   string // after head002
		unit     string // repeated forever after prefix
		field    string // the error's field starts with it
		reason   string
		maxBytes int64 // the most of the input read before the refusal
	}{
		{"Deep", "", "<X>", "Document/CstmrPmtStsRpt/X/X/…/X/X/X", "nested deeper than 32 elements (line 3)", readAhead},
		{"DeepRepeated", "", "<TxInfAndSts>", "Document/CstmrPmtStsRpt/TxInfAndSts[1]/TxInfAndSts[1]/…/TxInfAndSts[1]", "nested deeper than 32", readAhead},
		{"LongText", "<OrgnlPmtInfAndSts><OrgnlPmtInfId>", "A", "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/OrgnlPmtInfId", "text longer than 4096 bytes (line 3)", MaxTokenBytes + readAhead},
		{"LongTag", `<GrpHdr a="`, "b", "Document/CstmrPmtStsRpt", "longer than 65536 bytes (line 3)", MaxTokenBytes + readAhead},
		{"LongComment", "<!--", "x", "Document/CstmrPmtStsRpt", "longer than 65536 bytes (line 3)", MaxTokenBytes + readAhead},
		{"ManyElements", "", "<X/>\n", "Document/CstmrPmtStsRpt", "element number 1000001: a file holds at most 1000000 (line 1000001)", 5*MaxElements002 + readAhead},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := &counting{r: io.MultiReader(strings.NewReader(head002), strings.NewReader(c.prefix), &repeat{s: c.unit})}
			_, err := ReadStatusReport(in)
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || !strings.HasPrefix(e.Field, c.field) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("ReadStatusReport = %v, want an invalid error on %s... saying %q", err, c.field, c.reason)
			}
			if len(err.Error()) > 500 {
				t.Errorf("the error has %d bytes: %.200s...", len(err.Error()), err)
			}
			if in.n > c.maxBytes {
				t.Errorf("read %d bytes before refusing, want at most %d", in.n, c.maxBytes)
			}
		})
	}
}

// TestReadStatusReportTextAtLimit reads an identifier padded with white
// space to the longest text allowed: the limit refuses no valid file.
func TestReadStatusReportTextAtLimit(t *testing.T) {
	good := string(readTestdata(t, "pain002_partial.xml"))
	i := strings.Index(good, "<MsgId>") + len("<MsgId>")
	j := strings.Index(good, "</MsgId>")
	pad := strings.Repeat(" ", MaxTextBytes-(j-i))
	rep, err := ReadStatusReport(strings.NewReader(good[:i] + pad + good[i:j] + good[j:]))
	if err != nil {
		t.Fatalf("ReadStatusReport = %v", err)
	}
	if rep.MsgID != strings.TrimSpace(good[i:j]) {
		t.Fatalf("MsgID = %q, want %q", rep.MsgID, strings.TrimSpace(good[i:j]))
	}
}

// TestReadLimits checks that pain.001 files share the limits.
func TestReadLimits(t *testing.T) {
	head := `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>`
	in := &counting{r: io.MultiReader(strings.NewReader(head), &repeat{s: "<CdtTrfTxInf>"})}
	_, err := Read(in)
	var e *errs.Error
	if !errors.As(err, &e) || !strings.HasPrefix(e.Field, "Document/CstmrCdtTrfInitn/CdtTrfTxInf[1]/CdtTrfTxInf[1]") || !strings.Contains(err.Error(), "nested deeper than 32 elements") {
		t.Fatalf("Read = %v, want the nesting refused", err)
	}
	if in.n > readAhead {
		t.Errorf("read %d bytes before refusing", in.n)
	}
}
