package httptransport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// deadRun records the state a process killed during an ADA run of
// 2026-10 leaves: the run running, its building batch, and the lease of
// the ADA runs held by holder until now + expiresIn (an interval).
func (a *batchAPI) deadRun(t *testing.T, holder, expiresIn string) (run, batch uuid.UUID) {
	t.Helper()
	run, batch = uuid.New(), uuid.New()
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO runs (id, kind, period, run_day, status, trigger, started_by, started_at, heartbeat_at, batch_id, processed)
			VALUES ($1, 'ada', '2026-10', '2026-11-05', 'running', 'schedule', 'scheduler', $3, $3, $2, 1000)`, []any{run, batch, runDay}},
		{`INSERT INTO batches (id, run_id, kind, period, status, created_at) VALUES ($1, $2, 'ada', '2026-10', 'building', $3)`,
			[]any{batch, run, runDay}},
		{`INSERT INTO leases (name, holder, token, taken_at, renewed_at, expires_at)
			VALUES ('run:ada', $1, gen_random_uuid(), now(), now(), now() + $2::INTERVAL)`, []any{holder, expiresIn}},
	} {
		if _, err := a.pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	return run, batch
}

// POST /v1/runs/{id}/cancel abandons a run whose process stopped, for
// preparers and administrators, with a reason; a run whose lease is still
// renewed is alive, and refused with 409 naming its holder.
func TestCancelRunOverHTTP(t *testing.T) {
	a := newBatchAPI(t)
	run, batch := a.deadRun(t, "ledgerd-b:4242:0a1b2c3d", "1 minute")
	path := "/v1/runs/" + run.String() + "/cancel"
	body := `{"reason":"ledgerd was killed during the run"}`

	r := a.do(t, http.MethodPost, path, preparerToken, body)
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "ledgerd-b:4242:0a1b2c3d") || !strings.Contains(string(r.body), "alive") {
		t.Fatalf("cancel a run whose lease is held = %d %s, want 409 naming the holder", r.status, r.body)
	}
	if _, err := a.pool.Exec(context.Background(), `UPDATE leases SET expires_at = now() - INTERVAL '1 second'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, token, body string
		status            int
		field             string
	}{
		{path, approverToken, body, http.StatusForbidden, ""},
		{path, auditorToken, body, http.StatusForbidden, ""},
		{path, "", body, http.StatusUnauthorized, ""},
		{path, preparerToken, `{}`, http.StatusBadRequest, "reason"},
		{path, preparerToken, `{"reason":"  "}`, http.StatusBadRequest, "reason"},
		{path, preparerToken, `{"reason":"x","extra":1}`, http.StatusBadRequest, ""},
		{"/v1/runs/not-a-uuid/cancel", preparerToken, body, http.StatusBadRequest, "id"},
		{"/v1/runs/" + uuid.NewString() + "/cancel", preparerToken, body, http.StatusNotFound, ""},
	} {
		r := a.do(t, http.MethodPost, c.path, c.token, c.body)
		if r.status != c.status || (c.field != "" && !strings.Contains(string(r.body), `"`+c.field+`"`)) {
			t.Errorf("POST %s %s as %q = %d %s, want %d (field %q)", c.path, c.body, c.token, r.status, r.body, c.status, c.field)
		}
	}
	var status string
	if err := a.pool.QueryRow(context.Background(), `SELECT status FROM runs WHERE id = $1`, run).Scan(&status); err != nil || status != "running" {
		t.Fatalf("after the refused requests the run is %s (%v), want running", status, err)
	}

	r = a.do(t, http.MethodPost, path, preparerToken, body)
	if r.status != http.StatusOK {
		t.Fatalf("cancel a dead run = %d %s, want 200", r.status, r.body)
	}
	var got runJSON
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != run.String() || got.Status != "cancelled" || got.Error != "cancelled by marie: ledgerd was killed during the run" {
		t.Errorf("the cancelled run: %+v", got)
	}
	if r := a.do(t, http.MethodGet, "/v1/batches/"+batch.String(), adminToken, ""); r.status != http.StatusNotFound {
		t.Errorf("the cancelled run's batch = %d %s, want 404 (discarded)", r.status, r.body)
	}
	var actor, roles, address, from, to, reason string
	err := a.pool.QueryRow(context.Background(), `SELECT actor, roles, address, from_status, to_status, reason FROM audit_events
		WHERE action = 'cancel' AND object_kind = 'run' AND object_id = $1`, run.String()).Scan(&actor, &roles, &address, &from, &to, &reason)
	if err != nil || actor != "marie" || roles != "preparer" || !strings.HasPrefix(address, "127.0.0.1") || from != "running" ||
		to != "cancelled" || reason != "ledgerd was killed during the run" {
		t.Errorf("audit: %s %s %s %s→%s %q, %v", actor, roles, address, from, to, reason, err)
	}
	if r := a.do(t, http.MethodPost, path, adminToken, body); r.status != http.StatusConflict {
		t.Errorf("cancel a cancelled run = %d %s, want 409", r.status, r.body)
	}
}
