package console

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/migrations"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// testSessions returns the sessions of a fresh database on a clock the test
// moves.
func testSessions(t *testing.T, idle, max time.Duration) (*Sessions, func(time.Duration)) {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	if _, err := migrations.Up(context.Background(), pool, nil); err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	start := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	return NewSessions(pool, idle, max, now), func(d time.Duration) { offset.Add(int64(d)) }
}

func TestSessionTimeouts(t *testing.T) {
	ctx := context.Background()
	st, wait := testSessions(t, 30*time.Minute, 2*time.Hour)
	token, s, err := st.Create(ctx, "sub-1", "marie.preparer", []string{"preparer"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Expires.Equal(s.Created.Add(2 * time.Hour)) {
		t.Errorf("expires %v, want 2h after %v", s.Expires, s.Created)
	}
	// Used every 20 minutes, it lives to its absolute end, not past it.
	for i := range 5 {
		wait(20 * time.Minute)
		got, err := st.Get(ctx, token)
		if err != nil {
			t.Fatalf("use %d after %v: %v", i, time.Duration(i+1)*20*time.Minute, err)
		}
		if got.Name != "marie.preparer" || !slices.Equal(got.Roles, []string{"preparer"}) {
			t.Errorf("session %+v", got)
		}
	}
	wait(20 * time.Minute) // 2h after sign-in
	if _, err := st.Get(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Errorf("at its absolute end: %v, want ErrNoSession", err)
	}

	// Left idle for the idle timeout, it is over.
	token, _, err = st.Create(ctx, "sub-2", "paul.approver", []string{"approver"})
	if err != nil {
		t.Fatal(err)
	}
	wait(29 * time.Minute)
	if _, err := st.Get(ctx, token); err != nil {
		t.Fatalf("29 minutes idle: %v", err)
	}
	wait(30 * time.Minute)
	if _, err := st.Get(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Errorf("30 minutes idle: %v, want ErrNoSession", err)
	}
}

func TestSessionRevocation(t *testing.T) {
	ctx := context.Background()
	st, _ := testSessions(t, 30*time.Minute, 8*time.Hour)
	a, sa, err := st.Create(ctx, "sub-1", "marie.preparer", []string{"preparer"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := st.Create(ctx, "sub-1", "marie.preparer", []string{"preparer"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, a); !errors.Is(err, ErrNoSession) {
		t.Errorf("revoked: %v, want ErrNoSession", err)
	}
	if _, err := st.Get(ctx, b); err != nil {
		t.Errorf("the other session of the same person: %v", err)
	}
	for _, bad := range []string{"", "x", a + "x", string(make([]byte, 500))} {
		if _, err := st.Get(ctx, bad); !errors.Is(err, ErrNoSession) {
			t.Errorf("token %.20q: %v, want ErrNoSession", bad, err)
		}
	}
	if sa.CSRFToken() == "" || !sa.CheckCSRF(sa.CSRFToken()) {
		t.Error("a session refuses its own form token")
	}
}

func TestCSRF(t *testing.T) {
	ctx := context.Background()
	st, _ := testSessions(t, 30*time.Minute, 8*time.Hour)
	ta, a, err := st.Create(ctx, "s1", "marie.preparer", []string{"preparer"})
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := st.Create(ctx, "s2", "paul.approver", []string{"approver"})
	if err != nil {
		t.Fatal(err)
	}
	// The token read back from the database is the one the forms carry.
	again, err := st.Get(ctx, ta)
	if err != nil {
		t.Fatal(err)
	}
	if again.CSRFToken() != a.CSRFToken() {
		t.Error("the form token changed between requests")
	}
	for _, c := range []struct {
		name  string
		token string
		ok    bool
	}{{"Own", a.CSRFToken(), true}, {"Missing", "", false}, {"OtherSession", b.CSRFToken(), false},
		{"Truncated", a.CSRFToken()[:10], false}, {"Forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false}} {
		if got := a.CheckCSRF(c.token); got != c.ok {
			t.Errorf("%s: %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestRolesOf(t *testing.T) {
	mapping := map[string][]string{"finance-prep": {"preparer"}, "finance-appr": {"approver"}, "audit": {"auditor", "controller"}}
	for _, c := range []struct {
		groups []string
		want   []string
	}{
		{nil, nil},
		{[]string{"cafeteria"}, nil},
		{[]string{"finance-appr", "finance-prep"}, []string{"preparer", "approver"}},
		{[]string{"audit", "finance-appr", "audit"}, []string{"approver", "controller", "auditor"}},
		{[]string{"Finance-Prep"}, nil}, // groups are matched exactly
	} {
		if got := RolesOf(c.groups, mapping); !slices.Equal(got, c.want) {
			t.Errorf("RolesOf(%v) = %v, want %v", c.groups, got, c.want)
		}
	}
}

func TestFrenchFormats(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0,00\u202f€", "5.5": "5,50\u202f€", "411.8": "411,80\u202f€", "1234.56": "1\u202f234,56\u202f€",
		"1234567.891": "1\u202f234\u202f567,89\u202f€", "-1234.5": "−1\u202f234,50\u202f€", "100000": "100\u202f000,00\u202f€",
	} {
		if got := Euros(decimal.RequireFromString(in)); got != want {
			t.Errorf("Euros(%s) = %q, want %q", in, got, want)
		}
	}
	if got := Date(ledger.NewDate(2026, 12, 4)); got != "04/12/2026" {
		t.Errorf("Date = %q", got)
	}
	if got := Date(ledger.Date{}); got != "" {
		t.Errorf("zero Date = %q", got)
	}
	// 23:30 UTC on 31 December is 00:30 on 1 January in Paris.
	if got := DateTime(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)); got != "01/01/2027 à 00:30" {
		t.Errorf("DateTime = %q", got)
	}
	if got := Month(2026, 10); got != "octobre 2026" {
		t.Errorf("Month = %q", got)
	}
}

func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/lots/abc?page=2": "/console/lots/abc?page=2",
		"":                         pathTodo,
		"https://evil.example/":    pathTodo,
		"//evil.example/console/":  pathTodo,
		"/v1/batches":              pathTodo,
		"/console/auth/callback":   pathTodo,
		"/console/\\evil":          pathTodo,
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFrenchError: the workflow's refusals are said in French, in words
// that name the reason.
func TestFrenchError(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		want   string
	}{
		{errs.E(errs.Forbidden, "alex prepared batch 1234: another person must approve it"), 403, "Vous avez préparé ce lot"},
		{errs.E(errs.Forbidden, "api.runner computed batch 1234 (started its run): another person must approve it"), 403, "Vous avez calculé ce lot"},
		{errs.E(errs.Conflict, "paul.approver has already approved batch 1234: a second approval must come from another approver"), 409, "déjà approuvé"},
		{errs.E(errs.Conflict, "batch 1234 is approved: only a batch pending approval can be approved"), 409, "« Approuvé »"},
		{errs.E(errs.Conflict, "batch 1234 is draft: only a batch pending approval can be rejected"), 409, "« Brouillon »"},
		{errs.E(errs.NotFound, "batch 1234 not found"), 404, "n'existe pas"},
		{errs.E(errs.Forbidden, "agnes.budget recorded amendment 1234: another person must confirm it"), 403, "une autre personne doit la confirmer"},
		{errs.E(errs.Conflict, "batch 1234 is beyond its budget: ada 2026: the batch commits 1234.50, 1000.00 available (234.50 over); return 2026 has no appropriation (the batch commits 10.00)"),
			409, "Allocation pour demandeur d'asile (ADA), exercice 2026 : le lot engage 1\u202f234,50\u202f€, les crédits disponibles sont de 1\u202f000,00\u202f€, soit 234,50\u202f€ au-delà ; Aide au retour, exercice 2026 : aucun crédit n'est ouvert, le lot engage 10,00\u202f€."},
		{errs.E(errs.Forbidden, "bea does not hold the budget role: only it may force an approval beyond the budget"), 403, "rôle budget"},
		{errors.New("connection refused"), 500, "erreur interne"},
	} {
		status, msg := frenchError(c.err)
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%v: %d %q, want %d and %q", c.err, status, msg, c.status, c.want)
		}
	}
}

// TestCandidates checks the payments offered for an exception: a
// suggestion's one, an ambiguous line's several as its reason lists them,
// none for a line nothing explains.
func TestCandidates(t *testing.T) {
	for _, c := range []struct {
		x    reconcile.Exception
		want []string
	}{
		{reconcile.Exception{Kind: reconcile.ExceptionSuggestion, Payment: "p-1", Reason: "payment p-1 has the amount (and more): confirm"}, []string{"p-1"}},
		{reconcile.Exception{Kind: reconcile.ExceptionAmbiguous, Reason: "2 payments have the amount and the payee account of this line (a-1, b-2): match it by hand"},
			[]string{"a-1", "b-2"}},
		{reconcile.Exception{Kind: reconcile.ExceptionUnmatched, Reason: "no rule (end to end, batch) explains the line"}, nil},
	} {
		if got := candidates(c.x); !slices.Equal(got, c.want) {
			t.Errorf("candidates of %q = %q, want %q", c.x.Reason, got, c.want)
		}
	}
}

// TestExceptionMoves checks that a person sees only the moves of their
// roles, and none on an exception no longer open.
func TestExceptionMoves(t *testing.T) {
	x := reconcile.Exception{ID: uuid.New(), Kind: reconcile.ExceptionSuggestion, Status: reconcile.ExceptionOpen, Line: &reconcile.LineRef{}}
	names := func(as []reconMove) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Name)
		}
		return out
	}
	controller := &Session{Roles: []string{payments.RoleController}}
	if got := names(exceptionMoves(controller, x)); !slices.Equal(got, []string{"confirm", "match", "suspense", "close", "assign"}) {
		t.Errorf("a controller's moves: %v", got)
	}
	if got := exceptionMoves(&Session{Roles: []string{payments.RoleAuditor}}, x); got != nil {
		t.Errorf("an auditor's moves: %v", names(got))
	}
	if got := names(exceptionMoves(&Session{Roles: []string{payments.RoleAdmin}}, x)); !slices.Equal(got, []string{"assign"}) {
		t.Errorf("an admin's moves: %v", got)
	}
	x.Kind, x.Line = reconcile.ExceptionInTransit, nil
	if got := names(exceptionMoves(controller, x)); !slices.Equal(got, []string{"close", "assign"}) {
		t.Errorf("moves on a payment in transit: %v", got)
	}
	x.Status = reconcile.ExceptionResolved
	if got := exceptionMoves(controller, x); got != nil {
		t.Errorf("moves on a resolved exception: %v", names(got))
	}
}

// TestCalendar checks the month's grid: weeks from Monday, each day
// covered, suspended (with the suspension's reason) or without rights.
func TestCalendar(t *testing.T) {
	first := ledger.NewDate(2026, 10, 1) // a Thursday
	var days []payments.Day
	for i := range 31 {
		d := payments.Day{Date: first.AddDays(i), RightsOpen: i >= 2, Suspended: i >= 20 && i < 25, Adults: 2, Children: 1}
		days = append(days, d)
	}
	susp := []payments.SuspensionSpan{{From: first.AddDays(20), Until: first.AddDays(25), Reason: "refus d'hébergement"}}
	weeks, covered := calendar(first, days, susp)
	if covered != 24 {
		t.Errorf("covered %d days, want 24", covered)
	}
	if len(weeks) != 5 || weeks[0][3].Day != 1 || weeks[0][2].Day != 0 || weeks[4][5].Day != 31 || weeks[4][6].Day != 0 {
		t.Fatalf("grid %v", weeks)
	}
	if c := weeks[0][3]; c.State != "none" {
		t.Errorf("1 October: %+v", c)
	}
	if c := weeks[0][5]; c.State != "covered" || c.Detail != "2 adultes, 1 enfant, non hébergé" {
		t.Errorf("3 October: %+v", c)
	}
	if c := weeks[3][2]; c.Day != 21 || c.State != "suspended" || c.Detail != "refus d'hébergement" {
		t.Errorf("21 October: %+v", c)
	}
}

// TestParseEuros reads amounts as people type them; the decimals and the
// sign are left to the service to judge.
func TestParseEuros(t *testing.T) {
	for in, want := range map[string]string{
		"1 250 000,50": "1250000.5", "1250000.50": "1250000.5", "1\u202f234,56\u00a0€": "1234.56", "-10,00": "-10", "5 000,555": "5000.555",
	} {
		got, ok := parseEuros(in)
		if !ok || !got.Equal(decimal.RequireFromString(want)) {
			t.Errorf("parseEuros(%q) = %s %v, want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "mille", "1e6", "1,2,3", "12345678901234567890123"} {
		if _, ok := parseEuros(in); ok {
			t.Errorf("parseEuros(%q) is read", in)
		}
	}
}
