package sepa

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
)

// MaxFileSize bounds the files Read and ReadStatusReport accept: a larger
// one is refused before it is parsed.
const MaxFileSize = 64 << 20 // 64 MiB

// xmlHeader starts every file the package writes.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// readAll reads r whole, refusing more than MaxFileSize bytes.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the file: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, errs.E(errs.TooLarge, "the file is larger than %d MiB", MaxFileSize>>20)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errs.E(errs.Invalid, "the file is empty")
	}
	return b, nil
}

// decode unmarshals the root element of b into v and checks that nothing
// but comments and white space follows it. Encoding/xml resolves only the
// five predefined entities, so a file cannot pull in external content. A
// syntax error is reported with the path of the element it happened in.
func decode(b []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			if path := openPath(b); path != "" {
				return errs.Field(path, "the XML is malformed: %v", err)
			}
		}
		return errs.E(errs.Invalid, "the XML is malformed: %v", err)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errs.E(errs.Invalid, "the XML is malformed after the root element: %v", err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errs.E(errs.Invalid, "the file has text after its root element")
			}
		default:
			return errs.E(errs.Invalid, "the file has content after its root element")
		}
	}
}

// repeated holds the elements that occur several times under one parent;
// paths give their index, counting from 1, as the readers' own errors do.
var repeated = map[string]bool{
	"CdtTrfTxInf":       true,
	"OrgnlPmtInfAndSts": true,
	"TxInfAndSts":       true,
	"StsRsnInf":         true,
}

// openPath returns the path of the elements open where b stops being
// well-formed XML, "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[2]/TxSts"
// for instance, or "" when b is well-formed or fails outside any element.
func openPath(b []byte) string {
	type frame struct {
		name     string
		children map[string]int
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	stack := []frame{{children: map[string]int{}}} // a root frame, not printed
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF || len(stack) == 1 {
				return ""
			}
			names := make([]string, len(stack)-1)
			for i, f := range stack[1:] {
				names[i] = f.name
			}
			return strings.Join(names, "/")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			parent := stack[len(stack)-1]
			parent.children[name]++
			if repeated[name] {
				name = fmt.Sprintf("%s[%d]", name, parent.children[name])
			}
			stack = append(stack, frame{name: name, children: map[string]int{}})
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// text returns the character data of an element without the white space
// around it, which indentation adds.
func text(s string) string { return strings.TrimSpace(s) }

// formatDateTime writes t as an ISO 8601 date and time with its offset
// (or Z), as xs:dateTime reads it; fractional seconds only when t has some.
func formatDateTime(t time.Time) string { return t.Format(time.RFC3339Nano) }

// parseDateTime reads an xs:dateTime: with an offset or Z, or without one,
// in which case the time is taken as UTC.
func parseDateTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errs.Field(field, "is missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", s)
	}
	if err != nil {
		return time.Time{}, errs.Field(field, "%q is not a date and time of the form 2006-01-02T15:04:05+01:00", s)
	}
	return t, checkDateTime(field, t)
}

// checkDateTime checks that t can be written as an xs:dateTime: a year from
// 1 to 9999 and an offset within ±14 hours.
func checkDateTime(field string, t time.Time) error {
	if t.IsZero() {
		return errs.Field(field, "is required")
	}
	if y := t.Year(); y < 1 || y > 9999 {
		return errs.Field(field, "the year %d is outside 1 to 9999", y)
	}
	if _, off := t.Zone(); off < -14*3600 || off > 14*3600 || off%60 != 0 {
		return errs.Field(field, "the offset from UTC is not within ±14 hours in whole minutes")
	}
	return nil
}

// decimalRE is the lexical form of xs:decimal.
var decimalRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// parseDecimal reads an xs:decimal of at most 30 characters.
func parseDecimal(field, s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, errs.Field(field, "is missing")
	}
	if len(s) > 30 || !decimalRE.MatchString(s) {
		return decimal.Decimal{}, errs.Field(field, "%q is not an amount of the form 1234.56", truncate(s, 40))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errs.Field(field, "%q is not an amount of the form 1234.56", s)
	}
	return d, nil
}

// parseCount reads a Max15NumericText count.
func parseCount(field, s string) (int, error) {
	if s == "" {
		return 0, errs.Field(field, "is missing")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || len(s) > 15 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errs.Field(field, "%q is not a number of transactions", truncate(s, 40))
	}
	return n, nil
}

// truncate cuts s to at most n bytes, for quoting input in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
