// Package mask hides personal and banking data before it reaches a log, an
// error message or a report that does not need it in full.
package mask

import (
	"regexp"
	"strings"
)

// MaskIBAN returns iban with everything hidden but its country code, its
// check digits and its last four characters, in one fixed shape whatever the
// country's IBAN length: "FR7630006000011234567890189" becomes
// "FR76 **** **** 0189". Spaces and case in the input do not matter. A value
// too short to be an IBAN is hidden whole, as "****".
func MaskIBAN(iban string) string {
	s := []rune(strings.ToUpper(strings.Join(strings.Fields(iban), "")))
	// The shortest IBAN (Norway) has 15 characters; anything under 9 would
	// show most of itself.
	if len(s) < 9 {
		return "****"
	}
	return string(s[:4]) + " **** **** " + string(s[len(s)-4:])
}

// ibanLike matches what looks like an IBAN inside free text.
var ibanLike = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b`)

// MaskIBANsIn masks every IBAN-looking run of characters in s, such as the
// raw value of a rejected event shown to staff.
func MaskIBANsIn(s string) string {
	return ibanLike.ReplaceAllStringFunc(s, MaskIBAN)
}

// ibanField matches a JSON member whose name speaks of an IBAN ("iban",
// "payee_iban", "IBAN"...) and whose value is a string: the key and colon,
// then the value.
var ibanField = regexp.MustCompile(`(?i)("[^"\\]*iban[^"\\]*"\s*:\s*")((?:[^"\\]|\\.)*)"`)

// MaskPayload masks the IBANs of a raw record, such as an event that could
// not be applied: the value of every JSON member named like an IBAN is
// masked whatever it looks like (a malformed IBAN is often why the record
// was refused), and every other IBAN-looking run as MaskIBANsIn does. The
// text is otherwise kept as it was, byte for byte, so that it still shows
// what was wrong with it.
func MaskPayload(s string) string {
	s = ibanField.ReplaceAllStringFunc(s, func(m string) string {
		sub := ibanField.FindStringSubmatch(m)
		if strings.TrimSpace(sub[2]) == "" {
			return m // an empty IBAN shows nothing, and says why it was refused
		}
		return sub[1] + MaskIBAN(sub[2]) + `"`
	})
	return MaskIBANsIn(s)
}
