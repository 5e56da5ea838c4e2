package httptransport

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

func newTestObserver(t *testing.T, logs *syncBuffer) *observer {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &observer{
		logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		metrics: m,
		maxBody: 1024,
	}
}

func TestObserverRecoversPanics(t *testing.T) {
	logs := &syncBuffer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := newTestObserver(t, logs).wrap(mux)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code != "internal" || b.Error.Message != "internal error" {
		t.Errorf("body = %s", rec.Body)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log = %q: %v", logs.String(), err)
	}
	if line["level"] != "ERROR" || line["route"] != "/boom" || line["status"] != float64(500) ||
		!strings.HasPrefix(line["error"].(string), "panic: boom") {
		t.Errorf("log line = %v", line)
	}
}

func TestObserverRequestID(t *testing.T) {
	logs := &syncBuffer{}
	var seen string
	h := newTestObserver(t, logs).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestIDFrom(r.Context())
	}))
	tests := []struct {
		name, given string
		kept        bool
	}{
		{"Given", "req-7f3a", true},
		{"Absent", "", false},
		{"Unprintable", "bad\x01id", false},
		{"TooLong", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/anything", nil)
			if tt.given != "" {
				req.Header.Set("X-Request-Id", tt.given)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if got != seen {
				t.Errorf("header %q, context %q", got, seen)
			}
			if tt.kept && got != tt.given {
				t.Errorf("request id = %q, want %q", got, tt.given)
			}
			if !tt.kept {
				if _, err := uuid.Parse(got); err != nil {
					t.Errorf("generated request id %q is not a UUID", got)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), `"route":"unmatched"`) {
		t.Errorf("a request no pattern matched is not logged as unmatched:\n%s", logs)
	}
}

func TestRouteOf(t *testing.T) {
	tests := map[string]string{
		"GET /v1/accounts/{code}/balance": "/v1/accounts/{code}/balance",
		"/healthz":                        "/healthz",
		"/":                               "unmatched",
		"":                                "unmatched",
	}
	for pattern, want := range tests {
		if got := routeOf(pattern); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", pattern, got, want)
		}
	}
}
