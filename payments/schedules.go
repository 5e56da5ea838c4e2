package payments

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/jsonstrict"
	"github.com/ofii/allowances/ledger"
)

// defaultScheduleJSON is the rate schedule shipped with the service
// (payments/schedules/default.json).
//
//go:embed schedules/default.json
var defaultScheduleJSON []byte

// MaxScheduleFileBytes is the largest rate schedule file LoadSchedules reads.
const MaxScheduleFileBytes = 4 << 20

// The sizes of a base table and of the return-aid arrays.
const (
	baseSizes   = 10 // a base table holds households of 1 to 10 persons
	returnBands = 3
)

// The readings of the additional daily amount (docs/rules.md §1).
const (
	AdditionalPerAdult     = "adult"
	AdditionalPerHousehold = "household"
)

// ScheduleSet is a rate schedule file: versions of the rates, oldest first,
// each in force from its EffectiveFrom until the next one's. It implements
// Schedules. A ScheduleSet is never modified once loaded, so that one may
// be shared by goroutines; the schedules it hands out must not be changed.
type ScheduleSet struct {
	versions []Schedule
}

// scheduleFile is the JSON form of a rate schedule file.
type scheduleFile struct {
	Versions []Schedule `json:"versions"`
}

// MarshalJSON writes the set in the form LoadSchedules reads.
func (s *ScheduleSet) MarshalJSON() ([]byte, error) {
	return json.Marshal(scheduleFile{Versions: s.versions})
}

var defaultSchedules = sync.OnceValue(func() *ScheduleSet {
	s, err := LoadSchedules(bytes.NewReader(defaultScheduleJSON))
	if err != nil {
		panic("payments: the embedded schedules/default.json is invalid: " + err.Error())
	}
	return s
})

// DefaultSchedules returns the rate schedule shipped with the service,
// payments/schedules/default.json. It panics only if that file, embedded
// at build time, is invalid, which the package's tests rule out.
func DefaultSchedules() *ScheduleSet { return defaultSchedules() }

// LoadScheduleFile reads and validates the rate schedule file at path, as
// LoadSchedules does. An error names the file.
func LoadScheduleFile(path string) (*ScheduleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rate schedule file: %w", err)
	}
	defer f.Close()
	s, err := LoadSchedules(f)
	if err != nil {
		return nil, fmt.Errorf("rate schedule file %s: %w", path, err)
	}
	return s, nil
}

// LoadSchedules reads a rate schedule file, a JSON object
// {"versions": [...]} whose versions have the fields of Schedule, and
// checks it. Decoding is strict: an unknown field, a value of the wrong
// type or data after the object is refused. Amounts may be JSON numbers
// (6.80) or strings ("6.80"); both are read exactly.
//
// Every version is complete: it states every rate, as published, even
// those that did not change; only source and return.channel may be left
// out. Within a version:
//
//   - amounts are not negative and have at most two decimals;
//   - ada.base has exactly 10 amounts per territory (households of 1 to 10
//     persons), never decreasing as the household grows; ada.above_ten and
//     ada.additional name the same territories as ada.base;
//   - ada.additional_per is "adult" or "household"; ada.recovery_cap is more
//     than 0 and at most 1;
//   - every return group has 3 standard and 3 increased amounts (bands 1 to
//     3); return.band_months holds two month counts, more than zero and
//     increasing; return.countries maps ISO 3166-1 alpha-2 codes (or XK)
//     to groups that exist, and return.default_group is a group;
//     return.child_rate is between 0 and 1.
//
// Across versions, the rule is that the versions cover time without a gap
// or an overlap:
//
//   - effective_from increases strictly in the order of the file (oldest
//     first). Two versions on one day overlap; a version dated before the
//     one above it is out of order. Both are refused, never re-sorted.
//   - a version keeps everything the one before it had: every territory,
//     every return group and every field present in a version (the channel
//     scheme, say) must be present in the next. A version that dropped one
//     would leave the days from its effective_from without a rate that the
//     days before had: that is a gap. A version may add territories, groups
//     and fields. The country list is exempt: a country may leave a group,
//     and then belongs to the default group.
//
// An error is an *errs.Error of code Invalid whose Field is the path of the
// value at fault, such as "versions[2].ada.base.metropole[3]", and whose
// message says why ("-1.00 is negative").
func LoadSchedules(r io.Reader) (*ScheduleSet, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxScheduleFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read rate schedule: %w", err)
	}
	if len(data) > MaxScheduleFileBytes {
		return nil, errs.E(errs.TooLarge, "a rate schedule file has at most %d bytes", MaxScheduleFileBytes)
	}
	var file scheduleFile
	if err := jsonstrict.Decode(data, &file); err != nil {
		return nil, err
	}
	// The typed form cannot tell a missing field from a zero one, nor an
	// array of the wrong length from a right one: read the tree as well.
	var tree struct {
		Versions []map[string]any `json:"versions"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil || len(tree.Versions) != len(file.Versions) {
		return nil, errs.E(errs.Invalid, "the rate schedule is not a JSON object with an array of versions")
	}
	if len(file.Versions) == 0 {
		return nil, errs.Field("versions", "must hold at least one version")
	}
	for i := range file.Versions {
		at := fmt.Sprintf("versions[%d]", i)
		if err := checkShape(at, tree.Versions[i]); err != nil {
			return nil, err
		}
		if err := file.Versions[i].check(at); err != nil {
			return nil, err
		}
		if i == 0 {
			continue
		}
		prev, cur := &file.Versions[i-1], &file.Versions[i]
		switch {
		case cur.EffectiveFrom == prev.EffectiveFrom:
			return nil, errs.Field(at+".effective_from", "%s is also the effective_from of versions[%d]: two versions on one day overlap",
				cur.EffectiveFrom, i-1)
		case cur.EffectiveFrom.Before(prev.EffectiveFrom):
			return nil, errs.Field(at+".effective_from", "%s is before versions[%d]'s %s: list the versions oldest first",
				cur.EffectiveFrom, i-1, prev.EffectiveFrom)
		}
		for j := range i {
			if file.Versions[j].Version == cur.Version {
				return nil, errs.Field(at+".version", "%s is also the name of versions[%d]", strconv.Quote(cur.Version), j)
			}
		}
		if err := checkNoGap(at, i-1, tree.Versions[i-1], tree.Versions[i]); err != nil {
			return nil, err
		}
	}
	return &ScheduleSet{versions: file.Versions}, nil
}

// On returns the version in force on d: the latest whose EffectiveFrom is
// not after d. Before the first version, none is, and the error says so.
func (s *ScheduleSet) On(d ledger.Date) (*Schedule, error) {
	i := sort.Search(len(s.versions), func(i int) bool { return d.Before(s.versions[i].EffectiveFrom) })
	if i == 0 {
		if len(s.versions) == 0 {
			return nil, errs.E(errs.NotFound, "no rate schedule is in force on %s: there is none", d)
		}
		return nil, errs.E(errs.NotFound, "no rate schedule is in force on %s: the first takes effect on %s", d, s.versions[0].EffectiveFrom)
	}
	return &s.versions[i-1], nil
}

// Versions returns the versions, oldest first. The slice is a copy; the
// rates it holds must not be changed.
func (s *ScheduleSet) Versions() []Schedule { return slices.Clone(s.versions) }

// Latest returns the most recent version.
func (s *ScheduleSet) Latest() *Schedule { return &s.versions[len(s.versions)-1] }

// Territories returns the territories the schedule has ADA rates for,
// sorted.
func (s *Schedule) Territories() []string { return slices.Sorted(maps.Keys(s.ADA.Base)) }

// ADADaily returns the ADA daily amount of a household on territory, and
// how it is made: "2 adults, 1 child, not accommodated: 13.60 + 2 × 7.40".
// The base amount is the published one for the household's size, or the
// one for ten persons plus above_ten per person above ten; the additional
// amount is added, when not accommodated, once per adult or once per
// household (additional_per).
func (s *Schedule) ADADaily(territory string, adults, children int, accommodated bool) (decimal.Decimal, string, error) {
	base, ok := s.ADA.Base[territory]
	if !ok {
		return decimal.Zero, "", errs.Field("territory", "%s is not a territory of rate schedule %s (%s)",
			strconv.Quote(territory), s.Version, strings.Join(s.Territories(), ", "))
	}
	if adults < 1 || children < 0 {
		return decimal.Zero, "", errs.Field("adults", "a household has at least 1 adult and no fewer than 0 children, not %d and %d", adults, children)
	}
	persons := adults + children
	var why strings.Builder
	why.WriteString(countNoun(adults, "adult", "adults"))
	if children > 0 {
		why.WriteString(", " + countNoun(children, "child", "children"))
	}
	if accommodated {
		why.WriteString(", accommodated: ")
	} else {
		why.WriteString(", not accommodated: ")
	}
	var daily decimal.Decimal
	if persons <= len(base) {
		daily = base[persons-1]
		why.WriteString(daily.StringFixed(2))
	} else {
		daily = base[len(base)-1]
		above := s.ADA.AboveTen[territory]
		why.WriteString(daily.StringFixed(2) + " + " + mulText(persons-len(base), above))
		daily = daily.Add(above.Mul(decimal.NewFromInt(int64(persons - len(base)))))
	}
	if !accommodated {
		add := s.ADA.Additional[territory]
		n := adults
		if s.ADA.AdditionalPer == AdditionalPerHousehold {
			n = 1
		}
		why.WriteString(" + " + mulText(n, add))
		daily = daily.Add(add.Mul(decimal.NewFromInt(int64(n))))
	}
	return daily, why.String(), nil
}

// mulText writes "2 × 7.40", or "7.40" for once.
func mulText(n int, amount decimal.Decimal) string {
	if n == 1 {
		return amount.StringFixed(2)
	}
	return fmt.Sprintf("%d × %s", n, amount.StringFixed(2))
}

// countNoun writes "1 adult", "2 adults".
func countNoun(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, pluralWord(n, one, many))
}

// check validates the values of one version whose shape checkShape
// accepted; at is its path.
func (s *Schedule) check(at string) error {
	if strings.TrimSpace(s.Version) == "" {
		return errs.Field(at+".version", "must not be blank")
	}
	if y := s.EffectiveFrom.Time().Year(); y < minEventYear || y > maxEventYear {
		return errs.Field(at+".effective_from", "%s is outside the years %d to %d", s.EffectiveFrom, minEventYear, maxEventYear)
	}
	a := s.ADA
	for _, t := range slices.Sorted(maps.Keys(a.Base)) {
		for j, v := range a.Base[t] {
			p := fmt.Sprintf("%s.ada.base.%s[%d]", at, t, j)
			if err := checkScheduleAmount(p, v); err != nil {
				return err
			}
			if j > 0 && v.LessThan(a.Base[t][j-1]) {
				return errs.Field(p, "%s for %d persons is less than %s for %d: the base amount never decreases as the household grows",
					v.StringFixed(2), j+1, a.Base[t][j-1].StringFixed(2), j)
			}
		}
	}
	for _, m := range []struct {
		name    string
		amounts map[string]decimal.Decimal
	}{{"above_ten", a.AboveTen}, {"additional", a.Additional}} {
		for _, t := range slices.Sorted(maps.Keys(m.amounts)) {
			p := at + ".ada." + m.name + "." + t
			if _, ok := a.Base[t]; !ok {
				return errs.Field(p, "%s is not a territory of ada.base", strconv.Quote(t))
			}
			if err := checkScheduleAmount(p, m.amounts[t]); err != nil {
				return err
			}
		}
		for _, t := range slices.Sorted(maps.Keys(a.Base)) {
			if _, ok := m.amounts[t]; !ok {
				return errs.Field(at+".ada."+m.name+"."+t, "is required: ada.base has the territory")
			}
		}
	}
	if a.AdditionalPer != AdditionalPerAdult && a.AdditionalPer != AdditionalPerHousehold {
		return errs.Field(at+".ada.additional_per", "%s is not %s or %s", strconv.Quote(a.AdditionalPer), AdditionalPerAdult, AdditionalPerHousehold)
	}
	if !a.RecoveryCap.IsPositive() || a.RecoveryCap.GreaterThan(decimal.NewFromInt(1)) {
		return errs.Field(at+".ada.recovery_cap", "%s is not a share more than 0 and at most 1", a.RecoveryCap)
	}

	r := s.Return
	for _, g := range slices.Sorted(maps.Keys(r.Groups)) {
		for _, rate := range []struct {
			name    string
			amounts [returnBands]decimal.Decimal
		}{{"standard", r.Groups[g].Standard}, {"increased", r.Groups[g].Increased}} {
			for j, v := range rate.amounts {
				if err := checkScheduleAmount(fmt.Sprintf("%s.return.groups.%s.%s[%d]", at, g, rate.name, j), v); err != nil {
					return err
				}
			}
		}
	}
	groups := strings.Join(slices.Sorted(maps.Keys(r.Groups)), ", ")
	for _, c := range slices.Sorted(maps.Keys(r.Countries)) {
		p := at + ".return.countries." + c
		if !IsCountry(c) {
			return errs.Field(p, "%s is not an ISO 3166-1 alpha-2 country code", strconv.Quote(c))
		}
		if _, ok := r.Groups[r.Countries[c]]; !ok {
			return errs.Field(p, "%s is not a group (%s)", strconv.Quote(r.Countries[c]), groups)
		}
	}
	if _, ok := r.Groups[r.DefaultGroup]; !ok {
		return errs.Field(at+".return.default_group", "%s is not a group (%s)", strconv.Quote(r.DefaultGroup), groups)
	}
	switch bm := r.BandMonths; {
	case bm[0] < 1:
		return errs.Field(at+".return.band_months[0]", "%d is not a number of months more than zero", bm[0])
	case bm[1] <= bm[0]:
		return errs.Field(at+".return.band_months[1]", "%d is not more than band_months[0], %d", bm[1], bm[0])
	}
	if r.ChildRate.IsNegative() || r.ChildRate.GreaterThan(decimal.NewFromInt(1)) {
		return errs.Field(at+".return.child_rate", "%s is not a share from 0 to 1", r.ChildRate)
	}
	if err := checkScheduleAmount(at+".return.travel_document", r.TravelDocument); err != nil {
		return err
	}
	if r.Channel != nil {
		if err := checkScheduleAmount(at+".return.channel.standard", r.Channel.Standard); err != nil {
			return err
		}
		if err := checkScheduleAmount(at+".return.channel.increased", r.Channel.Increased); err != nil {
			return err
		}
	}

	ri := s.Reinsertion
	for _, c := range []struct {
		name   string
		amount decimal.Decimal
	}{
		{"social_single", ri.SocialSingle}, {"social_couple", ri.SocialCouple}, {"social_per_child", ri.SocialPerChild},
		{"employment", ri.Employment}, {"business_creation", ri.BusinessCreation},
	} {
		if err := checkScheduleAmount(at+".reinsertion."+c.name, c.amount); err != nil {
			return err
		}
	}
	return nil
}

// checkScheduleAmount checks that an amount of a schedule is not negative
// and has at most two decimals.
func checkScheduleAmount(path string, v decimal.Decimal) error {
	exact := v.Truncate(2).Equal(v)
	switch {
	case v.IsNegative() && exact:
		return errs.Field(path, "%s is negative", v.StringFixed(2))
	case v.IsNegative():
		return errs.Field(path, "%s is negative", v.String())
	case !exact:
		return errs.Field(path, "%s has more than two decimals", v.String())
	}
	return nil
}

// scheduleNameRE matches the name of a territory or a return group.
var scheduleNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// requiredFields are the fields every version must have, as dotted paths
// in the version's object.
var requiredFields = []string{
	"version", "effective_from",
	"ada", "ada.base", "ada.above_ten", "ada.additional", "ada.additional_per", "ada.recovery_cap",
	"return", "return.groups", "return.countries", "return.default_group", "return.band_months",
	"return.child_rate", "return.travel_document",
	"reinsertion", "reinsertion.social_single", "reinsertion.social_couple", "reinsertion.social_per_child",
	"reinsertion.employment", "reinsertion.business_creation",
}

// checkShape checks what the typed form of a version cannot show: that
// every required field is there (and not null), and that arrays have their
// lengths.
func checkShape(at string, v map[string]any) error {
	for _, f := range []string{"ada.base", "ada.above_ten", "ada.additional", "return.groups"} {
		m, _ := treeLookup(v, f)
		for _, k := range treeKeys(m) {
			if !scheduleNameRE.MatchString(k) {
				return errs.Field(at+"."+f, "%s is not a name of small letters, digits, '-' and '_'", quoteShort(k))
			}
		}
	}
	for _, f := range requiredFields {
		if _, ok := treeLookup(v, f); !ok {
			return errs.Field(at+"."+f, "is required")
		}
	}
	base, _ := treeLookup(v, "ada.base")
	for _, t := range treeKeys(base) {
		if n := treeArrayLen(base.(map[string]any)[t]); n != baseSizes {
			return errs.Field(at+".ada.base."+t, "has %d amounts, not %d: one per household size from 1 to %d persons", n, baseSizes, baseSizes)
		}
	}
	if len(treeKeys(base)) == 0 {
		return errs.Field(at+".ada.base", "must have at least one territory")
	}
	groups, _ := treeLookup(v, "return.groups")
	if len(treeKeys(groups)) == 0 {
		return errs.Field(at+".return.groups", "must have at least one group")
	}
	for _, g := range treeKeys(groups) {
		for _, rate := range []string{"standard", "increased"} {
			p := "return.groups." + g + "." + rate
			x, ok := treeLookup(v, p)
			if !ok {
				return errs.Field(at+"."+p, "is required")
			}
			if n := treeArrayLen(x); n != returnBands {
				return errs.Field(at+"."+p, "has %d amounts, not %d: one per band", n, returnBands)
			}
		}
	}
	if bm, _ := treeLookup(v, "return.band_months"); treeArrayLen(bm) != 2 {
		return errs.Field(at+".return.band_months", "has %d numbers, not 2: the month limits of bands 1 and 2", treeArrayLen(bm))
	}
	if _, present := treeLookup(v, "return.channel"); present {
		for _, rate := range []string{"standard", "increased"} {
			if _, ok := treeLookup(v, "return.channel."+rate); !ok {
				return errs.Field(at+".return.channel."+rate, "is required")
			}
		}
	}
	return nil
}

// checkNoGap checks that version cur, at path at, keeps every field of the
// one before it, number prev: see LoadSchedules.
func checkNoGap(at string, prev int, before, cur map[string]any) error {
	for _, p := range treeFieldPaths(before, "") {
		if _, ok := treeLookup(cur, p); !ok {
			return errs.Field(at+"."+p, "is missing, while versions[%d] has it: a version keeps every territory, group and field of the one before (a gap)", prev)
		}
	}
	return nil
}

// treeFieldPaths lists the paths of the members of the objects of v, in
// order, but for the source text and the country list, which may change
// freely.
func treeFieldPaths(v any, prefix string) []string {
	var out []string
	for _, k := range treeKeys(v) {
		p := prefix + k
		if p == "source" || p == "return.countries" {
			continue
		}
		out = append(out, p)
		out = append(out, treeFieldPaths(v.(map[string]any)[k], p+".")...)
	}
	return out
}

// treeLookup returns the value at a dotted path of nested objects; a null
// value counts as missing.
func treeLookup(v any, path string) (any, bool) {
	for k := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok || v == nil {
			return nil, false
		}
	}
	return v, true
}

// treeKeys returns the keys of v if it is an object, sorted.
func treeKeys(v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// treeArrayLen returns the length of v if it is an array, else -1.
func treeArrayLen(v any) int {
	a, ok := v.([]any)
	if !ok {
		return -1
	}
	return len(a)
}

// Like the ledger's, the schedules' JSON writes every amount as a string
// with two decimals ("6.80"), never as a number a client could read into a
// binary float; a share (recovery_cap, child_rate) keeps more decimals when
// it has them. Reading accepts strings and numbers alike. A field added to
// one of these types must be added to its MarshalJSON too;
// TestScheduleJSONFields fails until it is.

// rateJSON is an amount written as a JSON string with at least two
// decimals.
type rateJSON decimal.Decimal

// MarshalJSON writes "6.80".
func (a rateJSON) MarshalJSON() ([]byte, error) {
	d := decimal.Decimal(a)
	s := d.String()
	if d.Exponent() >= -2 {
		s = d.StringFixed(2)
	}
	return []byte(strconv.Quote(s)), nil
}

func ratesJSON[S ~[]decimal.Decimal](in S) []rateJSON {
	out := make([]rateJSON, len(in))
	for i, d := range in {
		out[i] = rateJSON(d)
	}
	return out
}

func rateMapJSON(in map[string]decimal.Decimal) map[string]rateJSON {
	if in == nil {
		return nil
	}
	out := make(map[string]rateJSON, len(in))
	for k, d := range in {
		out[k] = rateJSON(d)
	}
	return out
}

// MarshalJSON writes the rates with their amounts as "6.80".
func (a ADARates) MarshalJSON() ([]byte, error) {
	var base map[string][]rateJSON
	if a.Base != nil {
		base = make(map[string][]rateJSON, len(a.Base))
		for t, amounts := range a.Base {
			base[t] = ratesJSON(amounts)
		}
	}
	return json.Marshal(struct {
		Base          map[string][]rateJSON `json:"base"`
		AboveTen      map[string]rateJSON   `json:"above_ten"`
		Additional    map[string]rateJSON   `json:"additional"`
		AdditionalPer string                `json:"additional_per"`
		RecoveryCap   rateJSON              `json:"recovery_cap"`
	}{base, rateMapJSON(a.AboveTen), rateMapJSON(a.Additional), a.AdditionalPer, rateJSON(a.RecoveryCap)})
}

// MarshalJSON writes the rates with their amounts as "300.00".
func (r ReturnRates) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Groups         map[string]ReturnGroup `json:"groups"`
		Countries      map[string]string      `json:"countries"`
		DefaultGroup   string                 `json:"default_group"`
		BandMonths     [2]int                 `json:"band_months"`
		ChildRate      rateJSON               `json:"child_rate"`
		TravelDocument rateJSON               `json:"travel_document"`
		Channel        *ReturnChannel         `json:"channel,omitempty"`
	}{r.Groups, r.Countries, r.DefaultGroup, r.BandMonths, rateJSON(r.ChildRate), rateJSON(r.TravelDocument), r.Channel})
}

// MarshalJSON writes the amounts as "300.00".
func (g ReturnGroup) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Standard  []rateJSON `json:"standard"`
		Increased []rateJSON `json:"increased"`
	}{ratesJSON(g.Standard[:]), ratesJSON(g.Increased[:])})
}

// MarshalJSON writes the caps as "2200.00".
func (c ReturnChannel) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Standard  rateJSON `json:"standard"`
		Increased rateJSON `json:"increased"`
	}{rateJSON(c.Standard), rateJSON(c.Increased)})
}

// MarshalJSON writes the ceilings as "400.00".
func (r ReinsertionRates) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		SocialSingle     rateJSON `json:"social_single"`
		SocialCouple     rateJSON `json:"social_couple"`
		SocialPerChild   rateJSON `json:"social_per_child"`
		Employment       rateJSON `json:"employment"`
		BusinessCreation rateJSON `json:"business_creation"`
	}{rateJSON(r.SocialSingle), rateJSON(r.SocialCouple), rateJSON(r.SocialPerChild),
		rateJSON(r.Employment), rateJSON(r.BusinessCreation)})
}
