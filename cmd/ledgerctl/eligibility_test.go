package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

func ledgerctlEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func TestEventsPublish(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, 3, "eligibility.v1", "eligibility.v1.dlq")
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	env := map[string]string{"KAFKA_BROKERS": broker.Addr()}
	ledgerctlEnv(t, env, "events", "publish", "../../testdata/contracts/examples/valid.jsonl").
		want(t, cli.ExitOK, "published 12 events to eligibility.v1")

	// Every record is keyed by its beneficiary.
	parts, err := kafkago.DefaultDialer.LookupPartitions(context.Background(), "tcp", broker.Addr(), "eligibility.v1")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{broker.Addr()}, Topic: "eligibility.v1", Partition: p.ID, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				break
			}
			n++
			if !bytes.Contains(m.Value, append(append([]byte(`"beneficiary_id": "`), m.Key...), '"')) {
				t.Errorf("record keyed %q: %s", m.Key, m.Value)
			}
		}
		cancel()
		r.Close()
	}
	if n != 12 {
		t.Errorf("%d records on the topic, want 12", n)
	}
	ledgerctlEnv(t, env, "events", "publish", "testdata/nosuch.jsonl").want(t, cli.ExitUsage)
}

func TestBeneficiariesAndDeadLetters(t *testing.T) {
	s := startLedgerd(t, nil)
	// The events have no API: they are applied on the database, as the
	// consumer would.
	pool := openDB(t, s.DSN)
	store := paysql.New(pool)
	var recs []payments.Record
	for i, name := range []string{"valid", "invalid"} {
		data, err := os.ReadFile("../../testdata/contracts/examples/" + name + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		for j, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if name == "invalid" {
				l = l[strings.Index(l, `"value": "`)+10 : len(l)-2]
				l = strings.ReplaceAll(l, `\"`, `"`)
			}
			recs = append(recs, payments.Record{Source: payments.Source{Topic: "eligibility.v1", Partition: i, Offset: int64(j)}, Value: []byte(l)})
		}
	}
	if _, err := store.Apply(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	const iban = "FR7630006000011234567890189"

	t.Run("Beneficiary", func(t *testing.T) {
		r := s.as(t, claireToken, "", "beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-14:2026-11-15")
		r.want(t, cli.ExitOK, "ADA rights", "2026-10-03", "household", "FR76 **** **** 0189", "2026-11-15  yes")
		if strings.Contains(r.stdout, iban) {
			t.Errorf("the IBAN shows in full without --show-iban:\n%s", r.stdout)
		}
		var view struct {
			payments.Beneficiary
			Days []payments.Day `json:"days"`
		}
		jsonOf(t, s.as(t, claireToken, "", "-o", "json", "beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-14:2026-11-15"), &view)
		if view.ID != "OFII-2026-000123" || len(view.Rights) == 0 || len(view.Days) != 2 || !view.Days[1].Covered() {
			t.Errorf("beneficiary -o json: %+v", view)
		}
	})
	t.Run("ShowIBAN", func(t *testing.T) {
		// A preparer pays: ledgerd shows them the IBAN, and --show-iban
		// prints it.
		s.as(t, marieToken, "", "beneficiaries", "show", "OFII-2026-000123", "--show-iban").want(t, cli.ExitOK, iban)
		r := s.as(t, marieToken, "", "beneficiaries", "show", "OFII-2026-000123")
		r.want(t, cli.ExitOK, "FR76 **** **** 0189")
		if strings.Contains(r.stdout, iban) {
			t.Errorf("the IBAN shows in full to a preparer without --show-iban:\n%s", r.stdout)
		}
		// A controller does not: --show-iban cannot unmask it.
		r = s.as(t, claireToken, "", "-o", "json", "beneficiaries", "show", "OFII-2026-000123", "--show-iban")
		r.want(t, cli.ExitOK, "0189")
		if strings.Contains(r.stdout, iban) {
			t.Errorf("the IBAN shows in full to a controller:\n%s", r.stdout)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		r := s.as(t, claireToken, "", "beneficiaries", "show", "OFII-2026-999999")
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "404 Not Found")
		s.as(t, claireToken, "", "beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-15").want(t, cli.ExitUsage)
		r = s.as(t, claireToken, "", "beneficiaries", "show", "OFII-2026-000123", "--days", "2026-01-01:2027-06-01")
		r.want(t, cli.ExitUsage)
		wantStderr(t, r, "--days")
		r = s.as(t, "not-a-token-of-anyone", "", "beneficiaries", "show", "OFII-2026-000123")
		r.want(t, cli.ExitFailure)
		wantStderr(t, r, "401 Unauthorized")
		if r.stdout != "" {
			t.Errorf("stdout: %s", r.stdout)
		}
	})
	t.Run("DeadLetters", func(t *testing.T) {
		r := s.as(t, auditorTok, "", "events", "dead-letters")
		r.want(t, cli.ExitOK, "data.payee.iban", "beneficiary_id")
		if got := strings.Count(r.stdout, "eligibility.v1/"); got < 12 {
			t.Errorf("%d dead letters listed, want at least 12:\n%s", got, r.stdout)
		}
		var page struct {
			DeadLetters []struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"dead_letters"`
			NextCursor string `json:"next_cursor"`
		}
		jsonOf(t, s.as(t, auditorTok, "", "-o", "json", "events", "dead-letters", "--type", "ada.rights_opened", "--limit", "1"), &page)
		if len(page.DeadLetters) != 1 || page.DeadLetters[0].Type != "ada.rights_opened" || page.NextCursor == "" {
			t.Fatalf("dead-letters --type ada.rights_opened --limit 1: %+v", page)
		}
		var all struct {
			DeadLetters []struct {
				Value string `json:"value"`
			} `json:"dead_letters"`
		}
		jsonOf(t, s.as(t, auditorTok, "", "-o", "json", "events", "dead-letters", "--limit", "1000"), &all)
		if len(all.DeadLetters) < 12 {
			t.Errorf("%d dead letters in JSON, want at least 12", len(all.DeadLetters))
		}
		for _, d := range all.DeadLetters {
			if strings.Contains(d.Value, "FR763000600001123456789018") {
				t.Errorf("a dead letter shows an IBAN in full: %s", d.Value)
			}
		}
		s.as(t, auditorTok, "", "events", "dead-letters", "--type", "ada.rights_opened", "--cursor", page.NextCursor).want(t, cli.ExitOK)
		s.as(t, auditorTok, "", "events", "dead-letters", "--limit", "0").want(t, cli.ExitUsage)
		s.as(t, auditorTok, "", "events", "dead-letters", "--since", "yesterday").want(t, cli.ExitUsage)
	})
}

// TestBeneficiariesUnopened: a beneficiary whose facts wait for an opening
// longer than ORPHAN_FACTS_DAYS is listed for staff, and leaves the list
// once the opening arrives.
func TestBeneficiariesUnopened(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, map[string]string{"ORPHAN_FACTS_DAYS": "3"})
	pool := openDB(t, s.DSN)
	store := paysql.New(pool)
	const who = "OFII-2026-000555"
	v := `{"event_id":"7c0f2a2e-8c0e-4f4b-9a53-0c1e7d9b1a07","type":"ada.suspended","schema_version":1,"occurred_at":"2026-10-10T09:00:00Z",` +
		`"beneficiary_id":"` + who + `","data":{"from":"2026-10-10","reason":"no show"}}`
	res, err := store.Apply(context.Background(), []payments.Record{{Source: payments.Source{Topic: "eligibility.v1"}, Key: []byte(who), Value: []byte(v)}})
	if err != nil || len(res) != 1 || res[0].Outcome != payments.OutcomeApplied {
		t.Fatalf("a suspension before its opening: %+v %v", res, err)
	}
	var out struct {
		Beneficiaries []payments.Unopened `json:"beneficiaries"`
	}
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "beneficiaries", "unopened"), &out)
	if len(out.Beneficiaries) != 0 {
		t.Fatalf("a fact applied just now is listed: %+v", out.Beneficiaries)
	}
	// Four days later (the facts are dated back, as time would).
	if _, err := pool.Exec(context.Background(), `UPDATE beneficiaries SET unopened_since = unopened_since - INTERVAL '4 days' WHERE id = $1`, who); err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "beneficiaries", "unopened"), &out)
	if len(out.Beneficiaries) != 1 || out.Beneficiaries[0].ID != who || out.Beneficiaries[0].Events != 1 {
		t.Fatalf("unopened = %+v, want %s with 1 event", out.Beneficiaries, who)
	}
	s.as(t, claireToken, "", "beneficiaries", "unopened").want(t, cli.ExitOK, "BENEFICIARY", "WAITING SINCE", who)
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "beneficiaries", "unopened", "--days", "5"), &out)
	if len(out.Beneficiaries) != 0 {
		t.Errorf("--days 5 lists a beneficiary waiting 4 days: %+v", out.Beneficiaries)
	}
	if r := s.as(t, claireToken, "", "beneficiaries", "unopened", "--days", "-1"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--days") {
		t.Errorf("--days -1: %d %s", r.code, r.stderr)
	}
	openRights(t, store, who)
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "beneficiaries", "unopened"), &out)
	if len(out.Beneficiaries) != 0 {
		t.Errorf("listed after its opening: %+v", out.Beneficiaries)
	}
}
