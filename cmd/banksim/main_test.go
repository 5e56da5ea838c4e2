package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank/banksim"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParse(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		o, err := parse(nil, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.config
		if o.addr != "127.0.0.1:8090" || c.Account != banksim.DefaultAccount || c.OpeningBalance.StringFixed(2) != "10000000.00" ||
			c.ReturnAfterDays != 3 || c.BatchBooking || c.Token != "" || c.Today != nil || o.faults != (banksim.Faults{}) {
			t.Errorf("defaults: %+v", o)
		}
	})
	t.Run("EnvironmentThenFlags", func(t *testing.T) {
		env := envOf(map[string]string{
			"BANKSIM_ADDR":          "127.0.0.1:9999",
			"BANKSIM_TOKEN":         "from-env",
			"BANKSIM_REJECT_IBANS":  "FR7630004000031234567890143, FR14 2004 1010 0505 0001 3M02 606",
			"BANKSIM_BATCH_BOOKING": "true",
			"BANKSIM_ERROR_RATE":    "0.25",
			"BANKSIM_TODAY":         "2026-11-02",
		})
		o, err := parse([]string{"-token", "from-flag", "-latency", "150ms", "-return-ibans", "FR7030002005500000157845Z02"}, env, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.config
		if o.addr != "127.0.0.1:9999" || c.Token != "from-flag" || !c.BatchBooking || o.faults.ErrorRate != 0.25 ||
			o.faults.Latency != 150*time.Millisecond || len(c.RejectIBANs) != 2 || !c.RejectIBANs["FR1420041010050500013M02606"] ||
			!c.ReturnIBANs["FR7030002005500000157845Z02"] || c.Today() != ledger.NewDate(2026, time.November, 2) {
			t.Errorf("parsed %+v", o)
		}
	})
	for _, args := range [][]string{
		{"-account", "FR7630001007941234567890186"},
		{"-opening-balance", "ten"},
		{"-opening-balance", "1.005"},
		{"-fee-per-file", "-1"},
		{"-reject-ibans", "FR76,FR7630004000031234567890143"},
		{"-return-after-days", "0"},
		{"-batch-booking", "maybe"},
		{"-error-rate", "1.5"},
		{"-latency", "-1s"},
		{"-today", "tomorrow"},
		{"-seed", "x"},
		{"extra"},
	} {
		if _, err := parse(args, envOf(nil), io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// syncBuffer collects the logs of a running server.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-token", "t0k", "-today", "2026-11-02"}, envOf(nil), &logs,
			func(addr string) { addrs <- addr })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get("/sim/clock", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without token: %d", resp.StatusCode)
	}
	resp := get("/v1/statements?iban="+banksim.DefaultAccount+"&date=2026-11-02", "t0k")
	var docs []struct{ XML string }
	if err := json.NewDecoder(resp.Body).Decode(&docs); err != nil || len(docs) != 1 || !strings.Contains(docs[0].XML, "<Cd>OPBD</Cd>") {
		t.Errorf("statement: %d %v %+v", resp.StatusCode, err, docs)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	for _, want := range []string{`"msg":"banksim listening"`, `"msg":"banksim stopped"`, `"account":"FR76 **** **** 0185"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), banksim.DefaultAccount) {
		t.Errorf("logs show the IBAN:\n%s", logs.String())
	}
}
