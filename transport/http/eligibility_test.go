package httptransport

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// unopenedJSON is the answer of GET /v1/beneficiaries/unopened.
type unopenedJSON struct {
	Beneficiaries []struct {
		ID            string    `json:"id"`
		UnopenedSince time.Time `json:"unopened_since"`
		FirstSeen     time.Time `json:"first_seen"`
		Events        int       `json:"events"`
	} `json:"beneficiaries"`
	NextCursor string `json:"next_cursor"`
}

// A beneficiary whose change waits for its opening shows in the unopened
// list once it has waited the configured days, for every role, and leaves
// it when its opening arrives.
func TestUnopenedBeneficiaries(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	var mu sync.Mutex
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	setNow := func(t time.Time) {
		mu.Lock()
		defer mu.Unlock()
		now = t
	}
	t0 := now
	events := paysql.New(pool, paysql.WithClock(clock), paysql.WithUnopenedDays(3))
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
		"claire:controller:" + HashToken(controllerToken),
	}, ";"))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(sqlstore.New(pool), Options{
		Tokens: tokens, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		MaxBodyBytes: testMaxBody, Beneficiaries: events,
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	a := &testAPI{srv: srv, pool: pool, logs: &syncBuffer{}}

	offset := int64(0)
	apply := func(typ payments.EventType, ben, name string, data map[string]any) {
		t.Helper()
		v, err := json.Marshal(map[string]any{"event_id": uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)), "type": typ,
			"schema_version": 1, "occurred_at": "2026-10-30T09:00:00Z", "beneficiary_id": ben, "data": data})
		if err != nil {
			t.Fatal(err)
		}
		res, err := events.Apply(context.Background(), []payments.Record{{Source: payments.Source{Topic: "eligibility.v1", Offset: offset}, Value: v}})
		offset++
		if err != nil || res[0].Outcome != payments.OutcomeApplied {
			t.Fatalf("%s: %+v, %v", name, res, err)
		}
	}
	list := func(path, token string) unopenedJSON {
		t.Helper()
		r := a.do(t, http.MethodGet, path, token, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, r.status, r.body)
		}
		var out unopenedJSON
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, r.body)
		}
		return out
	}

	apply(payments.HouseholdChanged, "U-9", "u9-hh", map[string]any{"from": "2026-11-10", "adults": 2, "children": 1})
	apply(payments.RightsOpened, "O-9", "o9-open", map[string]any{"from": "2026-11-01", "adults": 1, "children": 0,
		"accommodated": false, "payee": map[string]any{"name": "Amina Diallo", "iban": testIBAN}})

	setNow(t0.Add(3*24*time.Hour - time.Minute))
	if got := list("/v1/beneficiaries/unopened", auditorToken); len(got.Beneficiaries) != 0 || got.Beneficiaries == nil {
		t.Errorf("before 3 days: %+v, want an empty list", got)
	}
	setNow(t0.Add(3 * 24 * time.Hour))
	for _, token := range []string{adminToken, auditorToken, preparerToken, approverToken, controllerToken} {
		got := list("/v1/beneficiaries/unopened", token)
		if len(got.Beneficiaries) != 1 || got.Beneficiaries[0].ID != "U-9" || !got.Beneficiaries[0].UnopenedSince.Equal(t0) ||
			got.Beneficiaries[0].Events != 1 || got.NextCursor != "" {
			t.Errorf("after 3 days: %+v, want U-9 waiting since %s", got, t0)
		}
	}
	// A shorter wait asked for; the beneficiary itself is still readable.
	setNow(t0.Add(24 * time.Hour))
	if got := list("/v1/beneficiaries/unopened?days=1&limit=5", auditorToken); len(got.Beneficiaries) != 1 {
		t.Errorf("days=1 after a day: %+v", got)
	}
	var b struct {
		ID     string `json:"id"`
		Rights []any  `json:"rights"`
	}
	a.get(t, "/v1/beneficiaries/U-9", &b)
	if b.ID != "U-9" || len(b.Rights) != 0 {
		t.Errorf("GET /v1/beneficiaries/U-9: %+v", b)
	}

	for _, tt := range []struct{ path, field string }{
		{"/v1/beneficiaries/unopened?days=0", "days"},
		{"/v1/beneficiaries/unopened?days=a+week", "days"},
		{"/v1/beneficiaries/unopened?days=3651", "days"},
		{"/v1/beneficiaries/unopened?limit=0", "limit"},
		{"/v1/beneficiaries/unopened?cursor=nonsense", "cursor"},
		{"/v1/beneficiaries/unopened?since=2026-11-01", "since"},
	} {
		r := a.do(t, http.MethodGet, tt.path, auditorToken, "")
		if r.status != http.StatusBadRequest || errorOf(t, r).Field != tt.field {
			t.Errorf("GET %s = %d %s, want 400 naming %s", tt.path, r.status, r.body, tt.field)
		}
	}
	if r := a.do(t, http.MethodGet, "/v1/beneficiaries/unopened", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.status)
	}

	// The opening arrives: U-9 leaves the list.
	setNow(t0.Add(5 * 24 * time.Hour))
	apply(payments.RightsOpened, "U-9", "u9-open", map[string]any{"from": "2026-11-01", "adults": 1, "children": 0,
		"accommodated": false, "payee": map[string]any{"name": "Amina Diallo", "iban": testIBAN}})
	if got := list("/v1/beneficiaries/unopened?days=1", auditorToken); len(got.Beneficiaries) != 0 {
		t.Errorf("after U-9's opening: %+v, want none", got)
	}
}
