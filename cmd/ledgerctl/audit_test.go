package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// cliAuditPage is the JSON of 'ledgerctl audit'.
type cliAuditPage struct {
	Events []payments.AuditEvent `json:"events"`
	Next   string                `json:"next"`
}

// TestAudit reads, through ledgerd, a trail of three changes written on
// the database as the workflow writes them.
func TestAudit(t *testing.T) {
	s := startLedgerd(t, nil)
	pool := openDB(t, s.DSN)
	const (
		batch = "0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a"
		iban  = "FR7630006000011234567890189"
	)
	day := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{At: day, By: payments.Actor{Name: "marie", Roles: []string{"preparer"}}, Action: "submit", Kind: "batch", ObjectID: batch, From: "draft", To: "submitted"},
		{At: day.Add(time.Hour), By: payments.Actor{Name: "paul", Roles: []string{"approver"}}, Action: "approve", Kind: "batch", ObjectID: batch, From: "submitted", To: "approved"},
		{At: day.Add(24 * time.Hour), By: payments.Actor{Name: "marie", Roles: []string{"preparer"}}, Action: "correct_payee", Kind: "exception", ObjectID: "EXC-1",
			Reason: "account closed, new IBAN " + iban, Details: map[string]any{"iban": iban}},
	}
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := audit.Write(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	read := func(t *testing.T, args ...string) cliAuditPage {
		t.Helper()
		var p cliAuditPage
		jsonOf(t, s.as(t, auditorTok, "", append([]string{"-o", "json", "audit"}, args...)...), &p)
		return p
	}
	actions := func(p cliAuditPage) string {
		var a []string
		for _, e := range p.Events {
			a = append(a, e.Action)
		}
		return strings.Join(a, ",")
	}

	t.Run("All", func(t *testing.T) {
		p := read(t)
		if got := actions(p); got != "submit,approve,correct_payee" || p.Next != "" {
			t.Fatalf("events %s, next %q; want submit,approve,correct_payee and no next page", got, p.Next)
		}
		if e := p.Events[1]; e.Actor != "paul" || e.ObjectID != batch || e.From != "submitted" || e.To != "approved" || !e.At.Equal(day.Add(time.Hour)) {
			t.Errorf("the approval reads %+v", e)
		}
		r := s.as(t, opsToken, "", "audit")
		r.want(t, cli.ExitOK, "correct_payee", "EXC-1", "0189")
		if strings.Contains(r.stdout, iban) {
			t.Errorf("the trail shows an IBAN in full:\n%s", r.stdout)
		}
		if e := p.Events[2]; strings.Contains(e.Reason, iban) || strings.Contains(e.Details["iban"].(string), iban) {
			t.Errorf("the JSON shows an IBAN in full: %+v", e)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--object", batch}, "submit,approve"},
			{[]string{"--actor", "paul"}, "approve"},
			{[]string{"--action", "correct_payee"}, "correct_payee"},
			{[]string{"--since", "2026-11-03"}, "correct_payee"},
			{[]string{"--since", "2026-11-02T09:30:00+00:00"}, "approve,correct_payee"},
			{[]string{"--actor", "marie", "--object", batch}, "submit"},
			{[]string{"--actor", "nobody"}, ""},
		} {
			if got := actions(read(t, tc.args...)); got != tc.want {
				t.Errorf("audit %v: %q, want %q", tc.args, got, tc.want)
			}
		}
		s.as(t, auditorTok, "", "audit", "--actor", "nobody").want(t, cli.ExitOK, "no audit events")
	})
	t.Run("Pages", func(t *testing.T) {
		first := read(t, "--limit", "1")
		if actions(first) != "submit" || first.Next == "" {
			t.Fatalf("first page: %+v", first)
		}
		s.as(t, auditorTok, "", "audit", "--limit", "1").want(t, cli.ExitOK, "more events follow: add --after "+first.Next)
		second := read(t, "--limit", "1", "--after", first.Next)
		if actions(second) != "approve" || second.Next == "" {
			t.Fatalf("second page: %+v", second)
		}
		all := read(t, "--limit", "1", "--all")
		if got := actions(all); got != "submit,approve,correct_payee" || all.Next != "" {
			t.Errorf("--all by pages of 1: %s, next %q", got, all.Next)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		r := s.as(t, marieToken, "", "audit")
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "error: 403 Forbidden")
		if r.stdout != "" {
			t.Errorf("a preparer read the trail:\n%s", r.stdout)
		}
		r = s.as(t, auditorTok, "", "audit", "--after", "not-a-cursor")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "--after")
		r = s.as(t, auditorTok, "", "audit", "--since", "last week")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "--since")
	})
	t.Run("WhoReadWhat", func(t *testing.T) {
		// A preparer reads a beneficiary's file with the IBAN in full, a
		// controller reads it masked: the auditor finds both reads by the
		// beneficiary, with what each saw in full, and nothing of others.
		const who = "OFII-2026-000777"
		openRights(t, paysql.New(pool), who)
		s.as(t, marieToken, "", "beneficiaries", "show", who, "--show-iban").want(t, cli.ExitOK, runsIBAN)
		if r := s.as(t, claireToken, "", "beneficiaries", "show", who, "--show-iban"); r.code != cli.ExitOK || strings.Contains(r.stdout, runsIBAN) {
			t.Fatalf("the controller: %d, IBAN in full: %v\n%s", r.code, strings.Contains(r.stdout, runsIBAN), r.stderr)
		}
		p := read(t, "--beneficiary", who)
		var reads []payments.AuditEvent
		for _, e := range p.Events {
			if e.BeneficiaryID != who {
				t.Errorf("an event about %q in the trail of %s: %+v", e.BeneficiaryID, who, e)
			}
			if e.Action == "read" {
				reads = append(reads, e)
			}
		}
		if len(reads) < 2 {
			t.Fatalf("reads of %s = %+v, want the preparer's and the controller's", who, p.Events)
		}
		var marie, claire int
		for _, e := range reads {
			switch {
			case e.Actor == "marie" && strings.Join(e.FieldsInFull, ",") == "iban":
				marie++
			case e.Actor == "claire" && len(e.FieldsInFull) == 0:
				claire++
			default:
				t.Errorf("unexpected read: %+v", e)
			}
		}
		if marie == 0 || claire == 0 {
			t.Errorf("reads by marie in full %d, by claire masked %d; want both: %+v", marie, claire, reads)
		}
		r := s.as(t, auditorTok, "", "audit", "--beneficiary", who, "--action", "read", "--kind", "timeline")
		r.want(t, cli.ExitOK, "BENEFICIARY", "IN FULL", who, "marie", "iban", "claire")
		if p := read(t, "--beneficiary", "OFII-2026-000000"); len(p.Events) != 0 {
			t.Errorf("events about a beneficiary no one read: %+v", p.Events)
		}
		// Reading the trail is not a read of anyone's file.
		if p2 := read(t, "--beneficiary", who); len(p2.Events) != len(p.Events) {
			t.Errorf("reading the trail added events: %d then %d", len(p.Events), len(p2.Events))
		}
	})
}
