package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

func schedDay(s string) ledger.Date {
	d, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestDefaultSchedulesLoad(t *testing.T) {
	s, err := LoadSchedules(bytes.NewReader(defaultScheduleJSON))
	if err != nil {
		t.Fatalf("the embedded default schedule is invalid: %v", err)
	}
	var from []string
	for _, v := range s.Versions() {
		from = append(from, v.EffectiveFrom.String())
	}
	if want := []string{"2015-11-01", "2017-04-01", "2018-06-01", "2025-12-04"}; !reflect.DeepEqual(from, want) {
		t.Errorf("versions from %v, want %v", from, want)
	}
	for _, v := range s.Versions() {
		if v.Source == "" {
			t.Errorf("version %s has no source", v.Version)
		}
		for _, tr := range Territories {
			if _, ok := v.ADA.Base[tr]; !ok {
				t.Errorf("version %s has no rates for territory %s", v.Version, tr)
			}
		}
		for c := range v.Return.Countries {
			if _, excluded := returnAidExcluded[c]; excluded {
				t.Errorf("version %s lists %s, whose nationals are refused return aid", v.Version, c)
			}
		}
		for _, c := range []string{"GE", "BY", "XK", "AL", "UA", "GB", "US"} {
			if g := v.Return.Group(c); g != "visa_exempt" {
				t.Errorf("version %s: %s is in group %s, want visa_exempt", v.Version, c, g)
			}
		}
		for _, c := range []string{"AF", "SY", "RU", "DZ", "TR"} {
			if g := v.Return.Group(c); g != "other" {
				t.Errorf("version %s: %s is in group %s, want other", v.Version, c, g)
			}
		}
	}
	if DefaultSchedules().Latest().Version != "2025-12" {
		t.Errorf("latest default version = %s", DefaultSchedules().Latest().Version)
	}
}

// TestScheduleJSONRoundTrip checks that what the schedules write (ledgerctl
// schedules show -o json) reads back to the same rates, amounts written
// with two decimals.
func TestScheduleJSONRoundTrip(t *testing.T) {
	b, err := json.MarshalIndent(DefaultSchedules(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"6.80"`, `"37.40"`, `"0.30"`, `"1.00"`, `"2200.00"`, `"0.00"`, `"band_months": [`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	back, err := LoadSchedules(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("written schedule does not load: %v", err)
	}
	if !reflect.DeepEqual(schedulesAsJSON(t, back), schedulesAsJSON(t, DefaultSchedules())) {
		t.Error("the schedule read back differs")
	}
}

// schedulesAsJSON returns a schedule set as plain JSON values with numbers for
// amounts, so that 6.8 and 6.80 compare equal.
func schedulesAsJSON(t *testing.T, s *ScheduleSet) any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestScheduleOn(t *testing.T) {
	s := DefaultSchedules()
	for _, tc := range []struct {
		on, version, additional string
	}{
		{"2015-11-01", "2015-11", "4.20"},
		{"2017-03-31", "2015-11", "4.20"},
		{"2017-04-01", "2017-04", "5.40"},
		{"2018-05-31", "2017-04", "5.40"},
		{"2018-06-01", "2018-06", "7.40"},
		{"2025-12-03", "2018-06", "7.40"},
		{"2025-12-04", "2025-12", "7.40"},
		{"2026-11-01", "2025-12", "7.40"},
		{"2199-12-31", "2025-12", "7.40"},
	} {
		v, err := s.On(schedDay(tc.on))
		if err != nil {
			t.Errorf("On(%s): %v", tc.on, err)
			continue
		}
		if v.Version != tc.version || v.ADA.Additional[DefaultTerritory].StringFixed(2) != tc.additional {
			t.Errorf("On(%s) = version %s, additional %s; want %s, %s", tc.on, v.Version,
				v.ADA.Additional[DefaultTerritory].StringFixed(2), tc.version, tc.additional)
		}
	}
	_, err := s.On(schedDay("2015-10-31"))
	if err == nil || !strings.Contains(err.Error(), "2015-10-31") || !strings.Contains(err.Error(), "2015-11-01") {
		t.Errorf("On(2015-10-31): err = %v, want one naming the day and the first version's", err)
	}
}

func TestScheduleSwitchChangesDailyRate(t *testing.T) {
	for _, tc := range []struct{ on, daily, why string }{
		{"2018-05-31", "12.20", "1 adult, not accommodated: 6.80 + 5.40"},
		{"2018-06-01", "14.20", "1 adult, not accommodated: 6.80 + 7.40"},
	} {
		s, err := DefaultSchedules().On(schedDay(tc.on))
		if err != nil {
			t.Fatal(err)
		}
		daily, why, err := s.ADADaily(DefaultTerritory, 1, 0, false)
		if err != nil || daily.StringFixed(2) != tc.daily || why != tc.why {
			t.Errorf("on %s: %s, %q, %v; want %s, %q", tc.on, daily.StringFixed(2), why, err, tc.daily, tc.why)
		}
	}
}

// TestADADaily checks the daily amounts of the worked examples of
// docs/rules.md §4 (2026 schedule), and more.
func TestADADaily(t *testing.T) {
	s2026, err := DefaultSchedules().On(schedDay("2026-11-01"))
	if err != nil {
		t.Fatal(err)
	}
	household := *s2026
	household.ADA.AdditionalPer = AdditionalPerHousehold
	for _, tc := range []struct {
		name             string
		s                *Schedule
		territory        string
		adults, children int
		accommodated     bool
		daily, why       string
	}{
		{"1 adult not accommodated", s2026, "metropole", 1, 0, false, "14.20", "1 adult, not accommodated: 6.80 + 7.40"},
		{"1 adult accommodated", s2026, "metropole", 1, 0, true, "6.80", "1 adult, accommodated: 6.80"},
		{"2 adults 1 child accommodated", s2026, "metropole", 2, 1, true, "13.60", "2 adults, 1 child, accommodated: 13.60"},
		{"2 adults 1 child not accommodated", s2026, "metropole", 2, 1, false, "28.40", "2 adults, 1 child, not accommodated: 13.60 + 2 × 7.40"},
		{"1 adult 1 child not accommodated", s2026, "metropole", 1, 1, false, "17.60", "1 adult, 1 child, not accommodated: 10.20 + 7.40"},
		{"guyane 1 adult not accommodated", s2026, "guyane", 1, 0, false, "8.50", "1 adult, not accommodated: 3.80 + 4.70"},
		{"saint-martin 2 adults 3 children", s2026, "saint-martin", 2, 3, false, "26.80", "2 adults, 3 children, not accommodated: 17.40 + 2 × 4.70"},
		{"per household", &household, "metropole", 2, 1, false, "21.00", "2 adults, 1 child, not accommodated: 13.60 + 7.40"},
		{"ten persons", s2026, "metropole", 2, 8, true, "37.40", "2 adults, 8 children, accommodated: 37.40"},
		{"eleven persons", s2026, "metropole", 2, 9, true, "40.80", "2 adults, 9 children, accommodated: 37.40 + 3.40"},
		{"twelve persons", s2026, "metropole", 2, 10, false, "59.00", "2 adults, 10 children, not accommodated: 37.40 + 2 × 3.40 + 2 × 7.40"},
		{"twelve persons guyane", s2026, "guyane", 1, 11, true, "41.20", "1 adult, 11 children, accommodated: 34.40 + 2 × 3.40"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			daily, why, err := tc.s.ADADaily(tc.territory, tc.adults, tc.children, tc.accommodated)
			if err != nil {
				t.Fatal(err)
			}
			if daily.StringFixed(2) != tc.daily || why != tc.why {
				t.Errorf("= %s, %q; want %s, %q", daily.StringFixed(2), why, tc.daily, tc.why)
			}
		})
	}
	// The monthly amounts of the worked examples follow from the daily ones.
	for _, tc := range []struct {
		days  int64
		daily string
		due   string
	}{{29, "14.20", "411.80"}, {30, "13.60", "408.00"}, {30, "28.40", "852.00"}, {20, "6.80", "136.00"}, {30, "8.50", "255.00"}} {
		if got := decimal.RequireFromString(tc.daily).Mul(decimal.NewFromInt(tc.days)).StringFixed(2); got != tc.due {
			t.Errorf("%d × %s = %s, want %s", tc.days, tc.daily, got, tc.due)
		}
	}
	if _, _, err := s2026.ADADaily("mayotte", 1, 0, false); err == nil || errs.CodeOf(err) != errs.Invalid ||
		!strings.Contains(err.Error(), `territory: "mayotte" is not a territory`) {
		t.Errorf("unknown territory: err = %v", err)
	}
	if _, _, err := s2026.ADADaily("metropole", 0, 1, false); err == nil {
		t.Error("no adult: no error")
	}
}

// TestLoadSchedulesRefuses checks that each bad schedule file under
// testdata/schedules is refused with an error naming the field at fault.
func TestLoadSchedulesRefuses(t *testing.T) {
	for _, tc := range []struct{ file, field, message string }{
		{"gap-territory.json", "versions[1].ada.above_ten.guyane", "is missing, while versions[0] has it"},
		{"gap-field.json", "versions[2].return.channel", "is missing, while versions[1] has it"},
		{"overlap.json", "versions[1].effective_from", "2017-04-01 is also the effective_from of versions[0]: two versions on one day overlap"},
		{"unsorted.json", "versions[1].effective_from", "2017-04-01 is before versions[0]'s 2018-06-01"},
		{"negative-rate.json", "versions[1].ada.base.metropole[3]", "-1.00 is negative"},
		{"three-decimals.json", "versions[1].ada.additional.guyane", "4.705 has more than two decimals"},
		{"unknown-field.json", "versions[0].reinsertion.social_triple", "unknown field"},
		{"base-nine-sizes.json", "versions[0].ada.base.guyane", "has 9 amounts, not 10"},
		{"base-decreasing.json", "versions[0].ada.base.metropole[5]", "20.00 for 6 persons is less than 20.40 for 5"},
		{"missing-field.json", "versions[1].return.travel_document", "is required"},
		{"bad-country.json", "versions[0].return.countries.ZZ", `"ZZ" is not an ISO 3166-1 alpha-2 country code`},
		{"unknown-group.json", "versions[0].return.default_group", `"others" is not a group (other, visa_exempt)`},
		{"band-months.json", "versions[0].return.band_months[1]", "1 is not more than band_months[0], 4"},
		{"additional-per.json", "versions[0].ada.additional_per", `"person" is not adult or household`},
		{"recovery-cap.json", "versions[0].ada.recovery_cap", "1.5 is not a share more than 0 and at most 1"},
		{"band-amounts.json", "versions[0].return.groups.other.increased", "has 2 amounts, not 3"},
		{"territory-mismatch.json", "versions[0].ada.additional.saint-martin", `"saint-martin" is not a territory of ada.base`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadScheduleFile(filepath.Join("testdata", "schedules", tc.file))
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *errs.Error", err)
			}
			if e.Code != errs.Invalid || e.Field != tc.field || !strings.Contains(e.Message, tc.message) {
				t.Errorf("err = %s (%s), want field %s and message %q", e.Error(), e.Code, tc.field, tc.message)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("err = %v does not name the file", err)
			}
		})
	}
}

func TestLoadSchedulesValid(t *testing.T) {
	s, err := LoadScheduleFile(filepath.Join("testdata", "schedules", "valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Versions()); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
	v, err := s.On(schedDay("2018-06-01"))
	if err != nil || v.Version != "2018-06" || v.Return.Channel == nil {
		t.Errorf("On(2018-06-01) = %+v, %v", v, err)
	}
}

func TestLoadSchedulesOther(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "holds no JSON value"},
		{"no versions", `{"versions": []}`, "versions: must hold at least one version"},
		{"not an object", `[]`, "must be a JSON object"},
		{"trailing data", `{"versions": []} {}`, "unexpected data after the JSON value"},
		{"bad amount", `{"versions": [{"ada": {"recovery_cap": "lots"}}]}`, "versions[0].ada.recovery_cap: "},
		{"bad date", `{"versions": [{"effective_from": "2018-13-01"}]}`, "versions[0].effective_from: "},
		{"null version", `{"versions": [null]}`, "versions[0].version: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSchedules(strings.NewReader(tc.doc))
			if err == nil || errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want an invalid-input error containing %q", err, tc.want)
			}
		})
	}
	big := strings.NewReader(`{"versions": [` + strings.Repeat(" ", MaxScheduleFileBytes) + `]}`)
	if _, err := LoadSchedules(big); errs.CodeOf(err) != errs.TooLarge {
		t.Errorf("too large: err = %v", err)
	}
	if _, err := LoadScheduleFile(filepath.Join("testdata", "schedules", "nosuch.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestReinsertionCeilingUsesDefaultSchedule(t *testing.T) {
	for _, tc := range []struct {
		level            ReinsertionLevel
		adults, children int
		want             string
	}{
		{LevelSocial, 1, 0, "400.00"},
		{LevelSocial, 0, 0, "400.00"},
		{LevelSocial, 2, 0, "800.00"},
		{LevelSocial, 3, 2, "1400.00"},
		{LevelSocial, 1, 3, "1300.00"},
		{LevelEmployment, 2, 5, "4000.00"},
		{LevelBusinessCreation, 1, 0, "7000.00"},
		{"holiday", 1, 0, "0.00"},
	} {
		if got := ReinsertionCeiling(tc.level, tc.adults, tc.children).StringFixed(2); got != tc.want {
			t.Errorf("ReinsertionCeiling(%s, %d, %d) = %s, want %s", tc.level, tc.adults, tc.children, got, tc.want)
		}
	}
}

// TestScheduleJSONFields checks that each MarshalJSON of the schedule types
// writes every field of its type.
func TestScheduleJSONFields(t *testing.T) {
	s := DefaultSchedules().Latest()
	res, err := ComputeReturn(ReturnGrant{Country: "GE", Adults: 1, RemovalOrderNotifiedOn: schedDay("2026-10-20"),
		ValidatedOn: schedDay("2026-11-05")}, DefaultSchedules())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{s.ADA, s.Return, s.Return.Groups["other"], *s.Return.Channel, s.Reinsertion, res} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if _, ok := got[name]; !ok {
				t.Errorf("%s.MarshalJSON does not write %s (%s)", typ.Name(), f.Name, name)
			}
		}
		if len(got) != typ.NumField() {
			t.Errorf("%s.MarshalJSON writes %d fields, the type has %d", typ.Name(), len(got), typ.NumField())
		}
	}
}
