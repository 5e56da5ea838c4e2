package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

// CFONB 120 is the French banks' fixed-width statement: records of 120
// characters, each group of one account and day running from a 01 record
// (the opening balance) through 04 records (the movements), each followed by
// its 05 complements, to a 07 record (the closing balance). Column numbers
// below are 1-based and inclusive, as the standard writes them.

const cfonbRecordLen = 120

// NewCFONBReader returns a Reader of a CFONB 120 statement file, holding
// any number of statements (01 to 07 groups) of any accounts and days.
// Records may be separated by \n or \r\n, or not at all.
//
// Text is read as ISO 8859-1, the standard's character set. A statement's
// ID is its account and the date of its opening balance, the closing date
// being known only at its end. It refuses a record that is not 120
// characters long, an unknown record code, a 04, 05 or 07 outside a
// statement or of another account than its 01, a 05 that follows no 04, an
// invalid date, an amount with a non-digit or an invalid sign character, a
// file larger than opts.MaxBytes, and a statement whose opening balance
// plus its movements is not its closing balance.
//
// With opts.FrenchReasons, the reject code of columns 41-42 of a movement
// is translated: its ISO code becomes the line's ReturnReason (unless the
// bank wrote one in a complement), and the code and its libellé its
// BankReason.
func NewCFONBReader(r io.Reader, opts Options) Reader {
	opts = opts.withDefaults()
	src := newSource(r, opts.MaxBytes)
	br := bufio.NewReaderSize(src, 16<<10)
	skipBOM(br)
	return &cfonbReader{opts: opts, src: src, br: br, ids: map[string]int{}}
}

type cfonbReader struct {
	opts Options
	src  *source
	br   *bufio.Reader
	recs int  // records read
	ends int8 // line ends: 0 not known yet, 1 present, -1 absent

	// A record read ahead, after a 04, to see whether it is a 05.
	held    bool
	heldRec cfonbRecord
	heldErr error

	// opens counts the 01 records read, which MaxReports bounds; run05
	// the 05 records read since the last other one, which
	// MaxComplements bounds.
	opens, run05 int

	cur *cfonbGroup // the statement being read, nil between statements
	ids map[string]int
	sum Summary
	err error // the first error, returned by every later call
}

// cfonbGroup is the state of the statement being read.
type cfonbGroup struct {
	st     Statement
	opened int // the line of its 01
	ccy    string
	lines  int
	tally  tally
}

type cfonbRecord struct {
	line int
	b    [cfonbRecordLen]byte
}

// Summary describes the file; complete once NextStatement returned io.EOF.
func (c *cfonbReader) Summary() Summary { return c.sum }

// NextStatement reads the rest of the current statement, then the 01
// record of the next one.
func (c *cfonbReader) NextStatement() (Statement, error) {
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
	st, err := c.open()
	if err != nil {
		c.err = err
	}
	return st, err
}

// NextLine reads the next 04 record and its 05 complements, or the 07.
func (c *cfonbReader) NextLine() (Line, error) {
	if c.err != nil {
		return Line{}, c.err
	}
	g := c.cur
	if g == nil {
		return Line{}, io.EOF
	}
	l, err := c.nextLine(g)
	switch {
	case err == io.EOF:
		c.cur = nil
	case err != nil:
		c.err = err
	}
	return l, err
}

// open reads a 01 record and returns the header of its statement, or
// io.EOF at the end of the file.
func (c *cfonbReader) open() (Statement, error) {
	rec, err := c.read()
	if err == io.EOF {
		if len(c.sum.Statements) == 0 {
			return Statement{}, &FormatError{Reason: "empty file: no 01 record"}
		}
		c.sum.Format = FormatCFONB120
		c.sum.Bytes = c.src.n
		c.sum.FileSHA256 = c.src.sum()
		for i := range c.sum.Statements {
			c.sum.Statements[i].FileSHA256 = c.sum.FileSHA256
		}
		return Statement{}, io.EOF
	}
	if err != nil {
		return Statement{}, err
	}
	if rec.code() != "01" {
		return Statement{}, rec.errorf("", "%s record outside a statement: a statement starts with a 01 record", rec.code())
	}
	ccy, err := rec.currency()
	if err != nil {
		return Statement{}, err
	}
	date, err := rec.date(35, "Opening.Date (columns 35-40)")
	if err != nil {
		return Statement{}, err
	}
	amt, err := rec.balance("Opening (columns 91-104)")
	if err != nil {
		return Statement{}, err
	}
	acct := rec.account()
	id := acct + "-" + date.String()
	if line, ok := c.ids[id]; ok {
		return Statement{}, rec.errorf("ID", "a second statement of account %s opening on %s (the first opened line %d)", acct, date, line)
	}
	c.ids[id] = rec.line
	g := &cfonbGroup{opened: rec.line, ccy: ccy}
	g.st = Statement{
		Format:   FormatCFONB120,
		ID:       id,
		Account:  acct,
		Currency: ccy,
		Opening:  Balance{Amount: amt, Date: date},
	}
	c.sum.Format = FormatCFONB120
	c.cur = g
	return g.st, nil
}

func (c *cfonbReader) nextLine(g *cfonbGroup) (Line, error) {
	rec, err := c.read()
	if err == io.EOF {
		return Line{}, &FormatError{Line: c.recs,
			Reason: fmt.Sprintf("the file ends before the 07 closing balance of account %s, opened line %d", g.st.Account, g.opened)}
	}
	if err != nil {
		return Line{}, err
	}
	if err := g.sameAccount(&rec); err != nil {
		return Line{}, err
	}
	switch rec.code() {
	case "04":
		return c.movement(g, &rec)
	case "05":
		return Line{}, rec.errorf("", "05 complement without a 04 movement before it")
	case "07":
		return Line{}, c.close(g, &rec)
	}
	return Line{}, rec.errorf("", "01 opening balance before the 07 closing balance of account %s, opened line %d", g.st.Account, g.opened)
}

// movement reads a 04 record and the 05 records that follow it.
func (c *cfonbReader) movement(g *cfonbGroup, rec *cfonbRecord) (Line, error) {
	l := Line{StatementID: g.st.ID, Status: StatusBooked}
	var err error
	if l.BookingDate, err = rec.date(35, "BookingDate (columns 35-40)"); err != nil {
		return Line{}, err
	}
	if !rec.blank(43, 48) {
		if l.ValueDate, err = rec.date(43, "ValueDate (columns 43-48)"); err != nil {
			return Line{}, err
		}
	}
	amt, neg, err := rec.amount("Amount (columns 91-104)")
	if err != nil {
		return Line{}, err
	}
	l.Amount, l.Direction = amt, Credit
	if neg {
		l.Direction = Debit
	}
	l.BankCode = rec.text(33, 34)
	l.ReturnReason = rec.text(41, 42)
	l.Label = rec.text(49, 80)
	if l.BankRef = rec.text(105, 120); l.BankRef == "" {
		l.BankRef = rec.text(82, 88)
	}

	var payer, payee string
	var notes []string // the free text of the complements, where a return's reason may be
	for {
		next, err := c.read()
		if err != nil || next.code() != "05" {
			c.hold(next, err)
			break
		}
		if err := g.sameAccount(&next); err != nil {
			return Line{}, err
		}
		detail := next.text(49, 118)
		switch string(next.col(46, 48)) {
		case "RCN": // the client reference: our EndToEndId, at most 35 characters
			l.EndToEndID = next.text(49, 83)
		case "NPY":
			payer = detail
		case "NBE":
			payee = detail
		case "LIB":
			if detail != "" {
				l.Label = strings.TrimSpace(l.Label + " " + detail)
			}
			notes = append(notes, detail)
		default: // MMO and the other qualifiers of free text
			notes = append(notes, detail)
		}
	}
	bankCode := l.ReturnReason
	iso, text := c.opts.FrenchReasons.bankReason(bankCode)
	l.BankReason = text
	if code := returnReason(l, notes); code != "" {
		l.ReturnReason = code
	} else if iso != "" {
		l.ReturnReason = iso
	}
	// The other party: the payee of a debit, the payer of a credit, or
	// whichever the bank names.
	first, second := payee, payer
	if l.Direction == Credit {
		first, second = payer, payee
	}
	if l.CounterpartyName = first; first == "" {
		l.CounterpartyName = second
	}

	g.lines++
	l.Index = g.lines
	g.tally.add(l)
	return l, nil
}

// close reads the 07 record, checks the statement's balance, adds it to the
// summary and returns io.EOF when all is well.
func (c *cfonbReader) close(g *cfonbGroup, rec *cfonbRecord) error {
	date, err := rec.date(35, "Closing.Date (columns 35-40)")
	if err != nil {
		return err
	}
	amt, err := rec.balance("Closing (columns 91-104)")
	if err != nil {
		return err
	}
	g.st.Closing = Balance{Amount: amt, Date: date}
	g.st.Date = date
	if why := g.tally.mismatch(g.st.Opening.Amount, amt); why != "" {
		return rec.errorf("Closing", "%s", why)
	}
	g.st.Entries = g.lines
	c.sum.Statements = append(c.sum.Statements, g.st)
	c.sum.Lines += g.lines
	return io.EOF
}

// sameAccount checks that rec is of the statement's account and currency.
func (g *cfonbGroup) sameAccount(rec *cfonbRecord) error {
	if acct := rec.account(); acct != g.st.Account {
		return rec.errorf("Account", "a record of account %s in the statement of account %s, opened line %d", acct, g.st.Account, g.opened)
	}
	if ccy := string(rec.col(17, 19)); ccy != g.ccy {
		return rec.errorf("Currency (columns 17-19)", "currency mismatch: %s in a statement in %s", quote(ccy), g.ccy)
	}
	return nil
}

// read returns the next record, or io.EOF at the end of the file.
func (c *cfonbReader) read() (cfonbRecord, error) {
	if c.held {
		c.held = false
		return c.heldRec, c.heldErr
	}
	var rec cfonbRecord
	// Blank lines between records, which some banks' exports leave, are
	// skipped; they count as lines for the messages.
	for c.ends >= 0 {
		b, err := c.br.Peek(1)
		if err != nil || (b[0] != '\n' && b[0] != '\r') {
			break
		}
		if b[0] == '\n' {
			c.recs++
		}
		c.br.Discard(1)
	}
	n, err := io.ReadFull(c.br, rec.b[:])
	if err == io.EOF {
		return rec, io.EOF
	}
	c.recs++
	rec.line = c.recs
	switch {
	case err == io.ErrUnexpectedEOF:
		if len(bytes.Trim(rec.b[:n], "\r\n\x1a")) == 0 {
			return rec, io.EOF // blank lines, or a DOS end-of-file mark, at the end
		}
		return rec, rec.lengthErr(n)
	case err != nil:
		return rec, c.readErr(&rec, err)
	}
	if i := bytes.IndexAny(rec.b[:], "\r\n"); i >= 0 {
		return rec, rec.lengthErr(i)
	}
	next, err := c.br.Peek(1)
	switch {
	case err == nil && (next[0] == '\n' || next[0] == '\r'):
		c.ends = 1
		c.br.Discard(1)
		if next[0] == '\r' {
			if p, err := c.br.Peek(1); err == nil && p[0] == '\n' {
				c.br.Discard(1)
			}
		}
	case err == nil:
		if c.ends > 0 {
			return rec, rec.errorf("", "record longer than %d characters", cfonbRecordLen)
		}
		c.ends = -1
	case err != io.EOF:
		return rec, c.readErr(&rec, err)
	}
	// A NUL is no character of the file's text, and the database keeps it
	// out of its own.
	if i := bytes.IndexByte(rec.b[:], 0); i >= 0 {
		return rec, rec.errorf("", "byte 0x00 (NUL) at column %d: not a character", i+1)
	}
	// Each statement is kept in the summary, and a movement's complements
	// make one label: their numbers are bounded.
	switch rec.code() {
	case "01":
		if c.opens++; c.opens > MaxReports {
			return rec, rec.errorf("", "statement number %d: a file holds at most %d", c.opens, MaxReports)
		}
	case "05":
		if c.run05++; c.run05 > MaxComplements {
			return rec, rec.errorf("", "more than %d 05 complements in a row", MaxComplements)
		}
	}
	if rec.code() != "05" {
		c.run05 = 0
	}
	switch rec.code() {
	case "01", "04", "05", "07":
		return rec, nil
	}
	return rec, rec.errorf("", "unknown record code %s (want 01, 04, 05 or 07)", quote(latin1(rec.b[0:2])))
}

// hold keeps a record read ahead for the next read.
func (c *cfonbReader) hold(rec cfonbRecord, err error) {
	c.held, c.heldRec, c.heldErr = true, rec, err
}

func (c *cfonbReader) readErr(rec *cfonbRecord, err error) error {
	if errors.Is(err, ErrTooLarge) {
		return &FormatError{Line: rec.line, Reason: fmt.Sprintf("file larger than the limit of %d bytes", c.opts.MaxBytes), Err: err}
	}
	return fmt.Errorf("read CFONB file: %w", err)
}

func (r *cfonbRecord) code() string { return string(r.b[0:2]) }

// col returns columns from to to, 1-based and inclusive.
func (r *cfonbRecord) col(from, to int) []byte { return r.b[from-1 : to] }

// text returns columns from to to as text, trimmed.
func (r *cfonbRecord) text(from, to int) string { return latin1(bytes.TrimSpace(r.col(from, to))) }

func (r *cfonbRecord) blank(from, to int) bool { return len(bytes.TrimSpace(r.col(from, to))) == 0 }

// account returns the record's bank, branch and account numbers as
// "BBBBB-GGGGG-AAAAAAAAAAA".
func (r *cfonbRecord) account() string {
	return latin1(r.col(3, 7)) + "-" + latin1(r.col(12, 16)) + "-" + latin1(r.col(22, 32))
}

func (r *cfonbRecord) currency() (string, error) {
	ccy := string(r.col(17, 19))
	if !isCurrency(ccy) {
		return "", r.errorf("Currency (columns 17-19)", "%s is not a currency code", quote(latin1(r.col(17, 19))))
	}
	return ccy, nil
}

// date reads a DDMMYY date starting at column from, in the years 2000 to
// 2099.
func (r *cfonbRecord) date(from int, field string) (ledger.Date, error) {
	b := r.col(from, from+5)
	if !isDigits(string(b)) {
		return ledger.Date{}, r.errorf(field, "%s is not a date of the form DDMMYY", quote(latin1(b)))
	}
	d := int(b[0]-'0')*10 + int(b[1]-'0')
	m := int(b[2]-'0')*10 + int(b[3]-'0')
	y := 2000 + int(b[4]-'0')*10 + int(b[5]-'0')
	if m < 1 || m > 12 || d < 1 || d > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return ledger.Date{}, r.errorf(field, "%s is not a valid DDMMYY date", quote(string(b)))
	}
	return ledger.NewDate(y, time.Month(m), d), nil
}

// balance reads the amount of a 01 or 07 record, signed: a credit balance
// positive.
func (r *cfonbRecord) balance(field string) (decimal.Decimal, error) {
	amt, neg, err := r.amount(field)
	if neg {
		amt = amt.Neg()
	}
	return amt, err
}

// amount reads columns 91-104: 13 digits and a character that holds the
// last digit and the sign ({ A-I positive 0 to 9, } J-R negative 0 to 9),
// divided by ten to the number of decimals of column 20. It returns the
// magnitude and whether it is negative (a debit).
func (r *cfonbRecord) amount(field string) (decimal.Decimal, bool, error) {
	decimals := r.b[19]
	if decimals < '0' || decimals > '9' {
		return decimal.Decimal{}, false, r.errorf("number of decimals (column 20)", "%s is not a digit", quote(latin1([]byte{decimals})))
	}
	b := r.col(91, 104)
	var v int64
	for i, ch := range b[:13] {
		if ch < '0' || ch > '9' {
			return decimal.Decimal{}, false, r.errorf(field, "%s at column %d is not a digit", quote(latin1([]byte{ch})), 91+i)
		}
		v = v*10 + int64(ch-'0')
	}
	var last int64
	neg := false
	switch s := b[13]; {
	case s == '{':
	case s >= 'A' && s <= 'I':
		last = int64(s-'A') + 1
	case s == '}':
		neg = true
	case s >= 'J' && s <= 'R':
		last, neg = int64(s-'J')+1, true
	default:
		return decimal.Decimal{}, false, r.errorf(field, "%s at column 104 is not a sign character ({, A-I, }, J-R)", quote(latin1([]byte{s})))
	}
	return decimal.New(v*10+last, -int32(decimals-'0')), neg, nil
}

func (r *cfonbRecord) lengthErr(n int) *FormatError {
	return r.errorf("", "record of %d characters, want %d", n, cfonbRecordLen)
}

// errorf reports a fault in the record.
func (r *cfonbRecord) errorf(field, format string, args ...any) *FormatError {
	code := r.code()
	if !isDigits(code) {
		code = quote(latin1(r.b[0:2]))
	}
	return &FormatError{Line: r.line, Element: "record " + code, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// latin1 returns ISO 8859-1 text as a string.
func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	s := make([]rune, len(b))
	for i, c := range b {
		s[i] = rune(c)
	}
	return string(s)
}

// reasonMarkers are the words after which French banks write a return's
// reason code in a complement ("MOTIF AC04", "MOTIF:MS03", "RSN AC06"),
// and reasonFillers those that may stand between the marker and the code
// ("MOTIF DE REJET AC04", "MOTIF RETOUR MD07").
var (
	reasonMarkers = map[string]bool{"MOTIF": true, "MOT": true, "RSN": true, "REASON": true}
	reasonFillers = map[string]bool{"DE": true, "DU": true, "REJET": true, "RETOUR": true, "RET": true, "CODE": true}
	returnWords   = map[string]bool{"RETOUR": true, "RET": true, "REJET": true, "RETURN": true, "RTRN": true, "REJECT": true}
)

// returnReason finds the ISO 20022 reason code of a return in the free text
// of its 05 complements (LIB, MMO and the others but RCN, NPY and NBE),
// which French banks use for it when columns 41-42 are blank or hold the
// CFONB's own two-character code. Only a code of the reasons the service
// knows (sepa.IsReasonCode) counts: one written after a marker (MOTIF,
// MOT, RSN, REASON), in any complement; or, in a credit the bank calls a
// return (RETOUR, REJET, RETURN... in its label or complements, or a reject
// code in columns 41-42), one written alone as a word. It returns "" when
// there is none.
//
// An ISO code the bank wrote comes first. Else the two-character reject
// code of columns 41-42 is translated through the list of the bank's codes
// the operator loaded (Options.FrenchReasons), the CFONB publishing the
// correspondence only to banks; without a list, or for a code not in it,
// the code is kept as the bank gave it and shown as the bank's own
// (sepa.ReasonText).
func returnReason(l Line, notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	words := make([][]string, len(notes))
	for i, n := range notes {
		words[i] = reasonWords(n)
		for j, w := range words[i] {
			if !reasonMarkers[w] {
				continue
			}
			k := j + 1
			for k < len(words[i]) && reasonFillers[words[i][k]] {
				k++
			}
			if k < len(words[i]) && sepa.IsReasonCode(words[i][k]) {
				return words[i][k]
			}
		}
	}
	if l.Direction != Credit {
		return ""
	}
	isReturn := l.ReturnReason != ""
	for _, w := range append(reasonWords(l.Label), slices.Concat(words...)...) {
		isReturn = isReturn || returnWords[w]
	}
	if !isReturn {
		return ""
	}
	for _, ws := range words {
		for _, w := range ws {
			if sepa.IsReasonCode(w) {
				return w
			}
		}
	}
	return ""
}

// reasonWords splits text into its words of capital letters and digits.
func reasonWords(text string) []string {
	return strings.FieldsFunc(strings.ToUpper(text), func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	})
}
