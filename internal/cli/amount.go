package cli

import "github.com/shopspring/decimal"

// Amount writes d with two decimals, a '.' for the decimal point, no
// thousands separator and a leading '-' when negative: "-1234.50".
func Amount(d decimal.Decimal) string { return d.StringFixed(2) }

// Sides splits a signed amount (debit positive) into the debit and credit
// columns of a table: one of them holds the amount, the other is blank. A
// zero amount leaves both blank.
func Sides(d decimal.Decimal) (debit, credit string) {
	switch d.Sign() {
	case 1:
		return Amount(d), ""
	case -1:
		return "", Amount(d.Neg())
	}
	return "", ""
}

// AmountOrBlank writes d as Amount does, or "" when d is zero, so that the
// side of a balance stands out in a table.
func AmountOrBlank(d decimal.Decimal) string {
	if d.IsZero() {
		return ""
	}
	return Amount(d)
}
