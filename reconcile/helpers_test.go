package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// readTestdata returns the content of testdata/name.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// validateXSD checks testdata/name against the schema ../testdata/xsd/xsd
// with xmllint: the samples must be what a bank may send.
func validateXSD(t *testing.T, xsd, name string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is missing: install libxml2-utils (apt-get install -y libxml2-utils); the camt samples are validated against their XSD")
	}
	schema := filepath.Join("..", "testdata", "xsd", xsd)
	out, err := exec.Command(xmllint, "--noout", "--schema", schema, filepath.Join("testdata", name)).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: testdata/%s does not validate against %s: %v\n%s", name, schema, err, out)
	}
}

// parsed is what a reader makes of a file, as the golden files hold it.
type parsed struct {
	Summary    Summary
	Statements []parsedStatement
}

// parsedStatement is a statement's header, as NextStatement returns it,
// and its lines.
type parsedStatement struct {
	Header Statement
	Lines  []Line
}

// readAll reads every statement and line of rd.
func readAll(rd Reader) (parsed, error) {
	var p parsed
	for {
		st, err := rd.NextStatement()
		if err == io.EOF {
			p.Summary = rd.Summary()
			return p, nil
		}
		if err != nil {
			return p, err
		}
		ps := parsedStatement{Header: st}
		for {
			l, err := rd.NextLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				return p, err
			}
			ps.Lines = append(ps.Lines, l)
		}
		p.Statements = append(p.Statements, ps)
	}
}

// checkGolden compares got, as indented JSON, with testdata/name, or
// rewrites the file under -update.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("result differs from %s (go test -update rewrites it); got:\n%s", path, b)
	}
}

// badCase is a file a reader must refuse, and where and why.
type badCase struct {
	name    string
	open    func(io.Reader, Options) Reader
	data    []byte
	opts    Options
	line    int
	element string
	field   string
	reason  string // a part of the reason
}

func (c badCase) run(t *testing.T) {
	t.Helper()
	_, err := Check(c.open(bytes.NewReader(c.data), c.opts))
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("got error %v, want a *FormatError", err)
	}
	if fe.Line != c.line || fe.Element != c.element || fe.Field != c.field || !strings.Contains(fe.Reason, c.reason) {
		t.Errorf("got line %d, element %q, field %q, reason %q;\nwant line %d, element %q, field %q, reason containing %q",
			fe.Line, fe.Element, fe.Field, fe.Reason, c.line, c.element, c.field, c.reason)
	}
	if !strings.Contains(err.Error(), c.reason) {
		t.Errorf("Error() = %q does not give the reason", err)
	}
}

// replaceOnce returns data with the first old replaced by new, and the line
// old was on; it fails when old is not there.
func replaceOnce(tb testing.TB, data []byte, old, new string) ([]byte, int) {
	tb.Helper()
	i := bytes.Index(data, []byte(old))
	if i < 0 {
		tb.Fatalf("%q not found", old)
	}
	line := bytes.Count(data[:i], []byte("\n")) + 1
	out := append([]byte{}, data[:i]...)
	out = append(out, new...)
	return append(out, data[i+len(old):]...), line
}

// lineOf returns the line where s first starts in data.
func lineOf(tb testing.TB, data []byte, s string) int {
	tb.Helper()
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		tb.Fatalf("%q not found", s)
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// checkBalances checks what a reader that accepted a file must guarantee:
// each statement's opening plus its booked lines is its closing, lines are
// numbered from 1 and well formed, and the summary agrees with the lines.
func checkBalances(t *testing.T, p parsed) {
	t.Helper()
	if len(p.Summary.Statements) != len(p.Statements) {
		t.Fatalf("summary has %d statements, %d were read", len(p.Summary.Statements), len(p.Statements))
	}
	lines := 0
	for i, ps := range p.Statements {
		st := p.Summary.Statements[i]
		if st.ID != ps.Header.ID || st.Entries != len(ps.Lines) {
			t.Errorf("statement %d: summary says %s with %d entries, read %s with %d", i, st.ID, st.Entries, ps.Header.ID, len(ps.Lines))
		}
		sum := decimal.Zero
		for j, l := range ps.Lines {
			if l.Index != j+1 || l.StatementID != st.ID {
				t.Errorf("statement %s line %d: index %d of statement %q", st.ID, j+1, l.Index, l.StatementID)
			}
			if l.Amount.IsNegative() || (l.Direction != Debit && l.Direction != Credit) {
				t.Errorf("statement %s line %d: amount %s direction %q", st.ID, j+1, l.Amount, l.Direction)
			}
			if l.Status == StatusBooked {
				sum = sum.Add(l.Signed())
			}
		}
		lines += len(ps.Lines)
		if st.Format == FormatCamt054v08 || strings.HasPrefix(st.Format, "camt.054") {
			continue
		}
		if !st.Opening.Amount.Add(sum).Equal(st.Closing.Amount) {
			t.Errorf("statement %s accepted with opening %s + %s != closing %s", st.ID, st.Opening.Amount, sum, st.Closing.Amount)
		}
	}
	if p.Summary.Lines != lines {
		t.Errorf("summary has %d lines, %d were read", p.Summary.Lines, lines)
	}
}
