package payments

import (
	"errors"
	"fmt"
	"strings"
)

// ibanLengths is the length of an IBAN in each country of the SEPA schemes,
// from the SWIFT IBAN registry. An IBAN of another country has 15 to 34
// characters.
var ibanLengths = map[string]int{
	"AD": 24, "AL": 28, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24,
	"DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
	"GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MT": 31, "NL": 18,
	"NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
	"VA": 22,
}

// The lengths of an IBAN whose country is not in ibanLengths.
const (
	minIBANLength = 15
	maxIBANLength = 34
)

// ValidateIBAN checks an IBAN as ISO 13616 defines it and returns it without
// its spaces. It must hold capital letters and digits only (spaces are
// tolerated and removed), start with the code of a country (IsCountry) and
// two check digits, have the length of its country's IBANs when the country
// is in the SEPA schemes (15 to 34 characters otherwise), and pass the
// mod-97 check of ISO 7064. An error is a sentence about the value, without
// the value itself (an IBAN is personal data); the caller names the field.
func ValidateIBAN(s string) (normalized string, err error) {
	n := strings.ReplaceAll(s, " ", "")
	if n == "" {
		return "", errors.New("is empty")
	}
	for _, r := range n {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r >= 'a' && r <= 'z':
			return "", fmt.Errorf("has the lowercase letter %q: an IBAN is written in capitals", r)
		default:
			return "", fmt.Errorf("has the character %q: an IBAN holds only capital letters, digits and spaces", r)
		}
	}
	if len(n) < 2 || !isASCIIUpper(n[0]) || !isASCIIUpper(n[1]) {
		return "", errors.New("does not start with a two-letter country code")
	}
	country := n[:2]
	if !IsCountry(country) {
		return "", fmt.Errorf("starts with %s, which is not a country code", country)
	}
	if len(n) < 4 || !isASCIIDigit(n[2]) || !isASCIIDigit(n[3]) {
		return "", errors.New("has no check digits after its country code (two digits, the 3rd and 4th characters)")
	}
	if want, ok := ibanLengths[country]; ok {
		if len(n) != want {
			return "", fmt.Errorf("has %d characters: an IBAN of %s has %d", len(n), country, want)
		}
	} else if len(n) < minIBANLength || len(n) > maxIBANLength {
		return "", fmt.Errorf("has %d characters: an IBAN has %d to %d", len(n), minIBANLength, maxIBANLength)
	}
	if cd := n[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return "", fmt.Errorf("has the check digits %s, which no IBAN has (they run from 02 to 98)", cd)
	}
	if ibanMod97(n) != 1 {
		return "", errors.New("check digits do not match")
	}
	return n, nil
}

// ibanMod97 returns the remainder by 97 of the number ISO 13616 reads in an
// IBAN of capital letters and digits: its first four characters moved to
// the end, each letter replaced by its two-digit value (A = 10 … Z = 35).
func ibanMod97(iban string) int {
	r := 0
	for i := range len(iban) {
		c := iban[(i+4)%len(iban)]
		if isASCIIDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r
}

func isASCIIUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }
