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
	"github.com/ofii/allowances/internal/dbtest"
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
	pool, dsn := dbtest.MustOpen(t)
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
	db := func(args ...string) []string { return append(args, "--database-url", dsn) }
	r := ledgerctl(t, "", db("beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-14:2026-11-15")...)
	r.want(t, cli.ExitOK, "ADA rights", "2026-10-03", "household", "FR76 **** **** 0189", "2026-11-15  yes")
	if strings.Contains(r.stdout, "FR7630006000011234567890189") {
		t.Errorf("the IBAN shows in full without --show-iban:\n%s", r.stdout)
	}
	ledgerctl(t, "", db("beneficiaries", "show", "OFII-2026-000123", "--show-iban")...).want(t, cli.ExitOK, "FR7630006000011234567890189")
	ledgerctl(t, "", db("beneficiaries", "show", "OFII-2026-999999")...).want(t, cli.ExitFailure)
	ledgerctl(t, "", db("beneficiaries", "show", "OFII-2026-000123", "--days", "2026-11-15")...).want(t, cli.ExitUsage)

	r = ledgerctl(t, "", db("events", "dead-letters")...)
	r.want(t, cli.ExitOK, "data.payee.iban", "beneficiary_id")
	if got := strings.Count(r.stdout, "eligibility.v1/"); got < 12 {
		t.Errorf("%d dead letters listed, want at least 12:\n%s", got, r.stdout)
	}
	ledgerctl(t, "", db("events", "dead-letters", "--type", "ada.rights_opened", "--limit", "2")...).want(t, cli.ExitOK, "ada.rights_opened")
	ledgerctl(t, "", db("events", "dead-letters", "--limit", "0")...).want(t, cli.ExitUsage)
}
