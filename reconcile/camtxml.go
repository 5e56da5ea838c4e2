package reconcile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/xmlguard"
	"github.com/ofii/allowances/ledger"
)

// The token level of the camt reader: the stack of open elements and the
// limits on it, the reading of leaf values (amounts, codes, dates), and the
// location of faults.

// amount reads an amount element (an Amt, a TtlAmt) and its Ccy.
func (c *camtReader) amount(s xml.StartElement, field string) (decimal.Decimal, string, error) {
	v, err := c.text()
	if err != nil {
		return decimal.Decimal{}, "", err
	}
	ccy := ""
	for _, a := range s.Attr {
		if a.Name.Local == "Ccy" {
			ccy = a.Value
		}
	}
	if !isCurrency(ccy) {
		return decimal.Decimal{}, "", c.leafErr(s, field, "amount without a valid Ccy attribute (got %s)", quote(ccy))
	}
	d, why := parseAmount(v)
	if why != "" {
		return decimal.Decimal{}, "", c.leafErr(s, field, "%s", why)
	}
	return d, ccy, nil
}

// parseAmount reads a camt amount: digits, with at most two decimals after
// a dot, and no sign, since CdtDbtInd carries it. It returns why the text is
// refused, or "".
func parseAmount(s string) (decimal.Decimal, string) {
	if s == "" {
		return decimal.Decimal{}, "empty amount"
	}
	if s[0] == '-' {
		return decimal.Decimal{}, fmt.Sprintf("negative amount %s: amounts are positive, CdtDbtInd gives the direction", quote(s))
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !isDigits(whole) || dot && !isDigits(frac) {
		return decimal.Decimal{}, fmt.Sprintf("%s is not a decimal amount", quote(s))
	}
	if len(frac) > 2 {
		return decimal.Decimal{}, fmt.Sprintf("amount %s has %d decimals, at most 2 are allowed", quote(s), len(frac))
	}
	if len(whole)+len(frac) > 18 {
		return decimal.Decimal{}, fmt.Sprintf("amount %s has more than 18 digits", quote(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Sprintf("%s is not a decimal amount", quote(s))
	}
	return d, ""
}

func (c *camtReader) direction(s xml.StartElement) (Direction, error) {
	v, err := c.text()
	if err != nil {
		return "", err
	}
	switch d := Direction(v); d {
	case Debit, Credit:
		return d, nil
	}
	return "", c.leafErr(s, "Direction", "%s is neither CRDT nor DBIT", quote(v))
}

// status reads an entry's Sts: a bare code in .001.02 to .001.06, Cd (or
// Prtry) in .001.07 and later.
func (c *camtReader) status(s xml.StartElement) (string, error) {
	var bare []byte
	code := ""
	err := c.content(func(t xml.Token) error {
		switch t := t.(type) {
		case xml.CharData:
			if len(bare)+len(t) > MaxValueBytes {
				return c.errorf("", "a text longer than %d bytes", MaxValueBytes)
			}
			bare = append(bare, t...)
		case xml.StartElement:
			if t.Name.Local == "Cd" || t.Name.Local == "Prtry" {
				return c.textTo(&code)
			}
			return c.skip()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if code == "" {
		code = string(bytes.TrimSpace(bare))
	}
	switch code {
	case StatusBooked, StatusPending, StatusInfo, StatusFuture:
		return code, nil
	}
	return "", c.leafErr(s, "Status", "unknown entry status %s (want BOOK, PDNG, INFO or FUTR)", quote(code))
}

// dateChoice reads a date-or-date-time choice (BookgDt, ValDt, Bal/Dt).
func (c *camtReader) dateChoice(s xml.StartElement, field string) (ledger.Date, error) {
	var d ledger.Date
	err := c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "Dt":
			v, err := c.text()
			if err != nil {
				return err
			}
			if d, err = ledger.ParseDate(v); err != nil {
				return c.leafErr(s, field, "%s is not a date of the form YYYY-MM-DD", quote(v))
			}
			return nil
		case "DtTm":
			var err error
			d, err = c.dateTime(s)
			return err
		}
		return c.skip()
	})
	if err == nil && d.IsZero() {
		return d, c.leafErr(s, field, "no Dt or DtTm")
	}
	return d, err
}

// dateTime reads an ISO date-time and returns its day as written, in the
// time zone it is written in.
func (c *camtReader) dateTime(s xml.StartElement) (ledger.Date, error) {
	v, err := c.text()
	if err != nil {
		return ledger.Date{}, err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return ledger.DateOf(t), nil
		}
	}
	return ledger.Date{}, c.leafErr(s, "", "%s is not a date-time of the form YYYY-MM-DDThh:mm:ss", quote(v))
}

// Token level.

// token returns the next token, keeping the stack of open elements and
// refusing directives (DTD, entity declarations) and deep nesting. It
// returns io.EOF only at the end of the file outside any element.
func (c *camtReader) token() (xml.Token, error) {
	t, err := c.dec.Token()
	c.guard.Mark()
	if err != nil {
		if err == io.EOF && len(c.stack) == 0 {
			return nil, io.EOF
		}
		return nil, c.readErr(err)
	}
	switch t := t.(type) {
	case xml.StartElement:
		c.stack = append(c.stack, xmlElem{name: clipName(t.Name.Local)})
		if len(c.stack) > c.opts.MaxDepth {
			return nil, c.errorf("", "elements nested deeper than %d levels", c.opts.MaxDepth)
		}
	case xml.EndElement:
		c.stack = c.stack[:len(c.stack)-1] // the decoder checks that ends match starts
	case xml.Directive:
		kind, _, _ := strings.Cut(strings.TrimSpace(string(t)), " ")
		return nil, c.errorf("", "%s declaration: DTD and entity declarations are not allowed", quote("<!"+kind))
	}
	return t, nil
}

func (c *camtReader) readErr(err error) error {
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, ErrTooLarge):
		return &FormatError{Line: c.line(), Element: c.path(),
			Reason: fmt.Sprintf("file larger than the limit of %d bytes", c.opts.MaxBytes), Err: err}
	case errors.Is(err, xmlguard.ErrTokenTooLong):
		return &FormatError{Line: c.line(), Element: c.path(),
			Reason: fmt.Sprintf("a tag, text or comment longer than %d bytes", MaxTokenBytes), Err: err}
	case errors.As(err, &se):
		return &FormatError{Line: se.Line, Element: c.path(), Reason: "XML syntax error: " + se.Msg, Err: err}
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return &FormatError{Line: c.line(), Element: c.path(), Reason: "unexpected end of file"}
	case c.src.err != nil:
		return fmt.Errorf("read %s file: %w", c.spec.name, err)
	}
	// The decoder's other complaints: an XML version other than 1.0, an
	// encoding other than UTF-8...
	return &FormatError{Line: c.line(), Element: c.path(), Reason: err.Error(), Err: err}
}

// content calls fn with each token inside the element just opened, up to
// its end; fn must read to the end any element it is given.
func (c *camtReader) content(fn func(xml.Token) error) error {
	for {
		t, err := c.token()
		if err != nil {
			return err
		}
		if _, ok := t.(xml.EndElement); ok {
			return nil
		}
		if err := fn(t); err != nil {
			return err
		}
	}
}

// children calls fn with each child element of the element just opened,
// up to its end; fn must read the child to its end (text, children, skip).
func (c *camtReader) children(fn func(xml.StartElement) error) error {
	return c.content(func(t xml.Token) error {
		if s, ok := t.(xml.StartElement); ok {
			return fn(s)
		}
		return nil
	})
}

// skip reads the element just opened to its end.
func (c *camtReader) skip() error {
	for depth := 1; depth > 0; {
		t, err := c.token()
		if err != nil {
			return err
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// text reads the text of the element just opened, trimmed, up to its end.
func (c *camtReader) text() (string, error) {
	var buf []byte
	for {
		t, err := c.token()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(buf)+len(t) > MaxValueBytes {
				return "", c.errorf("", "a text longer than %d bytes", MaxValueBytes)
			}
			buf = append(buf, t...)
		case xml.StartElement:
			return "", c.errorf("", "unexpected element in a text element")
		case xml.EndElement:
			return string(bytes.TrimSpace(buf)), nil
		}
	}
}

func (c *camtReader) textTo(dst *string) error {
	v, err := c.text()
	*dst = v
	return err
}

func (c *camtReader) top() *xmlElem { return &c.stack[len(c.stack)-1] }

func (c *camtReader) line() int {
	line, _ := c.dec.InputPos()
	return line
}

// path writes the open elements, e.g. "Document/BkToCstmrStmt/Stmt[2]/Ntry[5]".
func (c *camtReader) path() string {
	var b strings.Builder
	for i, e := range c.stack {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(e.name)
		if e.idx > 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.idx))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// childPath is the path of an element of the current one that has ended.
func (c *camtReader) childPath(name string, idx int) string {
	if idx > 0 {
		return c.path() + "/" + name + "[" + strconv.Itoa(idx) + "]"
	}
	return c.path() + "/" + name
}

// errorf reports a fault at the current element.
func (c *camtReader) errorf(field, format string, args ...any) *FormatError {
	return &FormatError{Line: c.line(), Element: c.path(), Field: field, Reason: fmt.Sprintf(format, args...)}
}

// leafErr reports a fault in the element s, a child of the current element
// that has been read to its end.
func (c *camtReader) leafErr(s xml.StartElement, field, format string, args ...any) *FormatError {
	return &FormatError{Line: c.line(), Element: c.childPath(s.Name.Local, 0), Field: field, Reason: fmt.Sprintf(format, args...)}
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// clipName cuts an element name to 40 bytes, for paths in errors: a name
// may be as long as a token.
func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
