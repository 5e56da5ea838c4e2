package payments

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// ReturnResult is the return aid of a grant, with how it is made.
type ReturnResult struct {
	GrantID        string          `json:"grant_id"`
	Group          string          `json:"group"`     // the country's group in the schedule
	Band           int             `json:"band"`      // 1 to 3
	Increased      bool            `json:"increased"` // the increased rate
	PerAdult       decimal.Decimal `json:"per_adult"`
	PerChild       decimal.Decimal `json:"per_child"`
	TravelDocument decimal.Decimal `json:"travel_document"` // zero without one
	Total          decimal.Decimal `json:"total"`
	// Why says how Total is made: "Georgia (visa_exempt), band 1, standard
	// rate: 3 persons × 300.00 + travel document 150.00 = 1050.00".
	Why string `json:"why"`
}

// ComputeReturn computes the return aid of a grant (docs/rules.md §2) with
// the schedule in force on the day the grant was validated:
//
//   - the band comes from the calendar months between the notification of
//     the removal order and the validation (ReturnRates.Band);
//   - each adult gets the amount of the country's group for the band, at
//     the standard or the increased rate; each child gets child_rate times
//     the adult amount, rounded to the cent;
//   - under the channel scheme (Scheme "channel"), the amounts of the
//     persons together may not exceed the scheme's cap (standard or
//     increased) times the number of adults, whatever the band; a grant
//     under the scheme on a day the schedule has none is an error;
//   - the travel document supplement is added once when the grant says so,
//     outside the cap.
//
// Nationals of the EU, the EEA, Switzerland, Andorra, Monaco, San Marino
// and the Vatican are refused, as ParseEvent refuses them. An error about
// the grant is an *errs.Error naming its field.
func ComputeReturn(g ReturnGrant, sch Schedules) (ReturnResult, error) {
	switch {
	case !IsCountry(g.Country):
		return ReturnResult{}, errs.Field("country", "%s is not a country code", quoteShort(g.Country))
	case g.Adults < 1:
		return ReturnResult{}, errs.Field("adults", "must be at least 1, got %d", g.Adults)
	case g.Children < 0:
		return ReturnResult{}, errs.Field("children", "must not be negative, got %d", g.Children)
	case g.RemovalOrderNotifiedOn.IsZero():
		return ReturnResult{}, errs.Field("removal_order_notified_on", "is required")
	case g.ValidatedOn.IsZero():
		return ReturnResult{}, errs.Field("validated_on", "is required")
	case g.ValidatedOn.Before(g.RemovalOrderNotifiedOn):
		return ReturnResult{}, errs.Field("validated_on", "%s is before the removal order's notification (removal_order_notified_on %s)",
			g.ValidatedOn, g.RemovalOrderNotifiedOn)
	}
	if group, refused := returnAidExcluded[g.Country]; refused {
		return ReturnResult{}, errs.Field("country", "nationals of %s (%s) are not eligible for return aid", g.Country, group)
	}
	var channel bool
	switch g.Scheme {
	case "", returnSchemeStandard:
	case returnSchemeChannel:
		channel = true
	default:
		return ReturnResult{}, errs.Field("scheme", "%s is not a scheme (%s or %s)", quoteShort(g.Scheme), returnSchemeStandard, returnSchemeChannel)
	}
	s, err := sch.On(g.ValidatedOn)
	if err != nil {
		return ReturnResult{}, err
	}
	r := s.Return
	if channel && r.Channel == nil {
		return ReturnResult{}, errs.Field("scheme", "the channel scheme does not exist on %s (rate schedule %s, in force from %s)",
			g.ValidatedOn, s.Version, s.EffectiveFrom)
	}
	res := ReturnResult{
		GrantID:   g.GrantID,
		Group:     r.Group(g.Country),
		Band:      r.Band(g.RemovalOrderNotifiedOn, g.ValidatedOn),
		Increased: g.IncreasedRate,
	}
	amounts, rate := r.Groups[res.Group].Standard, "standard"
	if g.IncreasedRate {
		amounts, rate = r.Groups[res.Group].Increased, "increased"
	}
	res.PerAdult = amounts[res.Band-1]
	res.PerChild = res.PerAdult.Mul(r.ChildRate).Round(2)
	adults, children := decimal.NewFromInt(int64(g.Adults)), decimal.NewFromInt(int64(g.Children))
	persons := res.PerAdult.Mul(adults).Add(res.PerChild.Mul(children))

	var why strings.Builder
	fmt.Fprintf(&why, "%s (%s), band %d, %s rate", CountryName(g.Country), res.Group, res.Band, rate)
	var personsWhy string
	if g.Children == 0 || res.PerChild.Equal(res.PerAdult) {
		n := g.Adults + g.Children
		personsWhy = fmt.Sprintf("%s × %s", countNoun(n, "person", "persons"), res.PerAdult.StringFixed(2))
	} else {
		personsWhy = fmt.Sprintf("%s × %s + %s × %s", countNoun(g.Adults, "adult", "adults"), res.PerAdult.StringFixed(2),
			countNoun(g.Children, "child", "children"), res.PerChild.StringFixed(2))
	}
	if channel {
		capPerAdult := r.Channel.Standard
		if g.IncreasedRate {
			capPerAdult = r.Channel.Increased
		}
		fmt.Fprintf(&why, ", channel scheme (at most %s per adult)", capPerAdult.StringFixed(2))
		if limit := capPerAdult.Mul(adults); persons.GreaterThan(limit) {
			personsWhy = fmt.Sprintf("min(%s = %s, %s × %s)", personsWhy, persons.StringFixed(2),
				countNoun(g.Adults, "adult", "adults"), capPerAdult.StringFixed(2))
			persons = limit
		}
	}
	why.WriteString(": " + personsWhy)
	res.Total = persons
	if g.TravelDocument {
		res.TravelDocument = r.TravelDocument
		res.Total = res.Total.Add(r.TravelDocument)
		why.WriteString(" + travel document " + r.TravelDocument.StringFixed(2))
	}
	why.WriteString(" = " + res.Total.StringFixed(2))
	res.Why = why.String()
	return res, nil
}

// Band returns the band of a grant validated on validated after a removal
// order notified on notified: 1 if validated before BandMonths[0] months
// have passed, 2 before BandMonths[1] months, 3 after. n months have passed
// on the day numbered like the notification's, n calendar months later, or
// on the last day of that month when it is shorter: notified on
// 2026-10-20, one month has passed on 2026-11-20; notified on 2026-01-31,
// on 2026-02-28.
func (r ReturnRates) Band(notified, validated ledger.Date) int {
	switch {
	case validated.Before(addCalendarMonths(notified, r.BandMonths[0])):
		return 1
	case validated.Before(addCalendarMonths(notified, r.BandMonths[1])):
		return 2
	}
	return 3
}

// Group returns the return group of a country: the one the schedule lists
// it in, else the default group.
func (r ReturnRates) Group(country string) string {
	if g, ok := r.Countries[country]; ok {
		return g
	}
	return r.DefaultGroup
}

// addCalendarMonths returns d moved by n calendar months, on the last day
// of the month reached when it has no day numbered like d's.
func addCalendarMonths(d ledger.Date, n int) ledger.Date {
	y, m, day := d.Time().Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return ledger.NewDate(first.Year(), first.Month(), min(day, last))
}

// CountryName returns the English short name of a country code that
// IsCountry accepts ("Georgia" for GE), or the code itself for any other.
func CountryName(code string) string {
	if n, ok := countryNames[code]; ok {
		return n
	}
	return code
}

// countryNames maps each code IsCountry accepts to its English short name.
var countryNames = func() map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(countryNameList) {
		if code, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			m[code] = name
		}
	}
	return m
}()

// countryNameList holds a code and its name per line.
const countryNameList = `
AD Andorra
AE United Arab Emirates
AF Afghanistan
AG Antigua and Barbuda
AI Anguilla
AL Albania
AM Armenia
AO Angola
AQ Antarctica
AR Argentina
AS American Samoa
AT Austria
AU Australia
AW Aruba
AX Åland Islands
AZ Azerbaijan
BA Bosnia and Herzegovina
BB Barbados
BD Bangladesh
BE Belgium
BF Burkina Faso
BG Bulgaria
BH Bahrain
BI Burundi
BJ Benin
BL Saint Barthélemy
BM Bermuda
BN Brunei
BO Bolivia
BQ Caribbean Netherlands
BR Brazil
BS Bahamas
BT Bhutan
BV Bouvet Island
BW Botswana
BY Belarus
BZ Belize
CA Canada
CC Cocos (Keeling) Islands
CD Democratic Republic of the Congo
CF Central African Republic
CG Republic of the Congo
CH Switzerland
CI Côte d'Ivoire
CK Cook Islands
CL Chile
CM Cameroon
CN China
CO Colombia
CR Costa Rica
CU Cuba
CV Cabo Verde
CW Curaçao
CX Christmas Island
CY Cyprus
CZ Czechia
DE Germany
DJ Djibouti
DK Denmark
DM Dominica
DO Dominican Republic
DZ Algeria
EC Ecuador
EE Estonia
EG Egypt
EH Western Sahara
ER Eritrea
ES Spain
ET Ethiopia
FI Finland
FJ Fiji
FK Falkland Islands
FM Micronesia
FO Faroe Islands
FR France
GA Gabon
GB United Kingdom
GD Grenada
GE Georgia
GF French Guiana
GG Guernsey
GH Ghana
GI Gibraltar
GL Greenland
GM Gambia
GN Guinea
GP Guadeloupe
GQ Equatorial Guinea
GR Greece
GS South Georgia and the South Sandwich Islands
GT Guatemala
GU Guam
GW Guinea-Bissau
GY Guyana
HK Hong Kong
HM Heard Island and McDonald Islands
HN Honduras
HR Croatia
HT Haiti
HU Hungary
ID Indonesia
IE Ireland
IL Israel
IM Isle of Man
IN India
IO British Indian Ocean Territory
IQ Iraq
IR Iran
IS Iceland
IT Italy
JE Jersey
JM Jamaica
JO Jordan
JP Japan
KE Kenya
KG Kyrgyzstan
KH Cambodia
KI Kiribati
KM Comoros
KN Saint Kitts and Nevis
KP North Korea
KR South Korea
KW Kuwait
KY Cayman Islands
KZ Kazakhstan
LA Laos
LB Lebanon
LC Saint Lucia
LI Liechtenstein
LK Sri Lanka
LR Liberia
LS Lesotho
LT Lithuania
LU Luxembourg
LV Latvia
LY Libya
MA Morocco
MC Monaco
MD Moldova
ME Montenegro
MF Saint Martin
MG Madagascar
MH Marshall Islands
MK North Macedonia
ML Mali
MM Myanmar
MN Mongolia
MO Macao
MP Northern Mariana Islands
MQ Martinique
MR Mauritania
MS Montserrat
MT Malta
MU Mauritius
MV Maldives
MW Malawi
MX Mexico
MY Malaysia
MZ Mozambique
NA Namibia
NC New Caledonia
NE Niger
NF Norfolk Island
NG Nigeria
NI Nicaragua
NL Netherlands
NO Norway
NP Nepal
NR Nauru
NU Niue
NZ New Zealand
OM Oman
PA Panama
PE Peru
PF French Polynesia
PG Papua New Guinea
PH Philippines
PK Pakistan
PL Poland
PM Saint Pierre and Miquelon
PN Pitcairn Islands
PR Puerto Rico
PS Palestine
PT Portugal
PW Palau
PY Paraguay
QA Qatar
RE Réunion
RO Romania
RS Serbia
RU Russia
RW Rwanda
SA Saudi Arabia
SB Solomon Islands
SC Seychelles
SD Sudan
SE Sweden
SG Singapore
SH Saint Helena, Ascension and Tristan da Cunha
SI Slovenia
SJ Svalbard and Jan Mayen
SK Slovakia
SL Sierra Leone
SM San Marino
SN Senegal
SO Somalia
SR Suriname
SS South Sudan
ST São Tomé and Príncipe
SV El Salvador
SX Sint Maarten
SY Syria
SZ Eswatini
TC Turks and Caicos Islands
TD Chad
TF French Southern Territories
TG Togo
TH Thailand
TJ Tajikistan
TK Tokelau
TL Timor-Leste
TM Turkmenistan
TN Tunisia
TO Tonga
TR Türkiye
TT Trinidad and Tobago
TV Tuvalu
TW Taiwan
TZ Tanzania
UA Ukraine
UG Uganda
UM United States Minor Outlying Islands
US United States
UY Uruguay
UZ Uzbekistan
VA Vatican
VC Saint Vincent and the Grenadines
VE Venezuela
VG British Virgin Islands
VI United States Virgin Islands
VN Vietnam
VU Vanuatu
WF Wallis and Futuna
WS Samoa
XK Kosovo
YE Yemen
YT Mayotte
ZA South Africa
ZM Zambia
ZW Zimbabwe
`

// MarshalJSON writes the result with its amounts as "300.00".
func (r ReturnResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		GrantID        string   `json:"grant_id"`
		Group          string   `json:"group"`
		Band           int      `json:"band"`
		Increased      bool     `json:"increased"`
		PerAdult       rateJSON `json:"per_adult"`
		PerChild       rateJSON `json:"per_child"`
		TravelDocument rateJSON `json:"travel_document"`
		Total          rateJSON `json:"total"`
		Why            string   `json:"why"`
	}{r.GrantID, r.Group, r.Band, r.Increased, rateJSON(r.PerAdult), rateJSON(r.PerChild),
		rateJSON(r.TravelDocument), rateJSON(r.Total), r.Why})
}
