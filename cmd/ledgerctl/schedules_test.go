package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/cli"
)

func TestSchedulesShow(t *testing.T) {
	t.Run("On", func(t *testing.T) {
		r := ledgerctl(t, "", "schedules", "show", "--on", "2026-11-01")
		r.want(t, cli.ExitOK, "in force on 2026-11-01", "version         2025-12", "effective from  2025-12-04",
			"+7.40", "+4.70", "6.80", "37.40", "visa_exempt", "1200.00", "2200.00 (standard)", "business creation", "7000.00")
		if strings.Contains(r.stdout, "+5.40") {
			t.Errorf("2026 shows the 2017 additional amount:\n%s", r.stdout)
		}
	})
	t.Run("Before2018", func(t *testing.T) {
		r := ledgerctl(t, "", "schedules", "show", "--on", "2018-05-31")
		r.want(t, cli.ExitOK, "version         2017-04", "+5.40", "channel scheme     none")
	})
	t.Run("Every", func(t *testing.T) {
		r := ledgerctl(t, "", "schedules", "show")
		r.want(t, cli.ExitOK, "4 versions of the rate schedule", "2015-11-01", "2017-04-01", "2018-06-01", "2025-12-04")
	})
	t.Run("JSON", func(t *testing.T) {
		r := ledgerctl(t, "", "-o", "json", "schedules", "show", "--on", "2026-11-01")
		r.want(t, cli.ExitOK)
		var v struct {
			Version string `json:"version"`
			ADA     struct {
				Additional map[string]string `json:"additional"`
			} `json:"ada"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v:\n%s", err, r.stdout)
		}
		if v.Version != "2025-12" || v.ADA.Additional["metropole"] != "7.40" {
			t.Errorf("version %s, additional %v", v.Version, v.ADA.Additional)
		}
	})
	t.Run("JSONReadsBack", func(t *testing.T) {
		r := ledgerctl(t, "", "-o", "json", "schedules", "show")
		r.want(t, cli.ExitOK)
		file := filepath.Join(t.TempDir(), "rates.json")
		if err := os.WriteFile(file, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		r = ledgerctl(t, "", "schedules", "show", "--file", file, "--on", "2017-04-01")
		r.want(t, cli.ExitOK, file+" (--file)", "version         2017-04", "+5.40")
	})
	t.Run("Setting", func(t *testing.T) {
		file, err := filepath.Abs("../../payments/testdata/schedules/valid.json")
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		env := func(k string) string {
			if k == "RATE_SCHEDULE_FILE" {
				return file
			}
			return ""
		}
		code := run(context.Background(), []string{"schedules", "show"}, strings.NewReader(""), &out, &errOut, env)
		if code != cli.ExitOK || !strings.Contains(out.String(), "2 versions of the rate schedule, from "+file+" (RATE_SCHEDULE_FILE)") {
			t.Errorf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		}
	})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"BadOn", []string{"schedules", "show", "--on", "2026-13-01"}, cli.ExitUsage, "error: --on: "},
		{"BadFile", []string{"schedules", "show", "--file", "../../payments/testdata/schedules/negative-rate.json"}, cli.ExitUsage,
			"versions[1].ada.base.metropole[3]: -1.00 is negative"},
		{"MissingFile", []string{"schedules", "show", "--file", "testdata/nosuch.json"}, cli.ExitUsage, "error: --file: "},
		{"BeforeFirst", []string{"schedules", "show", "--on", "2015-10-31"}, cli.ExitFailure, "no rate schedule is in force on 2015-10-31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ledgerctl(t, "", tc.args...)
			r.want(t, tc.code)
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
}
