package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

// TestServe starts the server on a fresh database, as production does, and
// stops it as SIGTERM would.
func TestServe(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	pool.Close()
	const token, payToken, auditToken, approveToken = "test-admin-token", "test-preparer-token", "test-auditor-token", "test-approver-token"
	env := map[string]string{
		"DATABASE_URL": url,
		"HTTP_ADDR":    "127.0.0.1:0",
		"AUTH_TOKENS": "ops:admin:" + httptransport.HashToken(token) + ";pay:preparer:" + httptransport.HashToken(payToken) +
			";audit:auditor:" + httptransport.HashToken(auditToken) + ";appr:approver:" + httptransport.HashToken(approveToken),
		"LOG_LEVEL":           "warn",
		"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
		"BANK_EMBEDDED_ADDR":  "127.0.0.1:0",
		"ADA_RUN_DAY":         "1", // always past: the previous month is due whatever the date
		"BANK_POLL_INTERVAL":  "100ms",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan server.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--dev"}, func(k string) string { return env[k] }, os.Stderr, ready) }()
	var addrs server.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	addr := addrs.HTTP
	get := func(path string, auth bool) *http.Response {
		return getAs(t, addr, path, map[bool]string{true: token}[auth])
	}
	for _, c := range []struct {
		path   string
		auth   bool
		status int
	}{
		{"/healthz", false, 200}, {"/readyz", false, 200}, {"/v1/accounts", false, 401}, {"/v1/accounts", true, 200},
	} {
		resp := get(c.path, c.auth)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s (auth %v) = %d, want %d", c.path, c.auth, resp.StatusCode, c.status)
		}
	}
	resp := get("/v1/accounts/bank:main/balance", true)
	var body struct {
		Balance string `json:"balance"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Balance != "0.00" {
		t.Errorf("bank:main balance = %q, want 0.00 (chart set up at start)", body.Balance)
	}

	// Any Kafka client can publish to the embedded broker: the contract's
	// examples become timelines and dead letters.
	var readyBody struct {
		Detail struct {
			Eligibility struct {
				Topic string `json:"topic"`
			} `json:"eligibility"`
			Mode server.Mode `json:"mode"`
		} `json:"detail"`
	}
	resp = get("/readyz", false)
	_ = json.NewDecoder(resp.Body).Decode(&readyBody)
	resp.Body.Close()
	if readyBody.Detail.Eligibility.Topic != "eligibility.v1" {
		t.Errorf("/readyz detail = %+v, want the consumer's status", readyBody.Detail)
	}
	// --dev: /readyz says the simulators stand in for the bank and Kafka.
	if m := readyBody.Detail.Mode; !m.Dev || m.Bank != server.BankSimulator || m.Kafka != server.KafkaEmbedded {
		t.Errorf("/readyz mode = %+v, want dev mode with the bank simulator and the embedded broker", m)
	}
	publishExamples(t, addrs.Kafka)
	waitFor(t, 30*time.Second, "the examples to be applied", func() bool {
		r := get("/v1/beneficiaries/OFII-2026-000123", true)
		r.Body.Close()
		return r.StatusCode == 200
	})
	var ben struct {
		Payees []struct {
			Payee struct {
				IBAN string `json:"iban"`
			} `json:"payee"`
		} `json:"payees"`
	}
	for _, c := range []struct{ token, iban string }{
		{payToken, "FR7630006000011234567890189"}, {auditToken, "FR76 **** **** 0189"},
	} {
		r := getAs(t, addr, "/v1/beneficiaries/OFII-2026-000123", c.token)
		ben.Payees = nil
		_ = json.NewDecoder(r.Body).Decode(&ben)
		r.Body.Close()
		if len(ben.Payees) == 0 || ben.Payees[0].Payee.IBAN != c.iban {
			t.Errorf("payees seen with %s: %+v, want IBAN %s", c.token, ben.Payees, c.iban)
		}
	}
	for _, c := range []struct {
		path, field string
		status      int
	}{
		{"/v1/beneficiaries/OFII-2026-000123/days?from=2026-11-14&to=2026-11-15", "", 200},
		{"/v1/beneficiaries/OFII-2026-000123/days?from=2026-11-14", "to", 400},
		{"/v1/beneficiaries/OFII-2026-000123/days?from=2026-11-14&to=2026-11-01", "to", 400},
		{"/v1/beneficiaries/OFII-2026-000123/days?from=2026-01-01&to=2027-12-31", "to", 400},
		{"/v1/beneficiaries/OFII-2026-000123/days?from=2026-02-30&to=2026-03-01", "from", 400},
		{"/v1/beneficiaries/NOBODY", "", 404},
		{"/v1/dead-letters?since=yesterday", "since", 400},
		{"/v1/dead-letters?limit=0", "limit", 400},
	} {
		r := get(c.path, true)
		var body struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
			Days []struct {
				Children int `json:"children"`
			} `json:"days"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		r.Body.Close()
		if r.StatusCode != c.status || body.Error.Field != c.field {
			t.Errorf("GET %s = %d naming %q, want %d naming %q", c.path, r.StatusCode, body.Error.Field, c.status, c.field)
		}
		// A child joined OFII-2026-000123's household on 2026-11-15.
		if c.status == 200 && (len(body.Days) != 2 || body.Days[0].Children != 0 || body.Days[1].Children != 1) {
			t.Errorf("days = %+v, want no child on 11-14 and one on 11-15", body.Days)
		}
	}
	// The monthly run: past its day, ledgerd ran the previous month by
	// itself, once.
	waitFor(t, 30*time.Second, "the monthly run", func() bool {
		var runs struct {
			Runs []struct {
				Kind    string `json:"kind"`
				Period  string `json:"period"`
				Trigger string `json:"trigger"`
				Status  string `json:"status"`
			} `json:"runs"`
		}
		r := get("/v1/runs", true)
		_ = json.NewDecoder(r.Body).Decode(&runs)
		r.Body.Close()
		n := 0
		for _, run := range runs.Runs {
			if run.Kind == "ada" && run.Trigger == "schedule" && run.Status == "done" {
				n++
			}
		}
		return n == 1
	})
	waitFor(t, 30*time.Second, "the dead letters", func() bool {
		var dl struct {
			DeadLetters []struct{} `json:"dead_letters"`
		}
		r := get("/v1/dead-letters", true)
		_ = json.NewDecoder(r.Body).Decode(&dl)
		r.Body.Close()
		return len(dl.DeadLetters) == 13
	})

	// October paid through the embedded bank: a preparer runs and submits
	// it, an approver approves and releases it, and ledgerd sends the file
	// and applies the bank's status report by itself.
	var run struct {
		BatchID string `json:"batch_id"`
	}
	postAs(t, addr, "/v1/runs", payToken, `{"kind":"ada","period":"2026-10"}`, 201, &run)
	var batch struct {
		Status string `json:"status"`
		Lines  int    `json:"lines"`
	}
	postAs(t, addr, "/v1/batches/"+run.BatchID+"/submit", payToken, `{}`, 200, &batch)
	if batch.Status != "pending_approval" || batch.Lines == 0 {
		t.Fatalf("submitted batch: %+v", batch)
	}
	postAs(t, addr, "/v1/batches/"+run.BatchID+"/approve", payToken, `{}`, 403, nil)
	postAs(t, addr, "/v1/batches/"+run.BatchID+"/approve", approveToken, `{}`, 200, &batch)
	postAs(t, addr, "/v1/batches/"+run.BatchID+"/release", approveToken, `{}`, 200, &batch)
	waitFor(t, 30*time.Second, "the bank to take and accept the payments", func() bool {
		r := get("/v1/batches/"+run.BatchID, true)
		_ = json.NewDecoder(r.Body).Decode(&batch)
		r.Body.Close()
		return batch.Status == "settled"
	})
	// The file went to the simulator, and says so.
	var files struct {
		Files []struct {
			Status    string `json:"status"`
			Simulated bool   `json:"simulated"`
		} `json:"files"`
	}
	resp = get("/v1/batches/"+run.BatchID+"/files", true)
	_ = json.NewDecoder(resp.Body).Decode(&files)
	resp.Body.Close()
	if len(files.Files) != 1 || files.Files[0].Status != "accepted" || !files.Files[0].Simulated {
		t.Errorf("files = %+v, want one accepted, marked simulated", files.Files)
	}
	resp = get("/v1/accounts/payments-in-transit/balance", true)
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Balance == "0.00" {
		t.Errorf("payments in transit = %s after the release", body.Balance)
	}
	resp = get("/metrics", false)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`bank_breaker_state{endpoint="submit"} 0`, `bank_requests_total{endpoint="submit",outcome="ok"}`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
}

func getAs(t *testing.T, addr, path, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// postAs posts body as the holder of token, wants status, and decodes the
// answer into out when it is not nil.
func postAs(t *testing.T, addr, path, token, body string, status int, out any) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("POST %s = %d, want %d: %s", path, resp.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, b)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishExamples sends the contract's valid and invalid examples with a
// plain kafka-go writer to the broker whose address ledgerd logged.
func publishExamples(t *testing.T, broker string) {
	t.Helper()
	var values [][]byte
	for _, name := range []string{"valid", "invalid"} {
		data, err := os.ReadFile("../../testdata/contracts/examples/" + name + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if name == "invalid" {
				var x struct{ Value string }
				if err := json.Unmarshal([]byte(l), &x); err != nil {
					t.Fatal(err)
				}
				l = x.Value
			}
			values = append(values, []byte(l))
		}
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(broker), Topic: "eligibility.v1", Balancer: &kafkago.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafkago.Message, len(values))
	for i, v := range values {
		msgs[i] = kafkago.Message{Key: kafka.KeyOf(v), Value: v}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestBadSettingsStopTheStart: a server that cannot run as configured
// says which setting is wrong and does not start.
func TestBadSettingsStopTheStart(t *testing.T) {
	_, url := dbtest.MustOpen(t)
	for _, c := range []struct{ name, value, want string }{
		{"RATE_SCHEDULE_FILE", "../../payments/testdata/schedules/negative-rate.json", "RATE_SCHEDULE_FILE"},
		{"RATE_SCHEDULE_FILE", "/nonexistent/schedule.json", "RATE_SCHEDULE_FILE"},
		{"CFONB_REASONS_FILE", "../../README.md", "CFONB_REASONS_FILE: ../../README.md"},
		{"CFONB_REASONS_FILE", "/nonexistent/cfonb-reasons.csv", "CFONB_REASONS_FILE: /nonexistent/cfonb-reasons.csv"},
		{"AUTH_TOKENS", "ops:boss:00", "AUTH_TOKENS"},
	} {
		env := map[string]string{"DATABASE_URL": url, "HTTP_ADDR": "127.0.0.1:0", "KAFKA_EMBEDDED_ADDR": "127.0.0.1:0", "BANK_EMBEDDED_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", c.name: c.value}
		err := run(context.Background(), []string{"--dev"}, func(k string) string { return env[k] }, io.Discard, nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s=%s: err = %v, want one starting with %s", c.name, c.value, err, c.want)
		}
	}
}

// TestNoSimulatorOutsideDevMode: without dev mode, a start that lacks
// BANK_URL or KAFKA_BROKERS stops before anything listens, naming the
// setting, instead of paying through a simulator or reading an empty broker.
func TestNoSimulatorOutsideDevMode(t *testing.T) {
	_, url := dbtest.MustOpen(t)
	base := map[string]string{"DATABASE_URL": url, "HTTP_ADDR": "127.0.0.1:0", "KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
		"BANK_EMBEDDED_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	for _, c := range []struct {
		name          string
		set           map[string]string
		want, notWant string
	}{
		{"NeitherSet", nil, "KAFKA_BROKERS is not set", ""},
		{"NeitherSetBank", nil, "BANK_URL is not set", ""},
		{"NoBankURL", map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, "BANK_URL is not set", "KAFKA_BROKERS"},
		{"NoKafkaBrokers", map[string]string{"BANK_URL": "http://127.0.0.1:1"}, "KAFKA_BROKERS is not set", "BANK_URL"},
		{"DevFalse", map[string]string{"LEDGER_DEV": "false", "KAFKA_BROKERS": "127.0.0.1:1"}, "BANK_URL is not set", ""},
		{"DevNotABool", map[string]string{"LEDGER_DEV": "maybe"}, "LEDGER_DEV", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.set {
				env[k] = v
			}
			ready := make(chan server.Addrs, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, nil, func(k string) string { return env[k] }, io.Discard, ready)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %q", err, c.want)
			}
			if c.notWant != "" && strings.Contains(err.Error(), c.notWant) {
				t.Errorf("err = %v names %s, which is set", err, c.notWant)
			}
			select {
			case a := <-ready:
				t.Errorf("the server started on %v", a)
			default:
			}
		})
	}
}
