package bench

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	for _, tt := range []struct {
		target     string
		v          float64
		pass, info bool
	}{
		{"<= 2", 2, true, false},
		{"<= 2", 2.01, false, false},
		{">= 30000", 29999, false, false},
		{">= 0.5", 0.5, true, false},
		{"<= 512 MiB", 100, true, false},
		{"< 1", 1, false, false},
		{"", 7, false, true},
		{"about 3", 3, false, false},
	} {
		pass, info := judge(tt.target, tt.v)
		if pass != tt.pass || info != tt.info {
			t.Errorf("judge(%q, %g) = %t, %t; want %t, %t", tt.target, tt.v, pass, info, tt.pass, tt.info)
		}
	}
}

// TestMedianRatios: the median of three runs decides, not the best one,
// and the range is kept.
func TestMedianRatios(t *testing.T) {
	run := func(b, f float64) Report {
		return Report{Ratios: []Ratio{{Name: "b/a", Value: b, Target: "<= 2"}, {Name: "f/g", Value: f}}}
	}
	got := medianRatios([]Report{run(1.5, 0.2), run(2.5, 0.1), run(3, 0.3)})
	if len(got) != 2 {
		t.Fatalf("ratios = %+v", got)
	}
	b, f := got[0], got[1]
	if b.Value != 2.5 || b.Min != 1.5 || b.Max != 3 || b.Pass || b.Info || b.Runs != 3 {
		t.Errorf("b/a = %+v; want median 2.5 (1.5-3), a miss", b)
	}
	if f.Value != 0.2 || !f.Info || f.Pass {
		t.Errorf("f/g = %+v; want median 0.2, information", f)
	}
	got = medianRatios([]Report{run(1, 0), run(3, 0)})
	if got[0].Value != 2 || !got[0].Pass {
		t.Errorf("median of two = %+v; want 2, a pass", got[0])
	}
}

// TestSteps: the COPY floor runs always and g with f; an unknown step is
// refused, naming the field.
func TestSteps(t *testing.T) {
	o := Options{Steps: "fv"}
	for step, want := range map[string]bool{"a": true, "b": false, "f": true, "g": true, "v": true, "k": false} {
		if got := o.has(step); got != want {
			t.Errorf("steps %q: has(%s) = %t, want %t", o.Steps, step, got, want)
		}
	}
	if all := (Options{}); !all.has("k") || !all.has("m") {
		t.Error("no steps given does not run every step")
	}
	bad := Options{DatabaseURL: "postgres://x/y", Steps: "fz"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Errorf("Validate(steps fz) = %v, want an error naming steps", err)
	}
}

// TestMonthRatios: the whole month is judged against 8 times the COPY of
// as many rows, each phase is information, and the peak RSS has its bound.
func TestMonthRatios(t *testing.T) {
	rs := []Result{
		{Step: "a", N: 1000, Seconds: 0.5},
		{Step: "w", N: 1000, Seconds: 3.9, PeakRSS: 600 << 20, Phases: []Phase{
			{Name: PhaseRun, Seconds: 1}, {Name: PhaseApproval, Seconds: 0.9}, {Name: PhaseRelease, Seconds: 2}}},
	}
	got := ratios(rs)
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	want := []string{"w/a N=1000", "w run/a N=1000", "w approval/a N=1000", "w release/a N=1000", "w peak RSS N=1000"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Fatalf("ratios %q, want %q", names, want)
	}
	w := got[0]
	if pass, info := judge(w.Target, w.Value); w.Target != "<= 60" || w.Value != 7.8 || !pass || info {
		t.Errorf("w/a = %+v; want 7.8 against <= 60, a pass", w)
	}
	if release := got[3]; release.Value != 4 || release.Target != "" {
		t.Errorf("release/a = %+v; want 4, information", release)
	}
	if rss := got[4]; rss.Value != 600 || rss.Target != "<= 256 MiB" || rss.Pass {
		t.Errorf("peak RSS = %+v; want 600 MiB against <= 256 MiB, a miss", rss)
	}
	bad := Options{DatabaseURL: "postgres://x/y", BulkWrite: "fast"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "bulk write") {
		t.Errorf("Validate(bulk write fast) = %v, want an error naming bulk write", err)
	}
}
