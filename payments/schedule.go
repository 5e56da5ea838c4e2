package payments

import (
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// Schedule is one version of the rates, in force from EffectiveFrom until
// the next version's EffectiveFrom (docs/rules.md). Amounts are stored as
// published, never computed from one another.
type Schedule struct {
	Version       string           `json:"version"`
	EffectiveFrom ledger.Date      `json:"effective_from"`
	Source        string           `json:"source,omitempty"` // the legal text it publishes
	ADA           ADARates         `json:"ada"`
	Return        ReturnRates      `json:"return"`
	Reinsertion   ReinsertionRates `json:"reinsertion"`
}

// ADARates are the ADA's daily amounts.
type ADARates struct {
	// Base is the base daily amount per territory, indexed by household
	// size: Base["metropole"][0] is for one person, [9] for ten.
	Base map[string][]decimal.Decimal `json:"base"`
	// AboveTen is added per person above ten, per territory.
	AboveTen map[string]decimal.Decimal `json:"above_ten"`
	// Additional is the additional daily amount per territory, paid when the
	// household is not accommodated.
	Additional map[string]decimal.Decimal `json:"additional"`
	// AdditionalPer is "adult" (the legal text: once per adult) or
	// "household" (once per household).
	AdditionalPer string `json:"additional_per"`
	// RecoveryCap is the share of a month's gross that a deduction may take
	// (0.30), except for fraud.
	RecoveryCap decimal.Decimal `json:"recovery_cap"`
}

// ReturnRates are the return-aid amounts (docs/rules.md §2).
type ReturnRates struct {
	// Groups maps a group name to its amounts per band (1 to 3), at the
	// standard and the increased rate.
	Groups map[string]ReturnGroup `json:"groups"`
	// Countries names the group of each listed country (ISO 3166 alpha-2);
	// any other country is in DefaultGroup.
	Countries    map[string]string `json:"countries"`
	DefaultGroup string            `json:"default_group"`
	// BandMonths are the month limits of bands 1 and 2: validated before
	// BandMonths[0] months have passed is band 1, before BandMonths[1] band 2.
	BandMonths [2]int `json:"band_months"`
	// ChildRate is the share of the adult amount paid per child (1 = the
	// adult rate).
	ChildRate decimal.Decimal `json:"child_rate"`
	// TravelDocument is added once per grant when the event says so.
	TravelDocument decimal.Decimal `json:"travel_document"`
	// Channel caps the amount per adult under the special scheme, at the
	// standard and increased rates; nil before it existed.
	Channel *ReturnChannel `json:"channel,omitempty"`
}

// ReturnGroup holds a group's amounts per band, index 0 for band 1.
type ReturnGroup struct {
	Standard  [3]decimal.Decimal `json:"standard"`
	Increased [3]decimal.Decimal `json:"increased"`
}

// ReturnChannel is the special scheme's cap per adult.
type ReturnChannel struct {
	Standard  decimal.Decimal `json:"standard"`
	Increased decimal.Decimal `json:"increased"`
}

// ReinsertionRates are the ceilings of reinsertion aid.
type ReinsertionRates struct {
	SocialSingle     decimal.Decimal `json:"social_single"`
	SocialCouple     decimal.Decimal `json:"social_couple"`
	SocialPerChild   decimal.Decimal `json:"social_per_child"`
	Employment       decimal.Decimal `json:"employment"`
	BusinessCreation decimal.Decimal `json:"business_creation"`
}

// Schedules answers which schedule is in force on a day.
type Schedules interface {
	// On returns the schedule in force on d, or an error when none is.
	On(d ledger.Date) (*Schedule, error)
}

// Period is a calendar month, written 2026-11.
type Period struct {
	Year  int
	Month int // 1 to 12
}

// ADASegment is a run of consecutive covered days at one daily amount.
type ADASegment struct {
	From   ledger.Date     `json:"from"`
	To     ledger.Date     `json:"to"` // inclusive
	Days   int             `json:"days"`
	Daily  decimal.Decimal `json:"daily"`
	Amount decimal.Decimal `json:"amount"` // Days × Daily
	Why    string          `json:"why"`    // "2 adults, 1 child, not accommodated: 13.60 + 2 × 7.40"
}

// ADAResult is what a beneficiary is owed for a period, with its reasons.
type ADAResult struct {
	BeneficiaryID string          `json:"beneficiary_id"`
	Period        Period          `json:"period"`
	Gross         decimal.Decimal `json:"gross"`
	CoveredDays   int             `json:"covered_days"`
	Segments      []ADASegment    `json:"segments"`
}
