package httptransport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// doType sends body declared as contentType ("" sends no Content-Type).
func (a *testAPI) doType(t *testing.T, method, path, token, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// TestBadInputIsNot500 sends what PostgreSQL or the decoder used to turn
// into a 500 or silently change: a NUL in a text, bytes that are not UTF-8,
// a body of another type, amounts in exponent form, with three decimals or
// beyond what a balance holds. Each gets a 4xx naming the field, and
// nothing changes: no entry, no seal, no balance moved, the batch as it
// was.
func TestBadInputIsNot500(t *testing.T) {
	a := newApprovalAPI(t, "")
	ctx := context.Background()
	orig := a.post(t, newEntryBody("funding-1", "2026-03-15", "100.00"), http.StatusCreated)
	batch := a.draft(t, preparerToken)
	a.call(t, "POST", "/v1/batches/"+batch+"/submit", preparerToken, "", http.StatusOK, nil)

	type state struct {
		entries, seals int
		bank           string
		batch          string
		reason         string
	}
	snapshot := func() state {
		t.Helper()
		var s state
		if err := a.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM seals)`).Scan(&s.entries, &s.seals); err != nil {
			t.Fatal(err)
		}
		var bal struct {
			Balance string `json:"balance"`
		}
		a.get(t, "/v1/accounts/bank:main/balance", &bal)
		b := a.batch(t, batch)
		s.bank, s.batch, s.reason = bal.Balance, b.Status, b.Workflow.Reason
		return s
	}
	before := snapshot()
	if before.bank != "100.00" || before.batch != "pending_approval" {
		t.Fatalf("before the bad input: %+v", before)
	}

	entry := func(description, memo, key, meta, amount string) string {
		return `{"idempotency_key":"` + key + `","effective_date":"2026-03-16","description":"` + description + `",` +
			`"metadata":{` + meta + `},"lines":[{"account":"bank:main","amount":` + amount + `},` +
			`{"account":"equity:state-funding","amount":"-10.00","memo":"` + memo + `"}]}`
	}
	good := func() string { return entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `"10.00"`) }
	const (
		jsonType = "application/json"
		entries  = "/v1/entries"
	)
	reversal := "/v1/entries/" + orig.ID + "/reversal"
	reject := "/v1/batches/" + batch + "/reject"
	tests := []struct {
		name, path, token, contentType, body string
		wantStatus                           int
		wantField                            string
	}{
		{"NULInDescription", entries, adminToken, jsonType, entry(`Top\u0000up`, "march", "bad-in", `"ref":"r-1"`, `"10.00"`), 400, "description"},
		{"NULInMemo", entries, adminToken, jsonType, entry("Top-up", `ma\u0000rch`, "bad-in", `"ref":"r-1"`, `"10.00"`), 400, "lines[1].memo"},
		{"NULInIdempotencyKey", entries, adminToken, jsonType, entry("Top-up", "march", `bad\u0000in`, `"ref":"r-1"`, `"10.00"`), 400, "idempotency_key"},
		{"NULInMetadataValue", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r\u0000-1"`, `"10.00"`), 400, "metadata.ref"},
		{"NULInMetadataKey", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"re\u0000f":"r-1"`, `"10.00"`), 400, "metadata"},
		{"NULInReversalReason", reversal, adminToken, jsonType, `{"idempotency_key":"rev-1","reason":"typo\u0000"}`, 400, "reason"},
		{"NULInReversalKey", reversal, adminToken, jsonType, `{"idempotency_key":"rev\u00001","reason":"typo"}`, 400, "idempotency_key"},
		{"NULInSealReason", "/v1/seals", adminToken, jsonType, `{"reason":"month end\u0000"}`, 400, "reason"},
		{"NULInRejectReason", reject, approverToken, jsonType, `{"reason":"wrong\u0000 period"}`, 400, "reason"},
		{"InvalidUTF8", entries, adminToken, jsonType, entry("Caf\xe9", "march", "bad-in", `"ref":"r-1"`, `"10.00"`), 400, "body"},
		{"InvalidUTF8Reason", reject, approverToken, jsonType, "{\"reason\":\"p\xe9riode\"}", 400, "body"},
		{"LoneSurrogate", entries, adminToken, jsonType, entry(`Top\ud800up`, "march", "bad-in", `"ref":"r-1"`, `"10.00"`), 400, "body"},
		{"LoneLowSurrogate", reject, approverToken, jsonType, `{"reason":"wrong \udc00 period"}`, 400, "body"},
		{"TextPlain", entries, adminToken, "text/plain", good(), 415, "Content-Type"},
		{"XML", entries, adminToken, "application/xml", good(), 415, "Content-Type"},
		{"Form", entries, adminToken, "application/x-www-form-urlencoded", good(), 415, "Content-Type"},
		{"Latin1", entries, adminToken, "application/json; charset=iso-8859-1", good(), 415, "Content-Type"},
		{"NoContentType", entries, adminToken, "", good(), 415, "Content-Type"},
		{"NotAMediaType", entries, adminToken, "json", good(), 415, "Content-Type"},
		{"TextPlainOptionalBody", reject, approverToken, "text/plain", `{"reason":"wrong period"}`, 415, "Content-Type"},
		{"ExponentNumber", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `1e1`), 400, "lines[0].amount"},
		{"ExponentString", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `"1e1"`), 400, "lines[0].amount"},
		{"ThreeDecimals", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `"1.234"`), 400, "lines[0].amount"},
		{"ThreeDecimalsNumber", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `1.234`), 400, "lines[0].amount"},
		{"PlusSign", entries, adminToken, jsonType, entry("Top-up", "march", "bad-in", `"ref":"r-1"`, `"+10.00"`), 400, "lines[0].amount"},
		{"OverThePostingBound", entries, adminToken, jsonType,
			`{"idempotency_key":"big","effective_date":"2026-03-16","description":"x","lines":[{"account":"bank:main","amount":"10000000000000.00"},` +
				`{"account":"equity:state-funding","amount":"-10000000000000.00"}]}`, 400, "lines[0].amount"},
		{"BeyondABalance", entries, adminToken, jsonType,
			`{"idempotency_key":"huge","effective_date":"2026-03-16","description":"x","lines":[{"account":"bank:main","amount":"100000000000000000000"},` +
				`{"account":"equity:state-funding","amount":"-100000000000000000000"}]}`, 400, "lines[0].amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.doType(t, http.MethodPost, tt.path, tt.token, tt.contentType, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			if e := errorOf(t, r); e.Field != tt.wantField {
				t.Errorf("field = %q (%s), want %q", e.Field, e.Message, tt.wantField)
			}
		})
	}
	// Text in the URL: a path wildcard or a query parameter.
	for _, tt := range []struct{ path, wantField string }{
		{"/v1/accounts/bank:main%00/balance", "code"},
		{"/v1/accounts/caf%E9", "code"},
		{"/v1/accounts?prefix=bank%00", "prefix"},
		{"/v1/accounts?cursor=caf%E9", "cursor"},
		{"/v1/entries/" + orig.ID + "%00", "id"},
		{"/v1/audit?actor=ops%00", "actor"},
	} {
		t.Run("GET "+tt.path, func(t *testing.T) {
			r := a.doType(t, http.MethodGet, tt.path, adminToken, "", "")
			if r.status != http.StatusBadRequest {
				t.Fatalf("status = %d %s, want 400", r.status, r.body)
			}
			if e := errorOf(t, r); e.Field != tt.wantField {
				t.Errorf("field = %q (%s), want %q", e.Field, e.Message, tt.wantField)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Fatalf("bad input changed the state: %+v, was %+v", after, before)
	}

	// The same bodies, declared as JSON in UTF-8 or sent empty where the
	// route takes none, are taken.
	// A surrogate pair is one character: 💶.
	r := a.doType(t, http.MethodPost, entries, adminToken, "application/json; charset=UTF-8",
		entry(`Top-up \ud83d\udcb6`, "march", "good-in", `"ref":"r-1"`, `"10.00"`))
	var e struct {
		Description string `json:"description"`
	}
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &e) != nil || e.Description != "Top-up 💶" {
		t.Fatalf("JSON in UTF-8: %d %s", r.status, r.body)
	}
	if r := a.doType(t, http.MethodPost, reject, approverToken, "application/json;charset=utf-8", `{"reason":"wrong period"}`); r.status != http.StatusOK {
		t.Fatalf("reject with a reason: %d %s", r.status, r.body)
	}
	if r := a.doType(t, http.MethodPost, "/v1/bank/send", adminToken, "", ""); r.status != http.StatusOK {
		t.Fatalf("POST /v1/bank/send with no body: %d %s", r.status, r.body)
	}
	after := snapshot()
	if after.entries != before.entries+1 || after.bank != "110.00" || after.batch != "draft" || after.reason != "wrong period" {
		t.Fatalf("after the good requests: %+v, was %+v", after, before)
	}
}
