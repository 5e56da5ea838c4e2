package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

// Territories lists the territories an ADA household may live in; an event
// that names none means DefaultTerritory. The rate schedule will replace
// this list with the territories it has rates for.
var Territories = []string{DefaultTerritory, "guyane", "saint-martin"}

// Return aid schemes: the standard one, and the special caps of
// docs/rules.md §2 that an event selects with "scheme": "channel".
const (
	returnSchemeStandard = "standard"
	returnSchemeChannel  = "channel"
)

// Limits of the contract (docs/eligibility-events.md).
const (
	maxHouseholdPersons  = 20  // adults and children of one household
	maxContractIDLength  = 40  // beneficiary, grant, tranche and overpayment ids
	maxPayeeNameLength   = 70  // a payee's name, as SEPA allows
	maxEventReasonLength = 200 // a reason, in characters
	minEventYear         = 2000
	maxEventYear         = 2199
)

// Limits on the shape of an event value, far above what the contract needs
// (its deepest field is at level 3, its longest text 200 characters), so
// that no value within MaxEventBytes makes the parser hold much more than
// the value itself.
const (
	// MaxEventDepth is the deepest nesting of objects and arrays, the
	// envelope counting as 1.
	MaxEventDepth = 16
	// MaxEventString is the longest string, key or value, in bytes as
	// written (escapes included).
	MaxEventString = 4 << 10
	// MaxEventValues is the most values (strings, numbers, literals,
	// objects, arrays) of one event.
	MaxEventValues = 4096
)

var (
	contractIDRE      = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	contractDateRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	contractAmountRE  = regexp.MustCompile(`^[0-9]{1,13}(\.[0-9]{1,2})?$`)
	unsignedDecimalRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	contractBICRE     = regexp.MustCompile(`^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
	alpha2RE          = regexp.MustCompile(`^[A-Z]{2}$`)
)

// ReinsertionCeiling returns the most a reinsertion grant of the level may
// amount to, for a household of adults and children, in the latest version
// of the default schedule (docs/rules.md §3, DefaultSchedules): social aid
// 400 for a single person, 800 for a couple (two adults or more), plus 300
// per minor child; employment aid 4,000; business-creation aid 7,000. A
// household of fewer than one adult (an event that names no adults) counts
// as one adult. An unknown level has a ceiling of zero.
func ReinsertionCeiling(level ReinsertionLevel, adults, children int) decimal.Decimal {
	return DefaultSchedules().Latest().Reinsertion.Ceiling(level, adults, children)
}

// ParseEvent reads one record value of the eligibility topic and checks it
// against the contract (docs/eligibility-events.md): the envelope, then the
// data of its type. Unknown fields are ignored; a known field that is
// missing, of the wrong JSON type, given twice or out of its bounds is an
// error. The error is an *errs.Error of code Invalid whose Field is the
// dotted path of the field at fault ("data.payee.iban",
// "data.tranches[1].amount"), or "body" when the value is not one JSON
// object, and whose message says why in plain words.
//
// ParseEvent needs no database: whether the beneficiary or the grant exists
// is for the store to check.
func ParseEvent(value []byte) (Event, error) {
	if len(value) > MaxEventBytes {
		return Event{}, errs.Field("body", "has %d bytes, more than the %d allowed", len(value), MaxEventBytes)
	}
	if !utf8.Valid(value) {
		return Event{}, errs.Field("body", "is not valid UTF-8")
	}
	if err := checkEventShape(value); err != nil {
		return Event{}, err
	}
	raw, err := oneJSONObject(value)
	if err != nil {
		return Event{}, err
	}
	p := &eventParser{}
	ev := p.event(raw)
	if p.err != nil {
		return Event{}, p.err
	}
	return ev, nil
}

// checkEventShape refuses a value nested deeper than MaxEventDepth, with a
// string longer than MaxEventString or more than MaxEventValues values,
// naming the field where the limit is passed. It reads the bytes once and
// holds only the path; what is not JSON is left to the decoder to refuse.
func checkEventShape(value []byte) error {
	type frame struct {
		object bool
		key    string // the current key of an object
		index  int    // the current index of an array
	}
	var (
		stack  []frame
		values int
	)
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.object && f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.object:
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	fail := func(format string, args ...any) error { return errs.Field(path(), format, args...) }
	expectKey := false
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '"':
			start := i + 1
			for i++; i < len(value) && value[i] != '"'; i++ {
				if value[i] == '\\' {
					i++
				}
				if i-start >= MaxEventString {
					return fail("has a string longer than %d bytes", MaxEventString)
				}
			}
			if expectKey && len(stack) > 0 {
				key := value[start:min(i, len(value))]
				if len(key) > 40 {
					key = append(key[:40:40], "..."...)
				}
				stack[len(stack)-1].key = string(key)
				expectKey = false
				continue
			}
			values++
		case '{', '[':
			if values++; len(stack) == MaxEventDepth {
				return fail("nests objects and arrays deeper than %d levels", MaxEventDepth)
			}
			stack = append(stack, frame{object: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			if len(stack) > 0 {
				top := &stack[len(stack)-1]
				top.index++
				expectKey = top.object
			}
		case ' ', '\t', '\r', '\n', ':':
		default:
			// A number or a literal: count it once, at its first byte.
			if i == 0 || strings.IndexByte(" \t\r\n:,[", value[i-1]) >= 0 {
				values++
			}
		}
		if values > MaxEventValues {
			return fail("is value number %d: an event holds at most %d", values, MaxEventValues)
		}
	}
	return nil
}

// oneJSONObject returns the JSON object that value holds, refusing anything
// else and anything after it.
func oneJSONObject(value []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errs.Field("body", "is empty")
		}
		return nil, errs.Field("body", "is not valid JSON: %s", jsonProblem(err))
	}
	if rest := bytes.Trim(value[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, errs.Field("body", "has more data after its JSON object")
	}
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errs.Field("body", "must be a JSON object, got %s", jsonKind(raw))
	}
	return raw, nil
}

// jsonProblem says what is wrong with JSON that does not parse.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends in the middle of a value"
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s (at byte %d)", syntax.Error(), syntax.Offset)
	}
	return err.Error()
}

// eventParser reads an event, keeping the first error it meets.
type eventParser struct {
	err *errs.Error
}

// fail records an error about a field, unless one was recorded before.
func (p *eventParser) fail(field, format string, args ...any) {
	if p.err == nil {
		p.err = errs.Field(field, format, args...)
	}
}

// jsonObject is a JSON object being read: its fields' raw values by name.
type jsonObject struct {
	p      *eventParser
	at     string // dotted path of the object; "" for the envelope
	fields map[string]json.RawMessage
	dup    map[string]bool // names given more than once
}

// objectAt reads raw, a JSON object found at path at. The value as a whole
// was checked to be valid JSON: reading it again cannot fail.
func (p *eventParser) objectAt(at string, raw json.RawMessage) jsonObject {
	o := jsonObject{p: p, at: at, fields: map[string]json.RawMessage{}, dup: map[string]bool{}}
	where := at
	if where == "" {
		where = "body"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		p.fail(where, "must be an object")
		return o
	}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		var v json.RawMessage
		if err != nil || !ok || dec.Decode(&v) != nil {
			p.fail(where, "is not a valid JSON object")
			return o
		}
		if _, seen := o.fields[key]; seen {
			o.dup[key] = true
		}
		o.fields[key] = bytes.TrimSpace(v)
	}
	return o
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

// event reads an event from its JSON object.
func (p *eventParser) event(raw json.RawMessage) Event {
	env := p.objectAt("", raw)
	var ev Event
	if s, ok := env.str("event_id", true); ok {
		ev.ID = env.uuid("event_id", s)
	}
	if v, ok := env.integer("schema_version", true); ok {
		if v != SchemaVersion {
			env.fail("schema_version", "%d is not supported (this service reads %d)", v, SchemaVersion)
		}
		ev.SchemaVersion = v
	}
	if s, ok := env.str("type", true); ok {
		if !slices.Contains(EventTypes, EventType(s)) {
			env.fail("type", "%s is not a known event type", quoteShort(s))
		}
		ev.Type = EventType(s)
	}
	if s, ok := env.str("occurred_at", true); ok {
		t, err := time.Parse(time.RFC3339, s)
		switch {
		case err != nil:
			env.fail("occurred_at", "%s is not an RFC 3339 time with a time zone, like \"2026-10-03T09:12:00Z\"", quoteShort(s))
		case t.Year() < minEventYear || t.Year() > maxEventYear:
			env.fail("occurred_at", "%s is outside the years %d to %d", s, minEventYear, maxEventYear)
		}
		ev.OccurredAt = t
	}
	if s, ok := env.str("beneficiary_id", true); ok {
		if problem := contractIDProblem(s); problem != "" {
			env.fail("beneficiary_id", "%s", problem)
		}
		ev.BeneficiaryID = s
	}
	data, _ := env.object("data", true)
	if p.err != nil {
		return Event{}
	}
	p.data(&ev, data)
	return ev
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

// data reads the data of ev's type into ev.
func (p *eventParser) data(ev *Event, data jsonObject) {
	switch ev.Type {
	case RightsOpened:
		d := &RightsOpenedData{}
		d.From, _ = data.date("from", true)
		d.Adults, d.Children, _ = data.household(true)
		d.Accommodated, _ = data.boolean("accommodated", true)
		d.Territory = data.territory("territory")
		d.Payee = data.payee("payee")
		ev.RightsOpened = d
	case HouseholdChanged:
		d := &HouseholdData{}
		d.From, _ = data.date("from", true)
		d.Adults, d.Children, _ = data.household(true)
		ev.Household = d
	case AccommodationChanged:
		d := &AccommodationData{}
		d.From, _ = data.date("from", true)
		d.Accommodated, _ = data.boolean("accommodated", true)
		ev.Accommodation = d
	case Suspended, Resumed:
		d := &SuspensionData{}
		d.From, _ = data.date("from", true)
		d.Reason = data.reason("reason")
		ev.Suspension = d
	case RightsClosed:
		d := &RightsClosedData{}
		d.LastDay, _ = data.date("last_day", true)
		d.Reason = data.reason("reason")
		ev.RightsClosed = d
	case PayeeChanged:
		d := data.payee("payee")
		ev.Payee = &d
	case ReturnGrantDecided:
		ev.ReturnGrant = p.returnGrant(data)
	case ReinsertionDecided:
		ev.Reinsertion = p.reinsertion(data)
	case TrancheReleased:
		d := &TrancheRelease{}
		d.GrantID = data.id("grant_id")
		d.TrancheID = data.id("tranche_id")
		d.ReleasedOn, _ = data.date("released_on", true)
		ev.Tranche = d
	case OverpaymentEstablished:
		d := &Overpayment{}
		d.OverpaymentID = data.id("overpayment_id")
		d.Amount, _ = data.amount("amount")
		d.Reason = data.reason("reason")
		d.Fraud, _ = data.boolean("fraud", false)
		ev.Overpayment = d
	default:
		p.fail("type", "%s is not a known event type", quoteShort(string(ev.Type)))
	}
}

// returnGrant reads the data of a return.grant_decided event.
func (p *eventParser) returnGrant(data jsonObject) *ReturnGrant {
	g := &ReturnGrant{Scheme: returnSchemeStandard}
	g.GrantID = data.id("grant_id")
	g.Country = data.returnCountry("country")
	g.Adults, g.Children, _ = data.household(true)
	notified, ok1 := data.date("removal_order_notified_on", true)
	validated, ok2 := data.date("validated_on", true)
	if ok1 && ok2 && validated.Before(notified) {
		data.fail("validated_on", "%s is before the removal order's notification (removal_order_notified_on %s)", validated, notified)
	}
	g.RemovalOrderNotifiedOn, g.ValidatedOn = notified, validated
	g.IncreasedRate, _ = data.boolean("increased_rate", false)
	g.TravelDocument, _ = data.boolean("travel_document", false)
	if s, ok := data.str("scheme", false); ok {
		if s != returnSchemeStandard && s != returnSchemeChannel {
			data.fail("scheme", "%s is not a scheme (%s or %s)", quoteShort(s), returnSchemeStandard, returnSchemeChannel)
		}
		g.Scheme = s
	}
	g.DepartureDate, _ = data.date("departure_date", true)
	g.Payee = data.payee("payee")
	return g
}

// reinsertion reads the data of a reinsertion.grant_decided event.
func (p *eventParser) reinsertion(data jsonObject) *ReinsertionGrant {
	g := &ReinsertionGrant{}
	g.GrantID = data.id("grant_id")
	if s, ok := data.str("level", true); ok {
		g.Level = ReinsertionLevel(s)
		if !slices.Contains([]ReinsertionLevel{LevelSocial, LevelEmployment, LevelBusinessCreation}, g.Level) {
			data.fail("level", "%s is not a level (%s, %s or %s)", quoteShort(s), LevelSocial, LevelEmployment, LevelBusinessCreation)
		}
	}
	g.Amount, _ = data.amount("amount")
	g.Adults, g.Children, _ = data.household(false)
	if p.err == nil {
		if ceiling := ReinsertionCeiling(g.Level, g.Adults, g.Children); g.Amount.GreaterThan(ceiling) {
			data.fail("amount", "%s is above the ceiling of %s for %s", g.Amount.StringFixed(2), ceiling.StringFixed(2),
				ceilingSubject(g.Level, g.Adults, g.Children))
		}
	}
	items, ok := data.array("tranches")
	if ok && len(items) == 0 {
		data.fail("tranches", "must hold at least one tranche")
	}
	seen := map[string]int{}
	sum := decimal.Zero
	for i, raw := range items {
		at := fmt.Sprintf("%s[%d]", data.field("tranches"), i)
		if len(raw) == 0 || raw[0] != '{' {
			p.fail(at, "must be an object, got %s", jsonKind(raw))
			break
		}
		to := p.objectAt(at, raw)
		t := Tranche{TrancheID: to.id("tranche_id")}
		if first, dup := seen[t.TrancheID]; dup && t.TrancheID != "" {
			to.fail("tranche_id", "%s is already the id of tranches[%d]", quoteShort(t.TrancheID), first)
		}
		seen[t.TrancheID] = i
		t.Amount, _ = to.amount("amount")
		sum = sum.Add(t.Amount)
		g.Tranches = append(g.Tranches, t)
	}
	if p.err == nil && !sum.Equal(g.Amount) {
		data.fail("tranches", "add up to %s, not the decided %s", sum.StringFixed(2), g.Amount.StringFixed(2))
	}
	g.Payee = data.payee("payee")
	return g
}

// ceilingSubject names what a reinsertion ceiling applies to, for messages.
func ceilingSubject(level ReinsertionLevel, adults, children int) string {
	if level != LevelSocial {
		return string(level) + " aid"
	}
	adults = max(adults, 1)
	return fmt.Sprintf("social aid to %d %s and %d %s", adults, pluralWord(adults, "adult", "adults"),
		children, pluralWord(children, "child", "children"))
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quote writes s in double quotes for a message, cut after 40 characters so
// that a message stays short whatever the value.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return strconv.Quote(s)
	}
	return strconv.Quote(string([]rune(s)[:40])) + "…"
}

// clip cuts a raw JSON text after 40 bytes, for a message.
func clipRaw(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "…"
}
