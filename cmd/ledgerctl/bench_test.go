package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/bench"
)

// benchReportOf3 is the report of three runs whose bulk writes were
// multi-row INSERTs: one ratio passes on its median though one run missed,
// one misses though one run passed, one is information.
func benchReportOf3() bench.Report {
	res := []bench.Result{
		{Step: "a", Name: "COPY floor", N: 1000, Seconds: 0.5, Rate: 2000, Unit: "rows/s"},
		{Step: "w", Name: "the whole month", N: 1000, Seconds: 3.9, Rate: 256, Unit: "households/s", Phases: []bench.Phase{
			{Name: bench.PhaseRun, Seconds: 1}, {Name: bench.PhaseApproval, Seconds: 0.9}, {Name: bench.PhaseRelease, Seconds: 2}}},
	}
	return bench.Report{
		Started: time.Date(2026, time.December, 4, 23, 0, 0, 0, time.UTC),
		Options: bench.Options{Database: "h_month", Steps: "w", BulkWrite: "insert", Sizes: []int{1000}, Households: []int{1000}},
		Machine: bench.Machine{GoVersion: "go1.x", ServerVersion: "PostgreSQL 15", SharedBuffers: "128MB", BulkWrite: "insert"},
		Results: res,
		Runs:    [][]bench.Result{res, res, res},
		Ratios: []bench.Ratio{
			{Name: "w/a N=1000", Value: 7.8, Min: 7.1, Max: 9.3, Runs: 3, Target: "<= 8", Pass: true},
			{Name: "b/a N=1000", Value: 2.4, Min: 1.9, Max: 2.6, Runs: 3, Target: "<= 2"},
			{Name: "w run/a N=1000", Value: 2, Min: 1.5, Max: 2.5, Runs: 3, Info: true},
		},
	}
}

// TestBenchSummary: the summary of three runs is one block (no blank line
// within the ratio table, no per-step results) that says the bulk write
// method, and judges every ratio on its median with the range.
func TestBenchSummary(t *testing.T) {
	var buf bytes.Buffer
	if err := printBenchSummary(&buf, benchReportOf3()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`3 runs, bulk writes insert`,
		`bulk writes\s+insert \(--bulk-write insert\)`,
		`RATIO\s+MEDIAN OF 3 \(MIN-MAX\)\s+TARGET\s+RESULT`,
		`w/a N=1000\s+7\.80 \(7\.10-9\.30\)\s+<= 8\s+PASS`,
		`b/a N=1000\s+2\.40 \(1\.90-2\.60\)\s+<= 2\s+MISS`,
		`w run/a N=1000\s+2\.00 \(1\.50-2\.50\)\s+-\s+info`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("summary lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "TPC-B scale") || strings.Contains(out, "timed steps") {
		t.Errorf("summary gives the settings of steps not run:\n%s", out)
	}
	if strings.Contains(out, "the whole month") || strings.Contains(out, "run 2 of 3") {
		t.Errorf("summary holds per-step results:\n%s", out)
	}
	if _, ratios, _ := strings.Cut(out, "RATIO"); strings.Contains(strings.TrimRight(ratios, "\n"), "\n\n") {
		t.Errorf("the ratio table is not one block:\n%s", out)
	}
}

// TestBenchReportPhases: the full report prints the whole month's phases
// under it, in every run's table, and the bulk write method.
func TestBenchReportPhases(t *testing.T) {
	var buf bytes.Buffer
	if err := printBenchReport(&buf, benchReportOf3()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "  release"); n != 3 {
		t.Errorf("the release phase is printed %d times, want once per run (3):\n%s", n, out)
	}
	if !strings.Contains(out, "insert (--bulk-write insert)") {
		t.Errorf("the report does not say the bulk writes were inserts:\n%s", out)
	}
}
