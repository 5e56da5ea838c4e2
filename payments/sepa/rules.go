package sepa

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// The lengths SEPA allows.
const (
	MaxIDLength         = 35  // MsgId, PmtInfId, EndToEndId
	MaxNameLength       = 70  // names of parties
	MaxRemittanceLength = 140 // unstructured remittance information
)

// The bounds of a SEPA credit transfer amount, in euros.
var (
	minAmount = decimal.New(1, -2)                        // 0.01
	maxAmount = decimal.RequireFromString("999999999.99") // 999,999,999.99
)

// isSEPA reports whether r belongs to the character set every SEPA bank
// must accept: Latin letters and digits without accents, / - ? : ( ) . , ' +
// and space.
func isSEPA(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("/-?:().,'+ ", r)
}

// translit maps the characters that canonical decomposition leaves alone to
// what a French bank clerk would write in their place.
var translit = map[rune]string{
	'ß': "ss", 'ẞ': "SS",
	'æ': "ae", 'Æ': "AE",
	'œ': "oe", 'Œ': "OE",
	'ø': "o", 'Ø': "O",
	'ł': "l", 'Ł': "L",
	'đ': "d", 'Đ': "D",
	'ð': "d", 'Ð': "D",
	'þ': "th", 'Þ': "TH",
	'ı': "i", 'ħ': "h", 'Ħ': "H",
	'ŧ': "t", 'Ŧ': "T",
	'ŀ': "l", 'Ŀ': "L",
	'&': "+",
	'_': "-",
	'"': "'", '`': "'", '´': "'",
	'‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'",
	'“': "'", '”': "'", '„': "'", '«': "'", '»': "'", '‹': "'", '›': "'",
	'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '―': "-", '−': "-",
	'[': "(", ']': ")", '{': "(", '}': ")",
	';': ",", '\\': "/", '|': "/", '⁄': "/",
	'€': "EUR",
}

// Clean transliterates s to the SEPA character set, so that a bank never
// rejects or mangles a name: accents are removed (é→e, ç→c), ligatures and
// letters without a decomposition are spelt out (Œ→OE, æ→ae, ß→ss, ø→o,
// ł→l), a few signs get their nearest allowed sign (& → +, _ → -, typographic
// quotes and " → ', dashes → -, € → EUR), every kind of space becomes a
// space, and any other character is dropped. Runs of spaces are collapsed,
// the ends trimmed, and the result cut to max characters (no limit when max
// is zero or less).
func Clean(s string, max int) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is pending, written before the next character
	put := func(t string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(t)
	}
	for _, r := range norm.NFKD.String(s) {
		switch t, ok := translit[r]; {
		case r == ' ' || unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
			space = true
		case isSEPA(r):
			put(string(r))
		case ok:
			put(t)
		}
		// Anything else, combining accents included, is dropped.
	}
	out := b.String()
	if max > 0 && len(out) > max { // out is ASCII: bytes are characters
		out = strings.TrimRight(out[:max], " ")
	}
	return out
}

// CheckName checks that a person's name can be written in the SEPA
// character set without losing any of it: Latin letters, with or without
// diacritics, digits, spaces and the signs Clean transliterates. A letter of
// another script (Arabic, Cyrillic, Chinese...), an emoji or any other sign
// Clean would drop is refused, naming the character and its position, as is
// a name with no letter left. The error names field.
func CheckName(field, s string) error {
	pos := 0
	for _, r := range s {
		pos++
		if r == ' ' || unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) {
			continue
		}
		for _, d := range norm.NFKD.String(string(r)) {
			if _, ok := translit[d]; ok || isSEPA(d) || unicode.Is(unicode.Mn, d) || d == ' ' {
				continue
			}
			if unicode.IsLetter(r) {
				return errs.Field(field, "has the letter %q at position %d, which is not of the Latin script: a payee's name is written in Latin letters, as on the person's documents (letters with diacritics are fine)", r, pos)
			}
			return errs.Field(field, "has the character %q at position %d, which a bank cannot take in a name", r, pos)
		}
	}
	if !strings.ContainsFunc(Clean(s, 0), func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		return errs.Field(field, "has no letter: a payee's name is written in Latin letters")
	}
	return nil
}

// CheckID checks an identifier (MsgId, PmtInfId, EndToEndId): 1 to 35
// characters of the SEPA set, no space at either end, not starting or
// ending with "/" and without "//". The error names field.
func CheckID(field, s string) error {
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return errs.Field(field, "is required")
	case n > MaxIDLength:
		return errs.Field(field, "has %d characters: an identifier has at most %d", n, MaxIDLength)
	}
	for i, r := range s {
		if !isSEPA(r) {
			return errs.Field(field, "has the character %q at position %d: an identifier holds only a-z A-Z 0-9 / - ? : ( ) . , ' + and space", r, i+1)
		}
	}
	switch {
	case s[0] == ' ' || s[len(s)-1] == ' ':
		return errs.Field(field, "%q starts or ends with a space", s)
	case s[0] == '/' || s[len(s)-1] == '/':
		return errs.Field(field, "%q starts or ends with '/', which SEPA forbids in an identifier", s)
	case strings.Contains(s, "//"):
		return errs.Field(field, "%q contains '//', which SEPA forbids in an identifier", s)
	}
	return nil
}

// CheckAmount checks a credit transfer amount in euros: from 0.01 to
// 999,999,999.99 and a whole number of cents (10.50 is fine, 10.005 is not:
// it would have to be rounded, and rounding is the caller's decision).
func CheckAmount(field string, a decimal.Decimal) error {
	switch {
	case a.LessThan(minAmount):
		return errs.Field(field, "%s EUR is less than the smallest transfer, 0.01 EUR", a.String())
	case a.GreaterThan(maxAmount):
		return errs.Field(field, "%s EUR is more than the largest SEPA transfer, 999999999.99 EUR", a.String())
	case !a.Equal(a.Round(2)):
		return errs.Field(field, "%s EUR is not a whole number of cents: an amount has at most two decimals", a.String())
	}
	return nil
}

// checkIBAN checks that s looks like an IBAN as the schemas write it
// (capital letters and digits, no spaces, a country code and two check
// digits, 15 to 34 characters) and passes the mod-97 check of ISO 7064. The
// error does not repeat the IBAN, which is personal data.
func checkIBAN(field, s string) error {
	if s == "" {
		return errs.Field(field, "is required")
	}
	if len(s) < 15 || len(s) > 34 {
		return errs.Field(field, "has %d characters: an IBAN has 15 to 34", utf8.RuneCountInString(s))
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ' ':
			return errs.Field(field, "holds spaces: an IBAN is written here without them")
		default:
			return errs.Field(field, "has a character other than a capital letter or a digit at position %d", i+1)
		}
	}
	if !isUpper(s[0]) || !isUpper(s[1]) {
		return errs.Field(field, "does not start with a two-letter country code")
	}
	if !isDigit(s[2]) || !isDigit(s[3]) {
		return errs.Field(field, "has no check digits after its country code")
	}
	if ibanMod97(s) != 1 {
		return errs.Field(field, "is not a valid IBAN: its check digits do not match")
	}
	return nil
}

// ibanMod97 returns the remainder by 97 of the number ISO 13616 reads in an
// IBAN: its first four characters moved to the end, each letter replaced by
// its two-digit value (A = 10 … Z = 35).
func ibanMod97(iban string) int {
	r := 0
	for i := range len(iban) {
		c := iban[(i+4)%len(iban)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r
}

// checkBIC checks a BIC against the pattern of the version's schema:
// pain.001.001.09 takes any 8 or 11 capitals and digits with a country code
// in the 5th and 6th places; pain.001.001.03 is stricter (letters in the
// first six places, no 0 or 1 in the 7th, no O in the 8th).
func checkBIC(field, s string, v Version) error {
	if s == "" {
		return errs.Field(field, "is required")
	}
	if len(s) != 8 && len(s) != 11 {
		return errs.Field(field, "%q has %d characters: a BIC has 8 or 11", s, utf8.RuneCountInString(s))
	}
	ok := true
	for i := range len(s) {
		c := s[i]
		switch {
		case i >= 4 && i < 6:
			ok = ok && isUpper(c)
		case v == Pain001V03 && i < 4:
			ok = ok && isUpper(c)
		case v == Pain001V03 && i == 6:
			ok = ok && (isUpper(c) || (c >= '2' && c <= '9'))
		case v == Pain001V03 && i == 7:
			ok = ok && c != 'O' && (isUpper(c) || isDigit(c))
		default:
			ok = ok && (isUpper(c) || isDigit(c))
		}
	}
	if !ok {
		return errs.Field(field, "%q is not a BIC", s)
	}
	return nil
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsBusinessDay reports whether TARGET2, and so SEPA settlement, is open on
// d: every day but Saturdays, Sundays, 1 January, Good Friday, Easter
// Monday, 1 May, 25 and 26 December. French public holidays are not TARGET2
// holidays.
func IsBusinessDay(d ledger.Date) bool { return closedBecause(d) == "" }

// closedBecause says why TARGET2 is closed on d ("a Saturday", "Good
// Friday"...), or returns "" when it is open.
func closedBecause(d ledger.Date) string {
	t := d.Time()
	switch t.Weekday() {
	case time.Saturday:
		return "a Saturday"
	case time.Sunday:
		return "a Sunday"
	}
	y, m, day := t.Date()
	switch {
	case m == time.January && day == 1:
		return "New Year's Day"
	case m == time.May && day == 1:
		return "Labour Day"
	case m == time.December && day == 25:
		return "Christmas Day"
	case m == time.December && day == 26:
		return "the day after Christmas"
	}
	switch easter := Easter(y); {
	case t.Equal(easter.AddDays(-2).Time()):
		return "Good Friday"
	case t.Equal(easter.AddDays(1).Time()):
		return "Easter Monday"
	}
	return ""
}

// Easter returns Easter Sunday of the year y in the Gregorian calendar,
// by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
func Easter(y int) ledger.Date {
	a := y % 19
	b, c := y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return ledger.NewDate(y, time.Month(month), day)
}

// NextBusinessDay returns d when TARGET2 is open on d, else the first open
// day after it.
func NextBusinessDay(d ledger.Date) ledger.Date {
	for !IsBusinessDay(d) {
		d = d.AddDays(1)
	}
	return d
}

// AddBusinessDays returns the n-th TARGET2 business day after d (before d
// when n is negative), d itself not counted. With n = 0 it is
// NextBusinessDay(d), so that the result is always an open day.
func AddBusinessDays(d ledger.Date, n int) ledger.Date {
	if n == 0 {
		return NextBusinessDay(d)
	}
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	for n > 0 {
		d = d.AddDays(step)
		if IsBusinessDay(d) {
			n--
		}
	}
	return d
}

// Action is what the service does about a payment a bank rejected, chosen by
// the rejection's reason code (ReasonAction).
type Action string

// The actions a reason code leads to.
const (
	// ActionFixPayee: the beneficiary's bank details are wrong (incorrect,
	// closed or blocked account, invalid BIC, missing address). Someone must
	// correct the payee before paying again; no automatic retry.
	ActionFixPayee Action = "fix_payee"
	// ActionRetry: a passing condition on our side (insufficient funds on
	// the debtor account). Alert the treasury; the payment may be sent again
	// once the cause is gone.
	ActionRetry Action = "retry"
	// ActionNeverResend: the bank saw a duplicate (message, block or
	// payment). The first one may have been or will be paid: never send
	// this payment again.
	ActionNeverResend Action = "never_resend"
	// ActionOurBug: the file we produced was wrong (control sum, number of
	// transactions, format, date). Fix the software, not the payee.
	ActionOurBug Action = "our_bug"
	// ActionStopPaying: the beneficiary has died. Stop every payment to them.
	ActionStopPaying Action = "stop_paying"
	// ActionReview: any other reason, or none. A person reads the reason and
	// decides.
	ActionReview Action = "review"
)

// reason is what the service knows of an ISO 20022 status reason code.
type reason struct {
	text   string
	action Action
}

// reasons holds the ISO 20022 external status reason codes banks use in
// pain.002 and returns, in words a finance person understands.
var reasons = map[string]reason{
	"AC01": {"the account number is incorrect", ActionFixPayee},
	"AC02": {"the debtor account number is invalid", ActionReview},
	"AC03": {"the creditor account number is invalid", ActionFixPayee},
	"AC04": {"the account is closed", ActionFixPayee},
	"AC05": {"the debtor account is closed", ActionReview},
	"AC06": {"the account is blocked", ActionFixPayee},
	"AC07": {"the creditor account is closed", ActionFixPayee},
	"AC13": {"the debtor account type is invalid", ActionReview},
	"AC14": {"the creditor account type is invalid", ActionFixPayee},
	"AG01": {"the transaction is forbidden on this type of account", ActionReview},
	"AG02": {"the bank operation code is invalid", ActionOurBug},
	"AG03": {"the creditor's bank does not offer this transaction type", ActionFixPayee},
	"AM01": {"the amount is zero", ActionOurBug},
	"AM02": {"the amount is above the maximum allowed", ActionReview},
	"AM03": {"the currency cannot be processed", ActionOurBug},
	"AM04": {"insufficient funds on the debtor account", ActionRetry},
	"AM05": {"duplicate payment", ActionNeverResend},
	"AM09": {"the amount is not the amount agreed or expected", ActionReview},
	"AM10": {"the control sum is wrong", ActionOurBug},
	"AM18": {"the number of transactions is wrong", ActionOurBug},
	"BE01": {"the creditor's name does not match the account holder", ActionFixPayee},
	"BE04": {"the creditor's address is missing or incorrect", ActionFixPayee},
	"BE05": {"the initiating party is not known to the bank", ActionReview},
	"CNOR": {"the creditor's bank is not registered in the clearing system", ActionFixPayee},
	"CURR": {"the currency is incorrect", ActionOurBug},
	"CUST": {"cancelled at the request of the debtor", ActionReview},
	"DNOR": {"the debtor's bank is not registered in the clearing system", ActionReview},
	"DT01": {"the date is invalid (for example not a business day)", ActionOurBug},
	"DU01": {"duplicate message: this MsgId was already received", ActionNeverResend},
	"DU02": {"duplicate payment information block: this PmtInfId was already received", ActionNeverResend},
	"DU03": {"duplicate transaction", ActionNeverResend},
	"DU04": {"duplicate end-to-end id", ActionNeverResend},
	"DU05": {"duplicate instruction id", ActionNeverResend},
	"ED05": {"the settlement failed", ActionReview},
	"FF01": {"the file format is invalid", ActionOurBug},
	"FOCR": {"returned after a cancellation request", ActionReview},
	"MD07": {"the end customer (beneficiary) is deceased", ActionStopPaying},
	"MS02": {"reason not specified, given by the beneficiary", ActionReview},
	"MS03": {"reason not specified, given by a bank", ActionReview},
	"NARR": {"see the narrative text of the report", ActionReview},
	"RC01": {"the BIC is invalid", ActionFixPayee},
	"RR01": {"regulatory reason: the debtor's account or identification is missing", ActionReview},
	"RR02": {"regulatory reason: the debtor's name or address is missing", ActionReview},
	"RR03": {"regulatory reason: the creditor's name or address is missing", ActionFixPayee},
	"RR04": {"regulatory reason", ActionReview},
	"SL01": {"refused by a specific service of the debtor's bank", ActionReview},
	"TM01": {"received after the bank's cut-off time", ActionRetry},
}

// ReasonText explains an ISO 20022 status reason code in words a finance
// person understands, after the code: "AC04: the account is closed". A
// code of two characters is the reject code of a French bank's CFONB 120
// statement (columns 41-42 of its 04 record), which is no ISO code and
// was not translated into one (no list of the bank's codes loaded, the
// code not in it, or no ISO code for it in the list: CFONB_REASONS_FILE):
// it is said so, and the reader sent to the line's label, where French
// banks write the reason and the list's libellé is added. An unknown code
// gives "XXXX: reason code not known"; an empty code gives "".
func ReasonText(code string) string {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		return ""
	}
	if r, ok := reasons[code]; ok {
		return code + ": " + r.text
	}
	if len(code) == 2 {
		return code + ": reject code of the French bank's statement (CFONB), not an ISO 20022 reason code, which no loaded list of the bank's codes (CFONB_REASONS_FILE) translates: see the line's label"
	}
	return code + ": reason code not known"
}

// IsReasonCode reports whether code is one of the ISO 20022 status reason
// codes the service knows, written in capitals ("AC04"): what a statement
// reader may take for a return's reason in free text.
func IsReasonCode(code string) bool {
	_, ok := reasons[code]
	return ok
}

// ReasonAction returns what to do about a payment rejected with the given
// reason code. An unknown or empty code leads to ActionReview.
func ReasonAction(code string) Action {
	if r, ok := reasons[strings.ToUpper(strings.TrimSpace(code))]; ok {
		return r.action
	}
	return ActionReview
}

// rank orders the statuses a transaction passes through; a status absent
// from it (PART and PATC, or an unknown code) has rank 0.
var rank = map[Status]int{
	StatusRCVD: 1, // received by the bank
	StatusPDNG: 2, // pending further checks
	StatusPRES: 2,
	StatusBLCK: 2,
	StatusACTC: 3, // technical validation passed
	StatusACCP: 4, // customer profile checks passed
	StatusACFC: 5,
	StatusACSP: 6, // settlement in process
	StatusACPD: 7,
	StatusACWC: 8, // accepted with a change
	StatusACWP: 8,
	StatusACSC: 9, // settled on the debtor account: final
	StatusACIS: 9,
	StatusACCC: 10, // settled on the creditor's account: final
	StatusCPUC: 10,
	StatusRJCT: 11, // rejected: final
	StatusCANC: 11,
}

// Valid reports whether s is a status of the external code list.
func (s Status) Valid() bool { return s.Partial() || rank[s] > 0 }

// Partial reports whether s says only that some payments of a group or a
// block were accepted (PART, PATC): the transactions carry their own.
func (s Status) Partial() bool { return s == StatusPART || s == StatusPATC }

// Final reports whether nothing can follow s: rejected (RJCT, CANC) or
// settled (ACSC on the debtor account, ACCC on the creditor's, ACIS,
// CPUC), the money gone. ACCP is not final: a payment accepted by the
// customer profile checks can still be rejected before settlement.
func (s Status) Final() bool { return s.Rejected() || rank[s] >= rank[StatusACSC] }

// Rejected reports whether s says the payment was not made: RJCT, or CANC
// (cancelled at our request), which the workflow treats alike.
func (s Status) Rejected() bool { return s == StatusRJCT || s == StatusCANC }

// Accepted reports whether s says the bank accepted the payment for
// settlement (ACCP or beyond, not rejected): it stays in transit until the
// statement books it. The statuses before it (RCVD, PDNG, PRES, BLCK,
// ACTC) wait.
func (s Status) Accepted() bool { return !s.Rejected() && rank[s] >= rank[StatusACCP] }

// Rank orders the statuses a payment moves through, so that they only move
// forward: received, pending, technically valid, accepted, settling,
// settled, then rejected, ranking highest because it is final whenever it
// comes. PART and PATC, statuses of a group or a payment information block
// only, and unknown statuses rank 0.
func (s Status) Rank() int { return rank[s] }

// Advance returns the status of a payment at cur once a report says next,
// and whether it changed. A move backwards, a move away from a final status
// (RJCT, ACSC), PART (which says nothing of one payment) and an invalid next
// are ignored. An empty cur takes any status of rank above 0.
func Advance(cur, next Status) (Status, bool) {
	if next.Rank() == 0 || cur.Final() || next.Rank() <= cur.Rank() {
		return cur, false
	}
	return next, true
}

// NameReason reports whether code says the payee's name was at fault, not
// their account: the name is to be corrected, the IBAN may stay.
func NameReason(code string) bool { return code == "RR03" || code == "BE01" }

// CodesFor returns the reason codes that call for one of actions, sorted.
func CodesFor(actions ...Action) []string {
	var out []string
	for code, r := range reasons {
		if slices.Contains(actions, r.action) {
			out = append(out, code)
		}
	}
	slices.Sort(out)
	return out
}
