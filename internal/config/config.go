// Package config reads the service's settings from environment variables,
// each with a default that runs the service alone on one machine. Every
// setting is listed in Settings, from which the README's table is kept.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ofii/allowances/internal/db"
)

// Setting describes one environment variable.
type Setting struct {
	Env     string
	Default string
	Doc     string
}

// Settings lists every setting the programs read.
var Settings = []Setting{
	{"DATABASE_URL", db.DefaultURL, "CockroachDB or PostgreSQL connection string (pool size: `pool_max_conns=N` in its query string); the database is created if missing"},
	{"TX_MAX_ATTEMPTS", "30", "attempts of a write transaction that loses a serialization conflict before giving up"},
	{"AUTO_MIGRATE", "true", "apply pending schema migrations when ledgerd starts"},
	{"HTTP_ADDR", "127.0.0.1:8080", "address of the staff HTTP API, /metrics, /healthz and /readyz"},
	{"HTTP_MAX_BODY_BYTES", "1048576", "largest accepted request body, in bytes"},
	{"AUTH_TOKENS", "", "API tokens, `name:role[+role]:sha256hex` separated by `;` (hash a token with `ledgerctl token hash`)"},
	{"AUTH_TOKENS_FILE", "", "file of API tokens, one `name:role[+role]:sha256hex` per line, `#` comments"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "json", "json or text"},
}

// Config holds the settings after parsing.
type Config struct {
	DatabaseURL      string
	TxMaxAttempts    int
	AutoMigrate      bool
	HTTPAddr         string
	HTTPMaxBodyBytes int64
	AuthTokens       string
	AuthTokensFile   string
	LogLevel         string
	LogFormat        string
	ShutdownTimeout  time.Duration
}

// Load reads the settings from the environment through getenv (os.Getenv
// when nil). A malformed value is an error naming the variable.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range Settings {
			if s.Env == name {
				return s.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	c.DatabaseURL = get("DATABASE_URL")
	if c.TxMaxAttempts, err = positiveInt(get, "TX_MAX_ATTEMPTS"); err != nil {
		return c, err
	}
	if c.AutoMigrate, err = strconv.ParseBool(get("AUTO_MIGRATE")); err != nil {
		return c, fmt.Errorf("AUTO_MIGRATE: %q is not true or false", get("AUTO_MIGRATE"))
	}
	c.HTTPAddr = get("HTTP_ADDR")
	n, err := positiveInt(get, "HTTP_MAX_BODY_BYTES")
	if err != nil {
		return c, err
	}
	c.HTTPMaxBodyBytes = int64(n)
	c.AuthTokens = get("AUTH_TOKENS")
	c.AuthTokensFile = get("AUTH_TOKENS_FILE")
	c.LogLevel = get("LOG_LEVEL")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	c.LogFormat = get("LOG_FORMAT")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("LOG_FORMAT: %q is not json or text", c.LogFormat)
	}
	c.ShutdownTimeout = 20 * time.Second
	return c, nil
}

func positiveInt(get func(string) string, name string) (int, error) {
	v := get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is not a positive whole number", name, v)
	}
	return n, nil
}

// Table renders Settings as a Markdown table for the README.
func Table() string {
	var b strings.Builder
	b.WriteString("| variable | default | what it sets |\n| --- | --- | --- |\n")
	for _, s := range Settings {
		d := s.Default
		if d == "" {
			d = "(none)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", s.Env, d, s.Doc)
	}
	return b.String()
}
