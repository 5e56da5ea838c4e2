package reconcile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
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

// generated is an endless reader of the strings next(0), next(1)...
type generated struct {
	next func(int) string
	i    int
	buf  string
}

func (g *generated) Read(p []byte) (int, error) {
	if g.buf == "" {
		g.buf = g.next(g.i)
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
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

// readAhead is what the reader's buffers may take beyond the byte that
// passes a limit.
const readAhead = 40 << 10

// TestCamtLimits feeds endless hostile camt files, a valid one up to an
// entry and then a value or a list that never ends: each must be refused
// with the line and element at fault after reading little more than the
// limit it passes.
func TestCamtLimits(t *testing.T) {
	v08 := strings.SplitAfter(string(readTestdata(t, "camt053_v08.xml")), "\n")
	entry := strings.Join(v08[:82], "") // up to the first entry's NtryDtls
	const ntry = "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"
	for _, c := range []struct {
		name, prefix, unit string
		element, reason    string
		line               int
		maxBytes           int
	}{
		{"HugeLabel", "<AddtlNtryInf>", "A", ntry + "/AddtlNtryInf", "longer than", 83, MaxTokenBytes},
		{"HugeSkippedValue", "<NtryRef>", "1", ntry + "/NtryRef", "a tag, text or comment longer than 65536 bytes", 83, MaxTokenBytes},
		{"HugeAttribute", `<Amt Ccy="`, "E", ntry, "a tag, text or comment longer than 65536 bytes", 83, MaxTokenBytes},
		{"HugeComment", "<!--", "x", ntry, "a tag, text or comment longer than 65536 bytes", 83, MaxTokenBytes},
		{"LabelInPieces", "<AddtlNtryInf>", "AAAA<![CDATA[BBBB]]><!---->", ntry + "/AddtlNtryInf", "a text longer than 4096 bytes", 83, MaxValueBytes * 3},
		{"StatusInPieces", "<Sts>", "BOOK<!---->", ntry + "/Sts", "a text longer than 4096 bytes", 83, MaxValueBytes * 3},
		{"Remittance", "<NtryDtls><TxDtls><RmtInf>", "<Ustrd>ADA MARS 2024</Ustrd>", ntry + "/NtryDtls/TxDtls[1]/RmtInf/Ustrd", "longer than 4096 bytes together", 83, MaxValueBytes * 3},
		{"ManyDetails", "<NtryDtls>\n", "<TxDtls/>\n", ntry + "/NtryDtls/TxDtls", "more than 100000 TxDtls in an entry", 84 + MaxEntryDetails, 10 * MaxEntryDetails},
		{"Deep", "", "<X>", ntry + "/X/X", "nested deeper than 64 levels", 83, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := &counting{r: io.MultiReader(strings.NewReader(entry+c.prefix), &repeat{s: c.unit})}
			_, err := readAll(NewCamt053Reader(in, Options{}))
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Element, c.element) || !strings.Contains(fe.Reason, c.reason) || fe.Line != c.line {
				t.Fatalf("read = %v, want line %d, element %s..., reason %q", err, c.line, c.element, c.reason)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("the error has %d bytes", len(err.Error()))
			}
			if limit := int64(len(entry) + c.maxBytes + readAhead); in.n > limit {
				t.Errorf("read %d bytes before refusing, want at most %d", in.n, limit)
			}
		})
	}
}

// TestCamt054Limits checks that notifications share the limits.
func TestCamt054Limits(t *testing.T) {
	v08 := string(readTestdata(t, "camt054_v08.xml"))
	i := strings.Index(v08, "<Ntry>") + len("<Ntry>")
	in := &counting{r: io.MultiReader(strings.NewReader(v08[:i]+"<AddtlNtryInf>"), &repeat{s: "x"})}
	_, err := readAll(NewCamt054Reader(in, Options{}))
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.HasSuffix(fe.Element, "/Ntry[1]/AddtlNtryInf") || !strings.Contains(fe.Reason, "longer than") {
		t.Fatalf("read = %v, want the label refused", err)
	}
	if limit := int64(i + MaxTokenBytes + readAhead); in.n > limit {
		t.Errorf("read %d bytes before refusing, want at most %d", in.n, limit)
	}
}

// TestCamtValueAtLimit reads a label of MaxValueBytes bytes: the limit
// refuses no valid file.
func TestCamtValueAtLimit(t *testing.T) {
	v08 := string(readTestdata(t, "camt053_v08.xml"))
	i := strings.Index(v08, "<NtryDtls>")
	label := strings.Repeat("L", MaxValueBytes)
	p, err := readAll(NewCamt053Reader(strings.NewReader(v08[:i]+"<AddtlNtryInf>"+label+"</AddtlNtryInf>"+v08[i:]), Options{}))
	if err != nil {
		t.Fatalf("read = %v", err)
	}
	if got := p.Statements[0].Lines[0].Label; got != label {
		t.Fatalf("label of %d bytes, want %d", len(got), len(label))
	}
}

// TestCFONBLimits feeds endless hostile CFONB files: a line that never
// ends, and statements without end. Each is refused at its record after
// reading little more than the limit.
func TestCFONBLimits(t *testing.T) {
	multi := strings.SplitAfter(string(readTestdata(t, "cfonb_multi.txt")), "\n")
	open := multi[0]
	close := "07" + open[2:] // the same balance, no entries
	for _, c := range []struct {
		name     string
		prefix   string
		unit     string
		line     int
		reason   string
		maxBytes int64
	}{
		{"EndlessLine", open + open[:120], "A", 2, "record longer than 120 characters", 0},
		{"ManyComplements", strings.Join(multi[:2], ""), multi[5], 3 + MaxComplements, "more than 64 05 complements in a row", 0},
		{"ManyStatements", "", "", 2*MaxReports + 1, "statement number 100001: a file holds at most 100000", 2 * MaxReports * 121},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = &repeat{s: c.unit}
			if c.unit == "" {
				// Statements of accounts 1, 2, 3...: each a new one.
				r = &generated{next: func(i int) string {
					acct := fmt.Sprintf("%011d", i+1)
					return open[:21] + acct + open[32:] + close[:21] + acct + close[32:]
				}}
			}
			in := &counting{r: io.MultiReader(strings.NewReader(c.prefix), r)}
			_, err := readAll(NewCFONBReader(in, Options{}))
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(fe.Reason, c.reason) {
				t.Fatalf("read = %v, want line %d, reason %q", err, c.line, c.reason)
			}
			if limit := c.maxBytes + readAhead; in.n > limit {
				t.Errorf("read %d bytes before refusing, want at most %d", in.n, limit)
			}
		})
	}
}
