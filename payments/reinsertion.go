package payments

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Ceiling returns the most a reinsertion grant of the level may amount to,
// for a household of adults and children (docs/rules.md §3): for social
// aid, SocialSingle for one adult or SocialCouple for two or more, plus
// SocialPerChild per minor child; Employment and BusinessCreation for the
// other levels. A household of fewer than one adult counts as one adult.
// An unknown level has a ceiling of zero.
func (r ReinsertionRates) Ceiling(level ReinsertionLevel, adults, children int) decimal.Decimal {
	switch level {
	case LevelSocial:
		base := r.SocialSingle
		if adults >= 2 {
			base = r.SocialCouple
		}
		return base.Add(r.SocialPerChild.Mul(decimal.NewFromInt(int64(max(children, 0)))))
	case LevelEmployment:
		return r.Employment
	case LevelBusinessCreation:
		return r.BusinessCreation
	}
	return decimal.Zero
}

// CheckReinsertion checks a reinsertion grant against the schedule in force
// on the day on (the day of the decision): its level is known, its amount
// is more than zero and not above the level's ceiling for the household,
// and its tranches, each more than zero, add up to the amount. An error
// about the grant is an *errs.Error naming its field.
func CheckReinsertion(g ReinsertionGrant, sch Schedules, on ledger.Date) error {
	switch g.Level {
	case LevelSocial, LevelEmployment, LevelBusinessCreation:
	default:
		return errs.Field("level", "%s is not a level (%s, %s or %s)", quoteShort(string(g.Level)),
			LevelSocial, LevelEmployment, LevelBusinessCreation)
	}
	if !g.Amount.IsPositive() {
		return errs.Field("amount", "must be more than zero, got %s", g.Amount.StringFixed(2))
	}
	if g.Adults < 0 || g.Children < 0 {
		return errs.Field("adults", "a household has no fewer than 0 adults and 0 children, not %d and %d", g.Adults, g.Children)
	}
	s, err := sch.On(on)
	if err != nil {
		return err
	}
	if ceiling := s.Reinsertion.Ceiling(g.Level, g.Adults, g.Children); g.Amount.GreaterThan(ceiling) {
		return errs.Field("amount", "%s is above the ceiling of %s for %s (rate schedule %s)", g.Amount.StringFixed(2),
			ceiling.StringFixed(2), ceilingSubject(g.Level, g.Adults, g.Children), s.Version)
	}
	if len(g.Tranches) == 0 {
		return errs.Field("tranches", "must hold at least one tranche")
	}
	sum := decimal.Zero
	for i, t := range g.Tranches {
		if !t.Amount.IsPositive() {
			return errs.Field(fmt.Sprintf("tranches[%d].amount", i), "must be more than zero, got %s", t.Amount.StringFixed(2))
		}
		sum = sum.Add(t.Amount)
	}
	if !sum.Equal(g.Amount) {
		return errs.Field("tranches", "add up to %s, not the decided %s", sum.StringFixed(2), g.Amount.StringFixed(2))
	}
	return nil
}
