package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

const adminToken, payToken, approveToken = "test-admin-token", "test-preparer-token", "test-approver-token"

// TestSimulatedIsMarked runs a month's payment through ledgerd twice: in dev
// mode, where the embedded bank simulator stands in for BANK_URL and the
// embedded broker for KAFKA_BROKERS, and started for real, with BANK_URL
// naming a bank (the simulator's HTTP interface, served apart, as a bank
// would be) and KAFKA_BROKERS a broker. /readyz says which; the payment
// file sent and the statements fetched are marked simulated in dev mode
// alone, through the API.
func TestSimulatedIsMarked(t *testing.T) {
	for _, c := range []struct {
		name string
		dev  bool
	}{{"DevMode", true}, {"ForReal", false}} {
		t.Run(c.name, func(t *testing.T) {
			_, url := dbtest.MustOpen(t)
			env := map[string]string{
				"DATABASE_URL": url,
				"HTTP_ADDR":    "127.0.0.1:0",
				"AUTH_TOKENS": "ops:admin:" + httptransport.HashToken(adminToken) + ";pay:preparer:" + httptransport.HashToken(payToken) +
					";appr:approver:" + httptransport.HashToken(approveToken),
				"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
				"BANK_EMBEDDED_ADDR":  "127.0.0.1:0",
				"ADA_RUN_DAY":         "0",
				"BANK_POLL_INTERVAL":  "50ms",
			}
			if c.dev {
				env["LEDGER_DEV"] = "true"
			} else {
				broker, err := kafka.StartEmbedded(0, 1, "eligibility.v1", "eligibility.v1.dlq")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(broker.Close)
				env["KAFKA_BROKERS"] = broker.Addr()
				bank := httptest.NewServer(banksim.New(banksim.Config{Account: banksim.DefaultAccount,
					OpeningBalance: decimal.RequireFromString("10000000.00")}))
				t.Cleanup(bank.Close)
				env["BANK_URL"] = bank.URL
			}
			cfg, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			// ledgerd's clock, which the test moves past the execution date
			// so that the statements of those days are due.
			var days atomic.Int64
			now := func() time.Time { return time.Now().AddDate(0, 0, int(days.Load())) }
			addrs := start(t, cfg, server.WithClock(now))
			api := client{t: t, base: "http://" + addrs.HTTP}

			var ready struct {
				Status string `json:"status"`
				Detail struct {
					Mode server.Mode `json:"mode"`
				} `json:"detail"`
			}
			api.do("GET", "/readyz", "", "", "", 200, &ready)
			want := server.Mode{Dev: false, Bank: server.BankReal, Kafka: server.KafkaBrokers}
			if c.dev {
				want = server.Mode{Dev: true, Bank: server.BankSimulator, Kafka: server.KafkaEmbedded}
			}
			got := ready.Detail.Mode
			if got.Dev != want.Dev || got.Bank != want.Bank || got.Kafka != want.Kafka {
				t.Errorf("/readyz mode = %+v, want %+v", got, want)
			}
			if c.dev != strings.Contains(got.Warning, "pays nobody") {
				t.Errorf("/readyz mode warning = %q, in dev mode %v", got.Warning, c.dev)
			}

			// October, paid: the eligibility events, the run, two people
			// approve and release it, ledgerd sends the file and applies the
			// bank's status report.
			publishExamples(t, map[bool]string{true: addrs.Kafka, false: env["KAFKA_BROKERS"]}[c.dev])
			waitFor(t, "the events to be applied", func() bool {
				return api.status("/v1/beneficiaries/OFII-2026-000123") == 200
			})
			var run struct {
				BatchID string `json:"batch_id"`
			}
			api.do("POST", "/v1/runs", payToken, "application/json", `{"kind":"ada","period":"2026-10"}`, 201, &run)
			api.do("POST", "/v1/batches/"+run.BatchID+"/submit", payToken, "application/json", `{}`, 200, nil)
			api.do("POST", "/v1/batches/"+run.BatchID+"/approve", approveToken, "application/json", `{}`, 200, nil)
			api.do("POST", "/v1/batches/"+run.BatchID+"/release", approveToken, "application/json", `{}`, 200, nil)
			waitFor(t, "the bank to take and accept the payments", func() bool {
				var b struct {
					Status string `json:"status"`
				}
				api.do("GET", "/v1/batches/"+run.BatchID, adminToken, "", "", 200, &b)
				return b.Status == string(payments.BatchSettled)
			})
			var files struct {
				Files []map[string]any `json:"files"`
			}
			api.do("GET", "/v1/batches/"+run.BatchID+"/files", adminToken, "", "", 200, &files)
			if len(files.Files) != 1 {
				t.Fatalf("files = %v, want one", files.Files)
			}
			f := files.Files[0]
			if f["status"] != string(payments.FileAccepted) {
				t.Errorf("file status = %v, want accepted", f["status"])
			}
			if sim, ok := f["simulated"]; c.dev && sim != true || !c.dev && ok {
				t.Errorf("file simulated = %v (set: %v), want it set to true in dev mode only", sim, ok)
			}

			// Two business days after the execution date, ledgerd fetches the
			// statements of the two days before.
			exec, err := ledger.ParseDate(f["execution_date"].(string))
			if err != nil {
				t.Fatal(err)
			}
			today := sepa.AddBusinessDays(exec, 2)
			days.Store(int64(today.Time().Sub(payments.LegalDay(time.Now()).Time()).Hours() / 24))
			api.do("POST", addrs.Bank+"/sim/clock", "", "application/json", `{"today":"`+today.String()+`"}`, 200, nil)
			var rep struct {
				StatementFound     bool   `json:"statement_found"`
				StatementSimulated *bool  `json:"statement_simulated"`
				Lines              int    `json:"lines"`
				Verdict            string `json:"verdict"`
				Matched            map[string]struct {
					Count int `json:"count"`
				} `json:"matched"`
			}
			waitFor(t, "the statements to be fetched", func() bool {
				api.do("GET", "/v1/reconciliation/report?date="+exec.String(), adminToken, "", "", 200, &rep)
				return rep.StatementFound
			})
			if rep.Lines == 0 || rep.Matched["end_to_end"].Count+rep.Matched["batch"].Count == 0 {
				t.Errorf("report of %s: %d lines, matched %v: the payments are not on it", exec, rep.Lines, rep.Matched)
			}
			if c.dev && (rep.StatementSimulated == nil || !*rep.StatementSimulated) || !c.dev && rep.StatementSimulated != nil {
				t.Errorf("report statement_simulated = %v, want true in dev mode only", rep.StatementSimulated)
			}
			if c.dev != strings.Contains(rep.Verdict, "bank simulator") {
				t.Errorf("verdict %q, in dev mode %v", rep.Verdict, c.dev)
			}

			// The statement imported again says what was stored.
			var docs []struct {
				XML string `json:"xml"`
			}
			api.do("GET", addrs.Bank+"/v1/statements?iban="+banksim.DefaultAccount+"&date="+exec.String(), "", "", "", 200, &docs)
			if len(docs) != 1 {
				t.Fatalf("the bank has %d statements of %s, want 1", len(docs), exec)
			}
			var imp struct {
				Replayed   bool `json:"replayed"`
				Statements []struct {
					Simulated bool `json:"simulated"`
				} `json:"statements"`
			}
			api.do("POST", "/v1/statements", adminToken, "application/xml", docs[0].XML, 200, &imp)
			if !imp.Replayed || len(imp.Statements) != 1 || imp.Statements[0].Simulated != c.dev {
				t.Errorf("import again: %+v, want replayed, simulated %v", imp, c.dev)
			}
		})
	}
}

// TestModeOf: the mode says dev mode only when on, and the simulator only
// when it stands in for BANK_URL.
func TestModeOf(t *testing.T) {
	for _, c := range []struct {
		name        string
		cfg         config.Config
		sim         bool
		want        server.Mode
		warn, never string
	}{
		{"ForReal", config.Config{KafkaBrokers: []string{"k:9092"}, BankURL: "https://bank.example"}, false,
			server.Mode{Bank: server.BankReal, Kafka: server.KafkaBrokers}, "", ""},
		{"Dev", config.Config{Dev: true}, true,
			server.Mode{Dev: true, Bank: server.BankSimulator, Kafka: server.KafkaEmbedded}, "pays nobody", ""},
		{"DevWithBank", config.Config{Dev: true, BankURL: "https://bank.example"}, false,
			server.Mode{Dev: true, Bank: server.BankReal, Kafka: server.KafkaEmbedded}, "embedded Kafka broker", "simulator"},
		{"DevWithBoth", config.Config{Dev: true, KafkaBrokers: []string{"k:9092"}, BankURL: "https://bank.example"}, false,
			server.Mode{Dev: true, Bank: server.BankReal, Kafka: server.KafkaBrokers}, "no simulator stands in", "pays nobody"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := server.ModeOf(c.cfg, c.sim)
			if got.Dev != c.want.Dev || got.Bank != c.want.Bank || got.Kafka != c.want.Kafka {
				t.Errorf("mode = %+v, want %+v", got, c.want)
			}
			if c.warn == "" && got.Warning != "" || !strings.Contains(got.Warning, c.warn) {
				t.Errorf("warning %q, want one saying %q", got.Warning, c.warn)
			}
			if c.never != "" && strings.Contains(got.Warning, c.never) {
				t.Errorf("warning %q says %q", got.Warning, c.never)
			}
		})
	}
}

// start runs the server of cfg until the test ends.
func start(t *testing.T, cfg config.Config, opts ...server.Option) server.Addrs {
	t.Helper()
	return startInstance(t, cfg, opts...).addrs
}

// client calls the API, and the bank's when a path is a whole URL.
type client struct {
	t    *testing.T
	base string
}

// do sends a request as the holder of token, wants status and decodes the
// answer into out when it is not nil.
func (c client) do(method, path, token, contentType, body string, status int, out any) {
	c.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// status is the status of a GET as the admin.
func (c client) status(path string) int {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishExamples sends the contract's valid examples to the broker.
func publishExamples(t *testing.T, broker string) {
	t.Helper()
	data, err := os.ReadFile("../../testdata/contracts/examples/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafkago.Message
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		msgs = append(msgs, kafkago.Message{Key: kafka.KeyOf([]byte(l)), Value: []byte(l)})
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(broker), Topic: "eligibility.v1", Balancer: &kafkago.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}
