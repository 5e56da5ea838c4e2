package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Limits of what the tables can hold. A valid event is far inside them; an
// event outside them is a dead letter rather than a batch that fails.
const (
	maxIDLen       = 200 // grant, tranche and overpayment ids: primary keys
	maxLabelLen    = 200 // type and beneficiary id of a dead letter: indexed
	maxExponent    = 1000
	minStorageYear = 1
	maxStorageYear = 9999
)

// maxAmount is the first amount that DECIMAL(19,2) cannot hold.
var maxAmount = decimal.New(1, 17)

// storable reports, as an Invalid error naming the field, why an event
// that ParseEvent accepted (so its value is one JSON object in UTF-8) could
// not be stored as it is: its value must go into a JSONB column (PostgreSQL
// refuses \u0000, lone surrogates and huge exponents there), its ids into
// indexes, its amounts into DECIMAL(19,2) and its dates into DATE.
func storable(value []byte, ev payments.Event) error {
	if err := jsonbStorable(value); err != nil {
		return err
	}
	if err := timeInRange("occurred_at", ev.OccurredAt); err != nil {
		return err
	}
	switch {
	case ev.RightsOpened != nil:
		return dateInRange("data.from", ev.RightsOpened.From)
	case ev.Household != nil:
		return dateInRange("data.from", ev.Household.From)
	case ev.Accommodation != nil:
		return dateInRange("data.from", ev.Accommodation.From)
	case ev.Suspension != nil:
		return dateInRange("data.from", ev.Suspension.From)
	case ev.RightsClosed != nil:
		return dateInRange("data.last_day", ev.RightsClosed.LastDay)
	case ev.ReturnGrant != nil:
		g := ev.ReturnGrant
		return first(idFits("data.grant_id", g.GrantID),
			dateInRange("data.removal_order_notified_on", g.RemovalOrderNotifiedOn),
			dateInRange("data.validated_on", g.ValidatedOn),
			dateInRange("data.departure_date", g.DepartureDate))
	case ev.Reinsertion != nil:
		g := ev.Reinsertion
		if err := first(idFits("data.grant_id", g.GrantID), amountFits("data.amount", g.Amount)); err != nil {
			return err
		}
		seen := make(map[string]bool, len(g.Tranches))
		for i, t := range g.Tranches {
			f := fmt.Sprintf("data.tranches[%d]", i)
			if err := first(idFits(f+".tranche_id", t.TrancheID), amountFits(f+".amount", t.Amount)); err != nil {
				return err
			}
			if seen[t.TrancheID] {
				return errs.Field(f+".tranche_id", "%s appears twice in the grant", t.TrancheID)
			}
			seen[t.TrancheID] = true
		}
	case ev.Tranche != nil:
		return first(idFits("data.grant_id", ev.Tranche.GrantID), idFits("data.tranche_id", ev.Tranche.TrancheID),
			dateInRange("data.released_on", ev.Tranche.ReleasedOn))
	case ev.Overpayment != nil:
		return first(idFits("data.overpayment_id", ev.Overpayment.OverpaymentID), amountFits("data.amount", ev.Overpayment.Amount))
	}
	return nil
}

func first(errList ...error) error {
	for _, err := range errList {
		if err != nil {
			return err
		}
	}
	return nil
}

func idFits(field, id string) error {
	if id == "" {
		return errs.Field(field, "is empty")
	}
	if len(id) > maxIDLen {
		return errs.Field(field, "is longer than %d bytes", maxIDLen)
	}
	return nil
}

func amountFits(field string, d decimal.Decimal) error {
	if d.Abs().Cmp(maxAmount) >= 0 {
		return errs.Field(field, "%s is too large", d.String())
	}
	if !d.Equal(d.Round(2)) {
		return errs.Field(field, "%s has more than 2 decimals", d.String())
	}
	return nil
}

func dateInRange(field string, d ledger.Date) error {
	if d.IsZero() {
		return errs.Field(field, "is missing")
	}
	return timeInRange(field, d.Time())
}

func timeInRange(field string, t time.Time) error {
	if y := t.UTC().Year(); y < minStorageYear || y > maxStorageYear {
		return errs.Field(field, "%s is out of range", t.Format(time.RFC3339))
	}
	return nil
}

// jsonbStorable scans a valid JSON text for what PostgreSQL's JSONB
// refuses: the escape \u0000, a lone UTF-16 surrogate, and a number whose
// exponent takes it outside NUMERIC.
func jsonbStorable(b []byte) error {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				if i+1 < len(b) && b[i+1] == 'u' {
					r, ok := hex4(b, i+2)
					switch {
					case !ok:
					case r == 0:
						return errs.Field("body", `holds the escape \u0000 (a NUL character), which cannot be stored`)
					case r >= 0xD800 && r < 0xDC00:
						lo, ok := rune(0), false
						if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
							lo, ok = hex4(b, i+8)
						}
						if !ok || lo < 0xDC00 || lo >= 0xE000 {
							return errs.Field("body", "holds a lone UTF-16 surrogate escape, which cannot be stored")
						}
						i += 6
					case r >= 0xDC00 && r < 0xE000:
						return errs.Field("body", "holds a lone UTF-16 surrogate escape, which cannot be stored")
					}
					i += 5
				} else {
					i++
				}
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == 'e' || c == 'E':
			// Outside a string, an e ends true or false, or starts a
			// number's exponent.
			j := i + 1
			if j < len(b) && (b[j] == '+' || b[j] == '-') {
				j++
			}
			exp := 0
			for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
				if exp = exp*10 + int(b[j]-'0'); exp > maxExponent {
					return errs.Field("body", "holds a number with an exponent beyond %d", maxExponent)
				}
			}
			i = j - 1
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// header is what a dead letter tells of its record when the record could
// not be parsed: whatever of the envelope could be read.
type header struct {
	eventID     *uuid.UUID
	typ         string
	beneficiary string
}

// readHeader reads the envelope of a value that failed to parse, best
// effort.
func readHeader(value []byte) header {
	var raw struct {
		EventID       any `json:"event_id"`
		Type          any `json:"type"`
		BeneficiaryID any `json:"beneficiary_id"`
	}
	_ = json.Unmarshal(value, &raw)
	var h header
	if s, ok := raw.EventID.(string); ok {
		if id, err := uuid.Parse(s); err == nil {
			h.eventID = &id
		}
	}
	h.typ, _ = raw.Type.(string)
	h.beneficiary, _ = raw.BeneficiaryID.(string)
	return h
}

// knownType returns t as an event type when it is one.
func knownType(t string) payments.EventType {
	for _, k := range payments.EventTypes {
		if string(k) == t {
			return k
		}
	}
	return ""
}

// text makes s storable in a TEXT column: valid UTF-8, no NUL, at most max
// bytes when max > 0.
func text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
