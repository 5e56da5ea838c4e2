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
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
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
	if json.Valid(value) {
		// One JSON value and white space around it: no decoder needed.
		raw := bytes.Trim(value, " \t\r\n")
		if raw[0] != '{' {
			return nil, errs.Field("body", "must be a JSON object, got %s", jsonKind(raw))
		}
		return raw, nil
	}
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
