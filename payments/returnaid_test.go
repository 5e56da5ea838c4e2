package payments

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// scheduleAlways is a Schedules with one version in force every day.
type scheduleAlways struct{ s *Schedule }

func (f scheduleAlways) On(ledger.Date) (*Schedule, error) { return f.s, nil }

// returnGrantExample is the return-aid worked example of docs/rules.md §4.
func returnGrantExample() ReturnGrant {
	return ReturnGrant{
		GrantID: "RET-1", Country: "GE", Adults: 1, Children: 2,
		RemovalOrderNotifiedOn: schedDay("2026-10-20"), ValidatedOn: schedDay("2026-11-05"),
		TravelDocument: true, Scheme: "standard", DepartureDate: schedDay("2026-11-20"),
	}
}

func TestComputeReturnWorkedExample(t *testing.T) {
	res, err := ComputeReturn(returnGrantExample(), DefaultSchedules())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Total.Equal(decimal.RequireFromString("1050.00")) || res.Total.StringFixed(2) != "1050.00" {
		t.Errorf("total = %s, want 1050.00", res.Total)
	}
	if res.Band != 1 || res.Group != "visa_exempt" || res.Increased || res.GrantID != "RET-1" {
		t.Errorf("result = %+v, want band 1, group visa_exempt, standard rate", res)
	}
	if res.PerAdult.StringFixed(2) != "300.00" || res.PerChild.StringFixed(2) != "300.00" || res.TravelDocument.StringFixed(2) != "150.00" {
		t.Errorf("per adult %s, per child %s, travel document %s", res.PerAdult, res.PerChild, res.TravelDocument)
	}
	if want := "Georgia (visa_exempt), band 1, standard rate: 3 persons × 300.00 + travel document 150.00 = 1050.00"; res.Why != want {
		t.Errorf("why = %q\nwant %q", res.Why, want)
	}
}

func TestReturnBand(t *testing.T) {
	r := DefaultSchedules().Latest().Return
	for _, tc := range []struct {
		notified, validated string
		band                int
	}{
		{"2026-10-20", "2026-10-20", 1},
		{"2026-10-20", "2026-11-05", 1},
		{"2026-10-20", "2026-11-19", 1},
		{"2026-10-20", "2026-11-20", 2},
		{"2026-10-20", "2027-02-19", 2},
		{"2026-10-20", "2027-02-20", 3},
		{"2026-10-20", "2030-01-01", 3},
		{"2026-12-15", "2027-01-14", 1},
		{"2026-12-15", "2027-01-15", 2},
		// No 31 February: one month after 31 January has passed on the
		// last day of February.
		{"2026-01-31", "2026-02-27", 1},
		{"2026-01-31", "2026-02-28", 2},
		{"2028-01-31", "2028-02-28", 1},
		{"2028-01-31", "2028-02-29", 2},
		{"2026-01-31", "2026-05-30", 2},
		{"2026-01-31", "2026-05-31", 3},
		{"2026-10-31", "2027-02-27", 2},
		{"2026-10-31", "2027-02-28", 3},
	} {
		if got := r.Band(schedDay(tc.notified), schedDay(tc.validated)); got != tc.band {
			t.Errorf("notified %s, validated %s: band %d, want %d", tc.notified, tc.validated, got, tc.band)
		}
		g := returnGrantExample()
		g.RemovalOrderNotifiedOn, g.ValidatedOn = schedDay(tc.notified), schedDay(tc.validated)
		if res, err := ComputeReturn(g, DefaultSchedules()); err != nil || res.Band != tc.band {
			t.Errorf("ComputeReturn, notified %s, validated %s: band %d, %v; want %d", tc.notified, tc.validated, res.Band, err, tc.band)
		}
	}
}

func TestComputeReturn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*ReturnGrant)
		total string
		why   string
	}{
		{"band 2", func(g *ReturnGrant) { g.ValidatedOn = schedDay("2026-11-20") }, "600.00",
			"Georgia (visa_exempt), band 2, standard rate: 3 persons × 150.00 + travel document 150.00 = 600.00"},
		{"band 3 visa exempt", func(g *ReturnGrant) { g.ValidatedOn = schedDay("2027-03-01"); g.TravelDocument = false }, "0.00",
			"Georgia (visa_exempt), band 3, standard rate: 3 persons × 0.00 = 0.00"},
		{"increased", func(g *ReturnGrant) { g.IncreasedRate = true; g.Children = 0; g.TravelDocument = false }, "500.00",
			"Georgia (visa_exempt), band 1, increased rate: 1 person × 500.00 = 500.00"},
		{"Kosovo", func(g *ReturnGrant) { g.Country = "XK"; g.Adults, g.Children = 2, 0 }, "750.00",
			"Kosovo (visa_exempt), band 1, standard rate: 2 persons × 300.00 + travel document 150.00 = 750.00"},
		{"Belarus", func(g *ReturnGrant) { g.Country = "BY" }, "1050.00",
			"Belarus (visa_exempt), band 1, standard rate: 3 persons × 300.00 + travel document 150.00 = 1050.00"},
		{"other group", func(g *ReturnGrant) { g.Country = "AF"; g.TravelDocument = false }, "3600.00",
			"Afghanistan (other), band 1, standard rate: 3 persons × 1200.00 = 3600.00"},
		{"other band 3 increased", func(g *ReturnGrant) { g.Country = "SY"; g.IncreasedRate = true; g.ValidatedOn = schedDay("2027-06-01") }, "1350.00",
			"Syria (other), band 3, increased rate: 3 persons × 400.00 + travel document 150.00 = 1350.00"},
		{"before the channel scheme", func(g *ReturnGrant) {
			g.Country = "AF"
			g.RemovalOrderNotifiedOn, g.ValidatedOn = schedDay("2025-11-20"), schedDay("2025-12-03")
		}, "3750.00",
			"Afghanistan (other), band 1, standard rate: 3 persons × 1200.00 + travel document 150.00 = 3750.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := returnGrantExample()
			tc.edit(&g)
			res, err := ComputeReturn(g, DefaultSchedules())
			if err != nil {
				t.Fatal(err)
			}
			if res.Total.StringFixed(2) != tc.total || res.Why != tc.why {
				t.Errorf("= %s, %q\nwant %s, %q", res.Total.StringFixed(2), res.Why, tc.total, tc.why)
			}
		})
	}
}

func TestComputeReturnChannelCaps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*ReturnGrant)
		total string
		why   string
	}{
		{"standard, capped", func(g *ReturnGrant) { g.Country = "AF" }, "2350.00",
			"Afghanistan (other), band 1, standard rate, channel scheme (at most 2200.00 per adult): " +
				"min(3 persons × 1200.00 = 3600.00, 1 adult × 2200.00) + travel document 150.00 = 2350.00"},
		{"increased, capped", func(g *ReturnGrant) {
			g.Country = "AF"
			g.Adults = 2
			g.Children = 1
			g.IncreasedRate = true
			g.TravelDocument = false
		}, "7000.00",
			"Afghanistan (other), band 1, increased rate, channel scheme (at most 3500.00 per adult): " +
				"min(3 persons × 2500.00 = 7500.00, 2 adults × 3500.00) = 7000.00"},
		{"under the cap", func(g *ReturnGrant) { g.Country = "AF"; g.Children = 0 }, "1350.00",
			"Afghanistan (other), band 1, standard rate, channel scheme (at most 2200.00 per adult): 1 person × 1200.00 + travel document 150.00 = 1350.00"},
		{"at the cap whatever the band", func(g *ReturnGrant) {
			g.Country = "AF"
			g.Children = 5
			g.ValidatedOn = schedDay("2027-06-01")
			g.TravelDocument = false
		}, "2200.00",
			"Afghanistan (other), band 3, standard rate, channel scheme (at most 2200.00 per adult): min(6 persons × 400.00 = 2400.00, 1 adult × 2200.00) = 2200.00"},
		{"visa exempt", func(g *ReturnGrant) {}, "1050.00",
			"Georgia (visa_exempt), band 1, standard rate, channel scheme (at most 2200.00 per adult): 3 persons × 300.00 + travel document 150.00 = 1050.00"},
		{"first day of the scheme", func(g *ReturnGrant) {
			g.Country = "AF"
			g.RemovalOrderNotifiedOn, g.ValidatedOn = schedDay("2025-11-20"), schedDay("2025-12-04")
		}, "2350.00",
			"Afghanistan (other), band 1, standard rate, channel scheme (at most 2200.00 per adult): " +
				"min(3 persons × 1200.00 = 3600.00, 1 adult × 2200.00) + travel document 150.00 = 2350.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := returnGrantExample()
			g.Scheme = "channel"
			tc.edit(&g)
			res, err := ComputeReturn(g, DefaultSchedules())
			if err != nil {
				t.Fatal(err)
			}
			if res.Total.StringFixed(2) != tc.total || res.Why != tc.why {
				t.Errorf("= %s, %q\nwant %s, %q", res.Total.StringFixed(2), res.Why, tc.total, tc.why)
			}
		})
	}
}

func TestComputeReturnChildRate(t *testing.T) {
	s := *DefaultSchedules().Latest()
	s.Return.ChildRate = decimal.RequireFromString("0.333")
	g := returnGrantExample()
	g.ValidatedOn = schedDay("2026-12-01") // band 2: 150.00 per adult
	res, err := ComputeReturn(g, scheduleAlways{&s})
	if err != nil {
		t.Fatal(err)
	}
	if res.PerChild.String() != "49.95" || res.Total.StringFixed(2) != "399.90" {
		t.Errorf("per child %s, total %s; want 49.95, 399.90", res.PerChild, res.Total)
	}
	if want := "Georgia (visa_exempt), band 2, standard rate: 1 adult × 150.00 + 2 children × 49.95 + travel document 150.00 = 399.90"; res.Why != want {
		t.Errorf("why = %q\nwant %q", res.Why, want)
	}
}

func TestComputeReturnRefuses(t *testing.T) {
	for _, tc := range []struct {
		name         string
		edit         func(*ReturnGrant)
		field, words string
		code         errs.Code
	}{
		{"EU national", func(g *ReturnGrant) { g.Country = "FR" }, "country", "nationals of FR (EU) are not eligible for return aid", errs.Invalid},
		{"EEA national", func(g *ReturnGrant) { g.Country = "NO" }, "country", "(EEA) are not eligible", errs.Invalid},
		{"Swiss national", func(g *ReturnGrant) { g.Country = "CH" }, "country", "(Switzerland) are not eligible", errs.Invalid},
		{"Vatican", func(g *ReturnGrant) { g.Country = "VA" }, "country", "(Vatican) are not eligible", errs.Invalid},
		{"not a country", func(g *ReturnGrant) { g.Country = "ZZ" }, "country", `"ZZ" is not a country code`, errs.Invalid},
		{"no adult", func(g *ReturnGrant) { g.Adults = 0 }, "adults", "must be at least 1", errs.Invalid},
		{"validated before notified", func(g *ReturnGrant) { g.ValidatedOn = schedDay("2026-10-19") }, "validated_on", "is before the removal order's notification", errs.Invalid},
		{"unknown scheme", func(g *ReturnGrant) { g.Scheme = "express" }, "scheme", `"express" is not a scheme`, errs.Invalid},
		{"channel before the scheme", func(g *ReturnGrant) {
			g.Scheme = "channel"
			g.RemovalOrderNotifiedOn, g.ValidatedOn = schedDay("2025-11-20"), schedDay("2025-12-03")
		}, "scheme", "the channel scheme does not exist on 2025-12-03 (rate schedule 2018-06, in force from 2018-06-01)", errs.Invalid},
		{"before any schedule", func(g *ReturnGrant) {
			g.RemovalOrderNotifiedOn, g.ValidatedOn = schedDay("2015-01-01"), schedDay("2015-01-05")
		}, "", "no rate schedule is in force on 2015-01-05", errs.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := returnGrantExample()
			tc.edit(&g)
			_, err := ComputeReturn(g, DefaultSchedules())
			if err == nil {
				t.Fatal("no error")
			}
			e, _ := err.(*errs.Error)
			if e == nil || e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.words) {
				t.Errorf("err = %v, want code %s, field %q and %q", err, tc.code, tc.field, tc.words)
			}
		})
	}
}

func TestCountryNames(t *testing.T) {
	for c := range countries {
		if CountryName(c) == c {
			t.Errorf("%s has no name", c)
		}
	}
	if len(countryNames) != len(countries) {
		t.Errorf("%d names for %d countries", len(countryNames), len(countries))
	}
	if CountryName("GE") != "Georgia" || CountryName("XK") != "Kosovo" || CountryName("ZZ") != "ZZ" {
		t.Error("CountryName is wrong")
	}
}
