// Package deploy holds what operators deploy beside ledgerd: the
// Prometheus alerting rules with their unit tests (prometheus/) and the
// Grafana dashboard (grafana/). Its tests check the rules with promtool and
// that ledgerd exports every series the rules and the dashboard name.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
	httptransport "github.com/ofii/allowances/transport/http"
)

// TestPromtool checks the rules and runs their unit tests with promtool.
// Under CI (CI set) a missing promtool fails the test: .ci/run installs it.
func TestPromtool(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (Debian: apt-get install prometheus); .ci/run installs it")
		}
		t.Skip("promtool is not installed (Debian: apt-get install prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var (
	ruleExpr  = regexp.MustCompile(`(?m)^\s+expr:\s*(.+)$`)
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	braces    = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKey = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the series a PromQL expression reads: its identifiers
// that are neither functions, keywords, label names nor durations.
func metricNames(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = braces.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " ")
		if promqlKey[strings.ToLower(name)] || strings.HasPrefix(rest, "(") {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (endpoint, outcome) (rate(bank_requests_total{outcome="ok"}[5m])) > 0 and on () hour() >= 12 ` +
		`and ledger_x < scalar(floor(vector(time()) / 86400) * (day_of_week() == bool 1))`)
	if strings.Join(got, ",") != "bank_requests_total,ledger_x" {
		t.Errorf("metricNames = %v", got)
	}
}

// wanted is every series the rules and the dashboard read.
func wanted(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := 0
	for _, m := range ruleExpr.FindAllStringSubmatch(string(rules), -1) {
		exprs++
		for _, n := range metricNames(m[1]) {
			set[n] = true
		}
	}
	raw, err := os.ReadFile("grafana/allowances.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			ns := metricNames(tg.Expr)
			if len(ns) == 0 {
				t.Errorf("panel %q reads no series: %q", p.Title, tg.Expr)
			}
			for _, n := range ns {
				set[n] = true
			}
		}
	}
	if exprs < 15 || len(set) < 10 {
		t.Fatalf("read %d expressions naming %d series: the files were not understood", exprs, len(set))
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestEveryMetricIsExported starts ledgerd in dev mode and scrapes its
// /metrics until every series of the rules and the dashboard is there.
func TestEveryMetricIsExported(t *testing.T) {
	names := wanted(t)
	_, url := dbtest.MustOpen(t)
	env := map[string]string{
		"DATABASE_URL": url, "HTTP_ADDR": "127.0.0.1:0", "LEDGER_DEV": "true",
		"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0", "BANK_EMBEDDED_ADDR": "127.0.0.1:0", "ADA_RUN_DAY": "28", "BANK_POLL_INTERVAL": "200ms",
		"AUTH_TOKENS": "ops:admin:" + httptransport.HashToken(adminToken),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan server.Addrs, 1), make(chan error, 1)
	// A clock before the run day: the monthly run is not due.
	clock := func() time.Time { return time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC) }
	go func() {
		done <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready, server.WithClock(clock))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("ledgerd did not stop")
		}
	})
	var addrs server.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("ledgerd stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ledgerd did not start")
	}
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		exported := scrape(t, "http://"+addrs.HTTP+"/metrics")
		missing = missing[:0]
		for _, n := range names {
			if !exported[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("ledgerd does not export %s, which the rules or the dashboard read", strings.Join(missing, ", "))
	}

	// A verify of the books through the API sets the verify series.
	req, _ := http.NewRequest("GET", "http://"+addrs.HTTP+"/v1/verify", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/verify = %d", resp.StatusCode)
	}
	v := values(t, "http://"+addrs.HTTP+"/metrics")
	if v["ledger_verify_last_ok"] != "1" || v[`ledger_verify_runs_total{outcome="ok"}`] != "1" ||
		v[`ledger_verify_runs_total{outcome="problems"}`] != "0" || v["ledger_verify_last_run_timestamp_seconds"] == "0" ||
		v["ledger_payments_in_transit_overdue"] != "0" || v[`ledger_statement_last_date_timestamp_seconds{account="bank:main"}`] != "0" {
		t.Errorf("after a verify: %v", v)
	}
}

const adminToken = "ops-admin-token-0123456789"

// values returns the samples /metrics serves, by series as written.
func values(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ledger_") {
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				out[line[:i]] = line[i+1:]
			}
		}
	}
	return out
}

// scrape returns the names of the metric families /metrics serves.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
		}
	}
	return out
}
