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
