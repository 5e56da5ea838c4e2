package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/dbtest"
	httptransport "github.com/ofii/allowances/transport/http"
)

// TestServe starts the server on a fresh database, as production does, and
// stops it as SIGTERM would.
func TestServe(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	pool.Close()
	const token = "test-admin-token"
	env := map[string]string{
		"DATABASE_URL": url,
		"HTTP_ADDR":    "127.0.0.1:0",
		"AUTH_TOKENS":  "ops:admin:" + httptransport.HashToken(token),
		"LOG_LEVEL":    "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	get := func(path string, auth bool) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
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
