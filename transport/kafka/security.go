package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/ofii/allowances/internal/config"
)

// Security says how to reach the brokers: TLS and SASL, from the KAFKA_TLS*
// and KAFKA_SASL_* settings. The zero value is a plain connection. Its
// String, GoString and LogValue never show the password.
type Security struct {
	TLS      bool
	CAFile   string // PEM CAs; the system's when empty
	CertFile string // PEM client certificate, with KeyFile
	KeyFile  string

	SASLMechanism string // "", none, plain, scram-sha-256 or scram-sha-512
	Username      string
	Password      string `json:"-"` // never shown: see String
}

// SecurityFrom returns the security of the settings.
func SecurityFrom(c config.Config) Security {
	return Security{
		TLS: c.KafkaTLS, CAFile: c.KafkaTLSCAFile, CertFile: c.KafkaTLSCertFile, KeyFile: c.KafkaTLSKeyFile,
		SASLMechanism: c.KafkaSASLMechanism, Username: c.KafkaSASLUsername, Password: c.KafkaSASLPassword,
	}
}

// String describes s without its password.
func (s Security) String() string {
	var b strings.Builder
	if s.TLS {
		b.WriteString("tls")
		if s.CAFile != "" {
			fmt.Fprintf(&b, " ca=%s", s.CAFile)
		}
		if s.CertFile != "" {
			fmt.Fprintf(&b, " cert=%s", s.CertFile)
		}
	} else {
		b.WriteString("plaintext")
	}
	if m := s.mechanism(); m != "none" {
		fmt.Fprintf(&b, " sasl=%s user=%s", m, s.Username)
	}
	return b.String()
}

// GoString is String, so that %#v shows no password either.
func (s Security) GoString() string { return s.String() }

// LogValue logs s without its password.
func (s Security) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("tls", s.TLS), slog.String("sasl", s.mechanism()), slog.String("user", s.Username))
}

func (s Security) mechanism() string {
	m := strings.ToLower(strings.TrimSpace(s.SASLMechanism))
	if m == "" {
		return "none"
	}
	return m
}

// TLSConfig returns the TLS configuration, nil when TLS is off. A file that
// cannot be read or holds no usable PEM is an error naming its variable.
func (s Security) TLSConfig() (*tls.Config, error) {
	if !s.TLS {
		for _, f := range []struct{ name, value string }{
			{"KAFKA_TLS_CA_FILE", s.CAFile}, {"KAFKA_TLS_CERT_FILE", s.CertFile}, {"KAFKA_TLS_KEY_FILE", s.KeyFile},
		} {
			if f.value != "" {
				return nil, fmt.Errorf("%s: set while KAFKA_TLS is false", f.name)
			}
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %s holds no PEM certificate", s.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case s.CertFile != "" && s.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE: with KAFKA_TLS_KEY_FILE: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case s.CertFile != "":
		return nil, fmt.Errorf("KAFKA_TLS_KEY_FILE: unset while KAFKA_TLS_CERT_FILE is set")
	case s.KeyFile != "":
		return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE: unset while KAFKA_TLS_KEY_FILE is set")
	}
	return c, nil
}

// SASL returns the SASL mechanism, nil for none. An unknown mechanism or a
// missing credential is an error naming its variable.
func (s Security) SASL() (sasl.Mechanism, error) {
	m := s.mechanism()
	if m == "none" {
		return nil, nil
	}
	if m != "plain" && m != "scram-sha-256" && m != "scram-sha-512" {
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM: %q is not none, plain, scram-sha-256 or scram-sha-512", s.SASLMechanism)
	}
	if s.Username == "" {
		return nil, fmt.Errorf("KAFKA_SASL_USERNAME: unset while KAFKA_SASL_MECHANISM is %s", m)
	}
	if s.Password == "" {
		return nil, fmt.Errorf("KAFKA_SASL_PASSWORD: unset while KAFKA_SASL_MECHANISM is %s", m)
	}
	switch m {
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "scram-sha-256":
		return scramMechanism(scram.SHA256, s.Username, s.Password)
	default:
		return scramMechanism(scram.SHA512, s.Username, s.Password)
	}
}

func scramMechanism(algo scram.Algorithm, user, password string) (sasl.Mechanism, error) {
	m, err := scram.Mechanism(algo, user, password)
	if err != nil {
		// The error may quote the credentials: name the variable only.
		return nil, fmt.Errorf("KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD: not usable for %s", algo.Name())
	}
	return m, nil
}

// dialTimeout bounds the connection to one broker, TLS and SASL included.
const dialTimeout = 10 * time.Second

// Dialer returns the kafka-go Dialer of readers (and of the consumer group).
func (s Security) Dialer() (*kafka.Dialer, error) {
	t, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	m, err := s.SASL()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: clientID, Timeout: dialTimeout, DualStack: true, KeepAlive: 30 * time.Second,
		TLS: t, SASLMechanism: m}, nil
}

// Transport returns the kafka-go Transport of writers.
func (s Security) Transport() (*kafka.Transport, error) {
	t, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	m, err := s.SASL()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{ClientID: clientID, DialTimeout: dialTimeout, TLS: t, SASL: m}, nil
}

// clientID names this service to the brokers.
const clientID = "ofii-allowances"
