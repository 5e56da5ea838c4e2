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
	"github.com/ofii/allowances/internal/xmlguard"
)

// MaxFileSize bounds the files Read and ReadStatusReport accept: a larger
// one is refused once that many bytes have been read.
const MaxFileSize = 64 << 20 // 64 MiB

// Limits on the XML of the files Read and ReadStatusReport accept, far above
// what the messages need (their deepest element is at level 10, their
// longest text 140 characters), so that a file's size alone bounds neither
// the memory reading it takes nor the size of the error refusing it. A
// file beyond one is refused with the path of the element and its line,
// before the rest of it is read.
const (
	// MaxDepth is the deepest nesting of elements, Document counting as 1.
	MaxDepth = 32
	// MaxTextBytes is the longest text of one element, in bytes.
	MaxTextBytes = 4 << 10
	// MaxTokenBytes is the longest run of bytes the decoder holds at once:
	// a tag with its attributes, a comment, the text between two tags.
	MaxTokenBytes = 64 << 10
	// MaxElements001 and MaxElements002 are the most elements of a pain.001
	// (about 15 per transaction) and of a pain.002 (about 5). A pain.002 is
	// read a transaction at a time and kept as its statuses only: at this
	// limit, 500,000 rows of two elements, it takes about 110 MiB of heap,
	// its worst case; a pain.001, read whole, only the bank simulator reads.
	MaxElements001 = 4_000_000
	MaxElements002 = 1_000_000
)

// xmlHeader starts every file the package writes.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// errFileTooLarge is the failure of a sizeLimit past MaxFileSize.
var errFileTooLarge = errors.New("file too large")

// sizeLimit reads r, failing with errFileTooLarge past MaxFileSize bytes.
type sizeLimit struct {
	r io.Reader
	n int64
}

func (s *sizeLimit) Read(p []byte) (int, error) {
	if s.n >= MaxFileSize {
		// One byte more says whether the file goes on.
		var one [1]byte
		if n, err := io.ReadFull(s.r, one[:]); n == 0 {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			return 0, err
		}
		return 0, errFileTooLarge
	}
	if rest := MaxFileSize - s.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// decode reads the XML document of r into v, token by token, with the
// limits of stream.
func decode(r io.Reader, maxElements int, v any) error {
	return stream(r, maxElements, func(d *xml.Decoder, root xml.StartElement) error {
		return d.DecodeElement(v, &root)
	})
}

// stream reads the XML document of r: it calls fn with the root element,
// which fn reads to its end from d, then checks that nothing but comments
// and white space follows it. Encoding/xml resolves only the five
// predefined entities, so a file cannot pull in external content. The file
// is never held whole: a file over MaxFileSize, nested deeper than
// MaxDepth, of more than maxElements elements, with a text over
// MaxTextBytes or a token over MaxTokenBytes is refused as soon as the
// limit is passed. A syntax error is reported with the path of the element
// it happened in; an *errs.Error of fn is returned as is.
func stream(r io.Reader, maxElements int, fn func(d *xml.Decoder, root xml.StartElement) error) error {
	src := &sizeLimit{r: r}
	guard := xmlguard.NewReader(src, MaxTokenBytes)
	tr := &boundedTokens{guard: guard, dec: xml.NewDecoder(guard), maxElements: maxElements}
	d := xml.NewTokenDecoder(tr)
	var root xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return tr.explain(err, true)
		}
		if s, ok := tok.(xml.StartElement); ok {
			root = s
			break
		}
	}
	if err := fn(d, root); err != nil {
		var e *errs.Error
		if tr.fault == nil && errors.As(err, &e) {
			return err
		}
		return tr.explain(err, true)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return tr.explain(err, false)
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

// children calls fn with each child element of the element just opened,
// up to its end; fn must read the child to its end (DecodeElement, Skip).
func children(d *xml.Decoder, fn func(xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
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

// boundedTokens hands the tokens of dec to the decoder that fills the
// document, keeping the path of open elements and refusing what passes the
// limits; fault holds the refusal.
type boundedTokens struct {
	guard       *xmlguard.Reader
	dec         *xml.Decoder
	maxElements int
	elements    int
	stack       []frame // the open elements, from the root down
	text        int     // bytes of text of the innermost open element
	content     bool    // whether anything but white space has been read
	fault       error
}

// frame is an open element: its name as paths write it, and how many of
// each repeated element it holds so far.
type frame struct {
	name     string
	children map[string]int
}

// Token returns the next token of the file, or the refusal of a limit.
func (b *boundedTokens) Token() (xml.Token, error) {
	if b.fault != nil {
		return nil, b.fault
	}
	tok, err := b.dec.Token()
	b.guard.Mark()
	if err != nil {
		if errors.Is(err, xmlguard.ErrTokenTooLong) {
			return nil, b.refuse("has a tag, text or comment longer than %d bytes", MaxTokenBytes)
		}
		return nil, err
	}
	if t, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(t)) != 0 {
		b.content = true
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if b.elements++; b.elements > b.maxElements {
			return nil, b.refuse("is element number %d: a file holds at most %d", b.elements, b.maxElements)
		}
		name := truncate(t.Name.Local, 40)
		if len(b.stack) > 0 {
			parent := &b.stack[len(b.stack)-1]
			if repeated[name] {
				if parent.children == nil {
					parent.children = map[string]int{}
				}
				parent.children[name]++
				name = fmt.Sprintf("%s[%d]", name, parent.children[name])
			}
		}
		b.stack = append(b.stack, frame{name: name})
		b.text = 0
		if len(b.stack) > MaxDepth {
			return nil, b.refuse("is nested deeper than %d elements", MaxDepth)
		}
	case xml.EndElement:
		b.stack = b.stack[:len(b.stack)-1] // the decoder checks that ends match starts
		b.text = 0
	case xml.CharData:
		if b.text += len(t); b.text > MaxTextBytes && len(b.stack) > 0 {
			return nil, b.refuse("has a text longer than %d bytes", MaxTextBytes)
		}
	}
	return tok, nil
}

// refuse records and returns the refusal of the file at the current
// element, with its line.
func (b *boundedTokens) refuse(format string, args ...any) error {
	line, _ := b.dec.InputPos()
	why := fmt.Sprintf(format, args...) + fmt.Sprintf(" (line %d)", line)
	if path := b.path(); path != "" {
		b.fault = errs.Field(path, "%s", why)
	} else {
		b.fault = errs.E(errs.Invalid, "the file %s", why)
	}
	return b.fault
}

// path returns the path of the open elements,
// "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[2]/TxSts" for instance; of a
// deeper one, its first four elements and its last three.
func (b *boundedTokens) path() string {
	names := make([]string, 0, 8)
	for i, f := range b.stack {
		switch {
		case i < 4 || i >= len(b.stack)-3:
			names = append(names, f.name)
		case i == 4:
			names = append(names, "…")
		}
	}
	return strings.Join(names, "/")
}

// explain turns a failure of the decoder into the error of the file; root
// says it came while reading the root element.
func (b *boundedTokens) explain(err error, root bool) error {
	var se *xml.SyntaxError
	switch {
	case b.fault != nil:
		return b.fault
	case errors.Is(err, errFileTooLarge):
		return errs.E(errs.TooLarge, "the file is larger than %d MiB", MaxFileSize>>20)
	case root && err == io.EOF && !b.content:
		return errs.E(errs.Invalid, "the file is empty")
	case root && err == io.EOF:
		return errs.E(errs.Invalid, "the XML is malformed: the file has no root element")
	case !errors.As(err, &se) && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF:
		return fmt.Errorf("read the file: %w", err) // the input's own failure
	case !root:
		return errs.E(errs.Invalid, "the XML is malformed after the root element: %s", truncate(err.Error(), 200))
	case errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF):
		if path := b.path(); path != "" {
			return errs.Field(path, "the XML is malformed: %s", truncate(err.Error(), 200))
		}
	}
	return errs.E(errs.Invalid, "the XML is malformed: %s", truncate(err.Error(), 200))
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
