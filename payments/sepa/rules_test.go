package sepa

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Zoé Müller-Ağaoğlu", 70, "Zoe Muller-Agaoglu"},
		{"François Çelik", 70, "Francois Celik"},
		{"ŒUVRE Æsir æther", 70, "OEUVRE AEsir aether"},
		{"Straße Øre Łódź", 70, "Strasse Ore Lodz"},
		{"Dupont & Fils", 70, "Dupont + Fils"},
		{"jean_paul", 70, "jean-paul"},
		{`L’Étoile "du" Nord`, 70, "L'Etoile 'du' Nord"},
		{"«Ngozi» — Okafor", 70, "'Ngozi' - Okafor"},
		{"  trop   d'espaces\t\net\u00a0insécables  ", 70, "trop d'espaces et insecables"},
		{"李小龍 Bruce", 70, "Bruce"},
		{"李小龍", 70, ""},
		{"a@b#c*d%e!f", 70, "abcdef"},
		{"ﬁnal №5 ½", 70, "final No5 1/2"},
		{"Ñandú € 12", 70, "Nandu EUR 12"},
		{"abcdefghij", 5, "abcde"},
		{"abcd efghij", 5, "abcd"}, // no trailing space after the cut
		{"Éloïse", 0, "Eloise"},    // no limit
		{"Ærø", 2, "AE"},           // the limit counts transliterated characters
		{"ok/-?:().,'+ 09", 70, "ok/-?:().,'+ 09"},
		{"\xff\xfeinvalid", 70, "invalid"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in, tt.max); got != tt.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if got := Clean(tt.want, tt.max); got != tt.want {
			t.Errorf("Clean is not idempotent on %q: %q", tt.want, got)
		}
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"OK", "OFII-2026-04-0001", true},
		{"OKAllCharacters", "a/b-c?d:e(f)g.h,i'j+k l", true},
		{"OK35", strings.Repeat("A", 35), true},
		{"ErrEmpty", "", false},
		{"ErrTooLong", strings.Repeat("A", 36), false},
		{"ErrDoubleSlash", "OFII//2026", false},
		{"ErrLeadingSlash", "/OFII-2026", false},
		{"ErrTrailingSlash", "OFII-2026/", false},
		{"ErrAccent", "OFII-é", false},
		{"ErrUnderscore", "OFII_2026", false},
		{"ErrLeadingSpace", " OFII", false},
		{"ErrTrailingSpace", "OFII ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckID("msg_id", tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckID(%q) = %v", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckID(%q) accepted it", tt.id)
			}
			if fieldOf(err) != "msg_id" || !errs.Is(err, errs.Invalid) {
				t.Errorf("CheckID(%q) = %v, want an invalid error on msg_id", tt.id, err)
			}
		})
	}
}

func TestCheckAmount(t *testing.T) {
	tests := []struct {
		amount string
		want   string // a part of the message, "" when valid
	}{
		{"0.01", ""},
		{"10.50", ""},
		{"10.5", ""},
		{"10", ""},
		{"999999999.99", ""},
		{"10.005", "whole number of cents"},
		{"10.500", ""}, // three decimals written, a whole number of cents
		{"0.00", "less than"},
		{"0", "less than"},
		{"-5.00", "less than"},
		{"0.001", "less than"},
		{"1000000000", "more than"},
		{"999999999.991", "more than"},
	}
	for _, tt := range tests {
		err := CheckAmount("payments[0].amount", decimal.RequireFromString(tt.amount))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckAmount(%s) = %v", tt.amount, err)
		case tt.want != "" && err == nil:
			t.Errorf("CheckAmount(%s) accepted it", tt.amount)
		case tt.want != "" && (!strings.Contains(err.Error(), tt.want) || fieldOf(err) != "payments[0].amount"):
			t.Errorf("CheckAmount(%s) = %v, want a message with %q on payments[0].amount", tt.amount, err, tt.want)
		}
	}
}

func TestCheckIBAN(t *testing.T) {
	for _, ok := range []string{"FR7630006000011234567890189", "DE89370400440532013000", "BE68539007547034", "NL91ABNA0417164300"} {
		if err := checkIBAN("iban", ok); err != nil {
			t.Errorf("checkIBAN(%s) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "FR7630006000011234567890188", "FR76 3000 6000 0112 3456 7890 189", "fr7630006000011234567890189", "FR76", "7630006000011234567890189FR", "FRXX30006000011234567890189"} {
		err := checkIBAN("iban", bad)
		if err == nil || fieldOf(err) != "iban" {
			t.Errorf("checkIBAN(%q) = %v, want an error on iban", bad, err)
		}
	}
}

func TestCheckBIC(t *testing.T) {
	tests := []struct {
		bic string
		v   Version
		ok  bool
	}{
		{"BDFEFRPPCCT", Pain001V09, true},
		{"AGRIFRPP", Pain001V03, true},
		{"AGRIFRP1", Pain001V09, true},
		{"AGRIFRP1", Pain001V03, true},
		{"AGRIFR1P", Pain001V03, false}, // 7th character 1
		{"AGRIFRPO", Pain001V03, false}, // 8th character O
		{"1GRIFRPP", Pain001V09, true},
		{"1GRIFRPP", Pain001V03, false},
		{"AGRI12PP", Pain001V09, false},
		{"AGRIFRPPX", Pain001V09, false},
		{"agrifrpp", Pain001V09, false},
		{"", Pain001V09, false},
	}
	for _, tt := range tests {
		if err := checkBIC("bic", tt.bic, tt.v); (err == nil) != tt.ok {
			t.Errorf("checkBIC(%q, %s) = %v, want ok %v", tt.bic, tt.v, err, tt.ok)
		}
	}
}

func date(s string) ledger.Date {
	d, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestEaster(t *testing.T) {
	want := map[int]string{
		2024: "2024-03-31", 2025: "2025-04-20", 2026: "2026-04-05", 2027: "2027-03-28",
		2028: "2028-04-16", 2038: "2038-04-25", 2285: "2285-03-22", 1818: "1818-03-22",
	}
	for y, w := range want {
		if got := Easter(y).String(); got != w {
			t.Errorf("Easter(%d) = %s, want %s", y, got, w)
		}
	}
}

func TestIsBusinessDay(t *testing.T) {
	tests := []struct {
		date string
		open bool
	}{
		{"2026-04-02", true},  // Thursday before Easter
		{"2026-04-03", false}, // Good Friday
		{"2026-04-04", false}, // Saturday
		{"2026-04-05", false}, // Easter Sunday
		{"2026-04-06", false}, // Easter Monday
		{"2026-04-07", true},  // Tuesday
		{"2026-05-01", false}, // Labour Day, a Friday
		{"2026-05-08", true},  // a French holiday, not a TARGET2 one
		{"2026-05-14", true},  // Ascension
		{"2026-07-14", true},  // Bastille Day
		{"2026-12-24", true},
		{"2026-12-25", false},
		{"2026-12-26", false}, // also a Saturday
		{"2027-12-27", true},
		{"2027-01-01", false},
		{"2027-03-26", false}, // Good Friday 2027
		{"2027-03-29", false}, // Easter Monday 2027
		{"2027-03-30", true},
		{"2020-12-26", false}, // a Saturday anyway
		{"2028-12-26", false}, // a Tuesday
	}
	for _, tt := range tests {
		if got := IsBusinessDay(date(tt.date)); got != tt.open {
			t.Errorf("IsBusinessDay(%s) = %v, want %v", tt.date, got, tt.open)
		}
	}
}

func TestNextBusinessDay(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-04-07", "2026-04-07"}, // open: itself
		{"2026-04-03", "2026-04-07"}, // Good Friday, weekend, Easter Monday
		{"2026-04-04", "2026-04-07"},
		{"2026-12-24", "2026-12-24"},
		{"2026-12-25", "2026-12-28"}, // Christmas, 26th (Saturday), Sunday
		{"2027-12-25", "2027-12-27"}, // a Saturday: Monday 27th is open
		{"2026-12-31", "2026-12-31"},
		{"2027-01-01", "2027-01-04"}, // New Year, a Friday, then the weekend
		{"2026-05-01", "2026-05-04"},
	}
	for _, tt := range tests {
		if got := NextBusinessDay(date(tt.in)).String(); got != tt.want {
			t.Errorf("NextBusinessDay(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAddBusinessDays(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"2026-04-02", 0, "2026-04-02"},
		{"2026-04-04", 0, "2026-04-07"},
		{"2026-04-02", 1, "2026-04-07"}, // over Good Friday, the weekend, Easter Monday
		{"2026-04-02", 2, "2026-04-08"},
		{"2026-04-04", 1, "2026-04-07"},
		{"2026-04-07", -1, "2026-04-02"},
		{"2026-12-23", 2, "2026-12-28"},
		{"2026-12-30", 2, "2027-01-04"},
		{"2026-04-13", 5, "2026-04-20"},
	}
	for _, tt := range tests {
		if got := AddBusinessDays(date(tt.in), tt.n).String(); got != tt.want {
			t.Errorf("AddBusinessDays(%s, %d) = %s, want %s", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestBusinessDaysOverYears(t *testing.T) {
	// Every year has 5 or 6 weekday holidays among the fixed ones and Easter's
	// two, and every result of NextBusinessDay is open.
	d := ledger.NewDate(2024, time.January, 1)
	for range 366 * 20 {
		n := NextBusinessDay(d)
		if !IsBusinessDay(n) || n.Before(d) || n.After(d.AddDays(5)) {
			t.Fatalf("NextBusinessDay(%s) = %s", d, n)
		}
		d = d.AddDays(1)
	}
}

func TestReasons(t *testing.T) {
	tests := []struct {
		code   string
		text   string
		action Action
	}{
		{"AC04", "AC04: the account is closed", ActionFixPayee},
		{"AC01", "AC01: the account number is incorrect", ActionFixPayee},
		{"AC06", "AC06: the account is blocked", ActionFixPayee},
		{"BE04", "BE04: the creditor's address is missing or incorrect", ActionFixPayee},
		{"RC01", "RC01: the BIC is invalid", ActionFixPayee},
		{"CNOR", "CNOR: the creditor's bank is not registered in the clearing system", ActionFixPayee},
		{"AM04", "AM04: insufficient funds on the debtor account", ActionRetry},
		{"AM05", "AM05: duplicate payment", ActionNeverResend},
		{"DU01", "DU01: duplicate message: this MsgId was already received", ActionNeverResend},
		{"DU02", "", ActionNeverResend},
		{"DU03", "", ActionNeverResend},
		{"DU04", "", ActionNeverResend},
		{"DU05", "", ActionNeverResend},
		{"AM10", "AM10: the control sum is wrong", ActionOurBug},
		{"AM18", "AM18: the number of transactions is wrong", ActionOurBug},
		{"FF01", "FF01: the file format is invalid", ActionOurBug},
		{"MD07", "MD07: the end customer (beneficiary) is deceased", ActionStopPaying},
		{"MS02", "", ActionReview},
		{"MS03", "", ActionReview},
		{"AG01", "AG01: the transaction is forbidden on this type of account", ActionReview},
		{"DNOR", "", ActionReview},
		{"ac04", "AC04: the account is closed", ActionFixPayee},
		{"ZZ99", "ZZ99: reason code not known", ActionReview},
		{"04", "04: reject code of the French bank's statement (CFONB), not an ISO 20022 reason code, which no loaded list of the bank's codes (CFONB_REASONS_FILE) translates: see the line's label", ActionReview},
		{"", "", ActionReview},
	}
	for _, tt := range tests {
		text := ReasonText(tt.code)
		if tt.text != "" && text != tt.text {
			t.Errorf("ReasonText(%q) = %q, want %q", tt.code, text, tt.text)
		}
		if tt.code != "" && !strings.HasPrefix(text, strings.ToUpper(tt.code)+": ") {
			t.Errorf("ReasonText(%q) = %q, want the code first", tt.code, text)
		}
		if got := ReasonAction(tt.code); got != tt.action {
			t.Errorf("ReasonAction(%q) = %q, want %q", tt.code, got, tt.action)
		}
	}
	for code, r := range reasons {
		if len(code) != 4 || r.text == "" || r.action == "" {
			t.Errorf("reason %q is incomplete: %+v", code, r)
		}
	}
}

func TestStatusOrder(t *testing.T) {
	order := []Status{StatusRCVD, StatusPDNG, StatusACTC, StatusACCP, StatusACFC, StatusACSP, StatusACPD, StatusACWC, StatusACSC, StatusACCC, StatusRJCT}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() >= order[i].Rank() {
			t.Errorf("%s ranks %d, not below %s (%d)", order[i-1], order[i-1].Rank(), order[i], order[i].Rank())
		}
	}
	all := append(order, StatusPRES, StatusBLCK, StatusACWP, StatusACIS, StatusCPUC, StatusCANC)
	for _, s := range append(all, StatusPART, StatusPATC) {
		if !s.Valid() {
			t.Errorf("%s is not valid", s)
		}
	}
	for _, s := range []Status{"", "ACXX", "rjct", "X"} {
		if s.Valid() || s.Rank() != 0 {
			t.Errorf("%q is valid", s)
		}
	}
	for _, s := range []Status{StatusPART, StatusPATC} {
		if s.Rank() != 0 || !s.Partial() || s.Accepted() || s.Rejected() {
			t.Errorf("%s ranks %d, partial %v, accepted %v, rejected %v", s, s.Rank(), s.Partial(), s.Accepted(), s.Rejected())
		}
	}
	// What each status means for a payment: it waits, it is accepted (in
	// transit until the statement books it), it is settled, or it was not
	// paid.
	for _, c := range []struct {
		s                         Status
		accepted, rejected, final bool
	}{
		{StatusRCVD, false, false, false}, {StatusPDNG, false, false, false}, {StatusPRES, false, false, false},
		{StatusBLCK, false, false, false}, {StatusACTC, false, false, false},
		{StatusACCP, true, false, false}, {StatusACFC, true, false, false}, {StatusACSP, true, false, false},
		{StatusACPD, true, false, false}, {StatusACWC, true, false, false}, {StatusACWP, true, false, false},
		{StatusACSC, true, false, true}, {StatusACIS, true, false, true}, {StatusACCC, true, false, true}, {StatusCPUC, true, false, true},
		{StatusRJCT, false, true, true}, {StatusCANC, false, true, true},
	} {
		if c.s.Accepted() != c.accepted || c.s.Rejected() != c.rejected || c.s.Final() != c.final {
			t.Errorf("%s: accepted %v rejected %v final %v; want %v %v %v", c.s, c.s.Accepted(), c.s.Rejected(), c.s.Final(), c.accepted, c.rejected, c.final)
		}
	}
	// ACCC settles: nothing after it changes the payment, and a payment
	// pending (PDNG) or settling (ACSP) moves on to it.
	if _, changed := Advance(StatusACCC, StatusRJCT); changed {
		t.Error("a rejection after ACCC changed the payment")
	}
	for _, from := range []Status{"", StatusPDNG, StatusACSP, StatusACSC} {
		if got, changed := Advance(from, StatusACCC); from != StatusACSC && (!changed || got != StatusACCC) {
			t.Errorf("Advance(%q, ACCC) = %s, %v", from, got, changed)
		}
	}
}

func TestAdvance(t *testing.T) {
	tests := []struct {
		cur, next, want Status
		changed         bool
	}{
		{"", StatusRCVD, StatusRCVD, true},
		{"", StatusRJCT, StatusRJCT, true},
		{StatusRCVD, StatusACTC, StatusACTC, true},
		{StatusACTC, StatusACCP, StatusACCP, true},
		{StatusACCP, StatusACSC, StatusACSC, true},
		{StatusACCP, StatusRJCT, StatusRJCT, true},
		{StatusACSP, StatusACTC, StatusACSP, false}, // backwards
		{StatusACCP, StatusACCP, StatusACCP, false},
		{StatusRJCT, StatusACSC, StatusRJCT, false}, // final
		{StatusRJCT, StatusACCP, StatusRJCT, false},
		{StatusACSC, StatusRJCT, StatusACSC, false}, // final
		{StatusACTC, StatusPART, StatusACTC, false}, // says nothing of one payment
		{"", StatusPART, "", false},
		{StatusACTC, "XXXX", StatusACTC, false},
		{StatusACTC, "", StatusACTC, false},
		{StatusPART, StatusACCP, StatusACCP, true},
	}
	for _, tt := range tests {
		got, changed := Advance(tt.cur, tt.next)
		if got != tt.want || changed != tt.changed {
			t.Errorf("Advance(%q, %q) = %q, %v; want %q, %v", tt.cur, tt.next, got, changed, tt.want, tt.changed)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"Amina Diallo", ""},
		{"Élodie Œuvray-N’Guessan", ""},
		{"Łukasz Straße Ørsted Æbelø", ""},
		{"Jean-Paul O'Brien & fils", ""},
		{"أمينة ديالو", `name: has the letter 'أ' at position 1, which is not of the Latin script`},
		{"Иван Петров", `name: has the letter 'И' at position 1, which is not of the Latin script`},
		{"王伟", `name: has the letter '王' at position 1`},
		{"Amina Диалло", `name: has the letter 'Д' at position 7`},
		{"Amina ☺", `name: has the character '☺' at position 7, which a bank cannot take in a name`},
		{"12 34", "name: has no letter"},
		{"   ", "name: has no letter"},
	} {
		err := CheckName("name", c.name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("CheckName(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestIsReasonCode(t *testing.T) {
	for code, want := range map[string]bool{"AC04": true, "MS03": true, "MD07": true, "ac04": false, "ZZ99": false, "04": false, "": false} {
		if got := IsReasonCode(code); got != want {
			t.Errorf("IsReasonCode(%q) = %v, want %v", code, got, want)
		}
	}
}
