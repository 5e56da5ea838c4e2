package payments

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
)

func reinsertionGrantOf(level ReinsertionLevel, amount string, adults, children int, tranches ...string) ReinsertionGrant {
	g := ReinsertionGrant{GrantID: "REI-1", Level: level, Amount: decimal.RequireFromString(amount), Adults: adults, Children: children}
	for i, t := range tranches {
		g.Tranches = append(g.Tranches, Tranche{TrancheID: "T" + string(rune('1'+i)), Amount: decimal.RequireFromString(t)})
	}
	return g
}

func TestCheckReinsertion(t *testing.T) {
	on := schedDay("2026-11-05")
	for _, tc := range []struct {
		name         string
		g            ReinsertionGrant
		field, words string
	}{
		{"social single at the ceiling", reinsertionGrantOf(LevelSocial, "400.00", 1, 0, "400.00"), "", ""},
		{"social couple and 2 children", reinsertionGrantOf(LevelSocial, "1400.00", 2, 2, "700.00", "700.00"), "", ""},
		{"social, no adults named", reinsertionGrantOf(LevelSocial, "700.00", 0, 1, "700.00"), "", ""},
		{"employment in three tranches", reinsertionGrantOf(LevelEmployment, "4000.00", 1, 0, "1000.00", "1500.00", "1500.00"), "", ""},
		{"business creation", reinsertionGrantOf(LevelBusinessCreation, "7000.00", 1, 0, "3500.00", "3500.00"), "", ""},
		{"social single above", reinsertionGrantOf(LevelSocial, "400.01", 1, 0, "400.01"), "amount",
			"400.01 is above the ceiling of 400.00 for social aid to 1 adult and 0 children (rate schedule 2025-12)"},
		{"couple above", reinsertionGrantOf(LevelSocial, "1200.00", 2, 1, "1200.00"), "amount", "above the ceiling of 1100.00"},
		{"employment above", reinsertionGrantOf(LevelEmployment, "4500.00", 1, 0, "4500.00"), "amount", "above the ceiling of 4000.00 for employment aid"},
		{"business creation above", reinsertionGrantOf(LevelBusinessCreation, "7000.50", 1, 0, "7000.50"), "amount", "above the ceiling of 7000.00"},
		{"tranches short", reinsertionGrantOf(LevelEmployment, "3000.00", 1, 0, "1000.00", "1500.00"), "tranches", "add up to 2500.00, not the decided 3000.00"},
		{"tranches over", reinsertionGrantOf(LevelEmployment, "3000.00", 1, 0, "2000.00", "1500.00"), "tranches", "add up to 3500.00, not the decided 3000.00"},
		{"no tranches", reinsertionGrantOf(LevelEmployment, "3000.00", 1, 0), "tranches", "at least one tranche"},
		{"zero tranche", reinsertionGrantOf(LevelEmployment, "3000.00", 1, 0, "3000.00", "0"), "tranches[1].amount", "more than zero"},
		{"unknown level", reinsertionGrantOf("holiday", "100.00", 1, 0, "100.00"), "level", `"holiday" is not a level`},
		{"zero amount", reinsertionGrantOf(LevelSocial, "0", 1, 0, "0"), "amount", "more than zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReinsertion(tc.g, DefaultSchedules(), on)
			if tc.field == "" {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			e, _ := err.(*errs.Error)
			if e == nil || e.Code != errs.Invalid || e.Field != tc.field || !strings.Contains(e.Message, tc.words) {
				t.Errorf("err = %v, want field %s and %q", err, tc.field, tc.words)
			}
		})
	}
}

func TestCheckReinsertionUsesScheduleOfTheDay(t *testing.T) {
	s := *DefaultSchedules().Latest()
	s.Reinsertion.Employment = decimal.RequireFromString("5000.00")
	g := reinsertionGrantOf(LevelEmployment, "4500.00", 1, 0, "4500.00")
	if err := CheckReinsertion(g, scheduleAlways{&s}, schedDay("2026-11-05")); err != nil {
		t.Errorf("with a 5000.00 ceiling: %v", err)
	}
	if err := CheckReinsertion(g, DefaultSchedules(), schedDay("2015-01-01")); errs.CodeOf(err) != errs.NotFound ||
		!strings.Contains(err.Error(), "2015-01-01") {
		t.Errorf("before any schedule: err = %v", err)
	}
}
