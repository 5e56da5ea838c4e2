package reconcile

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ofii/allowances/internal/xmlguard"
	"github.com/ofii/allowances/ledger"
)

// This file reads camt.053 bank-to-customer statements; camt054.go reuses
// its reader, since both messages are a Document holding reports (Stmt,
// Ntfctn) of entries (Ntry) of the same structure. The entries are read in
// camtentry.go, the tokens and leaf values in camtxml.go.
//
// The document is read token by token with encoding/xml, never decoded
// whole: a reader holds the path of open elements, the current report's
// header and one entry at a time. Elements the service does not use are
// skipped, not validated; the XSD is the bank's business, the numbers are
// ours.

// camtSpec describes one camt message the reader handles.
type camtSpec struct {
	name     string // message name, e.g. "camt.053"
	msg      string // the message element under Document
	report   string // the repeated report element
	balances bool   // whether reports carry balances to check
}

var camt053Spec = camtSpec{name: "camt.053", msg: "BkToCstmrStmt", report: "Stmt", balances: true}

// isoNamespacePrefix starts the namespace of every ISO 20022 message; the
// message name and version follow ("camt.053.001.08").
const isoNamespacePrefix = "urn:iso:std:iso:20022:tech:xsd:"

// NewCamt053Reader returns a Reader of a camt.053 statement file, versions
// .001.02 to .001.08, holding one or more statements (Stmt).
//
// It refuses a file with a DTD or entity declaration, elements nested
// deeper than opts.MaxDepth, more than opts.MaxBytes bytes, an amount that
// is negative, not a number or has more than two decimals, an amount or
// balance in another currency than the statement's, a statement without an
// opening (OPBD, or PRCD) or closing (CLBD) balance, a balance after the
// first entry, and a statement whose opening balance plus its booked entries
// is not its closing balance.
func NewCamt053Reader(r io.Reader, opts Options) Reader {
	return newCamtReader(r, opts, camt053Spec)
}

// camtReader reads a camt message of kind spec.
type camtReader struct {
	spec    camtSpec
	opts    Options
	src     *source
	guard   *xmlguard.Reader
	dec     *xml.Decoder
	stack   []xmlElem // the open elements, from Document down
	started bool      // whether the document element has been read
	reports int       // reports opened so far
	created ledger.Date
	cur     *camtReport // the report being read, nil between reports
	ids     map[string]bool
	sum     Summary
	err     error // the first error, returned by every later call
}

// xmlElem is an open element; idx is its rank among its repeated siblings
// (Stmt, Ntry, Bal, TxDtls), 0 for the others.
type xmlElem struct {
	name string
	idx  int
}

// camtReport is the state of the report being read.
type camtReport struct {
	st      Statement
	path    string // the report's element path, for errors at its end
	lines   int
	bals    int
	atNtry  bool // an Ntry start element has been read, not its content
	ended   bool // the report's end element has been read
	tally   tally
	created ledger.Date

	hasOpening, hasPRCD, hasClosing bool
	prcd                            Balance
}

func newCamtReader(r io.Reader, opts Options, spec camtSpec) *camtReader {
	opts = opts.withDefaults()
	src := newSource(r, opts.MaxBytes)
	// The decoder reads bytes from a buffer; without CharsetReader it
	// refuses any declared encoding but UTF-8, which ISO 20022 requires.
	br := bufio.NewReaderSize(src, 16<<10)
	skipBOM(br)
	guard := xmlguard.NewReader(br, MaxTokenBytes)
	dec := xml.NewDecoder(guard)
	return &camtReader{spec: spec, opts: opts, src: src, guard: guard, dec: dec, stack: make([]xmlElem, 0, 16), ids: map[string]bool{}}
}

// Summary describes the file; complete once NextStatement returned io.EOF.
func (c *camtReader) Summary() Summary { return c.sum }

// NextStatement reads the rest of the current report, then the header of
// the next one.
func (c *camtReader) NextStatement() (Statement, error) {
	if c.err != nil {
		return Statement{}, c.err
	}
	for c.cur != nil {
		if _, err := c.NextLine(); err == io.EOF {
			break
		} else if err != nil {
			return Statement{}, err
		}
	}
	st, err := c.nextReport()
	if err != nil {
		c.err = err
	}
	return st, err
}

// NextLine reads the next entry of the current report.
func (c *camtReader) NextLine() (Line, error) {
	if c.err != nil {
		return Line{}, c.err
	}
	r := c.cur
	if r == nil {
		return Line{}, io.EOF
	}
	l, err := c.nextLine(r)
	switch {
	case err == io.EOF:
		c.cur = nil
	case err != nil:
		c.err = err
	}
	return l, err
}

func (c *camtReader) nextLine(r *camtReport) (Line, error) {
	if !r.atNtry && !r.ended {
		if err := c.seekNtry(r); err != nil {
			return Line{}, err
		}
	}
	if r.atNtry {
		r.atNtry = false
		l, err := c.readNtry(r)
		if err != nil {
			return Line{}, err
		}
		r.tally.add(l)
		return l, nil
	}
	return Line{}, c.closeReport(r)
}

// seekNtry reads the report up to its next entry or its end.
func (c *camtReader) seekNtry(r *camtReport) error {
	for {
		t, err := c.token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "Ntry":
				r.atNtry = true
				return nil
			case t.Name.Local == "Bal" && c.spec.balances:
				return c.errorf("", "a balance after an entry: balances must come before the entries")
			}
			if err := c.skip(); err != nil {
				return err
			}
		case xml.EndElement:
			r.ended = true
			return nil
		}
	}
}

// closeReport checks the balance of a report whose entries have all been
// read, adds it to the summary, and returns io.EOF when all is well.
func (c *camtReader) closeReport(r *camtReport) error {
	if c.spec.balances {
		if why := r.tally.mismatch(r.st.Opening.Amount, r.st.Closing.Amount); why != "" {
			return &FormatError{Line: c.line(), Element: r.path, Field: "Closing", Reason: why}
		}
	}
	r.st.Entries = r.lines
	c.sum.Statements = append(c.sum.Statements, r.st)
	c.sum.Lines += r.lines
	return io.EOF
}

// nextReport reads up to the next report and returns its header, or
// io.EOF at the end of the document.
func (c *camtReader) nextReport() (Statement, error) {
	if !c.started {
		if err := c.readProlog(); err != nil {
			return Statement{}, err
		}
		c.started = true
	}
	for {
		t, err := c.token()
		if err != nil {
			return Statement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "GrpHdr":
				err = c.readGrpHdr()
			case c.spec.report:
				return c.readHeader()
			default:
				err = c.skip()
			}
			if err != nil {
				return Statement{}, err
			}
		case xml.EndElement: // of the message element
			return Statement{}, c.readEnd()
		}
	}
}

// readProlog reads up to the message element, checking the document
// element's namespace.
func (c *camtReader) readProlog() error {
	for {
		t, err := c.token()
		if err == io.EOF {
			return &FormatError{Reason: "empty file: no Document element"}
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return c.readRoot(t)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return c.errorf("", "text before the Document element")
			}
		}
	}
}

func (c *camtReader) readRoot(t xml.StartElement) error {
	version, ok := strings.CutPrefix(t.Name.Space, isoNamespacePrefix+c.spec.name+".001.")
	if t.Name.Local != "Document" || !ok || len(version) != 2 || version < "02" || version > "08" {
		return c.errorf("", "not a %s document (versions .001.02 to .001.08): root element %s in namespace %q",
			c.spec.name, t.Name.Local, t.Name.Space)
	}
	c.sum.Format = c.spec.name + ".001." + version
	for {
		t, err := c.token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if t.Name.Local != c.spec.msg {
				return c.errorf("", "want the %s message element", c.spec.msg)
			}
			return nil
		case xml.EndElement:
			return c.errorf("", "the Document holds no %s message", c.spec.msg)
		}
	}
}

// readEnd reads the rest of the file after the message element's end:
// the end of Document, then nothing but white space and comments. The file
// is thereby read to its end, and its hash complete.
func (c *camtReader) readEnd() error {
	if c.reports == 0 {
		return c.errorf("", "no %s in the message", c.spec.report)
	}
	for {
		t, err := c.token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return c.errorf("", "unexpected element after the %s message", c.spec.msg)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return c.errorf("", "unexpected text after the %s message", c.spec.msg)
			}
		}
	}
	c.sum.Bytes = c.src.n
	c.sum.FileSHA256 = c.src.sum()
	for i := range c.sum.Statements {
		c.sum.Statements[i].FileSHA256 = c.sum.FileSHA256
	}
	return io.EOF
}

func (c *camtReader) readGrpHdr() error {
	return c.children(func(s xml.StartElement) error {
		if s.Name.Local != "CreDtTm" {
			return c.skip()
		}
		var err error
		c.created, err = c.dateTime(s)
		return err
	})
}

// readHeader reads a report up to its first entry (or its end) and returns
// its header.
func (c *camtReader) readHeader() (Statement, error) {
	c.reports++
	c.top().idx = c.reports
	if c.reports > MaxReports {
		return Statement{}, c.errorf("", "report number %d: a file holds at most %d", c.reports, MaxReports)
	}
	r := &camtReport{path: c.path()}
	r.st.Format = c.sum.Format
	for !r.atNtry && !r.ended {
		t, err := c.token()
		if err != nil {
			return Statement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Id":
				r.st.ID, err = c.text()
			case "ElctrncSeqNb":
				r.st.Sequence, err = c.sequence(t)
			case "CreDtTm":
				r.created, err = c.dateTime(t)
			case "Acct":
				err = c.readAcct(r)
			case "Bal":
				if c.spec.balances {
					err = c.readBal(r)
				} else {
					err = c.skip()
				}
			case "Ntry":
				r.atNtry = true
			default:
				err = c.skip()
			}
			if err != nil {
				return Statement{}, err
			}
		case xml.EndElement:
			r.ended = true
		}
	}

	fail := func(field, reason string) (Statement, error) {
		return Statement{}, &FormatError{Line: c.line(), Element: r.path, Field: field, Reason: reason}
	}
	if r.st.ID == "" {
		return fail("ID", "no Id")
	}
	if c.ids[r.st.ID] {
		return fail("ID", fmt.Sprintf("a second %s with Id %s", c.spec.report, quote(r.st.ID)))
	}
	c.ids[r.st.ID] = true
	if r.st.Account == "" {
		return fail("Account", "no Acct/Id")
	}
	if c.spec.balances {
		if !r.hasOpening {
			if !r.hasPRCD {
				return fail("Opening", "no opening balance (Bal of type OPBD or PRCD)")
			}
			r.st.Opening = r.prcd
		}
		if !r.hasClosing {
			return fail("Closing", "no closing balance (Bal of type CLBD)")
		}
		r.st.Date = r.st.Closing.Date
	} else {
		r.st.Date = r.created
		if r.st.Date.IsZero() {
			r.st.Date = c.created
		}
	}
	c.cur = r
	return r.st, nil
}

func (c *camtReader) sequence(s xml.StartElement) (int64, error) {
	v, err := c.text()
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(v, 10, 64)
	if perr != nil || n < 0 {
		return 0, c.leafErr(s, "Sequence", "%s is not a sequence number", quote(v))
	}
	return n, nil
}

func (c *camtReader) readAcct(r *camtReport) error {
	return c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "Id":
			var err error
			r.st.Account, err = c.accountID()
			return err
		case "Ccy":
			ccy, err := c.text()
			if err != nil {
				return err
			}
			if !isCurrency(ccy) {
				return c.leafErr(s, "Currency", "%s is not a currency code", quote(ccy))
			}
			return c.setCurrency(r, s, ccy)
		default:
			return c.skip()
		}
	})
}

// accountID reads an account's Id: its IBAN, or else its Othr/Id.
func (c *camtReader) accountID() (string, error) {
	var iban, other string
	err := c.children(func(s xml.StartElement) error {
		var err error
		switch s.Name.Local {
		case "IBAN":
			iban, err = c.text()
		case "Othr":
			err = c.children(func(s xml.StartElement) error {
				if s.Name.Local != "Id" {
					return c.skip()
				}
				var err error
				other, err = c.text()
				return err
			})
		default:
			err = c.skip()
		}
		return err
	})
	if iban != "" {
		return iban, err
	}
	return other, err
}

// setCurrency makes ccy, read from element s, the report's currency, or
// checks it is.
func (c *camtReader) setCurrency(r *camtReport, s xml.StartElement, ccy string) error {
	switch r.st.Currency {
	case "":
		r.st.Currency = ccy
	case ccy:
	default:
		return c.leafErr(s, "Currency", "currency mismatch: %s in a statement in %s", ccy, r.st.Currency)
	}
	return nil
}

// readBal reads a balance, keeping the opening and closing ones.
func (c *camtReader) readBal(r *camtReport) error {
	r.bals++
	c.top().idx = r.bals
	path := c.path()
	var (
		tp     string
		b      Balance
		dir    Direction
		hasAmt bool
	)
	err := c.children(func(s xml.StartElement) error {
		var err error
		switch s.Name.Local {
		case "Tp":
			tp, err = c.balanceType()
		case "Amt":
			var ccy string
			b.Amount, ccy, err = c.amount(s, "Amount")
			if err == nil {
				err = c.setCurrency(r, s, ccy)
			}
			hasAmt = true
		case "CdtDbtInd":
			dir, err = c.direction(s)
		case "Dt":
			b.Date, err = c.dateChoice(s, "Date")
		default:
			err = c.skip()
		}
		return err
	})
	if err != nil {
		return err
	}

	var slot *Balance
	var seen *bool
	field := "Opening"
	switch tp {
	case "OPBD":
		slot, seen = &r.st.Opening, &r.hasOpening
	case "PRCD":
		slot, seen = &r.prcd, &r.hasPRCD
	case "CLBD":
		slot, seen, field = &r.st.Closing, &r.hasClosing, "Closing"
	default:
		return nil // other balances (available, interim...) are not checked
	}
	fail := func(reason string) error {
		return &FormatError{Line: c.line(), Element: path, Field: field, Reason: reason}
	}
	switch {
	case *seen:
		return fail("a second " + tp + " balance")
	case !hasAmt:
		return fail(tp + " balance without Amt")
	case dir == "":
		return fail(tp + " balance without CdtDbtInd")
	case b.Date.IsZero():
		return fail(tp + " balance without Dt")
	}
	if dir == Debit {
		b.Amount = b.Amount.Neg()
	}
	*slot, *seen = b, true
	return nil
}

// balanceType reads a balance's Tp and returns its code (OPBD, CLBD...).
func (c *camtReader) balanceType() (string, error) {
	var code string
	err := c.children(func(s xml.StartElement) error {
		if s.Name.Local != "CdOrPrtry" {
			return c.skip()
		}
		return c.children(func(s xml.StartElement) error {
			if s.Name.Local != "Cd" {
				return c.skip() // Prtry: a bank's own type, not ours to check
			}
			var err error
			code, err = c.text()
			return err
		})
	})
	return code, err
}
