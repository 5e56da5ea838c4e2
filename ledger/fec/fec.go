// Package fec writes the ledger as a Fichier des Écritures Comptables (FEC,
// article A47 A-1 of the Livre des procédures fiscales): one tab-separated
// line per posting with the 18 columns of the decree, amounts with a comma
// before the cents, dates AAAAMMJJ, the ledger's accounts mapped to the
// account numbers of the public-body chart (GBCP), the entries sorted into
// journals by their source, and the payments that reconciliation matched
// lettered.
package fec

import (
	"strings"
	"time"
	_ "time/tzdata" // the day of validation is read in Europe/Paris, wherever the server runs

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Columns are the 18 columns of a FEC, in their order; the first line of
// the file names them.
var Columns = [18]string{
	"JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum", "CompAuxLib",
	"PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
}

// Separator is the field separator of the file.
const Separator = "\t"

// ContentType is the media type the file is served as.
const ContentType = "text/tab-separated-values; charset=utf-8"

// Line is one line of a FEC: one posting of the ledger.
type Line struct {
	JournalCode  string
	JournalLib   string
	EcritureNum  int64
	EcritureDate ledger.Date
	CompteNum    string
	CompteLib    string
	CompAuxNum   string
	CompAuxLib   string
	PieceRef     string
	PieceDate    ledger.Date
	EcritureLib  string
	Debit        decimal.Decimal
	Credit       decimal.Decimal
	EcritureLet  string
	DateLet      ledger.Date
	ValidDate    ledger.Date
	// Montantdevise and Idevise stay empty: the books are kept in euros
	// only (ledger.Currency), the currency of the file.
	Montantdevise string
	Idevise       string
}

// Fields returns the line's 18 fields as they are written.
func (l Line) Fields() [18]string {
	return [18]string{
		text(l.JournalCode), text(l.JournalLib), itoa(l.EcritureNum), Date(l.EcritureDate), text(l.CompteNum), text(l.CompteLib),
		text(l.CompAuxNum), text(l.CompAuxLib), text(l.PieceRef), Date(l.PieceDate), text(l.EcritureLib),
		Amount(l.Debit), Amount(l.Credit), text(l.EcritureLet), Date(l.DateLet), Date(l.ValidDate), text(l.Montantdevise), text(l.Idevise),
	}
}

// AppendTo appends the line, with its end of line (CRLF is not required:
// LF), to b.
func (l Line) AppendTo(b []byte) []byte {
	f := l.Fields()
	for i, s := range f {
		if i > 0 {
			b = append(b, Separator...)
		}
		b = append(b, s...)
	}
	return append(b, '\n')
}

// Header is the first line of the file.
func Header() string { return strings.Join(Columns[:], Separator) + "\n" }

// Amount writes an amount of the file: two decimals after a comma, no
// thousands separator ("1234,56", "0,00").
func Amount(d decimal.Decimal) string { return strings.Replace(d.StringFixed(2), ".", ",", 1) }

// Date writes a date of the file, AAAAMMJJ, or "" when unset.
func Date(d ledger.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format("20060102")
}

// text makes s one field: the separator and line breaks become spaces.
func text(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.NewReplacer("\t", " ", "\r", " ", "\n", " ").Replace(s)
}

func itoa(n int64) string {
	if n == 0 {
		return ""
	}
	return decimal.NewFromInt(n).String()
}

// Letter is the lettering code of the postings a reconciliation match
// settled: the match's id, without its dashes, in capitals. It never
// changes for a match, and two matches never share it.
func Letter(match uuid.UUID) string {
	return strings.ToUpper(strings.ReplaceAll(match.String(), "-", ""))
}

// MaxDays is the longest period a FEC covers, in days counted inclusively:
// a fiscal year, leap day included.
const MaxDays = 366

// Period is the days a FEC covers, From to To inclusive.
type Period struct {
	From ledger.Date
	To   ledger.Date
}

// ParsePeriod reads the bounds of an export: both are dates YYYY-MM-DD,
// To is not before From, and the period covers at most MaxDays days (one
// fiscal year: a longer period, or one touching three calendar years,
// is refused). The error names the field at fault.
func ParsePeriod(from, to string) (Period, error) {
	var p Period
	var err error
	if from == "" {
		return p, errs.Field("from", "the first day of the period is required (YYYY-MM-DD)")
	}
	if p.From, err = ledger.ParseDate(from); err != nil {
		return p, errs.Field("from", "%v", err)
	}
	if to == "" {
		return p, errs.Field("to", "the closing date of the period is required (YYYY-MM-DD)")
	}
	if p.To, err = ledger.ParseDate(to); err != nil {
		return p, errs.Field("to", "%v", err)
	}
	if p.To.Before(p.From) {
		return p, errs.Field("to", "the closing date %s is before the first day %s", p.To, p.From)
	}
	if n := p.Days(); n > MaxDays {
		return p, errs.Field("to", "the period %s to %s covers %d days: a FEC covers one fiscal year, at most %d days", p.From, p.To, n, MaxDays)
	}
	return p, nil
}

// Days is the number of days of the period, both bounds included.
func (p Period) Days() int {
	return int(p.To.Time().Sub(p.From.Time()).Hours()/24) + 1
}

// FileName is the name the decree gives the file: the SIREN, "FEC", the
// closing date AAAAMMJJ, ".txt".
func FileName(siren string, closing ledger.Date) string {
	return siren + "FEC" + Date(closing) + ".txt"
}

// CheckSIREN checks a SIREN: nine digits whose Luhn checksum is right.
func CheckSIREN(s string) error {
	if len(s) != 9 {
		return errs.Field("FEC_SIREN", "%q is not a SIREN: nine digits are needed", s)
	}
	sum := 0
	for i := range 9 {
		c := s[i]
		if c < '0' || c > '9' {
			return errs.Field("FEC_SIREN", "%q is not a SIREN: nine digits are needed", s)
		}
		d := int(c - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return errs.Field("FEC_SIREN", "%q is not a SIREN: its check digit is wrong", s)
	}
	return nil
}

// legalTime is French legal time, in which the day of validation of an
// entry is read.
var legalTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.UTC
	}
	return loc
}()
