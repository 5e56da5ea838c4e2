// Package mask hides personal and banking data before it reaches a log, an
// error message or a report that does not need it in full.
package mask

import "strings"

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
