package sqlstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

const topic = "eligibility.v1"

// The tables of the eligibility schema.
var tables = []string{"beneficiaries", "events", "ada_facts", "payees", "return_grants", "reinsertion_grants",
	"reinsertion_tranches", "overpayments", "dead_letters"}

func mustOpen(t testing.TB) (*sqlstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	return sqlstore.New(pool), pool
}

func date(s string) ledger.Date {
	d, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// readLines returns the lines of a JSON Lines file.
func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// records wraps values as records of one partition, from offset first on.
func records(first int64, values ...[]byte) []payments.Record {
	out := make([]payments.Record, len(values))
	for i, v := range values {
		out[i] = payments.Record{Source: payments.Source{Topic: topic, Partition: 0, Offset: first + int64(i)}, Key: kafka.KeyOf(v), Value: v}
	}
	return out
}

func mustApply(t testing.TB, s *sqlstore.Store, recs []payments.Record) []payments.Result {
	t.Helper()
	res, err := s.Apply(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	return res
}

func outcomes(res []payments.Result) map[payments.Outcome]int {
	m := map[payments.Outcome]int{}
	for _, r := range res {
		m[r.Outcome]++
	}
	return m
}

// event builds an event value.
func event(id uuid.UUID, typ payments.EventType, ben string, at time.Time, data map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"event_id": id, "type": typ, "schema_version": 1,
		"occurred_at": at.UTC().Format(time.RFC3339), "beneficiary_id": ben, "data": data})
	if err != nil {
		panic(err)
	}
	return b
}

var idSpace = uuid.MustParse("3f0c2a51-7d7e-4b8e-8f0e-2a9d6c1b5e47")

// eid returns a deterministic event id for a name.
func eid(name string) uuid.UUID { return uuid.NewSHA1(idSpace, []byte(name)) }

var ibans = []string{"FR7630006000011234567890189", "FR7610107001010001234567883", "FR7630004008230001073943676",
	"FR1420041010050500013M02606"}

func payee(name string, i int) map[string]any {
	return map[string]any{"name": name, "iban": ibans[i%len(ibans)]}
}

func opened(from string, adults, children int, accommodated bool) map[string]any {
	return map[string]any{"from": from, "adults": adults, "children": children, "accommodated": accommodated,
		"payee": payee("Amina Diallo", 0)}
}

// counts returns the number of rows of every table.
func counts(t testing.TB, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tbl := range tables {
		var n int64
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	return out
}

// dump returns every table's rows as sorted JSON texts, without what
// depends on when or where a record was delivered: times of writing,
// source partitions and offsets, and dead-letter ids.
func dump(t testing.TB, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	drop := map[string][]string{
		"beneficiaries": {"created_at", "unopened_since"},
		"events":        {"applied_at", "src_partition", "src_offset"},
		"dead_letters":  {"id", "received_at", "src_partition", "src_offset", "published_at"},
	}
	out := map[string][]string{}
	for _, tbl := range tables {
		cols := append([]string{}, drop[tbl]...)
		rows, err := pool.Query(context.Background(), `SELECT (to_jsonb(t) - $1::TEXT[])::TEXT FROM `+tbl+` t ORDER BY 1`, cols)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[tbl] = append(out[tbl], s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
