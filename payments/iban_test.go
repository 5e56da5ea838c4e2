package payments

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// withCheckDigits returns the IBAN of country and bban with the check digits
// that ISO 13616 gives it, computed with math/big, independently of
// ibanMod97: 98 minus the remainder by 97 of bban, country, "00" read as a
// number, letters counting A = 10 … Z = 35.
func withCheckDigits(country, bban string) string {
	var digits strings.Builder
	for _, c := range bban + country + "00" {
		if c >= 'A' && c <= 'Z' {
			digits.WriteString(big.NewInt(int64(c-'A') + 10).String())
		} else {
			digits.WriteRune(c)
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	if !ok {
		panic("not a number: " + digits.String())
	}
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return country + string(rune('0'+check/10)) + string(rune('0'+check%10)) + bban
}

func TestWithCheckDigits(t *testing.T) {
	// Published example IBANs: the helper must find their check digits.
	for _, iban := range []string{"FR1420041010050500013M02606", "DE89370400440532013000", "GB29NWBK60161331926819"} {
		if got := withCheckDigits(iban[:2], iban[4:]); got != iban {
			t.Errorf("withCheckDigits(%s) = %s", iban, got)
		}
	}
}

func TestValidateIBAN(t *testing.T) {
	valid := []struct{ in, want string }{
		{"FR1420041010050500013M02606", "FR1420041010050500013M02606"},
		{"FR7630006000011234567890189", "FR7630006000011234567890189"},
		{"FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"},
		{" FR14 2004 1010 0505 0001 3M02 606 ", "FR1420041010050500013M02606"},
		{"DE89370400440532013000", "DE89370400440532013000"},
		{"ES9121000418450200051332", "ES9121000418450200051332"},
		{"IT60X0542811101000000123456", "IT60X0542811101000000123456"},
		{"BE68539007547034", "BE68539007547034"},
		{"NL91ABNA0417164300", "NL91ABNA0417164300"},
		{"PT50000201231234567890154", "PT50000201231234567890154"},
		{"LU280019400644750000", "LU280019400644750000"},
		{"GB29NWBK60161331926819", "GB29NWBK60161331926819"},
		{"CH9300762011623852957", "CH9300762011623852957"},
		{"MC5811222000010123456789030", "MC5811222000010123456789030"},
		{"NO9386011117947", "NO9386011117947"},
		{"MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"},
		// Countries outside the length table: 15 to 34 characters.
		{withCheckDigits("BR", "00360305000010009795493P1"), withCheckDigits("BR", "00360305000010009795493P1")},
		{withCheckDigits("XK", "1212012345678906"), withCheckDigits("XK", "1212012345678906")},
		{withCheckDigits("GE", "NB0000000101904917"), withCheckDigits("GE", "NB0000000101904917")},
		{withCheckDigits("SN", "12345678901"), withCheckDigits("SN", "12345678901")},                     // 15
		{withCheckDigits("SN", strings.Repeat("1", 30)), withCheckDigits("SN", strings.Repeat("1", 30))}, // 34
		// Computed check digits for the listed countries' lengths.
		{withCheckDigits("FR", "30004008230001073943676"), "FR7630004008230001073943676"},
		{withCheckDigits("DE", "500105175407324931"), withCheckDigits("DE", "500105175407324931")},
		{withCheckDigits("ES", "00491500051234567892"), withCheckDigits("ES", "00491500051234567892")},
	}
	for _, c := range valid {
		got, err := ValidateIBAN(c.in)
		if err != nil || got != c.want {
			t.Errorf("ValidateIBAN(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}

	invalid := []struct{ name, in, msg string }{
		{"empty", "", "is empty"},
		{"spaces only", "   ", "is empty"},
		{"lowercase", "fr1420041010050500013M02606", "lowercase letter 'f'"},
		{"lowercase inside", "FR1420041010050500013m02606", "lowercase letter 'm'"},
		{"dash", "FR14-2004-1010-0505-0001-3M02-606", "character '-'"},
		{"tab", "FR14\t20041010050500013M02606", `character '\t'`},
		{"accent", "FR1420041010050500013É02606", "character 'É'"},
		{"no country", "1420041010050500013M02606", "two-letter country code"},
		{"one letter", "F", "two-letter country code"},
		{"unknown country", "ZZ1420041010050500013M02606", "ZZ, which is not a country code"},
		{"no check digits", "FRAB20041010050500013M02606", "no check digits"},
		{"too short", "FR14", "has 4 characters: an IBAN of FR has 27"},
		{"FR one short", "FR142004101005050013M02606", "has 26 characters: an IBAN of FR has 27"},
		{"FR one long", "FR1420041010050500013M026060", "has 28 characters: an IBAN of FR has 27"},
		{"DE length", "DE8937040044053201300", "an IBAN of DE has 22"},
		{"BE length", "BE6853900754703", "an IBAN of BE has 16"},
		{"other country too short", "BR12345678901", "an IBAN has 15 to 34"},
		{"other country too long", "BR12" + strings.Repeat("1", 31), "has 35 characters: an IBAN has 15 to 34"},
		{"check digits 00", "FR0020041010050500013M02606", "check digits 00"},
		{"check digits 01", "FR0120041010050500013M02606", "check digits 01"},
		{"check digits 99", "FR9920041010050500013M02606", "check digits 99"},
		{"last digit wrong", "FR1420041010050500013M02607", "check digits do not match"},
		{"check digits wrong", "FR1520041010050500013M02606", "check digits do not match"},
		{"two digits swapped", "FR1420041010050500013M02660", "check digits do not match"},
		{"letter changed", "FR1420041010050500013N02606", "check digits do not match"},
	}
	for _, c := range invalid {
		got, err := ValidateIBAN(c.in)
		if err == nil {
			t.Errorf("%s: ValidateIBAN(%q) = %q, want an error", c.name, c.in, got)
			continue
		}
		if got != "" {
			t.Errorf("%s: ValidateIBAN(%q) returned %q with its error", c.name, c.in, got)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: ValidateIBAN(%q): %q, want it to say %q", c.name, c.in, err, c.msg)
		}
	}
}

// TestValidateIBANSingleChanges checks that a valid IBAN with one digit of
// its account number changed always fails: the number then changes by d×10^k
// with 0 < |d| < 10, which 97, a prime, never divides.
func TestValidateIBANSingleChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range 500 {
		bban := make([]byte, 23)
		for i := range bban {
			bban[i] = alphabet[rng.IntN(10)]
		}
		bban[rng.IntN(len(bban))] = alphabet[10+rng.IntN(26)]
		iban := withCheckDigits("FR", string(bban))
		if _, err := ValidateIBAN(iban); err != nil {
			t.Fatalf("ValidateIBAN(%s): %v", iban, err)
		}
		b := []byte(iban)
		i := 4 + rng.IntN(len(bban))
		for !isASCIIDigit(b[i]) {
			i = 4 + rng.IntN(len(bban))
		}
		for {
			c := "0123456789"[rng.IntN(10)]
			if c != b[i] {
				b[i] = c
				break
			}
		}
		if _, err := ValidateIBAN(string(b)); err == nil || err.Error() != "check digits do not match" {
			t.Fatalf("ValidateIBAN(%s) (from %s) = %v, want check digits do not match", b, iban, err)
		}
	}
}
