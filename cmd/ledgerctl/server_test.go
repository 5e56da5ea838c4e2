package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
)

// testLedgerd is a ledgerd in dev mode run in the test process on a fresh
// database, through the same code as production, with the staff of
// staffTokens. The staff commands of ledgerctl call it.
type testLedgerd struct {
	URL   string       // base URL of its API
	DSN   string       // its database, for the commands that use it directly
	Home  string       // XDG_CONFIG_HOME of the ledgerctl runs: no token file unless a test writes one
	Addrs server.Addrs // where it listens: API, embedded broker and bank
}

// startLedgerd starts a ledgerd with the settings of env over the test
// defaults (a fresh database, AUTH_TOKENS of staffTokens, no monthly run,
// one bank pass at start), reading the time from runClock, and stops it
// when the test ends.
func startLedgerd(t *testing.T, env map[string]string, opts ...server.Option) *testLedgerd {
	t.Helper()
	dsn := env["DATABASE_URL"]
	if dsn == "" {
		var pool *pgxpool.Pool
		pool, dsn = dbtest.MustOpen(t)
		pool.Close()
	}
	settings := map[string]string{
		"LEDGER_DEV": "true", "DATABASE_URL": dsn, "HTTP_ADDR": "127.0.0.1:0",
		"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0", "BANK_EMBEDDED_ADDR": "127.0.0.1:0",
		"AUTH_TOKENS": staffTokens, "ADA_RUN_DAY": "0", "BANK_POLL_INTERVAL": "1h", "LOG_LEVEL": "error",
	}
	for k, v := range env {
		settings[k] = v
	}
	cfg, err := config.Load(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatalf("ledgerd settings: %v", err)
	}
	opts = append([]server.Option{server.WithClock(func() time.Time { return runClock() })}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan server.Addrs, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- server.Run(ctx, cfg, log, ready, opts...) }()
	s := &testLedgerd{DSN: dsn, Home: t.TempDir()}
	select {
	case s.Addrs = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("ledgerd stopped at start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("ledgerd did not start in 60 s")
	}
	s.URL = "http://" + s.Addrs.HTTP
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("ledgerd did not stop in 30 s")
		}
	})
	return s
}

// env is the environment of a ledgerctl acting with token against s.
func (s *testLedgerd) env(token string) map[string]string {
	return map[string]string{"LEDGER_URL": s.URL, "LEDGER_TOKEN": token, "DATABASE_URL": s.DSN, "XDG_CONFIG_HOME": s.Home}
}

// as runs ledgerctl with args as the holder of token, against s, with
// stdin as standard input.
func (s *testLedgerd) as(t *testing.T, token, stdin string, args ...string) result {
	t.Helper()
	env := s.env(token)
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

// pool opens a pool on s's database, for setting up what has no API (the
// eligibility events) and for checking what the commands left.
func (s *testLedgerd) pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := db.Open(context.Background(), s.DSN)
	if err != nil {
		t.Fatalf("open the test database: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// hangUpServer starts a peer that reads each request whole, then hangs up
// without an answer, as a server that dies once it has the request does;
// it returns its base URL.
func hangUpServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}
