package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
)

func TestIsTransient(t *testing.T) {
	deadline, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-deadline.Done()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{errs.Field("data.adults", "must be at least 1"), false},
		{errs.E(errs.Unavailable, "database down"), true},
		{fmt.Errorf("apply: %w", errs.E(errs.Unavailable, "database down")), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{deadline.Err(), true},
		{fmt.Errorf("insert: %w", deadline.Err()), true},
		{&pgconn.ConnectError{}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "57P02"}, true},
		{&pgconn.PgError{Code: "57P03"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "53200", Message: "out of shared memory"}, true},
		{&pgconn.PgError{Code: "40001"}, true},
		{&db.RetriesExhaustedError{Attempts: 30, Err: &pgconn.PgError{Code: "40001"}}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "22P02"}, false},
		{&pgconn.PgError{Code: "23514"}, false},
	} {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%#v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestSecurityErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		s    Security
		want string
	}{
		{Security{SASLMechanism: "gssapi", Username: "u", Password: "p"}, "KAFKA_SASL_MECHANISM:"},
		{Security{SASLMechanism: "plain", Password: "p"}, "KAFKA_SASL_USERNAME:"},
		{Security{SASLMechanism: "scram-sha-512", Username: "u"}, "KAFKA_SASL_PASSWORD:"},
		{Security{TLS: true, CAFile: filepath.Join(dir, "missing.pem")}, "KAFKA_TLS_CA_FILE:"},
		{Security{TLS: true, CAFile: notPEM}, "KAFKA_TLS_CA_FILE:"},
		{Security{TLS: true, CertFile: notPEM, KeyFile: notPEM}, "KAFKA_TLS_CERT_FILE:"},
		{Security{TLS: true, CertFile: notPEM}, "KAFKA_TLS_KEY_FILE:"},
		{Security{CAFile: notPEM}, "KAFKA_TLS_CA_FILE:"},
	} {
		_, err := tt.s.Dialer()
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: Dialer error %v, want one naming %s", tt.s, err, tt.want)
		}
		if _, err := tt.s.Transport(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: Transport error %v, want one naming %s", tt.s, err, tt.want)
		}
	}
	for _, m := range []string{"", "none", "PLAIN", "scram-sha-256", "scram-sha-512"} {
		s := Security{SASLMechanism: m, Username: "u", Password: "p"}
		if _, err := s.Dialer(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	d, err := Security{TLS: true}.Dialer()
	if err != nil || d.TLS == nil || d.TLS.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS dialer %+v, %v", d, err)
	}
}

func TestPasswordNeverShown(t *testing.T) {
	const password = "Tr0ub4dor&3-secret"
	s := Security{TLS: true, SASLMechanism: "scram-sha-512", Username: "ledger", Password: password}
	cfg := ConsumerConfig{Brokers: []string{"k1:9093"}, Topic: "t", DLQTopic: "d", GroupID: "g", Security: s}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "security", s, "cfg", cfg)
	for _, out := range []string{buf.String(), fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s),
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(out, password) {
			t.Fatalf("password shown in %s", out)
		}
	}
	if !strings.Contains(buf.String(), `"user":"ledger"`) {
		t.Fatalf("log %s", buf.String())
	}
	// The consumer logs its security when it starts.
	buf.Reset()
	b := startBroker(t)
	cfg.Brokers, cfg.Security = []string{b.Addr()}, Security{SASLMechanism: "plain", Username: "u", Password: password}
	c, err := NewConsumer(cfg, newMemSink(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = c.Run(ctx)
	if strings.Contains(buf.String(), password) || !strings.Contains(buf.String(), "consuming") {
		t.Fatalf("log %s", buf.String())
	}
}

// TestSASLAgainstBroker publishes through a broker that requires SASL.
func TestSASLAgainstBroker(t *testing.T) {
	for _, tt := range []struct{ kfake, ours string }{
		{"PLAIN", "plain"}, {"SCRAM-SHA-256", "scram-sha-256"}, {"SCRAM-SHA-512", "scram-sha-512"},
	} {
		t.Run(tt.ours, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(tt.kfake, "ledger", "s3cret"),
				kfake.SeedTopics(1, testTopic))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cfg := PublishConfig{Brokers: c.ListenAddrs(), Security: Security{SASLMechanism: tt.ours, Username: "ledger", Password: "s3cret"}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if n, err := Publish(ctx, cfg, testTopic, strings.NewReader(`{"beneficiary_id":"B1"}`), nil); err != nil || n != 1 {
				t.Fatalf("Publish = %d, %v", n, err)
			}
			cfg.Security.Password = "wrong"
			short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel2()
			if _, err := Publish(short, cfg, testTopic, strings.NewReader(`{"beneficiary_id":"B1"}`), nil); err == nil {
				t.Fatal("a wrong password was accepted")
			}
		})
	}
}

func TestKafkaSettings(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	c, err := config.Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.KafkaBrokers) != 0 || c.KafkaEmbeddedAddr != "127.0.0.1:9092" || c.KafkaEmbeddedPort != 9092 ||
		c.KafkaEmbeddedPartitions != 4 || c.KafkaTopic != "eligibility.v1" || c.KafkaDLQTopic != "eligibility.v1.dlq" ||
		c.KafkaGroup != "ledgerd" || c.KafkaBatchSize != 2000 || c.KafkaTLS || c.KafkaSASLMechanism != "none" {
		t.Fatalf("defaults %+v", c)
	}
	cc := ConfigFrom(c, "127.0.0.1:40000")
	if len(cc.Brokers) != 1 || cc.Brokers[0] != "127.0.0.1:40000" || cc.Topic != "eligibility.v1" || cc.BatchSize != 2000 {
		t.Fatalf("ConfigFrom %+v", cc)
	}

	c, err = config.Load(env("KAFKA_BROKERS", "k1:9093, k2:9093", "KAFKA_TLS", "true",
		"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "KAFKA_SASL_USERNAME", "ledger", "KAFKA_SASL_PASSWORD", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	cc = ConfigFrom(c, "unused")
	if len(cc.Brokers) != 2 || cc.Brokers[1] != "k2:9093" || !cc.Security.TLS || cc.Security.SASLMechanism != "scram-sha-512" {
		t.Fatalf("ConfigFrom %+v", cc)
	}
	if _, err := cc.Security.Dialer(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range [][]string{
		{"KAFKA_BROKERS", "k1"},
		{"KAFKA_EMBEDDED_ADDR", "0.0.0.0:9092"},
		{"KAFKA_EMBEDDED_ADDR", "127.0.0.1"},
		{"KAFKA_EMBEDDED_PARTITIONS", "0"},
		{"KAFKA_TOPIC", "eligibility v1"},
		{"KAFKA_DLQ_TOPIC", "eligibility.v1"},
		{"KAFKA_BATCH_SIZE", "-3"},
		{"KAFKA_TLS", "yes please"},
		{"KAFKA_TLS_CA_FILE", "/etc/ca.pem"},
		{"KAFKA_SASL_MECHANISM", "kerberos"},
		{"KAFKA_SASL_USERNAME", "", "KAFKA_SASL_MECHANISM", "plain", "KAFKA_SASL_PASSWORD", "x"},
		{"KAFKA_SASL_PASSWORD", "", "KAFKA_SASL_MECHANISM", "plain", "KAFKA_SASL_USERNAME", "x"},
		{"KAFKA_TLS_KEY_FILE", "", "KAFKA_TLS", "true", "KAFKA_TLS_CERT_FILE", "/etc/c.pem"},
	} {
		_, err := config.Load(env(tt...))
		if err == nil || !strings.HasPrefix(err.Error(), tt[0]+":") {
			t.Errorf("%v: err = %v, want one naming %s", tt, err, tt[0])
		}
	}
	for _, s := range config.Settings {
		if s.Secret() != (s.Env == "KAFKA_SASL_PASSWORD" || s.Env == "BANK_TOKEN" || s.Env == "LEDGER_TOKEN" || s.Env == "CONSOLE_OIDC_CLIENT_SECRET") {
			t.Errorf("%s: Secret() = %v", s.Env, s.Secret())
		}
	}
}
