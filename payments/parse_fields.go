package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

// jsonObject is a JSON object being read: its fields' raw values by name.
type jsonObject struct {
	p      *eventParser
	at     string // dotted path of the object; "" for the envelope
	fields map[string]json.RawMessage
	dup    map[string]bool // names given more than once
}

// objectAt reads raw, a JSON object found at path at. The value as a whole
// was checked to be valid JSON: reading it again cannot fail, and its
// members are cut at their bounds without decoding them.
func (p *eventParser) objectAt(at string, raw json.RawMessage) jsonObject {
	o := jsonObject{p: p, at: at, fields: make(map[string]json.RawMessage, 8)}
	where := at
	if where == "" {
		where = "body"
	}
	i := skipJSONSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		p.fail(where, "must be an object")
		return o
	}
	i = skipJSONSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return o
	}
	for {
		key, end, ok := jsonKey(raw, i)
		if ok {
			i = skipJSONSpace(raw, end)
			ok = i < len(raw) && raw[i] == ':'
		}
		var v json.RawMessage
		if ok {
			i = skipJSONSpace(raw, i+1)
			end, ok = jsonValueEnd(raw, i)
			v = raw[i:end:end]
			i = skipJSONSpace(raw, end)
		}
		if !ok || i >= len(raw) {
			p.fail(where, "is not a valid JSON object")
			return o
		}
		if _, seen := o.fields[key]; seen {
			if o.dup == nil {
				o.dup = map[string]bool{}
			}
			o.dup[key] = true
		}
		o.fields[key] = v
		switch raw[i] {
		case ',':
			i = skipJSONSpace(raw, i+1)
		case '}':
			return o
		default:
			p.fail(where, "is not a valid JSON object")
			return o
		}
	}
}

// skipJSONSpace returns the index of the first byte of b from i on that is
// not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// jsonStringEnd returns the index after the closing quote of the JSON
// string that starts at b[i], and whether it holds an escape.
func jsonStringEnd(b []byte, i int) (end int, escaped, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped, true
		}
	}
	return i, escaped, false
}

// jsonKey reads the member name that starts at b[i], decoded as
// encoding/json decodes it, and returns the index after it.
func jsonKey(b []byte, i int) (key string, end int, ok bool) {
	end, escaped, ok := jsonStringEnd(b, i)
	if !ok {
		return "", end, false
	}
	if !escaped {
		return string(b[i+1 : end-1]), end, true
	}
	if err := json.Unmarshal(b[i:end], &key); err != nil {
		return "", end, false
	}
	return key, end, true
}

// jsonValueEnd returns the index after the JSON value that starts at b[i]:
// a string, an object or array with all it nests, or a number or literal.
func jsonValueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		end, _, ok := jsonStringEnd(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := jsonStringEnd(b, i)
				if !ok {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(b) && !strings.ContainsRune(" \t\r\n,}]:", rune(b[i])) {
		i++
	}
	return i, i > start
}

// field returns the dotted path of the object's field key.
func (o jsonObject) field(key string) string {
	if o.at == "" {
		return key
	}
	return o.at + "." + key
}

// fail records an error about the object's field key.
func (o jsonObject) fail(key, format string, args ...any) { o.p.fail(o.field(key), format, args...) }

// get returns the raw value of field key, and whether it is there. A
// required field that is missing is an error, and so is a field given twice
// (JSON readers disagree on which one counts).
func (o jsonObject) get(key string, required bool) (json.RawMessage, bool) {
	raw, ok := o.fields[key]
	switch {
	case !ok:
		if required {
			o.fail(key, "is required")
		}
		return nil, false
	case o.dup[key]:
		o.fail(key, "is given more than once")
		return nil, false
	case len(raw) == 0:
		o.fail(key, "has no value")
		return nil, false
	}
	return raw, true
}

// kind names the JSON type of a raw value, for messages.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// str reads a string field.
func (o jsonObject) str(key string, required bool) (string, bool) {
	raw, ok := o.get(key, required)
	if !ok {
		return "", false
	}
	if end, escaped, ok := jsonStringEnd(raw, 0); ok && !escaped && end == len(raw) {
		// No escape: the value, checked to be valid UTF-8, is its text.
		return string(raw[1 : end-1]), true
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		o.fail(key, "must be a string, got %s", jsonKind(raw))
		return "", false
	}
	return s, true
}

// integer reads a field holding a whole number.
func (o jsonObject) integer(key string, required bool) (int, bool) {
	raw, ok := o.get(key, required)
	if !ok {
		return 0, false
	}
	if jsonKind(raw) != "a number" {
		o.fail(key, "must be an integer, got %s", jsonKind(raw))
		return 0, false
	}
	n, err := strconv.Atoi(string(raw))
	switch {
	case errors.Is(err, strconv.ErrRange):
		o.fail(key, "%s is out of range", clipRaw(string(raw)))
		return 0, false
	case err != nil:
		o.fail(key, "must be an integer, got %s", clipRaw(string(raw)))
		return 0, false
	}
	return n, true
}

// boolean reads a true or false field; a missing optional one is false.
func (o jsonObject) boolean(key string, required bool) (bool, bool) {
	raw, ok := o.get(key, required)
	if !ok {
		return false, false
	}
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	o.fail(key, "must be true or false, got %s", jsonKind(raw))
	return false, false
}

// date reads a calendar date written YYYY-MM-DD, in the years 2000 to 2199.
func (o jsonObject) date(key string, required bool) (ledger.Date, bool) {
	s, ok := o.str(key, required)
	if !ok {
		return ledger.Date{}, false
	}
	if !contractDateRE.MatchString(s) {
		o.fail(key, "%s is not a date of the form YYYY-MM-DD", quoteShort(s))
		return ledger.Date{}, false
	}
	d, err := ledger.ParseDate(s)
	if err != nil {
		o.fail(key, "%s is not a date", s)
		return ledger.Date{}, false
	}
	if y := d.Time().Year(); y < minEventYear || y > maxEventYear {
		o.fail(key, "%s is outside the years %d to %d", s, minEventYear, maxEventYear)
		return ledger.Date{}, false
	}
	return d, true
}

// count reads a number of persons, at least lowest and at most maxHouseholdPersons.
func (o jsonObject) count(key string, lowest int, required bool) (int, bool) {
	n, ok := o.integer(key, required)
	switch {
	case !ok:
		return 0, false
	case n < 0 && lowest == 0:
		o.fail(key, "must not be negative, got %d", n)
	case n < lowest:
		o.fail(key, "must be at least %d, got %d", lowest, n)
	case n > maxHouseholdPersons:
		o.fail(key, "must be at most %d, got %d", maxHouseholdPersons, n)
	default:
		return n, true
	}
	return 0, false
}

// household reads adults (at least 1) and children (at least 0), at most
// maxHouseholdPersons in all. It reports whether adults was given.
func (o jsonObject) household(required bool) (adults, children int, hasAdults bool) {
	adults, hasAdults = o.count("adults", 1, required)
	children, hasChildren := o.count("children", 0, required)
	if hasAdults && hasChildren && adults+children > maxHouseholdPersons {
		o.fail("children", "%d adults and %d children make %d persons, more than %d",
			adults, children, adults+children, maxHouseholdPersons)
	}
	return adults, children, hasAdults
}

// id reads a required identifier: 1 to 40 letters, digits, '-' or '_'.
func (o jsonObject) id(key string) string {
	s, ok := o.str(key, true)
	if !ok {
		return ""
	}
	if problem := contractIDProblem(s); problem != "" {
		o.fail(key, "%s", problem)
		return ""
	}
	return s
}

// contractIDProblem says what is wrong with an identifier, or "" when it is good.
func contractIDProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxContractIDLength && contractIDRE.MatchString(s):
		return fmt.Sprintf("is longer than %d characters", maxContractIDLength)
	case !contractIDRE.MatchString(s):
		return fmt.Sprintf("%s has characters other than letters, digits, '-' and '_'", quoteShort(s))
	}
	return ""
}

// reason reads an optional free text of at most maxEventReasonLength
// characters, without control characters other than tabs and line breaks.
func (o jsonObject) reason(key string) string {
	s, ok := o.str(key, false)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }) {
		o.fail(key, "must not contain control characters")
		return ""
	}
	if n := utf8.RuneCountInString(s); n > maxEventReasonLength {
		o.fail(key, "is longer than %d characters (%d)", maxEventReasonLength, n)
		return ""
	}
	return s
}

// amount reads a required amount in euros: a JSON string of at most 13
// digits and two decimals, more than zero.
func (o jsonObject) amount(key string) (decimal.Decimal, bool) {
	if raw, ok := o.fields[key]; ok && !o.dup[key] && jsonKind(raw) == "a number" {
		o.fail(key, "must be a string such as \"136.00\", got the number %s", clipRaw(string(raw)))
		return decimal.Zero, false
	}
	s, ok := o.str(key, true)
	if !ok {
		return decimal.Zero, false
	}
	if !contractAmountRE.MatchString(s) {
		switch {
		case strings.HasPrefix(s, "-") && unsignedDecimalRE.MatchString(s[1:]):
			o.fail(key, "must be more than zero, got %s", quoteShort(s))
		case unsignedDecimalRE.MatchString(s) && strings.Contains(s, ".") && len(s)-strings.Index(s, ".") > 3:
			o.fail(key, "%s has more than two decimals", quoteShort(s))
		case unsignedDecimalRE.MatchString(s):
			o.fail(key, "%s is too large: at most 13 digits before the point", quoteShort(s))
		default:
			o.fail(key, "%s is not an amount: digits, then a point and two decimals, like \"136.00\"", quoteShort(s))
		}
		return decimal.Zero, false
	}
	a, err := decimal.NewFromString(s)
	if err != nil {
		o.fail(key, "%s is not an amount", quoteShort(s))
		return decimal.Zero, false
	}
	if !a.IsPositive() {
		o.fail(key, "must be more than zero, got %s", quoteShort(s))
		return decimal.Zero, false
	}
	return a, true
}

// object reads a field holding an object.
func (o jsonObject) object(key string, required bool) (jsonObject, bool) {
	raw, ok := o.get(key, required)
	if !ok {
		return o.p.empty(o.field(key)), false
	}
	if raw[0] != '{' {
		o.fail(key, "must be an object, got %s", jsonKind(raw))
		return o.p.empty(o.field(key)), false
	}
	return o.p.objectAt(o.field(key), raw), true
}

// empty returns an object with no fields, read after an error.
func (p *eventParser) empty(at string) jsonObject {
	return jsonObject{p: p, at: at, fields: map[string]json.RawMessage{}, dup: map[string]bool{}}
}

// array reads a field holding an array, returning its raw items.
func (o jsonObject) array(key string) ([]json.RawMessage, bool) {
	raw, ok := o.get(key, true)
	if !ok {
		return nil, false
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		o.fail(key, "must be an array, got %s", jsonKind(raw))
		return nil, false
	}
	for i := range items {
		items[i] = bytes.TrimSpace(items[i])
	}
	return items, true
}

// payee reads a payee: a name, an IBAN and an optional BIC.
func (o jsonObject) payee(key string) Payee {
	po, ok := o.object(key, true)
	if !ok {
		return Payee{}
	}
	var p Payee
	if name, ok := po.str("name", true); ok {
		name = strings.TrimSpace(name)
		switch n := utf8.RuneCountInString(name); {
		case strings.ContainsFunc(name, unicode.IsControl):
			po.fail("name", "must not contain control characters")
		case n == 0:
			po.fail("name", "must not be blank")
		case n > maxPayeeNameLength:
			po.fail("name", "is longer than %d characters (%d)", maxPayeeNameLength, n)
		default:
			// A name the bank cannot take would stop its batch at release:
			// it is refused here, before it reaches a batch.
			var e *errs.Error
			if err := sepa.CheckName("name", name); errors.As(err, &e) {
				po.fail("name", "%s", e.Message)
			} else {
				p.Name = name
			}
		}
	}
	if s, ok := po.str("iban", true); ok {
		iban, err := ValidateIBAN(s)
		if err != nil {
			po.fail("iban", "%s", err.Error())
		}
		p.IBAN = iban
	}
	if s, ok := po.str("bic", false); ok {
		switch {
		case !contractBICRE.MatchString(s):
			po.fail("bic", "%s is not a BIC: 8 or 11 capital letters and digits, like \"AGRIFRPP\"", quoteShort(s))
		case !IsCountry(s[4:6]):
			po.fail("bic", "%s has %s as its country code (5th and 6th letters), which is not a country", quoteShort(s), s[4:6])
		default:
			p.BIC = s
		}
	}
	return p
}

// territory reads the optional territory, DefaultTerritory when missing.
func (o jsonObject) territory(key string) string {
	s, ok := o.str(key, false)
	if !ok {
		return DefaultTerritory
	}
	if !slices.Contains(Territories, s) {
		o.fail(key, "%s is not a territory (%s)", quoteShort(s), strings.Join(Territories, ", "))
		return DefaultTerritory
	}
	return s
}

// returnCountry reads the country of a return grant: an ISO 3166-1 alpha-2
// code, not of a country whose nationals are refused return aid.
func (o jsonObject) returnCountry(key string) string {
	s, ok := o.str(key, true)
	if !ok {
		return ""
	}
	if !alpha2RE.MatchString(s) {
		o.fail(key, "%s is not an ISO 3166-1 alpha-2 country code (two capital letters)", quoteShort(s))
		return ""
	}
	if !IsCountry(s) {
		o.fail(key, "%s is not a country code", s)
		return ""
	}
	if group, refused := returnAidExcluded[s]; refused {
		o.fail(key, "nationals of %s (%s) are not eligible for return aid", s, group)
		return ""
	}
	return s
}

// uuid reads a UUID of any version, in its canonical textual form
// (8-4-4-4-12 hexadecimal digits).
func (o jsonObject) uuid(key, s string) uuid.UUID {
	canonical := len(s) == 36
	for i := 0; canonical && i < len(s); i++ {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			canonical = c == '-'
		default:
			canonical = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		}
	}
	u, err := uuid.Parse(s)
	switch {
	case !canonical || err != nil:
		o.fail(key, "%s is not a UUID such as \"0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10\"", quoteShort(s))
	case u == uuid.Nil:
		o.fail(key, "must not be the nil UUID")
	}
	return u
}
