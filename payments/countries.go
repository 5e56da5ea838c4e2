package payments

import "strings"

// alpha2Codes holds the 249 officially assigned ISO 3166-1 alpha-2 codes,
// one line per first letter.
const alpha2Codes = `
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
`

// countries is the set of codes IsCountry accepts: the ISO 3166-1 alpha-2
// codes and XK, the user-assigned code that the EU institutions, the IBAN
// registry and the rate schedule (docs/rules.md §2) use for Kosovo.
var countries = func() map[string]bool {
	m := map[string]bool{"XK": true}
	for _, c := range strings.Fields(alpha2Codes) {
		m[c] = true
	}
	return m
}()

// IsCountry reports whether code is an ISO 3166-1 alpha-2 country code
// (two capital letters), or XK for Kosovo.
func IsCountry(code string) bool { return countries[code] }

// returnAidExcluded maps the countries whose nationals are refused return
// aid (docs/rules.md §2) to the group that excludes them: the EU, the EEA,
// Switzerland, Andorra, Monaco, San Marino and the Vatican. The territories
// of EU and EEA states that have a code of their own are refused too: their
// people hold the nationality of that state.
var returnAidExcluded = map[string]string{
	// The 27 member states of the EU.
	"AT": "EU", "BE": "EU", "BG": "EU", "CY": "EU", "CZ": "EU", "DE": "EU", "DK": "EU",
	"EE": "EU", "ES": "EU", "FI": "EU", "FR": "EU", "GR": "EU", "HR": "EU", "HU": "EU",
	"IE": "EU", "IT": "EU", "LT": "EU", "LU": "EU", "LV": "EU", "MT": "EU", "NL": "EU",
	"PL": "EU", "PT": "EU", "RO": "EU", "SE": "EU", "SI": "EU", "SK": "EU",
	// The EEA outside the EU.
	"IS": "EEA", "LI": "EEA", "NO": "EEA",
	"CH": "Switzerland", "AD": "Andorra", "MC": "Monaco", "SM": "San Marino", "VA": "Vatican",
	// Territories of EU and EEA states.
	"AX": "Finland, EU",
	"BL": "France, EU", "GF": "France, EU", "GP": "France, EU", "MF": "France, EU",
	"MQ": "France, EU", "NC": "France, EU", "PF": "France, EU", "PM": "France, EU",
	"RE": "France, EU", "TF": "France, EU", "WF": "France, EU", "YT": "France, EU",
	"AW": "Netherlands, EU", "BQ": "Netherlands, EU", "CW": "Netherlands, EU", "SX": "Netherlands, EU",
	"FO": "Denmark, EU", "GL": "Denmark, EU",
	"BV": "Norway, EEA", "SJ": "Norway, EEA",
}
